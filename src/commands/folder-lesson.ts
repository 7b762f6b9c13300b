/**
 * A lesson an instructor wrote, as a folder (docs/LESSON-FORMAT.md), for the verbs that run one
 * (`learn ./dir`, `check-lesson dir`): load it (a malformed file is refused with file:line, exit 2,
 * before anything is created), give it its own progress key, and ask once before its first run.
 *
 * Why the question: a lesson file is untrusted input with root behind it. Every line it can run
 * (FolderLesson.commands) is shown with file:line, and nothing runs until the user says yes. The
 * yes is remembered per folder and content (trust.ts): an edited lesson asks again. `--yes` is for
 * classroom automation; without a terminal to ask on and without --yes, nothing runs (exit 2).
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';

import { findEntry } from '../lessons/engine.js';
import { type FolderLesson, LessonFileError, loadLessonFolder, type RunListing } from '../lessons/folder/index.js';
import { recordTrust, trustOf } from '../lessons/folder/trust.js';
import type { Lesson } from '../lessons/types.js';
import { formatError } from '../runtime/index.js';

/** Exit codes: 2 for a malformed lesson file or a question that cannot be asked (as for a bad command line). */
export const EXIT_LESSON_FILE = 2;

/**
 * Whether `learn ARG` names a folder: anything with a `/`, else an existing directory that is not
 * the id of a built-in lesson (`learn pid-namespaces` stays the course's lesson even where a
 * directory of that name happens to be in the current one).
 */
export function isFolderArg(arg: string): boolean {
  if (arg.includes('/')) return true;
  if (findEntry(arg)) return false;
  try {
    return fs.statSync(arg).isDirectory();
  } catch {
    return false;
  }
}

/** The folder as the learner should type it again: `demo` → `./demo`. */
export function shownDir(arg: string): string {
  return arg.includes('/') ? arg : `./${arg}`;
}

/** The progress key of a folder lesson: its id and a hash of the folder's real path (two folders with one id do not collide). */
export function folderProgressKey(folder: Pick<FolderLesson, 'lesson' | 'dir'>): string {
  return `${folder.lesson.id}@${createHash('sha256').update(folder.dir).digest('hex').slice(0, 12)}`;
}

/** `error: demo/lesson.md:12: unknown key "answr"` and its hint. */
export function formatLessonFileError(err: LessonFileError): string {
  const hint = err.hint ?? 'fix the file and run again (docs/LESSON-FORMAT.md describes the format)';
  return `error: ${err.where}: ${err.message}\nhint: ${hint}`;
}

/**
 * Loads the folder; on a malformed file prints `file:line: message` and returns null. Nothing is
 * run or created by loading.
 */
export async function loadFolderOrSay(arg: string, err: NodeJS.WritableStream = process.stderr): Promise<FolderLesson | null> {
  try {
    const folder = await loadLessonFolder(arg);
    // Where progress is kept, and what `sandbox learn` needs to run it again.
    folder.lesson.folder = { dir: shownDir(arg), progressKey: folderProgressKey(folder) };
    return folder;
  } catch (e) {
    err.write(`${e instanceof LessonFileError ? formatLessonFileError(e) : formatError(e)}\n`);
    return null;
  }
}

const CONTROL_RE = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/g;

/** Every line the lesson can run, one per line: `lesson.md:23  in sandbox a  probe  nsenter -t $A -u hostname`. */
export function commandListing(commands: readonly RunListing[]): string {
  const where = (c: RunListing) => `${c.file}:${c.line}`;
  const runs = (c: RunListing) => (c.where === 'setup' ? 'sandbox (setup)' : c.where === 'host' ? 'host (root)' : `in ${c.where}`);
  const w1 = Math.max(0, ...commands.map((c) => where(c).length));
  const w2 = Math.max(0, ...commands.map((c) => runs(c).length));
  const w3 = Math.max(0, ...commands.map((c) => c.role.length));
  return commands
    .map((c) => `  ${where(c).padEnd(w1)}  ${runs(c).padEnd(w2)}  ${c.role.padEnd(w3)}  ${c.text.replace(CONTROL_RE, '?')}`)
    .join('\n');
}

export interface TrustOptions {
  /** --yes: run without asking (classroom automation). */
  yes?: boolean;
  /** The verb, for the messages: "learn" or "check-lesson"; and the other flags given (" --auto --plain"). */
  verb: string;
  flags?: string;
  input?: NodeJS.ReadableStream & { isTTY?: boolean };
  output?: NodeJS.WritableStream;
}

/** One line from `input`, or null at its end. */
function askLine(question: string, input: NodeJS.ReadableStream, output: NodeJS.WritableStream): Promise<string | null> {
  return new Promise((resolve) => {
    const rl = readline.createInterface({ input, output, terminal: false });
    let answered = false;
    output.write(question);
    rl.once('line', (line) => {
      answered = true;
      rl.close();
      resolve(line.trim());
    });
    rl.once('close', () => {
      if (!answered) resolve(null);
    });
  });
}

/**
 * The trust gate: true when the folder may run (trusted before with these files, --yes, or the
 * user says yes now, which is remembered). Otherwise says why and returns the exit code.
 */
export async function confirmFolder(folder: FolderLesson, opts: TrustOptions): Promise<true | number> {
  const out = opts.output ?? process.stderr;
  const input = opts.input ?? process.stdin;
  const shown = folder.lesson.folder?.dir ?? folder.dir;
  let trust: ReturnType<typeof trustOf> = 'new';
  try {
    trust = trustOf(folder.dir, folder.hash);
  } catch (err) {
    // The trust file cannot be used (a link, not the user's): say so, and ask as if new.
    out.write(`${formatError(err).replace(/^error: /, 'warning: your earlier answers are not read: ')}\n`);
  }
  if (trust === 'trusted') return true;
  const n = folder.commands.length;
  const header = `The lesson in ${shown} (${folder.lesson.id}: ${folder.lesson.title}) runs ${n} line${n === 1 ? '' : 's'} as root on this machine:\n${commandListing(folder.commands)}\n`;
  if (opts.yes) {
    out.write(`--yes: running the ${n} line${n === 1 ? '' : 's'} of ${shown} without asking (content ${folder.hash.slice(0, 12)}).\n`);
    return true;
  }
  out.write(trust === 'changed' ? `${header}(The lesson changed since you said yes to it: it asks again.)\n` : header);
  if (!input.isTTY) {
    out.write(
      `error: ${shown} ${trust === 'changed' ? 'has changed since you said yes to it' : 'has not been run by you on this machine before'}, and there is no terminal to ask on\n` +
        `hint: read the lines above; to run them, pass --yes: sandbox ${opts.verb} ${shown}${opts.flags ?? ''} --yes\n`,
    );
    return EXIT_LESSON_FILE;
  }
  const answer = await askLine('Run this lesson, with these lines as root? (asked once; an edited lesson asks again) [y/N] ', input, out);
  if (!answer || !/^y(es)?$/i.test(answer)) {
    out.write(`Nothing was run. Read ${path.join(shown, 'lesson.md')}, and answer y when you trust it.\n`);
    return 1;
  }
  try {
    recordTrust(folder.dir, folder.hash);
  } catch (err) {
    out.write(`${formatError(err).replace(/^error: /, 'warning: your answer could not be remembered (you will be asked again): ')}\n`);
  }
  return true;
}

/** Loads a lesson folder and passes the trust gate: the Lesson to run, or an exit code. */
export async function openFolderLesson(arg: string, opts: TrustOptions & { needsRoot?: () => number | null }): Promise<Lesson | number> {
  const folder = await loadFolderOrSay(arg, opts.output ?? process.stderr);
  if (!folder) return EXIT_LESSON_FILE;
  const notRoot = opts.needsRoot?.();
  if (notRoot) return notRoot;
  const ok = await confirmFolder(folder, opts);
  return ok === true ? folder.lesson : ok;
}
