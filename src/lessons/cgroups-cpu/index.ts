/**
 * cgroups-cpu: two sandboxes burning the same single CPU (cpuset); equal weights split it 50/50,
 * weights 25 and 75 split it 25 %/75 % (cpu.shares on v1, cpu.weight on v2); a weight lends
 * whatever another group leaves unused; a hard quota (cpu.cfs_quota_us / cpu.max) does not.
 *
 * Measuring: each sandbox's CPU time comes from its cgroup (cpuacct.usage on v1, cpu.stat
 * usage_usec on v2), read at the start and end of a window. Both sandboxes are pinned to the
 * quietest CPU: other work on the machine may take some of that CPU too, but the weights govern
 * how the two divide what their parent group gets there, so shares are taken of their sum.
 *
 * Tolerance: the scheduler divides a CPU by weight in slices of a few milliseconds, so a 1.5 s
 * window holds hundreds of them; on a quiet host the split lands within 1 percentage point
 * (bench:cpu-split: ±0.1 pp over 5 s). Checks accept ±5 pp, room for a loaded machine and the
 * emulated v2 guest, while the outcome without the step's action (50 % instead of 25 %) is 25 pp
 * away.
 */
import fs from 'node:fs';

import {
  cgroupFile,
  cgroups,
  type LimitWrite,
  measureCpu,
  Monitor,
  onlineCpus,
  quietestCpu,
  type Sandbox,
} from '../../runtime/index.js';
import { noSandbox, statusField, verdict } from '../checks.js';
import type { LessonContext } from '../context.js';
import type { ChartView, Check, Lesson, View } from '../types.js';

const BURN = ['sh', '-c', 'while :; do :; done'];
const TOLERANCE_PP = 5;
const WINDOW_MS = 1500;
/** How long an action lets the chart run before the checks measure on their own. */
const SETTLE_MS = 2500;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pct = (x: number) => `${x.toFixed(1)} %`;

function pinnedCpu(ctx: LessonContext): number | undefined {
  return ctx.state.get('cpu') as number | undefined;
}

function monitorOf(ctx: LessonContext): Monitor | undefined {
  return ctx.state.get('monitor') as Monitor | undefined;
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
  const cpu = await quietestCpu(onlineCpus());
  ctx.state.set('cpu', cpu);
  ctx.log({ note: `CPU ${cpu} is the quieter of this host's CPUs right now: both sandboxes are pinned to it` });
  for (const key of ['a', 'b']) {
    const s = await ctx.sandbox(key, { namespaces: ['pid'], limits: { cpus: String(cpu) }, command: BURN });
    logCreateWrites(ctx, s);
  }
  monitorOf(ctx)?.stop();
  const names = () => ctx.all().map(([, s]) => s.name);
  const monitor = new Monitor({ names, intervalMs: 200, history: 150, hostCpus: [cpu] }).start();
  ctx.state.set('monitor', monitor);
  ctx.defer(() => monitor.stop());
}

/** The pair, or a verdict saying which one is missing. */
function pair(ctx: LessonContext): [Sandbox, Sandbox] | ReturnType<typeof noSandbox> {
  const a = ctx.get('a');
  const b = ctx.get('b');
  if (!a) return noSandbox('a');
  if (!b) return noSandbox('b');
  return [a, b];
}

/** Each one's share of what the two used together, over a trailing second; targets from the kernel's weights. */
function shareChart(ctx: LessonContext): ChartView {
  const a = ctx.get('a');
  const b = ctx.get('b');
  const m = monitorOf(ctx);
  if (!a || !b || !m) return { kind: 'chart', series: [], min: 0, max: 100, unit: '%', caption: 'no sandboxes yet' };
  const [sa, sb] = m.shareSeries([a.name, b.name], 1000);
  const wa = weightFile(a);
  const wb = weightFile(b);
  const total = (wa.value ?? 0) + (wb.value ?? 0);
  const target = (w: number | null) => (w !== null && total > 0 ? Math.round((w / total) * 1000) / 10 : undefined);
  return {
    kind: 'chart',
    series: [
      { name: `a  ${wa.file} ${wa.value ?? '?'}`, values: sa, target: target(wa.value) },
      { name: `b  ${wb.file} ${wb.value ?? '?'}`, values: sb, target: target(wb.value) },
    ],
    min: 0,
    max: 100,
    unit: '%',
    caption: `each one's part of the CPU ${pinnedCpu(ctx)} time a and b used together, over the last second (sampled every ${m.intervalMs} ms)`,
  };
}

/** Each one's CPU time over wall time, and how idle the pinned CPU was. */
function usageChart(ctx: LessonContext): ChartView {
  const a = ctx.get('a');
  const b = ctx.get('b');
  const m = monitorOf(ctx);
  const cpu = pinnedCpu(ctx);
  if (!a || !b || !m || cpu === undefined) return { kind: 'chart', series: [], min: 0, max: 100, unit: '%', caption: 'no sandboxes yet' };
  const qa = quotaFile(a);
  const state = (s: Sandbox) => (statusField(s.pid, 'State') ?? '').startsWith('T') ? ' (stopped)' : '';
  return {
    kind: 'chart',
    series: [
      { name: `a${qa.percent === null ? '' : ` quota ${Math.round(qa.percent)}%`}`, values: m.cpuSeries(a.name, 1000), target: qa.percent ?? undefined },
      { name: `b${state(b)}`, values: m.cpuSeries(b.name, 1000) },
      { name: `CPU ${cpu} idle`, values: m.idleSeries(cpu) },
    ],
    min: 0,
    max: 100,
    unit: '%',
    caption: `% of CPU ${cpu}'s time over the last second; the rest went to other work on this host`,
  };
}

const shareView: View = { title: 'CPU split: each sandbox\'s share of the pinned CPU', sample: shareChart };
const usageView: View = { title: 'CPU used, in % of the pinned CPU', sample: usageChart };

/** Measures a's and b's CPU time over the window: a's share must be `targetA` % (±TOLERANCE_PP), both busy. */
function splitCheck(label: string, targetA: number): Check {
  return {
    label,
    run: async (ctx) => {
      const p = pair(ctx);
      if (!Array.isArray(p)) return p;
      const m = await measureCpu(p.map((s) => s.name), WINDOW_MS);
      return verdict(
        `CPU time used in ${(m.windowMs / 1000).toFixed(1)} s: ${m.files.join(', ')}`,
        `a ${targetA} %, b ${100 - targetA} %`,
        `a ${pct(m.shares[0])}, b ${pct(m.shares[1])}`,
        Math.abs(m.shares[0] - targetA) <= TOLERANCE_PP && m.usec[0] > 0 && m.usec[1] > 0,
      );
    },
  };
}

export const lesson: Lesson = {
  id: 'cgroups-cpu',
  title: 'cgroups: CPU weights, cpusets and quotas',
  summary: 'two sandboxes on one core: equal weights, 25 %/75 %, idle cycles lent, a hard quota that lends nothing',
  requires: [
    { kind: 'controller', name: 'cpu' },
    { kind: 'controller', name: 'cpuset' },
  ],
  steps: [
    {
      id: 'one-core',
      title: 'Two busy sandboxes on one core',
      prediction: {
        question: 'Sandboxes a and b each run an endless loop, both pinned to the same CPU, both with the default weight. How do they share that CPU?',
        choices: ['about 50 % each', 'the one that started first keeps most of it', 'each gets 100 %: the host has more than one CPU'],
        answer: 0,
        explanation:
          'The cpuset keeps both on one CPU, so the other CPUs cannot help. The scheduler then gives runnable groups CPU time in proportion to their weights; equal weights, equal halves.',
      },
      action: async (ctx) => {
        await startPair(ctx);
        await sleep(SETTLE_MS);
        const m = monitorOf(ctx);
        const sh = m?.shares(ctx.all().map(([, s]) => s.name), 1000);
        if (sh) ctx.log({ note: `over the last second: a ${pct(sh[0])}, b ${pct(sh[1])} of what they used together` });
      },
      view: shareView,
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
            const want = String(pinnedCpu(ctx));
            return verdict(
              `cat …/sandbox/{${p.map((s) => s.name).join(',')}}/cpuset.cpus; grep Cpus_allowed_list /proc/{${p.map((s) => s.pid).join(',')}}/status`,
              `cpuset.cpus ${want} ${want}; allowed ${want} ${want}`,
              `cpuset.cpus ${cpus.join(' ')}; allowed ${allowed.join(' ')}`,
              [...cpus, ...allowed].every((c) => c === want),
            );
          },
        },
        splitCheck(`with equal weights they split the CPU 50 %/50 % (±${TOLERANCE_PP})`, 50),
      ],
      hint: 'cpuset.cpus lists the CPUs a cgroup\'s processes may run on; Cpus_allowed_list in /proc/PID/status shows the result per process. Two busy groups with equal weights on one CPU get equal time.',
    },
    {
      id: 'weights',
      title: 'Weights: 25 % and 75 %',
      prediction: {
        question: 'Now a gets weight 25 and b weight 75, while both keep looping on the one CPU. How does it split?',
        choices: ['a 25 %, b 75 %', 'still 50/50: weights only matter to new processes', 'a 25 %, and b the whole rest of the machine'],
        answer: 0,
        explanation:
          'Under contention the scheduler hands out time in proportion to weight: 25 : 75. The change takes effect at once, on running processes: the weight belongs to the cgroup, not to a process.',
      },
      action: async (ctx) => {
        const p = pair(ctx);
        if (!Array.isArray(p)) throw new Error('sandboxes a and b from step 1 are not running');
        const [a, b] = p;
        logWrites(ctx, 'a', a.setLimits({ cpuWeight: 25 }));
        logWrites(ctx, 'b', b.setLimits({ cpuWeight: 75 }));
        await sleep(SETTLE_MS + 500);
        const sh = monitorOf(ctx)?.shares([a.name, b.name], 1000);
        if (sh) ctx.log({ note: `over the last second: a ${pct(sh[0])}, b ${pct(sh[1])}` });
      },
      view: shareView,
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
        splitCheck(`b gets three times a's CPU time: 25 %/75 % (±${TOLERANCE_PP})`, 25),
      ],
      hint: 'On cgroup v1 the weight is cpu.shares (default 1024; weight 25 = 256), on v2 cpu.weight (default 100). Only the ratio between the groups competing for a CPU matters.',
    },
    {
      id: 'idle-lent',
      title: 'A weight lends what others leave unused',
      prediction: {
        question: 'b is stopped (kill -STOP) and no longer wants the CPU. a still has weight 25. How much of the CPU does a get now?',
        choices: ['25 %: that is its weight', 'nearly all of it: time b does not use goes to whoever wants it', 'nothing until b resumes'],
        answer: 1,
        explanation:
          'A weight is a share of contention, not a cap: when b is idle there is nothing to divide, and a gets whatever is free. That is why weights waste nothing.',
      },
      action: async (ctx) => {
        if (!ctx.get('a') || !ctx.get('b')) throw new Error('sandboxes a and b from step 1 are not running');
        ctx.signal('b', 'SIGSTOP');
        await sleep(SETTLE_MS);
        const a = ctx.get('a')!;
        const used = monitorOf(ctx)?.cpuPercent(a.name, 1000);
        if (used != null) ctx.log({ note: `a, weight 25, used ${pct(used)} of CPU ${pinnedCpu(ctx)} over the last second` });
      },
      view: usageView,
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
          label: 'a, weight 25, now takes more than its 25 %: whatever the CPU has free',
          run: async (ctx) => {
            const a = ctx.get('a');
            if (!a) return noSandbox('a');
            const cpu = pinnedCpu(ctx);
            const m = await measureCpu([a.name], WINDOW_MS, { hostCpu: cpu });
            const used = m.percentOfCpu[0];
            const idle = m.hostCpuIdle ?? 100;
            // While b ran, a had 25 % of what the two got: at most 25 % of the CPU. Alone it takes
            // either much more, or everything other work on the host leaves (the CPU is not idle).
            return verdict(
              `CPU time used in ${(m.windowMs / 1000).toFixed(1)} s over the wall time: ${m.files[0]}; idle time of cpu${cpu} in /proc/stat`,
              'at least 35 %, or at least 30 % with the CPU never idle',
              `${pct(used)}, CPU ${cpu} idle ${pct(idle)}`,
              used >= 35 || (used >= 30 && idle <= 5),
            );
          },
        },
      ],
      hint: 'kill -STOP stops a process until SIGCONT; a stopped process is not runnable, so its group asks for no CPU and its weight counts for nothing.',
    },
    {
      id: 'hard-quota',
      title: 'A hard quota lends nothing',
      prediction: {
        question: 'a gets a hard quota of 30 % of one CPU. b is still stopped, so the CPU has time to spare. How much does a get?',
        choices: ['30 %: a quota is a ceiling, even on an idle CPU', 'nearly all of it, as with a weight', '30 % only while b runs'],
        answer: 0,
        explanation:
          'A quota is CPU time per period (30 ms every 100 ms). Once a has used it, the scheduler throttles a until the next period, however idle the CPU is. Weights divide contention; quotas cap.',
      },
      action: async (ctx) => {
        const a = ctx.get('a');
        if (!a) throw new Error('sandbox a from step 1 is not running');
        logWrites(ctx, 'a', a.setLimits({ cpuQuota: 30 }));
        await sleep(SETTLE_MS);
        const used = monitorOf(ctx)?.cpuPercent(a.name, 1000);
        if (used != null) ctx.log({ note: `a used ${pct(used)} of CPU ${pinnedCpu(ctx)} over the last second` });
      },
      view: usageView,
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
          label: 'a gets no more than its 30 %, though the CPU has time to spare',
          run: async (ctx) => {
            const a = ctx.get('a');
            if (!a) return noSandbox('a');
            const m = await measureCpu([a.name], WINDOW_MS);
            return verdict(
              `CPU time used in ${(m.windowMs / 1000).toFixed(1)} s over the wall time: ${m.files[0]}`,
              `30 % (at most ${30 + 3} %)`,
              pct(m.percentOfCpu[0]),
              // (at least 10 %: a is still running, only capped)
              m.percentOfCpu[0] <= 33 && m.percentOfCpu[0] >= 10,
            );
          },
        },
        {
          label: 'the kernel throttled a when its quota ran out',
          run: (ctx) => {
            const a = ctx.get('a');
            if (!a) return noSandbox('a');
            const file = cgroupFile(a.name, 'cpu.stat') ?? `${cgroups().describe(a.name)}/cpu.stat`;
            const n = a.usage()?.cpuThrottled ?? null;
            return verdict(`grep nr_throttled ${file}`, 'nr_throttled > 0', `nr_throttled ${n ?? '(unreadable)'}`, (n ?? 0) > 0);
          },
        },
      ],
      hint: 'v1: cpu.cfs_quota_us / cpu.cfs_period_us (30000 / 100000 = 30 %); v2: cpu.max "30000 100000". nr_throttled in cpu.stat counts the periods in which the group ran out of quota.',
      takeaway: 'Weights (cpu.shares, cpu.weight) divide a busy CPU and lend what is idle; a quota (cpu.cfs_quota_us, cpu.max) is a ceiling that holds even on an idle CPU; a cpuset decides which CPUs at all.',
    },
  ],
};
