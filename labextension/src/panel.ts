// The CT/CD side panel: the state folder it reads, services, schedules, recent runs and metric
// trends, refreshed every few seconds by updating only what changed. Its poller also announces
// scheduled runs that fail after the panel started (a JupyterLab notification), even while the
// panel is collapsed and no notebook is open.
import { Notification } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';
import { api, IDeployment, IInfo, IRun } from './api';
import { button, el, setText } from './dom';
import { RunsSection } from './runs';
import { SchedulesSection } from './schedules';
import { ServicesSection } from './services';
import { TrendSection } from './trend';

export const REFRESH_MS = 3000;
const RUNS = 15;

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
  private refreshes = 0;
  private knownFailures: Set<string> | null = null;
  private busy = false;

  constructor(private openRun: (id: string) => void) {
    super();
    this.id = 'ctcd-panel';
    this.title.caption = 'CT/CD: services, schedules, runs';
    this.addClass('ctcd-panel');
    const context = { now: () => this.now() };
    this.services = new ServicesSection({ ...context,
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
  }

  dispose(): void {
    window.clearTimeout(this.timer);
    super.dispose();
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
      this.trends.update(runs, deployments);
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

  /** A toast for each scheduled run that failed after the panel started, once. */
  private announce(runs: IRun[]): void {
    const failed = runs.filter(r => r.status === 'FAILED' && r.trigger === 'schedule');
    if (this.knownFailures === null) {
      this.knownFailures = new Set(failed.map(r => r.id));
      return;
    }
    for (const run of failed) {
      if (this.knownFailures.has(run.id)) {
        continue;
      }
      this.knownFailures.add(run.id);
      Notification.error(`Scheduled run ${run.id} of ${run.pipeline} failed` +
        (run.note ? `: ${run.note}` : ''), {
        autoClose: false,
        actions: [{ label: 'Show run', caption: `open run ${run.id}`,
          callback: () => this.openRun(run.id) }]
      });
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
