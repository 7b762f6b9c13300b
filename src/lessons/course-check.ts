/**
 * `npm run check:lessons`: checks the course itself (as rustlings checks its exercises).
 *  1. every lesson is well formed (ids, prose for each step, predictions, hints, checks);
 *  2. every lesson passes when run straight through on this host (what --auto does);
 *  3. every check fails when its step's action is skipped, with the steps before it done:
 *     a check that cannot fail proves nothing, and is a defect;
 *  4. every challenge: each check fails after the setup alone and passes after the reference
 *     solution; every conditional hint and fail-state holds in a state its `reach` lines (a
 *     partial or wrong attempt) lead to; every typed answer is read from the kernel (its probe,
 *     run as a learner would, prints the value); the lesson ends with at least two challenges,
 *     one where the learner writes a kernel interface directly, and asks at least one question;
 *  5. every prediction tests (prediction-rules.ts): neither the step's title nor its hint holds
 *     the right answer's words, and no choice carries its reason; a numeric prediction's
 *     measurement reads (in 2, right after its action) and lies within the bounds it asks in.
 * Prints one line per finding and a JSON summary; exits 1 if anything is wrong. Needs root.
 * `--static` checks only what reads the lessons' data (1, the course rules of 4, and 5): a few
 * seconds, no root, nothing run on the host.
 * Usage: check-lessons [--static] [LESSON…]
 */
import { formatError } from '../runtime/index.js';
// courseRules lives in engine.ts: importing this file runs the check (main() at the top level).
import { courseRules, LessonSession, lintLesson, loadLesson, missingRequirements } from './engine.js';
import { predictionRules } from './prediction-rules.js';
import { measurePrediction } from './prediction.js';
import type { Lesson } from './types.js';
import { COURSE } from './manifest.js';

interface LessonReport {
  id: string;
  steps: number;
  checks: number;
  challenges: number;
  problems: string[];
  ms: number;
  /** Steps that cannot run on this host (Step.unavailable): not run, not counted, said. */
  skipped?: string[];
}

async function checkLesson(id: string, say: (s: string) => void): Promise<LessonReport> {
  const t0 = performance.now();
  const problems: string[] = [];
  const lesson = await loadLesson(id);
  problems.push(...lintLesson(lesson));
  const missing = missingRequirements(lesson);
  if (missing.length) {
    problems.push(`cannot run on this host: ${missing.join('; ')}`);
    return { id, steps: lesson.steps.length, checks: 0, challenges: 0, problems, ms: performance.now() - t0 };
  }
  let checks = 0;
  const skipped: string[] = [];

  // 2. straight through
  const full = new LessonSession(lesson);
  try {
    for (const [i, step] of lesson.steps.entries()) {
      const why = await full.unavailable(i);
      if (why) {
        skipped.push(step.id);
        say(`  ${id}: step ${i + 1} (${step.id}) skipped: it cannot run on this host: ${why}`);
        continue;
      }
      if (step.challenge) continue;
      const act = await full.act(i);
      if (act.error) problems.push(`step ${i + 1} (${step.id}): action failed: ${formatError(act.error).split('\n')[0]}`);
      // A numeric prediction's measurement is read where the screens read it: right after the action.
      const m = await measurePrediction(step.prediction, full.ctx);
      if (m && 'error' in m) problems.push(`step ${i + 1} (${step.id}): the prediction's measurement failed: ${m.error}`);
      else if (m && step.prediction?.number && (m.value < step.prediction.number.min || m.value > step.prediction.number.max)) {
        problems.push(`step ${i + 1} (${step.id}): the prediction's measurement ${m.value} is outside what the learner may type (${step.prediction.number.min}..${step.prediction.number.max})`);
      }
      for (const r of await full.check(i)) {
        checks++;
        if (!r.pass) problems.push(`step ${i + 1} (${step.id}): check "${r.label}" failed: expected ${r.expected}, got ${r.actual}`);
      }
    }
  } finally {
    await full.close();
  }
  say(`  ${id}: straight through: ${problems.length ? 'problems' : 'every check passed'}`);

  // 3. each step with its action skipped
  for (const [i, step] of lesson.steps.entries()) {
    if (!step.checks.length || skipped.includes(step.id)) continue;
    const s = new LessonSession(lesson);
    try {
      const failed = await s.replay(i);
      if (failed?.error) {
        problems.push(`step ${i + 1} (${step.id}): replaying the steps before it failed: ${formatError(failed.error).split('\n')[0]}`);
        continue;
      }
      for (const r of await s.check(i)) {
        if (r.pass) problems.push(`step ${i + 1} (${step.id}): check "${r.label}" passes even when the step's action is skipped`);
      }
    } finally {
      await s.close();
    }
  }
  say(`  ${id}: every check fails without its action: ${problems.some((p) => p.includes('skipped')) ? 'no' : 'yes'}`);

  // 4. challenges (and 5. predictions)
  problems.push(...courseRules(lesson), ...predictionRules(lesson));
  for (const [i, step] of lesson.steps.entries()) {
    if (!step.challenge || skipped.includes(step.id)) continue;
    const found = await checkChallenge(lesson, i);
    problems.push(...found.map((p) => `step ${i + 1} (${step.id}): ${p}`));
    say(`  ${id}: challenge ${step.id}: ${found.length ? `${found.length} problem(s)` : 'ok'}`);
  }
  const challenges = lesson.steps.filter((s) => s.challenge).length;
  return { id, steps: lesson.steps.length, checks, challenges, problems, ms: performance.now() - t0, skipped };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `ok` until it is true or `ms` is up. */
async function eventually(ok: () => Promise<boolean>, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  for (;;) {
    if (await ok()) return true;
    if (Date.now() > end) return false;
    await sleep(200);
  }
}

/** Step 4 for one challenge step; returns its problems. */
async function checkChallenge(lesson: Lesson, i: number): Promise<string[]> {
  const c = lesson.steps[i].challenge!;
  const settle = c.settleMs ?? 10_000;
  const problems: string[] = [];
  const fresh = async <T>(fn: (s: LessonSession) => Promise<T>): Promise<T | null> => {
    const s = new LessonSession(lesson);
    try {
      const act = await s.act(i);
      if (act.error) {
        problems.push(`the setup failed: ${formatError(act.error).split('\n')[0]}`);
        return null;
      }
      return await fn(s);
    } finally {
      const left = await s.endChallenge();
      if (left.length) problems.push(`left on the host after the challenge: ${left.join('; ')}`);
      await s.close();
    }
  };

  await fresh(async (s) => {
    const run = s.challengeOf(i)!;
    const before = await run.poll();
    for (const r of before.results) if (r.pass) problems.push(`check "${r.label}" passes after the setup alone`);
    if (before.fail) problems.push(`fail-state "${before.fail.text.slice(0, 40)}…" holds after the setup alone`);
    const out = await run.run(c.solution);
    if (out.code !== 0) problems.push(`the reference solution exited with ${out.timedOut ? 'a timeout' : `code ${out.code}`}: ${out.output.split('\n').slice(-2).join(' / ')}`);
    const ok = await eventually(async () => (await run.poll()).passed, settle);
    if (!ok) {
      for (const r of (await run.poll()).results) if (!r.pass) problems.push(`check "${r.label}" fails after the reference solution: expected ${r.expected}, got ${r.actual}`);
    }
    for (const q of c.questions ?? []) {
      const { probe, value } = await q.answer(run.ctx);
      if (!value.trim()) problems.push(`question ${q.id}: the answer read from the kernel is empty`);
      const printed = await run.run([probe]);
      run.takeLog();
      if (printed.output.trim() !== value.trim()) {
        problems.push(`question ${q.id}: its probe \`${probe}\` prints "${printed.output.trim().slice(0, 60)}", not the answer "${value}": the answer must be readable on the live system`);
      }
    }
  });

  const conditional = [...c.hints.filter((h) => h.when).map((h) => ({ kind: 'hint', text: h.text, when: h.when!, reach: h.reach })), ...(c.failStates ?? []).map((f) => ({ kind: 'fail-state', ...f }))];
  for (const h of conditional) {
    await fresh(async (s) => {
      const run = s.challengeOf(i)!;
      if (h.reach?.length) {
        const out = await run.run(h.reach);
        if (out.code !== 0) problems.push(`${h.kind} "${h.text.slice(0, 40)}…": its reach lines exited with code ${out.code}`);
      }
      if (!(await eventually(() => run.holds(h.when), h.reach?.length ? 3000 : 0))) {
        problems.push(`${h.kind} "${h.text.slice(0, 40)}…": its condition never holds (${h.reach?.length ? 'after its reach lines' : 'after the setup, and it has no reach lines'})`);
      }
    });
  }
  return problems;
}

/** `--static`: the checks that only read the lesson (its lint, the course's rules), not the host. */
async function checkStatic(id: string): Promise<LessonReport> {
  const t0 = performance.now();
  const lesson = await loadLesson(id);
  const problems = [...lintLesson(lesson), ...courseRules(lesson), ...predictionRules(lesson)];
  const checks = lesson.steps.reduce((n, s) => n + s.checks.length, 0);
  const challenges = lesson.steps.filter((s) => s.challenge).length;
  return { id, steps: lesson.steps.length, checks, challenges, problems, ms: performance.now() - t0 };
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const staticOnly = args.includes('--static');
  if (!staticOnly && process.getuid?.() !== 0) {
    process.stderr.write("check:lessons runs every lesson for real: it needs root (sudo); --static checks only the lessons' data, without root\n");
    process.exit(1);
  }
  const wanted = args.filter((a) => a !== '--static');
  const ids = wanted.length ? wanted : COURSE.map((e) => e.id);
  const seen = new Set<string>();
  const dupes = COURSE.map((e) => e.id).filter((id) => (seen.has(id) ? true : (seen.add(id), false)));
  const reports: LessonReport[] = [];
  const say = (s: string) => process.stderr.write(`${s}\n`);
  if (dupes.length) say(`duplicate lesson ids in the manifest: ${dupes.join(', ')}`);
  for (const id of ids) {
    say(`checking ${id}…`);
    try {
      reports.push(staticOnly ? await checkStatic(id) : await checkLesson(id, say));
    } catch (err) {
      reports.push({ id, steps: 0, checks: 0, challenges: 0, problems: [formatError(err)], ms: 0 });
    }
  }
  for (const r of reports) for (const p of r.problems) say(`✗ ${r.id}: ${p}`);
  const ok = dupes.length === 0 && reports.every((r) => r.problems.length === 0);
  process.stdout.write(
    `${JSON.stringify(
      {
        ok,
        lessons: reports.map((r) => ({ id: r.id, steps: r.steps, checks: r.checks, challenges: r.challenges, problems: r.problems.length, seconds: Number((r.ms / 1000).toFixed(1)), ...(r.skipped?.length ? { skipped: r.skipped } : {}) })),
        challenges: reports.reduce((n, r) => n + r.challenges, 0),
      },
      null,
      2,
    )}\n`,
  );
  process.exit(ok ? 0 : 1);
}

await main();
