import { describe, expect, it } from 'vitest';

import {
  formatBytes,
  formatCpuList,
  parseCpuList,
  parseSize,
  SandboxError,
  validateLimits,
  weightToShares,
} from '../../src/runtime/index.js';

const host = { cpus: [0, 1] };

function rejects(input: Parameters<typeof validateLimits>[0]): SandboxError {
  try {
    validateLimits(input, host);
  } catch (err) {
    expect(err).toBeInstanceOf(SandboxError);
    return err as SandboxError;
  }
  throw new Error(`accepted ${JSON.stringify(input)}`);
}

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

  it('maps v2 weights to v1 shares keeping the ratio', () => {
    expect(weightToShares(100)).toBe(1024);
    expect(weightToShares(75) / weightToShares(25)).toBe(3);
    expect(weightToShares(1)).toBeGreaterThanOrEqual(2);
  });
});
