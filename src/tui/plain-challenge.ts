/**
 * A challenge step in line mode. `--auto` runs the setup, shows that the checks fail, runs the
 * reference solution, waits for the checks to pass (they are polled, as on the screen), answers
 * the questions with what the kernel says, and ends the challenge (naming anything left).
 */
import type { LessonSession } from '../lessons/engine.js';
import type { ChallengePoll } from '../lessons/challenge.js';
import type { ChallengeProgress, LessonProgress, Step } from '../lessons/types.js';
import { formatError } from '../runtime/index.js';
import { checkLines, logLines, wrap } from './text.js';

export interface ChallengeOutcome {
  passed: boolean;
  /** The learner skipped it (shown as skipped in the catalogue). */
  skipped?: boolean;
  checksPassed: number;
  checksFailed: number;
  questionsRight: number;
  questions: number;
}

/** Polls the checks until they all pass or `ms` is up; returns the last poll. */
export async function pollUntilPassed(session: LessonSession, i: number, ms: number): Promise<ChallengePoll> {
  const run = session.challengeOf(i)!;
  const end = Date.now() + ms;
  let p = await run.poll();
  while (!p.passed && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 250));
    p = await run.poll();
  }
  return p;
}

/** Prints the goal, the tools and the variables of a started challenge. */
export function challengeIntro(session: LessonSession, step: Step, width: number): string[] {
  const c = step.challenge!;
  const run = session.challengeOf(session.lesson.steps.indexOf(step));
  const lines = [`Your turn: ${wrap(c.goal, width - 11).trimStart()}`, `Tools: ${c.tools.join(', ')}`];
  if (run?.shownVars.length) {
    lines.push('Variables (set in the challenge shell; elsewhere: sudo -s, then . $WS/env):');
    const w = Math.max(...run.shownVars.map((v) => v.name.length)) + 1;
    for (const v of run.shownVars) lines.push(`  $${v.name.padEnd(w)} ${v.value}   — ${v.about}`);
  }
  return lines;
}

/** --auto: setup, checks fail, solution, checks pass, questions answered. */
export async function runChallengeAuto(session: LessonSession, i: number, print: (s?: string) => void, width: number): Promise<ChallengeOutcome> {
  const step = session.lesson.steps[i];
  const c = step.challenge!;
  const outcome: ChallengeOutcome = { passed: false, checksPassed: 0, checksFailed: 0, questionsRight: 0, questions: c.questions?.length ?? 0 };
  const act = await session.act(i);
  if (act.log.length) print(`\n${logLines(act.log).join('\n')}`);
  if (act.error) {
    print(`\n${formatError(act.error)}`);
    outcome.checksFailed = Math.max(1, c.checks.length);
    await session.endChallenge();
    return outcome;
  }
  const run = session.challengeOf(i)!;
  print(`\n${challengeIntro(session, step, width).join('\n')}`);
  try {
    const before = await run.poll();
    if (c.checks.length) print(`\nBefore your work: ${before.results.filter((r) => r.pass).length}/${before.results.length} checks hold.`);
    print(`\nThe reference solution (--auto runs it${c.shell?.in === 'sandbox' ? ` inside ${c.shell.key}` : ''}):`);
    const r = await run.run(c.solution);
    print(logLines(run.takeLog()).join('\n'));
    if (r.code !== 0) print(`  (it exited with ${r.timedOut ? 'a timeout' : `code ${r.code}`})`);
    const after = await pollUntilPassed(session, i, c.settleMs ?? 10_000);
    if (after.results.length) {
      print(`\nChecks against the kernel:`);
      print(checkLines(after.results).map((l) => `  ${l}`).join('\n'));
    }
    outcome.checksPassed = after.results.filter((x) => x.pass).length;
    outcome.checksFailed = after.results.length - outcome.checksPassed;
    for (const q of c.questions ?? []) {
      const { value, probe } = await q.answer(run.ctx);
      const a = await run.answer(q, value);
      print(`\n? ${q.question}\n  → ${value} (read with: ${probe})${a.right ? '' : ' ✗ not accepted'}`);
      if (q.explanation) print(wrap(q.explanation, width, '  '));
      if (a.right) outcome.questionsRight++;
      else outcome.checksFailed++;
    }
    outcome.passed = after.passed && outcome.questionsRight === outcome.questions;
    if (!outcome.passed && after.hint) print(`\n${wrap(`hint: ${after.hint.text}`, width)}`);
  } finally {
    const left = await session.endChallenge();
    print(left.length ? `\nLeft on the host (remove by hand): ${left.join('; ')}` : '\nThe challenge ended: everything it made is gone.');
  }
  return outcome;
}

export interface InteractiveIO {
  print: (s?: string) => void;
  /** Asks for a line; `signal` ends the wait early, as if Enter was pressed (''). */
  ask: (q: string, signal?: AbortSignal) => Promise<string | null>;
  width: number;
  progress: LessonProgress;
  save: () => void;
  /**
   * Hands the real terminal to `run` (a fresh descriptor of it) and takes it back; the prompter
   * reads nothing meanwhile. Absent when stdin is not a terminal: `s` then points to a second one.
   */
  terminal?: <T>(intro: string, run: (fd: number) => Promise<T>) => Promise<T>;
}

/** How often the prompt polls the checks while it waits (the issue asks for at least 1 Hz). */
const LIVE_POLL_MS = 1000;
const PROMPT = '\n[Enter/s/a/h/R/S/k/q] ';

/** The fixed letters (the TUI uses the same ones). */
const KEYS = 'Enter check now · s shell · a answer · h hint · R reset · S solution · k skip · q quit';

/**
 * Line mode with a learner: the goal and variables, then a prompt loop (check now, shell,
 * answer, hint, reset, solution, skip, quit). The challenge's state is saved in
 * `progress.challenges[stepId]` as it changes. Returns 'quit' when the learner leaves; the
 * challenge is ended (everything it made removed) whatever happens.
 */
export async function runChallengeInteractive(session: LessonSession, i: number, io: InteractiveIO): Promise<ChallengeOutcome | 'quit'> {
  const { print, width } = io;
  const step = session.lesson.steps[i];
  const c = step.challenge!;
  const questions = c.questions ?? [];
  const outcome: ChallengeOutcome = { passed: false, checksPassed: 0, checksFailed: 0, questionsRight: 0, questions: questions.length };
  io.progress.challenges ??= {};
  const prior = io.progress.challenges[step.id];
  // Answers given right before stay answered (progress keeps them); the rest starts again.
  const cp: ChallengeProgress = {
    state: 'started',
    answered: (prior?.answered ?? []).filter((id) => questions.some((q) => q.id === id)),
    ...(prior?.solutionShown ? { solutionShown: true } : {}),
  };
  io.progress.challenges[step.id] = cp;
  io.save();
  let hintShown = false;
  const say = (text: string, indent = '') => print(wrap(text, width, indent));

  const startIt = async (): Promise<boolean> => {
    const act = await session.act(i);
    if (act.log.length) print(`\n${logLines(act.log).join('\n')}`);
    if (act.error) {
      print(`\n${formatError(act.error)}`);
      return false;
    }
    return true;
  };
  const intro = () => {
    const run = session.challengeOf(i)!;
    print(`\n${challengeIntro(session, step, width).join('\n')}`);
    say(`In another terminal: sudo -s, then . ${run.envFile}`);
    if (questions.length) {
      print(`Questions (a answers the next open one):`);
      for (const q of questions) say(`${cp.answered.includes(q.id) ? '✓' : '?'} ${q.question}`, '  ');
    }
    print(`\n${KEYS}`);
  };
  const open = () => questions.filter((q) => !cp.answered.includes(q.id));
  const finish = async (): Promise<void> => {
    const left = await session.endChallenge();
    print(left.length ? `\nLeft on the host (remove by hand): ${left.join('; ')}` : '\nThe challenge ended: everything it made is gone.');
  };
  /** Polls the kernel once and prints what holds: each check, the hint or fail-state that applies. */
  const checkNow = async (): Promise<ChallengePoll> => {
    const run = session.challengeOf(i)!;
    const p = await run.poll();
    if (p.results.length) {
      print(`\nChecks against the kernel (${p.results.filter((r) => r.pass).length}/${p.results.length}):`);
      print(checkLines(p.results).map((l) => `  ${l}`).join('\n'));
    }
    if (p.fail) {
      say(`\n✗ ${p.fail.text}`);
      print('  This cannot be undone from here: R resets the challenge (its setup is made again).');
    } else if (p.hint) {
      hintShown = true;
      say(`\nhint (${p.hint.when!.probe}): ${p.hint.text}`);
    }
    if (p.passed && open().length) print(`\n${p.results.length ? 'The checks pass; ' : ''}${open().length} question(s) to answer: a answers the next one.`);
    return p;
  };

  let last: ChallengePoll | null = null;
  /**
   * The prompt, while the kernel is polled once a second (the learner may work in another
   * terminal): a check that turns true (or false) is said at once, and once everything holds the
   * prompt ends as if Enter was pressed, which checks again and passes.
   */
  const askWatching = async (q: string): Promise<string | null> => {
    const run = session.challengeOf(i);
    const stop = new AbortController();
    let held = new Set(last?.results.filter((r) => r.pass).map((r) => r.label) ?? []);
    let busy = false;
    const timer = setInterval(() => {
      if (busy || !run || stop.signal.aborted) return;
      busy = true;
      void run
        .poll()
        .then((p) => {
          if (stop.signal.aborted) return;
          const now = new Set(p.results.filter((r) => r.pass).map((r) => r.label));
          const changed = p.results.filter((r) => r.pass !== held.has(r.label));
          held = now;
          if (!changed.length) return;
          print(`\n${changed.map((r) => `  ${r.pass ? '✓' : '✗'} ${r.label} (${r.pass ? 'holds now' : 'no longer holds'})`).join('\n')}`);
          if (p.passed && open().length === 0) stop.abort();
        })
        .catch(() => undefined)
        .finally(() => {
          busy = false;
        });
    }, LIVE_POLL_MS);
    try {
      return await io.ask(q, stop.signal);
    } finally {
      stop.abort();
      clearInterval(timer);
    }
  };
  try {
    let started = await startIt();
    if (started) intro();
    last = started ? await checkNow() : null;
    for (;;) {
      if (started && last?.passed && open().length === 0) {
        outcome.passed = true;
        break;
      }
      const a = started ? await askWatching(PROMPT) : await io.ask('\nThe setup failed: R to try again · k skip · q quit: ');
      if (a === null || a === 'q') return 'quit';
      if (a === 'k') {
        cp.state = 'skipped';
        io.save();
        print(`Skipped "${step.title}" (sandbox lessons shows it as skipped; come back to it any time).`);
        outcome.skipped = true;
        return outcome;
      }
      if (a === 'R') {
        print('Resetting: the challenge ends (everything it made is removed) and its setup is made again…');
        const left = await session.endChallenge();
        if (left.length) print(`Left on the host (remove by hand): ${left.join('; ')}`);
        started = await startIt();
        if (started) intro();
        last = started ? await checkNow() : null;
        continue;
      }
      if (!started) {
        print('  The challenge is not set up: R tries again, k skips it, q quits.');
        continue;
      }
      const run = session.challengeOf(i)!;
      if (a === '') {
        last = await checkNow();
      } else if (a === 'h') {
        hintShown = true;
        say(`hint: ${run.generalHint?.text ?? step.hint}`, '  ');
        const held = (await run.poll()).hint;
        if (held) say(`and now (${held.when!.probe}): ${held.text}`, '  ');
      } else if (a === 'S') {
        if (!hintShown && !last?.passed) {
          print('  The reference solution is shown once you have seen a hint (h), or after you pass.');
          continue;
        }
        print(`The reference solution${c.shell?.in === 'sandbox' ? ` (run inside ${c.shell.key})` : ''}:`);
        for (const line of c.solution) print(`  ${line}`);
        if (!cp.solutionShown) {
          cp.solutionShown = true;
          io.save();
        }
      } else if (a === 'a') {
        const q = open()[0];
        if (!q) {
          print(questions.length ? '  Every question is answered.' : '  This challenge asks no question.');
          continue;
        }
        say(`? ${q.question}`);
        const typed = await io.ask('  Your answer (empty to go back): ');
        if (typed === null) return 'quit';
        if (!typed.trim()) continue;
        const r = await run.answer(q, typed);
        if (r.right) {
          cp.answered.push(q.id);
          io.save();
          print(`  ✓ Right: ${r.value} (read with: ${r.probe})`);
          if (q.explanation) say(q.explanation, '  ');
          last = await run.poll();
          if (last.passed && open().length) print(`  ${open().length} question(s) left: a to answer.`);
          else if (!last.passed) print('  Some checks do not hold yet: Enter checks again.');
        } else {
          print(`  ✗ Not that. Look it up on the live system and try again (a); h gives a hint.`);
        }
      } else if (a === 's') {
        if (!io.terminal) {
          say(`  There is no terminal here for a shell (stdin is not a terminal). Open a second terminal: sudo -s, then . ${run.envFile} and work there; Enter checks.`);
          continue;
        }
        const spec = run.shell();
        try {
          const status = await io.terminal(spec.intro, async (fd) => {
            const p = await spec.sandbox.exec(spec.argv, { stdio: [fd, fd, fd], foreground: true, env: spec.env, cwd: spec.cwd });
            return p.wait();
          });
          print(`Back in the lesson (the shell ended${status.code !== null ? ` with code ${status.code}` : ` by ${status.signal}`}); what you started in it still runs.`);
        } catch (err) {
          print(formatError(err));
        }
        last = await checkNow();
      } else {
        print(`  ${KEYS}`);
      }
    }
  } finally {
    if (!outcome.passed) await finish().catch(() => undefined);
  }

  // Passed: every check and every question.
  outcome.checksPassed = last?.results.length ?? 0;
  outcome.questionsRight = questions.length;
  cp.state = 'done';
  io.save();
  print(`\n✓ Challenge passed: ${step.title.replace(/^Challenge: /, '')}.`);
  if (step.takeaway) say(step.takeaway);
  if (c.solution.length) {
    print(`The reference solution, to compare with yours${c.shell?.in === 'sandbox' ? ` (inside ${c.shell.key})` : ''}:`);
    for (const line of c.solution) print(`  ${line}`);
  }
  await finish();
  return outcome;
}
