/** What sandbox has on this host right now: used to prove that nothing leaks. */
import fs from 'node:fs';

const CGROUP_ROOT = '/sys/fs/cgroup';
const RUN_DIR = '/run/sandbox';

export const isRoot = process.getuid?.() === 0;

/**
 * systemd hosts: the unit systemd delegates to sandbox holds the sandboxes' cgroups, and its own
 * process in `supervisor/` (src/runtime/cgroup/systemd.ts). The unit stays between runs on
 * purpose (`sandbox cleanup` stops it), so it is no leak; a sandbox cgroup in it is.
 */
const SYSTEMD_PARENT = `${CGROUP_ROOT}/system.slice/sandbox.service`;
const SYSTEMD_SUPERVISOR = 'supervisor';

/** Parent cgroups of sandboxes: /sys/fs/cgroup/sandbox (v2), /sys/fs/cgroup/<hierarchy>/sandbox (v1), systemd's unit. */
function cgroupParents(): string[] {
  const candidates = [`${CGROUP_ROOT}/sandbox`, SYSTEMD_PARENT];
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

/** Names other test files declared as debris they leave on purpose, for a moment (see session.ts). */
function declaredDebris(): string[] {
  try {
    return fs.readdirSync('/tmp/sandbox-tests-debris').filter((n) => {
      try {
        process.kill(Number(fs.readFileSync(`/tmp/sandbox-tests-debris/${n}`, 'utf8')), 0);
        return true; // the declaring test is still running
      } catch {
        return false;
      }
    });
  } catch {
    return [];
  }
}

/** Every resource of ours on the host that no other live session owns, as readable lines (empty = clean). */
export function leftovers(): string[] {
  // As sweep() does: resources first, the ledger after. An entry is written before its
  // resources exist, so a resource seen first belongs to an entry that the later read finds;
  // and one whose teardown finished meanwhile fails the existence check at the end.
  interface Found {
    line: string;
    /** The sandbox (or netns/veth) name that a live foreign entry may claim. */
    owner?: string;
    netns?: string;
    veth?: string;
    /** Still there? (checked last) */
    exists: () => boolean;
  }
  const found: Found[] = [];
  const emptyParents: string[] = [];
  for (const d of cgroupParents()) {
    let children: string[];
    try {
      children = fs
        .readdirSync(d, { withFileTypes: true })
        .filter((e) => e.isDirectory() && !(d === SYSTEMD_PARENT && e.name === SYSTEMD_SUPERVISOR))
        .map((e) => e.name);
    } catch {
      continue; // removed meanwhile by another session's last destroy
    }
    for (const c of children) found.push({ line: `cgroup ${d}/${c}`, owner: c, exists: () => fs.existsSync(`${d}/${c}`) });
    if (children.length === 0 && d !== SYSTEMD_PARENT) emptyParents.push(d);
  }
  let inside: string[] | null = null;
  let ledger: string[] = [];
  try {
    inside = fs.readdirSync(RUN_DIR).filter((n) => n !== 'ledger' && n !== 'cpu-claims');
    ledger = fs.existsSync(`${RUN_DIR}/ledger`) ? fs.readdirSync(`${RUN_DIR}/ledger`) : [];
  } catch {
    /* no /run/sandbox (or removed meanwhile) */
  }
  for (const n of inside ?? []) found.push({ line: `directory ${RUN_DIR}/${n}`, owner: n, exists: () => fs.existsSync(`${RUN_DIR}/${n}`) });
  for (const f of ledger) {
    // NAME.json.PID.tmp: an entry being written (then renamed) by PID; another live process's is not ours.
    const tmp = /^(.+)\.json\.(\d+)\.tmp$/.exec(f);
    if (tmp && startTime(Number(tmp[2])) !== null && !descendsFrom(Number(tmp[2]), process.pid)) continue;
    found.push({ line: `ledger entry ${RUN_DIR}/ledger/${f}`, owner: tmp?.[1] ?? f.replace(/\.json$/, ''), exists: () => fs.existsSync(`${RUN_DIR}/ledger/${f}`) });
  }
  // CPU claims (src/runtime/cpuclaim.ts), <cpu>-<pid>-<start>: a live foreign process's is not ours.
  const claimDir = `${RUN_DIR}/cpu-claims`;
  let claims: string[] | null = null;
  try {
    claims = fs.readdirSync(claimDir);
  } catch {
    /* none */
  }
  // A claim another test file plants on purpose (a stale one, or a holder it is about to kill)
  // is declared as debris by its file name (helpers/session.ts).
  const debris = new Set(declaredDebris());
  for (const f of claims ?? []) {
    const m = /^\d+-(\d+)-(\d+)$/.exec(f);
    if (m && startTime(Number(m[1])) === Number(m[2]) && !descendsFrom(Number(m[1]), process.pid)) continue;
    if (debris.has(f)) continue;
    found.push({ line: `CPU claim ${claimDir}/${f}`, exists: () => fs.existsSync(`${claimDir}/${f}`) });
  }
  const mounted = () => fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4]);
  for (const mp of mounted()) {
    if (!mp) continue;
    const m = /^\/run\/sandbox\/([^/]+)/.exec(mp) ?? /^\/run\/netns\/sandbox-(.+)$/.exec(mp);
    if (m || mp === RUN_DIR) found.push({ line: `mount ${mp}`, owner: m?.[1], exists: () => mounted().includes(mp) });
  }
  try {
    for (const n of fs.readdirSync('/run/netns')) {
      if (n.startsWith('sandbox-')) found.push({ line: `netns ${n}`, netns: n, exists: () => fs.existsSync(`/run/netns/${n}`) });
    }
  } catch {
    /* no /run/netns */
  }
  for (const n of fs.readdirSync('/sys/class/net')) {
    if (n.startsWith('sbx-')) found.push({ line: `link ${n}`, veth: n, exists: () => fs.existsSync(`/sys/class/net/${n}`) });
  }
  // Loop devices whose backing file is one of ours (src/runtime/loop.ts): owned by the workspace.
  for (const n of fs.readdirSync('/sys/block').filter((b) => /^loop\d+$/.test(b))) {
    const backing = () => {
      try {
        return fs.readFileSync(`/sys/block/${n}/loop/backing_file`, 'utf8').trim();
      } catch {
        return '';
      }
    };
    const m = /^\/run\/sandbox\/([^/]+)\//.exec(backing());
    if (m) found.push({ line: `loop device /dev/${n} (${backing()})`, owner: m[1], exists: () => backing().startsWith(`${RUN_DIR}/${m[1]}/`) });
  }

  const foreign = foreignEntries();
  const names = new Set(foreign.map((e) => e.name));
  // A killed session another test leaves on purpose until it checks the sweep (helpers/session.ts).
  for (const n of declaredDebris()) names.add(n);
  const foreignNetns = new Set(foreign.flatMap((e) => e.netns));
  const foreignVeths = new Set(foreign.flatMap((e) => e.veths));
  const lines = found
    .filter((f) => !(f.owner && names.has(f.owner)) && !(f.netns && foreignNetns.has(f.netns)) && !(f.veth && foreignVeths.has(f.veth)))
    .filter((f) => f.exists())
    .map((f) => f.line);
  // An empty parent directory is removed a moment after the last sandbox goes (two rmdirs): it is
  // left behind only if it is still there, still empty, a little later.
  const stillEmpty = (d: string) => {
    try {
      return fs.readdirSync(d).length === 0;
    } catch {
      return false;
    }
  };
  const empties = [...(foreign.length === 0 ? emptyParents : [])];
  if (claims && claims.length === 0) empties.push(claimDir);
  if (inside && foreign.length === 0 && inside.length === 0 && ledger.length === 0) empties.push(RUN_DIR);
  if (empties.length) {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
    for (const d of empties) {
      if (d === RUN_DIR ? fs.existsSync(RUN_DIR) && fs.readdirSync(RUN_DIR).every((n) => (n === 'ledger' || n === 'cpu-claims') && stillEmpty(`${RUN_DIR}/${n}`)) : stillEmpty(d)) {
        lines.push(d === RUN_DIR || d === claimDir ? `directory ${d} (empty, left behind)` : `cgroup ${d} (empty parent left behind)`);
      }
    }
  }
  return [...new Set(lines)];
}

/** Host PIDs of processes whose cgroup is a sandbox one. */
export function sandboxProcesses(): number[] {
  const pids: number[] = [];
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (/:\/(sandbox|system\.slice\/sandbox\.service(?!\/supervisor(?:\/|\n|$)))\//.test(fs.readFileSync(`/proc/${e}/cgroup`, 'utf8'))) pids.push(Number(e));
    } catch {
      /* exited */
    }
  }
  return pids;
}
