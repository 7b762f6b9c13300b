/**
 * Lessons an instructor writes, as folders (docs/LESSON-FORMAT.md), through the real CLI (the
 * built dist/cli.js) from a temporary current directory, as on a fresh clone:
 *  - `new-lesson demo && check-lesson demo && learn ./demo --auto --plain` (issue 16, acceptance 1);
 *  - the trust gate: a folder not yet trusted (or edited since) runs nothing without a terminal
 *    and without --yes (exit 2, every line it would run listed with file:line); --yes runs it;
 *  - every malformed fixture (test/fixtures/lessons/malformed.json) refused by learn and
 *    check-lesson with file:line and exit 2, nothing created (acceptance 3);
 *  - `lessons --course`, progress keyed per folder, `reset ./dir`, new-lesson's refusals, help.
 * The real runs need root.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { acquireLessonLock, releaseLessonLock } from '../../helpers/lesson-lock.js';
import { isRoot, leftovers } from '../../helpers/resources.js';

const ROOT = path.resolve(import.meta.dirname, '../../..');
const CLI = path.join(ROOT, 'dist/cli.js');
const FIXTURES = path.join(ROOT, 'test/fixtures/lessons');
let top: string;
let state: string;

beforeAll(() => {
  top = fs.mkdtempSync(path.join(os.tmpdir(), 'sandbox-lesson-folder-'));
  fs.chmodSync(top, 0o755);
  state = path.join(top, 'state');
});
afterAll(() => fs.rmSync(top, { recursive: true, force: true }));

/** The CLI in `cwd` (stdin a pipe: no terminal), with its own state directory. */
function sandbox(args: string[], cwd = top, env: NodeJS.ProcessEnv = {}) {
  const e: NodeJS.ProcessEnv = { ...process.env, XDG_STATE_HOME: state, NO_COLOR: '1' };
  delete e.SANDBOX_COURSE;
  Object.assign(e, env);
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: 'utf8', timeout: 300_000, env: e, input: '' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function trustFile(): { version: number; folders: Record<string, { hash: string }> } {
  return JSON.parse(fs.readFileSync(path.join(state, 'sandbox', 'trusted-lessons.json'), 'utf8'));
}

/** What sandbox has on the host (cgroups, /run/sandbox, ledger) plus netns and sbx-* links. */
function hostState(): string[] {
  const netns = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout.split('\n').filter((l) => l.startsWith('sandbox-'));
  const links = spawnSync('ip', ['-br', 'link'], { encoding: 'utf8' }).stdout.split('\n').filter((l) => l.startsWith('sbx-'));
  return [...leftovers(), ...netns.map((n) => `netns ${n}`), ...links.map((l) => `link ${l.split(/\s/)[0]}`)];
}

describe('new-lesson, check-lesson --static, lessons --course (no root needed)', { timeout: 180_000 }, () => {
  it('help: both verbs describe themselves with examples', () => {
    const n = sandbox(['new-lesson', '--help']);
    expect(n.code).toBe(0);
    expect(n.stdout).toMatch(/skeleton lesson in the folder format/);
    expect(n.stdout).toMatch(/Examples:\n {2}sandbox new-lesson my-lesson/);
    const c = sandbox(['check-lesson', '--help']);
    expect(c.code).toBe(0);
    expect(c.stdout.replace(/\s+/g, ' ')).toMatch(/every check passes after its step and fails when the step's action is skipped/);
    expect(c.stdout).toMatch(/--static/);
    expect(c.stdout).toMatch(/Examples:/);
    expect(sandbox(['learn', '--help']).stdout).toMatch(/sandbox learn \.\/my-lesson/);
  });

  it('new-lesson writes a skeleton that check-lesson --static accepts; it refuses an existing path, a link and a name that is no id', () => {
    const cwd = fs.mkdtempSync(path.join(top, 'static-'));
    const r = sandbox(['new-lesson', 'my-lesson'], cwd);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Wrote my-lesson\/lesson\.md/);
    const text = fs.readFileSync(path.join(cwd, 'my-lesson/lesson.md'), 'utf8');
    expect(text).toMatch(/^---\nid: my-lesson\n/);
    expect(text).toMatch(/^# /m); // commented
    const s = sandbox(['check-lesson', 'my-lesson', '--static'], cwd);
    expect(s.stderr).not.toMatch(/error/);
    expect(s.code).toBe(0);
    expect(s.stdout).toMatch(/my-lesson: ok/);

    // An existing folder: refused, unchanged.
    const again = sandbox(['new-lesson', 'my-lesson'], cwd);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/my-lesson already exists: new-lesson writes a new folder and never changes an existing one/);
    expect(fs.readFileSync(path.join(cwd, 'my-lesson/lesson.md'), 'utf8')).toBe(text);
    // A link: not followed (nothing is written where it points).
    const target = fs.mkdtempSync(path.join(top, 'target-'));
    fs.symlinkSync(target, path.join(cwd, 'linked'));
    const linked = sandbox(['new-lesson', 'linked'], cwd);
    expect(linked.code).toBe(2);
    expect(fs.readdirSync(target)).toEqual([]);
    // A name that cannot be an id: nothing created.
    const bad = sandbox(['new-lesson', 'My_Lesson'], cwd);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/not a lesson id: .*lowercase words joined by -/);
    expect(fs.existsSync(path.join(cwd, 'My_Lesson'))).toBe(false);
  });

  it('lessons --course lists the folders after the course (a malformed one with file:line); SANDBOX_COURSE too; a missing course is exit 2', () => {
    const course = fs.mkdtempSync(path.join(top, 'course-'));
    fs.cpSync(path.join(FIXTURES, 'demo'), path.join(course, 'demo'), { recursive: true });
    fs.cpSync(path.join(FIXTURES, 'bad-unknown-key'), path.join(course, 'broken'), { recursive: true });
    fs.mkdirSync(path.join(course, 'notes')); // no lesson.md: not listed
    const r = sandbox(['lessons', '--course', course]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/pid-namespaces/);
    expect(r.stdout).toContain(`Lessons in ${course}:`);
    expect(r.stdout).toMatch(/ 2\. demo +new .*A hostname of its own/);
    expect(r.stdout).toContain(`sudo sandbox learn ${course}/demo`);
    expect(r.stdout).toMatch(new RegExp(` 1\\. broken +malformed: ${course}/broken/lesson\\.md:23: unknown key "equal"`));
    expect(r.stdout).not.toMatch(/notes/);
    const j = sandbox(['lessons', '--json'], top, { SANDBOX_COURSE: course });
    const rows = JSON.parse(j.stdout) as { id: string; path?: string; status: string; error?: string }[];
    expect(rows[0].id).toBe('pid-namespaces');
    expect(rows.find((x) => x.id === 'demo')).toMatchObject({ path: `${course}/demo`, status: 'new' });
    expect(rows.find((x) => x.path === `${course}/broken`)).toMatchObject({ status: 'malformed', error: expect.stringMatching(/lesson\.md:23:/) });
    const missing = sandbox(['lessons', '--course', path.join(top, 'nope')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/cannot read the course folder .*nope.*ENOENT/);
  });
});

// Each run of the CLI takes a second or two on a loaded machine: acceptance 3 alone makes 32.
describe.skipIf(!isRoot)('lesson folders run for real (needs root)', { timeout: 600_000 }, () => {
  beforeAll(() => acquireLessonLock(), 900_000);
  afterAll(() => releaseLessonLock());

  it('acceptance 1: new-lesson demo && check-lesson demo && learn ./demo --auto --plain, from a fresh directory; nothing left', () => {
    const cwd = fs.mkdtempSync(path.join(top, 'fresh-'));
    const before = hostState();
    const n = sandbox(['new-lesson', 'demo'], cwd);
    expect(n.code).toBe(0);
    // new-lesson remembers that the user trusts what it wrote: no question, no --yes.
    const real = fs.realpathSync(path.join(cwd, 'demo'));
    expect(trustFile().folders[real].hash).toMatch(/^[0-9a-f]{64}$/);
    const c = sandbox(['check-lesson', 'demo'], cwd);
    expect(c.stdout).not.toMatch(/✗/);
    expect(c.code).toBe(0);
    expect(c.stdout).toMatch(/demo: ok: 2 checks and 2 challenges, run for real/);
    expect(c.stderr).toMatch(/every check fails without its action: yes/);
    const l = sandbox(['learn', './demo', '--auto', '--plain'], cwd);
    expect(l.stderr).toBe('');
    expect(l.code).toBe(0);
    expect(l.stdout).toMatch(/Demo: (\d+) of \1 checks passed\. Lesson complete\./);
    expect(l.stdout).toMatch(/Challenges: 2 of 2 done/);
    expect(l.stdout).toMatch(/probe: +grep NSpid \/proc\/\$A\/status/);
    expect(hostState()).toEqual(before);
  });

  it('trust: an edited lesson asks again; without a terminal and --yes it runs nothing (exit 2, every line listed); --yes runs it', () => {
    const cwd = fs.mkdtempSync(path.join(top, 'trust-'));
    expect(sandbox(['new-lesson', 'demo'], cwd).code).toBe(0);
    fs.appendFileSync(path.join(cwd, 'demo/lesson.md'), '\nOne more line of prose.\n');
    const before = hostState();
    for (const args of [['learn', './demo', '--auto', '--plain'], ['check-lesson', 'demo']]) {
      const r = sandbox(args, cwd);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(/runs \d+ lines as root on this machine:/);
      expect(r.stderr).toMatch(/lesson\.md:\d+ +sandbox \(setup\) +setup +create a --pid --mount/);
      expect(r.stderr).toMatch(/lesson\.md:\d+ +host \(root\) +solution +echo 5 > "\$B_CG\/pids\.max"/);
      expect(r.stderr).toMatch(/has changed since you said yes to it, and there is no terminal to ask on/);
      expect(r.stderr).toMatch(/pass --yes: sandbox (learn \.\/demo --auto --plain|check-lesson \.\/demo) --yes/);
      expect(r.stdout).toBe('');
      expect(hostState()).toEqual(before);
    }
    // A copy elsewhere is another folder: it asks too (it has never been answered).
    fs.cpSync(path.join(cwd, 'demo'), path.join(cwd, 'copy'), { recursive: true });
    const copy = sandbox(['learn', './copy', '--auto', '--plain'], cwd);
    expect(copy.code).toBe(2);
    expect(copy.stderr).toMatch(/has not been run by you on this machine before/);
    // --yes: runs, says so, and does not remember (a yes for automation is not the user's answer).
    const yes = sandbox(['learn', './demo', '--auto', '--plain', '--yes'], cwd);
    expect(yes.stderr).toMatch(/--yes: running the \d+ lines of \.\/demo without asking/);
    expect(yes.code).toBe(0);
    expect(sandbox(['learn', './demo', '--auto', '--plain'], cwd).code).toBe(2);
    expect(hostState()).toEqual(before);
  });

  it('new-lesson under sudo writes as the invoking user (uid 4242): the folder, lesson.md and the trust file are theirs; where they may not write, nothing is made', () => {
    const home = fs.mkdtempSync(path.join(top, 'sudo-'));
    fs.chmodSync(home, 0o755);
    const mine = path.join(home, 'mine');
    fs.mkdirSync(mine);
    fs.chownSync(mine, 4242, 4242);
    const userState = path.join(mine, '.state');
    const env = { SUDO_USER: 'sbx-test-4242', SUDO_UID: '4242', SUDO_GID: '4242', XDG_STATE_HOME: userState };
    const r = sandbox(['new-lesson', 'demo'], mine, env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    for (const p of ['demo', 'demo/lesson.md', '.state/sandbox/trusted-lessons.json']) {
      const st = fs.lstatSync(path.join(mine, p));
      expect([p, st.uid, st.gid]).toEqual([p, 4242, 4242]);
    }
    // root's own directory (0755): the user may not write there, so neither may new-lesson.
    const rootOwned = path.join(home, 'roots');
    fs.mkdirSync(rootOwned, { mode: 0o755 });
    const denied = sandbox(['new-lesson', 'demo'], rootOwned, env);
    expect(denied.code).toBe(1);
    expect(denied.stderr).toMatch(/cannot create the folder demo as uid 4242: .*EACCES/);
    expect(fs.readdirSync(rootOwned)).toEqual([]);
  });

  it('check-lesson: a check that passes without its action is a problem at its step\'s line, exit 1; nothing left', () => {
    const cwd = fs.mkdtempSync(path.join(top, 'weak-'));
    expect(sandbox(['new-lesson', 'weak'], cwd).code).toBe(0);
    const file = path.join(cwd, 'weak/lesson.md');
    const text = fs.readFileSync(file, 'utf8');
    // The first check reads a constant instead of the sandbox: it holds with or without the step.
    fs.writeFileSync(file, text.replace('probe: grep NSpid /proc/$A/status\nmatches:', 'probe: echo NSpid 1\nmatches:'));
    const heading = text.split('\n').findIndex((l) => l.startsWith('## own-pid1:')) + 1;
    const before = hostState();
    const r = sandbox(['check-lesson', 'weak', '--yes'], cwd);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`✗ lesson.md:${heading}: step 1 (own-pid1): check "a's first process is PID 1 inside its namespace" passes even when the step's action is skipped`);
    expect(r.stdout).toMatch(/weak: 1 problem \(/);
    expect(hostState()).toEqual(before);
  });

  it('acceptance 3: every malformed fixture is refused by learn and check-lesson with file:line, exit 2, nothing created', () => {
    const { cases } = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'malformed.json'), 'utf8')) as { cases: { dir: string; line: number; message: string }[] };
    expect(cases.length).toBeGreaterThanOrEqual(10);
    const before = hostState();
    for (const c of cases) {
      for (const args of [['learn', `${c.dir}/`, '--auto', '--plain', '--yes'], ['check-lesson', c.dir, '--yes']]) {
        const r = sandbox(args, FIXTURES);
        expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
        // The message is E's pattern, found in the first line (which may say first where: "in: …").
        expect(r.stderr, args.join(' ')).toMatch(new RegExp(`^error: ${c.dir}/?/lesson\\.md:${c.line}: .*${c.message}`, 'm'));
        expect(r.stderr).toMatch(/^hint: /m);
        expect(r.stdout).toBe('');
      }
    }
    expect(hostState()).toEqual(before);
  });

  it('progress is kept per folder: two folders with the same id do not share it; reset ./dir forgets only its own', () => {
    const cwd = fs.mkdtempSync(path.join(top, 'progress-'));
    const course = path.join(cwd, 'course');
    fs.mkdirSync(course);
    fs.cpSync(path.join(FIXTURES, 'demo'), path.join(course, 'one'), { recursive: true });
    fs.cpSync(path.join(FIXTURES, 'demo'), path.join(course, 'two'), { recursive: true });
    // The keys as learn computes them: `lessons --json` needs none, so write one folder's progress by hand.
    const rows = () => JSON.parse(sandbox(['lessons', '--json', '--course', course], cwd).stdout) as { path?: string; status: string; step: number | null }[];
    expect(rows().filter((r) => r.path).map((r) => r.status)).toEqual(['new', 'new']);
    const key = `demo@${createHash('sha256').update(fs.realpathSync(path.join(course, 'one'))).digest('hex').slice(0, 12)}`;
    const progress = { version: 1, lessons: { [key]: { step: 1, done: ['own-hostname'], completed: false, predictions: {}, updated: new Date().toISOString() } } };
    fs.mkdirSync(path.join(state, 'sandbox'), { recursive: true });
    fs.writeFileSync(path.join(state, 'sandbox', 'progress.json'), JSON.stringify(progress));
    const listed = rows().filter((r) => r.path);
    expect(listed.map((r) => `${path.basename(r.path!)} ${r.status}`)).toEqual(['one in progress', 'two new']);
    expect(sandbox(['reset', './course/two'], cwd).stdout).toMatch(/Nothing to forget/);
    expect(sandbox(['reset', './course/one'], cwd).stdout).toMatch(/Forgot your progress in: \.\/course\/one/);
    expect(rows().filter((r) => r.path).map((r) => r.status)).toEqual(['new', 'new']);
  });
});
