// The recent runs: a table keyed by run id (one <tbody> per run: the summary row, the note,
// and the full error on expand). Clicking a run, or Enter on it, opens its detail view.
import { IRun } from './api';
import { ago, clock, duration, toneClass } from './format';
import { el, IRow, Keyed, setAttr, setClass, setText } from './dom';

export interface IRunsContext {
  open(id: string): void;
  now(): number;
}

class RunRow implements IRow<IRun> {
  node = el('tbody', 'ctcd-run');
  private status = el('td', '');
  private pipeline = el('td', 'ctcd-name');
  private when = el('span', '');
  private took = el('span', '');
  private note = el('td', 'ctcd-note');
  private toggle = el('button', 'ctcd-link', 'error');
  private error = el('pre', 'ctcd-error-text');
  private errorRow = el('tr', 'ctcd-run-error');

  private main = el('tr', 'ctcd-run-main');
  private item: IRun;

  constructor(item: IRun, private context: IRunsContext) {
    this.item = item;
    this.node.dataset.id = item.id;
    const main = this.main;
    main.title = `run ${item.id}: click (or Enter) for its steps, logs and metrics`;
    // reachable from the keyboard: Tab to a run, Enter or Space opens it
    main.tabIndex = 0;
    main.setAttribute('role', 'button');
    main.onkeydown = event => {
      if (event.key === 'Enter' || event.key === ' ') {
        event.preventDefault();
        this.context.open(item.id);
      }
    };
    const times = el('td', 'ctcd-dim ctcd-num ctcd-times');
    times.append(this.when, el('br'), this.took);
    main.append(this.status, this.pipeline, times);
    main.onclick = () => {
      // a click that ends a text selection in this run is not a request to open it
      const selection = window.getSelection();
      if (!selection || !String(selection) || !this.node.contains(selection.anchorNode)) {
        this.context.open(item.id);
      }
    };
    const noteRow = el('tr', 'ctcd-run-note');
    this.note.colSpan = 3;
    const id = el('span', 'ctcd-mono ctcd-dim', item.id);
    const trigger = el('span', 'ctcd-dim', item.trigger === 'manual' ? '' : ` ${item.trigger}`);
    this.note.append(id, trigger, document.createTextNode(' '), el('span', 'ctcd-note-text'));
    this.toggle.type = 'button';
    this.toggle.onclick = event => {
      event.stopPropagation();
      this.errorRow.hidden = !this.errorRow.hidden;
      setText(this.toggle, this.errorRow.hidden ? 'error' : 'hide error');
    };
    this.note.append(this.toggle);
    const cell = el('td', '');
    cell.colSpan = 3;
    cell.append(this.error);
    this.errorRow.append(cell);
    this.errorRow.hidden = true;
    this.node.append(main, noteRow, this.errorRow);
    noteRow.append(this.note);
  }

  update(item: IRun): void {
    this.item = item;
    const now = this.context.now();
    setAttr(this.main, 'aria-label', `run ${item.id} of ${item.pipeline}: ${item.status}, ` +
      `started ${ago(item.started_at, now)}; open its detail`);
    setText(this.status, item.status);
    setClass(this.status, `ctcd-status ${toneClass(item.tone)}`);
    setText(this.pipeline, item.pipeline);
    setAttr(this.pipeline, 'title', `trigger: ${item.trigger}`);
    setText(this.when, ago(item.started_at, now));
    setAttr(this.when, 'title', clock(item.started_at));
    setText(this.took, item.finished_at ? duration(item.duration) : 'running');
    const text = this.note.querySelector('.ctcd-note-text') as HTMLElement;
    setText(text, item.note || '');
    setAttr(this.note, 'title', item.error || item.note || '');
    setText(this.error, item.error || '');
    this.toggle.hidden = !item.error;
  }

  tick(): void {
    this.update(this.item);
  }
}

export class RunsSection {
  node = el('div', 'ctcd-section ctcd-runs');
  private empty = el('div', 'ctcd-empty', 'no runs yet');
  private table = el('table', 'ctcd-table');
  private keyed: Keyed<IRun>;

  constructor(context: IRunsContext) {
    this.node.append(this.empty, this.table);
    this.keyed = new Keyed(this.table, r => r.id, r => new RunRow(r, context));
  }

  update(runs: IRun[]): void {
    this.empty.hidden = runs.length > 0;
    this.table.hidden = !runs.length;
    this.keyed.update(runs);
  }

  tick(): void {
    this.keyed.each(row => (row as RunRow).tick());
  }
}
