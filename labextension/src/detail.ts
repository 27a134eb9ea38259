// The run detail view (a main-area tab): steps with status, duration and cache, parameters,
// metrics, the full error, each step's log, the deployment decision and the MLflow run link.
import { Widget } from '@lumino/widgets';
import { api, IRunDetail } from './api';
import { ago, clock, duration, metric, toneClass } from './format';
import { el, setText } from './dom';

export const TICK_MS = 1000;

export class RunDetail extends Widget {
  private timer: number | undefined;
  private ticker: number | undefined;
  private drawn = '';
  private facts: HTMLElement | null = null;
  private run: IRunDetail | null = null;

  constructor(readonly runId: string, private mlflowUi: () => string | null,
              private openMonitor: (name: string) => void = () => undefined) {
    super();
    this.id = `ctcd-run-${runId}`;
    this.addClass('ctcd-detail');
    this.addClass('jp-RenderedHTMLCommon');
    this.title.label = `Run ${runId}`;
    this.title.caption = `ctcd run ${runId}`;
    this.title.closable = true;
    this.node.append(el('div', 'ctcd-empty', `loading run ${runId} ...`));
    void this.load();
    // "started 2 min ago" moves on while the tab is open (no request: only the text)
    this.ticker = window.setInterval(() => this.tick(), TICK_MS);
  }

  dispose(): void {
    window.clearTimeout(this.timer);
    window.clearInterval(this.ticker);
    super.dispose();
  }

  private tick(): void {
    if (this.run && this.facts) {
      setText(this.facts, this.factsText(this.run, Date.now() / 1000));
    }
  }

  private factsText(run: IRunDetail, now: number): string {
    return `${run.trigger} run, started ${ago(run.started_at, now)} ` +
      `(${clock(run.started_at)}), ` +
      (run.finished_at ? `took ${duration(run.duration)}`
        : `still running (${duration(now - run.started_at)} so far)`);
  }

  async load(): Promise<void> {
    try {
      const run = await api.run(this.runId);
      const key = JSON.stringify(run) + (this.mlflowUi() || '');
      if (key !== this.drawn) {
        this.drawn = key;
        this.render(run);
      }
      if (run.status === 'RUNNING' && !this.isDisposed) {
        this.timer = window.setTimeout(() => void this.load(), 2000);
      }
    } catch (error) {
      this.node.replaceChildren(el('div', 'ctcd-error-text', (error as Error).message));
    }
  }

  private render(run: IRunDetail): void {
    const now = Date.now() / 1000;
    const head = el('h2', '', `${run.pipeline} · run ${run.id} `);
    head.append(el('span', `ctcd-status ${toneClass(run.tone)}`, run.status));
    const facts = el('p', 'ctcd-dim ctcd-facts', this.factsText(run, now));
    this.run = run;
    this.facts = facts;
    const parts: HTMLElement[] = [head, facts];
    const link = this.mlflowLink(run);
    if (link) {
      parts.push(link);
    }
    if (run.error) {
      parts.push(el('h3', '', run.failed_step ? `Error in step ${run.failed_step}` : 'Error'),
        el('pre', 'ctcd-error-text ctcd-full-error', run.error));
    }
    for (const warning of run.warnings) {
      parts.push(el('p', 'ctcd-tone-warn', `warning: ${warning}`));
    }
    parts.push(el('h3', '', 'Steps'), this.stepsTable(run));
    if (run.deployments && run.deployments.length) {
      parts.push(el('h3', '', 'Deployment'));
      for (const d of run.deployments) {
        const line = el('p', `ctcd-deployment ${toneClass(d.tone)}`,
          `${d.outcome} ${d.model_name}${d.version ? ` v${d.version}` : ''}: ${d.reason}`);
        const link = el('a', 'ctcd-monitor-link', 'monitor');
        link.href = '#';
        link.title = `live accuracy, errors, latency and drift of ${d.model_name}`;
        link.onclick = event => {
          event.preventDefault();
          this.openMonitor(d.model_name);
        };
        const row = el('div', 'ctcd-deployment-row');
        row.append(line, link);
        parts.push(row);
      }
    }
    parts.push(...this.pairs('Parameters', run.params), ...this.pairs('Metrics', run.metrics));
    for (const step of run.steps.filter(s => s.log)) {
      const details = el('details', 'ctcd-step-log');
      details.dataset.step = step.name;
      details.append(el('summary', '', `log of ${step.name}`), el('pre', 'ctcd-log', step.log));
      parts.push(details);
    }
    if (run.log && !run.steps.some(s => s.log)) {
      const details = el('details', 'ctcd-step-log');
      details.append(el('summary', '', 'run log'), el('pre', 'ctcd-log', run.log));
      parts.push(details);
    }
    this.node.replaceChildren(...parts);
  }

  private mlflowLink(run: IRunDetail): HTMLElement | null {
    const ui = this.mlflowUi();
    if (!run.mlflow_run_id) {
      return null;
    }
    if (!ui) {
      return el('p', 'ctcd-dim', `MLflow run ${run.mlflow_run_id} (start the MLflow UI ` +
        'with `ctcd mlflow-ui` to open it from here)');
    }
    const p = el('p', '');
    const a = el('a', 'ctcd-mlflow-link', 'open the MLflow run');
    a.href = `${ui.replace(/\/$/, '')}/#/runs/${run.mlflow_run_id}`;
    a.target = '_blank';
    a.rel = 'noopener';
    p.append(a);
    return p;
  }

  private stepsTable(run: IRunDetail): HTMLElement {
    const table = el('table', 'ctcd-steps');
    const head = el('tr');
    for (const title of ['step', 'status', 'duration', 'cached', 'notes']) {
      head.append(el('th', '', title));
    }
    table.append(head);
    for (const step of run.steps) {
      const row = el('tr');
      row.dataset.step = step.name;
      const notes = [...step.notes,
        ...Object.entries(step.metrics).map(([k, v]) => `${k}=${metric(v)}`)].join('; ');
      row.append(el('td', 'ctcd-name', step.name),
        el('td', `ctcd-status ${toneClass(step.tone)}`, step.status),
        el('td', 'ctcd-num', duration(step.duration)),
        el('td', '', step.cached ? 'yes' : 'no'),
        el('td', '', notes || (step.error ? step.error.trim().split('\n').pop() || '' : '')));
      table.append(row);
    }
    return table;
  }

  private pairs(title: string, values: Record<string, unknown>): HTMLElement[] {
    const entries = Object.entries(values || {});
    if (!entries.length) {
      return [];
    }
    const table = el('table', 'ctcd-pairs');
    for (const [key, value] of entries) {
      const row = el('tr');
      row.append(el('th', '', key), el('td', 'ctcd-mono', metric(value)));
      table.append(row);
    }
    return [el('h3', '', title), table];
  }
}
