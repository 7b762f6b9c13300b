/**
 * /run/sandbox is where sandbox writes as root: the ledger, and every sandbox's directory. If
 * someone else could replace it (a symlink, a directory of theirs, one they may write), those
 * writes and removals would land where they chose. Each variant is planted and the real binary
 * must refuse, naming the path, and leave a root-owned target's content and owner as they were.
 *
 * Why a private mount namespace: other sessions on this machine use the real /run/sandbox at the
 * same time, so it cannot be swapped for a symlink here. Inside `unshare --mount` (propagation
 * private) a tmpfs on /run gives the test its own /run/sandbox at the real path (an env variable
 * would test another code path), and tmpfs on /sys/fs/cgroup and /sys/class/net hide every other
 * session's cgroups and veths: if a refusal ever regressed into a sweep, it would find nothing of
 * theirs to remove. One case (a planted ledger entry) needs real sandboxes and runs outside.
 */
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { isRoot, leftovers } from '../../helpers/resources.js';

const ROOT = path.resolve(import.meta.dirname, '../../..');
const CLI = `${ROOT}/dist/cli.js`;
const LEDGER_JS = `${ROOT}/dist/runtime/ledger.js`;

let tmp: string;
/** A root-owned directory holding a root-owned 0600 file: what an attacker points a link at. */
let victim: string;
const SECRET = 'root:$6$do-not-touch:19000:0:99999:7:::\n';

interface Snapshot {
  files: Record<string, { content: string; uid: number; gid: number; mode: number }>;
}

function snapshotDir(dir: string): Snapshot {
  const files: Snapshot['files'] = {};
  for (const n of fs.readdirSync(dir)) {
    const st = fs.lstatSync(`${dir}/${n}`);
    files[n] = { content: st.isFile() ? fs.readFileSync(`${dir}/${n}`, 'utf8') : '', uid: st.uid, gid: st.gid, mode: st.mode };
  }
  return { files };
}

/** Runs `setup` (sh) then `command` (sh) in a private mount namespace with its own /run. */
function inPrivateRun(setup: string, command: string, input?: string) {
  const script = [
    'set -e',
    'mount -t tmpfs -o mode=755 sandbox-test-run /run',
    'mount -t tmpfs sandbox-test-cgroup /sys/fs/cgroup',
    'mount -t tmpfs sandbox-test-net /sys/class/net',
    setup,
    'set +e',
    command,
    'echo "status=$?" >&2',
    'echo "--- /run/sandbox after:" >&2',
    'ls -la /run/sandbox/ /run/sandbox/ledger/ >&2 2>&1 || true',
  ].join('\n');
  const r = spawnSync('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script], {
    encoding: 'utf8',
    input,
    timeout: 30_000,
    env: { ...process.env, CLI, VICTIM: victim, LEDGER_JS },
  });
  const status = Number(/status=(\d+)/.exec(r.stderr)?.[1] ?? -1);
  return { status, stdout: r.stdout, stderr: r.stderr, all: `${r.stdout}\n${r.stderr}` };
}

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sandbox-rundir-'));
  victim = `${tmp}/victim`;
  fs.mkdirSync(victim, { mode: 0o700 });
  fs.writeFileSync(`${victim}/shadow`, SECRET, { mode: 0o600 });
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const PLANTS: { what: string; setup: string; names: RegExp }[] = [
  { what: '/run/sandbox is a symlink to a root-owned directory', setup: 'ln -s "$VICTIM" /run/sandbox', names: /\/run\/sandbox is a symlink \(to .*victim\)/ },
  { what: '/run/sandbox is mode 0777', setup: 'mkdir -m 0777 /run/sandbox', names: /\/run\/sandbox is writable by everyone \(mode 0777\)/ },
  { what: '/run/sandbox is group-writable', setup: 'mkdir -m 0775 /run/sandbox', names: /\/run\/sandbox is writable by its group \(mode 0775\)/ },
  { what: '/run/sandbox is owned by uid 4242', setup: 'mkdir -m 0755 /run/sandbox && chown 4242:4242 /run/sandbox', names: /\/run\/sandbox is owned by uid 4242, not root/ },
  { what: '/run/sandbox is a file', setup: 'echo x > /run/sandbox', names: /\/run\/sandbox is not a directory/ },
  {
    what: '/run/sandbox/ledger is a symlink to a root-owned directory',
    setup: 'mkdir -m 0755 /run/sandbox && ln -s "$VICTIM" /run/sandbox/ledger',
    names: /\/run\/sandbox\/ledger is a symlink \(to .*victim\)/,
  },
  {
    what: '/run/sandbox/ledger is owned by uid 4242',
    setup: 'mkdir -m 0755 /run/sandbox && mkdir -m 0755 /run/sandbox/ledger && chown 4242 /run/sandbox/ledger',
    names: /\/run\/sandbox\/ledger is owned by uid 4242/,
  },
];

describe.skipIf(!isRoot)('an untrusted /run/sandbox is refused (needs root)', () => {
  for (const plant of PLANTS) {
    it(`${plant.what}: run, cleanup and the REPL refuse, naming the path; the target is unchanged`, () => {
      const before = snapshotDir(victim);
      const cases = [
        { command: 'node "$CLI" run -- true', status: 125 },
        { command: 'node "$CLI" run --name rundir-x --rootfs busybox -- true', status: 125 },
        { command: 'node "$CLI" cleanup', status: 1 },
        { command: 'node "$CLI" repl --plain', status: 1, input: 'create rundir-r\nstart rundir-r\n' },
      ];
      for (const c of cases) {
        const r = inPrivateRun(plant.setup, c.command, c.input);
        expect(r.all, c.command).toMatch(plant.names);
        expect(r.all, c.command).toMatch(/sandbox refuses to use it/);
        expect(r.all, c.command).toMatch(/hint: .*(sudo rm|sudo chmod 755).*then run `sudo sandbox cleanup`/);
        expect(r.all, c.command).not.toMatch(/\n\s+at .*:\d+:\d+/); // no stack trace
        if (!c.input) expect(r.status, `${c.command}\n${r.all}`).toBe(c.status);
        expect(snapshotDir(victim), c.command).toEqual(before);
      }
    });
  }

  it('a trusted /run/sandbox (made by sandbox itself, 0755 root) is used: cleanup succeeds', () => {
    const r = inPrivateRun('', 'node "$CLI" cleanup');
    expect(r.status, r.all).toBe(0);
    expect(r.stdout).toMatch(/Nothing to clean up/);
  });

  it('ledger entries are written and read without following links', () => {
    const before = snapshotDir(victim);
    // A node process in the namespace plants links on its own temporary file's name and on the
    // entry's name (what a user who could write there would do), then records an entry.
    const script = `
      const ledger = await import(process.env.LEDGER_JS);
      const fs = await import('node:fs');
      ledger.checkRunDir(true);
      const tmp = '/run/sandbox/ledger/rundir-e.json.' + process.pid + '.tmp';
      fs.symlinkSync(process.env.VICTIM + '/shadow', tmp);
      fs.symlinkSync(process.env.VICTIM + '/shadow', '/run/sandbox/ledger/rundir-e.json');
      fs.symlinkSync(process.env.VICTIM + '/shadow', '/run/sandbox/ledger/rundir-f.json');
      const read = { planted: ledger.readEntry('rundir-f'), all: ledger.readEntries().map((e) => e.name) };
      const entry = { version: 1, name: 'rundir-e', owner: ledger.selfId(), created: '', purpose: 'test', init: null,
        command: ['true'], namespaces: [], limits: {}, cgroups: [], dirs: [], netns: [], veths: [] };
      ledger.writeEntry(entry);
      const written = fs.lstatSync('/run/sandbox/ledger/rundir-e.json');
      const back = ledger.readEntry('rundir-e');
      ledger.removeEntry('rundir-e');
      console.log(JSON.stringify({ read, file: written.isFile(), uid: written.uid, back: back && back.name,
        tmpLeft: fs.existsSync(tmp), after: fs.readdirSync('/run/sandbox/ledger') }));
    `;
    const r = inPrivateRun('', `node --input-type=module -e '${script.replace(/'/g, "'\\''")}'`);
    expect(r.status, r.all).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
    expect(out).toEqual({
      read: { planted: null, all: [] },
      file: true,
      uid: 0,
      back: 'rundir-e',
      tmpLeft: false,
      after: ['rundir-f.json'],
    });
    expect(snapshotDir(victim)).toEqual(before);
  });

  it('cleanup removes planted links under /run/sandbox without following them, and never the ledger', () => {
    const before = snapshotDir(victim);
    const setup = [
      'mkdir -m 0755 /run/sandbox /run/sandbox/ledger /run/sandbox/orphan-a /run/sandbox/orphan-a/root',
      'mkdir -m 1777 /run/sandbox/orphan-a/root/tmp',
      'ln -s "$VICTIM" /run/sandbox/orphan-a/root/tmp/dir-link',
      'ln -s "$VICTIM/shadow" /run/sandbox/orphan-a/root/tmp/file-link',
      'ln -s "$VICTIM" /run/sandbox/orphan-b',
      'echo keep > /run/sandbox/ledger/keep.txt',
    ].join(' && ');
    const r = inPrivateRun(setup, 'node "$CLI" cleanup && ls -A /run/sandbox /run/sandbox/ledger');
    expect(r.status, r.all).toBe(0);
    expect(r.stdout).toMatch(/orphan-a/);
    expect(r.stdout).not.toMatch(/^orphan-/m); // both gone from the listing of /run/sandbox
    expect(r.stdout).toMatch(/keep\.txt/);
    expect(snapshotDir(victim)).toEqual(before);
  });

  it('removeTree refuses paths outside a sandbox directory (.., the ledger, /run/sandbox itself)', () => {
    // The decoy lives on the namespace's own /run: were a refusal to regress, only it would go.
    const script = `
      const ledger = await import(process.env.LEDGER_JS);
      const fs = await import('node:fs');
      ledger.checkRunDir(true);
      fs.mkdirSync('/run/sandbox/a');
      const out = [];
      for (const p of ['/run/sandbox/../decoy', '/run/sandbox/ledger', '/run/sandbox', '/run/sandbox/', '/run/decoy', '/run/sandbox/a/../../decoy', '/run/sandbox/./a']) {
        try { ledger.removeTree(p); out.push(p + ': removed'); } catch (e) { out.push(p + ': ' + (/refusing/.test(e.message) ? 'refused' : e.message)); }
      }
      out.push('decoy: ' + fs.readFileSync('/run/decoy/file', 'utf8').trim());
      out.push('ledger: ' + fs.existsSync('/run/sandbox/ledger'));
      console.log(JSON.stringify(out));
    `;
    const r = inPrivateRun('mkdir /run/decoy && echo kept > /run/decoy/file', `node --input-type=module -e '${script.replace(/'/g, "'\\''")}'`);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as string[];
    expect(out.slice(0, -2).every((l) => l.endsWith(': refused')), out.join('\n')).toBe(true);
    expect(out.slice(-2)).toEqual(['decoy: kept', 'ledger: true']);
  });
});

describe.skipIf(!isRoot)('the real /run/sandbox (needs root)', () => {
  let before: string[];
  beforeAll(() => {
    before = leftovers();
  });

  it('a run whose ledger entry name and temporary file names are planted links leaves the target alone', () => {
    const name = `rundir-${crypto.randomBytes(3).toString('hex')}`;
    const target = `${victim}/shadow`;
    const ledger = '/run/sandbox/ledger';
    const planted: string[] = [];
    // The next pids, where the CLI's process will be: what the attacker in issue 10 did.
    const last = Number(fs.readFileSync('/proc/sys/kernel/ns_last_pid', 'utf8'));
    for (let attempt = 0; ; attempt++) {
      try {
        fs.mkdirSync(ledger, { recursive: true, mode: 0o755 });
        fs.symlinkSync(target, `${ledger}/${name}.json`);
        planted.push(`${ledger}/${name}.json`);
        break;
      } catch (err) {
        // another session removed the empty ledger directory between our mkdir and symlink
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || attempt > 5) throw err;
      }
    }
    for (let pid = last + 1; pid < last + 50; pid++) {
      const p = `${ledger}/${name}.json.${pid}.tmp`;
      fs.symlinkSync(target, p);
      planted.push(p);
    }
    let r: ReturnType<typeof spawnSync>;
    try {
      r = spawnSync(process.execPath, [CLI, 'run', '--name', name, '--', 'true'], { encoding: 'utf8', timeout: 60_000 });
    } finally {
      for (const p of planted) fs.rmSync(p, { force: true });
      // The sandbox's destroy could not remove the ledger directory while our links were in it:
      // do what it would have done (rmdir fails harmlessly if another session's entries are there).
      for (const d of [ledger, '/run/sandbox']) {
        try {
          fs.rmdirSync(d);
        } catch {
          /* not empty: other sessions */
        }
      }
    }
    expect(r.status, String(r.stderr)).toBe(0);
    expect(fs.readFileSync(target, 'utf8')).toBe(SECRET);
    const st = fs.statSync(target);
    expect([st.uid, st.gid, st.mode & 0o7777]).toEqual([0, 0, 0o600]);
    expect(fs.existsSync(`${ledger}/${name}.json`)).toBe(false);
  });

  afterAll(() => {
    const after = leftovers().filter((l) => !before.includes(l));
    expect(after).toEqual([]);
  });
});
