/** `sandbox learn [LESSON|./DIR] [--auto] [--plain] [--yes]`: a guided lesson, full-screen or as plain lines. */
import { findEntry, unknownLessonError } from '../lessons/engine.js';
import { COURSE } from '../lessons/manifest.js';
import type { Lesson } from '../lessons/types.js';
import { formatError, notRootError } from '../runtime/index.js';

export interface LearnOptions {
  auto?: boolean;
  plain?: boolean;
  /** A lesson folder runs without the one-time question (classroom automation). */
  yes?: boolean;
}

/** Line mode when asked, when running --auto, or when there is no terminal to draw on. */
export function wantsPlain(opts: { plain?: boolean }): boolean {
  return opts.plain === true || !process.stdout.isTTY || !process.stdin.isTTY;
}

function notRoot(what: string): number {
  process.stderr.write(`${formatError(notRootError(what))}\n`);
  return 1;
}

export async function learnCommand(id: string | undefined, opts: LearnOptions): Promise<number> {
  // A folder (anything with a /, or an existing directory): an instructor's lesson. It is loaded
  // (a malformed file stops here, exit 2, nothing created), then run once the user trusts it.
  let lesson: Lesson | undefined;
  if (id !== undefined) {
    const { isFolderArg, openFolderLesson } = await import('./folder-lesson.js');
    if (isFolderArg(id)) {
      const opened = await openFolderLesson(id, {
        yes: opts.yes,
        verb: 'learn',
        flags: `${opts.auto ? ' --auto' : ''}${opts.plain ? ' --plain' : ''}`,
        needsRoot: () => (process.getuid?.() !== 0 ? notRoot(`sandbox learn ${id}`) : null),
      });
      if (typeof opened === 'number') return opened;
      lesson = opened;
    }
  }
  if (!lesson && id !== undefined && !findEntry(id)) {
    process.stderr.write(`${formatError(unknownLessonError(id))}\n`);
    return 2;
  }
  if (process.getuid?.() !== 0) return notRoot(`sandbox learn ${id ?? ''}`.trim());
  const arg = lesson?.folder?.dir ?? id;
  const plain = opts.auto || wantsPlain(opts);
  if (plain) {
    // Answers come from a pipe only when asked for with --plain (a script driving the lesson);
    // otherwise a lesson started without a terminal would just wait, or quit at once.
    if (!opts.auto && !opts.plain && !process.stdin.isTTY) {
      process.stderr.write(
        'error: sandbox learn asks you questions, but there is no terminal to answer on\n' +
          `hint: run every step without asking with: sandbox learn ${arg ?? COURSE[0].id} --auto --plain\n`,
      );
      return 2;
    }
    if (id === undefined) {
      if (opts.auto) {
        process.stderr.write(`error: --auto needs a lesson name\nhint: e.g. sandbox learn ${COURSE[0].id} --auto --plain\n`);
        return 2;
      }
      const { pickLessonPlain } = await import('../tui/plain.js');
      const picked = await pickLessonPlain();
      if (!picked) return 0;
      id = picked;
    }
    const { runLessonPlain } = await import('../tui/plain.js');
    return runLessonPlain(lesson ?? id, { auto: opts.auto === true });
  }
  const { runLessonScreen } = await import('../tui/learn.js');
  return runLessonScreen(lesson ?? id);
}
