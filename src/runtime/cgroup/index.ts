/**
 * cgroups: one interface, two kernels. The layout is read with statfs on /sys/fs/cgroup:
 * cgroup2 magic → unified (v2); a tmpfs with a cgroup2 `unified` mount → hybrid (controllers on
 * v1); otherwise v1. Every sandbox gets a cgroup named after it, `sandbox/<name>`, in each
 * hierarchy it uses; nothing outside `sandbox/` is ever created, changed or removed.
 */
import fs from 'node:fs';

import { CGROUP2_SUPER_MAGIC } from '../linux.js';
import type { Limits } from './limits.js';
import { CgroupV1 } from './v1.js';
import { CgroupV2 } from './v2.js';

export * from './limits.js';
export { readProcs } from './files.js';

export type CgroupLayout = 'v1' | 'hybrid' | 'v2';

/** The parent cgroup of every sandbox. */
export const CGROUP_PARENT = 'sandbox';

/** A kernel file written to apply a limit: what the lesson shows ("cpu.shares = 768"). */
export interface LimitWrite {
  /** The limit as the learner named it: cpu-weight, cpu-quota, cpus, memory, pids. */
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
  pidsCurrent: number | null;
  /** null = no limit. */
  pidsMax: number | null;
  /** fork()/clone() calls refused because pids.max was reached (pids.events "max"). */
  pidsRefused: number | null;
  /** CFS periods in which a CPU quota stopped the group (cpu.stat nr_throttled); absent on drivers that do not read it. */
  cpuThrottled?: number | null;
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

/** The driver for this host's cgroup layout. */
export function cgroups(): CgroupDriver {
  if (!cached) {
    const layout = detectLayout();
    cached = layout === 'v2' ? new CgroupV2() : new CgroupV1(layout);
  }
  return cached;
}

/** Valid sandbox names: they become cgroup, directory and netns names. */
export const NAME_RE = /^[a-z0-9][a-z0-9_.-]{0,31}$/;
