// A small metric trend per pipeline: inline SVG, oldest run on the left, deployed runs marked.
// Redrawn only when its data changed.
import { IDeployment, IRun } from './api';
import { metric } from './format';
import { el } from './dom';

const W = 260;
const H = 56;
const PAD = 6;
const SVG = 'http://www.w3.org/2000/svg';

function svg(tag: string, attrs: Record<string, string | number>): SVGElement {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) {
    node.setAttribute(key, String(value));
  }
  return node;
}

/** The chart of one metric over runs (oldest first); `deployed` holds run ids to mark. */
export function chart(name: string, runs: IRun[], deployed: Set<string>): SVGElement {
  const points = runs.filter(r => typeof r.metrics[name] === 'number');
  const values = points.map(r => r.metrics[name]);
  const low = Math.min(...values);
  const high = Math.max(...values);
  const span = high - low || 1;
  const x = (i: number) => PAD + (points.length < 2 ? (W - 2 * PAD) / 2
    : (i * (W - 2 * PAD)) / (points.length - 1));
  const y = (v: number) => H - PAD - ((v - low) / span) * (H - 2 * PAD);
  const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, width: W, height: H,
    class: 'ctcd-trend', role: 'img' });
  root.append(svg('polyline', { class: 'ctcd-trend-line', fill: 'none',
    points: points.map((r, i) => `${x(i)},${y(r.metrics[name])}`).join(' ') }));
  points.forEach((r, i) => {
    const mark = deployed.has(r.id);
    const dot = svg('circle', { cx: x(i), cy: y(r.metrics[name]), r: mark ? 4 : 2.2,
      class: mark ? 'ctcd-trend-deployed' : 'ctcd-trend-dot' });
    const title = svg('title', {});
    title.textContent = `${r.id}: ${name}=${metric(r.metrics[name])}${mark ? ' (deployed)' : ''}`;
    dot.append(title);
    root.append(dot);
  });
  return root;
}

export class TrendSection {
  node = el('div', 'ctcd-section ctcd-trends');
  private chosen = new Map<string, string>();
  private drawn = '';

  update(runs: IRun[], deployments: IDeployment[]): void {
    const deployed = new Set(deployments.filter(d => d.outcome === 'deployed' && d.run_id)
      .map(d => d.run_id as string));
    const byPipeline = new Map<string, IRun[]>();
    for (const run of [...runs].reverse()) {
      if (Object.keys(run.metrics).length) {
        byPipeline.set(run.pipeline, [...(byPipeline.get(run.pipeline) || []), run]);
      }
    }
    const key = JSON.stringify([...byPipeline].map(([p, rs]) =>
      [p, this.chosen.get(p), rs.map(r => [r.id, r.metrics, deployed.has(r.id)])]));
    if (key === this.drawn) {
      return;
    }
    this.drawn = key;
    const blocks: HTMLElement[] = [];
    for (const [pipeline, list] of byPipeline) {
      const names = [...new Set(list.flatMap(r => Object.keys(r.metrics)))].sort();
      const name = this.chosen.get(pipeline) && names.includes(this.chosen.get(pipeline)!)
        ? this.chosen.get(pipeline)! : names[0];
      const block = el('div', 'ctcd-trend-block');
      block.dataset.pipeline = pipeline;
      const head = el('div', 'ctcd-card-head');
      head.append(el('span', 'ctcd-name', pipeline));
      if (names.length > 1) {
        const select = el('select', 'jp-mod-styled ctcd-select');
        for (const option of names) {
          const node = el('option', '', option);
          node.value = option;
          node.selected = option === name;
          select.append(node);
        }
        select.onchange = () => {
          this.chosen.set(pipeline, select.value);
          this.update(runs, deployments);
        };
        head.append(select);
      } else {
        head.append(el('span', 'ctcd-dim', name));
      }
      const last = list[list.length - 1].metrics[name];
      head.append(el('span', 'ctcd-dim', `last ${metric(last)}`));
      block.append(head, chart(name, list, deployed));
      blocks.push(block);
    }
    if (!blocks.length) {
      blocks.push(el('div', 'ctcd-empty', 'no metrics logged yet'));
    } else if (deployed.size) {
      const legend = el('div', 'ctcd-dim ctcd-legend');
      legend.append(el('span', 'ctcd-legend-deployed'), document.createTextNode(' deployed run'));
      blocks.push(legend);
    }
    this.node.replaceChildren(...blocks);
  }
}
