/**
 * The cost of a container, measured: the same static program (native/latctx.c) run on the host
 * and inside a sandbox (new pid, mount, uts, ipc and net namespaces, a cgroup of its own), both
 * pinned to one CPU, interleaved host, sandbox, sandbox, host so that drift in the machine's load
 * lands on both alike; and TCP throughput (iperf3) between two network namespaces over loopback,
 * veth, macvlan and VLAN. Every figure is a ratio measured in one run. The lesson `overhead`, the
 * benchmark bench/overhead.ts and the instructor's report all call these functions and get plain
 * rows back.
 *
 * Network devices are created directly inside the sandboxes' network namespaces (`ip link add …
 * netns PID`), never on the host, and recorded in the ledger first; when a sandbox goes (destroy,
 * cleanup, or the kernel tearing down its namespace after a kill) the kernel deletes them.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { SandboxError, usageError } from './errors.js';
import { PACKAGE_ROOT } from './native.js';
import { recordNetNames } from './net.js';
import { Sandbox, type SandboxOptions } from './sandbox.js';

/** What the lectures (2013) said, next to each of our figures: quoted, never made up. */
export const LECTURE = {
  ctx: 'higher in a container (a table by process size and count); its figures are not reproduced here',
  syscall: '"close to 0 % overhead" (qualitative)',
  spawn: '"close to 0 % overhead" (qualitative)',
  net: 'veth, macvlan and VLAN "cost about 1 %"',
} as const;

export const CTX_SIZES_KB = [0, 16, 32];
export const CTX_PROCS = [2, 10, 100, 500];
/** latctx's own bounds (native/latctx.c). */
const MAX_PROCS = 1000;
const MAX_SIZE_KB = 4096;
const MAX_MS = 10_000;

export interface OverheadRow {
  group: 'ctx' | 'syscall' | 'spawn' | 'net';
  /** "2 procs, 16 KB", "getppid()", "veth". */
  label: string;
  unit: string;
  host: number | null;
  sandbox: number | null;
  /** sandbox / host (net: the device / loopback); null when a side is missing. */
  ratio: number | null;
  /** The lecture's figure or claim for this row. */
  lecture: string;
  /** How it was measured: the command a learner could run. */
  probe: string;
  /** Why a row has no figure (e.g. "this kernel has no VLAN support"). */
  skipped?: string;
}

/** The static latctx program built next to the addon (binding.gyp target latctx). */
export function latctxPath(): string {
  const p = path.join(PACKAGE_ROOT, 'build', 'Release', 'latctx');
  if (!fs.existsSync(p)) {
    throw new SandboxError(`the latctx program is missing (${p})`, { code: 'E_NO_ADDON', hint: 'run `npm run build:native` in the sandbox directory to build it' });
  }
  return p;
}

/** One latctx line ("ctx size_kb=0 … switch_us=3.1") as numbers by key. */
export function parseLatctx(line: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of line.matchAll(/(\w+)=(\d{1,12}(?:\.\d{1,6})?)(?=\s|$)/g)) out[m[1]] = Number(m[2]);
  return out;
}

function bounded(n: number, min: number, max: number, what: string): number {
  if (!Number.isInteger(n) || n < min || n > max) throw usageError(`${what} ${n}: out of range`, `give ${min} to ${max}`);
  return n;
}

function hostRun(argv: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(argv[0], argv.slice(1), { encoding: 'utf8', timeout: 60_000 }, (err, stdout, stderr) => {
      if (err) reject(new SandboxError(`${argv.join(' ')}: ${(stderr || err.message).trim()}`, { code: 'E_MEASURE', step: 'latctx', cause: err }));
      else resolve(stdout);
    });
  });
}

async function sandboxRun(s: Sandbox, argv: string[]): Promise<string> {
  const r = await s.execOutput(argv);
  if (r.status.code !== 0) throw new SandboxError(`in ${s.name}: ${argv.join(' ')}: ${r.stderr.trim() || `status ${JSON.stringify(r.status)}`}`, { code: 'E_MEASURE', step: 'latctx' });
  return r.stdout;
}

/** The sandbox the program runs in: the namespaces a container has, its own cgroup, one CPU. */
export function overheadSandboxOptions(cpu: number): SandboxOptions {
  return {
    purpose: 'overhead',
    namespaces: ['pid', 'mount', 'uts', 'ipc', 'net'],
    // The host's files (latctx lives in the package's build directory), a fresh /proc.
    rootfs: { kind: 'none' },
    init: true,
    stdio: 'ignore',
    limits: { pids: MAX_PROCS + 50, cpus: String(cpu) },
  };
}

export interface PairOptions {
  cpu: number;
  /** Host, sandbox, sandbox, host per round. Default 1. */
  rounds?: number;
}

/**
 * Runs `latctx -c CPU ARGS` on the host and in the sandbox, interleaved (host, sandbox, sandbox,
 * host per round), and returns the lowest `key` of each side: other work on the CPU only ever adds
 * time to a run (it runs while the ring waits), so the best run is the closest to the cost itself,
 * as lmbench reports it.
 */
async function pair(s: Sandbox, args: string[], key: string, o: PairOptions): Promise<{ host: number | null; sandbox: number | null }> {
  const argv = [latctxPath(), '-c', String(o.cpu), ...args];
  const h: number[] = [];
  const b: number[] = [];
  const get = (out: string) => parseLatctx(out)[key];
  for (let r = 0; r < (o.rounds ?? 1); r++) {
    h.push(get(await hostRun(argv)));
    b.push(get(await sandboxRun(s, argv)));
    b.push(get(await sandboxRun(s, argv)));
    h.push(get(await hostRun(argv)));
  }
  return { host: lowest(h), sandbox: lowest(b) };
}

function lowest(xs: number[]): number | null {
  const v = xs.filter((x) => Number.isFinite(x));
  return v.length ? Math.min(...v) : null;
}

export function median(xs: number[]): number | null {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, c) => a - c);
  if (!v.length) return null;
  const m = Math.floor(v.length / 2);
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

function ratioOf(a: number | null, b: number | null): number | null {
  return a !== null && b !== null && b > 0 ? Number((a / b).toFixed(3)) : null;
}

function row(group: OverheadRow['group'], label: string, unit: string, v: { host: number | null; sandbox: number | null }, probe: string): OverheadRow {
  return { group, label, unit, host: v.host, sandbox: v.sandbox, ratio: ratioOf(v.sandbox, v.host), lecture: LECTURE[group], probe };
}

export interface ContextSwitchOptions extends PairOptions {
  sizesKb?: number[];
  procs?: number[];
  /** How long each run passes the token around. Default 100 ms. */
  ms?: number;
  /** Called as each row is measured (the lesson's table fills in live). */
  onRow?: (row: OverheadRow) => void;
}

/** Context switch time, host vs sandbox, by process size and count: µs per switch. */
export async function measureContextSwitch(s: Sandbox, o: ContextSwitchOptions): Promise<OverheadRow[]> {
  const ms = bounded(o.ms ?? 100, 1, MAX_MS, 'window (ms)');
  const rows: OverheadRow[] = [];
  for (const procs of o.procs ?? CTX_PROCS) {
    bounded(procs, 2, MAX_PROCS, 'processes');
    for (const kb of o.sizesKb ?? CTX_SIZES_KB) {
      bounded(kb, 0, MAX_SIZE_KB, 'size (KB)');
      const v = await pair(s, ['ctx', String(kb), String(procs), String(ms)], 'switch_us', o);
      const r = row('ctx', `${procs} procs, ${kb} KB`, 'µs', v, `latctx -c ${o.cpu} ctx ${kb} ${procs} ${ms}`);
      rows.push(r);
      o.onRow?.(r);
    }
  }
  return rows;
}

/** getppid() cost and fork + exec + wait cost, host vs sandbox. */
export async function measureSyscalls(s: Sandbox, o: PairOptions & { ms?: number; onRow?: (row: OverheadRow) => void }): Promise<OverheadRow[]> {
  const ms = bounded(o.ms ?? 200, 1, MAX_MS, 'window (ms)');
  const sys = row('syscall', 'getppid()', 'ns', await pair(s, ['syscall', String(ms)], 'ns', o), `latctx -c ${o.cpu} syscall ${ms}`);
  o.onRow?.(sys);
  const sp = row('spawn', 'fork + exec + wait', 'µs', await pair(s, ['spawn', String(ms)], 'us', o), `latctx -c ${o.cpu} spawn ${ms}`);
  o.onRow?.(sp);
  return [sys, sp];
}

// ----- network -----------------------------------------------------------------------------

export type LinkKind = 'loopback' | 'veth' | 'macvlan' | 'vlan';
export const LINK_KINDS: LinkKind[] = ['loopback', 'veth', 'macvlan', 'vlan'];

/** Device names, all sbx-…, created inside the two namespaces only. */
export const NET_DEVICES = {
  veth: ['sbx-o-veth-a', 'sbx-o-veth-b'],
  trunk: ['sbx-o-trunk-a', 'sbx-o-trunk-b'],
  macvlan: ['sbx-o-mvl-a', 'sbx-o-mvl-b'],
  vlan: ['sbx-o-vlan-a', 'sbx-o-vlan-b'],
} as const;

/** The server's address per link (the client's is .1 of the same /24). */
export const SERVER_IP: Record<LinkKind, string> = { loopback: '127.0.0.1', veth: '10.201.1.2', macvlan: '10.201.2.2', vlan: '10.201.3.2' };
const MTU = '1500';
const IPERF_PORT = 5201;

function runIp(argv: string[]): Promise<string> {
  return hostRun(argv);
}

/** `ip ARGS` inside the network namespace of `pid` (nsenter -n: only the net namespace). */
export function ipIn(pid: number, args: string[]): Promise<string> {
  return runIp(['nsenter', `--net=/proc/${pid}/ns/net`, 'ip', ...args]);
}

/** The two namespaces' sandboxes for the network rows. */
export function netSandboxOptions(side: 'a' | 'b'): SandboxOptions {
  return { purpose: `overhead net-${side}`, namespaces: ['pid', 'mount', 'net'], rootfs: { kind: 'none' }, init: true, stdio: 'ignore', limits: { pids: 32 } };
}

export interface NetLinks {
  /** Links made, by kind; a kind the kernel cannot make is absent, with the reason in `missing`. */
  made: LinkKind[];
  missing: Partial<Record<LinkKind, string>>;
  /** The commands run, for the learner. */
  commands: string[];
}

/**
 * Builds the four links between sandbox a (client) and b (server): loopback (inside a alone),
 * a veth pair, two macvlan devices in bridge mode on one parent (a veth end of a's, whose peer
 * is also a's: this host may lack the dummy driver) and a VLAN (id 10) on each end of a second
 * veth pair. Every device at MTU 1500, so the devices differ and not the packet size.
 */
export async function buildLinks(a: Sandbox, b: Sandbox): Promise<NetLinks> {
  recordNetNames(a, { veths: Object.values(NET_DEVICES).flat() });
  const commands: string[] = [];
  const made: LinkKind[] = [];
  const missing: NetLinks['missing'] = {};
  const A = a.pid!;
  const B = b.pid!;
  const inA = async (args: string[]) => {
    commands.push(`nsenter --net=/proc/${A}/ns/net ip ${args.join(' ')}`);
    await ipIn(A, args);
  };
  const inB = async (args: string[]) => {
    commands.push(`nsenter --net=/proc/${B}/ns/net ip ${args.join(' ')}`);
    await ipIn(B, args);
  };
  const addr = (kind: LinkKind, host: 1 | 2) => `${SERVER_IP[kind].replace(/\.2$/, `.${host}`)}/24`;
  const up = async (dev: string, side: 'a' | 'b', ip: string) => {
    const f = side === 'a' ? inA : inB;
    await f(['link', 'set', dev, 'mtu', MTU, 'up']);
    await f(['addr', 'add', ip, 'dev', dev]);
  };
  await inA(['link', 'set', 'lo', 'mtu', MTU, 'up']);
  await inB(['link', 'set', 'lo', 'up']);
  made.push('loopback');

  // veth: created in a with its peer in b; it never exists on the host.
  const [va, vb] = NET_DEVICES.veth;
  await inA(['link', 'add', va, 'type', 'veth', 'peer', 'name', vb, 'netns', String(B)]);
  await up(va, 'a', addr('veth', 1));
  await up(vb, 'b', addr('veth', 2));
  made.push('veth');

  // A second veth pair, both ends in a: the macvlans' parent, and the VLANs' trunk (one end each side).
  const [ta, tb] = NET_DEVICES.trunk;
  await inA(['link', 'add', ta, 'type', 'veth', 'peer', 'name', tb]);
  await inA(['link', 'set', ta, 'mtu', MTU, 'up']);
  await inA(['link', 'set', tb, 'mtu', MTU, 'up']);
  const [ma, mb] = NET_DEVICES.macvlan;
  try {
    await inA(['link', 'add', ma, 'link', ta, 'type', 'macvlan', 'mode', 'bridge']);
    await inA(['link', 'add', mb, 'link', ta, 'netns', String(B), 'type', 'macvlan', 'mode', 'bridge']);
    await up(ma, 'a', addr('macvlan', 1));
    await up(mb, 'b', addr('macvlan', 2));
    made.push('macvlan');
  } catch (err) {
    missing.macvlan = unsupported(err, 'macvlan', 'CONFIG_MACVLAN');
  }
  // VLAN id 10 on each end of the trunk: tb goes to b first.
  const [la, lb] = NET_DEVICES.vlan;
  try {
    await inA(['link', 'add', 'link', ta, 'name', la, 'type', 'vlan', 'id', '10']);
    await inA(['link', 'set', tb, 'netns', String(B)]);
    await inB(['link', 'set', tb, 'mtu', MTU, 'up']);
    await inB(['link', 'add', 'link', tb, 'name', lb, 'type', 'vlan', 'id', '10']);
    await up(la, 'a', addr('vlan', 1));
    await up(lb, 'b', addr('vlan', 2));
    made.push('vlan');
  } catch (err) {
    missing.vlan = unsupported(err, 'VLAN', 'CONFIG_VLAN_8021Q');
  }
  return { made, missing, commands };
}

function unsupported(err: unknown, what: string, config: string): string {
  const msg = (err as Error).message;
  return /Unknown device type|not supported|Operation not supported/i.test(msg)
    ? `this kernel has no ${what} driver (${config}, module ${what === 'VLAN' ? '8021q' : what.toLowerCase()})`
    : `${what}: ${msg.split('\n')[0]}`;
}

/** Whether a TCP socket listens on `port` in the network namespace of `pid` (/proc/PID/net/tcp). */
export function listening(pid: number, port: number): boolean {
  try {
    const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')} `;
    return fs
      .readFileSync(`/proc/${pid}/net/tcp`, 'utf8')
      .split('\n')
      .some((l) => l.includes(hex) && l.trim().split(/\s+/)[3] === '0A');
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One iperf3 run over `kind`: server (one-off) in b (a for loopback), client in a. Gbit/s. */
export async function iperf(a: Sandbox, b: Sandbox, kind: LinkKind, seconds: number): Promise<number> {
  const server = kind === 'loopback' ? a : b;
  const ip = SERVER_IP[kind];
  const srv = await server.exec(['iperf3', '-s', '-1', '-B', ip, '-p', String(IPERF_PORT)], { stdio: 'ignore' });
  const t0 = Date.now();
  while (!listening(server.pid!, IPERF_PORT)) {
    if (Date.now() - t0 > 5000) throw new SandboxError(`iperf3 did not listen on ${ip}:${IPERF_PORT} in 5 s`, { code: 'E_MEASURE', step: 'iperf3' });
    await sleep(10);
  }
  const r = await a.execOutput(['iperf3', '-c', ip, '-p', String(IPERF_PORT), '-t', String(seconds), '-J']);
  await srv.wait().catch(() => undefined);
  let bps: number | undefined;
  try {
    bps = JSON.parse(r.stdout)?.end?.sum_received?.bits_per_second;
  } catch {
    /* below */
  }
  if (typeof bps !== 'number' || !(bps > 0)) throw new SandboxError(`iperf3 over ${kind}: no result (${r.stderr.trim().slice(0, 200) || r.stdout.slice(0, 200)})`, { code: 'E_MEASURE', step: 'iperf3' });
  return Number((bps / 1e9).toFixed(3));
}

export interface NetOptions {
  /** iperf3 -t per run. Default 1. */
  seconds?: number;
  /** Rounds over every link, interleaved. Default 1. */
  rounds?: number;
  onRow?: (row: OverheadRow) => void;
}

/**
 * TCP stream throughput over each link made, interleaved over rounds (the best of each kind is
 * kept: noise only ever lowers a throughput), as rows: `host` holds loopback's figure, `sandbox`
 * the device's, `ratio` device / loopback.
 */
export async function measureNetwork(a: Sandbox, b: Sandbox, links: NetLinks, o: NetOptions = {}): Promise<OverheadRow[]> {
  const seconds = bounded(o.seconds ?? 1, 1, 30, 'iperf3 seconds');
  const best = new Map<LinkKind, number>();
  for (let r = 0; r < (o.rounds ?? 1); r++) {
    for (const kind of links.made) best.set(kind, Math.max(best.get(kind) ?? 0, await iperf(a, b, kind, seconds)));
  }
  const lo = best.get('loopback') ?? null;
  const rows = LINK_KINDS.map((kind): OverheadRow => {
    const v = best.get(kind) ?? null;
    const r: OverheadRow = {
      group: 'net',
      label: kind,
      unit: 'Gbit/s',
      host: lo,
      sandbox: v,
      ratio: ratioOf(v, lo),
      lecture: kind === 'loopback' ? 'the baseline' : LECTURE.net,
      probe: `iperf3 -c ${SERVER_IP[kind]} -t ${seconds}`,
    };
    if (links.missing[kind]) r.skipped = links.missing[kind];
    return r;
  });
  for (const r of rows) o.onRow?.(r);
  return rows;
}

// ----- all of it ---------------------------------------------------------------------------

export interface OverheadOptions extends Omit<ContextSwitchOptions, 'onRow' | 'cpu'> {
  /** The CPU to pin to. Default: the last one. */
  cpu?: number;
  /** Measure the network rows (needs iperf3). Default true. */
  net?: boolean;
  netSeconds?: number;
  /** Creates the sandboxes (a lesson passes its tracked ctx.sandbox). Default Sandbox.create. */
  create?: (key: string, options: SandboxOptions) => Promise<Sandbox>;
  onRow?: (row: OverheadRow) => void;
}

/**
 * Every figure of the overhead lesson, in one run, as plain rows (for `sandbox report` and
 * bench:overhead). Creates and destroys its own sandboxes.
 */
export async function measureOverhead(o: OverheadOptions = {}): Promise<OverheadRow[]> {
  const cpus = os.cpus().length;
  const cpu = o.cpu ?? Math.max(0, cpus - 1);
  const made: Sandbox[] = [];
  const create = async (key: string, opts: SandboxOptions) => {
    const s = o.create ? await o.create(key, opts) : await Sandbox.create(opts);
    made.push(s);
    return s;
  };
  try {
    const s = await create('c', overheadSandboxOptions(cpu));
    const rows = [...(await measureContextSwitch(s, { ...o, cpu })), ...(await measureSyscalls(s, { cpu, rounds: o.rounds, onRow: o.onRow }))];
    if (o.net !== false) {
      const a = await create('na', netSandboxOptions('a'));
      const b = await create('nb', netSandboxOptions('b'));
      rows.push(...(await measureNetwork(a, b, await buildLinks(a, b), { seconds: o.netSeconds, onRow: o.onRow })));
    }
    return rows;
  } finally {
    if (!o.create) for (const s of made) await s.destroy().catch(() => s.destroySync());
  }
}
