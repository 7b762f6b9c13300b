/**
 * The VM and density measurements on the real kernel (src/runtime/vm.ts, density.ts): QEMU boots
 * the kernel to "ready" as the command of a sandbox of ours (its cgroup, its ledger entry), its
 * memory is read from /proc/PID/smaps_rollup, and nothing is left after stop() or after the
 * session that started it is killed (sweep() kills QEMU with its cgroup). Sandboxes start to
 * "ready" and a fill stops at its memory budget. Needs root; the VM tests need QEMU and a kernel
 * (skipped with the reason where vmUnavailable() says so, e.g. in the emulated v2 guest).
 */
import fs from 'node:fs';
import path from 'node:path';

import { describe, expect, it } from 'vitest';

import {
  bootVm,
  cgroups,
  fillSandboxes,
  processMemory,
  readEntry,
  sandboxMemory,
  startContainer,
  sweep,
  vmUnavailable,
} from '../../../src/runtime/index.js';
import { isRoot } from '../../helpers/resources.js';
import { clearDebris, declareDebris, killSession, startSession } from '../../helpers/session.js';

const DIST = path.resolve(import.meta.dirname, '../../../dist/runtime/index.js');
const noVm = vmUnavailable();
const alive = (pid: number) => {
  try {
    return !/^State:\s+[ZX]/m.test(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
};

describe.skipIf(!isRoot)('containers vs VMs (root)', () => {
  it('a sandbox reaches "ready", and its cgroup and PSS count well under a few MiB', async () => {
    const { sandbox, startMs } = await startContainer('density-test-one', 'test');
    try {
      expect(startMs).toBeGreaterThan(0);
      expect(startMs).toBeLessThan(10_000);
      const m = sandboxMemory(sandbox);
      expect(m.processes).toBe(2); // the shell and its sleep
      expect(m.cgroup).toBeGreaterThan(0);
      expect(m.cgroup!).toBeLessThan(16 * 1024 * 1024);
      expect(m.pss).toBeGreaterThan(0);
    } finally {
      await sandbox.destroy();
    }
    expect(cgroups().exists('density-test-one')).toBe(false);
  });

  it('a fill stops at its memory budget, and every sandbox it started is one of ours', async () => {
    const { sandboxes, result } = await fillSandboxes({ budgetBytes: 1, timeMs: 20_000, max: 5, prefix: 'density-test-fill', purpose: 'test' });
    try {
      expect(result.started).toBe(1);
      expect(result.stoppedBy).toBe('memory');
      const two = await fillSandboxes({ budgetBytes: 1024 ** 3, timeMs: 20_000, max: 2, prefix: 'density-test-fill2', purpose: 'test' });
      sandboxes.push(...two.sandboxes);
      expect(two.result.started).toBe(2);
      expect(two.result.stoppedBy).toBe('count');
      expect(two.result.perSandboxBytes).toBeGreaterThan(0);
      for (const s of sandboxes) expect(readEntry(s.name)?.purpose).toBe('test');
    } finally {
      for (const s of sandboxes) await s.destroy();
    }
  });

  it.skipIf(!!noVm)(`QEMU boots to "ready" in a sandbox of ours, holds the guest's memory, and stop() leaves nothing (${noVm ?? 'VM available'})`, async () => {
    const vm = await bootVm({ name: 'vm-test-boot', purpose: 'test' });
    const pid = vm.sandbox.pid;
    try {
      expect(['kvm', 'tcg']).toContain(vm.accel);
      expect(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')).toEqual(expect.arrayContaining(['-kernel', vm.kernel.path, '-initrd', vm.initramfs]));
      expect(fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8')).toContain('/sandbox/vm-test-boot\n');
      expect(readEntry('vm-test-boot')?.init?.pid).toBe(pid);
      expect(vm.initramfs.startsWith('/run/sandbox/vm-test-boot-files/')).toBe(true);
      expect(readEntry('vm-test-boot-files')).not.toBeNull();
      const m = processMemory(pid)!;
      expect(m.pss).toBeGreaterThan(32 * 1024 * 1024); // the guest kernel touched its RAM
      expect(m.pssAnon).toBeGreaterThan(16 * 1024 * 1024);
      expect(vm.sandbox.usage()?.memoryBytes).toBeGreaterThan(16 * 1024 * 1024);
    } finally {
      await vm.stop();
    }
    expect(alive(pid)).toBe(false);
    expect(fs.existsSync('/run/sandbox/vm-test-boot-files')).toBe(false);
    expect(readEntry('vm-test-boot')).toBeNull();
    expect(cgroups().exists('vm-test-boot')).toBe(false);
  }, 180_000);

  it.skipIf(!!noVm)('a killed session\'s VM is killed by sweep(), its files removed', async () => {
    const script = `
      import { bootVm } from ${JSON.stringify(DIST)};
      const vm = await bootVm({ name: 'vm-test-killed', purpose: 'test' });
      console.log('ready ' + vm.sandbox.pid);
      setInterval(() => {}, 1000);
    `;
    declareDebris('vm-test-killed', 'vm-test-killed-files');
    await killSession(await startSession(script));
    const pid = readEntry('vm-test-killed')?.init?.pid;
    expect(pid).toBeGreaterThan(0);
    // Its ledger entry outlives the session (QEMU itself may die with its pipes): the sweep
    // reclaims it and kills whatever is left in its cgroup.
    expect(readEntry('vm-test-killed-files')).not.toBeNull();
    sweep();
    for (let i = 0; i < 50 && alive(pid!); i++) await new Promise((r) => setTimeout(r, 100));
    expect(alive(pid!)).toBe(false);
    expect(readEntry('vm-test-killed')).toBeNull();
    expect(readEntry('vm-test-killed-files')).toBeNull();
    expect(fs.existsSync('/run/sandbox/vm-test-killed-files')).toBe(false);
    clearDebris('vm-test-killed', 'vm-test-killed-files');
  }, 180_000);
});
