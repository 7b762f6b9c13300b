/**
 * `npm run check:lessons`: checks the course itself (as rustlings checks its exercises).
 *  1. every lesson is well formed (ids, prose for each step, predictions, hints, checks);
 *  2. every lesson passes when run straight through on this host (what --auto does);
 *  3. every check fails when its step's action is skipped, with the steps before it done:
 *     a check that cannot fail proves nothing, and is a defect.
 * Prints one line per finding and a JSON summary; exits 1 if anything is wrong. Needs root.
 * Usage: check-lessons [LESSON…]
 */
import { formatError } from '../runtime/index.js';
import { LessonSession, lintLesson, loadLesson, missingRequirements } from './engine.js';
import { COURSE } from './manifest.js';

interface LessonReport {
  id: string;
  steps: number;
  checks: number;
  problems: string[];
  ms: number;
}

async function checkLesson(id: string, say: (s: string) => void): Promise<LessonReport> {
  const t0 = performance.now();
  const problems: string[] = [];
  const lesson = await loadLesson(id);
  problems.push(...lintLesson(lesson));
  const missing = missingRequirements(lesson);
  if (missing.length) {
    problems.push(`cannot run on this host: ${missing.join('; ')}`);
    return { id, steps: lesson.steps.length, checks: 0, problems, ms: performance.now() - t0 };
  }
  let checks = 0;

  // 2. straight through
  const full = new LessonSession(lesson);
  try {
    for (const [i, step] of lesson.steps.entries()) {
      const act = await full.act(i);
      if (act.error) problems.push(`step ${i + 1} (${step.id}): action failed: ${formatError(act.error).split('\n')[0]}`);
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
    if (!step.checks.length) continue;
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
  return { id, steps: lesson.steps.length, checks, problems, ms: performance.now() - t0 };
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) {
    process.stderr.write('check:lessons runs every lesson for real: it needs root (sudo)\n');
    process.exit(1);
  }
  const wanted = process.argv.slice(2);
  const ids = wanted.length ? wanted : COURSE.map((e) => e.id);
  const seen = new Set<string>();
  const dupes = COURSE.map((e) => e.id).filter((id) => (seen.has(id) ? true : (seen.add(id), false)));
  const reports: LessonReport[] = [];
  const say = (s: string) => process.stderr.write(`${s}\n`);
  if (dupes.length) say(`duplicate lesson ids in the manifest: ${dupes.join(', ')}`);
  for (const id of ids) {
    say(`checking ${id}…`);
    try {
      reports.push(await checkLesson(id, say));
    } catch (err) {
      reports.push({ id, steps: 0, checks: 0, problems: [formatError(err)], ms: 0 });
    }
  }
  for (const r of reports) for (const p of r.problems) say(`✗ ${r.id}: ${p}`);
  const ok = dupes.length === 0 && reports.every((r) => r.problems.length === 0);
  process.stdout.write(
    `${JSON.stringify(
      {
        ok,
        lessons: reports.map((r) => ({ id: r.id, steps: r.steps, checks: r.checks, problems: r.problems.length, seconds: Number((r.ms / 1000).toFixed(1)) })),
      },
      null,
      2,
    )}\n`,
  );
  process.exit(ok ? 0 : 1);
}

await main();
