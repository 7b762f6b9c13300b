/**
 * chroot-and-pivot-root: a root filesystem is a directory; chroot into it; the classic chroot
 * escape reaches the host's files again; pivot_root with the old root detached closes that door,
 * and the same escape ends where it started. Every claim is a real file read through
 * /proc/PID/root, the root directory of the process in question.
 */
import { createHash, randomBytes, randomInt } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import { buildRootTree, busyboxPath, mountInfo, PACKAGE_ROOT, SandboxError } from '../../runtime/index.js';
import { benchPids, hostRootMounts, nsOf } from '../challenge-probes.js';
import { noSandbox, verdict } from '../checks.js';
import type { LessonContext } from '../context.js';
import type { Lesson, TableView, View } from '../types.js';

const MARKER = 'on-the-host.txt';

/** The static escape program built next to the addon (binding.gyp target chroot-escape). */
function escapeProgram(): string {
  const p = path.join(PACKAGE_ROOT, 'build', 'Release', 'chroot-escape');
  if (!fs.existsSync(p)) {
    throw new SandboxError(`the chroot escape program is missing (${p})`, {
      code: 'E_NO_ADDON',
      hint: 'build it with `npm run build:native` (it is built with the native addon)',
    });
  }
  return p;
}

interface Paths {
  ws: string;
  rootfs: string;
  marker: string;
}

function paths(ctx: LessonContext): Paths | null {
  const ws = ctx.getWorkspace('files');
  return ws ? { ws: ws.path, rootfs: `${ws.path}/rootfs`, marker: `${ws.path}/${MARKER}` } : null;
}

/** dev:inode of a directory, e.g. of /proc/PID/root: equal = the same directory. */
function dirId(p: string): string | null {
  try {
    const st = fs.statSync(p);
    return `${st.dev}:${st.ino}`;
  } catch {
    return null;
  }
}

function readOr(p: string): { text: string | null; error: string | null } {
  try {
    return { text: fs.readFileSync(p, 'utf8').trim(), error: null };
  } catch (err) {
    return { text: null, error: (err as NodeJS.ErrnoException).code ?? String(err) };
  }
}

/** What a root directory is, in the learner's terms. */
function rootName(ctx: LessonContext, id: string | null): string {
  const p = paths(ctx);
  if (id === null) return '(gone)';
  if (id === dirId('/')) return "the host's /";
  if (p && id === dirId(p.rootfs)) return 'WS/rootfs';
  return `another directory (${id})`;
}

/** The process that ran the escape with --hold in sandbox `key`, if it is still there. */
function held(ctx: LessonContext, key: string): number | null {
  const pid = ctx.state.get(`${key}-escape`) as number | undefined;
  if (!pid || !ctx.get(key)) return null;
  return fs.existsSync(`/proc/${pid}`) ? pid : null;
}

function sampleRoots(ctx: LessonContext): TableView {
  const p = paths(ctx);
  const rows: string[][] = [];
  const add = (who: string, pid: number) => {
    const id = dirId(`/proc/${pid}/root`);
    const r = p ? readOr(`/proc/${pid}/root${p.marker}`) : { text: null, error: 'no workspace' };
    rows.push([who, String(pid), rootName(ctx, id), r.text !== null ? 'readable' : (r.error ?? '')]);
  };
  add('sandbox (host side)', process.pid);
  for (const [key, label] of [
    ['jail', 'jail'],
    ['pivoted', 'pivoted'],
  ] as const) {
    const s = ctx.get(key);
    if (!s) continue;
    add(`${label}: PID 1`, s.pid);
    const e = held(ctx, key);
    if (e) add(`${label}: chroot-escape`, e);
  }
  return {
    kind: 'table',
    columns: ['process', 'PID', 'root directory', `WS/${MARKER}`],
    rows,
    caption:
      'root directory: what /proc/PID/root is (compared by device and inode); the last column: reading the file through /proc/PID/root' +
      (p ? `; WS = ${p.ws}` : ''),
  };
}

const rootsView: View = { title: 'Filesystem roots per process', sample: sampleRoots };

/** Runs the escape once (output shown), then again with --hold so that its root can be inspected. */
async function escapeIn(ctx: LessonContext, key: string): Promise<void> {
  const p = paths(ctx);
  if (!p || !ctx.get(key)) throw new Error(`sandbox ${key} from the step before is not running`);
  await ctx.exec(key, ['chroot-escape', p.marker]);
  const pid = await ctx.start(key, ['chroot-escape', '--hold', p.marker]);
  if (pid) ctx.state.set(`${key}-escape`, pid);
  if (pid) await ctx.host(['stat', '-L', '-c', '%d:%i %n', `/proc/${pid}/root`, '/', p.rootfs]);
}

/** Where root in pivoted makes its node of the host's disk (in its root: WS/rootfs, mode 0600). */
const DISK_NODE = '/host-disk';
/** How much of the disk is compared, inside and out: the first 4 KiB (an ext4 superblock is at 1 KiB). */
const DISK_BYTES = 4096;

/** The block device the host's / is mounted from, or null when it is not one (overlay, 9p, virtiofs…). */
function hostDisk(): { dev: string; major: number; minor: number; fstype: string; source: string } | null {
  const root = mountInfo('self').find((m) => m.mountPoint === '/');
  const m = root ? /^(\d+):(\d+)$/.exec(root.dev) : null;
  if (!root || !m || Number(m[1]) === 0 || !fs.existsSync(`/sys/dev/block/${root.dev}`)) return null;
  return { dev: root.dev, major: Number(m[1]), minor: Number(m[2]), fstype: root.fstype, source: root.source };
}

/** major:minor of a device number (the kernel's dev_t encoding, as glibc's major()/minor()). */
function majorMinor(rdev: number): [number, number] {
  const high = Math.floor(rdev / 2 ** 32);
  const low = rdev >>> 0;
  return [((low >>> 8) & 0xfff) | (high & 0xfffff000), (low & 0xff) | ((low >>> 12) & 0xfff00)];
}

/** The host's own node of a block device in /dev (udev's /dev/vda…), or null. */
function hostNodeOf(major: number, minor: number): string | null {
  for (const dir of ['/dev', '/dev/block']) {
    let names: string[] = [];
    try {
      names = fs.readdirSync(dir);
    } catch {
      continue;
    }
    for (const n of names) {
      try {
        const st = fs.statSync(`${dir}/${n}`);
        if (st.isBlockDevice() && majorMinor(st.rdev).join(':') === `${major}:${minor}`) return `${dir}/${n}`;
      } catch {
        /* gone */
      }
    }
  }
  return null;
}

/**
 * Why the disk step cannot run here, or null: the host's / must be on a block device, and the
 * host's own root must be able to read it (some VMs refuse raw disk reads to everyone: then the
 * step would prove nothing).
 */
function diskUnavailable(): string | null {
  const why = whyDiskUnavailable();
  return why
    ? `${why}. What the step shows elsewhere: after pivot_root, root with CAP_MKNOD (and no filter) makes a node of the host's disk and reads it raw, and CAP_SYS_ADMIN could mount it; the wall also needs those powers gone, or a user namespace (see capabilities-and-seccomp)`
    : null;
}

function whyDiskUnavailable(): string | null {
  const d = hostDisk();
  if (!d) {
    const root = mountInfo('self').find((m) => m.mountPoint === '/');
    return `the host's / is not on a block device here (${root?.fstype ?? '?'} ${root?.source ?? ''}, device ${root?.dev ?? '?'}): there is no disk to make a node for`;
  }
  const node = hostNodeOf(d.major, d.minor);
  if (!node) return `the host has no node of its disk ${d.dev} in /dev to compare with`;
  try {
    const fd = fs.openSync(node, 'r');
    fs.closeSync(fd);
  } catch (err) {
    return `this host refuses raw reads of its disk even to its own root (open ${node}: ${(err as NodeJS.ErrnoException).code ?? err}), so the read cannot be shown`;
  }
  return null;
}

/** md5 of the first `DISK_BYTES` of a block device node, read on the host. */
function headHash(node: string): string | null {
  try {
    const fd = fs.openSync(node, 'r');
    try {
      const buf = Buffer.alloc(DISK_BYTES);
      const n = fs.readSync(fd, buf, 0, DISK_BYTES, 0);
      return createHash('md5').update(buf.subarray(0, n)).digest('hex');
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return null;
  }
}

// ----- challenges ------------------------------------------------------------------------------

/** The challenge's scratch directory ($WS). */
const wsOf = (ctx: LessonContext) => ctx.getWorkspace('ws')?.path ?? null;

/** The mount namespace of the learner's shell (the bench): "a new one" means any other. */
const benchMnt = (ctx: LessonContext) => {
  const bench = ctx.get('bench');
  return bench ? nsOf(bench.pid, 'mnt') : null;
};

/** The learner's processes whose root directory is the directory `id` (dev:inode). */
function rootedAt(ctx: LessonContext, id: string | null): number[] {
  return id ? benchPids(ctx).filter((p) => dirId(`/proc/${p}/root`) === id) : [];
}

/** The learner's processes running the program file `exeId` (dev:inode of /proc/PID/exe). */
function running(ctx: LessonContext, exeId: string | null): number[] {
  return exeId ? benchPids(ctx).filter((p) => dirId(`/proc/${p}/exe`) === exeId) : [];
}

/**
 * Whether `link` in the tree at `root` leads to an executable file when a process chrooted there
 * resolves it: an absolute symlink target starts from `root`, not from the host's /. One level,
 * enough for busybox's applet links. Returns the link's target too (null: not a symlink).
 */
function runsInside(root: string, link: string): { target: string | null; ok: boolean } {
  let target: string | null = null;
  try {
    const st = fs.lstatSync(path.join(root, link));
    if (!st.isSymbolicLink()) return { target, ok: st.isFile() && (st.mode & 0o111) !== 0 };
    target = fs.readlinkSync(path.join(root, link));
    const real = fs.statSync(target.startsWith('/') ? path.join(root, target) : path.join(root, path.dirname(link), target));
    return { target, ok: real.isFile() && (real.mode & 0o111) !== 0 };
  } catch {
    return { target, ok: false };
  }
}

/** Copies the static escape program into a root filesystem's /bin. */
function addEscape(rootfs: string): void {
  fs.copyFileSync(escapeProgram(), `${rootfs}/bin/chroot-escape`);
  fs.chmodSync(`${rootfs}/bin/chroot-escape`, 0o755);
}

/** A host file outside the root filesystems, with a random token (what an escape reads). */
function writeSecret(ws: { writeFile: (rel: string, text: string) => string }): string {
  return ws.writeFile(MARKER, `a host file outside every root filesystem here; token ${randomBytes(6).toString('hex')}\n`);
}

export const lesson: Lesson = {
  id: 'chroot-and-pivot-root',
  title: 'chroot and pivot_root',
  summary: 'build a root filesystem, chroot into it, break out with the classic escape, and see pivot_root close the door',
  requires: [{ kind: 'command', name: 'stat' }, { kind: 'busybox' }, { kind: 'command', name: 'chroot' }, { kind: 'command', name: 'nsenter' }, { kind: 'command', name: 'pivot_root' }],
  steps: [
    {
      id: 'build-rootfs',
      title: 'A root filesystem is a directory',
      action: async (ctx) => {
        const prog = escapeProgram();
        const ws = ctx.workspace('files');
        const tree = buildRootTree(`${ws.path}/rootfs`, { hostname: 'tiny' });
        ctx.explain(tree.steps);
        fs.copyFileSync(prog, `${ws.path}/rootfs/bin/chroot-escape`);
        fs.chmodSync(`${ws.path}/rootfs/bin/chroot-escape`, 0o755);
        ctx.log({ command: `cp ${prog} ${ws.path}/rootfs/bin/`, note: 'the escape program for later (statically linked, like busybox)' });
        ws.writeFile(MARKER, `a host file outside the new root; token ${randomBytes(6).toString('hex')}\n`);
        ctx.log({ command: `echo 'a host file outside the new root; token …' > ${ws.path}/${MARKER}` });
        await ctx.host(['ls', `${ws.path}/rootfs`]);
        await ctx.host(['du', '-sh', `${ws.path}/rootfs`]);
        ctx.log({
          note:
            tree.source === 'busybox'
              ? `built from the static busybox: ${tree.programs.length} commands in one program`
              : `built from the host's own programs (${tree.programs.join(', ')}) and the ${tree.libraries.length} shared libraries they load`,
        });
      },
      view: rootsView,
      checks: [
        {
          label: 'WS/rootfs holds a shell and the directories a root needs',
          run: (ctx) => {
            const p = paths(ctx);
            if (!p) return noSandbox('files', '(the workspace)');
            const have = ['bin/sh', 'etc', 'proc', 'dev', 'tmp'].filter((f) => fs.existsSync(`${p.rootfs}/${f}`));
            let exec = false;
            try {
              fs.accessSync(`${p.rootfs}/bin/sh`, fs.constants.X_OK);
              exec = true;
            } catch {
              /* missing */
            }
            return verdict(`ls ${p.rootfs}; test -x ${p.rootfs}/bin/sh`, 'bin/sh (executable) etc proc dev tmp', have.join(' ') + (exec ? '' : ' (no executable sh)'), have.length === 5 && exec);
          },
        },
        {
          label: 'the escape program in it is statically linked: it needs nothing from the host',
          run: (ctx) => {
            const p = paths(ctx);
            if (!p) return noSandbox('files', '(the workspace)');
            const f = `${p.rootfs}/bin/chroot-escape`;
            let head: Buffer | null = null;
            try {
              const fd = fs.openSync(f, 'r');
              head = Buffer.alloc(4096);
              fs.readSync(fd, head, 0, head.length, 0);
              fs.closeSync(fd);
            } catch {
              /* missing */
            }
            const elf = head !== null && head.subarray(0, 4).toString('latin1') === '\x7fELF';
            const dynamic = head !== null && head.includes('ld-linux');
            return verdict(`file ${f}`, 'ELF, statically linked', !head ? 'missing' : !elf ? 'not an ELF program' : dynamic ? 'ELF, dynamically linked' : 'ELF, statically linked', elf && !dynamic);
          },
        },
      ],
      hint: 'A root filesystem is nothing special: a directory tree with programs (and the libraries they load), /etc, and empty directories where /proc, /dev and /tmp get mounted.',
    },
    {
      id: 'chroot',
      title: 'chroot: a new "/" for one process',
      prediction: {
        question: 'Sandbox jail is started with chroot(WS/rootfs). Inside, what does `ls /` list?',
        choices: ["the host's / (bin, etc, home, usr, var…)", 'the tiny root (bin, dev, etc, proc, tmp…)', 'nothing (an empty /)'],
        answer: 1,
        explanation:
          "chroot(dir) makes dir the process's root directory: every absolute path it uses is looked up from there, and its children inherit it. The host's files are not deleted or unmounted; they are simply not reachable by name any more.",
      },
      action: async (ctx) => {
        const p = paths(ctx);
        if (!p) throw new Error('the root filesystem from step 1 is missing');
        const jail = await ctx.sandbox('jail', {
          namespaces: ['pid', 'mount'],
          rootfs: { kind: 'dir', path: p.rootfs },
          rootEntry: 'chroot',
          init: true,
        });
        ctx.explain(jail.explain.filter((s) => s.what === 'chroot'));
        await ctx.exec('jail', ['ls', '/']);
        await ctx.exec('jail', ['cat', '/etc/hostname']);
        await ctx.exec('jail', ['cat', p.marker]);
      },
      view: rootsView,
      checks: [
        {
          label: "the jail's root directory is WS/rootfs",
          run: (ctx) => {
            const jail = ctx.get('jail');
            const p = paths(ctx);
            if (!jail || !p) return noSandbox('jail');
            const id = dirId(`/proc/${jail.pid}/root`);
            return verdict(`stat -L -c %d:%i /proc/${jail.pid}/root ${p.rootfs}`, `${dirId(p.rootfs)} (WS/rootfs)`, `${id} (${rootName(ctx, id)})`, id !== null && id === dirId(p.rootfs));
          },
        },
        {
          label: `inside, the host's WS/${MARKER} is not found at its path`,
          run: (ctx) => {
            const jail = ctx.get('jail');
            const p = paths(ctx);
            if (!jail || !p) return noSandbox('jail');
            const r = readOr(`/proc/${jail.pid}/root${p.marker}`);
            return verdict(`cat /proc/${jail.pid}/root${p.marker}`, 'ENOENT', r.text !== null ? `read: ${r.text}` : (r.error ?? ''), r.error === 'ENOENT');
          },
        },
      ],
      hint: "/proc/PID/root is a process's root directory. `stat -L` on it gives the device and inode of the directory it really is.",
    },
    {
      id: 'escape',
      title: 'chroot-escape in the jail',
      prediction: {
        question:
          'As root in the jail, a program runs mkdir x; chroot x; chdir("..") 64 times; chroot("."), then reads WS/on-the-host.txt. What happens?',
        choices: ['ENOENT', "it reads the host's file", 'the kernel kills it'],
        answer: 1,
        explanation:
          'chroot("x") moves the root below the working directory, which stays where it was: outside the root. ".." is only stopped at the process\'s root, which the working directory is no longer under, so it climbs to the real / of the mount namespace. chroot(".") makes that the root. chroot was never meant to contain root.',
      },
      action: async (ctx) => escapeIn(ctx, 'jail'),
      view: rootsView,
      checks: [
        {
          label: "the escaped process's root is the host's / again",
          run: (ctx) => {
            const pid = held(ctx, 'jail');
            if (!pid) return verdict('(the escape program in the jail)', 'a running chroot-escape', 'none: the escape has not run', false);
            const id = dirId(`/proc/${pid}/root`);
            return verdict(`stat -L -c %d:%i /proc/${pid}/root /`, `${dirId('/')} (the host's /)`, `${id} (${rootName(ctx, id)})`, id !== null && id === dirId('/'));
          },
        },
        {
          label: `through its root, WS/${MARKER} is the host's file, token and all`,
          run: (ctx) => {
            const pid = held(ctx, 'jail');
            const p = paths(ctx);
            if (!pid || !p) return verdict('(the escape program in the jail)', 'a running chroot-escape', 'none: the escape has not run', false);
            const theirs = readOr(`/proc/${pid}/root${p.marker}`);
            const ours = readOr(p.marker);
            return verdict(
              `cat /proc/${pid}/root${p.marker}`,
              ours.text ?? '(the host file)',
              theirs.text ?? theirs.error ?? '',
              theirs.text !== null && theirs.text === ours.text,
            );
          },
        },
      ],
      hint: "Compare the chroot-escape row's root directory in the view with the host's /, and read what the program printed in the log.",
      takeaway: 'chroot changes the directory "/" and ".." stop at, for one process; the host\'s tree stays mounted above it, and root can climb back to it (with CAP_SYS_CHROOT, which root in the jail has).',
    },
    {
      id: 'pivot-root',
      title: 'pivot_root: a new root for the whole mount namespace',
      prediction: {
        question:
          'Sandbox pivoted enters the same WS/rootfs with pivot_root, then detaches the old root (umount -l). How many mounts of the host\'s root filesystem are left in its mount namespace?',
        choices: [],
        answer: 0,
        number: {
          unit: 'mounts',
          min: 0,
          max: 10000,
          tolerance: 0.5,
          measured: (ctx) => {
            const pv = ctx.get('pivoted');
            if (!pv) throw new Error('sandbox pivoted is not running');
            const dev = mountInfo('self').find((m) => m.mountPoint === '/')?.dev;
            return { probe: `grep -c ' ${dev} / ' /proc/${pv.pid}/mountinfo`, value: mountInfo(pv.pid).filter((m) => m.dev === dev && m.root === '/').length };
          },
        },
        explanation:
          "pivot_root swaps the namespace's root mount: the new root becomes \"/\" and the old one is moved beneath it. Unmounting that with MNT_DETACH removes the host's whole tree from the namespace. Nothing refers to it any more, so there is nothing left to climb to.",
      },
      action: async (ctx) => {
        const p = paths(ctx);
        if (!p) throw new Error('the root filesystem from step 1 is missing');
        const pv = await ctx.sandbox('pivoted', { namespaces: ['pid', 'mount'], rootfs: { kind: 'dir', path: p.rootfs }, init: true });
        ctx.explain(pv.explain.filter((s) => s.what === 'pivot_root'));
        await ctx.exec('pivoted', ['ls', '/']);
        await ctx.exec('pivoted', ['cat', '/proc/self/mountinfo']);
      },
      view: rootsView,
      checks: [
        {
          label: "pivoted's root directory is WS/rootfs too",
          run: (ctx) => {
            const pv = ctx.get('pivoted');
            const p = paths(ctx);
            if (!pv || !p) return noSandbox('pivoted');
            const id = dirId(`/proc/${pv.pid}/root`);
            return verdict(`stat -L -c %d:%i /proc/${pv.pid}/root ${p.rootfs}`, `${dirId(p.rootfs)} (WS/rootfs)`, `${id} (${rootName(ctx, id)})`, id !== null && id === dirId(p.rootfs));
          },
        },
        {
          label: "its mount namespace holds no mount of the host's root filesystem",
          run: (ctx) => {
            const pv = ctx.get('pivoted');
            if (!pv) return noSandbox('pivoted');
            const hostRoot = mountInfo('self').find((m) => m.mountPoint === '/');
            let table: ReturnType<typeof mountInfo> = [];
            try {
              table = mountInfo(pv.pid);
            } catch {
              /* gone */
            }
            const found = table.filter((m) => m.dev === hostRoot?.dev && m.root === '/');
            return verdict(
              `grep ' ${hostRoot?.dev} / ' /proc/${pv.pid}/mountinfo`,
              `no mount of ${hostRoot?.dev} (${hostRoot?.fstype} ${hostRoot?.source})`,
              table.length === 0 ? 'no mount table' : found.length ? found.map((m) => `${m.mountPoint} (${m.fstype})`).join(', ') : `none among its ${table.length} mounts`,
              table.length > 0 && found.length === 0,
            );
          },
        },
      ],
      hint: 'The explain line shows it: chdir(new root); pivot_root(".", "."); umount2(".", MNT_DETACH). /proc/PID/mountinfo of the sandbox lists what is left.',
    },
    {
      id: 'escape-fails',
      title: 'The same escape after pivot_root',
      prediction: {
        question: 'The same chroot-escape program runs in sandbox pivoted. Where does it end up?',
        choices: ["at the host's /", 'still at WS/rootfs', 'in an empty directory'],
        answer: 1,
        explanation:
          'The climb works as before, but it stops at the root of the mount namespace, and that is WS/rootfs now. The host\'s root is not mounted anywhere in this namespace, so no path leads to it.',
      },
      action: async (ctx) => escapeIn(ctx, 'pivoted'),
      view: rootsView,
      checks: [
        {
          label: 'the escape ended where it started: its root is still WS/rootfs',
          run: (ctx) => {
            const pid = held(ctx, 'pivoted');
            const p = paths(ctx);
            if (!pid || !p) return verdict('(the escape program in pivoted)', 'a running chroot-escape', 'none: the escape has not run', false);
            const id = dirId(`/proc/${pid}/root`);
            return verdict(`stat -L -c %d:%i /proc/${pid}/root ${p.rootfs}`, `${dirId(p.rootfs)} (WS/rootfs)`, `${id} (${rootName(ctx, id)})`, id !== null && id === dirId(p.rootfs));
          },
        },
        {
          label: `through its root, WS/${MARKER} does not exist`,
          run: (ctx) => {
            const pid = held(ctx, 'pivoted');
            const p = paths(ctx);
            if (!pid || !p) return verdict('(the escape program in pivoted)', 'a running chroot-escape', 'none: the escape has not run', false);
            const r = readOr(`/proc/${pid}/root${p.marker}`);
            return verdict(`cat /proc/${pid}/root${p.marker}`, 'ENOENT', r.text !== null ? `read: ${r.text}` : (r.error ?? ''), r.error === 'ENOENT');
          },
        },
      ],
      hint: "Compare the two chroot-escape rows in the view: which root directory did each end up with?",
      takeaway: 'chroot changes one process\'s idea of "/"; pivot_root changes the mount namespace\'s, and detaching the old root removes the host\'s files from it altogether. Containers use pivot_root.',
    },
    {
      id: 'root-still-reaches-the-disk',
      title: 'What root can still do',
      unavailable: () => diskUnavailable(),
      prediction: {
        question:
          "With every capability and no filter (--privileged), root in pivoted makes a device node for the host's disk (mknod … b MAJOR MINOR) and reads 2 bytes, 1080 bytes in. What happens?",
        choices: ['ENOENT', "it reads the host's disk", 'EPERM'],
        answer: 1,
        explanation:
          "pivot_root removed the host's mounts from the namespace, not the host's devices: a block device is a number the kernel knows, and root with CAP_MKNOD can make a node for it in any directory it may write, then read the whole disk raw (with CAP_SYS_ADMIN it could mount it as well). As it was, pivoted could not: its filter refuses block device nodes, as Docker's device cgroup does. A root is a wall only when root inside also lacks those powers: CAP_SYS_ADMIN dropped, block devices refused (or CAP_MKNOD dropped), or a user namespace, where root's capabilities count for nothing over the host's devices. The capabilities-and-seccomp lesson takes them one at a time.",
      },
      action: async (ctx) => {
        const pv = ctx.get('pivoted');
        const d = hostDisk();
        if (!pv) throw new Error('sandbox pivoted from step 4 is not running');
        if (!d) throw new Error("the host's / is not on a block device");
        ctx.log({ command: `grep ' / ' /proc/self/mountinfo`, note: `the host's / is ${d.source} (${d.fstype}), block device ${d.dev}` });
        // Mode 0600: the node sits in WS/rootfs, under /run/sandbox, until the lesson ends; no one but root may open it.
        const mk = `mknod -m 600 ${DISK_NODE} b ${d.major} ${d.minor}`;
        await ctx.exec('pivoted', ['sh', '-c', `${mk} 2>&1 || echo "(refused: no node made)"`]);
        await ctx.exec('pivoted', ['sh', '-c', `${mk} && ls -l ${DISK_NODE} && head -c 1082 ${DISK_NODE} | tail -c 2 | od -An -tx1`], {
          security: { privileged: true },
        });
      },
      view: rootsView,
      checks: [
        {
          label: "with every capability, root in pivoted made a node of the host's disk in its root",
          run: (ctx) => {
            const pv = ctx.get('pivoted');
            const d = hostDisk();
            if (!pv) return noSandbox('pivoted');
            if (!d) return verdict("grep ' / ' /proc/self/mountinfo", "the host's / on a block device", 'not a block device', false);
            const f = `/proc/${pv.pid}/root${DISK_NODE}`;
            let actual = 'no such file';
            let pass = false;
            try {
              const st = fs.statSync(f);
              const [maj, min] = majorMinor(st.rdev);
              actual = st.isBlockDevice() ? `block ${maj}:${min}, mode ${(st.mode & 0o777).toString(8)}` : 'not a block device';
              pass = st.isBlockDevice() && maj === d.major && min === d.minor;
            } catch {
              /* not made */
            }
            return verdict(`stat -c '%F %t:%T %a' ${f}`, `block ${d.dev} (the host's /), mode 600`, actual, pass);
          },
        },
        {
          label: "read from inside pivoted, it is the host's disk: the same bytes as the host's own node",
          run: async (ctx) => {
            const pv = ctx.get('pivoted');
            const d = hostDisk();
            if (!pv) return noSandbox('pivoted');
            if (!d) return verdict("grep ' / ' /proc/self/mountinfo", "the host's / on a block device", 'not a block device', false);
            const ours = hostNodeOf(d.major, d.minor) ?? `/proc/${pv.pid}/root${DISK_NODE}`;
            const read = async () => {
              const r = await pv.execOutput(['sh', '-c', `head -c ${DISK_BYTES} ${DISK_NODE} | md5sum`], { security: { privileged: true } });
              return r.status.code === 0 ? r.stdout.trim().split(/\s+/)[0] : (r.stderr.trim() || 'unreadable');
            };
            let inside = await read();
            let host = headHash(ours);
            // The superblock can be rewritten between the two reads (a commit): read both again once.
            if (inside !== host) [inside, host] = [await read(), headHash(ours)];
            return verdict(
              `nsenter -t ${pv.pid} -a sh -c 'head -c ${DISK_BYTES} ${DISK_NODE} | md5sum'; head -c ${DISK_BYTES} ${ours} | md5sum`,
              `equal (the host reads ${host ?? 'nothing'})`,
              `inside ${inside}`,
              host !== null && inside === host,
            );
          },
        },
      ],
      hint: "Read the two mknod attempts in the log: which one made a node, and what did reading it print?",
      takeaway:
        "pivot_root takes the host's files out of the namespace; it does not take root's powers away. The wall also needs CAP_SYS_ADMIN gone and block devices refused (a filter, a device cgroup, or CAP_MKNOD dropped), or a user namespace: see capabilities-and-seccomp.",
    },
    {
      id: 'build-a-jail',
      title: 'Challenge: a chroot jail of your own',
      checks: [],
      hint: 'A jail is a directory holding a static busybox and its links; chroot DIR PROGRAM runs PROGRAM with DIR as its root.',
      challenge: {
        goal: 'Build a root filesystem at $WS/jail from the static busybox ($BUSYBOX), with a working /bin/sh. Then leave a process running chrooted into $WS/jail, with a /proc of its own mounted there so that `ps` works inside the jail.',
        tools: ['mkdir', 'cp', 'busybox --install -s', 'chroot', 'mount'],
        setup: async () => {},
        vars: () => [{ name: 'BUSYBOX', value: busyboxPath() ?? '(no static busybox)', about: 'the static busybox on this host: one program, every command' }],
        checks: [
          {
            label: '$WS/jail/bin/sh runs inside the jail (a link that resolves there, to busybox)',
            run: (ctx) => {
              const ws = wsOf(ctx);
              if (!ws) return noSandbox('bench', '(the challenge workspace)');
              const sh = runsInside(`${ws}/jail`, 'bin/sh');
              const actual = sh.ok ? `runs${sh.target ? ` (-> ${sh.target})` : ''}` : sh.target ? `-> ${sh.target}, which does not exist inside the jail` : fs.existsSync(`${ws}/jail`) ? 'no bin/sh' : 'no $WS/jail';
              return verdict(`ls -l ${ws}/jail/bin/sh`, 'an executable, seen from inside the jail', actual, sh.ok);
            },
          },
          {
            label: 'a process of yours has $WS/jail as its root directory',
            run: (ctx) => {
              const ws = wsOf(ctx);
              if (!ws) return noSandbox('bench', '(the challenge workspace)');
              const jail = dirId(`${ws}/jail`);
              const pids = rootedAt(ctx, jail);
              return verdict(`stat -L -c %d:%i /proc/PID/root ${ws}/jail (PID: each of your processes)`, `${jail ?? '(no $WS/jail)'} for one of them`, pids.length ? `PID ${pids.join(', ')}` : 'none', pids.length > 0);
            },
          },
          {
            label: 'inside the jail, /proc is a proc mount',
            run: (ctx) => {
              const ws = wsOf(ctx);
              if (!ws) return noSandbox('bench', '(the challenge workspace)');
              const pids = rootedAt(ctx, dirId(`${ws}/jail`));
              const has = pids.find((p) => {
                try {
                  return mountInfo(p).some((m) => m.mountPoint === '/proc' && m.fstype === 'proc');
                } catch {
                  return false;
                }
              });
              return verdict(`grep ' /proc ' /proc/PID/mountinfo (PID: the jailed process)`, 'a proc mount at /proc', has ? `proc at /proc (PID ${has})` : pids.length ? 'no mount at /proc' : 'no jailed process', has !== undefined);
            },
          },
        ],
        hints: [
          {
            when: {
              probe: 'ls -l $WS/jail/bin/sh',
              holds: (ctx) => {
                const ws = wsOf(ctx);
                if (!ws) return false;
                const sh = runsInside(`${ws}/jail`, 'bin/sh');
                return sh.target !== null && !sh.ok && sh.target.startsWith(`${ws}/`);
              },
            },
            text: 'Your links point at $WS/jail/bin/busybox, a host path: inside the jail that path does not exist, because "/" is $WS/jail there. Make the links from inside: chroot $WS/jail /bin/busybox --install -s /bin.',
            reach: ['mkdir -p "$WS/jail/bin"', 'cp "$BUSYBOX" "$WS/jail/bin/busybox"', '"$WS/jail/bin/busybox" --install -s "$WS/jail/bin"'],
          },
          {
            when: {
              probe: 'ls $WS/jail/bin',
              holds: (ctx) => {
                const ws = wsOf(ctx);
                return !!ws && fs.existsSync(`${ws}/jail/bin/busybox`) && !fs.existsSync(`${ws}/jail/bin/sh`) && !runsInside(`${ws}/jail`, 'bin/sh').target;
              },
            },
            text: 'busybox is one program with many names: it picks the command by the name it was started as, so each command needs a link to it. Run its --install -s inside the jail.',
            reach: ['mkdir -p "$WS/jail/bin"', 'cp "$BUSYBOX" "$WS/jail/bin/busybox"'],
          },
          {
            when: {
              probe: "grep ' /proc ' /proc/PID/mountinfo (PID: your jailed process)",
              holds: (ctx) => {
                const ws = wsOf(ctx);
                const pids = ws ? rootedAt(ctx, dirId(`${ws}/jail`)) : [];
                return pids.length > 0 && pids.every((p) => !mountInfo(p).some((m) => m.mountPoint === '/proc'));
              },
            },
            text: 'A process runs in your jail, but ps there finds nothing: ps reads /proc, and the host\'s /proc is outside the jail. Mount one at $WS/jail/proc (mount -t proc proc DIR): the jailed process sees it as /proc.',
            reach: ['mkdir -p "$WS/jail/bin"', 'cp "$BUSYBOX" "$WS/jail/bin/busybox"', 'chroot "$WS/jail" /bin/busybox --install -s /bin', 'chroot "$WS/jail" /bin/sleep 1000 >/dev/null 2>&1 &', 'sleep 0.3'],
          },
          { text: 'mkdir -p $WS/jail/bin $WS/jail/proc; copy $BUSYBOX to $WS/jail/bin/busybox; let busybox make its links from inside the jail; mount proc; then chroot $WS/jail /bin/sleep 1000 & (a chroot that stays alive).' },
        ],
        solution: [
          'mkdir -p "$WS/jail/bin" "$WS/jail/proc"',
          'cp "$BUSYBOX" "$WS/jail/bin/busybox"',
          'chroot "$WS/jail" /bin/busybox --install -s /bin',
          'mount -t proc proc "$WS/jail/proc"',
          'chroot "$WS/jail" /bin/sleep 1000 >/dev/null 2>&1 &',
          'sleep 0.3',
        ],
      },
    },
    {
      id: 'escape-the-jail',
      title: 'Challenge: find the jail, then break out of it',
      checks: [],
      hint: '/proc/PID/root is the root directory of process PID; nsenter -r (and -w) starts a program with the root (and working directory) of the target.',
      challenge: {
        goal: 'Sandbox j is a chroot jail (its PID 1 is $J). Two root filesystems sit next to $SECRET: find out which one is j\'s root. Then start the jail\'s own /bin/chroot-escape inside j (in its namespaces, with its root) with --hold $SECRET, so that it climbs out and stays alive: the check wants that process with the host\'s / as its root.',
        tools: ['readlink', 'nsenter', 'chroot-escape (in the jail\'s /bin)'],
        setup: async (ctx) => {
          const w = ctx.workspace('ch-esc');
          const dirs = [0, 1].map(() => `${w.path}/rootfs-${randomBytes(3).toString('hex')}`);
          for (const d of dirs) {
            buildRootTree(d, { hostname: 'jail' });
            addEscape(d);
          }
          writeSecret(w);
          const jail = dirs[randomInt(2)];
          await ctx.sandbox('j', { namespaces: ['pid', 'mount'], rootfs: { kind: 'dir', path: jail }, rootEntry: 'chroot', init: true });
          // The log would name the jail's directory: that is the question, so it says rootfs-… instead.
          for (const e of ctx.takeLog()) ctx.log(e.command?.includes(jail) ? { ...e, command: e.command.split(jail).join(`${w.path}/rootfs-…`) } : e);
        },
        vars: (ctx) => [
          { name: 'J', value: String(ctx.get('j')?.pid ?? '(none)'), about: "host PID of sandbox j's PID 1 (chrooted)" },
          { name: 'SECRET', value: `${ctx.getWorkspace('ch-esc')?.path}/${MARKER}`, about: 'a host file outside both root filesystems' },
        ],
        checks: [
          {
            label: "a process of yours in j's mount namespace runs the jail's /bin/chroot-escape",
            run: (ctx) => {
              const j = ctx.get('j');
              if (!j) return noSandbox('j');
              const mnt = nsOf(j.pid, 'mnt');
              const pids = running(ctx, dirId(`/proc/${j.pid}/root/bin/chroot-escape`)).filter((p) => nsOf(p, 'mnt') === mnt);
              return verdict(`stat -L -c %d:%i /proc/PID/exe /proc/${j.pid}/root/bin/chroot-escape; readlink /proc/PID/ns/mnt`, `a process with that program, in ${mnt}`, pids.length ? `PID ${pids.join(', ')}` : 'none', pids.length > 0);
            },
          },
          {
            label: "its root directory is the host's / again",
            run: (ctx) => {
              const j = ctx.get('j');
              if (!j) return noSandbox('j');
              const mnt = nsOf(j.pid, 'mnt');
              const pids = running(ctx, dirId(`/proc/${j.pid}/root/bin/chroot-escape`)).filter((p) => nsOf(p, 'mnt') === mnt);
              const out = pids.find((p) => dirId(`/proc/${p}/root`) === dirId('/'));
              const shown = pids.map((p) => `PID ${p}: ${rootName(ctx, dirId(`/proc/${p}/root`))}`).join(', ');
              return verdict(`stat -L -c %d:%i /proc/PID/root /`, `${dirId('/')} (the host's /)`, out ? `PID ${out}: the host's /` : shown || 'no escape running', out !== undefined);
            },
          },
        ],
        hints: [
          {
            when: {
              probe: 'readlink /proc/PID/ns/mnt /proc/$J/ns/mnt (PID: your chroot-escape)',
              holds: (ctx) => {
                const j = ctx.get('j');
                if (!j) return false;
                const mnt = nsOf(j.pid, 'mnt');
                return running(ctx, dirId(`/proc/${j.pid}/root/bin/chroot-escape`)).some((p) => nsOf(p, 'mnt') !== mnt);
              },
            },
            text: "Your chroot-escape runs on the host, not in the jail: there was nothing to escape from. Start it inside j, with j's namespaces and root: nsenter -t $J -m -p -r -w /bin/chroot-escape --hold $SECRET.",
            reach: ['/proc/$J/root/bin/chroot-escape --hold "$SECRET" >/dev/null 2>&1 &', 'sleep 0.3'],
          },
          {
            when: {
              probe: 'stat -L -c %d:%i /proc/PID/root /proc/$J/root (PID: your processes in j)',
              holds: (ctx) => {
                const j = ctx.get('j');
                if (!j) return false;
                const escape = dirId(`/proc/${j.pid}/root/bin/chroot-escape`);
                const jail = dirId(`/proc/${j.pid}/root`);
                return running(ctx, escape).length === 0 && benchPids(ctx).some((p) => dirId(`/proc/${p}/root`) === jail);
              },
            },
            text: 'You are in the jail: one of your processes has its root. Now run the jail\'s /bin/chroot-escape --hold $SECRET from in there, and leave it running.',
            reach: ['nsenter -t "$J" -m -p -r -w /bin/sleep 1000 >/dev/null 2>&1 &', 'sleep 0.3'],
          },
          { text: 'stat -L -c %d:%i /proc/$J/root names j\'s root by device and inode; compare it with each rootfs-… directory. To get in: nsenter -t $J -m -p -r -w PROGRAM (without -r, PROGRAM is looked up from the root of j\'s mount namespace, which is not the jail).' },
        ],
        questions: [
          {
            id: 'which-rootfs',
            question: "Which of the two rootfs-… directories next to $SECRET is sandbox j's root? (its name)",
            answer: (ctx) => {
              const j = ctx.get('j');
              const w = ctx.getWorkspace('ch-esc')?.path;
              const root = j ? dirId(`/proc/${j.pid}/root`) : null;
              let names: string[] = [];
              try {
                names = w ? fs.readdirSync(w).filter((n) => n.startsWith('rootfs-')) : [];
              } catch {
                /* gone */
              }
              return {
                probe: 'for d in "$(dirname "$SECRET")"/rootfs-*; do [ "$(stat -L -c %d:%i "$d")" = "$(stat -L -c %d:%i /proc/$J/root)" ] && basename "$d"; done; true',
                value: names.filter((n) => root !== null && dirId(`${w}/${n}`) === root).join(' ') || '(not found)',
              };
            },
            explanation:
              "readlink /proc/$J/root prints the path in j's own mount namespace, where sandbox bound the rootfs elsewhere before chroot: a path means nothing outside its namespace. Device and inode (stat -L) name the directory itself.",
          },
        ],
        solution: ['nsenter -t "$J" -m -p -r -w /bin/chroot-escape --hold "$SECRET" >/dev/null 2>&1 &', 'sleep 0.5'],
      },
    },
    {
      id: 'a-root-you-cannot-leave',
      title: 'Challenge: a root that cannot be escaped',
      checks: [],
      hint: 'pivot_root NEW PUT_OLD in a new mount namespace: NEW must be a mount point (bind it onto itself), PUT_OLD a directory under it; then unmount PUT_OLD with -l.',
      challenge: {
        goal: "Enter $ROOTFS the way containers do: in a new mount namespace, make it the root with pivot_root and detach the old root. Then, in that namespace, run $ROOTFS's /bin/chroot-escape --hold $SECRET and leave it running: this time it must stay inside $ROOTFS.",
        tools: ['unshare -m', 'mount --bind', 'pivot_root', 'umount -l', 'chroot-escape'],
        writes: 'mount, pivot_root and umount (the system calls runc makes)',
        setup: async (ctx) => {
          const w = ctx.workspace('ch-pivot');
          buildRootTree(`${w.path}/rootfs`, { hostname: 'pivoted' });
          addEscape(`${w.path}/rootfs`);
          writeSecret(w);
        },
        vars: (ctx) => {
          const w = ctx.getWorkspace('ch-pivot')?.path;
          return [
            { name: 'ROOTFS', value: `${w}/rootfs`, about: 'a busybox root filesystem with /bin/chroot-escape in it' },
            { name: 'SECRET', value: `${w}/${MARKER}`, about: 'a host file outside it' },
          ];
        },
        checks: [
          {
            label: 'a process of yours, in a new mount namespace, has $ROOTFS as its root',
            run: (ctx) => {
              const w = ctx.getWorkspace('ch-pivot')?.path;
              if (!w) return noSandbox('ch-pivot', '(the challenge workspace)');
              const mine = benchMnt(ctx);
              const pids = rootedAt(ctx, dirId(`${w}/rootfs`)).filter((p) => nsOf(p, 'mnt') !== mine);
              return verdict(`stat -L -c %d:%i /proc/PID/root $ROOTFS; readlink /proc/PID/ns/mnt`, 'one, outside your shell\'s mount namespace', pids.length ? `PID ${pids.join(', ')}` : 'none', pids.length > 0);
            },
          },
          {
            label: "no mount of the host's root filesystem is left in its mount table",
            run: (ctx) => {
              const w = ctx.getWorkspace('ch-pivot')?.path;
              if (!w) return noSandbox('ch-pivot', '(the challenge workspace)');
              const mine = benchMnt(ctx);
              const pids = rootedAt(ctx, dirId(`${w}/rootfs`)).filter((p) => nsOf(p, 'mnt') !== mine);
              const found = pids.map((p) => ({ p, m: hostRootMounts(p) }));
              const clean = found.find((f) => f.m !== null && f.m.length === 0);
              const dev = mountInfo('self').find((m) => m.mountPoint === '/')?.dev;
              return verdict(
                `grep ' ${dev} / ' /proc/PID/mountinfo`,
                'nothing',
                clean ? `nothing (PID ${clean.p})` : found.length ? found.map((f) => `PID ${f.p}: ${f.m?.join(' ') ?? 'unreadable'}`).join(', ') : 'no such process',
                clean !== undefined,
              );
            },
          },
          {
            label: "$ROOTFS's chroot-escape ran in it and is still inside $ROOTFS",
            run: (ctx) => {
              const w = ctx.getWorkspace('ch-pivot')?.path;
              if (!w) return noSandbox('ch-pivot', '(the challenge workspace)');
              const mine = benchMnt(ctx);
              const pids = running(ctx, dirId(`${w}/rootfs/bin/chroot-escape`)).filter((p) => nsOf(p, 'mnt') !== mine);
              const inside = pids.find((p) => dirId(`/proc/${p}/root`) === dirId(`${w}/rootfs`));
              const where = (p: number) => {
                const id = dirId(`/proc/${p}/root`);
                return id === dirId('/') ? "the host's /" : id === dirId(`${w}/rootfs`) ? '$ROOTFS' : `another directory (${id})`;
              };
              return verdict(
                `stat -L -c %d:%i /proc/PID/exe /proc/PID/root $ROOTFS/bin/chroot-escape $ROOTFS`,
                'root: $ROOTFS',
                inside ? `PID ${inside}: root $ROOTFS` : pids.length ? pids.map((p) => `PID ${p}: root ${where(p)}`).join(', ') : 'no chroot-escape running in a new mount namespace',
                inside !== undefined,
              );
            },
          },
        ],
        hints: [
          {
            when: {
              probe: 'stat -L -c %d:%i /proc/PID/root / (PID: your chroot-escape)',
              holds: (ctx) => {
                const w = ctx.getWorkspace('ch-pivot')?.path;
                return !!w && running(ctx, dirId(`${w}/rootfs/bin/chroot-escape`)).some((p) => dirId(`/proc/${p}/root`) === dirId('/'));
              },
            },
            text: "The escape got out: the host's root was still mounted above $ROOTFS in its mount namespace. chroot leaves it there; pivot_root moves it under the new root, and umount -l takes it away.",
            reach: ['chroot "$ROOTFS" /bin/chroot-escape --hold "$SECRET" >/dev/null 2>&1 &', 'sleep 0.3'],
          },
          {
            when: {
              probe: "grep ' / ' /proc/PID/mountinfo (PID: your process in $ROOTFS)",
              holds: (ctx) => {
                const w = ctx.getWorkspace('ch-pivot')?.path;
                if (!w) return false;
                const mine = benchMnt(ctx);
                return rootedAt(ctx, dirId(`${w}/rootfs`)).some((p) => nsOf(p, 'mnt') !== mine && (hostRootMounts(p)?.length ?? 0) > 0);
              },
            },
            text: 'pivot_root worked, but the old root is still mounted in the namespace (see the PUT_OLD directory in its mountinfo): anything that reaches it reaches the host. Unmount it with umount -l after pivot_root.',
            reach: [`unshare -m --propagation private sh -c 'mount --bind "$ROOTFS" "$ROOTFS" && cd "$ROOTFS" && mkdir -p old-root && pivot_root . old-root && exec /bin/sleep 1000' >/dev/null 2>&1 &`, 'sleep 0.3'],
          },
          {
            text: "unshare -m --propagation private sh -c '…' with, inside: mount --bind $ROOTFS $ROOTFS; cd $ROOTFS; mkdir -p old-root; pivot_root . old-root; then exec /bin/sh -c 'umount -l /old-root; exec /bin/chroot-escape --hold …'. pivot_root fails with EINVAL if the new root is not a mount point.",
          },
        ],
        solution: [
          `unshare -m --propagation private sh -c 'mount --bind "$ROOTFS" "$ROOTFS" && cd "$ROOTFS" && mkdir -p old-root && pivot_root . old-root && exec /bin/sh -c "umount -l /old-root && exec /bin/chroot-escape --hold $SECRET"' >/dev/null 2>&1 &`,
          'sleep 0.5',
        ],
      },
    },
  ],
};
