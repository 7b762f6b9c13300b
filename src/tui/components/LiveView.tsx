import { memo } from 'react';

import type { ViewData } from '../../lessons/types.js';
import { type Line, lineWidth, seg, type Seg, truncateLine, wrapSegs, wrapText } from '../lines.js';
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
  const title = titledRuleLines(props.title, props.note ? seg(`(${props.note}) `, { dim: true }) : seg('● live ', { color: 'green' }), width);
  const max = props.maxRows ?? Infinity;
  let body: Line[];
  if (props.error) body = wrapText(`the view could not be read: ${props.error}`, width, { color: 'red' });
  else if (!props.data) body = [[seg('sampling…', { dim: true })]];
  else body = viewBodyLines(props.data, { width, maxRows: max - title.length, palette: props.palette, names: props.names });
  return [...title, ...body].slice(0, max);
}

/**
 * titledRule, but a title too long for one row wraps (the view's title says what the view is
 * and where it reads from: it is not cut); the tag and the rule end its last row.
 */
export function titledRuleLines(title: string, tag: Seg | null, width: number): Line[] {
  const tagW = tag ? [...tag.text].length : 0;
  if ([...`── ${title} `].length + tagW + 3 <= width) return [titledRule(title, tag, width)];
  const lines = wrapSegs([seg(title, { bold: true })], width, [seg('── ', { bold: true })], [seg('   ')]);
  const last = lines[lines.length - 1];
  const room = width - lineWidth(last) - 1;
  const tail: Line = [...(tag ? [tag] : [])];
  if (room >= tagW + 3) {
    last.push(seg(' '), ...tail, seg('─'.repeat(Math.max(0, room - tagW)), { dim: true }));
    return lines;
  }
  return [...lines, [seg('   '), ...tail, seg('─'.repeat(Math.max(0, width - 3 - tagW)), { dim: true })]];
}

/** A step's live view, sampled from the kernel a few times a second, drawn by kind. */
export const LiveView = memo(function LiveView(props: LiveViewProps) {
  return <Lines lines={liveViewLines(props)} width={props.width} />;
});
