// The schedules section: status (from the JSON, never re-derived), trigger, counts, the
// notebook or process that owns it, and pause / resume / run now. Keyed by schedule name.
import { IOwner, ISchedule } from './api';
import { ago, clockShort, toneClass } from './format';
import { button, el, IRow, Keyed, setClass, setText } from './dom';

export interface ISchedulesContext {
  act(name: string, action: string): Promise<void>;
  now(): number;
}

/** Who runs a schedule, in words: its notebook when a kernel of this server owns it. */
export function ownerText(owner: IOwner, live: boolean): string {
  if (live) {
    return 'runs in the server process';
  }
  if (!owner || owner.pid === undefined) {
    return '';
  }
  const pid = `pid ${Math.round(owner.pid)}`;
  if (owner.alive === false) {
    return `was run by ${pid} (exited)`;
  }
  if (owner.notebook) {
    return `runs in ${owner.notebook} (this server's kernel, ${pid})`;
  }
  if (owner.kernel_id) {
    return `runs in this server's kernel ${owner.kernel_id.slice(0, 8)} (${pid})`;
  }
  return `runs in ${pid} (not a kernel of this server)`;
}

class ScheduleRow implements IRow<ISchedule> {
  node = el('div', 'ctcd-card ctcd-row');
  private status = el('span', '');
  private when = el('div', 'ctcd-dim');
  private next = el('div', 'ctcd-next');
  private counts = el('div', 'ctcd-dim');
  private owner = el('div', 'ctcd-dim ctcd-owner');
  private buttons: Record<string, HTMLButtonElement> = {};

  private item: ISchedule;

  constructor(item: ISchedule, private context: ISchedulesContext) {
    this.item = item;
    this.node.dataset.name = item.name;
    const head = el('div', 'ctcd-card-head');
    head.append(el('span', 'ctcd-name', item.name), this.status);
    const bar = el('div', 'ctcd-buttons');
    const titles: Record<string, string> = {
      pause: 'stop firing until resumed',
      resume: 'fire again on the schedule',
      run: 'one run of the pipeline now'
    };
    for (const action of ['pause', 'resume', 'run']) {
      this.buttons[action] = button(action === 'run' ? 'run now' : action, titles[action],
        () => void this.context.act(item.name, action));
      bar.append(this.buttons[action]);
    }
    this.node.append(head, this.when, this.next, this.counts, this.owner, bar);
  }

  update(item: ISchedule): void {
    this.item = item;
    const now = this.context.now();
    setText(this.status, item.status);
    setClass(this.status, `ctcd-status ${toneClass(item.tone)}`);
    setText(this.when, item.when);
    const next = item.next_fire;
    // a moment already passed means the owner is firing it now (or is busy)
    const at = next === null ? '' : clockShort(next, now);
    setText(this.next, next === null ? '' : next > now ? `next run ${ago(next, now)} (${at})`
      : `due now (${at})`);
    this.next.hidden = next === null;
    setText(this.counts,
      `${item.succeeded} ok, ${item.failed} failed, ${item.skipped} skipped` +
      (item.last_run ? `; last ${item.last_run.status} ${ago(item.last_run.started_at, now)}`
        : ''));
    setText(this.owner, ownerText(item.owner, item.live));
    const gone = item.owner && item.owner.alive === false;
    this.buttons.pause.disabled = item.state !== 'ACTIVE' || gone;
    // a STOPPED schedule (its kernel unloaded the extension) resumes in that kernel too
    this.buttons.resume.disabled = !['PAUSED', 'STOPPED'].includes(item.state) || gone;
    this.buttons.run.disabled = !!gone || item.state === 'COMPLETED';
  }

  tick(): void {
    this.update(this.item);
  }
}

export class SchedulesSection {
  node = el('div', 'ctcd-section ctcd-schedules');
  private empty = el('div', 'ctcd-empty', 'no schedules');
  private list = el('div', 'ctcd-list');
  private keyed: Keyed<ISchedule>;

  constructor(context: ISchedulesContext) {
    this.node.append(this.empty, this.list);
    this.keyed = new Keyed(this.list, s => s.name, s => new ScheduleRow(s, context));
  }

  update(schedules: ISchedule[]): void {
    this.empty.hidden = schedules.length > 0;
    this.keyed.update(schedules);
  }

  tick(): void {
    this.keyed.each(row => (row as ScheduleRow).tick());
  }
}
