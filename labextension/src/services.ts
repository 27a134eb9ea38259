// The services section: status, endpoint, live model version (pinned or not, and why it is
// live), a follower's warning, the recent decisions, and the start/stop/restart/rollback/unpin
// and logs buttons; the log opens at its newest line and follows. Keyed by service name.
import { api, IDeployment, IService } from './api';
import { ago, clock, toneClass } from './format';
import { button, el, IRow, Keyed, setAttr, setBreakable, setClass, setText } from './dom';

export interface IServicesContext {
  act(name: string, action: string): Promise<void>;
  monitor(name: string): void;
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

const PUTS_IN_PLACE = ['deployed', 'rolled back', 'rolled_back', 'followed'];
const LOG_LINES = 200;

/** One line per recorded decision: "5 min ago kept v3 (0.74 < 0.76)". */
export function decisionLine(d: IDeployment, now: number): string {
  return [
    typeof d.created === 'number' ? ago(d.created, now) : '',
    d.outcome.replace('_', ' '),
    d.version ? `v${d.version}` : '',
    d.reason ? `(${d.reason})` : ''
  ]
    .filter(Boolean)
    .join(' ');
}

/** What is live and why first, then the recent decisions: the newest decision that put the
 * served version in place (deployed, rolled back to, followed), and the others after it, so a
 * run of `kept` never pushes out the decision that explains what is live. */
export function orderDecisions(decisions: IDeployment[], version: string | null,
                               count = 5): { live: IDeployment | null; recent: IDeployment[] } {
  const live = version === null ? null : decisions.find(d =>
    PUTS_IN_PLACE.includes(d.outcome) && String(d.version ?? d.champion_version) === version)
    || null;
  return { live, recent: decisions.filter(d => d !== live).slice(0, live ? count - 1 : count) };
}

/** The first line of a text (a one-line view of an error). */
function firstLine(text: string | null): string {
  return (text || '').trim().split('\n')[0];
}

class ServiceRow implements IRow<IService> {
  node = el('div', 'ctcd-card');
  private status = el('span', '');
  private version = el('span', 'ctcd-version');
  private pinned = el('span', 'ctcd-pinned ctcd-tone-warn');
  private endpoint = el('div', 'ctcd-mono ctcd-dim ctcd-endpoint');
  private warning = el('div', 'ctcd-warning ctcd-tone-warn');
  private error = el('pre', 'ctcd-error-text');
  private live = el('div', 'ctcd-live');
  private history = el('ul', 'ctcd-history');
  private logs = el('pre', 'ctcd-log');
  private buttons: Record<string, HTMLButtonElement> = {};
  private name: string;
  private item: IService;

  constructor(item: IService, private context: IServicesContext,
              private deployments: () => IDeployment[]) {
    this.name = item.name;
    this.item = item;
    this.node.dataset.name = item.name;
    setClass(this.node, 'ctcd-card ctcd-row');
    const head = el('div', 'ctcd-card-head');
    head.append(el('span', 'ctcd-name', item.name), this.status, this.version, this.pinned);
    const bar = el('div', 'ctcd-buttons');
    const titles: Record<string, string> = {
      unpin: 'let deployments replace the version a rollback pinned again'
    };
    for (const action of ['start', 'stop', 'restart', 'rollback', 'unpin']) {
      this.buttons[action] = button(action, titles[action] || `${action} ${item.name}`,
        () => void this.context.act(this.name, action), action === 'start');
      bar.append(this.buttons[action]);
    }
    this.buttons.logs = button('logs', `show the last lines of ${item.name}'s log`,
      () => void this.toggleLogs());
    this.buttons.monitor = button('monitor',
      `live accuracy, errors, latency and drift of ${item.name}`,
      () => this.context.monitor(this.name));
    bar.append(this.buttons.logs, this.buttons.monitor);
    this.logs.hidden = true;
    this.logs.setAttribute('role', 'log');
    this.logs.setAttribute('aria-label', `log of ${item.name}`);
    this.logs.tabIndex = 0;
    this.node.append(head, this.endpoint, this.warning, this.error, this.live, this.history,
      bar, this.logs);
  }

  update(item: IService): void {
    this.item = item;
    const now = this.context.now();
    setText(this.status, item.label || item.status); // "ACTIVE (not following)"
    setClass(this.status, `ctcd-status ${toneClass(item.tone)}`);
    const version = liveVersion(item);
    setText(this.version, !version ? '' : item.status === 'ACTIVE' ? `serving v${version}`
      : `model v${version}`);
    const pin = item.pinned;
    setText(this.pinned, pin ? `pinned${pin.version ? ` v${pin.version}` : ''}` : '');
    setAttr(this.pinned, 'title', pin ? `pinned${pin.reason ? ` by ${pin.reason}` : ''}` +
      (pin.at ? ` at ${clock(pin.at)}` : '') + ': deployments keep it until unpinned' : null);
    this.pinned.hidden = !pin;
    setBreakable(this.endpoint, item.endpoint || item.model_uri || '');
    setAttr(this.endpoint, 'title', item.endpoint && item.model_uri
      ? `${item.endpoint} serves ${item.model_uri}` : null);
    // a follower that cannot follow keeps serving (ACTIVE) with an error: a warning, in view
    const warn = item.status === 'ACTIVE' && item.last_error ? firstLine(item.last_error) : '';
    setText(this.warning, warn ? `\u26a0 ${warn}` : '');
    setAttr(this.warning, 'title', warn ? item.last_error : null);
    this.warning.hidden = !warn;
    setText(this.error, item.status === 'ERROR' || item.status === 'UNREADABLE'
      ? item.last_error || '' : '');
    this.error.hidden = !this.error.textContent;
    const running = item.status === 'ACTIVE' || item.status.startsWith('PENDING');
    this.buttons.start.disabled = running;
    this.buttons.stop.disabled = item.status === 'INACTIVE';
    this.buttons.rollback.hidden = !item.model_uri;
    this.buttons.monitor.hidden = !item.model_uri;
    this.buttons.unpin.hidden = !pin;
    this.updateDecisions(item, version, now);
    if (!this.logs.hidden) {
      void this.loadLogs();
    }
  }

  /** Refresh the relative times only (between two fetches). */
  tick(): void {
    this.updateDecisions(this.item, liveVersion(this.item), this.context.now());
  }

  private updateDecisions(item: IService, version: string | null, now: number): void {
    const decisions = this.deployments().filter(d => d.model_name === item.name);
    const { live, recent } = orderDecisions(decisions, version);
    const serving = item.serving;
    let text = '';
    if (version && (live || serving)) {
      const since = serving && serving.since ? ` since ${ago(serving.since, now)}` : '';
      const why = live ? `${live.outcome.replace('_', ' ')}${live.reason ? `: ${live.reason}` : ''}`
        : `${serving!.why}${serving!.detail ? `: ${serving!.detail}` : ''}`;
      text = `live v${version}${since} \u2190 ${why}`;
    }
    setText(this.live, text);
    setClass(this.live, `ctcd-live ${toneClass(live ? live.tone : serving ? serving.tone : '')}`);
    setAttr(this.live, 'title', serving && serving.since ? clock(serving.since) : null);
    this.live.hidden = !text;
    const lines = recent.map(d => decisionLine(d, now));
    const current = Array.from(this.history.children).map(li => li.textContent);
    if (lines.join('\n') !== current.join('\n')) {
      this.history.replaceChildren(...recent.map((d, i) => {
        const li = el('li', toneClass(d.tone), lines[i]);
        li.title = typeof d.created === 'number' ? clock(d.created) : '';
        return li;
      }));
    }
    setAttr(this.history, 'aria-label', `recent deployment decisions of ${item.name}`);
    this.history.hidden = !lines.length;
  }

  private async toggleLogs(): Promise<void> {
    if (!this.logs.hidden) {
      this.logs.hidden = true;
      return;
    }
    this.logs.hidden = false;
    await this.loadLogs(true);
  }

  /** The newest lines, in view: opens at the bottom, and follows new lines while the reader
   * stays at the bottom (scrolling up to read stops the following). */
  private async loadLogs(first = false): Promise<void> {
    const atBottom = first ||
      this.logs.scrollHeight - this.logs.scrollTop - this.logs.clientHeight < 8;
    try {
      const result = await api.logs(this.name, LOG_LINES);
      setText(this.logs, result.logs || '(the log is empty)');
    } catch (error) {
      setText(this.logs, `error: ${(error as Error).message}`);
    }
    if (atBottom) {
      this.logs.scrollTop = this.logs.scrollHeight;
    }
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

  tick(): void {
    this.keyed.each(row => (row as ServiceRow).tick());
  }
}
