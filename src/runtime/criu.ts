/**
 * Checkpoint and restore with CRIU (the `criu` command, as vzctl chkpnt/restore drive it).
 *
 * checkpoint() runs `criu dump -t <PID 1>` on a sandbox's whole tree into
 * /run/sandbox/<name>/images, keeping CRIU's log file there; restore() makes the cgroup (with the
 * same limits) and a root tmpfs, and runs `criu restore` inside that cgroup, so the restored tree
 * gets the same namespaces kind and the same PIDs inside. CRIU's errors are translated into one
 * line that names the kept log file; a raw log is never printed.
 *
 * Where the images live, and who removes them: while the sandbox runs, its ledger entry owns
 * /run/sandbox/<name> (images included). A checkpoint that stops the sandbox re-records the
 * directory under the same name as a process-less entry, so `sandbox cleanup` (or leaving the
 * REPL) removes the images of a dead session, and restore() turns it back into a sandbox entry.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';

import { cgroups, type CgroupUsage, checkName, type LimitWrite } from './cgroup/index.js';
import type { Limits } from './cgroup/limits.js';
import { SandboxError, usageError, wrapSystemError } from './errors.js';
import { claimName, type LedgerEntry, ownDir, processStartTime, readEntry, reclaim, removeEntry, removeTree, RUN_DIR, selfId, writeEntry } from './ledger.js';
import { MS_NODEV, MS_NOSUID, NS_CLONE_FLAG, type Namespace } from './linux.js';
import { initPath, native } from './native.js';
import { type ExplainStep, op, toNative } from './plan.js';
import { namespacesOf, type NamespaceInodes } from './proc.js';
import { DEFAULT_PATH, type RootEntry, type RootfsSpec } from './rootfs.js';
import type { DestroyReport, ExecOptions, ExitStatus, Sandbox, SandboxProcess } from './sandbox.js';
import { nativeSecurity, type SecurityOptions, validateSecurity } from './security.js';

// --- where CRIU works --------------------------------------------------------------------------

export interface CriuStatus {
  installed: boolean;
  path: string | null;
  /** "3.17.1", or null. */
  version: string | null;
  /** `criu check` passed. */
  works: boolean;
  /** One line: the version and what `criu check` said. */
  detail: string;
  /** What to do, when it does not work. */
  fix?: string;
}

const INSTALL_FIX = 'sudo apt-get install criu (needed only by checkpoint/restore)';

function criuPath(): string | null {
  for (const dir of `${process.env.PATH ?? ''}:/usr/sbin:/sbin:/usr/bin`.split(':')) {
    if (!dir) continue;
    try {
      fs.accessSync(`${dir}/criu`, fs.constants.X_OK);
      return `${dir}/criu`;
    } catch {
      /* next */
    }
  }
  return null;
}

function versionOf(text: string): string | null {
  return /Version:\s*([\d.]+)/.exec(text)?.[1] ?? null;
}

/** Whether CRIU `version` is known to fail on kernel `release` (the vDSO layout changed in 6.x). */
function tooOldFor(version: string | null, release: string): boolean {
  const [maj] = (version ?? '0').split('.').map(Number);
  const k = /^(\d+)\.(\d+)/.exec(release);
  return maj < 4 && !!k && (Number(k[1]) > 6 || (Number(k[1]) === 6 && Number(k[2]) >= 8));
}

/**
 * One line for what CRIU printed or logged: the known failures translated (what failed, why,
 * what to do), otherwise its first error line. Pure: tested with sample log lines.
 */
export function translateCriuLog(log: string, ctx: { version?: string | null; kernel?: string; logFile?: string } = {}): { message: string; hint: string } {
  const kernel = ctx.kernel ?? os.release();
  const where = ctx.logFile ? ` (CRIU's log: ${ctx.logFile})` : '';
  const v = ctx.version ? `CRIU ${ctx.version}` : 'this CRIU';
  if (/vdso|vDSO/.test(log) && /(Unexpected rt vDSO area bounds|Failed to fill self vdso symtable|kerndat_vdso)/.test(log)) {
    return {
      message: `${v} cannot run on kernel ${kernel} (vDSO): it does not understand this kernel's vDSO layout${where}`,
      hint: 'install CRIU ≥ 4.0 (Debian 13 has 4.1), or use a kernel ≤ 6.1 (the v2 test guest boots Debian 12\'s 6.1)',
    };
  }
  if (/nested pid namespace|Nested PID namespaces/i.test(log)) {
    return { message: `CRIU cannot dump a nested PID namespace (a PID namespace made inside the sandbox)${where}`, hint: 'checkpoint a sandbox whose processes made no PID namespace of their own' };
  }
  const leader = /A session leader of (\d+)\((\d+)\) is outside of its pid namespace/.exec(log);
  if (leader) {
    return {
      message: `the session of PID 1 (host PID ${leader[1]}) started outside the sandbox: CRIU restores only sessions that begin inside the PID namespace${where}`,
      hint: 'run the payload with setsid (e.g. setsid sh -c …); a REPL sandbox\'s sandbox-init already does',
    };
  }
  const outside = /Can't lookup mount=(\d+) for fd=(-?\d+) path=(\S+)/.exec(log);
  if (/can't dump unprivileged task whose \/proc doesn't belong to it/.test(log)) {
    return {
      message: `a process without CAP_SYS_ADMIN sees a /proc that is not its PID namespace's (no mount namespace of its own), and CRIU cannot look inside it${where}`,
      hint: 'create the sandbox with --mount (it then gets its own /proc), or with --privileged',
    };
  }
  if (outside && Number(outside[2]) < 0) {
    // fd -3 is a process's executable (a mapping, not an open file).
    return {
      message: `the program ${outside[3]} runs from a mount outside the sandbox's mount namespace, which CRIU cannot find again${where}`,
      hint: outside[3].endsWith('sandbox-init')
        ? "sandbox-init (the REPL's PID 1) is the host's file: checkpoint a sandbox made without --mount, or one whose PID 1 is a program inside its root"
        : 'run programs that live inside the sandbox\'s root',
    };
  }
  if (outside) {
    return {
      message: `a process has ${outside[3]} open (fd ${outside[2]}) from a mount outside its mount namespace, which CRIU cannot find again${where}`,
      hint: "give the sandbox's processes pipes or files inside it (</dev/null inside, not the host's)",
    };
  }
  // Only error lines: an info line may mention a terminal or the options CRIU was given.
  const errors = log
    .split('\n')
    .filter((l) => /Error|error|not supported/.test(l))
    .join('\n');
  if (/io_uring/i.test(errors)) {
    return { message: `a process uses io_uring, which CRIU cannot checkpoint${where}`, hint: 'stop the program that uses io_uring first' };
  }
  if (/\btty\b|TTY|shell-job|controlling terminal/.test(errors)) {
    return {
      message: `a process has a terminal that CRIU cannot dump without --shell-job${where}`,
      hint: 'detach it from the terminal (run it with setsid and </dev/null), or leave the interactive shell first',
    };
  }
  if (/No such file or directory.*criu|criu: not found|ENOENT/.test(log) && /criu/.test(log) && !/Error \(/.test(log)) {
    return { message: 'criu is not installed', hint: INSTALL_FIX };
  }
  const first = log
    .split('\n')
    .find((l) => /Error \(/.test(l) && !/util\.c.*exited, status|tun:/.test(l));
  const text = (first ?? log.split('\n').find((l) => l.trim()) ?? 'no output')
    .replace(/^\s*\([\d.]+\)\s*(\d+:\s*)?/, '')
    .replace(/^Error \([^)]*\):\s*/, '')
    .trim()
    .slice(0, 160);
  return { message: `CRIU failed: ${text}${where}`, hint: ctx.logFile ? `read ${ctx.logFile} for the details` : 'run criu check' };
}

let cached: CriuStatus | undefined;
/** The timeout of a cached `criu check` that did not answer: a longer one asks again. */
let cachedTimeout = Infinity;

/**
 * The CRIU version and `criu check` result (cached: doctor must stay fast, and the answer does
 * not change while the program runs). `criu check` is bounded by a timeout.
 */
export function criuStatus(options: { refresh?: boolean; timeoutMs?: number } = {}): CriuStatus {
  const timeout = options.timeoutMs ?? 3000;
  if (cached && !options.refresh && timeout <= cachedTimeout) return cached;
  cachedTimeout = Infinity;
  const p = criuPath();
  if (!p) {
    cached = { installed: false, path: null, version: null, works: false, detail: `not installed: ${INSTALL_FIX}`, fix: INSTALL_FIX };
    return cached;
  }
  let version: string | null = null;
  try {
    version = versionOf(execFileSync(p, ['--version'], { encoding: 'utf8', timeout, stdio: ['ignore', 'pipe', 'pipe'] }));
  } catch {
    /* reported below */
  }
  if (process.getuid?.() !== 0) {
    cached = { installed: true, path: p, version, works: false, detail: `CRIU ${version ?? '?'} (criu check needs root)`, fix: 'run sandbox with sudo' };
    return cached;
  }
  let out = '';
  let ok = false;
  try {
    out = execFileSync(p, ['check'], { encoding: 'utf8', timeout, stdio: ['ignore', 'pipe', 'pipe'] });
    ok = true;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; code?: string; signal?: string };
    out = `${e.stdout ?? ''}\n${e.stderr ?? ''}`;
    if (e.code === 'ETIMEDOUT' || e.signal === 'SIGTERM') {
      out = `criu check did not answer in ${timeout} ms`;
      cachedTimeout = timeout;
    }
  }
  if (ok) {
    cached = { installed: true, path: p, version, works: true, detail: `CRIU ${version ?? '?'}: criu check says "${out.trim().split('\n').pop()}"` };
  } else {
    const t = translateCriuLog(out, { version });
    const vdso = tooOldFor(version, os.release()) || /vDSO/.test(t.message);
    cached = {
      installed: true,
      path: p,
      version,
      works: false,
      detail: vdso ? `CRIU ${version ?? '?'} cannot run on kernel ${os.release()} (vDSO): criu check fails` : `CRIU ${version ?? '?'}: criu check fails: ${t.message}`,
      fix: vdso ? 'install CRIU ≥ 4.0 (Debian 13 has 4.1)' : t.hint,
    };
  }
  return cached;
}

function requireCriu(): string {
  // Longer than doctor's: a slow machine (the emulated test guest) may need seconds.
  const st = criuStatus({ timeoutMs: 60_000 });
  if (!st.installed) throw new SandboxError('criu is not installed', { code: 'E_NO_CRIU', hint: INSTALL_FIX });
  if (!st.works) throw new SandboxError(st.detail, { code: 'E_CRIU', hint: st.fix });
  return st.path!;
}

// --- images -------------------------------------------------------------------------------------

/** What restore needs to know about the sandbox that was dumped (images/sandbox.json). */
export interface CheckpointMeta {
  version: 1;
  name: string;
  namespaces: Namespace[];
  hostname?: string;
  rootfs: RootfsSpec;
  rootEntry: RootEntry;
  cwd: string;
  limits: Limits;
  hasCgroup: boolean;
  security: SecurityOptions;
  /** Host PID of PID 1 when it was dumped. */
  hostPid: number;
  created: string;
}

export interface CheckpointInfo {
  name: string;
  dir: string;
  logFile: string;
  /** Sum of the image files' sizes. */
  bytes: number;
  files: number;
  dumpMs: number;
  leftRunning: boolean;
  hostPid: number;
}

export const imagesDir = (name: string): string => `${RUN_DIR}/${name}/images`;

/** The checkpoint of `name` on this host, if any (its metadata and size). */
export function checkpointOf(name: string): { meta: CheckpointMeta; bytes: number; files: number; dir: string } | null {
  const dir = imagesDir(name);
  try {
    const st = fs.lstatSync(dir);
    if (!st.isDirectory()) return null;
    const meta = JSON.parse(fs.readFileSync(`${dir}/sandbox.json`, 'utf8')) as CheckpointMeta;
    if (meta.version !== 1 || meta.name === undefined) return null;
    return { meta, ...sizeOf(dir), dir };
  } catch {
    return null;
  }
}

function sizeOf(dir: string): { bytes: number; files: number } {
  let bytes = 0;
  let files = 0;
  for (const f of fs.readdirSync(dir)) {
    const st = fs.lstatSync(`${dir}/${f}`);
    if (st.isFile() && !f.endsWith('.log')) {
      bytes += st.size;
      files++;
    }
  }
  return { bytes, files };
}

/** mkdir that never follows a symlink on the last component (a planted link fails with EEXIST). */
function freshDir(p: string): void {
  try {
    fs.mkdirSync(p, { mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    const st = fs.lstatSync(p);
    if (!st.isDirectory() || st.isSymbolicLink()) throw usageError(`${p} exists and is not a directory`, 'run sudo sandbox cleanup');
    fs.rmSync(p, { recursive: true, force: true });
    fs.mkdirSync(p, { mode: 0o700 });
  }
}

/**
 * How long a criu dump may take before it is killed. A dump of our small trees takes well under a
 * second; one that hangs (seen: CRIU 4.1.1 on kernel 6.18 waiting forever for the sandbox's PID 1
 * to trap after the parasite's sigreturn) would otherwise keep the tree ptrace-stopped, and the
 * sandbox could not be destroyed. Killing criu detaches it (ptrace ends with its tracer).
 */
export const CRIU_TIMEOUT_MS = 90_000;

/** Runs criu; resolves with its exit code and the time it took (124 if it was killed at the timeout). */
function runCriu(args: string[], timeoutMs = CRIU_TIMEOUT_MS): Promise<{ code: number; ms: number; stderr: string }> {
  const p = requireCriu();
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(p, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr = (stderr + c).slice(-8192)));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      const said = timedOut ? `${stderr}\ncriu did not finish in ${Math.round(timeoutMs / 1000)} s and was killed` : stderr;
      resolve({ code: timedOut ? 124 : (code ?? 1), ms: performance.now() - t0, stderr: said });
    });
  });
}

function readLog(file: string): string {
  try {
    const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    try {
      const st = fs.fstatSync(fd);
      const len = Math.min(st.size, 4 * 1024 * 1024);
      const buf = Buffer.alloc(len);
      fs.readSync(fd, buf, 0, len, st.size - len);
      return buf.toString('utf8');
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return '';
  }
}

function criuError(what: string, logFile: string, stderr = ''): SandboxError {
  const t = translateCriuLog(`${stderr}\n${readLog(logFile)}`, { version: criuStatus().version, logFile });
  return new SandboxError(`${what}: ${t.message}`, { code: 'E_CRIU', hint: t.hint, path: logFile });
}

/** The fields of a sandbox (or a restored one) that checkpoint needs. */
export type Checkpointable = Pick<
  Sandbox,
  'name' | 'pid' | 'namespaces' | 'hostname' | 'rootfs' | 'rootEntry' | 'cwd' | 'limits' | 'hasCgroup' | 'security' | 'running' | 'isDestroyed'
> & { destroy(): Promise<DestroyReport> };

const COMMON_ARGS = ['--shell-job', '--ext-mount-map', 'auto', '--manage-cgroups=ignore', '-v4'];

/**
 * `criu dump -t <PID 1>`: the sandbox's whole tree into /run/sandbox/<name>/images. Without
 * `leaveRunning`, CRIU kills the tree once it is saved and the sandbox's cgroup and root are
 * removed; the images stay (recorded in the ledger under the same name) for restore().
 */
export async function checkpoint(sb: Checkpointable, options: { leaveRunning?: boolean } = {}): Promise<CheckpointInfo> {
  if (process.getuid?.() !== 0) throw usageError('checkpoint needs root', 'run it again with sudo');
  requireCriu();
  if (!sb.running || sb.isDestroyed) throw usageError(`sandbox ${sb.name} is not running`, 'only a running sandbox can be checkpointed');
  if (!sb.namespaces.includes('pid')) {
    throw usageError(`${sb.name} has no PID namespace: CRIU could not give its processes their PIDs back`, 'create it with --pid (the default)');
  }
  const dir = imagesDir(sb.name);
  ownDir(sb.name);
  freshDir(dir);
  // The root filesystem is the namespace's root mount, which CRIU does not save (it restores
  // onto the directory given by --root): keep its own files (not what is mounted on it).
  if (sb.namespaces.includes('mount') && sb.rootfs.kind !== 'none') {
    try {
      execFileSync('tar', ['--one-file-system', '-C', `/proc/${sb.pid}/root`, '-cf', `${dir}/root.tar`, '.'], { stdio: 'ignore', timeout: 30_000 });
    } catch (err) {
      throw wrapSystemError(err, { what: `saving ${sb.name}'s root filesystem (tar)` });
    }
  }
  const meta: CheckpointMeta = {
    version: 1,
    name: sb.name,
    namespaces: [...sb.namespaces],
    hostname: sb.hostname,
    rootfs: sb.rootfs,
    rootEntry: sb.rootEntry,
    cwd: sb.cwd,
    limits: sb.limits,
    hasCgroup: sb.hasCgroup,
    security: sb.security,
    hostPid: sb.pid,
    created: new Date().toISOString(),
  };
  fs.writeFileSync(`${dir}/sandbox.json`, JSON.stringify(meta, null, 2), { flag: 'wx', mode: 0o600 });
  const logFile = `${dir}/dump.log`;
  const args = ['dump', '-t', String(sb.pid), '-D', dir, '-o', 'dump.log', ...COMMON_ARGS];
  if (options.leaveRunning) args.push('--leave-running');
  const r = await runCriu(args);
  if (r.code !== 0) throw criuError(`checkpoint of ${sb.name} failed`, logFile, r.stderr);
  // Saved by name, not by process: keep the images out of the sandbox's teardown.
  let kept = dir;
  if (!options.leaveRunning) {
    kept = `${RUN_DIR}/.images-${sb.name}-${process.pid}`;
    fs.renameSync(dir, kept);
    await sb.destroy();
    adoptImages(sb.name, kept);
    kept = dir;
  }
  return { name: sb.name, dir: kept, logFile: `${kept}/dump.log`, ...sizeOf(kept), dumpMs: r.ms, leftRunning: !!options.leaveRunning, hostPid: sb.pid };
}

function checkpointEntry(name: string): LedgerEntry {
  return {
    version: 1,
    name,
    kind: 'workspace',
    owner: selfId(),
    created: new Date().toISOString(),
    purpose: `checkpoint of ${name}`,
    init: null,
    command: [],
    namespaces: [],
    limits: {},
    cgroups: [],
    dirs: [`${RUN_DIR}/${name}`],
    netns: [],
    veths: [],
  };
}

/** Records /run/sandbox/<name> as a process-less ledger entry and moves the images into it. */
function adoptImages(name: string, from: string): void {
  try {
    claimName(name);
    writeEntry(checkpointEntry(name), { exclusive: true });
    ownDir(name);
    fs.renameSync(from, imagesDir(name));
  } catch (err) {
    fs.rmSync(from, { recursive: true, force: true });
    throw err;
  }
}

/** Forgets a checkpoint (its images and its ledger entry), if no sandbox of that name runs. */
export function dropCheckpoint(name: string): boolean {
  const e = readEntry(name);
  if (!e || e.kind !== 'workspace' || !e.purpose.startsWith('checkpoint of') || e.owner.pid !== process.pid) return false;
  reclaim(name, e);
  removeEntry(name);
  return true;
}

// --- restore ------------------------------------------------------------------------------------

export interface RestoreInfo {
  sandbox: RestoredSandbox;
  restoreMs: number;
  /** Copying the images to the new name (migrate's "transfer"); 0 for a plain restore. */
  copyMs: number;
  bytes: number;
  logFile: string;
}

/**
 * `criu restore` of the checkpoint of `from` as sandbox `name` (default: the same): a new cgroup
 * with the same limits, the root filesystem back on a tmpfs, the same namespaces kind and the same
 * PIDs inside. CRIU stays the restored PID 1's parent (it waits for it, as a container's shim
 * does), inside the cgroup, so destroy() ends both.
 */
export async function restore(from: string, options: { name?: string } = {}): Promise<RestoreInfo> {
  if (process.getuid?.() !== 0) throw usageError('restore needs root', 'run it again with sudo');
  const criu = requireCriu();
  const name = options.name ?? from;
  checkName(name);
  const ck = checkpointOf(from);
  if (!ck) throw usageError(`no checkpoint of ${from} on this host`, `checkpoint ${from} first`, 'E_NO_CHECKPOINT');
  const { meta } = ck;
  const cg = cgroups();
  const own = readEntry(name);
  if (name === from) {
    if (!own || own.owner.pid !== process.pid || own.kind !== 'workspace') {
      throw usageError(`${name} is running (or belongs to another session): only a stopped checkpoint can be restored`, `destroy ${name} first, or migrate ${name} NEWNAME`);
    }
  } else {
    claimName(name);
  }
  const entry: LedgerEntry = {
    version: 1,
    name,
    owner: selfId(),
    created: new Date().toISOString(),
    purpose: `restored ${from}`,
    init: null,
    command: ['criu', 'restore'],
    namespaces: meta.namespaces,
    hostname: meta.hostname,
    limits: meta.limits,
    cgroups: meta.hasCgroup ? cg.dirs(name) : [],
    dirs: [`${RUN_DIR}/${name}`],
    netns: [],
    veths: [],
  };
  writeEntry(entry, { exclusive: name !== from });
  const explain: ExplainStep[] = [];
  let child: ChildProcess | null = null;
  const undo = () => {
    child?.kill('SIGKILL');
    if (name === from) {
      // A failed restore keeps the checkpoint (and CRIU's log in it): only what it made goes.
      if (cg.exists(name)) {
        cg.kill(name);
        cg.remove(name);
      }
      removeTree(`${RUN_DIR}/${name}/root`);
      writeEntry(checkpointEntry(name));
    } else {
      // The log goes next to the source's images, which stay.
      try {
        fs.copyFileSync(`${imagesDir(name)}/restore.log`, `${ck.dir}/restore-as-${name}.log`);
      } catch {
        /* no log written */
      }
      reclaim(name, { dirs: [] });
      removeEntry(name);
    }
  };
  try {
    let copyMs = 0;
    const dir = imagesDir(name);
    if (name !== from) {
      ownDir(name);
      const t0 = performance.now();
      freshDir(dir);
      for (const f of fs.readdirSync(ck.dir)) if (!f.endsWith('.log')) fs.copyFileSync(`${ck.dir}/${f}`, `${dir}/${f}`, fs.constants.COPYFILE_EXCL);
      copyMs = performance.now() - t0;
      explain.push({ what: 'copy', command: `cp ${ck.dir}/* ${dir}/`, syscall: 'copy_file_range(…)', result: `the images "moved to the other host" in ${copyMs.toFixed(0)} ms` });
    }
    if (meta.hasCgroup) {
      for (const d of cg.create(name)) explain.push({ what: 'cgroup', command: `mkdir ${d}`, syscall: `mkdir("${d}")` });
      for (const w of cg.setLimits(name, meta.limits)) explain.push({ what: 'limit', command: `echo ${w.value} > ${w.path}`, syscall: `write("${w.path}", "${w.value}")` });
    }
    const root = `${RUN_DIR}/${name}/root`;
    const args = ['restore', '-D', dir, '-o', 'restore.log', '--pidfile', `${dir}/restored.pid`, ...COMMON_ARGS];
    if (meta.namespaces.includes('mount') && meta.rootfs.kind !== 'none') {
      fs.mkdirSync(root, { mode: 0o755 });
      native().mount('tmpfs', root, 'tmpfs', MS_NOSUID | MS_NODEV, 'mode=755,size=64m');
      execFileSync('tar', ['-C', root, '-xf', `${dir}/root.tar`], { stdio: 'ignore', timeout: 30_000 });
      explain.push({ what: 'mount', command: `mount -t tmpfs tmpfs ${root}; tar -C ${root} -xf ${dir}/root.tar`, syscall: `mount("tmpfs", "${root}", "tmpfs", MS_NOSUID|MS_NODEV, "mode=755")` });
      args.push('--root', root);
    }
    // The restorer runs inside the new cgroup: the restored tasks are its children, so they start
    // there (--manage-cgroups=ignore: the cgroup and its limits are ours, made as start makes them).
    const procs = meta.hasCgroup ? cg.dirs(name).map((d) => `${d}/cgroup.procs`) : [];
    const script = 'for f in "$@"; do [ "$f" = -- ] && break; echo $$ > "$f" || exit 125; shift; done; shift; exec "$@"';
    fs.rmSync(`${dir}/restored.pid`, { force: true }); // left by an earlier, failed restore
    const t0 = performance.now();
    child = spawn('/bin/sh', ['-c', script, 'sh', ...procs, '--', criu, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    explain.push({ what: 'criu', command: `criu ${args.join(' ')}`, syscall: 'clone(CLONE_NEWPID|CLONE_NEWNS…) with each task\'s old PID (set_tid)', result: 'the tree, as it was dumped' });
    const c = child;
    let stderr = '';
    c.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-8192)));
    // Without -d, criu stays the restored PID 1's parent; it writes --pidfile once the tree runs.
    let exited = false;
    c.on('exit', () => (exited = true));
    const pidFile = `${dir}/restored.pid`;
    const ready = await new Promise<boolean>((resolve) => {
      const end = Date.now() + 120_000;
      const poll = () => {
        let text = '';
        try {
          text = fs.readFileSync(pidFile, 'utf8');
        } catch {
          /* not yet */
        }
        if (/^\d+\s*$/.test(text)) return resolve(!exited);
        if (exited || Date.now() > end) return resolve(false);
        setTimeout(poll, 20);
      };
      poll();
    });
    const restoreMs = performance.now() - t0;
    if (!ready) {
      const log = name === from ? `${dir}/restore.log` : `${ck.dir}/restore-as-${name}.log`;
      const e = criuError(`restore of ${from}${name !== from ? ` as ${name}` : ''} failed`, `${dir}/restore.log`, stderr);
      e.message = e.message.replace(`${dir}/restore.log`, log);
      e.path = log;
      if (e.hint) e.hint = e.hint.replace(`${dir}/restore.log`, log);
      throw e;
    }
    const pid = Number(fs.readFileSync(`${dir}/restored.pid`, 'utf8').trim());
    if (!Number.isInteger(pid) || pid <= 1 || pid > 4194304) throw new SandboxError(`criu wrote no valid PID to ${dir}/restored.pid`, { code: 'E_CRIU' });
    entry.init = { pid, start: processStartTime(pid) ?? 0 };
    writeEntry(entry);
    const sb = new RestoredSandbox(name, pid, c, meta, explain);
    return { sandbox: sb, restoreMs, copyMs, bytes: ck.bytes, logFile: `${dir}/restore.log` };
  } catch (err) {
    undo();
    throw err instanceof SandboxError ? err : wrapSystemError(err, { what: `restoring ${from}` });
  }
}

// --- the restored sandbox -----------------------------------------------------------------------

const restoredLive = new Set<RestoredSandbox>();
let hook = false;

/**
 * A sandbox made by `criu restore`: the same surface the REPL uses of a Sandbox (exec, usage,
 * setLimits, destroy…). Its PID 1 is CRIU's child, not ours: exec joins it through a pidfd
 * (pidfd_open), and its end is seen when CRIU, which waits for it, exits.
 */
export class RestoredSandbox {
  readonly name: string;
  readonly purpose: string;
  readonly pid: number;
  readonly namespaces: readonly Namespace[];
  readonly hostname: string | undefined;
  readonly rootfs: RootfsSpec;
  readonly rootEntry: RootEntry;
  readonly cwd: string;
  readonly hasCgroup: boolean;
  readonly security: SecurityOptions;
  readonly nsInodes: NamespaceInodes;
  readonly explain: ExplainStep[];
  readonly restored = true;
  limits: Limits;
  private pidfd: number;
  private exitStatus: ExitStatus | null = null;
  private readonly exited: Promise<ExitStatus>;
  private destroying: Promise<DestroyReport> | null = null;
  private finished = false;
  private readonly execs = new Set<SandboxProcess>();

  constructor(name: string, pid: number, private readonly criu: ChildProcess, meta: CheckpointMeta, explain: ExplainStep[]) {
    this.name = name;
    this.purpose = `restored ${meta.name}`;
    this.pid = pid;
    this.namespaces = meta.namespaces;
    this.hostname = meta.hostname;
    this.rootfs = meta.rootfs;
    this.rootEntry = meta.rootEntry;
    this.cwd = meta.cwd;
    this.hasCgroup = meta.hasCgroup;
    this.security = meta.security;
    this.limits = meta.limits;
    this.explain = explain;
    this.nsInodes = namespacesOf(pid, meta.namespaces.filter((n) => n !== 'cgroup'));
    if (meta.namespaces.includes('cgroup')) Object.assign(this.nsInodes, namespacesOf(pid, ['cgroup']));
    this.pidfd = native().pidfdOpen(pid);
    this.exited = new Promise((resolve) => {
      const done = (code: number | null, signal: NodeJS.Signals | null) => {
        this.exitStatus = { code, signal };
        if (this.pidfd >= 0) fs.closeSync(this.pidfd);
        this.pidfd = -1;
        resolve(this.exitStatus);
      };
      if (criu.exitCode !== null || criu.signalCode !== null) done(criu.exitCode, criu.signalCode as NodeJS.Signals | null);
      else criu.on('exit', (code, signal) => done(code, signal));
    });
    restoredLive.add(this);
    if (!hook) {
      hook = true;
      process.on('exit', () => {
        for (const s of [...restoredLive]) s.destroySync();
      });
    }
  }

  get running(): boolean {
    return this.exitStatus === null;
  }

  get status(): ExitStatus | null {
    return this.exitStatus;
  }

  get isDestroyed(): boolean {
    return this.destroying !== null || this.finished;
  }

  wait(): Promise<ExitStatus> {
    return this.exited;
  }

  signal(sig: NodeJS.Signals | number = 'SIGTERM'): void {
    if (!this.running || this.pidfd < 0) return;
    try {
      native().pidfdSignal(this.pidfd, typeof sig === 'number' ? sig : os.constants.signals[sig]);
    } catch {
      /* gone */
    }
  }

  /** Runs a command inside (every namespace and the cgroup), as Sandbox.exec does. */
  async exec(command: string[], options: ExecOptions = {}): Promise<SandboxProcess> {
    if (this.isDestroyed || !this.running) throw usageError(`sandbox ${this.name} is not running`, 'restore it again', 'E_NOT_RUNNING');
    if (command.length === 0) throw usageError('no command given', `e.g. exec ${this.name} ps`);
    // sandbox.js imports nothing of this file, but host.ts (imported early) does: load it lazily.
    const { SandboxProcess: Proc } = await import('./sandbox.js');
    let joinFlags = 0;
    for (const ns of this.namespaces) joinFlags |= NS_CLONE_FLAG[ns];
    const security = options.security ?? this.security;
    validateSecurity(security);
    const ns = nativeSecurity(security);
    const sec: { capMaskLo?: number; capMaskHi?: number; filter?: typeof ns.filter } = {};
    if (!(security.privileged && !security.capDrop?.length)) {
      sec.capMaskLo = Number(ns.capMask & 0xffffffffn);
      sec.capMaskHi = Number(ns.capMask >> 32n);
    }
    if (ns.filter) {
      native().seccompFilter(ns.filter);
      sec.filter = ns.filter;
    }
    const env = { PATH: DEFAULT_PATH, HOME: '/root', TERM: process.env.TERM ?? 'xterm-256color', LANG: 'C.UTF-8', container: 'sandbox', ...(this.hostname ? { HOSTNAME: this.hostname } : {}), ...options.env };
    const ops = this.rootEntry === 'chroot' ? [op.chroot(`${RUN_DIR}/${this.name}/root`)] : [];
    const mode = (v: unknown) => (typeof v === 'number' ? v : v === 'pipe' ? -2 : v === 'ignore' ? -3 : -1);
    const s = options.stdio;
    const stdio: [number, number, number] = s === undefined ? [-1, -1, -1] : typeof s === 'string' ? [mode(s), mode(s), mode(s)] : [mode(s[0]), mode(s[1]), mode(s[2])];
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
      env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
      stdio,
      cgroupProcs: this.hasCgroup ? cgroups().dirs(this.name).map((d) => `${d}/cgroup.procs`) : [],
      vfork: true,
      security: sec,
    });
    const proc = new Proc(spawned);
    const failure = native().release(spawned.goFd, spawned.errFd, spawned.pidfd, options.setupTimeoutMs ?? 15000);
    if (failure) {
      await proc.wait().catch(() => undefined);
      throw new SandboxError(`exec in ${this.name} failed: ${failure.step}: ${failure.message}${failure.path ? ` (${failure.path})` : ''}`, { code: failure.code });
    }
    this.execs.add(proc);
    void proc.wait().finally(() => this.execs.delete(proc));
    return proc;
  }

  async execOutput(command: string[], options: ExecOptions = {}): Promise<{ status: ExitStatus; stdout: string; stderr: string }> {
    const p = await this.exec(command, { ...options, stdio: options.stdio ?? ['ignore', 'pipe', 'pipe'] });
    return p.output();
  }

  usage(): CgroupUsage | null {
    return this.hasCgroup && !this.isDestroyed ? cgroups().usage(this.name) : null;
  }

  setLimits(limits: Limits): LimitWrite[] {
    if (!this.hasCgroup) throw usageError(`sandbox ${this.name} has no cgroup`, 'create it with a cgroup to set limits');
    const writes = cgroups().setLimits(this.name, limits);
    this.limits = { ...this.limits, ...limits };
    const entry = readEntry(this.name);
    if (entry) writeEntry({ ...entry, limits: this.limits });
    return writes;
  }

  pids(): number[] {
    return this.hasCgroup ? cgroups().procs(this.name) : [this.pid];
  }

  /** Kills the restored tree and CRIU (through the cgroup), removes the cgroup, root and images. */
  destroy(): Promise<DestroyReport> {
    if (this.destroying) return this.destroying;
    if (this.finished) return Promise.resolve({ name: this.name, processesKilled: 0, cgroups: [], dirs: [], method: 'already destroyed', ms: 0 });
    this.destroying = (async () => {
      const t0 = performance.now();
      const cg = cgroups();
      let killed = 0;
      if (this.hasCgroup && cg.exists(this.name)) killed += cg.kill(this.name);
      this.signal('SIGKILL');
      this.criu.kill('SIGKILL');
      for (const p of this.execs) p.signal('SIGKILL');
      await Promise.all([this.exited, ...[...this.execs].map((p) => p.wait().catch(() => undefined))]);
      const report = reclaim(this.name, { dirs: [`${RUN_DIR}/${this.name}`] });
      removeEntry(this.name);
      return { name: this.name, processesKilled: killed + report.processesKilled, cgroups: report.cgroups, dirs: report.dirs, method: this.hasCgroup ? cg.killMethod() : 'SIGKILL', ms: performance.now() - t0 };
    })().finally(() => {
      this.finished = true;
      restoredLive.delete(this);
    });
    return this.destroying;
  }

  destroySync(): void {
    if (this.finished) return;
    this.finished = true;
    restoredLive.delete(this);
    try {
      if (this.hasCgroup && cgroups().exists(this.name)) cgroups().kill(this.name);
      this.criu.kill('SIGKILL');
      reclaim(this.name, { dirs: [`${RUN_DIR}/${this.name}`], init: { pid: this.pid, start: processStartTime(this.pid) ?? -1 } });
    } catch {
      /* sandbox cleanup finishes the job */
    }
    removeEntry(this.name);
  }
}

/** migrate: checkpoint `sb`, copy its images to `newName` (the "other host"), restore there. */
export async function migrate(sb: Checkpointable, newName: string): Promise<{ checkpoint: CheckpointInfo; restore: RestoreInfo }> {
  checkName(newName);
  if (newName === sb.name) throw usageError('migrate needs a new name', `e.g. migrate ${sb.name} ${sb.name}-2`);
  const ck = await checkpoint(sb);
  // If this fails, the source's images stay: restore NAME brings it back where it was.
  const r = await restore(sb.name, { name: newName });
  dropCheckpoint(sb.name);
  return { checkpoint: ck, restore: r };
}
