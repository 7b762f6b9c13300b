/**
 * The monitor: samples sandboxes' cgroups at a steady rate and keeps a short history of each
 * (CPU time, memory, pids), from which it derives what the live views draw: CPU % of one CPU
 * (the cpuUsec delta over the wall-clock delta), each sandbox's share of the CPU time a group of
 * them used, and the idle time of host CPUs. It only reads kernel files; it never changes
 * anything. Lessons, `sandbox top` and the benchmarks use it; so do checks, through measureCpu(),
 * which reads the same files over a window of its own.
 */
import fs from 'node:fs';

import { cgroups, type CgroupUsage } from './cgroup/index.js';

export interface MonitorSample {
  /** performance.now() when the files were read (ms, monotonic). */
  t: number;
  usage: CgroupUsage;
  /** CPU used since the previous sample, in % of one CPU; null for the first sample. */
  cpuPercent: number | null;
}

export interface CpuTimes {
  cpu: number;
  /** Clock ticks (USER_HZ) spent idle (idle + iowait) since boot. */
  idle: number;
  /** Clock ticks of every kind since boot. */
  total: number;
}

export interface HostCpuSample {
  t: number;
  times: CpuTimes;
  /** Idle time since the previous sample, in % of that CPU; null for the first sample. */
  idlePercent: number | null;
}

export interface MonitorOptions {
  /** Sandboxes to sample: a fixed list, or a function asked at every tick (e.g. every cgroup on the host). */
  names: readonly string[] | (() => readonly string[]);
  /** Default 200 ms (5 Hz, the rate lesson views refresh at). */
  intervalMs?: number;
  /** Samples kept per sandbox. Default 300: a minute at 5 Hz. */
  history?: number;
  /** Host CPUs whose idle time to sample as well (from /proc/stat). */
  hostCpus?: readonly number[];
  /** Reads one sandbox's usage. Default: the cgroup driver (a seam for tests). */
  read?: (name: string) => CgroupUsage | null;
  /** Called after every tick. */
  onSample?: (monitor: Monitor) => void;
}

/** CPU used between two readings, in % of one CPU (100 = one core busy all the time). */
export function cpuPercentBetween(a: { t: number; usage: CgroupUsage }, b: { t: number; usage: CgroupUsage }): number | null {
  if (a.usage.cpuUsec === null || b.usage.cpuUsec === null || b.t <= a.t) return null;
  const usedUs = b.usage.cpuUsec - a.usage.cpuUsec;
  if (usedUs < 0) return null; // the cgroup was re-created under the same name
  return (usedUs / ((b.t - a.t) * 1000)) * 100;
}

/** Per-CPU times from /proc/stat ("cpuN user nice system idle iowait irq softirq steal …"). */
export function cpuTimes(text = fs.readFileSync('/proc/stat', 'utf8')): CpuTimes[] {
  const out: CpuTimes[] = [];
  for (const line of text.split('\n')) {
    const m = /^cpu(\d+)\s+(.*)$/.exec(line);
    if (!m) continue;
    // guest and guest_nice (fields 9 and 10) are already counted in user and nice.
    const f = m[2].trim().split(/\s+/).map(Number).slice(0, 8);
    out.push({ cpu: Number(m[1]), idle: f[3] + (f[4] ?? 0), total: f.reduce((s, x) => s + x, 0) });
  }
  return out;
}

/** Idle % of each CPU between two cpuTimes() readings. */
export function idleBetween(a: CpuTimes[], b: CpuTimes[]): Map<number, number> {
  const out = new Map<number, number>();
  for (const y of b) {
    const x = a.find((c) => c.cpu === y.cpu);
    if (!x || y.total <= x.total) continue;
    out.set(y.cpu, ((y.idle - x.idle) / (y.total - x.total)) * 100);
  }
  return out;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The least busy of `candidates` over a short window (the most idle time in /proc/stat). Where
 * other work shares the machine, a demonstration pinned to one CPU goes on the quietest one.
 */
export async function quietestCpu(candidates: readonly number[], windowMs = 300): Promise<number> {
  if (candidates.length <= 1) return candidates[0] ?? 0;
  const a = cpuTimes();
  await sleep(windowMs);
  const idle = idleBetween(a, cpuTimes());
  return [...candidates].sort((x, y) => (idle.get(y) ?? 0) - (idle.get(x) ?? 0))[0];
}

export interface CpuMeasurement {
  names: string[];
  /** Wall-clock length of the window. */
  windowMs: number;
  /** CPU time each sandbox used in the window, in µs (cpuacct.usage on v1, cpu.stat usage_usec on v2). */
  usec: number[];
  /** Each one's CPU time over the wall time, in % of one CPU. */
  percentOfCpu: number[];
  /** Each one's part of the CPU time they used together, in % (sums to 100; all 0 if none ran). */
  shares: number[];
  /** The files read, for a check's probe line. */
  files: string[];
  /** Idle % of `hostCpu` over the same window, when asked for. */
  hostCpuIdle?: number;
}

export interface MeasureOptions {
  /** Also measure how idle this host CPU was (from /proc/stat). */
  hostCpu?: number;
  /** Reads a sandbox's usage. Default: the cgroup driver. */
  read?: (name: string) => CgroupUsage | null;
}

function cpuFileOf(name: string): string {
  const cg = cgroups();
  return cg.version === 2 ? `${cg.dirs(name)[0]}/cpu.stat (usage_usec)` : (cgroupFile(name, 'cpuacct.usage') ?? `cpuacct.usage of ${name}`);
}

/**
 * Reads the CPU time of each sandbox at the start and the end of a window and returns what each
 * used: the measurement checks and benchmarks rely on (no history, nothing shared with a view).
 */
export async function measureCpu(names: readonly string[], windowMs: number, options: MeasureOptions = {}): Promise<CpuMeasurement> {
  const read = options.read ?? ((n: string) => cgroups().usage(n));
  const host0 = options.hostCpu === undefined ? null : cpuTimes();
  const before = names.map((n) => read(n)?.cpuUsec ?? null);
  const t0 = performance.now();
  await sleep(windowMs);
  const after = names.map((n) => read(n)?.cpuUsec ?? null);
  const wallUs = (performance.now() - t0) * 1000;
  const idle = host0 ? idleBetween(host0, cpuTimes()).get(options.hostCpu!) : undefined;
  const usec = names.map((_, i) => (before[i] === null || after[i] === null ? 0 : Math.max(0, after[i]! - before[i]!)));
  const sum = usec.reduce((s, x) => s + x, 0);
  return {
    names: [...names],
    windowMs: wallUs / 1000,
    usec,
    percentOfCpu: usec.map((u) => (u / wallUs) * 100),
    shares: usec.map((u) => (sum > 0 ? (u / sum) * 100 : 0)),
    files: names.map(cpuFileOf),
    ...(idle === undefined ? {} : { hostCpuIdle: idle }),
  };
}

/**
 * The path of one of a sandbox's cgroup files, in whichever hierarchy holds it on this host
 * (v1: `/sys/fs/cgroup/cpu/sandbox/NAME/cpu.shares`, v2: `/sys/fs/cgroup/sandbox/NAME/cpu.weight`);
 * null if no hierarchy of the sandbox has it.
 */
export function cgroupFile(name: string, file: string): string | null {
  for (const d of cgroups().dirs(name)) if (fs.existsSync(`${d}/${file}`)) return `${d}/${file}`;
  return null;
}

export class Monitor {
  private readonly options: Required<Omit<MonitorOptions, 'onSample' | 'hostCpus'>> & Pick<MonitorOptions, 'onSample' | 'hostCpus'>;
  private readonly history = new Map<string, MonitorSample[]>();
  private readonly host = new Map<number, HostCpuSample[]>();
  private timer: NodeJS.Timeout | null = null;

  constructor(options: MonitorOptions) {
    this.options = {
      intervalMs: 200,
      history: 300,
      // A removed cgroup reads as all nulls: no sample rather than an empty one.
      read: (n) => (cgroups().exists(n) ? cgroups().usage(n) : null),
      ...options,
    };
  }

  get intervalMs(): number {
    return this.options.intervalMs;
  }

  get running(): boolean {
    return this.timer !== null;
  }

  /** Takes one sample of every sandbox now (also what each tick does). */
  sampleNow(): void {
    const names = typeof this.options.names === 'function' ? this.options.names() : this.options.names;
    for (const name of names) {
      let usage: CgroupUsage | null = null;
      try {
        usage = this.options.read(name);
      } catch {
        usage = null;
      }
      const t = performance.now();
      if (!usage) continue;
      const list = this.history.get(name) ?? [];
      const prev = list.at(-1);
      list.push({ t, usage, cpuPercent: prev ? cpuPercentBetween(prev, { t, usage }) : null });
      if (list.length > this.options.history) list.splice(0, list.length - this.options.history);
      this.history.set(name, list);
    }
    // Sandboxes that are gone keep their history until forgotten, so a chart can show their end.
    if (this.options.hostCpus?.length) {
      const t = performance.now();
      const all = cpuTimes();
      for (const cpu of this.options.hostCpus) {
        const times = all.find((c) => c.cpu === cpu);
        if (!times) continue;
        const list = this.host.get(cpu) ?? [];
        const prev = list.at(-1);
        const idlePercent = prev && times.total > prev.times.total ? ((times.idle - prev.times.idle) / (times.total - prev.times.total)) * 100 : null;
        list.push({ t, times, idlePercent });
        if (list.length > this.options.history) list.splice(0, list.length - this.options.history);
        this.host.set(cpu, list);
      }
    }
    this.options.onSample?.(this);
  }

  /** Samples now and then every intervalMs until stop(). The timer does not keep Node alive. */
  start(): this {
    if (this.timer) return this;
    this.sampleNow();
    this.timer = setInterval(() => this.sampleNow(), this.options.intervalMs);
    this.timer.unref();
    return this;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Sandboxes with a history, in the order first seen. */
  names(): string[] {
    return [...this.history.keys()];
  }

  samples(name: string): readonly MonitorSample[] {
    return this.history.get(name) ?? [];
  }

  latest(name: string): MonitorSample | undefined {
    return this.history.get(name)?.at(-1);
  }

  forget(name: string): void {
    this.history.delete(name);
  }

  /** Drops every sample (e.g. when a demonstration starts its next phase). */
  clear(): void {
    this.history.clear();
    this.host.clear();
  }

  /** The sample at least `windowMs` before the last one (or the oldest), for trailing windows. */
  private windowStart(list: readonly MonitorSample[], end: number, windowMs: number): number {
    let i = end - 1;
    while (i > 0 && list[end].t - list[i].t < windowMs) i--;
    return i;
  }

  /** CPU % of one CPU over the last `windowMs`; null without two samples. */
  cpuPercent(name: string, windowMs = 1000): number | null {
    const list = this.samples(name);
    if (list.length < 2) return null;
    const end = list.length - 1;
    return cpuPercentBetween(list[this.windowStart(list, end, windowMs)], list[end]);
  }

  /**
   * CPU % of one CPU at every sample, oldest first: over each sample interval (windowMs 0, the raw
   * series) or over a trailing window of `windowMs`, which smooths a chart.
   */
  cpuSeries(name: string, windowMs = 0): number[] {
    const list = this.samples(name);
    if (windowMs <= 0) return list.map((s) => s.cpuPercent).filter((v): v is number => v !== null);
    const out: number[] = [];
    for (let end = 1; end < list.length; end++) {
      const v = cpuPercentBetween(list[this.windowStart(list, end, windowMs)], list[end]);
      if (v !== null) out.push(v);
    }
    return out;
  }

  /**
   * Each sandbox's share (in %) of the CPU time all of `names` used, over a trailing window of
   * `windowMs` at every sample: the series that converges on the weights' ratio. The sandboxes
   * are sampled on the same ticks, so sample i of each covers the same moment.
   */
  shareSeries(names: readonly string[], windowMs = 1000): number[][] {
    const lists = names.map((n) => this.samples(n));
    const len = Math.min(...lists.map((l) => l.length));
    const out: number[][] = names.map(() => []);
    if (!Number.isFinite(len) || len < 2) return out;
    // Align on the newest samples (a sandbox added later has a shorter history).
    const aligned = lists.map((l) => l.slice(l.length - len));
    for (let end = 1; end < len; end++) {
      const start = this.windowStart(aligned[0], end, windowMs);
      const used = aligned.map((l) => Math.max(0, (l[end].usage.cpuUsec ?? 0) - (l[start].usage.cpuUsec ?? 0)));
      const sum = used.reduce((s, x) => s + x, 0);
      if (sum <= 0) continue;
      used.forEach((u, i) => out[i].push((u / sum) * 100));
    }
    return out;
  }

  /** The latest trailing-window share of each of `names` (see shareSeries), or null. */
  shares(names: readonly string[], windowMs = 1000): number[] | null {
    const series = this.shareSeries(names, windowMs);
    return series.every((s) => s.length) ? series.map((s) => s.at(-1)!) : null;
  }

  /** Idle % of a host CPU per sample interval (needs `hostCpus`). */
  idleSeries(cpu: number): number[] {
    return (this.host.get(cpu) ?? []).map((s) => s.idlePercent).filter((v): v is number => v !== null);
  }

  /** Idle % of a host CPU over the last `windowMs`. */
  idlePercent(cpu: number, windowMs = 1000): number | null {
    const list = this.host.get(cpu) ?? [];
    if (list.length < 2) return null;
    const end = list.length - 1;
    let i = end - 1;
    while (i > 0 && list[end].t - list[i].t < windowMs) i--;
    const a = list[i].times;
    const b = list[end].times;
    return b.total > a.total ? ((b.idle - a.idle) / (b.total - a.total)) * 100 : null;
  }
}
