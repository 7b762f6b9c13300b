/**
 * A REPL session: the sandbox configurations the learner created and the live Sandbox objects of
 * the ones that run. It executes typed commands (from parse.ts) and reports through a small
 * output interface, so the full-screen REPL and script mode print exactly the same text.
 *
 * Lifecycle (vzctl's): create records a configuration only; start makes the kernel objects with
 * sandbox-init as a "pause" PID 1; exec/enter run things inside; stop destroys the kernel objects
 * and keeps the configuration; destroy forgets it. Leaving the REPL destroys everything
 * (shutdown()); the runtime's exit hook is the last resort if the process dies first.
 */
import fs from 'node:fs';

import { formatDestroy, formatExplain } from '../commands/format.js';
import type { TreeView } from '../lessons/types.js';
import { sampleTree } from '../lessons/views.js';
import {
  CAPABILITIES,
  checkpoint,
  checkpointOf,
  cgroups,
  dropCheckpoint,
  migrate,
  restore,
  type RestoredSandbox,
  decodeCaps,
  descendants,
  describeRootfs,
  describeSecurity,
  type DestroyReport,
  type ExitStatus,
  formatBytes,
  formatError,
  isAlive,
  type Limits,
  namespacesOf,
  NS_FILE,
  readEntry,
  RUN_DIR,
  Sandbox,
  SandboxError,
  type SandboxProcess,
  checkBoundingSet,
  securityFlags,
  securityNote,
  snapshot,
  wrapSystemError,
} from '../runtime/index.js';
import { tableLines, treeLines } from '../tui/text.js';
import { commandHelpLines, type CommandName, helpLines } from './commands.js';
import { formatLimits, type LineError, lineError, type ReplCommand, type SandboxConfig, visible } from './parse.js';
import { quoteWord } from './tokenize.js';

export type SandboxState = 'created' | 'running' | 'stopped';

/** Where a command's results go. */
export interface ReplOutput {
  /** Result text (one or more lines). */
  print(text: string): void;
  /** A failed line: "error: …", then "hint: …" and "usage: …" lines. */
  problem(lines: string[]): void;
}

/**
 * Gives the real terminal to an interactive program and takes it back. `run` receives a fresh
 * descriptor of the terminal (blocking, not shared with Node's own stdin) to use as the program's
 * stdin, stdout and stderr.
 */
export interface TerminalHandover {
  handover<T>(intro: string, run: (ttyFd: number) => Promise<T>): Promise<T>;
}

export interface RunContext extends ReplOutput {
  /** Present when a terminal can be handed to `enter`. */
  terminal?: TerminalHandover;
  /** Subscribes to interrupts (Ctrl-C) while a command runs; returns the unsubscribe. */
  onInterrupt?: (handler: (count: number) => void) => () => void;
}

export interface RunResult {
  ok: boolean;
  /** The line was `exit`. */
  exit?: boolean;
}

export interface SessionOptions {
  /** Shown by `sandbox top` and recorded in the ledger. */
  purpose?: string;
  /** A foreground exec's output beyond this is cut off and the command killed. */
  maxOutputBytes?: number;
}

/** One sandbox in the side pane. */
export interface SandboxSample {
  name: string;
  state: SandboxState;
  pid: number | null;
  /** Percent of one CPU since the previous sample. */
  cpuPercent: number | null;
  memoryBytes: number | null;
  memoryLimit: number | null;
  pidsCurrent: number | null;
  pidsMax: number | null;
  limits: string;
}

export interface SessionSample {
  taken: number;
  sandboxes: SandboxSample[];
  /** The running sandboxes' processes (the lesson screens' tree data), or null if none runs. */
  tree: TreeView | null;
}

/** A sandbox made by start, or by restore (CRIU's). */
type LiveSandbox = Sandbox | RestoredSandbox;

interface Entry {
  config: SandboxConfig;
  sandbox: LiveSandbox | null;
  /** It has run at least once (stopped, rather than only created). */
  ran: boolean;
  /** A destroy that is under way (PID 1 exited on its own): commands wait for it. */
  settling: Promise<void> | null;
  cpu?: { usec: number; at: number };
}

/** The configured limits with the newly set ones on top. */
function mergeLimits(a: Limits, b: Limits): Limits {
  return { ...a, ...Object.fromEntries(Object.entries(b).filter(([, v]) => v !== undefined)) };
}

function describeStatus(st: ExitStatus): string {
  return st.signal ? `killed by ${st.signal}` : `exit code ${st.code}`;
}

/** The cgroup files worth showing, per controller: the limits first, then the usage. */
const CGROUP_FILES = [
  'cpu.weight',
  'cpu.max',
  'cpu.shares',
  'cpu.cfs_period_us',
  'cpu.cfs_quota_us',
  'cpu.max.burst',
  'cpu.cfs_burst_us',
  'blkio.throttle.read_bps_device',
  'blkio.throttle.write_bps_device',
  'blkio.bfq.weight',
  'io.max',
  'io.bfq.weight',
  'cpu.stat',
  'cpuacct.usage',
  'cpuset.cpus',
  'cpuset.mems',
  'cpuset.cpus.effective',
  'memory.max',
  'memory.high',
  'memory.limit_in_bytes',
  'memory.memsw.limit_in_bytes',
  'memory.current',
  'memory.usage_in_bytes',
  'memory.peak',
  'memory.max_usage_in_bytes',
  'memory.failcnt',
  'memory.events',
  'pids.max',
  'pids.current',
  'pids.events',
  'freezer.state',
  'cgroup.procs',
];

function readCgroupFile(file: string): string | null {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
  const lines = text.split('\n').filter(Boolean);
  if (lines.length <= 1) {
    const v = (lines[0] ?? '').trim();
    // memory.limit_in_bytes reads as a page-rounded LONG_MAX when there is no limit.
    return /^\d{17,}$/.test(v) ? `${v} (no limit)` : v || '(empty)';
  }
  if (file.endsWith('cgroup.procs')) return lines.join(' ');
  return lines.slice(0, 6).join(', ') + (lines.length > 6 ? ', …' : '');
}

/** The command line of a process; sandbox-init is named by its role instead of its plumbing flags. */
function cmdline(pid: number, comm: string): string {
  let argv: string[];
  try {
    argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0+$/, '').split('\0');
  } catch {
    return `[${comm}]`;
  }
  if (argv[0]?.endsWith('sandbox-init')) {
    const payload = argv.slice(argv.indexOf('--') + 1);
    if (comm === 'sandbox-pause' || payload.length === 0) return 'sandbox-pause (sandbox-init holding the namespaces)';
    return `sandbox-init (exec helper for: ${visible(payload.map(quoteWord).join(' '))})`;
  }
  const text = argv.map((a, i) => (i === 0 ? a : quoteWord(a))).join(' ');
  return visible(text || `[${comm}]`);
}

export class ReplSession {
  private readonly entries = new Map<string, Entry>();
  /** Names whose checkpoint images this REPL made and has not dropped (removed on leaving). */
  private readonly checkpoints = new Set<string>();
  private readonly noticeListeners = new Set<(text: string) => void>();
  private readonly changeListeners = new Set<() => void>();
  private readonly purpose: string;
  private readonly maxOutput: number;
  private closed = false;

  constructor(options: SessionOptions = {}) {
    this.purpose = options.purpose ?? 'repl';
    this.maxOutput = options.maxOutputBytes ?? 1024 * 1024;
  }

  /** Messages nobody asked for: a sandbox whose PID 1 exited on its own. */
  onNotice(fn: (text: string) => void): () => void {
    this.noticeListeners.add(fn);
    return () => this.noticeListeners.delete(fn);
  }

  /** Called whenever a sandbox is created, started, stopped or forgotten. */
  onChange(fn: () => void): () => void {
    this.changeListeners.add(fn);
    return () => this.changeListeners.delete(fn);
  }

  private notice(text: string): void {
    for (const fn of this.noticeListeners) fn(text);
  }

  private changed(): void {
    for (const fn of this.changeListeners) fn();
  }

  names(): { all: string[]; running: string[] } {
    const all = [...this.entries.keys()];
    return { all, running: all.filter((n) => this.stateOf(this.entries.get(n)!) === 'running') };
  }

  /** How many sandboxes run right now. */
  get runningCount(): number {
    return this.names().running.length;
  }

  private stateOf(e: Entry): SandboxState {
    if (e.sandbox && e.sandbox.running && !e.sandbox.isDestroyed) return 'running';
    return e.ran ? 'stopped' : 'created';
  }

  /** Destroys the sandbox of an entry whose PID 1 has exited (or is being stopped). */
  private async retire(e: Entry): Promise<DestroyReport | null> {
    const sb = e.sandbox;
    if (!sb) return null;
    e.sandbox = null;
    e.ran = true;
    e.cpu = undefined;
    const report = await sb.destroy();
    this.changed();
    return report;
  }

  /** Waits for a destroy under way, and retires a sandbox whose PID 1 has died. */
  private async settle(e: Entry): Promise<void> {
    while (e.settling) await e.settling;
    if (e.sandbox && (!e.sandbox.running || e.sandbox.isDestroyed)) await this.retire(e);
  }

  /** When PID 1 exits on its own (`exec NAME kill 1`), the sandbox is removed and the learner told. */
  private watch(e: Entry, sb: LiveSandbox): void {
    sb.wait().then(
      (st) => {
        if (e.sandbox !== sb) return; // stopped or destroyed on purpose
        const settling = this.retire(e).then(
          () => this.notice(`${e.config.name} stopped: its PID 1 exited (${describeStatus(st)}); start ${e.config.name} runs it again`),
          (err) => this.notice(formatError(err)),
        );
        e.settling = settling;
        void settling.then(() => {
          if (e.settling === settling) e.settling = null;
        });
      },
      () => undefined,
    );
  }

  private unknown(command: CommandName, name: string): LineError {
    const known = [...this.entries.keys()];
    return lineError(
      command,
      `${command}: no sandbox named "${name}" in this REPL`,
      known.length ? `known: ${known.join(', ')} (list shows them)` : `create one first: create ${name}`,
    );
  }

  private fail(out: ReplOutput, e: LineError): RunResult {
    const lines = [`error: ${visible(e.message)}`];
    if (e.hint) lines.push(`hint: ${visible(e.hint)}`);
    lines.push(`usage: ${e.usage}`);
    out.problem(lines);
    return { ok: false };
  }

  private failRuntime(out: ReplOutput, err: unknown, what: string): RunResult {
    const e = err instanceof SandboxError ? err : wrapSystemError(err, { what });
    out.problem(formatError(e).split('\n').map((l) => visible(l)));
    return { ok: false };
  }

  /** Runs one parsed command. Never throws: every failure is printed and reported as ok: false. */
  async run(cmd: ReplCommand, ctx: RunContext): Promise<RunResult> {
    if (this.closed) return this.fail(ctx, lineError(undefined, 'the REPL is shutting down'));
    try {
      return await this.dispatch(cmd, ctx);
    } catch (err) {
      return this.failRuntime(ctx, err, `${cmd.kind}`);
    }
  }

  private async dispatch(cmd: ReplCommand, ctx: RunContext): Promise<RunResult> {
    switch (cmd.kind) {
      case 'help':
        ctx.print((cmd.topic ? commandHelpLines(cmd.topic) : helpLines()).join('\n'));
        return { ok: true };
      case 'exit':
        return { ok: true, exit: true };
      case 'list':
        ctx.print(this.listLines().join('\n'));
        return { ok: true };
      case 'tree':
        return this.tree(ctx);
      case 'create':
        return this.create(cmd.config, ctx);
      case 'restore':
        return this.restore(cmd.name, ctx);
    }
    const e = this.entries.get(cmd.name);
    if (!e) return this.fail(ctx, this.unknown(cmd.kind, cmd.name));
    await this.settle(e);
    switch (cmd.kind) {
      case 'start':
        return this.start(e, ctx);
      case 'exec':
        return this.exec(e, cmd.argv, cmd.detach, ctx);
      case 'enter':
        return this.enter(e, ctx);
      case 'ps':
        return this.ps(e, ctx);
      case 'set':
        return this.set(e, cmd.limits, ctx);
      case 'inspect':
        return this.inspect(e, ctx);
      case 'stop':
        return this.stop(e, ctx);
      case 'destroy':
        return this.destroy(e, ctx);
      case 'checkpoint':
        return this.checkpoint(e, cmd.leaveRunning, ctx);
      case 'migrate':
        return this.migrate(e, cmd.newName, ctx);
    }
  }

  // --- create / start / stop / destroy ----------------------------------------------------------

  private create(config: SandboxConfig, ctx: RunContext): RunResult {
    const { name } = config;
    const existing = this.entries.get(name);
    if (existing) {
      return this.fail(ctx, lineError('create', `create: a sandbox named "${name}" already exists here (${this.stateOf(existing)})`, `choose another name, or destroy ${name} first`));
    }
    const owner = readEntry(name);
    if (owner && owner.owner.pid !== process.pid && isAlive(owner.owner)) {
      return this.fail(
        ctx,
        lineError('create', `create: "${name}" is taken on this host by a live sandbox (created by pid ${owner.owner.pid}: ${owner.owner.command})`, 'choose another name'),
      );
    }
    try {
      // Fails now, not at start, when a limit needs a controller this host lacks, or a
      // capability the machine's bounding set does not have.
      cgroups().planLimits(name, config.limits);
      checkBoundingSet(config.security ?? {}, config.namespaces.includes('user'));
    } catch (err) {
      if (err instanceof SandboxError) return this.fail(ctx, lineError('create', `create: ${err.message}`, err.hint));
      throw err;
    }
    this.entries.set(name, { config, sandbox: null, ran: false, settling: null });
    this.changed();
    ctx.print(`created ${name} (nothing runs yet; start ${name} makes it): ${this.describeConfig(config)}`);
    const note = securityNote(config.security, config.namespaces.includes('user'));
    if (note) ctx.print(note);
    return { ok: true };
  }

  private describeConfig(c: SandboxConfig): string {
    const parts = [`namespaces ${c.namespaces.join(' ')}`];
    if (c.namespaces.includes('uts')) parts.push(`hostname ${c.hostname ?? c.name}`);
    parts.push(`root ${this.rootfsWord(c)}`);
    parts.push(`limits ${formatLimits(c.limits, formatBytes) || 'none'}`);
    const flags = securityFlags(c.security);
    if (flags.length) parts.push(flags.join(' '));
    return parts.join('; ');
  }

  private rootfsWord(c: SandboxConfig): string {
    const r = c.rootfs ?? (c.namespaces.includes('mount') ? { kind: 'host' as const } : { kind: 'none' as const });
    return r.kind === 'dir' ? r.path : r.kind;
  }

  private createOptions(c: SandboxConfig) {
    return {
      name: c.name,
      purpose: this.purpose,
      namespaces: c.namespaces,
      hostname: c.hostname,
      rootfs: c.rootfs,
      limits: c.limits,
      security: c.security,
    };
  }

  private nsText(sb: LiveSandbox): string {
    return sb.namespaces.map((n) => `${NS_FILE[n]}:[${sb.nsInodes[n] ?? '?'}]`).join(' ') || 'none';
  }

  private async start(e: Entry, ctx: RunContext): Promise<RunResult> {
    const { name } = e.config;
    if (this.stateOf(e) === 'running') {
      return this.fail(ctx, lineError('start', `start: ${name} is already running (host PID ${e.sandbox!.pid})`, `stop ${name} first to start it afresh`));
    }
    let sb: Sandbox;
    const dropped = this.checkpoints.has(name) && dropCheckpoint(name);
    if (dropped) {
      this.checkpoints.delete(name);
      ctx.print(`(the checkpoint of ${name} is discarded: start makes ${name} afresh)`);
    }
    try {
      // stdio on pipes, not the host's /dev/null: CRIU cannot dump a file opened from a mount
      // outside the sandbox's mount namespace (checkpoint NAME).
      sb = await Sandbox.create({ ...this.createOptions(e.config), init: true, stdio: 'pipe' });
    } catch (err) {
      return this.failRuntime(ctx, err, `starting ${name}`);
    }
    if (this.closed) {
      await sb.destroy();
      return this.fail(ctx, lineError(undefined, 'the REPL is shutting down'));
    }
    e.sandbox = sb;
    e.ran = true;
    this.watch(e, sb);
    this.changed();
    const inside = sb.namespaces.includes('pid') ? ' = PID 1 inside' : '';
    ctx.print(
      [
        `started ${name}: host PID ${sb.pid}${inside} (sandbox-init "pause": holds the namespaces open, reaps orphans)`,
        `  namespaces: ${this.nsText(sb)}`,
        `  cgroup:     ${cgroups().describe(name)}`,
      ].join('\n'),
    );
    return { ok: true };
  }

  private async stop(e: Entry, ctx: RunContext): Promise<RunResult> {
    const { name } = e.config;
    if (this.stateOf(e) !== 'running') {
      return this.fail(ctx, lineError('stop', `stop: ${name} is not running (${this.stateOf(e)})`, `start ${name} first`));
    }
    const report = await this.retire(e);
    ctx.print(`stopped ${name} (its configuration is kept: start ${name} runs it again)\n  ${report ? formatDestroy(report) : ''}`);
    return { ok: true };
  }

  private async destroy(e: Entry, ctx: RunContext): Promise<RunResult> {
    const { name } = e.config;
    const report = this.stateOf(e) === 'running' ? await this.retire(e) : null;
    this.entries.delete(name);
    this.changed();
    const kept = this.checkpoints.has(name) && checkpointOf(name) ? `\n  its checkpoint stays in ${RUN_DIR}/${name}/images: restore ${name} brings it back` : '';
    ctx.print(`destroyed ${name}: configuration forgotten${report ? `\n  ${formatDestroy(report)}` : ' (it was not running)'}${kept}`);
    return { ok: true };
  }

  // --- checkpoint / restore / migrate (CRIU) ------------------------------------------------------

  private async checkpoint(e: Entry, leaveRunning: boolean, ctx: RunContext): Promise<RunResult> {
    const { name } = e.config;
    if (this.stateOf(e) !== 'running') return this.notRunning('checkpoint', e, ctx);
    const sb = e.sandbox!;
    // Detached from the entry first: CRIU kills the tree when the dump is done, and the watcher
    // must not take that exit for a crash and remove the sandbox (and the images) itself.
    if (!leaveRunning) e.sandbox = null;
    let info;
    try {
      info = await checkpoint(sb, { leaveRunning });
    } catch (err) {
      if (!leaveRunning) {
        if (sb.running && !sb.isDestroyed) e.sandbox = sb;
        else await sb.destroy();
        this.changed();
      }
      return this.failRuntime(ctx, err, `checkpoint of ${name}`);
    }
    this.checkpoints.add(name);
    this.changed();
    ctx.print(
      [
        `checkpointed ${name}: ${info.files} image files, ${formatBytes(info.bytes)} in ${info.dir} (criu dump -t ${info.hostPid}: ${info.dumpMs.toFixed(0)} ms)`,
        leaveRunning ? `  ${name} keeps running (--leave-running)` : `  ${name} is stopped: its processes, cgroup and root are gone; restore ${name} brings it back`,
        `  CRIU's log: ${info.logFile}`,
      ].join('\n'),
    );
    return { ok: true };
  }

  private async restore(name: string, ctx: RunContext): Promise<RunResult> {
    let e = this.entries.get(name);
    if (e) await this.settle(e);
    if (e && this.stateOf(e) === 'running') {
      return this.fail(ctx, lineError('restore', `restore: ${name} is running (host PID ${e.sandbox!.pid})`, `checkpoint ${name} first (it stops ${name})`));
    }
    const ck = checkpointOf(name);
    if (!ck) {
      return this.fail(ctx, lineError('restore', `restore: ${name} has no checkpoint`, e ? `start ${name} and checkpoint ${name} first` : `checkpoint a running sandbox first`));
    }
    let r;
    try {
      r = await restore(name);
    } catch (err) {
      return this.failRuntime(ctx, err, `restoring ${name}`);
    }
    this.checkpoints.delete(name); // the images now belong to the restored sandbox
    if (!e) {
      const m = ck.meta;
      e = { config: { name, namespaces: [...m.namespaces], rootfs: m.rootfs, hostname: m.hostname, limits: m.limits, security: m.security }, sandbox: null, ran: true, settling: null };
      this.entries.set(name, e);
    }
    return this.adopt(e, r, ctx, `restored ${name}`);
  }

  private adopt(e: Entry, r: Awaited<ReturnType<typeof restore>>, ctx: RunContext, what: string): RunResult {
    const sb = r.sandbox;
    if (this.closed) {
      void sb.destroy();
      return this.fail(ctx, lineError(undefined, 'the REPL is shutting down'));
    }
    e.sandbox = sb;
    e.ran = true;
    this.watch(e, sb);
    this.changed();
    ctx.print(
      [
        `${what}: host PID ${sb.pid}${sb.namespaces.includes('pid') ? ' = PID 1 inside (the PIDs inside are the old ones; the host PIDs are new)' : ''}`,
        `  images: ${formatBytes(r.bytes)}; criu restore: ${r.restoreMs.toFixed(0)} ms${r.copyMs ? `; copy: ${r.copyMs.toFixed(0)} ms` : ''}`,
        `  namespaces: ${this.nsText(sb)}`,
        `  cgroup:     ${cgroups().describe(sb.name)}`,
        `  CRIU's log: ${r.logFile}`,
      ].join('\n'),
    );
    return { ok: true };
  }

  private async migrate(e: Entry, newName: string, ctx: RunContext): Promise<RunResult> {
    const { name } = e.config;
    if (this.stateOf(e) !== 'running') return this.notRunning('migrate', e, ctx);
    if (this.entries.has(newName)) {
      return this.fail(ctx, lineError('migrate', `migrate: a sandbox named "${newName}" already exists here`, 'choose another NEWNAME'));
    }
    const owner = readEntry(newName);
    if (owner && isAlive(owner.owner)) {
      return this.fail(ctx, lineError('migrate', `migrate: "${newName}" is taken on this host (by pid ${owner.owner.pid})`, 'choose another NEWNAME'));
    }
    const sb = e.sandbox!;
    e.sandbox = null;
    let r;
    try {
      r = await migrate(sb, newName);
    } catch (err) {
      if (sb.running && !sb.isDestroyed) e.sandbox = sb;
      else if (checkpointOf(name)) this.checkpoints.add(name);
      this.changed();
      return this.failRuntime(ctx, err, `migrating ${name}`);
    }
    this.entries.delete(name);
    const ne: Entry = { config: { ...e.config, name: newName, hostname: e.config.hostname }, sandbox: null, ran: true, settling: null };
    this.entries.set(newName, ne);
    const total = r.checkpoint.dumpMs + r.restore.copyMs + r.restore.restoreMs;
    ctx.print(`migrated ${name} -> ${newName}: dump ${r.checkpoint.dumpMs.toFixed(0)} ms + copy ${r.restore.copyMs.toFixed(0)} ms + restore ${r.restore.restoreMs.toFixed(0)} ms = ${total.toFixed(0)} ms stopped; ${name} is gone`);
    return this.adopt(ne, r.restore, ctx, `restored ${name} as ${newName}`);
  }

  /** Destroys every running sandbox and forgets every configuration. Idempotent. */
  async shutdown(): Promise<DestroyReport[]> {
    this.closed = true;
    const reports: DestroyReport[] = [];
    for (const e of this.entries.values()) {
      try {
        while (e.settling) await e.settling;
        const r = await this.retire(e);
        if (r) reports.push(r);
      } catch (err) {
        this.notice(formatError(err));
      }
    }
    this.entries.clear();
    for (const name of this.checkpoints) {
      try {
        dropCheckpoint(name);
      } catch (err) {
        this.notice(formatError(err));
      }
    }
    this.checkpoints.clear();
    this.changed();
    return reports;
  }

  // --- exec / enter -------------------------------------------------------------------------------

  private notRunning(command: CommandName, e: Entry, ctx: RunContext): RunResult {
    const { name } = e.config;
    return this.fail(ctx, lineError(command, `${command}: ${name} is not running (${this.stateOf(e)})`, `start ${name} first`));
  }

  private async exec(e: Entry, argv: string[], detach: boolean, ctx: RunContext): Promise<RunResult> {
    const { name } = e.config;
    if (this.stateOf(e) !== 'running') return this.notRunning('exec', e, ctx);
    const sb = e.sandbox!;
    const shown = argv.map(quoteWord).join(' ');
    if (detach) {
      let p: SandboxProcess;
      try {
        p = await sb.exec(argv, { stdio: 'ignore' });
      } catch (err) {
        return this.failRuntime(ctx, err, `exec in ${name}`);
      }
      ctx.print(`started in the background in ${name}: ${visible(shown)} (exec helper: host PID ${p.pid}; ps ${name} shows it, stop ${name} ends it)`);
      return { ok: true };
    }
    let p: SandboxProcess;
    try {
      p = await sb.exec(argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      return this.failRuntime(ctx, err, `exec in ${name}`);
    }
    let bytes = 0;
    let cut = false;
    const partial = ['', ''];
    const flush = (i: number, final: boolean) => {
      const text = partial[i];
      const nl = final ? text.length : text.lastIndexOf('\n') + 1;
      if (nl <= 0) return;
      const chunk = text.slice(0, nl).replace(/\n$/, '');
      partial[i] = text.slice(nl);
      ctx.print(chunk);
    };
    const streams = [p.stdout, p.stderr];
    const closed = streams.map(
      (s, i) =>
        new Promise<void>((resolve) => {
          if (!s) return resolve();
          s.setEncoding('utf8');
          s.on('data', (c: string) => {
            if (cut) return;
            bytes += Buffer.byteLength(c);
            if (bytes > this.maxOutput) {
              cut = true;
              p.signal('SIGKILL');
              return;
            }
            partial[i] += c;
            flush(i, false);
          });
          s.on('error', () => resolve());
          s.on('close', () => resolve());
        }),
    );
    // Ctrl-C at a terminal goes to the whole foreground job, not just its first process (a shell
    // running `sleep` waits for it before reacting). Do the same: signal every process the
    // command started (found in a /proc snapshot), then, the second time, kill them.
    const unsubscribe = ctx.onInterrupt?.((count) => {
      const sig = count === 1 ? 'SIGINT' : 'SIGKILL';
      for (const q of descendants(snapshot({ namespaces: [], cgroup: false }), p.pid)) {
        if (q.pid === p.pid) continue;
        try {
          process.kill(q.pid, sig);
        } catch {
          /* already gone */
        }
      }
      if (count > 1) p.signal('SIGKILL');
    });
    let status: ExitStatus;
    try {
      status = await p.wait();
      // A background child may hold the pipes open after the command exited.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([Promise.all(closed), new Promise<void>((r) => (timer = setTimeout(r, 250)))]);
      clearTimeout(timer);
    } finally {
      unsubscribe?.();
      for (const s of streams) s?.destroy();
    }
    flush(0, true);
    flush(1, true);
    if (cut) ctx.print(`(output cut off after ${formatBytes(this.maxOutput)}: the command was killed)`);
    ctx.print(`(${describeStatus(status)})`);
    return { ok: true };
  }

  private async enter(e: Entry, ctx: RunContext): Promise<RunResult> {
    const { name } = e.config;
    if (!ctx.terminal) {
      return this.fail(ctx, lineError('enter', 'enter: needs a terminal, and this REPL reads a script (stdin is not a terminal)', `use exec ${name} CMD to run commands inside`));
    }
    const env = { PS1: `${e.config.namespaces.includes('uts') ? (e.config.hostname ?? name) : name}:$PWD# ` };
    if (this.stateOf(e) === 'running') {
      const sb = e.sandbox!;
      const intro =
        `entering ${name} (running): /bin/sh joins its namespaces and cgroup` +
        `${sb.namespaces.includes('pid') ? ' and gets the next free PID' : ''}; exit or Ctrl-D comes back to the REPL`;
      let status: ExitStatus;
      try {
        status = await ctx.terminal.handover(intro, async (fd) => {
          const p = await sb.exec(['sh', '-i'], { stdio: [fd, fd, fd], foreground: true, env });
          return p.wait();
        });
      } catch (err) {
        return this.failRuntime(ctx, err, `entering ${name}`);
      }
      ctx.print(`left ${name}: the shell ended (${describeStatus(status)}); ${name} is still ${this.stateOf(e)}`);
      return { ok: true };
    }
    const pid1 = e.config.namespaces.includes('pid');
    const intro =
      `entering ${name} (not running): /bin/sh becomes its ${pid1 ? 'PID 1' : 'first process'}, and ${name} stops when the shell exits; ` +
      'exit or Ctrl-D comes back to the REPL';
    let status: ExitStatus;
    try {
      status = await ctx.terminal.handover(intro, async (fd) => {
        const sb = await Sandbox.create({ ...this.createOptions(e.config), command: ['sh', '-i'], stdio: [fd, fd, fd], foreground: true, env });
        if (this.closed) {
          // Leaving began while the shell's sandbox was being made: shutdown() did not see it.
          await sb.destroy();
          return { code: null, signal: 'SIGKILL' as NodeJS.Signals };
        }
        e.sandbox = sb;
        e.ran = true;
        this.changed();
        try {
          return await sb.wait();
        } finally {
          await this.retire(e);
        }
      });
    } catch (err) {
      return this.failRuntime(ctx, err, `entering ${name}`);
    }
    ctx.print(
      `left ${name}: its ${pid1 ? 'PID 1' : 'first process'} (the shell) ended (${describeStatus(status)})` +
        `${pid1 ? ', and with it the PID namespace' : ''}; ${name} is stopped (start ${name}, or enter ${name} again)`,
    );
    return { ok: true };
  }

  // --- looking inside -----------------------------------------------------------------------------

  private ps(e: Entry, ctx: RunContext): RunResult {
    const { name } = e.config;
    if (this.stateOf(e) !== 'running') return this.notRunning('ps', e, ctx);
    const sb = e.sandbox!;
    const snap = snapshot({ namespaces: ['pid'] });
    const init = snap.byPid.get(sb.pid);
    // The sandbox's level in the NSpid chain: PID 1's chain is [host, …, 1].
    const level = sb.namespaces.includes('pid') && init ? init.nspid.length - 1 : 0;
    const procs = snap.processes.filter((p) => p.sandbox === name).sort((a, b) => a.pid - b.pid);
    const rows = procs.map((p) => {
      const inside = p.nspid.length > level ? p.nspid[level] : null;
      const parent = snap.byPid.get(p.ppid);
      const ppid = parent && parent.sandbox === name && parent.nspid.length > level ? String(parent.nspid[level]) : '0';
      const cmd = cmdline(p.pid, p.comm);
      return [inside === null ? '-' : String(inside), String(p.pid), inside === null ? '-' : ppid, p.state, cmd.length > 60 ? `${cmd.slice(0, 59)}…` : cmd];
    });
    const lines = tableLines({ kind: 'table', columns: ['PID', 'HOST PID', 'PPID', 'STAT', 'COMMAND'], rows }, 100);
    if (rows.some((r) => r[0] === '-')) {
      lines.push('PID "-": outside the PID namespace (the sandbox-init that exec starts after setns; its child is inside)');
    }
    lines.push(`${procs.length} process${procs.length === 1 ? '' : 'es'} in ${name}'s cgroup (from /proc: NSpid in /proc/PID/status)`);
    ctx.print(lines.join('\n'));
    return { ok: true };
  }

  private tree(ctx: RunContext): RunResult {
    const running = this.names().running;
    if (running.length === 0) {
      ctx.print('no sandbox is running (start one first)');
      return { ok: true };
    }
    ctx.print(treeLines(sampleTree(null, {}, running), 100).join('\n'));
    return { ok: true };
  }

  private listLines(): string[] {
    if (this.entries.size === 0) return ['no sandboxes yet (create NAME makes one)'];
    const rows = [...this.entries.values()].map((e) => {
      const state = this.stateOf(e);
      return [
        e.config.name,
        state,
        state === 'running' ? String(e.sandbox!.pid) : '-',
        e.config.namespaces.join(','),
        this.rootfsWord(e.config),
        formatLimits(e.config.limits, formatBytes) || '-',
      ];
    });
    return tableLines({ kind: 'table', columns: ['NAME', 'STATE', 'HOST PID', 'NAMESPACES', 'ROOT', 'LIMITS'], rows }, 160);
  }

  private set(e: Entry, limits: Limits, ctx: RunContext): RunResult {
    const { name } = e.config;
    if (this.stateOf(e) === 'running') {
      const writes = e.sandbox!.setLimits(limits);
      e.config = { ...e.config, limits: mergeLimits(e.config.limits, limits) };
      this.changed();
      const lines = [`${name}: wrote ${writes.length} kernel file${writes.length === 1 ? '' : 's'}:`];
      for (const w of writes) lines.push(`  echo ${w.value} > ${w.path}${w.note ? `\n      (${w.note})` : ''}`);
      ctx.print(lines.join('\n'));
      return { ok: true };
    }
    let planned;
    try {
      planned = cgroups().planLimits(name, limits);
    } catch (err) {
      if (err instanceof SandboxError) return this.fail(ctx, lineError('set', `set: ${err.message}`, err.hint));
      throw err;
    }
    e.config = { ...e.config, limits: mergeLimits(e.config.limits, limits) };
    this.changed();
    const lines = [`${name} is not running: kept for start, which will write:`];
    for (const w of planned) lines.push(`  echo ${w.value} > ${w.path}${w.note ? `\n      (${w.note})` : ''}`);
    ctx.print(lines.join('\n'));
    return { ok: true };
  }

  private inspect(e: Entry, ctx: RunContext): RunResult {
    const c = e.config;
    const state = this.stateOf(e);
    const sb = state === 'running' ? e.sandbox! : null;
    const cg = cgroups();
    const lines: string[] = [];
    lines.push(`${c.name}: ${state}${sb ? `, host PID ${sb.pid}${sb.namespaces.includes('pid') ? ' (PID 1 inside)' : ''}` : ''}`);
    const rootfs = c.rootfs ?? (c.namespaces.includes('mount') ? { kind: 'host' as const } : { kind: 'none' as const });
    const usesRoot = c.namespaces.includes('mount') && rootfs.kind !== 'none';
    lines.push(`root:      ${describeRootfs(rootfs)}${usesRoot ? ` (mounted on ${RUN_DIR}/${c.name}/root inside its mount namespace)` : ''}`);
    lines.push(`hostname:  ${c.namespaces.includes('uts') ? (c.hostname ?? c.name) : "(no UTS namespace: the host's)"}`);
    lines.push(`limits:    ${formatLimits(c.limits, formatBytes) || 'none'}`);
    const ck = checkpointOf(c.name);
    if (ck) lines.push(`checkpoint: ${ck.dir}: ${ck.files} image files, ${formatBytes(ck.bytes)}, dumped ${ck.meta.created} from host PID ${ck.meta.hostPid}`);
    const sec = describeSecurity(c.security);
    lines.push(`security:  ${securityFlags(c.security).join(' ') || "the default (Docker's capabilities, the default seccomp filter)"}`);
    if (!sb) {
      lines.push(`  capabilities start will keep: ${sec.capMaskHex} = ${sec.caps.join(' ') || 'none'}`);
      lines.push(`  seccomp: ${sec.seccomp}`);
      lines.push(`namespaces (made by start): ${c.namespaces.join(' ')}`);
      lines.push('cgroup directories (made by start):');
      for (const d of cg.dirs(c.name)) lines.push(`  ${d}`);
      const planned = cg.planLimits(c.name, c.limits);
      if (planned.length) {
        lines.push('limit files start will write:');
        for (const w of planned) lines.push(`  echo ${w.value} > ${w.path}`);
      }
      lines.push(`start ${c.name} makes it; then inspect ${c.name} shows the inodes, the files' values and every step.`);
      ctx.print(lines.join('\n'));
      return { ok: true };
    }
    const host = namespacesOf('self', sb.namespaces);
    lines.push(`namespaces (readlink /proc/${sb.pid}/ns/*; the host's in brackets):`);
    for (const n of sb.namespaces) {
      lines.push(`  ${NS_FILE[n].padEnd(7)}${NS_FILE[n]}:[${sb.nsInodes[n] ?? '?'}]   (host ${NS_FILE[n]}:[${host[n] ?? '?'}])`);
    }
    lines.push(...securityLines(sb.pid));
    const written = new Map(cg.planLimits(c.name, c.limits).map((w) => [w.path, w]));
    lines.push(`cgroup: ${cg.describe(c.name)}`);
    for (const dir of cg.dirs(c.name)) {
      lines.push(`  ${dir}/`);
      for (const f of CGROUP_FILES) {
        const v = readCgroupFile(`${dir}/${f}`);
        if (v === null) continue;
        const w = written.get(`${dir}/${f}`);
        lines.push(`    ${f.padEnd(28)}${v}${w ? `   <- ${w.limit === 'cpuWeight' ? 'cpu-weight' : w.limit === 'cpuQuota' ? 'cpu-quota' : w.limit === 'cpuBurst' ? 'cpu-burst' : w.limit === 'memoryHigh' ? 'memory-high' : w.limit}` : ''}`);
      }
    }
    const u = sb.usage();
    if (u) {
      lines.push(
        `usage: cpu ${u.cpuUsec === null ? '?' : `${(u.cpuUsec / 1e6).toFixed(3)} s`}, memory ${u.memoryBytes === null ? '?' : formatBytes(u.memoryBytes)}` +
          `${u.memoryLimit ? ` of ${formatBytes(u.memoryLimit)}` : ''}, pids ${u.pidsCurrent ?? '?'}${u.pidsMax ? ` of ${u.pidsMax}` : ''}` +
          `${u.pidsRefused ? `, ${u.pidsRefused} forks refused` : ''}${u.oomKills ? `, ${u.oomKills} OOM kills` : ''}`,
      );
    }
    lines.push(`how ${c.name} was made (what sandbox run --explain prints):`);
    lines.push(formatExplain(sb.explain));
    ctx.print(lines.join('\n'));
    return { ok: true };
  }

  // --- the side pane ------------------------------------------------------------------------------

  /** Plain data for the live side pane: each sandbox's state and usage, and the process tree. */
  sample(withTree = true): SessionSample {
    const now = Date.now();
    const sandboxes: SandboxSample[] = [];
    for (const e of this.entries.values()) {
      const state = this.stateOf(e);
      const u = state === 'running' ? e.sandbox!.usage() : null;
      let cpuPercent: number | null = null;
      if (u?.cpuUsec !== null && u?.cpuUsec !== undefined) {
        if (e.cpu && now > e.cpu.at) cpuPercent = Math.max(0, ((u.cpuUsec - e.cpu.usec) / 1000 / (now - e.cpu.at)) * 100);
        e.cpu = { usec: u.cpuUsec, at: now };
      }
      sandboxes.push({
        name: e.config.name,
        state,
        pid: state === 'running' ? e.sandbox!.pid : null,
        cpuPercent,
        memoryBytes: u?.memoryBytes ?? null,
        memoryLimit: u?.memoryLimit ?? null,
        pidsCurrent: u?.pidsCurrent ?? null,
        pidsMax: u?.pidsMax ?? null,
        limits: formatLimits(e.config.limits, formatBytes),
      });
    }
    const running = sandboxes.filter((s) => s.state === 'running').map((s) => s.name);
    return { taken: now, sandboxes, tree: withTree && running.length ? sampleTree(null, {}, running) : null };
  }
}

/**
 * What the kernel applied to a process, from /proc/PID/status: its capability sets decoded (as
 * `capsh --decode` does) and its seccomp mode (0 none, 1 strict, 2 filter).
 */
function securityLines(pid: number): string[] {
  let status: string;
  try {
    status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return [`security (grep -E 'Cap|Seccomp|NoNewPrivs' /proc/${pid}/status): the process is gone`];
  }
  const field = (k: string) => new RegExp(`^${k}:\\s*(\\S+)`, 'm').exec(status)?.[1];
  const lines = [`security (grep -E 'Cap|Seccomp|NoNewPrivs' /proc/${pid}/status):`];
  for (const k of ['CapEff', 'CapBnd']) {
    const v = field(k);
    if (v === undefined) continue;
    const caps = decodeCaps(v);
    const missing = CAPABILITIES.filter((c) => !caps.includes(c));
    const text = caps.length === 0 ? 'none' : missing.length === 0 ? `all ${caps.length}` : missing.length <= 4 ? `all but ${missing.join(' ')}` : caps.join(' ');
    lines.push(`  ${`${k}:`.padEnd(10)}${v} = ${text}`);
  }
  const mode = field('Seccomp');
  const modeText = mode === '2' ? 'filter' : mode === '1' ? 'strict' : mode === '0' ? 'none' : '?';
  lines.push(`  Seccomp:  ${mode ?? '?'} (${modeText}), Seccomp_filters: ${field('Seccomp_filters') ?? '?'}, NoNewPrivs: ${field('NoNewPrivs') ?? '?'}`);
  return lines;
}
