/**
 * A sandbox's setup is a plan: a list of operations built in TypeScript, shown to the learner as
 * the equivalent shell command and system call, and executed verbatim, in order, by the clone3
 * child (native/spawn.cc). What `--explain` prints is therefore what the kernel was asked to do.
 */
import type { NativeOp } from './native.js';
import {
  MNT_DETACH,
  MS_BIND,
  MS_NODEV,
  MS_NOEXEC,
  MS_NOSUID,
  MS_PRIVATE,
  MS_RDONLY,
  MS_REC,
  MS_SHARED,
  MS_SLAVE,
  MS_UNBINDABLE,
} from './linux.js';

/** Must match OpKind in native/spawn.cc. */
export const OpKind = {
  Mount: 0,
  RemountRo: 1,
  Mkdir: 2,
  Symlink: 3,
  Write: 4,
  Touch: 5,
  Pivot: 6,
  Chroot: 7,
  Chdir: 8,
  Umount: 9,
} as const;

export interface PlanOp extends NativeOp {
  /** The equivalent shell command, e.g. `mount -t proc proc /proc`. */
  command: string;
  /** The system call(s) made, e.g. `mount("proc", "/proc", "proc", MS_NOSUID, NULL)`. */
  syscall: string;
}

const MS_NAMES: [number, string][] = [
  [MS_RDONLY, 'MS_RDONLY'],
  [MS_NOSUID, 'MS_NOSUID'],
  [MS_NODEV, 'MS_NODEV'],
  [MS_NOEXEC, 'MS_NOEXEC'],
  [MS_BIND, 'MS_BIND'],
  [MS_REC, 'MS_REC'],
  [MS_PRIVATE, 'MS_PRIVATE'],
  [MS_SLAVE, 'MS_SLAVE'],
  [MS_SHARED, 'MS_SHARED'],
  [MS_UNBINDABLE, 'MS_UNBINDABLE'],
];

export function mountFlagNames(flags: number): string {
  const names = MS_NAMES.filter(([bit]) => flags & bit).map(([, n]) => n);
  return names.length ? names.join('|') : '0';
}

const q = (s: string | undefined) => (s ? JSON.stringify(s) : 'NULL');

/** Mount-time options as `mount -o` spells them. */
function mountOptions(flags: number, data?: string): string {
  const o: string[] = [];
  if (flags & MS_RDONLY) o.push('ro');
  if (flags & MS_NOSUID) o.push('nosuid');
  if (flags & MS_NODEV) o.push('nodev');
  if (flags & MS_NOEXEC) o.push('noexec');
  if (data) o.push(data);
  return o.length ? ` -o ${o.join(',')}` : '';
}

export type Propagation = 'private' | 'slave' | 'shared' | 'unbindable';

const PROPAGATION_FLAG: Record<Propagation, number> = {
  private: MS_PRIVATE,
  slave: MS_SLAVE,
  shared: MS_SHARED,
  unbindable: MS_UNBINDABLE,
};

export const op = {
  /** Change propagation of a mount and everything under it (`mount --make-rprivate /`). */
  propagation(kind: Propagation, target = '/', recursive = true): PlanOp {
    const flags = PROPAGATION_FLAG[kind] | (recursive ? MS_REC : 0);
    return {
      kind: OpKind.Mount,
      b: target,
      flags,
      command: `mount --make-${recursive ? 'r' : ''}${kind} ${target}`,
      syscall: `mount(NULL, ${q(target)}, NULL, ${mountFlagNames(flags)}, NULL)`,
    };
  },

  /** A new filesystem instance: tmpfs, proc, sysfs, mqueue… */
  mount(fstype: string, source: string, target: string, flags = 0, data = ''): PlanOp {
    return {
      kind: OpKind.Mount,
      a: source,
      b: target,
      c: fstype,
      d: data,
      flags,
      command: `mount -t ${fstype}${mountOptions(flags, data)} ${source} ${target}`,
      syscall: `mount(${q(source)}, ${q(target)}, ${q(fstype)}, ${mountFlagNames(flags)}, ${q(data)})`,
    };
  },

  bind(source: string, target: string, recursive = true): PlanOp {
    const flags = MS_BIND | (recursive ? MS_REC : 0);
    return {
      kind: OpKind.Mount,
      a: source,
      b: target,
      flags,
      command: `mount --${recursive ? 'r' : ''}bind ${source} ${target}`,
      syscall: `mount(${q(source)}, ${q(target)}, NULL, ${mountFlagNames(flags)}, NULL)`,
    };
  },

  /** Make a bind mount read-only (keeping the flags the original mount has, adding `flags`: MS_NODEV…). */
  remountReadOnly(target: string, flags = 0): PlanOp {
    const extra = mountOptions(flags).replace(/^ -o /, '');
    return {
      kind: OpKind.RemountRo,
      b: target,
      flags,
      command: `mount -o remount,bind,ro${extra ? `,${extra}` : ''} ${target}`,
      syscall: `mount(NULL, ${q(target)}, NULL, MS_REMOUNT|MS_BIND|MS_RDONLY${flags ? `|${mountFlagNames(flags)}` : ''}, NULL)`,
    };
  },

  mkdir(path: string, mode = 0o755): PlanOp {
    return {
      kind: OpKind.Mkdir,
      b: path,
      flags: mode,
      command: `mkdir -m ${mode.toString(8)} ${path}`,
      syscall: `mkdir(${q(path)}, 0${mode.toString(8)})`,
    };
  },

  symlink(target: string, path: string): PlanOp {
    return {
      kind: OpKind.Symlink,
      a: target,
      b: path,
      command: `ln -s ${target} ${path}`,
      syscall: `symlink(${q(target)}, ${q(path)})`,
    };
  },

  write(path: string, contents: string, mode = 0o644): PlanOp {
    const firstLine = contents.split('\n')[0];
    const shown = contents.includes('\n', firstLine.length + 1) ? `${firstLine}…` : firstLine;
    return {
      kind: OpKind.Write,
      b: path,
      d: contents,
      flags: mode,
      command: `echo '${shown}' > ${path}`,
      syscall: `open(${q(path)}, O_WRONLY|O_CREAT|O_TRUNC) + write(${contents.length} bytes)`,
    };
  },

  /** An empty file, as a target to bind-mount a device node onto. */
  touch(path: string, mode = 0o644): PlanOp {
    return {
      kind: OpKind.Touch,
      b: path,
      flags: mode,
      command: `touch ${path}`,
      syscall: `open(${q(path)}, O_WRONLY|O_CREAT)`,
    };
  },

  /** pivot_root into newRoot and detach the old root, so nothing of the host stays reachable. */
  pivotRoot(newRoot: string): PlanOp {
    return {
      kind: OpKind.Pivot,
      b: newRoot,
      command: `cd ${newRoot} && pivot_root . . && umount -l .`,
      syscall: `chdir(${q(newRoot)}); pivot_root(".", "."); umount2(".", MNT_DETACH); chdir("/")`,
    };
  },

  /** chroot only changes this process's idea of "/": the old root stays mounted (escapable). */
  chroot(dir: string): PlanOp {
    return {
      kind: OpKind.Chroot,
      b: dir,
      command: `chroot ${dir}`,
      syscall: `chdir(${q(dir)}); chroot("."); chdir("/")`,
    };
  },

  chdir(dir: string): PlanOp {
    return { kind: OpKind.Chdir, b: dir, command: `cd ${dir}`, syscall: `chdir(${q(dir)})` };
  },

  umount(target: string, detach = true): PlanOp {
    return {
      kind: OpKind.Umount,
      b: target,
      flags: detach ? MNT_DETACH : 0,
      command: `umount ${detach ? '-l ' : ''}${target}`,
      syscall: `umount2(${q(target)}, ${detach ? 'MNT_DETACH' : '0'})`,
    };
  },
};

/** The plain data the native layer needs (no explain text). */
export function toNative(ops: PlanOp[]): NativeOp[] {
  return ops.map(({ kind, a, b, c, d, flags }) => ({ kind, a, b, c, d, flags }));
}

/** One line of `--explain`: what was done, as a command and as a system call, and its result. */
export interface ExplainStep {
  /** Short label: "cgroup", "clone3", "mount", "pivot_root", "execve"… */
  what: string;
  command: string;
  syscall: string;
  /** What it created or changed, e.g. "PID namespace pid:[4026532801]". */
  result?: string;
}

export function explainFromOp(o: PlanOp): ExplainStep {
  const what = o.kind === OpKind.Pivot ? 'pivot_root' : o.command.split(' ')[0];
  return { what, command: o.command, syscall: o.syscall };
}
