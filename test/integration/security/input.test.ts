/**
 * Names and limits that once broke the runtime (issue 10), through the built binary:
 * - a sandbox named like one of /run/sandbox's own directories (`--name ledger`) had its
 *   "directory" removed with it, the ledger, after which any sweep killed every other session's
 *   live sandboxes: now refused, and another session's sandbox stays alive;
 * - numbers that spun forever (--cpus 9007199254740993), filled memory (--cpus 0-30000000) or
 *   reached the kernel (--memory 99999999999999999999T): now exit 2 at once, with a message;
 * - `--rootfs ''` bound the current directory read-write; `run -- ''` blamed an execute bit.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { INTERNAL_CGROUPS, INTERNAL_DIRS } from '../../../src/runtime/cgroup/index.js';
import { isRoot, leftovers } from '../../helpers/resources.js';
import { until } from '../../helpers/wait.js';

const CLI = path.resolve(import.meta.dirname, '../../../dist/cli.js');

function cli(args: string[], input?: string) {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', input, timeout: 30_000 });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr, ms: performance.now() - t0 };
}

const STACK = /\n\s+at .*:\d+:\d+/;

/** How long the binary takes to start and exit on this (shared, loaded) machine right now. */
function startupMs(): number {
  const times = [0, 1, 2].map(() => cli(['run', '--pids', 'x', '--', 'true']).ms);
  return Math.min(...times);
}

describe('numbers that hung, crashed or reached the kernel exit 2 at once', () => {
  const BAD: [string[], RegExp][] = [
    [['--cpus', '9007199254740993'], /--cpus 9007199254740993: CPU 9007199254740993 does not exist/],
    [['--cpus', '0-9007199254740993'], /does not exist on this host/],
    [['--cpus', '0-30000000'], /CPU 30000000 does not exist/],
    [['--cpus', `0-${'9'.repeat(5000)}`], /too long for a CPU list/],
    [['--memory', '99999999999999999999T'], /--memory 99999999999999999999T: far larger than any machine's memory/],
    [['--memory', '1000T'], /more than this machine's memory/],
    [['--memory', 'max'], /not a size/],
    [['--memory', '1e9'], /not a size/],
    [['--pids', '9007199254740993'], /above the kernel's maximum/],
    [['--pids', '-0'], /at least one process/],
    [['--pids', '0x10'], /not a whole number/],
    [['--pids', '５０'], /not a whole number/],
    [['--cpu-weight', '1e3'], /not a whole number/],
    [['--cpu-weight', '99999999999999999999999'], /not a whole number|out of range/],
    [['--cpu-quota', 'Infinity'], /not a percentage/],
    [['--cpu-quota', '1'.repeat(400)], /not a percentage/],
  ];
  let budget: number;
  beforeAll(() => {
    // "within 1 s" of what merely starting the binary costs here (other sessions load the CPUs).
    budget = startupMs() + 1000;
  });

  for (const [args, message] of BAD) {
    it(`run ${args.join(' ').slice(0, 60)}`, () => {
      const r = cli(['run', ...args, '--', 'true']);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).toMatch(/\nhint: /);
      expect(r.stderr).not.toMatch(STACK);
      expect(r.stderr.split('\n')[0].length).toBeLessThan(260); // the value echoed, shortened
      expect(r.ms).toBeLessThan(budget);
    });
  }

  it('the same values in REPL `set` and `create` are refused at once, and the REPL goes on', () => {
    const lines = BAD.flatMap(([args]) => [`set box ${args[0].slice(2)}=${args[1]}`, `create box ${args[0]} ${args[1]}`]);
    const r = cli(['repl', '--plain'], `${lines.join('\n')}\nlist\n`);
    expect(r.signal).toBeNull();
    expect(r.stdout + r.stderr).not.toMatch(STACK);
    const errors = (r.stdout + r.stderr).match(/error: /g) ?? [];
    expect(errors.length, r.stdout + r.stderr).toBeGreaterThanOrEqual(lines.length);
    expect(r.ms).toBeLessThan(budget + 2000);
  });

  it('SIGTERM stops a REPL at once even while it reads a hostile `set` (nothing spins)', async () => {
    const child = spawn(process.execPath, [CLI, 'repl', '--plain'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    child.stdin.write('set box cpus=9007199254740993\n');
    await until(() => /does not exist/.test(out), 20_000);
    const exited = new Promise<number | null>((r) => child.once('exit', (code, sig) => r(code ?? (sig ? 128 : null))));
    const t0 = performance.now();
    child.kill('SIGTERM');
    expect(await exited).not.toBeNull();
    expect(performance.now() - t0).toBeLessThan(3000);
  });
});

describe('what to run and where', () => {
  it("--rootfs '' and relative paths are refused, saying what to write", () => {
    for (const v of ['', ' ', '.', './x', 'rootfs', '..']) {
      const r = cli(['run', '--rootfs', v, '--', 'true']);
      expect(r.code, `${JSON.stringify(v)}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(/--rootfs (needs a value|.*not an absolute path)/);
      expect(r.stderr).toMatch(/hint: write host \(the default\), busybox, none, or the absolute path/);
    }
    const r = cli(['run', '--rootfs', '/', '--', 'true']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/the host's own root/);
  });

  it("run -- '' says the command is empty", () => {
    const r = cli(['run', '--', '']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/the command is empty/);
    expect(r.stderr).not.toMatch(/not executable/);
  });

  it('a long bad name or value is echoed as at most 80 characters', () => {
    for (const args of [['--name', 'N'.repeat(5000)], ['--hostname', 'h'.repeat(5000), '--uts'], ['--pids', '7'.repeat(5000)], ['--rootfs', `/${'r'.repeat(5000)}`]]) {
      const r = cli(['run', ...args, '--', 'true']);
      expect(r.code, r.stderr).toBe(2);
      const echoed = /([NhR7r])\1{20,}…?/.exec(r.stderr)?.[0] ?? '';
      expect(echoed.length, r.stderr.slice(0, 300)).toBeGreaterThan(20);
      expect([...echoed].length, r.stderr.slice(0, 300)).toBeLessThanOrEqual(80);
    }
  });
});

describe.skipIf(!isRoot)("internal names: refused, and another session's sandbox stays alive (needs root)", () => {
  let before: string[];
  let other: ChildProcess;
  let otherName: string;
  let otherExit: Promise<number | null>;
  const entryOf = (name: string) => {
    try {
      return JSON.parse(fs.readFileSync(`/run/sandbox/ledger/${name}.json`, 'utf8')) as { init: { pid: number } | null };
    } catch {
      return null;
    }
  };

  beforeAll(async () => {
    before = leftovers();
    otherName = `names-keep-${crypto.randomBytes(3).toString('hex')}`;
    other = spawn(process.execPath, [CLI, 'run', '--name', otherName, '--', 'sleep', '120'], { stdio: 'ignore' });
    otherExit = new Promise((r) => other.once('exit', (code) => r(code)));
    await until(() => entryOf(otherName)?.init != null, 30_000);
  });

  afterAll(async () => {
    other.kill('SIGTERM');
    await otherExit;
    const after = leftovers().filter((l) => !before.includes(l));
    expect(after).toEqual([]);
  });

  const NAMES = [...INTERNAL_DIRS, ...INTERNAL_CGROUPS, 'cgroup.procs', 'cgroup.kill', 'cpu.max', 'memory.max', 'pids.max', 'tasks', 'release_agent'];

  it('every internal name is refused by run (exit 2) and by the REPL, and cleanup then keeps the other sandbox', () => {
    const init = entryOf(otherName)!.init!.pid;
    for (const n of NAMES) {
      const r = cli(['run', '--name', n, '--', 'true']);
      expect(r.code, `${n}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`"${n.replace('.', '\\.')}" is reserved`));
    }
    const repl = cli(['repl', '--plain'], `${NAMES.map((n) => `create ${n}\nstart ${n}`).join('\n')}\n`);
    expect((repl.stdout + repl.stderr).match(/is reserved/g)?.length ?? 0, repl.stdout + repl.stderr).toBe(NAMES.length * 2);

    const c = cli(['cleanup']);
    expect(c.code, c.stderr).toBe(0);
    expect(c.stdout).toMatch(new RegExp(`Left alone.*${otherName}`));
    // The other session's sandbox: its ledger entry, its process and its cgroup, all still there.
    expect(fs.existsSync('/run/sandbox/ledger')).toBe(true);
    expect(entryOf(otherName)?.init?.pid).toBe(init);
    expect(fs.readFileSync(`/proc/${init}/stat`, 'utf8')).toMatch(/^\d+ \(sleep\) [RSD]/);
    expect(fs.readFileSync(`/proc/${init}/cgroup`, 'utf8')).toContain(`/sandbox/${otherName}`);
  });
});
