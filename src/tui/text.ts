/**
 * Plain-text renderings of lesson data: used by --plain mode, --auto, and the REPL's script mode.
 * Pure functions of the data; no terminal control codes.
 */
import type { ChartView, CheckResult, GaugesView, LogEntry, TableView, TreeRow, TreeView, ViewData } from '../lessons/types.js';

/** Wraps paragraphs (blank-line separated) to `width` columns, keeping list items and code lines. */
export function wrap(text: string, width = 80, indent = ''): string {
  const out: string[] = [];
  for (const para of text.split(/\n\s*\n/)) {
    const lines = para.split('\n');
    if (lines.every((l) => /^\s*([-*]|\d+\.)\s|^ {4}|^```/.test(l))) {
      out.push(lines.map((l) => indent + l).join('\n'));
      continue;
    }
    const words = para.replace(/\s+/g, ' ').trim().split(' ');
    let line = indent;
    const wrapped: string[] = [];
    for (const w of words) {
      if (line.trim() && line.length + w.length + 1 > width) {
        wrapped.push(line.trimEnd());
        line = indent;
      }
      line += (line.trim() ? ' ' : '') + w;
    }
    if (line.trim()) wrapped.push(line.trimEnd());
    out.push(wrapped.join('\n'));
  }
  return out.join('\n\n');
}

/** `sleep(4711)(1)`: host PID, then the PID at each namespace level below. */
export function pidLabel(r: Pick<TreeRow, 'comm' | 'hostPid' | 'nspid'>): string {
  return `${r.comm}(${r.hostPid})${r.nspid
    .slice(1)
    .map((n) => `(${n})`)
    .join('')}`;
}

export function treeLines(view: TreeView, width = 80): string[] {
  const lines: string[] = [];
  const walk = (r: TreeRow, prefix: string, last: boolean, top: boolean) => {
    const branch = top ? '' : last ? '└─ ' : '├─ ';
    const tag = r.ns >= 0 ? ` [${String.fromCharCode(97 + (r.ns % 26))}]` : '';
    const zombie = r.state === 'Z' ? ' <zombie>' : '';
    const mark = r.highlight ? ' ◀' : '';
    lines.push(`${prefix}${branch}${pidLabel(r)}${tag}${zombie}${mark}`.slice(0, width));
    const next = top ? '' : prefix + (last ? '   ' : '│  ');
    r.children.forEach((c, i) => walk(c, next, i === r.children.length - 1, false));
  };
  view.roots.forEach((r) => walk(r, '', true, true));
  if (view.namespaces.length) {
    lines.push(`PID namespaces: ${view.namespaces.map((n, i) => `[${String.fromCharCode(97 + (i % 26))}] ${n.label}`).join('  ')}`);
  }
  if (view.hidden) lines.push(`(${view.hidden} other processes on this host not shown)`);
  return lines;
}

export function tableLines(view: TableView, width = 80): string[] {
  const widths = view.columns.map((c, i) => Math.max(c.length, ...view.rows.map((r) => (r[i] ?? '').length)));
  const fmt = (cells: string[]) => cells.map((c, i) => (c ?? '').padEnd(widths[i])).join('  ').trimEnd().slice(0, width);
  const lines = [fmt(view.columns), fmt(widths.map((w) => '─'.repeat(w)))];
  view.rows.forEach((r, i) => lines.push(fmt(r) + (view.highlight?.includes(i) ? ' ◀' : '')));
  if (!view.rows.length) lines.push('(none)');
  if (view.caption) lines.push(view.caption);
  return lines;
}

const SPARK = '▁▂▃▄▅▆▇█';

export function sparkline(values: number[], min: number, max: number, width = 40): string {
  const vs = values.slice(-width);
  return vs.map((v) => SPARK[Math.max(0, Math.min(7, Math.round(((v - min) / (max - min || 1)) * 7)))]).join('');
}

export function chartLines(view: ChartView, width = 80): string[] {
  const nameW = Math.max(...view.series.map((s) => s.name.length), 4);
  const lines = view.series.map((s) => {
    const last = s.values.at(-1);
    const target = s.target === undefined ? '' : ` target ${s.target}${view.unit}`;
    const spark = sparkline(s.values, view.min, view.max, Math.max(10, width - nameW - 30));
    return `${s.name.padEnd(nameW)} ${spark} ${last === undefined ? '–' : last.toFixed(1)}${view.unit}${target}`;
  });
  if (view.caption) lines.push(view.caption);
  return lines;
}

export function gaugeBar(value: number, max: number, width = 30): string {
  const filled = Math.max(0, Math.min(width, Math.round((value / (max || 1)) * width)));
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}]`;
}

export function gaugeLines(view: GaugesView, width = 80): string[] {
  const labelW = Math.max(...view.gauges.map((g) => g.label.length), 4);
  const lines = view.gauges.map((g) => {
    const of = g.max === null ? ' (no limit)' : ` / ${g.max}${g.unit}`;
    const bar = g.max === null ? '' : ` ${gaugeBar(g.value, g.max, 24)}`;
    return `${g.label.padEnd(labelW)}${bar} ${g.value}${g.unit}${of}${g.note ? `  ${g.note}` : ''}`.slice(0, width);
  });
  if (view.caption) lines.push(view.caption);
  return lines;
}

export function viewLines(data: ViewData, width = 80): string[] {
  switch (data.kind) {
    case 'tree':
      return treeLines(data, width);
    case 'table':
      return tableLines(data, width);
    case 'chart':
      return chartLines(data, width);
    case 'gauges':
      return gaugeLines(data, width);
    case 'text':
      return data.lines;
  }
}

export function logLines(entries: LogEntry[]): string[] {
  const lines: string[] = [];
  for (const e of entries) {
    if (e.command) lines.push(`$ ${e.command}`);
    if (e.syscall) lines.push(`  ⤷ ${e.syscall}`);
    if (e.note) lines.push(`  # ${e.note}`);
    if (e.output) lines.push(...e.output.split('\n').map((l) => `  ${l}`));
  }
  return lines;
}

export function checkLines(results: CheckResult[]): string[] {
  const lines: string[] = [];
  for (const r of results) {
    lines.push(`${r.pass ? '✓' : '✗'} ${r.label}`);
    lines.push(`    probe:    ${r.probe}`);
    lines.push(`    expected: ${r.expected}`);
    lines.push(`    actual:   ${r.actual}`);
  }
  return lines;
}
