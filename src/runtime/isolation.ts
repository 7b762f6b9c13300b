/**
 * The noisy-neighbour table (the lectures' isolation table, after the Isolation Benchmark Suite
 * that Xavier et al. ran on LXC, OpenVZ, VServer and Xen in 2013): a victim in sandbox A does a
 * fixed kind of work whose rate is measured, while a stressor runs in sandbox B; each row is one
 * stressor, measured twice: B without limits, then B with the limit that isolates. The figure is
 * the victim's degradation: how much of its rate, measured alone just before, it lost.
 *
 * Why everything is pinned to ONE CPU (cpuset): on a machine with two cores the scheduler would
 * otherwise put the neighbours on different cores and neither would notice the other; tenants of
 * a real host compete because there are more of them than cores. Pinned together, they really
 * compete, and each limit shows what it buys.
 *
 * Each measurement window is short (WINDOW_S, 1 s by default) so that the lesson's `--auto` stays
 * within a minute; the victim's rate alone is measured again before every row, so slow drift of
 * other work on the host lands on both sides of the comparison.
 *
 * The figures are plain data: the lesson `isolation`, `bench:isolation` and the instructor's
 * report all call measureIsolation() / measureRow().
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

import { cgroups } from './cgroup/index.js';
import { type Limits } from './cgroup/limits.js';
import { type ForkBomb, startForkBomb } from './forkbomb.js';
import { connectSandboxes, publishNetns, vethNames } from './net.js';
import { Sandbox, type SandboxOptions } from './sandbox.js';

export type IsolationStressor = 'cpu' | 'memory' | 'disk' | 'fork-bomb' | 'net-send' | 'net-receive';

export const ISOLATION_STRESSORS: readonly IsolationStressor[] = ['cpu', 'memory', 'disk', 'fork-bomb', 'net-send', 'net-receive'];

/** A cell of the 2013 table: a degradation in %, "DNR" (did not run), or null where we have no figure. */
export type Ref2013Cell = number | 'DNR' | null;

export interface Ref2013 {
  lxc: Ref2013Cell;
  openvz: Ref2013Cell;
  vserver: Ref2013Cell;
  xen: Ref2013Cell;
}

/**
 * The 2013 figures we can source. The lectures quote one cell of the table (LXC "did not run"
 * under the fork bomb); the paper itself (Xavier et al., PDP 2013, "Performance Evaluation of
 * Container-based Virtualization for High Performance Computing Environments") was not available
 * when this was written, so every other cell is null and shown as such: never a guessed number.
 */
export const REF_2013: Record<IsolationStressor, Ref2013> = {
  cpu: { lxc: null, openvz: null, vserver: null, xen: null },
  memory: { lxc: null, openvz: null, vserver: null, xen: null },
  disk: { lxc: null, openvz: null, vserver: null, xen: null },
  'fork-bomb': { lxc: 'DNR', openvz: null, vserver: null, xen: null },
  'net-send': { lxc: null, openvz: null, vserver: null, xen: null },
  'net-receive': { lxc: null, openvz: null, vserver: null, xen: null },
};

export const STRESSOR_LABEL: Record<IsolationStressor, string> = {
  cpu: 'CPU',
  memory: 'memory',
  disk: 'disk',
  'fork-bomb': 'fork bomb',
  'net-send': 'network send',
  'net-receive': 'network receive',
};

/** One row of the table. */
export interface IsolationRow {
  stressor: IsolationStressor;
  /** The victim's degradation with B unlimited, in % of its rate alone (null: not measured). */
  unlimitedPct: number | null;
  /** The same with B limited. */
  limitedPct: number | null;
  /** The limit that isolates, as the kernel files written on this host: "cpu.shares = 10". */
  limit: string;
  /** How the victim's rate is measured (the command), and in what unit. */
  probe: string;
  unit: string;
  /** The victim's rate: alone just before, beside B unlimited, beside B limited. */
  rates: { alone: number | null; unlimited: number | null; limited: number | null };
  /** What B ran. */
  stressorCommand: string;
  ref2013: Ref2013;
  /** Why this row was not measured on this host (a tool or a device missing), else absent. */
  skipped?: string;
  /** Evidence read from the kernel while B was limited ("oom_kill 1", "pids.max 64"…). */
  evidence?: string;
}

/** Where the measurements are, as they happen (for a live table). */
export type IsolationPhase = 'alone' | 'unlimited' | 'limited' | 'done';

/** Creates a sandbox under a key ('victim', 'cpu-b'…): a lesson's tracked ctx.sandbox, or Sandbox.create. */
export type CreateSandbox = (key: string, options: SandboxOptions) => Promise<Sandbox>;

/** The disk row's device: a loop device made for the measurement (src/runtime/loop.ts). */
export interface IsolationDisk {
  /** /dev/loopN */
  path: string;
  /** "MAJ:MIN" */
  device: string;
}

export interface IsolationOptions {
  /** The CPU every sandbox is pinned to (victim and stressors). */
  cpu: number;
  /** Seconds per measurement window (1–5). Default WINDOW_S. */
  windowS?: number;
  rows?: readonly IsolationStressor[];
  create?: CreateSandbox;
  /** The disk row's device; without one the row is skipped, with the reason. */
  disk?: IsolationDisk | null;
  /** Called as each phase starts and with each figure, so a view can fill the table live. */
  onProgress?: (row: IsolationRow, phase: IsolationPhase) => void;
  /**
   * Kept between the two network rows (the peer P and the neighbour B, joined to the victim by
   * veths): pass the same object to both, and call disposeIsolation() on it at the end.
   */
  shared?: IsolationShared;
}

export interface IsolationShared {
  net?: NetRig;
}

/** Removes what the network rows kept (the peer P, the neighbour B). */
export async function disposeIsolation(shared: IsolationShared): Promise<void> {
  const rig = shared.net;
  shared.net = undefined;
  if (rig) await rig.dispose();
}

export const WINDOW_S = 1;
/** Slices per window: SLICES pairs of (B frozen, B running), each window / SLICES long. */
const SLICES = 8;
/** After a freeze or thaw, before counting: the tasks stop (or start) within a few ms. */
const SETTLE_MS = 20;
/** How long a stressor may take to get going (see until()). */
const READY_MS = 15_000;
/** The weight the isolating CPU limit gives B (v2 scale; v1 cpu.shares 10): 1 % of the victim's 100. */
export const NEIGHBOUR_WEIGHT = 1;
/** The memory hog's size, and the memory.max that stops it. */
export const HOG_BYTES = 256 * 1024 * 1024;
export const HOG_LIMIT = 32 * 1024 * 1024;
/** The fork bomb's pids.max: the runtime never runs one without (both phases). */
export const BOMB_PIDS = 64;
/** The disk writer's throttle. */
export const DISK_WBPS = 4 * 1024 * 1024;
/** The network stressor's rate limit (tc tbf). */
export const NET_RATE = '20mbit';
/** Every stressor ends on its own after this long, whatever happens to us. */
const STRESS_DEADLINE_S = 180;

const T0 = performance.now();
function debug(msg: string): void {
  if (process.env.SANDBOX_ISOLATION_DEBUG) process.stderr.write(`[${((performance.now() - T0) / 1000).toFixed(2)}] ${msg}\n`);
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function hasCommand(name: string): boolean {
  for (const dir of ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin']) {
    try {
      fs.accessSync(`${dir}/${name}`, fs.constants.X_OK);
      return true;
    } catch {
      /* next */
    }
  }
  return false;
}

/** Degradation in % (one decimal): how much of `alone` the victim lost. Negative = it did better (noise). */
export function degradation(alone: number | null, beside: number | null): number | null {
  if (alone === null || beside === null || !(alone > 0)) return null;
  return Math.round((1 - beside / alone) * 1000) / 10;
}

/**
 * stress-ng's metrics line for a stressor: "stress-ng: metrc: [123] cpu  1781  2.00  0.70 …"
 * (older versions say "info:"): bogo ops and real seconds, as ops per second. Bounded: at most
 * 15 digits per figure.
 */
export function parseBogoRate(output: string, stressor: string): number | null {
  const re = new RegExp(`\\]\\s+${stressor}\\s+(\\d{1,15})\\s+(\\d{1,9}(?:\\.\\d{1,6})?)\\s`, 'm');
  const m = re.exec(output);
  if (!m) return null;
  const ops = Number(m[1]);
  const secs = Number(m[2]);
  return secs > 0 ? ops / secs : null;
}

/** iperf3 -J: bits per second received (end.sum_received), or null. */
export function parseIperfBps(json: string): number | null {
  try {
    const j = JSON.parse(json) as { end?: { sum_received?: { bits_per_second?: unknown } } };
    const v = j.end?.sum_received?.bits_per_second;
    return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : null;
  } catch {
    return null;
  }
}

/** fio --output-format=json: bytes per second read by the first job, or null. */
export function parseFioReadBps(json: string): number | null {
  try {
    const start = json.indexOf('{');
    const j = JSON.parse(json.slice(start)) as { jobs?: { read?: { bw_bytes?: unknown } }[] };
    const v = j.jobs?.[0]?.read?.bw_bytes;
    return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : null;
  } catch {
    return null;
  }
}

/** A sandbox that only holds namespaces (sandbox-init), pinned to the CPU, with `limits`. */
function pinned(cpu: number, limits: Limits = {}, namespaces: SandboxOptions['namespaces'] = ['pid', 'mount'], extra: Partial<SandboxOptions> = {}): SandboxOptions {
  return { namespaces, init: true, stdio: 'ignore', limits: { cpus: String(cpu), ...limits }, ...extra };
}

/** The kernel files a set of limits is written to on this host, as "file = value" lines. */
function limitText(limits: Limits): string {
  return cgroups()
    .planLimits('isolation-plan', limits)
    .filter((w) => w.limit !== 'cpus')
    .map((w) => `${w.file} = ${w.value}`)
    .join(', ');
}

function readFileOr(file: string | undefined): string | null {
  try {
    return file ? fs.readFileSync(file, 'utf8') : null;
  } catch {
    return null;
  }
}

/** OOM kills counted in a sandbox's memory cgroup (v2 memory.events, v1 memory.oom_control). */
export function oomKills(name: string): number | null {
  return cgroups().usage(name).oomKills;
}

/**
 * One stressor row, against a running victim sandbox. Leaves the limited neighbour in place
 * (stressor stopped, its cgroup with the limit still readable) and returns it, so that a lesson's
 * checks can read the limit from the kernel; measureIsolation() destroys it.
 */
export async function measureRow(
  stressor: IsolationStressor,
  victim: Sandbox,
  options: IsolationOptions,
): Promise<{ row: IsolationRow; neighbour: Sandbox | null }> {
  const windowS = Math.min(5, Math.max(1, Math.round(options.windowS ?? WINDOW_S)));
  const create: CreateSandbox = options.create ?? ((key, o) => Sandbox.create({ purpose: 'isolation', ...o, name: `iso-${key}-${process.pid % 100000}` }));
  const cpu = options.cpu;
  const row: IsolationRow = {
    stressor,
    unlimitedPct: null,
    limitedPct: null,
    limit: '',
    probe: '',
    unit: '',
    rates: { alone: null, unlimited: null, limited: null },
    stressorCommand: '',
    ref2013: REF_2013[stressor],
  };
  const report = (phase: IsolationPhase) => options.onProgress?.({ ...row, rates: { ...row.rates } }, phase);

  const kind = stressor === 'disk' ? 'disk' : stressor.startsWith('net-') ? 'net' : 'cpu';
  const need = kind === 'disk' ? ['fio'] : kind === 'net' ? ['iperf3', 'tc', 'ip'] : ['stress-ng'];
  const missing = need.filter((c) => !hasCommand(c));
  if (missing.length) {
    row.skipped = `${missing.join(' and ')} not installed (Debian: apt-get install ${missing.map((m) => (m === 'tc' || m === 'ip' ? 'iproute2' : m)).join(' ')})`;
    report('done');
    return { row, neighbour: null };
  }
  if (kind === 'disk' && !options.disk) {
    row.skipped = 'no loop device for the disk row on this host (see the lesson\'s log for why)';
    report('done');
    return { row, neighbour: null };
  }

  // ---- the victim: runs through the whole row; its progress is a counter the kernel keeps ----
  let progress: () => number | null;
  let net: NetRig | null = null;
  if (kind === 'cpu') {
    const cmd = ['stress-ng', '--cpu', '1', '--cpu-method', 'int64', '--timeout', `${STRESS_DEADLINE_S}s`];
    await victim.exec(cmd, { stdio: 'ignore' });
    const file = cpuUsageFile(victim.name);
    row.probe = `${cmd.join(' ')} in A; its CPU time: ${file}`;
    row.unit = 'ms of CPU per s';
    progress = () => {
      const u = victim.usage()?.cpuUsec;
      return u === null || u === undefined ? null : u / 1000;
    };
  } else if (kind === 'disk') {
    const d = options.disk!;
    const cmd = ['fio', '--name=victim', `--filename=${d.path}`, '--readonly', '--rw=read', '--bs=64k', '--direct=1', '--ioengine=psync', '--size=32M', '--time_based', `--runtime=${STRESS_DEADLINE_S}`, '--output=/dev/null'];
    await victim.exec(cmd, { stdio: 'ignore' });
    row.probe = `${cmd.join(' ')} in A; bytes it read: ${ioStatFile(victim.name)}`;
    row.unit = 'MB/s read';
    progress = () => {
      const b = victim.usage()?.ioReadBytes;
      return b === null || b === undefined ? null : b / 1e6;
    };
  } else {
    const shared = options.shared ?? {};
    shared.net ??= await netRig(victim, create, cpu);
    net = shared.net;
    const rig = net;
    // The other network row's limit comes off first: each row starts from an unlimited neighbour.
    for (const [ns, link] of [
      [rig.nsB, rig.linkB],
      [rig.nsP, rig.linkPB],
    ]) {
      try {
        tc(['-n', ns, 'qdisc', 'del', 'dev', link, 'root']);
      } catch {
        /* none there */
      }
    }
    const cmd = ['iperf3', '-c', rig.peerAddrA, '-p', '5201', '-t', String(STRESS_DEADLINE_S)];
    await rig.victim.exec(cmd, { stdio: 'ignore' });
    row.probe = `${cmd.join(' ')} in A; bytes sent: ${rig.linkA} in /proc/${rig.victim.pid}/net/dev`;
    row.unit = 'Mbit/s';
    progress = () => {
      const b = txBytes(rig.victim.pid, rig.linkA);
      return b === null ? null : (b * 8) / 1e6;
    };
  }

  try {
    await sleep(200);

    /**
     * Alternates short slices with B frozen (the victim alone) and B running (the victim beside
     * it), so that other work on this host, which comes and goes, lands on both alike; returns
     * the victim's rate in each. Freezing stops every task of B's cgroup at once, the fork bomb's
     * included; thawing lets them go on where they were.
     */
    const paired = async (b: Sandbox): Promise<{ alone: number | null; beside: number | null }> => {
      let aloneWork = 0;
      let aloneMs = 0;
      let besideWork = 0;
      let besideMs = 0;
      const slice = (windowS * 1000) / SLICES;
      for (let i = 0; i < SLICES; i++) {
        for (const frozen of [true, false]) {
          freeze(b.name, frozen);
          await sleep(SETTLE_MS);
          const c0 = progress();
          const t0 = performance.now();
          await sleep(slice);
          const c1 = progress();
          const ms = performance.now() - t0;
          if (c0 === null || c1 === null) return { alone: null, beside: null };
          if (frozen) {
            aloneWork += c1 - c0;
            aloneMs += ms;
          } else {
            besideWork += c1 - c0;
            besideMs += ms;
          }
        }
      }
      return { alone: (aloneWork / aloneMs) * 1000, beside: (besideWork / besideMs) * 1000 };
    };

    // ---- B without limits, then B with the limit that isolates --------------------------------
    const phase = async (limited: boolean): Promise<{ alone: number | null; beside: number | null; neighbour: Sandbox; stop: () => Promise<void> }> => {
      const key = `${stressor}-${limited ? 'lim' : 'free'}`;
      let b: Sandbox;
      let stop: () => Promise<void>;
      switch (stressor) {
        case 'cpu':
        case 'memory': {
          // The memory limit from the start (v1 refuses a limit below what the group already holds);
          // the CPU weight once the stressor runs (see below).
          const limits: Limits = limited ? (stressor === 'cpu' ? { cpuWeight: NEIGHBOUR_WEIGHT } : { memory: HOG_LIMIT }) : {};
          b = await create(key, pinned(cpu, stressor === 'memory' ? limits : {}));
          // --oomable: a hog the OOM killer ends stays ended (stress-ng would otherwise restart it).
          const cmd =
            stressor === 'cpu'
              ? ['stress-ng', '--cpu', '1', '--cpu-method', 'int64', '--timeout', `${STRESS_DEADLINE_S}s`]
              : ['stress-ng', '--vm', '1', '--vm-bytes', `${HOG_BYTES / 1024 / 1024}M`, '--oomable', '--timeout', `${STRESS_DEADLINE_S}s`];
          row.stressorCommand = cmd.join(' ');
          if (limited) row.limit = limitText(limits);
          await b.exec(cmd, { stdio: 'ignore' });
          stop = () => stopExecs(b);
          const nb = b;
          if (stressor === 'cpu') await until(() => cgroups().procs(nb.name).length >= 3);
          else if (limited) await until(() => (nb.usage()?.oomKills ?? 0) >= 1);
          else await until(() => (nb.usage()?.memoryBytes ?? 0) >= HOG_BYTES / 4);
          await sleep(200);
          // A low weight given at creation would starve B's own start-up (sandbox-init, stress-ng)
          // on the victim's busy CPU: it is written to the running group instead, as a learner would.
          if (limited && stressor === 'cpu') b.setLimits(limits);
          break;
        }
        case 'fork-bomb': {
          const limits: Limits = limited ? { pids: BOMB_PIDS, cpuWeight: NEIGHBOUR_WEIGHT } : { pids: BOMB_PIDS };
          b = await create(key, pinned(cpu, { pids: BOMB_PIDS }));
          row.stressorCommand = "perl -e 'while (1) { fork() }'";
          if (limited) row.limit = limitText(limits);
          const bomb: ForkBomb = await startForkBomb(b, { deadlineMs: STRESS_DEADLINE_S * 1000 });
          stop = async () => void bomb.kill();
          const t0 = performance.now();
          for (let u = b.usage(); !(u && u.pidsCurrent === u.pidsMax) && performance.now() - t0 < READY_MS; u = b.usage()) await sleep(20);
          // The weight once the bomb is full: it then burns its CPU at pids.max, and the weight
          // decides how much of it the victim gets back (OpenVZ's fair scheduler did this in 2013).
          if (limited) b.setLimits({ cpuWeight: NEIGHBOUR_WEIGHT });
          break;
        }
        case 'disk': {
          const d = options.disk!;
          const limits: Limits = limited ? { io: [{ device: d.device, wbps: DISK_WBPS }] } : {};
          b = await create(key, pinned(cpu, limits, ['pid', 'mount'], { rootfs: { kind: 'none' } }));
          const cmd = ['fio', '--name=stressor', `--filename=${d.path}`, '--rw=write', '--bs=64k', '--direct=1', '--ioengine=psync', '--offset=32M', '--size=32M', '--time_based', `--runtime=${STRESS_DEADLINE_S}`, '--output=/dev/null'];
          row.stressorCommand = cmd.join(' ');
          if (limited) row.limit = limitText(limits);
          await b.exec(cmd, { stdio: 'ignore' });
          stop = () => stopExecs(b);
          const nb = b;
          await until(() => (nb.usage()?.ioWriteBytes ?? 0) > 0);
          await sleep(200);
          break;
        }
        case 'net-send':
        case 'net-receive': {
          const rig = net!;
          b = rig.neighbour;
          // The neighbour's link: tbf on the sending side's veth holds it to NET_RATE.
          const dev = stressor === 'net-send' ? { ns: rig.nsB, link: rig.linkB } : { ns: rig.nsP, link: rig.linkPB };
          if (limited) {
            tc(['-n', dev.ns, 'qdisc', 'replace', 'dev', dev.link, 'root', 'tbf', 'rate', NET_RATE, 'burst', '32kbit', 'latency', '50ms']);
            row.limit = `tc -n ${dev.ns} qdisc add dev ${dev.link} root tbf rate ${NET_RATE} burst 32kbit latency 50ms`;
          }
          const cmd = ['iperf3', '-c', rig.peerAddrB, '-p', '5202', '-t', String(STRESS_DEADLINE_S), ...(stressor === 'net-receive' ? ['-R'] : [])];
          row.stressorCommand = cmd.join(' ');
          await b.exec(cmd, { stdio: 'ignore' });
          const nb = b;
          const dir = stressor === 'net-send' ? 'tx' : 'rx';
          const before = txBytes(nb.pid, rig.linkB, dir) ?? 0;
          await until(() => (txBytes(nb.pid, rig.linkB, dir) ?? 0) - before > 1_000_000);
          stop = async () => {
            await stopExecs(b);
            if (limited) row.evidence = (tcShow(dev.ns, dev.link) ?? '').split('\n')[0].trim();
          };
          await sleep(200);
          break;
        }
      }
      try {
        debug(`${key}: measuring; B procs ${cgroups().procs(b.name).length}, B cpu ${b.usage()?.cpuUsec}`);
        const r = await paired(b);
        debug(`${key}: measured ${JSON.stringify(r)}; B cpu ${b.usage()?.cpuUsec}`);
        if (limited) {
          const u = b.usage();
          if (stressor === 'memory') row.evidence = `oom_kill ${u?.oomKills ?? '?'} in B's memory cgroup`;
          if (stressor === 'fork-bomb') row.evidence = `pids.current ${u?.pidsCurrent ?? '?'} of pids.max ${u?.pidsMax ?? '?'}, ${u?.pidsRefused ?? '?'} forks refused`;
          if (stressor === 'disk') row.evidence = `B wrote ${u?.ioWriteBytes === undefined || u?.ioWriteBytes === null ? '?' : `${(u.ioWriteBytes / 1e6).toFixed(1)} MB`} in all`;
        }
        return { ...r, neighbour: b, stop };
      } finally {
        freeze(b.name, false);
      }
    };

    report('unlimited');
    debug(`${stressor}: start`);
    const free = await phase(false);
    debug(`${stressor}: free phase done`);
    // Killed now, removed in the background while the limited phase runs (removal waits for the
    // kernel to reap; nothing of it competes for the CPU).
    let gone: Promise<unknown> = Promise.resolve();
    await free.stop();
    if (free.neighbour !== net?.neighbour) {
      gone = free.neighbour.destroy().catch(() => undefined);
    }
    row.rates.alone = free.alone;
    row.rates.unlimited = free.beside;
    row.unlimitedPct = degradation(free.alone, free.beside);
    report('limited');
    debug(`${stressor}: free neighbour gone`);
    const lim = await phase(true);
    await lim.stop();
    debug(`${stressor}: limited phase done`);
    row.rates.limited = lim.beside;
    row.limitedPct = degradation(lim.alone, lim.beside);
    if (free.alone !== null && lim.alone !== null) row.rates.alone = (free.alone + lim.alone) / 2;
    await gone;
    report('done');
    return { row, neighbour: lim.neighbour };
  } finally {
    await stopExecs(net ? net.victim : victim);
    if (net && !options.shared) await net.dispose();
  }
}

/**
 * Waits (at most READY_MS) until the kernel shows the stressor at work: a slow machine (the
 * emulated v2 guest runs 10× slower) may take seconds to start it, and a window measured before
 * that would measure its start-up, not the stress.
 */
async function until(ready: () => boolean): Promise<void> {
  const t0 = performance.now();
  while (!ready() && performance.now() - t0 < READY_MS) await sleep(20);
}

/** Freezes (or thaws) every task of a sandbox's cgroup: v1 freezer.state, v2 cgroup.freeze. */
function freeze(name: string, on: boolean): void {
  const cg = cgroups();
  if (cg.version === 2) {
    const d = cg.dirs(name)[0];
    if (d) fs.writeFileSync(`${d}/cgroup.freeze`, on ? '1' : '0');
    return;
  }
  const d = cg.dirs(name).find((x) => fs.existsSync(`${x}/freezer.state`));
  if (d) fs.writeFileSync(`${d}/freezer.state`, on ? 'FROZEN' : 'THAWED');
}

function cpuUsageFile(name: string): string {
  const cg = cgroups();
  if (cg.version === 2) return `${cg.dirs(name)[0]}/cpu.stat (usage_usec)`;
  return `${cg.dirs(name).find((d) => fs.existsSync(`${d}/cpuacct.usage`)) ?? '(cpuacct)'}/cpuacct.usage`;
}

function ioStatFile(name: string): string {
  const cg = cgroups();
  if (cg.version === 2) return `${cg.dirs(name)[0]}/io.stat (rbytes)`;
  return `${cg.dirs(name).find((d) => fs.existsSync(`${d}/blkio.throttle.io_service_bytes_recursive`)) ?? '(blkio)'}/blkio.throttle.io_service_bytes_recursive (Read)`;
}

/** Bytes sent on an interface, from /proc/PID/net/dev (the namespace PID is in), or null. Bounded: 20 digits. */
export function txBytes(pid: number, link: string, field: 'tx' | 'rx' = 'tx'): number | null {
  try {
    const line = fs
      .readFileSync(`/proc/${pid}/net/dev`, 'utf8')
      .split('\n')
      .find((l) => l.trim().startsWith(`${link}:`));
    const f = line?.split(':')[1]?.trim().split(/\s+/);
    const i = field === 'tx' ? 8 : 0;
    return f && /^\d{1,20}$/.test(f[i] ?? '') ? Number(f[i]) : null;
  } catch {
    return null;
  }
}

/**
 * Ends what was exec'd in a sandbox: SIGKILL to every process of its cgroup but its PID 1
 * (sandbox-init, which keeps the sandbox, and its cgroup with the limit, for a look afterwards).
 * SIGTERM would do, but stress-ng then takes seconds to wind its workers down.
 */
async function stopExecs(s: Sandbox): Promise<void> {
  for (let round = 0; round < 50; round++) {
    const others = s.isDestroyed ? [] : cgroups().procs(s.name).filter((pid) => pid !== s.pid);
    if (!others.length) return;
    for (const pid of others) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone already */
      }
    }
    await sleep(20);
  }
}

function tc(args: string[]): void {
  execFileSync('tc', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function tcShow(ns: string, link: string): string | null {
  try {
    return execFileSync('tc', ['-n', ns, '-s', 'qdisc', 'show', 'dev', link], { encoding: 'utf8' });
  } catch {
    return null;
  }
}

function ipIn(ns: string, args: string[]): void {
  execFileSync('ip', ['-n', ns, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
}

/**
 * The network rows' rig: sandbox P (the peer, two iperf3 servers) joined to the victim's sandbox
 * A' and to the neighbour B by a veth pair each, all three pinned to the CPU. Network stress on
 * one host is CPU work (copies, softirq), so the victim's stream and the neighbour's compete for
 * that CPU; a rate limit on the neighbour's link gives it back.
 */
export interface NetRig {
  victim: Sandbox;
  neighbour: Sandbox;
  linkA: string;
  nsB: string;
  nsP: string;
  linkB: string;
  linkPB: string;
  peerAddrA: string;
  peerAddrB: string;
  dispose: () => Promise<void>;
}

async function netRig(a: Sandbox, create: CreateSandbox, cpu: number): Promise<NetRig> {
  const made: Sandbox[] = [];
  try {
    const opts = pinned(cpu, {}, ['pid', 'mount', 'net']);
    const b = await create('net-b', opts);
    made.push(b);
    const p = await create('net-p', opts);
    made.push(p);
    const [nsA, nsB, nsP] = [a, b, p].map((s) => publishNetns(s).name);
    const [la, lpa] = vethNames('ia');
    connectSandboxes(a, p, [la, lpa]);
    const [lb, lpb] = vethNames('ib');
    connectSandboxes(b, p, [lb, lpb]);
    ipIn(nsA, ['addr', 'add', '10.77.1.1/24', 'dev', la]);
    ipIn(nsP, ['addr', 'add', '10.77.1.2/24', 'dev', lpa]);
    ipIn(nsB, ['addr', 'add', '10.77.2.1/24', 'dev', lb]);
    ipIn(nsP, ['addr', 'add', '10.77.2.2/24', 'dev', lpb]);
    for (const [ns, l] of [
      [nsA, la],
      [nsP, lpa],
      [nsB, lb],
      [nsP, lpb],
      [nsA, 'lo'],
      [nsB, 'lo'],
      [nsP, 'lo'],
    ]) {
      ipIn(ns, ['link', 'set', l, 'up']);
    }
    await p.exec(['iperf3', '-s', '-p', '5201'], { stdio: 'ignore' });
    await p.exec(['iperf3', '-s', '-p', '5202'], { stdio: 'ignore' });
    await sleep(300);
    return {
      victim: a,
      neighbour: b,
      linkA: la,
      nsB,
      nsP,
      linkB: lb,
      linkPB: lpb,
      peerAddrA: '10.77.1.2',
      peerAddrB: '10.77.2.2',
      dispose: async () => {
        await b.destroy();
        await p.destroy();
      },
    };
  } catch (err) {
    for (const s of made) await s.destroy().catch(() => undefined);
    throw err;
  }
}

/** The victim's sandbox: sandbox-init holding its namespaces, pinned to the CPU. */
export function victimOptions(cpu: number): SandboxOptions {
  // A network namespace for the network rows; the host's files (rootfs none) for the loop device.
  return pinned(cpu, {}, ['pid', 'mount', 'net'], { rootfs: { kind: 'none' } });
}

/**
 * Every row, one after the other: the victim alone, beside B unlimited, beside B limited. Makes
 * and destroys its own sandboxes (unless `create` tracks them for a lesson).
 */
export async function measureIsolation(options: IsolationOptions): Promise<IsolationRow[]> {
  const create: CreateSandbox = options.create ?? ((key, o) => Sandbox.create({ purpose: 'isolation', ...o, name: `iso-${key}-${process.pid % 100000}` }));
  const rows: IsolationRow[] = [];
  const victim = await create('victim', victimOptions(options.cpu));
  const shared: IsolationShared = {};
  try {
    for (const s of options.rows ?? ISOLATION_STRESSORS) {
      const { row, neighbour } = await measureRow(s, victim, { ...options, create, shared });
      rows.push(row);
      if (neighbour !== shared.net?.neighbour) await neighbour?.destroy();
    }
  } finally {
    await disposeIsolation(shared);
    await victim.destroy();
  }
  return rows;
}

/** A limit file of a sandbox's cgroup as the kernel reads it back now (first hierarchy that has it), or null. */
export function readLimitBack(name: string, file: string): string | null {
  const dir = cgroups()
    .dirs(name)
    .find((d) => fs.existsSync(`${d}/${file}`));
  return dir ? (readFileOr(`${dir}/${file}`)?.trim() ?? null) : null;
}
