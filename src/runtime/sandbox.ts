/**
 * Sandbox: create / exec / signal / wait / destroy a real container on this kernel.
 *
 * create() builds the whole setup as data first (cgroup writes, the clone flags, the mount plan),
 * records it in the ledger, then hands the plan to the native layer, which clones a child into
 * the new namespaces and executes it there. Every step is kept as an ExplainStep, so the learner
 * can see exactly which commands and system calls made the sandbox.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import type { Readable, Writable } from 'node:stream';

import { cgroups, type CgroupUsage, type LimitWrite, checkName } from './cgroup/index.js';
import { hasLimits, type Limits } from './cgroup/limits.js';
import { childStepError, echo, notRootError, SandboxError, usageError, wrapSystemError } from './errors.js';
import {
  claimName,
  ownDir,
  type LedgerEntry,
  processStartTime,
  readEntry,
  reclaim,
  removeEntry,
  RUN_DIR,
  selfId,
  type SweepReport,
  writeEntry,
} from './ledger.js';
import { NAMESPACES, NS_CLONE_FLAG, NS_CLONE_NAME, NS_FILE, NS_FLAG, type Namespace } from './linux.js';
import { initPath, native, type NativeSpawnOptions, type NativeSpawnResult, type NativeWaitStatus } from './native.js';
import { explainFromOp, type ExplainStep, op, type PlanOp, type Propagation, toNative } from './plan.js';
import { namespacesOf, type NamespaceInodes } from './proc.js';
import { DEFAULT_PATH, execCandidates, type RootEntry, rootfsOps, type RootfsSpec } from './rootfs.js';
import { checkBoundingSet, describeSecurity, nativeSecurity, type SecurityOptions, validateSecurity } from './security.js';

export type StdioOption = 'inherit' | 'pipe' | 'ignore';

export interface UserMap {
  /** First uid/gid outside that uid/gid 0 inside maps to. */
  outside: number;
  count: number;
}

export const DEFAULT_USER_MAP: UserMap = { outside: 100000, count: 65536 };

export interface SandboxOptions {
  /** Becomes the cgroup and directory name; default: `<purpose>-<random>`. */
  name?: string;
  /** Who made it, shown by `sandbox top`: "run", "repl", "lesson pid-namespaces"… */
  purpose?: string;
  namespaces?: readonly Namespace[];
  /** Needs a UTS namespace. Default: the sandbox's name. */
  hostname?: string;
  /** Default: `host` with a mount namespace, else none. */
  rootfs?: RootfsSpec;
  limits?: Limits;
  /** Give the sandbox a cgroup (for limits, usage and kill). Default true. */
  cgroup?: boolean;
  /** The payload. With `init`, it may be empty: PID 1 then only holds the namespaces open. */
  command?: string[];
  /** Run sandbox-init as PID 1 (reaps, forwards signals) with the command as its child. */
  init?: boolean;
  env?: Record<string, string>;
  /** Working directory inside. Default: see defaultCwd() ("/" with a new root or a user namespace). */
  cwd?: string;
  stdio?: StdioOption | [StdioOption | number, StdioOption | number, StdioOption | number];
  /** Make the payload the terminal's foreground process group (an interactive shell). */
  foreground?: boolean;
  userMap?: UserMap;
  /**
   * Default true: setuid binaries cannot raise the payload's privileges (a setuid-root program
   * would otherwise get back the capabilities dropped below, and a seccomp filter could not be
   * installed without CAP_SYS_ADMIN).
   */
  noNewPrivs?: boolean;
  /**
   * What the payload may do as root. Default: Docker's default capabilities and a Docker-like
   * seccomp filter (see security.ts); `{ privileged: true }` keeps every capability, no filter.
   */
  security?: SecurityOptions;
  /** Propagation of `/` in the new mount namespace, set before any mount. Default private. */
  propagation?: Propagation;
  /**
   * How the root filesystem is entered: `pivot_root` (default: the host's root is detached) or
   * `chroot` (the host's root stays mounted in the sandbox's mount namespace: escapable, shown
   * by the chroot-and-pivot-root lesson). exec() enters the same chroot.
   */
  rootEntry?: RootEntry;
  setupTimeoutMs?: number;
  /** Called after clone3, before the child runs its plan: the pid and namespaces exist. */
  beforeStart?: (sandbox: Sandbox) => void;
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ExecOptions {
  env?: Record<string, string>;
  /** Working directory inside. Default: the sandbox's own (Sandbox.cwd), as `docker exec` does. */
  cwd?: string;
  stdio?: SandboxOptions['stdio'];
  foreground?: boolean;
  setupTimeoutMs?: number;
  /** Default: the sandbox's own (as `docker exec` does); e.g. `{ privileged: true }` for one command. */
  security?: SecurityOptions;
}

const SIGNAL_NAMES = new Map<number, NodeJS.Signals>(
  Object.entries(os.constants.signals).map(([n, v]) => [v as number, n as NodeJS.Signals]),
);

function decodeStatus(st: NativeWaitStatus): ExitStatus {
  const raw = st.payloadStatus >= 0 ? st.payloadStatus : st.status;
  const sig = raw & 0x7f;
  if (sig === 0) return { code: (raw >> 8) & 0xff, signal: null };
  return { code: null, signal: SIGNAL_NAMES.get(sig) ?? null };
}

/** The shell convention: the code, or 128 + signal number. */
export function exitCode(st: ExitStatus): number {
  if (st.code !== null) return st.code;
  return 128 + ((st.signal && os.constants.signals[st.signal]) || 0);
}

function stdioModes(s: SandboxOptions['stdio']): [number, number, number] {
  const one = (v: StdioOption | number): number => (typeof v === 'number' ? v : v === 'inherit' ? -1 : v === 'pipe' ? -2 : -3);
  if (s === undefined) return [-1, -1, -1];
  if (typeof s === 'string') return [one(s), one(s), one(s)];
  return [one(s[0]), one(s[1]), one(s[2])];
}

function baseEnv(extra: Record<string, string> | undefined, hostname: string | undefined): string[] {
  const env: Record<string, string> = {
    PATH: DEFAULT_PATH,
    HOME: '/root',
    TERM: process.env.TERM ?? 'xterm-256color',
    LANG: 'C.UTF-8',
    container: 'sandbox',
  };
  if (hostname) env.HOSTNAME = hostname;
  Object.assign(env, extra);
  return Object.entries(env).map(([k, v]) => `${k}=${v}`);
}

function randomSuffix(): string {
  return Math.floor(Math.random() * 0x10000)
    .toString(16)
    .padStart(4, '0');
}

function cloneFlagsFor(namespaces: readonly Namespace[]): number {
  let flags = 0;
  for (const ns of namespaces) if (ns !== 'cgroup') flags |= NS_CLONE_FLAG[ns];
  return flags;
}

/**
 * The working directory a sandbox starts in when none is given. With a root filesystem of its own,
 * the caller's directory need not exist inside. With a user namespace, root inside is uid 100000
 * on the host, and the kernel checks every directory on the path against that uid: a home of mode
 * 0700 (/home/vagrant on Debian 13, /root) cannot be entered, and chdir() fails with EACCES. In
 * both cases start at "/", as docker and podman do; otherwise keep the caller's directory.
 */
export function defaultCwd(namespaces: readonly Namespace[], rootfs: RootfsSpec): string {
  if (namespaces.includes('user')) return '/';
  return namespaces.includes('mount') && rootfs.kind !== 'none' ? '/' : process.cwd();
}

/** `unshare --fork --pid --mount …`: the command-line tool that would make the same namespaces. */
function unshareEquivalent(namespaces: readonly Namespace[]): string {
  return ['unshare', '--fork', ...namespaces.map((n) => NS_FLAG[n])].join(' ');
}

const live = new Set<Sandbox>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Last resort when the program exits without destroying its sandboxes (an exception, a
  // process.exit): synchronous, since nothing asynchronous runs after 'exit'.
  process.on('exit', () => destroyAllSync());
}

/** Synchronously removes every sandbox this process created. Safe to call from 'exit'. */
export function destroyAllSync(): void {
  for (const s of [...live]) s.destroySync();
}

/** Every sandbox this process created that is not destroyed yet. */
export function liveSandboxes(): Sandbox[] {
  return [...live];
}

/** A process running inside a sandbox (from Sandbox.exec), or the sandbox's own first process. */
export class SandboxProcess {
  /** Host PID. For exec'd processes: sandbox-init, which runs the command and forwards signals. */
  readonly pid: number;
  readonly stdin: Writable | null;
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
  protected pidfd: number;
  protected statusFd: number;
  protected exitStatus: ExitStatus | null = null;
  private readonly exited: Promise<ExitStatus>;

  constructor(spawned: NativeSpawnResult) {
    this.pid = spawned.pid;
    this.pidfd = spawned.pidfd;
    this.statusFd = spawned.statusFd;
    const [i, o, e] = spawned.stdio;
    this.stdin = i >= 0 ? new net.Socket({ fd: i, readable: false, writable: true }) : null;
    this.stdout = o >= 0 ? new net.Socket({ fd: o, readable: true, writable: false }) : null;
    this.stderr = e >= 0 ? new net.Socket({ fd: e, readable: true, writable: false }) : null;
    this.exited = new Promise((resolve, reject) => {
      native().waitAsync(this.pidfd, this.pid, this.statusFd, (err, st) => {
        if (err) return reject(err);
        this.exitStatus = decodeStatus(st);
        this.closeFds();
        resolve(this.exitStatus);
      });
    });
    this.exited.catch(() => undefined);
  }

  get running(): boolean {
    return this.exitStatus === null;
  }

  get status(): ExitStatus | null {
    return this.exitStatus;
  }

  wait(): Promise<ExitStatus> {
    return this.exited;
  }

  /** Sends a signal to this process (exactly this one: through its pidfd, never a reused pid). */
  signal(sig: NodeJS.Signals | number = 'SIGTERM'): void {
    if (!this.running || this.pidfd < 0) return;
    const signo = typeof sig === 'number' ? sig : os.constants.signals[sig];
    try {
      native().pidfdSignal(this.pidfd, signo);
    } catch (err) {
      if ((err as { code?: string }).code !== 'ESRCH') throw err;
    }
  }

  protected closeFds(): void {
    for (const fd of [this.pidfd, this.statusFd]) {
      if (fd >= 0) {
        try {
          fs.closeSync(fd);
        } catch {
          /* already closed */
        }
      }
    }
    this.pidfd = -1;
    this.statusFd = -1;
  }

  /** Blocks until exit (exit paths only). */
  protected waitSyncNow(): void {
    if (!this.running) return;
    try {
      this.exitStatus = decodeStatus(native().waitSync(this.pid, this.statusFd));
    } catch {
      /* already reaped by the async waiter */
    }
  }

  /**
   * Collects stdout and stderr as text until the process exits and its pipes close. A background
   * child may keep a pipe open after the process itself has exited: then whatever arrived within
   * `graceMs` of the exit is what the process wrote.
   */
  async output(graceMs = 250): Promise<{ status: ExitStatus; stdout: string; stderr: string }> {
    const streams = [this.stdout, this.stderr];
    const chunks: Buffer[][] = [[], []];
    const closed = streams.map(
      (s, i) =>
        new Promise<void>((resolve) => {
          if (!s) return resolve();
          s.on('data', (c: Buffer) => chunks[i].push(c));
          s.on('error', () => resolve());
          s.on('close', () => resolve());
        }),
    );
    this.stdin?.end();
    const status = await this.wait();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(closed), new Promise<void>((r) => (timer = setTimeout(r, graceMs)))]);
    clearTimeout(timer);
    for (const s of streams) s?.destroy();
    return { status, stdout: Buffer.concat(chunks[0]).toString('utf8'), stderr: Buffer.concat(chunks[1]).toString('utf8') };
  }

  protected destroyStreams(): void {
    for (const s of [this.stdin, this.stdout, this.stderr]) s?.destroy();
  }
}

export interface DestroyReport {
  name: string;
  processesKilled: number;
  cgroups: string[];
  dirs: string[];
  /** Named network namespaces unbound (/run/netns/sandbox-<name>) and veth devices deleted. */
  netns?: string[];
  veths?: string[];
  /** How the processes were ended, e.g. "cgroup.kill = 1". */
  method: string;
  ms: number;
}

export class Sandbox extends SandboxProcess {
  readonly name: string;
  readonly purpose: string;
  readonly namespaces: readonly Namespace[];
  readonly hostname: string | undefined;
  readonly rootfs: RootfsSpec;
  /** How the root was entered (pivot_root, or chroot: exec() then chroots into it too). */
  readonly rootEntry: RootEntry;
  readonly command: string[];
  readonly init: boolean;
  /** Working directory inside, where exec() starts too unless told otherwise. */
  readonly cwd: string;
  /** Namespace inode per type (only the types this sandbox created). */
  readonly nsInodes: NamespaceInodes = {};
  /** Every step that made this sandbox, in order. */
  readonly explain: ExplainStep[];
  readonly hasCgroup: boolean;
  /** What the payload may do as root (exec() uses the same unless told otherwise). */
  readonly security: SecurityOptions;
  limits: Limits;
  /** Set once destroy() (or a failed create) has started. */
  private destroyed = false;
  /** Set once every trace is gone; until then the sandbox stays on the exit hook's list. */
  private finished = false;
  private destroying: Promise<DestroyReport> | null = null;
  private readonly execs = new Set<SandboxProcess>();

  private constructor(
    spawned: NativeSpawnResult,
    props: {
      name: string;
      purpose: string;
      namespaces: readonly Namespace[];
      hostname?: string;
      rootfs: RootfsSpec;
      rootEntry?: RootEntry;
      command: string[];
      init: boolean;
      cwd: string;
      explain: ExplainStep[];
      hasCgroup: boolean;
      limits: Limits;
      security: SecurityOptions;
    },
  ) {
    super(spawned);
    this.name = props.name;
    this.purpose = props.purpose;
    this.namespaces = props.namespaces;
    this.hostname = props.hostname;
    this.rootfs = props.rootfs;
    this.rootEntry = props.rootEntry ?? 'pivot_root';
    this.command = props.command;
    this.init = props.init;
    this.cwd = props.cwd;
    this.explain = props.explain;
    this.hasCgroup = props.hasCgroup;
    this.limits = props.limits;
    this.security = props.security;
  }

  /** Creates and starts a sandbox. Needs root. Throws a SandboxError and leaves nothing behind on failure. */
  static async create(options: SandboxOptions): Promise<Sandbox> {
    if (process.getuid?.() !== 0) throw notRootError('creating a sandbox');
    const purpose = options.purpose ?? 'sandbox';
    const namespaces = NAMESPACES.filter((n) => options.namespaces?.includes(n));
    const name = options.name ?? `${purpose.split(' ').pop()!.replace(/[^a-z0-9-]/g, '').slice(0, 20) || 'sbx'}-${randomSuffix()}`;
    checkName(name);
    const init = options.init ?? false;
    const command = options.command ?? [];
    if (!init && command.length === 0) throw usageError('no command to run in the sandbox', 'e.g. sandbox run --pid -- sh');
    if (command.length > 0 && command[0] === '') throw usageError('the command is empty (an empty word, "")', 'give a program to run, e.g. sandbox run -- sh');
    const wantsRoot = options.rootfs && options.rootfs.kind !== 'none';
    if (wantsRoot && !namespaces.includes('mount')) {
      throw usageError('a root filesystem needs a mount namespace', 'add --mount (pivot_root only works inside a mount namespace)');
    }
    const rootfs: RootfsSpec = options.rootfs ?? (namespaces.includes('mount') ? { kind: 'host' } : { kind: 'none' });
    const rootEntry: RootEntry = options.rootEntry ?? 'pivot_root';
    if (rootEntry === 'chroot' && rootfs.kind === 'none') {
      throw usageError('rootEntry chroot needs a root filesystem to enter', 'give a rootfs (host, busybox or a directory)');
    }
    const hostname = namespaces.includes('uts') ? (options.hostname ?? name) : undefined;
    if (options.hostname !== undefined && !namespaces.includes('uts')) {
      throw usageError('--hostname needs a UTS namespace', "add --uts, or the host's own hostname would change");
    }
    if (hostname !== undefined && !/^[A-Za-z0-9]([A-Za-z0-9.-]{0,62})$/.test(hostname)) {
      throw usageError(`"${echo(hostname)}" is not a valid hostname`, 'use letters, digits, "-" and "." (at most 63 characters)');
    }
    const useCgroup = options.cgroup ?? true;
    const limits = options.limits ?? {};
    if (!useCgroup && hasLimits(limits)) throw usageError('limits need a cgroup', 'leave cgroup enabled to set limits');
    const security: SecurityOptions = options.security ?? {};
    // An unknown capability or syscall name fails here, before anything exists; the filter is
    // built (and cached) now, not between clone and exec.
    const nativeSec = prepareSecurity(security);
    checkBoundingSet(security, namespaces.includes('user'));
    const cg = cgroups();
    // Fails here, before anything exists, when a controller is missing.
    if (useCgroup) cg.planLimits(name, limits);

    claimName(name);

    const explain: ExplainStep[] = [];
    const rootDir = `${RUN_DIR}/${name}/root`;
    const usesRootDir = namespaces.includes('mount') && rootfs.kind !== 'none';
    const entry: LedgerEntry = {
      version: 1,
      name,
      owner: selfId(),
      created: new Date().toISOString(),
      purpose,
      init: null,
      command,
      namespaces,
      hostname,
      limits,
      cgroups: useCgroup ? cg.dirs(name) : [],
      dirs: usesRootDir ? [`${RUN_DIR}/${name}`] : [],
      netns: [],
      veths: [],
    };
    // The ledger entry is written before any resource exists, so a crash at any later point
    // leaves nothing that `sandbox cleanup` cannot find.
    writeEntry(entry, { exclusive: true });
    installExitHook();

    let sandbox: Sandbox | null = null;
    let goFd = -1;
    let errFd = -1;
    const undo = async () => {
      // Closing the sync pipe before "go" makes the waiting child exit on its own.
      for (const fd of [goFd, errFd]) {
        if (fd >= 0) {
          try {
            fs.closeSync(fd);
          } catch {
            /* already closed */
          }
        }
      }
      if (sandbox) {
        sandbox.destroyed = true;
        sandbox.signal('SIGKILL');
        await sandbox.wait().catch(() => undefined);
        sandbox.destroyStreams();
      }
      reclaim(name, entry);
      removeEntry(name);
    };

    try {
      if (useCgroup) {
        for (const dir of cg.create(name)) {
          explain.push({ what: 'cgroup', command: `mkdir ${dir}`, syscall: `mkdir("${dir}")`, result: 'a new, empty cgroup' });
        }
        for (const w of cg.setLimits(name, limits)) explain.push(limitStep(w));
      }
      if (usesRootDir) {
        ownDir(name); // /run/sandbox/<name>: checked, never through a symlink
        fs.mkdirSync(rootDir, { recursive: true, mode: 0o755 });
        explain.push({
          what: 'mkdir',
          command: `mkdir -p ${rootDir}`,
          syscall: `mkdir("${rootDir}")`,
          result: 'an empty directory on the host; the new root is mounted on it only inside the sandbox',
        });
      }
      const ops: PlanOp[] = namespaces.includes('mount')
        ? rootfsOps(rootfs, {
            root: rootDir,
            hostname: hostname ?? name,
            pidNs: namespaces.includes('pid'),
            userNs: namespaces.includes('user'),
            propagation: options.propagation ?? 'private',
            entry: rootEntry,
            privileged: security.privileged ?? false,
          })
        : [];
      const env = baseEnv(options.env, hostname);
      const envPath = env.find((e) => e.startsWith('PATH='))!.slice(5);
      const cwd = options.cwd ?? defaultCwd(namespaces, rootfs);

      const spawned = native().spawn({
        cloneFlags: cloneFlagsFor(namespaces),
        unshareCgroup: namespaces.includes('cgroup'),
        joinPidfd: -1,
        joinFlags: 0,
        user: namespaces.includes('user'),
        hostname: hostname ?? null,
        ops: toNative(ops),
        cwd,
        noNewPrivs: options.noNewPrivs ?? true,
        foreground: options.foreground ?? false,
        init,
        initPath: init ? initPath() : '',
        argv: command,
        candidates: command.length ? execCandidates(command[0], envPath) : [],
        env,
        stdio: stdioModes(options.stdio),
        cgroupProcs: useCgroup ? cg.dirs(name).map((d) => `${d}/cgroup.procs`) : [],
        vfork: !namespaces.includes('user') && !options.beforeStart,
        security: nativeSec,
      });
      goFd = spawned.goFd;
      errFd = spawned.errFd;
      const pid = spawned.pid;
      sandbox = new Sandbox(spawned, {
        name,
        purpose,
        namespaces,
        hostname,
        rootfs,
        rootEntry,
        command,
        init,
        cwd,
        explain,
        hasCgroup: useCgroup,
        limits,
        security,
      });
      const created = namespacesOf(
        pid,
        namespaces.filter((n) => n !== 'cgroup'),
      );
      const flagNames = namespaces.filter((n) => n !== 'cgroup').map((n) => NS_CLONE_NAME[n]);
      explain.push({
        what: 'clone3',
        command: unshareEquivalent(namespaces.filter((n) => n !== 'cgroup')),
        syscall: `clone3({ flags: ${[...flagNames, 'CLONE_PIDFD'].join('|')}, exit_signal: SIGCHLD }) = ${pid}`,
        result:
          `host PID ${pid}` +
          (namespaces.length ? '; ' + Object.entries(created).map(([t, ino]) => `${NS_FILE[t as Namespace]}:[${ino}]`).join(' ') : ''),
      });

      if (namespaces.includes('user')) {
        const map = options.userMap ?? DEFAULT_USER_MAP;
        const line = `0 ${map.outside} ${map.count}\n`;
        // The order is the kernel's rule: setgroups must be denied before gid_map is written.
        for (const [file, value] of [
          ['setgroups', 'deny'],
          ['gid_map', line],
          ['uid_map', line],
        ] as const) {
          try {
            fs.writeFileSync(`/proc/${pid}/${file}`, value);
          } catch (err) {
            throw wrapSystemError(err, { what: `writing /proc/${pid}/${file}`, step: 'user-namespace', path: `/proc/${pid}/${file}` });
          }
          explain.push({
            what: 'id-map',
            command: `echo '${value.trim()}' > /proc/${pid}/${file}`,
            syscall: `write("/proc/${pid}/${file}", "${value.trim()}")`,
            result: file === 'uid_map' ? `uid 0 inside = uid ${map.outside} outside (${map.count} ids)` : undefined,
          });
        }
      }
      explain.push(
        ...childSteps(namespaces, hostname, ops, cwd, options.noNewPrivs ?? true, command, init, useCgroup ? cg.dirs(name) : [], security),
      );

      Object.assign(sandbox.nsInodes, created);
      options.beforeStart?.(sandbox);

      const failure = native().release(goFd, errFd, spawned.pidfd, options.setupTimeoutMs ?? 15000);
      goFd = errFd = -1; // release closed both
      if (failure) {
        const failedOp = failure.op >= 0 ? ops[failure.op] : undefined;
        throw childStepError(name, failure, failedOp?.command, envPath);
      }
      entry.init = { pid, start: processStartTime(pid) ?? 0 };
      writeEntry(entry);
      if (namespaces.includes('cgroup')) {
        const ino = namespacesOf(pid, ['cgroup']).cgroup;
        if (ino) sandbox.nsInodes.cgroup = ino;
      }
      live.add(sandbox);
      return sandbox;
    } catch (err) {
      await undo();
      throw err instanceof SandboxError ? err : wrapSystemError(err, { what: `creating sandbox ${name}` });
    }
  }

  /** Runs a command inside this sandbox (all its namespaces and its cgroup), as sandbox-init's child. */
  async exec(command: string[], options: ExecOptions = {}): Promise<SandboxProcess> {
    if (this.destroyed || !this.running) {
      throw usageError(`sandbox ${this.name} is not running`, 'start it (or create a new one) before running commands in it', 'E_NOT_RUNNING');
    }
    if (command.length === 0) throw usageError('no command given', `e.g. exec ${this.name} ps`);
    let joinFlags = 0;
    for (const ns of this.namespaces) joinFlags |= NS_CLONE_FLAG[ns];
    const env = baseEnv(options.env, this.hostname);
    // Joining a mount namespace puts the process at that namespace's root: for a chroot'ed
    // sandbox that is the host's root, so enter the same chroot the sandbox's first process did.
    const ops = this.rootEntry === 'chroot' ? [op.chroot(`${RUN_DIR}/${this.name}/root`)] : [];
    const nativeSec = prepareSecurity(options.security ?? this.security);
    checkBoundingSet(options.security ?? this.security, this.namespaces.includes('user'));
    const spawned = native().spawn({
      cloneFlags: 0,
      unshareCgroup: false,
      joinPidfd: this.pidfd,
      joinFlags,
      user: this.namespaces.includes('user'),
      hostname: null,
      ops: toNative(ops),
      cwd: options.cwd ?? this.cwd,
      noNewPrivs: true,
      foreground: options.foreground ?? false,
      init: true,
      initPath: initPath(),
      argv: command,
      candidates: [],
      env,
      stdio: stdioModes(options.stdio),
      cgroupProcs: this.hasCgroup ? cgroups().dirs(this.name).map((d) => `${d}/cgroup.procs`) : [],
      vfork: true,
      security: nativeSec,
    });
    const proc = new SandboxProcess(spawned);
    const failure = native().release(spawned.goFd, spawned.errFd, spawned.pidfd, options.setupTimeoutMs ?? 15000);
    if (failure) {
      await proc.wait().catch(() => undefined);
      throw childStepError(this.name, failure, undefined, env.find((e) => e.startsWith('PATH='))?.slice(5));
    }
    this.execs.add(proc);
    proc.wait().then(
      () => this.execs.delete(proc),
      () => this.execs.delete(proc),
    );
    return proc;
  }

  /** Runs a command inside and returns its output once it exits. */
  async execOutput(command: string[], options: ExecOptions = {}): Promise<{ status: ExitStatus; stdout: string; stderr: string }> {
    const p = await this.exec(command, { ...options, stdio: options.stdio ?? ['ignore', 'pipe', 'pipe'] });
    return p.output();
  }

  /** Resource usage from the sandbox's cgroup (null without one). */
  usage(): CgroupUsage | null {
    return this.hasCgroup && !this.destroyed ? cgroups().usage(this.name) : null;
  }

  /** Changes limits on the running sandbox; returns the kernel files written. */
  setLimits(limits: Limits): LimitWrite[] {
    if (!this.hasCgroup) throw usageError(`sandbox ${this.name} has no cgroup`, 'create it with a cgroup to set limits');
    const writes = cgroups().setLimits(this.name, limits);
    this.limits = { ...this.limits, ...limits };
    const entry = readEntry(this.name);
    if (entry) writeEntry({ ...entry, limits: this.limits });
    return writes;
  }

  /** Host PIDs of every process in the sandbox's cgroup. */
  pids(): number[] {
    return this.hasCgroup ? cgroups().procs(this.name) : [this.pid];
  }

  get isDestroyed(): boolean {
    return this.destroyed;
  }

  /**
   * Kills everything in the sandbox and removes every trace of it: processes (through the cgroup,
   * then PID 1 via its pidfd), cgroups, directories, the ledger entry. Idempotent: calls while a
   * teardown runs share it. The sandbox stays on the exit hook's list until it is complete, so a
   * process that exits half-way still finishes the job synchronously.
   */
  destroy(): Promise<DestroyReport> {
    if (this.destroying) return this.destroying;
    if (this.finished) {
      return Promise.resolve({ name: this.name, processesKilled: 0, cgroups: [], dirs: [], method: 'already destroyed', ms: 0 });
    }
    this.destroyed = true;
    this.destroying = this.teardown().finally(() => {
      this.finished = true;
      this.destroying = null;
      live.delete(this);
    });
    return this.destroying;
  }

  private async teardown(): Promise<DestroyReport> {
    const t0 = performance.now();
    const method = this.hasCgroup ? cgroups().killMethod() : 'SIGKILL to PID 1 (the kernel then kills its PID namespace)';
    let killed = 0;
    if (this.hasCgroup && cgroups().exists(this.name)) killed += cgroups().kill(this.name);
    if (this.running) {
      // With a cgroup, PID 1 was among the processes just killed (its exit is not reaped yet):
      // the signal is only a safety net, and counting it again would report one kill too many.
      this.signal('SIGKILL');
      if (!this.hasCgroup) killed++;
    }
    for (const p of this.execs) p.signal('SIGKILL');
    await Promise.all([this.wait().catch(() => undefined), ...[...this.execs].map((p) => p.wait().catch(() => undefined))]);
    this.destroyStreams();
    const recorded = readEntry(this.name);
    const report = reclaim(this.name, {
      dirs: this.rootfs.kind !== 'none' && this.namespaces.includes('mount') ? [`${RUN_DIR}/${this.name}`] : [],
      // Named network namespaces and veth devices added after creation (see net.ts).
      netns: recorded?.netns ?? [],
      veths: recorded?.veths ?? [],
    });
    removeEntry(this.name);
    return {
      name: this.name,
      processesKilled: killed + report.processesKilled,
      cgroups: report.cgroups,
      dirs: report.dirs,
      netns: report.netns,
      veths: report.veths,
      method,
      ms: performance.now() - t0,
    };
  }

  /** destroy() for exit paths: blocks instead of awaiting. */
  destroySync(): void {
    if (this.finished) return;
    this.destroyed = true;
    this.finished = true;
    live.delete(this);
    try {
      if (this.hasCgroup && cgroups().exists(this.name)) cgroups().kill(this.name);
    } catch {
      /* fall through to the pidfd */
    }
    if (this.running) {
      this.signal('SIGKILL');
      this.waitSyncNow();
    }
    try {
      const recorded = readEntry(this.name);
      reclaim(this.name, { dirs: [`${RUN_DIR}/${this.name}`], netns: recorded?.netns ?? [], veths: recorded?.veths ?? [] });
    } catch {
      /* `sandbox cleanup` will finish the job */
    }
    removeEntry(this.name);
  }
}

/** Checks a security configuration and builds its seccomp filter now (cached by the addon). */
function prepareSecurity(security: SecurityOptions): NativeSpawnOptions['security'] {
  validateSecurity(security);
  const ns = nativeSecurity(security);
  const out: NonNullable<NativeSpawnOptions['security']> = {};
  // --privileged without --cap-drop: keep whatever the caller has, as before.
  if (!(security.privileged && !security.capDrop?.length)) {
    out.capMaskLo = Number(ns.capMask & 0xffffffffn);
    out.capMaskHi = Number(ns.capMask >> 32n);
  }
  if (ns.filter) {
    try {
      native().seccompFilter(ns.filter);
    } catch (err) {
      if ((err as { code?: string }).code !== 'E_SECCOMP') throw err;
      throw usageError(`seccomp: ${(err as Error).message}`, 'syscalls are named as in syscalls(2) for this machine, e.g. mkdir, unshare');
    }
    out.filter = ns.filter;
  }
  return out;
}

function limitStep(w: LimitWrite): ExplainStep {
  return { what: 'limit', command: `echo ${w.value} > ${w.path}`, syscall: `write("${w.path}", "${w.value}")`, result: w.note };
}

/** The steps the child performs between clone3 and execve, in its fixed order. */
function childSteps(
  namespaces: readonly Namespace[],
  hostname: string | undefined,
  ops: PlanOp[],
  cwd: string,
  noNewPrivs: boolean,
  command: string[],
  init: boolean,
  cgroupDirs: string[],
  security: SecurityOptions,
): ExplainStep[] {
  const steps: ExplainStep[] = [];
  for (const dir of cgroupDirs) {
    steps.push({ what: 'cgroup', command: `echo 0 > ${dir}/cgroup.procs`, syscall: `write("${dir}/cgroup.procs", "0")`, result: 'joined (0 = the writing process itself)' });
  }
  if (namespaces.includes('user')) {
    steps.push({ what: 'setresuid', command: '(become root inside)', syscall: 'setresgid(0, 0, 0); setresuid(0, 0, 0)' });
  }
  if (namespaces.includes('cgroup')) {
    steps.push({
      what: 'unshare',
      command: 'unshare --cgroup',
      syscall: 'unshare(CLONE_NEWCGROUP)',
      result: 'a cgroup namespace rooted at the sandbox cgroup (made after joining it)',
    });
  }
  if (hostname !== undefined) {
    steps.push({ what: 'hostname', command: `hostname ${hostname}`, syscall: `sethostname("${hostname}", ${hostname.length})` });
  }
  steps.push(...ops.map(explainFromOp));
  steps.push({ what: 'chdir', command: `cd ${cwd}`, syscall: `chdir("${cwd}")` });
  if (noNewPrivs) {
    steps.push({
      what: 'prctl',
      command: 'setpriv --no-new-privs',
      syscall: 'prctl(PR_SET_NO_NEW_PRIVS, 1)',
      result: 'setuid binaries cannot gain privileges',
    });
  }
  const sec = describeSecurity(security);
  const ns = nativeSecurity(security);
  if (ns.filter) {
    steps.push({
      what: 'seccomp',
      command: `(seccomp filter: ${sec.seccomp})`,
      syscall: 'seccomp(SECCOMP_SET_MODE_FILTER, 0, &prog)',
      result: 'the listed syscalls now return EPERM, for this process and every process it makes',
    });
  }
  if (security.privileged && !security.capDrop?.length) {
    steps.push({
      what: 'capabilities',
      command: '(--privileged: every capability kept)',
      syscall: '(none)',
      result: 'root inside has every capability root outside has: it can write the host',
    });
  } else {
    steps.push({
      what: 'capabilities',
      command: `capsh --caps=${sec.caps.length ? sec.caps.map((c) => `cap_${c.toLowerCase()}`).join(',') + '+eip' : '""'}`,
      syscall: `prctl(PR_CAPBSET_DROP, …) for each other capability; capset(permitted = effective = 0x${sec.capMaskHex}, inheritable = 0)`,
      result: `CapEff ${sec.capMaskHex}: ${sec.caps.join(' ') || 'none'}`,
    });
  }
  const shown = command.map((a) => (/[\s'"$]/.test(a) ? `'${a.replace(/'/g, "'\\''")}'` : a)).join(' ');
  if (init) {
    steps.push({
      what: 'execve',
      command: `sandbox-init -- ${shown}`.trim(),
      syscall: 'execveat(fd of sandbox-init, "", …, AT_EMPTY_PATH); fork(); execvp(…)',
      result: command.length
        ? 'sandbox-init is PID 1: it reaps orphans and forwards signals; the command runs as its child'
        : 'sandbox-init is PID 1 and only holds the namespaces open (like a "pause" container)',
    });
  } else {
    steps.push({
      what: 'execve',
      command: shown,
      syscall: `execve("${command[0]}", [${command.map((a) => JSON.stringify(a)).join(', ')}], envp)`,
      result: namespaces.includes('pid') ? 'the command is PID 1 of the new PID namespace' : 'the command runs in the new namespaces',
    });
  }
  return steps;
}

/** Creates a sandbox, collects its output, waits for it and destroys it. */
export async function runSandbox(
  options: SandboxOptions & { command: string[]; input?: string },
): Promise<{ status: ExitStatus; stdout: string; stderr: string; sandbox: Sandbox; destroyed: DestroyReport }> {
  const sandbox = await Sandbox.create({ ...options, stdio: options.stdio ?? [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
  try {
    if (options.input !== undefined) sandbox.stdin?.end(options.input);
    const out = await sandbox.output();
    const destroyed = await sandbox.destroy();
    return { ...out, sandbox, destroyed };
  } catch (err) {
    await sandbox.destroy();
    throw err;
  }
}

export type { SweepReport };
