/**
 * A corrupt progress file through the real CLI (dist/cli.js): `lessons` and `learn` neither crash
 * nor show a nonsense step; the bad file is kept aside and the message says where.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { isRoot, leftovers } from '../../helpers/resources.js';

const CLI = path.resolve(import.meta.dirname, '../../../dist/cli.js');
const hasScript = spawnSync('script', ['--version']).status === 0;
let state: string;
let file: string;

beforeEach(() => {
  state = fs.mkdtempSync(path.join(os.tmpdir(), 'sandbox-progress-cli-'));
  fs.mkdirSync(path.join(state, 'sandbox'));
  file = path.join(state, 'sandbox', 'progress.json');
});
afterEach(() => fs.rmSync(state, { recursive: true, force: true }));

const env = () => {
  const e: NodeJS.ProcessEnv = { ...process.env, XDG_STATE_HOME: state, NO_COLOR: '1' };
  delete e.SUDO_USER;
  return e;
};
const entry = (over: Record<string, unknown>) => ({ step: 1, done: [], completed: false, predictions: {}, updated: 'x', ...over });
const backups = () => fs.readdirSync(path.join(state, 'sandbox')).filter((f) => f.startsWith('progress.json.bad-'));

describe('a corrupt progress file', () => {
  it('`lessons` shows no "step -4", says what was wrong and where the bad file is kept', () => {
    fs.writeFileSync(file, JSON.stringify({ version: 1, lessons: { 'pid-namespaces': entry({ step: -5 }), 'fork-bomb': entry({ predictions: null }) } }));
    const r = spawnSync(process.execPath, [CLI, 'lessons'], { encoding: 'utf8', env: env(), timeout: 30_000 });
    expect(r.status).toBe(0);
    expect(r.stdout).not.toMatch(/step -|in progress/);
    expect(r.stderr).toMatch(/"pid-namespaces": step -5 is out of range; "fork-bomb": "predictions" is not an object\); it is kept as .*progress\.json\.bad-/);
    expect(r.stderr).not.toMatch(/at .*\.js:\d+/); // no stack trace
    expect(backups()).toHaveLength(1);
  });

  it.skipIf(!isRoot || !hasScript)('`learn` starts the lesson afresh with a one-line message (needs root)', () => {
    fs.writeFileSync(file, JSON.stringify({ version: 1, lessons: { 'uts-ipc-namespaces': entry({ step: 40, done: ['two-hostnames'] }) } }));
    // A pty with no input: the lesson starts, asks its first question, and stops at end of input.
    const r = spawnSync('script', ['-qec', `${process.execPath} ${CLI} learn uts-ipc-namespaces --plain`, '/dev/null'], {
      encoding: 'utf8',
      env: env(),
      input: '',
      timeout: 60_000,
    });
    const out = r.stdout.replace(/\r/g, '');
    expect(out).toMatch(/"uts-ipc-namespaces": step 41 of a \d+-step lesson\); it is kept as .*; "uts-ipc-namespaces" starts afresh\./);
    expect(out).not.toMatch(/Resuming/);
    expect(out).toMatch(/Step 1\/\d+/);
    expect(out).not.toMatch(/This looks like a bug/);
    expect(backups()).toHaveLength(1);
    expect(leftovers()).toEqual([]);
  });
});
