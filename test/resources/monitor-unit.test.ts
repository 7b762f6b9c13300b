/** The monitor's arithmetic through its read seam, and /proc/stat parsing: no root, no kernel. */
import { describe, expect, it } from 'vitest';

import { type CgroupUsage, cpuPercentBetween, cpuTimes, idleBetween, Monitor, quantile } from '../../src/runtime/index.js';

function usage(cpuUsec: number): CgroupUsage {
  return {
    cpuUsec,
    memoryBytes: 0,
    memoryLimit: null,
    memoryPeak: 0,
    memoryFailures: 0,
    oomKills: 0,
    pidsCurrent: 1,
    pidsMax: null,
    pidsRefused: 0,
  };
}

describe('monitor arithmetic', () => {
  it('CPU % is the cpuUsec delta over the wall-clock delta', () => {
    expect(cpuPercentBetween({ t: 0, usage: usage(0) }, { t: 1000, usage: usage(250_000) })).toBeCloseTo(25);
    expect(cpuPercentBetween({ t: 0, usage: usage(0) }, { t: 500, usage: usage(1_000_000) })).toBeCloseTo(200);
    // a cgroup re-created under the same name starts from 0 again: no negative CPU
    expect(cpuPercentBetween({ t: 0, usage: usage(5000) }, { t: 100, usage: usage(10) })).toBeNull();
    expect(cpuPercentBetween({ t: 0, usage: { ...usage(0), cpuUsec: null } }, { t: 100, usage: usage(10) })).toBeNull();
  });

  it('shares over a trailing window follow the ratio of CPU time used', () => {
    // a uses 1 unit per tick, b 3: 25 % / 75 %
    const used = new Map([
      ['a', 0],
      ['b', 0],
    ]);
    const per: Record<string, number> = { a: 1000, b: 3000 };
    const m = new Monitor({ names: ['a', 'b'], read: (n) => usage(used.get(n)!) });
    for (let i = 0; i < 10; i++) {
      m.sampleNow();
      for (const n of ['a', 'b']) used.set(n, used.get(n)! + per[n]);
    }
    const [sa, sb] = m.shareSeries(['a', 'b'], 0);
    expect(sa.length).toBe(9);
    for (const v of sa) expect(v).toBeCloseTo(25);
    for (const v of sb) expect(v).toBeCloseTo(75);
    expect(m.shares(['a', 'b'])![0]).toBeCloseTo(25);
    expect(m.names()).toEqual(['a', 'b']);
  });

  it('keeps at most `history` samples, and skips sandboxes it cannot read', () => {
    let n = 0;
    const m = new Monitor({ names: ['x', 'gone'], history: 5, read: (name) => (name === 'x' ? usage(n++) : null) });
    for (let i = 0; i < 12; i++) m.sampleNow();
    expect(m.samples('x').length).toBe(5);
    expect(m.samples('gone').length).toBe(0);
  });

  it('parses /proc/stat per CPU and the idle share between two readings', () => {
    const a = cpuTimes('cpu  1 2 3 4\ncpu0 100 0 100 800 0 0 0 0 0 0\ncpu1 10 0 10 80 0 0 0 0 0 0\nintr 1\n');
    const b = cpuTimes('cpu  1 2 3 4\ncpu0 150 0 150 900 0 0 0 0 0 0\ncpu1 10 0 10 180 0 0 0 0 0 0\n');
    expect(a.map((c) => c.cpu)).toEqual([0, 1]);
    const idle = idleBetween(a, b);
    expect(idle.get(0)).toBeCloseTo(50);
    expect(idle.get(1)).toBeCloseTo(100);
  });

  it('quantiles', () => {
    expect(quantile([], 0.5)).toBeNull();
    expect(quantile([3, 1, 2], 0.5)).toBe(2);
    expect(quantile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.99)).toBe(10);
  });
});
