/**
 * `sandbox repl [--plain]`: free-form exploration with a vzctl-style lifecycle. On a terminal it
 * is the full-screen Ink REPL; without one (or with --plain) it reads commands line by line from
 * stdin and prints a transcript, so a session can be replayed: `sandbox repl --plain < demo.txt`.
 */
import os from 'node:os';
import tty from 'node:tty';

import { formatError, notRootError } from '../runtime/index.js';

export async function replCommand(opts: { plain?: boolean }): Promise<number> {
  if (process.getuid?.() !== 0) {
    process.stderr.write(`${formatError(notRootError('sandbox repl'))}\n`);
    return 1;
  }
  const { ReplSession } = await import('../repl/session.js');
  const { openHistory } = await import('../repl/history.js');
  const session = new ReplSession({ purpose: 'repl' });
  const stdinTTY = tty.isatty(0);
  const screen = !opts.plain && stdinTTY && tty.isatty(1);
  if (screen) {
    const { runReplScreen } = await import('../tui/repl/run.js');
    return runReplScreen({ session, history: openHistory() });
  }
  return runPlain(session, stdinTTY);
}

/** Script mode (and --plain on a terminal). */
async function runPlain(session: import('../repl/session.js').ReplSession, stdinTTY: boolean): Promise<number> {
  const { runScript } = await import('../repl/script.js');
  const { withTerminal } = await import('../repl/terminal.js');
  const { formatDestroy } = await import('./format.js');
  // Transcripts written to a file or a pipe carry no colour codes.
  const strip = !process.stdout.isTTY;
  const write = (line: string) => {
    process.stdout.write(`${strip ? line.replace(/\x1b\[[0-9;]*m/g, '') : line}\n`);
  };
  process.stdout.on('error', () => undefined);
  let exiting = false;
  const onSignal = (sig: NodeJS.Signals) => {
    if (exiting) return;
    exiting = true;
    void session.shutdown().then((reports) => {
      if (reports.length) {
        process.stderr.write(`sandbox repl: ${sig}: destroyed every sandbox it created\n`);
        for (const r of reports) process.stderr.write(`  ${formatDestroy(r)}\n`);
      }
      process.exit(128 + (os.constants.signals[sig] ?? 0));
    });
  };
  const signals: NodeJS.Signals[] = ['SIGTERM', 'SIGHUP', 'SIGINT'];
  for (const s of signals) process.on(s, onSignal);
  try {
    const r = await runScript({
      input: process.stdin,
      write,
      session,
      interactive: stdinTTY,
      terminal: stdinTTY
        ? (pause, resume) => ({
            handover: (intro, run) =>
              withTerminal(run, {
                before: () => {
                  pause();
                  write(`sandbox repl: ${intro}`);
                },
                after: () => resume(),
              }),
          })
        : undefined,
    });
    return r.failed > 0 ? 1 : 0;
  } finally {
    for (const s of signals) process.off(s, onSignal);
  }
}
