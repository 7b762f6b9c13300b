/**
 * The fork-bomb challenges.
 *  1. stop-at-twenty: a's PID 1 is a fuse: `kill -USR1 $A` makes it exec the lesson's bomb (under
 *     `timeout`, 30 s at most). The learner writes pids.max = 20 before lighting it; lit with the
 *     setup's safety limit (200), the bomb fills 200 and lowering pids.max then kills nobody: a
 *     fail-state, reset.
 *  2. end-it-yourself: b's bomb filled its (random) pids.max and was frozen there (no CPU, stable
 *     counters); the learner reads the refused forks from pids.events and ends every process with
 *     the cgroup's own files (v2 cgroup.kill; v1 freeze, SIGKILL, thaw).
 *
 * Safety (as the guided steps): a bomb only ever runs inside a sandbox whose pids.max is set
 * before anything starts (200 for the fuse, at most 32 for b, both far below
 * FORK_BOMB_MAX_PIDS), pinned to the lesson's CPU, in its own PID namespace, and bounded in time
 * (the fuse's `timeout`, b's ForkBomb deadline); the sandboxes are destroyed with the challenge.
 * The bomb runs entirely inside the sandbox (all its cgroups, its cpuset), never in the bench.
 */
import fs from 'node:fs';

import { cgroups, FORK_BOMB_COMMAND, type ForkBomb, startForkBomb } from '../../runtime/index.js';
import { cgroupDirOf, procsOf, readInt } from '../challenge-probes.js';
import { noSandbox, settle, verdict } from '../checks.js';
import type { LessonContext } from '../context.js';
import { pinnedCpu } from '../pinned-cpu.js';
import type { Step } from '../types.js';

const TARGET = 20;
/** The fuse sandbox's limit before the learner writes theirs: the bomb is never without one. */
const SAFETY_PIDS = 200;
/** How long a lit bomb runs at most (s). */
const BURN_S = 30;
/** b's bomb: ended after this long whatever happens (the runtime's maximum is 10 min). */
const FROZEN_DEADLINE_MS = 600_000;
/** b's limit, picked at random: the answer is read from the kernel, not known in advance. */
const B_LIMITS = [16, 24, 32];

/**
 * a's PID 1: waits for SIGUSR1 (a pid-namespace init receives only signals it has a handler for,
 * so the trap is what lets the host's kill through), then becomes `timeout`, which runs the bomb
 * and kills its whole process group after BURN_S s; when PID 1 exits, the kernel kills whatever is
 * left in the namespace.
 */
const FUSE = `trap 'lit=1' USR1; while [ -z "$lit" ]; do sleep 1; done; exec timeout -s KILL ${BURN_S} ${FORK_BOMB_COMMAND.map((a) => (a.includes(' ') ? `'${a}'` : a)).join(' ')}`;

/** "max N" of pids.events: forks refused because of pids.max. */
function refusedOf(dir: string | null): number | null {
  try {
    const m = dir ? /^max (\d{1,19})$/m.exec(fs.readFileSync(`${dir}/pids.events`, 'utf8')) : null;
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}


// ----- 1. stop the bomb at 20 --------------------------------------------------------------------

const FA = 'fuse-a';

export const stopAtTwenty: Step = {
  id: 'stop-at-twenty',
  title: 'Challenge: stop a bomb at 20 processes',
  checks: [],
  hint: 'pids.max counts every task in the cgroup, and it only refuses new ones: it never kills.',
  challenge: {
    goal:
      `Sandbox a holds an unlit fork bomb: \`kill -USR1 $A\` lights it, and it then forks for up to ${BURN_S} s. a's cgroup allows ${SAFETY_PIDS} processes for now. ` +
      `Make the bomb stop at exactly ${TARGET} processes, a's PID 1 included, by writing a's cgroup file yourself (pids.max in $A_CG: the same name on cgroup v1 and v2), then light it.`,
    tools: ['echo >', 'cat', 'kill'],
    writes: 'cgroup files',
    setup: async (ctx) => {
      const cpu = await pinnedCpu(ctx, "The bomb's sandbox is");
      await ctx.sandbox(FA, { namespaces: ['pid', 'mount'], limits: { pids: SAFETY_PIDS, cpus: String(cpu) }, command: ['sh', '-c', FUSE] });
    },
    vars: (ctx) => [
      { name: 'A', value: String(ctx.get(FA)?.pid ?? ''), about: "host PID of a's PID 1, the fuse (kill -USR1 lights it)" },
      { name: 'A_CG', value: cgroupDirOf(ctx, FA, 'pids') ?? '(none)', about: "a's cgroup directory (pids controller)" },
    ],
    checks: [
      {
        label: `the kernel holds pids.max = ${TARGET} for a`,
        run: (ctx) => {
          const max = readInt(`${cgroupDirOf(ctx, FA, 'pids')}/pids.max`);
          return verdict('cat $A_CG/pids.max', String(TARGET), String(max ?? 'max'), max === TARGET);
        },
      },
      {
        label: `the bomb runs, held at ${TARGET} processes: the kernel refuses its other forks`,
        run: (ctx) => {
          if (!ctx.get(FA)) return noSandbox('a');
          const dir = cgroupDirOf(ctx, FA, 'pids');
          const current = readInt(`${dir}/pids.current`);
          const refused = refusedOf(dir);
          return verdict(
            'cat $A_CG/pids.current; grep max $A_CG/pids.events',
            `pids.current ${TARGET}; max above 0`,
            `pids.current ${current ?? '(unreadable)'}; max ${refused ?? '(unreadable)'}`,
            current === TARGET && (refused ?? 0) > 0,
          );
        },
      },
    ],
    hints: [
      {
        when: {
          probe: 'cat $A_CG/pids.max',
          holds: (ctx) => {
            const max = readInt(`${cgroupDirOf(ctx, FA, 'pids')}/pids.max`);
            return max !== null && max !== TARGET && max !== SAFETY_PIDS && max >= TARGET - 2 && max <= TARGET + 2;
          },
        },
        text: `Close: pids.max counts every process and thread in the cgroup, a's PID 1 (the fuse, then timeout) included. ${TARGET} in all means pids.max ${TARGET}.`,
        reach: [`echo ${TARGET - 1} > $A_CG/pids.max`],
      },
      {
        when: {
          probe: 'cat $A_CG/pids.max $A_CG/pids.current',
          holds: (ctx) => {
            const dir = cgroupDirOf(ctx, FA, 'pids');
            return readInt(`${dir}/pids.max`) === TARGET && (readInt(`${dir}/pids.current`) ?? 0) <= 2 && (refusedOf(dir) ?? 0) === 0;
          },
        },
        text: 'The limit is in place and the bomb is not lit yet. Light it: kill -USR1 $A, and watch pids.current and pids.events.',
        reach: [`echo ${TARGET} > $A_CG/pids.max`],
      },
      { text: `The limit lives in $A_CG/pids.max; write it before the bomb starts (echo ${TARGET} > …). pids.current shows how many are in the group, pids.events how many forks were refused.` },
    ],
    failStates: [
      {
        when: {
          probe: 'cat $A_CG/pids.current',
          holds: (ctx) => (readInt(`${cgroupDirOf(ctx, FA, 'pids')}/pids.current`) ?? 0) > TARGET,
        },
        text: `The bomb went off with room for more than ${TARGET}. Lowering pids.max now refuses new forks but kills nobody: the ones already there stay until the bomb burns out (${BURN_S} s). Reset the challenge (R) and set the limit first.`,
        reach: ['kill -USR1 $A', 'sleep 3'],
      },
      {
        when: {
          probe: 'cat $A_CG/cgroup.procs',
          holds: (ctx) => ctx.get(FA) !== undefined && procsOf(cgroupDirOf(ctx, FA, 'pids')).length === 0,
        },
        text: `Sandbox a is empty: its PID 1 was killed, or the bomb burnt out after its ${BURN_S} s (when a namespace's PID 1 ends, the kernel kills the rest). Reset the challenge (R).`,
        reach: ['kill -KILL $A', 'sleep 0.5'],
      },
    ],
    solution: [`echo ${TARGET} > $A_CG/pids.max`, 'kill -USR1 $A'],
    settleMs: 10_000,
  },
};

// ----- 2. count the refusals, end it yourself ----------------------------------------------------

const FB = 'frozen-b';

function freezerDir(ctx: LessonContext): string | null {
  return cgroups().version === 2 ? cgroupDirOf(ctx, FB, 'pids') : cgroupDirOf(ctx, FB, 'freezer');
}

/** Whether b's group is frozen now (v2 cgroup.freeze 1; v1 freezer.state FROZEN). */
function frozen(ctx: LessonContext): boolean {
  const d = freezerDir(ctx);
  try {
    return cgroups().version === 2 ? fs.readFileSync(`${d}/cgroup.freeze`, 'utf8').trim() === '1' : fs.readFileSync(`${d}/freezer.state`, 'utf8').trim() === 'FROZEN';
  } catch {
    return false;
  }
}

function freezeFile(): string {
  return cgroups().version === 2 ? 'cgroup.freeze' : 'freezer.state';
}

export const endItYourself: Step = {
  id: 'end-it-yourself',
  title: 'Challenge: count the refusals, then end the bomb yourself',
  checks: [],
  hint: 'A frozen group cannot fork; its members can still be killed (on v1 they die when thawed).',
  challenge: {
    get goal() {
      return (
        "Sandbox b's bomb filled its pids.max and was frozen there, so it takes no CPU while you look. Find out how many forks the kernel refused it, then end every one of its processes " +
        `yourself through its cgroup files (${cgroups().version === 2 ? 'cgroup v2: cgroup.kill in $B_CG; on v1 the freezer and kill' : 'cgroup v1: freezer.state in $B_FREEZER and kill; on v2 one write to cgroup.kill'}), leaving the cgroup empty.`
      );
    },
    tools: ['cat', 'grep', 'echo >', 'kill'],
    writes: 'cgroup files',
    setup: async (ctx) => {
      const cpu = await pinnedCpu(ctx, "The bomb's sandbox is");
      const limit = B_LIMITS[Math.floor(Math.random() * B_LIMITS.length)];
      const s = await ctx.sandbox(FB, { namespaces: ['pid', 'mount'], init: true, limits: { pids: limit, cpus: String(cpu) } });
      const bomb: ForkBomb = await startForkBomb(s, { deadlineMs: FROZEN_DEADLINE_MS });
      ctx.defer(() => void bomb.kill());
      await settle(
        () => s.usage(),
        (u) => u !== null && u.pidsCurrent === u.pidsMax && (u.pidsRefused ?? 0) > 0,
        15_000,
      );
      const d = freezerDir(ctx);
      if (!d) throw new Error('sandbox b has no freezer');
      const file = `${d}/${freezeFile()}`;
      const value = cgroups().version === 2 ? '1' : 'FROZEN';
      fs.writeFileSync(file, value);
      ctx.log({ command: `echo ${value} > ${file}`, syscall: `write("${file}", "${value}")`, note: 'the bomb is frozen where it stands' });
      await settle(() => frozen(ctx), (f) => f, 3000);
    },
    vars: (ctx) => [
      { name: 'B', value: String(ctx.get(FB)?.pid ?? ''), about: "host PID of b's PID 1 (sandbox-init)" },
      { name: 'B_CG', value: cgroupDirOf(ctx, FB, 'pids') ?? '(none)', about: "b's cgroup directory (pids controller)" },
      ...(cgroups().version === 1 ? [{ name: 'B_FREEZER', value: freezerDir(ctx) ?? '(none)', about: "b's cgroup directory (freezer controller)" }] : []),
    ],
    checks: [
      {
        label: "b's cgroup is empty: every process of the bomb has ended",
        run: async (ctx) => {
          if (!ctx.get(FB)) return noSandbox('b');
          const dir = cgroupDirOf(ctx, FB, 'pids');
          // A killed process leaves cgroup.procs at once but counts in pids.current until reaped.
          const current = await settle(() => readInt(`${dir}/pids.current`), (n) => n === 0, 300);
          const procs = procsOf(dir);
          return verdict(
            'cat $B_CG/cgroup.procs $B_CG/pids.current',
            'no pids; pids.current 0',
            `${procs.length ? `${procs.length} pids` : 'no pids'}; pids.current ${current ?? '(unreadable)'}`,
            procs.length === 0 && current === 0,
          );
        },
      },
    ],
    hints: [
      {
        when: {
          probe: 'cat $B_CG/cgroup.freeze (v2) or $B_FREEZER/freezer.state (v1); cat $B_CG/cgroup.procs',
          holds: (ctx) => ctx.get(FB) !== undefined && !frozen(ctx) && procsOf(cgroupDirOf(ctx, FB, 'pids')).length > 1,
        },
        text:
          "Thawed and alive, the bomb forks again: every process you kill one by one is replaced at once. Freeze it again first (a frozen process cannot fork), or end them all together: on v2 one write to cgroup.kill; or kill b's PID 1 (the kernel then kills its whole PID namespace).",
        get reach() {
          return cgroups().version === 2 ? ['echo 0 > $B_CG/cgroup.freeze'] : ['echo THAWED > $B_FREEZER/freezer.state'];
        },
      },
      {
        text:
          'The refused forks are the "max" line of $B_CG/pids.events. To end the group: v2: echo 1 > $B_CG/cgroup.kill. v1: kill -KILL every PID in $B_CG/cgroup.procs while frozen, then echo THAWED > $B_FREEZER/freezer.state so that they can die.',
      },
    ],
    questions: [
      {
        id: 'refused-forks',
        question: "How many forks has the kernel refused b's bomb (pids.events)?",
        compare: 'number',
        answer: (ctx) => {
          const n = refusedOf(cgroupDirOf(ctx, FB, 'pids'));
          return { probe: "grep '^max ' $B_CG/pids.events | cut -d' ' -f2", value: n === null ? '(unreadable)' : String(n) };
        },
        explanation: 'Each refused fork failed with EAGAIN inside the sandbox and was counted in pids.events; the host never saw them.',
      },
    ],
    get solution() {
      return cgroups().version === 2
        ? ["grep '^max ' $B_CG/pids.events | cut -d' ' -f2", 'echo 1 > $B_CG/cgroup.kill']
        : ["grep '^max ' $B_CG/pids.events | cut -d' ' -f2", 'kill -KILL $(cat $B_CG/cgroup.procs)', 'echo THAWED > $B_FREEZER/freezer.state'];
    },
  },
};

export const CHALLENGES: Step[] = [stopAtTwenty, endItYourself];
