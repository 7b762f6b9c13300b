/**
 * The cgroups-cpu challenges: the learner writes the CPU controller's files by hand.
 *  1. cap-at-half: cap a busy loop at 50 % of one CPU with a quota (cpu.max / cpu.cfs_quota_us).
 *  2. split-by-weight: make two busy loops on one CPU split it 25 %/75 % with weights only.
 *  3. read-the-weights: say, from the weight files alone, what share a loop gets.
 *
 * Every busy loop is pinned to the lesson's claimed CPU (pinned-cpu.ts): a single-threaded loop
 * can use at most one CPU anyway, but pinned, it does not land on the CPU another learner's CPU
 * lesson is measuring, and "% of one CPU" is the pinned CPU's time. Loops end with the challenge
 * (their sandboxes are destroyed with it).
 *
 * Measuring without stalling the 1 Hz poll: each poll appends a reading of the sandboxes' CPU
 * time (cpuacct.usage on v1, cpu.stat usage_usec on v2) to a short history in ctx.state, and a
 * figure is taken between the newest reading and the newest earlier one that is at least
 * MIN_WINDOW_MS old (the shortest window long enough: a change shows soon); before there is one
 * (the first poll), the check waits until there is. Files are read in TypeScript; no check spawns
 * a process.
 */
import fs from 'node:fs';

import { cgroups, type Sandbox } from '../../runtime/index.js';
import { cgroupDirOf } from '../challenge-probes.js';
import { noSandbox, verdict } from '../checks.js';
import type { LessonContext } from '../context.js';
import { pinnedCpu } from '../pinned-cpu.js';
import type { Step } from '../types.js';

const BURN = ['sh', '-c', 'while :; do :; done'];
/** A capped loop may measure this much over its quota (tick granularity; late ticks in an emulated guest). */
const CAP_SLACK_PP = 8;
/** A split may be this far from its target (the guided steps use the same margin). */
const SPLIT_TOLERANCE_PP = 5;
/** A figure spans at least this much wall time… */
const MIN_WINDOW_MS = 1000;
/** …and at most this much more: older readings are dropped. */
const HISTORY_MS = 2000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pct = (x: number) => `${x.toFixed(1)} %`;

/** A cgroup file holding one integer (bounded: at most 19 digits), or null. */
function readInt(file: string): number | null {
  try {
    const t = fs.readFileSync(file, 'utf8').trim();
    return /^-?\d{1,19}$/.test(t) ? Number(t) : null;
  } catch {
    return null;
  }
}

function readText(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return null;
  }
}

/** The CPU quota of a cgroup directory (cpu hierarchy on v1) in % of one CPU; null = no quota. */
export function quotaOf(dir: string | null): { probe: string; text: string; percent: number | null } {
  if (!dir) return { probe: '(no cgroup)', text: '(no cgroup)', percent: null };
  if (cgroups().version === 2) {
    const text = readText(`${dir}/cpu.max`) ?? '(unreadable)';
    const m = /^(max|\d{1,19}) (\d{1,19})$/.exec(text);
    const percent = !m || m[1] === 'max' || Number(m[2]) <= 0 ? null : (Number(m[1]) / Number(m[2])) * 100;
    return { probe: `cat ${dir}/cpu.max`, text, percent };
  }
  const quota = readInt(`${dir}/cpu.cfs_quota_us`);
  const period = readInt(`${dir}/cpu.cfs_period_us`);
  const percent = quota === null || period === null || quota < 0 || period <= 0 ? null : (quota / period) * 100;
  return {
    probe: `cat ${dir}/cpu.cfs_quota_us ${dir}/cpu.cfs_period_us`,
    text: `quota ${quota ?? '(unreadable)'}, period ${period ?? '(unreadable)'}`,
    percent,
  };
}

/** The weight file of this host's version: cpu.shares (v1, default 1024) or cpu.weight (v2, default 100). */
export function weightName(): { file: string; dflt: number } {
  return cgroups().version === 2 ? { file: 'cpu.weight', dflt: 100 } : { file: 'cpu.shares', dflt: 1024 };
}

function weightOf(dir: string | null): number | null {
  return dir ? readInt(`${dir}/${weightName().file}`) : null;
}

interface Reading {
  t: number;
  usec: (number | null)[];
  throttled: (number | null)[];
}

function readNow(sandboxes: Sandbox[]): Reading {
  const u = sandboxes.map((s) => cgroups().usage(s.name));
  return { t: performance.now(), usec: u.map((x) => x?.cpuUsec ?? null), throttled: u.map((x) => x?.cpuThrottled ?? null) };
}

/**
 * CPU time of `sandboxes` (and their throttled-period counts) over the last `minMs` or a little
 * more (at most `minMs` + HISTORY_MS), from the
 * readings earlier polls left in ctx.state under `key`; measures a window of its own when there
 * is no reading old enough yet.
 */
async function recentUsage(
  ctx: LessonContext,
  key: string,
  sandboxes: Sandbox[],
  minMs = MIN_WINDOW_MS,
): Promise<{ ms: number; usec: number[]; percent: number[]; shares: number[]; throttled: number[] }> {
  const stateKey = `challenge.readings.${key}`;
  const ids = sandboxes.map((s) => `${s.name}:${s.pid}`).join(' ');
  let hist = (ctx.state.get(stateKey) as { ids: string; list: Reading[] } | undefined)?.ids === ids ? (ctx.state.get(stateKey) as { list: Reading[] }).list : [];
  const now = readNow(sandboxes);
  hist = hist.filter((r) => now.t - r.t <= minMs + HISTORY_MS);
  // The newest reading at least minMs old: the shortest window that is long enough, so that a
  // change the learner just made shows as soon as possible.
  let first = hist.filter((r) => now.t - r.t >= minMs).at(-1);
  let last = now;
  if (!first) {
    // None yet: wait until the oldest one is (or, with none at all, a new one becomes) old enough.
    first = hist[0] ?? now;
    await sleep(minMs - (now.t - first.t));
    last = readNow(sandboxes);
  }
  hist.push(last);
  ctx.state.set(stateKey, { ids, list: hist });
  const ms = last.t - first.t;
  const usec = sandboxes.map((_, i) => {
    const a = first.usec[i];
    const b = last.usec[i];
    return a === null || b === null ? 0 : Math.max(0, b - a);
  });
  const throttled = sandboxes.map((_, i) => {
    const a = first.throttled[i];
    const b = last.throttled[i];
    return a === null || b === null ? 0 : Math.max(0, b - a);
  });
  const sum = usec.reduce((t, u) => t + u, 0);
  return { ms, usec, percent: usec.map((u) => (u / (ms * 1000)) * 100), shares: usec.map((u) => (sum > 0 ? (u / sum) * 100 : 0)), throttled };
}

/** "v2: cpu.max; v1: cpu.cfs_quota_us", this host's first. */
function fileNames(v1: string, v2: string): string {
  return cgroups().version === 2 ? `${v2} (cgroup v2; on v1: ${v1})` : `${v1} (cgroup v1; on v2: ${v2})`;
}

async function startLoops(ctx: LessonContext, keys: string[]): Promise<void> {
  // The guided steps' pair (a at its 30 % quota, b stopped) would go on burning the pinned CPU
  // beside the challenge's loops for as long as the learner works: the guided part is over.
  for (const guided of ['a', 'b']) await ctx.destroy(guided);
  const cpu = await pinnedCpu(ctx, keys.length > 1 ? 'The challenge\'s loops are' : 'The challenge\'s loop is');
  for (const key of keys) await ctx.sandbox(key, { namespaces: ['pid'], limits: { cpus: String(cpu) }, command: BURN });
}

/** The cgroup's processes (cgroup.procs of its cpu hierarchy), or [] when it is gone. */
function procsOf(dir: string | null): number[] {
  const t = dir ? readText(`${dir}/cgroup.procs`) : null;
  return t ? t.split('\n').filter((l) => /^\d{1,10}$/.test(l)).map(Number) : [];
}

// ----- 1. cap a at half a CPU ------------------------------------------------------------------

const CAP = 'cap-a';

export const capHalf: Step = {
  id: 'cap-at-half',
  title: 'Challenge: cap a at half a CPU',
  checks: [],
  hint: 'A quota is CPU time per period: quota ÷ period is the fraction of one CPU.',
  challenge: {
    get goal() {
      return (
        'Sandbox a runs an endless loop that takes a whole CPU. Cap it at 50 % of one CPU by writing its cgroup files ' +
        `yourself (no sandbox command): ${fileNames('cpu.cfs_quota_us and cpu.cfs_period_us', 'cpu.max')} in $A_CG. ` +
        'The checks read the quota back and measure what a really gets.'
      );
    },
    tools: ['echo >', 'cat'],
    writes: 'cgroup files',
    setup: async (ctx) => {
      await startLoops(ctx, [CAP]);
    },
    vars: (ctx) => [
      { name: 'A', value: String(ctx.get(CAP)?.pid ?? ''), about: "host PID of a's busy loop" },
      { name: 'A_CG', value: cgroupDirOf(ctx, CAP, 'cpu') ?? '(none)', about: "a's cgroup directory (cpu controller)" },
    ],
    checks: [
      {
        label: 'the kernel holds a quota of 50 % of one CPU',
        run: (ctx) => {
          const q = quotaOf(cgroupDirOf(ctx, CAP, 'cpu'));
          return verdict(q.probe, cgroups().version === 2 ? '50000 100000 (or any quota = period ÷ 2)' : 'quota ÷ period = 0.5 (50000 and 100000)', q.text, q.percent !== null && Math.abs(q.percent - 50) < 0.01);
        },
      },
      {
        label: `a gets at most ${50 + CAP_SLACK_PP} % of one CPU, and the kernel throttles it`,
        run: async (ctx) => {
          const a = ctx.get(CAP);
          if (!a) return noSandbox('a');
          const dir = cgroupDirOf(ctx, CAP, 'cpu');
          const m = await recentUsage(ctx, CAP, [a]);
          const used = m.percent[0];
          // Throttled periods prove the ceiling is the quota's, not other work taking the CPU.
          // Under heavy other work on the pinned CPU, a may not get even its quota, and is then
          // never throttled: that passes only with the quota in place and a clearly under it.
          const capped = quotaOf(dir).percent;
          const starved = m.throttled[0] === 0 && capped !== null && Math.abs(capped - 50) < 0.01 && used < 50 - CAP_SLACK_PP;
          return verdict(
            `${cgroups().version === 2 ? `${dir}/cpu.stat usage_usec` : `${cgroupDirOf(ctx, CAP, 'cpuacct')}/cpuacct.usage`} read twice, ${(m.ms / 1000).toFixed(1)} s apart; nr_throttled in ${dir}/cpu.stat`,
            `a over 0 % and at most ${50 + CAP_SLACK_PP} % of one CPU; nr_throttled growing (or other work leaving a less than its quota)`,
            `a ${pct(used)}; ${m.throttled[0]} throttled period(s) in the window${starved ? '; other work on its CPU left a less than its quota' : ''}`,
            used > 0 && used <= 50 + CAP_SLACK_PP && (m.throttled[0] > 0 || starved),
          );
        },
      },
    ],
    hints: [
      {
        when: {
          probe: 'quota ÷ period from $A_CG (cpu.max, or cpu.cfs_quota_us and cpu.cfs_period_us)',
          holds: (ctx) => {
            const q = quotaOf(cgroupDirOf(ctx, CAP, 'cpu'));
            return q.percent !== null && Math.abs(q.percent - 50) >= 0.01;
          },
        },
        text: 'There is a quota, but not of 50 %: the fraction of one CPU is quota ÷ period, both in µs (50000 every 1000000 is 5 %). Read both back with cat and make the quota half the period.',
        get reach() {
          return cgroups().version === 2
            ? ['echo "50000 1000000" > $A_CG/cpu.max']
            : ['echo 1000000 > $A_CG/cpu.cfs_period_us', 'echo 50000 > $A_CG/cpu.cfs_quota_us'];
        },
      },
      {
        when: {
          probe: 'cat $A_CG/cpu.shares (v1) or $A_CG/cpu.weight (v2), and the quota',
          holds: (ctx) => {
            const dir = cgroupDirOf(ctx, CAP, 'cpu');
            const w = weightOf(dir);
            return w !== null && w !== weightName().dflt && quotaOf(dir).percent === null;
          },
        },
        text: 'You changed a\'s weight, but a weight only divides a CPU between groups that compete for it. a is alone on its CPU, so it still gets all of it. A ceiling that holds even on an idle CPU is a quota.',
        get reach() {
          return cgroups().version === 2 ? ['echo 50 > $A_CG/cpu.weight'] : ['echo 512 > $A_CG/cpu.shares'];
        },
      },
      {
        text: `The quota lives in ${fileNames('cpu.cfs_quota_us (µs per period) next to cpu.cfs_period_us', 'cpu.max, as "QUOTA PERIOD" in µs')}. Half a CPU is a quota of half the period.`,
      },
    ],
    failStates: [
      {
        when: {
          probe: 'cat $A_CG/cgroup.procs',
          holds: (ctx) => ctx.get(CAP) !== undefined && procsOf(cgroupDirOf(ctx, CAP, 'cpu')).length === 0,
        },
        text: 'a\'s loop is gone (killed, or moved out of $A_CG), so there is nothing left to cap or to measure. Reset the challenge (R) for a new one.',
        reach: ['kill -KILL $A', 'sleep 0.3'],
      },
    ],
    get solution() {
      return cgroups().version === 2
        ? ['echo "50000 100000" > $A_CG/cpu.max']
        : ['echo 100000 > $A_CG/cpu.cfs_period_us', 'echo 50000 > $A_CG/cpu.cfs_quota_us'];
    },
    settleMs: 10_000,
  },
};

// ----- 2. split a CPU 25/75 with weights -------------------------------------------------------

const SX = 'split-x';
const SY = 'split-y';
/** A split is measured over at least this long: a few hundred scheduler slices. */
const SPLIT_WINDOW_MS = 2000;

function loopsGone(ctx: LessonContext, keys: string[]): boolean {
  return keys.every((k) => ctx.get(k)) && keys.some((k) => procsOf(cgroupDirOf(ctx, k, 'cpu')).length === 0);
}

export const splitByWeight: Step = {
  id: 'split-by-weight',
  title: 'Challenge: 25 % and 75 % with weights',
  checks: [],
  hint: 'Under contention each group gets its weight ÷ the sum of the weights.',
  challenge: {
    get goal() {
      return (
        'Sandboxes x and y each run an endless loop on the same single CPU, so they split it 50/50. Make x get 25 % and y 75 % ' +
        `of the CPU time the two use, with weights only (no quota): ${fileNames('cpu.shares', 'cpu.weight')} in $X_CG and $Y_CG.`
      );
    },
    tools: ['echo >', 'cat'],
    writes: 'cgroup files',
    setup: async (ctx) => {
      await startLoops(ctx, [SX, SY]);
    },
    vars: (ctx) => [
      { name: 'X', value: String(ctx.get(SX)?.pid ?? ''), about: "host PID of x's busy loop" },
      { name: 'X_CG', value: cgroupDirOf(ctx, SX, 'cpu') ?? '(none)', about: "x's cgroup directory (cpu controller)" },
      { name: 'Y', value: String(ctx.get(SY)?.pid ?? ''), about: "host PID of y's busy loop" },
      { name: 'Y_CG', value: cgroupDirOf(ctx, SY, 'cpu') ?? '(none)', about: "y's cgroup directory (cpu controller)" },
    ],
    checks: [
      {
        label: "y's weight is three times x's",
        run: (ctx) => {
          const { file } = weightName();
          const wx = weightOf(cgroupDirOf(ctx, SX, 'cpu'));
          const wy = weightOf(cgroupDirOf(ctx, SY, 'cpu'));
          return verdict(`cat $X_CG/${file} $Y_CG/${file}`, `${file}: y = 3 × x`, `x ${wx ?? '(unreadable)'}, y ${wy ?? '(unreadable)'}`, wx !== null && wy !== null && wy === 3 * wx);
        },
      },
      {
        label: `x gets 25 % (±${SPLIT_TOLERANCE_PP}) of what the two use, y the rest, with no quota on either`,
        run: async (ctx) => {
          const x = ctx.get(SX);
          const y = ctx.get(SY);
          if (!x) return noSandbox('x');
          if (!y) return noSandbox('y');
          const quotas = [SX, SY].map((k) => quotaOf(cgroupDirOf(ctx, k, 'cpu')).percent);
          const m = await recentUsage(ctx, SX, [x, y], SPLIT_WINDOW_MS);
          return verdict(
            `CPU time of x and y (${cgroups().version === 2 ? 'cpu.stat usage_usec' : 'cpuacct.usage'}) read twice, ${(m.ms / 1000).toFixed(1)} s apart; the quota files`,
            'x 25 %, y 75 %; no quota',
            `x ${pct(m.shares[0])}, y ${pct(m.shares[1])}${quotas.some((q) => q !== null) ? `; quota: x ${quotas[0] === null ? 'none' : pct(quotas[0])}, y ${quotas[1] === null ? 'none' : pct(quotas[1])}` : ''}`,
            Math.abs(m.shares[0] - 25) <= SPLIT_TOLERANCE_PP && m.usec[0] > 0 && m.usec[1] > 0 && quotas.every((q) => q === null),
          );
        },
      },
    ],
    hints: [
      {
        when: {
          probe: 'the quota files in $X_CG and $Y_CG',
          holds: (ctx) => [SX, SY].some((k) => quotaOf(cgroupDirOf(ctx, k, 'cpu')).percent !== null),
        },
        text:
          'That is a quota, a ceiling: x would stay at 25 % even when y sleeps and the CPU idles. The goal is a weight, which divides only what is contested and lends the rest. ' +
          'Remove the quota (v1: echo -1 > cpu.cfs_quota_us; v2: echo max > cpu.max) and set the weights.',
        get reach() {
          return cgroups().version === 2 ? ['echo "25000 100000" > $X_CG/cpu.max'] : ['echo 25000 > $X_CG/cpu.cfs_quota_us'];
        },
      },
      {
        when: {
          probe: 'cat $X_CG/cpu.shares $Y_CG/cpu.shares (v2: cpu.weight)',
          holds: (ctx) => {
            const wx = weightOf(cgroupDirOf(ctx, SX, 'cpu'));
            const wy = weightOf(cgroupDirOf(ctx, SY, 'cpu'));
            return wx !== null && wy !== null && wx === 3 * wy;
          },
        },
        text: 'The other way round: x now has three times y\'s weight, so x gets 75 %. The bigger weight goes to the one that should get more.',
        get reach() {
          return cgroups().version === 2 ? ['echo 300 > $X_CG/cpu.weight'] : ['echo 3072 > $X_CG/cpu.shares'];
        },
      },
      {
        when: {
          probe: 'cat $X_CG/cpu.shares $Y_CG/cpu.shares (v2: cpu.weight)',
          holds: (ctx) => {
            const { dflt } = weightName();
            const wx = weightOf(cgroupDirOf(ctx, SX, 'cpu'));
            const wy = weightOf(cgroupDirOf(ctx, SY, 'cpu'));
            return wx !== null && wy !== null && !(wx === dflt && wy === dflt) && wy !== 3 * wx && wx !== 3 * wy;
          },
        },
        text: 'A weight means nothing alone: x gets x ÷ (x + y). With y still at the default, x at a quarter of it gives x 20 %, not 25 %. Make y three times x.',
        get reach() {
          return cgroups().version === 2 ? ['echo 25 > $X_CG/cpu.weight'] : ['echo 256 > $X_CG/cpu.shares'];
        },
      },
      { text: `Weights are in ${fileNames('cpu.shares (default 1024)', 'cpu.weight (default 100)')}. Only the ratio matters: 1 : 3.` },
    ],
    failStates: [
      {
        when: { probe: 'cat $X_CG/cgroup.procs $Y_CG/cgroup.procs', holds: (ctx) => loopsGone(ctx, [SX, SY]) },
        text: 'A loop is gone (killed, or moved out of its cgroup): with one group idle there is nothing to split. Reset the challenge (R).',
        reach: ['kill -KILL $Y', 'sleep 0.3'],
      },
    ],
    get solution() {
      return cgroups().version === 2
        ? ['echo 25 > $X_CG/cpu.weight', 'echo 75 > $Y_CG/cpu.weight']
        : ['echo 256 > $X_CG/cpu.shares', 'echo 768 > $Y_CG/cpu.shares'];
    },
    settleMs: 15_000,
  },
};

// ----- 3. read a split from the weights --------------------------------------------------------

const WX = 'share-x';
const WY = 'share-y';
/** Weight ratios x : y the setup picks from; x's share is a whole number of % for each. */
const RATIOS: [number, number][] = [
  [1, 4],
  [1, 3],
  [2, 3],
  [3, 7],
];

export const readTheWeights: Step = {
  id: 'read-the-weights',
  title: 'Challenge: read a split from the weights',
  checks: [],
  hint: 'Each group\'s part of a contested CPU is its weight ÷ the sum of the weights.',
  challenge: {
    get goal() {
      return `Sandboxes x and y loop on one CPU; the setup gave them weights (${fileNames('cpu.shares', 'cpu.weight')} in $X_CG and $Y_CG). Work out from the kernel's files what part of the CPU x gets, then check it by measuring if you like.`;
    },
    tools: ['cat', 'echo $(( ))'],
    setup: async (ctx) => {
      await startLoops(ctx, [WX, WY]);
      const [rx, ry] = RATIOS[Math.floor(Math.random() * RATIOS.length)];
      const k = cgroups().version === 2 ? 50 : 512;
      const { file } = weightName();
      for (const [key, w] of [[WX, rx * k], [WY, ry * k]] as const) {
        const dir = cgroupDirOf(ctx, key, 'cpu');
        if (!dir) throw new Error(`sandbox ${key} has no cpu cgroup`);
        fs.writeFileSync(`${dir}/${file}`, String(w));
        ctx.log({ command: `echo ${w} > ${dir}/${file}`, syscall: `write("${dir}/${file}", "${w}")` });
      }
    },
    vars: (ctx) => [
      { name: 'X_CG', value: cgroupDirOf(ctx, WX, 'cpu') ?? '(none)', about: "x's cgroup directory (cpu controller)" },
      { name: 'Y_CG', value: cgroupDirOf(ctx, WY, 'cpu') ?? '(none)', about: "y's cgroup directory (cpu controller)" },
    ],
    checks: [],
    hints: [{ text: `cat both weight files (${fileNames('cpu.shares', 'cpu.weight')}); x gets 100 × x ÷ (x + y) %. To measure: read cpuacct.usage (v1) or usage_usec in cpu.stat (v2) of both, twice, a second apart.` }],
    questions: [
      {
        id: 'x-share',
        question: 'Both loops want the whole CPU. What % of the CPU time the two use does x get? (a whole number)',
        compare: 'number',
        answer: (ctx) => {
          const { file } = weightName();
          const wx = weightOf(cgroupDirOf(ctx, WX, 'cpu'));
          const wy = weightOf(cgroupDirOf(ctx, WY, 'cpu'));
          return {
            probe: `echo $(( 100 * $(cat $X_CG/${file}) / ($(cat $X_CG/${file}) + $(cat $Y_CG/${file})) ))`,
            value: wx === null || wy === null || wx + wy <= 0 ? '(unreadable)' : String(Math.floor((100 * wx) / (wx + wy))),
          };
        },
        explanation: 'The scheduler hands out a contested CPU in proportion to the weights of the groups that want it: x ÷ (x + y). The numbers themselves mean nothing alone.',
      },
      {
        id: 'x-half',
        question: "What weight would x need for the two to split the CPU 50/50, y's weight unchanged?",
        compare: 'number',
        answer: (ctx) => {
          const { file } = weightName();
          const wy = weightOf(cgroupDirOf(ctx, WY, 'cpu'));
          return { probe: `cat $Y_CG/${file}`, value: wy === null ? '(unreadable)' : String(wy) };
        },
        explanation: 'Equal weights, equal halves, whatever the number: y\'s own weight.',
      },
    ],
    get solution() {
      const { file } = weightName();
      return [`cat $X_CG/${file} $Y_CG/${file}`, `echo $(( 100 * $(cat $X_CG/${file}) / ($(cat $X_CG/${file}) + $(cat $Y_CG/${file})) ))`];
    },
  },
};

export const CHALLENGES: Step[] = [capHalf, splitByWeight, readTheWeights];
