/**
 * What `sandbox top` shows, as plain data: every sandbox on this host (from the ledger, which
 * every `sandbox` process writes to, plus any cgroup in the sandboxes' parent, `sandbox/` or
 * systemd's `sandbox.service`, that no entry claims), its
 * host PID of PID 1, its processes, CPU % from the monitor (cpuUsec deltas over wall time), memory
 * and pids against their limits, and the process tree of one sandbox with each process's host PID
 * and namespace PIDs. The dashboard and the text snapshot render this; neither reads the kernel.
 */
import {
  cgroups,
  type CgroupUsage,
  isAlive,
  type LedgerEntry,
  Monitor,
  type ProcessInfo,
  readEntries,
  sandboxPressure,
  hostPressure,
  type PressureReading,
  snapshot,
  v1MemorySignals,
  type V1MemorySignals,
} from '../runtime/index.js';

export interface TopRow {
  name: string;
  /** Who made it: "run", "repl", "lesson cgroups-cpu"…; "(unknown)" for a cgroup no entry claims. */
  purpose: string;
  /** The `sandbox` process that owns it, and whether it still runs (a dead owner: `sandbox cleanup`). */
  owner: { pid: number; alive: boolean } | null;
  /** Host PID of the sandbox's PID 1 (its first process), while it runs. */
  initPid: number | null;
  /** Processes in its cgroup (from /proc). */
  processes: number;
  /** CPU used over the last second, in % of one CPU; null until two samples exist. */
  cpuPercent: number | null;
  memoryBytes: number | null;
  memoryLimit: number | null;
  pidsCurrent: number | null;
  pidsMax: number | null;
  /** The CPU quota in % of one CPU, from the ledger's limits (null = none). */
  cpuQuota: number | null;
  namespaces: string[];
  /**
   * Pressure stall figures (some avg10, % of the last 10 s) of the sandbox's own cgroup (v2
   * cpu/memory/io.pressure); null where the kernel keeps none per group (v1: see TopSnapshot.pressure).
   */
  pressure: { cpu: number | null; memory: number | null; io: number | null } | null;
  /** cgroup v1's stand-ins for memory pressure (failcnt, under_oom, oom_kill, pgmajfault); null on v2. */
  v1Memory: V1MemorySignals | null;
}

export interface TopTreeLine {
  /** Depth in the sandbox's tree. */
  depth: number;
  /** The branch drawing before the label: "", "├─ ", "│  └─ "… */
  prefix: string;
  hostPid: number;
  /** PID in each namespace below the host, e.g. [1] for the sandbox's PID 1. */
  nsPids: number[];
  comm: string;
  state: string;
}

export interface TopSnapshot {
  /** Date.now() when taken. */
  taken: number;
  layout: string;
  /** Where the sandboxes' cgroups are on this host (`/sys/fs/cgroup/sandbox`, or systemd's unit). */
  where: string;
  rows: TopRow[];
  /** CPU % series per sandbox, oldest first (for the chart). */
  cpuSeries: Map<string, number[]>;
  /** The host's pressure (/proc/pressure), with what it stands for: on v1 the only pressure there is. */
  pressure: PressureReading;
}

function ownerOf(e: LedgerEntry | undefined): TopRow['owner'] {
  return e ? { pid: e.owner.pid, alive: isAlive(e.owner) } : null;
}

/** A monitor over every sandbox on the host, and the readings the dashboard draws. */
export class TopModel {
  readonly monitor: Monitor;
  private entries = new Map<string, LedgerEntry>();
  private names: string[] = [];
  private procs: ProcessInfo[] = [];
  private all = new Map<number, ProcessInfo>();
  private children = new Map<number, ProcessInfo[]>();

  constructor(intervalMs = 500, history = 120) {
    this.monitor = new Monitor({ names: () => this.names, intervalMs, history });
  }

  /** Re-reads the ledger, the cgroups and /proc, and takes a sample. */
  refresh(): TopSnapshot {
    const entries = readEntries();
    this.entries = new Map(entries.map((e) => [e.name, e]));
    let cgroupNames: string[] = [];
    try {
      cgroupNames = cgroups().list();
    } catch {
      /* no cgroup hierarchy readable */
    }
    this.names = [...new Set([...entries.map((e) => e.name), ...cgroupNames])].sort();
    for (const n of this.monitor.names()) if (!this.names.includes(n)) this.monitor.forget(n);
    this.monitor.sampleNow();
    const snap = snapshot({ namespaces: ['pid'] });
    this.procs = snap.processes.filter((p) => p.sandbox !== null);
    this.all = snap.byPid;
    this.children = new Map();
    for (const p of snap.processes) {
      const list = this.children.get(p.ppid);
      if (list) list.push(p);
      else this.children.set(p.ppid, [p]);
    }
    return this.current();
  }

  /** The last readings, without reading anything. */
  current(): TopSnapshot {
    const rows = this.names.map((name) => this.row(name));
    const cpuSeries = new Map(this.names.map((n) => [n, this.monitor.cpuSeries(n, 1000)]));
    const cg = cgroups();
    const pressure = hostPressure(
      cg.version === 1 ? "cgroup v1 keeps no pressure per sandbox: the host's (/proc/pressure)" : "the host's (/proc/pressure); each sandbox's own in its row",
    );
    return { taken: Date.now(), layout: cg.layout, where: cg.parents().join(' '), rows, cpuSeries, pressure };
  }

  private row(name: string): TopRow {
    const e = this.entries.get(name);
    const u: CgroupUsage | undefined = this.monitor.latest(name)?.usage;
    const init = e?.init && isAlive(e.init) ? e.init.pid : null;
    const mine = this.members(name, init);
    return {
      name,
      purpose: e?.purpose ?? '(unknown)',
      owner: ownerOf(e),
      initPid: init ?? mine.find((p) => p.nspid.length > 1 && p.nspid.at(-1) === 1)?.pid ?? null,
      processes: mine.length,
      cpuPercent: this.monitor.cpuPercent(name, 1000),
      memoryBytes: u?.memoryBytes ?? null,
      memoryLimit: u?.memoryLimit ?? null,
      pidsCurrent: u?.pidsCurrent ?? null,
      pidsMax: u?.pidsMax ?? null,
      cpuQuota: e?.limits.cpuQuota ?? null,
      namespaces: e?.namespaces ?? [],
      pressure: this.pressureOf(name),
      v1Memory: cgroups().version === 1 ? v1MemorySignals(name) : null,
    };
  }

  /** A sandbox's own pressure (v2), read at each refresh with its usage; null on v1 or without psi. */
  private pressureOf(name: string): TopRow['pressure'] {
    if (cgroups().version !== 2) return null;
    const p = sandboxPressure(name);
    if (p.source !== 'cgroup') return null;
    return { cpu: p.cpu?.some.avg10 ?? null, memory: p.memory?.some.avg10 ?? null, io: p.io?.some.avg10 ?? null };
  }

  /**
   * A sandbox's processes: those in its cgroup, or, for a sandbox made without a cgroup, its first
   * process and everything below it.
   */
  private members(name: string, init: number | null): ProcessInfo[] {
    const inCgroup = this.procs.filter((p) => p.sandbox === name);
    if (inCgroup.length || init === null || this.entries.get(name)?.cgroups.length) return inCgroup;
    const out: ProcessInfo[] = [];
    const walk = (pid: number, depth: number) => {
      const p = this.all.get(pid);
      if (!p || depth > 32) return;
      out.push(p);
      for (const c of this.children.get(pid) ?? []) walk(c.pid, depth + 1);
    };
    walk(init, 0);
    return out;
  }

  /** The process tree of one sandbox: roots are its processes whose parent is outside it. */
  tree(name: string): TopTreeLine[] {
    const e = this.entries.get(name);
    const mine = this.members(name, e?.init && isAlive(e.init) ? e.init.pid : null);
    const inside = new Set(mine.map((p) => p.pid));
    const children = new Map<number, ProcessInfo[]>();
    for (const p of mine) {
      const list = children.get(p.ppid) ?? [];
      list.push(p);
      children.set(p.ppid, list);
    }
    const out: TopTreeLine[] = [];
    const walk = (p: ProcessInfo, depth: number, indent: string, last: boolean) => {
      const prefix = depth === 0 ? '' : `${indent}${last ? '└─ ' : '├─ '}`;
      out.push({ depth, prefix, hostPid: p.pid, nsPids: p.nspid.slice(1), comm: p.comm, state: p.state });
      const kids = (children.get(p.pid) ?? []).sort((a, b) => a.pid - b.pid);
      const next = depth === 0 ? '' : `${indent}${last ? '   ' : '│  '}`;
      if (depth < 32) kids.forEach((c, i) => walk(c, depth + 1, next, i === kids.length - 1));
    };
    for (const root of mine.filter((p) => !inside.has(p.ppid)).sort((a, b) => a.pid - b.pid)) walk(root, 0, '', true);
    return out;
  }
}

// ----- formatting shared by the dashboard and the text snapshot --------------------------------

export function formatMiB(bytes: number | null): string {
  if (bytes === null) return '–';
  const m = bytes / (1024 * 1024);
  return m >= 100 ? `${m.toFixed(0)}M` : `${m.toFixed(1)}M`;
}

export const TOP_COLUMNS = ['sandbox', 'PID 1 (host)', 'procs', 'CPU %', 'memory / limit', 'pids / max', 'made by', 'PSI cpu/mem/io %'];

const pct = (v: number | null) => (v === null ? '–' : v.toFixed(1));

/** "0.0/8.3/0.0": some avg10 of cpu, memory and io; "host's: see below" where the group has none (v1). */
export function pressureCell(p: TopRow['pressure']): string {
  return p ? `${pct(p.cpu)}/${pct(p.memory)}/${pct(p.io)}` : "– (v1: host's below)";
}

/** cgroup v1's memory stand-ins in one line: "v1 memory: failcnt 0, under_oom 0, oom_kill 1, pgmajfault 3". */
export function v1MemoryLine(m: V1MemorySignals): string {
  return `no PSI per group on v1; its memory counters: failcnt ${m.failcnt ?? '?'}, under_oom ${m.underOom ?? '?'}, oom_kill ${m.oomKill ?? '?'}, pgmajfault ${m.pgmajfault ?? '?'}`;
}

/** The host's pressure in one line, with its source: "PSI … the host's (/proc/pressure): cpu 1.2 mem 0.0 io 0.3". */
export function hostPressureLine(p: PressureReading): string {
  if (p.source === 'none') return `PSI: ${p.label}`;
  return `PSI (some avg10, % of the last 10 s) ${p.label}: cpu ${pct(p.cpu?.some.avg10 ?? null)} mem ${pct(p.memory?.some.avg10 ?? null)} io ${pct(p.io?.some.avg10 ?? null)}`;
}

export function rowCells(r: TopRow): string[] {
  return [
    r.name,
    r.initPid === null ? '–' : String(r.initPid),
    String(r.processes),
    r.cpuPercent === null ? '…' : r.cpuPercent.toFixed(1),
    `${formatMiB(r.memoryBytes)} / ${r.memoryLimit === null ? 'max' : formatMiB(r.memoryLimit)}`,
    `${r.pidsCurrent ?? '–'} / ${r.pidsMax ?? 'max'}`,
    `${r.purpose}${r.owner && !r.owner.alive ? ' (owner gone)' : ''}`,
    pressureCell(r.pressure),
  ];
}

/** `sleep(4711)(1)`: the host PID, then the PID in each namespace below. */
export function treeLabel(l: TopTreeLine): string {
  return `${l.prefix}${l.comm}(${l.hostPid})${l.nsPids.map((n) => `(${n})`).join('')}${l.state === 'Z' ? ' <zombie>' : ''}`;
}
