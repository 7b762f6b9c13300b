/**
 * Reading the kernel for challenges: the learner's processes (those in the bench's cgroup), a
 * sandbox's cgroup directory for one controller (v1: one hierarchy per controller; v2: one), and
 * what a process's own mount namespace shows under /proc/PID/root.
 */
import fs from 'node:fs';
import path from 'node:path';

import { cgroups, mountInfo } from '../runtime/index.js';
import type { LessonContext } from './context.js';

/** Host PIDs of every process the challenge shell (and anything it started) runs as. */
export function benchPids(ctx: LessonContext): number[] {
  const bench = ctx.get('bench');
  return bench ? bench.pids() : [];
}

/**
 * The cgroup directory of sandbox `key` for `controller` (cpu, memory, pids, cpuset…): on v1 the
 * hierarchy whose mount name lists the controller (`cpu,cpuacct`), on v2 the one directory.
 */
export function cgroupDirOf(ctx: LessonContext, key: string, controller: string): string | null {
  const s = ctx.get(key);
  if (!s) return null;
  const dirs = cgroups().dirs(s.name);
  if (cgroups().version === 2) return dirs[0] ?? null;
  return (
    dirs.find((d) => {
      const rel = path.relative('/sys/fs/cgroup', d).split('/')[0];
      return rel.split(',').includes(controller);
    }) ?? null
  );
}

/** A file as the process `pid` sees it in its own mount namespace (/proc/PID/root/…), or null. */
export function readAs(pid: number, file: string): string | null {
  try {
    return fs.readFileSync(`/proc/${pid}/root${file}`, 'utf8');
  } catch {
    return null;
  }
}

/** The namespace link of `pid` (`pid:[4026531836]`), or null. */
export function nsOf(pid: number, ns: string): string | null {
  try {
    return fs.readlinkSync(`/proc/${pid}/ns/${ns}`);
  } catch {
    return null;
  }
}

/**
 * Mounts of the host's root filesystem in `pid`'s mount table (what an escape could climb to),
 * or null when it cannot be read. The kernel lists only the mounts reachable from the process's
 * root: after pivot_root and a lazy unmount of the old root, none.
 */
export function hostRootMounts(pid: number): string[] | null {
  const hostRoot = mountInfo('self').find((m) => m.mountPoint === '/');
  try {
    return mountInfo(pid)
      .filter((m) => m.dev === hostRoot?.dev && m.root === '/')
      .map((m) => m.mountPoint);
  } catch {
    return null;
  }
}

/** A cgroup file holding one integer (bounded: at most 19 digits), or null ("max", unreadable). */
export function readInt(file: string): number | null {
  try {
    const t = fs.readFileSync(file, 'utf8').trim();
    return /^\d{1,19}$/.test(t) ? Number(t) : null;
  } catch {
    return null;
  }
}

/** The PIDs in a cgroup directory's cgroup.procs (none when it is gone or unreadable). */
export function procsOf(dir: string | null): number[] {
  try {
    return dir ? fs.readFileSync(`${dir}/cgroup.procs`, 'utf8').split('\n').filter((l) => /^\d{1,10}$/.test(l)).map(Number) : [];
  } catch {
    return [];
  }
}
