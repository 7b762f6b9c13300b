/**
 * Checkpoint / restore / migrate with CRIU (issue 15), on the real kernel.
 *
 * Where it runs: wherever `criu check` passes. Issue 15's finding: Debian 12's CRIU 3.17 cannot
 * run on the development host's 6.18 kernel ("vdso: Unexpected rt vDSO area bounds"), so there the
 * kernel tests skip with that reason printed; `npm run test:v2` runs this file in the v2 guest
 * (Debian 12's kernel 6.1), where the same CRIU 3.17 works and every test runs. The translation of
 * CRIU's errors is tested everywhere.
 */
import fs from 'node:fs';

import { afterEach, describe, expect, it } from 'vitest';

import { checkpoint, cgroups, dropCheckpoint, criuStatus, liveSandboxes, migrate, readEntry, restore, type RestoredSandbox, Sandbox, translateCriuLog } from '../../../src/runtime/index.js';
import { isRoot } from '../../helpers/resources.js';
import { alive, sleep } from '../../helpers/wait.js';

const status = isRoot ? criuStatus({ timeoutMs: 60_000 }) : null;
const works = !!status?.works;
if (!works) {
  // Printed so a skipped run says why (issue 15: CRIU 3.17 vs kernel 6.18's vDSO).
  console.log(`criu.test.ts: kernel tests skipped (issue 15): ${isRoot ? `${status!.detail}${status!.fix ? `; fix: ${status!.fix}` : ''}` : 'needs root'}`);
}

const COUNTER = ['setsid', 'sh', '-c', 'i=0; while :; do i=$((i+1)); echo $i > /tmp/c; sleep 0.1; done'];
const restored: RestoredSandbox[] = [];

afterEach(async () => {
  for (const s of liveSandboxes()) await s.destroy();
  for (const r of restored.splice(0)) await r.destroy();
  for (const n of ['criu-a', 'criu-b', 'criu-b2', 'criu-c']) dropCheckpoint(n);
});

/** Polls an asynchronous probe (a command run inside) until it holds. */
async function until(probe: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await probe().catch(() => false))) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(100);
  }
}

function nothingLeft(name: string): void {
  expect(cgroups().exists(name)).toBe(false);
  expect(fs.existsSync(`/run/sandbox/${name}`)).toBe(false);
  expect(readEntry(name)).toBeNull();
}

function nspid(pid: number): number[] {
  const line = fs.readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('NSpid:'))!;
  return line.split(/\s+/).slice(1).map(Number);
}

async function counterOf(sb: { execOutput: Sandbox['execOutput'] }): Promise<number> {
  const out = await sb.execOutput(['cat', '/tmp/c']);
  return Number(out.stdout.trim());
}

describe('CRIU error translation (runs everywhere)', () => {
  it('names the vDSO problem and the fix, with the kept log file', () => {
    const t = translateCriuLog('(00.01) Error (criu/vdso.c:613): vdso: Unexpected rt vDSO area bounds\n', {
      version: '3.17.1',
      kernel: '6.18.44',
      logFile: '/run/sandbox/a/images/dump.log',
    });
    expect(t.message).toBe('CRIU 3.17.1 cannot run on kernel 6.18.44 (vDSO): it does not understand this kernel\'s vDSO layout (CRIU\'s log: /run/sandbox/a/images/dump.log)');
    expect(t.hint).toContain('CRIU ≥ 4.0');
  });
  it('translates a session leader outside, a host file, io_uring, a nested PID namespace and a terminal', () => {
    expect(translateCriuLog('Error (criu/cr-dump.c:1618): A session leader of 149(1) is outside of its pid namespace').message).toContain('session of PID 1 (host PID 149)');
    expect(translateCriuLog("Error (criu/files-reg.c:1710): Can't lookup mount=22 for fd=0 path=/dev/null").message).toContain('/dev/null open (fd 0) from a mount outside');
    const exe = translateCriuLog("Error (criu/files-reg.c:1710): Can't lookup mount=30 for fd=-3 path=/opt/sandbox/build/Release/sandbox-init");
    expect(exe.message).toContain('the program /opt/sandbox/build/Release/sandbox-init runs from a mount outside');
    expect(exe.hint).toContain('without --mount');
    expect(translateCriuLog("pie: 1: Error (criu/pie/parasite.c:557): can't dump unprivileged task whose /proc doesn't belong to it").hint).toContain('--mount');
    expect(translateCriuLog('Error (criu/files.c:1): io_uring: not supported').message).toContain('io_uring');
    expect(translateCriuLog('Error (criu/namespaces.c:1): Nested PID namespaces are not supported').message).toContain('nested PID namespace');
    const tty = translateCriuLog('Error (criu/tty.c:1): tty: Found dangling tty with sid 0 pgid 0 (pts) on peer fd 0');
    expect(tty.message).toContain('--shell-job');
  });
  it('otherwise gives the first real error line in one line, never the whole log', () => {
    const log = ['(00.1) Error (criu/util.c:642): exited, status=1', '(00.2) Error (criu/mount.c:9): mnt: Something odd at /x', ...Array(500).fill('(00.3) noise')].join('\n');
    const t = translateCriuLog(log, { logFile: '/run/sandbox/x/images/dump.log' });
    expect(t.message).toBe("CRIU failed: mnt: Something odd at /x (CRIU's log: /run/sandbox/x/images/dump.log)");
    expect(t.message).not.toContain('\n');
    expect(t.hint).toContain('/run/sandbox/x/images/dump.log');
  });
  it('says how to install a missing criu', () => {
    expect(translateCriuLog('spawn criu ENOENT').message).toBe('criu is not installed');
  });
});

describe.skipIf(!works)(`checkpoint and restore with CRIU (issue 15: ${works ? 'criu check passes' : 'skipped: criu check fails here'})`, () => {
  it('checkpoints a counter, destroys it, restores it: it continues, NSpid inside unchanged, nothing left', async () => {
    const sb = await Sandbox.create({ name: 'criu-a', namespaces: ['pid', 'mount'], command: COUNTER, stdio: 'pipe', limits: { pids: 50 } });
    await until(async () => (await counterOf(sb)) >= 3, 20_000, 'the counter');
    const inside = nspid(sb.pid);
    expect(inside[inside.length - 1]).toBe(1);
    const atCheckpoint = await counterOf(sb);
    const ck = await checkpoint(sb);
    expect(ck.bytes).toBeGreaterThan(10_000);
    expect(fs.existsSync(`${ck.dir}/pstree.img`)).toBe(true);
    expect(alive(sb.pid)).toBe(false);
    expect(cgroups().exists('criu-a')).toBe(false); // the sandbox is gone, its images stay
    expect(readEntry('criu-a')?.dirs).toEqual(['/run/sandbox/criu-a']);
    console.log(`criu: images ${ck.bytes} bytes in ${ck.files} files, dump ${ck.dumpMs.toFixed(0)} ms`);

    const r = await restore('criu-a');
    restored.push(r.sandbox);
    console.log(`criu: restore ${r.restoreMs.toFixed(0)} ms`);
    const rs = r.sandbox;
    expect(nspid(rs.pid).slice(1)).toEqual(inside.slice(1)); // the same PID inside
    expect(cgroups().procs('criu-a')).toContain(rs.pid); // in its own cgroup again
    expect(fs.readFileSync(`${cgroups().dirs('criu-a')[0]}/pids.max`, 'utf8').trim()).toBe('50'); // same limits (v2)
    await sleep(500);
    const after = await counterOf(rs);
    expect(after).toBeGreaterThanOrEqual(atCheckpoint);
    await until(async () => (await counterOf(rs)) > after, 10_000, 'the counter to go on');

    const pid = rs.pid;
    await rs.destroy();
    expect(alive(pid)).toBe(false);
    nothingLeft('criu-a');
  }, 240_000);

  it('migrates to a new name with its own cgroup; the old one is gone', async () => {
    const sb = await Sandbox.create({ name: 'criu-b', namespaces: ['pid', 'mount'], command: COUNTER, stdio: 'pipe' });
    await until(async () => (await counterOf(sb)) >= 2, 20_000, 'the counter');
    const before = await counterOf(sb);
    const m = await migrate(sb, 'criu-b2');
    restored.push(m.restore.sandbox);
    console.log(`criu: migrate dump ${m.checkpoint.dumpMs.toFixed(0)} ms, copy ${m.restore.copyMs.toFixed(0)} ms, restore ${m.restore.restoreMs.toFixed(0)} ms, ${m.restore.bytes} bytes`);
    nothingLeft('criu-b');
    expect(cgroups().procs('criu-b2')).toContain(m.restore.sandbox.pid);
    expect(await counterOf(m.restore.sandbox)).toBeGreaterThanOrEqual(before);
    await m.restore.sandbox.destroy();
    nothingLeft('criu-b2');
  }, 240_000);

  it('refuses a sandbox whose session began outside, in one line naming the kept log', async () => {
    const sb = await Sandbox.create({ name: 'criu-c', namespaces: ['pid', 'mount'], command: COUNTER.slice(1), stdio: 'pipe' });
    const err = await checkpoint(sb).then(
      () => null,
      (e: Error) => e,
    );
    expect(err?.message).toMatch(/session of PID 1 .* started outside the sandbox: .*\(CRIU's log: \/run\/sandbox\/criu-c\/images\/dump\.log\)/);
    expect(sb.running).toBe(true); // a failed dump leaves it running
    await sb.destroy();
    nothingLeft('criu-c');
  }, 120_000);
});
