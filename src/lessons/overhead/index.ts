/**
 * overhead: the cost of a container, measured (src/runtime/overhead.ts). The same static program
 * (native/latctx.c) runs on the host and in a sandbox with new pid, mount, uts, ipc and net
 * namespaces and a cgroup of its own, both pinned to the lesson's CPU, interleaved host, sandbox,
 * sandbox, host; then TCP throughput over loopback, veth, macvlan and VLAN between two network
 * namespaces. Every figure is a ratio measured in this run, next to the lecture's 2013 claim.
 *
 * Checks never judge a ratio (a loaded shared machine moves them by tens of %, both ways): they
 * read from the kernel that the measurement really ran where it says: the sandbox's namespaces
 * differ from the host's, its cgroup was charged the CPU time of the ring, its cpuset is the
 * lesson's CPU, and each network device's own byte counters carried the stream.
 *
 * Time: the lesson's grid is smaller than bench:overhead's (processes 2, 10, 50; windows of 50 ms),
 * so `--auto` stays within about a minute on a loaded 2-CPU machine.
 */

import {
  buildLinks,
  cgroups,
  LECTURE,
  measureContextSwitch,
  measureNetwork,
  measureSyscalls,
  NET_DEVICES,
  netSandboxOptions,
  overheadSandboxOptions,
  type OverheadRow,
  type Sandbox,
} from '../../runtime/index.js';
import { noSandbox, readlinkOr, verdict } from '../checks.js';
import type { LessonContext } from '../context.js';
import { pinnedCpu } from '../pinned-cpu.js';
import type { Check, Lesson, TableView, View } from '../types.js';
import { CHALLENGES, cpuOf, devBytes } from './challenges.js';

const PROCS = [2, 10, 50];
const SIZES_KB = [0, 16, 32];
const WINDOW_MS = 50;
/** A shared CPU: wait at most this long for one of the lesson's own, then share (ratios are interleaved). */
const CPU_WAIT_MS = 10_000;
/** The ring's CPU time the sandbox's cgroup must have been charged (the sandbox's half of 36 runs). */
const RING_CPU_MIN_MS = 100;
/** Bytes each device must have carried: iperf3 moves hundreds of MB in a second even in the v2 guest. */
const STREAM_MIN_BYTES = 20 * 1024 * 1024;

const fmt = (x: number | null, unit: string) => (x === null ? '–' : `${x < 10 ? x.toFixed(2) : x < 1000 ? x.toFixed(1) : x.toFixed(0)} ${unit}`);
const ratio = (r: OverheadRow) => (r.skipped ? 'not on this kernel' : r.ratio === null ? '–' : `${r.ratio.toFixed(2)}×`);

function rowsOf(ctx: LessonContext, key: string): OverheadRow[] {
  return (ctx.state.get(key) as OverheadRow[] | undefined) ?? [];
}

function geomean(rows: OverheadRow[]): number | null {
  const xs = rows.map((r) => r.ratio).filter((x): x is number => x !== null && x > 0);
  return xs.length ? Number(Math.exp(xs.reduce((s, x) => s + Math.log(x), 0) / xs.length).toFixed(2)) : null;
}

function table(ctx: LessonContext, key: string, expected: number, caption: string): TableView {
  const rows = rowsOf(ctx, key);
  return {
    kind: 'table',
    columns: ['what', 'host', 'sandbox', 'ratio', '2013'],
    rows: [
      ...rows.map((r) => [
        r.label,
        fmt(r.host, r.unit),
        r.skipped ? '–' : fmt(r.sandbox, r.unit),
        ratio(r),
        r.lecture === LECTURE.ctx ? 'higher (qualitative)' : r.lecture === LECTURE.net ? '≈ 1 % lower' : r.lecture === LECTURE.syscall ? '≈ 0 %' : r.lecture,
      ]),
      ...Array.from({ length: Math.max(0, expected - rows.length) }, () => ['…', '', '', '', '']),
    ],
    caption: rows.length ? caption : 'nothing measured yet',
  };
}

/** The sandbox's cgroup CPU time in ms (cpuacct.usage on v1, cpu.stat usage_usec on v2). */
function cpuMs(s: Sandbox | undefined): number | null {
  const u = s?.usage();
  return u && u.cpuUsec !== null ? Math.round(u.cpuUsec / 1000) : null;
}

function nsDiffers(key: string, ns: string): Check {
  return {
    label: `the sandbox's ${ns} namespace is not the host's`,
    run: (ctx) => {
      const s = ctx.get(key);
      if (!s?.pid) return noSandbox(key);
      // This program's own namespaces are the host's (PID 1 may be out of sight in a VM's sandbox).
      const inside = readlinkOr(`/proc/${s.pid}/ns/${ns}`);
      const host = readlinkOr(`/proc/${process.pid}/ns/${ns}`);
      return verdict(`readlink /proc/${s.pid}/ns/${ns} /proc/${process.pid}/ns/${ns}`, `not ${host}, the host's`, inside, inside !== host && inside !== '(gone)');
    },
  };
}

function charged(key: string, minMs: number, what: string): Check {
  return {
    label: `the sandbox's cgroup was charged the CPU time of ${what}`,
    run: (ctx) => {
      const s = ctx.get(key);
      if (!s) return noSandbox(key);
      const ms = cpuMs(s);
      const file = cgroups().version === 2 ? 'cpu.stat (usage_usec)' : 'cpuacct.usage';
      return verdict(`cat ${cgroups().describe(s.name)}/${file}`, `at least ${minMs} ms`, ms === null ? '(unreadable)' : `${ms} ms`, ms !== null && ms >= minMs);
    },
  };
}

const ctxView: View = {
  title: 'Context switch: host vs sandbox, µs per switch',
  intervalMs: 500,
  sample: (ctx) =>
    table(ctx, 'ctx-rows', PROCS.length * SIZES_KB.length, `latctx on CPU ${ctx.state.get('cpu') ?? '?'}, host and sandbox interleaved; ratio = sandbox / host. 2013: the lecture's table is quoted qualitatively`),
};
const sysView: View = {
  title: 'A system call and a process start: host vs sandbox',
  intervalMs: 500,
  sample: (ctx) => table(ctx, 'sys-rows', 2, 'getppid() in a tight loop; fork + execve + wait of a static program'),
};
const netView: View = {
  title: 'TCP stream between two network namespaces (iperf3)',
  intervalMs: 500,
  sample: (ctx) => table(ctx, 'net-rows', 4, '"host" = loopback inside one namespace, "sandbox" = the link between two; every device at MTU 1500'),
};

export const lesson: Lesson = {
  id: 'overhead',
  title: 'The cost of a container',
  summary: 'context switches, a system call, fork + exec and TCP over veth, macvlan and VLAN: host vs sandbox, measured as ratios next to the 2013 figures',
  requires: [{ kind: 'root' }, { kind: 'controller', name: 'cpuset' }, { kind: 'command', name: 'iperf3' }, { kind: 'command', name: 'nsenter' }, { kind: 'command', name: 'ip' }],
  steps: [
    {
      id: 'context-switch',
      title: 'A context switch, on the host and in a sandbox',
      prediction: {
        question:
          'A ring of processes passes a token through pipes, on one CPU, first on the host, then in a sandbox with its own pid, mount, uts, ipc and net namespaces and its own cgroup. Averaged over the table, what will a switch in the sandbox cost, as a multiple of the host\'s (1 = the same)?',
        choices: [],
        answer: 1,
        number: {
          unit: '×',
          min: 0,
          max: 100,
          tolerance: 0.3,
          measured: (ctx) => ({ probe: 'the geometric mean of the table\'s ratio column (latctx switch_us, sandbox / host)', value: geomean(rowsOf(ctx, 'ctx-rows')) ?? 0 }),
        },
        explanation:
          'The same kernel and the same scheduler switch the same processes: a namespace is a pointer in each task that a lookup follows, not a layer to cross. The sandbox\'s cgroup adds a little bookkeeping per switch; what moves the ratio much more on a shared machine is other work, which interleaving spreads over both sides.',
      },
      action: async (ctx) => {
        const cpu = await pinnedCpu(ctx, 'The ring runs on', CPU_WAIT_MS);
        ctx.state.set('cpu', cpu);
        const opts = overheadSandboxOptions(cpu);
        const s = await ctx.sandbox('c', opts);
        ctx.log({ note: `sandbox ${s.name}: pid, mount, uts, ipc, net namespaces; cgroup ${cgroups().describe(s.name)} with cpuset.cpus = ${cpu}, pids.max = ${opts.limits!.pids}` });
        ctx.log({
          command: `latctx -c ${cpu} ctx SIZE_KB PROCS ${WINDOW_MS}   # on the host, then nsenter -t ${s.pid} -a (and its cgroup) for the sandbox`,
          syscall: 'sched_setaffinity(CPU); pipe() + fork() × PROCS; read()/write() one byte around the ring; the same without a switch (one process, its own pipe) is subtracted',
        });
        const rows: OverheadRow[] = [];
        ctx.state.set('ctx-rows', rows);
        await measureContextSwitch(s, {
          cpu,
          procs: PROCS,
          sizesKb: SIZES_KB,
          ms: WINDOW_MS,
          onRow: (r) => {
            rows.push(r);
            ctx.progress(`${r.label}: host ${fmt(r.host, r.unit)}, sandbox ${fmt(r.sandbox, r.unit)}`);
          },
        });
        ctx.log({ output: rows.map((r) => `${r.label.padEnd(18)} host ${fmt(r.host, r.unit).padStart(10)}  sandbox ${fmt(r.sandbox, r.unit).padStart(10)}  ${ratio(r)}`).join('\n') });
        ctx.log({ note: `geometric mean of the ratios: ${geomean(rows)}× (2013: ${LECTURE.ctx})` });
      },
      view: ctxView,
      checks: [
        nsDiffers('c', 'pid'),
        nsDiffers('c', 'net'),
        {
          label: 'the sandbox is pinned to the lesson\'s CPU (its cpuset)',
          run: (ctx) => {
            const s = ctx.get('c');
            if (!s) return noSandbox('c');
            const got = cpuOf(s);
            const want = String(ctx.state.get('cpu') ?? '?');
            return verdict(`cat ${cgroups().describe(s.name)}/cpuset.cpus`, want, got ?? '(unreadable)');
          },
        },
        charged('c', RING_CPU_MIN_MS, 'the rings run inside it'),
      ],
      hint: 'The ratio column divides the sandbox\'s figure by the host\'s, measured one after the other on the same CPU.',
      takeaway:
        'Namespaces are not on the switch path at all. What a container can add to a switch is its cgroup: with group scheduling, every wake-up and sleep updates one scheduling entity per cgroup level (two here, sandbox/ and the sandbox\'s own). Where this table strays far from 1×, and in both directions, that is the machine\'s other work.',
    },
    {
      id: 'syscall-and-spawn',
      title: 'A system call and a process start',
      prediction: {
        question:
          'Inside a PID namespace, getppid() must translate the parent\'s PID into the caller\'s namespace, and fork must allocate a PID in every namespace level. What will they cost in the sandbox compared with the host?',
        choices: ['about the same', 'about twice as much', 'about ten times as much'],
        answer: 0,
        explanation:
          'The translation is a lookup in the struct pid the process already has: one more array entry per level. fork allocates one more number. Both vanish next to the system call entry and exit themselves (and on this kernel the seccomp filter\'s check of an always-allowed call is cached in a bitmap).',
      },
      action: async (ctx) => {
        const cpu = await pinnedCpu(ctx, 'The loops run on', CPU_WAIT_MS);
        const s = await ctx.sandbox('s', overheadSandboxOptions(cpu));
        ctx.log({ command: `latctx -c ${cpu} syscall 200; latctx -c ${cpu} spawn 200   # host, then in ${s.name}` });
        const rows: OverheadRow[] = [];
        ctx.state.set('sys-rows', rows);
        await measureSyscalls(s, { cpu, ms: 200, onRow: (r) => rows.push(r) });
        ctx.log({ output: rows.map((r) => `${r.label.padEnd(20)} host ${fmt(r.host, r.unit)}  sandbox ${fmt(r.sandbox, r.unit)}  ${ratio(r)}`).join('\n') });
        ctx.log({ note: `2013: ${LECTURE.syscall}` });
      },
      view: sysView,
      checks: [nsDiffers('s', 'pid'), charged('s', 100, 'the loops run inside it')],
      hint: 'What does a PID namespace add to a process? Look at the NSpid line of /proc/PID/status for a process in a sandbox.',
      takeaway:
        'A namespace costs a lookup, not a layer: the same kernel runs the same code for the host and the sandbox. The costs that are real are elsewhere: a seccomp filter evaluated per system call, cgroup accounting, and the copy of memory a fork makes.',
    },
    {
      id: 'network',
      title: 'TCP over loopback, veth, macvlan and VLAN',
      prediction: {
        question:
          'iperf3 streams TCP for a second over each link, on a machine without a physical network card in the path. How will a veth pair between two namespaces compare with loopback inside one?',
        choices: ['within some tens of percent', 'ten times slower', 'faster'],
        answer: 0,
        explanation:
          'Both are the same kernel copying buffers between sockets; a veth adds a device transmit and receive per packet, macvlan a lookup by MAC address, VLAN a tag pushed and popped. None of them touches a wire.',
      },
      action: async (ctx) => {
        const a = await ctx.sandbox('na', netSandboxOptions('a'));
        const b = await ctx.sandbox('nb', netSandboxOptions('b'));
        const links = await buildLinks(a, b);
        for (const c of links.commands) ctx.log({ command: c });
        for (const [kind, why] of Object.entries(links.missing)) ctx.log({ note: `${kind}: ${why}` });
        const rows: OverheadRow[] = [];
        ctx.state.set('net-rows', rows);
        await measureNetwork(a, b, links, { seconds: 1, onRow: (r) => rows.push(r) });
        ctx.log({ command: `nsenter -t ${a.pid} -n iperf3 -c ADDRESS -t 1   # server: nsenter -t ${b.pid} -n iperf3 -s -1` });
        ctx.log({ output: rows.map((r) => `${r.label.padEnd(9)} ${r.skipped ? r.skipped : `${fmt(r.sandbox, r.unit)}  ${ratio(r)} of loopback`}`).join('\n') });
        ctx.log({ note: `2013: ${LECTURE.net}, against a physical network card; here the baseline is loopback, with no card at all` });
      },
      view: netView,
      checks: [
        {
          label: 'the veth pair carried the stream (its own byte counters)',
          run: (ctx) => {
            const b = ctx.get('nb');
            if (!b?.pid) return noSandbox('nb');
            const dev = NET_DEVICES.veth[1];
            const n = devBytes(b.pid, dev);
            return verdict(`grep ${dev} /proc/${b.pid}/net/dev   # received bytes`, `at least ${STREAM_MIN_BYTES >> 20} MiB`, n === null ? '(no such device)' : `${(n / 1048576).toFixed(0)} MiB`, n !== null && n >= STREAM_MIN_BYTES);
          },
        },
        {
          label: 'every other link this kernel can make carried it too',
          run: (ctx) => {
            const b = ctx.get('nb');
            if (!b?.pid) return noSandbox('nb');
            const devs = [NET_DEVICES.macvlan[1], NET_DEVICES.vlan[1]].map((d) => [d, devBytes(b.pid!, d)] as const);
            const present = devs.filter(([, n]) => n !== null);
            const short = present.filter(([, n]) => n! < STREAM_MIN_BYTES);
            const missing = devs.filter(([, n]) => n === null).map(([d]) => d);
            const actual = present.map(([d, n]) => `${d}: ${(n! / 1048576).toFixed(0)} MiB`).join(', ') + (missing.length ? `; not made on this kernel: ${missing.join(', ')}` : '');
            // Without the action neither device exists: at least one must have been made (macvlan is in every kernel the course runs on).
            return verdict(`grep sbx-o /proc/${b.pid}/net/dev`, `each at least ${STREAM_MIN_BYTES >> 20} MiB`, actual || '(none)', present.length > 0 && short.length === 0);
          },
        },
      ],
      hint: 'ip -n cannot see these namespaces by name; nsenter --net=/proc/PID/ns/net ip -s link shows each device\'s counters.',
      takeaway:
        'Between namespaces on one host, veth and macvlan cost some throughput against loopback, and the loss is bounded by the per-packet work of the device; the 2013 "about 1 %" was measured against a real network card, where the wire, not the device, was the limit.',
    },
    ...CHALLENGES,
  ],
};
