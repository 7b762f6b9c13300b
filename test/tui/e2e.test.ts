/**
 * The real binary in a real terminal (tmux): `sandbox learn pid-namespaces` driven with the keys
 * the screen shows, read back with capture-pane. The whole lesson at 120×40; at 80×24, quitting
 * half-way, resuming (with the rebuilding screen), a resize, Ctrl-C, SIGTERM and the terminal
 * closing (SIGHUP). After each way out nothing of the lesson may remain and progress is kept.
 * Needs root (real namespaces) and tmux. Only the tmux sessions made here (unique names) are
 * killed.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { lesson } from '../../src/lessons/pid-namespaces/index.js';
import { isRoot, leftovers } from '../helpers/resources.js';

/** Steps in the lesson (guided steps, then challenges). */
const N = lesson.steps.length;
const CLI = path.resolve(import.meta.dirname, '../../dist/cli.js');
const hasTmux = spawnSync('tmux', ['-V']).status === 0;
const sessions: string[] = [];
let state: string;

const tmux = (...args: string[]) => execFileSync('tmux', args, { encoding: 'utf8' });

/**
 * Starts the lesson in a new tmux session of our own (unique name). The pane's shell runs it and
 * writes its exit status to a file: tmux's own #{pane_dead_status} is not reliable here (tmux
 * 3.3 sometimes leaves a pane's process unreaped while it waits for another child of its own).
 */
function start(cols: number, rows: number): string {
  const name = `sbx-tui-e2e-${process.pid}-${sessions.length}`;
  sessions.push(name);
  fs.rmSync(statusFile(name), { force: true });
  // env -u CI: draw as in a learner's terminal.
  tmux(
    'new-session', '-d', '-s', name, '-x', String(cols), '-y', String(rows), '-e', `XDG_STATE_HOME=${state}`,
    `env -u CI -u CONTINUOUS_INTEGRATION ${process.execPath} ${CLI} learn pid-namespaces; echo $? > ${statusFile(name)}`,
    ';', 'set-option', '-t', name, 'remain-on-exit', 'on',
  );
  return name;
}

const statusFile = (name: string) => path.join(os.tmpdir(), `${name}.status`);

/** The lesson's node process: the child of the pane's shell. */
function lessonPid(name: string): number {
  const shell = tmux('display', '-p', '-t', name, '#{pane_pid}').trim();
  const pid = Number(execFileSync('ps', ['--ppid', shell, '-o', 'pid='], { encoding: 'utf8' }).trim().split('\n')[0]);
  expect(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8')).toContain('learn\0pid-namespaces');
  return pid;
}

const screen = (name: string) => tmux('capture-pane', '-p', '-t', name);
const history = (name: string) => tmux('capture-pane', '-p', '-S', '-100', '-t', name);

async function waitFor(name: string, re: RegExp, ms = 60_000, every = 100): Promise<string> {
  const end = Date.now() + ms;
  for (;;) {
    const s = screen(name);
    if (re.test(s)) return s;
    if (Date.now() > end) throw new Error(`timed out waiting for ${re}; screen:\n${s}`);
    await new Promise((r) => setTimeout(r, every));
  }
}

const keys = (name: string, ...k: string[]) => tmux('send-keys', '-t', name, ...k);

/** Waits for the lesson to end; returns its exit status and the screen left behind. */
async function exited(name: string, ms = 30_000): Promise<{ status: number; screen: string }> {
  const end = Date.now() + ms;
  for (;;) {
    // (The shell creates the file before it writes the status: an empty file is not done yet.)
    const text = fs.existsSync(statusFile(name)) ? fs.readFileSync(statusFile(name), 'utf8').trim() : '';
    if (text !== '') {
      const status = Number(text);
      // The main screen is back: the exit message is on it (the top rows may be in the history).
      return { status, screen: history(name) };
    }
    if (Date.now() > end) throw new Error(`still running; screen:\n${screen(name)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function progress(): { step: number; done: string[]; completed: boolean } | undefined {
  try {
    return JSON.parse(fs.readFileSync(path.join(state, 'sandbox', 'progress.json'), 'utf8')).lessons['pid-namespaces'];
  } catch {
    return undefined;
  }
}

/** What is on screen while step i's prediction is asked: the choice keys, or (a number) its question. */
const asking = (i: number) => (lesson.steps[i].prediction?.number ? /type a number/ : /1-3 predict/);

/** Answers step i's prediction with the right choice (or types the right number) and waits for its checks to pass. */
async function doStep(name: string, i: number): Promise<string> {
  const step = lesson.steps[i];
  await waitFor(name, new RegExp(`Step ${i + 1}: ${step.title.replace(/[()]/g, '.')}`));
  await waitFor(name, asking(i));
  if (step.prediction!.number) {
    keys(name, '-l', String(step.prediction!.answer));
    keys(name, 'Enter');
  } else keys(name, String(step.prediction!.answer + 1));
  const n = step.checks.length;
  return waitFor(name, new RegExp(`Checks against the kernel ${n}/${n} passed[\\s\\S]*enter (next step|finish)`), 90_000);
}

beforeAll(() => {
  state = fs.mkdtempSync(path.join(os.tmpdir(), 'sandbox-tui-e2e-'));
});

afterAll(() => {
  for (const s of sessions) {
    spawnSync('tmux', ['kill-session', '-t', s]);
    fs.rmSync(statusFile(s), { force: true });
  }
  fs.rmSync(state, { recursive: true, force: true });
});

describe.skipIf(!isRoot || !hasTmux)('sandbox learn pid-namespaces on the full screen (tmux; needs root)', () => {
  it('walks the whole lesson at 120×40 with the keys on screen, and completes it', async () => {
    fs.rmSync(path.join(state, 'sandbox'), { recursive: true, force: true });
    const name = start(120, 40);
    const intro = await waitFor(name, /Press enter to start/);
    expect(intro).toMatch(/^ sandbox learn {2}PID namespaces/);
    expect(intro).toContain('enter start the lesson · q quit · ? keys');
    keys(name, 'Enter');
    for (let i = 0; i < lesson.steps.length; i++) {
      if (lesson.steps[i].challenge) {
        // Challenges are typed in a shell (test/tui/challenges-tmux.test.ts): skipped here.
        await waitFor(name, new RegExp(`Step ${i + 1}: [\\s\\S]*s shell ·[\\s\\S]*k skip`));
        keys(name, 'k');
        continue;
      }
      const s = await doStep(name, i);
      expect(s).toMatch(new RegExp(`step ${i + 1}/${N}`));
      expect(s).not.toMatch(/✗/);
      if (lesson.steps[i].view?.title.startsWith('Processes')) {
        // a tree row with the host PID and the PID inside: sleep(4711)(1)
        expect(s).toMatch(/\w+\(\d+\)\(1\)/);
        expect(s).toMatch(/PID namespaces: ▌[a-e]\b/); // a legend entry per sandbox (ordered by PID, which can wrap)
      } else {
        expect(s).toMatch(/host PID +level 1 +level 2 +level 3/);
      }
      // (in two columns the verdict can wrap past the right column's text)
      expect(s).toMatch(/You predicted:? [\s\S]{0,600}?right/);
      expect(s).not.toContain('the kernel did');
      expect(s.split('\n')[0]).toMatch(/^ sandbox learn/);
      keys(name, 'Enter');
    }
    const summary = await waitFor(name, /Lesson complete: PID namespaces/);
    // Every guided step's checks, counted from the lesson (challenges count as challenges).
    const checks = lesson.steps.reduce((n, st) => n + (st.challenge ? 0 : st.checks.length), 0);
    expect(summary).toMatch(new RegExp(`checks passed: +${checks} of ${checks} \\(all of them\\)`));
    expect(summary).toMatch(/predictions right: 7 of 7/);
    expect(summary).toMatch(/challenges done: +0 of 2 \(2 skipped\)/);
    keys(name, 'Enter');
    const end = await exited(name);
    expect(end.status, end.screen).toBe(0);
    expect(end.screen, end.screen).toContain(`PID namespaces: lesson complete (${checks} of ${checks} checks passed; 7/7 predictions right; 0/2 challenges done, 2 skipped).`);
    expect(end.screen, end.screen).toContain("All of this lesson's sandboxes were removed.");
    expect(progress()).toMatchObject({ completed: true, done: lesson.steps.filter((s) => !s.challenge).map((s) => s.id) });
    expect(leftovers()).toEqual([]);
  }, 300_000);

  it('at 80×24: quit half-way, resume at the same step, resize, Ctrl-C, SIGTERM, terminal closed: nothing left each time', async () => {
    fs.rmSync(path.join(state, 'sandbox'), { recursive: true, force: true });
    let name = start(80, 24);
    await waitFor(name, /enter start the lesson/); // (at 80×24 the intro text is cut before its last line)
    keys(name, 'Enter');
    for (let i = 0; i < 3; i++) {
      const s = await doStep(name, i);
      expect(s.replace(/\n$/, '').split('\n').length).toBeLessThanOrEqual(24);
      keys(name, 'Enter');
    }
    await waitFor(name, new RegExp(`Step 4: Three levels deep[\\s\\S]*${asking(3).source}`));
    keys(name, 'q');
    let end = await exited(name);
    expect(end.status, end.screen).toBe(0);
    expect(end.screen, end.screen).toContain(`Stopped at step 4 of ${N}; \`sandbox learn pid-namespaces\` resumes there.`);
    expect(progress()).toMatchObject({ step: 3, done: ['pid1-inside', 'same-process-two-pids', 'side-by-side'], completed: false });
    expect(leftovers()).toEqual([]);

    // Again: it rebuilds steps 1-3 (on screen), then asks step 4's question.
    name = start(80, 24);
    const rebuilding = await waitFor(name, /Rebuilding the sandboxes of steps 1–3|Resumed at step 4/, 60_000, 20);
    expect(rebuilding).toMatch(new RegExp(`Resuming at step 4 of ${N}|Resumed at step 4: the sandboxes of steps 1–3 were rebuilt`));
    const resumed = await waitFor(name, new RegExp(`Step 4: Three levels deep[\\s\\S]*${asking(3).source}`));
    expect(resumed).toContain('Resumed at step 4: the sandboxes of steps 1–3 were rebuilt.');
    expect(resumed).toMatch(new RegExp(`step 4/${N} {2}■■■▣${'□'.repeat(N - 4)}`));

    // A resize redraws cleanly: one header, at the top.
    tmux('resize-window', '-t', name, '-x', '120', '-y', '40');
    await new Promise((r) => setTimeout(r, 500));
    const big = await waitFor(name, /Step 4: Three levels deep/);
    expect(big.split('\n')[0]).toMatch(new RegExp(`^ sandbox learn {2}PID namespaces {20,}step 4/${N}`));
    expect(big.match(/sandbox learn/g)).toHaveLength(1);
    tmux('resize-window', '-t', name, '-x', '70', '-y', '20');
    await waitFor(name, /The terminal is 70×20; this screen needs 80×24/);
    tmux('resize-window', '-t', name, '-x', '80', '-y', '24');
    await waitFor(name, /Step 4: Three levels deep/);

    keys(name, 'C-c');
    end = await exited(name);
    expect(end.status, end.screen).toBe(130);
    expect(end.screen, end.screen).toContain('Interrupted: your progress is kept.');
    expect(progress()).toMatchObject({ step: 3 });
    expect(leftovers()).toEqual([]);

    // SIGTERM to the node process: the same.
    name = start(80, 24);
    await waitFor(name, new RegExp(`Step 4: Three levels deep[\\s\\S]*${asking(3).source}`));
    process.kill(lessonPid(name), 'SIGTERM');
    end = await exited(name);
    expect(end.status, end.screen).toBe(143);
    expect(end.screen, end.screen).toContain('Stopped by SIGTERM: your progress is kept.');
    expect(progress()).toMatchObject({ step: 3 });
    expect(leftovers()).toEqual([]);

    // The terminal goes away (SIGHUP to the process group, writes fail): the same.
    name = start(80, 24);
    await waitFor(name, new RegExp(`Step 4: Three levels deep[\\s\\S]*${asking(3).source}`));
    const pid = lessonPid(name);
    tmux('kill-session', '-t', name);
    const until = Date.now() + 30_000;
    while (fs.existsSync(`/proc/${pid}`) && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    expect(fs.existsSync(`/proc/${pid}`)).toBe(false);
    expect(progress()).toMatchObject({ step: 3 });
    expect(leftovers()).toEqual([]);
  }, 300_000);
});
