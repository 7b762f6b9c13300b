/**
 * Fuzzing every command's options (issue 10, item 6): ≥ 5,000 random and boundary argv vectors
 * for run, learn, lessons, reset, repl, top, doctor, cleanup and the bare program. Each must end
 * within 5 s with exit 0, 2 or the command's own code, print no stack trace and no "bug" banner,
 * and leave nothing behind (leftovers() before and after, and the global leak guard).
 *
 * Speed: most runs go through persistent workers (cli-worker.mjs) that import dist/cli.js afresh
 * for each argv, the same entry point and code as the binary, without a Node start-up per run;
 * a few hundred more go through the real binary (stdin not a terminal, as in CI).
 *
 * Deterministic: a seeded PRNG (SEED=…, printed with every failure); FUZZ_RUNS=… and
 * FUZZ_BINARY_RUNS=… change the counts. Most inputs are invalid (validation only, nothing is
 * created); valid `run`s run `true`. Never generated: an existing directory as --rootfs (it would
 * become the root of the sandbox) or a lesson with --auto (minutes per run).
 */
import { type ChildProcess, fork, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { isRoot, leftovers } from '../helpers/resources.js';
import { prng } from '../helpers/prng.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const CLI = `${ROOT}/dist/cli.js`;
const WORKER = `${import.meta.dirname}/cli-worker.mjs`;
const SEED = Number(process.env.SEED ?? 0x5a4d);
const RUNS = Number(process.env.FUZZ_RUNS ?? 5000);
const BINARY_RUNS = Number(process.env.FUZZ_BINARY_RUNS ?? 120);
const WORKERS = 2;
/** A worker is replaced after this many runs: every fresh import of cli.js stays in memory. */
const RECYCLE = 1000;
const TIMEOUT_MS = 5000;

const rand = prng(SEED);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
const chance = (p: number) => rand() < p;
const int = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));

// --- values --------------------------------------------------------------------------------------

const NASTY = [
  '', ' ', '-', '--', '=', '-0', '+1', '0x10', '1e3', '1e309', 'NaN', 'Infinity', '-Infinity', '٣', '５', '½', '1_000',
  '9007199254740993', '99999999999999999999', '18446744073709551616', '-9223372036854775809', '0.5', '.5', '5.', '1..2',
  '\u0000', '\x1b[2J', '\t7', '7\n', '\u202e', '💥', 'é', '..', '.', '/', '//', '$(id)', '`id`', "'", '"', '\\', '%', '%s%n',
  'a'.repeat(81), 'x'.repeat(5000), '9'.repeat(400), `0-${'9'.repeat(30)}`, 'max', 'null', 'undefined', 'true', '[]', '{}',
];

function numberText(): string {
  switch (int(0, 6)) {
    case 0:
      return String(int(0, 20));
    case 1:
      return String(int(0, 2 ** 31));
    case 2:
      return pick(['0', '1', '2', '99', '100', '101', '200', '201', '999', '1000', '1001', '9999', '10000', '10001', '4194304', '4194305']);
    case 3:
      return `${rand() < 0.5 ? '-' : ''}${int(0, 1e6)}${rand() < 0.5 ? `.${int(0, 999)}` : ''}`;
    case 4:
      return String(2 ** int(0, 70));
    case 5:
      return ` ${int(0, 500)} `;
    default:
      return pick(NASTY);
  }
}

function sizeText(): string {
  const unit = pick(['', 'k', 'K', 'M', 'm', 'G', 'T', 'KiB', 'MB', 'gib', 'P', 'X', ' M', 'M ', 'b', 'B']);
  switch (int(0, 3)) {
    case 0:
      return `${pick(['1', '4', '8', '16', '64', '100', '512', '1024', '4096', '1023', '1.5', '0.5', '0'])}${unit}`;
    case 1:
      return `${numberText()}${unit}`;
    case 2:
      return pick(['64M', '1M', '32M', '1k', '4095', '4096', '1048576', '99999999999999999999T', '1000T', '25G', '9007199254740993']);
    default:
      return pick(NASTY);
  }
}

function cpuListText(): string {
  switch (int(0, 4)) {
    case 0:
      return pick(['0', '1', '0-1', '0,1', '1,0', '0-0', '0,0', '1-0', '2', '0-2', '0-30000000', '0-8191', '8191', '8192']);
    case 1:
      return Array.from({ length: int(1, 5) }, () => (chance(0.5) ? String(int(0, 4)) : `${int(0, 3)}-${int(0, 70000)}`)).join(',');
    case 2:
      return `${numberText()}-${numberText()}`;
    case 3:
      return Array.from({ length: int(1, 3000) }, () => '0').join(',');
    default:
      return pick(NASTY);
  }
}

const RESERVED = ['ledger', 'cpu-claims', 'supervisor', 'cgroup.procs', 'cpu.max', 'memory.max', 'tasks', 'release_agent', 'notify_on_release'];

function nameText(): string {
  switch (int(0, 4)) {
    case 0:
      return `fz-${int(0, 1e6).toString(36)}`;
    case 1:
      return pick(RESERVED);
    case 2:
      return pick(['A', 'a'.repeat(32), 'a'.repeat(33), '-a', '.a', '_a', 'a/b', 'a b', 'a..', 'sandbox', 'run-1', 'Web', 'ümlaut', '0']);
    default:
      return pick(NASTY);
  }
}

function hostnameText(): string {
  return chance(0.4) ? pick(['box', 'web.local', 'a'.repeat(63), 'a'.repeat(64), '-x', 'x-', 'x_y', 'X']) : chance(0.5) ? nameText() : pick(NASTY);
}

/** --rootfs values: never an existing directory other than the three keywords. */
function rootfsText(): string {
  const v = chance(0.5)
    ? pick(['host', 'busybox', 'none', 'HOST', 'docker', '', '.', './x', 'rootfs', '../x', '/', '/no/such/rootfs', '/tmp/../', '/etc/passwd', '/dev/null'])
    : pick(NASTY);
  if (v.startsWith('/') && v !== '/' && !['/etc/passwd', '/dev/null'].includes(v)) return fs.existsSync(v) ? '/no/such/rootfs' : v;
  if (!v.startsWith('/') && !['host', 'busybox', 'none'].includes(v) && fs.existsSync(path.resolve(v)) && v !== '' && v !== '.' && v !== '..') return 'no-such-rootfs';
  return v;
}

const CAPS = ['NET_ADMIN', 'CHOWN', 'SYS_ADMIN', 'ALL', 'all', 'CAP_NET_RAW', 'net_raw', 'NOPE', 'NET_ADMIN,CHOWN', ',', 'NET_ADMIN,,', 'SYS_MODULE'];

const LESSONS = ['pid-namespaces', 'mount-namespaces', 'cgroups-cpu', 'fork-bomb', 'overlay-images', 'capabilities-and-seccomp'];
const NOT_LESSONS = ['pid-namspaces', 'nope', 'PID-NAMESPACES', './no-such-lesson', '/no/such/lesson', '../x', 'x'.repeat(300), '', '-', '💥'];

function value(flag: string): string {
  switch (flag) {
    case '--cpu-weight':
    case '--cpu-quota':
    case '--pids':
      return chance(0.15) ? `${numberText()}%` : numberText();
    case '--memory':
      return sizeText();
    case '--cpus':
      return cpuListText();
    case '--name':
      return nameText();
    case '--hostname':
      return hostnameText();
    case '--rootfs':
      return rootfsText();
    case '--cwd':
      return pick(['/', '/tmp', '/no/such', 'relative', '', '..', '/proc', 'x'.repeat(5000), ...NASTY.slice(0, 10)]);
    case '--cap-add':
    case '--cap-drop':
      return chance(0.8) ? pick(CAPS) : pick(NASTY);
    case '--seccomp':
      return pick(['default', 'unconfined', 'UNCONFINED', 'strict', '', 'none', ...NASTY.slice(0, 5)]);
    default:
      return chance(0.5) ? numberText() : pick(NASTY);
  }
}

// --- argv ---------------------------------------------------------------------------------------

interface Spec {
  /** Flags that take a value, and boolean ones (read from each command's --help). */
  valued: string[];
  bool: string[];
}

const COMMANDS = ['run', 'learn', 'lessons', 'reset', 'repl', 'top', 'doctor', 'cleanup', 'new-lesson', 'check-lesson', 'report'] as const;
type CommandName = (typeof COMMANDS)[number] | '';

/** The options a command's --help lists: `--name <value>` takes a value, `--plain` does not. */
function parseHelp(help: string): Spec {
  const valued: string[] = [];
  const bool: string[] = [];
  for (const m of help.matchAll(/^\s+(?:-\w, )?(--[a-z-]+)( <[^>]+>| \[[^\]]+\])?/gm)) {
    if (m[1] === '--help' || m[1] === '--version') continue;
    (m[2] ? valued : bool).push(m[1]);
  }
  return { valued, bool };
}

interface Case {
  argv: string[];
  command: CommandName;
  /** Where it may run: 'worker' (in-process), 'binary' (reads stdin or draws a screen), 'either'. */
  where: 'worker' | 'binary' | 'either';
  /** stdin for the binary. */
  input?: string;
}

const LIMIT_FLAGS = ['--cpu-weight', '--cpu-quota', '--cpus', '--memory', '--pids'];

function runCase(spec: Spec): Case {
  const argv: string[] = ['run'];
  const valid = chance(0.015);
  if (valid) {
    // A run that may create a sandbox: good values only, then `true`.
    const opts: string[] = [];
    if (chance(0.5)) opts.push(...pick([['--pid'], ['--pid', '--mount'], ['--uts', '--hostname', 'fz'], ['--net'], ['--user', '--pid', '--mount'], ['--ipc']]));
    if (chance(0.4)) opts.push(pick(LIMIT_FLAGS), '');
    const flag = opts.at(-2);
    if (flag && LIMIT_FLAGS.includes(flag)) opts[opts.length - 1] = { '--cpu-weight': '50', '--cpu-quota': '50', '--cpus': '0', '--memory': '64M', '--pids': '20' }[flag]!;
    if (chance(0.3)) opts.push('--rootfs', pick(['host', 'busybox', 'none']));
    if (chance(0.2)) opts.push('--cap-add', pick(['NET_ADMIN', 'CHOWN']));
    if (chance(0.1)) opts.push(pick(['--privileged', '--init', '--explain', '-q']));
    if (chance(0.2)) opts.push('--name', `fz-${int(0, 1e9).toString(36)}`);
    return { argv: [...argv, ...opts, '--', 'true'], command: 'run', where: 'either' };
  }
  const n = int(1, 4);
  for (let i = 0; i < n; i++) {
    if (chance(0.75)) {
      const f = pick(spec.valued);
      if (chance(0.2)) argv.push(`${f}=${value(f)}`);
      else if (chance(0.05)) argv.push(f); // missing value
      else argv.push(f, value(f));
    } else if (chance(0.8)) argv.push(pick(spec.bool));
    else argv.push(pick(['--bogus', '-x', '--cpu_weight', '--memory-limit', '--', '-', '--pid=1']));
  }
  // At least one value that should be refused, so that nothing is created: always true of NASTY.
  const bad = pick([...LIMIT_FLAGS, '--name', '--rootfs', '--hostname', '--cwd', '--cap-add', '--seccomp']);
  argv.push(bad, pick(NASTY.filter((v) => v !== '' || bad !== '--cwd')).replace(/^\/$/, '//x'));
  const tail = pick([['--', 'true'], ['true'], ['--', ''], [], ['--', 'true', '--pids', '0'], ['--', pick(NASTY)]]);
  return { argv: [...argv, ...tail], command: 'run', where: 'either' };
}

function otherCase(command: CommandName, spec: Spec): Case {
  const argv: string[] = command ? [command] : [];
  const extra = (): string => (chance(0.5) ? pick(NASTY) : pick(['--json', '--plain', '--auto', '--bogus', '-h', '--version', '-V', 'x']));
  switch (command) {
    case 'learn': {
      // A real lesson only without --auto (refused at once without a terminal): --auto would run it.
      const real = chance(0.3);
      if (chance(0.9)) argv.push(real ? pick(LESSONS) : pick(NOT_LESSONS));
      for (const f of spec.bool) if (chance(0.3) && !(real && f === '--auto')) argv.push(f);
      if (chance(0.2)) argv.push(pick(['--bogus', 'second-arg', '--auto=1', '--plain=yes']));
      if (real) return { argv: argv.filter((a) => a !== '--auto'), command, where: 'either' };
      return { argv, command, where: 'either' };
    }
    // An instructor's verbs, only with input they refuse at once: a valid name would write a lesson
    // folder, a valid folder would run its lesson, and a valid report measures for minutes.
    case 'new-lesson':
      argv.push(pick(['', '..', '.', '/', 'a/b', '../x', 'Bad Name', 'UPPER', '💥', '-x', 'x'.repeat(300), '$(id)', '\u0000']));
      if (chance(0.2)) argv.push(pick(['--bogus', 'second-arg']));
      return { argv, command, where: 'either' };
    case 'check-lesson':
      argv.push(pick(['/no/such/lesson', './no-such-lesson', '/', '/proc', '💥', 'x'.repeat(300), '', 'test/fixtures/lessons/bad-unknown-key']));
      for (const f of spec.bool) if (chance(0.3)) argv.push(f);
      if (chance(0.2)) argv.push(pick(['--bogus', 'second-arg']));
      return { argv, command, where: 'either' };
    case 'report':
      argv.push(...pick([['--only', pick(['vms', '', ',', 'density,vms', '💥', 'x'.repeat(300)])], ['--bogus'], ['--only'], ['extra-arg']]));
      if (chance(0.3)) argv.push('--json');
      return { argv, command, where: 'either' };
    case 'reset':
      if (chance(0.9)) argv.push(chance(0.3) ? pick(LESSONS) : pick(NOT_LESSONS));
      if (chance(0.2)) argv.push(extra());
      return { argv, command, where: 'either' };
    case 'repl':
    case 'top': {
      for (const f of spec.bool) if (chance(0.5)) argv.push(f);
      // The command itself (a REPL reading stdin, a dashboard): only in the binary, fed no terminal.
      if (chance(0.5)) {
        // Refused by the parser before the command starts: safe in-process.
        argv.push(pick(['--bogus', 'x', '-x', '--json', '💥', 'a'.repeat(81), '--plain=1', '']));
        return { argv, command, where: 'either' };
      }
      return { argv, command, where: 'binary', input: command === 'repl' ? pick(['', 'list\n', 'help\nexit\n', 'create fz\nset fz cpus=9007199254740993\n']) : '' };
    }
    default:
      for (const f of spec.bool) if (chance(0.4)) argv.push(f);
      if (chance(0.4)) argv.push(extra());
      if (chance(0.1)) argv.push(...pick([['--help'], ['--version'], ['-V'], ['help'], ['help', pick(COMMANDS)], ['unknowncmd']]));
      return { argv, command, where: 'either' };
  }
}

/** What a command may exit with (its own codes). 125 is `run`'s own failure: never expected here. */
function allowedCodes(c: Case): number[] {
  switch (c.command) {
    case 'run':
      return [0, 2, 126, 127]; // 126/127: the command (a fuzzed word) is not executable / not found
    case 'doctor':
      return [0, 1, 2]; // 1: this host lacks something
    case 'repl':
      return [0, 1, 2]; // 1: a line of the script failed
    default:
      return [0, 2];
  }
}

const STACK = /\n\s+at (?:.+ \()?(?:file:|node:|\/)[^\n]*:\d+:\d+\)?/;
const BUG = /This looks like a bug in sandbox/;

interface Result {
  id: number;
  code: number | null;
  out: string;
  err: string;
  ms: number;
  crash: string | null;
  timedOut?: boolean;
}

function problems(c: Case, r: Result): string[] {
  const p: string[] = [];
  const text = `${r.out}\n${r.err}`;
  if (r.timedOut) p.push(`did not end within ${TIMEOUT_MS} ms`);
  else if (!allowedCodes(c).includes(r.code ?? -1)) p.push(`exit code ${r.code} (allowed: ${allowedCodes(c).join(', ')})`);
  if (r.crash) p.push(`crash: ${r.crash.slice(0, 500)}`);
  if (STACK.test(text)) p.push(`stack trace in output: ${STACK.exec(text)![0].trim()}`);
  if (BUG.test(text)) p.push('a "bug in sandbox" banner');
  if (r.code === 2 && !/error|usage|hint/i.test(text)) p.push('exit 2 without a message');
  return p;
}

function describeFailure(c: Case, r: Result, why: string[]): string {
  const shown = c.argv.map((a) => JSON.stringify(a.length > 100 ? `${a.slice(0, 100)}…(${a.length})` : a)).join(' ');
  return `SEED=${SEED} case #${r.id}: sandbox ${shown}\n  ${why.join('\n  ')}\n  stderr: ${r.err.slice(0, 400).replace(/\n/g, '\n          ')}`;
}

// --- workers -------------------------------------------------------------------------------------

class Worker {
  private child!: ChildProcess;
  private done = 0;
  private ready!: Promise<void>;
  constructor(private readonly env: NodeJS.ProcessEnv) {
    this.start();
  }
  private start(): void {
    this.done = 0;
    this.child = fork(WORKER, [], { env: this.env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [] });
    this.ready = new Promise((resolve, reject) => {
      this.child.once('message', () => resolve());
      this.child.once('exit', (code) => reject(new Error(`fuzz worker exited with ${code} before it was ready`)));
    });
    this.ready.catch(() => {}); // seen by runBatch when it waits; a worker stopped unused is no error
  }

  /**
   * Runs a batch; results arrive one by one. If none arrives for TIMEOUT_MS, the run in progress
   * hangs: it is reported as timed out, the worker is replaced, and the rest of the batch goes on.
   */
  async runBatch(batch: { id: number; argv: string[] }[]): Promise<Result[]> {
    const results: Result[] = [];
    let rest = batch;
    while (rest.length) {
      if (this.done >= RECYCLE) {
        await this.stop();
        this.start();
      }
      await this.ready;
      const child = this.child;
      const got = await new Promise<Result[]>((resolve) => {
        const mine: Result[] = [];
        let timer: NodeJS.Timeout;
        const finish = () => {
          clearTimeout(timer);
          child.removeListener('message', onMessage);
          resolve(mine);
        };
        const arm = () => {
          clearTimeout(timer);
          timer = setTimeout(() => {
            const hung = rest[mine.length];
            mine.push({ id: hung.id, code: null, out: '', err: '', ms: TIMEOUT_MS, crash: null, timedOut: true });
            child.kill('SIGKILL');
            this.start();
            finish();
          }, TIMEOUT_MS);
        };
        const onMessage = (m: Result) => {
          mine.push(m);
          if (mine.length === rest.length) finish();
          else arm();
        };
        child.on('message', onMessage);
        arm();
        child.send({ batch: rest });
      });
      this.done += got.length;
      results.push(...got);
      rest = rest.slice(got.length);
    }
    return results;
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  }
}

function runBinary(id: number, c: Case, env: NodeJS.ProcessEnv): Promise<Result> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [CLI, ...c.argv], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.stdin.on('error', () => {}); // exited before reading
    child.stdin.end(c.input ?? '');
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, TIMEOUT_MS);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ id, code: code ?? (signal ? 128 : null), out, err, ms: performance.now() - t0, crash: null, timedOut });
    });
  });
}

async function pool<T>(items: T[], size: number, fn: (item: T, slot: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: size }, async (_, slot) => {
      while (next < items.length) await fn(items[next++], slot);
    }),
  );
}

// --- the test ------------------------------------------------------------------------------------

describe.skipIf(!isRoot)(`fuzzing every command's options (SEED=${SEED}; needs root)`, () => {
  let state: string;
  let env: NodeJS.ProcessEnv;
  let before: string[];
  let workers: Worker[] = [];

  beforeAll(() => {
    before = leftovers();
    state = fs.mkdtempSync(path.join(os.tmpdir(), 'sandbox-cli-fuzz-'));
    env = { ...process.env, XDG_STATE_HOME: state, SANDBOX_CLI: CLI, NO_COLOR: '1' };
    for (const k of ['SUDO_USER', 'SUDO_UID', 'SUDO_GID']) delete env[k];
    workers = Array.from({ length: WORKERS }, () => new Worker(env));
  });

  afterAll(async () => {
    await Promise.all(workers.map((w) => w.stop()));
    fs.rmSync(state, { recursive: true, force: true });
  });

  it(`${RUNS} argv vectors in-process and ${BINARY_RUNS} through the binary: each ends in 5 s with its own exit code, no stack trace, nothing left`, async () => {
    const t0 = performance.now();
    // Each command's options, from its own --help (so flags added later are fuzzed too).
    const specs = {} as Record<CommandName, Spec>;
    let id = 0;
    for (const command of ['', ...COMMANDS] as CommandName[]) {
      const [r] = await workers[0].runBatch([{ id: id++, argv: command ? [command, '--help'] : ['--help'] }]);
      expect(r.code, `${command} --help`).toBe(0);
      specs[command] = parseHelp(r.out);
    }
    // Every command the program lists is fuzzed here (a new one fails this until it is added).
    const [root] = await workers[0].runBatch([{ id: id++, argv: ['--help'] }]);
    const listed = [...(root.out.split(/^Commands:/m)[1] ?? '').split(/\n\s*\n/)[0].matchAll(/^ {2}([a-z][a-z-]*)/gm)].map((m) => m[1]).filter((c) => c !== 'help');
    expect(listed.sort()).toEqual([...COMMANDS].sort());
    expect(specs.run.valued).toEqual(expect.arrayContaining(['--cpus', '--memory', '--pids', '--cpu-weight', '--cpu-quota', '--name', '--hostname', '--rootfs']));

    const weights: [CommandName, number][] = [
      ['run', 76],
      ['learn', 7],
      ['reset', 5],
      ['lessons', 4],
      ['', 4],
      ['doctor', 3],
      ['cleanup', 3],
      ['repl', 2],
      ['top', 2],
      ['new-lesson', 2],
      ['check-lesson', 2],
      ['report', 2],
    ];
    const total = weights.reduce((s, [, w]) => s + w, 0);
    const draw = (): CommandName => {
      let x = rand() * total;
      for (const [c, w] of weights) if ((x -= w) < 0) return c;
      return 'run';
    };
    const make = (): Case => {
      const command = draw();
      const c = command === 'run' ? runCase(specs.run) : otherCase(command, specs[command]);
      c.argv = c.argv.map((a) => a.split('\0')[0]);
      return c;
    };

    const inProcess: Case[] = [];
    const binary: Case[] = [];
    // The binary gets a mix: a REPL reading stdin or a snapshot of `top` (at most a fifth: `top`
    // alone waits half a second to measure CPU), and the rest like the in-process runs.
    const screens = Math.floor(BINARY_RUNS / 5);
    while (inProcess.length < RUNS) {
      const c = make();
      if (c.where === 'binary') {
        if (binary.length < screens) binary.push(c);
      } else inProcess.push(c);
    }
    while (binary.length < BINARY_RUNS) {
      const c = make();
      if (c.where !== 'binary') binary.push(c);
    }

    const failures: string[] = [];
    const stats = { created: 0, exit: new Map<string, number>(), slowest: { ms: 0, argv: '' }, ms: new Map<string, number>() };
    const record = (c: Case, r: Result) => {
      const key = `${c.command || '(none)'} ${r.code}`;
      stats.exit.set(key, (stats.exit.get(key) ?? 0) + 1);
      stats.ms.set(key, (stats.ms.get(key) ?? 0) + r.ms);
      if (/sandbox fz-|sandbox run-/.test(r.err) && r.code === 0 && c.command === 'run') stats.created++;
      if (r.ms > stats.slowest.ms) stats.slowest = { ms: r.ms, argv: c.argv.join(' ').slice(0, 120) };
      const why = problems(c, r);
      if (why.length) failures.push(describeFailure(c, r, why));
    };

    const base = id;
    const verbose = process.env.FUZZ_VERBOSE === '1';
    const BATCH = 100;
    const batches: { id: number; argv: string[] }[][] = [];
    for (let i = 0; i < inProcess.length; i += BATCH) {
      batches.push(inProcess.slice(i, i + BATCH).map((c, j) => ({ id: base + i + j, argv: c.argv })));
    }
    // A run that did not end in time is run once more, alone: a hang hangs again, while a run that
    // only waited for a CPU (other sessions load this 2-core machine) ends the second time.
    const again = async (r: Result, retry: () => Promise<Result>): Promise<Result> => {
      if (!r.timedOut) return r;
      const second = await retry();
      return second.timedOut ? r : second;
    };
    await pool(batches, WORKERS, async (batch, slot) => {
      for (let r of await workers[slot].runBatch(batch)) {
        const c = inProcess[r.id - base];
        r = await again(r, async () => (await workers[slot].runBatch([{ id: r.id, argv: c.argv }]))[0]);
        if (verbose && (r.ms > 1000 || r.timedOut)) {
          process.stderr.write(`[${((performance.now() - t0) / 1000).toFixed(1)} s] #${r.id} ${r.ms.toFixed(0)} ms exit ${r.code}: ${c.argv.join(' ').slice(0, 150)}\n`);
        }
        record(c, r);
      }
    });
    const inProcessMs = performance.now() - t0;
    let b = 0;
    await pool(binary, 2, async (c) => {
      const n = base + RUNS + b++;
      record(c, await again(await runBinary(n, c, env), () => runBinary(n, c, env)));
    });
    const totalMs = performance.now() - t0;

    process.stderr.write(
      `cli fuzz SEED=${SEED}: ${RUNS} in-process runs in ${(inProcessMs / 1000).toFixed(1)} s, ${BINARY_RUNS} binary runs, ` +
        `${(totalMs / 1000).toFixed(1)} s in all; slowest ${stats.slowest.ms.toFixed(0)} ms (${stats.slowest.argv})\n` +
        `  exit codes: ${[...stats.exit].sort().map(([k, v]) => `${k}×${v} (${((stats.ms.get(k) ?? 0) / 1000).toFixed(1)} s)`).join(', ')}\n`,
    );
    expect(failures.slice(0, 20).join('\n\n'), `${failures.length} failures`).toBe('');
    // Most inputs are invalid, but some valid runs must have happened, or the fuzz proves little.
    expect(stats.exit.get('run 0') ?? 0).toBeGreaterThan(RUNS * 0.01);
    expect(stats.exit.get('run 2') ?? 0).toBeGreaterThan(RUNS * 0.5);
    expect(leftovers().filter((l) => !before.includes(l))).toEqual([]);
  }, 300_000);
});
