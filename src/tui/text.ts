/**
 * Plain-text renderings of lesson data: used by --plain mode, --auto, and the REPL's script mode.
 * Pure functions of the data; no terminal control codes.
 */
import type { ChartView, CheckResult, GaugesView, LogEntry, TableView, TreeRow, TreeView, ViewData } from '../lessons/types.js';
import { listItems, plainMarkdown } from './lines.js';

/** Words to lines of at most `width` columns (a word wider than that stays whole on its line). */
function fill(text: string, width: number, first: string, rest: string): string[] {
  const words = text.replace(/\s+/g, ' ').trim().split(' ').filter(Boolean);
  const wrapped: string[] = [];
  let line = first;
  let empty = true;
  for (const w of words) {
    if (!empty && line.length + w.length + 1 > width) {
      wrapped.push(line.trimEnd());
      line = rest;
      empty = true;
    }
    line += (empty ? '' : ' ') + w;
    empty = false;
  }
  if (!empty) wrapped.push(line.trimEnd());
  return wrapped;
}

/**
 * Wraps paragraphs (blank-line separated) to `width` columns as plain text: emphasis loses its
 * markers (`*word*` → word), list items ("- x", "* x", "1. x") get one marker style and a hanging
 * indent, code lines (four spaces, ```) are kept as they are.
 */
export function wrap(text: string, width = 80, indent = ''): string {
  const out: string[] = [];
  for (const para of text.split(/\n\s*\n/)) {
    const lines = para.split('\n');
    if (lines.every((l) => /^ {4}|^```/.test(l))) {
      out.push(lines.map((l) => indent + l).join('\n'));
      continue;
    }
    const { lead, items } = listItems(para);
    const wrapped: string[] = [];
    if (lead) wrapped.push(...fill(plainMarkdown(lead), width, indent, indent));
    for (const it of items) {
      const marker = it.marker.replace('•', '-');
      wrapped.push(...fill(plainMarkdown(it.text), width, indent + marker, indent + ' '.repeat(marker.length)));
    }
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

/** A number as a person reads it: whole numbers as they are, others to 1 decimal (2 below 10). */
function num(v: number): string {
  if (!Number.isFinite(v)) return '–';
  if (Number.isInteger(v)) return String(v);
  return Math.abs(v) < 10 ? v.toFixed(2) : v.toFixed(1);
}

/** `unit` after a number: "%" and " ms" as given, words with a space. */
function withUnit(v: number, unit: string): string {
  return `${num(v)}${unit && /^[a-zA-Z]/.test(unit) ? ` ${unit}` : unit}`;
}

/**
 * The last `width` values as block characters, ▁ at `min` and █ at `max` (values outside are
 * clamped; a missing value is a space), oldest on the left.
 */
export function sparkline(values: number[], min: number, max: number, width = 40): string {
  const span = max - min || 1;
  return (width > 0 ? values.slice(-width) : [])
    .map((v) => (Number.isFinite(v) ? SPARK[Math.max(0, Math.min(7, Math.round(((v - min) / span) * 7)))] : ' '))
    .join('');
}

/**
 * A chart as one row per series: its name, a sparkline of its recent values (oldest left), the
 * latest value and the target it should converge on, then a line giving the scale.
 */
export function chartLines(view: ChartView, width = 80): string[] {
  if (!view.series.length) return [view.caption ?? '(no data yet)'];
  const nameW = Math.min(24, Math.max(4, ...view.series.map((s) => s.name.length)));
  const tails = view.series.map((s) => {
    const last = s.values.at(-1);
    const now = last === undefined ? '–' : withUnit(Math.max(view.min, Math.min(view.max, last)), view.unit);
    return s.target === undefined ? now : `${now} → target ${withUnit(s.target, view.unit)}`;
  });
  const tailW = Math.max(...tails.map((t) => t.length));
  const sparkW = Math.max(10, width - nameW - tailW - 4);
  const sparks = view.series.map((s) => (s.values.length ? sparkline(s.values, view.min, view.max, sparkW) : '(no samples yet)'));
  const sparkCols = Math.max(...sparks.map((x) => x.length));
  const lines = view.series.map((s, i) => `${s.name.slice(0, nameW).padEnd(nameW)}  ${sparks[i].padEnd(sparkCols)}  ${tails[i]}`.trimEnd());
  lines.push(`${' '.repeat(nameW)}  ${SPARK[0]} = ${withUnit(view.min, view.unit)}, ${SPARK[7]} = ${withUnit(view.max, view.unit)}; one mark per sample, newest on the right`.slice(0, width));
  if (view.caption) lines.push(view.caption);
  return lines;
}

/** `[██████░░░░]`: value against max, clamped to the bar. */
export function gaugeBar(value: number, max: number, width = 30): string {
  const f = max > 0 ? value / max : 0;
  const filled = Math.max(0, Math.min(width, Math.round((Number.isFinite(f) ? f : 0) * width)));
  return `[${'█'.repeat(filled)}${'░'.repeat(width - filled)}]`;
}

/**
 * Gauges as rows: label, a bar of value against its limit, "value / max (pct)", and the note; a
 * note that does not fit goes on its own line under the bar. Without a limit: the value alone.
 */
export function gaugeLines(view: GaugesView, width = 80): string[] {
  if (!view.gauges.length) return [view.caption ?? '(no data yet)'];
  const labelW = Math.min(28, Math.max(4, ...view.gauges.map((g) => g.label.length)));
  const barW = Math.max(10, Math.min(24, width - labelW - 30));
  const lines: string[] = [];
  for (const g of view.gauges) {
    const label = g.label.slice(0, labelW).padEnd(labelW);
    const numbers =
      g.max === null
        ? `${withUnit(g.value, g.unit)} (no limit)`
        : `${withUnit(g.value, g.unit)} / ${withUnit(g.max, g.unit)}${g.max > 0 ? ` (${Math.round((g.value / g.max) * 100)} %)` : ''}`;
    const bar = g.max === null ? ' '.repeat(barW + 2) : gaugeBar(g.value, g.max, barW);
    const row = `${label}  ${bar} ${numbers}`;
    if (!g.note) lines.push(row.trimEnd());
    else if (row.length + 2 + g.note.length <= width) lines.push(`${row}  ${g.note}`);
    else lines.push(row.trimEnd(), ...wrap(g.note, width, ' '.repeat(labelW + 2)).split('\n'));
  }
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

/** One guided step, for the count of checks at the end of a lesson. */
export interface StepOutcome {
  /** How many checks the step has (read from the lesson). */
  checks: number;
  /** Its checks' results in this session, or null when they did not run in it. */
  results: CheckResult[] | null;
  /** It passed in an earlier session (saved progress) and was only replayed in this one. */
  doneEarlier: boolean;
}

/** Every check of a lesson: passed (now or earlier), failed now, or not checked at all. */
export interface CheckTally {
  total: number;
  /** Passed in this session or, for steps done in an earlier session, then. */
  passed: number;
  failed: number;
  /** Of `passed`: counted from saved progress (steps done earlier, replayed without checking). */
  earlier: number;
  /** Neither run now nor passed earlier (a step that could not run, one left failed earlier). */
  unchecked: number;
  /** The steps (indexes) whose checks are unchecked. */
  uncheckedSteps: number[];
}

/**
 * Counts every check of the lesson, replayed steps included: a step done in an earlier session
 * counts its checks as passed from the saved progress (on resume its action runs again to rebuild
 * the sandboxes, its checks do not); a step run now counts its results.
 */
export function tallyChecks(steps: StepOutcome[]): CheckTally {
  const t: CheckTally = { total: 0, passed: 0, failed: 0, earlier: 0, unchecked: 0, uncheckedSteps: [] };
  steps.forEach((s, i) => {
    const n = Math.max(s.checks, s.results?.length ?? 0);
    t.total += n;
    let counted = 0;
    if (s.results && s.results.length) {
      for (const r of s.results) {
        if (r.pass) t.passed++;
        else t.failed++;
      }
      counted = s.results.length;
    } else if (s.doneEarlier) {
      t.passed += s.checks;
      t.earlier += s.checks;
      counted = s.checks;
    }
    if (n > counted) {
      t.unchecked += n - counted;
      t.uncheckedSteps.push(i);
    }
  });
  return t;
}

/**
 * "15 of 15 checks passed (11 in an earlier session)", ", 2 failed", ", 3 not checked"; inside
 * parentheses already (`nested`), "…passed, 11 in an earlier session".
 */
export function checksSentence(t: CheckTally, nested = false): string {
  const earlier = !t.earlier ? '' : nested ? `, ${t.earlier} in an earlier session` : ` (${t.earlier} in an earlier session)`;
  return `${t.passed} of ${t.total} checks passed${earlier}${t.failed ? `, ${t.failed} failed` : ''}${
    t.unchecked ? `, ${t.unchecked} not checked` : ''
  }`;
}
