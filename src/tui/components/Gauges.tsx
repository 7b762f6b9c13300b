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

/** Gauges as lines: label, a bar filled to value/max in a colour by how close to the limit, the numbers and a note. */
export function gaugesLines(view: GaugesView, opts: { width: number; maxRows?: number }): Line[] {
  const labelW = Math.min(24, Math.max(4, ...view.gauges.map((g) => g.label.length)));
  const barW = Math.max(8, Math.min(30, opts.width - labelW - 32));
  const lines: Line[] = view.gauges.map((g) => {
    const l: Line = [seg(g.label.slice(0, labelW).padEnd(labelW), { bold: true }), seg(' ')];
    if (g.max === null || g.max <= 0) {
      l.push(seg('░'.repeat(barW), { dim: true }), seg(` ${fmt(g.value)}${g.unit}`), seg(' (no limit)', { dim: true }));
    } else {
      const f = Math.max(0, g.value / g.max);
      const filled = Math.max(0, Math.min(barW, Math.round(f * barW)));
      l.push(
        seg('█'.repeat(filled), { color: gaugeColor(f) }),
        seg('░'.repeat(barW - filled), { dim: true }),
        seg(` ${fmt(g.value)}${g.unit}`, { bold: f >= 0.9 }),
        seg(` / ${fmt(g.max)}${g.unit}`, { dim: true }),
      );
    }
    if (g.note) l.push(seg(`  ${g.note}`, { color: 'yellow' }));
    return l;
  });
  const caption = view.caption ? wrapText(view.caption, opts.width, { dim: true }) : [];
  return [...lines, ...caption].slice(0, opts.maxRows ?? Infinity);
}

/** Live gauges: usage against each limit. */
export const Gauges = memo(function Gauges({ view, width, maxRows }: GaugesProps) {
  return <Lines lines={gaugesLines(view, { width, maxRows })} width={width} />;
});
