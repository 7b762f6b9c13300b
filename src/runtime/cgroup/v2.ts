/**
 * cgroup v2 (unified): one hierarchy at /sys/fs/cgroup. Where nothing else manages the tree (no
 * systemd: CI's guest, containers) a sandbox named NAME is /sys/fs/cgroup/sandbox/NAME, and
 * sandbox itself enables the controllers it uses in the root's and `sandbox/`'s
 * cgroup.subtree_control (a controller reaches a cgroup only when every ancestor lists it there).
 * With systemd as PID 1 the parent is a unit systemd delegates to sandbox instead (systemd.ts):
 * the same shape, another base, and nothing written above it.
 */
import fs from 'node:fs';

import { usageError, wrapSystemError } from '../errors.js';
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
import { burstProblem, CPU_PERIOD_US, IO_KEYS, type Limits, noBurstFile, percentToUs } from './limits.js';

/** Bytes read and written, summed over devices, from io.stat's "MAJ:MIN rbytes=N wbytes=N …" lines. */
export function readIoStat(file: string): { read: number; write: number } | null {
  const t = readText(file);
  if (t === null) return null;
  let read = 0;
  let write = 0;
  for (const m of t.matchAll(/\b([rw])bytes=(\d+)/g)) {
    if (m[1] === 'r') read += Number(m[2]);
    else write += Number(m[2]);
  }
  return { read, write };
}

const WANTED = ['cpu', 'cpuset', 'memory', 'pids', 'io'];
/**
 * Controllers a sandbox can do without (io: only disk limits and the disk lessons use it): left
 * out, not fought for, where the parent does not offer them (a systemd unit that is delegated
 * cpu, memory and pids but not io). Asking for an io limit there says the controller is missing.
 */
const OPTIONAL = ['io'];

/**
 * How often create() tries again when a controller vanished from a parent's subtree_control (or
 * the parent itself was removed by another session), and the pause before each new try:
 * 5, 10, 20 … 200 ms, about 1.3 s in all.
 */
export const CREATE_ATTEMPTS = 12;
export function retryPause(attempt: number): number {
  return Math.min(200, 5 * 2 ** attempt);
}

/** The controller whose `+name` write failed, on the error that enableControllers threw. */
interface EnableFailure {
  controller?: string;
  dir?: string;
}

function errCode(err: unknown): string | undefined {
  return (err as { code?: string } | null)?.code;
}

export class CgroupV2 implements CgroupDriver {
  readonly version = 2 as const;
  readonly layout: CgroupLayout = 'v2';
  readonly procKey = '';
  readonly controllers: string[];
  /** OPTIONAL controllers the parent turned out not to offer (see enableControllers). */
  protected readonly dropped = new Set<string>();
  protected readonly root: string;
  /** The directory that holds every sandbox's cgroup. */
  protected readonly parent: string;

  constructor(root = '/sys/fs/cgroup', parent = `${root}/${CGROUP_PARENT}`) {
    this.root = root;
    this.parent = parent;
    const available = (readText(`${root}/cgroup.controllers`) ?? '').trim().split(/\s+/);
    this.controllers = WANTED.filter((c) => available.includes(c));
  }

  parents(): string[] {
    return [this.parent];
  }

  where(): string {
    return `${this.parent} (made by sandbox at first need, removed when empty)`;
  }

  sandboxOf(cgroupPath: string): string | null {
    const rel = this.parent.slice(this.root.length);
    if (!cgroupPath.startsWith(`${rel}/`)) return null;
    const name = cgroupPath.slice(rel.length + 1).split('/')[0];
    return name && this.isSandboxName(name) ? name : null;
  }

  /** A child of the parent that is a sandbox's (the systemd layout keeps its own process in one that is not). */
  protected isSandboxName(name: string): boolean {
    return name.length > 0;
  }

  protected dir(name: string): string {
    return `${this.parent}/${name}`;
  }

  dirs(name: string): string[] {
    return [this.dir(name)];
  }

  describe(name: string): string {
    return this.dir(name);
  }

  exists(name: string): boolean {
    return fs.existsSync(this.dir(name));
  }

  /**
   * Enables every controller sandboxes use for the children of each of `dirs`, top-down: a
   * controller can be enabled in a cgroup only while its parent enables it. The writes go back
   * to back through descriptors opened beforehand, because another writer of the top cgroup's
   * subtree_control (a service manager re-applying its own settings) may take a controller back
   * between two of them, and the fewer instructions between them, the rarer that is; once the
   * last cgroup enables it, the one above cannot drop it (EBUSY). One write per cgroup: the kernel
   * checks every `+name` first and enables all or none; names already enabled are no-ops.
   */
  protected enableControllers(dirs: string[]): void {
    const offered = readText(`${dirs[0]}/cgroup.controllers`)?.trim().split(/\s+/);
    if (offered) for (const c of OPTIONAL) if (this.controllers.includes(c) && !offered.includes(c)) this.dropped.add(c);
    const using = this.controllers.filter((c) => !this.dropped.has(c));
    if (using.length === 0) return;
    const line = using.map((c) => `+${c}`).join(' ');
    const fds: number[] = [];
    let failed = -1;
    try {
      for (const d of dirs) fds.push(fs.openSync(`${d}/cgroup.subtree_control`, 'w'));
      for (let quick = 0; ; quick++) {
        try {
          for (failed = 0; failed < fds.length; failed++) fs.writeSync(fds[failed], line);
          return;
        } catch (err) {
          if (errCode(err) !== 'ENOENT' || quick >= 2) throw err;
        }
      }
    } catch (err) {
      const dir = dirs[failed < 0 ? fds.length : failed] ?? dirs[0];
      // ENOENT: a controller the cgroup does not offer (its parent stopped enabling it), or the
      // cgroup itself is gone (another session removed the empty parent).
      const has = readText(`${dir}/cgroup.controllers`)?.trim().split(/\s+/);
      const controller = has ? using.find((c) => !has.includes(c)) : undefined;
      const file = `${dir}/cgroup.subtree_control`;
      const what = controller ? `enabling the ${controller} controller in ${file}` : `enabling ${this.controllers.join(', ')} in ${file}`;
      throw Object.assign(wrapSystemError(err, { what, step: 'cgroup', path: file }), { controller, dir } satisfies EnableFailure);
    } finally {
      for (const fd of fds) fs.closeSync(fd);
    }
  }

  /**
   * Makes the parent exist with every controller sandboxes use enabled for its children. Here
   * sandbox is the only writer of the tree: it enables them in the root, then in `sandbox/`.
   */
  protected prepareParent(): void {
    ensureDir(this.parent);
    this.enableControllers([this.root, this.parent]);
  }

  /**
   * Creates the sandbox's cgroup. Two things can undo a step between the parent's preparation and
   * the mkdir: another session removes the empty parent when its last sandbox goes (ENOENT), and
   * another program that manages the root's subtree_control takes a controller back (the next
   * `+controller` write below it fails with ENOENT). Both are retried after a pause, starting
   * again from the top, which re-enables the controller. Once `sandbox/` has a controller in its
   * own subtree_control the root cannot drop it (EBUSY), so a cgroup that was made keeps its
   * limits. If it still fails, the empty parent is not left behind and the error says why.
   */
  create(name: string): string[] {
    const dir = this.dir(name);
    const t0 = performance.now();
    let last: unknown;
    for (let attempt = 0; attempt < CREATE_ATTEMPTS; attempt++) {
      if (attempt > 0) sleepSync(retryPause(attempt - 1));
      try {
        this.prepareParent();
        return ensureDir(dir) ? [dir] : [];
      } catch (err) {
        last = err;
        if (errCode(err) !== 'ENOENT' && errCode(err) !== 'EBUSY') break;
      }
    }
    this.removeEmptyParent();
    throw this.createError(name, last, Math.round(performance.now() - t0));
  }

  /** The error create() gives up with: which controller kept disappearing, and where. */
  protected createError(name: string, err: unknown, ms: number): unknown {
    const failure = err as (EnableFailure & { code?: string; hint?: string; message?: string }) | null;
    if (!failure?.controller || failure.code !== 'ENOENT') return err;
    // `+c` fails in a cgroup whose own cgroup.controllers lacks c: its parent no longer enables it.
    const dir = failure.dir ?? this.root;
    const upper = dir === this.root ? this.root : dir.slice(0, dir.lastIndexOf('/'));
    failure.message =
      `creating the cgroup of sandbox ${name}: the ${failure.controller} controller kept disappearing from ` +
      `${upper}/cgroup.subtree_control (${CREATE_ATTEMPTS} tries over ${ms} ms); ${failure.message}`;
    failure.hint = this.vanishedHint(failure.controller, upper);
    return failure;
  }

  protected vanishedHint(controller: string, upper: string): string {
    return (
      `another program manages ${upper} and takes "${controller}" back (a service manager, or a loop writing -${controller}); ` +
      `check ${upper}/cgroup.subtree_control, stop that program or loop, and run the command again`
    );
  }

  /** Removes the parent if no sandbox is in it; true if it did. */
  protected removeEmptyParent(): boolean {
    try {
      fs.rmdirSync(this.parent);
      return true;
    } catch {
      return false; // other sandboxes still live there, or it is already gone
    }
  }

  tidy(_options: { stopUnit?: boolean } = {}): { cgroups: string[]; units: string[] } {
    const removed = fs.existsSync(this.parent) && this.list().length === 0 && this.removeEmptyParent();
    return { cgroups: removed ? [this.parent] : [], units: [] };
  }

  private need(controller: string, limit: string): void {
    if (!this.controllers.includes(controller) || this.dropped.has(controller)) throw missingController(controller, limit, 'v2');
  }

  planLimits(name: string, limits: Limits): LimitWrite[] {
    const d = this.dir(name);
    const w: LimitWrite[] = [];
    if (limits.cpuWeight !== undefined) {
      this.need('cpu', '--cpu-weight');
      w.push({ limit: 'cpuWeight', file: 'cpu.weight', path: `${d}/cpu.weight`, value: String(limits.cpuWeight) });
    }
    const quotaAt = w.length;
    if (limits.cpuQuota !== undefined) {
      this.need('cpu', '--cpu-quota');
      const quota = Math.round((limits.cpuQuota * CPU_PERIOD_US) / 100);
      // The kernel refuses a quota below the burst already set (EINVAL): said here instead.
      const burst = limits.cpuBurst === undefined ? (readNumber(`${d}/cpu.max.burst`) ?? 0) : 0;
      if (burst > quota) {
        throw usageError(
          `--cpu-quota ${limits.cpuQuota}: below the burst ${name} has (${burst} µs in cpu.max.burst)`,
          `the kernel refuses a quota below the burst: lower it in the same command, e.g. cpu-quota=${limits.cpuQuota} cpu-burst=0`,
          'E_LIMIT',
        );
      }
      w.push({
        limit: 'cpuQuota',
        file: 'cpu.max',
        path: `${d}/cpu.max`,
        value: `${quota} ${CPU_PERIOD_US}`,
        note: `${limits.cpuQuota}% of one CPU = ${quota} µs of CPU time every ${CPU_PERIOD_US} µs`,
      });
    }
    if (limits.cpuBurst !== undefined) {
      this.need('cpu', '--cpu-burst');
      if (fs.existsSync(d) && !fs.existsSync(`${d}/cpu.max.burst`)) throw noBurstFile('cpu.max.burst');
      const [held, period] = (readText(`${d}/cpu.max`) ?? 'max').trim().split(' ');
      const quota = limits.cpuQuota ?? (held === 'max' || !period ? null : (Number(held) / Number(period)) * 100);
      const problem = burstProblem(limits.cpuBurst, quota);
      if (problem) throw problem;
      const us = percentToUs(limits.cpuBurst);
      const write: LimitWrite = {
        limit: 'cpuBurst',
        file: 'cpu.max.burst',
        path: `${d}/cpu.max.burst`,
        value: String(us),
        note: `${limits.cpuBurst}% of one CPU = up to ${us} µs more in a ${CPU_PERIOD_US} µs period, from quota left unused before`,
      };
      // Burst ≤ quota at every moment: a burst above the new quota goes down before the quota does.
      const before = limits.cpuQuota !== undefined && (readNumber(`${d}/cpu.max.burst`) ?? 0) > percentToUs(limits.cpuQuota);
      if (before) w.splice(quotaAt, 0, write);
      else w.push(write);
    }
    if (limits.cpus !== undefined) {
      this.need('cpuset', '--cpus');
      w.push({ limit: 'cpus', file: 'cpuset.cpus', path: `${d}/cpuset.cpus`, value: limits.cpus });
    }
    if (limits.memory !== undefined) {
      this.need('memory', '--memory');
      w.push({ limit: 'memory', file: 'memory.max', path: `${d}/memory.max`, value: String(limits.memory) });
      if (fs.existsSync(`${d}/memory.swap.max`)) {
        w.push({
          limit: 'memory',
          file: 'memory.swap.max',
          path: `${d}/memory.swap.max`,
          value: '0',
          note: 'no swap, so the sandbox cannot escape its limit into swap',
        });
      }
    }
    if (limits.memoryHigh !== undefined) {
      this.need('memory', '--memory-high');
      w.push({
        limit: 'memoryHigh',
        file: 'memory.high',
        path: `${d}/memory.high`,
        value: String(limits.memoryHigh),
        note: 'above it the kernel reclaims and slows the group down (memory.events "high"); no OOM kill',
      });
    }
    if (limits.pids !== undefined) {
      this.need('pids', '--pids');
      w.push({ limit: 'pids', file: 'pids.max', path: `${d}/pids.max`, value: String(limits.pids) });
    }
    for (const io of limits.io ?? []) {
      this.need('io', '--io-wbps');
      // One line per device; keys not named keep their value, "max" removes one.
      const keys = IO_KEYS.filter((k) => io[k] !== undefined).map((k) => `${k}=${io[k]}`);
      if (keys.length) w.push({ limit: 'io', file: 'io.max', path: `${d}/io.max`, value: `${io.device} ${keys.join(' ')}` });
    }
    if (limits.ioWeight !== undefined) {
      this.need('io', '--io-weight');
      // BFQ's own weight where the device uses BFQ, else blk-iocost's io.weight (same 1–1000 scale fits both).
      // Planned before the cgroup exists too (create): then its parent, which has the same files, tells.
      const probe = [d, this.parent].find((x) => fs.existsSync(x));
      const file = probe ? ['io.bfq.weight', 'io.weight'].find((f) => fs.existsSync(`${probe}/${f}`)) : 'io.bfq.weight';
      if (!file) throw noIoWeight(`${d}/io.weight`);
      w.push({ limit: 'ioWeight', file, path: `${d}/${file}`, value: String(limits.ioWeight) });
    }
    return w;
  }

  setLimits(name: string, limits: Limits): LimitWrite[] {
    return applyWrites(this.planLimits(name, limits));
  }

  attach(name: string, pid: number): void {
    writeCgroupFile(`${this.dir(name)}/cgroup.procs`, String(pid));
  }

  procs(name: string): number[] {
    return readProcs(this.dir(name));
  }

  usage(name: string): CgroupUsage {
    const d = this.dir(name);
    const max = readText(`${d}/memory.max`)?.trim();
    const high = readText(`${d}/memory.high`)?.trim();
    const pidsMax = readText(`${d}/pids.max`)?.trim();
    const events = readKeyed(`${d}/memory.events`);
    const has = (c: string) => this.controllers.includes(c) && !this.dropped.has(c);
    const cpuStat = readKeyed(`${d}/cpu.stat`);
    return {
      cpuUsec: cpuStat.usage_usec ?? null,
      memoryBytes: has('memory') ? readNumber(`${d}/memory.current`) : null,
      memoryLimit: max === undefined || max === 'max' ? null : Number(max),
      memoryPeak: has('memory') ? readNumber(`${d}/memory.peak`) : null,
      memoryFailures: has('memory') ? (events.max ?? null) : null,
      oomKills: has('memory') ? (events.oom_kill ?? null) : null,
      memoryHigh: high === undefined || high === 'max' ? null : Number(high),
      memoryHighEvents: has('memory') ? (events.high ?? null) : null,
      pidsCurrent: has('pids') ? readNumber(`${d}/pids.current`) : null,
      pidsMax: pidsMax === undefined || pidsMax === 'max' ? null : Number(pidsMax),
      pidsRefused: has('pids') ? (readKeyed(`${d}/pids.events`).max ?? null) : null,
      cpuThrottled: has('cpu') ? (cpuStat.nr_throttled ?? null) : null,
      ...(() => {
        const io = has('io') ? readIoStat(`${d}/io.stat`) : null;
        return { ioReadBytes: io?.read ?? null, ioWriteBytes: io?.write ?? null };
      })(),
    };
  }

  killMethod(): string {
    // cgroup.kill exists in every non-root cgroup since Linux 5.14; older kernels freeze and kill.
    const probe = fs.existsSync(this.parent) ? `${this.parent}/cgroup.kill` : null;
    return probe === null || fs.existsSync(probe)
      ? 'cgroup.kill = 1 (the kernel kills every process in the group at once)'
      : 'cgroup.freeze = 1, SIGKILL every pid in cgroup.procs, cgroup.freeze = 0';
  }

  /**
   * Lifts every disk throttle of the group (io.max back to max). A task waiting for a throttled
   * bio sleeps uninterruptibly (D) until the throttle lets the bio through, and SIGKILL (and
   * cgroup.kill) waits with it: at wbps=4 a 256 KiB write takes 18 hours. Lifted, the queued bios
   * go out at once and the kill proceeds.
   */
  private liftIoThrottles(d: string): void {
    for (const line of (readText(`${d}/io.max`) ?? '').split('\n')) {
      const m = /^(\d{1,10}:\d{1,10}) /.exec(line);
      if (!m) continue;
      try {
        writeCgroupFile(`${d}/io.max`, `${m[1]} rbps=max wbps=max riops=max wiops=max`);
      } catch {
        /* the device went away */
      }
    }
  }

  kill(name: string): number {
    const d = this.dir(name);
    const before = readProcs(d);
    if (before.length === 0) return 0;
    this.liftIoThrottles(d);
    if (fs.existsSync(`${d}/cgroup.kill`)) {
      writeCgroupFile(`${d}/cgroup.kill`, '1');
    } else {
      writeCgroupFile(`${d}/cgroup.freeze`, '1');
      for (let i = 0; i < 200 && readKeyed(`${d}/cgroup.events`).frozen !== 1; i++) sleepSync(5);
      for (const pid of readProcs(d)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
      writeCgroupFile(`${d}/cgroup.freeze`, '0');
    }
    // Every 1 ms for the first 100 ms (a kill is timed by the fork-bomb lesson), then every 10 ms.
    for (let i = 0; i < 290 && readKeyed(`${d}/cgroup.events`).populated === 1; i++) sleepSync(i < 100 ? 1 : 10);
    return before.length;
  }

  remove(name: string): string[] {
    const removed = rmdirRetry(this.dir(name)) ? [this.dir(name)] : [];
    this.removeEmptyParent();
    return removed;
  }

  list(): string[] {
    try {
      return fs
        .readdirSync(this.parent, { withFileTypes: true })
        .filter((e) => e.isDirectory() && this.isSandboxName(e.name))
        .map((e) => e.name)
        .sort();
    } catch {
      return [];
    }
  }
}
