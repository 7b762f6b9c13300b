/**
 * container-from-scratch's challenges: the learner builds the container by hand. From the bench
 * shell: namespaces, pivot_root into a busybox image, a /proc of its own and a hostname; then
 * the limits written into a running container's cgroup files, found from /proc/PID/cgroup; then
 * a veth to the host with addresses, with `ip`.
 */
import { buildRootTree, cgroups } from '../../runtime/index.js';
import { benchPids } from '../challenge-probes.js';
import { CHALLENGE_VARS } from '../challenge.js';
import { noSandbox, verdict } from '../checks.js';
import type { LessonContext } from '../context.js';
import type { SandboxOptions } from '../../runtime/index.js';
import type { Step } from '../types.js';
import { cgroupPathOf, cgroupValue, dirId, hostRootMounts, interfacesOf, localAddresses, nsLinkOf, ownProc, readText } from './probes.js';
import { execFileSync } from 'node:child_process';

const MIB = 1024 * 1024;

/** The running challenge's variables ($VETH_A…), set by ChallengeRun.start(). */
function v(ctx: LessonContext, name: string): string {
  return (ctx.state.get(CHALLENGE_VARS) as Record<string, string> | undefined)?.[name] ?? `(no $${name})`;
}

const CONTAINER: SandboxOptions = { namespaces: ['pid', 'mount', 'uts', 'ipc', 'net'], rootfs: { kind: 'busybox' }, init: true };

// ----- 1: by hand ---------------------------------------------------------------------------------

const imageRoot = (ctx: LessonContext) => {
  const w = ctx.getWorkspace('ch-image')?.path;
  return w ? `${w}/rootfs` : null;
};

/** The learner's processes whose root is the image, outside the bench's mount namespace. */
function inImage(ctx: LessonContext): number[] {
  const root = imageRoot(ctx);
  const id = root ? dirId(root) : null;
  if (!id) return [];
  const bench = ctx.get('bench');
  const benchMnt = bench ? nsLinkOf(bench.pid, 'mnt') : null;
  return benchPids(ctx).filter((p) => dirId(`/proc/${p}/root`) === id && nsLinkOf(p, 'mnt') !== benchMnt);
}

function hostnameOf(pid: number): string | null {
  try {
    return execFileSync('nsenter', ['-t', String(pid), '-u', 'hostname'], { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

const BY_HAND =
  "unshare --pid --mount --uts --ipc --net --fork --propagation private sh -c 'hostname capstone && mount --bind \"$ROOT\" \"$ROOT\" && cd \"$ROOT\" && mkdir -p old-root && pivot_root . old-root && exec /bin/sh -c \"mount -t proc proc /proc && umount -l /old-root && exec sleep 1000\"' >/dev/null 2>&1 &";

const buildByHand: Step = {
  id: 'build-it-by-hand',
  title: 'Challenge: a container by hand',
  checks: [],
  hint: 'unshare makes the namespaces; inside, the new root must be a mount point before pivot_root; after it, mount /proc and detach the old root.',
  challenge: {
    goal:
      'Without sandbox: from your shell, start a process (a sleep) in new PID, mount, UTS, IPC and network namespaces, whose root is the busybox image $ROOT (entered with pivot_root, the old root detached), with a /proc of its own and the hostname capstone.',
    tools: ['unshare', 'mount', 'pivot_root', 'umount', 'hostname'],
    writes: 'mount, pivot_root and sethostname (what runc and lxc-start do)',
    setup: async (ctx) => {
      const w = ctx.workspace('ch-image');
      buildRootTree(`${w.path}/rootfs`, { hostname: 'capstone' });
    },
    vars: (ctx) => [{ name: 'ROOT', value: imageRoot(ctx) ?? '(none)', about: 'a busybox root filesystem (the image)' }],
    checks: [
      {
        label: 'a process of yours has $ROOT as its root, in a new mount namespace',
        run: (ctx) => {
          if (!imageRoot(ctx)) return noSandbox('ch-image', '(the challenge image)');
          const pids = inImage(ctx);
          return verdict('stat -L -c %d:%i /proc/PID/root $ROOT; readlink /proc/PID/ns/mnt', 'at least one', pids.length ? `PID ${pids.join(', ')}` : 'none', pids.length > 0);
        },
      },
      {
        label: 'it has new PID, UTS, IPC and network namespaces',
        run: (ctx) => {
          const pids = inImage(ctx);
          const ok = pids.find((p) => ['pid', 'uts', 'ipc', 'net'].every((ns) => nsLinkOf(p, ns) !== nsLinkOf('self', ns)));
          const shared = pids.length ? ['pid', 'uts', 'ipc', 'net'].filter((ns) => nsLinkOf(pids[0], ns) === nsLinkOf('self', ns)) : [];
          return verdict('readlink /proc/PID/ns/{pid,uts,ipc,net} /proc/self/ns/…', 'none shared with the host', ok ? `none shared (PID ${ok})` : pids.length ? `shared: ${shared.join(' ')}` : 'no process in $ROOT', ok !== undefined);
        },
      },
      {
        label: "no mount of the host's root filesystem is left in its mount table",
        run: (ctx) => {
          const found = inImage(ctx).map((p) => ({ p, m: hostRootMounts(p) }));
          const clean = found.find((f) => f.m !== null && f.m.length === 0);
          return verdict(
            "grep the host root's device in /proc/PID/mountinfo",
            'nothing',
            clean ? `nothing (PID ${clean.p})` : found.length ? found.map((f) => `PID ${f.p}: ${f.m?.join(' ') ?? 'unreadable'}`).join(', ') : 'no process in $ROOT',
            clean !== undefined,
          );
        },
      },
      {
        label: 'its /proc is its own and its hostname is capstone',
        run: (ctx) => {
          const pids = inImage(ctx).filter((p) => ownProc(p));
          // One nsenter per poll at most: only the first process with its own /proc is asked.
          const name = pids.length ? hostnameOf(pids[0]) : null;
          return verdict(
            'readlink /proc/PID/root/proc/1/ns/pid; nsenter -t PID -u hostname',
            'its own /proc; capstone',
            pids.length ? `its own /proc; ${name ?? '(unreadable)'}` : inImage(ctx).length ? "the host's /proc or none" : 'no process in $ROOT',
            name === 'capstone',
          );
        },
      },
    ],
    hints: [
      {
        when: {
          probe: "grep the host root's device in /proc/PID/mountinfo (PID: your process in $ROOT)",
          holds: (ctx) => inImage(ctx).some((p) => (hostRootMounts(p)?.length ?? 0) > 0),
        },
        text: "Your process is in $ROOT, but the host's root is still mounted in its namespace (under the directory you gave pivot_root, or above a chroot): detach it with umount -l once you are inside.",
        reach: [
          "unshare --pid --mount --uts --ipc --net --fork --propagation private sh -c 'mount --bind \"$ROOT\" \"$ROOT\" && cd \"$ROOT\" && mkdir -p old-root && pivot_root . old-root && exec /bin/sleep 1000' >/dev/null 2>&1 &",
          'sleep 0.5',
        ],
      },
      {
        when: {
          probe: 'readlink /proc/PID/ns/pid /proc/PID/root/proc/1/ns/pid',
          holds: (ctx) => inImage(ctx).length > 0 && !inImage(ctx).some((p) => ownProc(p)),
        },
        text: "Its /proc is empty or not of its PID namespace: mount a fresh one (mount -t proc proc /proc) from inside, after pivot_root and the fork into the new PID namespace.",
        reach: [
          "unshare --pid --mount --uts --ipc --net --fork --propagation private sh -c 'mount --bind \"$ROOT\" \"$ROOT\" && cd \"$ROOT\" && mkdir -p old-root && pivot_root . old-root && exec /bin/sh -c \"umount -l /old-root && exec sleep 1000\"' >/dev/null 2>&1 &",
          'sleep 0.5',
        ],
      },
      {
        text: 'unshare --pid --mount --uts --ipc --net --fork … sh -c \'…\' gives the namespaces. Inside: hostname; mount --bind $ROOT $ROOT (pivot_root needs a mount point); cd $ROOT; mkdir old-root; pivot_root . old-root; then from the new root: mount -t proc proc /proc; umount -l /old-root; exec sleep 1000. Start it with & so that it keeps running.',
      },
    ],
    solution: [BY_HAND, 'sleep 0.5'],
  },
};

// ----- 2: limits, written by hand ------------------------------------------------------------------

/** v1: the directory of a controller's line in /proc/$W/cgroup; v2: the one line. */
const CG_DIR = (c: string) =>
  `$( [ -f /sys/fs/cgroup/cgroup.controllers ] && echo /sys/fs/cgroup$(cut -d: -f3 /proc/$W/cgroup) || { l=$(grep -E '^[0-9]+:([^:]*,)?${c}(,[^:]*)?:' /proc/$W/cgroup); echo /sys/fs/cgroup/$(echo "$l" | cut -d: -f2)$(echo "$l" | cut -d: -f3); } )`;

function limitsWanted(): { controller: string; file: string; value: string; say: string }[] {
  const v2 = cgroups().version === 2;
  return [
    { controller: 'cpu', file: v2 ? 'cpu.weight' : 'cpu.shares', value: v2 ? '50' : '512', say: 'CPU weight 50' },
    { controller: 'memory', file: v2 ? 'memory.max' : 'memory.limit_in_bytes', value: String(64 * MIB), say: 'memory 64 MiB' },
    { controller: 'pids', file: 'pids.max', value: '30', say: '30 processes' },
  ];
}

const limitByHand: Step = {
  id: 'limit-it-by-hand',
  title: 'Challenge: limits, written by hand',
  checks: [],
  hint: '/proc/$W/cgroup names its cgroup; under /sys/fs/cgroup that path is a directory of plain files.',
  challenge: {
    goal:
      'Container w runs with no limits (its PID 1 is host PID $W). Find its cgroup from /proc/$W/cgroup and give it, by writing the files yourself: CPU weight 50 (cpu.weight 50 on cgroup v2; cpu.shares 512 on v1), memory 64 MiB (memory.max or memory.limit_in_bytes) and at most 30 processes (pids.max).',
    tools: ['cat', 'echo', 'cut'],
    writes: 'cgroup files (echo > cpu.weight/cpu.shares, memory.max/memory.limit_in_bytes, pids.max)',
    setup: async (ctx) => {
      await ctx.sandbox('w', { ...CONTAINER, hostname: 'w' });
    },
    vars: (ctx) => [{ name: 'W', value: String(ctx.get('w')?.pid ?? '(none)'), about: "host PID of container w's PID 1" }],
    checks: limitsWanted().map((e) => ({
      label: `${e.say}: ${e.file} holds ${e.value}`,
      run: (ctx: LessonContext) => {
        const w = ctx.get('w');
        if (!w) return noSandbox('w');
        const got = cgroupValue(w.pid, e.controller, e.file);
        return verdict(`cat ${got?.path ?? e.file}`, e.value, got?.value ?? '(unreadable)');
      },
    })),
    hints: [
      {
        when: {
          probe: 'cat $CG/cpu.weight or $CG/cpu.shares',
          holds: (ctx) => {
            const w = ctx.get('w');
            if (!w) return false;
            const v2 = cgroups().version === 2;
            const got = cgroupValue(w.pid, 'cpu', v2 ? 'cpu.weight' : 'cpu.shares')?.value;
            return got === (v2 ? '512' : '50');
          },
        },
        text: 'The two versions count differently: cpu.weight (v2) runs from 1 to 10000 around a default of 100; cpu.shares (v1) has 1024 as its default. Half the default is 50 in one and 512 in the other.',
        reach: [`if [ -f /sys/fs/cgroup/cgroup.controllers ]; then echo 512 > ${CG_DIR('cpu')}/cpu.weight; else echo 50 > ${CG_DIR('cpu')}/cpu.shares; fi`],
      },
      {
        text: 'cat /proc/$W/cgroup: on v2 one line 0::PATH, the directory is /sys/fs/cgroup/PATH; on v1 one line per hierarchy, N:CONTROLLERS:PATH, the directory is /sys/fs/cgroup/CONTROLLERS/PATH. Then echo VALUE > DIR/FILE (memory files accept 64M).',
      },
    ],
    questions: [
      {
        id: 'w-cgroup',
        question: 'Which cgroup path does /proc/$W/cgroup show for w (for the pids controller on v1)?',
        answer: (ctx) => {
          const w = ctx.get('w');
          const rel = w ? cgroupPathOf(w.pid, 'pids')?.rel : null;
          return {
            probe: cgroups().version === 2 ? 'cut -d: -f3 /proc/$W/cgroup' : "grep -E '^[0-9]+:pids:' /proc/$W/cgroup | cut -d: -f3",
            value: rel ?? '(no container w)',
          };
        },
        explanation: 'The runtime made that directory for w, moved w into it and wrote nothing else: a cgroup without limits only counts.',
      },
    ],
    solution: [
      `if [ -f /sys/fs/cgroup/cgroup.controllers ]; then echo 50 > ${CG_DIR('cpu')}/cpu.weight; else echo 512 > ${CG_DIR('cpu')}/cpu.shares; fi`,
      `if [ -f /sys/fs/cgroup/cgroup.controllers ]; then echo 64M > ${CG_DIR('memory')}/memory.max; else echo 64M > ${CG_DIR('memory')}/memory.limit_in_bytes; fi`,
      `echo 30 > ${CG_DIR('pids')}/pids.max`,
    ],
  },
};

// ----- 3: a veth to the host ---------------------------------------------------------------------

const netOf = (ctx: LessonContext) => (ctx.state.get('ch-net') as string | undefined) ?? '10.232.0';

const wireByHand: Step = {
  id: 'wire-it-by-hand',
  title: 'Challenge: a veth to the host',
  checks: [],
  hint: 'ip link add … type veth peer name …; ip link set … netns PID; each side then gets its address and is set up in its own namespace.',
  challenge: {
    goal: "Connect container n (host PID $N) to the host the way LXC's veth network does: a veth pair, $VETH_A on the host with $HOST_IP, $VETH_B inside n with $N_IP, both ends up.",
    tools: ['ip', 'nsenter'],
    writes: 'ip (netlink: a veth pair, one end moved into the container, addresses, links up)',
    setup: async (ctx) => {
      ctx.state.set('ch-net', `10.232.${1 + Math.floor(Math.random() * 250)}`);
      await ctx.sandbox('n', { ...CONTAINER, hostname: 'n' });
    },
    vars: (ctx) => [
      { name: 'N', value: String(ctx.get('n')?.pid ?? '(none)'), about: "host PID of container n's PID 1" },
      { name: 'HOST_IP', value: `${netOf(ctx)}.1/24`, about: "the host end's address" },
      { name: 'N_IP', value: `${netOf(ctx)}.2/24`, about: "the container end's address" },
    ],
    checks: [
      {
        label: '$VETH_B is inside n, with $N_IP',
        run: (ctx) => {
          const n = ctx.get('n');
          if (!n) return noSandbox('n');
          const vb = v(ctx, 'VETH_B');
          const ifs = interfacesOf(n.pid) ?? [];
          const addr = localAddresses(n.pid);
          const want = `${netOf(ctx)}.2`;
          return verdict(`cat /proc/$N/net/dev /proc/$N/net/fib_trie`, `${vb}; ${want}`, `${ifs.join(' ')}; ${addr.join(' ') || 'no address'}`, ifs.includes(vb) && addr.includes(want));
        },
      },
      {
        label: '$VETH_A is on the host, with $HOST_IP',
        run: (ctx) => {
          const va = v(ctx, 'VETH_A');
          const want = `${netOf(ctx)}.1`;
          const here = (interfacesOf('self') ?? []).includes(va);
          const has = localAddresses('self').includes(want);
          return verdict(`grep ${va} /proc/net/dev; grep -A1 ${want} /proc/net/fib_trie`, `${va}; ${want}`, `${here ? va : 'no such link on the host'}; ${has ? want : 'no address'}`, here && has);
        },
      },
      {
        label: 'the link is up at both ends',
        run: (ctx) => {
          const va = v(ctx, 'VETH_A');
          // A veth reports "up" only when its peer is up too (it has a carrier then).
          const state = readText(`/sys/class/net/${va}/operstate`)?.trim() ?? 'absent';
          return verdict(`cat /sys/class/net/${va}/operstate`, 'up', state);
        },
      },
    ],
    hints: [
      {
        when: {
          probe: 'grep "$VETH_A\\|$VETH_B" /proc/net/dev',
          holds: (ctx) => (interfacesOf('self') ?? []).includes(v(ctx, 'VETH_B')),
        },
        text: 'Both ends are still on the host: one of them has to move into the container\'s network namespace (ip link set … netns $N).',
        reach: ['ip link add $VETH_A type veth peer name $VETH_B'],
      },
      {
        when: {
          probe: 'cat /sys/class/net/$VETH_A/operstate',
          holds: (ctx) => {
            const n = ctx.get('n');
            const st = readText(`/sys/class/net/${v(ctx, 'VETH_A')}/operstate`)?.trim();
            return !!n && (interfacesOf(n.pid) ?? []).includes(v(ctx, 'VETH_B')) && st !== undefined && st !== 'up';
          },
        },
        text: 'The pair is in place but not up: a veth has a carrier only when both ends are up, and the container\'s end is set up from inside its namespace (nsenter -t $N -n ip link set … up).',
        reach: ['ip link add $VETH_A type veth peer name $VETH_B', 'ip link set $VETH_B netns $N', 'ip link set $VETH_A up'],
      },
      { text: 'Make the pair on the host, move $VETH_B with ip link set $VETH_B netns $N, then ip addr add and ip link set up on each side (inside n through nsenter -t $N -n).' },
    ],
    questions: [
      {
        id: 'n-links',
        question: 'How many network interfaces does n have now (lines of /proc/$N/net/dev, less its two header lines)?',
        compare: 'number',
        answer: (ctx) => {
          const n = ctx.get('n');
          return { probe: 'tail -n +3 /proc/$N/net/dev | wc -l', value: String(n ? (interfacesOf(n.pid)?.length ?? 0) : '(no container n)') };
        },
        explanation: 'lo, which every network namespace has, and the end of the veth you moved in.',
      },
    ],
    solution: [
      'ip link add $VETH_A type veth peer name $VETH_B',
      'ip link set $VETH_B netns $N',
      'ip addr add $HOST_IP dev $VETH_A',
      'ip link set $VETH_A up',
      'nsenter -t $N -n ip addr add $N_IP dev $VETH_B',
      'nsenter -t $N -n ip link set $VETH_B up',
    ],
  },
};

export const CHALLENGES: Step[] = [buildByHand, limitByHand, wireByHand];
