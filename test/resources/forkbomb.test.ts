/**
 * The fork-bomb guard, proven through the cgroup's files: no bomb without a kernel-enforced
 * pids.max at or below the cap; a running bomb never exceeds pids.max and its refusals are
 * counted; one kill empties the cgroup; the deadline ends it unattended; and a killed owner
 * leaves no bomb behind. Each bomb here is bounded (pids.max ≤ 64, deadlines of seconds). Needs
 * root.
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import {
  cgroupFile,
  cgroups,
  createForkBomb,
  FORK_BOMB_MAX_PIDS,
  liveSandboxes,
  readEntry,
  Sandbox,
  SandboxError,
  startForkBomb,
  sweep,
} from '../../src/runtime/index.js';
import { isRoot } from '../helpers/resources.js';
import { clearDebris, declareDebris } from '../helpers/session.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const DIST = path.resolve(import.meta.dirname, '../../dist/runtime/index.js');

async function until<T>(probe: () => T | null | undefined | false, what: string, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** Every process whose cgroup is the sandbox's (read from /proc, not the cgroup). */
function inCgroup(name: string): number[] {
  const out: number[] = [];
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (fs.readFileSync(`/proc/${e}/cgroup`, 'utf8').includes(`/sandbox/${name}\n`)) out.push(Number(e));
    } catch {
      /* exited */
    }
  }
  return out;
}

afterEach(async () => {
  for (const s of liveSandboxes()) await s.destroy();
});

describe.skipIf(!isRoot)('fork bomb guard (needs root)', () => {
  it('refuses a sandbox whose cgroup has no pids.max, before anything runs', async () => {
    const s = await Sandbox.create({ namespaces: ['pid', 'mount'], init: true, stdio: 'ignore', purpose: 'test' });
    expect(fs.readFileSync(cgroupFile(s.name, 'pids.max')!, 'utf8').trim()).toBe('max');
    const err = await startForkBomb(s, { deadlineMs: 2000 }).catch((e) => e);
    expect(err).toBeInstanceOf(SandboxError);
    expect(err.code).toBe('E_NO_PIDS_LIMIT');
    await sleep(200);
    expect(cgroups().usage(s.name).pidsCurrent).toBe(1); // sandbox-init alone
  });

  it(`refuses a pids.max above ${FORK_BOMB_MAX_PIDS}, and a sandbox without a cgroup`, async () => {
    const big = await Sandbox.create({ namespaces: ['pid'], init: true, limits: { pids: FORK_BOMB_MAX_PIDS + 1 }, stdio: 'ignore', purpose: 'test' });
    expect((await startForkBomb(big).catch((e) => e)).code).toBe('E_NO_PIDS_LIMIT');
    const none = await Sandbox.create({ namespaces: ['pid'], init: true, cgroup: false, stdio: 'ignore', purpose: 'test' });
    expect((await startForkBomb(none).catch((e) => e)).code).toBe('E_NO_PIDS_LIMIT');
  });

  it('createForkBomb refuses a missing or oversized limit without creating anything', async () => {
    const before = cgroups().list();
    for (const pids of [0, 1, NaN, FORK_BOMB_MAX_PIDS + 1]) {
      const err = await createForkBomb({ pids, name: 'bombtest-refused' }).catch((e) => e);
      expect(err.code).toBe('E_NO_PIDS_LIMIT');
    }
    expect(readEntry('bombtest-refused')).toBeNull();
    expect(cgroups().list()).toEqual(before);
  });

  it('holds at pids.max, counts refused forks, and one kill empties the cgroup', async () => {
    const bomb = await createForkBomb({ pids: 32, deadlineMs: 15_000, purpose: 'test' });
    const name = bomb.sandbox.name;
    let peak = 0;
    const u = await until(() => {
      const x = cgroups().usage(name);
      peak = Math.max(peak, x.pidsCurrent ?? 0);
      return x.pidsCurrent === 32 && (x.pidsRefused ?? 0) > 10 ? x : null;
    }, 'the bomb to fill its cgroup');
    const end = Date.now() + 500;
    while (Date.now() < end) {
      peak = Math.max(peak, cgroups().usage(name).pidsCurrent ?? 0);
      await sleep(2);
    }
    expect(peak).toBe(32);
    const peakFile = cgroupFile(name, 'pids.peak');
    if (peakFile) expect(Number(fs.readFileSync(peakFile, 'utf8').trim())).toBe(32);
    expect(u.pidsMax).toBe(32);
    expect(bomb.active).toBe(true);

    const report = bomb.kill();
    expect(report.killed).toBeGreaterThanOrEqual(30);
    expect(report.left).toBe(0);
    expect(report.ms).toBeGreaterThan(0);
    expect(report.ms).toBeLessThan(1000);
    expect(report.method).toBe(cgroups().killMethod());
    expect(cgroups().procs(name)).toEqual([]);
    // (PID 1 and the exec'd supervisor are this process's children: zombies until Node reaps them)
    await until(() => inCgroup(name).length === 0, 'the last zombies to be reaped', 3000);
    expect(bomb.active).toBe(false);
    expect(bomb.endedBy).toBe('killed');
    expect(bomb.kill()).toBe(report); // idempotent
    await bomb.dispose();
    expect(cgroups().exists(name)).toBe(false);
  });

  it('ends itself at its deadline: every process killed, the sandbox destroyed', async () => {
    const bomb = await createForkBomb({ pids: 16, deadlineMs: 1500, purpose: 'test' });
    const name = bomb.sandbox.name;
    await until(() => cgroups().usage(name).pidsCurrent === 16, 'the bomb to fill its cgroup');
    await until(() => bomb.sandbox.isDestroyed && !cgroups().exists(name), 'the deadline to destroy it', 5000);
    expect(bomb.endedBy).toBe('deadline');
    expect(inCgroup(name)).toEqual([]);
    expect(readEntry(name)).toBeNull();
  });

  it('a killed owner (SIGKILL) takes its bomb with it: PID 1 dies, the kernel ends the namespace', async () => {
    // The owner is a separate Node process running the built runtime; it prints the name and waits.
    const script = `
      import { createForkBomb } from ${JSON.stringify(DIST)};
      const b = await createForkBomb({ pids: 16, deadlineMs: 20000, purpose: 'test' });
      console.log(b.sandbox.name);
      setInterval(() => {}, 1000);`;
    const owner = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const name = await new Promise<string>((resolve, reject) => {
      owner.stdout.once('data', (c: Buffer) => resolve(c.toString().trim()));
      owner.once('exit', (code) => reject(new Error(`owner exited ${code}`)));
    });
    try {
      await until(() => cgroups().usage(name).pidsCurrent === 16, 'the bomb to fill its cgroup');
      declareDebris(name);
      owner.kill('SIGKILL');
      await until(() => inCgroup(name).length === 0, 'every bomb process to die with its owner', 5000);
    } finally {
      owner.kill('SIGKILL');
      // The dead owner's cgroup and ledger entry are what `sandbox cleanup` removes.
      await until(() => owner.exitCode !== null || owner.signalCode !== null, 'the owner to exit', 5000);
      sweep();
      clearDebris(name);
    }
    expect(cgroups().exists(name)).toBe(false);
    expect(execFileSync('sh', ['-c', `grep -l "/sandbox/${name}$" /proc/[0-9]*/cgroup 2>/dev/null | wc -l`], { encoding: 'utf8' }).trim()).toBe('0');
  });
});
