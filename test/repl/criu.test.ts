/**
 * The REPL's checkpoint / restore / migrate (issue 15). Parse errors and completion run
 * everywhere; the script (`sandbox repl --plain < script`) runs where `criu check` passes (the
 * v2 guest: Debian 12's CRIU 3.17 on kernel 6.1) and, elsewhere, proves the one-line error that
 * names the fix (issue 15's finding: CRIU 3.17 fails on kernel 6.18, "vdso: Unexpected rt vDSO
 * area bounds").
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { describe, expect, it } from 'vitest';

import { complete } from '../../src/repl/complete.js';
import { commandHelpLines } from '../../src/repl/commands.js';
import { type ParseContext, parseLine } from '../../src/repl/parse.js';
import { criuStatus } from '../../src/runtime/criu.js';
import { isRoot, leftovers } from '../helpers/resources.js';

const ctx: ParseContext = { cpus: [0], parseRootfs: () => ({ kind: 'host' }) };

function bad(line: string): string {
  const p = parseLine(line, ctx);
  if (p.kind !== 'error') throw new Error(`accepted: ${line}`);
  return `${p.error.message}${p.error.hint ? ` | ${p.error.hint}` : ''}`;
}

describe('checkpoint / restore / migrate: parsing and completion', () => {
  it('parses the three verbs', () => {
    expect(parseLine('checkpoint web', ctx)).toEqual({ kind: 'command', command: { kind: 'checkpoint', name: 'web', leaveRunning: false } });
    expect(parseLine('checkpoint web --leave-running', ctx)).toEqual({ kind: 'command', command: { kind: 'checkpoint', name: 'web', leaveRunning: true } });
    expect(parseLine('restore web', ctx)).toEqual({ kind: 'command', command: { kind: 'restore', name: 'web' } });
    expect(parseLine('migrate web web2', ctx)).toEqual({ kind: 'command', command: { kind: 'migrate', name: 'web', newName: 'web2' } });
  });
  it('refuses bad input with what to do', () => {
    expect(bad('checkpoint')).toBe('checkpoint: missing NAME');
    expect(bad('checkpoint web --leave-runing')).toBe('checkpoint: unknown flag "--leave-runing" (did you mean --leave-running?)');
    expect(bad('checkpoint web --leave-running --leave-running')).toBe('checkpoint: --leave-running is given twice');
    expect(bad('checkpoint web extra')).toBe('checkpoint: unexpected argument "extra"');
    expect(bad('restore')).toBe('restore: missing NAME');
    expect(bad('restore web web2')).toBe('restore: unexpected argument "web2"');
    expect(bad('restore Web')).toContain('is not a valid sandbox name');
    expect(bad('migrate web')).toContain('migrate: missing NEWNAME | ');
    expect(bad('migrate web web')).toContain('migrate: NEWNAME is web itself');
    expect(bad('migrate web BAD!')).toContain('"BAD!" is not a valid sandbox name');
    expect(bad('migrate web ledger')).toContain('reserved');
    expect(bad('migrate web --fast')).toBe('migrate: unknown flag "--fast"');
    expect(bad('migrate web w2 w3')).toBe('migrate: unexpected argument "w3"');
  });
  it('completes names and the flag, and has help', () => {
    const names = { all: ['a', 'b'], running: ['a'] };
    expect(complete('checkpoint ', 11, names).candidates).toEqual(['a']);
    expect(complete('checkpoint a --', 15, names).candidates).toEqual(['--leave-running']);
    expect(complete('restore ', 8, names).candidates).toEqual(['a', 'b']);
    expect(complete('migrate ', 8, names).candidates).toEqual(['a']);
    expect(complete('che', 3, names).candidates).toEqual(['checkpoint']);
    expect(commandHelpLines('checkpoint').join('\n')).toContain('criu dump -t <PID 1>');
  });
});

const CLI = path.resolve(import.meta.dirname, '../../dist/cli.js');
const works = isRoot && criuStatus({ timeoutMs: 60_000 }).works;

function repl(input: string) {
  const state = fs.mkdtempSync(path.join(os.tmpdir(), 'sandbox-criu-repl-'));
  try {
    const r = spawnSync(process.execPath, [CLI, 'repl', '--plain'], { input, encoding: 'utf8', timeout: 600_000, env: { ...process.env, XDG_STATE_HOME: state, NO_COLOR: '1' } });
    return { code: r.status, out: `${r.stdout}\n${r.stderr}` };
  } finally {
    fs.rmSync(state, { recursive: true, force: true });
  }
}

// The counter must be a descendant of PID 1 (CRIU dumps the tree under it): the outer sh exits,
// the inner one is adopted by sandbox-init, in a session of its own, with stdio inside.
// Without --mount: the REPL's PID 1 (sandbox-init) is the host's file, which CRIU finds only in
// the host's mount namespace. --privileged: without a mount namespace the tasks see the host's
// /proc, and CRIU's parasite needs CAP_SYS_ADMIN to mount one of their PID namespace. The
// counter's file is in a directory of the test's.
const COUNTER = (file: string) =>
  `exec ck sh -c 'setsid sh -c "i=0; while :; do i=\\$((i+1)); echo \\$i > ${file}; sleep 0.1; done" </dev/null >/dev/null 2>&1 &'`;

describe.skipIf(!isRoot)('checkpoint in the REPL (needs root)', () => {
  it.skipIf(!works)('create, start, counter, checkpoint, destroy, restore: the counter goes on; migrate; nothing left (where criu check passes)', () => {
    const before = leftovers();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sandbox-criu-counter-'));
    const c = `${dir}/c`;
    let r;
    try {
      r = repl(
        [
          'create ck --pid --uts --privileged pids=40',
          'start ck',
          COUNTER(c),
          `exec ck sh -c 'sleep 1; cat ${c}'`,
          'checkpoint ck',
          'destroy ck',
          'restore ck',
          `exec ck sh -c 'sleep 0.5; cat ${c}; grep NSpid /proc/1/status'`,
          'migrate ck ck2',
          `exec ck2 sh -c 'cat ${c}'`,
          'inspect ck2',
          'destroy ck2',
          '',
        ].join('\n'),
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    console.log(r.out);
    expect(r.out).toMatch(/checkpointed ck: \d+ image files, [\d.]+ ?\w+ in \/run\/sandbox\/ck\/images \(criu dump -t \d+: \d+ ms\)/);
    expect(r.out).toMatch(/restored ck: host PID \d+ = PID 1 inside/);
    const values = [...r.out.matchAll(/^(\d+)$/gm)].map((m) => Number(m[1]));
    expect(values.length).toBeGreaterThanOrEqual(3);
    expect(values[1]).toBeGreaterThanOrEqual(values[0]); // after restore ≥ at checkpoint
    expect(values[2]).toBeGreaterThanOrEqual(values[1]); // after migrate
    expect(r.out).toMatch(/NSpid:\s+1$/m); // PID 1 inside is PID 1 again
    expect(r.out).toMatch(/migrated ck -> ck2: dump \d+ ms \+ copy \d+ ms \+ restore \d+ ms/);
    expect(r.out).not.toContain('error:');
    expect(r.code).toBe(0);
    expect(leftovers().filter((l) => !before.includes(l))).toEqual([]);
  }, 600_000);

  it.skipIf(works)('where CRIU cannot run, checkpoint says why in one line, with the fix, and changes nothing (issue 15: vDSO)', () => {
    const before = leftovers();
    const r = repl(['create ck --pid --mount', 'start ck', 'checkpoint ck', 'exec ck true', 'restore ck', ''].join('\n'));
    const st = criuStatus();
    expect(r.out).toContain(`error: ${st.installed ? st.detail : 'criu is not installed'}`);
    expect(r.out).toContain(st.installed ? `hint: ${st.fix}` : 'sudo apt-get install criu');
    expect(r.out).toContain('(exit code 0)'); // ck still runs
    expect(r.out).toContain('error: restore: ck is running');
    expect(leftovers().filter((l) => !before.includes(l))).toEqual([]);
  }, 120_000);
});
