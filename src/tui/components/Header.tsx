import { memo } from 'react';

import { type Line, lineWidth, seg, truncateLine } from '../lines.js';
import { Lines } from './Lines.js';

export type StepMark = 'done' | 'current' | 'todo' | 'failed';

export interface HeaderProps {
  /** The lesson's title. */
  lesson: string;
  /** Index of the step shown (0-based), or null on the intro, summary and rebuilding screens. */
  step: number | null;
  /** One mark per step, for the progress bar. */
  marks: StepMark[];
  /** The second line: the step's title (or "Introduction", "Summary"…). */
  title: string;
  /** A short state shown after the title, e.g. "looking back, read-only". */
  status?: string;
  /** Columns available. */
  width: number;
}

const MARK: Record<StepMark, { ch: string; color?: string; dim?: boolean }> = {
  done: { ch: '■', color: 'green' },
  current: { ch: '▣', color: 'cyan' },
  failed: { ch: '■', color: 'red' },
  todo: { ch: '□', dim: true },
};

/** Two lines: the lesson and its progress (step k/N and a bar), then the step's title. */
export function headerLines(p: HeaderProps): Line[] {
  const left: Line = [seg(' sandbox learn ', { inverse: true, bold: true }), seg(` ${p.lesson}`, { bold: true })];
  const right: Line = [];
  if (p.step !== null) right.push(seg(`step ${p.step + 1}/${p.marks.length}  `));
  for (const m of p.marks) right.push(seg(MARK[m].ch, { color: MARK[m].color, dim: MARK[m].dim }));
  right.push(seg(' '));
  const gap = p.width - lineWidth(left) - lineWidth(right);
  const first = gap >= 1 ? [...left, seg(' '.repeat(gap)), ...right] : truncateLine(left, p.width);
  const second: Line = [seg(` ${p.title}`, { bold: true, color: 'cyan' })];
  if (p.status) second.push(seg(`  (${p.status})`, { color: 'yellow' }));
  return [first, truncateLine(second, p.width)];
}

/** The top of the lesson screen: lesson, step k of N, progress, and the step's title. */
export const Header = memo(function Header(props: HeaderProps) {
  return <Lines lines={headerLines(props)} width={props.width} />;
});
