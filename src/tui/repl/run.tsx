/**
 * Runs the full-screen REPL: the Ink app in the terminal's alternate screen (like less or vim),
 * so the shell of `enter` gets the normal screen and the REPL comes back exactly as it was.
 *
 * Around `enter` the Ink app is unmounted and its input stream destroyed: while the shell owns
 * the terminal, nothing in this process may read it (a read from a background process group
 * stops the whole process with SIGTTIN, and would steal the shell's keystrokes). Ink reads from
 * a stream on its own descriptor of the terminal for the same reason: destroying it stops every
 * read, which pausing process.stdin would not guarantee.
 *
 * Leaving by `exit`, Ctrl-D, Ctrl-C at an empty prompt, SIGTERM, SIGHUP or SIGINT destroys every
 * sandbox the session created, then restores the terminal.
 */
import fs from 'node:fs';
import os from 'node:os';
import tty from 'node:tty';

import { type Instance, render } from 'ink';

import { formatDestroy } from '../../commands/format.js';
import type { History } from '../../repl/history.js';
import type { ReplSession, TerminalHandover } from '../../repl/session.js';
import { openTerminal, withTerminal } from '../../repl/terminal.js';
import { ReplController } from './controller.js';
import { ReplScreen } from './ReplScreen.js';

const ALT_SCREEN_ON = '\x1b[?1049h\x1b[2J\x1b[H';
const ALT_SCREEN_OFF = '\x1b[?25h\x1b[?1049l';

export interface ReplScreenOptions {
  session: ReplSession;
  history: History;
  stdout?: NodeJS.WriteStream;
}

/** Shows the REPL until the learner leaves; returns the exit code (128+N after signal N). */
export async function runReplScreen({ session, history, stdout = process.stdout }: ReplScreenOptions): Promise<number> {
  let instance: Instance | null = null;
  let input: tty.ReadStream | null = null;
  let finishing = false;
  let resolveDone!: (code: number) => void;
  const done = new Promise<number>((r) => (resolveDone = r));
  // The terminal may be gone (SIGHUP): a failed write must not crash the cleanup.
  const swallow = () => undefined;
  stdout.on('error', swallow);
  const write = (s: string) => {
    try {
      stdout.write(s);
    } catch {
      /* terminal gone */
    }
  };

  const mount = () => {
    write(ALT_SCREEN_ON);
    input = new tty.ReadStream(openTerminal());
    input.on('error', swallow);
    instance = render(<ReplScreen controller={controller} />, {
      stdin: input as unknown as NodeJS.ReadStream,
      stdout,
      exitOnCtrlC: false,
      patchConsole: false,
      incrementalRendering: false,
    });
  };

  const unmount = async () => {
    if (!instance) return;
    const inst = instance;
    instance = null;
    try {
      inst.unmount();
      await inst.waitUntilExit();
    } catch {
      /* already gone */
    }
    input?.destroy();
    input = null;
    write(ALT_SCREEN_OFF);
  };

  const terminal: TerminalHandover = {
    handover: (intro, run) =>
      withTerminal(run, {
        before: async () => {
          await unmount();
          write(`\nsandbox repl: ${intro}\n`);
        },
        after: () => {
          if (finishing) return;
          write('sandbox repl: back to the REPL\n');
          try {
            mount();
          } catch (err) {
            // The terminal went away while the shell had it: nothing to draw on, so leave.
            void finish(1, `cannot draw the REPL again (${(err as Error).message})`);
          }
        },
      }),
  };

  const finish = async (code: number, why: string) => {
    if (finishing) return;
    finishing = true;
    await unmount();
    const reports = await session.shutdown();
    if (reports.length) {
      write(`sandbox repl: ${why}: destroyed every sandbox it created\n`);
      for (const r of reports) write(`  ${formatDestroy(r)}\n`);
    }
    resolveDone(code);
  };

  const controller = new ReplController(session, history, { terminal, exit: (why) => void finish(0, why) });

  const onSignal = (sig: NodeJS.Signals) => void finish(128 + (os.constants.signals[sig] ?? 0), sig);
  const signals: NodeJS.Signals[] = ['SIGTERM', 'SIGHUP', 'SIGINT'];
  for (const s of signals) process.on(s, onSignal);
  try {
    mount();
    return await done;
  } finally {
    for (const s of signals) process.off(s, onSignal);
    stdout.off('error', swallow);
  }
}

/** Both ends are terminals, so the full-screen REPL can run. */
export function canRunScreen(): boolean {
  if (!tty.isatty(0) || !tty.isatty(1)) return false;
  try {
    fs.closeSync(openTerminal());
    return true;
  } catch {
    return false;
  }
}
