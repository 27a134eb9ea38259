// The services section: status, endpoint, live model version, deployment history, and the
// start/stop/restart/logs/rollback buttons. Rows are keyed by service name.
import { api, IDeployment, IService } from './api';
import { ago, clock, toneClass } from './format';
import { button, el, IRow, Keyed, setAttr, setClass, setText } from './dom';

export interface IServicesContext {
  act(name: string, action: string): Promise<void>;
  now(): number;
}

/** The version a service serves: `model_version` when the service says, else from its URI. */
export function liveVersion(service: IService): string | null {
  if (service.model_version) {
    return String(service.model_version);
  }
  const match = /^models:\/[^/@]+\/(\d+)$/.exec(service.model_uri || '');
  return match ? match[1] : null;
}

/** One line per history item, whatever the fields (the service's own history, or the
 * recorded deployment decisions). */
export function historyLine(item: Record<string, unknown>, now: number): string {
  const version = item.version ?? item.model_version;
  const what = item.outcome ?? item.event ?? item.action ?? '';
  const at = item.created ?? item.at ?? item.since ?? item.time ?? item.started;
  const reason = item.reason ?? '';
  return [
    typeof at === 'number' ? ago(at, now) : at ? String(at) : '',
    String(what),
    version !== undefined && version !== null ? `v${version}` : '',
    reason ? `(${reason})` : ''
  ]
    .filter(Boolean)
    .join(' ');
}

class ServiceRow implements IRow<IService> {
  node = el('div', 'ctcd-card');
  private status = el('span', '');
  private version = el('span', 'ctcd-version');
  private endpoint = el('div', 'ctcd-mono ctcd-dim');
  private error = el('pre', 'ctcd-error-text');
  private history = el('ul', 'ctcd-history');
  private logs = el('pre', 'ctcd-log');
  private buttons: Record<string, HTMLButtonElement> = {};
  private name: string;

  constructor(item: IService, private context: IServicesContext,
              private deployments: () => IDeployment[]) {
    this.name = item.name;
    this.node.dataset.name = item.name;
    setClass(this.node, 'ctcd-card ctcd-row');
    const head = el('div', 'ctcd-card-head');
    head.append(el('span', 'ctcd-name', item.name), this.status, this.version);
    const bar = el('div', 'ctcd-buttons');
    for (const action of ['start', 'stop', 'restart', 'rollback']) {
      this.buttons[action] = button(action, `${action} ${item.name}`,
        () => void this.context.act(this.name, action), action === 'start');
      bar.append(this.buttons[action]);
    }
    this.buttons.logs = button('logs', `show the last lines of ${item.name}'s log`,
      () => void this.toggleLogs());
    bar.append(this.buttons.logs);
    this.logs.hidden = true;
    this.node.append(head, this.endpoint, this.error, this.history, bar, this.logs);
  }

  update(item: IService): void {
    const now = this.context.now();
    setText(this.status, item.status);
    setClass(this.status, `ctcd-status ${toneClass(item.tone)}`);
    const version = liveVersion(item);
    setText(this.version, !version ? '' : item.status === 'ACTIVE' ? `serving v${version}`
      : `model v${version}`);
    setText(this.endpoint, item.endpoint || item.model_uri || '');
    setText(this.error, item.status === 'ERROR' || item.status === 'UNREADABLE'
      ? item.last_error || '' : '');
    this.error.hidden = !this.error.textContent;
    const running = item.status === 'ACTIVE' || item.status.startsWith('PENDING');
    this.buttons.start.disabled = running;
    this.buttons.stop.disabled = item.status === 'INACTIVE';
    this.buttons.rollback.hidden = !item.model_uri;
    const items = (item.history && item.history.length
      ? item.history
      : this.deployments().filter(d => d.model_name === item.name)
    ).slice(0, 5) as unknown as Record<string, unknown>[];
    const lines = items.map(h => historyLine(h, now));
    const current = Array.from(this.history.children).map(li => li.textContent);
    if (lines.join('\n') !== current.join('\n')) {
      this.history.replaceChildren(...items.map((h, i) => {
        const li = el('li', toneClass(String(h.tone || '')), lines[i]);
        const at = h.created ?? h.at;
        li.title = typeof at === 'number' ? clock(at) : '';
        return li;
      }));
    }
    setAttr(this.history, 'aria-label', `deployment history of ${item.name}`);
    this.history.hidden = !lines.length;
  }

  private async toggleLogs(): Promise<void> {
    if (!this.logs.hidden) {
      this.logs.hidden = true;
      return;
    }
    try {
      const result = await api.logs(this.name, 40);
      this.logs.textContent = result.logs || '(the log is empty)';
    } catch (error) {
      this.logs.textContent = `error: ${(error as Error).message}`;
    }
    this.logs.hidden = false;
  }
}

export class ServicesSection {
  node = el('div', 'ctcd-section ctcd-services');
  private empty = el('div', 'ctcd-empty', 'no services');
  private list = el('div', 'ctcd-list');
  private keyed: Keyed<IService>;
  private deployments: IDeployment[] = [];

  constructor(context: IServicesContext) {
    this.node.append(this.empty, this.list);
    this.keyed = new Keyed(this.list, s => s.name,
      s => new ServiceRow(s, context, () => this.deployments));
  }

  update(services: IService[], deployments: IDeployment[]): void {
    this.deployments = deployments;
    this.empty.hidden = services.length > 0;
    this.keyed.update(services);
  }
}
