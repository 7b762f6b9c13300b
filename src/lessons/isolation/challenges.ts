/**
 * The isolation challenges.
 *  1. give-it-back: x (the victim) and y (a CPU hog) share the lesson's CPU with equal weights;
 *     the learner writes y's CPU weight so that x gets its CPU back, y still running.
 *  2. count-the-kills: y's memory hog ran N workers (N at random) into a 32 MiB memory limit; the
 *     learner reads from the kernel how many the OOM killer ended.
 *
 * Both pin their sandboxes to the lesson's CPU; the hogs end on their own (stress-ng --timeout)
 * and with the challenge's sandboxes.
 */
import fs from 'node:fs';

import { cgroups } from '../../runtime/index.js';
import { cgroupDirOf, procsOf, readInt } from '../challenge-probes.js';
import { noSandbox, settle, verdict } from '../checks.js';
import type { LessonContext } from '../context.js';
import { pinnedCpu } from '../pinned-cpu.js';
import type { Step } from '../types.js';

const HOG_S = 900;

const v2 = () => cgroups().version === 2;
const weightFile = () => (v2() ? 'cpu.weight' : 'cpu.shares');

function weightOf(ctx: LessonContext, key: string): number | null {
  return readInt(`${cgroupDirOf(ctx, key, 'cpu')}/${weightFile()}`);
}

/** y has a hard quota (v1 cpu.cfs_quota_us not -1, v2 cpu.max not "max …"). */
function hasQuota(ctx: LessonContext, key: string): boolean {
  const dir = cgroupDirOf(ctx, key, 'cpu');
  try {
    if (v2()) return !fs.readFileSync(`${dir}/cpu.max`, 'utf8').startsWith('max');
    return fs.readFileSync(`${dir}/cpu.cfs_quota_us`, 'utf8').trim() !== '-1';
  } catch {
    return false;
  }
}

// ----- 1. give the victim its CPU back ------------------------------------------------------------

const X = 'ch-x';
const Y = 'ch-y';

export const giveItBack: Step = {
  id: 'give-it-back',
  title: 'Challenge: give the victim its CPU back',
  checks: [],
  hint: 'A weight is relative: what counts is y\'s against x\'s.',
  challenge: {
    get goal() {
      return (
        'x (the victim) and y (a CPU hog) share one CPU with the same weight, so x gets half of it. Without stopping y, make the kernel give x at least 90 % of the CPU while both want it, ' +
        `by writing y's cgroup file yourself (${weightFile()} in $Y_CG; ${v2() ? 'cgroup v2: 1–10000, default 100' : 'cgroup v1: 2–262144, default 1024'}).`
      );
    },
    tools: ['cat', 'echo >'],
    writes: 'cgroup files',
    setup: async (ctx) => {
      const cpu = await pinnedCpu(ctx, 'The victim and every neighbour are');
      const hog = ['stress-ng', '--cpu', '1', '--cpu-method', 'int64', '--timeout', `${HOG_S}s`];
      await ctx.sandbox(X, { namespaces: ['pid', 'mount'], limits: { cpus: String(cpu) }, command: hog });
      await ctx.sandbox(Y, { namespaces: ['pid', 'mount'], limits: { cpus: String(cpu) }, command: hog });
    },
    vars: (ctx) => [
      { name: 'X', value: String(ctx.get(X)?.pid ?? ''), about: "host PID of x's PID 1 (the victim's work)" },
      { name: 'Y', value: String(ctx.get(Y)?.pid ?? ''), about: "host PID of y's PID 1 (the hog)" },
      { name: 'X_CG', value: cgroupDirOf(ctx, X, 'cpu') ?? '(none)', about: "x's cgroup directory (cpu controller)" },
      { name: 'Y_CG', value: cgroupDirOf(ctx, Y, 'cpu') ?? '(none)', about: "y's cgroup directory (cpu controller)" },
    ],
    checks: [
      {
        label: "x's weight is at least 9 times y's, y's hog still running: x gets 90 % or more of the CPU while both want it",
        run: (ctx) => {
          if (!ctx.get(Y)) return noSandbox('y');
          const x = weightOf(ctx, X);
          const y = weightOf(ctx, Y);
          const n = procsOf(cgroupDirOf(ctx, Y, 'cpu')).length;
          const f = weightFile();
          return verdict(
            `cat $X_CG/${f} $Y_CG/${f}; wc -l < $Y_CG/cgroup.procs`,
            'x ≥ 9 × y; y runs (1 process or more)',
            `x ${x ?? '?'}, y ${y ?? '?'}; y runs ${n}`,
            x !== null && y !== null && y > 0 && x >= 9 * y && n >= 1,
          );
        },
      },
    ],
    hints: [
      {
        when: { probe: v2() ? 'cat $Y_CG/cpu.max' : 'cat $Y_CG/cpu.cfs_quota_us', holds: (ctx) => hasQuota(ctx, Y) },
        text: 'A quota caps y even when x sleeps and the CPU is idle: it wastes what nobody else wants. The goal asks for a share that holds only while both want the CPU: a weight.',
        get reach() {
          return v2() ? ['echo "10000 100000" > $Y_CG/cpu.max'] : ['echo 10000 > $Y_CG/cpu.cfs_quota_us'];
        },
      },
      {
        when: {
          probe: `cat $X_CG/${weightFile()} $Y_CG/${weightFile()}`,
          holds: (ctx) => {
            const x = weightOf(ctx, X);
            const y = weightOf(ctx, Y);
            return x !== null && y !== null && y < x && x < 9 * y;
          },
        },
        text: 'Better, not enough: x gets x / (x + y) of the CPU. For 90 %, y must be at most a ninth of x.',
        get reach() {
          return [v2() ? 'echo 50 > $Y_CG/cpu.weight' : 'echo 512 > $Y_CG/cpu.shares'];
        },
      },
      { text: `Each group gets its weight's part of a busy CPU: x / (x + y). Read $X_CG/${weightFile()}, then write a small enough number into $Y_CG/${weightFile()}.` },
    ],
    failStates: [
      {
        when: { probe: 'cat $Y_CG/cgroup.procs', holds: (ctx) => ctx.get(Y) !== undefined && procsOf(cgroupDirOf(ctx, Y, 'cpu')).length === 0 },
        text: 'y is empty: its hog was killed. Stopping the neighbour is not isolating it: reset the challenge (R) and limit it instead.',
        reach: ['kill -KILL $Y', 'sleep 0.5'],
      },
    ],
    get solution() {
      return [v2() ? 'echo 1 > $Y_CG/cpu.weight' : 'echo 10 > $Y_CG/cpu.shares'];
    },
  },
};

// ----- 2. count the OOM kills ----------------------------------------------------------------------

const M = 'ch-m';
const LIMIT = 32 * 1024 * 1024;

function oomFile(): string {
  return v2() ? 'memory.events' : 'memory.oom_control';
}

function oomKillsOf(ctx: LessonContext): number | null {
  const dir = cgroupDirOf(ctx, M, 'memory');
  try {
    const m = dir ? /^oom_kill (\d{1,19})$/m.exec(fs.readFileSync(`${dir}/${oomFile()}`, 'utf8')) : null;
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

export const countTheKills: Step = {
  id: 'count-the-kills',
  title: 'Challenge: count what the limit stopped',
  checks: [],
  hint: 'The memory controller counts its OOM kills per cgroup.',
  challenge: {
    get goal() {
      return `Sandbox m ran a memory hog with several workers, each wanting 128 MiB, into a memory limit of 32 MiB. The neighbours never noticed. How many of its processes did the kernel's OOM killer end? Read it from m's cgroup ($M_CG).`;
    },
    tools: ['cat', 'grep'],
    setup: async (ctx) => {
      const cpu = await pinnedCpu(ctx, 'The victim and every neighbour are');
      const workers = 2 + Math.floor(Math.random() * 3);
      const m = await ctx.sandbox(M, {
        namespaces: ['pid', 'mount'],
        init: true,
        limits: { cpus: String(cpu), memory: LIMIT },
      });
      // --oomable: a worker the OOM killer ends stays ended, so the count stops at `workers`.
      await m.exec(['stress-ng', '--vm', String(workers), '--vm-bytes', '128M', '--oomable', '--timeout', '60s'], { stdio: 'ignore' });
      await settle(() => oomKillsOf(ctx), (n) => n !== null && n >= workers, 20_000);
      // The count is final once no worker is left (stress-ng's parent waits on, asleep).
      await settle(() => procsOf(cgroupDirOf(ctx, M, 'memory')).length, (n) => n <= 2, 5000);
      ctx.log({ note: 'the hog has met its limit; its parent sleeps on in m' });
    },
    vars: (ctx) => [
      { name: 'M', value: String(ctx.get(M)?.pid ?? ''), about: "host PID of m's PID 1 (sandbox-init)" },
      { name: 'M_CG', value: cgroupDirOf(ctx, M, 'memory') ?? '(none)', about: "m's cgroup directory (memory controller)" },
    ],
    checks: [],
    hints: [
      {
        get text() {
          return `The memory controller keeps its events per group: ${v2() ? 'memory.events (cgroup v2)' : 'memory.oom_control (cgroup v1)'} in $M_CG has an oom_kill line.`;
        },
      },
    ],
    questions: [
      {
        id: 'oom-kills',
        question: "How many processes did the OOM killer end in m's cgroup?",
        compare: 'number',
        answer: (ctx) => {
          const n = oomKillsOf(ctx);
          return { probe: `awk '/^oom_kill /{print $2}' $M_CG/${oomFile()}`, value: n === null ? '(unreadable)' : String(n) };
        },
        explanation:
          'Each worker went over the limit on its own and was killed inside m\'s group: the OOM killer of a memory cgroup chooses only among that group\'s processes. That is what memory.max buys the neighbours: a hog meets its own limit, and nobody else pays.',
      },
    ],
    get solution() {
      return [`awk '/^oom_kill /{print $2}' $M_CG/${oomFile()}`];
    },
  },
};

export const CHALLENGES: Step[] = [giveItBack, countTheKills];
