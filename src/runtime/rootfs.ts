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

import { usageError } from './errors.js';
import { MS_NODEV, MS_NOEXEC, MS_NOSUID } from './linux.js';
import { op, type PlanOp, type Propagation } from './plan.js';

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
  const dir = path.resolve(value);
  let st: fs.Stats;
  try {
    st = fs.statSync(dir);
  } catch {
    throw usageError(
      `--rootfs ${value}: no such directory`,
      'give an existing directory that holds a root filesystem (with bin/ and the programs you run), ' +
        'or --rootfs host (the default) or --rootfs busybox',
      'E_NO_ROOTFS',
    );
  }
  if (!st.isDirectory()) throw usageError(`--rootfs ${value}: not a directory`, undefined, 'E_NO_ROOTFS');
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
}

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
  return [op.mkdir(`${root}/proc`, 0o555), op.mount('proc', 'proc', `${root}/proc`, MS_NOSUID | MS_NODEV | MS_NOEXEC)];
}

/** A minimal /dev: a small tmpfs with the harmless device nodes bind-mounted from the host. */
function devOps(root: string): PlanOp[] {
  const ops: PlanOp[] = [
    op.mkdir(`${root}/dev`),
    op.mount('tmpfs', 'tmpfs', `${root}/dev`, MS_NOSUID | MS_NOEXEC, 'mode=755,size=64k'),
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
      ops.push(op.mount('tmpfs', 'tmpfs', root, 0, 'mode=755,size=64m'));
      for (const d of hostTopLevel()) {
        if (d.link) {
          ops.push(op.symlink(d.link, `${root}/${d.name}`));
        } else {
          ops.push(
            op.mkdir(`${root}/${d.name}`),
            op.bind(`/${d.name}`, `${root}/${d.name}`),
            op.remountReadOnly(`${root}/${d.name}`),
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
        op.mount('tmpfs', 'tmpfs', root, 0, 'mode=755,size=16m'),
        op.mkdir(`${root}/bin`),
        op.touch(`${root}/bin/busybox`, 0o755),
        op.bind(bb, `${root}/bin/busybox`, false),
        op.remountReadOnly(`${root}/bin/busybox`),
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
  ops.push(op.pivotRoot(root));
  return ops;
}

/** Where a command name is looked for inside the sandbox, in PATH order. */
export function execCandidates(command: string, envPath: string): string[] {
  if (command.includes('/')) return [command];
  const dirs = envPath.split(':').filter(Boolean);
  return (dirs.length ? dirs : DEFAULT_PATH.split(':')).map((d) => `${d.replace(/\/+$/, '')}/${command}`);
}
