/**
 * chroot-and-pivot-root: a root filesystem is a directory; chroot into it; the classic chroot
 * escape reaches the host's files again; pivot_root with the old root detached closes that door,
 * and the same escape ends where it started. Every claim is a real file read through
 * /proc/PID/root, the root directory of the process in question.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import { buildRootTree, mountInfo, PACKAGE_ROOT, SandboxError } from '../../runtime/index.js';
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

export const lesson: Lesson = {
  id: 'chroot-and-pivot-root',
  title: 'chroot and pivot_root',
  summary: 'build a root filesystem, chroot into it, break out with the classic escape, and see pivot_root close the door',
  requires: [{ kind: 'command', name: 'stat' }],
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
        choices: ["the host's /: bin, etc, home, usr, var…", 'only the tiny root: bin, dev, etc, proc, tmp…', 'nothing: / is empty'],
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
      title: 'The classic chroot escape',
      prediction: {
        question:
          'As root in the jail, a program runs mkdir x; chroot x; chdir("..") 64 times; chroot("."), then reads WS/on-the-host.txt. What happens?',
        choices: ['ENOENT: the chroot holds', "it reads the host's file: it is back at the real root", 'the kernel kills it for leaving the chroot'],
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
      hint: 'The escape needs CAP_SYS_CHROOT, which root in the jail has. Dropping that capability (or a user namespace) helps, but the real fix is not to leave the host\'s root mounted: pivot_root.',
    },
    {
      id: 'pivot-root',
      title: 'pivot_root: a new root for the whole mount namespace',
      prediction: {
        question:
          'Sandbox pivoted enters the same WS/rootfs with pivot_root, then detaches the old root (umount -l). How many mounts of the host\'s root filesystem are left in its mount namespace?',
        choices: ['all of them, under the old root\'s directory', 'none: the old root was detached', 'only /'],
        answer: 1,
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
        choices: ["at the host's /", 'still at WS/rootfs: ".." stops at the namespace\'s root, which is the new root', 'in an empty directory'],
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
      hint: 'Compare the two chroot-escape rows in the view: same program, same root directory to start from, but only the chroot left the host\'s tree mounted above it.',
      takeaway: 'chroot changes one process\'s idea of "/"; pivot_root changes the mount namespace\'s, and detaching the old root removes the host\'s files from it altogether. Containers use pivot_root.',
    },
  ],
};
