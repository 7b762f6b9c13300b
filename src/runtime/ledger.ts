/**
 * The ledger: a JSON file per sandbox under /run/sandbox/ledger/, written *before* any of its
 * resources exist and removed only *after* all of them are gone. So whatever a killed session
 * left behind is either named in an entry whose owner process is dead, or carries a sandbox name
 * no entry claims; `sweep()` removes both kinds, and never touches a sandbox whose owner lives.
 *
 * What sandbox creates, and nothing else: cgroups `sandbox/<name>`, directories and mounts under
 * /run/sandbox/<name>/, network namespaces `sandbox-<name>` (/run/netns), veth devices `sbx-…`.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { cgroups, INTERNAL_DIRS, nameProblem } from './cgroup/index.js';
import type { Limits } from './cgroup/limits.js';
import { echo, SandboxError, usageError, wrapSystemError } from './errors.js';
import { MNT_DETACH, type Namespace } from './linux.js';
import { native } from './native.js';

export const RUN_DIR = '/run/sandbox';
export const LEDGER_DIR = `${RUN_DIR}/ledger`;
export const NETNS_DIR = '/run/netns';
export const NETNS_PREFIX = 'sandbox-';
export const VETH_PREFIX = 'sbx-';

export interface ProcessId {
  pid: number;
  /** Start time in clock ticks since boot (/proc/PID/stat field 22): tells a reused pid apart. */
  start: number;
}

export interface LedgerEntry {
  version: 1;
  name: string;
  /** What the entry stands for; absent = a sandbox. A workspace (workspace.ts) has no processes. */
  kind?: 'sandbox' | 'workspace';
  /** The sandbox process (Node) that created it and is responsible for removing it. */
  owner: ProcessId & { command: string };
  created: string;
  /** Who made it: "run", "repl", "lesson pid-namespaces", "test"… */
  purpose: string;
  /** The sandbox's first process, once started. */
  init: ProcessId | null;
  command: string[];
  namespaces: Namespace[];
  hostname?: string;
  limits: Limits;
  cgroups: string[];
  dirs: string[];
  netns: string[];
  veths: string[];
  /**
   * Backing files of loop devices (loop.ts), recorded before `losetup` attaches them: a device is
   * found again by its backing file (/sys/block/loopN/loop/backing_file), never by its number,
   * which another program may have taken since.
   */
  loops?: string[];
}

/** State (R, S, Z…) and start time of a process, from /proc/PID/stat; null if it is gone. */
function statOf(pid: number): { state: string; start: number } | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0], start: Number(fields[19]) };
  } catch {
    return null;
  }
}

export function processStartTime(pid: number): number | null {
  return statOf(pid)?.start ?? null;
}

/** The same process (not a reused pid) and still running: a zombie has died, it only awaits reaping. */
export function isAlive(id: ProcessId): boolean {
  const s = statOf(id.pid);
  return s !== null && s.start === id.start && s.state !== 'Z' && s.state !== 'X';
}

export function selfId(): ProcessId & { command: string } {
  return { pid: process.pid, start: processStartTime(process.pid) ?? 0, command: process.argv.slice(1).join(' ') };
}

// --- trusted directories -------------------------------------------------------------------

/*
 * sandbox writes, renames and removes files under /run/sandbox as root. If someone else could
 * replace a directory on that path (a symlink to /etc, a directory they own or may write), those
 * writes and removals would land wherever they point. So every directory root works in here must
 * be a real directory (lstat, never stat), owned by root, that neither group nor others may write
 * (0755 or stricter); then only root can change what is inside it. Anything else is refused, with
 * the path and what to do about it, before anything is read, written or removed.
 */

const { O_CREAT, O_DIRECTORY, O_EXCL, O_NOFOLLOW, O_NONBLOCK, O_RDONLY, O_WRONLY } = fs.constants;

/** Why the directory at `p` (as lstat saw it) cannot be trusted, as "p is …" with what to do; null if it can. */
function distrust(p: string, st: fs.Stats): { why: string; fix: string } | null {
  const again = 'then run `sudo sandbox cleanup`';
  if (st.isSymbolicLink()) {
    let target = '';
    try {
      target = ` (to ${echo(fs.readlinkSync(p))})`;
    } catch {
      /* gone meanwhile */
    }
    return { why: `${p} is a symlink${target}, not a directory`, fix: `remove the link with \`sudo rm ${p}\`, ${again}` };
  }
  if (!st.isDirectory()) return { why: `${p} is not a directory`, fix: `remove it with \`sudo rm ${p}\`, ${again}` };
  if (st.uid !== 0) {
    return { why: `${p} is owned by uid ${st.uid}, not root`, fix: `look at what is in it, remove it with \`sudo rm -r ${p}\`, ${again}` };
  }
  if (st.mode & 0o022) {
    const mode = (st.mode & 0o7777).toString(8).padStart(4, '0');
    return {
      why: `${p} is writable by ${st.mode & 0o002 ? 'everyone' : 'its group'} (mode ${mode})`,
      fix: `look at what is in it, make it root's alone with \`sudo chmod 755 ${p}\` (or remove it), ${again}`,
    };
  }
  return null;
}

function unsafeDir(p: string, problem: { why: string; fix: string }): SandboxError {
  return new SandboxError(`${problem.why}; sandbox refuses to use it: it writes there as root, so whoever controls it could redirect those writes`, {
    code: 'E_UNSAFE_DIR',
    step: 'run-dir',
    path: p,
    hint: problem.fix,
  });
}

/**
 * Checks (and with `create`, makes, mode 0755) one directory root works in. Returns false if it
 * does not exist (and was not to be made); throws E_UNSAFE_DIR if it cannot be trusted.
 */
function trustedDir(p: string, create: boolean): boolean {
  for (let attempt = 0; ; attempt++) {
    let st: fs.Stats;
    try {
      st = fs.lstatSync(p);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw wrapSystemError(err, { what: `checking ${p}`, step: 'run-dir', path: p });
      if (!create) return false;
      try {
        // mkdir never follows a symlink in the last component: a planted link makes it fail (EEXIST).
        fs.mkdirSync(p, { mode: 0o755 });
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        // EEXIST: made meanwhile (another session); ENOENT: its parent was removed meanwhile (the
        // last sandbox of another session went): look again.
        if ((code !== 'EEXIST' && code !== 'ENOENT') || attempt > 4) throw wrapSystemError(e, { what: `making ${p}`, step: 'run-dir', path: p });
        if (code === 'ENOENT') trustedDir(path.dirname(p), true);
      }
      continue;
    }
    const problem = distrust(p, st);
    if (problem) throw unsafeDir(p, problem);
    return true;
  }
}

/**
 * /run/sandbox, checked (see distrust): returns false if it does not exist, throws if it cannot be
 * trusted. `create` makes it (0755) when missing. Call before using anything under it.
 */
export function checkRunDir(create = false): boolean {
  if (!trustedDir(RUN_DIR, create)) return false;
  trustedDir(LEDGER_DIR, create);
  return true;
}

/** Like checkRunDir, for readers that must not throw: false when absent or untrusted. */
function runDirUsable(): boolean {
  try {
    return checkRunDir() && fs.existsSync(LEDGER_DIR);
  } catch {
    return false;
  }
}

/**
 * Makes /run/sandbox/<name> for a sandbox or workspace (root's, 0755), after checking
 * /run/sandbox; an existing one must be a trusted directory too. Returns its path.
 */
export function ownDir(name: string): string {
  const problem = nameProblem(name);
  if (problem) throw usageError(problem.message, problem.hint);
  checkRunDir(true);
  const dir = `${RUN_DIR}/${name}`;
  trustedDir(dir, true);
  return dir;
}

// --- entries ----------------------------------------------------------------------------------

function entryPath(name: string): string {
  return `${LEDGER_DIR}/${name}.json`;
}

/** Largest entry read: a real one is a few KiB. */
const MAX_ENTRY = 1024 * 1024;

/**
 * Atomically (write + rename): a reader, such as another session's sweep, never sees half an entry.
 * The temporary file is made with O_EXCL|O_NOFOLLOW, so a link planted on its name is never
 * followed, and rename() replaces a link on the entry's name instead of writing through it.
 */
export function writeEntry(entry: LedgerEntry, options: { exclusive?: boolean } = {}): void {
  const problem = nameProblem(entry.name);
  if (problem) throw usageError(problem.message, problem.hint);
  const tmp = `${entryPath(entry.name)}.${process.pid}.tmp`;
  const text = JSON.stringify(entry, null, 2);
  let taken = false;
  try {
    // Another session removes the empty ledger directory when its last sandbox goes; if that
    // happens between our mkdir and our write, make it again. Once our file is in it, the
    // directory is not empty and stays until the rename is done.
    let fd = -1;
    for (let attempt = 0; fd < 0; attempt++) {
      checkRunDir(true);
      try {
        fd = fs.openSync(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o644);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (attempt > 4 || (code !== 'ENOENT' && code !== 'EEXIST')) throw err;
        // EEXIST: left by a dead process that had our pid (or planted): unlink never follows a link.
        if (code === 'EEXIST') fs.unlinkSync(tmp);
      }
    }
    try {
      fs.writeSync(fd, text);
    } finally {
      fs.closeSync(fd);
    }
    if (options.exclusive) {
      // A new sandbox's first entry: link() fails if the name exists, where rename() would
      // replace it. claimName() checks first, but two sessions that check at the same moment
      // (two learners starting one lesson together) would both pass and share one cgroup.
      try {
        fs.linkSync(tmp, entryPath(entry.name));
      } catch (err) {
        taken = (err as NodeJS.ErrnoException).code === 'EEXIST';
        throw err;
      } finally {
        fs.rmSync(tmp, { force: true });
      }
    } else {
      fs.renameSync(tmp, entryPath(entry.name));
    }
  } catch (err) {
    if (taken) {
      const other = readEntry(entry.name);
      throw usageError(
        `the name "${entry.name}" is taken by a running session${other ? ` (pid ${other.owner.pid}: ${other.owner.command})` : ''}`,
        'choose another name, or destroy that one first',
        'E_EXISTS',
      );
    }
    throw wrapSystemError(err, { what: `recording sandbox ${entry.name} in the ledger`, step: 'ledger', path: entryPath(entry.name) });
  }
}

function isEntry(e: unknown, name: string): e is LedgerEntry {
  const x = e as LedgerEntry;
  return (
    typeof x === 'object' &&
    x !== null &&
    x.name === name &&
    typeof x.owner?.pid === 'number' &&
    typeof x.owner?.start === 'number' &&
    ['dirs', 'netns', 'veths', 'cgroups'].every((k) => Array.isArray(x[k as 'dirs']) && x[k as 'dirs'].every((v) => typeof v === 'string'))
  );
}

/**
 * The entry of `name`, or null. Only a regular file of root's is read (O_NOFOLLOW: a symlink
 * planted as an entry is never followed), and only if /run/sandbox can be trusted.
 */
export function readEntry(name: string): LedgerEntry | null {
  if (nameProblem(name) || !runDirUsable()) return null;
  let fd = -1;
  try {
    fd = fs.openSync(entryPath(name), O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
    const st = fs.fstatSync(fd);
    if (!st.isFile() || st.uid !== 0 || st.size > MAX_ENTRY) return null;
    const e = JSON.parse(fs.readFileSync(fd, 'utf8')) as unknown;
    return isEntry(e, name) ? e : null;
  } catch {
    return null;
  } finally {
    if (fd >= 0) fs.closeSync(fd);
  }
}

export function readEntries(): LedgerEntry[] {
  if (!runDirUsable()) return [];
  let files: string[];
  try {
    files = fs.readdirSync(LEDGER_DIR);
  } catch {
    return [];
  }
  return files
    .filter((f) => f.endsWith('.json'))
    .map((f) => readEntry(f.slice(0, -5)))
    .filter((e): e is LedgerEntry => e !== null);
}

export function removeEntry(name: string): void {
  if (nameProblem(name) || !runDirUsable()) return;
  try {
    // unlink removes a link itself, never what it points to.
    fs.unlinkSync(entryPath(name));
  } catch {
    /* already gone */
  }
  try {
    fs.rmdirSync(LEDGER_DIR);
    fs.rmdirSync(RUN_DIR);
  } catch {
    /* other sandboxes remain */
  }
}

// --- mounts -----------------------------------------------------------------------------------

/** Mount points at or under `dir` on the host (this process's mount namespace), deepest first. */
export function mountsUnder(dir: string): string[] {
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  const text = fs.readFileSync('/proc/self/mountinfo', 'utf8');
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const mp = line.split(' ')[4];
    if (!mp) continue;
    const decoded = mp.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    if (decoded === dir || decoded.startsWith(prefix)) out.push(decoded);
  }
  return out.sort((a, b) => b.length - a.length);
}

function umountAll(dir: string): string[] {
  const done: string[] = [];
  // A mount can be stacked several times on one point: repeat until none is left.
  for (let round = 0; round < 10; round++) {
    const mounts = mountsUnder(dir);
    if (mounts.length === 0) break;
    for (const m of mounts) {
      try {
        native().umount(m, MNT_DETACH);
        done.push(m);
      } catch {
        /* raced with another unmount */
      }
    }
  }
  return done;
}

/** Deepest tree removeTree descends (a directory fd is held open per level). */
const MAX_DEPTH = 256;

/** `name` inside the directory open as `fd`, as a path that resolves through the fd, not through names. */
function at(fd: number, name: string): string {
  return `/proc/self/fd/${fd}/${name}`;
}

/** Opens a directory without following a symlink (ELOOP/ENOTDIR if it is one, or was swapped for one). */
function openDir(p: string): number {
  return fs.openSync(p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
}

/**
 * Removes a directory tree that sandbox created, after unmounting whatever is mounted inside it.
 * It never follows symlinks and never descends into another filesystem: if a mount survived, the
 * host's files behind it are left alone and an error says so.
 *
 * Every step goes through an open directory fd (/proc/self/fd/N/name, the openat() of Node), not
 * through the path again: a directory that was checked and then swapped for a symlink (by a
 * sandbox that could write in the tree, or a user in a world-writable tmp/ inside it) fails to
 * open with O_NOFOLLOW instead of leading the removal out of /run/sandbox.
 */
export function removeTree(dir: string): { unmounted: string[]; removed: boolean; loops?: string[] } {
  const rel = dir.startsWith(`${RUN_DIR}/`) ? dir.slice(RUN_DIR.length + 1).split('/') : [];
  if (rel.length === 0 || rel.some((c) => c === '' || c === '.' || c === '..') || INTERNAL_DIRS.includes(rel[0])) {
    throw new SandboxError(`refusing to remove ${echo(dir)}: not a sandbox's directory under ${RUN_DIR}`, { code: 'E_BUG', actionable: false, path: dir });
  }
  if (!checkRunDir()) return { unmounted: [], removed: false };
  // Loop devices first: once the tmpfs that holds a backing file is unmounted, its path no longer
  // names it, and the device would stay attached to a file nobody can find.
  const loops = detachLoopsUnder(dir);
  const unmounted = umountAll(dir);
  const gone = (err: unknown) => ['ENOENT', 'ENOTDIR'].includes((err as NodeJS.ErrnoException).code ?? '');
  const fds: number[] = [];
  try {
    let parent = openDir(RUN_DIR);
    fds.push(parent);
    const top = fs.fstatSync(parent);
    for (const c of rel.slice(0, -1)) {
      try {
        parent = openDir(at(parent, c));
      } catch (err) {
        if (gone(err)) return { unmounted, removed: false };
        throw err;
      }
      fds.push(parent);
    }
    const walk = (dirFd: number, name: string, depth: number): void => {
      const p = at(dirFd, name);
      let st: fs.Stats;
      try {
        st = fs.lstatSync(p);
      } catch (err) {
        if (gone(err)) return; // removed concurrently (another session's sweep)
        throw err;
      }
      if (!st.isDirectory()) {
        try {
          fs.unlinkSync(p); // a link itself, never its target
        } catch (err) {
          if (!gone(err)) throw err;
        }
        return;
      }
      if (st.dev !== top.dev) throw new Error(`refusing to descend into ${dir}: something in it is on another filesystem (a mount that could not be removed)`);
      if (depth > MAX_DEPTH) throw new Error(`refusing to descend into ${dir}: deeper than ${MAX_DEPTH} directories`);
      let fd: number;
      try {
        fd = openDir(p);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') return;
        if (code === 'ELOOP' || code === 'ENOTDIR') return walk(dirFd, name, depth + 1); // swapped since lstat: remove what is there now
        throw err;
      }
      try {
        if (fs.fstatSync(fd).dev !== top.dev) throw new Error(`refusing to descend into ${dir}: something in it is on another filesystem`);
        for (const e of fs.readdirSync(`/proc/self/fd/${fd}`)) walk(fd, e, depth + 1);
      } finally {
        fs.closeSync(fd);
      }
      try {
        fs.rmdirSync(p);
      } catch (err) {
        if (!gone(err)) throw err;
      }
    };
    const last = rel[rel.length - 1];
    try {
      fs.lstatSync(at(parent, last));
    } catch (err) {
      if (gone(err)) return { unmounted, removed: false };
      throw err;
    }
    walk(parent, last, 0);
  } catch (err) {
    throw wrapSystemError(err, { what: `removing ${dir}`, step: 'cleanup', path: dir });
  } finally {
    for (const fd of fds) fs.closeSync(fd);
  }
  return { unmounted, removed: true, loops };
}

// --- loop devices -----------------------------------------------------------------------------

/** Where the kernel lists block devices; a seam for tests. */
export const SYS_BLOCK = '/sys/block';

/**
 * Attached loop devices and their backing files, from /sys/block/loopN/loop/backing_file (the
 * path as the kernel resolved it when attaching; " (deleted)" once the file was unlinked).
 */
export function loopDevices(sysBlock = SYS_BLOCK): { device: string; backingFile: string }[] {
  let names: string[];
  try {
    names = fs.readdirSync(sysBlock).filter((n) => /^loop\d{1,7}$/.test(n));
  } catch {
    return [];
  }
  const out: { device: string; backingFile: string }[] = [];
  for (const n of names) {
    try {
      const file = fs.readFileSync(`${sysBlock}/${n}/loop/backing_file`, 'utf8').replace(/\n$/, '').replace(/ \(deleted\)$/, '');
      out.push({ device: `/dev/${n}`, backingFile: file });
    } catch {
      /* not attached (no loop/ directory) or detached meanwhile */
    }
  }
  return out;
}

/**
 * Detaches every loop device whose backing file lies under `dir` (one of ours, under
 * /run/sandbox): `losetup -d`, which on a device still open only marks it to detach at the last
 * close. Devices backed by anything else are never touched. Returns the devices detached.
 */
export function detachLoopsUnder(dir: string, sysBlock = SYS_BLOCK): string[] {
  if (!dir.startsWith(`${RUN_DIR}/`)) return [];
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  const done: string[] = [];
  for (const l of loopDevices(sysBlock)) {
    if (!l.backingFile.startsWith(prefix)) continue;
    try {
      execFileSync('losetup', ['-d', l.device], { stdio: 'ignore', timeout: 10_000 });
      done.push(l.device);
    } catch {
      /* detached meanwhile; `sandbox cleanup` tries again */
    }
  }
  return done;
}

// --- network ----------------------------------------------------------------------------------

export function netnsNames(): string[] {
  try {
    return fs.readdirSync(NETNS_DIR).filter((n) => n.startsWith(NETNS_PREFIX));
  } catch {
    return [];
  }
}

export function removeNetns(name: string): boolean {
  const p = `${NETNS_DIR}/${name}`;
  try {
    native().umount(p, MNT_DETACH);
  } catch {
    /* not mounted */
  }
  try {
    fs.unlinkSync(p);
    return true;
  } catch {
    return false;
  }
}

export function vethNames(): string[] {
  try {
    return fs.readdirSync('/sys/class/net').filter((n) => n.startsWith(VETH_PREFIX));
  } catch {
    return [];
  }
}

export function removeLink(name: string): boolean {
  try {
    execFileSync('ip', ['link', 'delete', name], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

// --- sweep ------------------------------------------------------------------------------------

export interface SweepReport {
  /** Ledger entries of dead sessions that were reclaimed. */
  entries: string[];
  processesKilled: number;
  cgroups: string[];
  mounts: string[];
  dirs: string[];
  netns: string[];
  veths: string[];
  /** systemd units of ours that were stopped (sandbox.service, when it held no sandbox). */
  units: string[];
  /** Loop devices detached (their backing files were under /run/sandbox). */
  loops?: string[];
}

export function emptySweep(): SweepReport {
  return { entries: [], processesKilled: 0, cgroups: [], mounts: [], dirs: [], netns: [], veths: [], units: [] };
}

/** Removes every resource of one sandbox (its processes first). Used by destroy and sweep. */
export function reclaim(
  name: string,
  extra: { dirs?: string[]; netns?: string[]; veths?: string[]; init?: ProcessId | null },
  report: SweepReport = emptySweep(),
): SweepReport {
  const cg = cgroups();
  if (cg.exists(name)) report.processesKilled += cg.kill(name);
  if (extra.init && isAlive(extra.init)) {
    try {
      process.kill(extra.init.pid, 'SIGKILL');
      report.processesKilled++;
    } catch {
      /* gone */
    }
  }
  for (const v of extra.veths ?? []) if (removeLink(v)) report.veths.push(v);
  for (const n of extra.netns ?? []) if (removeNetns(n)) report.netns.push(n);
  const own = nameProblem(name) ? [] : [`${RUN_DIR}/${name}`];
  for (const d of new Set([...(extra.dirs ?? []), ...own])) {
    const r = removeTree(d);
    report.mounts.push(...r.unmounted);
    if (r.loops?.length) (report.loops ??= []).push(...r.loops);
    if (r.removed) report.dirs.push(d);
  }
  if (cg.exists(name)) report.cgroups.push(...cg.remove(name));
  return report;
}

/**
 * Reclaims what dead sessions left. Resources are listed *before* the ledger is read: an entry is
 * always written before its resources exist, so a resource seen first and unclaimed after is an
 * orphan, never a sandbox another live session is just creating.
 */
export function sweep(options: { stopUnit?: boolean } = {}): SweepReport {
  const report = emptySweep();
  // Before anything is listed: an untrusted /run/sandbox could hold forged entries (whose pids
  // would be killed) or lead removals out of it.
  const haveRunDir = checkRunDir();
  const cg = cgroups();
  const cgroupNames = cg.list();
  let runNames: string[] = [];
  try {
    // Only names a sandbox can have: the ledger (and every other internal directory) stays.
    if (haveRunDir) runNames = fs.readdirSync(RUN_DIR).filter((n) => nameProblem(n) === null);
  } catch {
    /* nothing there */
  }
  const netns = netnsNames();
  const veths = vethNames();

  const entries = readEntries();
  const live = new Set<string>();
  const liveVeths = new Set<string>();
  const liveNetns = new Set<string>();
  for (const e of entries) {
    if (isAlive(e.owner)) {
      live.add(e.name);
      e.veths.forEach((v) => liveVeths.add(v));
      e.netns.forEach((n) => liveNetns.add(n));
      continue;
    }
    reclaim(e.name, e, report);
    removeEntry(e.name);
    report.entries.push(e.name);
  }
  for (const name of cgroupNames) {
    if (live.has(name) || report.entries.includes(name) || !cg.exists(name)) continue;
    reclaim(name, {}, report);
  }
  for (const name of runNames) {
    if (live.has(name) || !fs.existsSync(`${RUN_DIR}/${name}`)) continue;
    const r = removeTree(`${RUN_DIR}/${name}`);
    report.mounts.push(...r.unmounted);
    if (r.loops?.length) (report.loops ??= []).push(...r.loops);
    if (r.removed) report.dirs.push(`${RUN_DIR}/${name}`);
  }
  // A loop device whose backing file's directory is already gone (removed by hand, or the
  // device attached after its session's sweep): detached when its sandbox name is no live one's.
  for (const l of loopDevices()) {
    const owner = l.backingFile.startsWith(`${RUN_DIR}/`) ? l.backingFile.slice(RUN_DIR.length + 1).split('/')[0] : '';
    if (!owner || live.has(owner) || nameProblem(owner)) continue;
    (report.loops ??= []).push(...detachLoopsUnder(`${RUN_DIR}/${owner}`));
  }
  for (const n of netns) if (!liveNetns.has(n) && removeNetns(n)) report.netns.push(n);
  for (const v of veths) if (!liveVeths.has(v) && removeLink(v)) report.veths.push(v);
  // The parent of the sandboxes' cgroups: an empty `sandbox/` left by a failed create is removed;
  // for `sandbox cleanup`, the systemd unit that holds them is stopped once no live session has
  // a sandbox (a session that starts meanwhile finds it gone and starts it again).
  const tidied = cg.tidy({ stopUnit: (options.stopUnit ?? false) && !readEntries().some((e) => isAlive(e.owner)) });
  report.cgroups.push(...tidied.cgroups);
  report.units.push(...tidied.units);
  if (runNames.length === 0 && entries.length === 0) {
    try {
      fs.rmdirSync(LEDGER_DIR);
    } catch {
      /* not empty or absent */
    }
  }
  try {
    fs.rmdirSync(RUN_DIR);
  } catch {
    /* live sandboxes remain */
  }
  return report;
}

let swept = false;

/**
 * Makes `name` free for a new sandbox or workspace: first (once per process) sweeps what dead
 * sessions left, then refuses a name that a live session holds and reclaims one a dead session
 * left behind.
 */
export function claimName(name: string): void {
  const problem = nameProblem(name);
  if (problem) throw usageError(problem.message, problem.hint);
  if (!swept) {
    swept = true;
    sweep();
  }
  const existing = readEntry(name);
  if (!existing) {
    // Whatever else sits on the entry's name (a link, a corrupt or truncated file) records no
    // session: remove it (unlink never follows a link), or the exclusive first write would take
    // it for a running session's entry.
    if (runDirUsable()) {
      try {
        fs.unlinkSync(entryPath(name));
      } catch {
        /* nothing there; a directory on the name makes the exclusive write fail clearly */
      }
    }
    return;
  }
  if (isAlive(existing.owner)) {
    throw usageError(
      `the name "${name}" is taken by a running session (pid ${existing.owner.pid}: ${existing.owner.command})`,
      'choose another name, or destroy that one first',
      'E_EXISTS',
    );
  }
  reclaim(name, existing);
  removeEntry(name);
}
