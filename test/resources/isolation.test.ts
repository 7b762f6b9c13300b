/**
 * The noisy-neighbour table (src/runtime/isolation.ts) measured for real: a victim and a
 * neighbour pinned to one CPU (claimed like the CPU lessons' own), each row with the neighbour
 * unlimited and limited. The acceptance of issue 14: for CPU, memory, disk and the fork bomb, the
 * victim loses less with the limit than without, on this host. Also the parsers, and that nothing
 * is left (sandboxes, loop device, netns, veths). Needs root; the disk row needs losetup and fio,
 * the network rows iperf3 and tc (skipped with the reason where the host lacks them).
 *
 * Tolerance, and why: the figures are ratios of the victim's progress in alternating slices with
 * the neighbour frozen and running, so slow drift of other work lands on both; but on a shared
 * machine a burst of someone else's work can still land on one slice more than another. So:
 *  - without limits the neighbour must cost at least UNLIMITED_MIN % (on a quiet machine about
 *    50 % for CPU, memory and the fork bomb: half a CPU; more for the disk);
 *  - with the limit the victim must lose at least MARGIN points less than without (a quiet
 *    machine measures 0–5 % limited: a 40-point gap);
 *  - a row that misses is measured again, up to ATTEMPTS times in all: a real regression (a limit
 *    that isolates nothing) misses every time, noise does not.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

import { afterAll, describe, expect, it } from 'vitest';

import {
  claimQuietestCpu,
  createLoopDevice,
  degradation,
  disposeIsolation,
  type IsolationRow,
  type IsolationShared,
  type IsolationStressor,
  loopProblem,
  measureRow,
  parseBogoRate,
  Sandbox,
  txBytes,
  victimOptions,
} from '../../src/runtime/index.js';
import { isRoot } from '../helpers/resources.js';

const UNLIMITED_MIN = 20;
const MARGIN = 10;
const ATTEMPTS = 3;

function has(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('isolation: parsers', () => {
  it('reads stress-ng metrics lines, old and new, and refuses what is not one', () => {
    expect(parseBogoRate('stress-ng: metrc: [25418] cpu                1781      2.00      0.70      0.01       890.63        2527.16\n', 'cpu')).toBeCloseTo(890.5, 1);
    expect(parseBogoRate('stress-ng: info:  [1] cpu   100  0.50  0.5 0 200 200\n', 'cpu')).toBe(200);
    expect(parseBogoRate('stress-ng: info: [1] vm 100 1.00 1 0 100 100', 'cpu')).toBeNull();
    expect(parseBogoRate(`stress-ng: metrc: [1] cpu ${'9'.repeat(40)} 1.00 1 0 1 1`, 'cpu')).toBeNull();
  });

  it('degradation is the share of the rate alone that was lost', () => {
    expect(degradation(1000, 500)).toBe(50);
    expect(degradation(1000, 990)).toBe(1);
    expect(degradation(0, 10)).toBeNull();
    expect(degradation(null, 10)).toBeNull();
  });

  it('reads transmit bytes of one interface from /proc/PID/net/dev', () => {
    expect(txBytes(process.pid, 'lo')).toBeTypeOf('number');
    expect(txBytes(process.pid, 'no-such-link')).toBeNull();
  });
});

const canRun = isRoot && has('stress-ng') && has('perl');

describe.skipIf(!canRun)('isolation: the table on this host (root, stress-ng)', () => {
  const made: Sandbox[] = [];
  const shared: IsolationShared = {};
  let victim: Sandbox | null = null;
  let loop: ReturnType<typeof createLoopDevice> | null = null;
  let claim: Awaited<ReturnType<typeof claimQuietestCpu>> | null = null;
  const create = async (key: string, o: Parameters<typeof Sandbox.create>[0]) => {
    const s = await Sandbox.create({ purpose: 'test isolation', ...o, name: `t-iso-${key}-${process.pid % 100000}` });
    made.push(s);
    return s;
  };

  async function setup(): Promise<{ cpu: number; victim: Sandbox }> {
    claim ??= await claimQuietestCpu({ purpose: 'test isolation', waitMs: 60_000 });
    victim ??= await create('victim', victimOptions(claim.cpu));
    return { cpu: claim.cpu, victim };
  }

  /** Measures a row until the limit shows (ATTEMPTS at most); returns every attempt. */
  async function rowUntilIsolated(stressor: IsolationStressor): Promise<IsolationRow[]> {
    const { cpu, victim: a } = await setup();
    const tries: IsolationRow[] = [];
    for (let i = 0; i < ATTEMPTS; i++) {
      const { row, neighbour } = await measureRow(stressor, a, {
        cpu,
        create,
        shared,
        disk: loop ? { path: loop.device, device: loop.majMin } : null,
      });
      tries.push(row);
      if (neighbour && neighbour !== shared.net?.neighbour) await neighbour.destroy();
      if (row.unlimitedPct !== null && row.limitedPct !== null && row.unlimitedPct >= UNLIMITED_MIN && row.limitedPct <= row.unlimitedPct - MARGIN) break;
    }
    return tries;
  }

  function expectIsolated(tries: IsolationRow[]): void {
    const last = tries.at(-1)!;
    const all = tries.map((r) => `${r.unlimitedPct} % → ${r.limitedPct} %`).join('; ');
    expect(last.skipped, all).toBeUndefined();
    expect(last.unlimitedPct!, `unlimited must cost ≥ ${UNLIMITED_MIN} %: ${all}`).toBeGreaterThanOrEqual(UNLIMITED_MIN);
    expect(last.limitedPct!, `limited must be ≥ ${MARGIN} points lower: ${all}`).toBeLessThanOrEqual(last.unlimitedPct! - MARGIN);
    expect(last.limit).not.toBe('');
    expect(last.probe).not.toBe('');
  }

  afterAll(async () => {
    await disposeIsolation(shared);
    for (const s of made) await s.destroy().catch(() => undefined);
    loop?.destroy();
    claim?.claim?.release();
    // Nothing of ours is left: no sandbox cgroup, no loop device backed by our file, no netns/veth.
    for (const s of made) expect(fs.existsSync(`/run/sandbox/${s.name}`)).toBe(false);
    if (loop) expect(execFileSync('losetup', ['-a'], { encoding: 'utf8' })).not.toContain(loop.backingFile);
    const links = execFileSync('ip', ['-br', 'link'], { encoding: 'utf8' });
    for (const s of made) expect(links).not.toContain(s.name);
  });

  it('CPU: a weight of 1 % gives the victim its CPU back', { timeout: 90_000 }, async () => {
    const tries = await rowUntilIsolated('cpu');
    expectIsolated(tries);
    expect(tries.at(-1)!.limit).toMatch(/cpu\.(shares = 10|weight = 1)\b/);
  });

  it('memory: memory.max stops the hog in its own cgroup (OOM kill counted there)', { timeout: 90_000 }, async () => {
    const tries = await rowUntilIsolated('memory');
    expectIsolated(tries);
    expect(tries.at(-1)!.evidence).toMatch(/^oom_kill [1-9]/);
  });

  it('fork bomb: pids.max alone still costs about half; with a low weight, little', { timeout: 90_000 }, async () => {
    const tries = await rowUntilIsolated('fork-bomb');
    expectIsolated(tries);
    expect(tries.at(-1)!.evidence).toMatch(/pids\.max 64/);
  });

  it.skipIf(!!loopProblem() || !has('fio'))('disk: a write throttle on the neighbour protects the victim\'s reads', { timeout: 120_000 }, async () => {
    loop = createLoopDevice(`t-iso-disk-${process.pid % 100000}`, 96 * 1024 * 1024, { purpose: 'test isolation' });
    const tries = await rowUntilIsolated('disk');
    expectIsolated(tries);
  });

  it.skipIf(!has('iperf3') || !has('tc'))('network: both rows are measured, with the rate limit in the kernel', { timeout: 120_000 }, async () => {
    for (const s of ['net-send', 'net-receive'] as const) {
      const tries = await rowUntilIsolated(s);
      const last = tries.at(-1)!;
      expect(last.unlimitedPct).not.toBeNull();
      expect(last.limitedPct).not.toBeNull();
      expect(last.evidence).toMatch(/tbf .*rate 20Mbit/);
    }
  });
});
