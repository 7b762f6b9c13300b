/**
 * The lesson screen: header (lesson, step k/N, progress), the step's prose, the prediction, the
 * action log, the live view, the checks and what they mean, and the keys that work now. It draws
 * the controller's state (lesson-controller.ts) and forwards keys to it; panels are laid out by
 * priority (layout.ts) so the screen always fits the terminal, from 80×24 up.
 */
import { Box, useInput } from 'ink';
import { type ReactNode, useEffect, useMemo, useRef, useSyncExternalStore } from 'react';

import { actionLogLines, scrollLines } from '../components/ActionLog.js';
import { challengeCheckHeights, challengeCheckLines, challengeGoalLines, challengeStatusLines, challengeVarsLines } from '../components/ChallengePanel.js';
import { checkPanelHeights, checkPanelLines } from '../components/CheckPanel.js';
import { errorBannerLines } from '../components/ErrorBanner.js';
import { Header, type StepMark } from '../components/Header.js';
import { KeyHelp } from '../components/KeyHelp.js';
import { Lines } from '../components/Lines.js';
import { liveViewLines, titledRule } from '../components/LiveView.js';
import { tableNaturalWidth } from '../components/PidTable.js';
import { predictionLines } from '../components/Prediction.js';
import { Spinner } from '../components/Spinner.js';
import { TooSmall } from '../components/TooSmall.js';
import { type LessonController, type LessonState, stepRange } from '../lesson-controller.js';
import { blank, fitLines, inlineCode, type Line, proseLines, seg, wrapSegs, wrapText } from '../lines.js';
import { allocate, type BlockSpec } from './layout.js';

export const MIN_COLUMNS = 80;
export const MIN_ROWS = 24;
/** From this width the screen has two columns: the lesson on the left, what happens on the right. */
export const WIDE_COLUMNS = 110;
/** In two columns, the lesson's text keeps at least this many columns however wide the view. */
const MIN_LEFT = 50;

export interface LessonScreenProps {
  /** The lesson's state and flow. */
  controller: LessonController;
  /** Terminal width. */
  columns: number;
  /** Terminal height; the screen uses one row less (Ink keeps the cursor below it). */
  rows: number;
}

/** A panel of the step screen: its rows by priority, and how to draw it in a given height. */
interface Block {
  spec: BlockSpec;
  render: (height: number) => ReactNode;
}

function linesBlock(id: string, lines: Line[], width: number, tiers: [number, number][], opts: { min?: number; from?: 'start' | 'end'; key?: string } = {}): Block {
  return {
    spec: { id, natural: lines.length, min: opts.min ?? Math.min(2, lines.length), tiers },
    render: (h) => <Lines key={id} lines={fitLines(lines, h, { from: opts.from, key: opts.key })} width={width} />,
  };
}

function spacer(id: string, priority = 99): Block {
  return { spec: { id, natural: 1, min: 1, tiers: [[priority, 1]] }, render: () => <Lines key={id} lines={[blank()]} width={1} /> };
}

/** Lays blocks out top to bottom in `height` rows. */
function Column({ blocks, height, width }: { blocks: Block[]; height: number; width: number }) {
  const rows = allocate(
    blocks.map((b) => b.spec),
    height,
  );
  return (
    <Box flexDirection="column" width={width} height={height}>
      {blocks.filter((b) => rows[b.spec.id] > 0).map((b) => b.render(rows[b.spec.id]))}
    </Box>
  );
}

const KEY_REFERENCE: [string, string][] = [
  ['enter', 'start, run the step, go to the next step'],
  ['1-9', 'answer the prediction (the step then runs)'],
  ['↑ ↓ enter', 'move between the choices, answer'],
  ['0-9 . enter', 'type a number for a numeric prediction, answer (backspace deletes)'],
  ['h', 'show or hide the hint'],
  ['r', 'run the step again (after a failed check)'],
  ['s', 'challenge: a shell with your variables (exit comes back)'],
  ['a', 'challenge: answer the next open question (enter checks it, esc stops)'],
  ['R', 'challenge: reset it (its setup again, your work removed)'],
  ['S', 'challenge: the reference solution (after a hint, or once passed)'],
  ['k', 'challenge: skip it (kept as skipped)'],
  ['b  ←', 'look at the previous step again (read-only)'],
  ['enter  →', 'forward again; esc: back to the current step'],
  ['v', 'the live view, whole screen'],
  ['l', 'the whole action log'],
  ['p', "the step's whole text"],
  ['c', 'the checks: label, probe, expected and actual of each, whole'],
  ['↑ ↓ j k space', 'scroll a whole-screen panel (PgUp PgDn a page), the intro, the summary'],
  ['esc', 'close a whole-screen panel'],
  ['q', 'quit: your progress is kept, the sandboxes are removed'],
  ['Ctrl-C', 'the same'],
];

function keyReferenceLines(width: number): Line[] {
  return [
    [seg('Keys', { bold: true })],
    blank(),
    ...KEY_REFERENCE.map(([k, what]) => [seg(`  ${k.padEnd(16)}`, { bold: true, color: 'cyan' }), seg(what)]),
    blank(),
    ...wrapText('Progress is saved after every step whose checks pass; `sandbox learn` resumes at the next one.', width, { dim: true }),
  ];
}

/** The header's marks: done (checks passed), failed, the current step, the rest. */
function marksOf(c: LessonController, s: LessonState): StepMark[] {
  return c.steps.map((step, i) => {
    if (s.phase === 'step' && i === (s.looking ?? s.index)) return 'current';
    if (s.records[i].passed === false) return 'failed';
    if (c.doneIds.includes(step.id) || s.records[i].passed) return 'done';
    return 'todo';
  });
}

function headerTitle(c: LessonController, s: LessonState): { title: string; status?: string; step: number | null } {
  switch (s.phase) {
    case 'intro':
      return { title: 'Introduction', step: null };
    case 'rebuilding':
      return { title: 'Resuming', status: 'rebuilding the earlier steps', step: null };
    case 'summary':
      return { title: 'Summary', step: null };
    case 'fatal':
      return { title: 'Stopped', step: null };
    case 'closing':
      return { title: 'Leaving', status: 'removing the sandboxes', step: null };
    default: {
      const i = s.looking ?? s.index;
      const ch = s.looking === null ? s.challenge : null;
      const status =
        s.looking !== null
          ? 'looking back, read-only'
          : s.stepPhase === 'running'
            ? 'running'
            : s.stepPhase === 'checking'
              ? 'checking'
              : s.stepPhase === 'unavailable'
                ? 'cannot run on this host'
              : ch
                ? CHALLENGE_STATUS[ch.inShell ? 'shell' : ch.phase]
                : undefined;
      return { title: `Step ${i + 1}: ${c.steps[i].title}`, status, step: i };
    }
  }
}

const CHALLENGE_STATUS: Record<string, string | undefined> = {
  setup: 'setting up',
  resetting: 'resetting',
  working: 'checked live',
  passed: 'passed',
  skipped: 'skipped',
  error: 'setup failed',
  ending: 'removing the challenge',
  shell: 'in the shell',
};

/** Scrolls a whole-screen panel: `scroll` rows from the top (or, with fromEnd, from the bottom). */
function scrolled(lines: Line[], height: number, scroll: number, fromEnd = false): Line[] {
  if (lines.length <= height) return lines;
  if (fromEnd) return scrollLines(lines, height, scroll, 'esc: back');
  const max = lines.length - height;
  const s = Math.max(0, Math.min(scroll, max));
  const out = lines.slice(s, s + height);
  if (s > 0) out[0] = [seg(`↑ ${s + 1} lines above`, { dim: true })];
  if (s < max) out[out.length - 1] = [seg(`↓ ${max - s + 1} lines below`, { dim: true })];
  return out;
}

export function LessonScreen({ controller, columns, rows }: LessonScreenProps) {
  const s = useSyncExternalStore(controller.subscribe, controller.getState);
  useInput((input, key) => {
    controller.handleKey(input, key);
  });
  if (columns < MIN_COLUMNS || rows < MIN_ROWS) {
    return <TooSmall columns={columns} rows={rows} minColumns={MIN_COLUMNS} minRows={MIN_ROWS} />;
  }
  const height = rows - 1;
  const bodyHeight = height - 3;
  const head = headerTitle(controller, s);
  return (
    <Box flexDirection="column" width={columns} height={height}>
      <Header lesson={controller.lesson.title} step={head.step} marks={marksOf(controller, s)} title={head.title} status={head.status} width={columns} />
      <Box flexDirection="column" height={bodyHeight} paddingLeft={1}>
        <Body controller={controller} state={s} width={columns - 2} height={bodyHeight} />
      </Box>
      <KeyHelp keys={controller.keys()} width={columns} />
    </Box>
  );
}

function Body({ controller: c, state: s, width, height }: { controller: LessonController; state: LessonState; width: number; height: number }) {
  const textWidth = Math.min(width, 100);
  if (s.zoom) return <Zoomed controller={c} state={s} width={width} height={height} />;
  switch (s.phase) {
    case 'intro': {
      const steps: Line[] = c.steps.map((st, i) => [seg(`  ${String(i + 1).padStart(2)}. `, { dim: true }), seg(st.title)]);
      const lines: Line[] = [
        ...(s.notice ? [...wrapText(s.notice, textWidth, { color: 'yellow' }), blank()] : []),
        ...proseLines(c.lesson.intro ?? '', textWidth),
        blank(),
        [seg(`The ${c.steps.length} steps:`, { bold: true })],
        ...steps,
        blank(),
        ...wrapSegs([seg('Press '), seg('enter', { bold: true, color: 'cyan' }), seg(' to start. Every step makes real namespaces and cgroups on this machine; q removes them.')], textWidth),
      ];
      return <ScrollText controller={c} lines={lines} height={height} width={width} scroll={s.scroll} />;
    }
    case 'rebuilding': {
      const r = s.rebuild!;
      return (
        <Box flexDirection="column">
          <Lines
            lines={[
              [seg(`Resuming at step ${r.upTo + 1} of ${c.steps.length}.`, { bold: true })],
              ...wrapText(`Rebuilding the sandboxes of ${stepRange(r.upTo)}: their actions run again, without questions, so step ${r.upTo + 1} finds the kernel as you left it…`, textWidth),
              blank(),
            ]}
            width={width}
          />
          {c.steps.slice(0, r.upTo).map((st, i) =>
            i === r.current ? (
              <Spinner key={i} label={`${i + 1}. ${st.title}`} width={width} />
            ) : (
              <Lines key={i} lines={[[seg(i < r.current ? '✓ ' : '· ', { color: i < r.current ? 'green' : undefined, dim: i > r.current }), seg(`${i + 1}. ${st.title}`, { dim: i > r.current })]]} width={width} />
            ),
          )}
        </Box>
      );
    }
    case 'fatal':
      return (
        <Lines
          lines={[
            ...errorBannerLines({ error: s.fatal, width: Math.min(width, 100), context: 'The lesson cannot go on.', maxRows: height - 2 }),
            blank(),
            [seg('Press '), seg('enter', { bold: true, color: 'cyan' }), seg(' or '), seg('q', { bold: true, color: 'cyan' }), seg(' to quit. Your progress is kept.')],
          ]}
          width={width}
        />
      );
    case 'closing':
      return <Spinner label="Removing the lesson's sandboxes…" width={width} />;
    case 'summary':
      return <ScrollText controller={c} lines={summaryLines(c, textWidth)} height={height} width={width} scroll={s.scroll} />;
    default:
      return <StepBody controller={c} state={s} width={width} height={height} />;
  }
}

/**
 * Text longer than the screen (the intro, the summary), scrolled by the controller's keys with
 * "↑ N lines above" / "↓ N lines below" markers; it tells the controller how far it can scroll.
 */
function ScrollText({ controller, lines, height, width, scroll }: { controller: LessonController; lines: Line[]; height: number; width: number; scroll: number }) {
  const limit = Math.max(0, lines.length - height);
  useEffect(() => {
    controller.setScrollLimit(limit);
  }, [controller, limit]);
  return <Lines lines={scrolled(lines, height, scroll)} width={width} />;
}

function summaryLines(c: LessonController, width: number): Line[] {
  const sum = c.summary();
  const lines: Line[] = [
    [seg('✓ ', { color: 'green', bold: true }), seg(`Lesson complete: ${c.lesson.title}`, { bold: true })],
    blank(),
    // Every check of the lesson, replayed steps included (from the lesson, not this session's).
    [
      seg('  checks passed:     '),
      seg(`${sum.passed} of ${sum.total}`, { bold: true, color: sum.passed === sum.total ? 'green' : 'yellow' }),
      seg(sum.passed === sum.total ? ' (all of them)' : ''),
      seg(sum.failed ? `, ${sum.failed} failed` : '', { color: 'yellow' }),
      seg(sum.unchecked ? `, ${sum.unchecked} not checked (step ${sum.uncheckedSteps.map((i) => i + 1).join(', ')})` : '', { color: 'yellow' }),
    ],
  ];
  if (sum.earlier) {
    lines.push(
      ...wrapText(
        `${sum.earlier} of them in an earlier session: counted from your saved progress (when you resumed, the actions of ${stepRange(sum.replayed)} ran again to rebuild the sandboxes; their checks had passed then)`,
        width,
        { dim: true },
        ' '.repeat(21),
      ),
    );
  } else if (sum.replayed) {
    lines.push(...wrapText(`${stepRange(sum.replayed)} ${sum.replayed === 1 ? 'was' : 'were'} replayed when you resumed, to rebuild the sandboxes`, width, { dim: true }, ' '.repeat(21)));
  }
  lines.push([seg('  predictions right: '), seg(`${sum.predictionsRight} of ${sum.predictions}`, { bold: true }), seg(sum.predictionsClose ? ` (${sum.predictionsClose} more close)` : '')]);
  if (sum.challenges) {
    lines.push([
      seg('  challenges done:   '),
      seg(`${sum.challengesDone} of ${sum.challenges}`, { bold: true, color: sum.challengesDone === sum.challenges ? 'green' : 'yellow' }),
      seg(sum.challengesSkipped ? ` (${sum.challengesSkipped} skipped)` : ''),
    ]);
  }
  if (sum.failedSteps.length) lines.push([seg(`  steps with failed checks: ${sum.failedSteps.map((i) => i + 1).join(', ')} (you continued anyway)`, { color: 'yellow' })]);
  // Every step's (done now or in an earlier session), except a step this host could not run.
  const takeaways = c.steps.filter((st, i) => st.takeaway && !c.unavailableReason(i));
  if (takeaways.length) {
    lines.push(blank(), [seg('What you saw:', { bold: true })]);
    for (const st of takeaways) lines.push(...wrapSegs(inlineCode(st.takeaway!), width, [seg('  • ')], [seg('    ')]));
  }
  lines.push(
    blank(),
    ...wrapSegs(
      [seg('Press '), seg('enter', { bold: true, color: 'cyan' }), seg(" to finish: the lesson's sandboxes are removed. "), seg('sandbox lessons', { color: 'cyan' }), seg(' lists the course.')],
      width,
    ),
  );
  return lines;
}

function Zoomed({ controller: c, state: s, width, height }: { controller: LessonController; state: LessonState; width: number; height: number }) {
  const shown = s.looking ?? s.index;
  const step = c.steps[shown];
  const rec = s.records[shown];
  let lines: Line[];
  let fromEnd = false;
  switch (s.zoom) {
    case 'keys':
      lines = keyReferenceLines(width);
      break;
    case 'prose':
      lines = [...wrapText(step.title, width, { bold: true }), blank(), ...proseLines(step.prose ?? '', Math.min(width, 100))];
      break;
    case 'checks':
      lines = [
        ...wrapText(`The checks of step ${shown + 1}: ${step.title}`, width, { bold: true }),
        ...wrapText(
          step.challenge
            ? 'Read live from the kernel: each line says how it was read (probe), what the challenge wants (expected) and what the kernel says now (actual).'
            : 'Read from the kernel after the action: each says how it was read (probe), what the step expects and what the kernel said (actual).',
          width,
          { dim: true },
        ),
        blank(),
        ...checkPanelLines({ results: rec.results, pending: false, width }),
      ];
      break;
    case 'view': {
      const recorded = s.looking !== null && rec.viewAfter !== null;
      lines = step.view
        ? liveViewLines({
            title: step.view.title,
            data: recorded ? rec.viewAfter : s.view.data,
            error: recorded ? null : s.view.error,
            width,
            palette: c.palette,
            names: c.sandboxNames(),
            note: recorded ? `as it was after step ${shown + 1}` : undefined,
          })
        : [[seg('This step has no live view.', { dim: true })]];
      break;
    }
    default:
      fromEnd = true;
      lines = [titledRule(`What step ${shown + 1} did`, null, width), ...(rec.log.length ? actionLogLines(rec.log, width) : [[seg('(nothing yet)', { dim: true })]])];
  }
  return <Lines lines={scrolled(lines, height, s.scroll, fromEnd)} width={width} />;
}

function StepBody(props: { controller: LessonController; state: LessonState; width: number; height: number }) {
  const step = props.controller.steps[props.state.looking ?? props.state.index];
  const unavailable = props.state.looking === null && props.state.stepPhase === 'unavailable';
  return step.challenge && !unavailable ? <ChallengeBody {...props} /> : <GuidedBody {...props} />;
}

/**
 * A challenge step: the goal and tools, the variables, the checks ticking live, the hint or
 * fail-state that holds, the questions, and the prose. In two columns from WIDE_COLUMNS: what to
 * do on the left, what the kernel says on the right.
 */
function ChallengeBody({ controller: c, state: s, width, height }: { controller: LessonController; state: LessonState; width: number; height: number }) {
  const shown = s.looking ?? s.index;
  const step = c.steps[shown];
  const rec = s.records[shown];
  const looking = s.looking !== null;
  const ch = looking ? null : s.challenge;
  const challenge = step.challenge!;
  const wide = width >= WIDE_COLUMNS;
  const leftW = wide ? Math.floor((width - 3) / 2) : width;
  const rightW = wide ? width - leftW - 3 : width;

  // What does not change while the checks tick is computed once: each redraw (a poll whose
  // results changed) then rebuilds only the checks and the status (Lines skips equal props).
  const notice = useMemo(() => (s.notice && !looking ? [...wrapText(s.notice, leftW, { color: 'yellow' }), blank()] : []), [s.notice, looking, leftW]);
  const prose = useMemo(() => proseLines(step.prose ?? '', leftW), [step, leftW]);
  const goal = useMemo(() => challengeGoalLines(challenge, leftW), [challenge, leftW]);
  const chVars = ch?.vars;
  const envFile = ch?.envFile ?? null;
  const vars = useMemo(() => (chVars ? challengeVarsLines(chVars, envFile, leftW) : []), [chVars, envFile, leftW]);
  const varsCompact = useMemo(() => (chVars ? challengeVarsLines(chVars, envFile, leftW, true) : []), [chVars, envFile, leftW]);
  const checkHeights = useMemo(() => challengeCheckHeights(rec.results, rightW), [rec.results, rightW]);
  const status: Line[] = [];
  let spinner: string | null = null;
  if (looking) {
    const state = c.challengeProgress(step.id)?.state;
    status.push(...wrapText(state === 'done' ? '✓ Passed.' : state === 'skipped' ? 'Skipped.' : 'Not passed yet.', rightW, { dim: true }));
    status.push(...wrapText('Looking back, read-only: the challenge is not running; esc returns to the current step.', rightW, { color: 'yellow' }));
  } else if (!ch || ch.phase === 'setup') {
    spinner = 'setting up… (the sandboxes of the challenge and your bench)';
  } else if (ch.phase === 'resetting') {
    spinner = 'resetting… (removing your work, setting up again)';
  } else if (ch.phase === 'ending') {
    spinner = "removing the challenge's sandboxes…";
  } else if (ch.phase === 'error') {
    status.push(
      ...errorBannerLines({ error: ch.error, width: rightW, context: 'The challenge could not be set up.', maxRows: 8 }),
      [seg('R', { bold: true, color: 'cyan' }), seg(' tries again; '), seg('k', { bold: true, color: 'cyan' }), seg(' skips it.')],
    );
  } else {
    if (ch.inShell) status.push([seg('The shell has the terminal: exit (or Ctrl-D) comes back here.', { color: 'yellow' })]);
    status.push(
      ...challengeStatusLines({
        challenge,
        poll: ch.poll,
        hint: s.hint,
        stepHint: step.hint,
        answered: ch.answered,
        input: ch.input,
        feedback: ch.feedback,
        showSolution: ch.showSolution,
        passed: ch.phase === 'passed',
        skipped: ch.phase === 'skipped',
        message: ch.message,
        takeaway: step.takeaway,
        width: rightW,
      }),
    );
  }
  const tip: Line[] =
    ch && ch.phase === 'working' && !ch.input && !ch.inShell
      ? wrapSegs(
          [
            seg('Press '),
            seg('s', { bold: true, color: 'cyan' }),
            seg(' for a shell with your variables, or work in another terminal: the checks follow the kernel live.'),
          ],
          rightW,
        )
      : [];

  const statusBlock: Block = {
    spec: { id: 'status', natural: status.length + (spinner ? 1 : 0), min: 1, tiers: [[1, 999]] },
    render: (h) => (
      <Box key="status" flexDirection="column">
        {spinner ? <Spinner label={spinner} width={rightW} /> : null}
        <Lines lines={fitLines(status, h - (spinner ? 1 : 0))} width={rightW} />
      </Box>
    ),
  };
  const tipBlock = tip.length ? linesBlock('tip', tip, rightW, [[6, 999]], { min: tip.length }) : null;
  const checksBlock: Block | null =
    challenge.checks.length && (rec.results || (ch && ch.phase === 'working'))
      ? {
          spec: { id: 'checks', natural: checkHeights[1], min: 2, tiers: [[1, checkHeights[0]], [5, checkHeights[1]]] },
          render: (h) => <Lines key="checks" lines={challengeCheckLines(rec.results, rightW, h)} width={rightW} />,
        }
      : null;
  const goalBlock = linesBlock('goal', goal, leftW, [[0, 2], [2, 999]], { min: 1 });
  // The variables: their values first (the learner types them), what each is when there is room.
  const varsBlock: Block | null = vars.length
    ? {
        spec: { id: 'vars', natural: vars.length, min: Math.min(3, vars.length), tiers: [[3, vars.length]] },
        render: (h) => <Lines key="vars" lines={h >= vars.length ? vars : fitVars(varsCompact, h)} width={leftW} />,
      }
    : null;
  const proseBlock = linesBlock('prose', prose, leftW, [[4, 3], [7, 999]], { min: 2, key: 'p: read all' });
  const noticeBlock = notice.length ? linesBlock('notice', notice, leftW, [[0, 3], [9, 999]], { min: 1 }) : null;
  const present = (...bs: (Block | null)[]) => bs.filter((b): b is Block => b !== null);
  if (wide) {
    const left = present(noticeBlock, proseBlock, spacer('gap1'), goalBlock, spacer('gap2', 6), varsBlock);
    const right = present(checksBlock, spacer('gap3', 6), statusBlock, tipBlock);
    const sep: Line[] = Array.from({ length: height }, () => [seg(' │ ', { dim: true })]);
    return (
      <Box flexDirection="row" height={height}>
        <Column blocks={left} height={height} width={leftW} />
        <Lines lines={sep} width={3} />
        <Column blocks={right} height={height} width={rightW} />
      </Box>
    );
  }
  return <Column blocks={present(noticeBlock, proseBlock, goalBlock, varsBlock, checksBlock, statusBlock, tipBlock)} height={height} width={width} />;
}

/** The variables in `h` rows: the values without their title, and always the line for other terminals. */
function fitVars(lines: Line[], h: number): Line[] {
  if (lines.length <= h) return lines;
  const body = lines.slice(1, -1);
  const other = lines[lines.length - 1];
  return [...fitLines(body, h - 1), other].slice(-h);
}

function GuidedBody({ controller: c, state: s, width, height }: { controller: LessonController; state: LessonState; width: number; height: number }) {
  const shown = s.looking ?? s.index;
  const step = c.steps[shown];
  const rec = s.records[shown];
  const looking = s.looking !== null;
  const phase = looking ? 'looking' : s.stepPhase;
  const pre = phase === 'ask' || phase === 'ready';
  const wide = width >= WIDE_COLUMNS;
  // Two columns: a table that needs more than half the width gets it (the widest sample of
  // this step, so the text beside it does not re-wrap at every sample), the text keeps MIN_LEFT.
  const widest = useRef({ step: -1, want: 0 });
  const sample = looking && rec.viewAfter !== null ? rec.viewAfter : s.view.data;
  if (widest.current.step !== shown) widest.current = { step: shown, want: 0 };
  if (sample?.kind === 'table') widest.current.want = Math.max(widest.current.want, tableNaturalWidth(sample));
  const half = width - 3 - Math.floor((width - 3) / 2);
  const rightW = wide ? Math.max(half, Math.min(widest.current.want, width - 3 - MIN_LEFT)) : width;
  const leftW = wide ? width - 3 - rightW : width;

  const prose = useMemo(() => proseLines(step.prose ?? '', leftW), [step, leftW]);
  const notice = useMemo(() => (s.notice && !looking ? [...wrapText(s.notice, leftW, { color: 'yellow' }), blank()] : []), [s.notice, looking, leftW]);
  const log = useMemo(
    () => (rec.log.length ? [titledRule('What the step did', null, rightW), ...actionLogLines(rec.log, rightW)] : []),
    [rec.log, rightW],
  );
  const checkHeights = useMemo(() => checkPanelHeights(rec.results, leftW), [rec.results, leftW]);
  const showChecks = rec.results !== null || phase === 'checking';

  // The interaction: the prediction (asking), the running step, or the result and its meaning.
  const interaction = useMemo(() => {
    const lines: Line[] = [];
    let spinner: string | null = null;
    const p = step.prediction;
    if (phase === 'looking') {
      if (rec.replayed) lines.push(...wrapText('Done in an earlier session: when you resumed, its action ran again (without asking) to rebuild its sandboxes.', leftW, { dim: true }));
      if (p && rec.choice !== null) lines.push(...predictionLines({ prediction: p, cursor: 0, choice: rec.choice, reveal: true, width: leftW, measured: rec.measured }));
      if (rec.passed && step.takeaway) lines.push(...wrapSegs(inlineCode(step.takeaway), leftW, [seg('✓ ', { color: 'green', bold: true })], [seg('  ')]));
      lines.push(...wrapText('Looking back, read-only: the kernel is not rewound; the sandboxes are as they are now.', leftW, { color: 'yellow' }));
    } else if (phase === 'ask') {
      lines.push(...predictionLines({ prediction: p!, cursor: s.cursor, choice: null, reveal: false, width: leftW, typed: s.typed }));
    } else if (phase === 'ready') {
      lines.push([seg('Press '), seg('enter', { bold: true, color: 'cyan' }), seg(' to run this step.')]);
    } else if (phase === 'unavailable') {
      lines.push(...wrapText(`Skipped: this step cannot run on this host. ${c.unavailableReason(shown) ?? ''}`, leftW, { color: 'yellow' }));
      lines.push(...wrapSegs([seg('Press '), seg('enter', { bold: true, color: 'cyan' }), seg(' to go on: it counts as neither passed nor failed.')], leftW));
    } else if (phase === 'running' || phase === 'checking') {
      spinner = phase === 'running' ? 'running the step… the live view follows the kernel as it happens' : 'checking the kernel…';
      if (p && rec.choice !== null) lines.push(...predictionLines({ prediction: p, cursor: 0, choice: rec.choice, reveal: false, width: leftW }));
    } else {
      if (rec.error) lines.push(...errorBannerLines({ error: rec.error, width: leftW, context: "The step's action failed; its checks ran anyway." }));
      if (p && rec.choice !== null) lines.push(...predictionLines({ prediction: p, cursor: 0, choice: rec.choice, reveal: true, width: leftW, measured: rec.measured }));
      if (rec.passed) {
        lines.push(...wrapSegs(inlineCode(step.takeaway ?? 'Every check passed: the kernel is in the state this step describes.'), leftW, [seg('✓ ', { color: 'green', bold: true })], [seg('  ')]));
      } else {
        lines.push(
          ...wrapSegs(
            [seg('Some checks failed: the kernel is not in the state this step expects. '), seg('r', { bold: true, color: 'cyan' }), seg(' runs the step again; '), seg('enter', { bold: true, color: 'cyan' }), seg(' goes on anyway.')],
            leftW,
            [seg('✗ ', { color: 'red', bold: true })],
            [seg('  ')],
          ),
        );
      }
    }
    if (s.hint) lines.push(...wrapSegs(inlineCode(step.hint), leftW, [seg('hint: ', { color: 'yellow', bold: true })], [seg('      ')]));
    return { lines, spinner };
  }, [phase, step, rec, s.cursor, s.typed, s.hint, leftW]);

  const interactionBlock: Block = {
    spec: { id: 'interaction', natural: interaction.lines.length + (interaction.spinner ? 1 : 0), min: 1, tiers: [[1, 999]] },
    render: (h) => (
      <Box key="interaction" flexDirection="column">
        {interaction.spinner ? <Spinner label={interaction.spinner} width={leftW} /> : null}
        <Lines lines={fitLines(interaction.lines, h - (interaction.spinner ? 1 : 0))} width={leftW} />
      </Box>
    ),
  };

  const recorded = looking && rec.viewAfter !== null;
  const viewBlock: Block | null = step.view
    ? (() => {
        const props = {
          title: step.view.title,
          data: recorded ? rec.viewAfter : s.view.data,
          error: recorded ? null : s.view.error,
          width: rightW,
          palette: c.palette,
          names: c.sandboxNames(),
          note: recorded ? `after step ${shown + 1}` : undefined,
        };
        const natural = liveViewLines(props).length;
        return {
          spec: { id: 'view', natural, min: Math.min(4, natural), tiers: [] as [number, number][] },
          render: (h: number) => <Lines key="view" lines={liveViewLines({ ...props, maxRows: h })} width={rightW} />,
        };
      })()
    : null;

  const checksBlock: Block | null = showChecks
    ? {
        spec: { id: 'checks', natural: checkHeights[0], min: 2, tiers: [] },
        render: (h) => (
          <Lines key="checks" lines={checkPanelLines({ results: rec.results, pending: phase === 'checking', width: leftW, maxRows: h })} width={leftW} />
        ),
      }
    : null;

  const proseBlock = linesBlock('prose', prose, leftW, [], { min: 3, key: 'p: read all' });
  const logBlock = log.length ? linesBlock('log', log, rightW, [], { min: 3, from: 'end', key: 'l: whole log' }) : null;
  const noticeBlock = notice.length ? linesBlock('notice', notice, leftW, [[0, 3], [9, 999]], { min: 1 }) : null;

  // Priorities: before the action the text and the question matter most; afterwards the outcome
  // (what was predicted, the checks), then the view, then the rest of the text, then the log.
  if (pre) {
    proseBlock.spec.tiers = [[2, 999]];
    if (viewBlock) viewBlock.spec.tiers = [[4, 999]];
  } else {
    proseBlock.spec.tiers = [
      [3, 3],
      [7, 999],
    ];
    if (viewBlock) viewBlock.spec.tiers = [
      [4, 8],
      [6, 999],
    ];
  }
  if (checksBlock) checksBlock.spec.tiers = [[2, checkHeights[1]], [5, checkHeights[0]]];
  if (logBlock) logBlock.spec.tiers = [[8, 999]];

  const post = !pre && phase !== 'running' && phase !== 'checking';
  const present = (...bs: (Block | null)[]) => bs.filter((b): b is Block => b !== null);
  if (wide) {
    const left = present(noticeBlock, proseBlock, spacer('gap1'), post ? null : interactionBlock, checksBlock, post ? spacer('gap2') : null, post ? interactionBlock : null);
    const right = present(viewBlock, logBlock);
    if (viewBlock) viewBlock.spec.tiers = [[1, 999]];
    if (logBlock) logBlock.spec.tiers = [[2, 999]];
    const sep: Line[] = Array.from({ length: height }, () => [seg(' │ ', { dim: true })]);
    return (
      <Box flexDirection="row" height={height}>
        <Column blocks={left} height={height} width={leftW} />
        <Lines lines={sep} width={3} />
        <Column blocks={right} height={height} width={rightW} />
      </Box>
    );
  }
  const blocks = present(
    noticeBlock,
    proseBlock,
    pre ? spacer('gap1') : null,
    post ? null : interactionBlock,
    logBlock,
    viewBlock,
    checksBlock,
    post ? interactionBlock : null,
  );
  return <Column blocks={blocks} height={height} width={width} />;
}
