/**
 * The monitor and measureCpu against real cgroups: CPU % from cpuUsec deltas over wall time,
 * shares between sandboxes pinned to one CPU, a quota's throttling counted in cpu.stat, and the
 * right file named on this layout. Needs root. Tolerances: weights and quotas are enforced per
 * scheduler slice (a few ms), so a 1.5 s window is within a couple of percentage points even on
 * a loaded machine; the checks allow 5.
 */
import fs from 'node:fs';

import { afterEach, describe, expect, it } from 'vitest';

import {
  cgroupFile,
  cgroups,
  liveSandboxes,
  measureCpu,
  Monitor,
  onlineCpus,
  quietestCpu,
  Sandbox,
} from '../../src/runtime/index.js';
import { isRoot } from '../helpers/resources.js';

const BURN = ['sh', '-c', 'while :; do :; done'];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

afterEach(async () => {
  for (const s of liveSandboxes()) await s.destroy();
});

describe.skipIf(!isRoot)(`monitor on this host's cgroups (${isRoot ? cgroups().layout : 'not root'})`, () => {
  it('two busy sandboxes pinned to one CPU split it by weight, 25 %/75 %, in measureCpu and the monitor', async () => {
    const cpu = String(await quietestCpu(onlineCpus()));
    const a = await Sandbox.create({ namespaces: ['pid'], limits: { cpus: cpu, cpuWeight: 25 }, command: BURN, stdio: 'ignore', purpose: 'test' });
    const b = await Sandbox.create({ namespaces: ['pid'], limits: { cpus: cpu, cpuWeight: 75 }, command: BURN, stdio: 'ignore', purpose: 'test' });
    const monitor = new Monitor({ names: [a.name, b.name], intervalMs: 100 }).start();
    try {
      await sleep(300);
      const m = await measureCpu([a.name, b.name], 1500);
      expect(m.usec[0]).toBeGreaterThan(0);
      expect(m.shares[0]).toBeGreaterThan(20);
      expect(m.shares[0]).toBeLessThan(30);
      expect(m.shares[0] + m.shares[1]).toBeCloseTo(100, 5);
      // Together they use at most the one CPU they are pinned to.
      expect(m.percentOfCpu[0] + m.percentOfCpu[1]).toBeLessThan(105);
      const shares = monitor.shares([a.name, b.name], 1000)!;
      expect(shares[0]).toBeGreaterThan(20);
      expect(shares[0]).toBeLessThan(30);
      const series = monitor.shareSeries([a.name, b.name], 1000);
      expect(series[0].length).toBeGreaterThan(10);
      // The file the weight went to on this layout.
      const file = cgroups().version === 1 ? 'cpu.shares' : 'cpu.weight';
      expect(fs.readFileSync(cgroupFile(a.name, file)!, 'utf8').trim()).toBe(cgroups().version === 1 ? '256' : '25');
    } finally {
      monitor.stop();
    }
  });

  it('CPU % of a sandbox under a 30 % quota is near 30, its throttling counted; an idle one is near 0', async () => {
    const busy = await Sandbox.create({ namespaces: ['pid'], limits: { cpuQuota: 30 }, command: BURN, stdio: 'ignore', purpose: 'test' });
    const idle = await Sandbox.create({ namespaces: ['pid'], command: ['sleep', '60'], stdio: 'ignore', purpose: 'test' });
    const monitor = new Monitor({ names: [busy.name, idle.name], intervalMs: 100 }).start();
    try {
      await sleep(1500);
      const pct = monitor.cpuPercent(busy.name, 1000)!;
      expect(pct).toBeGreaterThan(15);
      expect(pct).toBeLessThan(35);
      expect(monitor.cpuPercent(idle.name, 1000)!).toBeLessThan(2);
      expect(monitor.cpuSeries(busy.name).length).toBeGreaterThan(10);
      expect(busy.usage()!.cpuThrottled).toBeGreaterThan(0);
      expect(idle.usage()!.cpuThrottled ?? 0).toBe(0);
      const stat = fs.readFileSync(cgroupFile(busy.name, 'cpu.stat')!, 'utf8');
      expect(Number(/nr_throttled (\d+)/.exec(stat)![1])).toBeGreaterThan(0);
    } finally {
      monitor.stop();
    }
  });

  it('keeps pids and memory readings per sample, and forgets a destroyed sandbox only when told', async () => {
    const s = await Sandbox.create({
      namespaces: ['pid', 'mount'],
      limits: { pids: 10, memory: 64 * 1024 * 1024 },
      command: ['sh', '-c', 'sleep 60 & sleep 60 & wait'],
      stdio: 'ignore',
      purpose: 'test',
    });
    const monitor = new Monitor({ names: [s.name], intervalMs: 50 });
    for (let i = 0; i < 20 && (s.usage()!.pidsCurrent ?? 0) < 3; i++) await sleep(25);
    monitor.sampleNow();
    const last = monitor.latest(s.name)!;
    expect(last.usage.pidsCurrent).toBe(3);
    expect(last.usage.pidsMax).toBe(10);
    expect(last.usage.memoryLimit).toBe(64 * 1024 * 1024);
    await s.destroy();
    monitor.sampleNow(); // the cgroup is gone: no new sample, the history stays
    expect(monitor.samples(s.name).length).toBe(1);
    monitor.forget(s.name);
    expect(monitor.names()).toEqual([]);
  });

  it('samples the idle time of a host CPU', async () => {
    const cpu = onlineCpus()[0];
    const monitor = new Monitor({ names: [], hostCpus: [cpu], intervalMs: 50 }).start();
    await sleep(400);
    monitor.stop();
    const idle = monitor.idleSeries(cpu);
    expect(idle.length).toBeGreaterThan(3);
    for (const v of idle) expect(v).toBeGreaterThanOrEqual(0);
    for (const v of idle) expect(v).toBeLessThanOrEqual(100);
    expect(onlineCpus()).toContain(await quietestCpu(onlineCpus(), 100));
  });
});
