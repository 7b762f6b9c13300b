/**
 * Root filesystems for sandboxes, as setup plans (see plan.ts).
 *
 *  host     a fresh tmpfs root with the host's /usr, /bin, /lib* bind-mounted read-only, its own
 *           /proc, a minimal /dev, /tmp and a tiny /etc. Needs nothing extra. The default.
 *  busybox  a tmpfs root holding only a static busybox and its applet links: "an image" in a
 *           few hundred kilobytes (Debian package busybox-static).
 *  DIR      a directory you prepared (e.g. debootstrap output); bind-mounted, /proc etc.
 *           mounted where the directory has those folders.
 *  none     no new root: the host's files, with a fresh /proc when there is a new PID namespace
 *           (what `unshare --mount-proc` does).
 *
 * Every tree lives under /run/sandbox/<name>/ and every mount is made inside the sandbox's own
 * mount namespace after `/` was made rprivate, so none of it is visible on the host.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { echo, usageError } from './errors.js';
import { MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_RDONLY } from './linux.js';
import { type ExplainStep, op, type PlanOp, type Propagation } from './plan.js';

export type RootfsSpec =
  | { kind: 'host' }
  | { kind: 'busybox' }
  | { kind: 'dir'; path: string }
  | { kind: 'none' };

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** `--rootfs VALUE`: host | busybox | none | a directory. Throws a usage error for a bad one. */
export function parseRootfs(value: string): RootfsSpec {
  if (value === 'host' || value === 'busybox' || value === 'none') {
    if (value === 'busybox' && !busyboxPath()) {
      throw usageError(
        '--rootfs busybox: no static busybox on this host',
        'install it with `sudo apt-get install busybox-static`, or use --rootfs host',
        'E_NO_BUSYBOX',
      );
    }
    return { kind: value };
  }
  // A relative path (even "" or ".") would resolve against wherever sandbox was started, and that
  // directory would become the sandbox's root, writable by root inside: ask for what is meant.
  const choices = 'host (the default), busybox, none, or the absolute path of a directory that holds a root filesystem';
  if (value.trim() === '') throw usageError('--rootfs needs a value', `write ${choices}`, 'E_NO_ROOTFS');
  if (!value.startsWith('/')) {
    throw usageError(`--rootfs ${echo(value)}: not an absolute path`, `write ${choices}, e.g. --rootfs "$PWD/${echo(value)}"`, 'E_NO_ROOTFS');
  }
  const dir = path.resolve(value);
  if (dir === '/') throw usageError(`--rootfs ${echo(value)}: the host's own root`, "use --rootfs none to keep the host's root (with a fresh /proc)", 'E_NO_ROOTFS');
  let st: fs.Stats;
  try {
    st = fs.statSync(dir);
  } catch {
    throw usageError(
      `--rootfs ${echo(value)}: no such directory`,
      'give an existing directory that holds a root filesystem (with bin/ and the programs you run), ' +
        'or --rootfs host (the default) or --rootfs busybox',
      'E_NO_ROOTFS',
    );
  }
  if (!st.isDirectory()) throw usageError(`--rootfs ${echo(value)}: not a directory`, undefined, 'E_NO_ROOTFS');
  return { kind: 'dir', path: dir };
}

export function describeRootfs(spec: RootfsSpec): string {
  switch (spec.kind) {
    case 'host':
      return "tmpfs root with the host's /usr, /bin, /lib* read-only";
    case 'busybox':
      return 'tmpfs root with only a static busybox';
    case 'dir':
      return spec.path;
    case 'none':
      return "the host's root (no pivot_root)";
  }
}

/** A statically linked busybox on this host, or null. */
export function busyboxPath(): string | null {
  for (const p of ['/bin/busybox', '/usr/bin/busybox', '/usr/lib/initramfs-tools/bin/busybox']) {
    try {
      const fd = fs.openSync(p, 'r');
      const head = Buffer.alloc(4096);
      fs.readSync(fd, head, 0, head.length, 0);
      fs.closeSync(fd);
      // A dynamically linked ELF has a PT_INTERP naming the loader; a static one does not.
      if (head.subarray(0, 4).toString('latin1') === '\x7fELF' && !head.includes('ld-linux')) return p;
    } catch {
      /* not there */
    }
  }
  return null;
}

let appletCache: string[] | undefined;

function busyboxApplets(bin: string): string[] {
  if (!appletCache) {
    appletCache = execFileSync(bin, ['--list'], { encoding: 'utf8' })
      .split('\n')
      .map((s) => s.trim())
      .filter((s) => /^[a-z0-9_.[-]+$/i.test(s) && s !== 'busybox');
  }
  return appletCache;
}

export interface RootfsContext {
  /** Host path of the directory that becomes the new root (/run/sandbox/<name>/root). */
  root: string;
  hostname: string;
  pidNs: boolean;
  userNs: boolean;
  propagation: Propagation;
  /** How the new root is entered: pivot_root (default; the old root is detached) or chroot. */
  entry?: RootEntry;
  /** --privileged: /proc/sys and the rest stay writable, as in Docker. */
  privileged?: boolean;
}

/**
 * pivot_root swaps the mount namespace's root and lets the old one be detached: nothing of the
 * host stays reachable. chroot only changes the process's idea of "/": the host's root stays
 * mounted in the namespace, one classic escape away (the chroot-and-pivot-root lesson shows it).
 */
export type RootEntry = 'pivot_root' | 'chroot';

function etcFiles(root: string, hostname: string): PlanOp[] {
  return [
    op.mkdir(`${root}/etc`),
    op.write(
      `${root}/etc/passwd`,
      'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n',
    ),
    op.write(`${root}/etc/group`, 'root:x:0:\nnogroup:x:65534:\n'),
    op.write(`${root}/etc/hostname`, `${hostname}\n`),
    op.write(`${root}/etc/hosts`, `127.0.0.1\tlocalhost\n127.0.1.1\t${hostname}\n::1\tlocalhost\n`),
  ];
}

/**
 * /proc for the new root. A fresh proc shows the sandbox's own PID namespace; it can only be
 * mounted by a process that owns its PID namespace, so a user namespace without a PID namespace
 * gets the host's /proc bound instead.
 */
function procOps(root: string, ctx: RootfsContext): PlanOp[] {
  if (ctx.userNs && !ctx.pidNs) return [op.mkdir(`${root}/proc`, 0o555), op.bind('/proc', `${root}/proc`)];
  const ops = [op.mkdir(`${root}/proc`, 0o555), op.mount('proc', 'proc', `${root}/proc`, MS_NOSUID | MS_NODEV | MS_NOEXEC)];
  // Without a user namespace, root inside is the host's uid 0, and /proc/sys and
  // /proc/sysrq-trigger check only that uid and the file's mode, no capability: a write to
  // /proc/sys/kernel/core_pattern makes the host kernel run a program of the sandbox's choosing,
  // and "b" to /proc/sysrq-trigger reboots the host. Docker makes these read-only and hides a few
  // files that leak the host's kernel state; so do we. (In a user namespace root is uid 100000
  // on the host, and the kernel refuses those writes by itself.)
  if (!ctx.userNs && !ctx.privileged) ops.push(...procProtection(`${root}/proc`));
  return ops;
}

/** Docker's readonlyPaths and maskedPaths under /proc (moby oci/defaults.go), where this kernel has them. */
const PROC_READ_ONLY = ['sys', 'sysrq-trigger', 'irq', 'bus', 'fs'];
const PROC_MASKED_FILES = ['kcore', 'keys', 'timer_list', 'sched_debug', 'latency_stats', 'timer_stats'];
const PROC_MASKED_DIRS = ['acpi', 'scsi', 'asound'];

function procProtection(proc: string): PlanOp[] {
  const ops: PlanOp[] = [];
  const has = (name: string) => fs.existsSync(`/proc/${name}`);
  for (const name of PROC_READ_ONLY.filter(has)) {
    ops.push(op.bind(`${proc}/${name}`, `${proc}/${name}`, false), op.remountReadOnly(`${proc}/${name}`, MS_NOSUID | MS_NODEV | MS_NOEXEC));
  }
  for (const name of PROC_MASKED_FILES.filter(has)) ops.push(op.bind('/dev/null', `${proc}/${name}`, false));
  for (const name of PROC_MASKED_DIRS.filter(has)) {
    ops.push(op.mount('tmpfs', 'tmpfs', `${proc}/${name}`, MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, 'size=0'));
  }
  return ops;
}

/**
 * A minimal /dev: a small tmpfs with the harmless device nodes bind-mounted from the host. The
 * tmpfs is nodev, so a device node made in it (mknod) cannot be opened; the bound nodes still
 * work, because each bind is a mount of its own and carries the flags of the host's /dev.
 */
function devOps(root: string): PlanOp[] {
  const ops: PlanOp[] = [
    op.mkdir(`${root}/dev`),
    op.mount('tmpfs', 'tmpfs', `${root}/dev`, MS_NOSUID | MS_NODEV | MS_NOEXEC, 'mode=755,size=64k'),
  ];
  for (const dev of ['null', 'zero', 'full', 'random', 'urandom', 'tty']) {
    ops.push(op.touch(`${root}/dev/${dev}`, 0o666), op.bind(`/dev/${dev}`, `${root}/dev/${dev}`, false));
  }
  ops.push(
    op.symlink('/proc/self/fd', `${root}/dev/fd`),
    op.symlink('/proc/self/fd/0', `${root}/dev/stdin`),
    op.symlink('/proc/self/fd/1', `${root}/dev/stdout`),
    op.symlink('/proc/self/fd/2', `${root}/dev/stderr`),
    op.mkdir(`${root}/dev/pts`),
    op.mkdir(`${root}/dev/shm`, 0o1777),
  );
  return ops;
}

function tmpOps(root: string): PlanOp[] {
  return [op.mkdir(`${root}/tmp`, 0o1777), op.mount('tmpfs', 'tmpfs', `${root}/tmp`, MS_NOSUID | MS_NODEV, 'mode=1777')];
}

/** The host directories a "host" root borrows, as they are on this machine. */
function hostTopLevel(): { name: string; link?: string }[] {
  const out: { name: string; link?: string }[] = [];
  for (const name of ['usr', 'bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32']) {
    try {
      const st = fs.lstatSync(`/${name}`);
      if (st.isSymbolicLink()) out.push({ name, link: fs.readlinkSync(`/${name}`) });
      else if (st.isDirectory()) out.push({ name });
    } catch {
      /* absent on this host */
    }
  }
  return out;
}

/** The setup plan that builds and enters the root filesystem. Needs a mount namespace. */
export function rootfsOps(spec: RootfsSpec, ctx: RootfsContext): PlanOp[] {
  const { root } = ctx;
  const ops: PlanOp[] = [op.propagation(ctx.propagation)];
  switch (spec.kind) {
    case 'none':
      if (ctx.pidNs) ops.push(op.mount('proc', 'proc', '/proc', MS_NOSUID | MS_NODEV | MS_NOEXEC));
      return ops;
    case 'host':
      // nodev on every tmpfs of the root: a device node created inside opens nothing.
      ops.push(op.mount('tmpfs', 'tmpfs', root, MS_NOSUID | MS_NODEV, 'mode=755,size=64m'));
      for (const d of hostTopLevel()) {
        if (d.link) {
          ops.push(op.symlink(d.link, `${root}/${d.name}`));
        } else {
          ops.push(
            op.mkdir(`${root}/${d.name}`),
            op.bind(`/${d.name}`, `${root}/${d.name}`),
            // Not nosuid: the capabilities-and-seccomp lesson shows a setuid binary against
            // no_new_privs. Without CAP_SYS_ADMIN and with mount in the seccomp filter, the
            // payload cannot remount it read-write.
            op.remountReadOnly(`${root}/${d.name}`, MS_NODEV),
          );
        }
      }
      ops.push(...procOps(root, ctx), ...devOps(root), ...tmpOps(root), ...etcFiles(root, ctx.hostname));
      ops.push(op.mkdir(`${root}/root`, 0o700), op.mkdir(`${root}/run`));
      break;
    case 'busybox': {
      const bb = busyboxPath();
      if (!bb) throw usageError('no static busybox on this host', 'sudo apt-get install busybox-static', 'E_NO_BUSYBOX');
      ops.push(
        op.mount('tmpfs', 'tmpfs', root, MS_NOSUID | MS_NODEV, 'mode=755,size=16m'),
        op.mkdir(`${root}/bin`),
        op.touch(`${root}/bin/busybox`, 0o755),
        op.bind(bb, `${root}/bin/busybox`, false),
        op.remountReadOnly(`${root}/bin/busybox`, MS_NOSUID | MS_NODEV),
        op.symlink('bin', `${root}/sbin`),
        op.mkdir(`${root}/usr`),
        op.symlink('../bin', `${root}/usr/bin`),
        op.symlink('../bin', `${root}/usr/sbin`),
      );
      for (const applet of busyboxApplets(bb)) ops.push(op.symlink('busybox', `${root}/bin/${applet}`));
      ops.push(...procOps(root, ctx), ...devOps(root), ...tmpOps(root), ...etcFiles(root, ctx.hostname));
      ops.push(op.mkdir(`${root}/root`, 0o700));
      break;
    }
    case 'dir': {
      ops.push(op.bind(spec.path, root));
      const has = (d: string) => fs.existsSync(path.join(spec.path, d));
      if (has('proc')) ops.push(...procOps(root, ctx).slice(1));
      if (has('dev')) ops.push(...devOps(root).slice(1));
      if (has('tmp')) ops.push(...tmpOps(root).slice(1));
      break;
    }
  }
  ops.push(ctx.entry === 'chroot' ? op.chroot(root) : op.pivotRoot(root));
  return ops;
}

/** Where a command name is looked for inside the sandbox, in PATH order. */
export function execCandidates(command: string, envPath: string): string[] {
  if (command.includes('/')) return [command];
  const dirs = envPath.split(':').filter(Boolean);
  return (dirs.length ? dirs : DEFAULT_PATH.split(':')).map((d) => `${d.replace(/\/+$/, '')}/${command}`);
}

// --- building a root filesystem tree on the host ----------------------------------------------

export interface RootTreeOptions {
  /**
   * `busybox`: one static busybox and a link per applet (the default when the host has one);
   * `host`: the host's own programs copied with the shared libraries they load (what `ldd` lists).
   */
  source?: 'busybox' | 'host';
  /** Programs copied in `host` mode (looked up in PATH). */
  programs?: string[];
  hostname?: string;
}

export interface RootTree {
  dir: string;
  source: 'busybox' | 'host';
  /** Programs in bin/ (for busybox: its applets). */
  programs: string[];
  /** Shared libraries copied (host mode). */
  libraries: string[];
  bytes: number;
  /** What was done, as commands and system calls. */
  steps: ExplainStep[];
}

export const HOST_TREE_PROGRAMS = ['sh', 'ls', 'cat', 'echo', 'mkdir', 'rm', 'touch', 'id', 'hostname', 'sleep', 'stat', 'readlink', 'ln', 'cp', 'head'];

/** The shared libraries (and the loader) a dynamically linked program needs, from `ldd`. */
export function sharedLibraries(program: string): string[] {
  let out: string;
  try {
    out = execFileSync('ldd', [program], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return []; // "not a dynamic executable": static, nothing to copy
  }
  const libs: string[] = [];
  for (const line of out.split('\n')) {
    const m = /=>\s+(\/\S+)\s+\(/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
    if (m) libs.push(m[1]);
  }
  return libs;
}

function findProgram(name: string): string | null {
  for (const d of DEFAULT_PATH.split(':')) {
    const p = `${d}/${name}`;
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  return null;
}

/**
 * Builds a tiny root filesystem in `dir` (a new or empty directory under /run/sandbox): bin/ with
 * the programs, etc/ with passwd, group and hostname, and empty proc/, dev/, tmp/, root/ for the
 * mounts a sandbox puts there. It is an ordinary directory tree: a sandbox can chroot into it,
 * pivot_root into it (rootfs `{ kind: 'dir' }`), or use it as an image layer.
 */
export function buildRootTree(dir: string, options: RootTreeOptions = {}): RootTree {
  if (!dir.startsWith('/run/sandbox/')) throw usageError(`refusing to build a root filesystem in ${dir}: not under /run/sandbox`);
  if (fs.existsSync(dir) && fs.readdirSync(dir).length) throw usageError(`${dir} is not empty`, 'build a root filesystem in a new directory');
  const bb = busyboxPath();
  const source = options.source ?? (bb ? 'busybox' : 'host');
  if (source === 'busybox' && !bb) throw usageError('no static busybox on this host', 'sudo apt-get install busybox-static', 'E_NO_BUSYBOX');
  const steps: ExplainStep[] = [];
  const tree: RootTree = { dir, source, programs: [], libraries: [], bytes: 0, steps };
  const copy = (from: string, to: string) => {
    fs.mkdirSync(path.dirname(to), { recursive: true });
    fs.copyFileSync(from, to);
    const st = fs.statSync(from);
    fs.chmodSync(to, st.mode & 0o7777);
    tree.bytes += st.size;
  };
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  for (const [d, mode] of [['bin', 0o755], ['etc', 0o755], ['proc', 0o555], ['dev', 0o755], ['tmp', 0o1777], ['root', 0o700]] as const) {
    fs.mkdirSync(`${dir}/${d}`, { mode });
    fs.chmodSync(`${dir}/${d}`, mode);
  }
  steps.push({ what: 'mkdir', command: `mkdir -p ${dir}/{bin,etc,proc,dev,tmp,root}`, syscall: 'mkdir(…) × 6' });

  if (source === 'busybox') {
    copy(bb!, `${dir}/bin/busybox`);
    steps.push({ what: 'cp', command: `cp ${bb} ${dir}/bin/busybox`, syscall: `open + copy_file_range(${tree.bytes} bytes)`, result: 'one statically linked program: it needs no libraries' });
    const applets = busyboxApplets(bb!);
    for (const a of applets) fs.symlinkSync('busybox', `${dir}/bin/${a}`);
    fs.symlinkSync('bin', `${dir}/sbin`);
    fs.mkdirSync(`${dir}/usr`);
    fs.symlinkSync('../bin', `${dir}/usr/bin`);
    fs.symlinkSync('../bin', `${dir}/usr/sbin`);
    tree.programs = applets;
    steps.push({
      what: 'ln',
      command: `for a in $(busybox --list); do ln -s busybox ${dir}/bin/$a; done`,
      syscall: `symlink("busybox", "${dir}/bin/…") × ${applets.length}`,
      result: `${applets.length} commands (sh, ls, cat, mount…), all the same busybox`,
    });
  } else {
    const libs = new Set<string>();
    for (const name of options.programs ?? HOST_TREE_PROGRAMS) {
      const p = findProgram(name);
      if (!p) continue;
      copy(fs.realpathSync(p), `${dir}/bin/${name}`);
      tree.programs.push(name);
      for (const l of sharedLibraries(p)) libs.add(l);
    }
    for (const l of libs) copy(fs.realpathSync(l), `${dir}${l}`);
    tree.libraries = [...libs];
    steps.push({
      what: 'cp',
      command: `cp $(which ${tree.programs.join(' ')}) ${dir}/bin/`,
      syscall: `open + copy_file_range × ${tree.programs.length}`,
    });
    steps.push({
      what: 'ldd',
      command: `ldd ${dir}/bin/* | grep -o '/[^ ]*' | sort -u | xargs -I{} cp --parents {} ${dir}`,
      syscall: `open + copy_file_range × ${libs.size}`,
      result: `${libs.size} shared libraries, at the paths the dynamic loader looks for them`,
    });
    fs.symlinkSync('bin', `${dir}/sbin`);
  }
  const hostname = options.hostname ?? 'tiny';
  fs.writeFileSync(`${dir}/etc/passwd`, 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n');
  fs.writeFileSync(`${dir}/etc/group`, 'root:x:0:\nnogroup:x:65534:\n');
  fs.writeFileSync(`${dir}/etc/hostname`, `${hostname}\n`);
  steps.push({ what: 'write', command: `echo root:x:0:0:… > ${dir}/etc/passwd  # and group, hostname`, syscall: 'open + write × 3' });
  return tree;
}
