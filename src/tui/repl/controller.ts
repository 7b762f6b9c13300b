/**
 * The interactive REPL's state, outside React: the transcript, the line being edited, history,
 * completion, the queue of entered lines and the latest side-pane sample. It survives the Ink
 * app being unmounted and mounted again around `enter`, which is what keeps the screen intact:
 * after the shell exits, the same state is drawn again.
 */
import { applyCompletion } from '../../repl/complete.js';
import type { KeyInput } from '../keys.js';
import type { History } from '../../repl/history.js';
import { parseLine } from '../../repl/parse.js';
import { PROMPT } from '../../repl/script.js';
import type { ReplSession, SessionSample, TerminalHandover } from '../../repl/session.js';
import { NsPalette } from '../palette.js';

export type LineKind = 'input' | 'output' | 'error' | 'notice' | 'info';

export interface TranscriptLine {
  text: string;
  kind: LineKind;
}

/** The keys the controller understands. */
export type KeyPress = KeyInput;

export interface ControllerHost {
  terminal?: TerminalHandover;
  /** Leave the REPL (destroys every sandbox). */
  exit: (why: string) => void;
}

const MAX_TRANSCRIPT = 5000;

// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(\x07|\x1b\\)|\x1b[@-Z\\-_]/g;

/** Text safe to draw in a cell grid: no escape sequences, tabs expanded, control characters shown. */
export function cleanText(text: string): string {
  let out = '';
  for (const ch of text.replace(ANSI, '')) {
    if (ch === '\t') out += ' '.repeat(8 - (out.length % 8));
    else if (ch === '\r') continue;
    else if (/[\x00-\x1f\x7f-\x9f]/.test(ch)) out += `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return out;
}

export class ReplController {
  transcript: TranscriptLine[] = [];
  input = '';
  cursor = 0;
  /** Shown under the transcript after Tab with several candidates. */
  completions: string[] = [];
  /** The line being run, or null. */
  busy: string | null = null;
  /** Lines scrolled back from the bottom of the transcript. */
  scroll = 0;
  sample: SessionSample | null = null;
  /** Colours of PID namespaces in the side pane: stable while the REPL runs, across `enter`. */
  readonly palette = new NsPalette();
  /** Bumped on every change: what React subscribes to. */
  version = 0;
  private readonly queue: string[] = [];
  private readonly listeners = new Set<() => void>();
  private interruptHandlers = new Set<(count: number) => void>();
  private interrupts = 0;
  private exiting = false;

  constructor(
    readonly session: ReplSession,
    readonly history: History,
    private readonly host: ControllerHost,
  ) {
    session.onNotice((t) => this.append(t, 'notice'));
    session.onChange(() => this.refresh());
    this.append('sandbox repl: create, start, exec, enter, set, inspect, stop, destroy sandboxes. help lists the commands.', 'info');
    this.append('Everything here is real: namespaces and cgroups on this kernel. Leaving destroys every sandbox created here.', 'info');
    history.onProblem((t) => this.append(t, 'notice'));
  }

  subscribe = (fn: () => void): (() => void) => {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  };

  getVersion = (): number => this.version;

  private emit(): void {
    this.version++;
    for (const fn of this.listeners) fn();
  }

  append(text: string, kind: LineKind): void {
    for (const line of text.split('\n')) this.transcript.push({ text: cleanText(line), kind });
    if (this.transcript.length > MAX_TRANSCRIPT) this.transcript.splice(0, this.transcript.length - MAX_TRANSCRIPT);
    this.emit();
  }

  /** Samples the session for the side pane. */
  refresh(withTree = true): void {
    try {
      this.sample = this.session.sample(withTree);
    } catch {
      /* a sandbox vanished between two reads: the next sample will do */
    }
    this.emit();
  }

  private setInput(text: string, cursor = text.length): void {
    this.input = text;
    this.cursor = Math.max(0, Math.min(cursor, text.length));
    this.completions = [];
  }

  /** One key press (or a paste) from Ink's useInput. */
  key(input: string, key: KeyPress): void {
    if (this.exiting) return;
    if (key.ctrl && input === 'c') return this.interrupt();
    if (key.ctrl && input === 'd') {
      if (this.input === '' && !this.busy) return this.leave('Ctrl-D');
      this.setInput(this.input.slice(0, this.cursor) + this.input.slice(this.cursor + 1), this.cursor);
      return this.emit();
    }
    if (key.return) {
      const line = this.input;
      this.setInput('');
      this.history.add(line);
      this.scroll = 0;
      this.submit(line);
      return;
    }
    if (key.tab) return this.tab();
    if (key.upArrow || key.downArrow) {
      const next = key.upArrow ? this.history.previous(this.input) : this.history.next();
      if (next !== null) this.setInput(next);
      return this.emit();
    }
    if (key.pageUp || key.pageDown) {
      const page = 10;
      this.scroll = Math.max(0, Math.min(this.transcript.length, this.scroll + (key.pageUp ? page : -page)));
      return this.emit();
    }
    if (key.leftArrow) this.cursor = Math.max(0, this.cursor - 1);
    else if (key.rightArrow) this.cursor = Math.min(this.input.length, this.cursor + 1);
    else if (key.home || (key.ctrl && input === 'a')) this.cursor = 0;
    else if (key.end || (key.ctrl && input === 'e')) this.cursor = this.input.length;
    else if (key.backspace || key.delete) {
      if (this.cursor > 0) this.setInput(this.input.slice(0, this.cursor - 1) + this.input.slice(this.cursor), this.cursor - 1);
    } else if (key.ctrl && input === 'u') this.setInput(this.input.slice(this.cursor), 0);
    else if (key.ctrl && input === 'k') this.setInput(this.input.slice(0, this.cursor), this.cursor);
    else if (key.ctrl && input === 'w') {
      const before = this.input.slice(0, this.cursor).replace(/\S+\s*$/, '');
      this.setInput(before + this.input.slice(this.cursor), before.length);
    } else if (key.ctrl && input === 'l') {
      this.transcript = [];
      this.scroll = 0;
    } else if (!key.ctrl && !key.meta && !key.escape && input) {
      this.insert(input);
      return;
    } else return;
    this.emit();
  }

  /**
   * Typed or pasted text. Keys that arrive together come as one chunk ("cre\t" when Tab follows
   * quickly, several lines in a paste), so control characters inside it are handled as the keys
   * they are: Enter runs the line so far, Tab completes, Backspace deletes…
   */
  private insert(text: string): void {
    let run = '';
    const flush = () => {
      if (!run) return;
      this.setInput(this.input.slice(0, this.cursor) + run + this.input.slice(this.cursor), this.cursor + run.length);
      run = '';
    };
    for (const ch of text) {
      const code = ch.charCodeAt(0);
      if (code >= 0x20 && code !== 0x7f && !(code >= 0x80 && code <= 0x9f)) {
        run += ch;
        continue;
      }
      flush();
      if (ch === '\r' || ch === '\n') this.key('', { return: true });
      else if (ch === '\t') this.key('', { tab: true });
      else if (ch === '\x7f' || ch === '\b') this.key('', { backspace: true });
      else if (code >= 1 && code <= 26) this.key(String.fromCharCode(code + 96), { ctrl: true });
      if (this.exiting) return;
    }
    flush();
    this.emit();
  }

  private tab(): void {
    const r = applyCompletion(this.input, this.cursor, this.session.names());
    this.input = r.line;
    this.cursor = r.cursor;
    this.completions = r.shown;
    this.emit();
  }

  private interrupt(): void {
    if (this.busy) {
      this.interrupts++;
      for (const fn of this.interruptHandlers) fn(this.interrupts);
      this.append(this.interrupts === 1 ? '^C (interrupt sent; Ctrl-C again kills the command)' : '^C (killed)', 'info');
      return;
    }
    if (this.input !== '') {
      this.setInput('');
      this.history.reset();
      this.append(`${PROMPT}^C`, 'input');
      return;
    }
    this.leave('Ctrl-C');
  }

  private leave(why: string): void {
    if (this.exiting) return;
    this.exiting = true;
    this.queue.length = 0;
    this.host.exit(why);
  }

  /** Runs a line now, or after the one that is running. */
  submit(line: string): void {
    if (this.exiting) return;
    this.queue.push(line);
    if (!this.busy) void this.drain();
    else this.emit();
  }

  get queued(): number {
    return this.queue.length;
  }

  private async drain(): Promise<void> {
    while (this.queue.length && !this.exiting) {
      const line = this.queue.shift()!;
      this.append(`${PROMPT}${line}`, 'input');
      const parsed = parseLine(line);
      if (parsed.kind === 'empty') continue;
      if (parsed.kind === 'error') {
        const e = parsed.error;
        this.append(`error: ${e.message}`, 'error');
        if (e.hint) this.append(`hint: ${e.hint}`, 'error');
        this.append(`usage: ${e.usage}`, 'error');
        continue;
      }
      this.busy = line;
      this.interrupts = 0;
      this.emit();
      try {
        const r = await this.session.run(parsed.command, {
          print: (t) => this.append(t, 'output'),
          problem: (lines) => this.append(lines.join('\n'), 'error'),
          terminal: this.host.terminal,
          onInterrupt: (fn) => {
            this.interruptHandlers.add(fn);
            return () => this.interruptHandlers.delete(fn);
          },
        });
        if (r.exit) this.leave('exit');
      } catch (err) {
        this.append(`error: ${(err as Error)?.message ?? String(err)}`, 'error');
      } finally {
        this.busy = null;
        this.interruptHandlers.clear();
        this.refresh();
      }
    }
  }
}
