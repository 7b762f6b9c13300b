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

import { cgroups } from './cgroup/index.js';
import type { Limits } from './cgroup/limits.js';
import { usageError, wrapSystemError } from './errors.js';
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

function entryPath(name: string): string {
  return `${LEDGER_DIR}/${name}.json`;
}

/** Atomically (write + rename): a reader, such as another session's sweep, never sees half an entry. */
export function writeEntry(entry: LedgerEntry): void {
  const tmp = `${entryPath(entry.name)}.${process.pid}.tmp`;
  const text = JSON.stringify(entry, null, 2);
  try {
    // Another session removes the empty ledger directory when its last sandbox goes; if that
    // happens between our mkdir and our write, make it again. Once our file is in it, the
    // directory is not empty and stays until the rename is done.
    for (let attempt = 0; ; attempt++) {
      try {
        fs.writeFileSync(tmp, text);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || attempt > 4) throw err;
        fs.mkdirSync(LEDGER_DIR, { recursive: true, mode: 0o755 });
      }
    }
    fs.renameSync(tmp, entryPath(entry.name));
  } catch (err) {
    throw wrapSystemError(err, { what: `recording sandbox ${entry.name} in the ledger`, step: 'ledger', path: entryPath(entry.name) });
  }
}

export function readEntry(name: string): LedgerEntry | null {
  try {
    return JSON.parse(fs.readFileSync(entryPath(name), 'utf8')) as LedgerEntry;
  } catch {
    return null;
  }
}

export function readEntries(): LedgerEntry[] {
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
  try {
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

/**
 * Removes a directory tree that sandbox created, after unmounting whatever is mounted inside it.
 * It never follows symlinks and never descends into another filesystem: if a mount survived, the
 * host's files behind it are left alone and an error says so.
 */
export function removeTree(dir: string): { unmounted: string[]; removed: boolean } {
  if (!dir.startsWith(`${RUN_DIR}/`)) throw new Error(`refusing to remove ${dir}: not under ${RUN_DIR}`);
  const unmounted = umountAll(dir);
  let top: fs.Stats;
  try {
    top = fs.lstatSync(dir);
  } catch {
    return { unmounted, removed: false };
  }
  const gone = (err: unknown) => (err as NodeJS.ErrnoException).code === 'ENOENT';
  const walk = (p: string): void => {
    let st: fs.Stats;
    try {
      st = fs.lstatSync(p);
    } catch (err) {
      if (gone(err)) return; // removed concurrently (another session's sweep)
      throw err;
    }
    if (st.isDirectory()) {
      if (st.dev !== top.dev) throw new Error(`refusing to descend into ${p}: it is on another filesystem (a mount that could not be removed)`);
      let names: string[] = [];
      try {
        names = fs.readdirSync(p);
      } catch (err) {
        if (!gone(err)) throw err;
      }
      for (const e of names) walk(path.join(p, e));
      try {
        fs.rmdirSync(p);
      } catch (err) {
        if (!gone(err)) throw err;
      }
    } else {
      try {
        fs.unlinkSync(p);
      } catch (err) {
        if (!gone(err)) throw err;
      }
    }
  };
  try {
    walk(dir);
  } catch (err) {
    throw wrapSystemError(err, { what: `removing ${dir}`, step: 'cleanup', path: dir });
  }
  return { unmounted, removed: true };
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
}

export function emptySweep(): SweepReport {
  return { entries: [], processesKilled: 0, cgroups: [], mounts: [], dirs: [], netns: [], veths: [] };
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
  for (const d of new Set([...(extra.dirs ?? []), `${RUN_DIR}/${name}`])) {
    const r = removeTree(d);
    report.mounts.push(...r.unmounted);
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
export function sweep(): SweepReport {
  const report = emptySweep();
  const cg = cgroups();
  const cgroupNames = cg.list();
  let runNames: string[] = [];
  try {
    runNames = fs.readdirSync(RUN_DIR).filter((n) => n !== 'ledger');
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
    if (r.removed) report.dirs.push(`${RUN_DIR}/${name}`);
  }
  for (const n of netns) if (!liveNetns.has(n) && removeNetns(n)) report.netns.push(n);
  for (const v of veths) if (!liveVeths.has(v) && removeLink(v)) report.veths.push(v);
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
  if (!swept) {
    swept = true;
    sweep();
  }
  const existing = readEntry(name);
  if (!existing) return;
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
