/**
 * cgroups-memory: a sandbox with a 32 MiB memory limit (memory.limit_in_bytes on v1, memory.max
 * on v2, swap closed off too); a process inside allocates 4 MiB at a time toward 64 MiB and is
 * OOM-killed at the limit, as it happens; the limit is raised on the running sandbox and the
 * same program then holds its 64 MiB.
 *
 * The evidence is the memory controller's own counters: usage and peak (memory.usage_in_bytes and
 * max_usage_in_bytes on v1, memory.current and memory.peak on v2), and the OOM kills (oom_kill
 * in memory.oom_control on v1, in memory.events on v2). v1's memory.failcnt is shown but not
 * relied on: some kernels (6.18 here) leave it at 0 even when the limit is hit.
 */
import { execFile } from 'node:child_process';

import { cgroupFile, cgroups, type Sandbox, type SandboxProcess, snapshot } from '../../runtime/index.js';
import { noSandbox, settle, verdict } from '../checks.js';
import type { LessonContext } from '../context.js';
import type { GaugesView, Lesson, View } from '../types.js';
import { CHALLENGES } from './challenges.js';

const MiB = 1024 * 1024;
const LIMIT = 32 * MiB;
const RAISED = 96 * MiB;
const TARGET_MIB = 64;
const STEP_MIB = 4;

/** Allocates (and touches: "x" x N writes every byte) STEP MiB at a time up to MAX, then holds it. */
const ALLOCATOR = `$| = 1; my ($step, $max, $pause) = @ARGV; my @hold; my $n = 0;
while ($n < $max) { push @hold, "x" x ($step * 1048576); $n += $step; print "allocated $n MiB\\n"; select(undef, undef, undef, $pause); }
print "holding $n MiB\\n"; sleep 3600;`;
const ALLOC_ARGS = [String(STEP_MIB), String(TARGET_MIB), '0.25'];
const ALLOC_SHOWN = `perl -e '… push @hold, "x" x (${STEP_MIB} * 1048576) … every 0.25 s, up to ${TARGET_MIB} MiB'`;

const mib = (b: number | null | undefined) => (b === null || b === undefined ? '?' : `${(b / MiB).toFixed(1)} MiB`);

function fileOf(s: Sandbox, file: string): string {
  return cgroupFile(s.name, file) ?? `${cgroups().describe(s.name)}/${file}`;
}

/** The files this host's memory controller uses, by what they mean. */
function files() {
  return cgroups().version === 1
    ? { limit: 'memory.limit_in_bytes', usage: 'memory.usage_in_bytes', peak: 'memory.max_usage_in_bytes', oom: 'memory.oom_control', failures: 'memory.failcnt' }
    : { limit: 'memory.max', usage: 'memory.current', peak: 'memory.peak', oom: 'memory.events', failures: 'memory.events' };
}

interface Allocation {
  proc: SandboxProcess;
  /** Host PID of the perl process itself (the exec'd sandbox-init's child). */
  pid: number | null;
  lines: string[];
}

/** Starts the allocator in the sandbox, collecting what it prints for the view. */
async function allocate(ctx: LessonContext, s: Sandbox): Promise<Allocation> {
  const proc = await s.exec(['perl', '-e', ALLOCATOR, ...ALLOC_ARGS], { stdio: ['ignore', 'pipe', 'pipe'] });
  const a: Allocation = { proc, pid: null, lines: [] };
  ctx.state.set('alloc', a);
  let buf = '';
  proc.stdout?.on('data', (c: Buffer) => {
    buf += c.toString('utf8');
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      a.lines.push(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
    }
  });
  proc.stderr?.resume();
  a.pid = await settle(() => snapshot({ cgroup: false }).processes.find((p) => p.ppid === proc.pid)?.pid ?? null, (p) => p !== null, 2000);
  ctx.log({
    command: `nsenter --target ${s.pid} --all -- ${ALLOC_SHOWN} &`,
    syscall: 'brk()/mmap() for each 4 MiB string, then writing every byte: the pages are charged to the cgroup as they are touched',
    output: a.pid ? `host PID ${a.pid}` : undefined,
  });
  return a;
}

/** The kernel's own line about the OOM kill of `pid`, from the kernel log (dmesg). */
function kernelSays(pid: number | null): Promise<string | null> {
  if (!pid) return Promise.resolve(null);
  return new Promise((resolve) => {
    execFile('dmesg', [], { encoding: 'utf8', timeout: 5000, maxBuffer: 16 * MiB }, (err, out) => {
      if (err) return resolve(null);
      const line = out
        .split('\n')
        .filter((l) => l.includes(`Killed process ${pid} `) || l.includes(`Killed process ${pid},`))
        .at(-1);
      resolve(line ? line.trim() : null);
    });
  });
}

function gauges(ctx: LessonContext): GaugesView {
  const s = ctx.get('box');
  const u = s?.usage() ?? null;
  const f = files();
  if (!s || !u) return { kind: 'gauges', gauges: [], caption: 'no sandbox yet' };
  const limit = u.memoryLimit;
  const toMiB = (b: number | null) => Number(((b ?? 0) / MiB).toFixed(1));
  const a = ctx.state.get('alloc') as Allocation | undefined;
  const said = a?.lines.at(-1);
  const fate = a ? (a.proc.running ? (said ? `running: "${said}"` : 'starting') : `${said ? `"${said}", then ` : ''}${a.proc.status?.signal ? `killed by ${a.proc.status.signal}` : `exited ${a.proc.status?.code}`}`) : 'not started';
  const failures = cgroups().version === 2 ? `; limit hits (memory.events max) ${u.memoryFailures ?? 0}` : '';
  return {
    kind: 'gauges',
    gauges: [
      { label: 'memory in use', value: toMiB(u.memoryBytes), max: limit === null ? null : toMiB(limit), unit: ' MiB', note: f.usage },
      {
        label: 'peak',
        value: toMiB(u.memoryPeak),
        max: limit === null ? null : toMiB(limit),
        unit: ' MiB',
        note: `${f.peak}; OOM kills: ${u.oomKills ?? 0} (oom_kill in ${f.oom})${failures}`,
      },
    ],
    caption: `allocator: ${fate}`,
  };
}

const view: View = { title: 'Memory: usage against the limit', sample: gauges };

export const lesson: Lesson = {
  id: 'cgroups-memory',
  title: 'cgroups: memory limits and the OOM killer',
  summary: 'a memory limit, a process allocating past it, the OOM kill as it happens; a raised limit on a running sandbox',
  requires: [
    { kind: 'controller', name: 'memory' },
    { kind: 'command', name: 'perl' },
  ],
  steps: [
    {
      id: 'limit',
      title: 'A memory limit',
      prediction: {
        question: 'The sandbox gets a limit of 32 MiB. What is charged against it?',
        choices: [
          'the memory its processes actually touch: heap, stack, and the page cache of files they read',
          'the size of its programs on disk',
          'all the virtual memory its processes reserve, used or not',
        ],
        answer: 0,
        explanation:
          'The memory controller charges pages as they are touched (and files as they are cached), not address space that is merely reserved: a program may map 1 GiB and use 4 MiB of it.',
      },
      action: async (ctx) => {
        const s = await ctx.sandbox('box', { namespaces: ['pid', 'mount'], init: true, limits: { memory: LIMIT } });
        for (const e of s.explain.filter((x) => x.what === 'limit')) ctx.log({ command: e.command, syscall: e.syscall, note: e.result });
      },
      view,
      checks: [
        {
          label: 'the kernel holds a limit of 32 MiB',
          run: (ctx) => {
            const s = ctx.get('box');
            if (!s) return noSandbox('box');
            const limit = s.usage()?.memoryLimit ?? null;
            return verdict(`cat ${fileOf(s, files().limit)}`, `${LIMIT} (32 MiB)`, limit === null ? 'no limit' : `${limit} (${mib(limit)})`, limit === LIMIT);
          },
        },
        {
          label: 'the sandbox uses far less than that so far',
          run: (ctx) => {
            const s = ctx.get('box');
            if (!s) return noSandbox('box');
            const used = s.usage()?.memoryBytes ?? null;
            return verdict(`cat ${fileOf(s, files().usage)}`, 'below 8 MiB', mib(used), used !== null && used < 8 * MiB);
          },
        },
      ],
      hint: 'v1: memory.limit_in_bytes (and memory.memsw.limit_in_bytes for memory + swap); v2: memory.max (and memory.swap.max). The limit is on the cgroup: every process in it shares it.',
    },
    {
      id: 'oom',
      title: 'Allocating past the limit',
      prediction: {
        question: 'A program in the sandbox allocates 4 MiB, then 8, then 12… on its way to 64 MiB. What happens when it reaches the 32 MiB limit?',
        choices: [
          "the kernel's OOM killer kills it with SIGKILL",
          'malloc() returns NULL and the program carries on without the memory',
          'it moves to swap and runs slowly',
        ],
        answer: 0,
        explanation:
          'Allocating only reserves addresses; the charge comes when a page is touched, and a page fault cannot fail politely. When the cgroup cannot reclaim anything, the kernel picks a process in that cgroup and kills it with SIGKILL. Swap is closed off here (memsw / memory.swap.max).',
      },
      action: async (ctx) => {
        const s = ctx.get('box');
        if (!s) throw new Error('the sandbox from step 1 is not running');
        const a = await allocate(ctx, s);
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([a.proc.wait(), new Promise((r) => (timer = setTimeout(r, 30_000)))]);
        clearTimeout(timer);
        const u = s.usage();
        ctx.log({
          note: `the allocator printed "${a.lines.at(-1) ?? ''}" and then ${a.proc.status?.signal ? `died of ${a.proc.status.signal}` : a.proc.running ? 'was still running' : `exited ${a.proc.status?.code}`}; peak ${mib(u?.memoryPeak)}, oom_kill ${u?.oomKills ?? 0}`,
        });
        const line = await kernelSays(a.pid);
        if (line) ctx.log({ command: `dmesg | grep 'Killed process ${a.pid}'`, output: line });
      },
      view,
      checks: [
        {
          label: 'the OOM killer killed the allocator, and only it: PID 1 still runs',
          run: async (ctx) => {
            const s = ctx.get('box');
            if (!s) return noSandbox('box');
            const f = files();
            const kills = (await settle(() => s.usage()?.oomKills ?? 0, (n) => n >= 1, 2000)) ?? 0;
            const procs = cgroups().procs(s.name);
            return verdict(
              `grep oom_kill ${fileOf(s, f.oom)}; cat ${fileOf(s, 'cgroup.procs')}`,
              `oom_kill 1 or more; cgroup.procs = ${s.pid} (sandbox-init) alone`,
              `oom_kill ${kills}; cgroup.procs = ${procs.join(' ') || '(empty)'}`,
              kills >= 1 && procs.length === 1 && procs[0] === s.pid,
            );
          },
        },
        {
          label: 'usage went up to the limit, and not past it',
          run: (ctx) => {
            const s = ctx.get('box');
            if (!s) return noSandbox('box');
            const peak = s.usage()?.memoryPeak ?? null;
            return verdict(
              `cat ${fileOf(s, files().peak)}`,
              `between ${mib(0.9 * LIMIT)} and ${mib(LIMIT)}`,
              mib(peak),
              peak !== null && peak >= 0.9 * LIMIT && peak <= LIMIT,
            );
          },
        },
      ],
      hint: 'oom_kill counts the processes the OOM killer killed in this cgroup (v1: memory.oom_control, v2: memory.events). The kernel log says which one: dmesg | grep "Killed process".',
    },
    {
      id: 'raise',
      title: 'A higher limit, on the running sandbox',
      prediction: {
        question: 'The limit is raised to 96 MiB while the sandbox runs, and the same program starts again. What happens?',
        choices: [
          'it reaches 64 MiB and holds it',
          'it is killed at 32 MiB again: limits apply only to new sandboxes',
          'it is killed at 64 MiB',
        ],
        answer: 0,
        explanation:
          'A limit is a file in the cgroup, read by the kernel at every charge: writing a new value changes it at once for every process in the group. That is how `docker update --memory` works.',
      },
      action: async (ctx) => {
        const s = ctx.get('box');
        if (!s) throw new Error('the sandbox from step 1 is not running');
        for (const w of s.setLimits({ memory: RAISED })) {
          ctx.log({ command: `echo ${w.value} > ${w.path}`, syscall: `write("${w.path}", "${w.value}")`, note: w.note ?? `${w.file} = ${mib(Number(w.value))}` });
        }
        const a = await allocate(ctx, s);
        await settle(
          () => a.lines.at(-1) ?? '',
          (l) => l.startsWith('holding') || !a.proc.running,
          30_000,
        );
        ctx.log({ note: `the allocator printed "${a.lines.at(-1) ?? ''}"; it is ${a.proc.running ? 'still running' : `gone (${a.proc.status?.signal ?? a.proc.status?.code})`}` });
      },
      view,
      checks: [
        {
          label: 'the kernel holds the new limit of 96 MiB',
          run: (ctx) => {
            const s = ctx.get('box');
            if (!s) return noSandbox('box');
            const limit = s.usage()?.memoryLimit ?? null;
            return verdict(`cat ${fileOf(s, files().limit)}`, `${RAISED} (96 MiB)`, limit === null ? 'no limit' : `${limit} (${mib(limit)})`, limit === RAISED);
          },
        },
        {
          label: 'the allocator holds its 64 MiB, below the new limit',
          run: (ctx) => {
            const s = ctx.get('box');
            if (!s) return noSandbox('box');
            const used = s.usage()?.memoryBytes ?? null;
            const procs = cgroups().procs(s.name);
            return verdict(
              `cat ${fileOf(s, files().usage)}; cat ${fileOf(s, 'cgroup.procs')}`,
              `at least ${TARGET_MIB} MiB and below ${mib(RAISED)}; sandbox-init and the allocator running`,
              `${mib(used)}; ${procs.length} processes`,
              used !== null && used >= TARGET_MIB * MiB && used < RAISED && procs.length >= 2,
            );
          },
        },
      ],
      hint: 'Raising a limit takes effect at once. Lowering it below what is in use makes the kernel reclaim memory first, and OOM-kill when it cannot.',
      takeaway: 'A memory limit is a promise the kernel keeps with SIGKILL: the group gets its limit and not a page more, and the rest of the host is untouched.',
    },
    ...CHALLENGES,
  ],
};
