/**
 * overlay-images: image layers as overlayfs lower directories; a write lands in the container's
 * upper directory and the layer is untouched (copy-on-write); a deletion leaves a whiteout;
 * "committing" the upper directory makes a new layer; two containers share one lower layer.
 * Every claim is read from the layer directories on the host, the overlay mounts in
 * /proc/self/mountinfo, and each container's files through /proc/PID/root.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { buildRootTree, mountInfo, type MountInfo } from '../../runtime/index.js';
import { noSandbox, verdict } from '../checks.js';
import type { LessonContext } from '../context.js';
import type { Lesson, TableView, View } from '../types.js';

const MOTD = { base: 'welcome (from the base layer)', app: 'welcome (from the app layer)' };
const C1_LINE = 'changed inside c1';
const CONTAINER = { namespaces: ['pid', 'mount', 'uts'] as ('pid' | 'mount' | 'uts')[], init: true };

function ws(ctx: LessonContext): string | null {
  return ctx.getWorkspace('images')?.path ?? null;
}

function read(p: string): string | null {
  try {
    return fs.readFileSync(p, 'utf8').trim();
  } catch {
    return null;
  }
}

function isWhiteout(p: string): boolean {
  try {
    const st = fs.lstatSync(p);
    return st.isCharacterDevice() && st.rdev === 0;
  } catch {
    return false;
  }
}

/** The overlay mounted at `mountPoint` on the host, with its layers parsed from the mount options. */
function overlayAt(mountPoint: string): { m: MountInfo; lower: string[]; upper: string } | null {
  const m = mountInfo('self').filter((x) => x.mountPoint === mountPoint && x.fstype === 'overlay').pop();
  if (!m) return null;
  const opt = (k: string) => m.superOptions.split(',').find((o) => o.startsWith(`${k}=`))?.slice(k.length + 1) ?? '';
  return { m, lower: opt('lowerdir').split(':').filter(Boolean), upper: opt('upperdir') };
}

/** Files in a layer directory (relative paths), whiteouts marked, symlinks counted. */
function layerFiles(dir: string): { files: string[]; whiteouts: string[]; links: number } {
  const out = { files: [] as string[], whiteouts: [] as string[], links: 0 };
  const walk = (rel: string, depth: number) => {
    let names: string[] = [];
    try {
      names = fs.readdirSync(path.join(dir, rel)).sort();
    } catch {
      return;
    }
    for (const n of names) {
      const r = rel ? `${rel}/${n}` : n;
      const st = fs.lstatSync(path.join(dir, r));
      if (st.isDirectory()) {
        if (depth < 8) walk(r, depth + 1);
      } else if (st.isSymbolicLink()) out.links++;
      else if (st.isCharacterDevice() && st.rdev === 0) out.whiteouts.push(r);
      else out.files.push(r);
    }
  };
  walk('', 0);
  return out;
}

/** A layer's contents in a few words: whiteouts first (marked), then files, then a count of links. */
function summary(dir: string): string {
  const l = layerFiles(dir);
  const items = [...l.whiteouts.map((w) => `${w} (whiteout)`), ...l.files];
  const shown = items.slice(0, 2).join(', ');
  const more = items.length > 2 ? ` +${items.length - 2}` : '';
  const links = l.links ? `; ${l.links} links` : '';
  return items.length || l.links ? `${shown}${more}${links}` : 'empty';
}

function sampleLayers(ctx: LessonContext): TableView {
  const w = ws(ctx);
  const rows: string[][] = [];
  const short = (p: string) => (w && p.startsWith(`${w}/`) ? p.slice(w.length + 1) : p);
  if (w) {
    for (const c of ['c1', 'c2', 'c3']) {
      const o = overlayAt(`${w}/${c}/merged`);
      if (!o) continue;
      rows.push([c, 'upper', short(o.upper), summary(o.upper)]);
      o.lower.forEach((l, i) => rows.push(['', `lower ${i + 1}`, short(l), summary(l)]));
    }
    if (!rows.length) {
      for (const l of ['app', 'base']) if (fs.existsSync(`${w}/layers/${l}`)) rows.push(['(none yet)', 'layer', `layers/${l}`, summary(`${w}/layers/${l}`)]);
    }
  }
  return {
    kind: 'table',
    columns: ['container', 'layer', 'directory', 'contents'],
    rows,
    caption: `each container's overlay from /proc/self/mountinfo: upper (writable), then the lower layers top to bottom${w ? `; paths under ${w}` : ''}`,
  };
}

const layersView: View = { title: 'Layer stacks (overlayfs)', sample: sampleLayers };

/** Mounts an overlay for container `name` on the host and starts a sandbox with it as its root. */
async function container(ctx: LessonContext, name: string, lowers: string[]): Promise<void> {
  const w = ctx.getWorkspace('images');
  if (!w) throw new Error('the image layers from step 1 are missing');
  ctx.explain([w.overlay(lowers.map((l) => `layers/${l}`), `${name}/upper`, `${name}/work`, `${name}/merged`)]);
  await ctx.sandbox(name, { ...CONTAINER, hostname: name, rootfs: { kind: 'dir', path: `${w.path}/${name}/merged` } });
}

export const lesson: Lesson = {
  id: 'overlay-images',
  title: 'Overlay filesystems and image layers',
  summary: 'image layers as overlayfs lower directories, copy-on-write, whiteouts, what "commit" means, layers shared by containers',
  requires: [{ kind: 'overlay' }, { kind: 'command', name: 'cp' }],
  steps: [
    {
      id: 'layers',
      title: 'Two image layers: plain directories',
      action: async (ctx) => {
        const w = ctx.workspace('images');
        const base = buildRootTree(`${w.path}/layers/base`, { hostname: 'container' });
        ctx.explain(base.steps);
        w.writeFile('layers/base/etc/os-release', 'NAME="tiny base layer"\n');
        w.writeFile('layers/base/etc/motd', `${MOTD.base}\n`);
        w.writeFile('layers/app/app/hello.txt', 'hello from the app layer\n');
        w.writeFile('layers/app/etc/motd', `${MOTD.app}\n`);
        ctx.log({ command: `echo … > layers/base/etc/{os-release,motd}; echo … > layers/app/{app/hello.txt,etc/motd}`, note: 'the base layer is a tiny root filesystem; the app layer adds a file and replaces /etc/motd' });
        await ctx.host(['find', `${w.path}/layers/app`, '-type', 'f']);
      },
      view: layersView,
      checks: [
        {
          label: 'layers/base is a root filesystem: a shell, /etc/os-release, /etc/motd',
          run: (ctx) => {
            const w = ws(ctx);
            if (!w) return noSandbox('images', '(the workspace)');
            const have = ['bin/sh', 'etc/os-release', 'etc/motd'].filter((f) => fs.existsSync(`${w}/layers/base/${f}`));
            return verdict(`ls ${w}/layers/base/{bin/sh,etc/os-release,etc/motd}`, 'bin/sh etc/os-release etc/motd', have.join(' ') || 'none');
          },
        },
        {
          label: 'layers/app holds only what the app adds or replaces',
          run: (ctx) => {
            const w = ws(ctx);
            if (!w) return noSandbox('images', '(the workspace)');
            const l = layerFiles(`${w}/layers/app`);
            return verdict(`find ${w}/layers/app -type f`, 'app/hello.txt etc/motd', l.files.join(' ') || 'none');
          },
        },
      ],
      hint: 'An image layer is nothing but a directory tree (shipped as a tarball). The layers only become one filesystem when they are mounted together.',
    },
    {
      id: 'union-mount',
      title: 'Stacking the layers: an overlay as the container\'s root',
      prediction: {
        question: 'Both layers have /etc/motd. Container c1 runs on an overlay with lowerdir=app:base. Which /etc/motd does it see?',
        choices: ["the base layer's", "the app layer's: a higher layer hides the same path below it", 'both, one after the other'],
        answer: 1,
        explanation:
          'overlayfs merges directories and, for a file that exists in several layers, shows the topmost one. lowerdir lists layers top first, so app wins for /etc/motd and base supplies everything app does not have.',
      },
      action: async (ctx) => {
        await container(ctx, 'c1', ['app', 'base']);
        await ctx.exec('c1', ['cat', '/etc/motd', '/etc/os-release', '/app/hello.txt']);
        await ctx.exec('c1', ['ls', '/']);
      },
      view: layersView,
      checks: [
        {
          label: 'the host has an overlay at c1/merged with app over base',
          run: (ctx) => {
            const w = ws(ctx);
            if (!w) return noSandbox('images', '(the workspace)');
            const o = overlayAt(`${w}/c1/merged`);
            const lower = o?.lower.map((l) => path.basename(l)).join(':');
            return verdict(`grep ${w}/c1/merged /proc/self/mountinfo`, 'overlay, lowerdir app:base, upperdir c1/upper', o ? `overlay, lowerdir ${lower}, upperdir ${path.relative(w, o.upper)}` : 'not mounted', lower === 'app:base' && o?.upper === `${w}/c1/upper`);
          },
        },
        {
          label: "through c1's root: the app layer's motd, the base layer's os-release",
          run: (ctx) => {
            const c1 = ctx.get('c1');
            if (!c1) return noSandbox('c1');
            const motd = read(`/proc/${c1.pid}/root/etc/motd`);
            const os = read(`/proc/${c1.pid}/root/etc/os-release`);
            return verdict(`cat /proc/${c1.pid}/root/etc/{motd,os-release}`, `${MOTD.app}; NAME="tiny base layer"`, `${motd}; ${os}`);
          },
        },
      ],
      hint: 'mount -t overlay overlay -o lowerdir=TOP:…:BOTTOM,upperdir=U,workdir=W MERGED: the lower layers are read-only, U takes every change, W is overlayfs\'s scratch space on the same filesystem as U.',
    },
    {
      id: 'copy-on-write',
      title: 'Copy-on-write: a change goes to the upper directory',
      prediction: {
        question: 'c1 appends a line to /etc/motd, a file that comes from the app layer. Where does the changed file end up?',
        choices: ['in the app layer: it is modified in place', "in c1's upper directory: the file is copied up first, the layer stays as it was", 'nowhere: image files are read-only'],
        answer: 1,
        explanation:
          "overlayfs never writes to a lower layer. The first write to a lower file copies it up into the upper directory, and from then on the upper copy hides the lower one. That is why many containers can share one image: every change lives in each container's own upper directory.",
      },
      action: async (ctx) => {
        await ctx.exec('c1', ['sh', '-c', `echo "${C1_LINE}" >> /etc/motd && echo "a new file" > /root/notes.txt && cat /etc/motd`]);
        const w = ws(ctx);
        if (w) await ctx.host(['find', `${w}/c1/upper`, '-type', 'f']);
      },
      view: layersView,
      checks: [
        {
          label: "c1/upper/etc/motd now exists, with c1's line in it",
          run: (ctx) => {
            const w = ws(ctx);
            if (!w) return noSandbox('images', '(the workspace)');
            const up = read(`${w}/c1/upper/etc/motd`);
            return verdict(`cat ${w}/c1/upper/etc/motd`, `${MOTD.app} + ${C1_LINE}`, up === null ? 'no such file' : up.replace(/\n/g, ' + '), up === `${MOTD.app}\n${C1_LINE}`);
          },
        },
        {
          label: 'the app layer\'s etc/motd is unchanged',
          run: (ctx) => {
            const w = ws(ctx);
            if (!w) return noSandbox('images', '(the workspace)');
            const lower = read(`${w}/layers/app/etc/motd`);
            const copied = fs.existsSync(`${w}/c1/upper/etc/motd`);
            return verdict(`cat ${w}/layers/app/etc/motd`, `${MOTD.app} (while c1/upper has the changed copy)`, `${lower}${copied ? '' : ' (and nothing was copied up)'}`, lower === MOTD.app && copied);
          },
        },
      ],
      hint: 'Look in c1/upper on the host: only what c1 changed or created is there, at the same paths.',
    },
    {
      id: 'whiteout',
      title: 'Deleting a file of a lower layer: a whiteout',
      prediction: {
        question: 'c1 deletes /etc/os-release, which comes from the base layer. What does overlayfs do?',
        choices: ['it deletes the file from the base layer', 'it puts a whiteout in the upper directory: a character device 0/0 that hides the file', 'nothing: rm fails with EROFS'],
        answer: 1,
        explanation:
          'A lower layer is never changed, so a deletion has to be recorded above it. overlayfs writes a whiteout, a character device with device number 0/0, under the same name in the upper directory. In the merged view that name is gone; in the layer below it is still there.',
      },
      action: async (ctx) => {
        await ctx.exec('c1', ['sh', '-c', 'rm /etc/os-release && ls /etc']);
        const w = ws(ctx);
        if (w) await ctx.host(['ls', '-l', `${w}/c1/upper/etc`]);
      },
      view: layersView,
      checks: [
        {
          label: 'c1/upper/etc/os-release is a whiteout (character device 0, 0)',
          run: (ctx) => {
            const w = ws(ctx);
            if (!w) return noSandbox('images', '(the workspace)');
            const p = `${w}/c1/upper/etc/os-release`;
            let what = 'no such file';
            try {
              const st = fs.lstatSync(p);
              what = st.isCharacterDevice() ? `character device ${Math.floor(st.rdev / 256)}, ${st.rdev % 256}` : 'a regular file';
            } catch {
              /* absent */
            }
            return verdict(`stat -c '%F %t,%T' ${p}`, 'character device 0, 0', what, isWhiteout(p));
          },
        },
        {
          label: 'the base layer still has the file; c1 no longer sees it',
          run: (ctx) => {
            const w = ws(ctx);
            const c1 = ctx.get('c1');
            if (!w || !c1) return noSandbox('c1');
            const inBase = fs.existsSync(`${w}/layers/base/etc/os-release`);
            const inC1 = fs.existsSync(`/proc/${c1.pid}/root/etc/os-release`);
            return verdict(`ls ${w}/layers/base/etc/os-release /proc/${c1.pid}/root/etc/os-release`, 'base: present; c1: gone', `base: ${inBase ? 'present' : 'gone'}; c1: ${inC1 ? 'present' : 'gone'}`, inBase && !inC1);
          },
        },
      ],
      hint: 'ls -l shows a whiteout as "c--------- … 0, 0": a character device no one can open, used only as a marker.',
    },
    {
      id: 'commit',
      title: 'Commit: the upper directory becomes a layer',
      prediction: {
        question: "c1's upper directory is copied as a new layer, and container c2 starts on c1-commit:app:base. Does c2 have /etc/os-release?",
        choices: ['yes: the base layer has it', 'no: the whiteout in the committed layer hides it', 'only while c1 is running'],
        answer: 1,
        explanation:
          'Whiteouts in a lower layer work just like in the upper one. The committed layer carries c1\'s changes, the new motd and the deletion, and any container built on it starts with them. This is what `docker commit` does, and every `RUN` line of a Dockerfile makes a layer the same way.',
      },
      action: async (ctx) => {
        const w = ws(ctx);
        if (!w || !ctx.get('c1')) throw new Error('container c1 from the steps before is not running');
        // cp -a keeps the whiteout device, owners, modes and overlayfs' xattrs (opaque directories).
        execFileSync('cp', ['-a', `${w}/c1/upper`, `${w}/layers/c1-commit`]);
        ctx.log({ command: `cp -a ${w}/c1/upper ${w}/layers/c1-commit`, note: 'a tarball of this directory is what an image registry would store' });
        await ctx.host(['find', `${w}/layers/c1-commit`, '!', '-type', 'd']);
        await container(ctx, 'c2', ['c1-commit', 'app', 'base']);
        await ctx.exec('c2', ['sh', '-c', 'cat /etc/motd; ls /etc; cat /root/notes.txt']);
      },
      view: layersView,
      checks: [
        {
          label: "layers/c1-commit holds c1's changes, whiteout included",
          run: (ctx) => {
            const w = ws(ctx);
            if (!w) return noSandbox('images', '(the workspace)');
            const motd = read(`${w}/layers/c1-commit/etc/motd`);
            const wo = isWhiteout(`${w}/layers/c1-commit/etc/os-release`);
            return verdict(
              `cat ${w}/layers/c1-commit/etc/motd; stat -c %F ${w}/layers/c1-commit/etc/os-release`,
              `motd with "${C1_LINE}"; os-release a whiteout`,
              `${motd === null ? 'no motd' : motd.includes(C1_LINE) ? `motd with "${C1_LINE}"` : 'motd without it'}; ${wo ? 'os-release a whiteout' : 'no whiteout'}`,
              !!motd?.includes(C1_LINE) && wo,
            );
          },
        },
        {
          label: "c2 starts with c1's changes: its motd, and no /etc/os-release",
          run: (ctx) => {
            const c2 = ctx.get('c2');
            if (!c2) return noSandbox('c2');
            const motd = read(`/proc/${c2.pid}/root/etc/motd`);
            const os = fs.existsSync(`/proc/${c2.pid}/root/etc/os-release`);
            return verdict(`cat /proc/${c2.pid}/root/etc/motd; ls /proc/${c2.pid}/root/etc/os-release`, `motd with "${C1_LINE}"; no os-release`, `${motd?.includes(C1_LINE) ? `motd with "${C1_LINE}"` : `motd: ${motd}`}; ${os ? 'os-release present' : 'no os-release'}`, !!motd?.includes(C1_LINE) && !os);
          },
        },
      ],
      hint: 'A committed layer is the upper directory, frozen: regular files for what changed, whiteouts for what was deleted.',
    },
    {
      id: 'shared-lower',
      title: 'Two containers, one base layer',
      prediction: {
        question: 'Container c3 starts on app:base, next to c2. Both use the base layer. How many copies of /bin/sh are there?',
        choices: ['one per container', 'one: both overlays read the same file in layers/base', 'none until a container runs it'],
        answer: 1,
        explanation:
          "A lower layer is shared, read-only, by every overlay that lists it: the file exists once on disk and once in the page cache. Writes never reach it, so c3's changes stay in c3's upper directory and c2 never sees them.",
      },
      action: async (ctx) => {
        await container(ctx, 'c3', ['app', 'base']);
        await ctx.exec('c3', ['sh', '-c', 'echo "only c3 wrote this" > /root/c3-was-here; ls /root']);
        await ctx.exec('c2', ['ls', '/root']);
        const w = ws(ctx);
        const [c2, c3] = [ctx.get('c2'), ctx.get('c3')];
        if (w && c2 && c3) await ctx.host(['stat', '-L', '-c', '%d:%i %n', `${w}/layers/base/bin/sh`, `/proc/${c2.pid}/root/bin/sh`, `/proc/${c3.pid}/root/bin/sh`]);
      },
      view: layersView,
      checks: [
        {
          label: "c2's and c3's overlays both have layers/base at the bottom",
          run: (ctx) => {
            const w = ws(ctx);
            if (!w || !ctx.get('c3')) return noSandbox('c3');
            const bottoms = ['c2', 'c3'].map((c) => overlayAt(`${w}/${c}/merged`)?.lower.at(-1) ?? 'not mounted');
            return verdict(`grep -E '${w}/c[23]/merged' /proc/self/mountinfo`, `${w}/layers/base for both`, bottoms.join(', '), bottoms.every((b) => b === `${w}/layers/base`));
          },
        },
        {
          label: "/bin/sh in c2 and in c3 is the base layer's file (the same inode)",
          run: (ctx) => {
            const w = ws(ctx);
            const [c2, c3] = [ctx.get('c2'), ctx.get('c3')];
            if (!w || !c2 || !c3) return noSandbox(c3 ? 'c2' : 'c3');
            const ino = (p: string) => {
              try {
                return fs.statSync(p).ino;
              } catch {
                return null;
              }
            };
            const [b, i2, i3] = [ino(`${w}/layers/base/bin/sh`), ino(`/proc/${c2.pid}/root/bin/sh`), ino(`/proc/${c3.pid}/root/bin/sh`)];
            return verdict(`stat -L -c %i ${w}/layers/base/bin/sh /proc/{${c2.pid},${c3.pid}}/root/bin/sh`, `${b} three times`, `${b} ${i2} ${i3}`, b !== null && i2 === b && i3 === b);
          },
        },
        {
          label: "c3's write is in c3's upper directory only; c2 does not see it",
          run: (ctx) => {
            const w = ws(ctx);
            const c2 = ctx.get('c2');
            if (!w || !c2 || !ctx.get('c3')) return noSandbox('c3');
            const inUpper = read(`${w}/c3/upper/root/c3-was-here`);
            const inC2 = fs.existsSync(`/proc/${c2.pid}/root/root/c3-was-here`);
            return verdict(`cat ${w}/c3/upper/root/c3-was-here; ls /proc/${c2.pid}/root/root/c3-was-here`, 'in c3/upper; not in c2', `${inUpper ? 'in c3/upper' : 'not in c3/upper'}; ${inC2 ? 'in c2!' : 'not in c2'}`, inUpper !== null && !inC2);
          },
        },
      ],
      hint: 'overlayfs passes the inode number of the underlying file through: the same number in both containers means the same file in layers/base.',
      takeaway: 'An image is a stack of read-only layers; a container is that stack plus one writable upper directory. Copy-on-write and whiteouts keep every layer unchanged, so any number of containers can share them.',
    },
  ],
};
