/**
 * overlay-images: image layers as overlayfs lower directories; a write lands in the container's
 * upper directory and the layer is untouched (copy-on-write); a deletion leaves a whiteout;
 * "committing" the upper directory makes a new layer; two containers share one lower layer.
 * Every claim is read from the layer directories on the host, the overlay mounts in
 * /proc/self/mountinfo, and each container's files through /proc/PID/root.
 */
import { execFileSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import { buildRootTree, mountInfo, type MountInfo } from '../../runtime/index.js';
import { benchPids, nsOf } from '../challenge-probes.js';
import { noSandbox, verdict } from '../checks.js';
import type { LessonContext } from '../context.js';
import type { Lesson, TableView, View } from '../types.js';

const MOTD = { base: 'welcome (from the base layer)', app: 'welcome (from the app layer)' };
const C1_LINE = 'changed inside c1';
const C3_LINE = 'changed inside c3';
/** The base layer's /etc/issue before and after step 6 changes it in place (same length: see there). */
const ISSUE = { v1: 'tiny base layer, version 1', v2: 'tiny base layer, version 2' };
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

// ----- challenges ------------------------------------------------------------------------------

const C_LINE = 'written in c';

/** A mount's overlay layers from its options (lowerdir lists the top layer first). */
function layersOf(m: MountInfo): { lower: string[]; upper: string } {
  const opt = (k: string) => m.superOptions.split(',').find((o) => o.startsWith(`${k}=`))?.slice(k.length + 1) ?? '';
  return { lower: opt('lowerdir').split(':').filter(Boolean).map((l) => path.resolve(l)), upper: opt('upperdir') };
}

/**
 * Overlay mounts in the mount namespaces of the learner's processes (the challenge shell's own
 * and any it made), each with a PID to read files through (/proc/PID/root): the host's
 * /proc/self/mountinfo does not show them.
 */
function learnerOverlays(ctx: LessonContext): { pid: number; mountPoint: string; lower: string[]; upper: string }[] {
  const seen = new Set<string>();
  const out: { pid: number; mountPoint: string; lower: string[]; upper: string }[] = [];
  for (const pid of benchPids(ctx)) {
    const ns = nsOf(pid, 'mnt');
    if (!ns || seen.has(ns)) continue;
    seen.add(ns);
    try {
      for (const m of mountInfo(pid)) if (m.fstype === 'overlay') out.push({ pid, mountPoint: m.mountPoint, ...layersOf(m) });
    } catch {
      /* gone */
    }
  }
  return out;
}

/** The learner's overlay mounted at `dir` (the last one mounted there), or null. */
function learnerOverlayAt(ctx: LessonContext, dir: string | null) {
  return dir ? (learnerOverlays(ctx).filter((o) => o.mountPoint === dir).pop() ?? null) : null;
}

/** The challenge's scratch directory ($WS). */
const wsOf = (ctx: LessonContext) => ctx.getWorkspace('ws')?.path ?? null;

/** Paths relative to the layer, whiteouts marked "(whiteout)", sorted: what a layer holds. */
function layerList(dir: string): string[] {
  const l = layerFiles(dir);
  return [...l.files, ...l.whiteouts.map((w) => `${w} (whiteout)`)].sort();
}

/** Sandbox c's root overlay, read from its own mountinfo (the one mounted at its "/"). */
function cOverlay(ctx: LessonContext): { lower: string[]; upper: string } | null {
  const c = ctx.get('c');
  if (!c) return null;
  try {
    const m = mountInfo(c.pid).find((x) => x.mountPoint === '/' && x.fstype === 'overlay');
    return m ? layersOf(m) : null;
  } catch {
    return null;
  }
}

/** A device number as major:minor (decimal), as stat's %Hd:%Ld and /proc/PID/maps (in hex) show it. */
function devName(dev: number): string {
  return `${Math.floor(dev / 256) & 0xfff}:${(dev & 0xff) | ((Math.floor(dev / 4096) & ~0xff) >>> 0)}`;
}

const sameList = (a: string[], b: string[]) => a.length === b.length && a.every((x, i) => x === b[i]);

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
        w.writeFile('layers/base/etc/issue', `${ISSUE.v1}\n`);
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
        choices: ["the base layer's", "the app layer's", 'both, one after the other'],
        answer: 1,
        explanation:
          'overlayfs merges directories and, for a file that exists in several layers, shows the topmost one: a higher layer hides the same path below it. lowerdir lists layers top first, so app wins for /etc/motd and base supplies everything app does not have.',
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
      hint: "cat /proc/PID/root/etc/motd reads the file as c1 sees it; cat each layer's etc/motd on the host to tell them apart.",
    },
    {
      id: 'copy-on-write',
      title: 'Changing a file of a lower layer',
      prediction: {
        question: 'c1 appends a line to /etc/motd, a file that comes from the app layer. Where does the changed file end up?',
        choices: ['in the app layer, changed in place', "in c1's upper directory", 'nowhere, the write fails with EROFS'],
        answer: 1,
        explanation:
          "overlayfs never writes to a lower layer. The first write to a lower file copies it up into the upper directory (copy-on-write), and from then on the upper copy hides the lower one. That is why many containers can share one image: every change lives in each container's own upper directory.",
      },
      action: async (ctx) => {
        await ctx.exec('c1', ['sh', '-c', `echo "${C1_LINE}" >> /etc/motd && echo "a new file" > /root/notes.txt && cat /etc/motd`]);
        const w = ws(ctx);
        if (w) {
          await ctx.host(['find', `${w}/c1/upper`, `${w}/layers/app`, '-type', 'f']);
          await ctx.host(['cat', `${w}/layers/app/etc/motd`]);
        }
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
      hint: "The live view lists what each of c1's layers holds; on the host, find -type f lists a layer's files and cat shows a copy's contents.",
    },
    {
      id: 'whiteout',
      title: 'Deleting a file of a lower layer',
      prediction: {
        question: 'c1 deletes /etc/os-release, which comes from the base layer. What does overlayfs do?',
        choices: ['it deletes the file from the base layer', "it leaves a marker in c1's upper directory", 'rm fails with EROFS'],
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
      hint: 'ls -l on the host: the first letter of each line is the file type, and a device shows its major, minor numbers where the size would be.',
    },
    {
      id: 'commit',
      title: 'Commit: the upper directory becomes a layer',
      prediction: {
        question: "c1's upper directory is copied as a new layer, and container c2 starts on c1-commit:app:base. Does c2 have /etc/os-release?",
        choices: ['yes, from the base layer', 'no', 'only while c1 is running'],
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
      hint: "find layers/c1-commit ! -type d lists what the new layer holds; ls /proc/PID/root/etc shows what c2 sees.",
    },
    {
      id: 'shared-lower',
      title: 'Two containers, one base layer',
      prediction: {
        question: `c3 appends a line to its /etc/issue, a file of the base layer; c2 only reads its own. Then the host changes layers/base/etc/issue in place: "version 1" becomes "version 2". Which containers see "version 2" in their /etc/issue?`,
        choices: ['c2 and c3', 'c2 only', 'c3 only', 'neither'],
        answer: 1,
        explanation:
          "c2 has no /etc/issue of its own: its overlay reads the base layer's file itself, so a change to that one file shows in c2, as it would in every container on this image that has not written to it. When c3 wrote to its /etc/issue, overlayfs copied the file up into c3/upper first; from then on c3 reads its own copy, and the base layer's file is hidden from it. " +
          "stat cannot tell these apart. Through a container it reports the overlay's own device (one per mount) and, because all the layers here lie on one filesystem, the lower file's inode number: overlayfs passes it through, and keeps it after a copy-up (the copy records its origin), so that a file's number does not change when it is written. With layers on several filesystems, the xino option adds the number of the layer's filesystem in the high bits. Equal inode numbers on different devices prove nothing by themselves; a change to the one file does. " +
          "(overlayfs calls changing a layer under a mounted overlay undefined: the lesson does it only as this test. Image layers are never written.)",
      },
      action: async (ctx) => {
        const w = ws(ctx);
        if (!w) throw new Error('the image layers from step 1 are missing');
        await container(ctx, 'c3', ['app', 'base']);
        await ctx.exec('c3', ['sh', '-c', `echo "only c3 wrote this" > /root/c3-was-here; echo "${C3_LINE}" >> /etc/issue; cat /etc/issue`]);
        await ctx.exec('c2', ['cat', '/etc/issue']);
        const [c2, c3] = [ctx.get('c2'), ctx.get('c3')];
        if (!c2 || !c3) return;
        const lower = `${w}/layers/base/etc/issue`;
        await ctx.host(['stat', '-c', '%Hd:%Ld %i %n', lower, `/proc/${c2.pid}/root/etc/issue`, `/proc/${c3.pid}/root/etc/issue`, `${w}/c3/upper/etc/issue`]);
        ctx.log({ note: 'the same inode number through c2 and c3, each on a device of its own; c3/upper holds a file with another number: equal numbers do not say "one file"' });
        // In place, the same length: sed -i or an editor would write a new file (a new inode),
        // which the overlays, having looked the old one up, would not show; that is not the test.
        const text = fs.readFileSync(lower, 'utf8');
        const at = Buffer.byteLength(text.slice(0, text.indexOf(ISSUE.v1)));
        // (Never through a link: written as root.)
        const fd = fs.openSync(lower, fs.constants.O_RDWR | fs.constants.O_NOFOLLOW);
        try {
          fs.writeSync(fd, ISSUE.v2, at);
        } finally {
          fs.closeSync(fd);
        }
        ctx.log({
          command: `printf '${ISSUE.v2}' | dd of=${lower} seek=${at} bs=1 conv=notrunc`,
          syscall: `pwrite(fd of ${lower}, "${ISSUE.v2}", ${ISSUE.v2.length}, ${at})`,
          note: 'the base layer\'s file changed in place, on the host (a test only: layers are never written)',
        });
        await ctx.exec('c2', ['cat', '/etc/issue']);
        await ctx.exec('c3', ['cat', '/etc/issue']);
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
          label: "stat shows the base file's inode number through c2 and c3, yet c3's is a copy in c3/upper",
          run: (ctx) => {
            const w = ws(ctx);
            const [c2, c3] = [ctx.get('c2'), ctx.get('c3')];
            if (!w || !c2 || !c3) return noSandbox(c3 ? 'c2' : 'c3');
            const st = (p: string) => {
              try {
                const x = fs.statSync(p);
                return { dev: devName(x.dev), ino: x.ino };
              } catch {
                return null;
              }
            };
            const [b, s2, s3, up] = [st(`${w}/layers/base/etc/issue`), st(`/proc/${c2.pid}/root/etc/issue`), st(`/proc/${c3.pid}/root/etc/issue`), st(`${w}/c3/upper/etc/issue`)];
            const show = (x: typeof b) => (x ? `${x.dev} ${x.ino}` : 'none');
            return verdict(
              `stat -c '%Hd:%Ld %i' ${w}/layers/base/etc/issue /proc/{${c2.pid},${c3.pid}}/root/etc/issue ${w}/c3/upper/etc/issue`,
              b ? `c2: inode ${b.ino} (the base file's); c3/upper/etc/issue: a file of its own, not inode ${b.ino}` : "the base layer's etc/issue",
              `base ${show(b)}; through c2 ${show(s2)}; through c3 ${show(s3)}; c3/upper ${show(up)}`,
              !!b && !!s2 && !!up && s2.ino === b.ino && s2.dev !== b.dev && (up.dev !== b.dev || up.ino !== b.ino),
            );
          },
        },
        {
          label: "the change to the base layer's file shows in c2; c3 reads its own copy",
          run: (ctx) => {
            const w = ws(ctx);
            const [c2, c3] = [ctx.get('c2'), ctx.get('c3')];
            if (!w || !c2 || !c3) return noSandbox(c3 ? 'c2' : 'c3');
            const t2 = read(`/proc/${c2.pid}/root/etc/issue`);
            const t3 = read(`/proc/${c3.pid}/root/etc/issue`);
            const one = (t: string | null) => (t === null ? 'no file' : t.replace(/\n/g, ' + '));
            return verdict(
              `cat /proc/${c2.pid}/root/etc/issue /proc/${c3.pid}/root/etc/issue`,
              `c2: ${ISSUE.v2}; c3: ${ISSUE.v1} + ${C3_LINE}`,
              `c2: ${one(t2)}; c3: ${one(t3)}`,
              t2 === ISSUE.v2 && t3 === `${ISSUE.v1}\n${C3_LINE}`,
            );
          },
        },
        {
          label: "c3's new file is in c3's upper directory only; c2 does not see it",
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
      hint: "cat /proc/PID/root/etc/issue reads the file as each container sees it; the live view lists what each container's upper directory holds.",
      takeaway: 'An image is a stack of read-only layers; a container is that stack plus one writable upper directory. Copy-on-write and whiteouts keep every layer unchanged, so any number of containers can share them, reading the very same files.',
    },
    {
      id: 'stack-your-own',
      title: 'Challenge: stack two layers yourself',
      checks: [],
      hint: 'mount -t overlay overlay -o lowerdir=TOP:BOTTOM,upperdir=U,workdir=W MERGED; U and W are empty directories on the same filesystem.',
      challenge: {
        goal: 'Mount the image layers $APP (on top) and $BASE as one filesystem at $WS/merged with overlayfs, with a writable upper directory in $WS. Then, through $WS/merged only, append a line to /etc/motd and delete /etc/os-release. Both layers must stay exactly as they are.',
        tools: ['mkdir', 'mount -t overlay', 'echo >>', 'rm', 'ls -l'],
        writes: 'mount (overlayfs)',
        setup: async (ctx) => {
          const w = ctx.workspace('ch-layers');
          buildRootTree(`${w.path}/base`, { hostname: 'container' });
          w.writeFile('base/etc/os-release', 'NAME="tiny base layer"\n');
          w.writeFile('base/etc/motd', `${MOTD.base}\n`);
          w.writeFile('app/app/hello.txt', 'hello from the app layer\n');
          w.writeFile('app/etc/motd', `${MOTD.app}\n`);
        },
        vars: (ctx) => {
          const w = ctx.getWorkspace('ch-layers')?.path;
          return [
            { name: 'BASE', value: `${w}/base`, about: 'the base layer: a tiny root filesystem' },
            { name: 'APP', value: `${w}/app`, about: 'the app layer: /app/hello.txt and its own /etc/motd' },
          ];
        },
        checks: [
          {
            label: 'an overlay at $WS/merged with $APP on top of $BASE',
            run: (ctx) => {
              const ws = wsOf(ctx);
              const w = ctx.getWorkspace('ch-layers')?.path;
              if (!ws || !w) return noSandbox('ch-layers', '(the challenge workspace)');
              const o = learnerOverlayAt(ctx, `${ws}/merged`);
              const short = (l: string) => (l === `${w}/app` ? '$APP' : l === `${w}/base` ? '$BASE' : l);
              return verdict(
                `grep ' ${ws}/merged ' /proc/PID/mountinfo (PID: your shell)`,
                'overlay, lowerdir=$APP:$BASE, an upperdir',
                o ? `overlay, lowerdir=${o.lower.map(short).join(':')}${o.upper ? ', an upperdir' : ', no upperdir'}` : 'no overlay there',
                !!o && sameList(o.lower, [`${w}/app`, `${w}/base`]) && o.upper !== '',
              );
            },
          },
          {
            label: "its upper directory holds /etc/motd with your line; $APP's is unchanged",
            run: (ctx) => {
              const ws = wsOf(ctx);
              const w = ctx.getWorkspace('ch-layers')?.path;
              if (!ws || !w) return noSandbox('ch-layers', '(the challenge workspace)');
              const o = learnerOverlayAt(ctx, `${ws}/merged`);
              const up = o?.upper ? read(`/proc/${o.pid}/root${o.upper}/etc/motd`) : null;
              const app = read(`${w}/app/etc/motd`);
              const changed = up !== null && up.startsWith(MOTD.app) && up.split('\n').length > 1;
              return verdict(
                'cat UPPER/etc/motd $APP/etc/motd',
                `upper: "${MOTD.app}" + your line; $APP: "${MOTD.app}"`,
                `upper: ${up === null ? 'no etc/motd' : JSON.stringify(up)}; $APP: ${JSON.stringify(app)}`,
                changed && app === MOTD.app,
              );
            },
          },
          {
            label: 'a whiteout for etc/os-release in the upper directory; $BASE still has the file',
            run: (ctx) => {
              const ws = wsOf(ctx);
              const w = ctx.getWorkspace('ch-layers')?.path;
              if (!ws || !w) return noSandbox('ch-layers', '(the challenge workspace)');
              const o = learnerOverlayAt(ctx, `${ws}/merged`);
              const wo = !!o?.upper && isWhiteout(`/proc/${o.pid}/root${o.upper}/etc/os-release`);
              const base = fs.existsSync(`${w}/base/etc/os-release`);
              return verdict("stat -c '%F %t,%T' UPPER/etc/os-release; ls $BASE/etc/os-release", 'a character device 0,0; present', `${wo ? 'a character device 0,0' : 'no whiteout'}; ${base ? 'present' : 'gone!'}`, wo && base);
            },
          },
        ],
        hints: [
          {
            when: {
              probe: "grep ' $WS/merged ' /proc/self/mountinfo",
              holds: (ctx) => {
                const ws = wsOf(ctx);
                const w = ctx.getWorkspace('ch-layers')?.path;
                const o = learnerOverlayAt(ctx, ws && `${ws}/merged`);
                return !!o && !!w && sameList(o.lower, [`${w}/base`, `${w}/app`]);
              },
            },
            text: "lowerdir lists the layers top first: with $BASE first, the base layer's /etc/motd hides the app's. umount $WS/merged and mount again with lowerdir=$APP:$BASE.",
            reach: ['mkdir -p "$WS/upper" "$WS/work" "$WS/merged"', 'mount -t overlay overlay -o "lowerdir=$BASE:$APP,upperdir=$WS/upper,workdir=$WS/work" "$WS/merged"'],
          },
          {
            when: {
              probe: "grep ' $WS/merged ' /proc/self/mountinfo",
              holds: (ctx) => {
                const ws = wsOf(ctx);
                const o = learnerOverlayAt(ctx, ws && `${ws}/merged`);
                return !!o && !o.upper;
              },
            },
            text: 'Your overlay has no upperdir, so it is read-only: every write fails with EROFS. A container needs a writable layer of its own: add upperdir= and workdir= (two empty directories in $WS).',
            reach: ['mkdir -p "$WS/merged"', 'mount -t overlay overlay -o "lowerdir=$APP:$BASE" "$WS/merged"'],
          },
          { text: 'Make $WS/upper, $WS/work and $WS/merged, mount the overlay with lowerdir=$APP:$BASE, then change the files through $WS/merged and look in $WS/upper with ls -l.' },
        ],
        failStates: [
          {
            when: {
              probe: 'cat $APP/etc/motd; ls $BASE/etc/os-release',
              holds: (ctx) => {
                const w = ctx.getWorkspace('ch-layers')?.path;
                return !!w && (read(`${w}/app/etc/motd`) !== MOTD.app || !fs.existsSync(`${w}/base/etc/os-release`));
              },
            },
            text: 'A layer itself was changed: every container built on this image would now see it. Image layers are never written; changes go to the upper directory. Reset (R) for clean layers.',
            reach: ['echo oops >> "$APP/etc/motd"'],
          },
        ],
        solution: [
          'mkdir -p "$WS/upper" "$WS/work" "$WS/merged"',
          'mount -t overlay overlay -o "lowerdir=$APP:$BASE,upperdir=$WS/upper,workdir=$WS/work" "$WS/merged"',
          'echo "changed by me" >> "$WS/merged/etc/motd"',
          'rm "$WS/merged/etc/os-release"',
        ],
      },
    },
    {
      id: 'commit-a-layer',
      title: "Challenge: read a container's layers, then commit its changes",
      checks: [],
      hint: "Everything about c's layers is in its mount table: the overlay at \"/\" in /proc/$C/mountinfo, with lowerdir (top first) and upperdir.",
      challenge: {
        goal: "Container c (its PID 1 is $C) runs on an overlay of layers in $LAYERS and has changed some files. Read its layers from the kernel and answer the questions. Then commit c's changes as a new layer, $WS/commit, holding exactly what c changed and nothing else, and mount a second overlay at $WS/c2 with your layer on top of c's layers: it must show c's changes.",
        tools: ['grep', 'cat /proc/$C/mountinfo', 'cp -a', 'mount -t overlay', 'ls -l'],
        writes: 'mount (overlayfs)',
        setup: async (ctx) => {
          const w = ctx.workspace('ch-img');
          buildRootTree(`${w.path}/layers/base`, { hostname: 'c' });
          w.writeFile('layers/base/etc/os-release', 'NAME="tiny base layer"\n');
          w.writeFile('layers/tools/usr/local/bin/hello', '#!/bin/sh\necho hello\n');
          w.writeFile('layers/app/app/hello.txt', 'hello from the app layer\n');
          w.writeFile('layers/config/etc/app.conf', 'debug = false\n');
          // $LAYERS holds four layers, c uses three or four of them: `ls` cannot answer, its mount table can.
          const layers = ['app', ...(randomInt(2) ? ['config'] : []), 'tools', 'base'];
          // /etc/motd in base and in one used layer picked at random (and in config when c does not use it).
          const top = layers[randomInt(layers.length)];
          const motd = new Set([top, 'base', ...(layers.includes('config') ? [] : ['config'])]);
          for (const l of motd) w.writeFile(`layers/${l}/etc/motd`, `welcome (from the ${l} layer)\n`);
          // Not explained on screen: which layers, in which order, is for the learner to read from the kernel.
          w.overlay(layers.map((l) => `layers/${l}`), 'c/upper', 'c/work', 'c/merged');
          ctx.log({ note: `container c's root: an overlay of some of the layers in ${w.path}/layers (which ones, in which order: its mount table says)` });
          const c = await ctx.sandbox('c', { ...CONTAINER, hostname: 'c', rootfs: { kind: 'dir', path: `${w.path}/c/merged` } });
          const r = await c.execOutput(['sh', '-c', `echo "${C_LINE}" > /root/notes.txt && rm /etc/os-release`]);
          if (r.status.code !== 0) throw new Error(`container c could not make its changes: ${r.stderr.trim()}`);
        },
        vars: (ctx) => [
          { name: 'C', value: String(ctx.get('c')?.pid ?? '(none)'), about: "host PID of container c's PID 1" },
          { name: 'LAYERS', value: `${ctx.getWorkspace('ch-img')?.path}/layers`, about: 'the image layers on the host' },
        ],
        checks: [
          {
            label: "$WS/commit holds exactly c's changes, whiteouts included",
            run: (ctx) => {
              const ws = wsOf(ctx);
              const c = ctx.get('c');
              const o = cOverlay(ctx);
              if (!ws || !c || !o) return noSandbox('c');
              const want = layerList(o.upper);
              const have = fs.existsSync(`${ws}/commit`) ? layerList(`${ws}/commit`) : null;
              const short = (l: string[]) => (l.length > 4 ? `${l.slice(0, 4).join(', ')} +${l.length - 4}` : l.join(', ') || 'empty');
              return verdict(`find $WS/commit UPPER ! -type d (UPPER: c's upperdir)`, short(want), have ? short(have) : 'no $WS/commit', !!have && sameList(have, want));
            },
          },
          {
            label: "an overlay at $WS/c2 with $WS/commit on top of c's layers",
            run: (ctx) => {
              const ws = wsOf(ctx);
              const o = cOverlay(ctx);
              if (!ws || !o) return noSandbox('c');
              const m = learnerOverlayAt(ctx, `${ws}/c2`);
              const want = [`${ws}/commit`, ...o.lower];
              const short = (l: string) => (l.startsWith(`${ws}/`) ? `$WS/${l.slice(ws.length + 1)}` : path.basename(l));
              return verdict(
                `grep ' ${ws}/c2 ' /proc/PID/mountinfo (PID: your shell)`,
                `lowerdir=${want.map(short).join(':')}`,
                m ? `lowerdir=${m.lower.map(short).join(':')}` : 'no overlay there',
                !!m && sameList(m.lower, want),
              );
            },
          },
          {
            label: "through $WS/c2: c's /root/notes.txt, no /etc/os-release, the base layer's /bin/sh",
            run: (ctx) => {
              const ws = wsOf(ctx);
              if (!ws) return noSandbox('bench', '(the challenge workspace)');
              const m = learnerOverlayAt(ctx, `${ws}/c2`);
              if (!m) return verdict(`ls $WS/c2/root/notes.txt $WS/c2/etc/os-release $WS/c2/bin/sh`, 'notes.txt; no os-release; sh', 'no overlay at $WS/c2', false);
              const at = (f: string) => `/proc/${m.pid}/root${ws}/c2/${f}`;
              const notes = read(at('root/notes.txt'));
              const os = fs.existsSync(at('etc/os-release'));
              const sh = fs.existsSync(at('bin/sh'));
              return verdict(
                'ls $WS/c2/root/notes.txt $WS/c2/etc/os-release $WS/c2/bin/sh',
                'notes.txt; no os-release; sh',
                `${notes === C_LINE ? 'notes.txt' : 'no notes.txt'}; ${os ? 'os-release is there' : 'no os-release'}; ${sh ? 'sh' : 'no sh'}`,
                notes === C_LINE && !os && sh,
              );
            },
          },
        ],
        hints: [
          {
            when: {
              probe: "find $WS/commit ! -type d, against c's upperdir",
              holds: (ctx) => {
                const ws = wsOf(ctx);
                const o = cOverlay(ctx);
                if (!ws || !o || !fs.existsSync(`${ws}/commit`)) return false;
                const want = new Set(layerList(o.upper));
                return layerList(`${ws}/commit`).some((f) => !want.has(f));
              },
            },
            text: "$WS/commit holds files that c never changed. A layer holds only the changes, and overlayfs has already collected them for you: they are c's upper directory (upperdir= in /proc/$C/mountinfo). Copy that, keeping its special files (cp -a).",
            reach: ['mkdir -p "$WS/commit"', 'cp -a "$LAYERS/app/." "$WS/commit/"'],
          },
          {
            when: {
              probe: "find $WS/commit -type c, against c's upperdir",
              holds: (ctx) => {
                const ws = wsOf(ctx);
                const o = cOverlay(ctx);
                if (!ws || !o || !fs.existsSync(`${ws}/commit`)) return false;
                const have = new Set(layerList(`${ws}/commit`));
                return layerList(o.upper).some((f) => f.endsWith('(whiteout)') && !have.has(f));
              },
            },
            text: "c deleted a file, but your layer does not say so: a deletion is a whiteout (a character device 0/0) in the upper directory. Copy the whole upper directory, special files included (cp -a UPPER/. $WS/commit).",
            reach: [
              'U=$(sed -n "s/.* \\/ .*upperdir=\\([^,]*\\).*/\\1/p" /proc/$C/mountinfo | head -1)',
              'mkdir -p "$WS/commit/root"',
              'cp "$U/root/notes.txt" "$WS/commit/root/"',
            ],
          },
          {
            when: {
              probe: "grep ' $WS/c2 ' /proc/self/mountinfo",
              holds: (ctx) => {
                const ws = wsOf(ctx);
                const o = cOverlay(ctx);
                const m = learnerOverlayAt(ctx, ws && `${ws}/c2`);
                return !!m && !!o && !!ws && m.lower[0] === `${ws}/commit` && !sameList(m.lower.slice(1), o.lower);
              },
            },
            text: "Your layer holds only c's changes: on its own it is no filesystem. Put c's layers under it, in c's order (copy lowerdir= from /proc/$C/mountinfo): lowerdir=$WS/commit:THEIRS.",
            reach: [
              'U=$(sed -n "s/.* \\/ .*upperdir=\\([^,]*\\).*/\\1/p" /proc/$C/mountinfo | head -1)',
              'mkdir -p "$WS/commit" "$WS/u2" "$WS/w2" "$WS/c2"',
              'cp -a "$U/." "$WS/commit/"',
              'mount -t overlay overlay -o "lowerdir=$WS/commit,upperdir=$WS/u2,workdir=$WS/w2" "$WS/c2"',
            ],
          },
          { text: "In /proc/$C/mountinfo, the line for \"/\" says lowerdir=… (top first) and upperdir=…. cp -a UPPER/. $WS/commit, then mount an overlay at $WS/c2 with lowerdir=$WS/commit:LOWERS and an upper and work directory of its own." },
        ],
        questions: [
          {
            id: 'how-many-layers',
            question: "How many read-only layers (lower directories) does container c's root filesystem have?",
            compare: 'number',
            answer: (ctx) => ({
              probe: `grep -o 'lowerdir=[^,]*' /proc/$C/mountinfo | head -1 | tr ':' '\\n' | wc -l`,
              value: String(cOverlay(ctx)?.lower.length ?? '(no container c)'),
            }),
            explanation: 'lowerdir= in the mount options lists them, separated by colons, top first. The upper directory comes on top of them all.',
          },
          {
            id: 'motd-layer',
            question: "c's /etc/motd comes from which layer? (the layer directory's name, e.g. base)",
            answer: (ctx) => {
              const o = cOverlay(ctx);
              const from = o ? [o.upper, ...o.lower].find((l) => fs.existsSync(`${l}/etc/motd`)) : undefined;
              return {
                probe: `for l in $(grep -o 'lowerdir=[^,]*' /proc/$C/mountinfo | head -1 | cut -d= -f2 | tr ':' ' '); do [ -e "$l/etc/motd" ] && { basename "$l"; break; }; done; true`,
                value: from ? path.basename(from) : '(not found)',
              };
            },
            explanation: 'For a file in several layers, overlayfs shows the topmost: the first lower directory (in lowerdir order) that has it, unless the upper directory has it.',
          },
        ],
        solution: [
          'U=$(sed -n "s/.* \\/ .*upperdir=\\([^,]*\\).*/\\1/p" /proc/$C/mountinfo | head -1)',
          'L=$(sed -n "s/.* \\/ .*lowerdir=\\([^,]*\\).*/\\1/p" /proc/$C/mountinfo | head -1)',
          'cp -a "$U" "$WS/commit"',
          'mkdir -p "$WS/u2" "$WS/w2" "$WS/c2"',
          'mount -t overlay overlay -o "lowerdir=$WS/commit:$L,upperdir=$WS/u2,workdir=$WS/w2" "$WS/c2"',
        ],
      },
    },
  ],
};
