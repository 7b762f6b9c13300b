/**
 * The REPL's command history: kept across runs in the state directory (`repl_history`, the last
 * 500 lines), read and written as the invoking user and never through a link
 * (runtime/userfiles.ts), atomically; and walked with Up/Down like a shell's: the line being
 * typed is kept while you look back, and comes back at the bottom.
 *
 * What is read back is the learner's file: lines with control characters (terminal escapes) or
 * longer than HISTORY_LINE_MAX are dropped, a file above HISTORY_MAX_BYTES is kept aside as
 * `repl_history.bad-<timestamp>`. A history file that must not be used (a link, not the user's)
 * is neither read nor written; the REPL says why, once, and works without it.
 */
import path from 'node:path';

import { SandboxError } from '../runtime/errors.js';
import { E_TOO_BIG, quarantineUserFile, readUserFile, stateLocation, writeUserFile } from '../runtime/userfiles.js';

export const HISTORY_FILE = 'repl_history';
export const HISTORY_MAX = 500;
export const HISTORY_LINE_MAX = 4096;
export const HISTORY_MAX_BYTES = 1 << 20;
const CONTROL_RE = /[\x00-\x08\x0a-\x1f\x7f-\x9f]/;

export function historyPath(): string {
  return path.join(stateLocation().dir, HISTORY_FILE);
}

/** The lines worth keeping from a history file's text. */
export function historyLines(text: string): string[] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '' && l.length <= HISTORY_LINE_MAX && !CONTROL_RE.test(l))
    .slice(-HISTORY_MAX);
}

/**
 * Reads the history; throws (SandboxError, naming the file) when it must not be used. A file too
 * big to be a history is kept aside and reads as empty.
 */
export function loadHistory(): string[] {
  const loc = stateLocation();
  try {
    return historyLines(readUserFile(loc, HISTORY_FILE, HISTORY_MAX_BYTES) ?? '');
  } catch (err) {
    if (!(err instanceof SandboxError && err.code === E_TOO_BIG)) throw err;
    quarantineUserFile(loc, HISTORY_FILE);
    return [];
  }
}

export function saveHistory(lines: string[]): void {
  writeUserFile(stateLocation(), HISTORY_FILE, `${lines.slice(-HISTORY_MAX).filter((l) => l.length <= HISTORY_LINE_MAX).join('\n')}\n`);
}

function problemText(err: unknown): string {
  const e = err as SandboxError;
  return `history is not kept: ${e?.message ?? String(err)}${e?.hint ? `\nhint: ${e.hint}` : ''}`;
}

/**
 * The REPL's history as the REPL uses it: loaded from the state directory and saved after each
 * line. When the file must not be used, the history lives in memory only and `onProblem`
 * (the REPL's transcript) hears why, once.
 */
export function openHistory(): History {
  let initial: string[] = [];
  let problem: string | null = null;
  try {
    initial = loadHistory();
  } catch (err) {
    problem = problemText(err);
  }
  const history = new History(initial, problem ? () => undefined : saveHistory);
  if (problem) history.report(problem);
  return history;
}

export class History {
  private readonly lines: string[];
  /** lines.length = not looking back. */
  private pos: number;
  private draft = '';
  private problem: string | null = null;
  private problemReported = false;
  private problemListener: ((text: string) => void) | null = null;

  constructor(
    initial: string[] = [],
    private readonly persist: (lines: string[]) => void = () => undefined,
  ) {
    this.lines = initial.slice(-HISTORY_MAX);
    this.pos = this.lines.length;
  }

  get entries(): readonly string[] {
    return this.lines;
  }

  /** Records an entered line (not blank, not a repeat of the last one) and stops looking back. */
  add(line: string): void {
    this.pos = this.lines.length;
    this.draft = '';
    const l = line.replace(/[\r\n]+/g, ' ').trim();
    if (!l || this.lines[this.lines.length - 1] === l) return;
    this.lines.push(l);
    if (this.lines.length > HISTORY_MAX) this.lines.splice(0, this.lines.length - HISTORY_MAX);
    this.pos = this.lines.length;
    try {
      this.persist(this.lines);
    } catch (err) {
      // History is a convenience: a read-only home must not break the REPL; say why once.
      this.report(problemText(err));
    }
  }

  /** Says (once) why the history is not kept; held until a listener is there. */
  report(text: string): void {
    if (this.problemReported || this.problem) return;
    this.problem = text;
    this.flush();
  }

  /** Where a problem with the history file is told (the REPL's transcript). */
  onProblem(fn: (text: string) => void): void {
    this.problemListener = fn;
    this.flush();
  }

  private flush(): void {
    if (this.problem && this.problemListener && !this.problemReported) {
      this.problemReported = true;
      this.problemListener(this.problem);
    }
  }

  /** Up: the previous line (keeping `current` as the draft when leaving the bottom). */
  previous(current: string): string | null {
    if (this.pos === 0) return null;
    if (this.pos === this.lines.length) this.draft = current;
    this.pos--;
    return this.lines[this.pos];
  }

  /** Down: the next line, or the draft at the bottom. */
  next(): string | null {
    if (this.pos >= this.lines.length) return null;
    this.pos++;
    return this.pos === this.lines.length ? this.draft : this.lines[this.pos];
  }

  reset(): void {
    this.pos = this.lines.length;
    this.draft = '';
  }
}
