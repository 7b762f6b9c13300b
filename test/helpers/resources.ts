/** What sandbox has on this host right now: used to prove that nothing leaks. */
import fs from 'node:fs';

const CGROUP_ROOT = '/sys/fs/cgroup';
const RUN_DIR = '/run/sandbox';

export const isRoot = process.getuid?.() === 0;

/** `sandbox` parent cgroups: /sys/fs/cgroup/sandbox (v2) or /sys/fs/cgroup/<hierarchy>/sandbox (v1). */
function cgroupParents(): string[] {
  const candidates = [`${CGROUP_ROOT}/sandbox`];
  for (const e of fs.readdirSync(CGROUP_ROOT, { withFileTypes: true })) {
    if (e.isDirectory()) candidates.push(`${CGROUP_ROOT}/${e.name}/sandbox`);
  }
  return candidates.filter((d) => fs.existsSync(d));
}

function ppidOf(pid: number): number | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return null;
  }
}

function descendsFrom(pid: number, ancestor: number): boolean {
  for (let p: number | null = pid, i = 0; p && p > 1 && i < 64; p = ppidOf(p), i++) if (p === ancestor) return true;
  return false;
}

interface Entry {
  name: string;
  owner: { pid: number; start: number };
  netns: string[];
  veths: string[];
}

function startTime(pid: number): number | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
  } catch {
    return null;
  }
}

/**
 * Sandboxes that belong to someone else: their owner is alive and not a process of this test run
 * (another terminal, another developer's run). They are not this run's leaks.
 */
function foreignEntries(): Entry[] {
  let files: string[] = [];
  try {
    files = fs.readdirSync(`${RUN_DIR}/ledger`).filter((f) => f.endsWith('.json'));
  } catch {
    return [];
  }
  const out: Entry[] = [];
  for (const f of files) {
    try {
      const e = JSON.parse(fs.readFileSync(`${RUN_DIR}/ledger/${f}`, 'utf8')) as Entry;
      if (startTime(e.owner.pid) === e.owner.start && !descendsFrom(e.owner.pid, process.pid)) out.push(e);
    } catch {
      /* half-written or removed meanwhile */
    }
  }
  return out;
}

/** Every resource of ours on the host that no other live session owns, as readable lines (empty = clean). */
export function leftovers(): string[] {
  const foreign = foreignEntries();
  const names = new Set(foreign.map((e) => e.name));
  const lines: string[] = [];
  for (const d of cgroupParents()) {
    let children: string[];
    try {
      children = fs
        .readdirSync(d, { withFileTypes: true })
        .filter((e) => e.isDirectory())
        .map((e) => e.name);
    } catch {
      continue; // removed meanwhile by another session's last destroy
    }
    for (const c of children) if (!names.has(c)) lines.push(`cgroup ${d}/${c}`);
    // (a live session removes the empty parent a moment after its last sandbox: not a leak yet)
    if (children.length === 0 && foreign.length === 0) lines.push(`cgroup ${d} (empty parent left behind)`);
  }
  let inside: string[] | null = null;
  try {
    inside = fs.readdirSync(RUN_DIR).filter((n) => n !== 'ledger');
  } catch {
    /* no /run/sandbox (or removed meanwhile) */
  }
  if (inside) {
    for (const n of inside) if (!names.has(n)) lines.push(`directory ${RUN_DIR}/${n}`);
    let ledger: string[] = [];
    try {
      ledger = fs.readdirSync(`${RUN_DIR}/ledger`);
    } catch {
      /* none */
    }
    for (const f of ledger) if (!names.has(f.replace(/\.json$/, ''))) lines.push(`ledger entry ${RUN_DIR}/ledger/${f}`);
    if (foreign.length === 0 && inside.length === 0 && ledger.length === 0) lines.push(`directory ${RUN_DIR} (empty, left behind)`);
  }
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const mp = line.split(' ')[4];
    if (!mp) continue;
    const m = /^\/run\/sandbox\/([^/]+)/.exec(mp) ?? /^\/run\/netns\/sandbox-(.+)$/.exec(mp);
    if ((m && !names.has(m[1])) || mp === RUN_DIR) lines.push(`mount ${mp}`);
  }
  const foreignNetns = new Set(foreign.flatMap((e) => e.netns));
  const foreignVeths = new Set(foreign.flatMap((e) => e.veths));
  try {
    for (const n of fs.readdirSync('/run/netns')) if (n.startsWith('sandbox-') && !foreignNetns.has(n)) lines.push(`netns ${n}`);
  } catch {
    /* no /run/netns */
  }
  for (const n of fs.readdirSync('/sys/class/net')) if (n.startsWith('sbx-') && !foreignVeths.has(n)) lines.push(`link ${n}`);
  return [...new Set(lines)];
}

/** Host PIDs of processes whose cgroup is a sandbox one. */
export function sandboxProcesses(): number[] {
  const pids: number[] = [];
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (/:\/sandbox\//.test(fs.readFileSync(`/proc/${e}/cgroup`, 'utf8'))) pids.push(Number(e));
    } catch {
      /* exited */
    }
  }
  return pids;
}
