/**
 * Reading a container's kernel objects for container-from-scratch: its namespaces, its root and
 * mounts, its cgroup files, its network links. All from /proc and /sys (no process spawned),
 * so checks and the live table can poll them.
 */
import fs from 'node:fs';

import { cgroups } from '../../runtime/index.js';

export const NS_KINDS = ['pid', 'mnt', 'uts', 'ipc', 'net'] as const;

/** dev:inode of a path (following links), or null. */
export function dirId(p: string): string | null {
  try {
    const st = fs.statSync(p);
    return `${st.dev}:${st.ino}`;
  } catch {
    return null;
  }
}

export function readText(p: string): string | null {
  try {
    return fs.readFileSync(p, 'utf8');
  } catch {
    return null;
  }
}

export function nsLinkOf(pid: number | 'self', ns: string): string | null {
  try {
    return fs.readlinkSync(`/proc/${pid}/ns/${ns}`);
  } catch {
    return null;
  }
}

/** Which of the five kinds are the host's own for `pid` (empty: all new), or null if gone. */
export function sharedWithHost(pid: number): string[] | null {
  const out: string[] = [];
  for (const ns of NS_KINDS) {
    const l = nsLinkOf(pid, ns);
    if (!l) return null;
    if (l === nsLinkOf('self', ns)) out.push(ns);
  }
  return out;
}

export { hostRootMounts } from '../challenge-probes.js';

/** Whether `pid`'s /proc is one of its own PID namespace (its /proc/1 is its namespace's init). */
export function ownProc(pid: number): boolean {
  const mine = nsLinkOf(pid, 'pid');
  try {
    return mine !== null && fs.readlinkSync(`/proc/${pid}/root/proc/1/ns/pid`) === mine;
  } catch {
    return false;
  }
}

/** The interfaces of `pid`'s network namespace (from /proc/PID/net/dev), or null. */
export function interfacesOf(pid: number | 'self'): string[] | null {
  const t = readText(`/proc/${pid}/net/dev`);
  if (t === null) return null;
  return t
    .split('\n')
    .slice(2)
    .map((l) => l.split(':')[0].trim())
    .filter(Boolean);
}

/** The local IPv4 addresses of `pid`'s network namespace (the LOCAL entries of fib_trie). */
export function localAddresses(pid: number | 'self'): string[] {
  const t = readText(`/proc/${pid}/net/fib_trie`);
  if (!t) return [];
  const out = new Set<string>();
  const lines = t.split('\n');
  for (let i = 1; i < lines.length; i++) {
    if (/\/32 host LOCAL/.test(lines[i])) {
      const m = /\|--\s+(\d+\.\d+\.\d+\.\d+)/.exec(lines[i - 1]);
      if (m) out.add(m[1]);
    }
  }
  return [...out];
}

/** A counter of /proc/PID/net/snmp ("Icmp", "InEchoReps"), or null. */
export function snmpCounter(pid: number, group: string, field: string): number | null {
  const t = readText(`/proc/${pid}/net/snmp`);
  if (!t) return null;
  const rows = t.split('\n').filter((l) => l.startsWith(`${group}:`));
  if (rows.length < 2) return null;
  const names = rows[0].split(/\s+/).slice(1);
  const values = rows[1].split(/\s+/).slice(1);
  const i = names.indexOf(field);
  return i < 0 ? null : Number(values[i]);
}

/**
 * The cgroup directory of `pid` for `controller`, read from /proc/PID/cgroup (v1: the hierarchy
 * whose line lists the controller; v2: the one "0::" line). What `cat /proc/PID/cgroup` shows.
 */
export function cgroupPathOf(pid: number, controller: string): { rel: string; dir: string } | null {
  const t = readText(`/proc/${pid}/cgroup`);
  if (!t) return null;
  for (const line of t.split('\n')) {
    const [, ctrls, rel] = /^\d+:([^:]*):(.*)$/.exec(line) ?? [];
    if (rel === undefined) continue;
    if (cgroups().version === 2) {
      if (ctrls === '') return { rel, dir: `/sys/fs/cgroup${rel === '/' ? '' : rel}` };
    } else if (ctrls.split(',').includes(controller)) {
      return { rel, dir: `/sys/fs/cgroup/${ctrls}${rel === '/' ? '' : rel}` };
    }
  }
  return null;
}

/** The file names of this host's cgroup version for the three limits the lesson writes. */
export function limitFiles(): { cpu: [string, string]; memory: [string, string]; pids: [string, string] } {
  return cgroups().version === 2
    ? { cpu: ['cpu', 'cpu.weight'], memory: ['memory', 'memory.max'], pids: ['pids', 'pids.max'] }
    : { cpu: ['cpu', 'cpu.shares'], memory: ['memory', 'memory.limit_in_bytes'], pids: ['pids', 'pids.max'] };
}

/** The first line of a cgroup file of `pid` for `controller`, or null. */
export function cgroupValue(pid: number, controller: string, file: string): { path: string; value: string | null } | null {
  const cg = cgroupPathOf(pid, controller);
  if (!cg) return null;
  return { path: `${cg.dir}/${file}`, value: readText(`${cg.dir}/${file}`)?.trim() ?? null };
}
