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
 * Lesson folders (docs/LESSON-FORMAT.md) are checked the same way: the built-in ones through the
 * manifest, any other given as a path (an argument with a `/`).
 * Usage: check-lessons [--static] [LESSON|DIR/…]
 */
import path from 'node:path';

import { formatError } from '../runtime/index.js';
// Importing this file runs the check (main() at the top level): the checks live in lesson-check.ts.
import { loadLesson } from './engine.js';
import { LessonFileError, loadLessonFolder } from './folder/index.js';
import { checkLesson, checkStatic, type LessonReport } from './lesson-check.js';
import { COURSE } from './manifest.js';
import type { Lesson } from './types.js';

/** A lesson by id, or (an argument with a `/`) a lesson folder, e.g. test/fixtures/lessons/demo. */
async function load(arg: string): Promise<Lesson> {
  if (!arg.includes('/')) return loadLesson(arg);
  return (await loadLessonFolder(path.resolve(arg))).lesson;
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
      const lesson = await load(id);
      reports.push(staticOnly ? await checkStatic(lesson) : await checkLesson(lesson, say));
    } catch (err) {
      const problem = err instanceof LessonFileError ? `${err.where}: ${err.message}` : formatError(err);
      reports.push({ id, steps: 0, checks: 0, challenges: 0, problems: [problem], ms: 0 });
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
