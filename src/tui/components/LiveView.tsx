import { memo } from 'react';

import type { ViewData } from '../../lessons/types.js';
import { type Line, seg, type Seg, truncateLine, wrapText } from '../lines.js';
import type { NsPalette } from '../palette.js';
import { Lines } from './Lines.js';
import { chartLines } from './LineChart.js';
import { gaugesLines } from './Gauges.js';
import { tableLines } from './PidTable.js';
import { processTreeLines } from './ProcessTree.js';

export interface LiveViewProps {
  /** The view's title (View.title). */
  title: string;
  /** The latest sample, or null before the first one. */
  data: ViewData | null;
  /** Why the view could not be read, if it could not. */
  error?: string | null;
  /** Columns available. */
  width: number;
  /** Rows available, the title included. */
  maxRows?: number;
  /** Namespace colours for trees (stable across samples). */
  palette?: NsPalette;
  /** Short names for sandboxes in trees, by sandbox name (a lesson's keys). */
  names?: Record<string, string>;
  /** Said after the title instead of "live", e.g. "as it was after step 2". */
  note?: string;
}

/** The body of a view sample by kind: tree, table, chart, gauges or text. */
export function viewBodyLines(data: ViewData, opts: { width: number; maxRows?: number; palette?: NsPalette; names?: Record<string, string> }): Line[] {
  switch (data.kind) {
    case 'tree':
      return processTreeLines(data, opts);
    case 'table':
      return tableLines(data, opts);
    case 'chart':
      return chartLines(data, opts);
    case 'gauges':
      return gaugesLines(data, opts);
    case 'text':
      return data.lines.flatMap((l) => wrapText(l, opts.width)).slice(0, opts.maxRows ?? Infinity);
  }
}

/** "── Title ● live ─────": a rule with a title and a tag. */
export function titledRule(title: string, tag: Seg | null, width: number): Line {
  const head = `── ${title} `;
  const used = [...head].length + (tag ? [...tag.text].length : 0);
  const l: Line = [seg(head, { bold: true })];
  if (tag) l.push(tag);
  l.push(seg('─'.repeat(Math.max(0, width - used)), { dim: true }));
  return truncateLine(l, width);
}

/** A live view as lines: a title rule ("● live" or the note), then the sample drawn by kind. */
export function liveViewLines(props: Omit<LiveViewProps, 'title'> & { title: string }): Line[] {
  const { width } = props;
  const title = titledRule(props.title, props.note ? seg(`(${props.note}) `, { dim: true }) : seg('● live ', { color: 'green' }), width);
  const max = props.maxRows ?? Infinity;
  let body: Line[];
  if (props.error) body = wrapText(`the view could not be read: ${props.error}`, width, { color: 'red' });
  else if (!props.data) body = [[seg('sampling…', { dim: true })]];
  else body = viewBodyLines(props.data, { width, maxRows: max - 1, palette: props.palette, names: props.names });
  return [title, ...body].slice(0, max);
}

/** A step's live view, sampled from the kernel a few times a second, drawn by kind. */
export const LiveView = memo(function LiveView(props: LiveViewProps) {
  return <Lines lines={liveViewLines(props)} width={props.width} />;
});
