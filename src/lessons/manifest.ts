/**
 * The course, in teaching order. Listing it loads no lesson code (so `sandbox lessons` starts
 * fast); `load` imports a lesson only when it runs.
 */
import type { Lesson } from './types.js';

export interface CourseEntry {
  id: string;
  title: string;
  summary: string;
  /**
   * The step ids of the lesson's challenges, in order: `sandbox lessons` counts them without
   * loading the lesson (test/unit/challenge.test.ts checks they match the lesson's own steps).
   */
  challenges: string[];
  load: () => Promise<{ lesson: Lesson }>;
}

export const COURSE: CourseEntry[] = [
  {
    id: 'pid-namespaces',
    title: 'PID namespaces',
    summary: 'PID 1 inside, the same process seen from host and sandbox, nesting, orphans, the death of PID 1',
    challenges: ['your-own-pid-namespace', 'find-pid1-on-the-host'],
    load: () => import('./pid-namespaces/index.js'),
  },
  {
    id: 'mount-namespaces',
    title: 'Mount namespaces',
    summary: 'private mounts, shared subtrees (shared, slave, private), and why a new PID namespace needs a fresh /proc',
    challenges: ['mount-only-in-b', 'receive-from-the-host', 'what-d-sees'],
    load: () => import('./mount-namespaces/index.js'),
  },
  {
    id: 'chroot-and-pivot-root',
    title: 'chroot and pivot_root',
    summary: 'build a root filesystem, chroot into it, break out with the classic escape, and see pivot_root close the door',
    challenges: ['build-a-jail', 'escape-the-jail', 'a-root-you-cannot-leave'],
    load: () => import('./chroot-and-pivot-root/index.js'),
  },
  {
    id: 'uts-ipc-namespaces',
    title: 'UTS and IPC namespaces',
    summary: 'a hostname per sandbox while the host keeps its own; System V shared memory visible only in its IPC namespace',
    challenges: ['name-b-gamma', 'find-the-segments'],
    // A lesson folder (docs/LESSON-FORMAT.md): src/lessons/uts-ipc-namespaces/lesson.md.
    load: () => import('./folder/index.js').then((m) => m.loadBuiltInFolder('uts-ipc-namespaces')),
  },
  {
    id: 'net-namespaces',
    title: 'Network namespaces',
    summary: 'a brand-new network stack, a veth pair between two sandboxes, a ping across it, and a host network that never changes',
    challenges: ['connect-a-and-b', 'read-c-from-the-host', 'a-namespace-without-a-process'],
    load: () => import('./net-namespaces/index.js'),
  },
  {
    id: 'user-namespaces',
    title: 'User namespaces',
    summary: 'uid/gid maps; root inside is an unprivileged uid outside; what that root can and cannot do',
    challenges: ['map-it-yourself', 'whose-root'],
    load: () => import('./user-namespaces/index.js'),
  },
  {
    id: 'capabilities-and-seccomp',
    title: 'Capabilities and seccomp',
    summary: 'root inside is not root outside only if capabilities and seccomp make it so: shocker, a remount, a seccomp filter, no_new_privs',
    challenges: ['root-that-cannot-read', 'which-capability'],
    load: () => import('./capabilities-and-seccomp/index.js'),
  },
  {
    id: 'cgroups-cpu',
    title: 'cgroups: CPU weights, cpusets and quotas',
    summary: 'two sandboxes on one core: equal weights, 25 %/75 %, idle cycles lent, a hard quota that lends nothing, burst credits',
    challenges: ['cap-at-half', 'split-by-weight', 'read-the-weights'],
    load: () => import('./cgroups-cpu/index.js'),
  },
  {
    id: 'cgroups-memory',
    title: 'cgroups: memory limits and the OOM killer',
    summary: 'a memory limit, what it counts (reserved or touched), a process allocating past it, the OOM kill as it happens; a raised limit; memory.high and pressure (v2)',
    challenges: ['oom-by-hand', 'read-the-counters'],
    // A lesson folder (docs/LESSON-FORMAT.md): src/lessons/cgroups-memory/lesson.md.
    load: () => import('./folder/index.js').then((m) => m.loadBuiltInFolder('cgroups-memory')),
  },
  {
    id: 'cgroups-io',
    title: 'cgroups: disk throttles and weights',
    summary: 'a loop device of its own, a writer flat out, the same writer throttled to 5 MiB/s (blkio.throttle / io.max), BFQ weights',
    challenges: ['throttle-by-hand', 'count-the-bytes'],
    load: () => import('./cgroups-io/index.js'),
  },
  {
    id: 'fork-bomb',
    title: 'A fork bomb, contained',
    summary: 'a real fork bomb held at pids.max; refused forks counted; the host stays responsive; a low CPU weight spares its neighbour; one kill ends it all',
    challenges: ['stop-at-twenty', 'end-it-yourself'],
    load: () => import('./fork-bomb/index.js'),
  },
  {
    id: 'overlay-images',
    title: 'Overlay filesystems and image layers',
    summary: 'image layers as overlayfs lower directories, copy-on-write, whiteouts, what "commit" means, layers shared by containers',
    challenges: ['stack-your-own', 'commit-a-layer'],
    load: () => import('./overlay-images/index.js'),
  },
  {
    id: 'isolation',
    title: 'Noisy neighbours: the isolation table',
    summary: 'a victim and a neighbour on one CPU: CPU, memory, disk, fork-bomb and network stress, each without and with the limit that isolates, next to 2013',
    challenges: ['give-it-back', 'count-the-kills'],
    load: () => import('./isolation/index.js'),
  },
  {
    id: 'overhead',
    title: 'The cost of a container',
    summary: 'context switches, a system call, fork + exec and TCP over veth, macvlan and VLAN: host vs sandbox, measured as ratios next to the 2013 figures',
    challenges: ['macvlan-by-hand', 'ring-in-z'],
    load: () => import('./overhead/index.js'),
  },
  {
    id: 'containers-vs-vms',
    title: 'Containers vs VMs: start-up and density',
    summary: 'a sandbox and a QEMU VM booted to the same "ready": start-up, memory, and how many sandboxes fit in one VM, next to the 2013 figures',
    challenges: ['a-ceiling-like-a-vm', 'whose-kernel'],
    load: () => import('./containers-vs-vms/index.js'),
  },
  {
    id: 'checkpoint-restore',
    title: 'Checkpoint, restore and live migration',
    summary: 'CRIU saves a running counter to files and restores it with its PIDs; pre-copy migration by dirty-page rounds; post-copy',
    challenges: ['freeze-and-copy', 'count-the-hot-pages'],
    load: () => import('./checkpoint-restore/index.js'),
  },
  {
    id: 'container-from-scratch',
    title: 'A container from scratch',
    summary: 'the capstone: an image, namespaces, pivot_root, /proc, limits and a veth, then create → start → checkpoint → restore → destroy',
    challenges: ['build-it-by-hand', 'limit-it-by-hand', 'wire-it-by-hand'],
    load: () => import('./container-from-scratch/index.js'),
  },
];

export function courseIds(): string[] {
  return COURSE.map((e) => e.id);
}
