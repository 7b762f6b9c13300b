/**
 * The course, in teaching order. Listing it loads no lesson code (so `sandbox lessons` starts
 * fast); `load` imports a lesson only when it runs.
 */
import type { Lesson } from './types.js';

export interface CourseEntry {
  id: string;
  title: string;
  summary: string;
  load: () => Promise<{ lesson: Lesson }>;
}

export const COURSE: CourseEntry[] = [
  {
    id: 'pid-namespaces',
    title: 'PID namespaces',
    summary: 'PID 1 inside, the same process seen from host and sandbox, nesting, orphans, the death of PID 1',
    load: () => import('./pid-namespaces/index.js'),
  },
  {
    id: 'mount-namespaces',
    title: 'Mount namespaces',
    summary: 'private mounts, shared subtrees (shared, slave, private), and why a new PID namespace needs a fresh /proc',
    load: () => import('./mount-namespaces/index.js'),
  },
  {
    id: 'chroot-and-pivot-root',
    title: 'chroot and pivot_root',
    summary: 'build a root filesystem, chroot into it, break out with the classic escape, and see pivot_root close the door',
    load: () => import('./chroot-and-pivot-root/index.js'),
  },
  {
    id: 'uts-ipc-namespaces',
    title: 'UTS and IPC namespaces',
    summary: 'a hostname per sandbox while the host keeps its own; System V shared memory visible only in its IPC namespace',
    load: () => import('./uts-ipc-namespaces/index.js'),
  },
  {
    id: 'net-namespaces',
    title: 'Network namespaces',
    summary: 'only lo, a veth pair between two sandboxes, a ping across it, and a host network that never changes',
    load: () => import('./net-namespaces/index.js'),
  },
  {
    id: 'user-namespaces',
    title: 'User namespaces',
    summary: 'uid/gid maps; root inside is an unprivileged uid outside; what that root can and cannot do',
    load: () => import('./user-namespaces/index.js'),
  },
  {
    id: 'capabilities-and-seccomp',
    title: 'Capabilities and seccomp',
    summary: 'root inside is not root outside only if capabilities and seccomp make it so: shocker, a remount, a seccomp filter, no_new_privs',
    load: () => import('./capabilities-and-seccomp/index.js'),
  },
  {
    id: 'cgroups-cpu',
    title: 'cgroups: CPU weights, cpusets and quotas',
    summary: 'two sandboxes on one core: equal weights, 25 %/75 %, idle cycles lent, a hard quota that lends nothing',
    load: () => import('./cgroups-cpu/index.js'),
  },
  {
    id: 'cgroups-memory',
    title: 'cgroups: memory limits and the OOM killer',
    summary: 'a memory limit, a process allocating past it, the OOM kill as it happens; a raised limit on a running sandbox',
    load: () => import('./cgroups-memory/index.js'),
  },
  {
    id: 'fork-bomb',
    title: 'A fork bomb, contained',
    summary: 'a real fork bomb held at pids.max; refused forks counted; the host stays responsive; one kill ends it all',
    load: () => import('./fork-bomb/index.js'),
  },
  {
    id: 'overlay-images',
    title: 'Overlay filesystems and image layers',
    summary: 'image layers as overlayfs lower directories, copy-on-write, whiteouts, what "commit" means, layers shared by containers',
    load: () => import('./overlay-images/index.js'),
  },
];

export function courseIds(): string[] {
  return COURSE.map((e) => e.id);
}
