import { memo } from 'react';

import type { TableView } from '../../lessons/types.js';
import { fitLines, type Line, seg, wrapText } from '../lines.js';
import { Lines } from './Lines.js';

export interface PidTableProps {
  /** A table sample, e.g. lessons/views.ts samplePidTable: one process per row, host PID → each level. */
  view: TableView;
  /** Columns available. */
  width: number;
  /** Rows available; extra rows are left out with a "… N more" line. */
  maxRows?: number;
}

/**
 * A table as lines: a bold header, a rule, the rows (numbers right-aligned, highlighted rows in
 * inverse with ◀), and the caption. Used for the PID mapping (host → each namespace level) and
 * any other `table` view.
 */
export function tableLines(view: TableView, opts: { width: number; maxRows?: number }): Line[] {
  const cols = view.columns.length;
  const widths = view.columns.map((c, i) => Math.max([...c].length, ...view.rows.map((r) => [...(r[i] ?? '')].length)));
  const numeric = view.columns.map((_, i) => view.rows.length > 0 && view.rows.every((r) => /^-?[\d.]*$/.test(r[i] ?? '')));
  const cell = (text: string, i: number) => (numeric[i] ? text.padStart(widths[i]) : text.padEnd(widths[i]));
  const header: Line = view.columns.map((c, i) => seg(cell(c, i) + (i < cols - 1 ? '  ' : ''), { bold: true }));
  const rule: Line = [seg(widths.map((w) => '─'.repeat(w)).join('  '), { dim: true })];
  const body: Line[] = view.rows.map((r, ri) => {
    const hi = view.highlight?.includes(ri) ?? false;
    const l: Line = r.map((c, i) => seg(cell(c ?? '', i) + (i < cols - 1 ? '  ' : ''), { bold: hi, inverse: hi }));
    if (hi) l.push(seg(' ◀', { bold: true }));
    return l;
  });
  if (!body.length) body.push([seg('(none yet)', { dim: true })]);
  const caption = view.caption ? wrapText(view.caption, opts.width, { dim: true }) : [];
  const max = opts.maxRows ?? Infinity;
  if (2 + body.length + caption.length <= max) return [header, rule, ...body, ...caption];
  const withoutCaption = Math.max(0, max - 2);
  return [header, rule, ...fitLines(body, withoutCaption, { what: 'more rows' })].slice(0, Math.max(0, max));
}

/** A table view: the PID mapping from host to each namespace level, or any table a lesson samples. */
export const PidTable = memo(function PidTable({ view, width, maxRows }: PidTableProps) {
  return <Lines lines={tableLines(view, { width, maxRows })} width={width} />;
});
