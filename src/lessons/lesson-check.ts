/**
 * The course check, as functions over a loaded Lesson (the built-in ones by id, or a folder an
 * instructor wrote): `npm run check:lessons` (course-check.ts) and `sandbox check-lesson DIR`
 * (src/commands/check-lesson.ts) both call them. What each part proves is said in course-check.ts.
 */
import { formatError } from '../runtime/index.js';
import { courseRules, LessonSession, lintLesson, missingRequirements } from './engine.js';
import { predictionRules } from './prediction-rules.js';
import { measurePrediction } from './prediction.js';
import type { Lesson } from './types.js';

export interface LessonReport {
  id: string;
  steps: number;
  checks: number;
  challenges: number;
  problems: string[];
  ms: number;
  /** Steps that cannot run on this host (Step.unavailable): not run, not counted, said. */
  skipped?: string[];
}

/**
 * Runs the whole check on one lesson (needs root). `rules` = false leaves out the course's rules
 * for challenges (at least two, one that writes, one question): they bind the course, not an
 * instructor's own lesson (`sandbox check-lesson` prints them as advice instead).
 */
export async function checkLesson(lesson: Lesson, say: (s: string) => void, rules = true): Promise<LessonReport> {
  const t0 = performance.now();
  const problems: string[] = [];
  const id = lesson.id;
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
  problems.push(...(rules ? courseRules(lesson) : []), ...predictionRules(lesson));
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
export async function checkStatic(lesson: Lesson, rules = true): Promise<LessonReport> {
  const t0 = performance.now();
  const id = lesson.id;
  const problems = [...lintLesson(lesson), ...(rules ? courseRules(lesson) : []), ...predictionRules(lesson)];
  const checks = lesson.steps.reduce((n, s) => n + s.checks.length, 0);
  const challenges = lesson.steps.filter((s) => s.challenge).length;
  return { id, steps: lesson.steps.length, checks, challenges, problems, ms: performance.now() - t0 };
}
