/**
 * cgroups-cpu: two sandboxes burning the same single CPU (cpuset); equal weights split it 50/50,
 * weights 25 and 75 split it 25 %/75 % (cpu.shares on v1, cpu.weight on v2); a weight lends
 * whatever another group leaves unused; a hard quota (cpu.cfs_quota_us / cpu.max) does not.
 *
 * One measurement per step, one figure per quantity: each step's action ends by measuring one
 * window (WINDOW_MS) of the sandboxes' CPU time from their cgroups (cpuacct.usage on v1, cpu.stat
 * usage_usec on v2) and the pinned CPU's idle time from /proc/stat; what neither sandbox nor idle
 * took is other work. The log, the live view (a running average since the window opened, whose
 * last point is the window's figure) and the checks all show that window, labelled with its
 * length and end. A check takes the step's window only if it was measured for this step, on the
 * same processes, with the same kernel settings as the kernel holds now (read again by the check:
 * weights, quota, b's state), and ended moments ago; otherwise (the action was skipped, a setting
 * changed, the figure is stale) it measures a window of its own, which the view then shows.
 *
 * Both sandboxes are pinned to the quietest CPU that no other session's CPU lesson holds (a CPU
 * claim, see pinned-cpu.ts): two learners on one host get a CPU each. Other work may still take
 * some of that CPU (a third learner sharing it, anything else on the host), so no check depends on
 * the CPU being theirs alone: a split is taken of the two sandboxes' sum (the weights govern how
 * the two divide whatever their parent group gets there); "idle time is lent" is a's part of what
 * other work left (a + b + idle); "a quota lends nothing" is a against its quota, with the kernel's
 * throttling counter rising in the window. Other work can take much of the CPU even with a CPU of
 * one's own: every sandbox's cgroup is under the one `sandbox` parent, whose weight against the
 * host's other groups and tasks is divided among the CPUs by where its load is (a second learner's
 * busy pair on CPU 1 takes most of it there), so under host load a alone on CPU 0 may get a few %
 * of it (measured: 2.9 %, with 97 % to other work, while another learner ran on the other CPU).
 *
 * Tolerance: the scheduler divides a CPU by weight in slices of a few milliseconds, so a 5 s
 * window holds a thousand of them; on a quiet host the split lands within 1 percentage point
 * (bench:cpu-split: ±0.1 pp over 5 s). Checks accept ±5 pp, room for a loaded machine and the
 * emulated v2 guest (where a vCPU descheduled by the host charges its whole absence to whichever
 * task was running), while the outcome without the step's action (50 % instead of 25 %) is 25 pp
 * away.
 */
import fs from 'node:fs';

import { cgroupFile, cgroups, cpuTimes, type CpuTimes, type LimitWrite, type Sandbox } from '../../runtime/index.js';
import { noSandbox, statusField, verdict, type Verdict } from '../checks.js';
import type { LessonContext } from '../context.js';
import { cpuWaiting, lessonCpu, pinnedCpu } from '../pinned-cpu.js';
import { BURST_STEPS } from './burst.js';
import { CHALLENGES } from './challenges.js';
import type { ChartView, Check, Lesson, View } from '../types.js';

const BURN = ['sh', '-c', 'while :; do :; done'];
const TOLERANCE_PP = 5;
/**
 * Lent idle time: a's part of the CPU time other work leaves must reach this (%). Lent, it is
 * ~100 % (measured 99–100 % alone and next to other load); without the lending (b running, or a
 * weight that capped) it would be 25 %.
 */
const LENT_MIN = 60;
/** …or the pinned CPU idle at most this (%) while a runs alone: nothing free that a does not take. */
const IDLE_MAX = 2;
/**
 * Around its quota, a may get this much more than 30 % over a window: on this host it measures
 * 29.9–30.1 %, but in the emulated v2 guest, where the scheduler tick that enforces the quota
 * arrives late whenever the host deschedules the virtual CPU, 27–31 % (measured) and
 * occasionally beyond.
 */
const QUOTA_SLACK_PP = 5;
/** Other work on the pinned CPU up to this (%) leaves a its whole quota: then a gets at least 30 − slack. */
const LIGHT_OTHER_PP = 20;
/** The one window a step measures (and its checks read). */
const WINDOW_MS = 5000;
/** How often the window is read while it runs (the view's points). */
const SAMPLE_MS = 200;
/** Before measuring, the action lets the scheduler take the change in (a weight, a SIGSTOP). */
const SETTLE_MS = 500;
/** A check reuses the step's window only if it ended at most this long ago. */
const REUSE_MS = 20_000;
const WINDOW_KEY = 'cpu.window';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round1 = (x: number) => Math.round(x * 10) / 10;
const pct = (x: number) => `${x.toFixed(1)} %`;

/** How the pinned CPU's time went over a window (% of that CPU, rounded to 0.1: the figures shown). */
interface Figures {
  a: number;
  b: number;
  idle: number;
  /** What neither sandbox nor idle took (clamped: the cgroup and /proc/stat clocks differ by a tick or so). */
  other: number;
  /** a + b + idle: what other work left. */
  left: number;
  /** Each one's part of what the two used together (0 if neither ran). */
  shareA: number;
  shareB: number;
  usec: [number, number];
  /** Periods in which a's quota ran out (cpu.stat nr_throttled), counted over the window; null if unreadable. */
  throttled: number | null;
  /** Periods the kernel metered a against a quota (cpu.stat nr_periods; 0 without a quota), over the window. */
  periods: number | null;
  ms: number;
}

/** One window of measurement: its running figures while it runs, its final figures once done. */
interface CpuWindow {
  step: string;
  cpu: number;
  names: [string, string];
  pids: [number, number];
  /** The kernel's settings when the window opened (weights, quota, b's state), as read then. */
  config: string;
  /** Set if the settings read at the end differ from `config`. */
  changed: boolean;
  windowMs: number;
  /** Date.now() at the end (0 while it runs). */
  endedAt: number;
  done: boolean;
  fig: Figures;
  /** The running figures since the window opened, one per read, oldest first (the view's points). */
  series: Figures[];
  files: string[];
}

interface Reading {
  t: number;
  usec: (number | null)[];
  throttled: number | null;
  periods: number | null;
  cpu: CpuTimes | undefined;
}

/**
 * nr_periods and nr_throttled of a sandbox's cpu.stat, from one read (so throttled ≤ periods),
 * bounded to 19 digits each; null where unreadable.
 */
function quotaCounters(name: string): { periods: number | null; throttled: number | null } {
  let text = '';
  try {
    const f = cgroupFile(name, 'cpu.stat');
    text = f ? fs.readFileSync(f, 'utf8') : '';
  } catch {
    /* gone */
  }
  const field = (k: string) => {
    const m = new RegExp(`^${k} (\\d{1,19})$`, 'm').exec(text);
    return m ? Number(m[1]) : null;
  };
  return { periods: field('nr_periods'), throttled: field('nr_throttled') };
}

function read(names: readonly string[], cpu: number): Reading {
  const usage = names.map((n) => {
    try {
      return cgroups().usage(n);
    } catch {
      return null;
    }
  });
  return {
    t: performance.now(),
    usec: usage.map((u) => u?.cpuUsec ?? null),
    ...quotaCounters(names[0]),
    cpu: cpuTimes().find((c) => c.cpu === cpu),
  };
}

function figuresBetween(r0: Reading, r: Reading): Figures {
  const wallUs = Math.max(1, (r.t - r0.t) * 1000);
  const used = [0, 1].map((i) => (r0.usec[i] === null || r.usec[i] === null ? 0 : Math.max(0, r.usec[i]! - r0.usec[i]!))) as [number, number];
  const ticks = r0.cpu && r.cpu ? r.cpu.total - r0.cpu.total : 0;
  const idle = ticks > 0 ? ((r.cpu!.idle - r0.cpu!.idle) / ticks) * 100 : 0;
  const a = (used[0] / wallUs) * 100;
  const b = (used[1] / wallUs) * 100;
  const sum = used[0] + used[1];
  const shareA = sum > 0 ? (used[0] / sum) * 100 : 0;
  return {
    a: round1(a),
    b: round1(b),
    idle: round1(idle),
    other: round1(Math.max(0, 100 - idle - a - b)),
    left: round1(Math.min(100, a + b + idle)),
    shareA: round1(shareA),
    shareB: sum > 0 ? round1(100 - round1(shareA)) : 0,
    usec: used,
    throttled: r0.throttled === null || r.throttled === null ? null : Math.max(0, r.throttled - r0.throttled),
    periods: r0.periods === null || r.periods === null ? null : Math.max(0, r.periods - r0.periods),
    ms: r.t - r0.t,
  };
}

function cpuFileOf(name: string): string {
  const cg = cgroups();
  return cg.version === 2 ? `${cg.dirs(name)[0]}/cpu.stat (usage_usec)` : (cgroupFile(name, 'cpuacct.usage') ?? `cpuacct.usage of ${name}`);
}

/** What the kernel holds now for the pair: the settings a window's figures depend on. */
function settings(a: Sandbox, b: Sandbox): string {
  const state = (statusField(b.pid, 'State') ?? '(gone)').startsWith('T') ? 'stopped' : 'running';
  return `${weightFile(a).file} ${weightFile(a).value} ${weightFile(b).value}; a quota ${quotaFile(a).text}; b ${state}`;
}

/**
 * Measures one window of the pair's CPU time on the pinned CPU for `step`, reading it every
 * SAMPLE_MS so the view can draw it as it fills; the window is kept as the lesson's latest.
 */
async function measureWindow(ctx: LessonContext, step: string, a: Sandbox, b: Sandbox, windowMs = WINDOW_MS): Promise<CpuWindow> {
  const cpu = lessonCpu(ctx) ?? 0;
  const names: [string, string] = [a.name, b.name];
  const r0 = read(names, cpu);
  const w: CpuWindow = {
    step,
    cpu,
    names,
    pids: [a.pid, b.pid],
    config: settings(a, b),
    changed: false,
    windowMs,
    endedAt: 0,
    done: false,
    fig: figuresBetween(r0, r0),
    series: [],
    files: names.map(cpuFileOf),
  };
  ctx.state.set(WINDOW_KEY, w);
  let r = r0;
  while (r.t - r0.t < windowMs - 1 && !ctx.isClosed) {
    await sleep(Math.min(SAMPLE_MS, Math.max(1, windowMs - (r.t - r0.t))));
    r = read(names, cpu);
    w.fig = figuresBetween(r0, r);
    w.series.push(w.fig);
  }
  w.changed = settings(a, b) !== w.config;
  w.endedAt = Date.now();
  w.done = true;
  return w;
}

/** The lesson's latest window, if any. */
function latestWindow(ctx: LessonContext): CpuWindow | undefined {
  return ctx.state.get(WINDOW_KEY) as CpuWindow | undefined;
}

/**
 * The window a check of `step` judges: the step's own (see the header: same step, processes and
 * settings, read again now, and recent), else a fresh one.
 */
async function windowFor(ctx: LessonContext, step: string, a: Sandbox, b: Sandbox): Promise<CpuWindow> {
  const w = latestWindow(ctx);
  const reusable =
    w !== undefined &&
    w.done &&
    !w.changed &&
    w.step === step &&
    w.names[0] === a.name &&
    w.names[1] === b.name &&
    w.pids[0] === a.pid &&
    w.pids[1] === b.pid &&
    w.config === settings(a, b) &&
    Date.now() - w.endedAt <= REUSE_MS;
  return reusable ? w : measureWindow(ctx, step, a, b);
}

/** "5.0 s ending 03:12:05" (UTC, as the log's clock), or "2.2 s so far of 5.0 s". */
function windowLabel(w: CpuWindow): string {
  if (!w.done) return `${(w.fig.ms / 1000).toFixed(1)} s so far of a ${(w.windowMs / 1000).toFixed(1)} s window`;
  return `the ${(w.fig.ms / 1000).toFixed(1)} s ending ${new Date(w.endedAt).toISOString().slice(11, 19)} UTC`;
}

/** "CPU 1 over the 5.0 s ending …: a 24.8 %, b 74.9 %, other work 0.2 %, idle 0.1 %". */
function cpuLine(w: CpuWindow): string {
  const f = w.fig;
  return `CPU ${w.cpu} over ${windowLabel(w)}: a ${pct(f.a)}, b ${pct(f.b)}, other work ${pct(f.other)}, idle ${pct(f.idle)}`;
}

/** The probe of a check that reads a window. */
function windowProbe(w: CpuWindow): string {
  return `CPU time in one ${(w.windowMs / 1000).toFixed(1)} s window: ${w.files.join(', ')}; idle time of cpu${w.cpu} in /proc/stat`;
}

/** Measures the step's window and logs it (the figures the view and the checks show too). */
async function measureAndLog(ctx: LessonContext, step: string, kind: 'split' | 'usage'): Promise<void> {
  const p = pair(ctx);
  if (!Array.isArray(p)) return;
  await sleep(SETTLE_MS);
  const w = await measureWindow(ctx, step, p[0], p[1]);
  const f = w.fig;
  ctx.log({
    command: `cat ${w.files.join(' ')}; grep cpu${w.cpu} /proc/stat  # at the start and the end of the window`,
    note:
      kind === 'split'
        ? `of what a and b used together over ${windowLabel(w)}: a ${pct(f.shareA)}, b ${pct(f.shareB)}; ${cpuLine(w)}`
        : `${cpuLine(w)}${f.throttled !== null && quotaFile(p[0]).percent !== null ? `; a throttled in ${f.throttled} periods` : ''}`,
  });
}

/** What the kernel holds as a sandbox's weight: cpu.shares (v1) or cpu.weight (v2). */
function weightFile(s: Sandbox): { path: string; file: string; value: number | null } {
  const file = cgroups().version === 1 ? 'cpu.shares' : 'cpu.weight';
  const path = cgroupFile(s.name, file) ?? `${cgroups().describe(s.name)}/${file}`;
  let value: number | null = null;
  try {
    value = Number(fs.readFileSync(path, 'utf8').trim());
  } catch {
    /* gone */
  }
  return { path, file, value };
}

/** The hard limit as the kernel holds it, in % of one CPU (null = none), and the file's text. */
function quotaFile(s: Sandbox): { path: string; text: string; percent: number | null } {
  const read = (f: string) => {
    const p = cgroupFile(s.name, f);
    try {
      return p ? fs.readFileSync(p, 'utf8').trim() : null;
    } catch {
      return null;
    }
  };
  if (cgroups().version === 2) {
    const path = cgroupFile(s.name, 'cpu.max') ?? `${cgroups().describe(s.name)}/cpu.max`;
    const text = read('cpu.max') ?? '(gone)';
    const [q, period] = text.split(' ');
    return { path, text, percent: q === 'max' || !period ? null : (Number(q) / Number(period)) * 100 };
  }
  const path = cgroupFile(s.name, 'cpu.cfs_quota_us') ?? `${cgroups().describe(s.name)}/cpu.cfs_quota_us`;
  const quota = read('cpu.cfs_quota_us');
  const period = read('cpu.cfs_period_us');
  const percent = quota === null || period === null || Number(quota) < 0 ? null : (Number(quota) / Number(period)) * 100;
  return { path: path.replace(/cpu\.cfs_quota_us$/, 'cpu.cfs_{quota,period}_us'), text: `${quota ?? '(gone)'} ${period ?? ''}`.trim(), percent };
}

function logWrites(ctx: LessonContext, name: string, writes: LimitWrite[]): void {
  for (const w of writes) {
    ctx.log({ command: `echo ${w.value} > ${w.path}`, syscall: `write("${w.path}", "${w.value}")`, note: w.note ?? `${name}: ${w.file} = ${w.value}` });
  }
}

/** The limit writes a sandbox was created with (cpuset.cpus…), as the learner could type them. */
function logCreateWrites(ctx: LessonContext, s: Sandbox): void {
  for (const e of s.explain.filter((x) => x.what === 'limit')) ctx.log({ command: e.command, syscall: e.syscall, note: e.result });
}

async function startPair(ctx: LessonContext): Promise<void> {
  const cpu = await pinnedCpu(ctx, 'Both sandboxes are');
  for (const key of ['a', 'b']) {
    const s = await ctx.sandbox(key, { namespaces: ['pid'], limits: { cpus: String(cpu) }, command: BURN });
    logCreateWrites(ctx, s);
  }
}

/** The pair, or a verdict saying which one is missing. */
function pair(ctx: LessonContext): [Sandbox, Sandbox] | Verdict {
  const a = ctx.get('a');
  const b = ctx.get('b');
  if (!a) return noSandbox('a');
  if (!b) return noSandbox('b');
  return [a, b];
}

/** The chart before any window: sandboxes missing, or a CPU being waited for. */
function emptyChart(ctx: LessonContext): ChartView {
  return { kind: 'chart', series: [], min: 0, max: 100, unit: '%', caption: cpuWaiting(ctx) ?? (pair(ctx) instanceof Array ? 'measuring…' : 'no sandboxes yet') };
}

/** What the caption says of a window: which one it is, and that the log and checks show the same. */
function windowCaption(ctx: LessonContext, w: CpuWindow, step: string | undefined): string {
  const whose = step && w.step !== step ? ` (measured for the step "${w.step}")` : '';
  return `${cpuLine(w)}${whose}. Running average from the window's start; the last point is the log's and the checks' figure.`;
}

/** Each one's part of what the two used together over the window; targets from the kernel's weights. */
function shareChart(ctx: LessonContext, step?: string): ChartView {
  const p = pair(ctx);
  const w = latestWindow(ctx);
  if (!Array.isArray(p) || !w) return emptyChart(ctx);
  const [wa, wb] = p.map(weightFile);
  const total = (wa.value ?? 0) + (wb.value ?? 0);
  const target = (v: number | null) => (v !== null && total > 0 ? Math.round((v / total) * 1000) / 10 : undefined);
  const ran = w.series.filter((f) => f.usec[0] + f.usec[1] > 0);
  return {
    kind: 'chart',
    series: [
      { name: `a  ${wa.file} ${wa.value ?? '?'}`, values: ran.map((f) => f.shareA), target: target(wa.value) },
      { name: `b  ${wb.file} ${wb.value ?? '?'}`, values: ran.map((f) => f.shareB), target: target(wb.value) },
    ],
    min: 0,
    max: 100,
    unit: '%',
    caption: `% of what a and b used together. ${windowCaption(ctx, w, step)}`,
  };
}

/** Each one's CPU time in % of the pinned CPU, its idle time and other work, over the window. */
function usageChart(ctx: LessonContext, step?: string): ChartView {
  const p = pair(ctx);
  const w = latestWindow(ctx);
  if (!Array.isArray(p) || !w) return emptyChart(ctx);
  const qa = quotaFile(p[0]);
  const stopped = (statusField(p[1].pid, 'State') ?? '').startsWith('T') ? ' (stopped)' : '';
  return {
    kind: 'chart',
    series: [
      { name: `a${qa.percent === null ? '' : ` quota ${Math.round(qa.percent)}%`}`, values: w.series.map((f) => f.a), target: qa.percent ?? undefined },
      { name: `b${stopped}`, values: w.series.map((f) => f.b) },
      { name: 'other work', values: w.series.map((f) => f.other) },
      { name: `CPU ${w.cpu} idle`, values: w.series.map((f) => f.idle) },
    ],
    min: 0,
    max: 100,
    unit: '%',
    caption: `% of CPU ${w.cpu}'s time. ${windowCaption(ctx, w, step)}`,
  };
}

const shareView = (step: string): View => ({ title: "CPU split: each sandbox's part of what the two used", sample: (ctx) => shareChart(ctx, step) });
const usageView = (step: string): View => ({ title: 'CPU used, in % of the pinned CPU', sample: (ctx) => usageChart(ctx, step) });

/** The step's window: a's part of what the two used must be `targetA` % (±TOLERANCE_PP), both busy. */
function splitCheck(step: string, label: string, targetA: number): Check {
  return {
    label,
    run: async (ctx) => {
      const p = pair(ctx);
      if (!Array.isArray(p)) return p;
      // Of their sum: other work on the CPU changes what the two get together, not how they
      // divide it.
      const w = await windowFor(ctx, step, p[0], p[1]);
      const f = w.fig;
      return verdict(
        windowProbe(w),
        `a ${targetA} %, b ${100 - targetA} % of what the two used (±${TOLERANCE_PP})`,
        `a ${pct(f.shareA)}, b ${pct(f.shareB)}; ${cpuLine(w)}`,
        Math.abs(f.shareA - targetA) <= TOLERANCE_PP && f.usec[0] > 0 && f.usec[1] > 0,
      );
    },
  };
}

export const lesson: Lesson = {
  id: 'cgroups-cpu',
  title: 'cgroups: CPU weights, cpusets and quotas',
  summary: 'two sandboxes on one core: equal weights, 25 %/75 %, idle cycles lent, a hard quota that lends nothing, burst credits',
  requires: [
    { kind: 'controller', name: 'cpu' },
    { kind: 'controller', name: 'cpuset' },
    { kind: 'command', name: 'perl' },
  ],
  steps: [
    {
      id: 'one-core',
      title: 'Two busy sandboxes on one core',
      prediction: {
        question: 'Sandboxes a and b each run an endless loop, both pinned to the same CPU, both with the default weight. How do they share that CPU?',
        choices: ['about 50 % each', 'the one that started first keeps most of it', 'each gets a whole CPU'],
        answer: 0,
        explanation:
          'The cpuset keeps both on one CPU, so the other CPUs cannot help. The scheduler then gives runnable groups CPU time in proportion to their weights; equal weights, equal halves.',
      },
      action: async (ctx) => {
        await startPair(ctx);
        await measureAndLog(ctx, 'one-core', 'split');
      },
      view: shareView('one-core'),
      checks: [
        {
          label: 'both sandboxes are pinned to the same single CPU',
          run: (ctx) => {
            const p = pair(ctx);
            if (!Array.isArray(p)) return p;
            const cpus = p.map((s) => {
              const f = cgroupFile(s.name, 'cpuset.cpus');
              return f ? fs.readFileSync(f, 'utf8').trim() : '(none)';
            });
            const allowed = p.map((s) => statusField(s.pid, 'Cpus_allowed_list') ?? '(gone)');
            const want = String(lessonCpu(ctx));
            return verdict(
              `cat ${cgroupFile(p[0].name, 'cpuset.cpus')?.replace(/\/[^/]+\/cpuset\.cpus$/, '') ?? '…'}/{${p.map((s) => s.name).join(',')}}/cpuset.cpus; grep Cpus_allowed_list /proc/{${p.map((s) => s.pid).join(',')}}/status`,
              `cpuset.cpus ${want} ${want}; allowed ${want} ${want}`,
              `cpuset.cpus ${cpus.join(' ')}; allowed ${allowed.join(' ')}`,
              [...cpus, ...allowed].every((c) => c === want),
            );
          },
        },
        splitCheck('one-core', `with equal weights they split the CPU 50 %/50 % (±${TOLERANCE_PP})`, 50),
      ],
      hint: 'cpuset.cpus lists the CPUs a cgroup\'s processes may run on; Cpus_allowed_list in /proc/PID/status shows it per process. What does the scheduler compare between two groups that both want the one CPU they may use?',
    },
    {
      id: 'weights',
      title: 'Unequal weights',
      prediction: {
        question: 'Now a gets weight 25 and b weight 75, while both keep looping on the one CPU. What % of the CPU time the two use will a get?',
        choices: [],
        answer: 25,
        number: {
          unit: '%',
          min: 0,
          max: 100,
          tolerance: TOLERANCE_PP,
          measured: (ctx) => {
            const w = latestWindow(ctx);
            return { probe: w ? `a's part of what a and b used over ${windowLabel(w)} (${w.files[0]})` : '(no window measured)', value: w?.fig.shareA ?? NaN };
          },
        },
        explanation:
          'Under contention the scheduler hands out time in proportion to weight: 25 : 75, so a gets a quarter. The change takes effect at once, on running processes: the weight belongs to the cgroup, not to a process.',
      },
      action: async (ctx) => {
        const p = pair(ctx);
        if (!Array.isArray(p)) throw new Error('sandboxes a and b from step 1 are not running');
        const [a, b] = p;
        logWrites(ctx, 'a', a.setLimits({ cpuWeight: 25 }));
        logWrites(ctx, 'b', b.setLimits({ cpuWeight: 75 }));
        await measureAndLog(ctx, 'weights', 'split');
      },
      view: shareView('weights'),
      checks: [
        {
          label: 'the kernel holds the new weights',
          run: (ctx) => {
            const p = pair(ctx);
            if (!Array.isArray(p)) return p;
            const [wa, wb] = p.map(weightFile);
            const want = cgroups().version === 1 ? [256, 768] : [25, 75];
            return verdict(`cat ${wa.path} ${wb.path}`, `${wa.file} ${want.join(' and ')}`, `${wa.file} ${wa.value} and ${wb.value}`, wa.value === want[0] && wb.value === want[1]);
          },
        },
        splitCheck('weights', `b gets three times a's CPU time: 25 %/75 % (±${TOLERANCE_PP})`, 25),
      ],
      hint: 'On cgroup v1 the weight is cpu.shares (default 1024; weight 25 = 256), on v2 cpu.weight (default 100). Only the ratio between the groups competing for a CPU matters.',
    },
    {
      id: 'idle-lent',
      title: 'b stops',
      prediction: {
        question: 'b is stopped (kill -STOP) and no longer wants the CPU. a still has weight 25. How much of the CPU does a get now?',
        choices: ['25 %', 'nearly all of what other work leaves', 'nothing until b resumes'],
        answer: 1,
        explanation:
          'A weight is a share of contention, not a cap: when b is idle there is nothing to divide, and a gets whatever is free. That is why weights waste nothing.',
      },
      action: async (ctx) => {
        if (!ctx.get('a') || !ctx.get('b')) throw new Error('sandboxes a and b from step 1 are not running');
        ctx.signal('b', 'SIGSTOP');
        await measureAndLog(ctx, 'idle-lent', 'usage');
      },
      view: usageView('idle-lent'),
      checks: [
        {
          label: 'b is stopped',
          run: (ctx) => {
            const b = ctx.get('b');
            if (!b) return noSandbox('b');
            const st = statusField(b.pid, 'State') ?? '(gone)';
            return verdict(`grep State /proc/${b.pid}/status`, 'T (stopped)', st, st.startsWith('T'));
          },
        },
        {
          label: 'a, weight 25, now takes more than its 25 %: all the CPU time that b and other work leave, none of it idle',
          run: async (ctx) => {
            const p = pair(ctx);
            if (!Array.isArray(p)) return p;
            const w = await windowFor(ctx, 'idle-lent', p[0], p[1]);
            const f = w.fig;
            // What other work on the CPU takes is not the sandboxes' to divide; the rest (a + b +
            // idle) is. While b ran, a had 25 % of it; if a weight were a cap, a would still have
            // 25 % and the rest would stay idle. Lent, a takes all of it: b uses nothing and the
            // CPU is never idle. When other work leaves almost nothing, a's part of that sliver is
            // a few ticks of /proc/stat either way: then "never idle" is the measure that holds.
            const part = f.left > 0 ? (f.a / f.left) * 100 : 0;
            const bIdle = f.usec[1] <= f.ms * 10; // b used at most 1 % of the window
            return verdict(
              windowProbe(w),
              `b 0 %, and a at least ${LENT_MIN} % of what other work left (a + b + idle), or the CPU idle at most ${IDLE_MAX} %; a had 25 % of it while b ran`,
              `a had ${pct(part)} of the ${pct(f.left)} other work left; ${cpuLine(w)}`,
              bIdle && f.a > 0 && (part >= LENT_MIN || f.idle <= IDLE_MAX),
            );
          },
        },
      ],
      hint: 'kill -STOP stops a process until SIGCONT. What is there for the scheduler to divide when only one group on the CPU is runnable?',
    },
    {
      id: 'hard-quota',
      title: 'A hard quota',
      prediction: {
        question: 'a gets a quota of 30 ms of CPU time every 100 ms. b is still stopped. What % of the CPU will a get?',
        choices: [],
        answer: 30,
        number: {
          unit: '%',
          min: 0,
          max: 100,
          tolerance: 3,
          measured: (ctx) => {
            const w = latestWindow(ctx);
            return { probe: w ? `a's CPU time over ${windowLabel(w)} (${w.files[0]})` : '(no window measured)', value: w?.fig.a ?? NaN };
          },
        },
        explanation:
          'A quota is CPU time per period (30 ms every 100 ms: 30 %). Once a has used it, the scheduler throttles a until the next period, however idle the CPU is: nr_throttled in cpu.stat counts those periods. Weights divide contention; quotas cap.',
      },
      action: async (ctx) => {
        const a = ctx.get('a');
        if (!a) throw new Error('sandbox a from step 1 is not running');
        logWrites(ctx, 'a', a.setLimits({ cpuQuota: 30 }));
        await measureAndLog(ctx, 'hard-quota', 'usage');
      },
      view: usageView('hard-quota'),
      checks: [
        {
          label: 'the kernel holds a quota of 30 % of one CPU',
          run: (ctx) => {
            const a = ctx.get('a');
            if (!a) return noSandbox('a');
            const q = quotaFile(a);
            return verdict(
              `cat ${q.path}`,
              cgroups().version === 1 ? '30000 100000 (µs of quota per period)' : '30000 100000',
              q.text,
              q.percent !== null && Math.abs(q.percent - 30) < 0.01,
            );
          },
        },
        {
          label: 'a gets at most its 30 %: the kernel meters it per period, and any idle time is there because a was stopped, not lent to it',
          run: async (ctx) => {
            const p = pair(ctx);
            if (!Array.isArray(p)) return p;
            const w = await windowFor(ctx, 'hard-quota', p[0], p[1]);
            const f = w.fig;
            // The ceiling: at most 30 % (+ the slack), however idle the CPU. Not lent: a busy
            // loop that leaves its CPU idle must have been stopped, so idle time on that CPU
            // comes with throttled periods (nr_throttled rising). The kernel meters a against
            // the quota in every period it runs (nr_periods rising; it stays put without a
            // quota). The floor, when little other work runs there: a gets its quota. Under more,
            // a gets less: a period in which other work takes a's turn is lost to a (quota is not
            // saved up), and heavy enough load leaves a under its quota in every period and the
            // CPU never idle: then there is no idle time to lend, a is never throttled, and the
            // check says that this window shows the metering, not the ceiling.
            const q = quotaFile(p[0]);
            const held = q.percent !== null && Math.abs(q.percent - 30) < 0.01;
            const light = f.other <= LIGHT_OTHER_PP;
            const floor = light ? 30 - QUOTA_SLACK_PP : 0;
            const file = cgroupFile(p[0].name, 'cpu.stat') ?? `${cgroups().describe(p[0].name)}/cpu.stat`;
            const throttled = f.throttled ?? 0;
            const noIdle = f.idle <= IDLE_MAX;
            const starved = throttled === 0 && noIdle && !light;
            return verdict(
              `cat ${q.path}; grep -E 'nr_periods|nr_throttled' ${file}; ${windowProbe(w)}`,
              `a quota of 30 %; a at most ${30 + QUOTA_SLACK_PP} %${light ? ` and at least ${floor} % (other work under ${LIGHT_OTHER_PP} %)` : ''}; nr_periods rising; nr_throttled rising, unless the CPU was never idle`,
              `${held ? 'quota 30 %' : `no 30 % quota (${q.text})`}; a ${pct(f.a)}; metered in ${f.periods ?? '(unreadable)'} periods, throttled in ${f.throttled ?? '(unreadable)'}; ${cpuLine(w)}` +
                (starved ? '. Other work left a under its quota in every period and the CPU never idle: nothing to lend, so this window shows the metering, not the ceiling' : ''),
              held && f.a <= 30 + QUOTA_SLACK_PP && f.a >= floor && (f.periods ?? 0) > 0 && (throttled > 0 || noIdle),
            );
          },
        },
      ],
      hint: 'v1: cpu.cfs_quota_us over cpu.cfs_period_us; v2: cpu.max holds both, "QUOTA PERIOD", in µs. nr_throttled in cpu.stat counts the periods in which the group ran out of quota.',
      takeaway: 'Weights (cpu.shares, cpu.weight) divide a busy CPU and lend what is idle; a quota (cpu.cfs_quota_us, cpu.max) is a ceiling that holds even on an idle CPU; a cpuset decides which CPUs at all.',
    },
    ...BURST_STEPS,
    ...CHALLENGES,
  ],
};
