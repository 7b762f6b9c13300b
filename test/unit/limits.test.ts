import { describe, expect, it } from 'vitest';

import { checkName, INTERNAL_CGROUPS, INTERNAL_DIRS, nameProblem } from '../../src/runtime/cgroup/index.js';
import { echo, ECHO_MAX } from '../../src/runtime/errors.js';
import {
  burstProblem,
  formatBytes,
  formatCpuList,
  parseCpuList,
  parseSize,
  percentToUs,
  SandboxError,
  validateLimits,
  weightToShares,
} from '../../src/runtime/index.js';
import { rejectsLimits } from '../helpers/limits.js';

const host = { cpus: [0, 1] };

const rejects = (input: Parameters<typeof validateLimits>[0]): SandboxError => rejectsLimits(input, host);

describe('sizes', () => {
  it('parses binary units', () => {
    expect(parseSize('64M')).toBe(64 * 1024 * 1024);
    expect(parseSize('512k')).toBe(512 * 1024);
    expect(parseSize('1G')).toBe(1024 ** 3);
    expect(parseSize('2MiB')).toBe(2 * 1024 * 1024);
    expect(parseSize('4096')).toBe(4096);
  });
  it('rejects what is not a size', () => {
    for (const bad of ['', 'lots', '12Q', '-5M', '1.2.3M']) expect(() => parseSize(bad)).toThrow(SandboxError);
  });
  it('formats bytes readably', () => {
    expect(formatBytes(64 * 1024 * 1024)).toBe('64M');
    expect(formatBytes(98304)).toBe('96K');
    expect(formatBytes(1536)).toBe('1.5K');
  });
});

describe('cpu lists', () => {
  it('parses ranges and lists', () => {
    expect(parseCpuList('0')).toEqual([0]);
    expect(parseCpuList('0-2,5')).toEqual([0, 1, 2, 5]);
    expect(parseCpuList('3,1,1')).toEqual([1, 3]);
  });
  it('rejects malformed lists', () => {
    for (const bad of ['', 'a', '1-', '2-1', '0,,1']) expect(() => parseCpuList(bad)).toThrow(SandboxError);
  });
  it('formats compactly', () => {
    expect(formatCpuList([0, 1, 2, 5])).toBe('0-2,5');
  });
});

describe('validateLimits', () => {
  it('accepts sensible limits', () => {
    expect(validateLimits({ cpuWeight: '75', cpuQuota: '30', cpus: '0', memory: '64M', pids: '50' }, host)).toEqual({
      cpuWeight: 75,
      cpuQuota: 30,
      cpus: '0',
      memory: 64 * 1024 * 1024,
      pids: 50,
    });
  });

  it('refuses a memory limit the kernel would silently turn into 0', () => {
    const e = rejects({ memory: '1k' });
    expect(e.code).toBe('E_LIMIT');
    expect(e.message).toContain('--memory 1k');
    expect(e.hint).toMatch(/0B/);
    expect(e.hint).toMatch(/64M/);
  });

  it('refuses a memory limit that is not whole pages, naming the rounded value', () => {
    const e = rejects({ memory: String(2 * 1024 * 1024 + 100) });
    expect(e.hint).toContain('2M');
  });

  it('refuses CPUs the host does not have, listing the ones it has', () => {
    const e = rejects({ cpus: '99' });
    expect(e.message).toContain('CPU 99');
    expect(e.hint).toContain('0-1');
  });

  it('refuses pids 0 and non-numbers', () => {
    expect(rejects({ pids: '0' }).message).toContain('--pids 0');
    expect(rejects({ pids: 'many' }).code).toBe('E_LIMIT');
  });

  it('keeps weights and quotas in range', () => {
    rejects({ cpuWeight: '0' });
    rejects({ cpuWeight: '10001' });
    rejects({ cpuQuota: '0.5' });
    rejects({ cpuQuota: '201' });
    expect(validateLimits({ cpuQuota: '200' }, host).cpuQuota).toBe(200);
  });

  it('takes a CPU burst only next to a quota it does not exceed, and says why before writing', () => {
    expect(validateLimits({ cpuQuota: '30', cpuBurst: '20' }, host)).toEqual({ cpuQuota: 30, cpuBurst: 20 });
    expect(validateLimits({ cpuQuota: '30', cpuBurst: '30%' }, host).cpuBurst).toBe(30);
    expect(validateLimits({ cpuQuota: '30', cpuBurst: '0' }, host).cpuBurst).toBe(0);
    // Alone it is accepted here: the quota may already be in the kernel (the driver checks that).
    expect(validateLimits({ cpuBurst: '10' }, host).cpuBurst).toBe(10);
    const above = rejects({ cpuQuota: '30', cpuBurst: '31' });
    expect(above.message).toContain('--cpu-burst 31');
    expect(above.message).toContain('more than the quota');
    expect(above.hint).toContain('at most --cpu-burst 30');
    for (const bad of ['lots', '-5', '1e3', '0x10', '1'.repeat(30), '']) expect(rejects({ cpuQuota: '30', cpuBurst: bad }).code).toBe('E_LIMIT');
    expect(burstProblem(20, null)!.message).toContain('no CPU quota');
    expect(burstProblem(0, null)).toBeNull();
    expect(burstProblem(30.0000001, 30)).toBeNull(); // the same µs once rounded
    expect(percentToUs(20)).toBe(20_000);
  });

  it('maps v2 weights to v1 shares keeping the ratio', () => {
    expect(weightToShares(100)).toBe(1024);
    expect(weightToShares(75) / weightToShares(25)).toBe(3);
    expect(weightToShares(1)).toBeGreaterThanOrEqual(2);
  });
});

/**
 * Input that once hung, crashed or reached the kernel (issue 10): each must be refused at once,
 * before any range is expanded or any number rounded past 2^53.
 */
describe('hostile numbers', () => {
  const small = { cpus: [0, 1], memory: 8 * 1024 ** 3 };
  const refusedFast = (input: Parameters<typeof validateLimits>[0]) => {
    const t0 = performance.now();
    let error: unknown;
    try {
      validateLimits(input, small);
    } catch (err) {
      error = err;
    }
    const ms = performance.now() - t0;
    const what = echo(JSON.stringify(input));
    expect(error, what).toBeInstanceOf(SandboxError);
    expect(ms, `${what} took ${ms} ms`).toBeLessThan(100);
    const e = error as SandboxError;
    expect(e.code).toBe('E_LIMIT');
    // the value is echoed, shortened
    expect(e.message.length).toBeLessThan(300);
    return e;
  };

  it('refuses CPU numbers past 2^53 and huge ranges without expanding them', () => {
    expect(refusedFast({ cpus: '9007199254740993' }).message).toMatch(/CPU 9007199254740993 does not exist/);
    expect(refusedFast({ cpus: '0-30000000' }).message).toMatch(/CPU 30000000 does not exist/);
    expect(refusedFast({ cpus: '0-9007199254740993' }).message).toMatch(/does not exist/);
    refusedFast({ cpus: `0-${'9'.repeat(400)}` });
    refusedFast({ cpus: Array.from({ length: 5000 }, () => '0').join(',') });
    refusedFast({ cpus: '2' });
    refusedFast({ cpus: '0-8192' });
    expect(() => parseCpuList('0-100000')).toThrow(/does not exist/);
    expect(parseCpuList('0-8191')).toHaveLength(8192);
  });

  it('refuses memory above the machine and sizes past 2^53', () => {
    expect(refusedFast({ memory: '99999999999999999999T' }).message).toMatch(/larger than any machine/);
    expect(refusedFast({ memory: '9G' }).message).toMatch(/more than this machine's memory \(8G\)/);
    expect(refusedFast({ memory: 2 ** 60 }).hint).toMatch(/leave --memory out/);
    refusedFast({ memory: Number.MAX_VALUE });
    refusedFast({ memory: Infinity });
    refusedFast({ memory: NaN });
    refusedFast({ memory: '1.5.5M' });
    refusedFast({ memory: 'max' });
    expect(validateLimits({ memory: '8G' }, small).memory).toBe(8 * 1024 ** 3);
    expect(validateLimits({ memory: '1.5G' }, small).memory).toBe(1.5 * 1024 ** 3);
  });

  it('reads only plain ASCII digits: no exponent, hex, sign tricks, separators or other scripts', () => {
    for (const v of ['1e3', '0x10', '0b11', '0o7', '+50', '1_000', '1,000', '٥٠', '５０', '50\u0000', 'Infinity', 'NaN', '', ' ', '--5', '5-']) {
      refusedFast({ pids: v });
      refusedFast({ cpuWeight: v });
      refusedFast({ cpuQuota: v });
      refusedFast({ memory: v });
      if (v !== '1,000') refusedFast({ cpus: v });
    }
    for (const v of ['-0', '0', '-1', '4194305', '9'.repeat(25)]) refusedFast({ pids: v });
    for (const v of ['-0', '0', '10001', '9007199254740993']) refusedFast({ cpuWeight: v });
    for (const v of ['0', '0.99', '200.0000001', '1'.repeat(30), '-5']) refusedFast({ cpuQuota: v });
  });

  it('accepts surrounding blanks, the edges of every range, and a % on a quota', () => {
    expect(validateLimits({ pids: ' 50 ', cpuWeight: '10000', cpuQuota: '200%', cpus: ' 0-1 ' }, small)).toEqual({
      pids: 50,
      cpuWeight: 10000,
      cpuQuota: 200,
      cpus: '0-1',
    });
    expect(validateLimits({ pids: '4194304', cpuWeight: '1', cpuQuota: '1', memory: '1M' }, small)).toEqual({
      pids: 4194304,
      cpuWeight: 1,
      cpuQuota: 1,
      memory: 1024 * 1024,
    });
  });

  it('echoes at most 80 characters of what was typed, control characters made visible', () => {
    const e = refusedFast({ pids: `${'x'.repeat(100_000)}\x1b[2J` });
    expect(e.message).toContain(`${'x'.repeat(ECHO_MAX - 1)}…`);
    expect(e.message).not.toContain('x'.repeat(ECHO_MAX));
    expect(echo('a\x1b[2Jb\n')).toBe('a\\x1b[2Jb\\x0a');
    expect([...echo('💥'.repeat(200))]).toHaveLength(ECHO_MAX);
  });
});

describe('sandbox names', () => {
  it('refuses every internal directory of /run/sandbox and every cgroup file name', () => {
    for (const n of [...INTERNAL_DIRS, ...INTERNAL_CGROUPS, 'ledger', 'supervisor', 'cgroup.procs', 'cgroup.kill', 'cpu.max', 'memory.max', 'pids.max', 'cpuset.cpus', 'tasks', 'release_agent', 'notify_on_release']) {
      expect(nameProblem(n), n).not.toBeNull();
      expect(() => checkName(n)).toThrow(SandboxError);
    }
    expect(nameProblem('ledger')!.message).toMatch(/reserved/);
  });
  it('accepts ordinary names, and shows at most 80 characters of a bad one', () => {
    for (const n of ['web', 'run-1a2b', 'pidns-a', 'ledger2', 'my.ledger', 'cpu-claimsx', 'a'.repeat(32)]) expect(nameProblem(n), n).toBeNull();
    const p = nameProblem('Z'.repeat(10_000))!;
    expect(p.message.length).toBeLessThan(120);
  });
});
