/** `sandbox run`: one command in a new sandbox; prints what was created; exits with the command's code. */
import os from 'node:os';
import path from 'node:path';

import {
  catchesSignal,
  describeRootfs,
  exitCode,
  formatError,
  type Limits,
  type Namespace,
  NAMESPACES,
  NS_FILE,
  parseCapabilityList,
  parseRootfs,
  type RootfsSpec,
  Sandbox,
  type SecurityOptions,
  checkBoundingSet,
  securityNote,
  SandboxError,
  usageError,
  validateLimits,
} from '../runtime/index.js';
import { echo } from '../runtime/errors.js';
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
  cwd?: string;
  cpuWeight?: string;
  cpuQuota?: string;
  cpuBurst?: string;
  cpus?: string;
  memory?: string;
  memoryHigh?: string;
  pids?: string;
  ioRbps?: string;
  ioWbps?: string;
  ioWeight?: string;
  init?: boolean;
  capAdd?: string[];
  capDrop?: string[];
  seccomp?: string;
  privileged?: boolean;
  explain?: boolean;
  quiet?: boolean;
}

/** --cap-add, --cap-drop, --seccomp, --privileged as the runtime's SecurityOptions; throws usage errors. */
export function parseSecurityFlags(opts: Pick<RunOptions, 'capAdd' | 'capDrop' | 'seccomp' | 'privileged'>): SecurityOptions {
  const security: SecurityOptions = {};
  if (opts.privileged) security.privileged = true;
  const add = (opts.capAdd ?? []).flatMap((v) => parseCapabilityList(v));
  const drop = (opts.capDrop ?? []).flatMap((v) => parseCapabilityList(v));
  if (add.length) security.capAdd = [...new Set(add)];
  if (drop.length) security.capDrop = [...new Set(drop)];
  if (opts.seccomp !== undefined) {
    if (opts.seccomp !== 'default' && opts.seccomp !== 'unconfined') {
      throw usageError(
        `--seccomp ${JSON.stringify(opts.seccomp.slice(0, 80))}: not a seccomp mode`,
        'use --seccomp default (the filter; the default) or --seccomp unconfined (no filter)',
      );
    }
    security.seccomp = opts.seccomp;
  }
  return security;
}

export const DEFAULT_RUN_NAMESPACES: Namespace[] = ['pid', 'mount', 'uts', 'ipc', 'cgroup'];

/** Input errors (exit 2) versus failures of sandbox itself (exit 125), as docker and podman do. */
const USAGE_CODES = new Set(['E_USAGE', 'E_LIMIT', 'E_NO_ROOTFS', 'E_NO_BUSYBOX', 'E_NO_CONTROLLER', 'E_EXISTS']);

function fail(err: unknown): number {
  process.stderr.write(`${formatError(err)}\n`);
  if (err instanceof SandboxError) {
    if (err.step === 'execve') return err.code === 'ENOENT' ? 127 : 126;
    if (USAGE_CODES.has(err.code)) return 2;
    // --cwd names a directory the sandbox's root does not have: the user's input, not our failure.
    if (err.step === 'chdir' && ['ENOENT', 'ENOTDIR', 'EACCES', 'ENAMETOOLONG', 'ELOOP'].includes(err.code)) return 2;
  }
  return 125;
}

/**
 * --cwd: an absolute path written the plain way (no "//", "." or ".." parts, no trailing "/",
 * no control characters), as the sandbox's child passes it to chdir(); whether it exists and is
 * reachable inside is the kernel's answer (EACCES/ENOENT come back with a hint).
 */
function checkCwd(dir: string): void {
  const hint = 'give a directory as seen inside the sandbox, e.g. --cwd / or --cwd /tmp';
  if (!dir.startsWith('/')) throw usageError(`--cwd ${echo(dir)}: not an absolute path`, hint);
  if (dir.length > 4095 || /[\x00-\x1f\x7f]/.test(dir) || path.posix.normalize(dir) !== dir || (dir.length > 1 && dir.endsWith('/'))) {
    throw usageError(`--cwd ${echo(dir)}: not a plain absolute path`, `${hint} (no "//", "." or ".." parts, no control characters)`);
  }
}

export async function runCommand(command: string[], opts: RunOptions): Promise<number> {
  let namespaces = NAMESPACES.filter((n) => opts[n]);
  if (namespaces.length === 0) namespaces = DEFAULT_RUN_NAMESPACES;
  let limits: Limits;
  let rootfs: RootfsSpec | undefined;
  let security: SecurityOptions;
  try {
    security = parseSecurityFlags(opts);
    limits = validateLimits({
      cpuWeight: opts.cpuWeight,
      cpuQuota: opts.cpuQuota,
      cpuBurst: opts.cpuBurst,
      cpus: opts.cpus,
      memory: opts.memory,
      memoryHigh: opts.memoryHigh,
      pids: opts.pids,
      ioRbps: opts.ioRbps,
      ioWbps: opts.ioWbps,
      ioWeight: opts.ioWeight,
    });
    rootfs = opts.rootfs === undefined ? undefined : parseRootfs(opts.rootfs);
    if (opts.cwd !== undefined) checkCwd(opts.cwd);
  } catch (err) {
    return fail(err);
  }

  try {
    checkBoundingSet(security, namespaces.includes('user'));
  } catch (err) {
    return fail(err);
  }
  const summary = !opts.quiet && (opts.explain || process.stderr.isTTY);
  // Asking for more than the default is said out loud, even with --quiet.
  const note = securityNote(security, namespaces.includes('user'));
  if (note) process.stderr.write(`${note}\n`);
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
      cwd: opts.cwd,
      security,
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
