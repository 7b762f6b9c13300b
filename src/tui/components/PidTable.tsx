import { memo } from 'react';

import type { TableView } from '../../lessons/types.js';
import { type Line, lineText, moreLine, seg, wrapText } from '../lines.js';
import { Lines } from './Lines.js';

export interface PidTableProps {
  /** A table sample, e.g. lessons/views.ts samplePidTable: one process per row, host PID → each level. */
  view: TableView;
  /** Columns available. */
  width: number;
  /** Rows available; rows that do not fit are left out with a "… N more rows (v: …)" line. */
  maxRows?: number;
}

const GAP = 2;
/** A column is never squeezed below this (or its content, if shorter). */
const MIN_COLUMN = 6;

const len = (t: string) => [...t].length;
const longestWord = (t: string) => Math.max(0, ...t.split(/\s+/).map(len));

/**
 * Column widths that fit `room`: each column's content when all fit; else every column keeps at
 * least its longest word (so `master:27` or `uts:[4026532179]` stay whole), and the rest of the
 * room goes to the columns that want more, narrowest need first. If even the longest words do
 * not fit, the widest columns are narrowed first and only their words are broken.
 */
export function columnWidths(natural: number[], words: number[], room: number): number[] {
  const total = natural.reduce((a, b) => a + b, 0);
  if (total <= room) return natural;
  const min = natural.map((n, i) => Math.min(n, Math.max(MIN_COLUMN, words[i])));
  // Longest words that do not fit: the widest columns give up columns first, so the fewest
  // tokens are broken.
  let over = min.reduce((a, b) => a + b, 0) - room;
  while (over > 0) {
    const widest = min.indexOf(Math.max(...min));
    if (min[widest] <= MIN_COLUMN) break;
    min[widest]--;
    over--;
  }
  const widths = min.slice();
  let left = room - widths.reduce((a, b) => a + b, 0);
  // Water-filling: the columns that still want more share what is left equally, the one that
  // needs least first (it may need less than its share, which then goes to the others).
  let open = widths.map((_, i) => i).filter((i) => widths[i] < natural[i]);
  while (left > 0 && open.length) {
    const share = Math.max(1, Math.floor(left / open.length));
    open.sort((a, b) => natural[a] - widths[a] - (natural[b] - widths[b]));
    for (const i of open) {
      const give = Math.min(share, natural[i] - widths[i], left);
      widths[i] += give;
      left -= give;
      if (left <= 0) break;
    }
    open = open.filter((i) => widths[i] < natural[i]);
  }
  return widths;
}

/** A cell's text in lines of at most `w` columns (at spaces; a longer word is broken). */
function cellLines(text: string, w: number): string[] {
  if (len(text) <= w) return [text];
  return wrapText(text, w).map((l) => lineText(l).trimEnd());
}

/** Columns the table needs to show every cell on one line (the live view's wish for width). */
export function tableNaturalWidth(view: TableView): number {
  const natural = view.columns.map((c, i) => Math.max(len(c), ...view.rows.map((r) => len(r[i] ?? ''))));
  return natural.reduce((a, b) => a + b, 0) + GAP * (natural.length - 1) + (view.highlight?.length ? 2 : 0);
}

/**
 * A table as lines: a bold header, a rule, the rows (numbers right-aligned, highlighted rows in
 * inverse with ◀), and the caption. Used for the PID mapping (host → each namespace level) and
 * any other `table` view. Nothing is cut: a cell wider than its column wraps inside it (the row
 * takes several lines); rows that do not fit in maxRows are counted on a "… N more rows" line
 * (the whole-screen view `v` has them all).
 */
export function tableLines(view: TableView, opts: { width: number; maxRows?: number }): Line[] {
  const cols = view.columns.length;
  const cellsOf = (r: string[]) => view.columns.map((_, i) => r[i] ?? '');
  const natural = view.columns.map((c, i) => Math.max(len(c), ...view.rows.map((r) => len(r[i] ?? ''))));
  const words = view.columns.map((c, i) => Math.max(longestWord(c), ...view.rows.map((r) => longestWord(r[i] ?? ''))));
  const marker = view.highlight?.length ? 2 : 0;
  const widths = columnWidths(natural, words, Math.max(cols, opts.width - GAP * (cols - 1) - marker));
  const numeric = view.columns.map((_, i) => view.rows.length > 0 && view.rows.every((r) => /^-?[\d.]*$/.test(r[i] ?? '')));
  const cell = (text: string, i: number) => (numeric[i] ? text.padStart(widths[i]) : text.padEnd(widths[i]));
  /** One table row as one or more terminal lines. */
  const rowLines = (cells: string[], style: { bold?: boolean; inverse?: boolean }, mark: boolean): Line[] => {
    const parts = cells.map((c, i) => cellLines(c, widths[i]));
    const height = Math.max(1, ...parts.map((p) => p.length));
    return Array.from({ length: height }, (_, k) => {
      const l: Line = parts.map((p, i) => seg(cell(p[k] ?? '', i) + (i < cols - 1 ? ' '.repeat(GAP) : ''), style));
      if (mark && k === 0) l.push(seg(' ◀', { bold: true }));
      return l;
    });
  };
  const header = rowLines(view.columns, { bold: true }, false);
  const rule: Line = [seg(widths.map((w) => '─'.repeat(w)).join(' '.repeat(GAP)), { dim: true })];
  const body: Line[][] = view.rows.map((r, ri) => {
    const hi = view.highlight?.includes(ri) ?? false;
    return rowLines(cellsOf(r), { bold: hi, inverse: hi }, hi);
  });
  const caption = view.caption ? wrapText(view.caption, opts.width, { dim: true }) : [];
  const head = [...header, rule];
  const bodyLines = body.flat();
  if (!body.length) bodyLines.push([seg('(none yet)', { dim: true })]);
  const max = opts.maxRows ?? Infinity;
  if (head.length + bodyLines.length + caption.length <= max) return [...head, ...bodyLines, ...caption];
  if (head.length + bodyLines.length <= max) return [...head, ...bodyLines, ...caption].slice(0, max);
  // Short of rows: whole rows while they fit, the highlighted ones (what the step is about)
  // first, in table order; then how many are left out and where to see them.
  const room = max - head.length - 1;
  if (room < 0) return head.slice(0, Math.max(0, max));
  const order = body.map((_, i) => i).sort((a, b) => Number(view.highlight?.includes(b) ?? false) - Number(view.highlight?.includes(a) ?? false) || a - b);
  const chosen = new Set<number>();
  let used = 0;
  for (const i of order) {
    if (used + body[i].length > room) continue;
    chosen.add(i);
    used += body[i].length;
  }
  const kept = body.filter((_, i) => chosen.has(i)).flat();
  const left = body.length - chosen.size;
  return [...head, ...kept, moreLine(left, left === 1 ? 'more row' : 'more rows', 'v: all rows')];
}

/** A table view: the PID mapping from host to each namespace level, or any table a lesson samples. */
export const PidTable = memo(function PidTable({ view, width, maxRows }: PidTableProps) {
  return <Lines lines={tableLines(view, { width, maxRows })} width={width} />;
});
