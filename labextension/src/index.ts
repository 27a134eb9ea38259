// The CT/CD side panel: services (start/stop), schedules and recent runs, read from the
// ctcd_jupyter server extension's REST API, so it works without any kernel running.
import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';
import { Widget } from '@lumino/widgets';

interface IService {
  name: string;
  kind: string;
  status: string;
  endpoint: string | null;
  last_error: string | null;
}

interface ISchedule {
  name: string;
  status: string;
  when: string;
  succeeded: number;
  failed: number;
  skipped: number;
}

interface IRun {
  id: string;
  pipeline: string;
  trigger: string;
  status: string;
  note: string;
}

const REFRESH_MS = 3000;

async function api<T>(path: string, init: RequestInit = {}): Promise<T> {
  const settings = ServerConnection.makeSettings();
  const url = URLExt.join(settings.baseUrl, 'ctcd', 'api', path);
  const response = await ServerConnection.makeRequest(url, init, settings);
  const body = await response.json();
  if (!response.ok) {
    throw new Error(body.error || response.statusText);
  }
  return body as T;
}

function element(tag: string, className: string, text = ''): HTMLElement {
  const node = document.createElement(tag);
  node.className = className;
  node.textContent = text;
  return node;
}

export class CtcdPanel extends Widget {
  private services = element('div', 'ctcd-section');
  private schedules = element('div', 'ctcd-section');
  private runs = element('div', 'ctcd-section');
  private message = element('div', 'ctcd-message');
  private timer: number | undefined;

  constructor() {
    super();
    this.id = 'ctcd-panel';
    this.title.caption = 'CT/CD: services, schedules, runs';
    this.title.label = 'CT/CD';
    this.addClass('ctcd-panel');
    const refresh = element('button', 'ctcd-button', 'Refresh');
    refresh.onclick = () => void this.refresh();
    this.node.append(
      element('h2', 'ctcd-title', 'Services'), this.services,
      element('h2', 'ctcd-title', 'Schedules'), this.schedules,
      element('h2', 'ctcd-title', 'Recent runs'), this.runs,
      this.message, refresh
    );
  }

  protected onAfterShow(): void {
    void this.refresh();
    this.timer = window.setInterval(() => void this.refresh(), REFRESH_MS);
  }

  protected onBeforeHide(): void {
    window.clearInterval(this.timer);
  }

  async refresh(): Promise<void> {
    try {
      const [services, schedules, runs] = await Promise.all([
        api<IService[]>('services'),
        api<ISchedule[]>('schedules'),
        api<IRun[]>('runs?limit=10')
      ]);
      this.renderServices(services);
      this.renderRows(this.schedules, schedules, 'no schedules', s =>
        [s.name, s.status, s.when, `${s.succeeded} ok / ${s.failed} failed / ${s.skipped} skipped`]);
      this.renderRows(this.runs, runs, 'no runs yet', r =>
        [r.id, r.pipeline, r.trigger, r.status, r.note]);
    } catch (error) {
      this.message.textContent = `error: ${(error as Error).message}`;
    }
  }

  private renderServices(services: IService[]): void {
    this.services.replaceChildren();
    if (!services.length) {
      this.services.append(element('div', 'ctcd-empty', 'no services'));
      return;
    }
    for (const service of services) {
      const row = element('div', 'ctcd-row');
      row.dataset.name = service.name;
      row.append(
        element('span', 'ctcd-name', service.name),
        element('span', `ctcd-status ctcd-${service.status.toLowerCase()}`, service.status),
        element('span', 'ctcd-endpoint', service.endpoint || service.last_error || '')
      );
      for (const action of ['start', 'stop']) {
        const button = element('button', 'ctcd-button', action);
        button.onclick = () => void this.act(service.name, action);
        row.append(button);
      }
      this.services.append(row);
    }
  }

  private renderRows<T>(into: HTMLElement, items: T[], empty: string,
                        cells: (item: T) => string[]): void {
    into.replaceChildren();
    if (!items.length) {
      into.append(element('div', 'ctcd-empty', empty));
    }
    for (const item of items) {
      const row = element('div', 'ctcd-row');
      const values = cells(item);
      values.forEach((value, index) =>
        row.append(element('span', index === 1 && into === this.schedules
          ? `ctcd-status ctcd-${value.split(' ')[0].toLowerCase()}` : 'ctcd-cell', value)));
      into.append(row);
    }
  }

  private async act(name: string, action: string): Promise<void> {
    this.message.textContent = `${action} ${name} ...`;
    try {
      const result = await api<IService>(`services/${name}/${action}`, { method: 'POST' });
      this.message.textContent = `${name}: ${result.status}`;
    } catch (error) {
      this.message.textContent = `error: ${(error as Error).message}`;
    }
    await this.refresh();
  }
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'ctcd-jupyter-labextension:panel',
  description: 'Services, schedules and runs of ctcd_jupyter in the left side bar',
  autoStart: true,
  activate: (app: JupyterFrontEnd) => {
    app.shell.add(new CtcdPanel(), 'left', { rank: 900 });
  }
};

export default plugin;
