import { memo } from 'react';

import type { GaugesView } from '../../lessons/types.js';
import { type Line, seg, wrapText } from '../lines.js';
import { Lines } from './Lines.js';

export interface GaugesProps {
  /** A gauges sample: values against their limits (memory.current vs memory.max, pids.current vs pids.max…). */
  view: GaugesView;
  /** Columns available. */
  width: number;
  /** Rows available. */
  maxRows?: number;
}

function fmt(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toFixed(1);
}

/** Green below 70 % of the limit, yellow below 90 %, red above. */
export function gaugeColor(fraction: number): string {
  return fraction >= 0.9 ? 'red' : fraction >= 0.7 ? 'yellow' : 'green';
}

/**
 * Gauges as lines: label, a bar filled to value/max in a colour by how close to the limit, the
 * numbers and a note. Labels are never cut: when the longest does not fit beside a bar of at
 * least 8 columns, each label gets a line of its own above its bar; a note that does not fit on
 * the bar's line goes under it, wrapped.
 */
export function gaugesLines(view: GaugesView, opts: { width: number; maxRows?: number }): Line[] {
  const numbers = (g: GaugesView['gauges'][number]) =>
    g.max === null || g.max <= 0 ? [` ${fmt(g.value)}${g.unit}`, ' (no limit)'] : [` ${fmt(g.value)}${g.unit}`, ` / ${fmt(g.max)}${g.unit}`];
  const numW = Math.max(0, ...view.gauges.map((g) => numbers(g).join('').length));
  const longest = Math.max(4, ...view.gauges.map((g) => [...g.label].length));
  const inline = longest + 1 + 8 + numW <= opts.width;
  const labelW = inline ? longest : 0;
  const barW = Math.max(8, Math.min(30, opts.width - (inline ? labelW + 1 : 2) - numW - 2));
  const lines: Line[] = [];
  for (const g of view.gauges) {
    if (!inline) lines.push(...wrapText(g.label, opts.width, { bold: true }));
    const l: Line = inline ? [seg(g.label.padEnd(labelW), { bold: true }), seg(' ')] : [seg('  ')];
    const [value, limit] = numbers(g);
    if (g.max === null || g.max <= 0) {
      l.push(seg('░'.repeat(barW), { dim: true }), seg(value), seg(limit, { dim: true }));
    } else {
      const f = Math.max(0, g.value / g.max);
      const filled = Math.max(0, Math.min(barW, Math.round(f * barW)));
      l.push(seg('█'.repeat(filled), { color: gaugeColor(f) }), seg('░'.repeat(barW - filled), { dim: true }), seg(value, { bold: f >= 0.9 }), seg(limit, { dim: true }));
    }
    const used = l.reduce((n, x) => n + [...x.text].length, 0);
    if (g.note && used + 2 + [...g.note].length <= opts.width) l.push(seg(`  ${g.note}`, { color: 'yellow' }));
    lines.push(l);
    if (g.note && used + 2 + [...g.note].length > opts.width) lines.push(...wrapText(g.note, opts.width, { color: 'yellow' }, '  ', '  '));
  }
  const caption = view.caption ? wrapText(view.caption, opts.width, { dim: true }) : [];
  return [...lines, ...caption].slice(0, opts.maxRows ?? Infinity);
}

/** Live gauges: usage against each limit. */
export const Gauges = memo(function Gauges({ view, width, maxRows }: GaugesProps) {
  return <Lines lines={gaugesLines(view, { width, maxRows })} width={width} />;
});
