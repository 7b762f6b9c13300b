/**
 * Resource limits as the learner gives them, checked before anything is written: the kernel
 * accepts some values and silently changes them (memory.limit_in_bytes=1k becomes 0, which
 * kills every process at once), and others fail later with an errno that explains nothing.
 */
import fs from 'node:fs';
import os from 'node:os';

import { echo, usageError } from '../errors.js';

export interface Limits {
  /** Relative CPU share, on the cgroup v2 scale: 1–10000, default 100 (v1: cpu.shares = weight × 1024 / 100). */
  cpuWeight?: number;
  /** Hard CPU cap in percent of one CPU (50 = half a core, 200 = two cores). */
  cpuQuota?: number;
  /** CPUs the sandbox may run on, as a cpuset list: "0", "0-1", "0,2". */
  cpus?: string;
  /** Memory limit in bytes. */
  memory?: number;
  /** Maximum number of processes (and threads). */
  pids?: number;
}

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
  cpus?: string;
  memory?: string | number;
  pids?: string | number;
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
  return out;
}

export function hasLimits(l: Limits): boolean {
  return Object.values(l).some((v) => v !== undefined);
}

/** v1 cpu.shares for a v2-scale weight: the ratio between sandboxes is what matters and is kept. */
export function weightToShares(weight: number): number {
  return Math.max(2, Math.round((weight * 1024) / 100));
}
