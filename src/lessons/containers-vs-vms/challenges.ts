/**
 * The containers-vs-vms challenges.
 *  1. a-ceiling-like-a-vm: a VM gets its memory up front (QEMU's -m); a sandbox gets a ceiling only
 *     if its cgroup is given one. The learner writes x's memory limit (v1 memory.limit_in_bytes,
 *     v2 memory.max) equal to the lesson's VM's guest RAM, by hand.
 *  2. whose-kernel: typed answers read from the live system: the kernel release sandbox y's
 *     shell runs on (the host's: read through y's own /proc), and how many processes y is.
 */
import fs from 'node:fs';
import os from 'node:os';

import { cgroups, containerOptions, VM_MEMORY_MIB } from '../../runtime/index.js';
import { cgroupDirOf } from '../challenge-probes.js';
import { verdict } from '../checks.js';
import type { LessonContext } from '../context.js';
import type { Step } from '../types.js';

const TARGET = VM_MEMORY_MIB * 1024 * 1024;

function limitFile(): string {
  return cgroups().version === 1 ? 'memory.limit_in_bytes' : 'memory.max';
}

/** x's memory limit in bytes; null = none ("max", or v1's huge default) or unreadable. */
function limitOf(ctx: LessonContext, key: string): number | null {
  const dir = cgroupDirOf(ctx, key, 'memory');
  try {
    const t = dir ? fs.readFileSync(`${dir}/${limitFile()}`, 'utf8').trim() : '';
    if (!/^\d{1,19}$/.test(t)) return null;
    const n = Number(t);
    return n >= 2 ** 62 ? null : n;
  } catch {
    return null;
  }
}

function procsOf(dir: string | null): number {
  try {
    return dir ? fs.readFileSync(`${dir}/cgroup.procs`, 'utf8').split('\n').filter((l) => /^\d{1,10}$/.test(l)).length : 0;
  } catch {
    return 0;
  }
}

function quietSandbox(ctx: LessonContext, key: string) {
  const { name: _n, purpose: _p, ...o } = containerOptions('', '');
  return ctx.sandbox(key, { ...o, stdio: 'ignore' });
}

export const aCeilingLikeAVm: Step = {
  id: 'a-ceiling-like-a-vm',
  title: 'Challenge: a ceiling like a VM\'s',
  checks: [],
  hint: 'A VM is given its RAM when QEMU starts (-m); a sandbox has a ceiling only if its memory cgroup has one.',
  challenge: {
    goal: `The lesson's VM was given ${VM_MEMORY_MIB} MiB of RAM (QEMU's -m ${VM_MEMORY_MIB}). Give sandbox x the same ceiling: a hard memory limit of exactly ${VM_MEMORY_MIB} MiB that the kernel enforces on its cgroup, written by hand (memory.max on v2, memory.limit_in_bytes on v1).`,
    tools: ['echo', 'cat'],
    writes: 'cgroup files',
    setup: async (ctx) => {
      await quietSandbox(ctx, 'x');
    },
    vars: (ctx) => [
      { name: 'X', value: String(ctx.get('x')?.pid ?? '(none)'), about: "host PID of sandbox x's shell" },
      { name: 'X_CG', value: cgroupDirOf(ctx, 'x', 'memory') ?? '(none)', about: "sandbox x's cgroup directory (memory controller)" },
    ],
    checks: [
      {
        label: `x's cgroup has a hard memory limit of ${VM_MEMORY_MIB} MiB`,
        run: (ctx) => {
          const v = limitOf(ctx, 'x');
          return verdict(`cat $X_CG/${limitFile()}`, String(TARGET), v === null ? 'no limit' : String(v));
        },
      },
    ],
    hints: [
      {
        when: {
          probe: `cat $X_CG/${limitFile()}`,
          holds: (ctx) => {
            const v = limitOf(ctx, 'x');
            return v !== null && v !== TARGET;
          },
        },
        text: `A limit is set, but not ${VM_MEMORY_MIB} MiB: the file counts bytes (a suffix such as M is accepted: ${VM_MEMORY_MIB}M). Read it back to see what the kernel made of what you wrote.`,
        reach: [`echo 256M > $X_CG/${limitFile()}`],
      },
      { text: `The limit lives in x's memory cgroup, $X_CG: the file is ${limitFile()}, and it takes bytes.` },
    ],
    solution: [`echo ${TARGET} > $X_CG/${limitFile()}`],
  },
};

export const whoseKernel: Step = {
  id: 'whose-kernel',
  title: 'Challenge: whose kernel?',
  checks: [],
  hint: "A sandbox's /proc is the kernel's, seen through its namespaces; its processes are listed in its cgroup.",
  challenge: {
    goal: "Sandbox y runs the same shell as the lesson's first sandbox. Find out, from the host, which kernel release y's shell runs on (as y's own /proc reports it) and how many processes sandbox y is; type both in.",
    tools: ['cat', 'wc', 'ls'],
    setup: async (ctx) => {
      await quietSandbox(ctx, 'y');
    },
    vars: (ctx) => [
      { name: 'Y', value: String(ctx.get('y')?.pid ?? '(none)'), about: "host PID of sandbox y's shell" },
      { name: 'Y_CG', value: cgroupDirOf(ctx, 'y', 'pids') ?? '(none)', about: "sandbox y's cgroup directory (pids controller)" },
    ],
    checks: [],
    hints: [{ text: "/proc/$Y/root is y's root as y sees it, its own /proc included; the kernel lists a cgroup's processes in cgroup.procs." }],
    questions: [
      {
        id: 'y-kernel',
        question: "Which kernel release does y's shell run on?",
        answer: (ctx) => {
          const y = ctx.get('y');
          let v = '(no sandbox y)';
          try {
            if (y) v = fs.readFileSync(`/proc/${y.pid}/root/proc/sys/kernel/osrelease`, 'utf8').trim();
          } catch {
            v = os.release();
          }
          return { probe: 'cat /proc/$Y/root/proc/sys/kernel/osrelease', value: v };
        },
        explanation: "The host's own: one kernel runs every sandbox. A VM would answer with the release of the kernel it booted.",
      },
      {
        id: 'y-processes',
        question: 'How many processes is sandbox y?',
        compare: 'number',
        answer: (ctx) => ({ probe: 'wc -l < $Y_CG/cgroup.procs', value: String(procsOf(cgroupDirOf(ctx, 'y', 'pids'))) }),
        explanation: 'Its shell and the sleep it waits on: that is all a container is to the host. A VM is one QEMU process holding a whole kernel and its processes inside.',
      },
    ],
    solution: ['cat /proc/$Y/root/proc/sys/kernel/osrelease', 'wc -l < $Y_CG/cgroup.procs'],
  },
};

export const CHALLENGES: Step[] = [aCeilingLikeAVm, whoseKernel];
