/**
 * Every failure the runtime reports is a SandboxError. It carries the kernel's answer as
 * properties (`code`, `errno`, `syscall`, `path`), the step that failed, and, where the errno
 * alone would confuse a learner, a hint saying what to try next.
 *
 * `actionable` separates errors the user can fix (not root, a bad limit, a missing command) from
 * bugs in sandbox itself (which should be reported); the TUI renders both through one banner.
 */
import fs from 'node:fs';

export class SandboxError extends Error {
  override name = 'SandboxError';
  /** errno name (`EPERM`, `EBUSY`…) or one of ours (`E_USAGE`, `E_NOT_ROOT`, `E_LIMIT`…). */
  code: string;
  errno?: number;
  syscall?: string;
  /** The step that failed: `clone3`, `mount`, `pivot_root`, `cgroup`, `execve`… */
  step?: string;
  path?: string;
  /** What to try next, in one sentence. */
  hint?: string;
  actionable: boolean;

  constructor(
    message: string,
    props: {
      code: string;
      errno?: number;
      syscall?: string;
      step?: string;
      path?: string;
      hint?: string;
      actionable?: boolean;
      cause?: unknown;
    },
  ) {
    super(message, props.cause === undefined ? undefined : { cause: props.cause });
    this.code = props.code;
    this.errno = props.errno;
    this.syscall = props.syscall;
    this.step = props.step;
    this.path = props.path;
    this.hint = props.hint;
    this.actionable = props.actionable ?? true;
  }
}

/** Bad input from the user: a flag, a limit, a name. Nothing was changed. */
export function usageError(message: string, hint?: string, code = 'E_USAGE'): SandboxError {
  return new SandboxError(message, { code, hint, actionable: true });
}

export function notRootError(what: string): SandboxError {
  return new SandboxError(`${what} needs root: namespaces, mounts and cgroups are privileged kernel operations`, {
    code: 'E_NOT_ROOT',
    hint: 'run it again with sudo, e.g. `sudo sandbox ...`',
  });
}

/** A bug in sandbox itself, not something the learner did. */
export function bugError(message: string, cause?: unknown): SandboxError {
  return new SandboxError(message, { code: 'E_BUG', actionable: false, cause });
}

interface HintRule {
  code: string;
  /** Matches the step or syscall name; absent = any. */
  step?: RegExp;
  /** Matches the path; absent = any. */
  path?: RegExp;
  hint: (e: { path?: string; step?: string }) => string;
}

/**
 * errnos that say little on their own, turned into advice. First match wins. (In the spirit of
 * bubblewrap turning ENOSPC on mount into "check /proc/sys/fs/mount-max".)
 */
const HINTS: HintRule[] = [
  {
    code: 'ENOENT',
    step: /^execve$/,
    hint: (e) =>
      `there is no "${echo(e.path)}" inside the sandbox: its root filesystem has only what was put there; ` +
      'check the spelling, give a full path, or use a rootfs that contains the program',
  },
  {
    code: 'EACCES',
    step: /^execve$/,
    hint: (e) => `"${echo(e.path)}" exists inside the sandbox but is not executable (check its mode, and noexec mounts)`,
  },
  {
    code: 'EACCES',
    step: /^chdir$/,
    hint: (e) => closedDirHint(e.path ?? ''),
  },
  {
    code: 'ENOENT',
    step: /^chdir$/,
    hint: (e) => `there is no directory ${echo(e.path)} inside the sandbox; pass --cwd / or a directory that exists in its root filesystem`,
  },
  {
    code: 'EPERM',
    step: /^(clone3|setns|unshare|mount|pivot_root|sethostname)$/,
    hint: () =>
      process.getuid?.() === 0
        ? 'the kernel refused a namespace operation even for root: user namespaces or mounts may be restricted ' +
          '(see `sandbox doctor`), or a security module (AppArmor, SELinux, seccomp) blocks it'
        : 'namespace and mount operations need root: run with sudo',
  },
  {
    code: 'ENOSPC',
    path: /cgroup\.procs$/,
    hint: () => 'on cgroup v1 a cpuset cgroup needs cpuset.cpus and cpuset.mems set before a process can join it',
  },
  {
    code: 'ENOSPC',
    step: /^(clone3|unshare)$/,
    hint: () => 'the per-user namespace limit is reached: check /proc/sys/user/max_*_namespaces',
  },
  {
    code: 'ENOSPC',
    step: /^mount/,
    hint: () => 'too many mounts: check /proc/sys/fs/mount-max',
  },
  {
    code: 'EBUSY',
    path: /memory\.(limit_in_bytes|max)$/,
    hint: () => 'the group already uses more memory than that limit and the kernel could not reclaim it; choose a larger limit',
  },
  {
    code: 'EBUSY',
    step: /^(rmdir|cgroup-remove)$/,
    hint: () => 'processes are still in the cgroup; `sandbox cleanup` kills them and retries',
  },
  {
    code: 'EINVAL',
    step: /^pivot_root$/,
    hint: () =>
      'pivot_root needs the new root to be a mount point on a private (not shared) mount, and the current root ' +
      'to be a real mount point (it fails inside a chroot or on an initramfs rootfs)',
  },
  {
    code: 'EINVAL',
    step: /^clone3$/,
    hint: () => 'this kernel rejected the namespace flags; `sandbox doctor` shows which namespaces it supports',
  },
  {
    code: 'ENOSYS',
    hint: (e) => `this kernel lacks ${e.step ?? 'a needed system call'} (sandbox needs Linux 5.8 or newer; see \`sandbox doctor\`)`,
  },
  {
    code: 'ETIMEDOUT',
    step: /^setup$/,
    hint: () => 'the sandbox did not finish setting up within the time limit and was killed; try again, then `sandbox cleanup`',
  },
];

/**
 * chdir() failing with EACCES for root: the sandbox's root is an ordinary uid on the host (a user
 * namespace maps it to 100000 by default), and the kernel checks the search bit of every directory
 * on the path for that uid. Names the first directory that shuts others out (a 0700 home).
 */
function closedDirHint(dir: string): string {
  const parts = dir.split('/').filter(Boolean);
  for (let i = 1; i <= parts.length; i++) {
    const p = `/${parts.slice(0, i).join('/')}`;
    let st: fs.Stats;
    try {
      st = fs.statSync(p);
    } catch {
      break;
    }
    if (st.isDirectory() && (st.mode & 0o001) === 0) {
      return (
        `the sandbox's root (uid 100000 outside, with a user namespace) cannot enter ${echo(p)} ` +
        `(mode ${(st.mode & 0o7777).toString(8).padStart(4, '0')}, owner uid ${st.uid}); run from another directory or pass --cwd /`
      );
    }
  }
  return `the sandbox's processes may not enter ${echo(dir)} (with a user namespace, its root is uid 100000 outside); run from another directory or pass --cwd /`;
}

function hintFor(code: string, step?: string, path?: string): string | undefined {
  for (const rule of HINTS) {
    if (rule.code !== code) continue;
    if (rule.step && !(step && rule.step.test(step))) continue;
    if (rule.path && !(path && rule.path.test(path))) continue;
    return rule.hint({ step, path });
  }
  return undefined;
}

/**
 * Wraps an error from the native addon or from fs (both carry code/errno/syscall/path) with the
 * step that was being done: "outer: inner", plus a hint from the table.
 */
export function wrapSystemError(
  err: unknown,
  context: { what: string; step?: string; path?: string },
): SandboxError {
  if (err instanceof SandboxError) return err;
  const e = err as NodeJS.ErrnoException & { step?: string };
  const code = typeof e?.code === 'string' ? e.code : 'E_BUG';
  const step = context.step ?? e?.step ?? e?.syscall;
  const path = context.path ?? e?.path;
  const inner = e?.message ?? String(err);
  return new SandboxError(`${context.what}: ${inner}`, {
    code,
    errno: typeof e?.errno === 'number' ? Math.abs(e.errno) : undefined,
    syscall: e?.syscall,
    step,
    path,
    hint: hintFor(code, step, path),
    actionable: code !== 'E_BUG',
    cause: err,
  });
}

/** An error record from the sandbox's setup child (or sandbox-init's payload exec). */
export function childStepError(
  name: string,
  rec: { errno: number; code: string; message: string; step: string; path: string },
  detail?: string,
  searchPath?: string,
): SandboxError {
  const where = detail ?? (rec.path ? `${rec.step} ${echo(rec.path)}` : rec.step);
  let message = `sandbox ${name}: setup step "${where}" failed: ${rec.message} (${rec.code})`;
  if (rec.step === 'execve') {
    message = `sandbox ${name}: cannot run ${echo(rec.path)}: ${rec.message} (${rec.code})`;
    if (rec.code === 'ENOENT' && !rec.path.includes('/') && searchPath) {
      message = `sandbox ${name}: ${echo(rec.path)}: command not found in the sandbox (looked in ${searchPath.split(':').join(', ')})`;
    }
  }
  return new SandboxError(message, {
    code: rec.code,
    errno: rec.errno,
    syscall: rec.step,
    step: rec.step,
    path: rec.path || undefined,
    hint: hintFor(rec.code, rec.step, rec.path),
  });
}

/** One line for the terminal: message, then the hint. */
export function formatError(err: unknown): string {
  if (err instanceof SandboxError) {
    const lines = [`error: ${err.message}`];
    if (err.hint) lines.push(`hint: ${err.hint}`);
    if (!err.actionable) lines.push('This looks like a bug in sandbox; please report it with the output above.');
    return lines.join('\n');
  }
  const e = err as Error;
  return `error: ${e?.message ?? String(err)}\nThis looks like a bug in sandbox; please report it with the output above.${
    e?.stack ? `\n${e.stack}` : ''
  }`;
}

/** At most this many characters of what the user typed are echoed back in a message. */
export const ECHO_MAX = 80;

/**
 * What the user typed, as an error message shows it: control characters made visible (\xNN, so
 * the message stays one line and sends no terminal codes) and at most ECHO_MAX characters, so a
 * megabyte-long argument does not become a megabyte-long error.
 */
export function echo(input: unknown): string {
  const shown = [...String(input).replace(/[\x00-\x1f\x7f-\x9f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`)];
  return shown.length > ECHO_MAX ? `${shown.slice(0, ECHO_MAX - 1).join('')}…` : shown.join('');
}
