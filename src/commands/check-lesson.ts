/**
 * `sandbox check-lesson DIR [--static] [--yes]`: the course check (src/lessons/lesson-check.ts)
 * for one lesson folder an instructor wrote, as rustlings' `dev check` is for an exercise set:
 *  - the file is well formed (else `file:line: message`, exit 2, nothing created);
 *  - names and ids are unique, every step has prose, a hint, checks (the loader and lintLesson);
 *  - run for real (root): every check passes straight through, and fails when its step's action is
 *    skipped; every challenge's checks fail after its setup and pass after its reference solution;
 *    every conditional hint holds after its reach lines; every question's probe prints its answer;
 *  - the prediction rules (no title or hint gives the answer away).
 * Each problem is printed as `lesson.md:LINE: step N (id): …` (the line of its step's heading).
 * The course's own rules for challenges (two at least, one that writes, one question) are advice
 * here. Exit 0 when all holds, 1 when a check fails, 2 for a malformed file.
 */
import fs from 'node:fs';
import path from 'node:path';

import type { FolderLesson } from '../lessons/folder/index.js';
import { formatError, notRootError } from '../runtime/index.js';
import { confirmFolder, EXIT_LESSON_FILE, loadFolderOrSay } from './folder-lesson.js';

export interface CheckLessonOptions {
  static?: boolean;
  yes?: boolean;
  json?: boolean;
}

/** Step id → the line of its `## id:` heading in lesson.md (read again, never through a link). */
export function stepLines(folder: Pick<FolderLesson, 'dir'>): Map<string, number> {
  const lines = new Map<string, number>();
  let text = '';
  try {
    const fd = fs.openSync(path.join(folder.dir, 'lesson.md'), fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
    try {
      // The loader refused anything above 256 KiB; this bound is only a guard.
      const buf = Buffer.alloc(1 << 20);
      const n = fs.readSync(fd, buf, 0, buf.length, 0);
      text = buf.subarray(0, n).toString('utf8');
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return lines;
  }
  let fence = false;
  text.split('\n').forEach((l, i) => {
    if (/^```/.test(l)) fence = !fence;
    const m = !fence && /^## +([a-z0-9][a-z0-9-]*)\s*:/.exec(l);
    if (m && !lines.has(m[1])) lines.set(m[1], i + 1);
  });
  return lines;
}

/** `step 3 (rename-b): …` → `lesson.md:41: step 3 (rename-b): …`. */
export function locate(problem: string, lines: Map<string, number>): string {
  const m = /^step \d+ \(([a-z0-9-]+)\)/.exec(problem);
  const line = m && lines.get(m[1]);
  return line ? `lesson.md:${line}: ${problem}` : `lesson.md: ${problem}`;
}

export async function checkLessonCommand(dir: string, opts: CheckLessonOptions): Promise<number> {
  const out = process.stdout;
  const say = (s: string) => process.stderr.write(`${s}\n`);
  const folder = await loadFolderOrSay(dir);
  if (!folder) return EXIT_LESSON_FILE;
  const { checkLesson, checkStatic } = await import('../lessons/lesson-check.js');
  const { courseRules } = await import('../lessons/engine.js');
  const lesson = folder.lesson;
  if (!opts.static) {
    if (process.getuid?.() !== 0) {
      process.stderr.write(`${formatError(notRootError(`sandbox check-lesson ${dir}`))}\nhint: --static checks the file alone, without root and without running anything\n`);
      return 1;
    }
    const ok = await confirmFolder(folder, { yes: opts.yes, verb: 'check-lesson' });
    if (ok !== true) return ok;
  }
  say(`checking ${lesson.folder?.dir ?? dir} (${lesson.id})…`);
  let report;
  try {
    report = opts.static ? await checkStatic(lesson, false) : await checkLesson(lesson, (s) => say(s), false);
  } catch (err) {
    process.stderr.write(`${formatError(err)}\n`);
    return 1;
  }
  const lines = stepLines(folder);
  const problems = report.problems.map((p) => locate(p, lines));
  const advice = courseRules(lesson);
  if (opts.json) {
    out.write(
      `${JSON.stringify(
        { ok: problems.length === 0, id: lesson.id, dir: folder.dir, steps: report.steps, checks: report.checks, challenges: report.challenges, seconds: Number((report.ms / 1000).toFixed(1)), problems, advice, ...(report.skipped?.length ? { skipped: report.skipped } : {}) },
        null,
        2,
      )}\n`,
    );
    return problems.length ? 1 : 0;
  }
  for (const p of problems) out.write(`✗ ${p}\n`);
  for (const a of advice) out.write(`note: the course's own lessons follow a rule this one does not: it ${a}\n`);
  const what = opts.static ? 'its file (--static: nothing was run)' : `${report.checks} check${report.checks === 1 ? '' : 's'} and ${report.challenges} challenge${report.challenges === 1 ? '' : 's'}, run for real in ${(report.ms / 1000).toFixed(1)} s`;
  const claim = opts.static ? '' : '; every check fails without its action and passes with it; every challenge fails after its setup and passes after its solution';
  out.write(
    problems.length
      ? `${lesson.id}: ${problems.length} problem${problems.length === 1 ? '' : 's'} (${what}).\n`
      : `${lesson.id}: ok: ${what}${claim}.\n`,
  );
  return problems.length ? 1 : 0;
}
