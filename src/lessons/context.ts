/**
 * What a lesson's actions, views and checks work with: sandboxes it creates (all destroyed when
 * the lesson ends, however it ends), a log of what was done in the learner's terms (the command
 * they could type, the system call it makes, what came out), and a little state shared between
 * steps. Everything kernel-facing goes through the runtime.
 */
import { execFile } from 'node:child_process';
import type { Readable } from 'node:stream';

import {
  cgroups,
  type CgroupLayout,
  formatBytes,
  NS_FLAG,
  type ExecOptions,
  type ExitStatus,
  type ExplainStep,
  Sandbox,
  SandboxError,
  type SandboxOptions,
  securityFlags,
  securityNote,
  snapshot,
  Workspace,
  type WorkspaceOptions,
} from '../runtime/index.js';
import type { LogEntry } from './types.js';

/** `sandbox run …` as the learner would type it for the same sandbox. */
export function runEquivalent(options: SandboxOptions): string {
  const parts = ['sandbox run'];
  for (const ns of options.namespaces ?? []) parts.push(NS_FLAG[ns]);
  if (options.hostname) parts.push(`--hostname ${options.hostname}`);
  if (options.rootfs && options.rootfs.kind !== 'host') parts.push(`--rootfs ${options.rootfs.kind === 'dir' ? options.rootfs.path : options.rootfs.kind}`);
  const l = options.limits ?? {};
  if (l.cpuWeight !== undefined) parts.push(`--cpu-weight ${l.cpuWeight}`);
  if (l.cpuQuota !== undefined) parts.push(`--cpu-quota ${l.cpuQuota}`);
  if (l.cpus !== undefined) parts.push(`--cpus ${l.cpus}`);
  if (l.memory !== undefined) parts.push(`--memory ${formatBytes(l.memory)}`);
  if (l.memoryHigh !== undefined) parts.push(`--memory-high ${formatBytes(l.memoryHigh)}`);
  if (l.pids !== undefined) parts.push(`--pids ${l.pids}`);
  for (const io of l.io ?? []) {
    if (io.rbps !== undefined) parts.push(`--io-rbps ${io.device}=${io.rbps === 'max' ? 'max' : formatBytes(io.rbps)}`);
    if (io.wbps !== undefined) parts.push(`--io-wbps ${io.device}=${io.wbps === 'max' ? 'max' : formatBytes(io.wbps)}`);
  }
  if (l.ioWeight !== undefined) parts.push(`--io-weight ${l.ioWeight}`);
  if (options.init) parts.push('--init');
  parts.push(...securityFlags(options.security));
  if (options.command?.length) parts.push('--', ...options.command.map(shellQuote));
  else if (options.init) parts.push('  # no command: sandbox-init alone holds the namespaces');
  return parts.join(' ');
}

/**
 * A short, readable prefix for the names a lesson gives its sandboxes and workspaces (they show
 * up in every command the learner sees): pid-namespaces → pidns, chroot-and-pivot-root → chroot,
 * cgroups-memory stays. Whole words only, at most 14 characters.
 */
export function shortLessonName(id: string): string {
  const words = id.replace(/-namespaces?$/, 'ns').split('-');
  let out = words[0].slice(0, 14);
  for (const w of words.slice(1)) {
    if (out.length + 1 + w.length > 14) break;
    out += `-${w}`;
  }
  return out.replace(/-(and|from|the|of)$/, '');
}

export function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

export class LessonContext {
  readonly lessonId: string;
  /** Values steps share: pids captured, names… (never used as a check's evidence). */
  readonly state = new Map<string, unknown>();
  private readonly sandboxes = new Map<string, Sandbox>();
  private readonly workspaces = new Map<string, Workspace>();
  private readonly deferred: (() => Promise<void> | void)[] = [];
  private entries: LogEntry[] = [];
  private closed = false;

  constructor(lessonId: string) {
    this.lessonId = lessonId;
  }

  get layout(): CgroupLayout {
    return cgroups().layout;
  }

  /** Log entries since the last takeLog(). */
  takeLog(): LogEntry[] {
    const out = this.entries;
    this.entries = [];
    return out;
  }

  log(entry: LogEntry): void {
    this.entries.push(entry);
  }

  /** Creates a sandbox known to the lesson as `key` (its name: `<lesson>-<key>`). */
  async sandbox(key: string, options: SandboxOptions): Promise<Sandbox> {
    if (this.closed) throw new SandboxError('the lesson has ended', { code: 'E_CLOSED' });
    await this.destroy(key);
    const base = this.baseName(key);
    let sandbox: Sandbox | undefined;
    for (let attempt = 0; !sandbox; attempt++) {
      const name = attempt === 0 ? base : `${base}-${attempt + 1}`;
      try {
        sandbox = await Sandbox.create({ stdio: 'ignore', purpose: `lesson ${this.lessonId}`, ...options, name });
      } catch (err) {
        // Another learner's session on this host may hold the name: take the next one.
        if (err instanceof SandboxError && err.code === 'E_EXISTS' && attempt < 8) continue;
        throw err;
      }
    }
    this.sandboxes.set(key, sandbox);
    const clone = sandbox.explain.find((s) => s.what === 'clone3');
    this.log({
      command: runEquivalent(options),
      syscall: clone?.syscall,
      output: clone?.result,
    });
    // A sandbox that gets more than Docker's defaults says so on screen.
    const extra = securityNote(options.security, options.namespaces?.includes('user'));
    if (extra) this.log({ note: extra.replace(/^note: /, '') });
    return sandbox;
  }

  /** The sandbox created as `key`, if it exists and has not been destroyed. */
  get(key: string): Sandbox | undefined {
    const s = this.sandboxes.get(key);
    return s && !s.isDestroyed ? s : undefined;
  }

  /** Every live sandbox of this lesson, by key. */
  all(): [string, Sandbox][] {
    return [...this.sandboxes].filter(([, s]) => !s.isDestroyed);
  }

  /** The name a lesson's sandbox or workspace `key` starts from: `<lesson>-<key>`. */
  private baseName(key: string): string {
    return `${shortLessonName(this.lessonId)}-${key}`.slice(0, 28);
  }

  /**
   * A named place on the host for this lesson, /run/sandbox/<lesson>-<key>/ (a small tmpfs by
   * default), recorded in the ledger and removed with everything mounted in it when the lesson
   * ends, after its sandboxes. For building root filesystems and image layers, and for host-side
   * mounts that sandboxes see.
   */
  workspace(key: string, options: Omit<WorkspaceOptions, 'name' | 'purpose'> = {}): Workspace {
    if (this.closed) throw new SandboxError('the lesson has ended', { code: 'E_CLOSED' });
    this.workspaces.get(key)?.destroy();
    let ws: Workspace | undefined;
    for (let attempt = 0; !ws; attempt++) {
      const name = attempt === 0 ? `${this.baseName(key)}` : `${this.baseName(key)}-${attempt + 1}`;
      try {
        ws = Workspace.create({ purpose: `lesson ${this.lessonId}`, ...options, name });
      } catch (err) {
        if (err instanceof SandboxError && err.code === 'E_EXISTS' && attempt < 8) continue;
        throw err;
      }
    }
    this.workspaces.set(key, ws);
    this.explain(ws.explain);
    return ws;
  }

  /** Every live workspace of this lesson, by key. */
  allWorkspaces(): [string, Workspace][] {
    return [...this.workspaces].filter(([, w]) => !w.isDestroyed);
  }

  /** Removes workspace `key` (and everything mounted in it), if it exists. */
  destroyWorkspace(key: string): void {
    const w = this.workspaces.get(key);
    if (w && !w.isDestroyed) w.destroy();
    this.workspaces.delete(key);
  }

  /** The workspace created as `key`, if it exists. */
  getWorkspace(key: string): Workspace | undefined {
    const w = this.workspaces.get(key);
    return w && !w.isDestroyed ? w : undefined;
  }

  /** Logs steps the runtime reports (a workspace's mounts, a veth pair…) as command + syscall. */
  explain(steps: ExplainStep[]): void {
    for (const s of steps) this.log({ command: s.command, syscall: s.syscall, note: s.result });
  }

  /** Runs a command inside sandbox `key`, logs it as `nsenter`, returns its output. */
  async exec(
    key: string,
    command: string[],
    options: ExecOptions = {},
  ): Promise<{ status: ExitStatus; stdout: string; stderr: string }> {
    const s = this.get(key);
    if (!s) throw new SandboxError(`the lesson has no running sandbox "${key}"`, { code: 'E_NOT_RUNNING', actionable: false });
    const r = await s.execOutput(command, options);
    const chroot = s.rootEntry === 'chroot';
    this.log({
      command: `nsenter --target ${s.pid} --all${chroot ? ' --root --wd' : ''} -- ${command.map(shellQuote).join(' ')}`,
      syscall: `setns(pidfd of ${s.pid}, ${s.namespaces.map((n) => NS_FLAG[n].slice(2)).join('|')});${chroot ? ' chroot(its root);' : ''} fork(); execve("${command[0]}", …)`,
      output: (r.stdout + r.stderr).trimEnd() || undefined,
      note: options.security ? securityNote(options.security, s.namespaces.includes('user'))?.replace(/^note: /, 'this command only: ') : undefined,
    });
    return r;
  }

  /**
   * Starts a long-running command inside sandbox `key` (as `nsenter … CMD &` would) and returns its
   * host PID once it appears in /proc, or null. It ends with the sandbox.
   */
  async start(key: string, command: string[]): Promise<number | null> {
    const s = this.get(key);
    if (!s) throw new SandboxError(`the lesson has no running sandbox "${key}"`, { code: 'E_NOT_RUNNING', actionable: false });
    const supervisor = await s.exec(command, { stdio: 'ignore' });
    let pid: number | null = null;
    for (let i = 0; i < 200 && pid === null; i++) {
      pid = snapshot({ cgroup: false }).processes.find((p) => p.ppid === supervisor.pid)?.pid ?? null;
      if (pid === null) await new Promise((r) => setTimeout(r, 10));
    }
    const chroot = s.rootEntry === 'chroot';
    this.log({
      command: `nsenter --target ${s.pid} --all${chroot ? ' --root --wd' : ''} -- ${command.map(shellQuote).join(' ')} &`,
      syscall: `setns(pidfd of ${s.pid}, …);${chroot ? ' chroot(its root);' : ''} fork(); execve("${command[0]}", …)`,
      output: pid ? `host PID ${pid}` : undefined,
    });
    return pid;
  }

  /** The first line a sandbox writes to a piped stream (the rest is drained), or '' after a while. */
  readLine(stream: Readable | null, timeoutMs = 5000): Promise<string> {
    return new Promise((resolve) => {
      if (!stream) return resolve('');
      let buf = '';
      const done = (line: string) => {
        clearTimeout(timer);
        stream.off('data', onData);
        stream.resume();
        resolve(line);
      };
      const onData = (c: Buffer) => {
        buf += c.toString('utf8');
        const nl = buf.indexOf('\n');
        if (nl >= 0) done(buf.slice(0, nl));
      };
      const timer = setTimeout(() => done(buf.trim()), timeoutMs);
      stream.on('data', onData);
    });
  }

  /** Runs a command on the host (a probe the learner could type), logs it, returns its output. */
  host(command: string[]): Promise<string> {
    return new Promise((resolve) => {
      execFile(command[0], command.slice(1), { encoding: 'utf8', timeout: 10_000 }, (err, stdout, stderr) => {
        const out = `${stdout ?? ''}${stderr ?? ''}`.trimEnd();
        this.log({ command: command.map(shellQuote).join(' '), output: out || (err ? String(err.message) : undefined) });
        resolve(out);
      });
    });
  }

  /** Sends a signal to sandbox `key`'s first process and logs it. */
  signal(key: string, sig: NodeJS.Signals): void {
    const s = this.get(key);
    if (!s) return;
    s.signal(sig);
    this.log({ command: `kill -${sig.replace(/^SIG/, '')} ${s.pid}`, syscall: `pidfd_send_signal(pidfd of ${s.pid}, ${sig})` });
  }

  /** Destroys sandbox `key` (if any), logging what was removed. */
  async destroy(key: string): Promise<void> {
    const s = this.sandboxes.get(key);
    if (!s || s.isDestroyed) return;
    const r = await s.destroy();
    this.log({ note: `sandbox ${r.name} destroyed: ${r.processesKilled} process(es) killed, cgroup and directories removed` });
  }

  /** Where progress() goes: set by the screen (the line printer prints it at once). */
  onProgress: ((note: string) => void) | null = null;

  /**
   * A note while an action is still running (a wait for another session, say): the log is shown
   * only once the action has returned, so a long wait would otherwise look like a hang.
   */
  progress(note: string): void {
    this.onProgress?.(note);
  }

  /** True once close() has begun: a long action stops waiting. */
  get isClosed(): boolean {
    return this.closed;
  }

  /** Runs at close, before the sandboxes are destroyed (e.g. to remove a mount a step made). */
  defer(fn: () => Promise<void> | void): void {
    this.deferred.push(fn);
  }

  /** Ends the lesson: deferred cleanups, then every sandbox. Safe to call twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const fn of this.deferred.reverse()) {
      try {
        await fn();
      } catch {
        /* keep going: everything else must still be removed */
      }
    }
    for (const s of this.sandboxes.values()) {
      try {
        await s.destroy();
      } catch {
        s.destroySync();
      }
    }
    // Workspaces last: sandboxes may have them mounted or be running from them.
    for (const w of this.workspaces.values()) {
      try {
        w.destroy();
      } catch {
        /* `sandbox cleanup` will finish the job */
      }
    }
  }
}
