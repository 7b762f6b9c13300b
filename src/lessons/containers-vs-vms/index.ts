/**
 * containers-vs-vms: the lectures' claim that a VM starts 50–100× slower and takes 11–60× the
 * memory of a container, and that one host held 41 VMs or 112 containers, measured here.
 *
 *  1. sandbox-ready: a sandbox (busybox root, five namespaces) to a shell that prints "ready",
 *     timed from the create call; its cgroup's memory counter and its processes' PSS.
 *  2. vm-ready: QEMU boots a kernel (the host's own, else the v2 guest's cached Debian kernel)
 *     with a busybox initramfs to the same "ready" (src/runtime/vm.ts); KVM where it works, else
 *     TCG, said on screen; the QEMU process's PSS. Unavailable (with the reason) where no VM can
 *     boot: no QEMU, no kernel, or this machine is itself emulated (the v2 guest, the lab VM
 *     under TCG), where a nested boot would take minutes.
 *  3. how-many-fit: sandboxes started one after another for at most FILL_MS, until their memory
 *     reaches the VM's PSS (or a fixed budget without a VM): how many, and how many would fit.
 *     The view is the 2013 figures next to this host's, filled in as they are measured.
 *
 * Measurements come from src/runtime/density.ts, which bench:density and `sandbox report` call.
 */
import fs from 'node:fs';

import {
  bootVm,
  type BootedVm,
  cgroups,
  containerOptions,
  fillSandboxes,
  type FillResult,
  formatBytes,
  LECTURE_DENSITY,
  memoryFileName,
  processMemory,
  Sandbox,
  sandboxMemory,
  startContainer,
  vmUnavailable,
} from '../../runtime/index.js';
import { cgroupFile } from '../../runtime/monitor.js';
import { noSandbox, verdict } from '../checks.js';
import type { LessonContext } from '../context.js';
import type { GaugesView, Lesson, TableView } from '../types.js';
import { CHALLENGES } from './challenges.js';

/** How long the fill may start sandboxes (the brief's time bound; CI runs the lesson often). */
const FILL_MS = 10_000;
const FILL_MAX = 200;
/** The fill's budget where no VM can boot here: about what the VM takes under TCG (measured ~200 MiB). */
const FALLBACK_BUDGET = 192 * 1024 * 1024;
const MiB = 1024 * 1024;

interface Fill {
  sandboxes: Sandbox[];
  result: FillResult;
  budget: number;
  budgetIs: string;
}

const mib = (b: number | null | undefined) => (b === null || b === undefined ? '–' : formatBytes(b));
const secs = (ms: number) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(0)} ms`);

function memFile(s: Sandbox): string {
  return cgroupFile(s.name, memoryFileName()) ?? `${cgroups().describe(s.name)}/${memoryFileName()}`;
}

function vmOf(ctx: LessonContext): BootedVm | undefined {
  const vm = ctx.state.get('vm') as BootedVm | undefined;
  return vm && vm.sandbox.running ? vm : undefined;
}

/** The larger of a sandbox's two memory figures (its cgroup counter, its processes' PSS). */
function containerBytes(s: Sandbox): number {
  const m = sandboxMemory(s);
  return Math.max(m.cgroup ?? 0, m.pss);
}

function compareView(ctx: LessonContext): GaugesView {
  const c = ctx.get('box');
  const vm = vmOf(ctx);
  const cStart = ctx.state.get('boxStartMs') as number | undefined;
  const out: GaugesView['gauges'] = [];
  const cMem = c ? sandboxMemory(c) : null;
  const vMem = vm ? processMemory(vm.sandbox.pid) : null;
  const maxStart = Math.max(cStart ?? 0, vm?.bootMs ?? 0) || 1;
  const maxMem = Math.max(cMem?.cgroup ?? 0, cMem?.pss ?? 0, vMem?.pss ?? 0) || 1;
  if (cStart !== undefined) out.push({ label: 'sandbox: start to "ready"', value: Math.round(cStart), max: Math.round(maxStart), unit: ' ms' });
  if (vm) out.push({ label: `VM (${vm.accel.toUpperCase()}): boot to "ready"`, value: Math.round(vm.bootMs), max: Math.round(maxStart), unit: ' ms' });
  if (cMem) {
    out.push({
      label: 'sandbox: memory (cgroup)',
      value: Number(((cMem.cgroup ?? 0) / MiB).toFixed(2)),
      max: Number((maxMem / MiB).toFixed(2)),
      unit: ' MiB',
      note: `PSS of its ${cMem.processes} processes: ${mib(cMem.pss)}`,
    });
  }
  if (vMem) {
    out.push({
      label: 'VM: QEMU process (PSS)',
      value: Number((vMem.pss / MiB).toFixed(2)),
      max: Number((maxMem / MiB).toFixed(2)),
      unit: ' MiB',
      note: `anonymous (guest RAM touched, translation cache): ${mib(vMem.pssAnon)}`,
    });
  }
  return {
    kind: 'gauges',
    gauges: out,
    caption: vm ? `grep Pss /proc/${vm.sandbox.pid}/smaps_rollup; cat ${c ? memFile(c) : memoryFileName()}` : c ? `cat ${memFile(c)}` : 'no sandbox yet',
  };
}

function lectureTable(ctx: LessonContext): TableView {
  const cStart = ctx.state.get('boxStartMs') as number | undefined;
  const cBytes = ctx.state.get('boxBytes') as number | undefined;
  const vm = ctx.state.get('vmFigures') as { bootMs: number; pss: number; accel: string } | undefined;
  const fill = ctx.state.get('fill') as Fill | undefined;
  const filling = ctx.state.get('filling') as { n: number; bytes: number } | undefined;
  const ratio = (a: number | undefined, b: number | undefined) => (a && b ? `${(a / b).toFixed(0)}×` : 'not measured');
  const fit = vm && fill?.result.perSandboxBytes ? Math.floor(vm.pss / fill.result.perSandboxBytes) : undefined;
  return {
    kind: 'table',
    columns: ['', '2013 (the lecture)', 'this host, now'],
    rows: [
      ['VM start-up ÷ container start-up', `${LECTURE_DENSITY.startupRatio[0]}–${LECTURE_DENSITY.startupRatio[1]}×`, `${ratio(vm?.bootMs, cStart)}${vm ? ` (${vm.accel.toUpperCase()})` : ''}`],
      ['VM memory ÷ container memory', `${LECTURE_DENSITY.memoryRatio[0]}–${LECTURE_DENSITY.memoryRatio[1]}×`, ratio(vm?.pss, cBytes)],
      ['containers in one VM\'s memory', `${(LECTURE_DENSITY.containers / LECTURE_DENSITY.vms).toFixed(1)} (${LECTURE_DENSITY.containers} vs ${LECTURE_DENSITY.vms} per host)`, fit !== undefined ? String(fit) : 'not measured'],
      [`sandboxes started (at most ${FILL_MS / 1000} s)`, '–', fill ? `${fill.result.started} (stopped by ${fill.result.stoppedBy})` : filling ? `${filling.n} so far, ${mib(filling.bytes)}` : 'not measured'],
    ],
    caption: vm ? `VM: ${vm.accel === 'tcg' ? 'software emulation (TCG): slower to boot than with KVM' : 'KVM'}` : `no VM here: ${vmUnavailable() ?? 'its step was skipped'}`,
  };
}

export const lesson: Lesson = {
  id: 'containers-vs-vms',
  title: 'Containers vs VMs: start-up and density',
  summary: 'a sandbox and a QEMU VM booted to the same "ready": start-up, memory, and how many sandboxes fit in one VM, next to the 2013 figures',
  requires: [{ kind: 'root' }, { kind: 'busybox' }, { kind: 'controller', name: 'memory' }, { kind: 'controller', name: 'pids' }],
  steps: [
    {
      id: 'sandbox-ready',
      title: 'A sandbox to "ready"',
      prediction: {
        question: 'A sandbox with five namespaces and a busybox root starts a shell that prints "ready". Whose kernel runs that shell?',
        choices: ["the host's, the one that runs everything else", 'a kernel started for the sandbox', 'a kernel QEMU emulates'],
        answer: 0,
        explanation:
          'A sandbox is a group of host processes that the kernel shows a partitioned view (namespaces) and counts apart (cgroups). Nothing boots: clone3 with the namespace flags, a few mounts, pivot_root, execve.',
      },
      action: async (ctx) => {
        const { sandbox, startMs } = await startContainer('', `lesson ${ctx.lessonId}`, (o) => {
          const { name: _drop, purpose: _p, ...rest } = o;
          return ctx.sandbox('box', rest);
        });
        ctx.state.set('boxStartMs', startMs);
        await new Promise((r) => setTimeout(r, 200));
        const m = sandboxMemory(sandbox);
        ctx.state.set('boxBytes', Math.max(m.cgroup ?? 0, m.pss));
        ctx.log({ note: `create → "ready" on its stdout: ${secs(startMs)}` });
        ctx.log({
          command: `cat ${memFile(sandbox)}; grep Pss /proc/{${sandbox.pids().join(',')}}/smaps_rollup`,
          output: `${m.cgroup ?? '(unreadable)'} bytes (${mib(m.cgroup)}); PSS of its ${m.processes} processes: ${mib(m.pss)}`,
        });
      },
      view: { title: 'Start-up and memory', intervalMs: 1000, sample: compareView },
      checks: [
        {
          label: "the sandbox's shell runs on the host in a PID namespace of its own",
          run: (ctx) => {
            const s = ctx.get('box');
            if (!s) return noSandbox('box');
            let inside = '(gone)';
            let host = '(unreadable)';
            try {
              inside = fs.readlinkSync(`/proc/${s.pid}/ns/pid`);
              host = fs.readlinkSync('/proc/self/ns/pid');
            } catch {
              /* shown */
            }
            return verdict(`readlink /proc/${s.pid}/ns/pid /proc/self/ns/pid`, `two different pid:[…]`, `${inside} vs ${host}`, inside.startsWith('pid:') && inside !== host);
          },
        },
        {
          label: 'its cgroup counts its memory: more than 0, under 16 MiB',
          run: (ctx) => {
            const s = ctx.get('box');
            if (!s) return noSandbox('box');
            const b = s.usage()?.memoryBytes ?? null;
            return verdict(`cat ${memFile(s)}`, '0 < bytes < 16 MiB', b === null ? '(unreadable)' : `${b} (${mib(b)})`, b !== null && b > 0 && b < 16 * MiB);
          },
        },
      ],
      hint: 'A sandbox is processes of the host: look at its PID namespace in /proc/PID/ns and at its memory cgroup.',
    },
    {
      id: 'vm-ready',
      title: 'A VM to the same "ready"',
      unavailable: () => vmUnavailable(),
      prediction: {
        question: 'QEMU gets 128 MiB of guest RAM and boots a kernel with a busybox initramfs to a shell that prints "ready". How much memory will the QEMU process hold (PSS) once it has?',
        choices: ['less than 16 MiB', 'between 16 and 64 MiB', 'more than 64 MiB'],
        answer: 2,
        explanation:
          'The guest kernel touched much of its RAM while booting (its own image, page tables, the unpacked initramfs), and QEMU holds those pages plus its own code and, under TCG, the translated guest code. A VM pays for a kernel of its own; the sandbox shared the host\'s.',
      },
      action: async (ctx) => {
        ctx.progress('booting the VM: under software emulation (TCG) this takes a few seconds, longer on a busy machine');
        const vm = await bootVm({ name: `cvm-vm-${process.pid % 100000}`, purpose: `lesson ${ctx.lessonId}` });
        ctx.state.set('vm', vm);
        ctx.defer(() => vm.stop());
        ctx.log({ command: vm.command.join(' '), note: `kernel: ${vm.kernel.source} (${vm.kernel.version}); QEMU runs as the command of sandbox ${vm.sandbox.name}, whose cgroup the ledger records` });
        ctx.log({ note: vm.accel === 'kvm' ? 'accelerator: KVM (the guest runs on the CPU, the kernel switches into it)' : `accelerator: TCG, software emulation: QEMU translates every guest instruction (${vm.accelNote})` });
        await new Promise((r) => setTimeout(r, 300));
        const m = processMemory(vm.sandbox.pid);
        const box = ctx.state.get('boxStartMs') as number | undefined;
        ctx.log({ note: `boot → "ready" on the serial console: ${secs(vm.bootMs)}${box ? `, ${(vm.bootMs / box).toFixed(0)}× the sandbox's ${secs(box)}` : ''}` });
        ctx.log({ command: `grep -E '^(Rss|Pss|Pss_Anon):' /proc/${vm.sandbox.pid}/smaps_rollup`, output: m ? `Rss ${mib(m.rss)}, Pss ${mib(m.pss)}, Pss_Anon ${mib(m.pssAnon)}` : '(gone)' });
        if (m) ctx.state.set('vmFigures', { bootMs: vm.bootMs, pss: m.pss, accel: vm.accel });
      },
      view: { title: 'Start-up and memory', intervalMs: 1000, sample: compareView },
      checks: [
        {
          label: 'QEMU runs the kernel it was given, in the cgroup of the VM\'s sandbox',
          run: (ctx) => {
            const vm = vmOf(ctx);
            if (!vm) return noSandbox('vm', '(the QEMU process)');
            let cmd = '';
            let cg = '';
            try {
              cmd = fs.readFileSync(`/proc/${vm.sandbox.pid}/cmdline`, 'utf8').split('\0').join(' ');
              cg = fs.readFileSync(`/proc/${vm.sandbox.pid}/cgroup`, 'utf8');
            } catch {
              /* shown */
            }
            const ok = cmd.includes(`-kernel ${vm.kernel.path}`) && cg.includes(`/${vm.sandbox.name}\n`);
            return verdict(
              `tr '\\0' ' ' < /proc/${vm.sandbox.pid}/cmdline; grep ${vm.sandbox.name} /proc/${vm.sandbox.pid}/cgroup`,
              `-kernel ${vm.kernel.path}, cgroup …/${vm.sandbox.name}`,
              `${cmd.includes('-kernel') ? `-kernel ${cmd.split('-kernel ')[1]?.split(' ')[0]}` : '(no -kernel)'}, ${cg.includes(vm.sandbox.name) ? `cgroup …/${vm.sandbox.name}` : 'another cgroup'}`,
              ok,
            );
          },
        },
        {
          label: 'the QEMU process holds more than 10× the memory of the sandbox',
          run: (ctx) => {
            const vm = vmOf(ctx);
            const box = ctx.get('box');
            if (!vm) return noSandbox('vm', '(the QEMU process)');
            if (!box) return noSandbox('box');
            const v = processMemory(vm.sandbox.pid)?.pss ?? 0;
            const c = containerBytes(box);
            return verdict(
              `grep ^Pss: /proc/${vm.sandbox.pid}/smaps_rollup; cat ${memFile(box)}`,
              'VM ÷ sandbox > 10',
              `${mib(v)} ÷ ${mib(c)} = ${c ? (v / c).toFixed(0) : '∞'}`,
              c > 0 && v / c > 10,
            );
          },
        },
      ],
      hint: "QEMU is one process of the host: /proc/PID/cmdline shows what it boots, /proc/PID/smaps_rollup what memory it holds.",
    },
    {
      id: 'how-many-fit',
      title: "How many sandboxes in one VM's memory",
      prediction: {
        question: `Now sandboxes start one after another (for ${FILL_MS / 1000} s at most) until together they hold the memory one VM holds. How many sandboxes fit in one VM's memory?`,
        choices: ['fewer than 10', '10 to 50', 'more than 50'],
        answer: 2,
        explanation:
          'Each sandbox costs its own pages (the shell\'s stack and heap, page tables, the kernel\'s objects for its namespaces and cgroup), well under a MiB; the busybox binary, the libraries and the kernel are shared. A VM pays for a whole kernel and its RAM.',
      },
      action: async (ctx) => {
        const figures = ctx.state.get('vmFigures') as { pss: number } | undefined;
        const vm = vmOf(ctx);
        const budget = vm ? (processMemory(vm.sandbox.pid)?.pss ?? figures?.pss ?? FALLBACK_BUDGET) : FALLBACK_BUDGET;
        const budgetIs = vm ? "the VM's PSS" : `${mib(FALLBACK_BUDGET)} (no VM here: about what the VM takes under TCG)`;
        const prefix = `cvm-n${process.pid % 100000}`;
        const sandboxes: Sandbox[] = [];
        ctx.defer(async () => {
          for (const s of sandboxes) await s.destroy().catch(() => undefined);
        });
        ctx.state.set('filling', { n: 0, bytes: 0, budget });
        const { result } = await fillSandboxes({
          budgetBytes: budget,
          timeMs: FILL_MS,
          max: FILL_MAX,
          prefix,
          purpose: `lesson ${ctx.lessonId}`,
          create: async (o) => {
            const s = await Sandbox.create(o);
            sandboxes.push(s);
            return s;
          },
          onStarted: (n, bytes) => ctx.state.set('filling', { n, bytes, budget }),
          cancelled: () => ctx.isClosed,
        });
        const fill: Fill = { sandboxes, result, budget, budgetIs };
        ctx.state.set('fill', fill);
        const o = containerOptions(`${prefix}-N`, '');
        ctx.log({ command: `for i in $(seq ${result.started}); do sandbox run --pid --mount --uts --ipc --net --rootfs busybox --pids 16 -- ${o.command!.map((a) => (a.includes(' ') ? `'${a}'` : a)).join(' ')} & done` });
        ctx.log({
          note: `${result.started} sandboxes in ${secs(result.elapsedMs)} (median ${result.startMsP50 === null ? '–' : secs(result.startMsP50)} each), stopped by: ${result.stoppedBy}; together ${mib(result.cgroupBytes)} by their cgroups, ${mib(result.pssBytes)} PSS`,
        });
        ctx.log({
          note: `one costs ${mib(result.perSandboxBytes)}: ${Math.floor(budget / Math.max(1, result.perSandboxBytes))} would fit in ${budgetIs}`,
        });
      },
      view: { title: 'The lecture (2013) and this host', intervalMs: 1000, sample: lectureTable },
      checks: [
        {
          label: 'the sandboxes run, each in a memory cgroup of its own',
          run: (ctx) => {
            const fill = ctx.state.get('fill') as Fill | undefined;
            const live = fill?.sandboxes.filter((s) => cgroupFile(s.name, memoryFileName()) !== null && s.pids().length > 0) ?? [];
            return verdict(
              fill?.sandboxes.length ? `ls -d ${cgroups().describe(fill.sandboxes[0].name).replace(/\/[^/]+$/, '')}/cvm-n*` : '(no sandboxes started)',
              'at least 2, each with processes',
              `${live.length} of ${fill?.sandboxes.length ?? 0}`,
              live.length >= 2 && live.length === fill?.sandboxes.length,
            );
          },
        },
        {
          label: "one sandbox takes less than a tenth of the fill's budget (one VM's memory where a VM ran)",
          run: (ctx) => {
            const fill = ctx.state.get('fill') as Fill | undefined;
            if (!fill?.sandboxes.length) return verdict('(no sandboxes started)', 'a sandbox', 'none', false);
            let total = 0;
            for (const s of fill.sandboxes) total += containerBytes(s);
            const each = total / fill.sandboxes.length;
            return verdict(
              `cat …/cvm-n*/${memoryFileName()} (their sum ÷ ${fill.sandboxes.length})`,
              `< ${mib(fill.budget / 10)}`,
              mib(each),
              each > 0 && each < fill.budget / 10,
            );
          },
        },
      ],
      hint: "Each sandbox's memory is in its own cgroup: sum them, divide, and compare with the VM's PSS.",
      takeaway:
        "The ratios are not the lecture's, and need not be: the VM here boots a general-purpose kernel (emulated, or with KVM) and the sandbox runs a busybox shell. The shape holds: a VM pays for a kernel and the RAM it touches; a container pays for its own pages and shares the kernel and every file-backed page with the host.",
    },
    ...CHALLENGES,
  ],
};
