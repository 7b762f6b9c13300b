/** Kernel constants (stable ABI values from <linux/sched.h> and <sys/mount.h>). */

export const CLONE_NEWNS = 0x00020000;
export const CLONE_NEWCGROUP = 0x02000000;
export const CLONE_NEWUTS = 0x04000000;
export const CLONE_NEWIPC = 0x08000000;
export const CLONE_NEWUSER = 0x10000000;
export const CLONE_NEWPID = 0x20000000;
export const CLONE_NEWNET = 0x40000000;

export const MS_RDONLY = 1;
export const MS_NOSUID = 2;
export const MS_NODEV = 4;
export const MS_NOEXEC = 8;
export const MS_REMOUNT = 32;
export const MS_BIND = 4096;
export const MS_MOVE = 8192;
export const MS_REC = 16384;
export const MS_UNBINDABLE = 1 << 17;
export const MS_PRIVATE = 1 << 18;
export const MS_SLAVE = 1 << 19;
export const MS_SHARED = 1 << 20;

export const MNT_DETACH = 2;

/** Namespace kinds, named as the `sandbox run` flags name them. */
export const NAMESPACES = ['pid', 'mount', 'uts', 'ipc', 'net', 'user', 'cgroup'] as const;
export type Namespace = (typeof NAMESPACES)[number];

/** The file name under /proc/PID/ns/ for each namespace kind. */
export const NS_FILE: Record<Namespace, string> = {
  pid: 'pid',
  mount: 'mnt',
  uts: 'uts',
  ipc: 'ipc',
  net: 'net',
  user: 'user',
  cgroup: 'cgroup',
};

export const NS_CLONE_FLAG: Record<Namespace, number> = {
  pid: CLONE_NEWPID,
  mount: CLONE_NEWNS,
  uts: CLONE_NEWUTS,
  ipc: CLONE_NEWIPC,
  net: CLONE_NEWNET,
  user: CLONE_NEWUSER,
  cgroup: CLONE_NEWCGROUP,
};

/** The command-line flag for each namespace, as `unshare` and `sandbox run` spell it. */
export const NS_FLAG: Record<Namespace, string> = {
  pid: '--pid',
  mount: '--mount',
  uts: '--uts',
  ipc: '--ipc',
  net: '--net',
  user: '--user',
  cgroup: '--cgroup',
};

export const NS_CLONE_NAME: Record<Namespace, string> = {
  pid: 'CLONE_NEWPID',
  mount: 'CLONE_NEWNS',
  uts: 'CLONE_NEWUTS',
  ipc: 'CLONE_NEWIPC',
  net: 'CLONE_NEWNET',
  user: 'CLONE_NEWUSER',
  cgroup: 'CLONE_NEWCGROUP',
};

/** statfs magic numbers used to tell the cgroup layout apart. */
export const CGROUP2_SUPER_MAGIC = 0x63677270;
export const CGROUP_SUPER_MAGIC = 0x27e0eb;
export const TMPFS_MAGIC = 0x01021994;
