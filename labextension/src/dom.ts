// Small DOM helpers and keyed reconciliation: rows are created once per key and updated in
// place, so a refresh changes only what changed (a text selection survives, no click is lost).

export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className = '',
  text = ''
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) {
    node.className = className;
  }
  if (text) {
    node.textContent = text;
  }
  return node;
}

/** Set text only when it differs (an unchanged text node keeps a selection inside it). */
export function setText(node: HTMLElement, text: string): void {
  if (node.textContent !== text) {
    node.textContent = text;
  }
}

/** Set a long address (an endpoint, a URI) so that it wraps after its `/`, `:` and `@`
 * rather than anywhere (<wbr>: a copy of the text stays the address). */
export function setBreakable(node: HTMLElement, text: string): void {
  if (node.textContent === text) {
    return;
  }
  const parts = text.split(/(?<=[/:@?&])/);
  node.replaceChildren(...parts.flatMap((part, i) =>
    i < parts.length - 1 ? [document.createTextNode(part), el('wbr')] : [document.createTextNode(part)]));
}

export function setClass(node: HTMLElement, className: string): void {
  if (node.className !== className) {
    node.className = className;
  }
}

export function setAttr(node: HTMLElement, name: string, value: string | null): void {
  if (value === null) {
    if (node.hasAttribute(name)) {
      node.removeAttribute(name);
    }
  } else if (node.getAttribute(name) !== value) {
    node.setAttribute(name, value);
  }
}

export function button(label: string, title: string, onClick: () => void,
                       accept = false): HTMLButtonElement {
  const node = el('button', 'jp-Button jp-mod-styled jp-mod-small ctcd-button' +
    (accept ? ' jp-mod-accept' : ''), label);
  node.type = 'button';
  node.title = title;
  node.onclick = event => {
    event.stopPropagation();
    onClick();
  };
  return node;
}

/** A row a `Keyed` list owns: its node and how to bring it up to date with an item. */
export interface IRow<T> {
  node: HTMLElement;
  update(item: T): void;
}

/** Children of `container` keyed by `key(item)`: new keys get a row, gone keys lose theirs,
 * the others are updated in place and only moved when the order changed. */
export class Keyed<T> {
  private rows = new Map<string, IRow<T>>();

  constructor(
    private container: HTMLElement,
    private key: (item: T) => string,
    private create: (item: T) => IRow<T>
  ) {}

  update(items: T[]): void {
    const seen = new Set<string>();
    let previous: Element | null = null;
    for (const item of items) {
      const key = this.key(item);
      seen.add(key);
      let row = this.rows.get(key);
      if (!row) {
        row = this.create(item);
        row.node.dataset.key = key;
        this.rows.set(key, row);
      }
      row.update(item);
      const expected: Element | null = previous
        ? previous.nextElementSibling
        : this.container.firstElementChild;
      if (expected !== row.node) {
        this.container.insertBefore(row.node, expected);
      }
      previous = row.node;
    }
    for (const [key, row] of this.rows) {
      if (!seen.has(key)) {
        row.node.remove();
        this.rows.delete(key);
      }
    }
  }

  get size(): number {
    return this.rows.size;
  }

  /** Call `f` on every row (e.g. to refresh relative times without new data). */
  each(f: (row: IRow<T>) => void): void {
    this.rows.forEach(row => f(row));
  }
}
