import { memo } from 'react';

import type { CheckResult } from '../../lessons/types.js';
import { fitLines, type Line, seg, truncateLine, wrapSegs } from '../lines.js';
import { Lines } from './Lines.js';
import { titledRule } from './LiveView.js';

export interface CheckPanelProps {
  /** Results of the step's checks, or null when they have not run yet. */
  results: CheckResult[] | null;
  /** The checks are running now. */
  pending?: boolean;
  /** Columns available. */
  width: number;
  /** Rows available, the title included. */
  maxRows?: number;
  /** One line per passed check (failed ones stay in full); chosen automatically when maxRows is too small. */
  compact?: boolean;
}

const FIELD = 14;

function field(name: string, value: string, width: number, style: { color?: string; dim?: boolean } = {}): Line[] {
  return wrapSegs([seg(value || '""', style)], width, [seg(`    ${name.padEnd(FIELD - 4)}`, { dim: true })], [seg(' '.repeat(FIELD))]);
}

/** One check: ✓/✗ and its label; then, unless compact and passed, probe, expected and actual. */
function checkLines(r: CheckResult, width: number, compact: boolean): Line[] {
  const mark = r.pass ? seg('✓ ', { color: 'green', bold: true }) : seg('✗ ', { color: 'red', bold: true });
  if (compact && r.pass) return [truncateLine([mark, seg(r.label)], width)];
  return [
    ...wrapSegs([seg(r.label, { bold: !r.pass })], width, [mark], [seg('  ')]),
    ...field('probe', r.probe, width, { color: 'cyan' }),
    ...field('expected', r.expected, width),
    ...field('actual', r.actual, width, r.pass ? {} : { color: 'red' }),
  ];
}

/**
 * The check panel as lines: a title with how many passed, then each check of real kernel state
 * with its probe (how it was read), what was expected and what the kernel said.
 */
export function checkPanelLines(props: Omit<CheckPanelProps, 'maxRows'> & { maxRows?: number }): Line[] {
  const { results, width } = props;
  const passed = results?.filter((r) => r.pass).length ?? 0;
  const tag = props.pending
    ? seg('running… ', { color: 'yellow' })
    : results
      ? seg(`${passed}/${results.length} passed `, { color: passed === results.length ? 'green' : 'red', bold: true })
      : null;
  const title = titledRule('Checks against the kernel', tag, width);
  const max = props.maxRows ?? Infinity;
  if (!results) {
    const body = props.pending ? [[seg('reading /proc and /sys…', { dim: true })]] : [[seg('the checks run after the step’s action', { dim: true })]];
    return [title, ...body].slice(0, max);
  }
  const full = results.map((r) => checkLines(r, width, props.compact ?? false));
  const fullCount = full.reduce((n, l) => n + l.length, 0);
  if (props.compact || fullCount + 1 <= max) return [title, ...fitLines(full.flat(), max - 1, { what: 'more lines', key: 'c: all checks' })].slice(0, max);
  // Short of rows: every check on one line (a failed one in full), then as many of the passed
  // ones in full as the rows allow, in order, so no row the panel was given stays empty.
  // Then a passed check still on one line gets its whole label (wrapped) where that fits.
  const mark = seg('✓ ', { color: 'green', bold: true });
  const each = results.map((r, i) => ({ full: full[i], compact: checkLines(r, width, true), label: wrapSegs([seg(r.label)], width, [mark], [seg('  ')]) }));
  let used = each.reduce((n, c) => n + c.compact.length, 0);
  const shown = each.map((c) => c.compact);
  for (const level of ['full', 'label'] as const) {
    each.forEach((c, i) => {
      const extra = c[level].length - shown[i].length;
      if (shown[i] === c.compact && extra > 0 && used + extra <= max - 1) {
        shown[i] = c[level];
        used += extra;
      }
    });
  }
  return [title, ...fitLines(shown.flat(), max - 1, { what: 'more lines', key: 'c: all checks' })].slice(0, max);
}

/** Natural heights: [full, compact], the title included. */
export function checkPanelHeights(results: CheckResult[] | null, width: number): [number, number] {
  if (!results) return [2, 2];
  return [1 + results.flatMap((r) => checkLines(r, width, false)).length, 1 + results.flatMap((r) => checkLines(r, width, true)).length];
}

/** The checks of a step: each ✓ or ✗ with its probe, expected and actual values. */
export const CheckPanel = memo(function CheckPanel(props: CheckPanelProps) {
  return <Lines lines={checkPanelLines(props)} width={props.width} />;
});
