// The monitor of a served model (a main-area tab): per version requests, errors, latency,
// labelled rows, live accuracy with its interval, what drifts; then the charts. The charts are
// Vega-Lite specs made by the server (ctcd_jupyter/views/monitor_charts.py) and drawn by
// JupyterLab's own renderer for application/vnd.vegalite.v5+json, so they look as they do in a
// notebook and follow the light or dark theme. Refreshed every REFRESH_MS in place.
import { IRenderMimeRegistry, MimeModel } from '@jupyterlab/rendermime';
import { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import { Widget } from '@lumino/widgets';
import { api, IMonitor, IMonitorVersion } from './api';
import { el, setText } from './dom';

export const VEGA_LITE = 'application/vnd.vegalite.v5+json';
const REFRESH_MS = 10000;
const WINDOWS = ['15m', '1h', '6h', '24h', '7d', 'all'];

function ms(value: number | null): string {
  return value === null || value === undefined ? '-' : `${value.toFixed(1)} ms`;
}

function accuracyText(v: IMonitorVersion): string {
  const acc = v.accuracy || {};
  if (acc.value === null || acc.value === undefined) {
    return `- (${acc.reason || 'no labels'})`;
  }
  return `${acc.value.toFixed(3)} [${(acc.low ?? 0).toFixed(3)}, ${(acc.high ?? 0).toFixed(3)}]`;
}

function driftText(v: IMonitorVersion): string {
  const flagged = (v.features || []).filter(f => f.verdict === 'drift' || f.verdict === 'warn')
    .sort((a, b) => (b.psi ?? 0) - (a.psi ?? 0))
    .map(f => `${f.feature}: ${f.verdict}${f.psi !== null ? ` (PSI ${f.psi.toFixed(2)})` : ''}`);
  const p = v.prediction_drift;
  if (p && (p.verdict === 'drift' || p.verdict === 'warn')) {
    flagged.push(`predictions: ${p.verdict}${p.psi !== null ? ` (PSI ${p.psi.toFixed(2)})` : ''}`);
  }
  return (flagged.length ? flagged.join('; ')
    : `no drift in ${(v.features || []).length} features`) + ` — reference: ${v.reference}`;
}

export class MonitorView extends Widget {
  private timer: number | undefined;
  private window = '1h';
  private head = el('p', 'ctcd-dim ctcd-facts');
  private table = el('table', 'ctcd-monitor-table');
  private charts = el('div', 'ctcd-monitor-charts');
  private error = el('div', 'ctcd-error-text');
  private renderers = new Map<string, { node: HTMLElement; renderer: IRenderMime.IRenderer }>();

  constructor(readonly service: string, private rendermime: IRenderMimeRegistry | null) {
    super();
    this.id = `ctcd-monitor-${service}`;
    this.addClass('ctcd-detail');
    this.addClass('ctcd-monitor');
    this.addClass('jp-RenderedHTMLCommon');
    this.title.label = `Monitor ${service}`;
    this.title.caption = `ctcd monitor ${service}: live accuracy, errors, latency and drift`;
    this.title.closable = true;
    const picker = el('select', 'ctcd-window');
    picker.setAttribute('aria-label', 'window');
    picker.style.width = 'auto';
    for (const w of WINDOWS) {
      const option = el('option', '', w === 'all' ? 'everything logged' : `last ${w}`);
      option.value = w;
      option.selected = w === this.window;
      picker.append(option);
    }
    picker.onchange = () => {
      this.window = picker.value;
      void this.load();
    };
    const bar = el('div', 'ctcd-buttons');
    bar.append(picker);
    this.node.append(el('h2', '', `Monitor · ${service}`), bar, this.head, this.error,
      this.table, this.charts);
    void this.load();
  }

  dispose(): void {
    window.clearTimeout(this.timer);
    this.renderers.forEach(r => r.renderer.dispose());
    super.dispose();
  }

  async load(): Promise<void> {
    window.clearTimeout(this.timer);
    try {
      const monitor = await api.monitor(this.service, this.window);
      setText(this.error, '');
      this.render(monitor);
    } catch (error) {
      setText(this.error, (error as Error).message);
    }
    if (!this.isDisposed) {
      this.timer = window.setTimeout(() => void this.load(), REFRESH_MS);
    }
  }

  private render(monitor: IMonitor): void {
    const report = monitor.report;
    const span = report.window_s === null ? 'everything logged' : `last ${this.window}`;
    setText(this.head, `${span}, ${report.drifted ? 'DRIFT' : 'no drift'}` +
      (report.dropped ? `; ${report.dropped} rows could not be logged` : ''));
    const rows: HTMLElement[] = [];
    const header = el('tr');
    for (const c of ['version', 'requests', 'errors', 'p50', 'p99', 'labelled',
      'live accuracy']) {
      header.append(el('th', '', c));
    }
    rows.push(header);
    for (const v of report.versions) {
      const tr = el('tr');
      tr.dataset.version = v.version;
      const rate = v.error_rate === null ? '-' : `${(v.error_rate * 100).toFixed(1)}%`;
      for (const text of [`v${v.version}`, v.requests.toLocaleString(), rate,
        ms(v.latency_p50_ms), ms(v.latency_p99_ms), String(v.labels?.labelled ?? 0),
        accuracyText(v)]) {
        tr.append(el('td', '', text));
      }
      const note = el('tr', 'ctcd-dim');
      const cell = el('td', '', driftText(v));
      cell.colSpan = 7;
      note.append(cell);
      rows.push(tr, note);
    }
    if (!report.versions.length) {
      rows.push(el('tr', 'ctcd-empty', 'no logged predictions in this window'));
    }
    this.table.replaceChildren(...rows);
    this.drawCharts(monitor);
  }

  private drawCharts(monitor: IMonitor): void {
    const factory = this.rendermime?.getFactory(VEGA_LITE);
    if (!this.rendermime || !factory) {
      this.charts.replaceChildren(el('p', 'ctcd-dim',
        'charts need JupyterLab\'s Vega-Lite renderer (the vega5 extension)'));
      return;
    }
    const seen = new Set<string>();
    let previous: Element | null = null;
    for (const chart of monitor.charts) {
      seen.add(chart.title);
      let drawn = this.renderers.get(chart.title);
      if (!drawn) {
        const node = el('div', 'ctcd-chart');
        node.dataset.title = chart.title;
        const renderer = this.rendermime.createRenderer(VEGA_LITE);
        node.append(renderer.node);
        drawn = { node, renderer };
        this.renderers.set(chart.title, drawn);
      }
      void drawn.renderer.renderModel(new MimeModel({ data: { [VEGA_LITE]: chart.spec } }));
      const expected: Element | null = previous ? previous.nextElementSibling
        : this.charts.firstElementChild;
      if (expected !== drawn.node) {
        this.charts.insertBefore(drawn.node, expected);
      }
      previous = drawn.node;
    }
    for (const [title, drawn] of this.renderers) {
      if (!seen.has(title)) {
        drawn.renderer.dispose();
        drawn.node.remove();
        this.renderers.delete(title);
      }
    }
  }
}
