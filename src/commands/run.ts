/** `sandbox run`: one command in a new sandbox; prints what was created; exits with the command's code. */
import os from 'node:os';

import {
  catchesSignal,
  describeRootfs,
  exitCode,
  formatError,
  type Limits,
  type Namespace,
  NAMESPACES,
  NS_FILE,
  parseRootfs,
  type RootfsSpec,
  Sandbox,
  SandboxError,
  validateLimits,
} from '../runtime/index.js';
import { formatDestroy, formatExplain } from './format.js';

export interface RunOptions {
  pid?: boolean;
  mount?: boolean;
  uts?: boolean;
  ipc?: boolean;
  net?: boolean;
  user?: boolean;
  cgroup?: boolean;
  hostname?: string;
  rootfs?: string;
  name?: string;
  cpuWeight?: string;
  cpuQuota?: string;
  cpus?: string;
  memory?: string;
  pids?: string;
  init?: boolean;
  explain?: boolean;
  quiet?: boolean;
}

export const DEFAULT_RUN_NAMESPACES: Namespace[] = ['pid', 'mount', 'uts', 'ipc', 'cgroup'];

/** Input errors (exit 2) versus failures of sandbox itself (exit 125), as docker and podman do. */
const USAGE_CODES = new Set(['E_USAGE', 'E_LIMIT', 'E_NO_ROOTFS', 'E_NO_BUSYBOX', 'E_NO_CONTROLLER', 'E_EXISTS']);

function fail(err: unknown): number {
  process.stderr.write(`${formatError(err)}\n`);
  if (err instanceof SandboxError) {
    if (err.step === 'execve') return err.code === 'ENOENT' ? 127 : 126;
    if (USAGE_CODES.has(err.code)) return 2;
  }
  return 125;
}

export async function runCommand(command: string[], opts: RunOptions): Promise<number> {
  let namespaces = NAMESPACES.filter((n) => opts[n]);
  if (namespaces.length === 0) namespaces = DEFAULT_RUN_NAMESPACES;
  let limits: Limits;
  let rootfs: RootfsSpec | undefined;
  try {
    limits = validateLimits({
      cpuWeight: opts.cpuWeight,
      cpuQuota: opts.cpuQuota,
      cpus: opts.cpus,
      memory: opts.memory,
      pids: opts.pids,
    });
    rootfs = opts.rootfs === undefined ? undefined : parseRootfs(opts.rootfs);
  } catch (err) {
    return fail(err);
  }

  const summary = !opts.quiet && (opts.explain || process.stderr.isTTY);
  let sandbox: Sandbox;
  try {
    sandbox = await Sandbox.create({
      name: opts.name,
      purpose: 'run',
      namespaces,
      hostname: opts.hostname,
      rootfs,
      limits,
      command,
      init: opts.init,
      stdio: 'inherit',
      beforeStart: (s) => {
        if (opts.explain) process.stderr.write(`How sandbox ${s.name} is made:\n${formatExplain(s.explain)}\n\n`);
      },
    });
  } catch (err) {
    return fail(err);
  }
  if (summary) {
    const ns = sandbox.namespaces.map((n) => `${NS_FILE[n]}:[${sandbox.nsInodes[n] ?? '?'}]`).join(' ');
    process.stderr.write(
      `sandbox ${sandbox.name}: host PID ${sandbox.pid}${sandbox.namespaces.includes('pid') ? ' (PID 1 inside)' : ''}; ` +
        `namespaces ${ns || 'none'}; root: ${describeRootfs(sandbox.rootfs)}\n`,
    );
  }

  // Signals to `sandbox run` go to the sandbox. A new PID namespace's first process never gets a
  // signal it has no handler for (the kernel drops it, even Ctrl-C), so in that case the only way
  // to stop it is to kill it: say so, and destroy the sandbox.
  let received: NodeJS.Signals | null = null;
  let interrupts = 0;
  let forceTimer: NodeJS.Timeout | undefined;
  const stop = (why: string) => {
    process.stderr.write(`sandbox: ${why}; destroying sandbox ${sandbox.name}\n`);
    void sandbox.destroy();
  };
  const onSignal = (sig: NodeJS.Signals) => {
    received = sig;
    const signo = os.constants.signals[sig];
    const pidNsInit = sandbox.namespaces.includes('pid') && !sandbox.init;
    if (sig === 'SIGINT' && ++interrupts >= 3) return stop('Ctrl-C pressed three times');
    if (pidNsInit && catchesSignal(sandbox.pid, signo) === false) {
      return stop(`${sig} not delivered: PID 1 of a PID namespace has no handler for it, so the kernel ignores it`);
    }
    // Ctrl-C from the terminal already reached the sandbox's processes (same process group).
    if (!(sig === 'SIGINT' && process.stdin.isTTY)) sandbox.signal(sig);
    if (sig !== 'SIGINT') {
      clearTimeout(forceTimer);
      forceTimer = setTimeout(() => stop(`still running 3 s after ${sig}`), 3000);
      forceTimer.unref();
    }
  };
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const s of signals) process.on(s, onSignal);

  const status = await sandbox.wait();
  clearTimeout(forceTimer);
  for (const s of signals) process.off(s, onSignal);
  const report = await sandbox.destroy();
  if (opts.explain) process.stderr.write(`\n${formatDestroy(report)}\n`);
  if (status.signal === 'SIGKILL' && received) return 128 + os.constants.signals[received as NodeJS.Signals];
  return exitCode(status);
}
