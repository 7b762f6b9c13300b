/**
 * CPU claims (src/runtime/cpuclaim.ts) in a directory of the test's own (no root needed): a claim
 * is exclusive between processes, including many claiming at the same instant; a dead owner's
 * claim is ignored and swept, a live one's respected; a session waits while every CPU is held,
 * takes the CPU the moment its holder ends, and after its wait shares one; a planted directory is
 * refused; nothing is left after release or after the process exits without releasing.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import {
  claimCpu,
  claimQuietestCpu,
  cpuHolders,
  heldCpuClaims,
  describeHolders,
  readCpuClaims,
  releaseAllCpuClaims,
  SandboxError,
  sweepCpuClaims,
} from '../../src/runtime/index.js';

const RUNTIME = path.resolve(import.meta.dirname, '../../dist/runtime/index.js');

let base: string;
let dir: string;
const children: ChildProcess[] = [];

beforeEach(() => {
  base = fs.mkdtempSync(path.join(os.tmpdir(), 'sandbox-cpuclaim-'));
  fs.chmodSync(base, 0o755);
  dir = path.join(base, 'cpu-claims');
});

afterEach(() => {
  releaseAllCpuClaims();
  for (const c of children.splice(0)) c.kill('SIGKILL');
  fs.rmSync(base, { recursive: true, force: true });
});

function startTime(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
}

/** A live process of our own (sleep) holding `cpu`, as another session's claim file would say. */
function plantLiveClaim(cpu: number, purpose = 'lesson cgroups-cpu'): ChildProcess {
  const child = spawn('sleep', ['60'], { stdio: 'ignore' });
  children.push(child);
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  const pid = child.pid!;
  fs.writeFileSync(`${dir}/${cpu}-${pid}-${startTime(pid)}`, JSON.stringify({ version: 1, cpu, owner: { pid, start: startTime(pid), command: 'sleep 60' }, purpose }));
  return child;
}

/** A claim file of a process that has ended (its pid and start time will never come back). */
function plantDeadClaim(cpu: number): string {
  const r = spawnSync('sh', ['-c', 'echo $$ $(cut -d" " -f22 /proc/$$/stat)'], { encoding: 'utf8' });
  const [pid, start] = r.stdout.trim().split(' ');
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  const file = `${dir}/${cpu}-${pid}-${start}`;
  fs.writeFileSync(file, '{}');
  return file;
}

describe('CPU claims', () => {
  it('a claim is a file named <cpu>-<pid>-<start>, exclusive, and gone with the directory once released', () => {
    const c = claimCpu(0, 'lesson cgroups-cpu', dir)!;
    expect(c).not.toBeNull();
    expect(path.basename(c.file)).toBe(`0-${process.pid}-${startTime(process.pid)}`);
    const rec = JSON.parse(fs.readFileSync(c.file, 'utf8'));
    expect(rec).toMatchObject({ version: 1, cpu: 0, purpose: 'lesson cgroups-cpu', owner: { pid: process.pid } });
    expect(fs.statSync(dir).mode & 0o777).toBe(0o755);
    // The same CPU again, from the same process: taken.
    expect(claimCpu(0, 'again', dir)).toBeNull();
    expect(heldCpuClaims()).toEqual([c]);
    c.release();
    c.release(); // idempotent
    expect(fs.existsSync(dir)).toBe(false);
    expect(heldCpuClaims()).toEqual([]);
  });

  it("respects a live process's claim, ignores and removes a dead one's", () => {
    const live = plantLiveClaim(0);
    const dead = plantDeadClaim(1);
    expect(claimCpu(0, 'test', dir)).toBeNull();
    expect([...cpuHolders(dir).keys()]).toEqual([0]);
    expect(cpuHolders(dir).get(0)!.owner.pid).toBe(live.pid);
    expect(fs.existsSync(dead)).toBe(false); // cpuHolders removed it on the way
    plantDeadClaim(1);
    const c = claimCpu(1, 'test', dir);
    expect(c?.cpu).toBe(1);
    expect(readCpuClaims(dir).map((x) => [x.cpu, x.alive])).toEqual([
      [0, true],
      [1, true],
    ]);
  });

  it('describes holders for messages, one process holding several CPUs as one', () => {
    const h = (cpu: number, pid: number, purpose: string) => ({ cpu, owner: { pid, start: 1 }, purpose, command: '', file: '' });
    expect(describeHolders([h(0, 7, 'lesson fork-bomb'), h(1, 7, 'lesson fork-bomb')])).toBe('CPU 0 and 1 (pid 7, lesson fork-bomb)');
    expect(describeHolders([h(0, 7, 'lesson fork-bomb'), h(1, 8, 'bench cpu-split'), h(2, 9, '')])).toBe(
      'CPU 0 (pid 7, lesson fork-bomb), CPU 1 (pid 8, bench cpu-split) and CPU 2 (pid 9)',
    );
  });

  it('sandbox cleanup (sweepCpuClaims) removes dead owners\' claims and keeps live ones', () => {
    const live = plantLiveClaim(0);
    const dead = plantDeadClaim(1);
    fs.writeFileSync(`${dir}/not-a-claim`, 'x'); // a file that is no claim is left alone
    const removed = sweepCpuClaims(dir);
    expect(removed.map((r) => r.cpu)).toEqual([1]);
    expect(fs.existsSync(dead)).toBe(false);
    expect(readCpuClaims(dir).map((x) => x.owner.pid)).toEqual([live.pid]);
    expect(fs.existsSync(`${dir}/not-a-claim`)).toBe(true);
  });

  it('many processes claiming one CPU at the same instant: never two holders at once', async () => {
    // Each child claims CPU 0 in a loop, holds it 30 ms, records when, releases. They start
    // together once all are loaded (a go file), so most attempts collide.
    const log = path.join(base, 'log');
    const ready = path.join(base, 'ready');
    fs.mkdirSync(log);
    fs.mkdirSync(ready);
    const go = path.join(base, 'go');
    const script = `
      import fs from 'node:fs';
      const { claimCpu } = await import(${JSON.stringify(RUNTIME)});
      const [dir, log, ready, go] = process.argv.slice(1);
      fs.writeFileSync(ready + '/' + process.pid, '');
      while (!fs.existsSync(go)) await new Promise((r) => setTimeout(r, 1));
      const spans = [];
      const end = Date.now() + 2500;
      try {
        while (Date.now() < end) {
          const c = claimCpu(0, 'race', dir);
          if (!c) { await new Promise((r) => setTimeout(r, Math.random() * 5)); continue; }
          const t0 = performance.timeOrigin + performance.now();
          await new Promise((r) => setTimeout(r, 30));
          spans.push([t0, performance.timeOrigin + performance.now()]);
          c.release();
        }
      } catch (err) {
        process.stdout.write(String(err.stack));
        process.exit(1);
      }
      fs.writeFileSync(log + '/' + process.pid, JSON.stringify(spans));
    `;
    const procs = Array.from({ length: 6 }, () => spawn(process.execPath, ['--input-type=module', '-e', script, dir, log, ready, go], { stdio: ['ignore', 'pipe', 'inherit'] }));
    children.push(...procs);
    for (let i = 0; i < 600 && fs.readdirSync(ready).length < procs.length; i++) await new Promise((r) => setTimeout(r, 50));
    fs.writeFileSync(go, '');
    const outputs = await Promise.all(
      procs.map(
        (p) =>
          new Promise<string>((r) => {
            let out = '';
            p.stdout!.on('data', (d: Buffer) => (out += d.toString()));
            p.on('exit', (code) => r(`${code}${out}`));
          }),
      ),
    );
    expect(outputs).toEqual(['0', '0', '0', '0', '0', '0']);
    const spans = fs.readdirSync(log).flatMap((f) => JSON.parse(fs.readFileSync(`${log}/${f}`, 'utf8')) as [number, number][]);
    expect(fs.readdirSync(log)).toHaveLength(6);
    expect(spans.length).toBeGreaterThan(10);
    spans.sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < spans.length; i++) expect(spans[i][0]).toBeGreaterThanOrEqual(spans[i - 1][1]);
    expect(fs.existsSync(dir)).toBe(false);
  }, 60_000);

  it('claims the free CPU when another is held, without waiting', async () => {
    plantLiveClaim(0);
    const waits: string[] = [];
    const a = await claimQuietestCpu({ purpose: 'test', candidates: [0, 1], dir, onWait: () => waits.push('x'), windowMs: 50 });
    expect(a.cpu).toBe(1);
    expect(a.claim?.cpu).toBe(1);
    expect(waits).toEqual([]);
  });

  it('waits while every CPU is held, says who holds them, and takes one the moment its holder ends', async () => {
    const h0 = plantLiveClaim(0, 'lesson fork-bomb');
    plantLiveClaim(1, 'bench cpu-split');
    const seen: { cpus: number[]; purposes: string[]; waited: number }[] = [];
    setTimeout(() => h0.kill('SIGKILL'), 1200);
    const t0 = performance.now();
    const a = await claimQuietestCpu({
      purpose: 'test',
      candidates: [0, 1],
      dir,
      pollMs: 100,
      windowMs: 50,
      onWait: (holders, waited) => seen.push({ cpus: holders.map((h) => h.cpu), purposes: holders.map((h) => h.purpose), waited }),
    });
    const took = performance.now() - t0;
    expect(a.cpu).toBe(0);
    expect(a.claim).not.toBeNull();
    expect(seen.length).toBeGreaterThan(3);
    expect(seen[0]).toMatchObject({ cpus: [0, 1], purposes: ['lesson fork-bomb', 'bench cpu-split'] });
    expect(took).toBeGreaterThan(1100);
    expect(took).toBeLessThan(3000);
    expect(a.waitedMs).toBeGreaterThan(1000);
  });

  it('after its wait, shares a held CPU (no claim) and names who holds it', async () => {
    const h = plantLiveClaim(0);
    const a = await claimQuietestCpu({ purpose: 'test', candidates: [0], dir, waitMs: 600, pollMs: 100, windowMs: 50 });
    expect(a.cpu).toBe(0);
    expect(a.claim).toBeNull();
    expect(a.sharedWith.map((x) => x.owner.pid)).toEqual([h.pid]);
    expect(a.waitedMs).toBeGreaterThanOrEqual(600);
    expect(readCpuClaims(dir)).toHaveLength(1); // only the holder's
  });

  it('stops waiting when its session closes, and claims nothing', async () => {
    plantLiveClaim(0);
    let closed = false;
    setTimeout(() => (closed = true), 300);
    const err = await claimQuietestCpu({ purpose: 'test', candidates: [0], dir, pollMs: 50, aborted: () => closed }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SandboxError);
    expect((err as SandboxError).code).toBe('E_CLOSED');
    expect(heldCpuClaims()).toEqual([]);
    expect(readCpuClaims(dir)).toHaveLength(1);
  });

  it('refuses a claim directory that is a symlink, or writable by others, and changes nothing', () => {
    const target = path.join(base, 'elsewhere');
    fs.mkdirSync(target, { mode: 0o755 });
    fs.symlinkSync(target, dir);
    expect(() => claimCpu(0, 'test', dir)).toThrow(/refusing to use .*cpu-claims: it is a symbolic link/);
    expect(fs.readdirSync(target)).toEqual([]);
    fs.unlinkSync(dir);
    fs.mkdirSync(dir, { mode: 0o777 });
    fs.chmodSync(dir, 0o777);
    expect(() => claimCpu(0, 'test', dir)).toThrow(/writable by others/);
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('a process that exits without releasing leaves no claim (the exit hook)', () => {
    const r = spawnSync(
      process.execPath,
      ['--input-type=module', '-e', `const { claimCpu } = await import(${JSON.stringify(RUNTIME)}); const c = claimCpu(3, 'test', process.argv[1]); console.log(c ? 'claimed' : 'no'); process.exit(0);`, dir],
      { encoding: 'utf8' },
    );
    expect(r.stdout.trim()).toBe('claimed');
    expect(fs.existsSync(dir)).toBe(false);
  });
});
