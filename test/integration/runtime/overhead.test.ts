/**
 * The overhead measurements (src/runtime/overhead.ts, native/latctx.c) on the real kernel: the
 * program's own bounds, a context-switch ring and the syscall/spawn loops run on the host and in
 * a sandbox whose cgroup is charged for them, the four links between two network namespaces with
 * their byte counters, nothing on the host's network, and nothing left after a killed session.
 * Needs root, `ip`, `nsenter` and (for the network) iperf3.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import {
  buildLinks,
  latctxPath,
  liveSandboxes,
  measureContextSwitch,
  measureNetwork,
  measureSyscalls,
  NET_DEVICES,
  netLinks,
  netSandboxOptions,
  overheadSandboxOptions,
  parseLatctx,
  readEntry,
  Sandbox,
  sweep,
} from '../../../src/runtime/index.js';
import { isRoot } from '../../helpers/resources.js';
import { clearDebris, declareDebris, killSession, startSession } from '../../helpers/session.js';

const DIST = path.resolve(import.meta.dirname, '../../../dist/runtime/index.js');
const has = (cmd: string, arg = '--version') => spawnSync(cmd, [arg], { stdio: 'ignore' }).status === 0;
const hasIperf = has('iperf3');
const CPU = 0;

function devBytes(pid: number, dev: string): number | null {
  const line = fs.readFileSync(`/proc/${pid}/net/dev`, 'utf8').split('\n').find((l) => l.trim().startsWith(`${dev}:`));
  return line ? Number(line.split(':')[1].trim().split(/\s+/)[0]) : null;
}

const ours = () => fs.readdirSync('/sys/class/net').filter((n) => n.startsWith('sbx-o-'));

afterEach(async () => {
  for (const s of liveSandboxes()) await s.destroy();
});

describe('latctx refuses what it cannot measure (exit 2, and why)', () => {
  it.each([
    [['ctx', '0', '1', '10'], 'PROCS must be from 2 to 1000'],
    [['ctx', '0', '1001', '10'], 'PROCS must be from 2 to 1000'],
    [['ctx', '99999', '2', '10'], 'SIZE_KB must be from 0 to 4096'],
    [['ctx', '0', '2', '1e3'], 'MS must be a number'],
    [['syscall', '-5'], 'MS must be a number'],
    [['spawn', '20000'], 'MS must be from 1 to 10000'],
    [['-c', 'x', 'syscall', '5'], 'CPU must be a number'],
    [['teleport'], 'unknown measurement'],
  ])('latctx %j', (args, why) => {
    const r = spawnSync(latctxPath(), args, { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(why);
    expect(r.stdout).toBe('');
  });

  it('parses its own lines, bounded', () => {
    expect(parseLatctx('ctx size_kb=16 procs=2 laps=10 hop_us=7.1 overhead_us=2.6 switch_us=4.5')).toMatchObject({ size_kb: 16, procs: 2, switch_us: 4.5 });
    expect(parseLatctx('syscall calls=1 ns=1234567890123456789')).toEqual({ calls: 1 });
  });
});

describe.skipIf(!isRoot)('host vs sandbox, one CPU (needs root)', () => {
  it('a ring on the host: a positive switch time, the hop dearer than the work without a switch', () => {
    const out = execFileSync(latctxPath(), ['-c', String(CPU), 'ctx', '0', '8', '30'], { encoding: 'utf8' });
    const v = parseLatctx(out);
    expect(v.procs).toBe(8);
    expect(v.laps).toBeGreaterThan(0);
    expect(v.hop_us).toBeGreaterThan(v.overhead_us);
    expect(v.switch_us).toBeGreaterThan(0);
  });

  it('measures both sides: the sandbox\'s cgroup is charged for its half, the ratio is sandbox / host', async () => {
    const s = await Sandbox.create(overheadSandboxOptions(CPU));
    const before = s.usage()!.cpuUsec!;
    const seen: string[] = [];
    const rows = await measureContextSwitch(s, { cpu: CPU, procs: [2, 20], sizesKb: [0, 32], ms: 30, onRow: (r) => seen.push(r.label) });
    expect(rows.map((r) => r.label)).toEqual(['2 procs, 0 KB', '2 procs, 32 KB', '20 procs, 0 KB', '20 procs, 32 KB']);
    expect(seen).toEqual(rows.map((r) => r.label));
    for (const r of rows) {
      expect(r.host).toBeGreaterThan(0);
      expect(r.sandbox).toBeGreaterThan(0);
      expect(r.ratio).toBeCloseTo(r.sandbox! / r.host!, 2);
    }
    // 8 runs of 30 ms on the sandbox's side: its cgroup holds them (the host's runs are not in it).
    expect(s.usage()!.cpuUsec! - before).toBeGreaterThan(50_000);
    const sys = await measureSyscalls(s, { cpu: CPU, ms: 30 });
    expect(sys.map((r) => [r.group, r.unit])).toEqual([
      ['syscall', 'ns'],
      ['spawn', 'µs'],
    ]);
    for (const r of sys) expect(r.ratio).toBeGreaterThan(0);
  });

  it('bad input is refused before anything runs', async () => {
    const s = await Sandbox.create(overheadSandboxOptions(CPU));
    const before = s.usage()!.cpuUsec!;
    await expect(measureContextSwitch(s, { cpu: CPU, procs: [1] })).rejects.toThrow(/processes 1: out of range/);
    await expect(measureContextSwitch(s, { cpu: CPU, ms: 0 })).rejects.toThrow(/window/);
    expect(s.usage()!.cpuUsec! - before).toBeLessThan(20_000);
  });
});

describe.skipIf(!isRoot || !hasIperf)('TCP over loopback, veth, macvlan, VLAN (needs root, ip, iperf3)', () => {
  it('builds the links inside the namespaces only, streams over each, and the devices go with the sandboxes', async () => {
    const a = await Sandbox.create(netSandboxOptions('a'));
    const b = await Sandbox.create(netSandboxOptions('b'));
    const links = await buildLinks(a, b);
    expect(readEntry(a.name)!.veths).toEqual(expect.arrayContaining([...NET_DEVICES.veth, ...NET_DEVICES.macvlan]));
    expect(links.made).toEqual(expect.arrayContaining(['loopback', 'veth', 'macvlan']));
    expect(ours()).toEqual([]); // never on the host
    const rows = await measureNetwork(a, b, links, { seconds: 1 });
    expect(rows.map((r) => r.label)).toEqual(['loopback', 'veth', 'macvlan', 'vlan']);
    for (const r of rows.filter((x) => links.made.includes(x.label as never))) {
      expect(r.sandbox).toBeGreaterThan(0);
      expect(r.skipped).toBeUndefined();
    }
    const vlan = rows[3];
    if (!links.made.includes('vlan')) expect(vlan.skipped).toMatch(/VLAN|8021q/);
    // The kernel's own counters: each device carried its stream.
    expect(devBytes(b.pid!, NET_DEVICES.veth[1])).toBeGreaterThan(10 * 1024 * 1024);
    expect(devBytes(b.pid!, NET_DEVICES.macvlan[1])).toBeGreaterThan(10 * 1024 * 1024);
    expect(netLinks(b.pid!)).toEqual(expect.arrayContaining([NET_DEVICES.veth[1], NET_DEVICES.macvlan[1]]));
    await a.destroy();
    await b.destroy();
    expect(ours()).toEqual([]);
  });

  it('a killed session leaves nothing: its namespaces die with it, sweep() clears the ledger', async () => {
    const script = `
      import { Sandbox, buildLinks, netSandboxOptions } from ${JSON.stringify(DIST)};
      const a = await Sandbox.create({ ...netSandboxOptions('a'), name: 'overhead-test-killed' });
      const b = await Sandbox.create({ ...netSandboxOptions('b'), name: 'overhead-test-killed-b' });
      await buildLinks(a, b);
      console.log('ready');
      setInterval(() => {}, 1000);
    `;
    declareDebris('overhead-test-killed', 'overhead-test-killed-b');
    await killSession(await startSession(script));
    await new Promise((r) => setTimeout(r, 300));
    sweep();
    expect(readEntry('overhead-test-killed')).toBeNull();
    expect(readEntry('overhead-test-killed-b')).toBeNull();
    expect(ours()).toEqual([]);
    clearDebris('overhead-test-killed', 'overhead-test-killed-b');
  });
});
