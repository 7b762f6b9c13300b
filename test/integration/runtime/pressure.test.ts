/**
 * memory.high and pressure on this host's cgroup layout: hybrid v1 here (no memory.high, no
 * pressure per group: refused, the host's figures labelled), pure v2 in the guest (`npm run
 * test:v2`: the throttle holds an allocator near the mark, counts `high` events and stall time,
 * kills nobody). Every figure is read back from the kernel's own files.
 */
import fs from 'node:fs';

import { afterEach, describe, expect, it } from 'vitest';

import { cgroups, liveSandboxes, readEntries, readPressureFile, Sandbox, sandboxPressure, v1MemorySignals } from '../../../src/runtime/index.js';
import { isRoot } from '../../helpers/resources.js';
import { sleep, until } from '../../helpers/wait.js';

const MiB = 1024 * 1024;
const version = isRoot ? cgroups().version : 0;

afterEach(async () => {
  for (const s of liveSandboxes()) await s.destroy();
});

/** Allocates (and touches) 4 MiB at a time up to 64 MiB without pausing, then holds it. */
const ALLOCATE = '$| = 1; my @h; my $n = 0; while ($n < 64) { push @h, "x" x (4 * 1048576); $n += 4; print "$n\\n"; } print "holding\\n"; sleep 600;';

describe.skipIf(!isRoot || version !== 1)('memory.high and pressure on cgroup v1', () => {
  it('refuses --memory-high before anything exists, naming what v1 has instead', async () => {
    const name = 'test-mhigh-v1';
    const err = await Sandbox.create({ name, namespaces: ['pid', 'mount'], limits: { memory: 64 * MiB, memoryHigh: 32 * MiB }, command: ['true'], stdio: 'ignore' }).then(
      () => null,
      (e: unknown) => e as { code?: string; message: string; hint?: string },
    );
    expect(err?.code).toBe('E_LIMIT');
    expect(err?.message).toMatch(/--memory-high needs cgroup v2 \(memory\.high\)/);
    expect(err?.hint).toMatch(/soft_limit_in_bytes/);
    expect(cgroups().exists(name)).toBe(false);
    expect(readEntries().map((e) => e.name)).not.toContain(name);
  });

  it("labels the host's /proc/pressure as the only pressure, and reads v1's stand-ins", async () => {
    const s = await Sandbox.create({ namespaces: ['pid', 'mount'], limits: { memory: 64 * MiB }, command: ['sleep', '30'], stdio: 'ignore' });
    const p = sandboxPressure(s.name);
    const host = readPressureFile('/proc/pressure/memory');
    if (host) {
      expect(p.source).toBe('host');
      expect(p.where).toBe('/proc/pressure');
      expect(p.label).toMatch(/cgroup v1 keeps no pressure per group/);
      // The host's stall total only grows: what we read is at most what the kernel says a moment later.
      expect(p.memory!.some.totalUs).toBeLessThanOrEqual(readPressureFile('/proc/pressure/memory')!.some.totalUs);
    } else {
      expect(p.source).toBe('none');
    }
    const sig = v1MemorySignals(s.name)!;
    expect(sig.dir).toMatch(new RegExp(`/sandbox/${s.name}$`));
    expect(sig).toMatchObject({ underOom: 0, oomKill: 0 });
    expect(sig.failcnt).toBeGreaterThanOrEqual(0);
    expect(sig.pgmajfault).toBe(Number(/^pgmajfault (\d+)$/m.exec(fs.readFileSync(`${sig.dir}/memory.stat`, 'utf8'))![1]));
  });
});

describe.skipIf(!isRoot || version !== 2)('memory.high and pressure on cgroup v2', () => {
  it('throttles an allocator a little over memory.high, counts it, and kills nobody', async () => {
    const s = await Sandbox.create({ namespaces: ['pid', 'mount'], init: true, limits: { memory: 96 * MiB, memoryHigh: 32 * MiB } });
    const dir = cgroups().dirs(s.name)[0];
    expect(fs.readFileSync(`${dir}/memory.high`, 'utf8').trim()).toBe(String(32 * MiB));
    expect(s.usage()?.memoryHigh).toBe(32 * MiB);
    const proc = await s.exec(['perl', '-e', ALLOCATE], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    proc.stdout?.on('data', (c: Buffer) => (out += c.toString()));
    await until(() => (s.usage()?.memoryBytes ?? 0) > 32 * MiB, 20_000, 'usage above memory.high');
    await sleep(2000);
    const u = s.usage()!;
    // Held near the mark: a few MiB over it (the kernel lets the group creep while it sleeps the
    // allocator), far below both the allocator's 64 MiB and memory.max.
    expect(u.memoryBytes).toBeLessThan(48 * MiB);
    expect(out).not.toContain('holding');
    expect(u.memoryHighEvents).toBeGreaterThan(0);
    expect(u.oomKills).toBe(0);
    const p = sandboxPressure(s.name);
    expect(p.source).toBe('cgroup');
    expect(p.where).toBe(dir);
    expect(p.memory!.some.totalUs).toBeGreaterThan(100_000);
    // Lifted: the same process finishes, alive.
    fs.writeFileSync(`${dir}/memory.high`, 'max');
    await until(() => out.includes('holding'), 20_000, 'the allocator to finish');
    expect(proc.running).toBe(true);
    expect(s.usage()!.memoryBytes).toBeGreaterThanOrEqual(64 * MiB);
    expect(s.usage()!.oomKills).toBe(0);
  });

  it('sets memory.high on a running sandbox and shows the file it wrote', async () => {
    const s = await Sandbox.create({ namespaces: ['pid', 'mount'], init: true, limits: { memory: 64 * MiB } });
    const dir = cgroups().dirs(s.name)[0];
    expect(fs.readFileSync(`${dir}/memory.high`, 'utf8').trim()).toBe('max');
    expect(s.usage()?.memoryHigh).toBeNull();
    const w = s.setLimits({ memoryHigh: 16 * MiB });
    expect(w.map((x) => [x.file, x.value])).toEqual([['memory.high', String(16 * MiB)]]);
    expect(fs.readFileSync(`${dir}/memory.high`, 'utf8').trim()).toBe(String(16 * MiB));
  });
});
