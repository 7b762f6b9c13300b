/**
 * Challenges on the full screen, in a real terminal (tmux on a private server socket of this test
 * run): `s` hands the terminal to a shell where real commands are typed (send-keys), `exit`
 * brings back the intact screen with the checks ticked and the hint whose condition holds; work
 * done in a second tmux window ticks on the lesson's screen within 2 s, no key pressed there;
 * quitting mid-challenge (q, Ctrl-C, the terminal closing) leaves nothing behind.
 *
 * Each lesson starts from a progress file that resumes it at the challenge (its guided steps are
 * replayed, not walked). Needs root and tmux.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { lesson as cpuLesson } from '../../src/lessons/cgroups-cpu/index.js';
import { lesson as netLesson } from '../../src/lessons/net-namespaces/index.js';
import { lesson as pidLesson } from '../../src/lessons/pid-namespaces/index.js';
import type { Lesson } from '../../src/lessons/types.js';
import { acquireLessonLock, releaseLessonLock } from '../helpers/lesson-lock.js';
import { isRoot, leftovers } from '../helpers/resources.js';
import { alive, sleep } from '../helpers/wait.js';

const CLI = path.resolve(import.meta.dirname, '../../dist/cli.js');
const hasTmux = spawnSync('tmux', ['-V']).status === 0;
const SOCKET = `sbx-challenge-test-${process.pid}`;
const STATE = isRoot && hasTmux ? fs.mkdtempSync(path.join(os.tmpdir(), 'sandbox-challenges-tmux-')) : '';
let sessions = 0;

const tmux = (...a: string[]) => execFileSync('tmux', ['-L', SOCKET, ...a], { encoding: 'utf8' });

/** Writes a progress file that resumes `lesson` at the challenge step `stepId`. */
function resumeAt(lesson: Lesson, stepId: string): number {
  const at = lesson.steps.findIndex((s) => s.id === stepId);
  expect(at, `${lesson.id} has no step ${stepId}`).toBeGreaterThan(0);
  expect(lesson.steps[at].challenge).toBeDefined();
  const entry = { step: at, done: lesson.steps.slice(0, at).map((s) => s.id), completed: false, predictions: {}, updated: new Date().toISOString() };
  fs.mkdirSync(path.join(STATE, 'sandbox'), { recursive: true });
  fs.writeFileSync(path.join(STATE, 'sandbox', 'progress.json'), JSON.stringify({ version: 1, lessons: { [lesson.id]: entry } }));
  return at;
}

function progressOf(id: string): { step: number; done: string[]; challenges?: Record<string, { state: string }> } | undefined {
  try {
    return JSON.parse(fs.readFileSync(path.join(STATE, 'sandbox', 'progress.json'), 'utf8')).lessons[id];
  } catch {
    return undefined;
  }
}

/** `sandbox learn LESSON` in its own tmux session; `echo EXITED $?` shows its exit code when it ends. */
class Terminal {
  readonly name = `learn-${++sessions}`;
  readonly lessonId: string;

  constructor(lessonId: string, columns: number, rows: number) {
    this.lessonId = lessonId;
    tmux(
      'new-session', '-d', '-s', this.name, '-x', String(columns), '-y', String(rows),
      `env -u CI -u CONTINUOUS_INTEGRATION SANDBOX_CHALLENGE_NORC=1 XDG_STATE_HOME=${STATE} ${process.execPath} ${CLI} learn ${lessonId}; echo EXITED $?; sleep 600`,
    );
  }

  screen(target = this.name): string {
    return tmux('capture-pane', '-p', '-t', target);
  }

  async waitFor(what: RegExp | ((screen: string) => boolean), ms = 30_000, target = this.name, every = 100): Promise<string> {
    const test = typeof what === 'function' ? what : (s: string) => what.test(s);
    const t0 = Date.now();
    for (;;) {
      const s = this.screen(target);
      if (test(s)) return s;
      if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}; screen:\n${s}`);
      await sleep(every);
    }
  }

  keys(...keys: string[]): void {
    tmux('send-keys', '-t', this.name, ...keys);
  }

  /** Types a line and presses Enter (in the lesson's pane, or `target`). */
  type(text: string, target = this.name): void {
    tmux('send-keys', '-t', target, '-l', text);
    tmux('send-keys', '-t', target, 'Enter');
  }

  /** The lesson's node process (the pane shell's child). */
  pid(): number {
    const shell = tmux('display', '-p', '-t', this.name, '#{pane_pid}').trim();
    return Number(execFileSync('ps', ['--ppid', shell, '-o', 'pid='], { encoding: 'utf8' }).trim().split('\n')[0]);
  }

  /** Waits for the challenge screen, checks polled (the key line offers the shell). */
  async atChallenge(goal: RegExp): Promise<string> {
    return this.waitFor((s) => goal.test(s) && /s shell ·/.test(s) && /Checks against the kernel \d+\/\d+ passed/.test(s), 180_000);
  }

  /**
   * `s`, then waits for the shell's prompt naming the challenge. (SANDBOX_CHALLENGE_NORC keeps
   * root's ~/.bashrc out: on a host whose ~/.bashrc runs `pyenv init`, a shell killed mid-rehash
   * leaves a lock that delays every later interactive bash by 60 s.)
   */
  async shell(stepId: string): Promise<void> {
    this.keys('s');
    await this.waitFor(new RegExp(`\\[challenge ${stepId}\\][^\\n]*# ?$`, 'm'), 90_000);
  }

  private marks = 0;

  /** Types lines into the shell, one at a time: each is done once the shell has echoed a mark after it. */
  async run(lines: string[]): Promise<void> {
    for (const l of lines) {
      this.type(l);
      const mark = `MARK-${++this.marks}`;
      this.type(`echo ${mark}`);
      await this.waitFor(new RegExp(`^${mark}$`, 'm'), 60_000);
    }
  }

  /** `exit` in the shell; waits for the lesson screen. */
  async exitShell(): Promise<string> {
    this.type('exit');
    return this.waitFor((s) => /^ sandbox learn /.test(s) && /Back from the shell\./.test(s));
  }

  kill(): void {
    spawnSync('tmux', ['-L', SOCKET, 'kill-session', '-t', this.name]);
  }
}

/** A variable's value as the screen shows it: "$WS     = /run/sandbox/pidns-ws". */
function varOf(screen: string, name: string): string {
  const m = new RegExp(`\\$${name} += (\\S+)`).exec(screen);
  expect(m, `$${name} on screen:\n${screen}`).not.toBeNull();
  return m![1];
}

/** A variable from the challenge's env file ($WS/env, `export NAME=value`). */
function envVarOf(ws: string, name: string): string {
  const m = new RegExp(`^export ${name}='?([^'\\n]+)'?$`, 'm').exec(fs.readFileSync(`${ws}/env`, 'utf8'));
  expect(m, `${name} in ${ws}/env`).not.toBeNull();
  return m![1];
}

/** The whole screen is the lesson again: its header on top, no shell line, the goal drawn. */
function expectIntact(s: string, goal: RegExp): void {
  expect(s.split('\n')[0], s).toMatch(/^ sandbox learn /);
  expect(s, s).toMatch(goal);
  expect(s, s).not.toMatch(/\[challenge [a-z0-9-]+\]/);
  expect(s, s).not.toContain('sandbox learn: back to the lesson');
  expect(s, s).toMatch(/s shell · /);
}

const ticks = (s: string) => (s.match(/^ *(?:│ )?.*?✓ /gm) ?? []).length;

describe.skipIf(!isRoot || !hasTmux)('challenges on the full screen (tmux; needs root)', () => {
  // Whole lessons take turns across test files (test/helpers/lesson-lock.ts): the same sandbox
  // names, CPU measurements, the host-unchanged comparison.
  beforeAll(() => acquireLessonLock(), 900_000);
  afterAll(() => {
    spawnSync('tmux', ['-L', SOCKET, 'kill-server']); // this run's own server only
    fs.rmSync(STATE, { recursive: true, force: true });
    releaseLessonLock();
  });

  it('pid-namespaces: a wrong first attempt in the s shell shows the /proc hint; the right one ticks every check; the screen comes back intact', async () => {
    const before = leftovers();
    const id = 'your-own-pid-namespace';
    const at = resumeAt(pidLesson, id);
    const goal = /Your turn: From your shell, make a new PID namespace/;
    const t = new Terminal('pid-namespaces', 100, 32);
    try {
      let s = await t.atChallenge(goal);
      expect(s).toContain(`step ${at + 1}/${pidLesson.steps.length}`);
      expect(s).toMatch(/Checks against the kernel 0\/3 passed/);
      expect(s).toMatch(/other terminal: sudo -s; \. \/run\/sandbox\/\S+\/env/);

      await t.shell(id);
      // Without --mount-proc: a new PID namespace, but the host's /proc.
      await t.run(["unshare --pid --fork sh -c 'sleep 1000 & exec sleep 1000' &", 'sleep 0.5']);
      s = await t.exitShell();
      s = await t.waitFor(/hint: There is a new PID namespace, but its processes still see[\s\S]*read with: readlink/, 5000);
      expectIntact(s, goal);
      expect(s).toMatch(/✓ a new PID namespace was made from your shell/);
      expect(s).toMatch(/✗ its \/proc shows its own PID 1/);

      await t.shell(id);
      await t.run(pidLesson.steps[at].challenge!.solution);
      s = await t.exitShell();
      s = await t.waitFor(/Checks against the kernel 3\/3 passed/, 5000);
      expectIntact(s.replace(/s shell · /, 's shell · '), goal);
      expect(s).toMatch(/✓ a new PID namespace was made from your shell/);
      expect(s).toMatch(/✓ it holds exactly two processes/);
      expect(s).toMatch(/✓ its \/proc shows its own PID 1/);
      expect(s).not.toMatch(/✗/);
      expect(s).toMatch(/Challenge: a PID namespace of your own +\(passed\)/);
      expect(progressOf('pid-namespaces')).toMatchObject({ step: at + 1, challenges: { [id]: { state: 'done' } } });

      t.keys('q');
      s = await t.waitFor(/^EXITED 0$/m);
      expect(s).toContain("All of this lesson's sandboxes were removed.");
      expect(leftovers().filter((l) => !before.includes(l))).toEqual([]);
    } finally {
      t.kill();
    }
  }, 360_000);

  it('net-namespaces: the veth left on the host shows its hint; the rest of the solution connects a and b', async () => {
    const before = leftovers();
    const id = 'connect-a-and-b';
    const at = resumeAt(netLesson, id);
    const goal = /Your turn: Sandboxes a and b each/;
    const ch = netLesson.steps[at].challenge!;
    const t = new Terminal('net-namespaces', 120, 40);
    try {
      let s = await t.atChallenge(goal);
      const veth = varOf(s, 'VETH_A');
      await t.shell(id);
      const wrong = ch.hints[0].reach!;
      await t.run(wrong);
      s = await t.exitShell();
      s = await t.waitFor(/hint: The pair exists, but an end of it is still in the/, 5000);
      expectIntact(s, goal);
      expect(fs.existsSync(`/sys/class/net/${veth}`)).toBe(true);

      await t.shell(id);
      await t.run(ch.solution.filter((l) => !wrong.includes(l)));
      s = await t.exitShell();
      s = await t.waitFor(/Checks against the kernel 3\/3 passed/, 10_000);
      expectIntact(s, goal);
      expect(ticks(s)).toBeGreaterThanOrEqual(3);
      expect(s).not.toMatch(/✗/);

      t.keys('q');
      await t.waitFor(/^EXITED 0$/m);
      expect(fs.existsSync(`/sys/class/net/${veth}`)).toBe(false);
      expect(leftovers().filter((l) => !before.includes(l))).toEqual([]);
    } finally {
      t.kill();
    }
  }, 300_000);

  it('cgroups-cpu: a weight instead of a quota shows its hint; the quota caps a at half a CPU', async () => {
    const before = leftovers();
    const id = 'cap-at-half';
    const at = resumeAt(cpuLesson, id);
    const goal = /Your turn: Sandbox a runs an/;
    const ch = cpuLesson.steps[at].challenge!;
    const t = new Terminal('cgroups-cpu', 120, 40);
    try {
      await t.atChallenge(goal);
      await t.shell(id);
      const weight = ch.hints.find((h) => /weight/.test(h.text))!;
      await t.run(weight.reach!);
      let s = await t.exitShell();
      s = await t.waitFor(/hint: You changed a's weight/, 5000);
      expectIntact(s, goal);

      await t.shell(id);
      await t.run(ch.solution);
      s = await t.exitShell();
      s = await t.waitFor(/Checks against the kernel 2\/2 passed/, 15_000);
      expectIntact(s, goal);
      expect(s).toMatch(/✓ the kernel holds a quota of 50 % of one CPU/);
      expect(s).not.toMatch(/✗/);

      t.keys('q');
      await t.waitFor(/^EXITED 0$/m);
      expect(leftovers().filter((l) => !before.includes(l))).toEqual([]);
    } finally {
      t.kill();
    }
  }, 300_000);

  it('work done in a second tmux window ticks on the lesson screen within 2 s, no key pressed in it', async () => {
    const before = leftovers();
    const id = 'connect-a-and-b';
    const at = resumeAt(netLesson, id);
    const goal = /Your turn: Sandboxes a and b each/;
    const ch = netLesson.steps[at].challenge!;
    const t = new Terminal('net-namespaces', 120, 40);
    const other = `${t.name}:other`;
    try {
      const s0 = await t.atChallenge(goal);
      const env = /other terminal: sudo -s; \. (\S+)/.exec(s0)![1];
      tmux('new-window', '-d', '-t', t.name, '-n', 'other', 'sh');
      t.type(`. ${env}; echo "VARS $VETH_A"`, other);
      await t.waitFor(/^VARS sbx-/m, 10_000, other);
      // The solution, then the time it was done (ns since the epoch).
      t.type(`${ch.solution.join('; ')}; echo "DONE $(date +%s%N)"`, other);
      const done = await t.waitFor(/^DONE \d+$/m, 60_000, other, 20);
      const doneAt = Number(/^DONE (\d+)$/m.exec(done)![1]) / 1e6;
      const s = await t.waitFor(/Checks against the kernel 3\/3 passed/, 5000, t.name, 20);
      const latency = Date.now() - doneAt;
      process.stderr.write(`challenge from a second window: ticked ${latency} ms after the solution ended\n`);
      expect(latency).toBeLessThan(2000);
      expect(s).not.toMatch(/✗/);
      expectIntact(s, goal);

      t.keys('q');
      await t.waitFor(/^EXITED 0$/m);
      expect(leftovers().filter((l) => !before.includes(l))).toEqual([]);
    } finally {
      t.kill();
    }
  }, 300_000);

  // [how, leave, still in the shell, the exit code (null: the terminal is gone)]
  const ways: [string, (t: Terminal, node: number) => void, boolean, number | null][] = [
    ['q', (t) => t.keys('q'), false, 0],
    ['Ctrl-C', (t) => t.keys('C-c'), false, 130],
    ['SIGTERM, while the shell has the terminal', (_t, node) => process.kill(node, 'SIGTERM'), true, 143],
    ['the terminal closing, while the shell has it', (t) => t.kill(), true, null],
  ];
  for (const [how, leave, inShell, code] of ways) {
    it(`quitting mid-challenge by ${how} leaves nothing: processes, mounts, netns started from the shell`, async () => {
      const before = leftovers();
      const id = 'your-own-pid-namespace';
      resumeAt(pidLesson, id);
      const t = new Terminal('pid-namespaces', 100, 32);
      const marker = 1000 + ((process.pid * 7 + sessions * 13) % 8000);
      try {
        const s = await t.atChallenge(/Your turn: From your shell/);
        const ws = varOf(s, 'WS');
        // $NETNS and $VETH_A are set in the shell but shown only by challenges that use them.
        const netns = envVarOf(ws, 'NETNS');
        const veth = envVarOf(ws, 'VETH_A');
        const node = t.pid();
        await t.shell(id);
        await t.run([
          `sleep ${marker} &`,
          'mkdir -p $WS/x && mount -t tmpfs none $WS/x',
          `unshare --mount sh -c 'mount -t tmpfs none /mnt && exec sleep ${marker + 1}' &`,
          'ip netns add $NETNS',
          'ip link add $VETH_A type veth peer name $VETH_B',
        ]);
        const mine = () =>
          fs.readdirSync('/proc').filter((p) => {
            try {
              return /^\d+$/.test(p) && new RegExp(`^sleep\\0(${marker}|${marker + 1})\\0`).test(fs.readFileSync(`/proc/${p}/cmdline`, 'utf8'));
            } catch {
              return false;
            }
          });
        const procs = mine();
        expect(procs).toHaveLength(2);
        // The shell's mounts are in the bench's mount namespace (the sleep's), not the host's.
        const seen = procs.map((p) => fs.readFileSync(`/proc/${p}/mountinfo`, 'utf8'));
        expect(seen.some((m) => m.includes(` ${ws}/x `))).toBe(true);
        expect(fs.readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(` ${ws}/x `);
        expect(fs.existsSync(`/run/netns/${netns}`)).toBe(true);
        expect(fs.existsSync(`/sys/class/net/${veth}`)).toBe(true);
        if (!inShell) await t.exitShell();
        leave(t, node);
        const t0 = Date.now();
        while (alive(node) && Date.now() - t0 < 30_000) await sleep(50);
        expect(alive(node)).toBe(false);
        if (code !== null) {
          const end = await t.waitFor(/^EXITED \d+$/m);
          expect(end).toMatch(new RegExp(`^EXITED ${code}$`, 'm'));
        }
        expect(mine()).toEqual([]);
        expect(fs.readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(` ${ws}/x `);
        expect(fs.existsSync(`/run/netns/${netns}`)).toBe(false);
        expect(fs.existsSync(`/sys/class/net/${veth}`)).toBe(false);
        expect(fs.existsSync(ws)).toBe(false);
        expect(leftovers().filter((l) => !before.includes(l))).toEqual([]);
      } finally {
        t.kill();
      }
    }, 240_000);
  }
});
