/**
 * cgroup v2 (unified): one hierarchy at /sys/fs/cgroup. A sandbox named NAME is
 * /sys/fs/cgroup/sandbox/NAME. Controllers reach it only when every ancestor lists them in
 * cgroup.subtree_control, so the root and `sandbox/` enable the ones sandboxes use.
 */
import fs from 'node:fs';

import { wrapSystemError } from '../errors.js';
import type { CgroupDriver, CgroupLayout, CgroupUsage, LimitWrite } from './index.js';
import { CGROUP_PARENT } from './index.js';
import {
  ensureDir,
  missingController,
  readKeyed,
  readNumber,
  readProcs,
  readText,
  rmdirRetry,
  sleepSync,
  applyWrites,
  writeCgroupFile,
} from './files.js';
import { CPU_PERIOD_US, type Limits } from './limits.js';

const WANTED = ['cpu', 'cpuset', 'memory', 'pids'];

export class CgroupV2 implements CgroupDriver {
  readonly version = 2 as const;
  readonly layout: CgroupLayout = 'v2';
  readonly procKey = '';
  readonly controllers: string[];
  private readonly root: string;
  private readonly parent: string;

  constructor(root = '/sys/fs/cgroup') {
    this.root = root;
    this.parent = `${root}/${CGROUP_PARENT}`;
    const available = (readText(`${root}/cgroup.controllers`) ?? '').trim().split(/\s+/);
    this.controllers = WANTED.filter((c) => available.includes(c));
  }

  private dir(name: string): string {
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

  /** Adds the controllers sandboxes use to a cgroup's subtree_control, leaving the others alone. */
  private enableControllers(dir: string): void {
    const enabled = (readText(`${dir}/cgroup.subtree_control`) ?? '').trim().split(/\s+/);
    for (const c of this.controllers) {
      if (enabled.includes(c)) continue;
      try {
        fs.writeFileSync(`${dir}/cgroup.subtree_control`, `+${c}`);
      } catch (err) {
        throw wrapSystemError(err, {
          what: `enabling the ${c} controller in ${dir}/cgroup.subtree_control`,
          step: 'cgroup',
          path: `${dir}/cgroup.subtree_control`,
        });
      }
    }
  }

  create(name: string): string[] {
    const dir = this.dir(name);
    for (let attempt = 0; ; attempt++) {
      try {
        this.enableControllers(this.root);
        ensureDir(this.parent);
        this.enableControllers(this.parent);
        return ensureDir(dir) ? [dir] : [];
      } catch (err) {
        // Another session removes the parent when its last sandbox goes: if that happened
        // between two of these steps, start again.
        if ((err as { code?: string }).code !== 'ENOENT' || attempt > 4) throw err;
      }
    }
  }

  private need(controller: string, limit: string): void {
    if (!this.controllers.includes(controller)) throw missingController(controller, limit, 'v2');
  }

  planLimits(name: string, limits: Limits): LimitWrite[] {
    const d = this.dir(name);
    const w: LimitWrite[] = [];
    if (limits.cpuWeight !== undefined) {
      this.need('cpu', '--cpu-weight');
      w.push({ limit: 'cpuWeight', file: 'cpu.weight', path: `${d}/cpu.weight`, value: String(limits.cpuWeight) });
    }
    if (limits.cpuQuota !== undefined) {
      this.need('cpu', '--cpu-quota');
      const quota = Math.round((limits.cpuQuota * CPU_PERIOD_US) / 100);
      w.push({
        limit: 'cpuQuota',
        file: 'cpu.max',
        path: `${d}/cpu.max`,
        value: `${quota} ${CPU_PERIOD_US}`,
        note: `${limits.cpuQuota}% of one CPU = ${quota} µs of CPU time every ${CPU_PERIOD_US} µs`,
      });
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
    if (limits.pids !== undefined) {
      this.need('pids', '--pids');
      w.push({ limit: 'pids', file: 'pids.max', path: `${d}/pids.max`, value: String(limits.pids) });
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
    const pidsMax = readText(`${d}/pids.max`)?.trim();
    const events = readKeyed(`${d}/memory.events`);
    const has = (c: string) => this.controllers.includes(c);
    const cpuStat = readKeyed(`${d}/cpu.stat`);
    return {
      cpuUsec: cpuStat.usage_usec ?? null,
      memoryBytes: has('memory') ? readNumber(`${d}/memory.current`) : null,
      memoryLimit: max === undefined || max === 'max' ? null : Number(max),
      memoryPeak: has('memory') ? readNumber(`${d}/memory.peak`) : null,
      memoryFailures: has('memory') ? (events.max ?? null) : null,
      oomKills: has('memory') ? (events.oom_kill ?? null) : null,
      pidsCurrent: has('pids') ? readNumber(`${d}/pids.current`) : null,
      pidsMax: pidsMax === undefined || pidsMax === 'max' ? null : Number(pidsMax),
      pidsRefused: has('pids') ? (readKeyed(`${d}/pids.events`).max ?? null) : null,
      cpuThrottled: has('cpu') ? (cpuStat.nr_throttled ?? null) : null,
    };
  }

  killMethod(): string {
    // cgroup.kill exists in every non-root cgroup since Linux 5.14; older kernels freeze and kill.
    const probe = fs.existsSync(this.parent) ? `${this.parent}/cgroup.kill` : null;
    return probe === null || fs.existsSync(probe)
      ? 'cgroup.kill = 1 (the kernel kills every process in the group at once)'
      : 'cgroup.freeze = 1, SIGKILL every pid in cgroup.procs, cgroup.freeze = 0';
  }

  kill(name: string): number {
    const d = this.dir(name);
    const before = readProcs(d);
    if (before.length === 0) return 0;
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
    try {
      fs.rmdirSync(this.parent);
    } catch {
      /* other sandboxes still live there, or it is already gone */
    }
    return removed;
  }

  list(): string[] {
    try {
      return fs
        .readdirSync(this.parent, { withFileTypes: true })
        .filter((e) => e.isDirectory())
        .map((e) => e.name)
        .sort();
    } catch {
      return [];
    }
  }
}
