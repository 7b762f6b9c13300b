/**
 * Fuzzing script mode: ≥ 10,000 random and mutated lines through runScript (what
 * `sandbox repl --plain` runs), with a fixed seed (SEED=… to try another; FUZZ_LINES=… for more).
 * No crash, no unhandled rejection, every bad line answered with an error, nothing leaked.
 *
 * Safety: a generated line that parses into something unbounded is replaced before the run
 * (checked with the REPL's own parser): only three names may ever start, exec runs only a few
 * harmless commands, no --rootfs none/DIR (the host's files), no limits low enough to make the
 * run crawl. Everything else, including every malformed line, goes in as generated.
 */
import { Readable } from 'node:stream';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { parseLine, type ReplCommand, visible } from '../../src/repl/parse.js';
import { PROMPT, runScript } from '../../src/repl/script.js';
import { ReplSession } from '../../src/repl/session.js';
import type { Limits } from '../../src/runtime/cgroup/limits.js';
import { isRoot, leftovers } from '../helpers/resources.js';
import { prng } from '../helpers/prng.js';

const SEED = Number(process.env.SEED ?? 0x5eed);
const LINES = Math.max(10_000, Number(process.env.FUZZ_LINES ?? 10_000));
const STARTABLE = ['fz-a', 'fz-b', 'fz-c'];

const CORPUS = [
  'create fz-a',
  'create fz-b --pid --mount --uts --hostname bee pids=32',
  'create fz-c --pid --ipc --net cpu-weight=25 memory=64M',
  'create fz-a --user --pid --mount --rootfs host',
  'create fz-d --cgroup --uts',
  'start fz-a',
  'start fz-b',
  'start fz-c',
  'exec fz-a echo hello',
  'exec fz-b hostname',
  'exec fz-c true',
  'exec fz-a false',
  'exec fz-b ps -e',
  'exec -d fz-a sleep 0.2',
  'exec fz-c id',
  'ps fz-a',
  'ps fz-b',
  'tree',
  'list',
  'set fz-a cpu-weight=25',
  'set fz-b cpu-weight=75 pids=40',
  'set fz-c memory=32M cpus=0',
  'set fz-a --cpu-quota 50',
  'set fz-d pids=20',
  'inspect fz-a',
  'inspect fz-d',
  'stop fz-a',
  'stop fz-b',
  'stop fz-c',
  'destroy fz-a',
  'destroy fz-b',
  'destroy fz-c',
  'destroy fz-d',
  'help',
  'help exec',
  'enter fz-a',
  '# a comment',
  '',
];

const TOKENS = [
  ...['--pid', '--mount', '--uts', '--ipc', '--net', '--user', '--cgroup', '--rootfs', '--hostname', '--pids', '--memory', '--cpus'],
  ...['host', 'busybox', 'none', '/tmp', '/no/such', 'x', '-d', '--', '-', '=', '#', '"', "'", '\\', '..', 'A', 'é', '💥', '\x00', '\x1b[2J', '\t'],
  ...['pids=', 'pids=0', 'pids=-1', 'pids=99999999', 'memory=1k', 'memory=64M', 'memory=abc', 'memory=1.5M', 'cpus=0-1', 'cpus=9', 'cpus=1-0'],
  ...['cpu-weight=0', 'cpu-weight=10001', 'cpu-weight=50', 'cpu-quota=0.5', 'cpu-quota=300', 'cpu-quota=40%', 'foo=bar'],
  ...['fz-a', 'fz-b', 'fz-c', 'fz-d', 'fz-z', 'Fz-A', `fz-${'x'.repeat(40)}`],
  ...['create', 'start', 'exec', 'enter', 'ps', 'tree', 'set', 'inspect', 'stop', 'destroy', 'list', 'help', 'exit'],
];

const CHARS = [...` -=_.#'"\\$;|&()<>*?~\`!@%^{}[]/:,+abcdefzABC0123456789\t\x00\x01\x1b\x7féß😀`];

function generator(seed: number) {
  const r = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
  const int = (n: number) => Math.floor(r() * n);
  const mutate = (line: string): string => {
    let s = line;
    for (let k = 0, n = 1 + int(3); k < n; k++) {
      const words = s.split(' ');
      switch (int(11)) {
        case 0: // delete a character
          if (s.length) {
            const i = int(s.length);
            s = s.slice(0, i) + s.slice(i + 1);
          }
          break;
        case 1: // insert a character
        case 2: {
          const i = int(s.length + 1);
          s = s.slice(0, i) + pick(CHARS) + s.slice(i);
          break;
        }
        case 3: // replace a character
          if (s.length) {
            const i = int(s.length);
            s = s.slice(0, i) + pick(CHARS) + s.slice(i + 1);
          }
          break;
        case 4: // insert a token
          words.splice(int(words.length + 1), 0, pick(TOKENS));
          s = words.join(' ');
          break;
        case 5: // drop a word
          words.splice(int(words.length), 1);
          s = words.join(' ');
          break;
        case 6: // duplicate a word
          if (words.length) {
            const i = int(words.length);
            words.splice(i, 0, words[i]);
            s = words.join(' ');
          }
          break;
        case 7: {
          // swap two words
          const i = int(words.length);
          const j = int(words.length);
          [words[i], words[j]] = [words[j], words[i]];
          s = words.join(' ');
          break;
        }
        case 8: // truncate
          s = s.slice(0, int(s.length + 1));
          break;
        case 9: // two lines in one
          s = `${s} ${pick(CORPUS)}`;
          break;
        case 10: // change the case
          s = r() < 0.5 ? s.toUpperCase() : s.replace(/[a-z]/, (c) => c.toUpperCase());
          break;
      }
    }
    return s;
  };
  const random = (): string => {
    const parts: string[] = [];
    for (let k = 0, n = int(8); k < n; k++) parts.push(r() < 0.5 ? pick(TOKENS) : Array.from({ length: 1 + int(6) }, () => pick(CHARS)).join(''));
    return parts.join(r() < 0.8 ? ' ' : '');
  };
  return (): string => {
    const x = r();
    if (x < 0.3) return pick(CORPUS);
    if (x < 0.85) return mutate(pick(CORPUS));
    return random();
  };
}

function limitsSafe(l: Limits): boolean {
  return (l.cpuQuota === undefined || l.cpuQuota >= 20) && (l.memory === undefined || l.memory >= 16 * 1024 * 1024) && (l.pids === undefined || l.pids >= 16);
}

/** Whether a line may go in: malformed lines always; commands only when bounded and harmless. */
function safe(cmd: ReplCommand): boolean {
  switch (cmd.kind) {
    case 'exit':
      return false; // would end the run early
    case 'create':
      return (cmd.config.rootfs === undefined || cmd.config.rootfs.kind === 'host' || cmd.config.rootfs.kind === 'busybox') && limitsSafe(cmd.config.limits);
    case 'start':
      return STARTABLE.includes(cmd.name);
    case 'set':
      return limitsSafe(cmd.limits);
    case 'exec': {
      const [c, ...args] = cmd.argv;
      if (cmd.detach) return c === 'sleep' && args.length === 1 && Number(args[0]) >= 0 && Number(args[0]) <= 0.5;
      if (['echo', 'true', 'false', 'hostname', 'id'].includes(c)) return true;
      return c === 'ps' && args.every((a) => /^-[a-z]{0,3}$/.test(a));
    }
    default:
      return true;
  }
}

/** Commands that need an existing sandbox, and whether they need it running. */
const NEEDS: Partial<Record<ReplCommand['kind'], 'exists' | 'running'>> = {
  start: 'exists',
  enter: 'exists',
  set: 'exists',
  inspect: 'exists',
  destroy: 'exists',
  exec: 'running',
  ps: 'running',
  stop: 'running',
};

describe.skipIf(!isRoot)(`fuzzing script mode with ${LINES} lines, seed ${SEED} (needs root)`, () => {
  const rejections: unknown[] = [];
  const onRejection = (reason: unknown) => rejections.push(reason);
  beforeAll(() => process.on('unhandledRejection', onRejection));
  afterAll(() => process.off('unhandledRejection', onRejection));

  it('answers every line, every bad one with an error; no crash, no rejection, no leak', async () => {
    const before = leftovers();
    const next = generator(SEED);
    const lines: string[] = [];
    let replaced = 0;
    while (lines.length < LINES) {
      // A line is one line: readline would split at \r and \n.
      const line = next().replace(/[\r\n]/g, ' ');
      const p = parseLine(line);
      if (p.kind === 'command' && !safe(p.command)) {
        replaced++;
        continue;
      }
      lines.push(line);
    }

    const transcript: string[] = [];
    const session = new ReplSession({ purpose: 'repl-fuzz', maxOutputBytes: 64 * 1024 });
    let maxRunning = 0;
    session.onChange(() => (maxRunning = Math.max(maxRunning, session.runningCount)));
    const t0 = performance.now();
    const result = await runScript({ input: Readable.from([`${lines.join('\n')}\n`]), write: (l) => transcript.push(l), session });
    const seconds = (performance.now() - t0) / 1000;

    // Map the transcript back to the input: every command line is echoed once, in order.
    const commands = lines.filter((l) => parseLine(l).kind !== 'empty');
    const outputs: string[][] = [];
    for (const t of transcript) {
      if (t.startsWith(PROMPT) && outputs.length < commands.length && t === `${PROMPT}${visible(commands[outputs.length])}`) outputs.push([]);
      else outputs.at(-1)?.push(t);
    }
    expect(outputs).toHaveLength(commands.length);
    expect(result.commands).toBe(commands.length);
    expect(result.end).toBe('eof');

    // The oracle: what must be an error, from the parser and from a model of what exists.
    const exists = new Set<string>();
    const running = new Set<string>();
    let errors = 0;
    let parseErrors = 0;
    let stateErrors = 0;
    const succeeded: Record<string, number> = {};
    commands.forEach((line, i) => {
      const out = outputs[i];
      const failed = out.some((l) => l.startsWith('error: '));
      if (failed) errors++;
      const p = parseLine(line);
      if (p.kind === 'error') {
        parseErrors++;
        expect(out[0], line).toMatch(/^error: \S/);
        expect(out.filter((l) => l.startsWith('usage: ')), line).toHaveLength(1);
        return;
      }
      if (p.kind !== 'command') return;
      const c = p.command;
      const name = 'name' in c ? c.name : c.kind === 'create' ? c.config.name : undefined;
      const need = NEEDS[c.kind];
      if (name && need && (!exists.has(name) || (need === 'running' && !running.has(name)))) {
        stateErrors++;
        expect(failed, `${line} (${name} ${exists.has(name) ? 'not running' : 'unknown'})`).toBe(true);
      }
      if (c.kind === 'create' && exists.has(name!)) expect(failed, `${line} (duplicate)`).toBe(true);
      if (c.kind === 'start' && running.has(name!)) expect(failed, `${line} (already running)`).toBe(true);
      if (failed) return;
      succeeded[c.kind] = (succeeded[c.kind] ?? 0) + 1;
      if (c.kind === 'create') exists.add(name!);
      if (c.kind === 'start') running.add(name!);
      if (c.kind === 'stop') running.delete(name!);
      if (c.kind === 'destroy') {
        exists.delete(name!);
        running.delete(name!);
      }
    });
    expect(result.failed).toBe(errors);
    expect(rejections).toEqual([]);
    expect(maxRunning).toBeLessThanOrEqual(STARTABLE.length);
    expect(session.runningCount).toBe(0);
    const leaked = leftovers().filter((l) => !before.includes(l));
    expect(leaked).toEqual([]);

    const summary = {
      seed: SEED,
      lines: lines.length,
      commands: commands.length,
      errors,
      parseErrors,
      stateErrors,
      ok: commands.length - errors,
      succeeded,
      unsafeReplaced: replaced,
      maxRunning,
      seconds: Number(seconds.toFixed(1)),
      leftovers: leaked.length,
    };
    process.stdout.write(`repl fuzz: ${JSON.stringify(summary)}\n`);
    expect(errors).toBeGreaterThan(lines.length / 2);
  }, 900_000);
});
