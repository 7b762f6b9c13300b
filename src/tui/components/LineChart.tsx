import { memo } from 'react';

import type { ChartView } from '../../lessons/types.js';
import { type Line, seg, type Seg, wrapText } from '../lines.js';
import { Lines } from './Lines.js';

export interface LineChartProps {
  /** A chart sample: series over time (oldest first), each with an optional target it converges on. */
  view: ChartView;
  /** Columns available. */
  width: number;
  /** Rows available for the whole chart (plot, legend, caption). */
  maxRows?: number;
}

const SERIES_COLORS = ['cyan', 'magenta', 'yellow', 'green', 'blueBright', 'red'];

function fmt(v: number): string {
  return Math.abs(v) >= 100 || Number.isInteger(v) ? v.toFixed(0) : v.toFixed(1);
}

/**
 * A line chart as lines (the asciichart way: ─ ╭ ╮ ╰ ╯ │), one colour per series, each series'
 * target as a dotted line in its colour, a y axis with min, middle and max, then a legend with
 * the latest value against the target.
 */
export function chartLines(view: ChartView, opts: { width: number; maxRows?: number }): Line[] {
  const legend: Line[] = view.series.map((s, i) => {
    const color = SERIES_COLORS[i % SERIES_COLORS.length];
    const last = s.values.at(-1);
    const l: Line = [seg('━━ ', { color }), seg(s.name, { color, bold: true }), seg(`  ${last === undefined ? '–' : fmt(last)}${view.unit}`)];
    if (s.target !== undefined) l.push(seg(`  → target ${fmt(s.target)}${view.unit}`, { dim: true }));
    return l;
  });
  const caption = view.caption ? wrapText(view.caption, opts.width, { dim: true }) : [];
  const max = opts.maxRows ?? 12;
  const plotRows = Math.max(0, Math.min(10, max - legend.length - caption.length));
  if (plotRows < 3) return [...legend, ...caption].slice(0, Math.max(0, max));

  const { min } = view;
  const top = view.max > min ? view.max : min + 1;
  const labels = [fmt(top), fmt((top + min) / 2), fmt(min)].map((l) => `${l}${view.unit}`);
  const labelW = Math.max(...labels.map((l) => l.length));
  const plotW = Math.max(4, opts.width - labelW - 2);
  const grid: (Seg | null)[][] = Array.from({ length: plotRows }, () => Array<Seg | null>(plotW).fill(null));
  const rowOf = (v: number) => {
    const clamped = Math.max(min, Math.min(top, v));
    return plotRows - 1 - Math.round(((clamped - min) / (top - min)) * (plotRows - 1));
  };
  const put = (r: number, c: number, ch: string, color: string, dim = false) => {
    if (r >= 0 && r < plotRows && c >= 0 && c < plotW) grid[r][c] = seg(ch, { color, dim });
  };
  view.series.forEach((s, i) => {
    if (s.target === undefined) return;
    const color = SERIES_COLORS[i % SERIES_COLORS.length];
    const r = rowOf(s.target);
    for (let c = 0; c < plotW; c++) if (!grid[r][c]) put(r, c, '┈', color, true);
  });
  view.series.forEach((s, i) => {
    const color = SERIES_COLORS[i % SERIES_COLORS.length];
    const vs = s.values.slice(-plotW);
    const x0 = plotW - vs.length;
    for (let k = 0; k < vs.length; k++) {
      const y0 = rowOf(vs[k]);
      if (k === vs.length - 1) {
        put(y0, x0 + k, '─', color);
        continue;
      }
      const y1 = rowOf(vs[k + 1]);
      if (y0 === y1) put(y0, x0 + k, '─', color);
      else if (y1 < y0) {
        // going up (rows count downwards)
        put(y0, x0 + k, '╯', color);
        put(y1, x0 + k, '╭', color);
        for (let y = y1 + 1; y < y0; y++) put(y, x0 + k, '│', color);
      } else {
        put(y0, x0 + k, '╮', color);
        put(y1, x0 + k, '╰', color);
        for (let y = y0 + 1; y < y1; y++) put(y, x0 + k, '│', color);
      }
    }
  });
  const mid = Math.floor((plotRows - 1) / 2);
  const plot: Line[] = grid.map((row, r) => {
    const label = r === 0 ? labels[0] : r === plotRows - 1 ? labels[2] : r === mid ? labels[1] : '';
    const axis = r === plotRows - 1 ? '┼' : r === 0 || r === mid ? '┤' : '│';
    const l: Line = [seg(label.padStart(labelW), { dim: true }), seg(` ${axis}`, { dim: true })];
    for (const cellSeg of row) l.push(cellSeg ?? seg(' '));
    return l;
  });
  return [...plot, ...legend, ...caption];
}

/** A live line chart: e.g. the CPU share of two sandboxes converging on their targets. */
export const LineChart = memo(function LineChart({ view, width, maxRows }: LineChartProps) {
  return <Lines lines={chartLines(view, { width, maxRows })} width={width} />;
});
