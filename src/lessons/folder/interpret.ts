/**
 * Gives lesson.md its meaning: turns the parsed file (parse.ts) into the `Lesson` the engine runs
 * (src/lessons/types.ts), checking everything it can before anything runs: every problem is a
 * LessonFileError at the line that causes it. Nothing here runs a lesson line; the functions it
 * builds do, when the engine calls them (shell.ts bounds them).
 */
import fs from 'node:fs';
import os from 'node:os';

import { type ParseContext, parseLine, type SandboxConfig, visible } from '../../repl/parse.js';
import { onlineCpus } from '../../runtime/cgroup/limits.js';
import { cgroups, type Limits, parseCapabilityList, SandboxError, type SecurityOptions } from '../../runtime/index.js';
import { cgroupDirOf } from '../challenge-probes.js';
import { CHALLENGE_VARS } from '../challenge.js';
import { noSandbox, verdict, type Verdict } from '../checks.js';
import type { LessonContext } from '../context.js';
import { shellQuote } from '../context.js';
import { lintLesson } from '../engine.js';
import { lintPrediction } from '../prediction.js';
import type {
  Challenge,
  ChallengeFailState,
  ChallengeHint,
  ChallengeVar,
  Check,
  Condition,
  Lesson,
  Prediction,
  Question,
  Requirement,
  Step,
  View,
  ViewData,
} from '../types.js';
import { treeView } from '../views.js';
import { type Block, didYouMean, type KvEntry, LIMITS, type LessonSource, show, type SourceLine } from './parse.js';
import { runHost, runHostSync, runIn, shellProblems, type ShellResult } from './shell.js';
import { LessonFileError, type RunListing } from './types.js';

const ACTION_TIMEOUT_MS = 30_000;
const PROBE_TIMEOUT_MS = 5_000;
const VIEW_TIMEOUT_MS = 2_000;
/** Probes identical within this long share one run (a challenge poll runs checks and hints together). */
const POLL_SHARE_MS = 300;
const KEY_RE = /^[a-z][a-z0-9-]{0,11}$/;
const ID_RE = /^[a-z0-9][a-z0-9-]{0,39}$/;
const VAR_RE = /^[A-Z][A-Z0-9_]{0,31}$/;
const ALWAYS_VARS = ['WS', 'VETH_A', 'VETH_B', 'NETNS', 'HOST_NAME'];
const HOST_NAME_STATE = 'folder:host-name';

// ----- reading kv blocks -----------------------------------------------------------------------

type Arity = 'one' | 'repeat';

class Kv {
  private readonly map = new Map<string, KvEntry[]>();
  constructor(
    private readonly file: string,
    readonly block: { kind: string; line: number; entries: KvEntry[] },
    allowed: Record<string, Arity>,
  ) {
    for (const e of block.entries) {
      if (!(e.key in allowed)) {
        const where = block.kind === 'front matter' ? 'the front matter' : `a ${block.kind} block`;
        throw new LessonFileError(file, e.line, `unknown key ${show(e.key)} in ${where}${didYouMean(e.key, Object.keys(allowed))}`, `${where} knows: ${Object.keys(allowed).join(', ')}`);
      }
      const list = this.map.get(e.key) ?? [];
      if (list.length && allowed[e.key] === 'one') throw new LessonFileError(file, e.line, `${show(e.key)} is given twice in ${block.kind === 'front matter' ? 'the front matter' : `this ${block.kind} block`} (first at line ${list[0].line})`);
      if (e.value === '') throw new LessonFileError(file, e.line, `${show(e.key)} has no value`);
      list.push(e);
      this.map.set(e.key, list);
    }
  }
  has(key: string): boolean {
    return this.map.has(key);
  }
  get(key: string): KvEntry | undefined {
    return this.map.get(key)?.[0];
  }
  all(key: string): KvEntry[] {
    return this.map.get(key) ?? [];
  }
  need(key: string, why = ''): KvEntry {
    const e = this.get(key);
    if (!e) throw new LessonFileError(this.file, this.block.line, `this ${this.block.kind} block has no ${show(key)}${why ? `: ${why}` : ''}`);
    return e;
  }
}

/** A bounded number: integers or decimals, |n| ≤ 1e12. */
function num(file: string, e: { value: string; line: number; key?: string }, min: number, max: number, what = e.key ?? 'number'): number {
  if (!/^-?\d{1,13}(\.\d{1,6})?$/.test(e.value)) throw new LessonFileError(file, e.line, `${what}: ${show(e.value)} is not a number`);
  const n = Number(e.value);
  if (n < min || n > max) throw new LessonFileError(file, e.line, `${what}: ${e.value} is out of range (${min} to ${max})`);
  return n;
}

// ----- conditions (checks, hint and fail-state conditions) ---------------------------------------

interface Cond {
  probe: string;
  line: number;
  in: string | null;
  kind: 'equals' | 'matches' | 'number' | 'differs';
  value: string;
  re?: RegExp;
  min?: number;
  max?: number;
  anyStatus: boolean;
  /** Sandbox keys the probe names through a variable: no such sandbox, no run. */
  deps: string[];
  /** A check that may take a while to turn true (an OOM kill): re-run until it passes, this long. */
  waitMs: number;
}

const COND_KEYS: Record<string, Arity> = { in: 'one', equals: 'one', matches: 'one', number: 'one', differs: 'one', status: 'one' };
const CHECK_KEYS: Record<string, Arity> = { label: 'one', probe: 'one', 'probe-v1': 'one', 'probe-v2': 'one', wait: 'one', ...COND_KEYS };
/** A challenge's checks are polled every second: no `wait`. */
const CHALLENGE_CHECK_KEYS: Record<string, Arity> = Object.fromEntries(Object.entries(CHECK_KEYS).filter(([k]) => k !== 'wait'));
const WHEN_KEYS: Record<string, Arity> = { when: 'one', 'when-v1': 'one', 'when-v2': 'one', ...COND_KEYS };

// ----- the run-time side -----------------------------------------------------------------------

/** The host's name when the lesson started (for cleanup lines: `$HOST_NAME`). */
function hostNameOf(ctx: LessonContext): string {
  let n = ctx.state.get(HOST_NAME_STATE) as string | undefined;
  if (n === undefined) {
    n = os.hostname();
    ctx.state.set(HOST_NAME_STATE, n);
  }
  return n;
}

function varName(key: string): string {
  return key.toUpperCase().replace(/-/g, '_');
}

/** The lesson's own scratch directory on the host (`$WS` in guided steps), made when first used. */
const LESSON_WS = 'lesson';
function lessonWs(ctx: LessonContext): string {
  return (ctx.getWorkspace(LESSON_WS) ?? ctx.workspace(LESSON_WS, { tmpfs: '16m' })).path;
}

/**
 * Guided steps: for each running sandbox, `$KEY` = host PID of its PID 1 and `$KEY_CG_<CONTROLLER>`
 * = its cgroup directory for each controller of this host (one directory on v2, the controller's
 * hierarchy on v1), and `$WS` when the lesson uses it. Challenges: the learner's variables.
 */
function envOf(ctx: LessonContext, challenge: boolean, withWs = false): Record<string, string> {
  const env: Record<string, string> = { HOST_NAME: hostNameOf(ctx) };
  if (challenge) {
    Object.assign(env, (ctx.state.get(CHALLENGE_VARS) as Record<string, string> | undefined) ?? {});
  } else {
    const controllers = cgroups().controllers;
    for (const [key, s] of ctx.all()) {
      if (key === 'bench') continue;
      const v = varName(key);
      env[v] = String(s.pid);
      for (const c of controllers) {
        const dir = cgroupDirOf(ctx, key, c);
        if (dir && /^[a-z_]+$/.test(c)) env[`${v}_CG_${c.toUpperCase()}`] = dir;
      }
    }
    if (withWs && !ctx.isClosed) env.WS = lessonWs(ctx);
  }
  return env;
}

const shared = new WeakMap<LessonContext, Map<string, { at: number; result: Promise<ShellResult> }>>();

function probeRun(ctx: LessonContext, where: string | null, probe: string, env: Record<string, string>, share: boolean): Promise<ShellResult> {
  const go = (): Promise<ShellResult> => {
    if (where === null) return runHost(probe, env, PROBE_TIMEOUT_MS);
    const s = ctx.get(where);
    if (!s) return Promise.resolve({ code: null, stdout: '', stderr: `no sandbox ${where}`, timedOut: false });
    return runIn(s, probe, env, PROBE_TIMEOUT_MS);
  };
  if (!share) return go();
  let cache = shared.get(ctx);
  if (!cache) shared.set(ctx, (cache = new Map()));
  const k = `${where ?? ''}\0${probe}\0${JSON.stringify(env)}`;
  const hit = cache.get(k);
  if (hit && Date.now() - hit.at < POLL_SHARE_MS) return hit.result;
  for (const [key, v] of cache) if (Date.now() - v.at >= POLL_SHARE_MS) cache.delete(key);
  const result = go();
  cache.set(k, { at: Date.now(), result });
  return result;
}

function shown(text: string, max = 300): string {
  const t = visible(text.trim().replace(/\n/g, ' ⏎ ').replace(/\t/g, ' '));
  return t.length > max ? `${t.slice(0, max)}…` : t || '(nothing)';
}

async function evaluate(ctx: LessonContext, c: Cond, challenge: boolean, share: boolean, withWs = false): Promise<Verdict> {
  const end = Date.now() + c.waitMs;
  for (;;) {
    const v = await evaluateOnce(ctx, c, challenge, share, withWs);
    if (v.pass || Date.now() >= end || ctx.isClosed) return v;
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function evaluateOnce(ctx: LessonContext, c: Cond, challenge: boolean, share: boolean, withWs: boolean): Promise<Verdict> {
  const probeText = c.in ? `in ${c.in}: ${c.probe}` : c.probe;
  for (const key of [...c.deps, ...(c.in ? [c.in] : [])]) if (!ctx.get(key)) return noSandbox(key, probeText);
  const env = envOf(ctx, challenge, withWs);
  const r = await probeRun(ctx, c.in, c.probe, env, share);
  const out = r.stdout.trim();
  const expected =
    c.kind === 'equals'
      ? c.value
      : c.kind === 'matches'
        ? `output matching /${c.value}/`
        : c.kind === 'number'
          ? `a number in ${c.min ?? ''}..${c.max ?? ''}`
          : "an output that differs from the host's";
  if (r.code !== 0 && !(c.anyStatus && r.code !== null && !r.timedOut)) {
    const why = r.timedOut ? 'timed out' : r.code === null ? 'could not run' : `exit ${r.code}`;
    return verdict(probeText, expected, `${why}${r.stderr.trim() ? `: ${shown(r.stderr, 160)}` : out ? `: ${shown(out, 160)}` : ''}`, false);
  }
  switch (c.kind) {
    case 'equals':
      return verdict(probeText, expected, shown(out), out === c.value);
    case 'matches':
      // At most 4 KiB of output is matched: a pattern that backtracks badly stays quick.
      return verdict(probeText, expected, shown(out), c.re!.test(out.slice(0, 4096)));
    case 'number': {
      const n = /^-?\d+(\.\d+)?$/.test(out) && out.length <= 20 ? Number(out) : NaN;
      const ok = Number.isFinite(n) && (c.min === undefined || n >= c.min) && (c.max === undefined || n <= c.max);
      return verdict(probeText, expected, Number.isFinite(n) ? String(n) : `${shown(out, 80)} (not a number)`, ok);
    }
    case 'differs': {
      const h = await probeRun(ctx, null, c.probe, env, share);
      const host = h.stdout.trim();
      return verdict(probeText, `${expected} (${shown(host, 80)})`, shown(out), out !== '' && host !== '' && out !== host);
    }
  }
}

// ----- operations of an action or a challenge's setup ------------------------------------------

type Op =
  | { kind: 'start'; key: string; config: SandboxConfig; line: number; text: string }
  | { kind: 'note'; text: string }
  | { kind: 'set'; key: string; limits: Limits; line: number; text: string }
  | { kind: 'destroy'; key: string; line: number; text: string }
  | { kind: 'run'; in: string | null; security?: SecurityOptions; line: number; text: string };

async function runOps(ctx: LessonContext, file: string, ops: Op[], quiet: boolean, withWs: boolean): Promise<void> {
  for (const op of ops) {
    switch (op.kind) {
      case 'note':
        if (!quiet) ctx.log({ note: op.text });
        break;
      case 'start': {
        const c = op.config;
        await ctx.sandbox(op.key, {
          namespaces: c.namespaces,
          hostname: c.hostname,
          rootfs: c.rootfs,
          limits: Object.keys(c.limits).length ? c.limits : undefined,
          security: c.security,
          init: true,
        });
        break;
      }
      case 'set': {
        const s = ctx.get(op.key);
        if (!s) throw new SandboxError(`${file}:${op.line}: ${op.text}: sandbox ${op.key} is not running`, { code: 'E_NOT_RUNNING', actionable: false });
        const writes = s.setLimits(op.limits);
        for (const w of writes) ctx.log({ command: `echo ${w.value} > ${w.path}`, note: quiet ? undefined : op.text });
        break;
      }
      case 'destroy':
        await ctx.destroy(op.key);
        break;
      case 'run': {
        // Setup and action lines get $KEY for each running sandbox (a challenge's setup runs
        // before its variables exist).
        const env = envOf(ctx, false, withWs);
        let r: ShellResult;
        let command = op.text;
        if (op.in === null) {
          r = await runHost(op.text, env, ACTION_TIMEOUT_MS);
        } else {
          const s = ctx.get(op.in);
          if (!s) throw new SandboxError(`${file}:${op.line}: sandbox ${op.in} is not running (its setup has not run)`, { code: 'E_NOT_RUNNING', actionable: false });
          command = `nsenter --target ${s.pid} --all -- sh -c ${shellQuote(op.text)}`;
          r = await runIn(s, op.text, env, ACTION_TIMEOUT_MS, op.security);
        }
        const output = `${r.stdout}${r.stderr}`.trimEnd();
        const status = r.timedOut ? `(stopped after ${ACTION_TIMEOUT_MS / 1000} s)` : r.code !== 0 ? `(exit ${r.code ?? '?'})` : '';
        if (quiet) {
          // A challenge's setup: its output could give answers away; a failure is the lesson's bug.
          if (r.code !== 0) throw new SandboxError(`${file}:${op.line}: the challenge's setup line failed ${status}: ${shown(output, 200)}`, { code: 'E_BUG', actionable: false });
          break;
        }
        ctx.log({
          command,
          output: [output, status].filter(Boolean).join('\n') || undefined,
          note: op.security?.capAdd ? `this command only: + CAP_${op.security.capAdd.join(', CAP_')} (a default sandbox lacks it)` : undefined,
        });
        break;
      }
    }
  }
}

// ----- the interpreter -------------------------------------------------------------------------

export interface Interpreted {
  lesson: Lesson;
  commands: RunListing[];
}

export function interpret(src: LessonSource, opts: { expectId?: string; builtIn?: boolean } = {}): Interpreted {
  const file = src.file;
  const err = (line: number, message: string, hint?: string) => new LessonFileError(file, line, message, hint);
  const commands: RunListing[] = [];

  // Front matter.
  const fm = new Kv(file, { kind: 'front matter', line: src.frontEnd, entries: src.front }, { id: 'one', title: 'one', summary: 'one', requires: 'repeat' });
  const idE = fm.need('id');
  if (!ID_RE.test(idE.value)) throw err(idE.line, `id ${show(idE.value)}: lowercase words joined by "-", at most 40 characters`);
  if (opts.expectId && idE.value !== opts.expectId) throw err(idE.line, `id ${show(idE.value)}: this built-in lesson's id is ${show(opts.expectId)}`);
  const title = fm.need('title').value;
  const summary = fm.need('summary').value;
  const requires: Requirement[] = [];
  for (const e of fm.all('requires')) {
    for (const part of e.value.split(',').map((p) => p.trim()).filter(Boolean)) {
      const [kind, name, ...rest] = part.split(/\s+/);
      if (rest.length) throw err(e.line, `requires: ${show(part)}: one requirement per comma`);
      if ((kind === 'command' || kind === 'controller') && name && /^[A-Za-z0-9][A-Za-z0-9._+-]{0,40}$/.test(name)) requires.push({ kind, name });
      else if ((kind === 'busybox' || kind === 'userns' || kind === 'overlay' || kind === 'root') && !name) requires.push({ kind });
      else throw err(e.line, `requires: ${show(part)} is not a requirement${didYouMean(kind, ['command', 'controller', 'busybox', 'userns', 'overlay', 'root'])}`, 'command NAME, controller NAME, busybox, userns, overlay or root');
    }
  }
  if (!src.steps.length) throw err(src.frontEnd, 'the lesson has no steps', 'a step starts with "## step-id: Title"');

  const rootfsSeen = { busybox: false };
  const parseCtx: ParseContext = {
    cpus: onlineCpus(),
    parseRootfs: (v: string) => {
      if (v === 'host' || v === 'none') return { kind: v };
      if (v === 'busybox') {
        rootfsSeen.busybox = true;
        return { kind: 'busybox' };
      }
      throw new SandboxError(`--rootfs ${show(v)}: a lesson file names no host directory`, { code: 'E_USAGE', hint: 'use --rootfs host, busybox or none' });
    },
  };

  const guidedKeys = new Map<string, SandboxConfig>();
  /** Guided lines name $WS: the lesson gets a scratch directory on the host (made when first used). */
  let usesWs = false;
  let version: 1 | 2 | null = null;
  const cgroupVersion = () => (version ??= cgroups().version === 2 ? 2 : 1);
  const stepIds = new Map<string, number>();

  // Shell lines are checked with sh -n all at once, at the end (one process).
  const shellLines: SourceLine[] = [];
  const shellLine = (l: SourceLine, where: RunListing['where'], role: RunListing['role'], guided = true) => {
    shellLines.push(l);
    if (guided && /\$\{?WS(?![A-Za-z0-9_])/.test(l.text)) usesWs = true;
    commands.push({ file: 'lesson.md', line: l.line, where, role, text: l.text });
  };

  const steps: Step[] = [];
  const stepLines = new Map<string, number>();
  for (const st of src.steps) {
    /** Variable name → sandbox key, for this challenge's pid vars (a probe naming $A needs a). */
    const chVarKeys = new Map<string, string>();
    if (!/^[a-z0-9][a-z0-9-]{0,47}$/.test(st.id)) throw err(st.line, `step id ${show(st.id)}: lowercase words joined by "-"`);
    if (stepIds.has(st.id)) throw err(st.line, `duplicate step id ${show(st.id)} (first at line ${stepIds.get(st.id)})`, 'progress is saved by step id: each must be unique');
    stepIds.set(st.id, st.line);
    const isChallenge = st.blocks.some((b) => b.kind === 'challenge');
    const keys = isChallenge ? new Map<string, SandboxConfig>() : guidedKeys;

    const count = (kind: Block['kind']) => st.blocks.filter((b) => b.kind === kind);
    const atMostOne = (kind: Block['kind']) => {
      const bs = count(kind);
      if (bs.length > 1) throw err(bs[1].line, `a second ${kind} block in step ${st.id} (first at line ${bs[0].line})`);
      return bs[0];
    };
    const notHere = isChallenge ? (['predict', 'takeaway'] as const) : (['vars', 'question', 'fail', 'solution'] as const);
    for (const b of st.blocks) {
      if ((notHere as readonly string[]).includes(b.kind)) {
        throw err(b.line, isChallenge ? `a challenge step has no ${b.kind} block` : `a ${b.kind} block belongs in a challenge step`, isChallenge ? undefined : 'a step is a challenge when it has a challenge block');
      }
    }

    const useKey = (key: string, line: number, what: string) => {
      if (!keys.has(key)) {
        const known = [...keys.keys()];
        throw err(
          line,
          `${what}: no setup creates a sandbox ${show(key)}${isChallenge ? ' in this challenge' : ' before this line'}${didYouMean(key, known)}`,
          isChallenge ? "a challenge makes its own sandboxes in its setup block: create KEY …, start KEY" : 'create it in a setup block first: create KEY …, start KEY',
        );
      }
    };

    const cond = (kv: Kv, probeKey: 'probe' | 'when', anchor: number): Cond => {
      // One probe, or one per cgroup version (file names differ: memory.max / memory.limit_in_bytes).
      const v1 = kv.get(`${probeKey}-v1`);
      const v2 = kv.get(`${probeKey}-v2`);
      if (kv.has(probeKey) && (v1 || v2)) throw err((v1 ?? v2)!.line, `${probeKey} and ${(v1 ?? v2)!.key}: give one ${probeKey}, or ${probeKey}-v1 and ${probeKey}-v2`);
      if (!v1 !== !v2) throw err((v1 ?? v2)!.line, `${(v1 ?? v2)!.key} without ${v1 ? `${probeKey}-v2` : `${probeKey}-v1`}: give both (one per cgroup version)`);
      const whereProbe = kv.get('in') ? (`sandbox ${kv.get('in')!.value}` as const) : ('host' as const);
      if (v1 && v2) {
        shellLine({ text: v1.value, line: v1.line }, whereProbe, 'probe', !isChallenge);
        shellLine({ text: v2.value, line: v2.line }, whereProbe, 'probe', !isChallenge);
      }
      const p = v1 && v2 ? (cgroupVersion() === 2 ? v2 : v1) : kv.need(probeKey);
      if (!(v1 && v2)) shellLine({ text: p.value, line: p.line }, whereProbe, 'probe', !isChallenge);
      const comps = (['equals', 'matches', 'number', 'differs'] as const).filter((k) => kv.has(k));
      if (comps.length !== 1) {
        throw err(comps.length ? kv.get(comps[1])!.line : anchor, comps.length ? `one comparison per ${kv.block.kind}: ${comps.join(' and ')} are both given` : `this ${kv.block.kind} block says nothing about the output: add equals, matches, number or differs`);
      }
      const kind = comps[0];
      const v = kv.get(kind)!;
      const c: Cond = { probe: p.value, line: p.line, in: null, kind, value: v.value, anyStatus: false, deps: [], waitMs: 0 };
      const wait = kv.has('wait') ? kv.get('wait')! : null;
      if (wait) c.waitMs = num(file, wait, 0, 10_000, 'wait (ms)');
      const inE = kv.get('in');
      if (inE) {
        useKey(inE.value, inE.line, 'in');
        c.in = inE.value;
      }
      const status = kv.get('status');
      if (status) {
        if (status.value !== 'any' && status.value !== '0') throw err(status.line, `status: ${show(status.value)}: "any" or "0"`);
        c.anyStatus = status.value === 'any';
      }
      if (kind === 'matches') {
        if (v.value.length > 200) throw err(v.line, 'matches: the pattern is longer than 200 characters');
        try {
          c.re = new RegExp(v.value);
        } catch (e) {
          throw err(v.line, `matches: ${show(v.value)} is not a valid regular expression: ${(e as Error).message.replace(/^Invalid regular expression: /, '')}`);
        }
      }
      if (kind === 'number') {
        const m = /^(.*)\.\.(.*)$/.exec(v.value);
        if (!m || (m[1].trim() === '' && m[2].trim() === '')) throw err(v.line, `number: ${show(v.value)}: write MIN..MAX (either may be left out: 1.., ..4096)`);
        if (m[1].trim()) c.min = num(file, { value: m[1].trim(), line: v.line }, -1e12, 1e12, 'number: MIN');
        if (m[2].trim()) c.max = num(file, { value: m[2].trim(), line: v.line }, -1e12, 1e12, 'number: MAX');
        if (c.min !== undefined && c.max !== undefined && c.min > c.max) throw err(v.line, `number: ${v.value}: MIN is above MAX`);
      }
      if (kind === 'differs') {
        if (v.value !== 'host') throw err(v.line, `differs: ${show(v.value)}: the only comparison is "differs: host"`);
        if (!c.in) throw err(v.line, 'differs: host compares the probe run in a sandbox with the same probe on the host: add "in: KEY"');
      }
      // $A names sandbox a in a guided step; in a challenge the vars block says which.
      for (const [key] of keys) {
        const name = isChallenge ? null : varName(key);
        if (name && new RegExp(`\\$\\{?${name}(?![A-Za-z0-9])`).test(c.probe)) c.deps.push(key);
      }
      if (isChallenge) for (const [name, key] of chVarKeys) if (new RegExp(`\\$\\{?${name}(?![A-Za-z0-9_])`).test(c.probe)) c.deps.push(key);
      return c;
    };

    // Operations (setup and run blocks) in order.
    const ops: Op[] = [];
    for (const b of st.blocks) {
      if (b.kind === 'setup') {
        if (b.args.length) throw err(b.line, `a setup block takes nothing after "setup" (got ${show(b.args.join(' '))})`);
        for (const l of b.lines) {
          commands.push({ file: 'lesson.md', line: l.line, where: 'setup', role: 'setup', text: l.text });
          const parsed = parseLine(l.text, parseCtx);
          if (parsed.kind === 'empty') continue;
          if (parsed.kind === 'error') throw err(l.line, `setup: ${parsed.error.message}`, parsed.error.hint ?? parsed.error.usage);
          const c = parsed.command;
          if (c.kind === 'create') {
            const key = c.config.name;
            if (!KEY_RE.test(key) || key === 'bench') throw err(l.line, `create: ${show(key)}: a sandbox key is a lowercase letter, then up to 11 lowercase letters, digits or "-"${key === 'bench' ? ' (bench is reserved)' : ''}`);
            if (isChallenge && guidedKeys.has(key)) throw err(l.line, `create: ${show(key)} is a guided step's sandbox: give the challenge's sandboxes keys of their own`);
            if (keys.has(key)) throw err(l.line, `create: a sandbox ${show(key)} is already created above`, 'destroy it first, or use another key');
            if (new Set([...guidedKeys.keys(), key]).size > LIMITS.sandboxes) throw err(l.line, `more than ${LIMITS.sandboxes} sandboxes in the lesson`);
            keys.set(key, c.config);
          } else if (c.kind === 'start') {
            useKey(c.name, l.line, 'start');
            ops.push({ kind: 'start', key: c.name, config: keys.get(c.name)!, line: l.line, text: l.text });
          } else if (c.kind === 'set') {
            useKey(c.name, l.line, 'set');
            ops.push({ kind: 'set', key: c.name, limits: c.limits, line: l.line, text: l.text });
          } else if (c.kind === 'stop' || c.kind === 'destroy') {
            useKey(c.name, l.line, c.kind);
            ops.push({ kind: 'destroy', key: c.name, line: l.line, text: l.text });
            if (c.kind === 'destroy') keys.delete(c.name);
          } else {
            throw err(l.line, `setup: ${show(c.kind)} is not allowed in a lesson file`, 'setup lines are create, start, set, stop and destroy; run commands in a run block');
          }
        }
      } else if (b.kind === 'run') {
        let where: string | null = null;
        const capAdd: string[] = [];
        const a = [...b.args];
        if (a[0] === 'in') {
          if (!a[1]) throw err(b.line, 'run in: which sandbox? (run in KEY)');
          useKey(a[1], b.line, 'run in');
          where = a[1];
          a.splice(0, 2);
        }
        while (a.length) {
          const flag = a.shift()!;
          if (flag !== '--cap-add' || !a.length) throw err(b.line, `run: ${show(flag)}: a run block is "run", "run in KEY", then optionally --cap-add CAP`);
          if (where === null) throw err(b.line, 'run: --cap-add applies to lines run in a sandbox (run in KEY --cap-add CAP)');
          try {
            capAdd.push(...parseCapabilityList(a.shift()!));
          } catch (e) {
            throw err(b.line, `run: --cap-add: ${(e as Error).message}`);
          }
        }
        if (!b.lines.length) throw err(b.line, 'this run block is empty');
        for (const l of b.lines) {
          shellLine(l, where ? `sandbox ${where}` : 'host', 'run');
          ops.push({ kind: 'run', in: where, security: capAdd.length ? { capAdd: [...new Set(capAdd)] as SecurityOptions['capAdd'] } : undefined, line: l.line, text: l.text });
        }
      }
    }

    // Cleanup.
    const cleanupB = atMostOne('cleanup');
    const cleanup = cleanupB?.lines ?? [];
    for (const l of cleanup) shellLine(l, 'host', 'cleanup');
    const registerCleanup = (ctx: LessonContext) => {
      if (!cleanup.length) return;
      const k = `folder:cleanup:${st.id}`;
      if (ctx.state.has(k)) return;
      ctx.state.set(k, true);
      ctx.defer(async () => {
        for (const l of cleanup) await runHost(l.text, { HOST_NAME: hostNameOf(ctx) }, ACTION_TIMEOUT_MS);
      });
    };

    // The view.
    const viewB = atMostOne('view');
    const view = viewB ? buildView(viewB, isChallenge) : undefined;

    const step: Step = { id: st.id, title: st.title, prose: st.prose, checks: [], hint: '' };
    if (view) step.view = view;
    const onlyB = atMostOne('only');
    if (onlyB) {
      const kv = new Kv(file, onlyB, { when: 'one', why: 'one' });
      const w = kv.need('when');
      const why = kv.need('why', 'what the learner is told when the step cannot run here').value;
      const m = /^(cgroup) (v1|v2)$|^(command|controller) ([A-Za-z0-9][A-Za-z0-9._+-]{0,40})$/.exec(w.value);
      if (!m) throw err(w.line, `only when ${show(w.value)}: write "cgroup v1", "cgroup v2", "command NAME" or "controller NAME"`);
      step.unavailable = () => {
        const holds = m[1]
          ? cgroupVersion() === (m[2] === 'v2' ? 2 : 1)
          : m[3] === 'controller'
            ? cgroups().controllers.includes(m[4])
            : (process.env.PATH ?? '/usr/bin:/bin').split(':').some((d) => fs.existsSync(`${d}/${m[4]}`));
        return holds ? null : why;
      };
    }

    if (!isChallenge) {
      const predictB = atMostOne('predict');
      if (predictB) step.prediction = buildPrediction(predictB);
      const checks = count('check');
      if (!checks.length) throw err(st.line, `step ${st.id} has no check: every step proves something about the kernel`, 'add a check block: label, probe, and equals, matches, number or differs');
      const labels = new Map<string, number>();
      for (const b of checks) {
        const kv = new Kv(file, b, CHECK_KEYS);
        const label = kv.need('label');
        if (labels.has(label.value)) throw err(label.line, `duplicate check label ${show(label.value)} (first at line ${labels.get(label.value)})`);
        labels.set(label.value, label.line);
        const c = cond(kv, 'probe', b.line);
        step.checks.push({ label: label.value, run: (ctx) => evaluate(ctx, c, false, false, usesWs) } satisfies Check);
      }
      if (!ops.some((o) => o.kind !== 'note')) throw err(st.line, `step ${st.id} has checks but no action: a check must fail when its action is skipped`, 'add a setup or run block');
      step.action = async (ctx) => {
        hostNameOf(ctx);
        registerCleanup(ctx);
        await runOps(ctx, file, ops, false, usesWs);
      };
      const hints = count('hint');
      if (hints.length !== 1) throw err(hints[1]?.line ?? st.line, hints.length ? `a guided step has one hint (a second at line ${hints[1].line})` : `step ${st.id} has no hint`, 'add a hint block with text: …');
      const hkv = new Kv(file, hints[0], { text: 'one' });
      step.hint = hkv.need('text').value;
      const tk = atMostOne('takeaway');
      if (tk) step.takeaway = new Kv(file, tk, { text: 'one' }).need('text').value;
    } else {
      const chB = atMostOne('challenge')!;
      const ch = new Kv(file, chB, { goal: 'one', tools: 'one', writes: 'one', hint: 'one', shell: 'one', settle: 'one' });
      // Variables first: conditions below name sandboxes through them.
      const varsB = atMostOne('vars');
      const varDefs: { name: string; line: number; make: (ctx: LessonContext) => ChallengeVar }[] = [];
      const chVars = varsB ? readVars(file, varsB) : [];
      for (const v of chVars) {
        if ((v.kind === 'pid' || v.kind === 'cgroup') && v.key !== 'bench') {
          // `bench` is the challenge shell's own sandbox: `ME: cgroup bench pids` finds what the
          // learner started.
          useKey(v.key!, v.line, `vars: ${v.name}`);
          if (v.kind === 'pid') chVarKeys.set(v.name, v.key!);
        }
        varDefs.push({
          name: v.name,
          line: v.line,
          make: (ctx) =>
            v.kind === 'pid'
              ? { name: v.name, value: String(ctx.get(v.key!)?.pid ?? ''), about: v.key === 'bench' ? "host PID of your challenge shell's sandbox" : `host PID of sandbox ${v.key}'s PID 1` }
              : v.kind === 'cgroup'
                ? {
                    name: v.name,
                    value: cgroupDirOf(ctx, v.key!, v.controller!) ?? '',
                    about: v.key === 'bench' ? `the cgroup of your challenge shell and all it starts (${v.controller})` : `cgroup directory of sandbox ${v.key} (${v.controller})`,
                  }
                : { name: v.name, value: v.text!, about: v.text! },
        });
      }
      let shell: { in: 'sandbox'; key: string } | undefined;
      const shellE = ch.get('shell');
      if (shellE && shellE.value !== 'host') {
        useKey(shellE.value, shellE.line, 'shell');
        shell = { in: 'sandbox', key: shellE.value };
      }
      const checks: Check[] = [];
      const labels = new Map<string, number>();
      for (const b of count('check')) {
        const kv = new Kv(file, b, CHALLENGE_CHECK_KEYS);
        const label = kv.need('label');
        if (labels.has(label.value)) throw err(label.line, `duplicate check label ${show(label.value)} (first at line ${labels.get(label.value)})`);
        labels.set(label.value, label.line);
        const c = cond(kv, 'probe', b.line);
        checks.push({ label: label.value, run: (ctx) => evaluate(ctx, c, true, true) });
      }
      const where = shell ? (`sandbox ${shell.key}` as const) : ('host' as const);
      const condition = (kv: Kv, anchor: number): Condition => {
        const c = cond(kv, 'when', anchor);
        return { probe: c.in ? `in ${c.in}: ${c.probe}` : c.probe, holds: async (ctx) => (await evaluate(ctx, c, true, true)).pass };
      };
      const hints: ChallengeHint[] = [];
      for (const b of count('hint')) {
        const kv = new Kv(file, b, { text: 'one', reach: 'repeat', ...WHEN_KEYS });
        const text = kv.need('text').value;
        const reach = kv.all('reach').map((e) => e.value);
        kv.all('reach').forEach((e) => shellLine({ text: e.value, line: e.line }, where, 'reach'));
        if (kv.has('when') || kv.has('when-v1') || kv.has('when-v2')) hints.push({ when: condition(kv, b.line), text, reach: reach.length ? reach : undefined });
        else {
          const stray = ['reach', ...Object.keys(COND_KEYS)].find((k) => kv.has(k));
          if (stray) throw err(kv.get(stray)!.line, `${stray} without "when": a hint's condition starts with when: PROBE`);
          hints.push({ text });
        }
      }
      if (!hints.length) throw err(st.line, `challenge ${st.id} has no hint`, 'add a hint block with text: … (and one with when: … for a typical wrong attempt)');
      const general = hints.map((h, i) => (h.when ? -1 : i)).filter((i) => i >= 0);
      if (general.length > 1 || (general.length === 1 && general[0] !== hints.length - 1)) {
        const b = count('hint')[general.length > 1 ? general[1] : general[0]];
        throw err(b.line, 'a challenge has at most one hint without "when", and it comes last');
      }
      const failStates: ChallengeFailState[] = [];
      for (const b of count('fail')) {
        const kv = new Kv(file, b, { text: 'one', reach: 'repeat', ...WHEN_KEYS });
        const reach = kv.all('reach');
        if (!reach.length) throw err(b.line, 'a fail block needs reach lines (how the state is reached: check-lesson runs them)');
        reach.forEach((e) => shellLine({ text: e.value, line: e.line }, where, 'reach'));
        failStates.push({ when: condition(kv, b.line), text: kv.need('text').value, reach: reach.map((e) => e.value) });
      }
      const questions: Question[] = [];
      const qids = new Map<string, number>();
      for (const b of count('question')) {
        const kv = new Kv(file, b, { id: 'one', question: 'one', probe: 'one', compare: 'one', explanation: 'one' });
        const id = kv.need('id');
        if (!/^[a-z0-9][a-z0-9-]{0,39}$/.test(id.value)) throw err(id.line, `question id ${show(id.value)}: lowercase words joined by "-"`);
        if (qids.has(id.value)) throw err(id.line, `duplicate question id ${show(id.value)} (first at line ${qids.get(id.value)})`);
        qids.set(id.value, id.line);
        const probe = kv.need('probe', 'the shell line whose output is the answer');
        shellLine({ text: probe.value, line: probe.line }, 'host', 'answer');
        const cmp = kv.get('compare');
        if (cmp && cmp.value !== 'text' && cmp.value !== 'number') throw err(cmp.line, `compare: ${show(cmp.value)}: "text" or "number"`);
        const q: Question = {
          id: id.value,
          question: kv.need('question').value,
          answer: async (ctx) => {
            const r = await runHost(probe.value, envOf(ctx, true), PROBE_TIMEOUT_MS);
            return { probe: probe.value, value: r.stdout.trim() };
          },
        };
        if (cmp) q.compare = cmp.value as 'text' | 'number';
        const ex = kv.get('explanation');
        if (ex) q.explanation = ex.value;
        questions.push(q);
      }
      if (!checks.length && !questions.length) throw err(chB.line, `challenge ${st.id} has neither checks nor questions`, 'add check blocks (the goal, read from the kernel) or question blocks');
      const solB = atMostOne('solution');
      if (!solB || !solB.lines.length) throw err(solB?.line ?? chB.line, `challenge ${st.id} has no reference solution`, 'add a solution block: the shell lines that reach the goal (--auto and check-lesson run them)');
      solB.lines.forEach((l) => shellLine(l, where, 'solution'));
      const settle = ch.get('settle');
      const tools = ch.need('tools').value.split(',').map((t) => t.trim()).filter(Boolean);
      if (tools.length > 12) throw err(ch.get('tools')!.line, 'tools: at most 12');
      const setupOps = ops;
      const challenge: Challenge = {
        goal: ch.need('goal').value,
        tools,
        setup: async (ctx) => {
          hostNameOf(ctx);
          registerCleanup(ctx);
          await runOps(ctx, file, setupOps, true, usesWs);
        },
        vars: (ctx) => varDefs.map((d) => d.make(ctx)),
        checks,
        hints,
        solution: solB.lines.map((l) => l.text),
      };
      if (ch.get('writes')) challenge.writes = ch.get('writes')!.value;
      if (shell) challenge.shell = shell;
      if (failStates.length) challenge.failStates = failStates;
      if (questions.length) challenge.questions = questions;
      if (settle) challenge.settleMs = num(file, settle, 0, 60_000, 'settle');
      step.challenge = challenge;
      step.hint = ch.get('hint')?.value ?? hints[hints.length - 1].text;
    }
    steps.push(step);
    stepLines.set(step.id, st.line);
  }

  const problems = shellProblems(shellLines.map((l) => l.text));
  const bad = shellLines.map((l, i) => ({ l, p: problems[i] })).filter((x) => x.p !== null).sort((x, y) => x.l.line - y.l.line)[0];
  if (bad) throw err(bad.l.line, `this shell line does not parse: ${bad.p}`, 'sh -n -c LINE shows the same problem');
  commands.sort((a, b) => a.line - b.line);
  if (rootfsSeen.busybox && !requires.some((r) => r.kind === 'busybox')) requires.push({ kind: 'busybox' });
  const lesson: Lesson = { id: idE.value, title, summary, intro: src.intro, requires, steps };
  // The engine's own rules, as a safety net: map "step N (id): …" to that step's line.
  for (const p of lintLesson(lesson)) {
    const m = /^step \d+ \(([^)]+)\): (.*)$/.exec(p);
    const what = m ? m[2].replace(/ \(add "## .*" to prose\.md\)$/, ': write a few lines under its heading') : p;
    throw err(m ? (stepLines.get(m[1]) ?? 0) : src.frontEnd, m ? `step ${m[1]}: ${what}` : what);
  }
  return { lesson, commands };

  // ----- helpers that need the file ---------------------------------------------------------

  function buildPrediction(b: Block): Prediction {
    const kv = new Kv(file, b, { question: 'one', choice: 'repeat', answer: 'one', explanation: 'one', unit: 'one', min: 'one', max: 'one', tolerance: 'one', measured: 'one' });
    const choices = kv.all('choice').map((e) => e.value);
    const answerE = kv.need('answer');
    let p: Prediction;
    if (choices.length) {
      if (choices.length < 2 || choices.length > 6) throw err(b.line, `a prediction has 2 to 6 choices (this one has ${choices.length})`);
      for (const k of ['unit', 'min', 'max', 'tolerance', 'measured']) if (kv.has(k)) throw err(kv.get(k)!.line, `${k} is for a numeric prediction (one without choices)`);
      const n = num(file, answerE, 1, choices.length, 'answer (the number of the right choice, from 1)');
      if (!Number.isInteger(n)) throw err(answerE.line, 'answer: the number of the right choice, from 1');
      p = { question: kv.need('question').value, choices, answer: n - 1, explanation: kv.need('explanation').value };
    } else {
      const min = num(file, kv.need('min', 'a numeric prediction needs min, max, tolerance and unit (or choice lines)'), -1e12, 1e12);
      const max = num(file, kv.need('max'), -1e12, 1e12);
      if (min >= max) throw err(kv.get('max')!.line, `max must be above min (${min})`);
      const answer = num(file, answerE, min, max, 'answer');
      const tolerance = num(file, kv.need('tolerance'), 0, max - min);
      p = { question: kv.need('question').value, choices: [], answer, explanation: kv.need('explanation').value, number: { unit: kv.need('unit').value, min, max, tolerance } };
      const measured = kv.get('measured');
      if (measured) {
        shellLine({ text: measured.value, line: measured.line }, 'host', 'probe');
        p.number!.measured = async (ctx) => {
          const r = await runHost(measured.value, envOf(ctx, false, usesWs), PROBE_TIMEOUT_MS);
          const out = r.stdout.trim();
          return { probe: measured.value, value: /^-?\d+(\.\d+)?$/.test(out) ? Number(out) : NaN };
        };
      }
    }
    const problems = lintPrediction(p);
    if (problems.length) throw err(b.line, `prediction: ${problems[0]}`);
    return p;
  }

  function buildView(b: Block, isChallengeStep: boolean): View {
    const kv = new Kv(file, b, { kind: 'one', title: 'one', every: 'one', probe: 'one', columns: 'one', caption: 'one', highlight: 'repeat', series: 'repeat', min: 'one', max: 'one', unit: 'one', gauge: 'repeat' });
    const kindE = kv.need('kind');
    const kinds = ['tree', 'table', 'chart', 'gauges'];
    if (!kinds.includes(kindE.value)) throw err(kindE.line, `view kind ${show(kindE.value)}${didYouMean(kindE.value, kinds)}`, 'tree, table, chart or gauges');
    const title = kv.get('title')?.value ?? { tree: 'Processes', table: 'Table', chart: 'Chart', gauges: 'Gauges' }[kindE.value]!;
    const every = kv.get('every') ? num(file, kv.get('every')!, 200, 10_000, 'every') : 1000;
    const caption = kv.get('caption')?.value;
    const allowed: Record<string, string[]> = {
      tree: ['kind', 'title', 'every'],
      table: ['kind', 'title', 'every', 'probe', 'columns', 'caption', 'highlight'],
      chart: ['kind', 'title', 'every', 'series', 'min', 'max', 'unit', 'caption'],
      gauges: ['kind', 'title', 'every', 'gauge', 'caption'],
    };
    for (const e of b.entries) if (!allowed[kindE.value].includes(e.key)) throw err(e.line, `a ${kindE.value} view has no ${show(e.key)}`, `it knows: ${allowed[kindE.value].join(', ')}`);
    const probeOf = (text: string, line: number) => {
      shellLine({ text, line }, 'host', 'view', !isChallengeStep);
      return text;
    };
    const ws = () => usesWs;
    if (kindE.value === 'tree') return { ...treeView(title), intervalMs: every };
    if (kindE.value === 'table') {
      const probeE = kv.need('probe');
      const probe = probeOf(probeE.value, probeE.line);
      const columns = kv.get('columns')?.value.split('|').map((c) => c.trim()) ?? [];
      if (columns.length > 8) throw err(kv.get('columns')!.line, 'columns: at most 8');
      const highlight = kv.all('highlight').map((e) => num(file, e, 1, 50, 'highlight') - 1);
      return {
        title,
        intervalMs: every,
        sample: liveSampler([probe], every, ws, (ctx, [out]) => {
          const rows = (out ?? '?')
            .split('\n')
            .filter((l) => l.trim())
            .slice(0, 50)
            .map((l) => {
              const cells = (l.includes('|') ? l.split('|') : l.trim().split(/\s+/)).map((c) => visible(c.trim()).slice(0, 80));
              if (columns.length && cells.length > columns.length) cells.splice(columns.length - 1, cells.length, cells.slice(columns.length - 1).join(' '));
              return cells;
            });
          const width = Math.max(columns.length, ...rows.map((r) => r.length));
          return {
            kind: 'table',
            columns: columns.length ? columns : Array.from({ length: width }, () => ''),
            rows: rows.map((r) => [...r, ...Array(Math.max(0, width - r.length)).fill('')]),
            highlight: highlight.length ? highlight : undefined,
            caption: caption ?? probe,
          };
        }),
      };
    }
    if (kindE.value === 'chart') {
      const series = kv.all('series').map((e) => {
        const bar = e.value.indexOf('|');
        if (bar < 1) throw err(e.line, 'series: NAME | PROBE');
        return { name: e.value.slice(0, bar).trim(), probe: probeOf(e.value.slice(bar + 1).trim(), e.line) };
      });
      if (!series.length || series.length > 4) throw err(b.line, 'a chart has 1 to 4 series: NAME | PROBE');
      const min = num(file, kv.need('min'), -1e12, 1e12);
      const max = num(file, kv.need('max'), -1e12, 1e12);
      if (min >= max) throw err(kv.get('max')!.line, 'max must be above min');
      const unit = kv.get('unit')?.value ?? '';
      const history = new WeakMap<LessonContext, number[][]>();
      return {
        title,
        intervalMs: every,
        sample: liveSampler(
          series.map((s) => s.probe),
          every,
          ws,
          (ctx) => {
            const h = history.get(ctx) ?? series.map(() => []);
            return { kind: 'chart', series: series.map((s, i) => ({ name: s.name, values: [...h[i]] })), min, max, unit, caption };
          },
          // A new sample (not each redraw) adds a point.
          (ctx, outs) => {
            const h = history.get(ctx) ?? series.map(() => []);
            history.set(ctx, h);
            outs.forEach((o, i) => {
              const out = (o ?? '').trim();
              const n = /^-?\d+(\.\d+)?$/.test(out) ? Number(out) : NaN;
              if (Number.isFinite(n)) h[i].push(Math.min(max, Math.max(min, n)));
              if (h[i].length > 60) h[i].shift();
            });
          },
        ),
      };
    }
    const gauges = kv.all('gauge').map((e) => {
      const parts = e.value.split('|').map((p) => p.trim());
      if (parts.length !== 4 || !parts[0] || !parts[1]) throw err(e.line, 'gauge: LABEL | PROBE | MAX | UNIT (MAX a number or none)');
      const max = parts[2] === 'none' ? null : num(file, { value: parts[2], line: e.line }, 0, 1e15, 'gauge MAX');
      return { label: parts[0], probe: probeOf(parts[1], e.line), max, unit: parts[3] };
    });
    if (!gauges.length || gauges.length > 8) throw err(b.line, 'a gauges view has 1 to 8 gauge lines');
    return {
      title,
      intervalMs: every,
      sample: liveSampler(
        gauges.map((g) => g.probe),
        every,
        ws,
        (_ctx, outs) => ({
          kind: 'gauges',
          gauges: gauges.map((g, i) => {
            const out = (outs[i] ?? '').trim();
            const n = /^-?\d+(\.\d+)?$/.test(out) ? Number(out) : NaN;
            return { label: g.label, value: Number.isFinite(n) ? n : 0, max: g.max, unit: g.unit, note: Number.isFinite(n) ? undefined : '?' };
          }),
          caption,
        }),
      ),
    };
  }
}

/**
 * A view's sample function. Views are sampled synchronously (View.sample), but a probe must not
 * block the screen's event loop every second (keys would wait on nsenter): the first sample of a
 * view in a lesson run reads at once (so --plain prints what the action did), later ones return
 * the last outputs and start a fresh read in the background when they are older than `every`.
 */
function liveSampler(
  probes: string[],
  every: number,
  withWs: () => boolean,
  render: (ctx: LessonContext, outs: (string | null)[]) => ViewData,
  onNew?: (ctx: LessonContext, outs: (string | null)[]) => void,
): (ctx: LessonContext) => ViewData {
  const state = new WeakMap<LessonContext, { at: number; busy: boolean; outs: (string | null)[] }>();
  return (ctx) => {
    const env = envOf(ctx, !!ctx.state.get(CHALLENGE_VARS), withWs());
    let s = state.get(ctx);
    if (!s) {
      s = { at: Date.now(), busy: false, outs: probes.map((p) => runHostSync(p, env, VIEW_TIMEOUT_MS)) };
      state.set(ctx, s);
      onNew?.(ctx, s.outs);
    } else if (!s.busy && Date.now() - s.at >= every * 0.8) {
      const st = s;
      st.busy = true;
      Promise.all(probes.map((p) => runHost(p, env, VIEW_TIMEOUT_MS))).then(
        (rs) => {
          st.outs = rs.map((r) => (r.timedOut || r.code === null ? null : r.stdout));
          st.at = Date.now();
          st.busy = false;
          onNew?.(ctx, st.outs);
        },
        () => {
          st.busy = false;
        },
      );
    }
    return render(ctx, s.outs);
  };
}

interface VarDef {
  name: string;
  line: number;
  kind: 'pid' | 'cgroup' | 'text';
  key?: string;
  controller?: string;
  text?: string;
}

/** Reads a vars block (NAME: pid KEY | cgroup KEY CONTROLLER | text VALUE: upper-case names, so not a kv block). */
function readVars(file: string, b: Block): VarDef[] {
  const lines = b.lines;
  const out: VarDef[] = [];
  const seen = new Map<string, number>();
  for (const l of lines) {
    if (!l.text.trim() || l.text.trimStart().startsWith('#')) continue;
    const m = /^([A-Za-z][A-Za-z0-9_]*):[ \t]+(\S+)(?:[ \t]+(.*))?$/.exec(l.text.trim());
    if (!m) throw new LessonFileError(file, l.line, `vars: ${show(l.text.trim())} is not "NAME: pid KEY", "NAME: cgroup KEY CONTROLLER" or "NAME: text VALUE"`);
    const [, name, kind, rest = ''] = m;
    if (!VAR_RE.test(name)) throw new LessonFileError(file, l.line, `vars: ${show(name)}: a variable name is upper-case letters, digits and _`);
    if (ALWAYS_VARS.includes(name)) throw new LessonFileError(file, l.line, `vars: $${name} is always given: choose another name`);
    if (seen.has(name)) throw new LessonFileError(file, l.line, `vars: ${name} is given twice (first at line ${seen.get(name)})`);
    seen.set(name, l.line);
    const words = rest.trim().split(/\s+/).filter(Boolean);
    if (kind === 'pid' && words.length === 1) out.push({ name, line: l.line, kind, key: words[0] });
    else if (kind === 'cgroup' && words.length === 2 && /^[a-z_]{1,20}$/.test(words[1])) out.push({ name, line: l.line, kind, key: words[0], controller: words[1] });
    else if (kind === 'text' && rest.trim()) out.push({ name, line: l.line, kind, text: rest.trim() });
    else throw new LessonFileError(file, l.line, `vars: ${show(l.text.trim())}: write "NAME: pid KEY", "NAME: cgroup KEY CONTROLLER" or "NAME: text VALUE"`);
  }
  if (out.length > 16) throw new LessonFileError(file, b.line, 'vars: at most 16 variables');
  return out;
}
