/**
 * CPU claims: a demonstration that pins sandboxes to one CPU (the cgroups-cpu and fork-bomb
 * lessons, the CPU benchmarks) claims that CPU for itself, so that two sessions on one host do
 * not pin their demonstrations to the same core and measure each other.
 *
 * A claim is a file /run/sandbox/cpu-claims/<cpu>-<pid>-<start>, created with O_EXCL by the
 * claiming process (its pid and start time, as in the ledger, tell a dead owner from a reused
 * pid). The file's name alone says whose it is, so a reader never depends on its content being
 * complete. (The directory's name is one of INTERNAL_DIRS, which no sandbox may take.)
 * The protocol, safe without any lock:
 *   1. create your own file for the CPU;
 *   2. list the directory: if any other file for that CPU belongs to a live process, remove
 *      yours and back off (both may back off; a random pause breaks the tie);
 *   3. otherwise the CPU is yours.
 * Two live claimants cannot both win: whichever lists second sees the other's file, which exists
 * from before the first one listed until it is released. A dead owner's file is ignored and
 * removed by whoever sees it (dead is dead: that pid and start time never come back), and by
 * `sandbox cleanup`.
 *
 * Claims are released when the demonstration ends (the lesson's close, a benchmark's finally),
 * and at the latest by the process 'exit' hook, which runs after every way out that lets Node
 * exit (the signal handlers of learn, run and the REPL end in process.exit). A SIGKILLed owner's
 * claim is stale at once.
 */
import fs from 'node:fs';

import { onlineCpus } from './cgroup/limits.js';
import { SandboxError, wrapSystemError } from './errors.js';
import { isAlive, processStartTime, RUN_DIR, type ProcessId } from './ledger.js';
import { cpuTimes, idleBetween } from './monitor.js';

/** The directory name under /run/sandbox: an internal name, never a sandbox's. */
export const CPU_CLAIM_DIRNAME = 'cpu-claims';
export const CPU_CLAIM_DIR = `${RUN_DIR}/${CPU_CLAIM_DIRNAME}`;

const FILE_RE = /^(\d{1,5})-(\d{1,10})-(\d{1,20})$/;
/** At most this many CPUs are considered (the kernel's own limit is 8192). */
const MAX_CPU = 8191;

export interface CpuHolder {
  cpu: number;
  owner: ProcessId;
  /** "lesson cgroups-cpu", "bench cpu-split"… (from the file; '' if unreadable). */
  purpose: string;
  /** The owner's command line, for messages. */
  command: string;
  file: string;
}

interface ClaimRecord {
  version: 1;
  cpu: number;
  owner: ProcessId & { command: string };
  purpose: string;
  created: string;
}

const held = new Map<number, CpuClaim>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Last resort when the program exits without releasing (an exception, a process.exit from a
  // signal handler): synchronous, since nothing asynchronous runs after 'exit'.
  process.on('exit', () => releaseAllCpuClaims());
}

/** A CPU this process holds until release(). */
export class CpuClaim {
  readonly cpu: number;
  readonly file: string;
  readonly purpose: string;
  private released = false;

  constructor(cpu: number, file: string, purpose: string) {
    this.cpu = cpu;
    this.file = file;
    this.purpose = purpose;
  }

  get isReleased(): boolean {
    return this.released;
  }

  /** Removes the claim file (and the directory, when it was the last). Idempotent. */
  release(): void {
    if (this.released) return;
    this.released = true;
    if (held.get(this.cpu) === this) held.delete(this.cpu);
    try {
      fs.unlinkSync(this.file);
    } catch {
      /* already removed (sandbox cleanup only removes dead owners' claims; a test may have) */
    }
    removeEmptyDirs(this.file.slice(0, this.file.lastIndexOf('/')));
  }
}

/** Releases every claim this process holds. Safe to call from 'exit'. */
export function releaseAllCpuClaims(): void {
  for (const c of [...held.values()]) c.release();
}

/** The claims this process holds. */
export function heldCpuClaims(): CpuClaim[] {
  return [...held.values()];
}

function removeEmptyDirs(dir: string): void {
  try {
    fs.rmdirSync(dir);
    if (dir === CPU_CLAIM_DIR) fs.rmdirSync(RUN_DIR);
  } catch {
    /* other claims, or other sandboxes, remain */
  }
}

/**
 * Makes the claim directory (and /run/sandbox) if needed and refuses one that another user could
 * have planted: it must be a real directory (not a symlink), owned by us, writable by no one else.
 */
function ensureDir(dir: string): void {
  const uid = process.geteuid?.() ?? 0;
  const parents = dir === CPU_CLAIM_DIR ? [RUN_DIR, dir] : [dir];
  for (const d of parents) {
    try {
      fs.mkdirSync(d, { mode: 0o755 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw wrapSystemError(err, { what: 'making the CPU claim directory', step: 'cpu-claim', path: d });
    }
    const st = fs.lstatSync(d);
    if (!st.isDirectory() || st.uid !== uid || (st.mode & 0o022) !== 0) {
      throw new SandboxError(
        `refusing to use ${d}: it is ${st.isSymbolicLink() ? 'a symbolic link' : !st.isDirectory() ? 'not a directory' : st.uid !== uid ? `owned by uid ${st.uid}` : 'writable by others'}`,
        { code: 'E_UNSAFE', path: d, step: 'cpu-claim', hint: `remove it (sudo rm -r ${d}) and run the command again; sandbox makes it itself, root-owned with mode 0755` },
      );
    }
  }
}

function parseName(name: string): { cpu: number; owner: ProcessId } | null {
  const m = FILE_RE.exec(name);
  if (!m) return null;
  const cpu = Number(m[1]);
  const pid = Number(m[2]);
  const start = Number(m[3]);
  if (cpu > MAX_CPU || !Number.isSafeInteger(pid) || pid < 1 || !Number.isSafeInteger(start)) return null;
  return { cpu, owner: { pid, start } };
}

function commandOf(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ').slice(0, 200);
  } catch {
    return '';
  }
}

/** Every claim file in `dir`, live and stale (a file whose name is not a claim's is left out). */
export function readCpuClaims(dir = CPU_CLAIM_DIR): (CpuHolder & { alive: boolean })[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  const out: (CpuHolder & { alive: boolean })[] = [];
  for (const name of names) {
    const p = parseName(name);
    if (!p) continue;
    const file = `${dir}/${name}`;
    let purpose = '';
    let command = '';
    try {
      const rec = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<ClaimRecord>;
      purpose = typeof rec.purpose === 'string' ? rec.purpose.slice(0, 80) : '';
      command = typeof rec.owner?.command === 'string' ? rec.owner.command.slice(0, 200) : '';
    } catch {
      /* being written, or removed meanwhile: the name says enough */
    }
    const alive = isAlive(p.owner);
    out.push({ ...p, purpose, command: command || (alive ? commandOf(p.owner.pid) : ''), file, alive });
  }
  return out.sort((a, b) => a.cpu - b.cpu || a.owner.pid - b.owner.pid);
}

/** Live claims of other processes, by CPU. Removes the stale ones it comes across. */
export function cpuHolders(dir = CPU_CLAIM_DIR): Map<number, CpuHolder> {
  const out = new Map<number, CpuHolder>();
  for (const c of readCpuClaims(dir)) {
    if (!c.alive) {
      try {
        fs.unlinkSync(c.file);
      } catch {
        /* someone else removed it first */
      }
      continue;
    }
    if (c.owner.pid === process.pid) continue;
    if (!out.has(c.cpu)) out.set(c.cpu, c);
  }
  return out;
}

/** Removes the claims of dead processes (`sandbox cleanup`); returns what it removed. */
export function sweepCpuClaims(dir = CPU_CLAIM_DIR): CpuHolder[] {
  const removed: CpuHolder[] = [];
  for (const c of readCpuClaims(dir)) {
    if (c.alive) continue;
    try {
      fs.unlinkSync(c.file);
      removed.push(c);
    } catch {
      /* removed concurrently */
    }
  }
  removeEmptyDirs(dir);
  return removed;
}

/**
 * Claims `cpu` for this process if no live process holds it; null if one does (or this process
 * already does). Never waits.
 */
export function claimCpu(cpu: number, purpose: string, dir = CPU_CLAIM_DIR): CpuClaim | null {
  if (!Number.isSafeInteger(cpu) || cpu < 0 || cpu > MAX_CPU) throw new SandboxError(`CPU ${String(cpu).slice(0, 20)} is not a CPU number`, { code: 'E_USAGE' });
  if (held.has(cpu)) return null;
  const start = processStartTime(process.pid) ?? 0;
  const file = `${dir}/${cpu}-${process.pid}-${start}`;
  const record: ClaimRecord = {
    version: 1,
    cpu,
    owner: { pid: process.pid, start, command: process.argv.slice(1).join(' ').slice(0, 200) },
    purpose: purpose.slice(0, 80),
    created: new Date().toISOString(),
  };
  // Another session removes the directory when its last claim goes: if that happens between our
  // mkdir and our open, make it again (as the ledger does).
  for (let attempt = 0; ; attempt++) {
    let fd: number;
    try {
      ensureDir(dir);
      const c = fs.constants;
      fd = fs.openSync(file, c.O_WRONLY | c.O_CREAT | c.O_EXCL | c.O_NOFOLLOW, 0o644);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' && attempt < 10) continue;
      if (err instanceof SandboxError) throw err;
      throw wrapSystemError(err, { what: `claiming CPU ${cpu}`, step: 'cpu-claim', path: file });
    }
    try {
      fs.writeSync(fd, JSON.stringify(record));
    } finally {
      fs.closeSync(fd);
    }
    break;
  }
  const claims = readCpuClaims(dir);
  for (const c of claims.filter((x) => !x.alive)) {
    try {
      fs.unlinkSync(c.file);
    } catch {
      /* someone else removed it first */
    }
  }
  const others = claims.filter((c) => c.cpu === cpu && c.alive && c.owner.pid !== process.pid);
  if (others.length) {
    try {
      fs.unlinkSync(file);
    } catch {
      /* gone */
    }
    removeEmptyDirs(dir);
    return null;
  }
  installExitHook();
  const claim = new CpuClaim(cpu, file, purpose);
  held.set(cpu, claim);
  return claim;
}

export interface ClaimQuietestOptions {
  /** What the claim is for, shown to the sessions that wait: "lesson cgroups-cpu". */
  purpose: string;
  /** CPUs to choose from. Default: the online CPUs. */
  candidates?: readonly number[];
  /** How long to wait for a CPU while every candidate is claimed, before sharing one. Default 60 s. */
  waitMs?: number;
  /** How often to look again while waiting. Default 500 ms. */
  pollMs?: number;
  /** The window over which the quietest CPU is measured. Default 300 ms. */
  windowMs?: number;
  /** Called at every look while every candidate is claimed. */
  onWait?: (holders: CpuHolder[], waitedMs: number) => void;
  /** Asked at every look: true ends the wait with an E_CLOSED error (the lesson was closed). */
  aborted?: () => boolean;
  dir?: string;
}

export interface CpuAssignment {
  cpu: number;
  /** The claim, or null when the wait ran out and the CPU is shared with `sharedWith`. */
  claim: CpuClaim | null;
  /** How long it waited while every CPU was held (0: one was free at once). */
  waitedMs: number;
  /** Who else holds the CPU, when shared. */
  sharedWith: CpuHolder[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function quietest(candidates: readonly number[], windowMs: number): Promise<number> {
  if (candidates.length <= 1) return candidates[0];
  const a = cpuTimes();
  await sleep(windowMs);
  const idle = idleBetween(a, cpuTimes());
  return [...candidates].sort((x, y) => (idle.get(y) ?? 0) - (idle.get(x) ?? 0))[0];
}

/**
 * Claims the quietest CPU that no other session holds. While every candidate is claimed it waits
 * (telling `onWait`), up to `waitMs`; then it returns the quietest CPU unclaimed-by-us, shared: a
 * demonstration measured as a split between its own sandboxes still holds there.
 */
export async function claimQuietestCpu(options: ClaimQuietestOptions): Promise<CpuAssignment> {
  const candidates = [...new Set(options.candidates ?? onlineCpus())].filter((c) => Number.isSafeInteger(c) && c >= 0 && c <= MAX_CPU);
  if (!candidates.length) throw new SandboxError('no CPU to choose from', { code: 'E_USAGE' });
  const waitMs = options.waitMs ?? 60_000;
  const pollMs = options.pollMs ?? 500;
  const windowMs = options.windowMs ?? 300;
  const dir = options.dir ?? CPU_CLAIM_DIR;
  // When the wait for a free CPU began (every candidate held); null while one is free.
  let waitingSince: number | null = null;
  let waited = 0;
  const checkAborted = () => {
    if (options.aborted?.()) throw new SandboxError('stopped waiting for a CPU: the session was closed', { code: 'E_CLOSED', actionable: false });
  };
  for (let lost = 0; ; ) {
    checkAborted();
    const holders = cpuHolders(dir);
    const free = candidates.filter((c) => !holders.has(c) && !held.has(c));
    if (waitingSince !== null) waited = performance.now() - waitingSince;
    const waitedMs = waited;
    if (free.length) {
      const cpu = await quietest(free, windowMs);
      checkAborted();
      const claim = claimCpu(cpu, options.purpose, dir);
      if (claim) {
        if (options.aborted?.()) {
          claim.release();
          checkAborted();
        }
        return { cpu, claim, waitedMs, sharedWith: [] };
      }
      // Another session claimed it between our look and our claim: look again after a random
      // pause, so that two sessions that keep colliding stop doing it in step.
      lost++;
      await sleep(20 + Math.random() * 80 * Math.min(lost, 5));
      continue;
    }
    waitingSince ??= performance.now();
    if (waitedMs >= waitMs) {
      const cpu = await quietest(candidates, windowMs);
      return { cpu, claim: null, waitedMs, sharedWith: [...holders.values()].filter((h) => h.cpu === cpu) };
    }
    options.onWait?.([...holders.values()], waitedMs);
    await sleep(pollMs);
  }
}

function and(items: readonly string[]): string {
  return items.length <= 1 ? (items[0] ?? '') : `${items.slice(0, -1).join(', ')} and ${items.at(-1)}`;
}

/**
 * "CPU 0 (pid 4711, lesson cgroups-cpu) and CPU 1 (pid 4712, bench cpu-split)", or "CPU 0 and 1
 * (pid 4711, lesson fork-bomb)" when one process holds several: for messages.
 */
export function describeHolders(holders: readonly CpuHolder[]): string {
  if (!holders.length) return 'no CPU';
  const byOwner = new Map<string, { cpus: number[]; h: CpuHolder }>();
  for (const h of holders) {
    const key = `${h.owner.pid}-${h.owner.start}`;
    const o = byOwner.get(key) ?? { cpus: [], h };
    o.cpus.push(h.cpu);
    byOwner.set(key, o);
  }
  return and([...byOwner.values()].map(({ cpus, h }) => `CPU ${and(cpus.map(String))} (pid ${h.owner.pid}${h.purpose ? `, ${h.purpose}` : ''})`));
}
