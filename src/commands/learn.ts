/** `sandbox learn [LESSON] [--auto] [--plain]`: a guided lesson, full-screen or as plain lines. */
import { findEntry, unknownLessonError } from '../lessons/engine.js';
import { COURSE } from '../lessons/manifest.js';
import { formatError, notRootError } from '../runtime/index.js';

export interface LearnOptions {
  auto?: boolean;
  plain?: boolean;
}

/** Line mode when asked, when running --auto, or when there is no terminal to draw on. */
export function wantsPlain(opts: { plain?: boolean }): boolean {
  return opts.plain === true || !process.stdout.isTTY || !process.stdin.isTTY;
}

export async function learnCommand(id: string | undefined, opts: LearnOptions): Promise<number> {
  if (id !== undefined && !findEntry(id)) {
    process.stderr.write(`${formatError(unknownLessonError(id))}\n`);
    return 2;
  }
  if (process.getuid?.() !== 0) {
    process.stderr.write(`${formatError(notRootError(`sandbox learn ${id ?? ''}`.trim()))}\n`);
    return 1;
  }
  const plain = opts.auto || wantsPlain(opts);
  if (plain) {
    // Answers come from a pipe only when asked for with --plain (a script driving the lesson);
    // otherwise a lesson started without a terminal would just wait, or quit at once.
    if (!opts.auto && !opts.plain && !process.stdin.isTTY) {
      process.stderr.write(
        'error: sandbox learn asks you questions, but there is no terminal to answer on\n' +
          `hint: run every step without asking with: sandbox learn ${id ?? COURSE[0].id} --auto --plain\n`,
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
    return runLessonPlain(id, { auto: opts.auto === true });
  }
  const { runLessonScreen } = await import('../tui/learn.js');
  return runLessonScreen(id);
}
