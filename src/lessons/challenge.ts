/**
 * One run of a challenge step: its setup, the "bench" where the learner works, the live poll of
 * its checks, hints and fail-states, typed answers, the reference solution, and the end that
 * leaves nothing behind.
 *
 * The bench is a sandbox of the lesson with only a mount namespace (the host's root, `/` a slave
 * of the host's, so the learner sees the host's mounts and theirs stay in the bench), a cgroup
 * (everything the challenge shell starts is killed with it, and a pids limit bounds a runaway
 * loop), every capability and no seccomp filter: the learner is root on this machine and the
 * tools are the real ones. Network names the learner is given (`$VETH_A`, `$VETH_B`, `$NETNS`)
 * are recorded in the bench's ledger entry before they exist, so its destruction (or `sandbox
 * cleanup` after a crash) removes them. What the learner made elsewhere and we cannot remove
 * safely is named by end().
 */
import fs from 'node:fs';
import path from 'node:path';

import {
  cgroups,
  readEntries,
  recordNetNames,
  type Sandbox,
  SandboxError,
  vethNames,
  type Workspace,
} from '../runtime/index.js';
import { removeLink, removeNetns, NETNS_DIR } from '../runtime/ledger.js';
import type { LessonContext } from './context.js';
import { shellQuote } from './context.js';
import type { Challenge, ChallengeFailState, ChallengeHint, ChallengeVar, CheckResult, LogEntry, Question } from './types.js';

const CHECK_TIMEOUT_MS = 5_000;
const RUN_TIMEOUT_MS = 60_000;
/** ctx.state key of the running challenge's variables (name → value), for its checks and hints. */
export const CHALLENGE_VARS = 'challenge-vars';
/** The bench's own pids limit: a fork loop typed by mistake stops here, not at the host's limit. */
const BENCH_PIDS = 1024;

/** What one poll found: the checks now, the hint whose condition holds, a fail-state that holds. */
export interface ChallengePoll {
  results: CheckResult[];
  passed: boolean;
  /** The first conditional hint that holds now (null when none does, or when every check passes). */
  hint: ChallengeHint | null;
  fail: ChallengeFailState | null;
  at: number;
}

export interface RunOutput {
  code: number | null;
  output: string;
  timedOut: boolean;
}

/** The argv, environment and place of the learner's interactive shell. */
export interface ShellSpec {
  sandbox: Sandbox;
  argv: string[];
  env: Record<string, string>;
  cwd?: string;
  /** Said before the shell starts (on the normal screen). */
  intro: string;
}

function withTimeout<T>(p: Promise<T>, ms: number, fallback: () => T): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((resolve) => {
      timer = setTimeout(() => resolve(fallback()), ms);
    }),
  ]);
}

/** Interface names in the host's network namespace (/proc/self/net/dev). */
function hostLinks(): Set<string> {
  try {
    return new Set(
      fs
        .readFileSync('/proc/self/net/dev', 'utf8')
        .split('\n')
        .slice(2)
        .map((l) => l.split(':')[0].trim())
        .filter(Boolean),
    );
  } catch {
    return new Set();
  }
}

function netnsEntries(): Set<string> {
  try {
    return new Set(fs.readdirSync(NETNS_DIR));
  } catch {
    return new Set();
  }
}

/** Mount points in the host's mount namespace (ours, under /run/sandbox, left out). */
function hostMounts(): Set<string> {
  try {
    return new Set(
      fs
        .readFileSync('/proc/self/mountinfo', 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => l.split(' ')[4])
        .filter((m) => !m.startsWith('/run/sandbox/') && !m.startsWith(`${NETNS_DIR}/`)),
    );
  } catch {
    return new Set();
  }
}

/** Typed text against the answer read from the kernel. */
export function answerMatches(typed: string, value: string, compare: Question['compare'] = 'text'): boolean {
  const t = typed.trim();
  if (compare === 'number') {
    const n = (s: string) => Number(s.replace(/\s+/g, '').replace(/[a-z%]+$/i, ''));
    const a = n(t);
    const b = n(value);
    return t !== '' && Number.isFinite(a) && Number.isFinite(b) && a === b;
  }
  return t !== '' && t.replace(/\s+/g, ' ') === value.trim().replace(/\s+/g, ' ');
}

export class ChallengeRun {
  readonly ctx: LessonContext;
  readonly challenge: Challenge;
  readonly stepId: string;
  /** The bench: the learner's shell runs in it (host root, own mount namespace and cgroup). */
  bench: Sandbox | null = null;
  workspace: Workspace | null = null;
  vars: ChallengeVar[] = [];
  /** Keys of the sandboxes and workspaces the setup made (destroyed at the end). */
  private keys: string[] = [];
  private wsKeys: string[] = [];
  private before = { links: new Set<string>(), netns: new Set<string>(), mounts: new Set<string>() };
  private ended = false;
  private polling: Promise<ChallengePoll> | null = null;

  constructor(ctx: LessonContext, challenge: Challenge, stepId: string) {
    this.ctx = ctx;
    this.challenge = challenge;
    this.stepId = stepId;
  }

  /** The sandbox key the bench is known by in the lesson: `<lesson>-bench`. */
  static readonly BENCH_KEY = 'bench';

  /** Runs the setup, then makes the workspace and the bench, and writes the env file. */
  async start(): Promise<void> {
    this.before = { links: hostLinks(), netns: netnsEntries(), mounts: hostMounts() };
    const had = new Set(this.ctx.all().map(([, s]) => s));
    const hadWs = new Set(this.ctx.allWorkspaces().map(([, w]) => w));
    try {
      await this.challenge.setup(this.ctx);
    } finally {
      this.keys = this.ctx.all().filter(([, s]) => !had.has(s)).map(([k]) => k);
      this.wsKeys = this.ctx.allWorkspaces().filter(([, w]) => !hadWs.has(w)).map(([k]) => k);
    }
    this.workspace = this.ctx.workspace('ws', { tmpfs: '64m' });
    const bench = await this.ctx.sandbox(ChallengeRun.BENCH_KEY, {
      namespaces: ['mount'],
      rootfs: { kind: 'none' },
      propagation: 'slave',
      init: true,
      limits: { pids: BENCH_PIDS },
      security: { privileged: true },
    });
    this.bench = bench;
    const [va, vb] = vethNames('c');
    const netns = `sandbox-${bench.name}`;
    recordNetNames(bench, { veths: [va, vb], netns: [netns] });
    const ws = this.workspace.path;
    this.vars = [
      ...this.challenge.vars(this.ctx),
      { name: 'WS', value: ws, about: 'a scratch directory of this challenge (removed at the end)' },
      { name: 'VETH_A', value: va, about: 'a veth name to use (removed at the end)' },
      { name: 'VETH_B', value: vb, about: 'its peer name' },
      { name: 'NETNS', value: netns, about: 'a network namespace name to use with ip netns (removed at the end)' },
    ];
    // Checks read the names they are about ($VETH_A…) here: they get only the context.
    this.ctx.state.set(CHALLENGE_VARS, this.env());
    // Another terminal that sources the env file joins the bench's cgroup: the checks see what it
    // starts (they read the bench's processes), and the challenge's end removes it all.
    const procs = cgroups().dirs(bench.name).map((d) => `${d}/cgroup.procs`);
    fs.writeFileSync(
      this.envFile,
      [
        `# ${this.label}: its variables. Sourcing this file also moves this shell into the challenge's`,
        '# cgroup, so that the checks see what it starts; the shell ends when the challenge does.',
        ...this.vars.map((v) => `export ${v.name}=${shellQuote(v.value)}`),
        `for f in ${procs.map(shellQuote).join(' ')}; do echo $$ > "$f"; done 2>/dev/null`,
        `[ -n "$SANDBOX_CHALLENGE" ] || echo ${shellQuote(`this shell now belongs to ${this.label}: it ends when the challenge ends`)}`,
        '',
      ].join('\n'),
      { mode: 0o644, flag: 'wx' },
    );
    fs.writeFileSync(
      path.join(ws, '.bashrc'),
      [
        '[ -r /etc/bash.bashrc ] && . /etc/bash.bashrc',
        // The learner's own settings, unless asked not to (tests: a shell killed while ~/.bashrc
        // runs can leave that file's tools in a bad state, e.g. pyenv's rehash lock).
        '[ -z "$SANDBOX_CHALLENGE_NORC" ] && [ -r ~/.bashrc ] && . ~/.bashrc',
        `. ${shellQuote(this.envFile)}`,
        `PS1=${shellQuote(`[${this.label}] \\w# `)}`,
        '',
      ].join('\n'),
      { mode: 0o644, flag: 'wx' },
    );
    this.ctx.log({ note: `your variables: ${this.vars.map((v) => `$${v.name}`).join(' ')} (in another terminal: sudo -s, then . ${this.envFile})` });
    this.ctx.defer(async () => {
      await this.end();
    });
  }

  /**
   * The variables worth showing: the challenge's own and $WS, plus $VETH_A/$VETH_B/$NETNS only
   * when the challenge mentions them (all are set in the shell either way).
   */
  get shownVars(): ChallengeVar[] {
    const c = this.challenge;
    const text = [c.goal, ...c.solution, ...c.hints.map((h) => h.text), ...c.hints.flatMap((h) => h.reach ?? [])].join('\n');
    return this.vars.filter((v) => !['VETH_A', 'VETH_B', 'NETNS'].includes(v.name) || text.includes(`$${v.name}`) || text.includes(`\${${v.name}}`));
  }

  /** A short name for prompts: "challenge pid-two-procs". */
  get label(): string {
    return `challenge ${this.stepId}`;
  }

  /** `. $WS/env` sets the challenge's variables in any root shell on this host. */
  get envFile(): string {
    if (!this.workspace) throw new SandboxError('the challenge has not started', { code: 'E_BUG', actionable: false });
    return path.join(this.workspace.path, 'env');
  }

  env(): Record<string, string> {
    return Object.fromEntries(this.vars.map((v) => [v.name, v.value]));
  }

  /** Checks, then the hint and fail-state that hold now. Concurrent calls share one poll. */
  poll(): Promise<ChallengePoll> {
    if (!this.polling) {
      this.polling = this.pollNow().finally(() => {
        this.polling = null;
      });
    }
    return this.polling;
  }

  private async pollNow(): Promise<ChallengePoll> {
    const results: CheckResult[] = [];
    for (const c of this.challenge.checks) {
      try {
        const r = await withTimeout(Promise.resolve(c.run(this.ctx)), CHECK_TIMEOUT_MS, () => ({
          probe: '(the check took too long)',
          expected: '',
          actual: `no answer within ${CHECK_TIMEOUT_MS / 1000} s`,
          pass: false,
        }));
        results.push({ label: c.label, ...r });
      } catch (err) {
        results.push({ label: c.label, probe: '(the check could not run)', expected: '', actual: `error: ${(err as Error).message}`, pass: false });
      }
    }
    this.ctx.takeLog();
    const passed = results.every((r) => r.pass);
    const fail = await this.firstHolding(this.challenge.failStates ?? []);
    const hint = passed ? null : await this.firstHolding(this.challenge.hints.filter((h) => h.when));
    return { results, passed, hint, fail, at: Date.now() };
  }

  private async firstHolding<T extends { when?: { holds: (ctx: LessonContext) => boolean | Promise<boolean> } }>(items: T[]): Promise<T | null> {
    for (const item of items) {
      if (!item.when) continue;
      try {
        if (await withTimeout(Promise.resolve(item.when.holds(this.ctx)), CHECK_TIMEOUT_MS, () => false)) return item;
      } catch {
        /* a condition that cannot be read does not hold */
      }
    }
    return null;
  }

  /** The general hint (no condition), if any. */
  get generalHint(): ChallengeHint | null {
    return this.challenge.hints.find((h) => !h.when) ?? null;
  }

  /** Whether `condition` holds now (for the course check). */
  async holds(when: { holds: (ctx: LessonContext) => boolean | Promise<boolean> }): Promise<boolean> {
    return (await this.firstHolding([{ when }])) !== null;
  }

  /** Where lines run: the bench (host) or the sandbox the challenge names. */
  private place(): { sandbox: Sandbox; inside: string | null } {
    const where = this.challenge.shell ?? { in: 'host' };
    if (where.in === 'sandbox') {
      const s = this.ctx.get(where.key);
      if (!s) throw new SandboxError(`the challenge's sandbox "${where.key}" is not running`, { code: 'E_NOT_RUNNING', hint: 'reset the challenge (R)' });
      return { sandbox: s, inside: where.key };
    }
    if (!this.bench || this.bench.isDestroyed) throw new SandboxError('the challenge has ended', { code: 'E_CLOSED' });
    return { sandbox: this.bench, inside: null };
  }

  /**
   * Runs shell lines (the solution, a partial attempt) where the learner's shell would, with the
   * variables set; stops at the first failing line. Logged as the lines themselves.
   */
  async run(lines: string[], timeoutMs = RUN_TIMEOUT_MS): Promise<RunOutput> {
    const { sandbox, inside } = this.place();
    const script = ['set -e', ...lines].join('\n');
    const p = await sandbox.exec(['sh', '-c', script], {
      env: this.env(),
      cwd: inside ? undefined : this.workspace!.path,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let timedOut = false;
    const out = await withTimeout(p.output(), timeoutMs, () => {
      timedOut = true;
      p.signal('SIGKILL');
      return { status: { code: null, signal: 'SIGKILL' as NodeJS.Signals }, stdout: '', stderr: '' };
    });
    const output = `${out.stdout}${out.stderr}`.trimEnd();
    for (const line of lines) this.ctx.log({ command: inside ? `(in ${inside}) ${line}` : line });
    if (output) this.ctx.log({ output });
    if (timedOut) this.ctx.log({ note: `stopped after ${timeoutMs / 1000} s` });
    return { code: out.status.code, output, timedOut };
  }

  /** Checks a typed answer against the live system. */
  async answer(q: Question, typed: string): Promise<{ right: boolean; value: string; probe: string }> {
    const { probe, value } = await q.answer(this.ctx);
    return { right: answerMatches(typed, value, q.compare), value, probe };
  }

  /** The learner's shell: bash with the variables and a prompt naming the challenge (sh without bash). */
  shell(): ShellSpec {
    const { sandbox, inside } = this.place();
    const env: Record<string, string> = { ...this.env(), PS1: `[${this.label}${inside ? ` in ${inside}` : ''}] \\w# `, SANDBOX_CHALLENGE: this.stepId };
    if (process.env.SANDBOX_CHALLENGE_NORC) env.SANDBOX_CHALLENGE_NORC = '1';
    const bash = !inside && fs.existsSync('/bin/bash');
    return {
      sandbox,
      argv: bash ? ['bash', '--rcfile', path.join(this.workspace!.path, '.bashrc'), '-i'] : ['sh', '-i'],
      env,
      cwd: inside ? undefined : this.workspace!.path,
      intro: inside
        ? `a shell inside sandbox ${inside} for ${this.label}; exit (or Ctrl-D) returns to the lesson`
        : `a root shell on this host for ${this.label}, with $${this.vars.map((v) => v.name).join(' $')} set; exit (or Ctrl-D) returns to the lesson`,
    };
  }

  /** Ends the challenge and starts it again from its setup. */
  async reset(): Promise<string[]> {
    const left = await this.end();
    this.ended = false;
    await this.start();
    return left;
  }

  /**
   * Destroys the bench (every process the challenge shell started, its mounts, the recorded
   * names) and the setup's sandboxes and workspace. Returns what is left on the host that the
   * learner made during the challenge and we did not remove: to name on screen.
   */
  async end(): Promise<string[]> {
    if (this.ended) return [];
    this.ended = true;
    this.ctx.state.delete(CHALLENGE_VARS);
    await this.ctx.destroy(ChallengeRun.BENCH_KEY).catch(() => undefined);
    for (const k of this.keys) await this.ctx.destroy(k).catch(() => undefined);
    for (const k of ['ws', ...this.wsKeys]) {
      try {
        this.ctx.destroyWorkspace(k);
      } catch {
        /* `sandbox cleanup` finishes the job */
      }
    }
    this.bench = null;
    // Names of ours (sbx-…, sandbox-…) that no live sandbox owns are swept, as `sandbox cleanup` would.
    const owned = new Set(readEntries().flatMap((e) => [...e.veths, ...e.netns]));
    const left: string[] = [];
    for (const l of hostLinks()) {
      // A name a live sandbox owns is another run's (a lesson or REPL running meanwhile): not ours to name.
      if (this.before.links.has(l) || owned.has(l)) continue;
      if (l.startsWith('sbx-') && removeLink(l)) continue;
      left.push(`network interface ${l} (ip link delete ${l})`);
    }
    for (const n of netnsEntries()) {
      if (this.before.netns.has(n) || owned.has(n)) continue;
      if (n.startsWith('sandbox-') && removeNetns(n)) continue;
      left.push(`network namespace ${n} (ip netns delete ${n})`);
    }
    for (const m of hostMounts()) if (!this.before.mounts.has(m)) left.push(`mount on ${m} (umount ${m})`);
    return left;
  }

  /** Log lines of what ran since the last call. */
  takeLog(): LogEntry[] {
    return this.ctx.takeLog();
  }
}
