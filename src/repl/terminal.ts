/**
 * Handing the real terminal to an interactive program inside a sandbox, and taking it back.
 *
 * Why a fresh descriptor: Node's own stdin/stdout (libuv) reopen the terminal and switch their
 * file description to O_NONBLOCK; a shell given that description reads EAGAIN and may quit. A
 * new open() of the same terminal is an independent, blocking description, and closing it later
 * leaves Node's alone.
 *
 * Why the process group dance: only the terminal's foreground process group may read from it,
 * and Ctrl-C/Ctrl-Z go to that group. The runtime makes the shell's group the foreground one
 * (`foreground: true`: setpgid + tcsetpgrp in the child); while it runs, the REPL must not read
 * the terminal at all (a background read stops the whole process with SIGTTIN). When the shell
 * exits, its group is gone and the REPL takes the foreground back with tcsetpgrp.
 */
import fs from 'node:fs';

import { native } from '../runtime/native.js';

/** A new, blocking descriptor of the terminal on stdin (or the controlling terminal). */
export function openTerminal(): number {
  try {
    return fs.openSync('/proc/self/fd/0', fs.constants.O_RDWR | fs.constants.O_NOCTTY);
  } catch {
    return fs.openSync('/dev/tty', fs.constants.O_RDWR | fs.constants.O_NOCTTY);
  }
}

/** The terminal's foreground process group right now (field tpgid of /proc/self/stat), or null. */
export function foregroundGroup(): number | null {
  try {
    const stat = fs.readFileSync('/proc/self/stat', 'utf8');
    const tpgid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[5]);
    return Number.isInteger(tpgid) && tpgid > 0 ? tpgid : null;
  } catch {
    return null;
  }
}

/** Makes `group` (default: this process's own) the terminal's foreground process group again. */
export function takeTerminalBack(fd: number, group: number | null = null): void {
  try {
    native().tcsetpgrp(fd, group ?? native().getpgrp());
  } catch {
    /* no controlling terminal (or it is gone): nothing to take back */
  }
}

/**
 * Runs `run` with a fresh terminal descriptor and restores the foreground process group after it,
 * whatever happens. `before`/`after` let the caller stop and restart its own use of the terminal.
 */
export async function withTerminal<T>(
  run: (fd: number) => Promise<T>,
  hooks: { before?: () => Promise<void> | void; after?: () => Promise<void> | void } = {},
): Promise<T> {
  await hooks.before?.();
  const group = foregroundGroup();
  let fd = -1;
  try {
    fd = openTerminal();
    return await run(fd);
  } finally {
    if (fd >= 0) {
      takeTerminalBack(fd, group);
      fs.closeSync(fd);
    }
    await hooks.after?.();
  }
}
