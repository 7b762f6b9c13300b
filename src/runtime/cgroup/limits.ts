/**
 * Resource limits as the learner gives them, checked before anything is written: the kernel
 * accepts some values and silently changes them (memory.limit_in_bytes=1k becomes 0, which
 * kills every process at once), and others fail later with an errno that explains nothing.
 */
import fs from 'node:fs';
import os from 'node:os';

import { echo, type SandboxError, usageError } from '../errors.js';

export interface Limits {
  /** Relative CPU share, on the cgroup v2 scale: 1–10000, default 100 (v1: cpu.shares = weight × 1024 / 100). */
  cpuWeight?: number;
  /** Hard CPU cap in percent of one CPU (50 = half a core, 200 = two cores). */
  cpuQuota?: number;
  /**
   * Burst credits on top of the quota, in percent of one CPU per period like cpuQuota (20 = up to
   * 20 ms more in a 100 ms period, from quota left unused in earlier periods): v2 cpu.max.burst, v1
   * cpu.cfs_burst_us. Needs a quota, and at most the quota (the kernel refuses more). 0 = none.
   */
  cpuBurst?: number;
  /** CPUs the sandbox may run on, as a cpuset list: "0", "0-1", "0,2". */
  cpus?: string;
  /** Memory limit in bytes. */
  memory?: number;
  /**
   * Memory throttle in bytes (v2 memory.high): above it the kernel reclaims and slows the group's
   * allocations down instead of killing; v1 has no such file (validated like `memory`).
   */
  memoryHigh?: number;
  /** Maximum number of processes (and threads). */
  pids?: number;
  /** Disk throttles, one per block device (v1 blkio.throttle.*_device, v2 io.max). */
  io?: IoLimit[];
  /** Relative disk share under the BFQ scheduler, 1–1000 (default 100): v1 blkio.bfq.weight, v2 io.bfq.weight or io.weight. */
  ioWeight?: number;
}

/**
 * A disk throttle on one whole block device: bytes or I/O operations per second, read and write
 * apart. 'max' removes that throttle (v1 writes "MAJ:MIN 0", which means "no limit", not "stop").
 */
export interface IoLimit {
  /** "MAJ:MIN" of a whole disk (a loop device, vda…), as /sys/dev/block names it. */
  device: string;
  rbps?: number | 'max';
  wbps?: number | 'max';
  riops?: number | 'max';
  wiops?: number | 'max';
}

export const IO_KEYS = ['rbps', 'wbps', 'riops', 'wiops'] as const;
export type IoKey = (typeof IO_KEYS)[number];
/** Slowest throttle accepted: one 4 KiB page per second; below it a writer seems hung. */
export const MIN_IO_BPS = 4096;
/** Fastest: 1 TiB/s, beyond any device; a larger number limits nothing. */
export const MAX_IO_BPS = 1024 ** 4;
export const MAX_IO_IOPS = 100_000_000;

export const CPU_PERIOD_US = 100_000;
export const PAGE_SIZE = 4096;
export const MIN_MEMORY = 1024 * 1024;
const PID_MAX_LIMIT = 4_194_304;
/** The kernel's largest NR_CPUS (CONFIG_NR_CPUS_RANGE_END): no CPU number can be higher. */
export const MAX_CPU = 8191;
/**
 * Longest number text read at all. Every number is checked by its digits *before* it becomes a
 * JavaScript number: past 2^53 doubles lose integers (9007199254740993 reads as …992), so a loop
 * up to such a number never ends, and a range of millions of CPUs fills memory before any check.
 */
const MAX_DIGITS = 20;
/** Longest --cpus list read: 0-8191 and a few hundred single CPUs fit. */
const MAX_CPU_LIST = 1024;

const UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
  t: 1024 ** 4,
  tb: 1024 ** 4,
  tib: 1024 ** 4,
};

export function formatBytes(n: number): string {
  if (n >= 1024 ** 3 && n % 1024 ** 3 === 0) return `${n / 1024 ** 3}G`;
  if (n >= 1024 ** 2 && n % 1024 ** 2 === 0) return `${n / 1024 ** 2}M`;
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024}K`;
  if (n >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(1)}G`;
  if (n >= 1024 ** 2) return `${(n / 1024 ** 2).toFixed(1)}M`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)}K`;
  return `${n}B`;
}

/** "64M", "512k", "1G", "1048576" → bytes (binary units). Plain ASCII digits only: no sign, exponent or hex. */
export function parseSize(text: string, flag = '--memory'): number {
  const m = String(text).length <= 64 ? /^(\d{1,20})(?:\.(\d{1,20}))?[ \t]*([a-z]*)$/i.exec(String(text).trim()) : null;
  const unit = m ? UNITS[m[3].toLowerCase()] : undefined;
  if (!m || unit === undefined) {
    throw usageError(`${flag} ${echo(text)}: not a size`, `write a number with an optional unit K, M, G or T (powers of 1024), e.g. ${flag} 64M`, 'E_LIMIT');
  }
  const bytes = Math.round(Number(`${m[1]}.${m[2] ?? '0'}`) * unit);
  if (!Number.isSafeInteger(bytes)) {
    throw usageError(`${flag} ${echo(text)}: far larger than any machine's memory`, `e.g. ${flag} 64M; leave it out for no limit`, 'E_LIMIT');
  }
  return bytes;
}

/** A whole number as typed: optional surrounding blanks, ASCII digits, at most MAX_DIGITS of them. */
function integer(text: string | number, flag: string, example: string): number {
  let n = NaN;
  if (typeof text === 'number') n = text;
  else {
    const m = String(text).length <= 64 ? /^(-?)(\d+)$/.exec(String(text).trim()) : null;
    if (m && m[2].length <= MAX_DIGITS) n = Number(m[1] + m[2]);
  }
  if (!Number.isInteger(n)) throw usageError(`${flag} ${echo(text)}: not a whole number`, `e.g. ${flag} ${example}`, 'E_LIMIT');
  // -0 is a whole number to JavaScript; the kernel would read "-0" as 0.
  return n === 0 ? 0 : n;
}

/**
 * "0-2,4" → [0,1,2,4]; throws on malformed lists. Every number is checked against MAX_CPU (and
 * the highest of `host`, the host's CPUs, when given) before a range is expanded.
 */
export function parseCpuList(text: string, flag = '--cpus', host?: number[]): number[] {
  const max = host?.length ? Math.min(MAX_CPU, Math.max(...host)) : MAX_CPU;
  const usage = `write CPU numbers and ranges, e.g. ${flag} 0 or ${flag} 0-1 or ${flag} 0,2`;
  const all = String(text);
  if (all.length > MAX_CPU_LIST) throw usageError(`${flag} ${echo(all)}: too long for a CPU list (${all.length} characters)`, usage, 'E_LIMIT');
  const out = new Set<number>();
  for (const part of all.trim().split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) throw usageError(`${flag} ${echo(all)}: not a CPU list`, usage, 'E_LIMIT');
    // Digits first: a number too long to be a CPU is never turned into a (rounded) double.
    const tooBig = [m[1], m[2] ?? ''].find((d) => d.length > 5 || Number(d) > max);
    if (tooBig !== undefined) {
      throw usageError(
        `${flag} ${echo(all)}: CPU ${echo(tooBig)} does not exist on this host`,
        host?.length ? `this host has CPUs ${formatCpuList(host)} (${host.length} in all); e.g. ${flag} 0` : `CPU numbers go up to ${MAX_CPU} at most`,
        'E_LIMIT',
      );
    }
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (b < a) throw usageError(`${flag} ${echo(all)}: range ${echo(part.trim())} runs backwards`, `e.g. ${flag} ${b}-${a}`, 'E_LIMIT');
    for (let i = a; i <= b; i++) out.add(i);
  }
  return [...out].sort((x, y) => x - y);
}

export function formatCpuList(cpus: number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < cpus.length; ) {
    let j = i;
    while (j + 1 < cpus.length && cpus[j + 1] === cpus[j] + 1) j++;
    parts.push(i === j ? `${cpus[i]}` : `${cpus[i]}-${cpus[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}

/** CPUs this host can schedule on. */
export function onlineCpus(): number[] {
  try {
    return parseCpuList(fs.readFileSync('/sys/devices/system/cpu/online', 'utf8'));
  } catch {
    return os.cpus().map((_, i) => i);
  }
}

/** Raw values as typed (CLI flags, REPL `set` words). */
export interface LimitInput {
  cpuWeight?: string | number;
  cpuQuota?: string | number;
  cpuBurst?: string | number;
  cpus?: string;
  memory?: string | number;
  memoryHigh?: string | number;
  pids?: string | number;
  /** "MAJ:MIN=SIZE" or "DEVICE=SIZE" (loop3, /dev/loop3), per second; SIZE "max" removes it. */
  ioRbps?: string;
  ioWbps?: string;
  /** "MAJ:MIN=N" or "DEVICE=N" operations per second. */
  ioRiops?: string;
  ioWiops?: string;
  ioWeight?: string | number;
}

/** What limits are checked against: this host's CPUs and memory. */
export interface HostCapacity {
  cpus: number[];
  /** Bytes of RAM (os.totalmem()); absent = this host's. */
  memory?: number;
}

/** Checks every limit against what the kernel would do with it; throws a usage error naming the flag. */
export function validateLimits(input: LimitInput, host: HostCapacity = { cpus: onlineCpus() }): Limits {
  const out: Limits = {};
  if (input.cpuWeight !== undefined) {
    const w = integer(input.cpuWeight, '--cpu-weight', '75');
    if (w < 1 || w > 10000) {
      throw usageError(
        `--cpu-weight ${echo(input.cpuWeight)}: out of range`,
        'a weight is 1–10000 (100 is the default share); two sandboxes with 25 and 75 split a busy CPU 25%/75%',
        'E_LIMIT',
      );
    }
    out.cpuWeight = w;
  }
  if (input.cpuQuota !== undefined) {
    const text = String(input.cpuQuota).slice(0, 64).trim().replace(/%$/, '');
    const max = 100 * host.cpus.length;
    // At most 7 digits before the point (far above any host) and 6 after (cfs_quota_us is in µs of a 100 ms period).
    const pct = /^\d{1,7}(\.\d{1,6})?$/.test(text) ? Number(text) : NaN;
    if (!Number.isFinite(pct)) {
      throw usageError(`--cpu-quota ${echo(input.cpuQuota)}: not a percentage`, 'e.g. --cpu-quota 30 (30% of one CPU)', 'E_LIMIT');
    }
    // cfs_quota_us below 1000 is rejected by the kernel (EINVAL); with a 100 ms period that is 1%.
    if (pct < 1 || pct > max) {
      throw usageError(
        `--cpu-quota ${echo(input.cpuQuota)}: out of range`,
        `a quota is 1–${max} percent of one CPU on this ${host.cpus.length}-CPU host (100 = one full core)`,
        'E_LIMIT',
      );
    }
    out.cpuQuota = pct;
  }
  if (input.cpuBurst !== undefined) {
    const text = String(input.cpuBurst).slice(0, 64).trim().replace(/%$/, '');
    const pct = /^\d{1,7}(\.\d{1,6})?$/.test(text) ? Number(text) : NaN;
    if (!Number.isFinite(pct)) {
      throw usageError(`--cpu-burst ${echo(input.cpuBurst)}: not a percentage`, 'e.g. --cpu-quota 30 --cpu-burst 20 (up to 20% of one CPU more per period, saved from idle periods)', 'E_LIMIT');
    }
    out.cpuBurst = pct;
    if (out.cpuQuota !== undefined) {
      const problem = burstProblem(pct, out.cpuQuota);
      if (problem) throw problem;
    }
  }
  if (input.cpus !== undefined) {
    const list = parseCpuList(String(input.cpus), '--cpus', host.cpus);
    const missing = list.filter((c) => !host.cpus.includes(c));
    if (list.length === 0 || missing.length) {
      throw usageError(
        `--cpus ${echo(input.cpus)}: CPU ${missing.join(', ')} does not exist on this host`,
        `this host has CPUs ${formatCpuList(host.cpus)} (${host.cpus.length} in all); e.g. --cpus 0`,
        'E_LIMIT',
      );
    }
    out.cpus = formatCpuList(list);
  }
  if (input.memory !== undefined) {
    const bytes = typeof input.memory === 'number' ? input.memory : parseSize(input.memory);
    const ram = host.memory ?? os.totalmem();
    if (!Number.isSafeInteger(bytes) || bytes > ram) {
      throw usageError(
        `--memory ${echo(input.memory)}: more than this machine's memory (${formatBytes(ram)})`,
        'a limit above the RAM limits nothing, and the kernel refuses the largest values; leave --memory out for no limit, or e.g. --memory 64M',
        'E_LIMIT',
      );
    }
    if (bytes < MIN_MEMORY) {
      throw usageError(
        `--memory ${echo(input.memory)}: too small`,
        `the kernel counts memory in ${PAGE_SIZE / 1024} KiB pages and would silently set ${formatBytes(
          Math.floor(bytes / PAGE_SIZE) * PAGE_SIZE,
        )}, which kills any process at once; use at least 1M, e.g. --memory 64M`,
        'E_LIMIT',
      );
    }
    if (bytes % PAGE_SIZE !== 0) {
      const down = Math.floor(bytes / PAGE_SIZE) * PAGE_SIZE;
      throw usageError(
        `--memory ${echo(input.memory)}: not a whole number of ${PAGE_SIZE / 1024} KiB pages`,
        `the kernel would silently round it down to ${down} bytes; use a multiple of 4K, e.g. --memory ${formatBytes(down)}`,
        'E_LIMIT',
      );
    }
    out.memory = bytes;
  }
  if (input.memoryHigh !== undefined) {
    out.memoryHigh = memorySize(input.memoryHigh, '--memory-high', host);
    if (out.memory !== undefined && out.memoryHigh > out.memory) {
      throw usageError(
        `--memory-high ${echo(input.memoryHigh)}: above --memory ${formatBytes(out.memory)}`,
        'the hard limit stops the group first, so a throttle above it never acts; give a memory-high below the memory limit, e.g. --memory-high ' +
          formatBytes(Math.max(MIN_MEMORY, Math.floor(out.memory / 2 / PAGE_SIZE) * PAGE_SIZE)),
        'E_LIMIT',
      );
    }
  }
  if (input.pids !== undefined) {
    const n = integer(input.pids, '--pids', '50');
    if (n < 1) {
      throw usageError(
        `--pids ${echo(input.pids)}: a sandbox needs at least one process`,
        'pids.max counts every process and thread in the sandbox, including its first one; e.g. --pids 50',
        'E_LIMIT',
      );
    }
    if (n > PID_MAX_LIMIT) {
      throw usageError(`--pids ${echo(input.pids)}: above the kernel's maximum of ${PID_MAX_LIMIT}`, 'leave it out for no limit', 'E_LIMIT');
    }
    out.pids = n;
  }
  const io: IoLimit[] = [];
  for (const key of IO_KEYS) {
    const text = input[`io${key[0].toUpperCase()}${key.slice(1)}` as 'ioRbps'];
    if (text === undefined) continue;
    const { device, value } = parseIoSetting(String(text), key);
    const same = io.find((l) => l.device === device);
    if (same) same[key] = value;
    else io.push({ device, [key]: value });
  }
  if (io.length) out.io = io;
  if (input.ioWeight !== undefined) {
    const w = integer(input.ioWeight, '--io-weight', '50');
    if (w < 1 || w > 1000) {
      throw usageError(
        `--io-weight ${echo(input.ioWeight)}: out of range`,
        'a BFQ disk weight is 1–1000 (100 is the default share); two busy sandboxes with 100 and 400 share a disk 1:4',
        'E_LIMIT',
      );
    }
    out.ioWeight = w;
  }
  return out;
}

/** /sys/dev/block, where every block device's "MAJ:MIN" is a link; a seam for tests. */
export const SYS_DEV_BLOCK = '/sys/dev/block';

/**
 * "7:3", "loop3" or "/dev/loop3" → "7:3" of an existing whole disk. Throttles apply to whole
 * disks only: the kernel refuses a partition (ENODEV), so say which disk to throttle instead.
 */
export function resolveBlockDevice(text: string, flag = '--io-wbps', sysDevBlock = SYS_DEV_BLOCK): string {
  const t = String(text).slice(0, 64).trim();
  const usage = `name a block device as MAJ:MIN (see lsblk or /sys/dev/block) or by name, e.g. ${flag} loop3=10M`;
  let majMin: string | null = null;
  const mm = /^(\d{1,4}):(\d{1,7})$/.exec(t);
  if (mm) majMin = `${Number(mm[1])}:${Number(mm[2])}`;
  else {
    const m = /^(?:\/dev\/)?([a-z][a-z0-9]{0,31})$/.exec(t);
    if (!m) throw usageError(`${flag} ${echo(text)}: not a block device`, usage, 'E_LIMIT');
    try {
      majMin = fs.readFileSync(`/sys/class/block/${m[1]}/dev`, 'utf8').trim();
    } catch {
      throw usageError(`${flag} ${echo(text)}: no block device named ${m[1]} on this host`, usage, 'E_LIMIT');
    }
  }
  let real: string;
  try {
    real = fs.realpathSync(`${sysDevBlock}/${majMin}`);
  } catch {
    throw usageError(`${flag} ${echo(text)}: no block device ${majMin} on this host`, usage, 'E_LIMIT');
  }
  if (fs.existsSync(`${real}/partition`)) {
    const disk = (() => {
      try {
        return fs.readFileSync(`${real}/../dev`, 'utf8').trim();
      } catch {
        return '';
      }
    })();
    throw usageError(
      `${flag} ${echo(text)}: ${majMin} is a partition; the kernel throttles whole disks only`,
      disk ? `throttle its disk ${disk} instead` : 'throttle the disk it belongs to (lsblk shows it)',
      'E_LIMIT',
    );
  }
  return majMin;
}

/** "DEVICE=RATE" → device "MAJ:MIN" and a rate checked against MIN/MAX (bytes) or 1..MAX_IO_IOPS (operations). */
export function parseIoSetting(text: string, key: IoKey, sysDevBlock = SYS_DEV_BLOCK): { device: string; value: number | 'max' } {
  const flag = `--io-${key}`;
  const bytes = key.endsWith('bps');
  const example = bytes ? `${flag} loop3=10M (10 MiB/s) or ${flag} 7:3=max (no limit)` : `${flag} loop3=100 or ${flag} 7:3=max`;
  const t = String(text).slice(0, 128);
  const eq = t.lastIndexOf('=');
  if (eq <= 0) throw usageError(`${flag} ${echo(text)}: expected DEVICE=${bytes ? 'SIZE' : 'COUNT'}`, `e.g. ${example}`, 'E_LIMIT');
  const device = resolveBlockDevice(t.slice(0, eq), flag, sysDevBlock);
  const rate = t.slice(eq + 1).trim();
  if (rate === 'max') return { device, value: 'max' };
  const n = bytes ? parseSize(rate, flag) : integer(rate, flag, '100');
  if (n === 0) {
    throw usageError(
      `${flag} ${echo(text)}: 0 does not stop I/O`,
      `blkio.throttle on v1 reads 0 as "no limit"; write max to remove a throttle, or a rate, e.g. ${example}`,
      'E_LIMIT',
    );
  }
  const [min, max] = bytes ? [MIN_IO_BPS, MAX_IO_BPS] : [1, MAX_IO_IOPS];
  if (n < min || n > max) {
    throw usageError(
      `${flag} ${echo(text)}: out of range`,
      bytes ? `a rate is ${formatBytes(MIN_IO_BPS)}–${formatBytes(MAX_IO_BPS)} per second, e.g. ${example}` : `1–${MAX_IO_IOPS} operations per second, e.g. ${example}`,
      'E_LIMIT',
    );
  }
  return { device, value: n };
}

/** A memory size for `flag` (memory-high): the same bounds as --memory (at least 1M, whole 4K pages, at most the RAM). */
function memorySize(value: string | number, flag: string, host: HostCapacity): number {
  const bytes = typeof value === 'number' ? value : parseSize(value, flag);
  const ram = host.memory ?? os.totalmem();
  if (!Number.isSafeInteger(bytes) || bytes > ram) {
    throw usageError(`${flag} ${echo(value)}: more than this machine's memory (${formatBytes(ram)})`, `leave ${flag} out for none, or e.g. ${flag} 32M`, 'E_LIMIT');
  }
  if (bytes < MIN_MEMORY) {
    throw usageError(`${flag} ${echo(value)}: too small`, `the kernel counts memory in ${PAGE_SIZE / 1024} KiB pages; use at least 1M, e.g. ${flag} 32M`, 'E_LIMIT');
  }
  if (bytes % PAGE_SIZE !== 0) {
    const down = Math.floor(bytes / PAGE_SIZE) * PAGE_SIZE;
    throw usageError(
      `${flag} ${echo(value)}: not a whole number of ${PAGE_SIZE / 1024} KiB pages`,
      `the kernel would silently round it down to ${down} bytes; use a multiple of 4K, e.g. ${flag} ${formatBytes(down)}`,
      'E_LIMIT',
    );
  }
  return bytes;
}

export function hasLimits(l: Limits): boolean {
  return Object.entries(l).some(([k, v]) => v !== undefined && !(k === 'io' && Array.isArray(v) && v.length === 0));
}

/** µs per CPU_PERIOD_US for a percentage of one CPU (cpu-quota, cpu-burst). */
export function percentToUs(pct: number): number {
  return Math.round((pct * CPU_PERIOD_US) / 100);
}

/**
 * Why a burst cannot be written next to a quota (both in % of one CPU; quota null = none), or
 * null. The kernel refuses a burst above the quota with EINVAL (tg_set_cfs_bandwidth), and
 * accepts one without a quota, where it means nothing: both are said before anything is written.
 */
export function burstProblem(burst: number, quota: number | null): SandboxError | null {
  if (burst === 0) return null;
  if (quota === null) {
    return usageError(
      `--cpu-burst ${echo(burst)}: there is no CPU quota to burst above`,
      'a burst banks quota left unused in earlier periods; set a quota too, e.g. --cpu-quota 30 --cpu-burst 20',
      'E_LIMIT',
    );
  }
  if (percentToUs(burst) > percentToUs(quota)) {
    return usageError(
      `--cpu-burst ${echo(burst)}: more than the quota (${quota}% of one CPU)`,
      `the kernel refuses a burst above the quota (EINVAL): at most --cpu-burst ${quota}, or raise --cpu-quota`,
      'E_LIMIT',
    );
  }
  return null;
}

/** The kernel has no burst file (before Linux 5.14, or without CONFIG_CFS_BANDWIDTH). */
export function noBurstFile(file: string): SandboxError {
  return usageError(
    `--cpu-burst: this kernel has no ${file}`,
    'CPU burst needs Linux 5.14 or later with CFS bandwidth control; leave --cpu-burst out (the quota alone still works)',
    'E_LIMIT',
  );
}

/** v1 cpu.shares for a v2-scale weight: the ratio between sandboxes is what matters and is kept. */
export function weightToShares(weight: number): number {
  return Math.max(2, Math.round((weight * 1024) / 100));
}
