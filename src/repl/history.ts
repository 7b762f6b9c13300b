/**
 * The REPL's command history: kept across runs in the state directory (`repl_history`, the last
 * 500 lines, owned by the invoking user under sudo, written atomically), and walked with Up/Down
 * like a shell's: the line being typed is kept while you look back, and comes back at the bottom.
 */
import fs from 'node:fs';
import path from 'node:path';

import { stateDir, writeStateFile } from '../lessons/progress.js';

export const HISTORY_FILE = 'repl_history';
export const HISTORY_MAX = 500;

export function historyPath(): string {
  return path.join(stateDir(), HISTORY_FILE);
}

export function loadHistory(): string[] {
  try {
    return fs
      .readFileSync(historyPath(), 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '')
      .slice(-HISTORY_MAX);
  } catch {
    return [];
  }
}

export function saveHistory(lines: string[]): void {
  writeStateFile(HISTORY_FILE, `${lines.slice(-HISTORY_MAX).join('\n')}\n`);
}

export class History {
  private readonly lines: string[];
  /** lines.length = not looking back. */
  private pos: number;
  private draft = '';

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
    } catch {
      /* history is a convenience: a read-only home must not break the REPL */
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
