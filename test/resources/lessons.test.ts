/**
 * The three resource lessons end to end with the built CLI (`learn ID --auto --plain`): every
 * check passes, the kernel files named are this layout's (cpu.shares vs cpu.weight…), nothing is
 * left behind, and a Ctrl-C in the middle of the fork bomb ends it at once. Needs root.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { cgroups } from '../../src/runtime/index.js';
import { acquireLessonLock, completeLine, releaseLessonLock } from '../helpers/lesson-lock.js';
import { isRoot, sandboxProcesses } from '../helpers/resources.js';

const CLI = path.resolve(import.meta.dirname, '../../dist/cli.js');
let state: string;

beforeAll(() => {
  state = fs.mkdtempSync(path.join(os.tmpdir(), 'sandbox-res-'));
});
afterAll(() => fs.rmSync(state, { recursive: true, force: true }));

function learn(id: string) {
  const r = spawnSync(process.execPath, [CLI, 'learn', id, '--auto', '--plain'], {
    encoding: 'utf8',
    timeout: 180_000,
    env: { ...process.env, XDG_STATE_HOME: state },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Sandboxes of this test's lessons still present in the ledger or as cgroups. */
function lessonLeftovers(prefix: string): string[] {
  let ledger: string[] = [];
  try {
    ledger = fs.readdirSync('/run/sandbox/ledger').filter((f) => f.startsWith(prefix));
  } catch {
    /* none */
  }
  return [...ledger, ...cgroups().list().filter((n) => n.startsWith(prefix))];
}

const v1 = isRoot && cgroups().version === 1;

describe.skipIf(!isRoot)('resource lessons, --auto --plain (needs root)', { timeout: 200_000 }, () => {
  beforeAll(() => acquireLessonLock(), 900_000);
  afterAll(() => releaseLessonLock());

  it('cgroups-cpu: passes, names this layout\'s files, leaves nothing', async () => {
    const r = learn('cgroups-cpu');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(await completeLine('cgroups-cpu'));
    expect(r.stdout).not.toMatch(/^\s*✗/m);
    expect(r.stdout).toMatch(/cpuset\.cpus/);
    if (v1) {
      expect(r.stdout).toMatch(/echo 256 > \/sys\/fs\/cgroup\/cpu\/sandbox\/\S+\/cpu\.shares/);
      expect(r.stdout).toMatch(/echo 30000 > \S+\/cpu\.cfs_quota_us/);
    } else {
      expect(r.stdout).toMatch(/echo 25 > \/sys\/fs\/cgroup\/sandbox\/\S+\/cpu\.weight/);
      expect(r.stdout).toMatch(/echo 30000 100000 > \S+\/cpu\.max/);
    }
    // the chart printed as text rows, with targets
    expect(r.stdout).toMatch(/a {2}cpu\.(shares|weight) \d+ +[▁▂▃▄▅▆▇█]+ +[\d.]+% → target 25%/);
    expect(lessonLeftovers('cgroups-cpu-')).toEqual([]);
  });

  it('cgroups-memory: passes, shows the OOM kill, leaves nothing', async () => {
    // A lesson folder (src/lessons/cgroups-memory/lesson.md): what it shows is its shell lines' output.
    const r = learn('cgroups-memory');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(await completeLine('cgroups-memory'));
    expect(r.stdout).toMatch(/perl ended with status 137 \(137 = SIGKILL\)/);
    // reserved (mmap) is not charged, touched is: the usage before the writes, and the growth measured after
    expect(r.stdout).toMatch(/reserved 64 MiB at 0x[0-9a-f]+/);
    expect(r.stdout).toMatch(/wrote to 16 MiB of it/);
    const [, grew] = /You predicted 16 MiB: right \(expected 16 MiB ± 2; measured (\d+) MiB/.exec(r.stdout) ?? [];
    expect(Number(grew)).toBeGreaterThanOrEqual(15);
    expect(Number(grew)).toBeLessThan(20);
    expect(r.stdout).toMatch(v1 ? /memory\.limit_in_bytes/ : /memory\.max/);
    expect(r.stdout).toMatch(/actual:   oom_kill [1-9]/);
    expect(r.stdout).toMatch(/actual:   1 PID 1, 0 other/);
    if (v1) {
      // No memory.high on v1: its steps are skipped with the reason; the allocator waits at the limit instead.
      expect(r.stdout.replace(/\s+/g, ' ')).toMatch(/Skipped: this step cannot run on this host: cgroup v1 has no memory\.high/);
      expect(r.stdout).toMatch(/actual:   oom_kill_disable 1 under_oom 1 oom_kill 0/);
    } else {
      // memory.high: held a little over the mark, throttled (high events), stalled (PSI), nobody killed; lifted: done.
      const [, cur] = /usage is held near memory\.high[^]*?actual:   (\d+)/.exec(r.stdout) ?? [];
      expect(Number(cur)).toBeGreaterThan(28 * 1024 * 1024);
      expect(Number(cur)).toBeLessThan(48 * 1024 * 1024);
      expect(r.stdout).toMatch(/actual:   high [1-9]\d*/);
      expect(r.stdout).toMatch(/actual:   oom_kill 0/);
      expect(r.stdout).toMatch(/actual:   holding 64 MiB/);
      expect(r.stdout.replace(/\s+/g, ' ')).toMatch(/Skipped: this step cannot run on this host: cgroup v2 has no memory\.oom_control/);
    }
    expect(lessonLeftovers('cgroups-memory-')).toEqual([]);
  });

  it('fork-bomb: passes, ends the bomb with one kill, leaves nothing', async () => {
    const r = learn('fork-bomb');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(await completeLine('fork-bomb'));
    expect(r.stdout).toMatch(v1 ? /echo FROZEN > \S+\/freezer\.state/ : /echo 1 > \S+\/cgroup\.kill/);
    expect(r.stdout).toMatch(/64 processes of sandbox \S+ ended in [\d.]+ ms/);
    expect(lessonLeftovers('fork-bomb-')).toEqual([]);
  });

  it('fork-bomb: Ctrl-C while the bomb runs ends it and removes everything', async () => {
    const child = spawn(process.execPath, [CLI, 'learn', 'fork-bomb', '--auto', '--plain'], {
      env: { ...process.env, XDG_STATE_HOME: state },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    // Wait until the bomb is running: its sandbox's pids.current is at pids.max.
    const end = Date.now() + 60_000;
    let bomb = '';
    while (Date.now() < end) {
      const m = /nsenter --target \d+ --all -- perl -e 'while \(1\) \{ fork\(\) \}'/.exec(out);
      const name = cgroups().list().find((n) => n.startsWith('fork-bomb-bomb'));
      if (m && name && cgroups().usage(name).pidsCurrent === 64) {
        bomb = name;
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(bomb).not.toBe('');
    const t0 = Date.now();
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(out).toMatch(/Interrupted: the lesson's sandboxes were removed/);
    expect(cgroups().exists(bomb)).toBe(false);
    expect(lessonLeftovers('fork-bomb-')).toEqual([]);
    const ours = sandboxProcesses().filter((pid) => {
      try {
        return fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').includes(`/sandbox/${bomb}`);
      } catch {
        return false;
      }
    });
    expect(ours).toEqual([]);
  });
});
