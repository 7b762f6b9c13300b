/**
 * `sandbox repl --plain` as a user runs it (the built dist/cli.js, stdin from a script): the
 * acceptance replay, malformed lines, end of input and signals. Needs root.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { cgroups } from '../../src/runtime/cgroup/index.js';
import type { Limits } from '../../src/runtime/cgroup/limits.js';
import { isRoot, leftovers } from '../helpers/resources.js';

const CLI = path.resolve(import.meta.dirname, '../../dist/cli.js');
const ACCEPTANCE = path.resolve(import.meta.dirname, 'acceptance.txt');
const STATE = isRoot ? fs.mkdtempSync(path.join(os.tmpdir(), 'sandbox-repl-test-')) : '';
const ENV = { ...process.env, XDG_STATE_HOME: STATE, NO_COLOR: '1' };

function repl(input: string, args: string[] = []) {
  const r = spawnSync(process.execPath, [CLI, 'repl', '--plain', ...args], { input, encoding: 'utf8', timeout: 120_000, env: ENV });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** New leftovers only: other sessions on this machine may have their own. */
function newLeftovers(before: string[]): string[] {
  return leftovers().filter((l) => !before.includes(l));
}

/** Replaces what changes from run to run (PIDs, inodes, timings, this host's cgroup layout). */
function normalize(transcript: string): string {
  const cg = cgroups();
  return transcript
    .split('\n')
    .map((l) =>
      l
        .replace(/host PID \d+/g, 'host PID <pid>')
        .replace(/\b(pid|mnt|uts|ipc|net|user|cgroup):\[\d+\]/g, '$1:[<ino>]')
        .replace(/ in [\d.]+ ms:/g, ' in <ms> ms:')
        .replace(/killed \d+ process(es)? \([^)]*\)/g, 'killed <n> (<how>)')
        .replace(/removed cgroups? [^;]+;/g, 'removed <cgroups>;')
        .replace(/^1( +)\d+( +)0/, '1$1<pid>$20')
        // A pause process started a moment ago can be caught running (R) before its first wait
        // (seen once in CI); asleep (S) or running, it is the one process, PID 1, parent 0.
        .replace(/^(1 +<pid> +0 +)R( +sandbox-pause )/, '$1S$2')
        .replace(cg.describe('repl-web'), '<cgroup repl-web>')
        .replace(cg.describe('repl-db'), '<cgroup repl-db>')
        .replace(/ {2,}/g, ' ')
        .replace(/─+/g, '─')
        .trimEnd(),
    )
    .join('\n');
}

/** The kernel files `set` writes on this host (cpu.shares on v1, cpu.weight on v2). */
function writes(name: string, limits: Limits): string {
  return cgroups()
    .planLimits(name, limits)
    .map((w) => ` echo ${w.value} > ${w.path}${w.note ? `\n (${w.note})` : ''}`)
    .join('\n');
}

function expectedTranscript(): string {
  const started = (name: string) =>
    [
      `started ${name}: host PID <pid> = PID 1 inside (sandbox-init "pause": holds the namespaces open, reaps orphans)`,
      ' namespaces: pid:[<ino>] mnt:[<ino>] uts:[<ino>]',
      ` cgroup: <cgroup ${name}>`,
    ].join('\n');
  const ps = (name: string) =>
    ['PID HOST PID PPID STAT COMMAND', '─ ─ ─ ─ ─', '1 <pid> 0 S sandbox-pause (sandbox-init holding the namespaces)', `1 process in ${name}'s cgroup (from /proc: NSpid in /proc/PID/status)`].join('\n');
  const stopped = (name: string) =>
    `stopped ${name} (its configuration is kept: start ${name} runs it again)\n destroyed ${name} in <ms> ms: killed <n> (<how>); removed <cgroups>; removed /run/sandbox/${name}`;
  return `sandbox> create repl-web --pid --mount --uts --hostname web pids=50
created repl-web (nothing runs yet; start repl-web makes it): namespaces pid mount uts; hostname web; root host; limits pids=50
sandbox> create repl-db --pid --mount --uts --hostname db pids=50
created repl-db (nothing runs yet; start repl-db makes it): namespaces pid mount uts; hostname db; root host; limits pids=50
sandbox> start repl-web
${started('repl-web')}
sandbox> start repl-db
${started('repl-db')}
sandbox> ps repl-web
${ps('repl-web')}
sandbox> ps repl-db
${ps('repl-db')}
sandbox> exec repl-web sh -c 'echo "PID $$ on $(hostname)"'
PID 2 on web
(exit code 0)
sandbox> exec repl-db sh -c 'echo "PID $$ on $(hostname)"'
PID 2 on db
(exit code 0)
sandbox> set repl-web cpu-weight=25
repl-web: wrote 1 kernel file:
${writes('repl-web', { cpuWeight: 25 })}
sandbox> set repl-db cpu-weight=75
repl-db: wrote 1 kernel file:
${writes('repl-db', { cpuWeight: 75 })}
sandbox> inspect repl-web
<inspect repl-web>
sandbox> inspect repl-db
<inspect repl-db>
sandbox> stop repl-web
${stopped('repl-web')}
sandbox> stop repl-db
${stopped('repl-db')}
sandbox> destroy repl-web
destroyed repl-web: configuration forgotten (it was not running)
sandbox> destroy repl-db
destroyed repl-db: configuration forgotten (it was not running)
sandbox> list
no sandboxes yet (create NAME makes one)`;
}

/** Splits a transcript into [echoed line, its result] pairs. */
function blocks(transcript: string): [string, string][] {
  const out: [string, string][] = [];
  for (const line of transcript.split('\n')) {
    if (line.startsWith('sandbox> ')) out.push([line.slice(9), '']);
    else if (out.length) out[out.length - 1][1] += `${out[out.length - 1][1] ? '\n' : ''}${line}`;
  }
  return out;
}

describe.skipIf(!isRoot)('sandbox repl --plain (needs root)', () => {
  afterAll(() => fs.rmSync(STATE, { recursive: true, force: true }));

  it('replays the acceptance script: two sandboxes, ps, 25/75 weights, inspect, stop, destroy; nothing left', () => {
    const before = leftovers();
    const r = repl(fs.readFileSync(ACCEPTANCE, 'utf8'));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    // inspect's cgroup files depend on the layout: check what matters, then compare the rest exactly.
    const inspect = new Map(blocks(r.stdout).filter(([l]) => l.startsWith('inspect ')).map(([l, out]) => [l.slice(8), out]));
    const weight = cgroups().planLimits('x', { cpuWeight: 25 })[0];
    for (const [name, host, w] of [
      ['repl-web', 'web', 25],
      ['repl-db', 'db', 75],
    ] as const) {
      const text = inspect.get(name)!;
      expect(text).toMatch(new RegExp(`^${name}: running, host PID \\d+ \\(PID 1 inside\\)`));
      expect(text).toContain(`hostname:  ${host}`);
      expect(text).toMatch(/ {2}pid {4}pid:\[\d+\] {3}\(host pid:\[\d+\]\)/);
      const value = cgroups().planLimits(name, { cpuWeight: w })[0].value;
      expect(text).toMatch(new RegExp(`${weight.file.replace('.', '\\.')} +${value} +<- cpu-weight`));
      expect(text).toMatch(/pids\.max +50 +<- pids/);
      expect(text).toMatch(/pids\.current +1\b/);
      expect(text).toContain(`how ${name} was made (what sandbox run --explain prints):`);
      expect(text).toMatch(/clone3\(\{ flags: CLONE_NEWPID\|CLONE_NEWNS\|CLONE_NEWUTS\|CLONE_PIDFD/);
      expect(text).toContain('pivot_root(".", ".")');
      expect(text).toContain(`sethostname("${host}"`);
    }
    let normal = normalize(r.stdout).trimEnd();
    for (const name of ['repl-web', 'repl-db']) {
      normal = normal.replace(new RegExp(`(sandbox> inspect ${name}\\n)[\\s\\S]*?(?=\\nsandbox> )`), `$1<inspect ${name}>`);
    }
    expect(normal).toBe(normalize(expectedTranscript()));
    expect(newLeftovers(before)).toEqual([]);
  });

  it('answers every malformed line with an error and the usage, changes nothing, and exits 1', () => {
    const before = leftovers();
    const bad = [
      'frobnicate',
      'create',
      'create Bad',
      'create ok-1 --pid --pid',
      'create ok-1 --bogus',
      'create ok-1 --memory 1k',
      'create ok-1 cpus=99',
      'start',
      'start ghost',
      'start repl-bad extra',
      'exec repl-bad',
      'exec ghost true',
      'set repl-bad',
      'set repl-bad pids=0',
      'set ghost pids=5',
      'stop ghost',
      'enter repl-bad',
      "exec repl-bad sh -c 'unterminated",
      'help nope',
    ];
    const input = ['create repl-bad --pid --uts', 'start repl-bad', ...bad, 'list'].join('\n');
    const r = repl(`${input}\n`);
    expect(r.code).toBe(1);
    const b = blocks(r.stdout);
    expect(b.map(([l]) => l)).toEqual(['create repl-bad --pid --uts', 'start repl-bad', ...bad, 'list']);
    for (const [line, out] of b.slice(2, -1)) {
      expect(out, line).toMatch(/^error: .+/);
      expect(out.split('\n').filter((l) => l.startsWith('error: ')), line).toHaveLength(1);
      expect(out, line).toMatch(/\nusage: \S/);
    }
    // Nothing changed: still one sandbox, running, with no limits.
    expect(b.at(-1)![1]).toMatch(/repl-bad +running +\d+ +pid,uts +none +-/);
    expect(newLeftovers(before)).toEqual([]);
  });

  it('end of input destroys what still runs (like exit)', () => {
    const before = leftovers();
    const r = repl("create repl-eof --pid\nstart repl-eof\nexec -d repl-eof sh -c 'sleep 300'\n# no stop, no exit\n");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/end of input: destroying what is still running\n {2}destroyed repl-eof in [\d.]+ ms: killed/);
    expect(newLeftovers(before)).toEqual([]);
  });

  it('SIGTERM destroys every sandbox it created', async () => {
    const before = leftovers();
    const child = spawn(process.execPath, [CLI, 'repl', '--plain'], { env: ENV, stdio: ['pipe', 'pipe', 'pipe'] });
    try {
      let out = '';
      let err = '';
      child.stdout.on('data', (c) => (out += c));
      child.stderr.on('data', (c) => (err += c));
      child.stdin.write('create repl-term --pid --mount\nstart repl-term\nexec repl-term sleep 300\n');
      // Wait until the exec runs inside (the sandbox's cgroup holds pause, the exec helper and sleep).
      const procs = () => {
        for (const f of ['/sys/fs/cgroup/pids/sandbox/repl-term/cgroup.procs', '/sys/fs/cgroup/sandbox/repl-term/cgroup.procs']) {
          try {
            return fs.readFileSync(f, 'utf8').split('\n').filter(Boolean).length;
          } catch {
            /* not this layout, or not yet */
          }
        }
        return 0;
      };
      for (let i = 0; i < 1500 && !(out.includes('started repl-term') && procs() >= 3); i++) await new Promise((r) => setTimeout(r, 20));
      expect(`${out}\n${err}`).toContain('started repl-term');
      expect(procs()).toBeGreaterThanOrEqual(3);
      const exited = new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
      child.kill('SIGTERM');
      expect(await exited).toBe(143);
      expect(err).toMatch(/SIGTERM: destroyed every sandbox it created\n {2}destroyed repl-term/);
      expect(newLeftovers(before)).toEqual([]);
    } finally {
      // SIGTERM, not SIGKILL: the REPL must get the chance to destroy what it made.
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    }
  });

  it('refuses to run without root', () => {
    const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, CLI, 'repl', '--plain'], {
      input: 'list\n',
      encoding: 'utf8',
      env: ENV,
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/needs root/);
  });
});
