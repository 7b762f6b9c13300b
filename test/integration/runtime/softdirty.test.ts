/**
 * Dirty-page tracking and pre-copy migration (src/runtime/softdirty.ts), on the real kernel, with
 * the dirtier (native/dirtier.c) as the workload: issue 15's acceptance line "the pre-copy chart
 * shows at least three rounds with the dirty-page count falling for a workload that dirties a
 * bounded set of pages; the measured downtime of the final round is lower than that of a plain
 * stop-and-copy of the same process". Runs with the method this kernel offers: soft-dirty bits in
 * the v2 guest's Debian kernel (npm run test:v2), page hashes on the CI host, whose kernel lacks
 * CONFIG_MEM_SOFT_DIRTY; so CI proves both. (Hashing is slow in the emulated guest: 2048 SHA-1s
 * take seconds there, so the hash method is not forced where the kernel has soft-dirty bits.)
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  changedPages,
  continueProcess,
  differingPages,
  dirtierPath,
  filledRegion,
  type DirtyMethod,
  pagemapEntries,
  PM_PRESENT,
  preCopy,
  procState,
  type Region,
  softDirtyPages,
  snapshotPages,
  softDirtyWorks,
  stopAndCopy,
} from '../../../src/runtime/softdirty.js';

const PAGES = 2048;
const HOT = 512;
const LINK = 8 * 1024 * 1024;
let child: ChildProcess;
let region: Region;
let dir: string;
let native: DirtyMethod;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sandbox-softdirty-'));
  child = spawn(dirtierPath(), [String(PAGES), String(HOT)], { stdio: 'ignore' });
  region = (await filledRegion(child.pid!, PAGES))!;
  native = (await softDirtyWorks(region)) ? 'soft-dirty' : 'hash';
  console.log(`kernel ${os.release()} ${os.arch()}: dirty pages found by ${native}`);
});

afterAll(() => {
  child?.kill('SIGKILL');
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('the dirtier', () => {
  it('refuses bad arguments with a clear message', () => {
    for (const args of [[], ['0', '1'], ['10', '11'], ['abc', '1'], ['10', '5', '9999999']]) {
      const r = spawnSync(dirtierPath(), args, { encoding: 'utf8' });
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(/^(usage: dirtier|dirtier: \w+ must be a number from)/);
    }
  });
  it('filledRegion returns its region once every page is present (its one fill is over), and null for a region it never has', async () => {
    // Measured during the fill, the dirtier seemed to write 1365 pages in a second (the lab VM
    // under TCG): the fill touches every page once, the steady state only the hot ones.
    expect([...pagemapEntries(region)].filter((e) => !(e & PM_PRESENT))).toEqual([]);
    const t = Date.now();
    expect(await filledRegion(child.pid!, PAGES + 1, 300)).toBeNull();
    expect(Date.now() - t).toBeGreaterThanOrEqual(290);
  });
  it('has one anonymous region of exactly its pages, and writes only its hot pages', async () => {
    expect(region.pages).toBe(PAGES);
    expect(fs.readFileSync(`/proc/${region.pid}/maps`, 'utf8')).toContain(`${region.start.toString(16)}-${(region.start + PAGES * 4096).toString(16)} rw-p`);
    const a = snapshotPages(region);
    await new Promise((r) => setTimeout(r, 1000));
    const changed = changedPages(region, a, snapshotPages(region));
    expect(changed.length).toBeGreaterThan(HOT / 4);
    expect(Math.max(...changed)).toBeLessThan(HOT);
  });
});

describe('soft-dirty bits', () => {
  it('are reported truthfully: where the kernel config says so, clear_refs 4 + pagemap bit 55 finds the written pages', async () => {
    const config = `/boot/config-${os.release()}`;
    if (fs.existsSync(config)) {
      expect(native === 'soft-dirty').toBe(/^CONFIG_MEM_SOFT_DIRTY=y$/m.test(fs.readFileSync(config, 'utf8')));
    }
    if (native === 'soft-dirty') {
      fs.writeFileSync(`/proc/${region.pid}/clear_refs`, '4');
      await new Promise((r) => setTimeout(r, 200));
      const dirty = softDirtyPages(region);
      expect(dirty.length).toBeGreaterThan(0);
      expect(dirty.every((p) => p < HOT)).toBe(true);
    } else {
      expect(softDirtyPages(region)).toEqual([]);
    }
  });
});

{
  describe("pre-copy (this kernel's method)", () => {
    it('≥ 3 rounds, falling; the final stop is shorter than a plain stop-and-copy; both copies exact', async () => {
      const method = native;
      const pre = await preCopy({ region, method, bytesPerSec: LINK, image: `${dir}/pre.img` });
      expect(procState(region.pid)).toBe('T');
      expect(differingPages(region, `${dir}/pre.img`)).toEqual([]);
      continueProcess(region.pid);
      await new Promise((r) => setTimeout(r, 300));
      const plain = await stopAndCopy({ region, method, bytesPerSec: LINK, image: `${dir}/plain.img` });
      expect(differingPages(region, `${dir}/plain.img`)).toEqual([]);
      continueProcess(region.pid);
      console.log(
        `${method}: rounds ${pre.rounds.map((r) => `${r.pages}p/${r.ms.toFixed(0)}ms`).join(' → ')}; final ${pre.final.pages} pages, ${pre.final.downtimeMs.toFixed(1)} ms stopped; plain ${plain.pages} pages, ${plain.downtimeMs.toFixed(0)} ms stopped`,
      );
      expect(pre.method).toBe(method);
      if (method === 'hash') expect(pre.rounds.every((r) => r.pausedMs === 0)).toBe(true);
      expect(pre.rounds.length).toBeGreaterThanOrEqual(3);
      expect(pre.rounds[0].pages).toBe(PAGES);
      for (let i = 1; i < 3; i++) expect(pre.rounds[i].pages).toBeLessThan(pre.rounds[i - 1].pages);
      expect(pre.rounds.every((r, i) => i === 0 || r.pages <= HOT)).toBe(true); // a bounded set
      expect(plain.pages).toBe(PAGES);
      expect(plain.downtimeMs).toBeGreaterThanOrEqual(((PAGES * 4096) / LINK) * 1000 - 5); // the link's time
      expect(pre.final.downtimeMs).toBeLessThan(plain.downtimeMs / 2);
    }, 60_000);
  });
}
