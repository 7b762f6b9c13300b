/**
 * Script mode: commands read line by line (from a file, a pipe, or a terminal with --plain) and
 * the results printed as text, so a session can be replayed: `sandbox repl --plain < demo.txt`.
 *
 * Each line is echoed after the prompt marker and followed by its result, so the output reads as
 * a transcript. Blank lines and comments (#) are skipped. A bad line prints `error: …` (with a
 * hint and the usage) and changes nothing; the script goes on, and the exit code is 1 if any line
 * failed. End of input is `exit`: every sandbox the script started is destroyed.
 */
import readline from 'node:readline';

import { formatDestroy } from '../commands/format.js';
import { defaultParseContext, type ParseContext, parseLine, visible } from './parse.js';
import type { ReplSession, TerminalHandover } from './session.js';

export const PROMPT = 'sandbox> ';

export interface ScriptOptions {
  input: NodeJS.ReadableStream;
  /** Receives every line of the transcript (without the newline). */
  write: (line: string) => void;
  session: ReplSession;
  /** A person types at a terminal: print a prompt instead of echoing the line. */
  interactive?: boolean;
  /** Lets `enter` hand the terminal over (only when stdin is a terminal). */
  terminal?: (pause: () => void, resume: () => void) => TerminalHandover;
  parseContext?: ParseContext;
}

export interface ScriptResult {
  /** Lines that were commands (not blank, not comments). */
  commands: number;
  failed: number;
  /** How it ended. */
  end: 'exit' | 'eof';
}

/** Reads and runs every line, then shuts the session down. */
export async function runScript(o: ScriptOptions): Promise<ScriptResult> {
  const write = (text: string) => {
    for (const line of text.split('\n')) o.write(line);
  };
  const ctx = o.parseContext ?? defaultParseContext();
  const rl = readline.createInterface({ input: o.input, terminal: false, crlfDelay: Infinity });
  const terminal = o.terminal?.(
    () => rl.pause(),
    () => rl.resume(),
  );
  const stopNotices = o.session.onNotice((t) => write(`note: ${t}`));
  const out = { print: write, problem: (lines: string[]) => write(lines.join('\n')) };
  let commands = 0;
  let failed = 0;
  let end: ScriptResult['end'] = 'eof';
  const prompt = () => {
    if (o.interactive) process.stdout.write(PROMPT);
  };
  prompt();
  try {
    for await (const raw of rl) {
      const line = raw.replace(/\r$/, '');
      const parsed = parseLine(line, ctx);
      if (parsed.kind === 'empty') {
        prompt();
        continue;
      }
      commands++;
      if (!o.interactive) write(`${PROMPT}${visible(line)}`);
      if (parsed.kind === 'error') {
        failed++;
        const e = parsed.error;
        write([`error: ${visible(e.message)}`, ...(e.hint ? [`hint: ${visible(e.hint)}`] : []), `usage: ${e.usage}`].join('\n'));
        prompt();
        continue;
      }
      const r = await o.session.run(parsed.command, { ...out, terminal });
      if (!r.ok) failed++;
      if (r.exit) {
        end = 'exit';
        break;
      }
      prompt();
    }
  } finally {
    rl.close();
    if (o.interactive && end === 'eof') o.write('');
    const reports = await o.session.shutdown();
    stopNotices();
    if (reports.length) {
      write(`${end === 'exit' ? 'exit' : 'end of input'}: destroying what is still running`);
      for (const r of reports) write(`  ${formatDestroy(r)}`);
    }
  }
  return { commands, failed, end };
}
