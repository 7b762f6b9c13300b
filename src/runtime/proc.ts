/**
 * What /proc says about processes: namespace inodes, the NSpid chain (the same process's PID in
 * each nested PID namespace, host first), and a snapshot of the whole host's process tree that
 * the lesson screens and `sandbox top` refresh several times a second.
 */
import fs from 'node:fs';

import { cgroups } from './cgroup/index.js';
import { NAMESPACES, NS_FILE, type Namespace } from './linux.js';
import { native } from './native.js';

export type NamespaceInodes = Partial<Record<Namespace, number>>;

/** The inode of /proc/PID/ns/TYPE: equal inodes = the same namespace. */
export function nsInode(pid: number | 'self', type: Namespace): number | null {
  try {
    return fs.statSync(`/proc/${pid}/ns/${NS_FILE[type]}`).ino;
  } catch {
    return null;
  }
}

/** `readlink /proc/PID/ns/TYPE`, e.g. "pid:[4026531836]". */
export function nsLink(pid: number | 'self', type: Namespace): string | null {
  try {
    return fs.readlinkSync(`/proc/${pid}/ns/${NS_FILE[type]}`);
  } catch {
    return null;
  }
}

export function namespacesOf(pid: number | 'self', types: readonly Namespace[] = NAMESPACES): NamespaceInodes {
  const out: NamespaceInodes = {};
  for (const t of types) {
    const ino = nsInode(pid, t);
    if (ino !== null) out[t] = ino;
  }
  return out;
}

/** The NSpid line of /proc/PID/status: [host pid, pid one level down, …]. */
export function nsPidChain(pid: number): number[] | null {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = /^NSpid:\s*(.*)$/m.exec(status);
    return m ? m[1].trim().split(/\s+/).map(Number) : [pid];
  } catch {
    return null;
  }
}

export interface ProcessInfo {
  pid: number;
  ppid: number;
  comm: string;
  /** R, S, D, Z, T… */
  state: string;
  uid: number;
  /** PID in each PID namespace from the host down: [4711, 1] for a sandbox's first process. */
  nspid: number[];
  ns: NamespaceInodes;
  /** Cgroup path in the hierarchy the driver uses (null if not read). */
  cgroup: string | null;
  /** The sandbox whose cgroup holds this process, if any. */
  sandbox: string | null;
}

export interface Snapshot {
  /** Date.now() when taken. */
  taken: number;
  /** Every process read in detail (all of them, or the `roots` subtrees). */
  processes: ProcessInfo[];
  /** How many processes the host has in all. */
  total: number;
  byPid: Map<number, ProcessInfo>;
  /** Namespaces sandbox itself runs in (the "host" side), for telling host from sandbox. */
  hostNs: NamespaceInodes;
}

export interface SnapshotOptions {
  /** Namespace types to read per process (each costs one stat per process). Default: pid. */
  namespaces?: readonly Namespace[];
  /** Read each process's cgroup to find its sandbox. Default: true. */
  cgroup?: boolean;
  /**
   * Only these processes and their descendants, in detail (the parent links of the others come
   * from a much cheaper read of /proc/PID/stat).
   */
  roots?: number[];
  /**
   * Only exactly these processes (e.g. the members of some sandboxes' cgroups): no scan of the
   * rest. The cheapest: what a live view refreshing several times a second should ask for.
   */
  pids?: number[];
}

let hostNsCache: NamespaceInodes | undefined;

/** Every process on the host, read in one native call. */
export function snapshot(options: SnapshotOptions = {}): Snapshot {
  const types = options.namespaces ?? ['pid'];
  const wantCgroup = options.cgroup ?? true;
  const { total, processes: raw } = native().procSnapshot(
    types.map((t) => NS_FILE[t]),
    wantCgroup ? cgroups().procKey : null,
    options.pids ? { pids: options.pids } : options.roots ? { roots: options.roots } : undefined,
  );
  hostNsCache ??= namespacesOf('self', types);
  const cg = wantCgroup ? cgroups() : null;
  const processes: ProcessInfo[] = new Array(raw.length);
  const byPid = new Map<number, ProcessInfo>();
  for (let i = 0; i < raw.length; i++) {
    const r = raw[i];
    const ns: NamespaceInodes = {};
    for (let k = 0; k < types.length; k++) if (r.ns[k]) ns[types[k]] = r.ns[k];
    const p: ProcessInfo = {
      pid: r.pid,
      ppid: r.ppid,
      comm: r.comm,
      state: r.state,
      uid: r.uid,
      nspid: r.nspid,
      ns,
      cgroup: r.cgroup,
      // /sandbox/NAME/… or, on systemd hosts, /system.slice/sandbox.service/NAME/…
      sandbox: cg && r.cgroup ? cg.sandboxOf(r.cgroup) : null,
    };
    processes[i] = p;
    byPid.set(p.pid, p);
  }
  return { taken: Date.now(), processes, total, byPid, hostNs: hostNsCache };
}

export interface TreeNode {
  process: ProcessInfo;
  children: TreeNode[];
}

/** The process tree below `rootPid` (default: every process without a parent in the snapshot). */
export function processTree(snap: Snapshot, rootPid?: number): TreeNode[] {
  const children = new Map<number, ProcessInfo[]>();
  for (const p of snap.processes) {
    const list = children.get(p.ppid);
    if (list) list.push(p);
    else children.set(p.ppid, [p]);
  }
  const build = (p: ProcessInfo, depth: number): TreeNode => ({
    process: p,
    children: depth > 64 ? [] : (children.get(p.pid) ?? []).sort((a, b) => a.pid - b.pid).map((c) => build(c, depth + 1)),
  });
  if (rootPid !== undefined) {
    const root = snap.byPid.get(rootPid);
    return root ? [build(root, 0)] : [];
  }
  return snap.processes
    .filter((p) => !snap.byPid.has(p.ppid))
    .sort((a, b) => a.pid - b.pid)
    .map((p) => build(p, 0));
}

/** Descendants of pid (inclusive) in the snapshot. */
export function descendants(snap: Snapshot, pid: number): ProcessInfo[] {
  const out: ProcessInfo[] = [];
  const walk = (n: TreeNode) => {
    out.push(n.process);
    n.children.forEach(walk);
  };
  processTree(snap, pid).forEach(walk);
  return out;
}

/**
 * Whether the process has a handler for the signal (the SigCgt mask in /proc/PID/status). The
 * first process of a PID namespace only ever receives signals it has a handler for (and SIGKILL
 * or SIGSTOP from an ancestor namespace): everything else is dropped by the kernel.
 */
export function catchesSignal(pid: number, signo: number): boolean | null {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = /^SigCgt:\s*([0-9a-f]+)$/m.exec(status);
    if (!m) return null;
    return ((BigInt(`0x${m[1]}`) >> BigInt(signo - 1)) & 1n) === 1n;
  } catch {
    return null;
  }
}

/** One line of /proc/PID/mountinfo. */
export interface MountInfo {
  id: number;
  parent: number;
  /** major:minor of the filesystem: equal = the same superblock (the same filesystem instance). */
  dev: string;
  /** The directory of that filesystem mounted here ("/" unless it is a bind of a subdirectory). */
  root: string;
  mountPoint: string;
  options: string;
  /** Peer group this mount shares events with (shared:N), or null. */
  shared: number | null;
  /** Peer group it receives events from (master:N: a slave), or null. */
  master: number | null;
  unbindable: boolean;
  fstype: string;
  source: string;
  superOptions: string;
}

const unescapeMount = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

/** The mount table as process `pid` sees it (its mount namespace, relative to its root). */
export function mountInfo(pid: number | 'self' = 'self'): MountInfo[] {
  return parseMountInfo(fs.readFileSync(`/proc/${pid}/mountinfo`, 'utf8'));
}

/** Parses the text of a /proc/PID/mountinfo file (see proc(5)). */
export function parseMountInfo(text: string): MountInfo[] {
  const out: MountInfo[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    const [left, right] = line.split(' - ');
    if (right === undefined) continue;
    const f = left.split(' ');
    const [fstype, source, superOptions] = right.split(' ');
    const optional = f.slice(6);
    const tag = (name: string) => {
      const t = optional.find((o) => o.startsWith(`${name}:`));
      return t ? Number(t.slice(name.length + 1)) : null;
    };
    out.push({
      id: Number(f[0]),
      parent: Number(f[1]),
      dev: f[2],
      root: unescapeMount(f[3]),
      mountPoint: unescapeMount(f[4]),
      options: f[5],
      shared: tag('shared'),
      master: tag('master'),
      unbindable: optional.includes('unbindable'),
      fstype,
      source: unescapeMount(source ?? ''),
      superOptions: superOptions ?? '',
    });
  }
  return out;
}

/** `shared:12`, `master:12`, `shared:14 master:12`, `unbindable` or `private`: as mountinfo tags it. */
export function propagationOf(m: MountInfo): string {
  const tags: string[] = [];
  if (m.shared !== null) tags.push(`shared:${m.shared}`);
  if (m.master !== null) tags.push(`master:${m.master}`);
  if (m.unbindable) tags.push('unbindable');
  return tags.length ? tags.join(' ') : 'private';
}
