/**
 * cgroups-memory: a sandbox with a 32 MiB memory limit (memory.limit_in_bytes on v1, memory.max
 * on v2, swap closed off too); a process inside reserves 64 MiB of address space (twice the
 * limit) and the cgroup's usage does not move, then it writes to 16 MiB of it and the usage rises
 * by 16 MiB; a process allocates 4 MiB at a time toward 64 MiB and is OOM-killed at the limit, as
 * it happens; the limit is raised on the running sandbox and the same program then holds its 64 MiB.
 *
 * The evidence is the memory controller's own counters: usage and peak (memory.usage_in_bytes and
 * max_usage_in_bytes on v1, memory.current and memory.peak on v2), and the OOM kills (oom_kill
 * in memory.oom_control on v1, in memory.events on v2). v1's memory.failcnt is shown but not
 * relied on: some kernels (6.18 here) leave it at 0 even when the limit is hit.
 */
import { execFile } from 'node:child_process';

import { cgroupFile, cgroups, type Sandbox, SandboxError, type SandboxProcess, snapshot } from '../../runtime/index.js';
import { noSandbox, settle, statusField, verdict } from '../checks.js';
import type { LessonContext } from '../context.js';
import type { GaugesView, Lesson, View } from '../types.js';
import { CHALLENGES } from './challenges.js';

const MiB = 1024 * 1024;
const LIMIT = 32 * MiB;
const RAISED = 96 * MiB;
const TARGET_MIB = 64;
const STEP_MIB = 4;
/**
 * What the cgroup holds once the allocator holds TARGET: its strings plus perl's own few MiB
 * (measured 65–68 MiB on v1 with perl in the page cache, 70 MiB on v2 where this cgroup was the
 * first to read perl's files): 68 ± 4 is right for all of them, and for the plain 64.
 */
const HOLD_MIB = 68;

/** Allocates (and touches: "x" x N writes every byte) STEP MiB at a time up to MAX, then holds it. */
const ALLOCATOR = `$| = 1; my ($step, $max, $pause) = @ARGV; my @hold; my $n = 0;
while ($n < $max) { push @hold, "x" x ($step * 1048576); $n += $step; print "allocated $n MiB\\n"; select(undef, undef, undef, $pause); }
print "holding $n MiB\\n"; sleep 3600;`;
const ALLOC_ARGS = [String(STEP_MIB), String(TARGET_MIB), '0.25'];
const ALLOC_SHOWN = `perl -e '… push @hold, "x" x (${STEP_MIB} * 1048576) … every 0.25 s, up to ${TARGET_MIB} MiB'`;

/** What the reserving process asks for (twice the limit), and how much of it it then writes to. */
const RESERVE_MIB = 64;
const TOUCH_MIB = 16;

/**
 * Reserves RESERVE MiB of address space with mmap and writes to none of it; on SIGUSR1, writes
 * zeros into the first TOUCH MiB (read(2) from /dev/zero into the mapping), then holds it all.
 * Perl's `syscall` makes the two calls directly, so nothing else (no allocator, no copying)
 * touches the mapping: what the cgroup is charged is exactly what was written.
 */
const RESERVER = `$| = 1; my ($mmap, $read, $mib, $touch) = @ARGV; my $go = 0; $SIG{USR1} = sub { $go = 1 };
my $addr = syscall($mmap, 0, $mib * 1048576, 3, 0x22, -1, 0); die "mmap: $!\n" if $addr == -1;
printf "reserved %d MiB at 0x%x\n", $mib, $addr; sleep 1 until $go;
open my $z, '<', '/dev/zero' or die "/dev/zero: $!\n"; my $n = syscall($read, fileno($z), $addr, $touch * 1048576);
die "read: $!\n" if $n < 0; printf "wrote to %d MiB of it\n", $n / 1048576; sleep 3600;`;

/** The system call numbers perl's `syscall` needs (they differ per architecture). */
function syscallNumbers(): { mmap: number; read: number } {
  if (process.arch === 'x64') return { mmap: 9, read: 0 };
  if (process.arch === 'arm64') return { mmap: 222, read: 63 };
  throw new SandboxError(`the reserving program knows the system call numbers of x86_64 and arm64, not of ${process.arch}`, { code: 'ENOSYS' });
}

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

/** A perl program of the lesson running in the sandbox, and what it printed, line by line. */
interface PerlRun {
  proc: SandboxProcess;
  /** Host PID of the perl process itself (the exec'd sandbox-init's child). */
  pid: number | null;
  lines: string[];
}
type Allocation = PerlRun;

/**
 * Runs `perl -e PROGRAM ARGS…` in the sandbox, kept in ctx.state under `key`: its output lines
 * (and its errors, with `stderr`) collected for the view, its host PID once it runs.
 */
async function startPerl(ctx: LessonContext, s: Sandbox, key: string, args: string[], stderr: boolean): Promise<PerlRun> {
  const proc = await s.exec(['perl', '-e', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const r: PerlRun = { proc, pid: null, lines: [] };
  ctx.state.set(key, r);
  let buf = '';
  proc.stdout?.on('data', (c: Buffer) => {
    buf += c.toString('utf8');
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      r.lines.push(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
    }
  });
  if (stderr) proc.stderr?.on('data', (c: Buffer) => r.lines.push(c.toString('utf8').trim()));
  else proc.stderr?.resume();
  r.pid = await settle(() => snapshot({ cgroup: false }).processes.find((p) => p.ppid === proc.pid)?.pid ?? null, (p) => p !== null, 2000);
  return r;
}

/** Starts the allocator in the sandbox, collecting what it prints for the view. */
async function allocate(ctx: LessonContext, s: Sandbox): Promise<Allocation> {
  const a = await startPerl(ctx, s, 'alloc', [ALLOCATOR, ...ALLOC_ARGS], false);
  ctx.log({
    command: `nsenter --target ${s.pid} --all -- ${ALLOC_SHOWN} &`,
    syscall: 'brk()/mmap() for each 4 MiB string, then writing every byte: the pages are charged to the cgroup as they are touched',
    output: a.pid ? `host PID ${a.pid}` : undefined,
  });
  return a;
}

/** The reserving process: started in step 2, told to write in step 3, ended before step 4. */
type Reserver = PerlRun;

function reserverOf(ctx: LessonContext): Reserver | null {
  const r = ctx.state.get('reserver') as Reserver | undefined;
  return r && r.proc.running ? r : null;
}

/** VmSize and VmRSS of `pid` in bytes (/proc/PID/status), or null when it is gone. */
function vm(pid: number | null): { size: number; rss: number } | null {
  if (!pid) return null;
  const kB = (f: string) => {
    const v = statusField(pid, f);
    return v === null ? null : Number.parseInt(v, 10) * 1024;
  };
  const size = kB('VmSize');
  const rss = kB('VmRSS');
  return size === null || rss === null ? null : { size, rss };
}

/** The cgroup's memory usage, read from the kernel now (memory.usage_in_bytes / memory.current). */
function usageNow(s: Sandbox): number | null {
  return s.usage()?.memoryBytes ?? null;
}

async function startReserver(ctx: LessonContext, s: Sandbox): Promise<Reserver> {
  const n = syscallNumbers();
  const r = await startPerl(ctx, s, 'reserver', [RESERVER, String(n.mmap), String(n.read), String(RESERVE_MIB), String(TOUCH_MIB)], true);
  await settle(() => r.lines.length, (l) => l > 0 || !r.proc.running, 5000);
  ctx.log({
    command: `nsenter --target ${s.pid} --all -- perl -e '… syscall(SYS_mmap, 0, ${RESERVE_MIB} MiB, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) …' &`,
    syscall: `mmap(NULL, ${RESERVE_MIB * MiB}, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0)`,
    output: [r.pid ? `host PID ${r.pid}` : null, ...r.lines].filter(Boolean).join('\n'),
  });
  return r;
}

/** Ends the reserving process (SIGTERM, forwarded by the exec'd sandbox-init) and waits for it. */
async function stopReserver(ctx: LessonContext): Promise<void> {
  const r = reserverOf(ctx);
  if (!r) return;
  r.proc.signal('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([r.proc.wait(), new Promise((res) => (timer = setTimeout(res, 5000)))]);
  clearTimeout(timer);
  ctx.log({ command: `kill ${r.pid ?? ''}`.trim(), note: `the reserving process ends: its ${TOUCH_MIB} MiB are uncharged, and the limit is all the next program's` });
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
  const r = reserverOf(ctx);
  const fateLine = !a && r ? `reserving process (perl): "${r.lines.at(-1) ?? 'starting'}"` : `allocator: ${fate}`;
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
      ...reserverGauges(ctx),
    ],
    caption: fateLine,
  };
}

/** The reserving process's address space and how much of it is in memory (/proc/PID/status). */
function reserverGauges(ctx: LessonContext): GaugesView['gauges'] {
  const r = reserverOf(ctx);
  const v = r ? vm(r.pid) : null;
  if (!r || !v) return [];
  const toMiB = (b: number) => Number((b / MiB).toFixed(1));
  return [
    { label: 'reserved by perl', value: toMiB(v.size), max: null, unit: ' MiB', note: `VmSize in /proc/${r.pid}/status: its address space` },
    { label: 'of it in memory', value: toMiB(v.rss), max: toMiB(v.size), unit: ' MiB', note: `VmRSS in /proc/${r.pid}/status: pages it has touched` },
  ];
}

const view: View = { title: 'Memory: usage against the limit', sample: gauges };

export const lesson: Lesson = {
  id: 'cgroups-memory',
  title: 'cgroups: memory limits and the OOM killer',
  summary: 'a memory limit, what it counts (reserved or touched), a process allocating past it, the OOM kill as it happens; a raised limit',
  requires: [
    { kind: 'controller', name: 'memory' },
    { kind: 'command', name: 'perl' },
  ],
  steps: [
    {
      id: 'limit',
      title: 'A memory limit',
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
            const used = usageNow(s);
            return verdict(`cat ${fileOf(s, files().usage)}`, 'below 8 MiB', mib(used), used !== null && used < 8 * MiB);
          },
        },
      ],
      hint: 'v1: memory.limit_in_bytes (and memory.memsw.limit_in_bytes for memory + swap); v2: memory.max (and memory.swap.max). The limit is on the cgroup: every process in it shares it.',
    },
    {
      id: 'reserve',
      title: 'Asking for twice the limit',
      prediction: {
        question: `A process in the sandbox asks the kernel for ${RESERVE_MIB} MiB with mmap, twice the 32 MiB limit, and writes to none of it yet. What happens?`,
        choices: ['mmap fails with ENOMEM', 'the OOM killer kills the process', 'mmap returns an address'],
        answer: 2,
        explanation:
          "mmap only reserves addresses: the process's address space (VmSize) grows by 64 MiB, but no page of memory is behind them yet, and the memory controller charges pages, not addresses. The cgroup's usage grows only by the few MiB perl itself touched to start (its heap, and the pages of its program and libraries if this cgroup was the first to read them), not by the 64 MiB. The limit does not cap what a process may reserve; it caps what the group may hold.",
      },
      action: async (ctx) => {
        const s = ctx.get('box');
        if (!s) throw new Error('the sandbox from step 1 is not running');
        const before = usageNow(s);
        const r = await startReserver(ctx, s);
        const v = vm(r.pid);
        ctx.log({
          command: `grep -E 'VmSize|VmRSS' /proc/${r.pid ?? 'PID'}/status; cat ${fileOf(s, files().usage)}`,
          output: `VmSize ${mib(v?.size)}, VmRSS ${mib(v?.rss)}; the cgroup's usage ${mib(before)} before, ${mib(usageNow(s))} now`,
        });
      },
      view,
      checks: [
        {
          label: `the process holds ${RESERVE_MIB} MiB more address space, and little of it is in memory`,
          run: (ctx) => {
            const r = reserverOf(ctx);
            if (!r) return noSandbox('box', '(the reserving process)');
            const v = vm(r.pid);
            return verdict(
              `grep -E 'VmSize|VmRSS' /proc/${r.pid}/status`,
              `VmSize above ${RESERVE_MIB} MiB; VmRSS below 8 MiB`,
              v ? `VmSize ${mib(v.size)}; VmRSS ${mib(v.rss)}` : '(gone)',
              v !== null && v.size > RESERVE_MIB * MiB && v.rss < 8 * MiB,
            );
          },
        },
        {
          label: "the cgroup's usage stays far below the limit",
          run: (ctx) => {
            const s = ctx.get('box');
            const r = reserverOf(ctx);
            if (!s) return noSandbox('box');
            const used = usageNow(s);
            return verdict(
              `cat ${fileOf(s, files().usage)}`,
              `below ${RESERVE_MIB / 4} MiB, while the process has its ${RESERVE_MIB} MiB reserved`,
              `${mib(used)}${r ? '' : ' (no reserving process)'}`,
              r !== null && used !== null && used < (RESERVE_MIB / 4) * MiB,
            );
          },
        },
      ],
      hint: 'Compare VmSize and VmRSS of the process in /proc/PID/status with the cgroup\'s own counter (memory.usage_in_bytes on v1, memory.current on v2): the gauges show all three.',
    },
    {
      id: 'touch',
      title: 'Writing to the reserved memory',
      prediction: {
        question: `The process now writes zeros into the first ${TOUCH_MIB} MiB of its ${RESERVE_MIB} MiB. By how many MiB does the cgroup's memory usage grow?`,
        choices: [],
        answer: TOUCH_MIB,
        number: {
          unit: 'MiB',
          min: 0,
          max: 128,
          tolerance: 2,
          measured: (ctx) => {
            const s = ctx.get('box');
            const before = ctx.state.get('usage-before-touch') as number | undefined;
            const now = s ? usageNow(s) : null;
            return {
              probe: `cat ${s ? fileOf(s, files().usage) : files().usage}, before and after the writes`,
              value: Number((((now ?? 0) - (before ?? 0)) / MiB).toFixed(1)),
            };
          },
        },
        explanation:
          'The memory controller charges a page when it is first touched: each write into a page nobody had touched yet makes the kernel find a free page, charge it to the cgroup and map it. 16 MiB written is 4096 pages charged; the rest of the reservation still costs nothing. A program may map 1 GiB and use 4 MiB of it. Files a process reads are charged the same way, as their pages enter the page cache.',
      },
      action: async (ctx) => {
        const s = ctx.get('box');
        const r = reserverOf(ctx);
        if (!s || !r) throw new Error('the reserving process from step 2 is not running');
        const before = usageNow(s);
        ctx.state.set('usage-before-touch', before);
        const addr = /at (0x[0-9a-f]+)/.exec(r.lines[0] ?? '')?.[1] ?? 'ADDR';
        r.proc.signal('SIGUSR1');
        const done = await settle(() => r.lines.at(-1) ?? '', (l) => l.startsWith('wrote') || !r.proc.running, 10_000);
        const v = vm(r.pid);
        ctx.log({
          command: `kill -USR1 ${r.pid ?? ''}`.trim(),
          syscall: `read(open("/dev/zero"), ${addr}, ${TOUCH_MIB * MiB}): the kernel writes zeros into the first ${TOUCH_MIB} MiB of the mapping`,
          output: done,
        });
        ctx.log({
          command: `grep -E 'VmSize|VmRSS' /proc/${r.pid ?? 'PID'}/status; cat ${fileOf(s, files().usage)}`,
          output: `VmSize ${mib(v?.size)}, VmRSS ${mib(v?.rss)}; the cgroup's usage ${mib(before)} before the writes, ${mib(usageNow(s))} after`,
        });
      },
      view,
      checks: [
        {
          label: `the cgroup's usage now counts the ${TOUCH_MIB} MiB written`,
          run: (ctx) => {
            const s = ctx.get('box');
            if (!s) return noSandbox('box');
            const used = usageNow(s);
            return verdict(
              `cat ${fileOf(s, files().usage)}`,
              `between ${TOUCH_MIB} MiB and ${TOUCH_MIB + RESERVE_MIB / 4} MiB (what was written, plus perl's own)`,
              mib(used),
              used !== null && used >= TOUCH_MIB * MiB && used < (TOUCH_MIB + RESERVE_MIB / 4) * MiB,
            );
          },
        },
        {
          label: `the process has ${TOUCH_MIB} MiB more in memory; its address space did not change`,
          run: (ctx) => {
            const r = reserverOf(ctx);
            if (!r) return noSandbox('box', '(the reserving process)');
            const v = vm(r.pid);
            return verdict(
              `grep -E 'VmSize|VmRSS' /proc/${r.pid}/status`,
              `VmSize above ${RESERVE_MIB} MiB (as before); VmRSS at least ${TOUCH_MIB} MiB`,
              v ? `VmSize ${mib(v.size)}; VmRSS ${mib(v.rss)}` : '(gone)',
              v !== null && v.size > RESERVE_MIB * MiB && v.rss >= TOUCH_MIB * MiB,
            );
          },
        },
      ],
      hint: 'Watch the gauges while the process writes: the cgroup\'s counter, and VmRSS against VmSize in the process\'s /proc/PID/status.',
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
        await stopReserver(ctx);
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
      hint: 'Read the counters of this cgroup after the run: memory.oom_control on v1, memory.events on v2, and the end of the kernel log (dmesg).',
    },
    {
      id: 'raise',
      title: 'A higher limit, on the running sandbox',
      prediction: {
        question:
          'The limit is raised to 96 MiB while the sandbox runs, and the same program starts again, on its way to 64 MiB. How many MiB will the cgroup use once the program stops allocating (or is stopped)?',
        choices: [],
        answer: HOLD_MIB,
        number: {
          unit: 'MiB',
          min: 0,
          max: 1024,
          tolerance: 4,
          measured: (ctx) => {
            const s = ctx.get('box');
            const used = s ? usageNow(s) : null;
            return { probe: `cat ${s ? fileOf(s, files().usage) : files().usage}`, value: Number(((used ?? 0) / MiB).toFixed(1)) };
          },
        },
        explanation:
          "A limit is a file in the cgroup, read by the kernel at every charge: writing a new value changes it at once for every process in the group, running or not. The program gets its 64 MiB, and the cgroup holds those plus a few MiB of perl's own (the interpreter's heap, page tables, and its program's and libraries' pages if this cgroup was the first to read them). That is how `docker update --memory` works.",
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
      hint: 'Read the limit file again after the write, and follow the allocator\'s last line and the usage gauge in the view.',
      takeaway:
        'A memory limit counts the pages a group has touched, not what it reserved; it is a promise the kernel keeps with SIGKILL: the group gets its limit and not a page more, and the rest of the host is untouched. Lowering a limit below what is in use makes the kernel reclaim memory first, and OOM-kill when it cannot.',
    },
    ...CHALLENGES,
  ],
};
