/**
 * memory-high as typed (validated like --memory, and never above it) and the pressure files'
 * parser: every figure bounded, a malformed file read as "no figure", never a wrong one.
 */
import { describe, expect, it } from 'vitest';

import { formatPressure, parsePressure, SandboxError, validateLimits } from '../../src/runtime/index.js';
import { rejectsLimits } from '../helpers/limits.js';
import { noMemoryHigh } from '../../src/runtime/cgroup/v1.js';

const host = { cpus: [0, 1], memory: 8 * 1024 ** 3 };
const MiB = 1024 * 1024;

const rejects = (input: Parameters<typeof validateLimits>[0]): SandboxError => rejectsLimits(input, host);

describe('memory-high', () => {
  it('takes a size with units, alone or under --memory', () => {
    expect(validateLimits({ memoryHigh: '32M' }, host)).toEqual({ memoryHigh: 32 * MiB });
    expect(validateLimits({ memory: '96M', memoryHigh: '32M' }, host)).toEqual({ memory: 96 * MiB, memoryHigh: 32 * MiB });
    expect(validateLimits({ memory: '64M', memoryHigh: '64M' }, host)).toEqual({ memory: 64 * MiB, memoryHigh: 64 * MiB });
  });

  it('refuses a throttle above the hard limit, saying why and what to give', () => {
    const e = rejects({ memory: '64M', memoryHigh: '128M' });
    expect(e.message).toBe('--memory-high 128M: above --memory 64M');
    expect(e.hint).toMatch(/never acts.*--memory-high 32M/);
    expect(e.code).toBe('E_LIMIT');
  });

  it('refuses sizes the kernel would round or that exceed the machine, naming --memory-high', () => {
    expect(rejects({ memoryHigh: '1k' }).message).toBe('--memory-high 1k: too small');
    const odd = rejects({ memoryHigh: String(2 * MiB + 100) });
    expect(odd.message).toMatch(/--memory-high \d+: not a whole number of 4 KiB pages/);
    expect(odd.hint).toContain(`round it down to ${2 * MiB} bytes`);
    expect(rejects({ memoryHigh: '16G' }).message).toMatch(/--memory-high 16G: more than this machine's memory \(8G\)/);
    expect(rejects({ memoryHigh: '99999999999999999999T' }).message).toMatch(/--memory-high .*far larger than any machine/);
    expect(rejects({ memoryHigh: '-5M' }).message).toMatch(/--memory-high -5M: not a size/);
  });

  it("v1's refusal names what v1 has instead", () => {
    const e = noMemoryHigh();
    expect(e.message).toMatch(/--memory-high needs cgroup v2 \(memory\.high\)/);
    expect(e.hint).toMatch(/memory\.limit_in_bytes/);
    expect(e.hint).toMatch(/memory\.soft_limit_in_bytes, a reclaim hint .* not a throttle/);
    expect(e.actionable).toBe(true);
  });
});

describe('pressure files', () => {
  it('reads some and full with their averages and totals', () => {
    const p = parsePressure('some avg10=8.33 avg60=1.52 avg300=0.32 total=1382347\nfull avg10=7.00 avg60=1.00 avg300=0.10 total=1200000\n');
    expect(p).toEqual({
      some: { avg10: 8.33, avg60: 1.52, avg300: 0.32, totalUs: 1382347 },
      full: { avg10: 7, avg60: 1, avg300: 0.1, totalUs: 1200000 },
    });
    expect(formatPressure(p)).toBe('some 8.33% full 7.00%');
  });

  it('takes a file without a full line (the host cpu file before 5.13)', () => {
    expect(parsePressure('some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n')?.full).toBeNull();
  });

  it('refuses malformed or out-of-bounds figures instead of guessing', () => {
    expect(parsePressure('')).toBeNull();
    expect(parsePressure('full avg10=1.00 avg60=0.00 avg300=0.00 total=5\n')).toBeNull();
    expect(parsePressure('some avg10=101.00 avg60=0.00 avg300=0.00 total=5\n')).toBeNull();
    expect(parsePressure('some avg10=-1 avg60=0.00 avg300=0.00 total=5\n')).toBeNull();
    expect(parsePressure('some avg10=1e3 avg60=0.00 avg300=0.00 total=5\n')).toBeNull();
    expect(parsePressure('some avg10=1.00 avg60=0.00 avg300=0.00 total=123456789012345678901\n')).toBeNull();
    expect(parsePressure('some avg10=1.00 avg60=0.00 avg300=0.00\n')).toBeNull();
    expect(formatPressure(null)).toBe('n/a');
  });
});

describe('sandbox top: pressure cells', () => {
  it("shows a sandbox's own figures, or says where the host's are (v1)", async () => {
    const { hostPressureLine, pressureCell } = await import('../../src/top/model.js');
    expect(pressureCell({ cpu: 0.2, memory: 34.91, io: null })).toBe('0.2/34.9/–');
    expect(pressureCell(null)).toBe("– (v1: host's below)");
    const some = { avg10: 1.25, avg60: 0, avg300: 0, totalUs: 5 };
    expect(
      hostPressureLine({ source: 'host', where: '/proc/pressure', label: 'the host', cpu: { some, full: null }, memory: null, io: { some, full: some } }),
    ).toBe('PSI (some avg10, % of the last 10 s) the host: cpu 1.3 mem – io 1.3');
    expect(hostPressureLine({ source: 'none', where: '/proc/pressure', label: 'no pressure figures: …', cpu: null, memory: null, io: null })).toBe(
      'PSI: no pressure figures: …',
    );
  });
});
