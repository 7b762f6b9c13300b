/**
 * Puts an Ink screen on the terminal: the alternate screen (the learner's terminal comes back as
 * it was on exit), Ink redrawing only when the state changed (each frame is one write, wrapped in
 * synchronized-output marks where the terminal supports them), and a clean redraw on every
 * resize. (Ink 6.8's incrementalRendering is not used: after a frame that ends in a newline it
 * moves the cursor up one row too few and writes changed rows one row low.) Ink and React are loaded here, on demand, so commands that
 * draw no screen (`--help`, `lessons --plain`) never pay for them.
 *
 * Resize: Ink redraws in place by moving the cursor up over its last frame, which goes wrong once
 * the terminal has reflowed that frame. So on a resize the screen is cleared and the app mounted
 * again at the new size; its state lives outside React (the controller), so nothing is lost.
 */
import tty from 'node:tty';

import type { ReactElement } from 'react';

import { openTerminal } from '../repl/terminal.js';

type Ink = typeof import('ink');

let inkModule: Ink | null = null;

/**
 * Imports React and Ink for a screen, once.
 *
 * React picks its build when first loaded, from NODE_ENV: unless told "production" it loads the
 * development build, several times slower, which also records a performance mark per render (a
 * live view rendering 5 times a second grows the process by megabytes a minute). A learner's
 * terminal wants the production build whatever NODE_ENV their shell has.
 *
 * Ink decides once, when first loaded, whether it runs in CI (the CI variable) and then draws
 * only the last frame on exit: never what a learner in a real terminal wants.
 *
 * So both variables are set for the imports and put back afterwards (sandboxes inherit the
 * environment). Screens import react/jsx-runtime, react and ink only after this.
 */
export async function loadInk(): Promise<Ink> {
  if (inkModule) return inkModule;
  const saved: Record<string, string | undefined> = {};
  for (const k of ['CI', 'CONTINUOUS_INTEGRATION', 'NODE_ENV']) saved[k] = process.env[k];
  delete process.env.CI;
  delete process.env.CONTINUOUS_INTEGRATION;
  process.env.NODE_ENV = 'production';
  try {
    await import('react');
    await import('react/jsx-runtime');
    inkModule = await import('ink');
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
  return inkModule;
}

export interface TerminalSize {
  columns: number;
  rows: number;
}

export interface Screen {
  /** Takes the screen down: Ink unmounted, the alternate screen left, the cursor shown. */
  close(): void;
  /**
   * Gives the terminal away (to a shell): Ink unmounted, its input stream destroyed (nothing in
   * this process reads the terminal until resume), the normal screen back. Needs `ownInput`.
   */
  suspend(): Promise<void>;
  /** Takes the terminal back and draws the app again (throws when the terminal is gone). */
  resume(): void;
}

export interface MountOptions {
  /**
   * Default: yes when stdin is a terminal. Ink reads keys from a stream on its own descriptor of the terminal, not process.stdin, so
   * the stream can be destroyed while another program has the terminal (suspend/resume): a
   * paused process.stdin may still read, which would steal the shell's keys or stop this whole
   * process with SIGTTIN once it is in the background process group (see src/tui/repl/run.tsx).
   */
  ownInput?: boolean;
}

const ALT_ON = '\u001B[?1049h';
const ALT_OFF = '\u001B[?1049l';
const CLEAR = '\u001B[2J\u001B[3J\u001B[H';
const SHOW_CURSOR = '\u001B[?25h';

export function terminalSize(stdout: NodeJS.WriteStream = process.stdout): TerminalSize {
  return { columns: stdout.columns || 80, rows: stdout.rows || 24 };
}

/**
 * Mounts `build(size)` full-screen. `build` is called again (and the app remounted) after each
 * resize. Must be called after loadInk().
 */
export function mountScreen(build: (size: TerminalSize) => ReactElement, stdout: NodeJS.WriteStream = process.stdout, mountOptions: MountOptions = {}): Screen {
  if (!inkModule) throw new Error('mountScreen before loadInk');
  const ink = inkModule;
  const write = (s: string) => {
    try {
      stdout.write(s);
    } catch {
      /* the terminal is gone (SIGHUP): nothing to restore */
    }
  };
  let input: tty.ReadStream | null = null;
  const swallow = () => undefined;
  // Every screen reads its own descriptor when it can: a screen that read process.stdin would
  // leave it reading after closing (Ink does not stop the read), and the next screen's shell
  // handover would then have this process read the terminal from the background (EIO, SIGTTIN).
  const own = mountOptions.ownInput ?? process.stdin.isTTY === true;
  const openInput = () => {
    if (!own) return;
    input = new tty.ReadStream(openTerminal());
    input.on('error', swallow);
  };
  const closeInput = () => {
    if (!input) return;
    try {
      input.setRawMode(false);
    } catch {
      /* the terminal is gone */
    }
    input.destroy();
    input = null;
  };
  const stdinOf = () => (input ?? process.stdin) as NodeJS.ReadStream;
  const options = () => ({ stdout, stdin: stdinOf(), exitOnCtrlC: false, incrementalRendering: false, maxFps: 30, patchConsole: true }) as const;
  openInput();
  write(ALT_ON + CLEAR);
  let closed = false;
  // Last resort: whatever ends the process, give the learner their terminal back.
  const onExit = () => {
    if (!closed) write(SHOW_CURSOR + ALT_OFF);
  };
  process.on('exit', onExit);
  // When the terminal goes away (SIGHUP), writes fail with EIO: that must not crash the program
  // before it has destroyed its sandboxes.
  const onWriteError = () => undefined;
  stdout.on('error', onWriteError);
  // Raw mode before the first frame: Ink turns it on only in an effect after drawing, and a key
  // pressed in between would be echoed by the terminal (scrolling the screen) and arrive as "\n".
  const raw = () => {
    const stdin = stdinOf();
    if (stdin.isTTY) stdin.setRawMode(true);
  };
  raw();
  let instance = ink.render(build(terminalSize(stdout)), options());
  let timer: NodeJS.Timeout | null = null;
  let suspended = false;
  const remount = () => {
    timer = null;
    if (closed || suspended) return;
    instance.unmount();
    raw();
    write(CLEAR);
    instance = ink.render(build(terminalSize(stdout)), options());
  };
  const onResize = () => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(remount, 40);
  };
  stdout.on('resize', onResize);
  return {
    close() {
      if (closed) return;
      closed = true;
      if (timer) clearTimeout(timer);
      stdout.off('resize', onResize);
      if (!suspended) instance.unmount();
      if (input) closeInput();
      else if (process.stdin.isTTY) process.stdin.setRawMode(false);
      // Suspended, the normal screen is up already (a shell's output on it): leaving the alternate
      // screen again would put the cursor back where it was before, over that output.
      write(suspended ? SHOW_CURSOR : SHOW_CURSOR + ALT_OFF);
      process.off('exit', onExit);
      stdout.off('error', onWriteError);
    },
    async suspend() {
      if (closed || suspended) return;
      if (!own) throw new Error('suspend needs a screen that reads its own descriptor of the terminal (ownInput)');
      suspended = true;
      if (timer) clearTimeout(timer);
      timer = null;
      instance.unmount();
      await instance.waitUntilExit().catch(() => undefined);
      closeInput();
      write(SHOW_CURSOR + ALT_OFF);
    },
    resume() {
      if (closed || !suspended) return;
      openInput();
      suspended = false;
      write(ALT_ON + CLEAR);
      raw();
      instance = ink.render(build(terminalSize(stdout)), options());
    },
  };
}
