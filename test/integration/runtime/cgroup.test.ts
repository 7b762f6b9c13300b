/**
 * Limits are enforced by the kernel, on this host's cgroup layout: hybrid v1 here, pure v2 in the
 * guest (`npm run test:v2`). Each test checks the kernel's own files and counters.
 */
import fs from 'node:fs';

import { afterEach, describe, expect, it } from 'vitest';

import { cgroups, liveSandboxes, onlineCpus, runSandbox, Sandbox } from '../../../src/runtime/index.js';
import { sleep, until } from '../../helpers/wait.js';
import { isRoot } from '../../helpers/resources.js';



afterEach(async () => {
  for (const s of liveSandboxes()) await s.destroy();
});

const layout = isRoot ? cgroups().layout : 'unknown';

describe.skipIf(!isRoot)(`cgroup limits on this host (${layout})`, () => {
  it('pids.max refuses the fork that would exceed it and counts the refusals', async () => {
    // perl survives a refused fork (sh would exit), so it can count: itself + 4 children = 5.
    const r = await runSandbox({
      namespaces: ['pid', 'mount'],
      limits: { pids: 5 },
      command: [
        'perl',
        '-e',
        'my ($ok, $no) = (0, 0); for (1..8) { my $p = fork(); if (!defined $p) { $no++ } elsif ($p == 0) { sleep 30; exit } else { $ok++ } } print "$ok $no\n";',
      ],
      beforeStart: (sb) => expect(sb.usage()!.pidsMax).toBe(5),
    });
    expect(r.stdout.trim()).toBe('4 4');
  });

  it('counts refused forks in usage()', async () => {
    const s = await Sandbox.create({
      namespaces: ['pid', 'mount'],
      limits: { pids: 3 },
      command: ['perl', '-e', 'for (1..5) { my $p = fork(); if (defined $p && $p == 0) { sleep 30; exit } } sleep 30'],
      stdio: 'ignore',
    });
    const u = await until(() => {
      const x = s.usage()!;
      return x.pidsRefused! >= 3 ? x : null;
    });
    expect(u.pidsCurrent).toBe(3);
    expect(u.pidsMax).toBe(3);
  });

  it('a memory limit OOM-kills a process that allocates past it, and counts it', async () => {
    const r = await runSandbox({
      namespaces: ['pid', 'mount'],
      limits: { memory: 32 * 1024 * 1024 },
      // dd allocates (and touches) a 64 MiB buffer
      command: ['dd', 'if=/dev/zero', 'of=/dev/null', 'bs=64M', 'count=1'],
      beforeStart: (sb) => {
        const u = sb.usage()!;
        expect(u.memoryLimit).toBe(32 * 1024 * 1024);
        expect(u.oomKills ?? 0).toBe(0);
      },
    });
    expect(r.status.signal).toBe('SIGKILL');
    // the counters are read while the (now dead) sandbox still existed: runSandbox destroyed it after
    expect(r.destroyed.cgroups.length).toBeGreaterThan(0);
  });

  it('reports OOM kills and limit hits in usage()', async () => {
    const s = await Sandbox.create({
      namespaces: ['pid', 'mount'],
      limits: { memory: 32 * 1024 * 1024 },
      init: true,
      command: ['sh', '-c', 'dd if=/dev/zero of=/dev/null bs=64M count=1; sleep 30'],
      stdio: 'ignore',
    });
    const u = await until(() => {
      const x = s.usage()!;
      return x.oomKills! >= 1 ? x : null;
    });
    // (memory.failcnt is not counted by every kernel's v1 controller; the peak and the kill are)
    expect(u.memoryPeak).toBeGreaterThanOrEqual(0.9 * 32 * 1024 * 1024);
    expect(u.memoryLimit).toBe(32 * 1024 * 1024);
    expect(s.running).toBe(true); // only dd died
  });

  it('writes the weight to this layout\'s file: cpu.shares (×1024/100) on v1, cpu.weight on v2', async () => {
    const s = await Sandbox.create({ namespaces: ['pid'], limits: { cpuWeight: 75 }, command: ['sleep', '30'], stdio: 'ignore' });
    const cg = cgroups();
    if (cg.version === 1) {
      const dir = cg.dirs(s.name).find((d) => fs.existsSync(`${d}/cpu.shares`))!;
      expect(fs.readFileSync(`${dir}/cpu.shares`, 'utf8').trim()).toBe('768');
    } else {
      expect(fs.readFileSync(`${cg.dirs(s.name)[0]}/cpu.weight`, 'utf8').trim()).toBe('75');
    }
  });

  it('a CPU quota caps a busy loop near its quota', async () => {
    const s = await Sandbox.create({
      namespaces: ['pid'],
      limits: { cpuQuota: 20 },
      command: ['sh', '-c', 'while :; do :; done'],
      stdio: 'ignore',
    });
    const start = s.usage()!.cpuUsec!;
    const t0 = performance.now();
    await sleep(1000);
    const used = (s.usage()!.cpuUsec! - start) / 1000;
    const wall = performance.now() - t0;
    // 20% of one CPU: about 200 ms per second; a free loop would take ~1000 ms
    expect(used / wall).toBeLessThan(0.4);
    expect(used / wall).toBeGreaterThan(0.05);
  });

  it("writes a CPU burst to this layout's file (cpu.cfs_burst_us on v1, cpu.max.burst on v2), after its quota", async () => {
    const s = await Sandbox.create({ namespaces: ['pid'], limits: { cpuQuota: 30, cpuBurst: 20 }, command: ['sleep', '30'], stdio: 'ignore' });
    const cg = cgroups();
    const file = cg.version === 1 ? 'cpu.cfs_burst_us' : 'cpu.max.burst';
    const dir = cg.dirs(s.name).find((d) => fs.existsSync(`${d}/${file}`))!;
    expect(fs.readFileSync(`${dir}/${file}`, 'utf8').trim()).toBe('20000');
    // Raising both at once and lowering both at once: each order keeps burst <= quota throughout.
    expect(s.setLimits({ cpuQuota: 60, cpuBurst: 50 }).map((w) => w.file)).toContain(file);
    expect(fs.readFileSync(`${dir}/${file}`, 'utf8').trim()).toBe('50000');
    const down = s.setLimits({ cpuQuota: 10, cpuBurst: 5 }).map((w) => w.file);
    expect(down.indexOf(file)).toBeLessThan(down.indexOf(cg.version === 1 ? 'cpu.cfs_quota_us' : 'cpu.max'));
    expect(fs.readFileSync(`${dir}/${file}`, 'utf8').trim()).toBe('5000');
    // Against the quota the kernel holds: refused before writing, the file unchanged.
    expect(() => s.setLimits({ cpuBurst: 11 })).toThrow(/more than the quota \(10% of one CPU\)/);
    expect(() => s.setLimits({ cpuQuota: 4 })).toThrow(/below the burst/);
    expect(fs.readFileSync(`${dir}/${file}`, 'utf8').trim()).toBe('5000');
    const bare = await Sandbox.create({ namespaces: ['pid'], command: ['sleep', '30'], stdio: 'ignore' });
    expect(() => bare.setLimits({ cpuBurst: 10 })).toThrow(/no CPU quota/);
    expect(fs.readFileSync(`${cg.dirs(bare.name).find((d) => fs.existsSync(`${d}/${file}`))!}/${file}`, 'utf8').trim()).toBe('0');
  });

  it('a cpuset pins every process to the chosen CPU', async () => {
    const cpu = String(onlineCpus().at(-1));
    const s = await Sandbox.create({ namespaces: ['pid'], limits: { cpus: cpu }, command: ['sleep', '30'], stdio: 'ignore' });
    const status = fs.readFileSync(`/proc/${s.pid}/status`, 'utf8');
    expect(/^Cpus_allowed_list:\s*(\S+)/m.exec(status)![1]).toBe(cpu);
  });

  it('changes limits on a running sandbox', async () => {
    const s = await Sandbox.create({ namespaces: ['pid'], limits: { pids: 10 }, command: ['sleep', '30'], stdio: 'ignore' });
    const writes = s.setLimits({ pids: 3 });
    expect(writes.map((w) => w.file)).toEqual(['pids.max']);
    expect(fs.readFileSync(writes[0].path, 'utf8').trim()).toBe('3');
    expect(s.usage()!.pidsMax).toBe(3);
  });

  it('kills a whole fork bomb at once and removes its cgroup', async () => {
    // Bounded: pids.max = 64, and destroyed as soon as it is full.
    const s = await Sandbox.create({
      namespaces: ['pid', 'mount'],
      limits: { pids: 64 },
      command: ['perl', '-e', 'while (1) { fork() }'],
      stdio: 'ignore',
    });
    const u = await until(() => {
      const x = s.usage()!;
      return x.pidsCurrent === 64 && x.pidsRefused! > 0 ? x : null;
    });
    expect(u.pidsCurrent).toBe(64);
    const report = await s.destroy();
    expect(report.processesKilled).toBeGreaterThanOrEqual(64);
    expect(cgroups().exists(s.name)).toBe(false);
  });
});
