import { memo } from 'react';

import type { LogEntry } from '../../lessons/types.js';
import { hardWrap, type Line, seg, wrapSegs } from '../lines.js';
import { Lines } from './Lines.js';

export interface ActionLogProps {
  /** What the step's action did, in order. */
  entries: LogEntry[];
  /** Columns available. */
  width: number;
  /** Rows to show: the latest ones, with a "… N earlier lines" line on top when cut. */
  maxRows?: number;
  /** Lines scrolled up from the end (0 = the latest). */
  scroll?: number;
}

/**
 * The log as lines: each entry's equivalent command (`$ …`, bold), the system call under it
 * (dimmed), a remark (#), and the output, indented.
 */
export function actionLogLines(entries: LogEntry[], width: number): Line[] {
  const out: Line[] = [];
  for (const e of entries) {
    if (e.command) out.push(...wrapSegs([seg(e.command, { bold: true })], width, [seg('$ ', { color: 'green', bold: true })], [seg('    ')]));
    if (e.syscall) out.push(...wrapSegs([seg(e.syscall, { dim: true })], width, [seg('  ⤷ ', { dim: true })], [seg('      ')]));
    if (e.note) out.push(...wrapSegs([seg(e.note, { italic: true, color: 'yellow' })], width, [seg('  # ', { color: 'yellow' })], [seg('    ')]));
    if (e.output) {
      for (const l of e.output.replace(/\t/g, '  ').split('\n')) out.push(...hardWrap(l, width, {}, '  ', '    '));
    }
  }
  return out;
}

/** Cuts log lines to `rows`, showing the end (minus `scroll`), with markers for what is above or below. */
export function scrollLines(lines: Line[], rows: number, scroll = 0, key = 'l: whole log'): Line[] {
  if (rows <= 0) return [];
  if (lines.length <= rows) return lines;
  const maxScroll = lines.length - rows;
  const s = Math.max(0, Math.min(scroll, maxScroll));
  const end = lines.length - s;
  const start = end - rows;
  const out: Line[] = lines.slice(start, end);
  if (start > 0) out[0] = [seg(`… ${start + 1} earlier lines (${key})`, { dim: true })];
  if (s > 0) out[out.length - 1] = [seg(`… ${s + 1} later lines`, { dim: true })];
  return out;
}

/** The action log: what the step did, as commands you could type and the system calls they make. */
export const ActionLog = memo(function ActionLog({ entries, width, maxRows, scroll }: ActionLogProps) {
  const lines = actionLogLines(entries, width);
  return <Lines lines={maxRows === undefined ? lines : scrollLines(lines, maxRows, scroll)} width={width} />;
});
