/**
 * The trust store of lesson folders (src/lessons/folder/trust.ts): the user's own file, so read
 * as the user, bounded, never through a link; a file that cannot be used means "nothing trusted"
 * (the question comes again), never "everything trusted". Through the built CLI where a command
 * reaches it. None of these runs a lesson: each stops at the question (no terminal: exit 2).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { parseTrust } from '../../../src/lessons/folder/trust.js';
import { isRoot, leftovers } from '../../helpers/resources.js';

const ROOT = path.resolve(import.meta.dirname, '../../..');
const CLI = path.join(ROOT, 'dist/cli.js');
let top: string;

beforeAll(() => {
  top = fs.mkdtempSync(path.join(os.tmpdir(), 'sandbox-lesson-trust-'));
});
afterAll(() => fs.rmSync(top, { recursive: true, force: true }));

function sandbox(args: string[], cwd: string, state: string) {
  const env: NodeJS.ProcessEnv = { ...process.env, XDG_STATE_HOME: state, NO_COLOR: '1' };
  delete env.SUDO_USER;
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: 'utf8', timeout: 120_000, env, input: '' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const HASH = 'a'.repeat(64);

describe('parseTrust', () => {
  it('keeps valid entries only: absolute paths, sha256 hashes; a file of another shape is not valid at all', () => {
    const text = JSON.stringify({
      version: 1,
      folders: {
        '/home/x/demo': { hash: HASH, at: '2026-01-01T00:00:00Z' },
        'relative/demo': { hash: HASH, at: 'x' },
        '/home/x/short': { hash: 'abc', at: 'x' },
        '/home/x/upper': { hash: 'A'.repeat(64), at: 'x' },
        '/home/x/\nnewline': { hash: HASH, at: 'x' },
        '/home/x/noat': { hash: HASH },
      },
    }).replace('"folders":{', `"folders":{"__proto__":{"hash":"${HASH}","at":"x"},`);
    expect(text).toContain('"__proto__"');
    const t = parseTrust(text)!;
    expect(Object.keys(t)).toEqual(['/home/x/demo']);
    expect(Object.getPrototypeOf(t)).toBeNull();
    expect(parseTrust('not json')).toBeNull();
    expect(parseTrust(JSON.stringify({ version: 2, folders: {} }))).toBeNull();
    expect(parseTrust(JSON.stringify({ version: 1, folders: [] }))).toBeNull();
    const many = Object.fromEntries(Array.from({ length: 401 }, (_, i) => [`/d/${i}`, { hash: HASH, at: 'x' }]));
    expect(parseTrust(JSON.stringify({ version: 1, folders: many }))).toBeNull();
  });
});

describe.skipIf(!isRoot)('the trust file through the CLI (needs root: learn checks for it first)', () => {
  it('a trust file that is a link is not read or written through: the folder is asked about again (exit 2), the target unchanged', () => {
    const was = leftovers();
    const cwd = fs.mkdtempSync(path.join(top, 'link-'));
    const state = path.join(cwd, 'state');
    expect(sandbox(['new-lesson', 'demo'], cwd, state).code).toBe(0);
    const real = fs.realpathSync(path.join(cwd, 'demo'));
    const file = path.join(state, 'sandbox', 'trusted-lessons.json');
    // The target says "trusted" for this folder: root reading it through the link would skip the question.
    const target = path.join(top, `root-only-${process.pid}`);
    fs.writeFileSync(target, fs.readFileSync(file), { mode: 0o600 });
    const before = fs.readFileSync(target, 'utf8');
    expect(JSON.parse(before).folders[real]).toBeDefined();
    fs.rmSync(file);
    fs.symlinkSync(target, file);
    const r = sandbox(['learn', './demo', '--auto', '--plain'], cwd, state);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/warning: your earlier answers are not read: refusing to use .*trusted-lessons\.json: it is a symbolic link/);
    expect(r.stderr).toMatch(/there is no terminal to ask on/);
    expect(fs.readFileSync(target, 'utf8')).toBe(before);
    expect(fs.lstatSync(file).isSymbolicLink()).toBe(true);
    expect(leftovers()).toEqual(was);
  });

  it('a trust file that is not valid JSON is kept aside, and the folder is asked about again', () => {
    const cwd = fs.mkdtempSync(path.join(top, 'bad-'));
    const state = path.join(cwd, 'state');
    expect(sandbox(['new-lesson', 'demo'], cwd, state).code).toBe(0);
    const dir = path.join(state, 'sandbox');
    fs.writeFileSync(path.join(dir, 'trusted-lessons.json'), '{"version": 1, "folders": {');
    const r = sandbox(['learn', './demo', '--auto', '--plain'], cwd, state);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/has not been run by you on this machine before/);
    expect(fs.readdirSync(dir).filter((f) => f.startsWith('trusted-lessons.json.bad-'))).toHaveLength(1);
  });

  it('an entry for the folder with another hash (the lesson as it was) does not trust the lesson as it is', () => {
    const cwd = fs.mkdtempSync(path.join(top, 'hash-'));
    const state = path.join(cwd, 'state');
    expect(sandbox(['new-lesson', 'demo'], cwd, state).code).toBe(0);
    const file = path.join(state, 'sandbox', 'trusted-lessons.json');
    const t = JSON.parse(fs.readFileSync(file, 'utf8'));
    const real = fs.realpathSync(path.join(cwd, 'demo'));
    t.folders[real].hash = HASH;
    fs.writeFileSync(file, JSON.stringify(t));
    const r = sandbox(['check-lesson', 'demo'], cwd, state);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/has changed since you said yes to it/);
  });
});
