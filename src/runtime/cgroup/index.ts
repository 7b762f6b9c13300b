/**
 * cgroups: one interface, two kernels. The layout is read with statfs on /sys/fs/cgroup:
 * cgroup2 magic → unified (v2); a tmpfs with a cgroup2 `unified` mount → hybrid (controllers on
 * v1); otherwise v1. Every sandbox gets a cgroup named after it, `sandbox/<name>`, in each
 * hierarchy it uses; nothing outside `sandbox/` is ever created, changed or removed. On a pure v2
 * host booted by systemd the parent is not `sandbox/` but the unit systemd delegates to sandbox,
 * `system.slice/sandbox.service/<name>` (systemd.ts): `dirs()`, `parents()` and `where()` give
 * the real paths, whatever the layout.
 */
import fs from 'node:fs';

import { echo, usageError } from '../errors.js';
import { CGROUP2_SUPER_MAGIC } from '../linux.js';
import type { Limits } from './limits.js';
import { initPath } from '../native.js';
import { CGROUP_PARENT } from './files.js';
import { CgroupV2Systemd, SUPERVISOR, systemdBooted } from './systemd.js';
import { CgroupV1 } from './v1.js';
import { CgroupV2 } from './v2.js';

export * from './limits.js';
export { readProcs } from './files.js';

export type CgroupLayout = 'v1' | 'hybrid' | 'v2';

/** The parent cgroup of every sandbox where sandbox makes it itself (no systemd). */
export { CGROUP_PARENT } from './files.js';

/** A kernel file written to apply a limit: what the lesson shows ("cpu.shares = 768"). */
export interface LimitWrite {
  /** The limit as the learner named it: cpu-weight, cpu-quota, cpus, memory, memory-high, pids. */
  limit: keyof Limits;
  file: string;
  path: string;
  value: string;
  /** How the value was derived, when it is not the value given. */
  note?: string;
}

export interface CgroupUsage {
  /** Total CPU time used by the group, in microseconds. */
  cpuUsec: number | null;
  memoryBytes: number | null;
  /** null = no limit. */
  memoryLimit: number | null;
  memoryPeak: number | null;
  /** Times the group hit its memory limit (v1 memory.failcnt, v2 memory.events "max"). */
  memoryFailures: number | null;
  oomKills: number | null;
  /** v2 memory.high in bytes (null = max); absent on v1, which has no such file. */
  memoryHigh?: number | null;
  /** Times the group went over memory.high and was throttled (v2 memory.events "high"); absent on v1. */
  memoryHighEvents?: number | null;
  pidsCurrent: number | null;
  /** null = no limit. */
  pidsMax: number | null;
  /** fork()/clone() calls refused because pids.max was reached (pids.events "max"). */
  pidsRefused: number | null;
  /** CFS periods in which a CPU quota stopped the group (cpu.stat nr_throttled); absent on drivers that do not read it. */
  cpuThrottled?: number | null;
  /** Bytes the group read and wrote on block devices (v1 blkio.throttle.io_service_bytes_recursive, v2 io.stat rbytes/wbytes). */
  ioReadBytes?: number | null;
  ioWriteBytes?: number | null;
}

export interface CgroupDriver {
  readonly layout: CgroupLayout;
  readonly version: 1 | 2;
  /** Controllers available for sandboxes: cpu, cpuacct, cpuset, memory, pids, freezer (v1) … */
  readonly controllers: string[];
  /** Every directory that makes up the sandbox's cgroup (one per hierarchy on v1). */
  dirs(name: string): string[];
  /** A readable "where": `/sys/fs/cgroup/*\/sandbox/NAME` or `/sys/fs/cgroup/sandbox/NAME`. */
  describe(name: string): string;
  /** The key procSnapshot needs to find a process's cgroup path ("" = the v2 line). */
  readonly procKey: string;
  exists(name: string): boolean;
  create(name: string): string[];
  setLimits(name: string, limits: Limits): LimitWrite[];
  /** The files that would be written, without writing them. */
  planLimits(name: string, limits: Limits): LimitWrite[];
  attach(name: string, pid: number): void;
  procs(name: string): number[];
  usage(name: string): CgroupUsage;
  /** Kills every process in the group and waits until it is empty; returns how many were killed. */
  kill(name: string): number;
  /** The step-by-step of kill(), for lessons: the files it writes. */
  killMethod(): string;
  /** Removes the group (bottom-up, retrying EBUSY briefly) and the empty parent. */
  remove(name: string): string[];
  /** Names of every sandbox cgroup on the host. */
  list(): string[];
  /** The directories that hold the sandboxes' cgroups (one per hierarchy on v1). */
  parents(): string[];
  /** Where sandboxes' cgroups live on this host and who made that place, for doctor and top. */
  where(): string;
  /** The sandbox a cgroup path belongs to, as /proc/PID/cgroup shows it (`/sandbox/NAME/…`), or null. */
  sandboxOf(cgroupPath: string): string | null;
  /**
   * For `sandbox cleanup`: removes an empty parent left behind (the empty `sandbox/`), and with
   * `stopUnit` stops the systemd unit that holds the parent when no sandbox is in it. Returns what
   * it removed or stopped, as lines for the report.
   */
  tidy(options?: { stopUnit?: boolean }): { cgroups: string[]; units: string[] };
  /** The systemd unit that holds the sandboxes' cgroups (systemd hosts), absent where sandbox makes its own parent. */
  readonly unit?: string;
}

export function detectLayout(root = '/sys/fs/cgroup'): CgroupLayout {
  try {
    if (fs.statfsSync(root).type === CGROUP2_SUPER_MAGIC) return 'v2';
  } catch {
    return 'v1';
  }
  try {
    if (fs.statfsSync(`${root}/unified`).type === CGROUP2_SUPER_MAGIC) return 'hybrid';
  } catch {
    /* no unified mount */
  }
  return 'v1';
}

let cached: CgroupDriver | undefined;

/**
 * The driver for this host's cgroup layout: v1 and hybrid hierarchies as they are; pure v2 under
 * `sandbox/` where nothing else manages the tree, or inside a unit systemd delegates to sandbox
 * when systemd is PID 1 (systemd.ts).
 */
export function cgroups(): CgroupDriver {
  if (!cached) {
    const layout = detectLayout();
    if (layout !== 'v2') cached = new CgroupV1(layout);
    else if (systemdBooted()) cached = new CgroupV2Systemd({ pauseCommand: () => [initPath(), '--error-fd', '2', '--status-fd', '2'] });
    else cached = new CgroupV2();
  }
  return cached;
}

/** Tests: use this driver from now on (a systemd one over a recording unit manager…); null detects again. */
export function setCgroupDriver(driver: CgroupDriver | null): void {
  cached = driver ?? undefined;
}

/** Valid sandbox names: they become cgroup, directory and netns names. */
export const NAME_RE = /^[a-z0-9][a-z0-9_.-]{0,31}$/;

/**
 * Directories of /run/sandbox that belong to no sandbox. A sandbox's files live in
 * /run/sandbox/<name>, so a sandbox named "ledger" would own the ledger's directory, and removing
 * it would remove every other session's entries (and the next sweep their live sandboxes). These
 * names are refused, and sweep() never removes these directories. A new internal directory of
 * /run/sandbox must be added here.
 */
export const INTERNAL_DIRS: readonly string[] = ['ledger', 'cpu-claims'];

/**
 * Cgroups of sandbox's own beside the sandboxes' (systemd.ts: the unit's `supervisor` leaf): a
 * sandbox so named would share it, and destroying the sandbox would kill the supervisor.
 */
export const INTERNAL_CGROUPS: readonly string[] = [SUPERVISOR];

/**
 * Files the kernel puts in every cgroup directory (`cgroup.procs`, `cpu.max`, `tasks`…): a sandbox
 * so named would be a file of the parent cgroup, not a cgroup of its own.
 */
const CGROUP_FILE_RE =
  /^(cgroup|cpu|cpuacct|cpuset|memory|pids|io|blkio|freezer|devices|net_cls|net_prio|perf_event|hugetlb|rdma|misc)\.|^(tasks|notify_on_release|release_agent)$/;

/** Why `name` cannot name a sandbox or workspace (what is wrong, what to do), or null if it can. */
export function nameProblem(name: string, what = 'sandbox name'): { message: string; hint: string } | null {
  if (!NAME_RE.test(name)) {
    return {
      message: `"${echo(name)}" is not a valid ${what}`,
      hint: 'use 1–32 lowercase letters, digits, "-", "_" or ".", starting with a letter or digit',
    };
  }
  if (INTERNAL_DIRS.includes(name)) {
    return {
      message: `"${name}" is reserved: /run/sandbox/${name} is sandbox's own directory, not a sandbox's`,
      hint: `choose another name; reserved: ${[...INTERNAL_DIRS, ...INTERNAL_CGROUPS].join(', ')}`,
    };
  }
  if (INTERNAL_CGROUPS.includes(name)) {
    return {
      message: `"${name}" is reserved: it is the name of sandbox's own cgroup beside the sandboxes'`,
      hint: `choose another name; reserved: ${[...INTERNAL_DIRS, ...INTERNAL_CGROUPS].join(', ')}`,
    };
  }
  if (CGROUP_FILE_RE.test(name)) {
    return {
      message: `"${name}" is reserved: it is the name of a cgroup file (${CGROUP_PARENT}/${name} would be a kernel file, not a cgroup)`,
      hint: 'choose a name that does not start with a controller name and a dot (cgroup., cpu., memory.…)',
    };
  }
  return null;
}

/** Throws a usage error if `name` cannot name a sandbox (see nameProblem). */
export function checkName(name: string, what = 'sandbox name'): void {
  const p = nameProblem(name, what);
  if (p) throw usageError(p.message, p.hint, 'E_USAGE');
}
