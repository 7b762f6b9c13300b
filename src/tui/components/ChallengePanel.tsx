import { memo } from 'react';

import type { ChallengePoll } from '../../lessons/challenge.js';
import type { Challenge, ChallengeVar, CheckResult } from '../../lessons/types.js';
import { checkPanelLines } from './CheckPanel.js';
import { blank, inlineCode, type Line, seg, truncateLine, wrapSegs, wrapText } from '../lines.js';
import { Lines } from './Lines.js';
import { titledRule } from './LiveView.js';

/** The goal in plain words and the tools to use. */
export function challengeGoalLines(challenge: Challenge, width: number): Line[] {
  return [
    ...wrapSegs(inlineCode(challenge.goal), width, [seg('Your turn: ', { bold: true, color: 'magenta' })], [seg('  ')]),
    ...wrapSegs([seg(challenge.tools.join(', '), { color: 'cyan' })], width, [seg('tools: ', { dim: true })], [seg('       ')]),
  ];
}

/** A value (a path, mostly) in pieces of at most `width` columns, cut after a "/" where one is near. */
export function breakValue(value: string, width: number): string[] {
  const w = Math.max(8, width);
  const out: string[] = [];
  let rest = value;
  while (rest.length > w) {
    const slash = rest.lastIndexOf('/', w - 1);
    const cut = slash > w / 2 ? slash + 1 : w;
    out.push(rest.slice(0, cut));
    rest = rest.slice(cut);
  }
  out.push(rest);
  return out;
}

/**
 * The variables: `$NAME = value`, the value always whole (broken over lines, never cut), then
 * what it is (on the same line when it fits, else the next) unless `compact`; and the line that
 * sets them in another terminal, whole.
 */
export function challengeVarsLines(vars: ChallengeVar[], envFile: string | null, width: number, compact = false): Line[] {
  if (!vars.length) return [];
  const w = Math.max(...vars.map((v) => v.name.length)) + 1;
  const lines: Line[] = [titledRule('Your variables', null, width)];
  const lead = w + 3;
  for (const v of vars) {
    const pieces = breakValue(v.value, width - lead);
    pieces.forEach((piece, i) =>
      lines.push([i === 0 ? seg(`$${v.name.padEnd(w)}`, { bold: true }) : seg(' '.repeat(w + 1)), seg(i === 0 ? '= ' : '  '), seg(piece)]),
    );
    if (compact) continue;
    const last = lines[lines.length - 1];
    const about = `  ${v.about}`;
    if (lineWidthOf(last) + about.length <= width) last.push(seg(about, { dim: true }));
    else lines.push(...wrapText(v.about, width, { dim: true }, ' '.repeat(lead), ' '.repeat(lead)));
  }
  if (envFile) {
    const cmd = `sudo -s; . ${envFile}`;
    const label = 'other terminal: ';
    if (label.length + cmd.length <= width) lines.push([seg(label, { dim: true }), seg(cmd, { color: 'cyan' })]);
    else {
      lines.push([seg(label, { dim: true }), seg('sudo -s, then', { color: 'cyan' })]);
      for (const piece of breakValue(`. ${envFile}`, width - 2)) lines.push([seg('  '), seg(piece, { color: 'cyan' })]);
    }
  }
  return lines;
}

function lineWidthOf(l: Line): number {
  return l.reduce((n, sg) => n + [...sg.text].length, 0);
}

/**
 * The live checks in `maxRows`: in full (probe, expected, actual) when they fit, else one line
 * each (✓/✗, the label, and what the kernel says for a failing one).
 */
export function challengeCheckLines(results: CheckResult[] | null, width: number, maxRows: number): Line[] {
  const full = checkPanelLines({ results, pending: !results, width });
  if (full.length <= maxRows || !results) return checkPanelLines({ results, pending: !results, width, maxRows });
  const tight = results.map((r) =>
    truncateLine(
      [
        r.pass ? seg('✓ ', { color: 'green', bold: true }) : seg('✗ ', { color: 'red', bold: true }),
        seg(r.label, { bold: !r.pass }),
        ...(r.pass ? [] : [seg(`  (now: ${r.actual})`, { dim: true })]),
      ],
      width,
    ),
  );
  return [full[0], ...tight].slice(0, Math.max(0, maxRows));
}

/** Rows the checks take: [one line each, in full], the title included. */
export function challengeCheckHeights(results: CheckResult[] | null, width: number): [number, number] {
  const full = checkPanelLines({ results, pending: !results, width }).length;
  return [Math.min(full, 1 + (results?.length ?? 1)), full];
}

export interface ChallengeStatusProps {
  challenge: Challenge;
  /** The latest poll (the conditional hint and fail-state that hold now), or null before the first. */
  poll: ChallengePoll | null;
  /** The general hint is shown (h). */
  hint: boolean;
  /** The step's hint, used when the challenge has no general hint of its own. */
  stepHint: string;
  answered: string[];
  input: { id: string; text: string; checking: boolean } | null;
  feedback: { right: boolean; text: string } | null;
  showSolution: boolean;
  passed: boolean;
  skipped: boolean;
  message: string | null;
  /** The takeaway, said once passed. */
  takeaway?: string;
  width: number;
}

/**
 * What the challenge says now: passed (and the takeaway), a fail-state with its reset, the hint
 * whose condition holds (with how it was read), the general hint, the questions (✓ answered or
 * open, the one being typed), the reference solution, the last message.
 */
export function challengeStatusLines(p: ChallengeStatusProps): Line[] {
  const { challenge: c, width } = p;
  const lines: Line[] = [];
  const key = (k: string) => seg(k, { bold: true, color: 'cyan' });
  if (p.passed) {
    lines.push(
      ...wrapSegs(
        [...inlineCode(p.takeaway ?? 'Challenge passed: the kernel is in the state the goal describes.'), seg(' Press '), key('enter'), seg(' to go on.')],
        width,
        [seg('✓ ', { color: 'green', bold: true })],
        [seg('  ')],
      ),
    );
  } else if (p.skipped) {
    lines.push([seg('Skipped.', { color: 'yellow' })]);
  } else if (p.poll?.fail) {
    lines.push(
      ...wrapSegs(inlineCode(p.poll.fail.text), width, [seg('✗ stuck: ', { color: 'red', bold: true })], [seg('  ')]),
      ...wrapSegs([seg(p.poll.fail.when.probe, { color: 'cyan' })], width, [seg('  read with: ', { dim: true })], [seg('  ')]),
      [seg('  press '), key('R'), seg(' to reset this challenge')],
    );
  } else if (p.poll?.hint) {
    lines.push(
      ...wrapSegs(inlineCode(p.poll.hint.text), width, [seg('hint: ', { color: 'yellow', bold: true })], [seg('      ')]),
      ...(p.poll.hint.when ? wrapSegs([seg(p.poll.hint.when.probe, { color: 'cyan' })], width, [seg('      read with: ', { dim: true })], [seg('      ')]) : []),
    );
  }
  if (p.hint) {
    const general = c.hints.find((h) => !h.when)?.text ?? p.stepHint;
    lines.push(...wrapSegs(inlineCode(general), width, [seg('hint: ', { color: 'yellow', bold: true })], [seg('      ')]));
  }
  for (const q of c.questions ?? []) {
    const done = p.answered.includes(q.id);
    const mark = done ? seg('✓ ', { color: 'green', bold: true }) : seg('? ', { color: 'yellow', bold: true });
    lines.push(...wrapSegs(inlineCode(q.question, { bold: !done }), width, [mark], [seg('  ')]));
    if (p.input?.id === q.id) {
      lines.push(truncateLine([seg('  answer: ', { dim: true }), seg(p.input.text, { bold: true }), seg(p.input.checking ? '  (reading the kernel…)' : '▏', { dim: true })], width));
    }
  }
  if (p.feedback) {
    lines.push(
      ...wrapSegs(
        inlineCode(p.feedback.text),
        width,
        [seg(p.feedback.right ? '✓ ' : '✗ ', { color: p.feedback.right ? 'green' : 'red', bold: true })],
        [seg('  ')],
      ),
    );
  }
  if (p.showSolution) {
    lines.push([seg('The reference solution:', { bold: true })]);
    for (const l of c.solution) lines.push(...wrapText(l, width, { color: 'cyan' }, '  ', '    '));
  }
  if (p.message) lines.push(...wrapText(p.message, width, { color: 'yellow' }));
  return lines.length ? lines : [blank()];
}

/** The status of a challenge as a component (the screen uses the line builders directly). */
export const ChallengeStatus = memo(function ChallengeStatus(props: ChallengeStatusProps) {
  return <Lines lines={challengeStatusLines(props)} width={props.width} />;
});
