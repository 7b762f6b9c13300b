/**
 * Containers vs VMs, measured: how long a sandbox and a VM (vm.ts) take to reach the same point (a
 * shell prints "ready"), the memory each holds while it waits there, and how many sandboxes this
 * host starts within a time bound in the memory one VM takes. The lectures' figures (2013: a VM
 * starts 50–100× slower and takes 11–60× the memory; one host held 41 VMs or 112 containers)
 * come along, so that a lesson, `bench:density` and `sandbox report` print both.
 *
 * What is counted: for a sandbox, its cgroup's memory (memory.usage_in_bytes on v1, memory.current
 * on v2: its processes' pages and the kernel objects charged to it) and the PSS of its processes;
 * for the VM, the PSS of the QEMU process (/proc/PID/smaps_rollup: the guest's RAM as far as it was
 * touched, QEMU's own code and data, shared pages divided among their users) and its cgroup.
 */
import fs from 'node:fs';
import os from 'node:os';

import { cgroups } from './cgroup/index.js';
import { quantile } from './latency.js';
import type { Namespace } from './linux.js';
import { Sandbox, type SandboxOptions } from './sandbox.js';
import { bootVm, type BootedVm, processMemory, type ProcessMemory, vmUnavailable } from './vm.js';

/** The lectures' figures (2013), shown next to this host's. */
export const LECTURE_DENSITY = {
  startupRatio: [50, 100] as [number, number],
  memoryRatio: [11, 60] as [number, number],
  vms: 41,
  containers: 112,
};

export const CONTAINER_NAMESPACES: Namespace[] = ['pid', 'mount', 'uts', 'ipc', 'net'];
/** A shell that prints "ready" and stays, as the VM's /init does. */
export const CONTAINER_COMMAND = ['/bin/sh', '-c', 'echo ready; while :; do sleep 3600; done'];

/** The sandbox the comparison starts: a busybox root ("an image"), the usual namespaces. */
export function containerOptions(name: string, purpose: string): SandboxOptions {
  return {
    name,
    purpose,
    namespaces: CONTAINER_NAMESPACES,
    rootfs: { kind: 'busybox' },
    command: CONTAINER_COMMAND,
    limits: { pids: 16 },
    stdio: ['ignore', 'pipe', 'ignore'],
  };
}

export type CreateSandbox = (options: SandboxOptions) => Promise<Sandbox>;
const plainCreate: CreateSandbox = (o) => Sandbox.create(o);

/** The first line a sandbox writes on stdout (the rest is drained), or '' at the timeout. */
function firstLine(s: Sandbox, timeoutMs: number): Promise<string> {
  return new Promise((resolve) => {
    const out = s.stdout;
    if (!out) return resolve('');
    let buf = '';
    const done = (line: string) => {
      clearTimeout(timer);
      out.off('data', onData);
      out.off('end', onEnd);
      out.resume();
      resolve(line);
    };
    const onData = (c: Buffer) => {
      buf += c.toString('utf8');
      const nl = buf.indexOf('\n');
      if (nl >= 0) done(buf.slice(0, nl));
    };
    const onEnd = () => done(buf.trim());
    const timer = setTimeout(() => done(buf.trim()), timeoutMs);
    out.on('data', onData);
    out.on('end', onEnd);
  });
}

/** Starts one sandbox and times it from the create call to its "ready". */
export async function startContainer(
  name: string,
  purpose: string,
  create: CreateSandbox = plainCreate,
): Promise<{ sandbox: Sandbox; startMs: number }> {
  const t0 = performance.now();
  const sandbox = await create(containerOptions(name, purpose));
  const line = await firstLine(sandbox, 10_000);
  const startMs = performance.now() - t0;
  if (line !== 'ready') {
    await sandbox.destroy();
    throw new Error(`sandbox ${name} printed ${JSON.stringify(line.slice(0, 80))} instead of "ready"`);
  }
  return { sandbox, startMs };
}

export interface SandboxMemory {
  /** The cgroup's memory counter (null if unreadable). */
  cgroup: number | null;
  /** Sum of the PSS of its processes. */
  pss: number;
  processes: number;
}

export function sandboxMemory(s: Sandbox): SandboxMemory {
  const pids = s.pids();
  let pss = 0;
  for (const p of pids) pss += processMemory(p)?.pss ?? 0;
  return { cgroup: s.usage()?.memoryBytes ?? null, pss, processes: pids.length };
}

/** The file the cgroup memory figure comes from on this host. */
export function memoryFileName(): string {
  return cgroups().version === 1 ? 'memory.usage_in_bytes' : 'memory.current';
}

/** MemAvailable from /proc/meminfo, in bytes (null if unreadable). */
export function memAvailable(): number | null {
  try {
    const m = /^MemAvailable:\s+(\d{1,15}) kB$/m.exec(fs.readFileSync('/proc/meminfo', 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

export interface FillOptions {
  /** Stop once the sandboxes' memory (cgroup counters, summed) reaches this. */
  budgetBytes: number;
  /** Stop starting new ones after this long. Default 10 s. */
  timeMs?: number;
  /** At most this many. Default 200. */
  max?: number;
  /** Names: `${prefix}-${i}`. */
  prefix: string;
  purpose: string;
  create?: CreateSandbox;
  onStarted?: (n: number, bytes: number) => void;
  /** Checked before each start: true stops the fill (a lesson that is closing). */
  cancelled?: () => boolean;
}

export interface FillResult {
  started: number;
  elapsedMs: number;
  /** Which bound stopped it. */
  stoppedBy: 'memory' | 'time' | 'count' | 'host memory' | 'cancelled';
  /** Sum of the sandboxes' cgroup memory counters, and of their processes' PSS, at the end. */
  cgroupBytes: number;
  pssBytes: number;
  /** Median start-up, create to "ready". */
  startMsP50: number | null;
  /** The larger of the two per-sandbox means (cgroup counter, PSS): what one more would cost. */
  perSandboxBytes: number;
}

/**
 * Starts sandboxes one after another until their memory reaches the budget, the time is up, the
 * count is reached, or the host has less than a quarter of its memory left. The caller destroys
 * the sandboxes returned (they are also in the ledger, and die with their owner's cleanup).
 */
export async function fillSandboxes(o: FillOptions): Promise<{ sandboxes: Sandbox[]; result: FillResult }> {
  const timeMs = o.timeMs ?? 10_000;
  const max = Math.min(o.max ?? 200, 1000);
  const floor = os.totalmem() / 4;
  const sandboxes: Sandbox[] = [];
  const starts: number[] = [];
  const t0 = performance.now();
  let stoppedBy: FillResult['stoppedBy'] = 'count';
  let bytes = 0;
  const sum = () => {
    let cg = 0;
    let pss = 0;
    for (const s of sandboxes) {
      const m = sandboxMemory(s);
      cg += m.cgroup ?? 0;
      pss += m.pss;
    }
    return { cg, pss };
  };
  while (sandboxes.length < max) {
    if (o.cancelled?.()) {
      stoppedBy = 'cancelled';
      break;
    }
    if (performance.now() - t0 >= timeMs) {
      stoppedBy = 'time';
      break;
    }
    if (bytes >= o.budgetBytes) {
      stoppedBy = 'memory';
      break;
    }
    if ((memAvailable() ?? Infinity) < floor) {
      stoppedBy = 'host memory';
      break;
    }
    const { sandbox, startMs } = await startContainer(`${o.prefix}-${sandboxes.length + 1}`, o.purpose, o.create);
    sandboxes.push(sandbox);
    starts.push(startMs);
    // The counter of the newest, added to the running sum: re-reading every cgroup each time
    // would make the fill quadratic.
    const m = sandboxMemory(sandbox);
    bytes += Math.max(m.cgroup ?? 0, m.pss);
    o.onStarted?.(sandboxes.length, bytes);
  }
  if (sandboxes.length >= max) stoppedBy = bytes >= o.budgetBytes ? 'memory' : 'count';
  const elapsedMs = performance.now() - t0;
  const { cg, pss } = sum();
  const n = Math.max(1, sandboxes.length);
  return {
    sandboxes,
    result: {
      started: sandboxes.length,
      elapsedMs,
      stoppedBy,
      cgroupBytes: cg,
      pssBytes: pss,
      startMsP50: quantile(starts, 0.5),
      perSandboxBytes: Math.max(cg, pss) / n,
    },
  };
}

export interface VmFigures {
  accel: 'kvm' | 'tcg';
  accelNote: string;
  kernel: string;
  kernelSource: string;
  memoryMiB: number;
  bootMs: number;
  memory: ProcessMemory;
  cgroupBytes: number | null;
}

export interface DensityReport {
  machine: { kernel: string; cpu: string; cpus: number; memTotal: number; cgroup: string };
  container: { startMs: number[]; startMsP50: number | null; memory: SandboxMemory; memoryFile: string };
  /** null when no VM can boot here (`vmSkipped` says why). */
  vm: VmFigures | null;
  vmSkipped: string | null;
  /** VM ÷ sandbox: start-up (medians), memory (VM PSS ÷ the larger of the sandbox's figures). */
  ratios: { startup: number | null; memory: number | null };
  fill: FillResult & { budgetBytes: number; budgetIs: string };
  /** How many sandboxes fit in the memory one VM takes, at the fill's per-sandbox figure. */
  fitInOneVm: number | null;
  lecture: typeof LECTURE_DENSITY;
}

export function cpuModel(): string {
  try {
    return /^model name\s*:\s*(.*)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'))?.[1].trim() ?? os.cpus()[0]?.model ?? 'unknown';
  } catch {
    return os.cpus()[0]?.model ?? 'unknown';
  }
}

export interface DensityOptions {
  /** Name prefix for the sandboxes (and the VM). Default `density-<pid>`. */
  prefix?: string;
  purpose?: string;
  /** Sandboxes timed alone for the start-up median. Default 3. */
  startRuns?: number;
  /** The fill's time bound. Default 10 s. */
  fillMs?: number;
  fillMax?: number;
  /** Skip the VM (its figures are null, with this as the reason). */
  noVm?: string;
  /** Budget when there is no VM to compare with. Default 256 MiB. */
  fallbackBudget?: number;
  onProgress?: (note: string) => void;
}

/** Everything the comparison measures, in one run; nothing of it is left afterwards. */
export async function measureDensity(opts: DensityOptions = {}): Promise<DensityReport> {
  const prefix = (opts.prefix ?? `density-${process.pid}`).slice(0, 24);
  const purpose = opts.purpose ?? 'bench density';
  const note = opts.onProgress ?? (() => undefined);
  const created: Sandbox[] = [];
  let vm: BootedVm | null = null;
  try {
    note('starting sandboxes one at a time');
    const startMs: number[] = [];
    let memory: SandboxMemory = { cgroup: null, pss: 0, processes: 0 };
    for (let i = 0; i < Math.max(1, opts.startRuns ?? 3); i++) {
      const { sandbox, startMs: ms } = await startContainer(`${prefix}-c${i}`, purpose);
      created.push(sandbox);
      startMs.push(ms);
    }
    await new Promise((r) => setTimeout(r, 300));
    memory = sandboxMemory(created[created.length - 1]);
    for (const s of created.splice(0)) await s.destroy();

    const vmSkipped = opts.noVm ?? vmUnavailable();
    let vmFigures: VmFigures | null = null;
    if (!vmSkipped) {
      note('booting the VM');
      vm = await bootVm({ name: `${prefix}-vm`, purpose });
      await new Promise((r) => setTimeout(r, 300));
      vmFigures = {
        accel: vm.accel,
        accelNote: vm.accelNote,
        kernel: vm.kernel.version,
        kernelSource: vm.kernel.source,
        memoryMiB: Number(vm.command[vm.command.indexOf('-m') + 1]),
        bootMs: vm.bootMs,
        memory: processMemory(vm.sandbox.pid) ?? { pss: 0, rss: 0, pssAnon: 0 },
        cgroupBytes: vm.sandbox.usage()?.memoryBytes ?? null,
      };
      await vm.stop();
      vm = null;
    }
    const budgetBytes = vmFigures ? vmFigures.memory.pss : (opts.fallbackBudget ?? 256 * 1024 * 1024);
    note('starting sandboxes until they take the memory of one VM');
    const { sandboxes, result } = await fillSandboxes({
      budgetBytes,
      timeMs: opts.fillMs ?? 10_000,
      max: opts.fillMax ?? 200,
      prefix: `${prefix}-n`,
      purpose,
    });
    created.push(...sandboxes);
    for (const s of created.splice(0)) await s.destroy();

    const p50 = quantile(startMs, 0.5);
    const perContainer = Math.max(memory.cgroup ?? 0, memory.pss);
    return {
      machine: {
        kernel: os.release(),
        cpu: cpuModel(),
        cpus: os.cpus().length,
        memTotal: os.totalmem(),
        cgroup: cgroups().layout,
      },
      container: { startMs, startMsP50: p50, memory, memoryFile: memoryFileName() },
      vm: vmFigures,
      vmSkipped,
      ratios: {
        startup: vmFigures && p50 ? vmFigures.bootMs / p50 : null,
        memory: vmFigures && perContainer ? vmFigures.memory.pss / perContainer : null,
      },
      fill: { ...result, budgetBytes, budgetIs: vmFigures ? "the VM's PSS" : 'a fixed budget (no VM here)' },
      fitInOneVm: vmFigures && result.perSandboxBytes ? Math.floor(vmFigures.memory.pss / result.perSandboxBytes) : null,
      lecture: LECTURE_DENSITY,
    };
  } finally {
    for (const s of created) await s.destroy().catch(() => undefined);
    if (vm) await vm.stop();
  }
}
