import { memo } from 'react';

import type { TreeRow, TreeView } from '../../lessons/types.js';
import { type Line, lineWidth, moreLine, seg, type Seg, truncateLine } from '../lines.js';
import { NsPalette } from '../palette.js';
import { pidLabel } from '../text.js';
import { Lines } from './Lines.js';

export interface ProcessTreeProps {
  /** A tree sample (lessons/views.ts sampleTree): rows with host PID and namespace PIDs. */
  view: TreeView;
  /** Columns available. */
  width: number;
  /** Rows available; the tree is shortened (legend kept) when it has more. */
  maxRows?: number;
  /** Colours and letters per PID namespace; pass the same one on every sample to keep them stable. */
  palette?: NsPalette;
  /** Short names for sandboxes, by sandbox name (a lesson's keys: "pidns-a" → "a"). */
  names?: Record<string, string>;
}

/** Greedy wrap of whole items (never split) into lines of `width`. */
function packItems(items: Seg[][], width: number, sep = '  '): Line[] {
  const out: Line[] = [];
  let cur: Line = [];
  let used = 0;
  for (const item of items) {
    const w = item.reduce((n, s) => n + [...s.text].length, 0);
    if (used > 0 && used + sep.length + w > width) {
      out.push(cur);
      cur = [];
      used = 0;
    }
    if (used > 0) {
      cur.push(seg(sep));
      used += sep.length;
    }
    cur.push(...item);
    used += w;
  }
  if (cur.length) out.push(cur);
  return out;
}

/**
 * A tree row in `width` columns: what is cut first is the remark after the tag ("sandbox
 * itself"), then the command name (`sandbox-ini…(4712)`); the PIDs and the namespace tag stay.
 */
function fitRow(line: Line, label: Seg, comm: string, width: number): Line {
  let over = lineWidth(line) - width;
  if (over <= 0) return line;
  const at = line.indexOf(label);
  // Trailing remarks (not the tag, the zombie mark or ◀) go first.
  const remark = line.findIndex((sg, i) => i > at && sg.text.startsWith('  '));
  let out = line;
  if (remark > at) {
    out = line.slice(0, remark);
    over = lineWidth(out) - width;
    if (over <= 0) return out;
  }
  const name = [...comm];
  const keep = Math.max(1, name.length - over - 1);
  if (keep >= name.length) return out;
  const short = `${name.slice(0, keep).join('')}…${[...label.text].slice(name.length).join('')}`;
  return out.map((sg) => (sg === label ? { ...label, text: short } : sg));
}

/**
 * A short tag per PID namespace, from its legend label (`<sandbox> (level N) pid:[…]`): the
 * sandbox's short name (from `names`, else its name without the prefix all the names share:
 * "pidns-a", "pidns-b" → "a", "b"), and "/N" below its first level ("c/3"), so the tags read
 * like the lesson's "sandbox a". A namespace that belongs to no sandbox gets the palette's letter.
 */
export function namespaceTags(view: TreeView, palette: NsPalette, short: Record<string, string> = {}): string[] {
  const parsed = view.namespaces.map((n) => {
    const m = /^(\S+)(?: \(level (\d+)\))?/.exec(n.label);
    return { name: m && m[1] !== 'pid' && !m[1].startsWith('pid:') ? m[1] : null, level: Number(m?.[2] ?? 1) };
  });
  const names = [...new Set(parsed.map((p) => p.name).filter((n): n is string => n !== null))];
  let prefix = '';
  if (names.length > 1) {
    prefix = names.reduce((a, b) => {
      let i = 0;
      while (i < a.length && a[i] === b[i]) i++;
      return a.slice(0, i);
    });
    prefix = prefix.slice(0, prefix.lastIndexOf('-') + 1);
  }
  return parsed.map((p, i) =>
    p.name ? `${short[p.name] ?? (p.name.slice(prefix.length) || p.name)}${p.level > 1 ? `/${p.level}` : ''}` : palette.style(view.namespaces[i].inode).letter,
  );
}

/**
 * The tree as lines (shortened to maxRows: this program, the newest processes, a one-line
 * legend): a gutter with one coloured bar per PID namespace level the process is in
 * (the namespace boundaries, nested), the tree branches, `comm(hostPID)(nsPID)…` in its
 * namespace's colour and its namespace's tag; then the legend and how many host processes are
 * not shown.
 */
export function processTreeLines(view: TreeView, opts: { width: number; maxRows?: number; palette?: NsPalette; names?: Record<string, string> }): Line[] {
  const palette = opts.palette ?? new NsPalette();
  const styles = view.namespaces.map((n) => palette.style(n.inode));
  const tags = namespaceTags(view, palette, opts.names);
  let maxLevel = 0;
  const scan = (r: TreeRow) => {
    maxLevel = Math.max(maxLevel, r.nspid.length - 1);
    r.children.forEach(scan);
  };
  view.roots.forEach(scan);

  const rows: Line[] = [];
  const walk = (r: TreeRow, prefix: string, last: boolean, top: boolean, parentLevels: number[]) => {
    const level = r.nspid.length - 1;
    const levels = level === 0 ? [] : [...parentLevels.slice(0, level - 1), r.ns];
    while (levels.length < level) levels.splice(levels.length - 1, 0, -2);
    const gutter: Seg[] = [];
    if (maxLevel > 0) {
      for (let k = 0; k < maxLevel; k++) {
        const ns = levels[k];
        gutter.push(ns !== undefined && ns >= 0 && styles[ns] ? seg('▌', { color: styles[ns].color }) : seg(' '));
      }
      gutter.push(seg(' '));
    }
    const style = r.ns >= 0 ? styles[r.ns] : undefined;
    const line: Line = [...gutter, seg(`${prefix}${top ? '' : last ? '└─ ' : '├─ '}`, { dim: true })];
    const label = seg(pidLabel(r), { color: style?.color, bold: r.highlight });
    line.push(label);
    if (style) line.push(seg(` ${tags[r.ns]}`, { color: style.color, bold: true }));
    if (r.state === 'Z') line.push(seg(' <zombie>', { color: 'red', bold: true }));
    if (r.highlight) line.push(seg(' ◀', { bold: true }));
    if (top && parentLevels.length === 0 && level === 0 && r.hostPid === process.pid) line.push(seg('  sandbox itself', { dim: true }));
    rows.push(fitRow(line, label, r.comm, opts.width));
    const next = top ? '' : prefix + (last ? '   ' : '│  ');
    r.children.forEach((c, i) => walk(c, next, i === r.children.length - 1, false, levels));
  };
  view.roots.forEach((r) => walk(r, '', true, true, []));
  if (!view.roots.length) rows.push([seg('(no process of the lesson yet)', { dim: true })]);

  const legendItems = view.namespaces.map((n, i) => [
    seg(`▌${tags[i]}`, { color: styles[i].color, bold: true }),
    seg(` ${n.label}`, { color: styles[i].color }),
  ]);
  const legend = legendItems.length ? packItems([[seg('PID namespaces:', { dim: true })], ...legendItems], opts.width, ' ') : [];
  const tail: Line[] = [...legend];
  if (view.hidden) tail.push([seg(`+ ${view.hidden} other processes on this host (not shown)`, { dim: true })]);

  const max = opts.maxRows ?? Infinity;
  if (rows.length + tail.length <= max) return [...rows, ...tail];
  if (max <= 0) return [];
  // Short of rows: the processes matter more than the legend (each row carries its letter).
  const short: Line[] = legendItems.length
    ? [truncateLine([seg('PID namespaces:', { dim: true }), ...legendItems.flatMap((item) => [seg(' '), item[0]])], opts.width)]
    : [];
  if (rows.length + short.length <= max) return [...rows, ...short];
  // Keep the top (this program) and the newest processes, at the bottom: the ones the step made.
  const room = max - short.length - 1;
  if (room >= 2) {
    const tail = rows.slice(rows.length - (room - 1));
    return [rows[0], moreLine(rows.length - tail.length - 1, 'more processes above', 'v: whole view'), ...tail, ...short];
  }
  return [...rows.slice(0, Math.max(0, max - 1)), moreLine(rows.length - Math.max(0, max - 1), 'more processes', 'v')];
}

/** A live process tree: host PID and namespace PIDs side by side, coloured per PID namespace. */
export const ProcessTree = memo(function ProcessTree({ view, width, maxRows, palette, names }: ProcessTreeProps) {
  return <Lines lines={processTreeLines(view, { width, maxRows, palette, names })} width={width} />;
});
