/** Disk throttle input (io-rbps/io-wbps…): checked before anything is written. No root needed. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { hasLimits, parseIoSetting, resolveBlockDevice, validateLimits } from '../../src/runtime/cgroup/limits.js';
import { readServiceBytes } from '../../src/runtime/cgroup/v1.js';
import { readIoStat } from '../../src/runtime/cgroup/v2.js';

// A fake /sys/dev/block: 7:3 a whole disk, 254:1 a partition of 254:0.
const sys = fs.mkdtempSync(path.join(os.tmpdir(), 'io-limits-'));
fs.mkdirSync(`${sys}/devices/loop3`, { recursive: true });
fs.mkdirSync(`${sys}/devices/vda/vda1`, { recursive: true });
fs.writeFileSync(`${sys}/devices/vda/dev`, '254:0\n');
fs.writeFileSync(`${sys}/devices/vda/vda1/partition`, '1\n');
fs.mkdirSync(`${sys}/block`);
fs.symlinkSync(`${sys}/devices/loop3`, `${sys}/block/7:3`);
fs.symlinkSync(`${sys}/devices/vda`, `${sys}/block/254:0`);
fs.symlinkSync(`${sys}/devices/vda/vda1`, `${sys}/block/254:1`);
const blk = `${sys}/block`;
afterAll(() => fs.rmSync(sys, { recursive: true, force: true }));

describe('disk throttle settings', () => {
  it('reads DEVICE=RATE with binary units, and "max" to remove a throttle', () => {
    expect(parseIoSetting('7:3=10M', 'wbps', blk)).toEqual({ device: '7:3', value: 10 * 1024 * 1024 });
    expect(parseIoSetting('007:3=512k', 'rbps', blk)).toEqual({ device: '7:3', value: 512 * 1024 });
    expect(parseIoSetting('7:3=max', 'wbps', blk)).toEqual({ device: '7:3', value: 'max' });
    expect(parseIoSetting('7:3=250', 'wiops', blk)).toEqual({ device: '7:3', value: 250 });
  });

  it('refuses what the kernel would misread or what limits nothing, saying what to do', () => {
    const bad: [string, 'rbps' | 'wbps' | 'riops', RegExp][] = [
      ['7:3=0', 'wbps', /0 does not stop I\/O/],
      ['7:3=0', 'riops', /0 does not stop I\/O/],
      ['7:3=1k', 'wbps', /out of range/],
      ['7:3=2T', 'wbps', /out of range/],
      ['7:3=-5M', 'wbps', /not a size/],
      ['7:3=1e9', 'riops', /not a whole number/],
      ['7:3=999999999999', 'riops', /out of range/],
      ['7:3', 'wbps', /expected DEVICE=SIZE/],
      ['=10M', 'wbps', /expected DEVICE=SIZE/],
      ['9:9=10M', 'wbps', /no block device 9:9/],
      ['254:1=10M', 'wbps', /a partition; the kernel throttles whole disks only/],
      ['../../etc=10M', 'wbps', /not a block device/],
      ['99999:1=10M', 'wbps', /not a block device/],
    ];
    for (const [text, key, re] of bad) {
      expect(() => parseIoSetting(text, key, blk), text).toThrow(expect.objectContaining({ code: 'E_LIMIT', message: expect.stringMatching(re) }));
    }
    try {
      parseIoSetting('254:1=10M', 'wbps', blk);
    } catch (err) {
      expect((err as { hint?: string }).hint).toContain('254:0');
    }
  });

  it('names a device that is not a block device by its name', () => {
    expect(() => resolveBlockDevice('nosuchdisk0')).toThrow(/no block device named nosuchdisk0/);
  });

  it('merges settings of one device into one IoLimit, and bounds the BFQ weight', () => {
    // Real /sys: a loop device node exists on every Linux host with the loop driver; fall back to a unit-only check.
    expect(validateLimits({ ioWeight: '500' }, { cpus: [0] })).toEqual({ ioWeight: 500 });
    expect(() => validateLimits({ ioWeight: '0' }, { cpus: [0] })).toThrow(/out of range/);
    expect(() => validateLimits({ ioWeight: '1001' }, { cpus: [0] })).toThrow(/out of range/);
    expect(hasLimits({ io: [] })).toBe(false);
    expect(hasLimits({ io: [{ device: '7:3', wbps: 4096 }] })).toBe(true);
  });

  it('reads bytes read and written from blkio (v1) and io.stat (v2)', () => {
    const v1 = path.join(sys, 'service_bytes');
    fs.writeFileSync(v1, '7:3 Read 4096\n7:3 Write 8192\n7:3 Sync 8192\n7:3 Total 12288\n254:0 Read 1\n254:0 Write 2\nTotal 12291\n');
    expect(readServiceBytes(v1)).toEqual({ read: 4097, write: 8194 });
    const v2 = path.join(sys, 'io.stat');
    fs.writeFileSync(v2, '7:3 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n254:0 rbytes=1 wbytes=2 rios=1 wios=1 dbytes=0 dios=0\n');
    expect(readIoStat(v2)).toEqual({ read: 4097, write: 8194 });
    expect(readIoStat(path.join(sys, 'absent'))).toBeNull();
  });
});

describe('REPL settings io-rbps / io-wbps / io-weight', async () => {
  const { parseLine, formatLimits } = await import('../../src/repl/parse.js');
  const { formatBytes } = await import('../../src/runtime/cgroup/limits.js');
  // Any whole disk of this host, by MAJ:MIN (the loop driver or the root disk): read from /sys.
  const disk = fs
    .readdirSync('/sys/block')
    .map((n) => fs.readFileSync(`/sys/block/${n}/dev`, 'utf8').trim())
    .find(Boolean)!;

  it('takes DEVICE=SIZE words, keeps both directions of one device, and prints them back', () => {
    const p = parseLine(`set a io-wbps=${disk}=10M io-rbps=${disk}=20M io-weight=500`);
    expect(p.kind).toBe('command');
    const limits = (p as { command: { limits: object } }).command.limits;
    expect(limits).toEqual({ io: [{ device: disk, wbps: 10 * 1024 * 1024 }, { device: disk, rbps: 20 * 1024 * 1024 }], ioWeight: 500 });
    expect(formatLimits(limits, formatBytes)).toBe(`io-wbps=${disk}=10M io-rbps=${disk}=20M io-weight=500`);
  });

  it('refuses a zero rate with the reason, as typed', () => {
    const p = parseLine(`set a io-wbps=${disk}=0`);
    expect(p).toMatchObject({ kind: 'error', error: { message: expect.stringContaining('0 does not stop I/O') } });
  });
});
