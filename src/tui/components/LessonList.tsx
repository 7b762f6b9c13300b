import { memo } from 'react';

import { type Line, seg, truncateLine, wrapText } from '../lines.js';
import { Lines } from './Lines.js';

export interface ListItem {
  /** Lesson id, or "repl" / "top" for the tools. */
  id: string;
  /** What the item is: a lesson of the course, or a tool to open. */
  kind: 'lesson' | 'tool';
  /** The lesson's title, or the tool's name. */
  title: string;
  /** Said under the title (wrapped to the width). */
  summary: string;
  /** A lesson's status: "new", "in progress (step 3)", "completed". */
  status?: string;
  /** A lesson's challenges: "challenges 1/2, 1 skipped" (shown after the status when it fits). */
  challenges?: string;
}

export interface LessonListProps {
  /** Lessons first, in course order, then tools. */
  items: ListItem[];
  /** Index of the item under the cursor. */
  cursor: number;
  /** Columns available. */
  width: number;
  /** Rows available; the list scrolls to keep the cursor in view. */
  maxRows?: number;
}

const STATUS_COLOR: Record<string, string> = { new: 'cyan', completed: 'green' };

/** The list as lines: per item its title with status, then its summary (wrapped, never cut); a rule before the tools. */
export function lessonListLines(p: LessonListProps): { lines: Line[]; cursorLine: number } {
  const lines: Line[] = [];
  let cursorLine = 0;
  let n = 0;
  const titleW = Math.min(44, Math.max(0, ...p.items.map((i) => i.title.length)));
  p.items.forEach((item, i) => {
    if (item.kind === 'tool' && (i === 0 || p.items[i - 1].kind !== 'tool')) {
      lines.push([seg('── Explore on your own ', { bold: true }), seg('─'.repeat(Math.max(0, p.width - 23)), { dim: true })]);
    }
    const on = i === p.cursor;
    if (on) cursorLine = lines.length;
    const mark = on ? seg(' › ', { color: 'magenta', bold: true }) : seg('   ');
    const num = item.kind === 'lesson' ? `${++n}.`.padEnd(4) : '    ';
    const head: Line = [mark, seg(num, { dim: !on }), seg(item.title, { bold: true, inverse: on })];
    if (item.status) {
      head.push(seg(' '.repeat(Math.max(2, titleW - item.title.length + 2))), seg(item.status, { color: STATUS_COLOR[item.status] ?? 'yellow' }));
      const used = 7 + Math.max(item.title.length + 2, titleW + 2) + item.status.length;
      if (item.challenges && used + 3 + item.challenges.length <= p.width) head.push(seg(` · ${item.challenges}`, { dim: true }));
    }
    lines.push(truncateLine(head, p.width));
    lines.push(...wrapText(item.summary, p.width, { dim: true }, '       ', '       '));
  });
  return { lines, cursorLine };
}

/** The course (each lesson with its status) and the tools: the home screen and `sandbox learn`'s pick list. */
export const LessonList = memo(function LessonList(props: LessonListProps) {
  const { lines, cursorLine } = lessonListLines(props);
  const max = props.maxRows ?? lines.length;
  let start = 0;
  if (lines.length > max) start = Math.max(0, Math.min(lines.length - max, cursorLine - Math.floor(max / 2)));
  return <Lines lines={lines.slice(start, start + max)} width={props.width} />;
});
