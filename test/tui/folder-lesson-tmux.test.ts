/**
 * A lesson from a folder, run interactively to the end on the full screen, in a real terminal
 * (tmux on a private server socket of this test run; issue 16, acceptance 4): the skeleton that
 * `sandbox new-lesson` writes, copied to a folder never run before, so the one-time question
 * comes first (every line it runs, with file:line; answered y, and remembered). Then the intro, a
 * prediction, the guided step's checks ticked, a challenge worked in the `s` shell (a wrong first
 * attempt brings the lesson's conditional hint, the right one ticks the check), a typed answer
 * read from "any terminal" (this test, reading the cgroup), the summary, exit 0; progress saved
 * under the folder's own key; nothing left on the host. Needs root and tmux.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { acquireLessonLock, releaseLessonLock } from '../helpers/lesson-lock.js';
import { isRoot, leftovers } from '../helpers/resources.js';
import { sleep } from '../helpers/wait.js';

const CLI = path.resolve(import.meta.dirname, '../../dist/cli.js');
const hasTmux = spawnSync('tmux', ['-V']).status === 0;
const SOCKET = `sbx-folder-test-${process.pid}`;
const SESSION = 'folder';

const tmux = (...a: string[]) => execFileSync('tmux', ['-L', SOCKET, ...a], { encoding: 'utf8' });
const screen = () => tmux('capture-pane', '-p', '-t', SESSION);

async function waitFor(what: RegExp | ((s: string) => boolean), ms = 60_000): Promise<string> {
  const test = typeof what === 'function' ? what : (s: string) => what.test(s);
  const t0 = Date.now();
  for (;;) {
    const s = screen();
    if (test(s)) return s;
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}; screen:\n${s}`);
    await sleep(100);
  }
}

const keys = (...k: string[]) => tmux('send-keys', '-t', SESSION, ...k);
function type(text: string): void {
  tmux('send-keys', '-t', SESSION, '-l', text);
  tmux('send-keys', '-t', SESSION, 'Enter');
}

let marks = 0;
/** Types lines into the challenge shell, each done once the shell echoed a mark after it. */
async function run(lines: string[]): Promise<void> {
  for (const l of lines) {
    type(l);
    const mark = `MARK-${++marks}`;
    type(`echo ${mark}`);
    await waitFor(new RegExp(`^${mark}$`, 'm'));
  }
}

/** A variable as the challenge screen shows it: "$C_CG  /sys/fs/cgroup/pids/sandbox/demo-c". */
function varOf(s: string, name: string): string {
  const m = new RegExp(`\\$${name} +=? *(/\\S+)`).exec(s);
  expect(m, `$${name} on screen:\n${s}`).not.toBeNull();
  return m![1];
}

describe.skipIf(!isRoot || !hasTmux)('a lesson folder on the full screen, to the end (tmux; needs root)', () => {
  let top = '';
  beforeAll(() => acquireLessonLock(), 900_000);
  afterAll(() => {
    spawnSync('tmux', ['-L', SOCKET, 'kill-server']); // this run's own server only
    if (top) fs.rmSync(top, { recursive: true, force: true });
    releaseLessonLock();
  });

  it('asks once, then runs the skeleton interactively: prediction, checks, a challenge in the shell with its hint, a typed answer, the summary; nothing left', async () => {
    const before = leftovers();
    top = fs.mkdtempSync(path.join(os.tmpdir(), 'sandbox-folder-tmux-'));
    const state = path.join(top, 'state');
    const env = { ...process.env, XDG_STATE_HOME: state };
    // The skeleton, written by new-lesson elsewhere and copied: this folder has never been answered.
    fs.mkdirSync(path.join(top, 'written'));
    execFileSync(process.execPath, [CLI, 'new-lesson', 'written/demo'], { cwd: top, env });
    fs.cpSync(path.join(top, 'written/demo'), path.join(top, 'demo'), { recursive: true });
    const real = fs.realpathSync(path.join(top, 'demo'));

    tmux(
      'new-session', '-d', '-s', SESSION, '-x', '100', '-y', '34', '-c', top,
      `env -u CI -u CONTINUOUS_INTEGRATION SANDBOX_CHALLENGE_NORC=1 XDG_STATE_HOME=${state} ${process.execPath} ${CLI} learn ./demo; echo EXITED $?; sleep 600`,
    );
    // The question: every line, with file:line, before anything runs.
    let s = await waitFor(/\[y\/N\] ?$/m, 30_000);
    expect(s).toMatch(/The lesson in \.\/demo \(demo: Demo\) runs \d+ lines as root on this machine:/);
    expect(s).toMatch(/lesson\.md:\d+ +sandbox \(setup\) +setup +create a --pid --mount/);
    expect(s).toMatch(/lesson\.md:\d+ +host \(root\) +solution +echo 5 > "\$B_CG\/pids\.max"/);
    expect(leftovers()).toEqual(before);
    type('y');

    s = await waitFor(/enter start the lesson/, 60_000);
    expect(s.split('\n')[0]).toMatch(/^ sandbox learn +Demo/);
    keys('Enter');

    // Step 1: the prediction (choice 2), then the checks.
    s = await waitFor(/Step 1[\s\S]*How many PIDs does the kernel list/);
    keys('2');
    s = await waitFor(/enter next step/, 120_000);
    expect(s).toMatch(/✓ a's first process is PID 1 inside its namespace/);
    expect(s).toMatch(/✓ a's PID namespace is not the host's/);
    expect(s).not.toMatch(/✗/);
    keys('Enter');

    // Step 2: a challenge, worked in the s shell. A wrong first attempt (6, not 5) brings the hint.
    s = await waitFor((x) => /Let sandbox b hold at most 5 processes/.test(x) && /s shell ·/.test(x) && /Checks against the kernel 0\/1 passed/.test(x), 120_000);
    keys('s');
    await waitFor(/\[challenge limit-b\][^\n]*# ?$/m, 90_000);
    await run(['echo 6 > $B_CG/pids.max']);
    type('exit');
    s = await waitFor(/Close: the limit counts every process of b/, 30_000);
    expect(s).toMatch(/✗ b's cgroup allows at most 5 processes/);
    keys('s');
    await waitFor(/\[challenge limit-b\][^\n]*# ?$/m, 90_000);
    await run(['echo 5 > "$B_CG/pids.max"']);
    type('exit');
    s = await waitFor(/Checks against the kernel 1\/1 passed/, 30_000);
    expect(s).toMatch(/✓ b's cgroup allows at most 5 processes/);
    expect(s).toMatch(/\(passed\)/);
    keys('Enter');

    // Step 3: a typed answer, read from "any terminal": this test reads c's cgroup.
    s = await waitFor((x) => /Find the host PID of sandbox c's PID 1/.test(x) && /a answer/.test(x), 120_000);
    const procs = fs.readFileSync(path.join(varOf(s, 'C_CG'), 'cgroup.procs'), 'utf8').trim().split('\n');
    expect(procs).toHaveLength(1);
    keys('a');
    await waitFor(/enter check the answer/);
    type(procs[0]);
    s = await waitFor(/\(passed\)/, 30_000);
    keys('Enter');

    s = await waitFor(/Lesson complete|lesson complete/, 60_000);
    keys('Enter');
    s = await waitFor(/EXITED \d+/, 60_000);
    expect(s).toMatch(/EXITED 0/);
    expect(s).toMatch(/All of this lesson's sandboxes were removed\./);

    // Remembered: the answer (this folder, this content), and the progress under the folder's key.
    const trust = JSON.parse(fs.readFileSync(path.join(state, 'sandbox/trusted-lessons.json'), 'utf8'));
    expect(trust.folders[real].hash).toMatch(/^[0-9a-f]{64}$/);
    const progress = JSON.parse(fs.readFileSync(path.join(state, 'sandbox/progress.json'), 'utf8'));
    const keysSaved = Object.keys(progress.lessons);
    expect(keysSaved).toHaveLength(1);
    expect(keysSaved[0]).toMatch(/^demo@[0-9a-f]{12}$/);
    expect(progress.lessons[keysSaved[0]]).toMatchObject({ completed: true });
    expect(progress.lessons[keysSaved[0]].challenges).toMatchObject({ 'limit-b': { state: 'done' }, 'count-c': { state: 'done' } });
    expect(leftovers()).toEqual(before);
  }, 900_000);
});
