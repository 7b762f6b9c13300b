/**
 * Disk throttles on a loop device made for the purpose: the device is a file under /run/sandbox
 * on a tmpfs, recorded in the ledger before it is attached, detached by destroy() and, when its
 * session was killed, by sweep(). The throttle is proven by time: O_DIRECT writes (no page cache
 * to absorb them) through blkio.throttle.write_bps_device (v1) or io.max (v2). Needs root.
 */
import fs from 'node:fs';
import path from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import { cgroups, createLoopDevice, liveWorkspaces, readEntry, Sandbox, sweep, validateLimits } from '../../../src/runtime/index.js';
import { isRoot } from '../../helpers/resources.js';
import { clearDebris, declareDebris, killSession, startSession } from '../../helpers/session.js';

const DIST = path.resolve(import.meta.dirname, '../../../dist/runtime/index.js');
const MiB = 1024 * 1024;

/** Loop devices backed by a file under `dir`, as the kernel lists them. */
function loopsBackedUnder(dir: string): string[] {
  return fs
    .readdirSync('/sys/block')
    .filter((n) => /^loop\d+$/.test(n))
    .filter((n) => {
      try {
        return fs.readFileSync(`/sys/block/${n}/loop/backing_file`, 'utf8').startsWith(`${dir}/`);
      } catch {
        return false;
      }
    });
}

const sandboxes: Sandbox[] = [];
afterEach(async () => {
  for (const s of sandboxes.splice(0)) await s.destroy();
  for (const w of liveWorkspaces()) w.destroy();
});

/** Seconds `dd` takes to write `mib` MiB with O_DIRECT onto `device` from inside sandbox `s`. */
async function ddSeconds(s: Sandbox, device: string, mib: number): Promise<number> {
  const t0 = performance.now();
  const r = await s.execOutput(['dd', 'if=/dev/zero', `of=${device}`, 'bs=256K', `count=${mib * 4}`, 'oflag=direct']);
  expect(r.status, r.stderr).toMatchObject({ code: 0 });
  return (performance.now() - t0) / 1000;
}

describe.skipIf(!isRoot)('disk throttles on a loop device (needs root)', () => {
  it('makes a loop device backed by a file under /run/sandbox, recorded in the ledger, detached by destroy()', () => {
    const loop = createLoopDevice('io-test-loop', 8 * MiB, { purpose: 'test' });
    expect(loop.device).toMatch(/^\/dev\/loop\d+$/);
    expect(loop.backingFile).toBe('/run/sandbox/io-test-loop/disk.img');
    const n = loop.device.slice('/dev/'.length);
    expect(fs.readFileSync(`/sys/block/${n}/loop/backing_file`, 'utf8').trim()).toBe(loop.backingFile);
    expect(fs.readFileSync(`/sys/block/${n}/dev`, 'utf8').trim()).toBe(loop.majMin);
    expect(Number(fs.readFileSync(`/sys/block/${n}/size`, 'utf8')) * 512).toBe(8 * MiB);
    expect(readEntry('io-test-loop')?.loops).toEqual([loop.backingFile]);
    expect(loop.explain.map((e) => e.command).join('\n')).toContain(`losetup --find --show ${loop.backingFile}`);

    const r = loop.destroy();
    expect(r).toEqual({ detached: [loop.device], removed: true });
    expect(loopsBackedUnder('/run/sandbox/io-test-loop')).toEqual([]);
    expect(readEntry('io-test-loop')).toBeNull();
    expect(loop.destroy()).toEqual({ detached: [], removed: false }); // idempotent
  });

  it('refuses a size out of range before making anything', () => {
    expect(() => createLoopDevice('io-test-size', 0)).toThrow(expect.objectContaining({ code: 'E_LIMIT' }));
    expect(() => createLoopDevice('io-test-size', 4 * 1024 ** 3)).toThrow(/out of range/);
    expect(fs.existsSync('/run/sandbox/io-test-size')).toBe(false);
  });

  it('throttles O_DIRECT writes to the limit, counts the bytes, and writes the kernel file of this host', async () => {
    const loop = createLoopDevice('io-test-rate', 24 * MiB, { purpose: 'test' });
    const free = await Sandbox.create({ name: 'io-test-free', namespaces: ['pid'], command: ['sleep', 'infinity'], stdio: 'ignore' });
    sandboxes.push(free);
    const limits = validateLimits({ ioWbps: `${loop.device}=4M` });
    expect(limits.io).toEqual([{ device: loop.majMin, wbps: 4 * MiB }]);
    const slow = await Sandbox.create({ name: 'io-test-slow', namespaces: ['pid'], limits, command: ['sleep', 'infinity'], stdio: 'ignore' });
    sandboxes.push(slow);

    const cg = cgroups();
    const file = cg.version === 1 ? 'blkio.throttle.write_bps_device' : 'io.max';
    const dir = cg.dirs('io-test-slow').find((d) => fs.existsSync(`${d}/${file}`))!;
    expect(fs.readFileSync(`${dir}/${file}`, 'utf8')).toContain(cg.version === 1 ? `${loop.majMin} ${4 * MiB}` : `${loop.majMin} rbps=max wbps=${4 * MiB}`);

    const unthrottled = await ddSeconds(free, loop.device, 12);
    const throttled = await ddSeconds(slow, loop.device, 12);
    // 12 MiB at 4 MiB/s: 3 s. The throttle lets a first burst through (a slice's budget), so allow
    // 25 % less; the same writes without a limit run from RAM (tmpfs): ~0.1 s on a quiet host,
    // still under half of it with the 2 CPUs at a load of 20 (measured).
    expect(throttled).toBeGreaterThan(2.2);
    expect(throttled).toBeLessThan(8);
    expect(unthrottled).toBeLessThan(throttled / 2);
    expect(slow.usage()?.ioWriteBytes).toBeGreaterThanOrEqual(12 * MiB);
    expect(free.usage()?.ioWriteBytes).toBeGreaterThanOrEqual(12 * MiB);

    // "max" removes it: the kernel's line goes, and the same writes run faster than throttled
    // (in the emulated v2 guest a fresh dd of 12 MiB takes ~2.8 s even unthrottled: no tighter bound).
    slow.setLimits(validateLimits({ ioWbps: `${loop.majMin}=max` }));
    const after = fs.readFileSync(`${dir}/${file}`, 'utf8');
    expect(cg.version === 1 ? after.includes(loop.majMin) : after.includes(`wbps=${4 * MiB}`)).toBe(false);
    expect(await ddSeconds(slow, loop.device, 12)).toBeLessThan(throttled);
    loop.destroy();
  });

  it('destroys a sandbox whose writer waits on a throttle of 4 bytes/s (a D-state task) at once', async () => {
    const loop = createLoopDevice('io-test-stuck', 4 * MiB, { purpose: 'test' });
    const s = await Sandbox.create({
      name: 'io-test-stuck-w',
      namespaces: ['pid'],
      init: true,
      command: ['dd', 'if=/dev/zero', `of=${loop.device}`, 'bs=256K', 'count=4', 'oflag=direct'],
      stdio: 'ignore',
    });
    sandboxes.push(s);
    // What "echo '7:N 4M' > blkio.throttle.write_bps_device" does on v1 (sscanf reads 4), written by hand.
    const cg = cgroups();
    const [file, line] = cg.version === 1 ? ['blkio.throttle.write_bps_device', `${loop.majMin} 4`] : ['io.max', `${loop.majMin} wbps=4`];
    fs.writeFileSync(`${cg.dirs(s.name).find((d) => fs.existsSync(`${d}/${file}`))}/${file}`, line);
    // The dd now waits in the block layer, uninterruptibly (state D), for its first bio.
    let state = '';
    for (let i = 0; i < 50 && state !== 'D'; i++) {
      await new Promise((r) => setTimeout(r, 100));
      const dd = cg.procs(s.name).find((p) => fs.readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'dd');
      state = dd ? (/^State:\s+(\S)/m.exec(fs.readFileSync(`/proc/${dd}/status`, 'utf8'))?.[1] ?? '') : '';
    }
    expect(state).toBe('D');
    const t0 = performance.now();
    await s.destroy();
    expect(performance.now() - t0).toBeLessThan(5000);
    expect(cg.exists(s.name)).toBe(false);
    loop.destroy();
    expect(loopsBackedUnder('/run/sandbox/io-test-stuck')).toEqual([]);
  });

  it('what a killed session left (a loop device and its tmpfs) is detached and removed by sweep()', async () => {
    const script = `
      import { createLoopDevice } from ${JSON.stringify(DIST)};
      const loop = createLoopDevice('io-test-killed', 4 * 1024 * 1024, { purpose: 'test' });
      console.log('ready', loop.device);
      setInterval(() => {}, 1000);
    `;
    declareDebris('io-test-killed');
    await killSession(await startSession(script));
    expect(loopsBackedUnder('/run/sandbox/io-test-killed')).toHaveLength(1);
    const report = sweep();
    expect(loopsBackedUnder('/run/sandbox/io-test-killed')).toEqual([]);
    expect(fs.existsSync('/run/sandbox/io-test-killed')).toBe(false);
    expect(readEntry('io-test-killed')).toBeNull();
    // This sweep, or another session's that ran meanwhile, did it.
    if (report.entries.includes('io-test-killed')) expect(report.loops?.length).toBeGreaterThan(0);
    clearDebris('io-test-killed');
  });
});
