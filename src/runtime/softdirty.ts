/**
 * Dirty-page tracking and a pre-copy migration of one process's memory region, the way live
 * migration works (VMs since Xen and QEMU, CRIU's `pre-dump` and `--track-mem`):
 *
 *   round 1 copies every page while the process runs; each next round copies only the pages
 *   written during the round before; once that set is small, the process is stopped and the last
 *   dirty pages are copied ("stop-and-copy"). The process is stopped only for that last round.
 *
 * Which pages were written is read from the kernel's soft-dirty bits: writing "4" to
 * /proc/PID/clear_refs clears them (and write-protects the pages, so the next write faults and
 * sets the bit again); bit 55 of each 64-bit entry of /proc/PID/pagemap is that page's bit. Where
 * the kernel has no soft-dirty bits (CONFIG_MEM_SOFT_DIRTY unset, arm64 kernels), each round
 * hashes every page instead and compares with the hash of the copy sent: the same answer, at the
 * price of reading all the memory every round.
 *
 * The "copy" reads the pages from /proc/PID/mem into an image file on this host; a real migration
 * sends them over the network. The link is emulated: a round lasts at least its bytes divided by
 * `bytesPerSec`, so the rounds last as long as they would on such a link (this is about the
 * algorithm, not about this machine's memory bandwidth).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import { SandboxError } from './errors.js';
import { PACKAGE_ROOT } from './native.js';

/** Bit 55 of a pagemap entry: the page was written since the soft-dirty bits were last cleared. */
export const PM_SOFT_DIRTY = 1n << 55n;
const PAGE = 4096;

export type DirtyMethod = 'soft-dirty' | 'hash';

/** A process's anonymous memory region (the pages a migration copies). */
export interface Region {
  pid: number;
  /** Start address. */
  start: number;
  pages: number;
  pageSize: number;
}

/** The anonymous mapping of exactly `pages` pages in /proc/PID/maps (the dirtier's region). */
export function findRegion(pid: number, pages: number): Region | null {
  const pageSize = PAGE;
  let maps: string;
  try {
    maps = fs.readFileSync(`/proc/${pid}/maps`, 'utf8');
  } catch {
    return null;
  }
  for (const line of maps.split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) rw-p [0-9a-f]+ 00:00 0\s*(\S*)$/.exec(line);
    if (!m || (m[3] && !m[3].startsWith('[anon:'))) continue;
    const start = parseInt(m[1], 16);
    const end = parseInt(m[2], 16);
    if (end - start === pages * pageSize) return { pid, start, pages, pageSize };
  }
  return null;
}

/** `echo 4 > /proc/PID/clear_refs`: clears the soft-dirty bits of every page of the process. */
export function clearSoftDirty(pid: number): void {
  fs.writeFileSync(`/proc/${pid}/clear_refs`, '4');
}

/** The raw pagemap entries of the region (one 64-bit little-endian word per page). */
export function pagemapEntries(r: Region): BigUint64Array {
  const buf = Buffer.alloc(r.pages * 8);
  const fd = fs.openSync(`/proc/${r.pid}/pagemap`, 'r');
  try {
    let got = 0;
    while (got < buf.length) {
      const n = fs.readSync(fd, buf, got, buf.length - got, (r.start / r.pageSize) * 8 + got);
      if (n <= 0) break;
      got += n;
    }
  } finally {
    fs.closeSync(fd);
  }
  return new BigUint64Array(buf.buffer, buf.byteOffset, r.pages);
}

/** Bit 63 of a pagemap entry: the page is present in RAM (here: it has been written once). */
export const PM_PRESENT = 1n << 63n;

/**
 * The region of `pages` pages of process `pid` (see findRegion), once every page of it is
 * present: the dirtier fills its whole region once before it settles on its hot pages, and a
 * measurement taken during that fill counts pages it will never write again (1365 "changed" of
 * 2048 in one second, seen in the lab VM under TCG). Null if that does not happen within
 * `timeoutMs`.
 */
export async function filledRegion(pid: number, pages: number, timeoutMs = 10_000): Promise<Region | null> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const r = findRegion(pid, pages);
    if (r) {
      let present = 0;
      try {
        for (const e of pagemapEntries(r)) if (e & PM_PRESENT) present++;
      } catch {
        present = -1; // the process is gone, or not ours to read
      }
      if (present === pages) return r;
    }
    if (Date.now() >= end) return null;
    await new Promise((res) => setTimeout(res, 20));
  }
}

/** Indexes (from 0) of the region's pages whose soft-dirty bit is set. */
export function softDirtyPages(r: Region): number[] {
  const e = pagemapEntries(r);
  const out: number[] = [];
  for (let i = 0; i < e.length; i++) if (e[i] & PM_SOFT_DIRTY) out.push(i);
  return out;
}

/**
 * Whether this kernel keeps soft-dirty bits, tried on a process that writes its region: a page
 * written after clear_refs must show bit 55. Without CONFIG_MEM_SOFT_DIRTY, clear_refs 4 is
 * accepted and the bit is simply never set.
 */
export async function softDirtyWorks(r: Region, waitMs = 100): Promise<boolean> {
  if (softDirtyPages(r).length) return true;
  try {
    clearSoftDirty(r.pid);
  } catch {
    return false;
  }
  await new Promise((res) => setTimeout(res, waitMs));
  return softDirtyPages(r).length > 0;
}

/** Reads pages `idx` (sorted) of the region from /proc/PID/mem, contiguous runs in one read. */
export function readPages(r: Region, idx: number[], visit: (page: number, data: Buffer) => void): void {
  const fd = fs.openSync(`/proc/${r.pid}/mem`, 'r');
  try {
    const buf = Buffer.alloc(256 * r.pageSize);
    for (let k = 0; k < idx.length; ) {
      let n = 1;
      while (k + n < idx.length && idx[k + n] === idx[k] + n && n < 256) n++;
      const len = n * r.pageSize;
      let got = 0;
      while (got < len) {
        const m = fs.readSync(fd, buf, got, len - got, r.start + idx[k] * r.pageSize + got);
        if (m <= 0) throw new SandboxError(`could not read the memory of process ${r.pid}`, { code: 'EIO', path: `/proc/${r.pid}/mem` });
        got += m;
      }
      for (let j = 0; j < n; j++) visit(idx[k] + j, buf.subarray(j * r.pageSize, (j + 1) * r.pageSize));
      k += n;
    }
  } finally {
    fs.closeSync(fd);
  }
}

// crypto.hash (Node ≥ 20.12) is the one-shot form: several times faster than a Hash object per page.
const oneShot = (crypto as unknown as { hash?: (alg: string, data: Buffer, enc: 'buffer') => Buffer }).hash;
const pageHash = (b: Buffer): Buffer => (oneShot ? oneShot('sha1', b, 'buffer') : crypto.createHash('sha1').update(b).digest());

/** Every page of the region, now, in one buffer. */
export function snapshotPages(r: Region): Buffer {
  const out = Buffer.alloc(r.pages * r.pageSize);
  readPages(r, [...Array(r.pages).keys()], (p, d) => d.copy(out, p * r.pageSize));
  return out;
}

/** Indexes of the pages that differ between two snapshots of the same region. */
export function changedPages(r: Region, a: Buffer, b: Buffer): number[] {
  const out: number[] = [];
  for (let p = 0; p < r.pages; p++) {
    const s = p * r.pageSize;
    if (!a.subarray(s, s + r.pageSize).equals(b.subarray(s, s + r.pageSize))) out.push(p);
  }
  return out;
}

/** Hashes of every page of the region, now. */
export function hashPages(r: Region): Buffer[] {
  const out: Buffer[] = new Array(r.pages);
  readPages(r, [...Array(r.pages).keys()], (p, d) => (out[p] = pageHash(d)));
  return out;
}

const spin = new Int32Array(new SharedArrayBuffer(4));
/** Waits until performance.now() ≥ t: timers for the long part, a blocking wait for the last ms. */
async function until(t: number): Promise<void> {
  for (;;) {
    const left = t - performance.now();
    if (left <= 0) return;
    if (left > 3) await new Promise((res) => setTimeout(res, left - 2));
    else Atomics.wait(spin, 0, 0, left);
  }
}

/** State letter of /proc/PID/stat (R, S, T…), or null when the process is gone. */
export function procState(pid: number): string | null {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2, s.lastIndexOf(')') + 3);
  } catch {
    return null;
  }
}

/** SIGSTOP, and wait (≤ 2 s) until the kernel reports the process stopped. */
export function stopProcess(pid: number): void {
  process.kill(pid, 'SIGSTOP');
  const end = performance.now() + 2000;
  while (procState(pid) !== 'T' && procState(pid) !== 't') {
    if (performance.now() > end) throw new SandboxError(`process ${pid} did not stop`, { code: 'ETIMEDOUT' });
    Atomics.wait(spin, 0, 0, 0.05);
  }
}

export function continueProcess(pid: number): void {
  process.kill(pid, 'SIGCONT');
}

export interface CopyRound {
  /** 1, 2, …; the final stop-and-copy is not a round here (see PreCopyResult.final). */
  round: number;
  pages: number;
  bytes: number;
  ms: number;
  /**
   * Soft-dirty rounds: how long the process was stopped at the round's start to read and clear
   * the bits in one go (as CRIU's pre-dump freezes the tasks for it). 0 with page hashes.
   */
  pausedMs: number;
}

export interface StopCopy {
  pages: number;
  bytes: number;
  /** From SIGSTOP until the last page is in the image: how long the process could not run. */
  downtimeMs: number;
}

export interface PreCopyResult {
  method: DirtyMethod;
  rounds: CopyRound[];
  final: StopCopy;
  /** From the first round's start to the end of the final copy. */
  totalMs: number;
  image: string;
}

export interface CopyOptions {
  region: Region;
  method: DirtyMethod;
  /** The emulated link's speed (bytes per second). */
  bytesPerSec: number;
  /** The image file (the destination's copy of the region), created or truncated. */
  image: string;
}

/** Copies pages to the image (at their offsets), lasting at least as long as the link needs. */
class Copier {
  private readonly fd: number;
  readonly sent: Buffer[];
  /** `hashes`: remember the hash of each page sent (the hash method compares with them). */
  constructor(
    private readonly o: CopyOptions,
    private readonly hashes = o.method === 'hash',
  ) {
    this.fd = fs.openSync(o.image, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_TRUNC | fs.constants.O_NOFOLLOW, 0o600);
    fs.ftruncateSync(this.fd, o.region.pages * o.region.pageSize);
    this.sent = new Array(o.region.pages);
  }
  async copy(idx: number[], t0: number): Promise<number> {
    const r = this.o.region;
    readPages(r, idx, (p, d) => {
      fs.writeSync(this.fd, d, 0, d.length, p * r.pageSize);
      if (this.hashes) this.sent[p] = pageHash(d);
    });
    const bytes = idx.length * r.pageSize;
    await until(t0 + (bytes / this.o.bytesPerSec) * 1000);
    return bytes;
  }
  /** Pages that differ from what was sent (hash method). */
  changed(): number[] {
    const now = hashPages(this.o.region);
    const out: number[] = [];
    for (let p = 0; p < now.length; p++) if (!this.sent[p] || !now[p].equals(this.sent[p])) out.push(p);
    return out;
  }
  close(): void {
    fs.closeSync(this.fd);
  }
}

/**
 * Plain stop-and-copy: stop the process, copy every page, done. Leaves the process stopped
 * unless `resume` (the caller continues it).
 */
export async function stopAndCopy(o: CopyOptions & { resume?: boolean }): Promise<StopCopy> {
  const c = new Copier(o, false);
  try {
    const all = [...Array(o.region.pages).keys()];
    const t0 = performance.now();
    stopProcess(o.region.pid);
    const bytes = await c.copy(all, t0);
    const downtimeMs = performance.now() - t0;
    if (o.resume) continueProcess(o.region.pid);
    return { pages: all.length, bytes, downtimeMs };
  } finally {
    c.close();
  }
}

/**
 * Pre-copy: rounds while the process runs (at least `minRounds`), until the dirty set is at most
 * `stopBelow` pages, stops falling, or `maxRounds` were made; then the final stop-and-copy. `onRound` sees each round as it
 * ends (a live chart). The process is left stopped (the source of a migration stays stopped once
 * the destination has everything) unless `resume`.
 */
export async function preCopy(
  o: CopyOptions & { minRounds?: number; maxRounds?: number; stopBelow?: number; resume?: boolean; onRound?: (r: CopyRound, nextDirty: number) => void },
): Promise<PreCopyResult> {
  const r = o.region;
  const maxRounds = o.maxRounds ?? 8;
  const minRounds = Math.min(o.minRounds ?? 3, maxRounds);
  const stopBelow = o.stopBelow ?? 16;
  const c = new Copier(o);
  const rounds: CopyRound[] = [];
  try {
    const start = performance.now();
    let dirty = [...Array(r.pages).keys()];
    for (;;) {
      const t0 = performance.now();
      let pausedMs = 0;
      if (o.method === 'soft-dirty') {
        // Read the bits and clear them with the process stopped: a write between the read and the
        // clear would be cleared without ever being copied. After the clear, a write to any page,
        // even one already copied in this round, sets its bit again: it goes in the next round.
        stopProcess(r.pid);
        try {
          if (rounds.length) dirty = softDirtyPages(r);
          clearSoftDirty(r.pid);
        } finally {
          continueProcess(r.pid);
        }
        pausedMs = performance.now() - t0;
      }
      const bytes = await c.copy(dirty, t0);
      const round: CopyRound = { round: rounds.length + 1, pages: dirty.length, bytes, ms: performance.now() - t0, pausedMs };
      rounds.push(round);
      // A look at what the next round will copy (soft-dirty: it reads the bits again, stopped).
      const next = o.method === 'soft-dirty' ? softDirtyPages(r) : c.changed();
      o.onRound?.(round, next.length);
      const stalled = rounds.length >= 3 && next.length >= dirty.length * 0.9;
      dirty = next;
      if (rounds.length >= maxRounds || (rounds.length >= minRounds && (next.length <= stopBelow || stalled))) break;
    }
    // Stop-and-copy of what is still dirty: the only time the process does not run.
    const t0 = performance.now();
    stopProcess(r.pid);
    const last = o.method === 'soft-dirty' ? softDirtyPages(r) : c.changed();
    const bytes = await c.copy(last, t0);
    const end = performance.now();
    if (o.resume) continueProcess(r.pid);
    return { method: o.method, rounds, final: { pages: last.length, bytes, downtimeMs: end - t0 }, totalMs: end - start, image: o.image };
  } finally {
    c.close();
  }
}

/** Pages of the region whose content differs from the image file (0 = an exact copy). */
export function differingPages(r: Region, image: string): number[] {
  const img = fs.readFileSync(image);
  const out: number[] = [];
  readPages(r, [...Array(r.pages).keys()], (p, d) => {
    if (!d.equals(img.subarray(p * r.pageSize, (p + 1) * r.pageSize))) out.push(p);
  });
  return out;
}

/** The static dirtier program built next to the addon (binding.gyp target dirtier). */
export function dirtierPath(): string {
  const p = path.join(PACKAGE_ROOT, 'build', 'Release', 'dirtier');
  if (!fs.existsSync(p)) {
    throw new SandboxError(`the dirtier program is missing (${p})`, { code: 'E_NO_ADDON', hint: 'run `npm run build:native` in the sandbox directory to build it' });
  }
  return p;
}
