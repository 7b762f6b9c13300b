/**
 * cgroup v1 (and hybrid hosts, whose controllers are all on v1): one hierarchy per controller,
 * each mounted at /sys/fs/cgroup/<controller>. A sandbox named NAME is the directory
 * `sandbox/NAME` in every hierarchy it uses.
 */
import fs from 'node:fs';

import type { CgroupDriver, CgroupLayout, CgroupUsage, LimitWrite } from './index.js';
import {
  CGROUP_PARENT,
  ensureDir,
  missingController,
  noIoWeight,
  readKeyed,
  readNumber,
  readProcs,
  readText,
  rmdirRetry,
  sleepSync,
  applyWrites,
  writeCgroupFile,
} from './files.js';
import { usageError, type SandboxError } from '../errors.js';
import { burstProblem, CPU_PERIOD_US, IO_KEYS, type Limits, noBurstFile, percentToUs, weightToShares } from './limits.js';

/** v1 file of each throttle: blkio.throttle.{read,write}_{bps,iops}_device. */
const V1_IO_FILE = { rbps: 'read_bps_device', wbps: 'write_bps_device', riops: 'read_iops_device', wiops: 'write_iops_device' } as const;

/** Bytes read and written, summed over devices, from blkio's "MAJ:MIN Read N" lines. */
export function readServiceBytes(file: string): { read: number; write: number } | null {
  const t = readText(file);
  if (t === null) return null;
  let read = 0;
  let write = 0;
  for (const line of t.split('\n')) {
    const [dev, op, v] = line.trim().split(/\s+/);
    if (!dev?.includes(':') || !Number.isFinite(Number(v))) continue;
    if (op === 'Read') read += Number(v);
    else if (op === 'Write') write += Number(v);
  }
  return { read, write };
}

const WANTED = ['cpu', 'cpuacct', 'cpuset', 'memory', 'pids', 'freezer', 'blkio'];
/** memory.limit_in_bytes reads back as this (page-rounded LONG_MAX) when there is no limit. */
const V1_UNLIMITED = 2 ** 62;

/** controller → mount point, from /proc/self/mountinfo (controllers may share a hierarchy). */
function v1Mounts(): Map<string, string> {
  const out = new Map<string, string>();
  const text = readText('/proc/self/mountinfo') ?? '';
  for (const line of text.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const [fstype, , superOpts] = line.slice(sep + 3).split(' ');
    if (fstype !== 'cgroup') continue;
    const mountPoint = line.slice(0, sep).split(' ')[4];
    for (const opt of superOpts.split(',')) {
      if (WANTED.includes(opt) && !out.has(opt)) out.set(opt, mountPoint);
    }
  }
  return out;
}

/**
 * v1 has no memory.high: nothing in it slows a group down before its limit. Its nearest file,
 * memory.soft_limit_in_bytes, is only a hint for reclaim when the whole host runs short; it
 * throttles nothing, so accepting --memory-high as it would promise what v1 cannot do.
 */
export function noMemoryHigh(): SandboxError {
  return usageError(
    '--memory-high needs cgroup v2 (memory.high): cgroup v1 has no memory throttle',
    'v1 offers the hard limit (--memory: memory.limit_in_bytes, with memory.failcnt counting the hits) and ' +
      'memory.soft_limit_in_bytes, a reclaim hint used only when the whole host runs short of memory, not a throttle; ' +
      'use --memory here, or a host booted with cgroup v2 (systemd.unified_cgroup_hierarchy=1)',
    'E_LIMIT',
  );
}

export class CgroupV1 implements CgroupDriver {
  readonly version = 1 as const;
  readonly layout: CgroupLayout;
  readonly controllers: string[];
  readonly procKey: string;
  private readonly mounts: Map<string, string>;

  constructor(layout: CgroupLayout) {
    this.layout = layout;
    this.mounts = v1Mounts();
    this.controllers = WANTED.filter((c) => this.mounts.has(c));
    this.procKey = ['pids', 'freezer', 'memory', 'cpu'].find((c) => this.mounts.has(c)) ?? 'pids';
  }

  /** One mount point per hierarchy (co-mounted controllers share one). */
  private hierarchies(): string[] {
    return [...new Set(this.controllers.map((c) => this.mounts.get(c)!))];
  }

  private dir(controller: string, name: string): string | null {
    const m = this.mounts.get(controller);
    return m ? `${m}/${CGROUP_PARENT}/${name}` : null;
  }

  private need(controller: string, limit: string, name: string): string {
    const d = this.dir(controller, name);
    if (!d) throw missingController(controller, limit, this.layout);
    return d;
  }

  dirs(name: string): string[] {
    return this.hierarchies().map((m) => `${m}/${CGROUP_PARENT}/${name}`);
  }

  describe(name: string): string {
    return `/sys/fs/cgroup/{${this.controllers.join(',')}}/${CGROUP_PARENT}/${name}`;
  }

  exists(name: string): boolean {
    return this.dirs(name).some((d) => fs.existsSync(d));
  }

  parents(): string[] {
    return this.hierarchies().map((m) => `${m}/${CGROUP_PARENT}`);
  }

  where(): string {
    return `/sys/fs/cgroup/{${this.controllers.join(',')}}/${CGROUP_PARENT} (made by sandbox at first need, removed when empty)`;
  }

  sandboxOf(cgroupPath: string): string | null {
    const prefix = `/${CGROUP_PARENT}/`;
    return cgroupPath.startsWith(prefix) ? cgroupPath.slice(prefix.length).split('/')[0] || null : null;
  }

  tidy(): { cgroups: string[]; units: string[] } {
    const removed: string[] = [];
    for (const parent of this.parents()) {
      let children: string[];
      try {
        children = fs.readdirSync(parent, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
      } catch {
        continue;
      }
      if (children.length > 0) continue;
      try {
        fs.rmdirSync(parent);
        removed.push(parent);
      } catch {
        /* a sandbox appeared meanwhile */
      }
    }
    return { cgroups: removed, units: [] };
  }

  create(name: string): string[] {
    try {
      return this.createIn(name);
    } catch (err) {
      // No empty `sandbox/` is left in a hierarchy where the failure stopped us (the caller's
      // undo removes the sandbox's own directories in the others, and their parents with them).
      this.tidy();
      throw err;
    }
  }

  private createIn(name: string): string[] {
    const created: string[] = [];
    for (const mount of this.hierarchies()) {
      const parent = `${mount}/${CGROUP_PARENT}`;
      const dir = `${parent}/${name}`;
      // Another session removes the parent when its last sandbox goes: if that happened between
      // two of these steps, start again. A path that is gone is ENOENT; a file of a directory the
      // kernel is removing at that very moment answers a write with ENODEV (seen in the CLI fuzz
      // test: `writing "0-1" to …/cpuset/sandbox/cpuset.cpus: ENODEV`).
      for (let attempt = 0; ; attempt++) {
        try {
          ensureDir(parent);
          if (mount === this.mounts.get('cpuset')) this.inheritCpuset(parent, mount);
          if (ensureDir(dir)) created.push(dir);
          // A new v1 cpuset group has no CPUs and no memory nodes: a process cannot join it
          // (ENOSPC) until both are set. Start with everything the parent has.
          if (mount === this.mounts.get('cpuset')) this.inheritCpuset(dir, parent);
          break;
        } catch (err) {
          const code = (err as { code?: string }).code;
          if ((code !== 'ENOENT' && code !== 'ENODEV') || attempt > 4) throw err;
        }
      }
    }
    return created;
  }

  private inheritCpuset(dir: string, from: string): void {
    for (const f of ['cpuset.cpus', 'cpuset.mems']) {
      if ((readText(`${dir}/${f}`) ?? '').trim() === '') writeCgroupFile(`${dir}/${f}`, (readText(`${from}/${f}`) ?? '').trim());
    }
  }

  planLimits(name: string, limits: Limits): LimitWrite[] {
    const w: LimitWrite[] = [];
    if (limits.cpuWeight !== undefined) {
      const d = this.need('cpu', '--cpu-weight', name);
      const shares = weightToShares(limits.cpuWeight);
      w.push({
        limit: 'cpuWeight',
        file: 'cpu.shares',
        path: `${d}/cpu.shares`,
        value: String(shares),
        note: `weight ${limits.cpuWeight} on the v2 scale (default 100) = ${shares} cpu.shares on v1 (default 1024)`,
      });
    }
    const quotaAt = w.length;
    if (limits.cpuQuota !== undefined) {
      const d = this.need('cpu', '--cpu-quota', name);
      const quota = Math.round((limits.cpuQuota * CPU_PERIOD_US) / 100);
      // The kernel refuses a quota below the burst already set (EINVAL): said here instead.
      const burst = limits.cpuBurst === undefined ? (readNumber(`${d}/cpu.cfs_burst_us`) ?? 0) : 0;
      if (burst > quota) {
        throw usageError(
          `--cpu-quota ${limits.cpuQuota}: below the burst ${name} has (${burst} µs in cpu.cfs_burst_us)`,
          `the kernel refuses a quota below the burst: lower it in the same command, e.g. cpu-quota=${limits.cpuQuota} cpu-burst=0`,
          'E_LIMIT',
        );
      }
      w.push(
        { limit: 'cpuQuota', file: 'cpu.cfs_period_us', path: `${d}/cpu.cfs_period_us`, value: String(CPU_PERIOD_US) },
        {
          limit: 'cpuQuota',
          file: 'cpu.cfs_quota_us',
          path: `${d}/cpu.cfs_quota_us`,
          value: String(quota),
          note: `${limits.cpuQuota}% of one CPU = ${quota} µs of CPU time every ${CPU_PERIOD_US} µs`,
        },
      );
    }
    if (limits.cpuBurst !== undefined) {
      const d = this.need('cpu', '--cpu-burst', name);
      if (fs.existsSync(d) && !fs.existsSync(`${d}/cpu.cfs_burst_us`)) throw noBurstFile('cpu.cfs_burst_us');
      const held = readNumber(`${d}/cpu.cfs_quota_us`);
      const quota = limits.cpuQuota ?? (held === null || held < 0 ? null : (held / (readNumber(`${d}/cpu.cfs_period_us`) ?? CPU_PERIOD_US)) * 100);
      const problem = burstProblem(limits.cpuBurst, quota);
      if (problem) throw problem;
      const us = percentToUs(limits.cpuBurst);
      const write: LimitWrite = {
        limit: 'cpuBurst',
        file: 'cpu.cfs_burst_us',
        path: `${d}/cpu.cfs_burst_us`,
        value: String(us),
        note: `${limits.cpuBurst}% of one CPU = up to ${us} µs more in a ${CPU_PERIOD_US} µs period, from quota left unused before`,
      };
      // Burst ≤ quota at every moment: a burst above the new quota goes down before the quota does.
      const before = limits.cpuQuota !== undefined && (readNumber(`${d}/cpu.cfs_burst_us`) ?? 0) > percentToUs(limits.cpuQuota);
      if (before) w.splice(quotaAt, 0, write);
      else w.push(write);
    }
    if (limits.cpus !== undefined) {
      const d = this.need('cpuset', '--cpus', name);
      w.push({ limit: 'cpus', file: 'cpuset.cpus', path: `${d}/cpuset.cpus`, value: limits.cpus });
    }
    if (limits.memory !== undefined) {
      const d = this.need('memory', '--memory', name);
      const limit = { limit: 'memory' as const, file: 'memory.limit_in_bytes', path: `${d}/memory.limit_in_bytes`, value: String(limits.memory) };
      if (fs.existsSync(`${d}/memory.memsw.limit_in_bytes`)) {
        // memsw (memory + swap) must stay >= the memory limit at every moment, so the order of
        // the two writes depends on whether the limit goes up or down.
        const memsw = {
          limit: 'memory' as const,
          file: 'memory.memsw.limit_in_bytes',
          path: `${d}/memory.memsw.limit_in_bytes`,
          value: String(limits.memory),
          note: 'memory + swap: the same limit, so the sandbox cannot escape to swap',
        };
        const current = readNumber(memsw.path) ?? 0;
        w.push(...(limits.memory > current ? [memsw, limit] : [limit, memsw]));
      } else {
        w.push(limit);
      }
    }
    if (limits.memoryHigh !== undefined) throw noMemoryHigh();
    if (limits.pids !== undefined) {
      const d = this.need('pids', '--pids', name);
      w.push({ limit: 'pids', file: 'pids.max', path: `${d}/pids.max`, value: String(limits.pids) });
    }
    for (const io of limits.io ?? []) {
      const d = this.need('blkio', '--io-wbps', name);
      for (const key of IO_KEYS) {
        const v = io[key];
        if (v === undefined) continue;
        const file = `blkio.throttle.${V1_IO_FILE[key]}`;
        w.push({
          limit: 'io',
          file,
          path: `${d}/${file}`,
          value: `${io.device} ${v === 'max' ? 0 : v}`,
          note: v === 'max' ? `0 removes the throttle on ${io.device} (v1 reads 0 as "no limit")` : undefined,
        });
      }
    }
    if (limits.ioWeight !== undefined) {
      const d = this.need('blkio', '--io-weight', name);
      const path = `${d}/blkio.bfq.weight`;
      // Planned before the cgroup exists too (create): then its parent, which has the same files, tells.
      const probe = [d, d.slice(0, d.lastIndexOf('/'))].find((x) => fs.existsSync(x));
      if (probe && !fs.existsSync(`${probe}/blkio.bfq.weight`)) throw noIoWeight(path);
      w.push({ limit: 'ioWeight', file: 'blkio.bfq.weight', path, value: String(limits.ioWeight) });
    }
    return w;
  }

  setLimits(name: string, limits: Limits): LimitWrite[] {
    return applyWrites(this.planLimits(name, limits));
  }

  attach(name: string, pid: number): void {
    for (const d of this.dirs(name)) writeCgroupFile(`${d}/cgroup.procs`, String(pid));
  }

  procs(name: string): number[] {
    const d = this.dir(this.procKey, name);
    return d ? readProcs(d) : [];
  }

  usage(name: string): CgroupUsage {
    const cpuacct = this.dir('cpuacct', name);
    const cpu = this.dir('cpu', name);
    const mem = this.dir('memory', name);
    const pids = this.dir('pids', name);
    const blkio = this.dir('blkio', name);
    // The throttle layer counts every bio the group submits, throttled or not, on every device.
    const io = blkio ? readServiceBytes(`${blkio}/blkio.throttle.io_service_bytes_recursive`) : null;
    const ns = cpuacct ? readNumber(`${cpuacct}/cpuacct.usage`) : null;
    const limit = mem ? readNumber(`${mem}/memory.limit_in_bytes`) : null;
    const pidsMax = pids ? readText(`${pids}/pids.max`)?.trim() : undefined;
    return {
      cpuUsec: ns === null ? null : Math.round(ns / 1000),
      memoryBytes: mem ? readNumber(`${mem}/memory.usage_in_bytes`) : null,
      memoryLimit: limit === null || limit >= V1_UNLIMITED ? null : limit,
      memoryPeak: mem ? readNumber(`${mem}/memory.max_usage_in_bytes`) : null,
      // With memory+swap limited too, the kernel charges memsw first and counts hits there.
      memoryFailures: mem ? (readNumber(`${mem}/memory.failcnt`) ?? 0) + (readNumber(`${mem}/memory.memsw.failcnt`) ?? 0) : null,
      oomKills: mem ? (readKeyed(`${mem}/memory.oom_control`).oom_kill ?? null) : null,
      pidsCurrent: pids ? readNumber(`${pids}/pids.current`) : null,
      pidsMax: pidsMax === undefined || pidsMax === 'max' ? null : Number(pidsMax),
      pidsRefused: pids ? (readKeyed(`${pids}/pids.events`).max ?? null) : null,
      cpuThrottled: cpu ? (readKeyed(`${cpu}/cpu.stat`).nr_throttled ?? null) : null,
      ioReadBytes: io?.read ?? null,
      ioWriteBytes: io?.write ?? null,
    };
  }

  killMethod(): string {
    return this.mounts.has('freezer')
      ? 'freezer.state = FROZEN, SIGKILL every pid in cgroup.procs, freezer.state = THAWED'
      : 'SIGKILL every pid in cgroup.procs (no freezer: repeated until empty)';
  }

  /**
   * Lifts every disk throttle of the group (writes "MAJ:MIN 0"). A task waiting for a throttled
   * bio sleeps uninterruptibly (D) until the throttle lets the bio through, and SIGKILL waits with
   * it: under a throttle typed as "4M" (read as 4 bytes/s) a 256 KiB write takes 18 hours. Lifted,
   * the queued bios go out at once and the kill proceeds.
   */
  private liftIoThrottles(name: string): void {
    const d = this.dir('blkio', name);
    if (!d) return;
    for (const f of Object.values(V1_IO_FILE)) {
      const file = `${d}/blkio.throttle.${f}`;
      for (const line of (readText(file) ?? '').split('\n')) {
        const m = /^(\d{1,10}:\d{1,10}) \d+$/.exec(line.trim());
        if (!m) continue;
        try {
          writeCgroupFile(file, `${m[1]} 0`);
        } catch {
          /* the device went away */
        }
      }
    }
  }

  kill(name: string): number {
    if (this.dirs(name).every((d) => readProcs(d).length === 0)) return 0;
    this.liftIoThrottles(name);
    // Freeze first: a frozen process cannot fork, so a fork bomb cannot outrun the kill loop,
    // and a frozen pid cannot exit and be reused by an unrelated process before we signal it.
    const fz = this.dir('freezer', name);
    const frozen = fz !== null && fs.existsSync(fz);
    if (frozen) {
      writeCgroupFile(`${fz}/freezer.state`, 'FROZEN');
      // Polled every millisecond (up to 1 s): a kill is timed by the fork-bomb lesson and benchmark.
      for (let i = 0; i < 1000 && readText(`${fz}/freezer.state`)?.trim() !== 'FROZEN'; i++) sleepSync(1);
    }
    const killed = new Set<number>();
    const t0 = performance.now();
    for (let round = 0; round < 50 || performance.now() - t0 < 500; round++) {
      const pids = new Set<number>();
      for (const d of this.dirs(name)) for (const p of readProcs(d)) pids.add(p);
      if (pids.size === 0) break;
      for (const pid of pids) {
        if (killed.has(pid) && !frozen) continue;
        try {
          process.kill(pid, 'SIGKILL');
          killed.add(pid);
        } catch {
          /* already gone */
        }
      }
      if (frozen && round === 0) writeCgroupFile(`${fz}/freezer.state`, 'THAWED');
      // Killed processes leave the group within milliseconds: look every 1 ms for the first
      // 100 ms, then every 10 ms (about half a second in all, as before).
      sleepSync(performance.now() - t0 < 100 ? 1 : 10);
    }
    if (frozen && readText(`${fz}/freezer.state`)?.trim() !== 'THAWED') writeCgroupFile(`${fz}/freezer.state`, 'THAWED');
    return killed.size;
  }

  remove(name: string): string[] {
    const removed: string[] = [];
    for (const d of this.dirs(name)) if (rmdirRetry(d)) removed.push(d);
    for (const m of this.hierarchies()) {
      try {
        fs.rmdirSync(`${m}/${CGROUP_PARENT}`);
      } catch {
        /* other sandboxes still live there, or it is already gone */
      }
    }
    return removed;
  }

  list(): string[] {
    const names = new Set<string>();
    for (const m of this.hierarchies()) {
      try {
        for (const e of fs.readdirSync(`${m}/${CGROUP_PARENT}`, { withFileTypes: true })) if (e.isDirectory()) names.add(e.name);
      } catch {
        /* no parent yet */
      }
    }
    return [...names].sort();
  }
}
