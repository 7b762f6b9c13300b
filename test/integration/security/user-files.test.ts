/**
 * Progress and REPL history are the learner's files, written by root under sudo: no link the
 * learner plants may turn that write (or a read) onto root's files. Run as root for an
 * unprivileged uid (4242, no passwd entry: the state directory comes from XDG_STATE_HOME), with
 * the real CLI (built dist/cli.js) where a command reaches the file, and through the functions the
 * REPL uses for its history. Every case checks that a root-owned 0600 target keeps its content,
 * owner, mode and inode, and that a refusal names the path.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { isRoot, leftovers } from '../../helpers/resources.js';
import { sleep } from '../../helpers/wait.js';

const ROOT = path.resolve(import.meta.dirname, '../../..');
const CLI = path.join(ROOT, 'dist/cli.js');
const UID = 4242;
const GID = 4242;
const hasTmux = spawnSync('tmux', ['-V']).status === 0;
const hasScript = spawnSync('script', ['--version']).status === 0;

/** Valid progress JSON: if root ever read it through a link, `lessons` would show "in progress". */
const SECRET = `${JSON.stringify({ version: 1, lessons: { 'pid-namespaces': { step: 3, done: [], completed: false, predictions: {}, updated: 'root-only' } } })}\n`;

interface Fixture {
  top: string;
  home: string;
  /** XDG_STATE_HOME = home/.local/state */
  state: string;
  /** state/sandbox */
  dir: string;
  /** root-owned 0600, outside the home */
  target: string;
  /** root-owned 0755, outside the home */
  rootDir: string;
  env: NodeJS.ProcessEnv;
}

let fx: Fixture;

function makeFixture(): Fixture {
  const top = fs.mkdtempSync(path.join(os.tmpdir(), 'sandbox-userfiles-'));
  fs.chmodSync(top, 0o755); // the user must reach its home below it
  const home = path.join(top, 'home');
  fs.mkdirSync(home, { mode: 0o700 });
  fs.chownSync(home, UID, GID);
  const target = path.join(top, 'target');
  fs.writeFileSync(target, SECRET, { mode: 0o600 });
  const rootDir = path.join(top, 'rootdir');
  fs.mkdirSync(rootDir, { mode: 0o755 });
  const state = path.join(home, '.local', 'state');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    SUDO_USER: 'sbx-test-4242',
    SUDO_UID: String(UID),
    SUDO_GID: String(GID),
    SUDO_COMMAND: 'sandbox',
    XDG_STATE_HOME: state,
    NO_COLOR: '1',
  };
  delete env.CI;
  return { top, home, state, dir: path.join(state, 'sandbox'), target, rootDir, env };
}

/** Creates directories as the learner would have (owned by the user). */
function userMkdir(p: string): void {
  const parts = path.relative(fx.home, p).split(path.sep);
  let d = fx.home;
  for (const part of parts) {
    d = path.join(d, part);
    if (!fs.existsSync(d)) {
      fs.mkdirSync(d, { mode: 0o755 });
      fs.chownSync(d, UID, GID);
    }
  }
}

/** A symbolic link planted by the learner (owned by the user). */
function userLink(target: string, at: string): void {
  userMkdir(path.dirname(at));
  fs.symlinkSync(target, at);
  fs.lchownSync(at, UID, GID);
}

function snapshot(p: string) {
  const st = fs.lstatSync(p);
  return { content: st.isDirectory() ? fs.readdirSync(p).sort().join(',') : fs.readFileSync(p, 'utf8'), uid: st.uid, gid: st.gid, mode: st.mode, ino: st.ino };
}

function cli(args: string[], timeout = 60_000) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout, env: fx.env });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `learn LESSON --plain` on a terminal (script(1) gives it a pty), no input: it must refuse before asking. */
function learnOnPty(lesson: string) {
  const r = spawnSync('script', ['-qec', `${process.execPath} ${CLI} learn ${lesson} --plain`, '/dev/null'], {
    encoding: 'utf8',
    timeout: 60_000,
    env: fx.env,
    input: '',
  });
  return { code: r.status, out: r.stdout.replace(/\r/g, '') };
}

/** Node running `body` (ESM) with the fixture's sudo environment; prints what it returns as JSON. */
function script(body: string) {
  const code = `const dist = ${JSON.stringify(path.join(ROOT, 'dist'))};\nconst out = await (async () => {\n${body}\n})();\nprocess.stdout.write(JSON.stringify(out ?? null));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8', timeout: 60_000, env: fx.env });
  if (r.status !== 0) throw new Error(`script failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout);
}

describe.skipIf(!isRoot)('progress and history files under sudo (needs root)', () => {
  let target0: ReturnType<typeof snapshot>;
  let rootDir0: ReturnType<typeof snapshot>;

  beforeEach(() => {
    fx = makeFixture();
    target0 = snapshot(fx.target);
    rootDir0 = snapshot(fx.rootDir);
  });

  afterEach(() => {
    try {
      // Nothing of root's changed, whatever the case.
      expect(snapshot(fx.target)).toEqual(target0);
      expect(snapshot(fx.rootDir)).toEqual(rootDir0);
    } finally {
      fs.rmSync(fx.top, { recursive: true, force: true });
    }
  });

  it('(a) a temporary-file link planted for the exact PID does not redirect the write; progress is saved as the user', () => {
    const r = script(`
      const fs = await import('node:fs');
      const dir = ${JSON.stringify(fx.dir)};
      // What the learner does: a link named like our temporary file, for this very PID.
      fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
      for (const d of [${JSON.stringify(path.join(fx.home, '.local'))}, ${JSON.stringify(fx.state)}, dir]) fs.chownSync(d, ${UID}, ${GID});
      fs.symlinkSync(${JSON.stringify(fx.target)}, dir + '/progress.json.' + process.pid + '.tmp');
      fs.lchownSync(dir + '/progress.json.' + process.pid + '.tmp', ${UID}, ${GID});
      const m = await import(dist + '/lessons/progress.js');
      m.saveProgress('pid-namespaces', { ...m.emptyProgress(), step: 2, done: ['pid1-inside'] });
      return { read: m.readProgress('pid-namespaces'), euid: process.geteuid(), egid: process.getegid(), groups: process.getgroups() };
    `);
    expect(r.read).toMatchObject({ step: 2, done: ['pid1-inside'] });
    expect({ euid: r.euid, egid: r.egid, groups: r.groups }).toEqual({ euid: 0, egid: 0, groups: [0] }); // root's credentials came back
    const st = fs.lstatSync(path.join(fx.dir, 'progress.json'));
    expect(st.isFile()).toBe(true);
    expect({ uid: st.uid, gid: st.gid, mode: st.mode & 0o777 }).toEqual({ uid: UID, gid: GID, mode: 0o600 });
  });

  it.skipIf(!hasTmux)('(a) with links planted for a range of PIDs, `learn --plain` saves progress owned by the user and resumes from it', async () => {
    const last = Number(fs.readFileSync('/proc/sys/kernel/ns_last_pid', 'utf8'));
    const pidMax = Number(fs.readFileSync('/proc/sys/kernel/pid_max', 'utf8'));
    // The next 3,000 PIDs the kernel hands out (they wrap to 300 after pid_max), one link each.
    const planted = 3000;
    for (let i = 1; i <= planted; i++) {
      const pid = last + i < pidMax ? last + i : 300 + ((last + i - pidMax) % (pidMax - 300));
      userLink(fx.target, path.join(fx.dir, `progress.json.${pid}.tmp`));
    }
    const socket = `sbx-userfiles-${process.pid}`;
    const tmux = (...a: string[]) => execFileSync('tmux', ['-L', socket, ...a], { encoding: 'utf8' });
    const envArgs = ['SUDO_USER', 'SUDO_UID', 'SUDO_GID', 'XDG_STATE_HOME', 'NO_COLOR'].map((k) => `${k}=${fx.env[k]}`).join(' ');
    const screen = () => tmux('capture-pane', '-p', '-t', 'learn', '-S', '-300');
    const waitFor = async (re: RegExp, ms = 30_000) => {
      const end = Date.now() + ms;
      while (!re.test(screen())) {
        if (Date.now() > end) throw new Error(`timed out waiting for ${re}; screen:\n${screen()}`);
        await sleep(100);
      }
    };
    const start = () =>
      tmux('new-session', '-d', '-s', 'learn', '-x', '120', '-y', '50', `env -u CI ${envArgs} ${process.execPath} ${CLI} learn uts-ipc-namespaces --plain; echo EXITED $?; sleep 60`);
    try {
      start();
      await waitFor(/Your prediction \(1-3/);
      tmux('send-keys', '-t', 'learn', '2', 'Enter');
      await waitFor(/Step 2\/\d+[\s\S]*Your prediction/);
      tmux('send-keys', '-t', 'learn', 'q', 'Enter');
      await waitFor(/EXITED 0/);
      const file = path.join(fx.dir, 'progress.json');
      const st = fs.lstatSync(file);
      expect({ file: st.isFile(), uid: st.uid, gid: st.gid, mode: st.mode & 0o777 }).toEqual({ file: true, uid: UID, gid: GID, mode: 0o600 });
      expect(JSON.parse(fs.readFileSync(file, 'utf8')).lessons['uts-ipc-namespaces']).toMatchObject({ step: 1, done: ['two-hostnames'] });
      tmux('kill-session', '-t', 'learn');
      start();
      await waitFor(/Resuming at step 2 of/);
      await waitFor(/Your prediction/);
      tmux('send-keys', '-t', 'learn', 'q', 'Enter');
      await waitFor(/EXITED 0/);
    } finally {
      spawnSync('tmux', ['-L', socket, 'kill-server']);
    }
    // Every planted link is still a link to the target: none was written through or replaced.
    const tmps = fs.readdirSync(fx.dir).filter((f) => f.endsWith('.tmp'));
    expect(tmps).toHaveLength(planted);
    for (const t of tmps) expect(fs.readlinkSync(path.join(fx.dir, t))).toBe(fx.target);
    expect(leftovers()).toEqual([]);
  });

  it('(b) progress.json linked to a root-only file: not read (nothing disclosed), not written; the commands name the path', () => {
    const file = path.join(fx.dir, 'progress.json');
    userLink(fx.target, file);
    const lessons = cli(['lessons', '--json']);
    expect(lessons.code).toBe(0);
    expect(JSON.parse(lessons.stdout).find((r: { id: string }) => r.id === 'pid-namespaces').status).toBe('new');
    expect(lessons.stderr).toContain(`refusing to use ${file}: it is a symbolic link`);
    const reset = cli(['reset']);
    expect(reset.code).toBe(1);
    expect(reset.stderr).toContain(`refusing to use ${file}: it is a symbolic link`);
    expect(reset.stderr).toMatch(/hint: remove the link \(rm .*progress\.json\)/);
    if (hasScript) {
      const learn = learnOnPty('uts-ipc-namespaces');
      expect(learn.code).toBe(1);
      expect(learn.out).toContain(`refusing to use ${file}: it is a symbolic link`);
    }
    // The saving path too (what `learn` does after a passed step).
    const save = script(`
      const m = await import(dist + '/lessons/progress.js');
      try { m.saveProgress('pid-namespaces', m.emptyProgress()); return 'saved'; } catch (e) { return e.message; }
    `);
    expect(save).toContain(`refusing to use ${file}: it is a symbolic link`);
    expect(fs.readlinkSync(file)).toBe(fx.target);
  });

  it('(b) a hard link to a root-only file, or a FIFO, as progress.json is refused (no hang)', () => {
    const file = path.join(fx.dir, 'progress.json');
    userMkdir(fx.dir);
    fs.linkSync(fx.target, file); // what protected_hardlinks=0 would let the learner do
    const r1 = cli(['reset'], 20_000);
    expect(r1.code).toBe(1);
    expect(r1.stderr).toContain(`${file}`);
    fs.unlinkSync(file);
    execFileSync('mkfifo', [file]);
    fs.chownSync(file, UID, GID);
    const r2 = cli(['lessons', '--json'], 20_000);
    expect(r2.code).toBe(0);
    expect(r2.stderr).toContain(`refusing to use ${file}: it is not a regular file`);
  });

  it('(c) the state directory linked to a root-owned directory is refused, nothing is created there', () => {
    fs.writeFileSync(path.join(fx.rootDir, 'progress.json'), SECRET, { mode: 0o600 });
    rootDir0 = snapshot(fx.rootDir);
    const rootFile0 = snapshot(path.join(fx.rootDir, 'progress.json'));
    userLink(fx.rootDir, fx.dir);
    const lessons = cli(['lessons', '--json']);
    expect(JSON.parse(lessons.stdout).find((r: { id: string }) => r.id === 'pid-namespaces').status).toBe('new');
    expect(lessons.stderr).toContain(`refusing to use ${fx.dir}: it is a symbolic link`);
    const reset = cli(['reset']);
    expect(reset.code).toBe(1);
    expect(reset.stderr).toContain(`refusing to use ${fx.dir}: it is a symbolic link`);
    if (hasScript) {
      const learn = learnOnPty('uts-ipc-namespaces');
      expect(learn.code).toBe(1);
      expect(learn.out).toContain(`refusing to use ${fx.dir}: it is a symbolic link`);
    }
    const save = script(`
      const m = await import(dist + '/lessons/progress.js');
      try { m.saveProgress('pid-namespaces', m.emptyProgress()); return 'saved'; } catch (e) { return e.message; }
    `);
    expect(save).toContain(`refusing to use ${fx.dir}: it is a symbolic link`);
    expect(snapshot(path.join(fx.rootDir, 'progress.json'))).toEqual(rootFile0);
  });

  it('(c) a state directory that is not the user\'s own is refused', () => {
    userMkdir(fx.state);
    fs.mkdirSync(fx.dir, { mode: 0o755 }); // root's, e.g. left by an old version
    const save = script(`
      const m = await import(dist + '/lessons/progress.js');
      try { m.saveProgress('pid-namespaces', m.emptyProgress()); return 'saved'; } catch (e) { return e.message + ' | ' + e.hint; }
    `);
    expect(save).toContain(`refusing to use ${fx.dir}: it belongs to uid 0, not to you (uid ${UID})`);
    expect(save).toContain(`sudo chown ${UID}:${GID} ${fx.dir}`);
    expect(fs.readdirSync(fx.dir)).toEqual([]);
  });

  it('(d) ~/.local/state (XDG_STATE_HOME) linked elsewhere is refused', () => {
    const other = path.join(fx.rootDir, 'sandbox');
    fs.mkdirSync(other, { mode: 0o755 });
    fs.writeFileSync(path.join(other, 'progress.json'), SECRET, { mode: 0o600 });
    rootDir0 = snapshot(fx.rootDir);
    const other0 = snapshot(path.join(other, 'progress.json'));
    userLink(fx.rootDir, fx.state);
    const lessons = cli(['lessons', '--json']);
    expect(JSON.parse(lessons.stdout).find((r: { id: string }) => r.id === 'pid-namespaces').status).toBe('new');
    expect(lessons.stderr).toContain(`refusing to use ${fx.state}: it is a symbolic link`);
    if (hasScript) {
      const learn = learnOnPty('uts-ipc-namespaces');
      expect(learn.code).toBe(1);
      expect(learn.out).toContain(`refusing to use ${fx.state}: it is a symbolic link`);
    }
    const save = script(`
      const m = await import(dist + '/lessons/progress.js');
      try { m.saveProgress('pid-namespaces', m.emptyProgress()); return 'saved'; } catch (e) { return e.message; }
    `);
    expect(save).toContain(`refusing to use ${fx.state}: it is a symbolic link`);
    expect(snapshot(path.join(other, 'progress.json'))).toEqual(other0);
    expect(fs.readdirSync(other)).toEqual(['progress.json']);
  });

  it('(d) without XDG_STATE_HOME, ~/.local and ~/.local/state are checked too (home from the user database)', () => {
    userLink(fx.rootDir, path.join(fx.home, '.local'));
    const r = script(`
      const u = await import(dist + '/runtime/userfiles.js');
      const user = { uid: ${UID}, gid: ${GID}, name: null, home: ${JSON.stringify(fx.home)}, switches: true };
      const loc = u.stateLocation({}, user);
      const out = { dir: loc.dir };
      try { u.writeUserFile(loc, 'progress.json', '{}'); out.write = 'written'; } catch (e) { out.write = e.message; }
      try { out.read = u.readUserFile(loc, 'progress.json', 1000); } catch (e) { out.read = e.message; }
      return out;
    `);
    expect(r.dir).toBe(path.join(fx.home, '.local', 'state', 'sandbox'));
    expect(r.write).toContain(`refusing to use ${path.join(fx.home, '.local')}: it is a symbolic link`);
    expect(r.read).toContain(`refusing to use ${path.join(fx.home, '.local')}: it is a symbolic link`);
  });

  it('root\'s supplementary groups are dropped while acting as the user: a root-group-writable directory stays closed', () => {
    // rootdir is root:root 0770: root's group list ([0]) would open it; the user's does not.
    fs.chmodSync(fx.rootDir, 0o770);
    rootDir0 = snapshot(fx.rootDir);
    fx.env.XDG_STATE_HOME = path.join(fx.rootDir, 'x', 'state');
    const save = script(`
      const m = await import(dist + '/lessons/progress.js');
      try { m.saveProgress('pid-namespaces', m.emptyProgress()); return 'saved'; } catch (e) { return e.message; }
    `);
    expect(save).toMatch(new RegExp(`cannot (create|use) ${fx.rootDir}/x/state as uid ${UID}: EACCES`));
    expect(fs.readdirSync(fx.rootDir)).toEqual([]);
  });

  it('the user comes from SUDO_UID/SUDO_GID (bounded numbers), the home from the user database', () => {
    const r = script(`
      const u = await import(dist + '/runtime/userfiles.js');
      const out = {};
      out.nobody = u.invokingUser({ SUDO_USER: 'nobody', SUDO_UID: '65534', SUDO_GID: '65534' });
      out.noEntry = u.invokingUser({ SUDO_USER: 'sbx-test-4242', SUDO_UID: '4242', SUDO_GID: '4242' });
      out.root = u.invokingUser({});
      for (const bad of ['99999999999', '-1', '1e3', 'x'.repeat(500)]) {
        try { u.invokingUser({ SUDO_USER: 'someone', SUDO_UID: bad, SUDO_GID: '1' }); out[bad.slice(0, 20)] = 'accepted'; } catch (e) { out[bad.slice(0, 20)] = e.message; }
      }
      try { u.stateLocation({}, out.noEntry); } catch (e) { out.noHome = e.message + ' | ' + e.hint; }
      return out;
    `);
    expect(r.nobody).toMatchObject({ uid: 65534, gid: 65534, name: 'nobody', home: '/nonexistent', switches: true });
    expect(r.noEntry).toMatchObject({ uid: UID, gid: GID, home: null, switches: true });
    expect(r.root).toMatchObject({ uid: 0, switches: false });
    expect(r['99999999999']).toMatch(/SUDO_UID="99999999999" is not a user or group id/);
    expect(r['-1']).toMatch(/is not a user or group id/);
    expect(r['1e3']).toMatch(/is not a user or group id/);
    expect(r.xxxxxxxxxxxxxxxxxxxx.length).toBeLessThan(200); // at most 80 characters echoed back
    expect(r.noHome).toMatch(/uid 4242 has no home directory[\s\S]*set XDG_STATE_HOME/);
  });

  it('(e) the REPL history linked to a root-only file is neither read nor written; the REPL says why', () => {
    const file = path.join(fx.dir, 'repl_history');
    userLink(fx.target, file);
    const r = script(`
      const h = await import(dist + '/repl/history.js');
      const out = {};
      try { out.load = h.loadHistory(); } catch (e) { out.load = e.message; }
      try { h.saveHistory(['create a']); out.save = 'saved'; } catch (e) { out.save = e.message; }
      const history = h.openHistory();
      const told = [];
      history.onProblem((t) => told.push(t));
      history.add('create a');
      history.add('start a');
      out.entries = history.entries;
      out.told = told;
      return out;
    `);
    expect(r.load).toContain(`refusing to use ${file}: it is a symbolic link`);
    expect(r.save).toContain(`refusing to use ${file}: it is a symbolic link`);
    expect(r.entries).toEqual(['create a', 'start a']); // in memory only; nothing of the target
    expect(r.told).toHaveLength(1);
    expect(r.told[0]).toContain(`history is not kept: refusing to use ${file}`);
    expect(fs.readlinkSync(file)).toBe(fx.target);
  });

  it.skipIf(!hasTmux)('(e) the full-screen REPL shows the refusal naming the history file, and works on', async () => {
    const file = path.join(fx.dir, 'repl_history');
    userLink(fx.target, file);
    const socket = `sbx-userfiles-repl-${process.pid}`;
    const tmux = (...a: string[]) => execFileSync('tmux', ['-L', socket, ...a], { encoding: 'utf8' });
    const envArgs = ['SUDO_USER', 'SUDO_UID', 'SUDO_GID', 'XDG_STATE_HOME', 'NO_COLOR'].map((k) => `${k}=${fx.env[k]}`).join(' ');
    const screen = () => tmux('capture-pane', '-p', '-J', '-t', 'repl');
    const waitFor = async (re: RegExp, ms = 30_000) => {
      const end = Date.now() + ms;
      while (!re.test(screen())) {
        if (Date.now() > end) throw new Error(`timed out waiting for ${re}; screen:\n${screen()}`);
        await sleep(100);
      }
    };
    try {
      tmux('new-session', '-d', '-s', 'repl', '-x', '220', '-y', '40', `env -u CI ${envArgs} ${process.execPath} ${CLI} repl; echo EXITED $?; sleep 60`);
      await waitFor(/history is not kept: refusing to use/);
      expect(screen().replace(/\s*│.*$/gm, '')).toContain('repl_history');
      tmux('send-keys', '-t', 'repl', '-l', 'help');
      tmux('send-keys', '-t', 'repl', 'Enter');
      await waitFor(/create/);
      tmux('send-keys', '-t', 'repl', '-l', 'exit');
      tmux('send-keys', '-t', 'repl', 'Enter');
      await waitFor(/EXITED 0/);
    } finally {
      spawnSync('tmux', ['-L', socket, 'kill-server']);
    }
    expect(fs.readlinkSync(file)).toBe(fx.target);
  });

  it('(e) with no link, the history is written as the user (0600) and read back', () => {
    const r = script(`
      const h = await import(dist + '/repl/history.js');
      const history = h.openHistory();
      history.add('create a');
      history.add('start a');
      return h.loadHistory();
    `);
    expect(r).toEqual(['create a', 'start a']);
    const st = fs.lstatSync(path.join(fx.dir, 'repl_history'));
    expect({ uid: st.uid, gid: st.gid, mode: st.mode & 0o777 }).toEqual({ uid: UID, gid: GID, mode: 0o600 });
    for (const d of [path.join(fx.home, '.local'), fx.state, fx.dir]) expect(fs.statSync(d).uid).toBe(UID);
  });

  it('after acting as the user, the same process still builds a user-namespace sandbox', () => {
    const r = script(`
      const m = await import(dist + '/lessons/progress.js');
      const { Sandbox } = await import(dist + '/runtime/index.js');
      m.saveProgress('pid-namespaces', m.emptyProgress());
      const s = await Sandbox.create({ namespaces: ['user', 'pid', 'mount'], init: true, name: 'uf-userns-' + process.pid });
      try {
        const o = await s.execOutput(['sh', '-c', 'id -u; cat /proc/self/uid_map']);
        return o.stdout;
      } finally {
        await s.destroy();
      }
    `);
    const [uid, map] = String(r).trim().split('\n');
    expect(uid).toBe('0');
    expect(map.trim().split(/\s+/)[0]).toBe('0');
    expect(map.trim().split(/\s+/)[1]).not.toBe('0'); // root inside is not root outside
    expect(leftovers()).toEqual([]);
  });
});
