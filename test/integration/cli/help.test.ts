/**
 * Help text and the course listing as a user reads them (issue 13, item 6), through the built
 * dist/cli.js with stdout a pipe (commander then wraps at 80 columns): `learn --help` describes
 * learn and lists the lessons from the manifest; no help line is wider than 80 columns or breaks
 * mid-sentence; `sandbox lessons` says what is left, not "Start one with" once everything is done.
 * No root needed.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { COURSE } from '../../../src/lessons/manifest.js';

const CLI = path.resolve(import.meta.dirname, '../../../dist/cli.js');
let state: string;

beforeEach(() => {
  state = fs.mkdtempSync(path.join(os.tmpdir(), 'sandbox-help-'));
});
afterEach(() => fs.rmSync(state, { recursive: true, force: true }));

function sandbox(args: string[]) {
  const env: NodeJS.ProcessEnv = { ...process.env, XDG_STATE_HOME: state, COLUMNS: '80' };
  delete env.SUDO_USER;
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000, env });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The description: the lines between "Usage:" and the first section ("Arguments:", "Options:"…). */
function description(help: string): string[] {
  const lines = help.split('\n');
  const end = lines.findIndex((l, i) => i > 0 && /^[A-Z][a-z]+:$/.test(l));
  return lines.slice(1, end).filter((l, i, all) => l.trim() || (i > 0 && all[i - 1].trim()));
}

describe('help text', () => {
  it('learn --help says what learn does and lists every lesson of the manifest, in order', () => {
    const r = sandbox(['learn', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/A guided lesson, live on this machine: each step asks you to predict/);
    expect(r.stdout).toMatch(/resumes\s+where you stopped/);
    const listed = r.stdout.slice(r.stdout.indexOf('Lessons, in teaching order'));
    let at = 0;
    for (const e of COURSE) {
      const m = new RegExp(`^ {2}${e.id} +${e.title.replace(/[()]/g, '.')}$`, 'm').exec(listed.slice(at));
      expect(m, `${e.id} is listed after the one before it:\n${listed}`).not.toBeNull();
      at += m!.index + m![0].length;
    }
  });

  it.each([[[]], [['run']], [['cleanup']], [['learn']], [['lessons']], [['repl']], [['doctor']], [['new-lesson']], [['check-lesson']]])('%j --help: no line wider than 80 columns, no line broken mid-sentence', (cmd) => {
    const r = sandbox([...cmd, '--help']);
    expect(r.code).toBe(0);
    for (const l of r.stdout.split('\n')) expect([...l].length, l).toBeLessThanOrEqual(80);
    // A description line followed by another is either wrapped near the width or ends a sentence.
    const desc = description(r.stdout);
    desc.forEach((l, i) => {
      if (i + 1 < desc.length && desc[i + 1].trim() && l.trim()) expect(l.length >= 60 || /[.:;)]$/.test(l), `"${l}" breaks a sentence`).toBe(true);
    });
  });

  it('the check above catches a sentence broken by a hard line break (the old run --help)', () => {
    const old = 'Usage: sandbox run\n\nRun COMMAND in a new sandbox: the namespaces you ask for, its own cgroup (for\nlimits), and, with a\nmount namespace, its own root filesystem.\n\nOptions:\n';
    const desc = description(old);
    expect(desc.some((l, i) => i + 1 < desc.length && desc[i + 1].trim() && l.trim() && !(l.length >= 60 || /[.:;)]$/.test(l)))).toBe(true);
  });
});

describe('sandbox lessons: what to do next', () => {
  function writeProgress(lessons: Record<string, unknown>) {
    fs.mkdirSync(path.join(state, 'sandbox'), { recursive: true });
    fs.writeFileSync(path.join(state, 'sandbox', 'progress.json'), JSON.stringify({ version: 1, lessons }));
  }
  const completed = (challengeState: (id: string, k: number) => 'done' | 'skipped') =>
    Object.fromEntries(
      COURSE.map((e) => [
        e.id,
        {
          step: 0,
          done: [],
          completed: true,
          predictions: {},
          challenges: Object.fromEntries(e.challenges.map((c, k) => [c, { state: challengeState(e.id, k), answered: [] }])),
          updated: new Date().toISOString(),
        },
      ]),
    );

  it('with nothing done: start with the first lesson', () => {
    const r = sandbox(['lessons']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`Start one with: sudo sandbox learn ${COURSE[0].id}`);
  });

  it('a lesson in progress: continue it, at its step', () => {
    writeProgress({ [COURSE[0].id]: { step: 3, done: [], completed: false, predictions: {}, updated: new Date().toISOString() } });
    expect(sandbox(['lessons']).stdout).toContain(`Continue with: sudo sandbox learn ${COURSE[0].id} (it resumes at step 4)`);
  });

  it('every lesson and challenge done: all done, try the REPL; never "Start one with"', () => {
    writeProgress(completed(() => 'done'));
    const r = sandbox(['lessons']);
    expect(r.stderr).toBe('');
    expect(r.stdout).not.toMatch(/Start one with|Next:/);
    expect(r.stdout).toContain('All done: every lesson and every challenge. Explore freely: sudo sandbox repl');
  });

  it('every lesson done but challenges skipped: says how many, where, and how to do them', () => {
    const withChallenges = COURSE.filter((e) => e.challenges.length);
    const skipIn = withChallenges.slice(0, 2).map((e) => e.id);
    writeProgress(completed((id, k) => (skipIn.includes(id) && k === 0 ? 'skipped' : 'done')));
    const r = sandbox(['lessons']);
    expect(r.stdout).not.toMatch(/Start one with|All done/);
    expect(r.stdout).toContain(`Every lesson is complete; 2 challenges are not done yet (2 skipped), in ${skipIn.join(', ')}.`);
    expect(r.stdout).toContain(`sudo sandbox learn ${skipIn[0]} goes through that lesson again, its challenges included`);
  });
});
