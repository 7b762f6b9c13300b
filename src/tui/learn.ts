/**
 * `sandbox learn [LESSON]` full-screen: the pick list when no lesson is named, then the lesson
 * screen. Every way out (q, the last step, Ctrl-C, SIGTERM, SIGHUP) closes the lesson's session,
 * which destroys all of its sandboxes, before the terminal is given back.
 */
import type { ReactElement } from 'react';

import type { ShellSpec } from '../lessons/challenge.js';
import type { Lesson } from '../lessons/types.js';
import { withTerminal } from '../repl/terminal.js';
import { SandboxError } from '../runtime/errors.js';
import { loadInk, mountScreen } from './mount.js';

export interface LessonOutcome {
  code: number;
  /** What to tell the learner once the screen is gone. */
  message: string;
}

const SIGNAL_CODES: Partial<Record<NodeJS.Signals, number>> = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 };

/** Draws an element once, as text (no full screen): errors before or instead of a screen. */
export async function printElement(element: () => Promise<ReactElement>, stream: NodeJS.WriteStream = process.stderr): Promise<void> {
  const ink = await loadInk();
  const text = ink.renderToString(await element(), { columns: Math.min(stream.columns || 80, 100) });
  stream.write(`${text}\n`);
}

export async function printBanner(error: unknown, stream: NodeJS.WriteStream = process.stderr): Promise<void> {
  await printElement(async () => {
    const { createElement } = await import('react');
    const { ErrorBanner } = await import('./components/ErrorBanner.js');
    return createElement(ErrorBanner, { error, width: Math.min(stream.columns || 80, 100) });
  }, stream);
}

/**
 * Loads lesson `id`, checks what the host must offer (a banner and exit code 1 when something is
 * missing), and runs it on the full screen until the learner leaves.
 */
export async function runLesson(id: string | Lesson): Promise<LessonOutcome> {
  const { loadLesson, missingRequirements, LessonSession } = await import('../lessons/engine.js');
  let lesson: Lesson;
  try {
    lesson = typeof id === 'string' ? await loadLesson(id) : id;
  } catch (err) {
    await printBanner(err);
    return { code: 2, message: '' };
  }
  const missing = missingRequirements(lesson);
  if (missing.length) {
    await printBanner(
      new SandboxError(`the lesson "${lesson.title}" cannot run on this host`, {
        code: 'E_REQUIREMENTS',
        hint: missing.map((m) => `• ${m}`).join('\n'),
      }),
    );
    return { code: 1, message: '' };
  }

  await loadInk();
  const { createElement } = await import('react');
  const { LessonController } = await import('./lesson-controller.js');
  const { LessonScreen } = await import('./screens/LessonScreen.js');
  const progress = await import('../lessons/progress.js');
  const session = new LessonSession(lesson);
  let readNotice: string | null = null;
  const controller = new LessonController(lesson, session, {
    // The read boundary: checked against this lesson's steps; a file that must not be used throws.
    read: () => {
      const r = progress.loadLessonProgress(lesson);
      readNotice = r.notice;
      return r.progress;
    },
    // Under the lesson's own key (a folder lesson's is not its id: see Lesson.folder).
    save: (_id, p) => progress.saveProgress(progress.progressKeyOf(lesson), p),
    empty: progress.emptyProgress,
    notice: () => readNotice,
  });

  let signalled: NodeJS.Signals | null = null;
  const onSignal = (sig: NodeJS.Signals) => {
    // A second signal (a closing terminal sends SIGHUP to the whole process group, an impatient
    // user presses Ctrl-C twice) must not cut the closing short: a sandbox being destroyed is
    // no longer on the runtime's exit-hook list, so leaving now would leave its cgroup behind.
    if (signalled) return;
    signalled = sig;
    const code = SIGNAL_CODES[sig] ?? 1;
    void controller.quit(code, sig === 'SIGINT' ? 'Interrupted: your progress is kept.' : `Stopped by ${sig}: your progress is kept.`);
    // Should closing ever hang, leave anyway after a while (the exit hook takes what it can).
    setTimeout(() => process.exit(code), 20_000).unref();
  };
  const signals = Object.keys(SIGNAL_CODES) as NodeJS.Signals[];
  for (const s of signals) process.on(s, onSignal);

  const screen = mountScreen((size) => createElement(LessonScreen, { controller, ...size }), process.stdout, { ownInput: true });
  const write = (text: string) => {
    try {
      process.stdout.write(text);
    } catch {
      /* the terminal is gone */
    }
  };
  const leaving = () => signalled !== null || controller.getState().phase === 'closing' || controller.getState().exit !== null;
  // `s` in a challenge: the real terminal goes to the learner's shell (in the challenge's bench
  // cgroup, so quitting the lesson kills it and all it started), as the REPL's `enter` does. The
  // controller keeps polling meanwhile; it draws nothing until the screen is back.
  controller.shellRunner = async (spec: ShellSpec) => {
    let hungUp = false;
    await withTerminal(
      async (fd) => {
        const p = await spec.sandbox.exec(spec.argv, { stdio: [fd, fd, fd], foreground: true, env: spec.env, cwd: spec.cwd });
        const status = await p.wait();
        // The terminal closed while the shell had it: the hangup went to the shell's process
        // group (the foreground one), not to us.
        hungUp = status.signal === 'SIGHUP';
      },
      {
        before: async () => {
          await screen.suspend();
          write(`\nsandbox learn: ${spec.intro}\n`);
        },
        after: () => {
          if (leaving()) return;
          if (!hungUp) {
            try {
              write('sandbox learn: back to the lesson\n');
              screen.resume();
              return;
            } catch {
              /* the terminal is gone: nothing to draw on */
            }
          }
          onSignal('SIGHUP');
        },
      },
    );
  };
  controller.start().catch((err: unknown) => {
    const hint = err instanceof SandboxError && err.hint ? `\nhint: ${err.hint}` : '';
    void controller.quit(1, `The lesson could not start: ${(err as Error).message ?? String(err)}${hint}`);
  });
  const exit = await controller.done;
  screen.close();
  for (const s of signals) process.off(s, onSignal);
  if (signalled) {
    if (signalled !== 'SIGHUP') process.stdout.write(`${exit.message}\n`);
    process.exit(exit.code);
  }
  return exit;
}

/** The pick list of lessons (full screen); resolves with the chosen id, or null to quit. */
export async function pickLesson(): Promise<string | null> {
  const { runMenu } = await import('./home.js');
  const choice = await runMenu({ tools: false, title: 'Which lesson?' });
  return choice?.kind === 'lesson' ? choice.id : null;
}

/** `sandbox learn [LESSON]` on a terminal: pick one if not named, run it; returns the exit code. */
export async function runLessonScreen(id: string | Lesson | undefined): Promise<number> {
  const chosen = id ?? (await pickLesson());
  if (!chosen) return 0;
  const outcome = await runLesson(chosen);
  if (outcome.message) process.stdout.write(`${outcome.message}\n`);
  return outcome.code;
}
