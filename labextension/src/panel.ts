// The CT/CD side panel: the state folder it reads, services, schedules, recent runs and metric
// trends, refreshed every few seconds by updating only what changed. Its poller also announces
// scheduled runs that fail after the panel started (a JupyterLab notification), even while the
// panel is collapsed and no notebook is open.
import { Notification } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';
import { api, IDeployment, IInfo, IRun, ITrend } from './api';
import { button, el, setText } from './dom';
import { RunsSection } from './runs';
import { SchedulesSection } from './schedules';
import { ServicesSection } from './services';
import { TrendSection } from './trend';

export const REFRESH_MS = 3000;
export const TICK_MS = 1000; // relative times ("12 s ago", "next run in 40 s") between fetches
const RUNS = 15;
const TREND_RUNS = 1000;

export class CtcdPanel extends Widget {
  private home = el('div', 'ctcd-mono ctcd-home');
  private mlflow = el('a', 'ctcd-mlflow-link');
  private message = el('div', 'ctcd-message');
  private services: ServicesSection;
  private schedules: SchedulesSection;
  private runs: RunsSection;
  private trends = new TrendSection();
  private info: IInfo | null = null;
  private skew = 0; // server clock - browser clock, seconds
  private timer: number | undefined;
  private ticker: number | undefined;
  private refreshes = 0;
  private knownFailures: Set<string> | null = null;
  // one toast per incident: a pipeline's failures since its last success update one toast
  private incidents = new Map<string, { id: string; count: number }>();
  private trendKey = '';
  private busy = false;

  constructor(private openRun: (id: string) => void,
              private openMonitor: (name: string) => void) {
    super();
    this.id = 'ctcd-panel';
    this.title.caption = 'CT/CD: services, schedules, runs';
    this.addClass('ctcd-panel');
    const context = { now: () => this.now() };
    this.services = new ServicesSection({ ...context,
      monitor: name => this.openMonitor(name),
      act: (name, action) => this.act(`service ${name}`, () => api.serviceAction(name, action),
        action) });
    this.schedules = new SchedulesSection({ ...context,
      act: (name, action) => this.act(`schedule ${name}`, () => api.scheduleAction(name, action),
        action) });
    this.runs = new RunsSection({ ...context, open: id => this.openRun(id) });
    const header = el('div', 'ctcd-header');
    const label = el('div', 'ctcd-dim', 'state folder');
    this.mlflow.target = '_blank';
    this.mlflow.rel = 'noopener';
    this.mlflow.hidden = true;
    const refresh = button('refresh', 'refresh now', () => void this.refresh());
    header.append(label, this.home, this.mlflow);
    this.node.append(header, this.message,
      el('h2', 'ctcd-title', 'Services'), this.services.node,
      el('h2', 'ctcd-title', 'Schedules'), this.schedules.node,
      el('h2', 'ctcd-title', 'Recent runs'), this.runs.node,
      el('h2', 'ctcd-title', 'Metric trends'), this.trends.node, refresh);
    this.node.dataset.refreshes = '0';
    this.schedule(0);
    this.ticker = window.setInterval(() => this.tick(), TICK_MS);
  }

  dispose(): void {
    window.clearTimeout(this.timer);
    window.clearInterval(this.ticker);
    super.dispose();
  }

  /** Relative times move on between fetches (no request: the data is the same). */
  tick(): void {
    if (this.isVisible && this.refreshes) {
      this.services.tick();
      this.schedules.tick();
      this.runs.tick();
    }
  }

  /** The server's time now (relative times use the server's clock). */
  now(): number {
    return Date.now() / 1000 + this.skew;
  }

  get mlflowUi(): string | null {
    return this.info ? this.info.mlflow_ui : null;
  }

  protected onAfterShow(): void {
    void this.refresh();
  }

  private schedule(delay: number): void {
    window.clearTimeout(this.timer);
    this.timer = window.setTimeout(async () => {
      await this.refresh();
      if (!this.isDisposed) {
        this.schedule(REFRESH_MS);
      }
    }, delay);
  }

  async refresh(): Promise<void> {
    if (this.busy) {
      return;
    }
    this.busy = true;
    try {
      if (!this.isVisible) {
        // collapsed: only what the failure notifications need
        this.announce(await api.runs(RUNS));
        return;
      }
      const [info, services, schedules, runs, deployments] = await Promise.all([
        api.info(), api.services(), api.schedules(), api.runs(RUNS),
        api.deployments(50).catch((): IDeployment[] => [])
      ]);
      this.info = info;
      this.skew = info.now - Date.now() / 1000;
      setText(this.home, info.home);
      this.home.title = `ctcd_jupyter ${info.version} reads and writes this folder ` +
        '(set CTCD_HOME or c.CtcdApp.home to change it)';
      this.mlflow.hidden = !info.mlflow_ui;
      if (info.mlflow_ui) {
        this.mlflow.href = info.mlflow_ui;
        setText(this.mlflow, 'MLflow UI');
      }
      this.services.update(services, deployments);
      this.schedules.update(schedules);
      this.runs.update(runs);
      await this.updateTrends(runs, deployments);
      this.announce(runs);
      if (this.message.classList.contains('ctcd-stale')) {
        this.say('');
      }
      this.refreshes += 1;
      this.node.dataset.refreshes = String(this.refreshes);
    } catch (error) {
      this.say(`error: ${(error as Error).message}`, true);
    } finally {
      this.busy = false;
    }
  }

  /** Trends over the whole history: fetched again only when the runs or decisions changed. */
  private async updateTrends(runs: IRun[], deployments: IDeployment[]): Promise<void> {
    const key = JSON.stringify([runs.map(r => [r.id, r.status]), deployments.map(d => d.id)]);
    if (key === this.trendKey) {
      return;
    }
    const trends: Record<string, ITrend> = await api.trends(TREND_RUNS);
    this.trendKey = key;
    this.trends.update(trends, this.now());
  }

  /** A toast when a scheduled run fails after the panel started: one per incident (a
   * pipeline's failures until it succeeds again update the same toast with their count),
   * saying the exception's short name and its message. */
  private announce(runs: IRun[]): void {
    const scheduled = runs.filter(r => r.trigger === 'schedule');
    const failed = scheduled.filter(r => r.status === 'FAILED');
    if (this.knownFailures === null) {
      this.knownFailures = new Set(failed.map(r => r.id));
      return;
    }
    for (const run of [...scheduled].reverse()) { // oldest first
      if (run.status === 'SUCCEEDED') {
        this.incidents.delete(run.pipeline); // the incident is over
      }
      if (run.status !== 'FAILED' || this.knownFailures.has(run.id)) {
        continue;
      }
      this.knownFailures.add(run.id);
      const incident = this.incidents.get(run.pipeline);
      const count = incident ? incident.count + 1 : 1;
      const message = `${run.pipeline}: scheduled run ${run.id} failed` +
        (count > 1 ? ` (${count} failures in a row)` : '') + (run.note ? `: ${run.note}` : '');
      const options = {
        autoClose: false as const,
        actions: [{ label: 'Show run', caption: `open run ${run.id}`,
          callback: () => this.openRun(run.id) }]
      };
      const alive = incident && Notification.manager.has(incident.id);
      if (incident && alive) {
        Notification.manager.update({ id: incident.id, message, type: 'error', ...options });
        this.incidents.set(run.pipeline, { id: incident.id, count });
      } else {
        this.incidents.set(run.pipeline, { id: Notification.error(message, options), count });
      }
    }
  }

  private say(text: string, stale = false): void {
    setText(this.message, text);
    this.message.classList.toggle('ctcd-stale', stale);
  }

  private async act(what: string, call: () => Promise<unknown>, action: string): Promise<void> {
    this.say(`${action} ${what} ...`);
    try {
      const result = (await call()) as { message?: string; status?: string };
      this.say(`${what}: ${result.message || result.status || 'done'}`);
    } catch (error) {
      this.say(`${action} ${what}: ${(error as Error).message}`, true);
      this.message.classList.remove('ctcd-stale');
      this.message.classList.add('ctcd-failed');
      return;
    }
    this.message.classList.remove('ctcd-failed');
    await this.refresh();
  }
}
