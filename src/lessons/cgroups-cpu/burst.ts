/**
 * cgroups-cpu, burst credits: a quota that banks what a bursty sandbox leaves unused (v2
 * cpu.max.burst, v1 cpu.cfs_burst_us; Linux 5.14+), the credit-based scheduling of the lectures
 * (AWS T2's CPU credits).
 *
 * The workload: a sandbox pinned to the lesson's CPU sleeps JOB_SLEEP_S, then runs a job of JOB_MS
 * of CPU time (measured on its own CPU clock, so a loaded or emulated CPU changes how long it
 * takes, not how much it needs), again and again. Its quota is QUOTA % of one CPU (QUOTA ms per
 * 100 ms period), less than a job: without a burst, every job runs out of quota in its first
 * period and waits for the next (cpu.stat nr_throttled + 1 per job). With a burst of BURST %, the
 * idle periods of the sleep bank unused quota, up to BURST ms, and the job spends it: it finishes
 * in its first period, unthrottled, and the kernel counts a burst (nr_bursts + 1 per job).
 *
 * One window per step (WINDOW_MS, read every SAMPLE_MS for the chart: CPU % of each sample, which
 * a job pushes over the quota line only with a burst); the log, the chart and the checks show it.
 * A check reuses the step's window if it was measured for that step with the burst the kernel
 * holds now, moments ago; else it measures one of its own.
 */
import fs from 'node:fs';

import { cgroupFile, cgroups, cpuTimes, type LimitWrite, type Sandbox } from '../../runtime/index.js';
import { noSandbox, verdict } from '../checks.js';
import type { LessonContext } from '../context.js';
import { cpuWaiting, lessonCpu, pinnedCpu } from '../pinned-cpu.js';
import type { ChartView, Step, View } from '../types.js';

const QUOTA = 20;
const BURST = 20;
const JOB_MS = 30;
const JOB_SLEEP_S = 0.4;
const WINDOW_MS = 2500;
const SAMPLE_MS = 100;
const REUSE_MS = 20_000;
const KEY = 'cpu.burst.window';
/** Jobs seen in a window at least (one every ~0.45 s on a quiet host; the v2 guest is slower). */
const MIN_JOBS = 2;
/**
 * The pinned CPU idle at most this (%) over a window: other work kept it busy. Then a job may get
 * less than its quota in every period (it waits its turn, not for its quota), so neither the
 * throttling nor the burst can show, and the checks say so instead (measured on this host while
 * eight other sessions' tests ran: 2 of ~5 jobs throttled, other work 81 % of the CPU).
 */
const IDLE_MAX = 2;

/** `perl`, because it has a CPU-time clock: a job is JOB_MS of CPU however slow the CPU runs. */
export const BURSTY = [
  'perl',
  '-e',
  `use Time::HiRes qw(sleep clock_gettime CLOCK_PROCESS_CPUTIME_ID); while (1) { sleep ${JOB_SLEEP_S}; my $t = clock_gettime(CLOCK_PROCESS_CPUTIME_ID); 1 while clock_gettime(CLOCK_PROCESS_CPUTIME_ID) - $t < ${JOB_MS / 1000} }`,
];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Counters {
  usec: number | null;
  periods: number | null;
  throttled: number | null;
  bursts: number | null;
  /** µs of CPU time spent from burst credit (v1 burst_time is in ns). */
  burstUs: number | null;
}

interface BurstWindow {
  step: string;
  name: string;
  pid: number;
  /** The burst file's value when the window opened. */
  burst: string;
  endedAt: number;
  done: boolean;
  /** CPU % of each sample, oldest first. */
  series: number[];
  /** Counter increases over the window (null = unreadable). */
  d: Counters;
  ms: number;
  cpu: number;
  /** The pinned CPU's idle time over the window, % (/proc/stat). */
  idle: number;
}

const fileName = () => (cgroups().version === 2 ? 'cpu.max.burst' : 'cpu.cfs_burst_us');
const pathOf = (s: Sandbox, f: string) => cgroupFile(s.name, f) ?? `${cgroups().describe(s.name)}/${f}`;

function readFile(s: Sandbox, f: string): string {
  try {
    const p = cgroupFile(s.name, f);
    return p ? fs.readFileSync(p, 'utf8').trim() : '(gone)';
  } catch {
    return '(gone)';
  }
}

/** cpu.stat's counters and the cgroup's CPU time, from one read each; bounded to 19 digits. */
function counters(s: Sandbox): Counters {
  const text = readFile(s, 'cpu.stat');
  const field = (k: string) => {
    const m = new RegExp(`^${k} (\\d{1,19})$`, 'm').exec(text);
    return m ? Number(m[1]) : null;
  };
  let usec: number | null = null;
  try {
    usec = cgroups().usage(s.name).cpuUsec;
  } catch {
    /* gone */
  }
  const ns = field('burst_time');
  return { usec, periods: field('nr_periods'), throttled: field('nr_throttled'), bursts: field('nr_bursts'), burstUs: field('burst_usec') ?? (ns === null ? null : Math.round(ns / 1000)) };
}

function delta(a: Counters, b: Counters): Counters {
  const d = (k: keyof Counters) => (a[k] === null || b[k] === null ? null : Math.max(0, b[k]! - a[k]!));
  return { usec: d('usec'), periods: d('periods'), throttled: d('throttled'), bursts: d('bursts'), burstUs: d('burstUs') };
}

async function measure(ctx: LessonContext, step: string, s: Sandbox): Promise<BurstWindow> {
  const cpu = lessonCpu(ctx) ?? 0;
  const idleOf = () => cpuTimes().find((c) => c.cpu === cpu);
  const w: BurstWindow = { step, name: s.name, pid: s.pid, burst: readFile(s, fileName()), endedAt: 0, done: false, series: [], d: delta(counters(s), counters(s)), ms: 0, cpu, idle: 0 };
  ctx.state.set(KEY, w);
  const t0 = performance.now();
  const c0 = counters(s);
  const i0 = idleOf();
  let prev = c0;
  let tPrev = t0;
  while (performance.now() - t0 < WINDOW_MS - 1 && !ctx.isClosed) {
    await sleep(SAMPLE_MS);
    const c = counters(s);
    const t = performance.now();
    const used = c.usec !== null && prev.usec !== null ? c.usec - prev.usec : 0;
    w.series.push(Math.round((used / Math.max(1, (t - tPrev) * 1000)) * 1000) / 10);
    prev = c;
    tPrev = t;
    w.d = delta(c0, c);
    w.ms = t - t0;
    const i = idleOf();
    w.idle = i0 && i && i.total > i0.total ? Math.round(((i.idle - i0.idle) / (i.total - i0.total)) * 1000) / 10 : 0;
  }
  w.endedAt = Date.now();
  w.done = true;
  return w;
}

async function windowFor(ctx: LessonContext, step: string, s: Sandbox): Promise<BurstWindow> {
  const w = ctx.state.get(KEY) as BurstWindow | undefined;
  const ok = w?.done && w.step === step && w.name === s.name && w.pid === s.pid && w.burst === readFile(s, fileName()) && Date.now() - w.endedAt <= REUSE_MS;
  return ok ? w! : measure(ctx, step, s);
}

const n = (x: number | null) => (x === null ? '(unreadable)' : String(x));

/** "2.5 s: 5 periods throttled of 25, 0 bursts (0 µs of credit spent), CPU 6.1 % on average". */
function windowLine(w: BurstWindow): string {
  const avg = w.d.usec === null ? '?' : ((w.d.usec / Math.max(1, w.ms * 1000)) * 100).toFixed(1);
  return `over ${(w.ms / 1000).toFixed(1)} s: throttled in ${n(w.d.throttled)} of ${n(w.d.periods)} periods, ${n(w.d.bursts)} bursts (${n(w.d.burstUs)} µs of banked quota spent), CPU ${avg} % on average; CPU ${w.cpu} idle ${w.idle.toFixed(1)} %`;
}

function probeOf(s: Sandbox): string {
  return `grep -E 'nr_periods|nr_throttled|nr_bursts|burst_(usec|time)' ${pathOf(s, 'cpu.stat')}  # at the start and the end of a ${(WINDOW_MS / 1000).toFixed(1)} s window`;
}

function chart(ctx: LessonContext): ChartView {
  const s = ctx.get('bursty');
  const w = ctx.state.get(KEY) as BurstWindow | undefined;
  if (!s || !w) return { kind: 'chart', series: [], min: 0, max: 100, unit: '%', caption: cpuWaiting(ctx) ?? (s ? 'measuring…' : 'no sandbox yet') };
  return {
    kind: 'chart',
    series: [{ name: `bursty  quota ${QUOTA}%, ${fileName()} ${w.burst}`, values: w.series, target: QUOTA }],
    min: 0,
    max: 100,
    unit: '%',
    caption: `CPU % of each ${SAMPLE_MS} ms (${cgroups().version === 2 ? 'cpu.stat usage_usec' : 'cpuacct.usage'}); the line is the quota. ${windowLine(w)}${w.done ? '' : ' so far'}.`,
  };
}

const view: View = { title: 'A bursty sandbox under a quota: CPU % over time', sample: chart };

function logWrites(ctx: LessonContext, writes: LimitWrite[]): void {
  for (const w of writes) ctx.log({ command: `echo ${w.value} > ${w.path}`, syscall: `write("${w.path}", "${w.value}")`, note: w.note });
}

async function measureAndLog(ctx: LessonContext, step: string, s: Sandbox): Promise<void> {
  const w = await measure(ctx, step, s);
  ctx.log({ command: probeOf(s), note: windowLine(w) });
}

export const BURST_STEPS: Step[] = [
  {
    id: 'bursty',
    title: 'A bursty sandbox under a quota',
    prediction: {
      question: `A sandbox sleeps ${JOB_SLEEP_S} s, then runs a job that needs ${JOB_MS} ms of CPU, again and again. Its quota is ${QUOTA} ms every 100 ms. What does the quota do to each job?`,
      choices: ['nothing', 'it stops the job once, until the next period', 'it stops the job for the whole sleep time'],
      answer: 1,
      explanation: `The quota is per period and a plain quota forgets what went unused: each job gets ${QUOTA} ms in its first period, is throttled (nr_throttled + 1), and finishes in the next. Idle time earlier counts for nothing.`,
    },
    action: async (ctx) => {
      const cpu = await pinnedCpu(ctx, 'The bursty sandbox is');
      const s = await ctx.sandbox('bursty', { namespaces: ['pid'], limits: { cpus: String(cpu) }, command: BURSTY });
      for (const e of s.explain.filter((x) => x.what === 'limit')) ctx.log({ command: e.command, syscall: e.syscall, note: e.result });
      // The quota once perl has started and sleeps for the first time: starting perl is not the
      // workload (in the emulated v2 guest it costs seconds of CPU, which a 20 % quota would
      // stretch over the whole window). Asleep = no CPU time used for 150 ms.
      const t0 = Date.now();
      for (let last = counters(s).usec, quiet = 0; quiet < 150 && Date.now() - t0 < 30_000; ) {
        await sleep(50);
        const now = counters(s).usec;
        quiet = now === last ? quiet + 50 : 0;
        last = now;
      }
      logWrites(ctx, s.setLimits({ cpuQuota: QUOTA }));
      await sleep(500);
      await measureAndLog(ctx, 'bursty', s);
    },
    view,
    checks: [
      {
        label: `each job runs out of its ${QUOTA} % quota: the kernel throttles it, and no burst is counted`,
        run: async (ctx) => {
          const s = ctx.get('bursty');
          if (!s) return noSandbox('bursty');
          const w = await windowFor(ctx, 'bursty', s);
          const quota = readFile(s, cgroups().version === 2 ? 'cpu.max' : 'cpu.cfs_quota_us').split(' ')[0];
          const held = quota === String(QUOTA * 1000);
          // Other work that keeps the CPU busy can leave each job under its quota in every period:
          // then it waits for its turn, never for its quota, and the window cannot show throttling.
          const busy = (w.d.throttled ?? 0) < MIN_JOBS && w.idle <= IDLE_MAX;
          return verdict(
            `${probeOf(s)}; cat ${pathOf(s, cgroups().version === 2 ? 'cpu.max' : 'cpu.cfs_quota_us')}`,
            `quota ${QUOTA * 1000} µs; throttled in at least ${MIN_JOBS} periods (about one per job), unless other work kept the CPU busy; 0 bursts`,
            `quota ${quota}; ${windowLine(w)}` + (busy ? ': other work kept the CPU busy, so jobs waited for their turn, not for their quota' : ''),
            held && ((w.d.throttled ?? 0) >= MIN_JOBS || busy) && w.d.bursts === 0,
          );
        },
      },
    ],
    hint: 'cpu.stat counts the periods in which the group ran out of quota (nr_throttled). Does a period remember what the one before it left unused?',
  },
  {
    id: 'burst-credit',
    title: 'Burst credits',
    prediction: {
      question: `Now the quota may bank up to ${BURST} ms left unused in earlier periods (cpu.max.burst on v2, cpu.cfs_burst_us on v1). In how many periods per job will the kernel throttle the sandbox?`,
      choices: [],
      answer: 0,
      number: {
        unit: 'periods per job',
        min: 0,
        max: 10,
        tolerance: 0.5,
        measured: (ctx) => {
          const w = ctx.state.get(KEY) as BurstWindow | undefined;
          const ok = w?.done && w.step === 'burst-credit' && w.d.bursts;
          return { probe: w ? `nr_throttled / nr_bursts over the window (${w.name}'s cpu.stat)` : '(no window measured)', value: ok ? Math.round((w!.d.throttled ?? 0) / w!.d.bursts! * 10) / 10 : NaN };
        },
      },
      explanation: `While the sandbox sleeps, every period leaves its ${QUOTA} ms unused, and the kernel banks it, up to the burst. A job then spends ${QUOTA} ms of quota and ${JOB_MS - QUOTA} ms of credit in one period: never throttled. cpu.stat counts each such period in nr_bursts. A T2 instance on AWS does the same with CPU credits, over hours instead of milliseconds.`,
    },
    action: async (ctx) => {
      const s = ctx.get('bursty');
      if (!s) throw new Error('the bursty sandbox from the step before is not running');
      logWrites(ctx, s.setLimits({ cpuBurst: BURST }));
      await sleep(500);
      await measureAndLog(ctx, 'burst-credit', s);
    },
    view,
    checks: [
      {
        label: `the kernel holds a burst of ${BURST} % of one CPU: ${BURST * 1000} µs`,
        run: (ctx) => {
          const s = ctx.get('bursty');
          if (!s) return noSandbox('bursty');
          const v = readFile(s, fileName());
          return verdict(`cat ${pathOf(s, fileName())}`, String(BURST * 1000), v);
        },
      },
      {
        label: 'jobs spend banked quota: the kernel counts bursts in cpu.stat',
        run: async (ctx) => {
          const s = ctx.get('bursty');
          if (!s) return noSandbox('bursty');
          const w = await windowFor(ctx, 'burst-credit', s);
          const bursts = w.d.bursts ?? 0;
          const held = readFile(s, fileName()) === String(BURST * 1000);
          // As in the step before: a CPU kept busy by other work leaves every job under its quota.
          const busy = bursts === 0 && (w.d.throttled ?? Infinity) === 0 && w.idle <= IDLE_MAX;
          // At least one burst, not one per job: a job that starts late in a period runs into the
          // next one's fresh quota and needs no credit (measured: 3–5 bursts in 2.5 s here, 4 in
          // the v2 guest, 0 without the burst).
          return verdict(
            `${probeOf(s)}; cat ${pathOf(s, fileName())}`,
            `burst ${BURST * 1000}; bursts counted (about one per job on a quiet host) and banked quota spent (unless other work kept the CPU busy: then no throttling at all)`,
            `burst ${readFile(s, fileName())}; ${windowLine(w)}` +
              (busy ? ': other work kept the CPU busy, so jobs waited for their turn, not for their quota' : ''),
            held && ((bursts >= 1 && (w.d.burstUs ?? 0) > 0) || busy),
          );
        },
      },
    ],
    hint: 'nr_bursts in cpu.stat counts the periods in which the group used more than its quota, from credit; burst_usec (v2) or burst_time (v1, ns) how much.',
    takeaway:
      'A plain quota forgets what went unused; a burst (cpu.max.burst, cpu.cfs_burst_us) banks it, up to a limit, for the next spike: the same average, shorter waits for bursty work.',
  },
];
