/**
 * The `sandbox` binary as a user runs it (the built dist/cli.js): run, doctor, cleanup, bad input,
 * and a killed session.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { describe, expect, it } from 'vitest';

import { alive, sleep } from '../../helpers/wait.js';
import { isRoot, leftovers } from '../../helpers/resources.js';
import { clearDebris, declareDebris } from '../../helpers/session.js';

const CLI = path.resolve(import.meta.dirname, '../../../dist/cli.js');

function sandbox(args: string[], opts: { asUser?: boolean } = {}) {
  const cmd = opts.asUser ? 'setpriv' : process.execPath;
  const argv = opts.asUser ? ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, CLI, ...args] : [CLI, ...args];
  const r = spawnSync(cmd, argv, { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}



describe.skipIf(!isRoot)('sandbox run (needs root)', () => {
  it("prints 1, the hostname and only the sandbox's own processes", () => {
    const r = sandbox(['run', '--pid', '--mount', '--uts', '--hostname', 'box', '--', 'sh', '-c', 'echo $$; hostname; ps -e | wc -l']);
    expect(r.code).toBe(0);
    const [pid, host, count] = r.stdout.trim().split('\n');
    expect(pid).toBe('1');
    expect(host).toBe('box');
    const hostCount = fs.readdirSync('/proc').filter((e) => /^\d+$/.test(e)).length;
    expect(Number(count)).toBeLessThanOrEqual(5); // ps header + sh + ps + wc
    expect(hostCount).toBeGreaterThan(Number(count));
  });

  it("passes the command's exit code through, and 128+N for signal N", () => {
    expect(sandbox(['run', '--', 'sh', '-c', 'exit 7']).code).toBe(7);
    // without a PID namespace the shell is not an init, so SIGKILL from itself works
    expect(sandbox(['run', '--uts', '--', 'sh', '-c', 'kill -9 $$']).code).toBe(137);
  });

  it('--explain shows each step as a command and a system call, then the teardown', () => {
    const r = sandbox(['run', '--explain', '--pids', '20', '--', 'true']);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/clone3\(\{ flags: CLONE_NEWPID\|CLONE_NEWNS/);
    expect(r.stderr).toMatch(/pivot_root\("\.", "\."\)/);
    expect(r.stderr).toMatch(/pids\.max/);
    expect(r.stderr).toMatch(/destroyed run-[0-9a-f]{4} in [\d.]+ ms/);
  });

  const bad: [string, string[], number, RegExp][] = [
    ['an unknown flag', ['run', '--bogus', '--', 'true'], 2, /unknown option '--bogus'/],
    ['--memory 1k (the kernel would set 0)', ['run', '--memory', '1k', '--', 'true'], 2, /--memory 1k.*\n.*hint:.*at least 1M/],
    ['--cpus 99 on a small host', ['run', '--cpus', '99', '--', 'true'], 2, /CPU 99 does not exist.*\n.*hint: this host has CPUs/],
    ['--pids 0', ['run', '--pids', '0', '--', 'true'], 2, /--pids 0.*\n.*hint:/],
    ['a rootfs that does not exist', ['run', '--rootfs', '/no/such/dir', '--', 'true'], 2, /--rootfs \/no\/such\/dir: no such directory\n.*hint:/],
    ['a command that does not exist', ['run', '--', 'no-such-cmd'], 127, /no-such-cmd: command not found in the sandbox \(looked in \/usr\/local\/sbin, .*\/bin\)/],
  ];
  for (const [what, args, code, message] of bad) {
    it(`refuses ${what}, says what to do, and changes nothing`, () => {
      // What `sandbox run` would create is named run-XXXX (other test files run concurrently and
      // leave their own, differently named, killed sessions for the sweep).
      const runs = () => leftovers().filter((l) => /\brun-[0-9a-f]{4}\b/.test(l));
      const before = runs();
      const r = sandbox(args);
      expect(r.code).toBe(code);
      expect(r.stderr).toMatch(message);
      expect(r.stdout).toBe('');
      expect(runs()).toEqual(before);
    });
  }

  it('refuses to run without root and says to use sudo', () => {
    const r = sandbox(['run', '--', 'true'], { asUser: true });
    expect(r.code).toBe(125);
    expect(r.stderr).toMatch(/needs root/);
    expect(r.stderr).toMatch(/sudo/);
  });

  it('a SIGKILLed `sandbox run` takes its payload with it within 1 s; cleanup removes the rest', async () => {
    const child = spawn(process.execPath, [CLI, 'run', '-q', '--', 'sh', '-c', 'sleep 300 & sleep 301'], { stdio: 'ignore' });
    let payload: number[] = [];
    let name = '';
    for (let i = 0; i < 500 && payload.length < 3; i++) {
      await sleep(10);
      for (const f of fs.existsSync('/run/sandbox/ledger') ? fs.readdirSync('/run/sandbox/ledger') : []) {
        try {
          const e = JSON.parse(fs.readFileSync(`/run/sandbox/ledger/${f}`, 'utf8'));
          if (e.owner.pid === child.pid && e.init) name = e.name;
        } catch {
          /* being written */
        }
      }
      if (name) {
        const procs = fs.readFileSync(`/sys/fs/cgroup/${fs.existsSync('/sys/fs/cgroup/pids') ? 'pids/' : ''}sandbox/${name}/cgroup.procs`, 'utf8');
        payload = procs.split('\n').filter(Boolean).map(Number);
      }
    }
    expect(payload.length).toBeGreaterThanOrEqual(3); // sh and two sleeps
    declareDebris(name);
    child.kill('SIGKILL');
    const t0 = Date.now();
    while (payload.some(alive) && Date.now() - t0 < 1000) await sleep(10);
    expect(payload.filter(alive)).toEqual([]);
    // Its cgroup stays until `sandbox cleanup` removes it, unless another sandbox started on this
    // host meanwhile (every start sweeps what dead sessions left). Either way, nothing is left.
    const r = sandbox(['cleanup']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`sandboxes of dead sessions: .*${name}|Nothing to clean up`));
    clearDebris(name);
    expect(leftovers()).toEqual([]);
  });

  it('cleanup leaves the sandboxes of running sessions alone', async () => {
    const child = spawn(process.execPath, [CLI, 'run', '-q', '--name', 'still-running', '--', 'sleep', '300'], { stdio: 'ignore' });
    for (let i = 0; i < 500 && !fs.existsSync('/run/sandbox/ledger/still-running.json'); i++) await sleep(10);
    await sleep(100);
    const r = sandbox(['cleanup']);
    expect(r.stdout).toMatch(/Left alone.*still-running/);
    expect(fs.existsSync('/run/sandbox/ledger/still-running.json')).toBe(true);
    child.kill('SIGTERM'); // PID 1 (sleep) has no SIGTERM handler: sandbox run destroys it
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    expect(code).toBe(143);
    expect(fs.existsSync('/run/sandbox/ledger/still-running.json')).toBe(false);
  });
});

describe('sandbox doctor and help', () => {
  it('doctor --json describes the host', () => {
    const r = sandbox(['doctor', '--json']);
    const report = JSON.parse(r.stdout);
    expect(['v1', 'hybrid', 'v2']).toContain(report.cgroup.layout);
    expect(report.checks.map((c: { id: string }) => c.id)).toEqual(expect.arrayContaining(['root', 'kernel', 'cgroup', 'namespaces']));
    expect(r.code).toBe(report.ok ? 0 : 1);
  });

  it('run --help documents every flag', () => {
    const r = sandbox(['run', '--help']);
    expect(r.code).toBe(0);
    for (const flag of ['--pid', '--mount', '--uts', '--ipc', '--net', '--user', '--cgroup', '--hostname', '--rootfs', '--cpu-weight', '--cpu-quota', '--cpus', '--memory', '--pids', '--explain']) {
      expect(r.stdout).toContain(flag);
    }
  });
});
