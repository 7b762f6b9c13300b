/**
 * The cgroups-memory challenges.
 *  1. oom-by-hand: write a memory limit yourself, run a memory hog inside the cgroup (by writing
 *     a shell's PID into cgroup.procs), and watch the OOM killer stop it there and only there.
 *  2. read-the-counters: from the memory controller's own counters, the smallest limit a
 *     program's run never exceeded (its peak), and how many processes the OOM killer took.
 *
 * Every figure is read from the cgroup's files in TypeScript (memory.max / memory.limit_in_bytes,
 * memory.peak / memory.max_usage_in_bytes, oom_kill in memory.events / memory.oom_control); no
 * check spawns a process. The hogs allocate in 4 MiB pieces (Perl's `"x" x N` builds the string
 * once; assigning a whole 40 MiB string at once would briefly hold a copy, twice the memory).
 */
import fs from 'node:fs';
import path from 'node:path';

import { cgroups } from '../../runtime/index.js';
import { cgroupDirOf } from '../challenge-probes.js';
import { noSandbox, settle, verdict } from '../checks.js';
import type { LessonContext } from '../context.js';
import type { Step } from '../types.js';

const MiB = 1024 * 1024;
/** What challenge 1 asks for. */
const LIMIT_MIB = 24;
/** What the hog wants: well past the limit. */
const HOG_MIB = 40;
/** v1's "no limit" is PAGE_COUNTER_MAX pages, 9223372036854771712 on x86-64: anything this big is none. */
const UNLIMITED = 2 ** 50;

/** Allocates (and writes every byte of) 4 MiB at a time up to ARGV[0] MiB; holds it if ARGV[1]. */
const HOG = `$| = 1; my $max = $ARGV[0] // ${HOG_MIB}; my $hold = $ARGV[1] // 0; my @h;
while (4 * @h < $max) { push @h, "x" x 4194304; print 4 * @h, " MiB\\n"; select undef, undef, undef, 0.05 }
if ($hold) { print "holding\\n"; sleep 3600 }
`;

const mib = (b: number | null) => (b === null ? 'none' : `${b} (${(b / MiB).toFixed(1)} MiB)`);

/** A cgroup file holding one integer (bounded: at most 19 digits), or null ("max", unreadable). */
function readInt(file: string): number | null {
  try {
    const t = fs.readFileSync(file, 'utf8').trim();
    return /^\d{1,19}$/.test(t) ? Number(t) : null;
  } catch {
    return null;
  }
}

/** A "key value" line of a keyed file (memory.events, memory.oom_control), or null. */
function readKey(file: string, key: string): number | null {
  try {
    const m = new RegExp(`^${key} (\\d{1,19})$`, 'm').exec(fs.readFileSync(file, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/** The memory controller's files on this host, by meaning. */
function names() {
  return cgroups().version === 2
    ? { limit: 'memory.max', soft: 'memory.high', peak: 'memory.peak', oom: 'memory.events', swap: 'memory.swap.max' }
    : { limit: 'memory.limit_in_bytes', soft: 'memory.soft_limit_in_bytes', peak: 'memory.max_usage_in_bytes', oom: 'memory.oom_control', swap: 'memory.memsw.limit_in_bytes' };
}

/** "memory.max (cgroup v2; on v1: memory.limit_in_bytes)", this host's first. */
function both(v1: string, v2: string): string {
  return cgroups().version === 2 ? `${v2} (cgroup v2; on v1: ${v1})` : `${v1} (cgroup v1; on v2: ${v2})`;
}

function limitOf(dir: string | null): number | null {
  const n = dir ? readInt(`${dir}/${names().limit}`) : null;
  return n === null || n >= UNLIMITED ? null : n;
}

function oomKillsOf(dir: string | null): number | null {
  return dir ? readKey(`${dir}/${names().oom}`, 'oom_kill') : null;
}

function procsOf(dir: string | null): number[] {
  try {
    return dir ? fs.readFileSync(`${dir}/cgroup.procs`, 'utf8').split('\n').filter((l) => /^\d{1,10}$/.test(l)).map(Number) : [];
  } catch {
    return [];
  }
}

// ----- 1. a limit and an OOM kill by hand -------------------------------------------------------

const OA = 'oom-a';

export const oomByHand: Step = {
  id: 'oom-by-hand',
  title: 'Challenge: a limit and an OOM kill, by hand',
  checks: [],
  hint: 'A limit applies to the processes in its cgroup: the hog has to be one of them.',
  challenge: {
    get goal() {
      return (
        `Give sandbox a a hard memory limit of ${LIMIT_MIB} MiB by writing ${both('memory.limit_in_bytes', 'memory.max')} in $A_CG yourself. ` +
        `Then run the memory hog \`perl $WS/hog.pl\` (it wants ${HOG_MIB} MiB) as a member of a's cgroup, and let the kernel's OOM killer stop it there, ` +
        "without touching a's PID 1. (If this host has swap, close it too: memory.swap.max 0 on v2, memory.memsw.limit_in_bytes on v1.)"
      );
    },
    tools: ['echo >', 'cat', 'sh -c', 'perl'],
    writes: 'cgroup files',
    setup: async (ctx) => {
      await ctx.sandbox(OA, { namespaces: ['pid', 'mount'], init: true });
    },
    vars: (ctx) => {
      // The hog goes in the challenge's scratch directory ($WS), made before the variables are
      // asked for, so that it goes with the challenge.
      const ws = ctx.getWorkspace('ws');
      if (ws) fs.writeFileSync(path.join(ws.path, 'hog.pl'), HOG, { mode: 0o644 });
      return [
        { name: 'A', value: String(ctx.get(OA)?.pid ?? ''), about: "host PID of a's PID 1 (sandbox-init)" },
        { name: 'A_CG', value: cgroupDirOf(ctx, OA, 'memory') ?? '(none)', about: "a's cgroup directory (memory controller)" },
      ];
    },
    checks: [
      {
        label: `the kernel holds a hard limit of ${LIMIT_MIB} MiB for a`,
        run: (ctx) => {
          const dir = cgroupDirOf(ctx, OA, 'memory');
          const limit = limitOf(dir);
          return verdict(`cat $A_CG/${names().limit}`, mib(LIMIT_MIB * MiB), mib(limit), limit === LIMIT_MIB * MiB);
        },
      },
      {
        label: "the OOM killer killed a process in a, and only the hog: a's PID 1 still runs",
        run: async (ctx) => {
          const a = ctx.get(OA);
          if (!a) return noSandbox('a');
          const dir = cgroupDirOf(ctx, OA, 'memory');
          // The count moves a moment after the kill: give it that moment on a pass's way.
          const kills = (await settle(() => oomKillsOf(dir), (n) => (n ?? 0) >= 1, 300)) ?? null;
          const alive = procsOf(dir).includes(a.pid);
          return verdict(
            `grep oom_kill $A_CG/${names().oom}; grep -x $A $A_CG/cgroup.procs`,
            `oom_kill 1 or more; ${a.pid} in cgroup.procs`,
            `oom_kill ${kills ?? '(unreadable)'}; ${a.pid} ${alive ? 'in' : 'not in'} cgroup.procs`,
            (kills ?? 0) >= 1 && alive,
          );
        },
      },
    ],
    hints: [
      {
        when: {
          probe: 'cat $A_CG/memory.high (v2) or $A_CG/memory.soft_limit_in_bytes (v1), and the hard limit',
          holds: (ctx) => {
            const dir = cgroupDirOf(ctx, OA, 'memory');
            if (!dir || limitOf(dir) !== null) return false;
            const soft = readInt(`${dir}/${names().soft}`);
            return soft !== null && soft < UNLIMITED;
          },
        },
        text: `That is a soft limit (${both('memory.soft_limit_in_bytes', 'memory.high')}): a level the kernel reclaims toward and throttles at, never a wall, so it never OOM-kills. The hard limit is ${both('memory.limit_in_bytes', 'memory.max')}.`,
        get reach() {
          return [`echo ${LIMIT_MIB}M > $A_CG/${names().soft}`];
        },
      },
      {
        when: {
          probe: 'cat $A_CG/memory.max (v2) or $A_CG/memory.limit_in_bytes (v1)',
          holds: (ctx) => {
            const limit = limitOf(cgroupDirOf(ctx, OA, 'memory'));
            return limit !== null && limit !== LIMIT_MIB * MiB;
          },
        },
        text: `The limit is there, but not ${LIMIT_MIB} MiB: the file is in bytes, and a MiB is 1048576 of them (${LIMIT_MIB}000000 is 22.9 MiB). The kernel also takes a suffix: ${LIMIT_MIB}M.`,
        get reach() {
          return [`echo ${LIMIT_MIB}000000 > $A_CG/${names().limit}`];
        },
      },
      {
        when: {
          probe: 'cat $A_CG/memory.max (v2) or memory.limit_in_bytes (v1); grep oom_kill $A_CG/memory.events (v2) or memory.oom_control (v1)',
          holds: (ctx) => {
            const dir = cgroupDirOf(ctx, OA, 'memory');
            return limitOf(dir) === LIMIT_MIB * MiB && oomKillsOf(dir) === 0;
          },
        },
        text:
          "The limit is in place, and nothing has been killed yet. A limit only holds the processes in a's cgroup: a hog started from your shell runs in the challenge's cgroup instead, and gets its 40 MiB. " +
          "Put a shell into a's cgroup first (echo $$ > $A_CG/cgroup.procs) and start the hog from there: sh -c '…; exec perl $WS/hog.pl'.",
        get reach() {
          return [`echo ${LIMIT_MIB}M > $A_CG/${names().limit}`];
        },
      },
      { text: `Two steps: the limit in ${both('memory.limit_in_bytes', 'memory.max')} (bytes, or with a suffix: 24M), then the hog in a subshell that has written its own PID ($$) into $A_CG/cgroup.procs. Its exit status tells how it ended (137 = SIGKILL).` },
    ],
    failStates: [
      {
        when: {
          probe: 'grep -x $A $A_CG/cgroup.procs',
          holds: (ctx) => {
            const a = ctx.get(OA);
            return a !== undefined && !procsOf(cgroupDirOf(ctx, OA, 'memory')).includes(a.pid);
          },
        },
        text: "a's PID 1 is gone (killed, or taken by the OOM killer under a limit too small for anything), and with it the sandbox. Reset the challenge (R).",
        reach: ['kill -KILL $A', 'sleep 0.3'],
      },
    ],
    get solution() {
      const n = names();
      const limit = `echo ${LIMIT_MIB}M > $A_CG/${n.limit}`;
      // No swap to escape to: v2 closes it outright; v1's memory+swap limit must stay >= the memory limit.
      const swap = cgroups().version === 2 ? `[ ! -e $A_CG/${n.swap} ] || echo 0 > $A_CG/${n.swap}` : `[ ! -e $A_CG/${n.swap} ] || echo ${LIMIT_MIB}M > $A_CG/${n.swap}`;
      return [limit, swap, `sh -c 'echo $$ > $A_CG/cgroup.procs; exec perl $WS/hog.pl' || echo "the hog ended with status $?"`];
    },
  },
};

// ----- 2. read the counters ---------------------------------------------------------------------

const PA = 'peak-a';
const PB = 'peak-b';
/** What a's program grows to (MiB), picked at random by the setup: the answer is read, not known. */
const TARGETS = [12, 20, 28];
/** b's limit: every run of the hog (40 MiB) is killed under it. */
const B_LIMIT = 16 * MiB;

/** Runs the hog in sandbox `key` and resolves when it prints "holding" (or ends). */
async function hogUntilHolding(ctx: LessonContext, key: string, mibs: number): Promise<void> {
  const s = ctx.get(key);
  if (!s) throw new Error(`sandbox ${key} is not running`);
  const p = await s.exec(['perl', '-e', HOG, String(mibs), '1'], { stdio: ['ignore', 'pipe', 'ignore'] });
  await new Promise<void>((resolve) => {
    let buf = '';
    const timer = setTimeout(done, 20_000);
    function done() {
      clearTimeout(timer);
      p.stdout?.off('data', onData);
      p.stdout?.resume();
      resolve();
    }
    function onData(c: Buffer) {
      buf += c.toString('utf8');
      if (buf.includes('holding')) done();
    }
    p.stdout?.on('data', onData);
    void p.wait().then(done);
  });
}

export const readTheCounters: Step = {
  id: 'read-the-counters',
  title: 'Challenge: the smallest limit, and the OOM kills',
  checks: [],
  hint: 'The memory controller keeps a high-water mark and a count of OOM kills for every cgroup.',
  challenge: {
    get goal() {
      return (
        `Sandbox a ran a program that grew to its full size and now holds it. Sandbox b has a ${B_LIMIT / MiB} MiB limit, and a hog ran in it a few times. ` +
        `Read the kernel's counters in $A_CG and $B_CG (${both('memory.max_usage_in_bytes and memory.oom_control', 'memory.peak and memory.events')}) and answer.`
      );
    },
    tools: ['cat', 'grep', 'echo $(( ))'],
    setup: async (ctx) => {
      await ctx.sandbox(PA, { namespaces: ['pid', 'mount'], init: true });
      await ctx.sandbox(PB, { namespaces: ['pid', 'mount'], init: true, limits: { memory: B_LIMIT } });
      const target = TARGETS[Math.floor(Math.random() * TARGETS.length)];
      await hogUntilHolding(ctx, PA, target);
      const b = ctx.get(PB)!;
      const runs = 1 + Math.floor(Math.random() * 3);
      for (let i = 0; i < runs; i++) {
        const r = await b.execOutput(['perl', '-e', HOG, String(HOG_MIB)]);
        if (!r.status.signal) throw new Error(`the hog in b was not killed (exit ${r.status.code}): is swap open?`);
      }
      ctx.log({ note: `a's program holds what it grew to; the hog ran ${runs === 1 ? 'once' : `${runs} times`} in b` });
    },
    vars: (ctx) => [
      { name: 'A_CG', value: cgroupDirOf(ctx, PA, 'memory') ?? '(none)', about: "a's cgroup directory (memory controller)" },
      { name: 'B_CG', value: cgroupDirOf(ctx, PB, 'memory') ?? '(none)', about: "b's cgroup directory (memory controller)" },
    ],
    checks: [],
    hints: [
      {
        text: `The high-water mark is ${both('memory.max_usage_in_bytes', 'memory.peak')}, in bytes (divide by 1048576 and round up). OOM kills are the oom_kill line of ${both('memory.oom_control', 'memory.events')}.`,
      },
    ],
    questions: [
      {
        id: 'smallest-limit',
        question: "What is the smallest whole number of MiB that a's memory use has never gone over (the tightest limit its run would never have hit)?",
        compare: 'number',
        answer: (ctx) => {
          const file = names().peak;
          const peak = readInt(`${cgroupDirOf(ctx, PA, 'memory')}/${file}`);
          return {
            probe: `echo $(( ($(cat $A_CG/${file}) + 1048575) / 1048576 ))`,
            value: peak === null ? '(unreadable)' : String(Math.ceil(peak / MiB)),
          };
        },
        explanation: "The peak counts every page charged to the group: the program's data, Perl itself, and the page cache of the files it read. That is why it is more than what the program allocated.",
      },
      {
        id: 'oom-kills',
        question: 'How many processes has the OOM killer killed in sandbox b?',
        compare: 'number',
        answer: (ctx) => {
          const file = names().oom;
          const n = oomKillsOf(cgroupDirOf(ctx, PB, 'memory'));
          return { probe: `grep '^oom_kill ' $B_CG/${file} | cut -d' ' -f2`, value: n === null ? '(unreadable)' : String(n) };
        },
        explanation: 'Each kill is counted in the cgroup it happened in, and nowhere else: the rest of the host never noticed.',
      },
    ],
    get solution() {
      const n = names();
      return [`echo $(( ($(cat $A_CG/${n.peak}) + 1048575) / 1048576 ))`, `grep '^oom_kill ' $B_CG/${n.oom} | cut -d' ' -f2`];
    },
  },
};

export const CHALLENGES: Step[] = [oomByHand, readTheCounters];
