/**
 * Challenges in line mode, through the real CLI (dist/cli.js), driven through a pipe as a script
 * would: `sandbox learn pid-namespaces --plain` resumes at its first challenge (a progress file
 * in a private XDG_STATE_HOME); the work is done from outside, as a second terminal would (a
 * process joined to the challenge's bench: its cgroup and mount namespace); Enter checks it
 * against the kernel, and the prompt's own 1 Hz poll notices it with no key pressed. Then a typed answer, wrong then right, read from the live system; a skip;
 * and a quit that leaves nothing of the lesson behind. Needs root.
 */
import { type ChildProcessWithoutNullStreams, execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { acquireLessonLock, releaseLessonLock } from '../../helpers/lesson-lock.js';
import { isRoot } from '../../helpers/resources.js';

const CLI = path.resolve(import.meta.dirname, '../../../dist/cli.js');
const FIRST = 7; // your-own-pid-namespace
let state: string;
let file: string;
let child: ChildProcessWithoutNullStreams | null = null;

beforeEach(() => {
  state = fs.mkdtempSync(path.join(os.tmpdir(), 'sandbox-challenge-cli-'));
  fs.mkdirSync(path.join(state, 'sandbox'));
  file = path.join(state, 'sandbox', 'progress.json');
  fs.writeFileSync(file, JSON.stringify({ version: 1, lessons: { 'pid-namespaces': { step: FIRST, done: [], completed: false, predictions: {}, updated: 'x' } } }));
});
afterEach(async () => {
  if (child && child.exitCode === null && child.signalCode === null) {
    child.kill('SIGTERM'); // the CLI's handler removes the lesson's sandboxes
    await new Promise((r) => child!.once('exit', r));
  }
  child = null;
  fs.rmSync(state, { recursive: true, force: true });
});

const env = () => {
  const e: NodeJS.ProcessEnv = { ...process.env, XDG_STATE_HOME: state, NO_COLOR: '1' };
  delete e.SUDO_USER;
  delete e.CI;
  return e;
};
const progress = () => JSON.parse(fs.readFileSync(file, 'utf8')).lessons['pid-namespaces'];
/**
 * Everything a run made, by its ledger entries (owner = the CLI's pid): other sessions may run
 * the same lesson meanwhile, with the same names, so names alone do not say whose it is.
 */
interface Made {
  ledger: Set<string>;
  paths: Set<string>;
}
function collect(made: Made, owner: number): void {
  let files: string[] = [];
  try {
    files = fs.readdirSync(LEDGER).filter((f) => f.endsWith('.json'));
  } catch {
    return;
  }
  for (const f of files) {
    try {
      const e = JSON.parse(fs.readFileSync(path.join(LEDGER, f), 'utf8'));
      if (e.owner?.pid !== owner) continue;
      made.ledger.add(path.join(LEDGER, f));
      for (const p of [...(e.cgroups ?? []), ...(e.dirs ?? [])]) made.paths.add(p);
      for (const n of e.netns ?? []) made.paths.add(path.join('/run/netns', n));
      for (const v of e.veths ?? []) made.paths.add(path.join('/sys/class/net', v));
    } catch {
      /* removed meanwhile */
    }
  }
}
/** Paths that live ledger entries of other runs claim (a name freed by our run may be taken at once by another). */
function claimedByOthers(owner: number): Set<string> {
  const out = new Set<string>();
  const files = fs.existsSync(LEDGER) ? fs.readdirSync(LEDGER).filter((f) => f.endsWith('.json')) : [];
  for (const f of files) {
    try {
      const e = JSON.parse(fs.readFileSync(path.join(LEDGER, f), 'utf8'));
      if (e.owner?.pid === owner) continue;
      out.add(path.join(LEDGER, f));
      for (const p of [...(e.cgroups ?? []), ...(e.dirs ?? [])]) out.add(p);
      for (const n of e.netns ?? []) out.add(path.join('/run/netns', n));
      for (const v of e.veths ?? []) out.add(path.join('/sys/class/net', v));
    } catch {
      /* removed meanwhile */
    }
  }
  return out;
}
/** What is still there of what the run (`owner`, exited) made: must be nothing. */
function still(made: Made, owner: number): string[] {
  const others = claimedByOthers(owner);
  return [...made.ledger, ...made.paths].filter((p) => fs.existsSync(p) && !others.has(p));
}
const LEDGER = '/run/sandbox/ledger';

/** The CLI on a pipe: what it printed, lines to send, and a wait for a pattern in the new output. */
function start() {
  const p = spawn(process.execPath, [CLI, 'learn', 'pid-namespaces', '--plain'], { env: env(), stdio: 'pipe' });
  child = p;
  let out = '';
  let seen = 0;
  p.stdout.on('data', (d: Buffer) => (out += d.toString()));
  p.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => p.once('exit', (code) => r(code)));
  const made: Made = { ledger: new Set(), paths: new Set() };
  return {
    exited,
    made,
    pid: p.pid!,
    /** Notes what the run has made so far (its ledger entries). */
    look: () => collect(made, p.pid!),
    all: () => out,
    send: (line: string) => p.stdin.write(`${line}\n`),
    /** Waits for `re` in the output after the previous match; returns the match. */
    async waitFor(re: RegExp, ms = 60_000): Promise<RegExpExecArray> {
      const end = Date.now() + ms;
      for (;;) {
        const m = re.exec(out.slice(seen));
        collect(made, p.pid!);
        if (m) {
          seen += m.index + m[0].length;
          return m;
        }
        if (Date.now() > end || p.exitCode !== null) throw new Error(`timed out waiting for ${re}; output:\n${out.slice(-3000)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
  };
}

/** A pattern for `text` as the lesson prints it: wrapped to the width, so any space may be a line break. */
const words = (text: string) => new RegExp(text.split(/\s+/).map((w) => w.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')).join('\\s+'));

/**
 * The end of a challenge: everything it made is gone. Other sessions may be making veths and
 * mounts on this host meanwhile; whatever is named as left must at least not be this lesson's.
 */
async function ended(cli: ReturnType<typeof start>): Promise<void> {
  const m = await cli.waitFor(/The challenge ended: everything it made is gone|Left on the host \(remove by hand\): ([^\n]*)/);
  if (m[1]) expect(m[1]).not.toMatch(/pidns-|sandbox-pidns/);
}

/** The bench's host PID (its sandbox-init), as the setup's log prints it. */
async function benchPid(cli: ReturnType<typeof start>): Promise<number> {
  const m = await cli.waitFor(/sandbox run --mount --rootfs none[\s\S]*?host PID (\d+);/);
  return Number(m[1]);
}

/**
 * Runs `script` as the learner's second terminal would, but inside the bench: it joins the
 * bench's cgroups (every hierarchy, v1 or v2) and mount namespace, then sources the env file.
 */
function inBench(pid: number, envFile: string, script: string): void {
  const joins = fs
    .readFileSync(`/proc/${pid}/cgroup`, 'utf8')
    .split('\n')
    .filter((l) => l.includes('pidns-bench'))
    .map((l) => {
      const [, ctrl, rel] = l.split(':');
      const dir = ctrl === '' ? path.join('/sys/fs/cgroup', rel) : path.join('/sys/fs/cgroup', ctrl.replace(/^name=/, ''), rel);
      return `echo $$ > ${dir}/cgroup.procs`;
    });
  expect(joins.length).toBeGreaterThan(0);
  execFileSync('sh', ['-c', `${joins.join(' && ')} && exec nsenter -t ${pid} -m -- sh -c "$0"`, `. ${envFile} && ${script}`], { stdio: 'ignore', timeout: 20_000 });
}

describe.skipIf(!isRoot)('a challenge in line mode, through a pipe (needs root)', () => {
  beforeAll(() => acquireLessonLock(), 900_000);
  afterAll(() => releaseLessonLock());
  it('a wrong attempt shows its hint on Enter; the solution from outside passes with no key pressed; an answer wrong then right; the lesson completes', async () => {
    const cli = start();
    await cli.waitFor(/Resuming at step 8 of 9/);
    const pid = await benchPid(cli);
    const envFile = (await cli.waitFor(/In another terminal: sudo -s, then \. (\S+)/))[1];
    await cli.waitFor(/Checks against the kernel \(0\/3\)/);
    await cli.waitFor(/\[Enter\/s\/a\/h\/R\/S\/k\/q\]/);
    expect(progress().challenges['your-own-pid-namespace']).toEqual({ state: 'started', answered: [] });

    // No terminal on a pipe: `s` says so and points to a second one; S waits for a hint first.
    cli.send('s');
    await cli.waitFor(/no terminal here for a shell[\s\S]*?Open a second\s+terminal/);
    cli.send('S');
    await cli.waitFor(/shown once you have seen a hint/);

    // A wrong first attempt: a PID namespace that still sees the host's /proc. The hint whose
    // condition holds (read from the kernel) is the one shown.
    inBench(pid, envFile, "unshare --pid --fork sh -c 'sleep 1000 & exec sleep 1000' >/dev/null 2>&1 & sleep 0.5");
    cli.send('');
    await cli.waitFor(/✓ a new PID namespace was made from your shell/);
    await cli.waitFor(/✗ its \/proc shows its own PID 1/);
    await cli.waitFor(words("hint (readlink /proc/MEMBER/ns/pid /proc/MEMBER/root/proc/1/ns/pid): There is a new PID namespace, but its processes still see the host's /proc"));
    cli.send('S');
    await cli.waitFor(/The reference solution:\n {2}unshare --pid --fork --mount-proc/);
    expect(progress().challenges['your-own-pid-namespace'].solutionShown).toBe(true);

    // Reset: the first attempt goes with the old bench; a new bench, the checks fail again.
    cli.send('R');
    const pid2 = await benchPid(cli);
    expect(pid2).not.toBe(pid);
    await cli.waitFor(/Checks against the kernel \(0\/3\)/);
    expect(fs.existsSync(`/proc/${pid}`)).toBe(false);

    // The solution, from outside, and no key pressed: the prompt polls the kernel once a second,
    // says what turned true, and the challenge passes on its own.
    inBench(pid2, envFile, "unshare --pid --fork --mount-proc sh -c 'sleep 1000 & exec sleep 1000' >/dev/null 2>&1 & sleep 0.5");
    await cli.waitFor(/✓ its \/proc shows its own PID 1 \(holds now\)/, 10_000);
    await cli.waitFor(/Checks against the kernel \(3\/3\)/);
    await cli.waitFor(/✓ Challenge passed: a PID namespace of your own/);
    await ended(cli);
    expect(fs.existsSync(`/proc/${pid2}`)).toBe(false);
    expect(progress()).toMatchObject({ step: FIRST + 1, done: ['your-own-pid-namespace'] });
    expect(progress().challenges['your-own-pid-namespace']).toMatchObject({ state: 'done' });

    // The second challenge: a question answered from the live system, wrong then right.
    const bcg = (await cli.waitFor(/^\s+\$B_CG\s+(\/\S+)/m))[1];
    await cli.waitFor(/\? What is the host PID of PID 1 in sandbox b\?/);
    cli.send('a');
    await cli.waitFor(/Your answer \(empty to go back\): /);
    cli.send('1');
    await cli.waitFor(/✗ Not that/);
    const pid1 = fs
      .readFileSync(path.join(bcg, 'cgroup.procs'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .find((p) => /^NSpid:.*\s1$/m.test(fs.readFileSync(`/proc/${p}/status`, 'utf8')));
    expect(pid1).toMatch(/^\d+$/);
    cli.send('a');
    await cli.waitFor(/Your answer \(empty to go back\): /);
    cli.send(` ${pid1} `);
    await cli.waitFor(new RegExp(`✓ Right: ${pid1} \\(read with: `));
    await cli.waitFor(/✓ Challenge passed/);
    await cli.waitFor(/Lesson complete\./);
    expect(await cli.exited).toBe(0);
    const p = progress();
    expect(p.completed).toBe(true);
    expect(p.challenges['find-pid1-on-the-host']).toEqual({ state: 'done', answered: ['b-pid1'] });
    expect(cli.made.ledger.size).toBeGreaterThan(0);
    expect(still(cli.made, cli.pid)).toEqual([]);

    const listed = JSON.parse(execFileSync(process.execPath, [CLI, 'lessons', '--json'], { env: env(), encoding: 'utf8' }));
    expect(listed.find((l: { id: string }) => l.id === 'pid-namespaces').challenges).toEqual({ done: 2, total: 2, skipped: 0 });
  }, 180_000);

  it('a skip is saved and listed; quitting mid-challenge with processes started leaves nothing', async () => {
    const cli = start();
    await cli.waitFor(/Checks against the kernel \(0\/3\)/);
    cli.send('k');
    await cli.waitFor(/Skipped "Challenge: a PID namespace of your own"/);
    const pid = await benchPid(cli);
    const envFile = (await cli.waitFor(/In another terminal: sudo -s, then \. (\S+)/))[1];
    await cli.waitFor(/\[Enter\/s\/a\/h\/R\/S\/k\/q\]/);
    expect(progress()).toMatchObject({ step: FIRST + 1, done: [] });
    expect(progress().challenges['your-own-pid-namespace']).toEqual({ state: 'skipped', answered: [] });

    // The learner's work in progress: a PID namespace, a mount in the bench, a file in $WS.
    inBench(pid, envFile, "unshare --pid --fork --mount-proc sleep 1000 >/dev/null 2>&1 & mkdir -p $WS/m && mount -t tmpfs none $WS/m && sleep 0.3");
    const learnerWs = path.dirname(envFile);
    expect(fs.existsSync(learnerWs)).toBe(true);
    cli.look();
    cli.send('q');
    await ended(cli);
    await cli.waitFor(/Stopped at step 9/);
    expect(await cli.exited).toBe(0);
    expect(fs.existsSync(`/proc/${pid}`)).toBe(false);
    // The bench, sandbox b, the workspace: each was there, none is left.
    const names = [...cli.made.ledger].map((f) => path.basename(f, '.json'));
    expect(names.some((n) => /^pidns-bench(-\d+)?$/.test(n)), names.join()).toBe(true);
    expect(names.some((n) => /^pidns-b(-\d+)?$/.test(n)), names.join()).toBe(true);
    expect(still(cli.made, cli.pid)).toEqual([]);
    expect(fs.existsSync(learnerWs)).toBe(false);
    expect(progress().challenges['find-pid1-on-the-host']).toEqual({ state: 'started', answered: [] });

    const listed = JSON.parse(execFileSync(process.execPath, [CLI, 'lessons', '--json'], { env: env(), encoding: 'utf8' }));
    expect(listed.find((l: { id: string }) => l.id === 'pid-namespaces').challenges).toEqual({ done: 0, total: 2, skipped: 1 });
    const text = execFileSync(process.execPath, [CLI, 'lessons'], { env: env(), encoding: 'utf8' });
    expect(text).toMatch(/pid-namespaces\s+in progress \(step 9\)\s+challenges 0\/2, 1 skipped/);
  }, 180_000);
});

const hasTmux = spawnSync('tmux', ['-V']).status === 0;

describe.skipIf(!isRoot || !hasTmux)('a challenge in line mode on a terminal (tmux; needs root)', () => {
  const socket = `sbx-chplain-${process.pid}`;
  const tmux = (...a: string[]) => execFileSync('tmux', ['-L', socket, ...a], { encoding: 'utf8' });
  afterEach(() => {
    spawnSync('tmux', ['-L', socket, 'kill-server']);
  });
  const screen = () => tmux('capture-pane', '-p', '-J', '-S', '-200', '-t', 'learn');
  const waitFor = async (re: RegExp, ms = 90_000) => {
    const end = Date.now() + ms;
    while (!re.test(screen())) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${re}; screen:\n${screen().slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const type = (text: string) => {
    tmux('send-keys', '-t', 'learn', '-l', text);
    tmux('send-keys', '-t', 'learn', 'Enter');
  };

  it('s hands the terminal to a shell with the variables; the work typed there passes; the prompt reads again after exit', async () => {
    tmux(
      'new-session', '-d', '-s', 'learn', '-x', '120', '-y', '50',
      `env -u CI -u SUDO_USER SANDBOX_CHALLENGE_NORC=1 XDG_STATE_HOME=${state} NO_COLOR=1 ${process.execPath} ${CLI} learn pid-namespaces --plain; echo EXITED $?; sleep 600`,
    );
    await waitFor(/Checks against the kernel \(0\/3\)[\s\S]*\[Enter\/s\/a\/h\/R\/S\/k\/q\]/);
    type('s');
    await waitFor(/^\[challenge your-own-pid-namespace\] [^\n]*# ?$/m);
    // Inside: the variables are set and the shell is in the challenge's cgroup.
    type('echo "WS=$WS CG=$(grep -c pidns-bench /proc/self/cgroup)"');
    await waitFor(/^WS=\/run\/sandbox\/pidns-ws\S* CG=[1-9]/m);
    type("unshare --pid --fork --mount-proc sh -c 'sleep 1000 & exec sleep 1000' >/dev/null 2>&1 &");
    type('sleep 0.5; exit');
    await waitFor(/Back in the lesson \(the shell ended with code 0\)/);
    await waitFor(/✓ Challenge passed: a PID namespace of your own/);
    // The next challenge's prompt reads the terminal again: q quits, and the lesson ends cleanly.
    await waitFor(/\? What is the host PID of PID 1 in sandbox b\?[\s\S]*\[Enter\/s\/a\/h\/R\/S\/k\/q\]\s*$/);
    type('q');
    await waitFor(/^EXITED 0$/m, 30_000);
    expect(progress()).toMatchObject({ step: FIRST + 1, done: ['your-own-pid-namespace'] });
    expect(progress().challenges['your-own-pid-namespace']).toMatchObject({ state: 'done' });
  }, 180_000);
});
