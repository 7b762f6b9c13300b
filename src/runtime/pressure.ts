/**
 * Pressure stall information (PSI): the share of wall time in which some (or all) of a group's
 * runnable tasks were stalled waiting for CPU, memory or I/O. The kernel keeps it per cgroup on
 * v2 (`cpu.pressure`, `memory.pressure`, `io.pressure` in the group's directory) and for the whole
 * host in /proc/pressure/{cpu,memory,io} when it runs with psi (CONFIG_PSI, not disabled by
 * `psi=0` or CONFIG_PSI_DEFAULT_DISABLED without `psi=1`).
 *
 * cgroup v1 has no per-group pressure at all: there the only figures are the host's, labelled as
 * such, and the memory controller's own stand-ins: memory.failcnt (charges refused at the limit),
 * memory.oom_control (under_oom, oom_kill) and memory.stat pgmajfault (pages read back from disk:
 * the thrashing a pressure figure would show). v1's memory.pressure_level is no figure either: an
 * eventfd registered through cgroup.event_control that fires at low/medium/critical reclaim.
 */
import fs from 'node:fs';

import { readText } from './cgroup/files.js';
import { cgroups } from './cgroup/index.js';

export const PRESSURE_RESOURCES = ['cpu', 'memory', 'io'] as const;
export type PressureResource = (typeof PRESSURE_RESOURCES)[number];

/** One line of a pressure file: averages in percent of wall time, total stall time in µs. */
export interface PressureLine {
  avg10: number;
  avg60: number;
  avg300: number;
  /** Stall time since the group (or the boot) began, in microseconds. */
  totalUs: number;
}

/** A pressure file: `some` (at least one task stalled) and `full` (every non-idle task stalled). */
export interface Pressure {
  some: PressureLine;
  /** Absent from the host's /proc/pressure/cpu on kernels before 5.13. */
  full: PressureLine | null;
}

export interface PressureReading {
  /** 'cgroup': the sandbox's own files (v2); 'host': /proc/pressure (v1, or a v2 group without them); 'none'. */
  source: 'cgroup' | 'host' | 'none';
  /** The directory the files were read in (a cgroup's or /proc/pressure). */
  where: string;
  /** What the figures are, in a sentence for the screen ("the host's, not the sandbox's: …"). */
  label: string;
  cpu: Pressure | null;
  memory: Pressure | null;
  io: Pressure | null;
}

export const HOST_PRESSURE_DIR = '/proc/pressure';

/** Largest total a pressure file may report and still be believed: 2^63 µs (the kernel's u64, in µs). */
const MAX_TOTAL_DIGITS = 19;

/**
 * Parses one pressure line's fields. Every number is checked by its text first: averages are
 * percentages with at most two decimals (0.00–100.00), totals at most 19 digits; anything else
 * makes the line unreadable (null), never a wrong figure.
 */
function parseLine(fields: string[]): PressureLine | null {
  const kv = new Map<string, string>();
  for (const f of fields) {
    const eq = f.indexOf('=');
    if (eq > 0) kv.set(f.slice(0, eq), f.slice(eq + 1));
  }
  const avg = (k: string) => {
    const v = kv.get(k);
    if (v === undefined || !/^\d{1,3}(\.\d{1,2})?$/.test(v)) return null;
    const n = Number(v);
    return n <= 100 ? n : null;
  };
  const total = kv.get('total');
  const avg10 = avg('avg10');
  const avg60 = avg('avg60');
  const avg300 = avg('avg300');
  if (avg10 === null || avg60 === null || avg300 === null || total === undefined || !new RegExp(`^\\d{1,${MAX_TOTAL_DIGITS}}$`).test(total)) return null;
  return { avg10, avg60, avg300, totalUs: Number(total) };
}

/** The text of a pressure file → its `some` and `full` lines; null when `some` is missing or malformed. */
export function parsePressure(text: string): Pressure | null {
  let some: PressureLine | null = null;
  let full: PressureLine | null = null;
  for (const line of text.slice(0, 4096).split('\n')) {
    const [kind, ...fields] = line.trim().split(/\s+/);
    if (kind === 'some') some = parseLine(fields);
    else if (kind === 'full') full = parseLine(fields);
  }
  return some ? { some, full } : null;
}

export function readPressureFile(path: string): Pressure | null {
  const t = readText(path);
  return t === null ? null : parsePressure(t);
}

/** True when this kernel keeps pressure figures (the host's /proc/pressure files are readable). */
export function psiAvailable(): boolean {
  return readPressureFile(`${HOST_PRESSURE_DIR}/memory`) !== null;
}

/** The host's pressure, from /proc/pressure; source 'none' when the kernel keeps none. */
export function hostPressure(label = 'the whole host (/proc/pressure)'): PressureReading {
  const r = Object.fromEntries(PRESSURE_RESOURCES.map((k) => [k, readPressureFile(`${HOST_PRESSURE_DIR}/${k}`)])) as Record<PressureResource, Pressure | null>;
  const any = PRESSURE_RESOURCES.some((k) => r[k] !== null);
  return {
    source: any ? 'host' : 'none',
    where: HOST_PRESSURE_DIR,
    label: any ? label : 'no pressure figures: this kernel runs without psi (boot with psi=1 on a kernel built with CONFIG_PSI)',
    ...r,
  };
}

/** Why cgroup v1 shows the host's pressure: said wherever those figures appear. */
export const V1_PRESSURE_NOTE = "cgroup v1 keeps no pressure per group: these are the whole host's (/proc/pressure)";

/**
 * The pressure a sandbox's processes feel: its cgroup's own files on v2; on v1 (none per group)
 * or a v2 kernel without them, the host's, labelled as such.
 */
export function sandboxPressure(name: string): PressureReading {
  const cg = cgroups();
  if (cg.version === 2) {
    const dir = cg.dirs(name)[0];
    const r = Object.fromEntries(PRESSURE_RESOURCES.map((k) => [k, readPressureFile(`${dir}/${k}.pressure`)])) as Record<PressureResource, Pressure | null>;
    if (PRESSURE_RESOURCES.some((k) => r[k] !== null)) return { source: 'cgroup', where: dir, label: `sandbox ${name}'s own (${dir}/*.pressure)`, ...r };
    return hostPressure("the whole host's (/proc/pressure): this kernel keeps none per cgroup (no psi, or cgroup.pressure = 0)");
  }
  return hostPressure(V1_PRESSURE_NOTE);
}

/** What cgroup v1's memory controller offers where v2 has memory.high and memory.pressure. */
export interface V1MemorySignals {
  /** Charges refused at memory.limit_in_bytes (memory.failcnt), plus memory+swap's (memsw.failcnt). */
  failcnt: number | null;
  /** 1 while the group is at its limit with the OOM killer disabled (oom_kill_disable 1): its tasks wait. */
  underOom: number | null;
  oomKill: number | null;
  /** Major page faults of the group (memory.stat pgmajfault): pages read back from disk or swap. */
  pgmajfault: number | null;
  /** The memory hierarchy's directory. */
  dir: string;
}

function keyed(path: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of (readText(path) ?? '').slice(0, 65536).split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined && /^\d{1,20}$/.test(v)) out[k] = Number(v);
  }
  return out;
}

function counter(path: string): number | null {
  const t = readText(path)?.trim();
  return t !== undefined && /^\d{1,20}$/.test(t) ? Number(t) : null;
}

/** v1's memory stand-ins for sandbox `name`; null on v2 or when its memory cgroup is missing. */
export function v1MemorySignals(name: string): V1MemorySignals | null {
  const cg = cgroups();
  if (cg.version !== 1) return null;
  const dir = cg.dirs(name).find((d) => fs.existsSync(`${d}/memory.failcnt`));
  if (!dir) return null;
  const fail = counter(`${dir}/memory.failcnt`);
  const memsw = counter(`${dir}/memory.memsw.failcnt`);
  const oom = keyed(`${dir}/memory.oom_control`);
  return {
    failcnt: fail === null ? null : fail + (memsw ?? 0),
    underOom: oom.under_oom ?? null,
    oomKill: oom.oom_kill ?? null,
    pgmajfault: keyed(`${dir}/memory.stat`).pgmajfault ?? null,
    dir,
  };
}

/** "some 12.34% (10 s) full 3.00%": one pressure file in a few words. */
export function formatPressure(p: Pressure | null): string {
  if (!p) return 'n/a';
  return `some ${p.some.avg10.toFixed(2)}%${p.full ? ` full ${p.full.avg10.toFixed(2)}%` : ''}`;
}
