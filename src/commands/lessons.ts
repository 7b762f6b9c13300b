/**
 * `sandbox lessons [--json] [--course DIR]`: the course, with each lesson's status for this user
 * and its challenges done/total (and skipped), counted from the manifest: no lesson code is
 * loaded. With a course folder (`--course DIR` or $SANDBOX_COURSE), the lessons an instructor
 * wrote (each subfolder holding a lesson.md) are listed after them; those are parsed (never run).
 */
import fs from 'node:fs';
import path from 'node:path';

import { COURSE } from '../lessons/manifest.js';
import { challengeCounts, challengeText, readAllProgress, statusOf } from '../lessons/progress.js';
import type { LessonProgress } from '../lessons/types.js';
import { echo } from '../runtime/errors.js';

/** Far above a course's size; a folder with more entries is read this far only. */
const MAX_COURSE_ENTRIES = 500;

export interface LessonsOptions {
  json?: boolean;
  /** A course folder; default $SANDBOX_COURSE. */
  course?: string;
}

/** A lesson of the course folder: as the built-in rows, plus where it is; or why it cannot be read. */
interface FolderRow {
  id: string;
  title: string;
  summary: string;
  status: ReturnType<typeof statusOf> | 'malformed';
  step: number | null;
  challenges: { done: number; total: number; skipped: number };
  /** The folder, as `sandbox learn` takes it. */
  path: string;
  /** A malformed lesson: `file:line: message`. */
  error?: string;
}

/** Each subfolder of `dir` holding a lesson.md, loaded; sorted by folder name. Throws when `dir` is not a readable directory. */
async function courseRows(dir: string, progress: Record<string, LessonProgress>): Promise<FolderRow[]> {
  const { loadFolderOrSay } = await import('./folder-lesson.js');
  const names = fs
    .readdirSync(dir, { withFileTypes: true })
    // A link is not followed (the loader refuses a linked folder too).
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort()
    .slice(0, MAX_COURSE_ENTRIES)
    // A lesson.md of any kind (even a link): the loader says what is wrong with it.
    .filter((n) => fs.lstatSync(path.join(dir, n, 'lesson.md'), { throwIfNoEntry: false }) !== undefined);
  const rows: FolderRow[] = [];
  for (const name of names) {
    const shown = path.join(dir, name);
    const arg = shown.includes('/') ? shown : `./${shown}`;
    let said = '';
    const sink = { write: (s: string) => ((said += s), true) } as unknown as NodeJS.WritableStream;
    const folder = await loadFolderOrSay(arg, sink);
    if (!folder) {
      const first = said.split('\n')[0].replace(/^error: /, '');
      rows.push({ id: name, title: '', summary: '', status: 'malformed', step: null, challenges: { done: 0, total: 0, skipped: 0 }, path: arg, error: first });
      continue;
    }
    const l = folder.lesson;
    const p = progress[l.folder!.progressKey] ?? null;
    rows.push({
      id: l.id,
      title: l.title,
      summary: l.summary,
      status: statusOf(p),
      step: p && !p.completed ? p.step + 1 : null,
      challenges: challengeCounts(l.steps.filter((s) => s.challenge).map((s) => s.id), p),
      path: arg,
    });
  }
  return rows;
}

export async function lessonsCommand(opts: LessonsOptions): Promise<number> {
  const courseDir = opts.course ?? (process.env.SANDBOX_COURSE || undefined);
  const progress = readAllProgress((m) => process.stderr.write(`${m}\n`));
  const rows = COURSE.map((e) => {
    const p = progress[e.id] ?? null;
    return {
      id: e.id,
      title: e.title,
      summary: e.summary,
      status: statusOf(p),
      step: p && !p.completed ? p.step + 1 : null,
      challenges: challengeCounts(e.challenges, p),
    };
  });
  let folders: FolderRow[] = [];
  if (courseDir !== undefined) {
    try {
      folders = await courseRows(courseDir, progress);
    } catch (err) {
      const from = opts.course !== undefined ? '--course' : 'SANDBOX_COURSE';
      process.stderr.write(
        `error: cannot read the course folder "${echo(courseDir)}" (${from}): ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}\n` +
          'hint: give a folder whose subfolders each hold a lesson.md (sandbox new-lesson NAME writes one)\n',
      );
      return 2;
    }
  }
  if (opts.json) {
    process.stdout.write(`${JSON.stringify([...rows, ...folders], null, 2)}\n`);
    return 0;
  }
  const all = [...rows, ...folders];
  const idW = Math.max(...all.map((r) => r.id.length));
  const chW = Math.max(0, ...all.map((r) => challengeText(r.challenges).length));
  const line = (r: (typeof all)[number], n: number) => {
    const status = r.status === 'in progress' ? `in progress (step ${r.step})` : r.status;
    const ch = challengeText(r.challenges);
    return `${String(n).padStart(2)}. ${r.id.padEnd(idW)}  ${status.padEnd(22)} ${ch.padEnd(chW)}${chW ? '  ' : ''}${r.title}: ${r.summary}`;
  };
  const lines = rows.map((r, i) => line(r, i + 1));
  let course = '';
  if (courseDir !== undefined) {
    const listed = folders.map((r, i) =>
      r.error ? `${String(i + 1).padStart(2)}. ${r.id.padEnd(idW)}  malformed: ${r.error}` : `${line(r, i + 1)}\n    sudo sandbox learn ${r.path}`,
    );
    course = `\n\nLessons in ${echo(courseDir)}:\n${listed.length ? listed.join('\n') : '  (none: no subfolder holds a lesson.md; sandbox new-lesson NAME writes one)'}`;
  }
  process.stdout.write(`${lines.join('\n')}${course}\n\n${whatNext(rows)}\n`);
  return 0;
}

interface Row {
  id: string;
  status: ReturnType<typeof statusOf>;
  step: number | null;
  challenges: { done: number; total: number; skipped: number };
}

/**
 * The line under the list: the first lesson not completed (in course order), or, once every
 * lesson is, the challenges still open, or that everything is done.
 */
export function whatNext(rows: Row[]): string {
  const next = rows.find((r) => r.status !== 'completed');
  if (next?.status === 'in progress') return `Continue with: sudo sandbox learn ${next.id} (it resumes at step ${next.step})`;
  if (next) return `${rows.some((r) => r.status !== 'new') ? 'Next' : 'Start one with'}: sudo sandbox learn ${next.id}`;
  const open = rows.filter((r) => r.challenges.done < r.challenges.total);
  if (!open.length) return 'All done: every lesson and every challenge. Explore freely: sudo sandbox repl';
  const left = open.reduce((n, r) => n + r.challenges.total - r.challenges.done, 0);
  const skipped = open.reduce((n, r) => n + r.challenges.skipped, 0);
  return (
    `Every lesson is complete; ${left} challenge${left === 1 ? ' is' : 's are'} not done yet${skipped ? ` (${skipped} skipped)` : ''}, in ${open.map((r) => r.id).join(', ')}.\n` +
    `sudo sandbox learn ${open[0].id} goes through that lesson again, its challenges included; or explore freely: sudo sandbox repl`
  );
}
