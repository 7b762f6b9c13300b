/** The REPL's pure logic: tokenizer, parser, completion, history. No root needed. */
import { describe, expect, it } from 'vitest';

import { applyCompletion, complete } from '../../src/repl/complete.js';
import { COMMAND_NAMES, COMMANDS, helpLines } from '../../src/repl/commands.js';
import { History } from '../../src/repl/history.js';
import { type ParseContext, parseLine, type ReplCommand } from '../../src/repl/parse.js';
import { tokenize } from '../../src/repl/tokenize.js';
import { usageError } from '../../src/runtime/errors.js';
import type { RootfsSpec } from '../../src/runtime/rootfs.js';

const ctx: ParseContext = {
  cpus: [0, 1],
  parseRootfs: (v: string): RootfsSpec => {
    if (v === 'host' || v === 'busybox' || v === 'none') return { kind: v };
    if (v === '/srv/root') return { kind: 'dir', path: v };
    throw usageError(`--rootfs ${v}: no such directory`, 'give an existing directory', 'E_NO_ROOTFS');
  },
};

function ok(line: string): ReplCommand {
  const p = parseLine(line, ctx);
  if (p.kind !== 'command') throw new Error(`${line}: ${JSON.stringify(p)}`);
  return p.command;
}

function bad(line: string) {
  const p = parseLine(line, ctx);
  if (p.kind !== 'error') throw new Error(`accepted: ${line} → ${JSON.stringify(p)}`);
  return p.error;
}

describe('tokenize', () => {
  it('splits like a shell, without expansion', () => {
    expect(tokenize(`exec a sh -c 'echo $$; hostname'`).tokens.map((t) => t.value)).toEqual(['exec', 'a', 'sh', '-c', 'echo $$; hostname']);
    expect(tokenize(`say "a \\"b\\" \\$x \\n" c\\ d`).tokens.map((t) => t.value)).toEqual(['say', 'a "b" $x \\n', 'c d']);
    expect(tokenize(`a'b'"c"`).tokens.map((t) => t.value)).toEqual(['abc']);
    expect(tokenize(`''`).tokens.map((t) => t.value)).toEqual(['']);
  });

  it('stops at a comment that starts a word, not inside one', () => {
    expect(tokenize('list # the lot').tokens.map((t) => t.value)).toEqual(['list']);
    expect(tokenize('exec a echo a#b').tokens.map((t) => t.value)).toEqual(['exec', 'a', 'echo', 'a#b']);
    expect(tokenize('   # only a comment').tokens).toEqual([]);
  });

  it('reports what cannot be split', () => {
    expect(tokenize(`exec a 'open`).error).toMatch(/unterminated quote/);
    expect(tokenize(`exec a "open`).error).toMatch(/unterminated quote/);
    expect(tokenize('exec a \\').error).toMatch(/backslash/);
    expect(tokenize('exec a \0').error).toMatch(/NUL/);
  });

  it('marks quoted words and offsets', () => {
    const t = tokenize(`create "--pid" x`);
    expect(t.tokens[1]).toMatchObject({ value: '--pid', quoted: true, start: 7, end: 14 });
    expect(t.endsInSpace).toBe(false);
    expect(tokenize('start ').endsInSpace).toBe(true);
  });
});

describe('parseLine: good lines', () => {
  it('create records the configuration, with run’s default namespaces', () => {
    expect(ok('create a')).toEqual({
      kind: 'create',
      config: { name: 'a', namespaces: ['pid', 'mount', 'uts', 'ipc', 'cgroup'], rootfs: undefined, hostname: undefined, limits: {} },
    });
    expect(ok('create web --uts --pid --hostname www --rootfs busybox --mount --cpu-weight 75 pids=50 --memory=64M cpus=0 cpu-quota=30')).toEqual({
      kind: 'create',
      config: {
        name: 'web',
        namespaces: ['pid', 'mount', 'uts'],
        rootfs: { kind: 'busybox' },
        hostname: 'www',
        limits: { cpuWeight: 75, pids: 50, memory: 64 * 1024 * 1024, cpus: '0', cpuQuota: 30 },
      },
    });
    expect(ok('create n --net --user --rootfs none')).toMatchObject({ config: { namespaces: ['net', 'user'], rootfs: { kind: 'none' } } });
    expect(ok('create a')).not.toHaveProperty('config.security');
  });

  it('create takes the security flags of sandbox run', () => {
    expect(ok('create p --privileged --cap-add sys_admin --cap-add NET_ADMIN,SYS_TIME --cap-drop=CAP_NET_RAW --seccomp unconfined')).toMatchObject({
      config: { security: { privileged: true, capAdd: ['SYS_ADMIN', 'NET_ADMIN', 'SYS_TIME'], capDrop: ['NET_RAW'], seccomp: 'unconfined' } },
    });
  });

  it('exec takes everything after NAME as the command, -d before it', () => {
    expect(ok(`exec a ps -ef`)).toEqual({ kind: 'exec', name: 'a', argv: ['ps', '-ef'], detach: false });
    expect(ok(`exec -d a sh -c 'while :; do :; done'`)).toEqual({ kind: 'exec', name: 'a', argv: ['sh', '-c', 'while :; do :; done'], detach: true });
    expect(ok(`exec a -- --weird`)).toMatchObject({ argv: ['--weird'] });
  });

  it('set takes settings and flags', () => {
    expect(ok('set a cpu-weight=75 pids=50 memory=64M cpus=0')).toEqual({
      kind: 'set',
      name: 'a',
      limits: { cpuWeight: 75, pids: 50, memory: 64 * 1024 * 1024, cpus: '0' },
    });
    expect(ok('set a --cpu-quota 30')).toEqual({ kind: 'set', name: 'a', limits: { cpuQuota: 30 } });
    expect(ok('set a cpu-burst=20 --cpu-quota 30')).toEqual({ kind: 'set', name: 'a', limits: { cpuBurst: 20, cpuQuota: 30 } });
  });

  it('the one-name commands, and the rest', () => {
    for (const c of ['start', 'enter', 'ps', 'inspect', 'stop', 'destroy'] as const) expect(ok(`${c} box-1`)).toEqual({ kind: c, name: 'box-1' });
    for (const c of ['tree', 'list', 'exit'] as const) expect(ok(`  ${c}  `)).toEqual({ kind: c });
    expect(ok('help')).toEqual({ kind: 'help' });
    expect(ok('help set')).toEqual({ kind: 'help', topic: 'set' });
  });

  it('blank lines and comments are nothing', () => {
    expect(parseLine('', ctx)).toEqual({ kind: 'empty' });
    expect(parseLine('   \t ', ctx)).toEqual({ kind: 'empty' });
    expect(parseLine('# create a', ctx)).toEqual({ kind: 'empty' });
  });
});

describe('parseLine: every malformed line says what is wrong and shows the usage', () => {
  const cases: [string, RegExp, string][] = [
    ['frobnicate', /unknown command "frobnicate"/, 'create | start'],
    ['lsit', /unknown command "lsit" \(did you mean list\?\)/, 'create | start'],
    ['"create" a', /unknown command "create"/, 'create | start'],
    ['create', /create: missing NAME/, 'create NAME'],
    ['create --pid', /create: missing NAME/, 'create NAME'],
    ['create Web', /"Web" is not a valid sandbox name/, 'create NAME'],
    ['create a --pid --pid', /--pid is given twice/, 'create NAME'],
    ['create a pids=1 --pids 2', /pids is given twice/, 'create NAME'],
    ['create a --hostname x --hostname y', /--hostname is given twice/, 'create NAME'],
    ['create a --bogus', /unknown flag "--bogus"/, 'create NAME'],
    ['create a --pdi', /unknown flag "--pdi" \(did you mean --pid\?\)/, 'create NAME'],
    ['create a --pid=yes', /--pid takes no value/, 'create NAME'],
    ['create a --privileged=yes', /--privileged takes no value/, 'create NAME'],
    ['create a --privileged --privileged', /--privileged is given twice/, 'create NAME'],
    ['create a --cap-add', /--cap-add needs a value/, 'create NAME'],
    ['create a --cap-add SYS_ADMN', /unknown capability "SYS_ADMN" \(did you mean SYS_ADMIN\?\)/, 'create NAME'],
    ['create a --cap-drop NET_RAW,', /empty capability name/, 'create NAME'],
    ['create a --seccomp off', /--seccomp "off": not a seccomp mode/, 'create NAME'],
    ['create a --seccomp default --seccomp unconfined', /--seccomp is given twice/, 'create NAME'],
    ['create a --privilegd', /unknown flag "--privilegd" \(did you mean --privileged\?\)/, 'create NAME'],
    ['create a extra', /unexpected argument "extra"/, 'create NAME'],
    ['create a foo=1', /unknown setting "foo"/, 'create NAME'],
    ['create a --hostname', /--hostname needs a value/, 'create NAME'],
    ['create a --pids', /--pids needs a value/, 'create NAME'],
    ['create a --memory 1k', /--memory 1k: too small/, 'create NAME'],
    ['create a memory=1k', /memory=1k: too small/, 'create NAME'],
    ['create a memory=2000000', /not a whole number of 4 KiB pages/, 'create NAME'],
    ['create a pids=0', /pids=0: a sandbox needs at least one process/, 'create NAME'],
    ['create a cpu-weight=0', /cpu-weight=0: out of range/, 'create NAME'],
    ['create a cpu-weight=abc', /cpu-weight=abc: not a whole number/, 'create NAME'],
    ['create a cpu-quota=500', /cpu-quota=500: out of range/, 'create NAME'],
    ['create a cpu-burst=lots', /cpu-burst=lots: not a percentage/, 'create NAME'],
    ['create a cpu-quota=30 cpu-burst=40', /--cpu-burst 40: more than the quota \(30% of one CPU\)/, 'create NAME'],
    ['create a cpus=7', /CPU 7 does not exist/, 'create NAME'],
    ['create a --hostname h --pid', /--hostname needs a UTS namespace/, 'create NAME'],
    ['create a --hostname -bad', /--hostname needs a value/, 'create NAME'],
    ['create a --hostname "bad host"', /not a valid hostname/, 'create NAME'],
    ['create a --rootfs host --pid', /a root filesystem needs a mount namespace/, 'create NAME'],
    ['create a --rootfs /nope', /--rootfs \/nope: no such directory/, 'create NAME'],
    ["create a 'oops", /unterminated quote/, 'create NAME'],
    ['start', /start: missing NAME/, 'start NAME'],
    ['start a b', /start: unexpected argument "b"/, 'start NAME'],
    ['start a --now', /start: unexpected flag "--now"/, 'start NAME'],
    ['stop A', /"A" is not a valid sandbox name/, 'stop NAME'],
    ['exec', /exec: missing NAME/, 'exec [-d] NAME'],
    ['exec a', /exec: missing CMD/, 'exec [-d] NAME'],
    ['exec -x a ls', /exec: unknown flag "-x"/, 'exec [-d] NAME'],
    ['exec -d -d a ls', /-d is given twice/, 'exec [-d] NAME'],
    ["exec a ''", /empty word/, 'exec [-d] NAME'],
    ['set', /set: missing NAME/, 'set NAME'],
    ['set a', /set: nothing to set/, 'set NAME'],
    ['set a cpu-weight', /not a setting "cpu-weight"/, 'set NAME'],
    ['set a cpu-wieght=5', /unknown setting "cpu-wieght" \(did you mean cpu-weight\?\)/, 'set NAME'],
    ['list all', /list: unexpected argument "all"/, 'list'],
    ['tree --all', /tree: unexpected flag "--all"/, 'tree'],
    ['exit now', /exit: unexpected argument "now"/, 'exit'],
    ['help nope', /help: no command "nope"/, 'help [COMMAND]'],
    ['exec a \x00', /NUL/, 'create | start'],
    [`list ${'x'.repeat(9000)}`, /too long/, 'create | start'],
  ];
  for (const [line, message, usage] of cases) {
    it(`${JSON.stringify(line.slice(0, 50))}`, () => {
      const e = bad(line);
      expect(e.message).toMatch(message);
      expect(e.message).not.toContain('\n');
      expect(e.usage.startsWith(usage)).toBe(true);
    });
  }

  it('shows control characters in a bad word instead of sending them to the terminal', () => {
    const e = bad('create \x1b[31mred');
    expect(e.message).toContain('\\x1b');
    expect(e.message).not.toContain('\x1b');
  });
});

describe('completion', () => {
  const names = { all: ['alpha', 'beta', 'web'], running: ['alpha'] };
  const words = (line: string) => complete(line, line.length, names).candidates;

  it('commands, then names that fit the command', () => {
    expect(words('')).toEqual([...COMMAND_NAMES].sort());
    expect(words('st')).toEqual(['start', 'stop']);
    expect(words('start ')).toEqual(['beta', 'web']); // not the running one
    expect(words('stop ')).toEqual(['alpha']);
    expect(words('inspect ')).toEqual(['alpha', 'beta', 'web']);
    expect(words('exec ')).toEqual(['-d', 'alpha']);
    expect(words('exec -d ')).toEqual(['alpha']);
    expect(words('exec alpha ')).toEqual([]);
    expect(words('help s')).toEqual(['set', 'start', 'stop']);
    expect(words('create ')).toEqual([]);
  });

  it('flags and settings not used yet, and --rootfs values', () => {
    expect(words('create x --p')).toEqual(['--pid', '--pids', '--privileged']);
    expect(words('create x --pid --p')).toEqual(['--pids', '--privileged']);
    expect(words('create x --privileged --p')).toEqual(['--pid', '--pids']);
    expect(words('create x --seccomp ')).toEqual(['default', 'unconfined']);
    expect(words('create x --cap-add SYS_A')).toEqual(['SYS_ADMIN']);
    // --cap-add and --cap-drop may repeat.
    expect(words('create x --cap-add NET_ADMIN --cap-a')).toEqual(['--cap-add']);
    expect(words('create x pids=5 p')).toEqual([]);
    expect(words('create x --rootfs ')).toEqual(['busybox', 'host', 'none']);
    expect(words('create x --rootfs /pro')).toEqual(['/proc/']);
    expect(words('set alpha ')).toEqual(['cpu-burst=', 'cpu-quota=', 'cpu-weight=', 'cpus=', 'io-rbps=', 'io-wbps=', 'io-weight=', 'memory-high=', 'memory=', 'pids=']);
    expect(words('set alpha cpu-weight=5 c')).toEqual(['cpu-burst=', 'cpu-quota=', 'cpus=']);
  });

  it('Tab: one candidate completes (with a space), several extend to their common prefix', () => {
    expect(applyCompletion('cre', 3, names)).toEqual({ line: 'create ', cursor: 7, shown: [] });
    expect(applyCompletion('set alpha cpu-w', 15, names)).toEqual({ line: 'set alpha cpu-weight=', cursor: 21, shown: [] });
    expect(applyCompletion('create x --pi', 13, names)).toEqual({ line: 'create x --pid', cursor: 14, shown: ['--pid', '--pids'] });
    expect(applyCompletion('inspect w', 9, names)).toEqual({ line: 'inspect web ', cursor: 12, shown: [] });
    expect(applyCompletion('zzz', 3, names)).toEqual({ line: 'zzz', cursor: 3, shown: [] });
    // in the middle of a line
    expect(applyCompletion('st alpha', 2, names)).toEqual({ line: 'st alpha', cursor: 2, shown: ['start', 'stop'] });
    expect(applyCompletion('sta alpha', 3, names)).toEqual({ line: 'start alpha', cursor: 6, shown: [] });
  });
});

describe('history', () => {
  it('walks back and forth, keeping the line being typed', () => {
    const saved: string[][] = [];
    const h = new History(['create a', 'start a'], (l) => saved.push([...l]));
    expect(h.previous('ps')).toBe('start a');
    expect(h.previous('ignored')).toBe('create a');
    expect(h.previous('ignored')).toBeNull();
    expect(h.next()).toBe('start a');
    expect(h.next()).toBe('ps');
    expect(h.next()).toBeNull();
    h.add('ps a');
    h.add('ps a'); // a repeat is not recorded twice
    h.add('   ');
    expect(h.entries).toEqual(['create a', 'start a', 'ps a']);
    expect(saved).toHaveLength(1);
  });

  it('keeps the last 500 lines', () => {
    const h = new History(Array.from({ length: 600 }, (_, i) => `l${i}`));
    expect(h.entries).toHaveLength(500);
    h.add('new');
    expect(h.entries[0]).toBe('l101');
    expect(h.entries.at(-1)).toBe('new');
  });
});

describe('help', () => {
  it('lists every command and explains each', () => {
    const text = helpLines().join('\n');
    for (const c of COMMAND_NAMES) expect(text).toContain(COMMANDS[c].summary);
    expect(ok('help enter')).toEqual({ kind: 'help', topic: 'enter' });
  });
});
