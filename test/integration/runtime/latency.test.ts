/**
 * The host probe (src/runtime/latency.ts) in a sandbox's cgroup: fork-bomb's low-weight step and
 * bench:fork-bomb's with_weight put it beside the bomb's cgroup, where a weight counts.
 */
import fs from 'node:fs';

import { afterEach, describe, expect, it } from 'vitest';

import { cgroups, LatencyProbe, liveSandboxes, measureSpawnLatency, onlineCpus, Sandbox } from '../../../src/runtime/index.js';
import { isRoot } from '../../helpers/resources.js';
import { until } from '../../helpers/wait.js';

afterEach(async () => {
  for (const s of liveSandboxes()) await s.destroy();
});

describe.skipIf(!isRoot)('the latency probe', () => {
  it('times fork + exec of /bin/true, pinned to a CPU', async () => {
    const times = await measureSpawnLatency(5, { cpu: onlineCpus()[0] });
    expect(times).toHaveLength(5);
    for (const t of times) expect(t).toBeGreaterThan(0);
  });

  it("joins a sandbox's cgroup before its first run, in every hierarchy, and its children with it", async () => {
    const s = await Sandbox.create({ namespaces: [], command: ['sleep', '30'], stdio: 'ignore' });
    const dirs = cgroups().dirs(s.name);
    const probe = new LatencyProbe(0, { cgroupDirs: dirs, intervalMs: 50, maxMs: 10_000 });
    try {
      await until(() => probe.samples.length >= 2, 10_000);
      const procs = cgroups().procs(s.name);
      expect(procs.length).toBeGreaterThanOrEqual(2); // sleep and the probe
      const probePid = procs.find((p) => p !== s.pid)!;
      const cg = fs.readFileSync(`/proc/${probePid}/cgroup`, 'utf8');
      // One line per hierarchy joined (v1: cpu, cpuacct, memory…; v2: the one line).
      expect(cg.split('\n').filter((l) => l.endsWith(`/${s.name}`))).toHaveLength(dirs.length);
      expect(probe.recent().length).toBeGreaterThanOrEqual(2);
    } finally {
      await probe.stop();
    }
  });

  it('runs nothing when it cannot join (a cgroup that does not exist)', async () => {
    const times = await measureSpawnLatency(3, { cgroupDirs: ['/sys/fs/cgroup/nonexistent-sandbox-test'] });
    expect(times).toEqual([]);
  });
});
