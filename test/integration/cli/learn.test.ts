/** `sandbox learn`, `lessons` and `reset` as a user runs them (the built dist/cli.js). */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { isRoot, leftovers } from '../../helpers/resources.js';

const CLI = path.resolve(import.meta.dirname, '../../../dist/cli.js');
let state: string;

beforeAll(() => {
  state = fs.mkdtempSync(path.join(os.tmpdir(), 'sandbox-learn-'));
});
afterAll(() => fs.rmSync(state, { recursive: true, force: true }));

function sandbox(args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, XDG_STATE_HOME: state } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('lessons and reset', () => {
  it('lessons --json lists the course with each status', () => {
    const r = sandbox(['lessons', '--json']);
    expect(r.code).toBe(0);
    const rows = JSON.parse(r.stdout);
    expect(rows[0]).toMatchObject({ id: 'pid-namespaces', status: 'new' });
  });

  it('an unknown lesson fails, lists the course and suggests the closest', () => {
    const r = sandbox(['learn', 'pid-namspaces']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('did you mean "pid-namespaces"');
    expect(r.stderr).toMatch(/pid-namespaces +PID namespaces/);
  });

  it('reset of an unknown lesson fails; of a known one says what it forgot', () => {
    expect(sandbox(['reset', 'nope']).code).toBe(2);
    expect(sandbox(['reset', 'pid-namespaces']).stdout).toMatch(/Nothing to forget/);
  });
});

describe.skipIf(!isRoot)('learn --auto --plain (needs root)', () => {
  it('runs pid-namespaces end to end: every check passes, exit 0, nothing left', () => {
    const r = sandbox(['learn', 'pid-namespaces', '--auto', '--plain']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/PID namespaces: (\d+) of \1 checks passed\. Lesson complete\./);
    expect(r.stdout).not.toMatch(/^\s*✗/m);
    expect(r.stdout).toMatch(/grep NSpid \/proc\/\d+\/status/);
    expect(leftovers()).toEqual([]);
  });

  it('does not touch the learner\'s progress', () => {
    expect(JSON.parse(sandbox(['lessons', '--json']).stdout)[0].status).toBe('new');
  });
});

const hasTmux = spawnSync('tmux', ['-V']).status === 0;

describe.skipIf(!isRoot || !hasTmux)('learn --plain in a terminal (tmux; needs root)', () => {
  const session = `sbx-plain-${process.pid}`;
  const tmux = (...a: string[]) => execFileSync('tmux', a, { encoding: 'utf8' });
  const screen = () => tmux('capture-pane', '-p', '-t', session, '-S', '-200');
  const waitFor = async (re: RegExp, ms = 20_000) => {
    const end = Date.now() + ms;
    while (!re.test(screen())) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${re}; screen:\n${screen()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const start = () =>
    tmux('new-session', '-d', '-s', session, '-x', '120', '-y', '40', `XDG_STATE_HOME=${state} ${process.execPath} ${CLI} learn pid-namespaces --plain; echo EXITED $?; sleep 60`);

  afterAll(() => {
    spawnSync('tmux', ['kill-session', '-t', session]);
  });

  it('quitting half-way keeps progress; starting again resumes at the same step', async () => {
    start();
    await waitFor(/Your prediction \(1-3/);
    tmux('send-keys', '-t', session, '2', 'Enter');
    await waitFor(/✓ One process, two numbers/);
    await waitFor(/Step 2\/\d+[\s\S]*Your prediction/);
    tmux('send-keys', '-t', session, 'q', 'Enter');
    await waitFor(/EXITED 0/);
    expect(screen()).toMatch(/sandbox learn pid-namespaces` resumes there/);
    expect(leftovers()).toEqual([]);
    const saved = JSON.parse(fs.readFileSync(path.join(state, 'sandbox', 'progress.json'), 'utf8'));
    expect(saved.lessons['pid-namespaces']).toMatchObject({ step: 1, done: ['pid1-inside'] });
    tmux('kill-session', '-t', session);

    start();
    await waitFor(/Resuming at step 2 of \d+/);
    await waitFor(/Step 2\/\d+: Joining a running sandbox/);
    tmux('send-keys', '-t', session, 'C-c');
    await waitFor(/Interrupted: the lesson's sandboxes were removed; your progress is kept/);
    await waitFor(/EXITED 130/);
    expect(leftovers()).toEqual([]);
  });
});
