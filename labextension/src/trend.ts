// Metric trends over each pipeline's whole history (GET /ctcd/api/trends): inline SVG with
// axes (value range on the left, first and last run's time below), deployed runs as filled dots
// and rollbacks as dashed vertical marks; each chart has an aria-label that says what it shows.
import { ITrend } from './api';
import { clockShort, metric } from './format';
import { el } from './dom';

const W = 280;
const H = 84;
const LEFT = 40;
const RIGHT = 6;
const TOP = 6;
const BOTTOM = 16;
const SVG = 'http://www.w3.org/2000/svg';

function svg(tag: string, attrs: Record<string, string | number>, text = ''): SVGElement {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) {
    node.setAttribute(key, String(value));
  }
  if (text) {
    node.textContent = text;
  }
  return node;
}

/** What a screen reader hears for a chart (views/trend.py: trend_label says the same). */
export function trendLabel(pipeline: string, name: string, trend: ITrend): string {
  const points = trend.points.filter(p => typeof p.metrics[name] === 'number');
  if (!points.length) {
    return `${name} of ${pipeline}: no values`;
  }
  const values = points.map(p => p.metrics[name]);
  const deployed = points.filter(p => p.deployed).length;
  return `${name} of ${pipeline} over ${values.length} runs: last ` +
    `${metric(values[values.length - 1])}, min ${metric(Math.min(...values))}, max ` +
    `${metric(Math.max(...values))}; ${deployed} deployed, ${trend.marks.length} rolled back`;
}

/** The chart of one metric: runs evenly spaced in time order (runs bunch up in time, which
 * would hide them; the first and last run's times are under the axis), y the value, and a
 * rollback marked between the runs it fell between. */
export function chart(pipeline: string, name: string, trend: ITrend, now: number): SVGElement {
  const points = trend.points.filter(p => typeof p.metrics[name] === 'number');
  const values = points.map(p => p.metrics[name]);
  const low = Math.min(...values);
  const high = Math.max(...values);
  const t0 = points[0].started;
  const t1 = points[points.length - 1].started;
  const w = W - LEFT - RIGHT;
  const h = H - TOP - BOTTOM;
  const x = (i: number) => LEFT + (points.length < 2 ? w / 2 : (i / (points.length - 1)) * w);
  const y = (v: number) => TOP + (high === low ? h / 2 : ((high - v) / (high - low)) * h);
  const label = trendLabel(pipeline, name, trend);
  const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, width: W, height: H,
    class: 'ctcd-trend', role: 'img', 'aria-label': label });
  root.append(svg('title', {}, label),
    svg('line', { x1: LEFT, y1: TOP, x2: LEFT, y2: TOP + h, class: 'ctcd-trend-axis' }),
    svg('line', { x1: LEFT, y1: TOP + h, x2: LEFT + w, y2: TOP + h, class: 'ctcd-trend-axis' }),
    svg('text', { x: LEFT - 3, y: TOP + 8, 'text-anchor': 'end', class: 'ctcd-trend-tick' },
      metric(high)),
    svg('text', { x: LEFT - 3, y: TOP + h, 'text-anchor': 'end', class: 'ctcd-trend-tick' },
      metric(low)),
    svg('text', { x: LEFT, y: H - 3, class: 'ctcd-trend-tick' }, clockShort(t0, now)));
  if (t1 !== t0) {
    root.append(svg('text', { x: LEFT + w, y: H - 3, 'text-anchor': 'end',
      class: 'ctcd-trend-tick' }, clockShort(t1, now)));
  }
  for (const mark of trend.marks.filter(m => m.at >= t0)) {
    const after = points.findIndex(p => p.started > mark.at);
    const mx = x(Math.min((after < 0 ? points.length : after) - 0.5, points.length - 1));
    const line = svg('line', { x1: mx, y1: TOP, x2: mx, y2: TOP + h,
      class: 'ctcd-trend-rollback' });
    line.append(svg('title', {}, `rolled back${mark.version ? ` to v${mark.version}` : ''} ` +
      `${clockShort(mark.at, now)}${mark.reason ? `: ${mark.reason}` : ''}`));
    root.append(line);
  }
  root.append(svg('polyline', { class: 'ctcd-trend-line', fill: 'none',
    points: points.map((p, i) => `${x(i)},${y(p.metrics[name])}`).join(' ') }));
  points.forEach((p, i) => {
    const dot = svg('circle', { cx: x(i), cy: y(p.metrics[name]), r: p.deployed ? 4 : 2.2,
      class: p.deployed ? 'ctcd-trend-deployed' : 'ctcd-trend-dot' });
    dot.append(svg('title', {}, `${p.id}: ${name}=${metric(p.metrics[name])}` +
      (p.note ? ` (${p.note})` : '')));
    root.append(dot);
  });
  return root;
}

export class TrendSection {
  node = el('div', 'ctcd-section ctcd-trends');
  private chosen = new Map<string, string>();
  private drawn = '';

  update(trends: Record<string, ITrend>, now: number): void {
    const entries = Object.entries(trends).filter(([, t]) => t.points.length);
    const key = JSON.stringify([entries, [...this.chosen]]);
    if (key === this.drawn) {
      return;
    }
    this.drawn = key;
    const blocks: HTMLElement[] = [];
    for (const [pipeline, trend] of entries) {
      const names = [...new Set(trend.points.flatMap(p => Object.keys(p.metrics)))].sort();
      const wanted = this.chosen.get(pipeline);
      const name = wanted && names.includes(wanted) ? wanted : names[0];
      const block = el('div', 'ctcd-trend-block');
      block.dataset.pipeline = pipeline;
      const head = el('div', 'ctcd-card-head');
      head.append(el('span', 'ctcd-name', pipeline));
      if (names.length > 1) {
        const select = el('select', 'jp-mod-styled ctcd-select');
        select.setAttribute('aria-label', `metric of ${pipeline}'s trend`);
        for (const option of names) {
          const node = el('option', '', option);
          node.value = option;
          node.selected = option === name;
          select.append(node);
        }
        select.onchange = () => {
          this.chosen.set(pipeline, select.value);
          this.update(trends, now);
        };
        head.append(select);
      } else {
        head.append(el('span', 'ctcd-dim', name));
      }
      const values = trend.points.filter(p => typeof p.metrics[name] === 'number');
      head.append(el('span', 'ctcd-dim',
        `last ${metric(values[values.length - 1].metrics[name])} · ${values.length} runs`));
      block.append(head, chart(pipeline, name, trend, now));
      blocks.push(block);
    }
    if (!blocks.length) {
      blocks.push(el('div', 'ctcd-empty', 'no metrics logged yet'));
    } else {
      const legend = el('div', 'ctcd-dim ctcd-legend');
      legend.append(el('span', 'ctcd-legend-deployed'), document.createTextNode(' deployed run '),
        el('span', 'ctcd-legend-rollback'), document.createTextNode(' rollback'));
      blocks.push(legend);
    }
    this.node.replaceChildren(...blocks);
  }
}
