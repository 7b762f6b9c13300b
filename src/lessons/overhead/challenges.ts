/**
 * The overhead challenges.
 *  1. macvlan-by-hand: x's network namespace holds a parent device ($PARENT, one end of a veth
 *     pair whose peer is also x's); the learner gives x and y a macvlan each on it, in bridge mode,
 *     and streams at least 1 MiB from x to y. Typical mistake: no `mode bridge`: the default mode
 *     (vepa) sends everything out of the parent to an outside switch that must hairpin it back, so
 *     two macvlans on one parent cannot talk.
 *  2. ring-in-z: the learner runs latctx's ring inside every namespace of sandbox z and inside its
 *     cgroup (written by hand to cgroup.procs), pinned to z's CPU, and reads that CPU from z's cpuset.
 *
 * Devices are created inside the sandboxes' network namespaces (they go with them); the names the
 * learner gets for them are the bench's $VETH_A/$VETH_B, swept from the host should one land there.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

import { cgroups, ipIn, latctxPath, netSandboxOptions, overheadSandboxOptions, recordNetNames, type Sandbox } from '../../runtime/index.js';
import { cgroupDirOf } from '../challenge-probes.js';
import { noSandbox, verdict } from '../checks.js';
import { pinnedCpu } from '../pinned-cpu.js';
import type { Step } from '../types.js';

/** Bytes a device received, from /proc/PID/net/dev (the namespace of PID), or null without it. */
export function devBytes(pid: number, dev: string): number | null {
  try {
    const line = fs
      .readFileSync(`/proc/${pid}/net/dev`, 'utf8')
      .split('\n')
      .find((l) => l.trim().startsWith(`${dev}:`));
    if (!line) return null;
    const n = line.split(':')[1].trim().split(/\s+/)[0];
    return /^\d{1,19}$/.test(n) ? Number(n) : null;
  } catch {
    return null;
  }
}

/** Received bytes summed over every device but lo in the namespace of PID. */
function rxNotLo(pid: number): number | null {
  try {
    return fs
      .readFileSync(`/proc/${pid}/net/dev`, 'utf8')
      .split('\n')
      .slice(2)
      .filter((l) => l.includes(':') && l.split(':')[0].trim() !== 'lo')
      .map((l) => l.split(':')[1].trim().split(/\s+/)[0])
      .filter((n) => /^\d{1,19}$/.test(n))
      .reduce((s, n) => s + Number(n), 0);
  } catch {
    return null;
  }
}

/** A sandbox's cpuset.cpus as the kernel has it. */
export function cpuOf(s: Sandbox): string | null {
  const dir = cgroups()
    .dirs(s.name)
    .find((d) => cgroups().version === 2 || d.split('/').includes('cpuset'));
  try {
    return dir ? fs.readFileSync(`${dir}/cpuset.cpus`, 'utf8').trim() : null;
  } catch {
    return null;
  }
}

// ----- 1. macvlan by hand ----------------------------------------------------------------------

const PARENT = ['sbx-o-par-a', 'sbx-o-par-b'] as const;
const X_IP = '10.202.0.1';
const Y_IP = '10.202.0.2';
const MIN_BYTES = 1024 * 1024;

/**
 * y's macvlan devices as `ip -d -o link` prints them: one process per call, shared by the check and
 * the hint of one poll (the screen polls once a second).
 */
let macvlanCache: { pid: number; at: number; out: string } | null = null;
function macvlansOf(pid: number): string {
  if (macvlanCache && macvlanCache.pid === pid && Date.now() - macvlanCache.at < 500) return macvlanCache.out;
  let out = '';
  try {
    out = execFileSync('nsenter', [`--net=/proc/${pid}/ns/net`, 'ip', '-d', '-o', 'link', 'show', 'type', 'macvlan'], { encoding: 'utf8', timeout: 3000, stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    out = '';
  }
  macvlanCache = { pid, at: Date.now(), out };
  return out;
}

const macvlanProbe = 'nsenter --net=/proc/$Y/ns/net ip -d -o link show type macvlan';

export const macvlanByHand: Step = {
  id: 'macvlan-by-hand',
  title: 'Challenge: two macvlans on one parent',
  checks: [],
  hint: 'A macvlan is made in the namespace where its parent lives, and can be moved at birth.',
  challenge: {
    goal: `Give x and y a macvlan each on the parent $PARENT (it lives in x's network namespace), with ${X_IP}/24 in x and ${Y_IP}/24 in y, and stream at least 1 MiB from x to y.`,
    tools: ['nsenter --net=/proc/PID/ns/net', 'ip link add … type macvlan', 'ip addr', 'iperf3'],
    writes: 'ip',
    setup: async (ctx) => {
      const x = await ctx.sandbox('x', netSandboxOptions('a'));
      await ctx.sandbox('y', netSandboxOptions('b'));
      recordNetNames(x, { veths: [...PARENT] });
      for (const args of [
        ['link', 'add', PARENT[0], 'type', 'veth', 'peer', 'name', PARENT[1]],
        ['link', 'set', PARENT[0], 'up'],
        ['link', 'set', PARENT[1], 'up'],
        ['link', 'set', 'lo', 'up'],
      ]) {
        await ipIn(x.pid!, args);
        ctx.log({ command: `nsenter --net=/proc/${x.pid}/ns/net ip ${args.join(' ')}` });
      }
    },
    vars: (ctx) => [
      { name: 'X', value: String(ctx.get('x')?.pid ?? ''), about: "host PID of x's PID 1 (its network namespace: /proc/$X/ns/net)" },
      { name: 'Y', value: String(ctx.get('y')?.pid ?? ''), about: "host PID of y's PID 1" },
      { name: 'PARENT', value: PARENT[0], about: "the parent device, in x's network namespace" },
    ],
    checks: [
      {
        label: 'y has a macvlan in bridge mode, up',
        run: (ctx) => {
          const y = ctx.get('y');
          if (!y?.pid) return noSandbox('y');
          const out = macvlansOf(y.pid);
          const line = out.split('\n').find((l) => /macvlan mode bridge/.test(l) && /[<,]UP[,>]/.test(l));
          const name = (l: string) => l.split(/\s+/)[1]?.replace(/@.*$/, '').replace(/:$/, '') ?? '?';
          const mode = (l: string) => /macvlan mode (\w+)/.exec(l)?.[1] ?? '?';
          const actual = line
            ? `${name(line)}: up, mode bridge`
            : out.trim()
              ? out.trim().split('\n').map((l) => `${name(l)}: ${/[<,]UP[,>]/.test(l) ? 'up' : 'down'}, mode ${mode(l)}`).join('; ')
              : '(no macvlan)';
          return verdict(macvlanProbe, 'a macvlan: up, mode bridge', actual, !!line);
        },
      },
      {
        label: 'y received at least 1 MiB through it',
        run: (ctx) => {
          const y = ctx.get('y');
          if (!y?.pid) return noSandbox('y');
          const n = rxNotLo(y.pid);
          return verdict(`cat /proc/${y.pid}/net/dev   # received bytes, every device but lo`, 'at least 1 MiB', n === null ? '(unreadable)' : `${(n / 1048576).toFixed(2)} MiB`, n !== null && n >= MIN_BYTES);
        },
      },
    ],
    hints: [
      {
        when: {
          probe: macvlanProbe,
          holds: (ctx) => {
            const y = ctx.get('y');
            return !!y?.pid && /macvlan mode (vepa|private|passthru|source)/.test(macvlansOf(y.pid));
          },
        },
        text: 'y\'s macvlan is not in bridge mode: the default, vepa, hands every frame to the parent\'s wire for an outside switch to send back, and here nothing sends it back. Delete it and add it again with `mode bridge`.',
        reach: [`nsenter --net=/proc/$X/ns/net ip link add $VETH_B link $PARENT netns $Y type macvlan`],
      },
      { text: 'Create both in x\'s namespace, on $PARENT (`ip link add NAME link $PARENT type macvlan mode bridge`); `netns $Y` on the second one moves it to y as it is born. Then addresses, `up`, an iperf3 server in y and a client in x.' },
    ],
    solution: [
      'nsenter --net=/proc/$X/ns/net ip link add $VETH_A link $PARENT type macvlan mode bridge',
      'nsenter --net=/proc/$X/ns/net ip link add $VETH_B link $PARENT netns $Y type macvlan mode bridge',
      `nsenter --net=/proc/$X/ns/net ip addr add ${X_IP}/24 dev $VETH_A`,
      'nsenter --net=/proc/$X/ns/net ip link set $VETH_A up',
      `nsenter --net=/proc/$Y/ns/net ip addr add ${Y_IP}/24 dev $VETH_B`,
      'nsenter --net=/proc/$Y/ns/net ip link set $VETH_B up',
      `nsenter --net=/proc/$Y/ns/net iperf3 -s -1 -B ${Y_IP} >/dev/null 2>&1 &`,
      'sleep 1',
      `nsenter --net=/proc/$X/ns/net iperf3 -c ${Y_IP} -n 4M >/dev/null`,
    ],
  },
};

// ----- 2. a ring in z ---------------------------------------------------------------------------

/** CPU time z's cgroup must be charged: setup leaves it at a few ms; a 1 s ring took 90–500 ms on a loaded 2-CPU host. */
const Z_CPU_MIN_MS = 50;

export const ringInZ: Step = {
  id: 'ring-in-z',
  title: 'Challenge: measure inside z yourself',
  checks: [],
  hint: 'A process joins a cgroup by writing its own PID to cgroup.procs; nsenter joins namespaces.',
  challenge: {
    goal: `Run latctx's ring ($LATCTX ctx 0 8 1000: 8 processes, 1 s) inside every namespace of sandbox z and inside z's cgroup, pinned with -c to the CPU z's cpuset allows, so that z's cgroup is charged at least ${Z_CPU_MIN_MS} ms of CPU. Which CPU was it?`,
    tools: ['nsenter -t $Z', 'echo PID > $Z_CG/cgroup.procs', 'cat', '$LATCTX'],
    writes: 'cgroup files',
    setup: async (ctx) => {
      const cpu = await pinnedCpu(ctx, 'z is pinned to', 10_000);
      await ctx.sandbox('z', { ...overheadSandboxOptions(cpu), limits: { pids: 64, cpus: String(cpu) } });
    },
    vars: (ctx) => [
      { name: 'Z', value: String(ctx.get('z')?.pid ?? ''), about: "host PID of z's PID 1" },
      { name: 'Z_CG', value: cgroupDirOf(ctx, 'z', 'cpuacct') ?? '', about: "z's cgroup directory that accounts CPU time (cpuacct on v1)" },
      { name: 'Z_CPUSET', value: cgroupDirOf(ctx, 'z', 'cpuset') ?? '', about: "z's cpuset cgroup directory" },
      { name: 'LATCTX', value: latctxPath(), about: 'the lesson\'s measuring program' },
    ],
    checks: [
      {
        label: `z's cgroup was charged at least ${Z_CPU_MIN_MS} ms of CPU`,
        run: (ctx) => {
          const z = ctx.get('z');
          if (!z) return noSandbox('z');
          const u = z.usage();
          const ms = u?.cpuUsec == null ? null : Math.round(u.cpuUsec / 1000);
          const file = cgroups().version === 2 ? 'cpu.stat (usage_usec)' : 'cpuacct.usage';
          return verdict(`cat $Z_CG/${file}`, `at least ${Z_CPU_MIN_MS} ms`, ms === null ? '(unreadable)' : `${ms} ms`, ms !== null && ms >= Z_CPU_MIN_MS);
        },
      },
    ],
    questions: [
      {
        id: 'z-cpu',
        question: "Which CPU does z's cpuset allow (cpuset.cpus)?",
        answer: (ctx) => {
          const z = ctx.get('z');
          return { probe: 'cat $Z_CPUSET/cpuset.cpus', value: (z && cpuOf(z)) ?? '(unreadable)' };
        },
        explanation: 'The lesson pinned every measurement, host and sandbox, to this one CPU: a switch is then a real switch, and both sides meet the same caches and the same neighbours.',
      },
    ],
    hints: [{ text: 'In a subshell: write $$ to $Z_CG/cgroup.procs, then exec nsenter -t $Z -p -m -n -u -i into z with $LATCTX -c CPU ctx 0 8 1000, where CPU is what $Z_CPUSET/cpuset.cpus says.' }],
    solution: ['sh -c "echo \\$\\$ > $Z_CG/cgroup.procs; exec nsenter -t $Z -p -m -n -u -i -- $LATCTX -c $(cat $Z_CPUSET/cpuset.cpus) ctx 0 8 1000" >/dev/null'],
  },
};

export const CHALLENGES: Step[] = [macvlanByHand, ringInZ];
