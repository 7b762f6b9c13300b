/**
 * Live views shared by lessons (and the REPL's side pane), built from the runtime's /proc
 * snapshot: never from what a lesson believes it did.
 */
import { cgroups, type ProcessInfo, type Snapshot, snapshot } from '../runtime/index.js';
import type { LessonContext } from './context.js';
import type { TableView, TreeRow, TreeView, View } from './types.js';

/** Host PIDs of every process in these sandboxes' cgroups. */
export function memberPids(names: Iterable<string>): number[] {
  const cg = cgroups();
  const out: number[] = [];
  for (const n of names) out.push(...cg.procs(n));
  return out;
}

export interface TreeOptions {
  /** Only these sandboxes (by lesson key); default every sandbox of the lesson. */
  keys?: string[];
  /** Emphasise matching processes. */
  highlight?: (p: ProcessInfo) => boolean;
}

/** Processes below `pid` in the snapshot, as rows, labelled with their PID namespace. */
function rowsBelow(snap: Snapshot, pid: number, nsIndex: (p: ProcessInfo) => number, highlight?: (p: ProcessInfo) => boolean): TreeRow | null {
  const children = new Map<number, ProcessInfo[]>();
  for (const p of snap.processes) {
    const list = children.get(p.ppid);
    if (list) list.push(p);
    else children.set(p.ppid, [p]);
  }
  const build = (p: ProcessInfo, depth: number): TreeRow => ({
    hostPid: p.pid,
    nspid: p.nspid,
    comm: p.comm,
    state: p.state,
    ns: nsIndex(p),
    sandbox: p.sandbox,
    highlight: highlight?.(p) ?? false,
    children: depth > 32 ? [] : (children.get(p.pid) ?? []).sort((a, b) => a.pid - b.pid).map((c) => build(c, depth + 1)),
  });
  const root = snap.byPid.get(pid);
  return root ? build(root, 0) : null;
}

function countRows(r: TreeRow): number {
  return 1 + r.children.reduce((n, c) => n + countRows(c), 0);
}

/**
 * The sandboxes' processes as a tree: this program (their parent on the host) at the top, each
 * sandbox's processes below it, every row with its host PID and its PID in each namespace, and a
 * colour per PID namespace. Host processes outside the lesson are counted, not shown.
 */
export function sampleTree(ctx: LessonContext | null, options: TreeOptions = {}, sandboxNames?: string[]): TreeView {
  const names = new Set(
    sandboxNames ?? (ctx ? ctx.all().filter(([k]) => !options.keys || options.keys.includes(k)).map(([, s]) => s.name) : []),
  );
  // Every sandbox process is in its sandbox's cgroup: read those few cgroup.procs files and
  // detail exactly their members (plus this program, their parent), instead of all of /proc.
  const snap = snapshot({ namespaces: ['pid'], pids: [process.pid, ...memberPids(names)] });
  const hostNs = snap.hostNs.pid;
  const legend: { inode: number; label: string }[] = [];
  const index = new Map<number, number>();
  const nsIndex = (p: ProcessInfo): number => {
    const ino = p.ns.pid;
    if (!ino || ino === hostNs) return -1;
    let i = index.get(ino);
    if (i === undefined) {
      i = legend.length;
      index.set(ino, i);
      const depth = p.nspid.length - 1;
      legend.push({ inode: ino, label: `${p.sandbox ?? 'pid'}${depth > 1 ? ` (level ${depth})` : ''} pid:[${ino}]` });
    }
    return i;
  };
  const self = rowsBelow(snap, process.pid, nsIndex, options.highlight);
  const roots: TreeRow[] = [];
  if (self) {
    // Keep only the branches that lead to the lesson's sandboxes.
    const keep = (r: TreeRow): TreeRow | null => {
      if (r.sandbox && names.has(r.sandbox)) return r;
      const kids = r.children.map(keep).filter((c): c is TreeRow => c !== null);
      return kids.length ? { ...r, children: kids } : null;
    };
    self.children = self.children.map(keep).filter((c): c is TreeRow => c !== null);
    roots.push(self);
  }
  const shown = roots.reduce((n, r) => n + countRows(r), 0);
  return { kind: 'tree', roots, namespaces: legend, hidden: Math.max(0, snap.total - shown) };
}

export function treeView(title = 'Processes: host PID (namespace PIDs)', options: TreeOptions = {}): View {
  return { title, sample: (ctx) => sampleTree(ctx, options) };
}

/** One row per sandbox process: its PID on the host and at each namespace level below. */
export function samplePidTable(ctx: LessonContext, options: TreeOptions = {}): TableView {
  const names = new Set(ctx.all().filter(([k]) => !options.keys || options.keys.includes(k)).map(([, s]) => s.name));
  const snap = snapshot({ namespaces: ['pid'], pids: memberPids(names) });
  const procs = snap.processes.filter((p) => p.sandbox && names.has(p.sandbox) && p.nspid.length > 1).sort((a, b) => a.pid - b.pid);
  const depth = procs.reduce((d, p) => Math.max(d, p.nspid.length), 1);
  const columns = ['process', 'sandbox', 'host PID', ...Array.from({ length: depth - 1 }, (_, i) => `level ${i + 1}`)];
  const rows = procs.map((p) => [p.comm, p.sandbox ?? '', ...p.nspid.map(String), ...Array(depth - p.nspid.length).fill('')]);
  const highlight = options.highlight ? procs.map((p, i) => (options.highlight!(p) ? i : -1)).filter((i) => i >= 0) : undefined;
  return { kind: 'table', columns, rows, highlight, caption: 'the same process, numbered once per PID namespace it is in (NSpid in /proc/PID/status)' };
}

export function pidTableView(title = 'PID mapping: host → each namespace level', options: TreeOptions = {}): View {
  return { title, sample: (ctx) => samplePidTable(ctx, options) };
}
