/**
 * mount-namespaces: a mount made inside is invisible outside and the other way round; shared
 * subtrees (shared, slave, private) shown with real mounts in a workspace under /run/sandbox;
 * why a new PID namespace needs a fresh /proc. Every claim is read from /proc/PID/mountinfo.
 */
import { randomInt } from 'node:crypto';
import fs from 'node:fs';

import { type MountInfo, mountInfo, nsLink, propagationOf, type SecurityOptions } from '../../runtime/index.js';
import { noSandbox, readlinkOr, verdict, type Verdict } from '../checks.js';
import type { LessonContext } from '../context.js';
import type { Lesson, TableView, View } from '../types.js';
import { benchPids, nsOf } from '../challenge-probes.js';

/**
 * Mounting needs CAP_SYS_ADMIN, which a sandbox's payload does not get by default (nor from
 * Docker): only the commands that mount are given it, and the seccomp filter then allows mount.
 */
const MOUNTS: SecurityOptions = { capAdd: ['SYS_ADMIN'] };
const MOUNTS_NOTE = 'the mount commands run with CAP_SYS_ADMIN (exec --cap-add SYS_ADMIN): a default sandbox may not mount, as in Docker';

const SUBTREES = ['shared', 'slave', 'private'] as const;

/** The lesson's workspace directory on the host, or null before step 1 made it. */
function wsPath(ctx: LessonContext): string | null {
  return ctx.getWorkspace('files')?.path ?? null;
}

function tableOf(pid: number | 'self'): MountInfo[] {
  try {
    return mountInfo(pid);
  } catch {
    return [];
  }
}

/** The mount on top at `mountPoint` (the last one mounted there), or null. */
function topAt(table: MountInfo[], mountPoint: string): MountInfo | null {
  const all = table.filter((m) => m.mountPoint === mountPoint);
  return all.length ? all[all.length - 1] : null;
}

function describe(m: MountInfo | null): string {
  return m ? `${m.fstype} ${m.source} (${propagationOf(m)})` : 'not mounted';
}

function lsA(dir: string): string[] | null {
  try {
    return fs.readdirSync(dir).sort();
  } catch {
    return null;
  }
}

/**
 * The mount table of sandbox `key` next to the host's: every mount point where they differ, and
 * everything in the lesson's workspace (with its propagation), the rest counted.
 */
function sampleMountDiff(ctx: LessonContext, key: string): TableView {
  const s = ctx.get(key);
  const ws = wsPath(ctx);
  const host = tableOf('self');
  const inside = s ? tableOf(s.pid) : [];
  const points = [...new Set([...host, ...inside].map((m) => m.mountPoint))].sort();
  const what = (m: MountInfo | null) => (m ? `${m.dev} ${m.root} ${m.fstype} ${m.source}` : '');
  const short = (p: string) => (ws && p.startsWith(ws) ? `WS${p.slice(ws.length)}` : p);
  // Under WS the propagation is what the steps are about: it comes first, short (shared:N,
  // master:N, private), then the source that names who mounted it (every WS mount is a tmpfs).
  const cell = (m: MountInfo | null, inWs: boolean) =>
    !m ? '—' : inWs ? `${propagationOf(m)} ${m.source}${m.fstype === 'tmpfs' ? '' : ` (${m.fstype})`}` : `${m.fstype} ${m.source}`;
  const rows: string[][] = [];
  const highlight: number[] = [];
  let same = 0;
  for (const p of points) {
    const h = topAt(host, p);
    const i = s ? topAt(inside, p) : null;
    const inWs = ws !== null && p.startsWith(`${ws}/`);
    if (!inWs && s && what(h) === what(i)) {
      same++;
      continue;
    }
    if (!inWs && !s) {
      same++;
      continue;
    }
    if (what(h) !== what(i)) highlight.push(rows.length);
    rows.push([short(p), cell(h, inWs), s ? cell(i, inWs) : '(no sandbox yet)']);
  }
  return {
    kind: 'table',
    columns: ['mount point', 'host', `sandbox ${key}`],
    rows,
    highlight,
    caption:
      (ws ? 'under WS: propagation (shared:N in peer group N, master:N slave of N), then source; ' : '') +
      `${same} other mount points are the same on both sides` +
      (ws ? `; WS = ${ws}` : ''),
  };
}

function mountDiffView(key: string): View {
  return { title: `Mount table: the host's and sandbox ${key}'s (/proc/PID/mountinfo)`, sample: (ctx) => sampleMountDiff(ctx, key) };
}

/** `echo $$; exec readlink /proc/self` inside sandbox `key`: the PID the process has, and the one /proc reports. */
async function selfPids(ctx: LessonContext, key: string): Promise<{ pid: number; pids: [string, string] } | null> {
  const s = ctx.get(key);
  if (!s) return null;
  const r = await s.execOutput(['sh', '-c', 'echo $$; exec readlink /proc/self']);
  const [a, b] = r.stdout.trim().split('\n');
  return { pid: s.pid, pids: [a ?? '', b ?? ''] };
}

/** Sandbox b and the workspace, or the reason a check cannot look. */
function subtreeSetup(ctx: LessonContext): { pid: number; ws: string } | Verdict {
  const b = ctx.get('b');
  const ws = wsPath(ctx);
  if (!b || !ws) return noSandbox('b');
  return { pid: b.pid, ws };
}


// ----- challenges ------------------------------------------------------------------------------

/** A directory of a challenge's own workspace (made by its setup), or null. */
function chDir(ctx: LessonContext, key: string, rel: string): string | null {
  const w = ctx.getWorkspace(key);
  return w ? `${w.path}/${rel}` : null;
}

/** The mount table of the learner's shell (the bench's own mount namespace). */
function benchTable(ctx: LessonContext): MountInfo[] {
  const b = ctx.get('bench');
  return b ? tableOf(b.pid) : [];
}

/**
 * Mount namespaces the learner made (unshare -m…): those of the learner's processes that are
 * neither the bench's own namespace nor the host's. Link → one member PID.
 */
function learnerMountNamespaces(ctx: LessonContext): Map<string, number> {
  const bench = ctx.get('bench');
  const own = bench ? nsOf(bench.pid, 'mnt') : null;
  const host = readlinkOr('/proc/self/ns/mnt');
  const out = new Map<string, number>();
  for (const p of benchPids(ctx)) {
    const ns = nsOf(p, 'mnt');
    if (ns && ns !== own && ns !== host && !out.has(ns)) out.set(ns, p);
  }
  return out;
}

/** The host's peer group of the challenge's $P (shared:N), or null. */
function hostGroupOfP(ctx: LessonContext): number | null {
  const p = chDir(ctx, 'ch-prop', 'p');
  return p ? (topAt(tableOf('self'), p)?.shared ?? null) : null;
}

/** The learner's namespaces and how each one's $P propagates: [pid, its top mount at $P]. */
function learnerCopiesOfP(ctx: LessonContext): [number, MountInfo | null][] {
  const p = chDir(ctx, 'ch-prop', 'p');
  if (!p) return [];
  return [...learnerMountNamespaces(ctx).values()].map((pid) => [pid, topAt(tableOf(pid), p)]);
}

const SECRET_WORDS = ['anchor', 'bramble', 'cobalt', 'dune', 'ember', 'fjord', 'granite', 'harbor', 'juniper', 'lantern'];

export const lesson: Lesson = {
  id: 'mount-namespaces',
  title: 'Mount namespaces',
  summary: 'private mounts, shared subtrees (shared, slave, private), and why a new PID namespace needs a fresh /proc',
  requires: [{ kind: 'command', name: 'mount' }, { kind: 'command', name: 'ps' }],
  steps: [
    {
      id: 'inside-mount',
      title: 'A mount made inside a sandbox',
      prediction: {
        question: 'Sandbox a has its own mount namespace. It mounts a tmpfs on WS/inside and writes a note there. What does the host find in WS/inside?',
        choices: ['the tmpfs, with the note', 'an empty directory', 'an error (EBUSY)'],
        answer: 1,
        explanation:
          "A mount namespace is a private copy of the mount table. a's mount is an entry in a's copy only: the host's table never had it, so on the host WS/inside is still the plain, empty directory underneath.",
      },
      action: async (ctx) => {
        const ws = ctx.workspace('files');
        ws.mkdir('inside');
        ws.mkdir('outside');
        await ctx.sandbox('a', { namespaces: ['pid', 'mount'], rootfs: { kind: 'none' }, init: true });
        ctx.log({ note: MOUNTS_NOTE });
        await ctx.exec(
          'a',
          [
            'sh',
            '-c',
            `mount -t tmpfs -o size=1m made-in-a ${ws.path}/inside && echo "written inside sandbox a" > ${ws.path}/inside/note && ls ${ws.path}/inside`,
          ],
          { security: MOUNTS },
        );
        await ctx.host(['ls', '-A', `${ws.path}/inside`]);
        ctx.log({ note: `the host's ls printed nothing: on the host, ${ws.path}/inside is still an empty directory` });
      },
      view: mountDiffView('a'),
      checks: [
        {
          label: "sandbox a's mount table has the tmpfs at WS/inside",
          run: (ctx) => {
            const a = ctx.get('a');
            const ws = wsPath(ctx);
            if (!a || !ws) return noSandbox('a');
            const m = topAt(tableOf(a.pid), `${ws}/inside`);
            return verdict(`grep ${ws}/inside /proc/${a.pid}/mountinfo`, 'tmpfs made-in-a', m ? `${m.fstype} ${m.source}` : 'not mounted');
          },
        },
        {
          label: 'the host has no such mount: there WS/inside is the empty directory underneath',
          run: (ctx) => {
            const a = ctx.get('a');
            const ws = wsPath(ctx);
            if (!a || !ws) return noSandbox('a');
            const inA = topAt(tableOf(a.pid), `${ws}/inside`) !== null;
            const onHost = topAt(tableOf('self'), `${ws}/inside`);
            const files = lsA(`${ws}/inside`);
            return verdict(
              `grep ${ws}/inside /proc/self/mountinfo; ls -A ${ws}/inside`,
              'not mounted; empty (while a has its tmpfs there)',
              `${onHost ? 'mounted' : 'not mounted'}; ${files === null ? 'no directory' : files.length ? files.join(' ') : 'empty'}${inA ? '' : ' (a has no mount there either)'}`,
              inA && !onHost && files !== null && files.length === 0,
            );
          },
        },
      ],
      hint: "Compare /proc/self/mountinfo (the host's table) with /proc/PID/mountinfo (the sandbox's): which of the two lists WS/inside?",
    },
    {
      id: 'host-mount',
      title: 'A mount made on the host, afterwards',
      prediction: {
        question: 'Now the host mounts a tmpfs on WS/outside, after sandbox a was made. Does a see it?',
        choices: ['yes', 'no', 'only after a remounts /'],
        answer: 1,
        explanation:
          'a got a copy of the host\'s table when it was made, and from then on each side changes only its own copy. sandbox also made / rprivate in the new namespace before anything else, so no mount event crosses in either direction. Without that step, propagation (next steps) could carry mounts between the two.',
      },
      action: async (ctx) => {
        const ws = ctx.getWorkspace('files');
        if (!ws) throw new Error('the workspace from step 1 is missing');
        ctx.explain([ws.mount('tmpfs', 'made-on-host', 'outside', 0, 'size=1m')]);
        ws.writeFile('outside/note', 'written on the host\n');
        await ctx.host(['ls', '-A', `${ws.path}/outside`]);
        await ctx.exec('a', ['ls', '-A', `${ws.path}/outside`]);
        ctx.log({ note: 'inside a, ls printed nothing: the directory there is the empty one underneath' });
      },
      view: mountDiffView('a'),
      checks: [
        {
          label: "the host's mount table has the tmpfs at WS/outside",
          run: (ctx) => {
            const ws = wsPath(ctx);
            if (!ws) return noSandbox('a', '(the workspace)');
            const m = topAt(tableOf('self'), `${ws}/outside`);
            return verdict(`grep ${ws}/outside /proc/self/mountinfo`, 'tmpfs made-on-host', m ? `${m.fstype} ${m.source}` : 'not mounted');
          },
        },
        {
          label: "sandbox a does not see it: no mount in its table, and its WS/outside is empty",
          run: (ctx) => {
            const a = ctx.get('a');
            const ws = wsPath(ctx);
            if (!a || !ws) return noSandbox('a');
            const onHost = topAt(tableOf('self'), `${ws}/outside`) !== null;
            const inA = topAt(tableOf(a.pid), `${ws}/outside`);
            const files = lsA(`/proc/${a.pid}/root${ws}/outside`);
            return verdict(
              `grep ${ws}/outside /proc/${a.pid}/mountinfo; ls -A /proc/${a.pid}/root${ws}/outside`,
              'not mounted; empty (while the host has its tmpfs there)',
              `${inA ? 'mounted' : 'not mounted'}; ${files === null ? 'no directory' : files.length ? files.join(' ') : 'empty'}${onHost ? '' : ' (the host has no mount there either)'}`,
              onHost && !inA && files !== null && files.length === 0,
            );
          },
        },
      ],
      hint: '/proc/PID/root is the process\'s root directory as the host can walk it: paths below it are resolved in that process\'s mount namespace.',
    },
    {
      id: 'shared-subtrees',
      title: 'Shared subtrees: peer groups across namespaces',
      prediction: {
        question:
          "The host makes WS/shared a shared mount (`mount --make-shared`). Then sandbox b gets a new mount namespace, with / made rshared. What does b's copy of WS/shared show in mountinfo?",
        choices: ["shared:N, with the host's N", 'no tag (private)', 'master:N', "shared:M, a new group M"],
        answer: 0,
        explanation:
          'Copying a mount namespace copies each shared mount into the same peer group: the copy joins the group, with the same N (making it rshared in b changes nothing for a mount that is shared already; a private one, like WS/outside, would get a new group of its own). From then on, a mount or unmount under any member happens under every member, in whichever namespace it is. b then changes its own copies: `--make-slave` keeps receiving from the group but stops sending; `--make-private` leaves it.',
      },
      action: async (ctx) => {
        const ws = ctx.getWorkspace('files');
        if (!ws) throw new Error('the workspace from step 1 is missing');
        for (const d of SUBTREES) ctx.explain([ws.bind(d), ws.propagation(d, 'shared')]);
        // b keeps / shared, so its copies stay in the host's peer groups. That is safe only because
        // b mounts nothing of its own at creation: no PID namespace (no fresh /proc) and no new
        // root. On a host whose / is shared (systemd, the v2 guest), anything b mounted elsewhere
        // would appear on the host; the lesson mounts only under its workspace.
        await ctx.sandbox('b', { namespaces: ['mount'], rootfs: { kind: 'none' }, propagation: 'shared', init: true });
        await ctx.exec('b', ['sh', '-c', `mount --make-slave ${ws.path}/slave && mount --make-private ${ws.path}/private`], { security: MOUNTS });
        await ctx.host(['grep', ws.path, '/proc/self/mountinfo']);
        const b = ctx.get('b')!;
        await ctx.host(['grep', ws.path, `/proc/${b.pid}/mountinfo`]);
      },
      view: mountDiffView('b'),
      checks: [
        {
          label: "b's WS/shared is in the host's peer group (the same shared:N)",
          run: (ctx) => {
            const s = subtreeSetup(ctx);
            if ('pass' in s) return s;
            const h = topAt(tableOf('self'), `${s.ws}/shared`);
            const b = topAt(tableOf(s.pid), `${s.ws}/shared`);
            return verdict(
              `grep ' ${s.ws}/shared ' /proc/self/mountinfo /proc/${s.pid}/mountinfo`,
              h?.shared ? `shared:${h.shared} in both` : 'a shared mount on the host and its peer in b',
              `host ${describe(h)}; b ${describe(b)}`,
              h?.shared != null && b?.shared === h.shared,
            );
          },
        },
        {
          label: "b's WS/slave receives from that group (master:N) but is not in it",
          run: (ctx) => {
            const s = subtreeSetup(ctx);
            if ('pass' in s) return s;
            const h = topAt(tableOf('self'), `${s.ws}/slave`);
            const b = topAt(tableOf(s.pid), `${s.ws}/slave`);
            return verdict(
              `grep ' ${s.ws}/slave ' /proc/self/mountinfo /proc/${s.pid}/mountinfo`,
              h?.shared ? `host shared:${h.shared}; b master:${h.shared}` : 'host shared:N; b master:N',
              `host ${describe(h)}; b ${describe(b)}`,
              h?.shared != null && b?.master === h.shared && b.shared === null,
            );
          },
        },
        {
          label: "b's WS/private is private, while the host's is still shared",
          run: (ctx) => {
            const s = subtreeSetup(ctx);
            if ('pass' in s) return s;
            const h = topAt(tableOf('self'), `${s.ws}/private`);
            const b = topAt(tableOf(s.pid), `${s.ws}/private`);
            return verdict(
              `grep ' ${s.ws}/private ' /proc/self/mountinfo /proc/${s.pid}/mountinfo`,
              'host shared:N; b private (no tag)',
              `host ${describe(h)}; b ${describe(b)}`,
              h?.shared != null && b !== null && b.shared === null && b.master === null,
            );
          },
        },
      ],
      hint: "Find the WS/shared line in the host's /proc/self/mountinfo and in b's /proc/PID/mountinfo, and compare their optional fields (before the ' - ').",
    },
    {
      id: 'host-to-sandbox',
      title: 'Propagation from the host into b',
      prediction: {
        question: 'The host mounts a tmpfs inside each of WS/shared, WS/slave and WS/private. Which of them appear in sandbox b?',
        choices: ['all three', 'shared and slave', 'only shared', 'none'],
        answer: 1,
        explanation: "A mount under a member of a peer group is repeated under every member and every slave of it. b's private copy has left the group, so it gets nothing.",
      },
      action: async (ctx) => {
        const ws = ctx.getWorkspace('files');
        if (!ws) throw new Error('the workspace from step 1 is missing');
        for (const d of SUBTREES) ctx.explain([ws.mount('tmpfs', `host-${d}`, `${d}/from-host`, 0, 'size=1m')]);
        const b = ctx.get('b');
        if (b) await ctx.host(['grep', 'from-host', `/proc/${b.pid}/mountinfo`]);
      },
      view: mountDiffView('b'),
      checks: SUBTREES.map((d) => ({
        label: d === 'private' ? 'private: not in b, though the host has it' : `${d}: the host's new mount appeared in b`,
        run: (ctx: LessonContext) => {
          const s = subtreeSetup(ctx);
          if ('pass' in s) return s;
          const p = `${s.ws}/${d}/from-host`;
          const h = topAt(tableOf('self'), p);
          const b = topAt(tableOf(s.pid), p);
          return verdict(
            `grep ${p} /proc/self/mountinfo /proc/${s.pid}/mountinfo`,
            d === 'private' ? `host tmpfs host-${d}; b not mounted` : `tmpfs host-${d} in both`,
            `host ${h ? `${h.fstype} ${h.source}` : 'not mounted'}; b ${b ? `${b.fstype} ${b.source}` : 'not mounted'}`,
            h !== null && (d === 'private' ? b === null : b?.source === `host-${d}`),
          );
        },
      })),
      hint: "grep from-host in b's /proc/PID/mountinfo, and look at the tag each of the three directories had in b after the step before.",
    },
    {
      id: 'sandbox-to-host',
      title: 'Propagation from b to the host',
      prediction: {
        question: 'Now b mounts a tmpfs inside each of its three copies. Which appear on the host?',
        choices: ['all three', 'shared and slave', 'only shared', 'none'],
        answer: 2,
        explanation:
          "Only b's shared copy is still a peer of the host's mount, so only its mount travels back: a slave receives but never sends, a private mount neither sends nor receives. This is why sandbox makes / rprivate (or rslave) before mounting anything: under shared propagation a container's mounts would appear on the host.",
      },
      action: async (ctx) => {
        const ws = wsPath(ctx);
        if (!ws) throw new Error('the workspace from step 1 is missing');
        await ctx.exec(
          'b',
          ['sh', '-c', SUBTREES.map((d) => `mkdir -p ${ws}/${d}/from-b && mount -t tmpfs -o size=1m b-${d} ${ws}/${d}/from-b`).join(' && ')],
          { security: MOUNTS },
        );
        await ctx.host(['grep', 'from-b', '/proc/self/mountinfo']);
      },
      view: mountDiffView('b'),
      checks: SUBTREES.map((d) => ({
        label: d === 'shared' ? "shared: b's mount appeared on the host" : `${d}: b has its mount, the host does not`,
        run: (ctx: LessonContext) => {
          const s = subtreeSetup(ctx);
          if ('pass' in s) return s;
          const p = `${s.ws}/${d}/from-b`;
          const h = topAt(tableOf('self'), p);
          const b = topAt(tableOf(s.pid), p);
          return verdict(
            `grep ${p} /proc/${s.pid}/mountinfo /proc/self/mountinfo`,
            d === 'shared' ? `tmpfs b-${d} in both` : `b tmpfs b-${d}; host not mounted`,
            `b ${b ? `${b.fstype} ${b.source}` : 'not mounted'}; host ${h ? `${h.fstype} ${h.source}` : 'not mounted'}`,
            b?.source === `b-${d}` && (d === 'shared' ? h?.source === `b-${d}` : h === null),
          );
        },
      })),
      hint: "grep from-b in the host's /proc/self/mountinfo; then recall, for each tag, which way mount events flow.",
    },
    {
      id: 'stale-proc',
      title: 'A new PID namespace with the old /proc',
      prediction: {
        question: "Sandbox c gets a new PID namespace but no mount namespace, so its /proc is the host's. What does `ps -e` inside c list?",
        choices: ["only c's own processes", "every process of the host", 'nothing'],
        answer: 1,
        explanation:
          "A proc filesystem shows the PID namespace it was mounted from, not the one of whoever reads it. c's processes are numbered from 1, but the /proc they read was mounted by the host: it lists the host's processes under their host PIDs, and even /proc/self names a host PID.",
      },
      action: async (ctx) => {
        await ctx.sandbox('c', { namespaces: ['pid'], init: true });
        await ctx.exec('c', ['sh', '-c', 'echo "my PID (\\$\\$): $$"; echo "processes in ps -e: $(ps -e --no-headers | wc -l)"; printf "/proc/self says: "; exec readlink /proc/self']);
      },
      view: mountDiffView('c'),
      checks: [
        {
          label: "c is in a new PID namespace but the host's mount namespace: /proc is the host's",
          run: (ctx) => {
            const c = ctx.get('c');
            if (!c) return noSandbox('c');
            const pidNs = readlinkOr(`/proc/${c.pid}/ns/pid`);
            const mntNs = readlinkOr(`/proc/${c.pid}/ns/mnt`);
            const host = { pid: nsLink('self', 'pid'), mnt: nsLink('self', 'mount') };
            return verdict(
              `readlink /proc/${c.pid}/ns/{pid,mnt} /proc/self/ns/{pid,mnt}`,
              `pid ≠ ${host.pid}; mnt = ${host.mnt}`,
              `pid ${pidNs}; mnt ${mntNs}`,
              pidNs.startsWith('pid:[') && pidNs !== host.pid && mntNs === host.mnt,
            );
          },
        },
        {
          label: "in c, a process's own PID ($$) and /proc/self disagree",
          run: async (ctx) => {
            const r = await selfPids(ctx, 'c');
            if (!r) return noSandbox('c');
            const [own, self] = r.pids;
            return verdict(
              `nsenter -t ${r.pid} -p sh -c 'echo $$; exec readlink /proc/self'`,
              'two different numbers (its PID in c, its host PID)',
              `${own} / ${self}`,
              /^\d+$/.test(own) && /^\d+$/.test(self) && own !== self,
            );
          },
        },
        {
          label: "ps -e in c lists the host's processes",
          run: async (ctx) => {
            const c = ctx.get('c');
            if (!c) return noSandbox('c');
            const r = await c.execOutput(['ps', '-eo', 'pid=']);
            const n = r.stdout.trim().split('\n').filter(Boolean).length;
            const hostN = fs.readdirSync('/proc').filter((e) => /^\d+$/.test(e)).length;
            return verdict(`nsenter -t ${c.pid} -p ps -e | wc -l`, `about ${hostN} (the host's count)`, String(n), n > 10 && n > hostN / 2);
          },
        },
      ],
      hint: "Where does c's /proc come from? Compare c's /proc/PID/ns/mnt with the host's, and count the entries of /proc as c reads it.",
    },
    {
      id: 'fresh-proc',
      title: 'A fresh /proc for the new PID namespace',
      prediction: {
        question: 'Sandbox d gets a PID namespace and a mount namespace, and mounts a new proc on /proc from inside. What does `ps -e` list now?',
        choices: ["only d's own processes", "the host's processes", 'nothing'],
        answer: 0,
        explanation:
          "The new proc instance belongs to d's PID namespace: it lists only d's processes, numbered as d numbers them. Because it is mounted in d's own mount namespace, the host's /proc is untouched. This is what `unshare --pid --fork --mount-proc` does.",
      },
      action: async (ctx) => {
        const d = await ctx.sandbox('d', { namespaces: ['pid', 'mount'], rootfs: { kind: 'none' }, init: true });
        ctx.explain(d.explain.filter((s) => s.what === 'mount'));
        await ctx.exec('d', ['ps', '-e']);
        await ctx.exec('d', ['sh', '-c', 'echo "my PID (\\$\\$): $$"; printf "/proc/self says: "; exec readlink /proc/self']);
      },
      view: mountDiffView('d'),
      checks: [
        {
          label: "d has a proc of its own on /proc (another superblock than the host's)",
          run: (ctx) => {
            const d = ctx.get('d');
            if (!d) return noSandbox('d');
            const host = topAt(tableOf('self'), '/proc');
            const mine = topAt(tableOf(d.pid), '/proc');
            return verdict(
              `grep ' /proc ' /proc/self/mountinfo /proc/${d.pid}/mountinfo`,
              `proc, device ≠ ${host?.dev}`,
              mine ? `${mine.fstype}, device ${mine.dev}` : 'no /proc',
              mine?.fstype === 'proc' && host !== null && mine.dev !== host.dev,
            );
          },
        },
        {
          label: "ps -e in d lists only d's processes",
          run: async (ctx) => {
            const d = ctx.get('d');
            if (!d) return noSandbox('d');
            const r = await d.execOutput(['ps', '-eo', 'pid=,comm=']);
            const rows = r.stdout.trim().split('\n').map((l) => l.trim().replace(/\s+/, ' '));
            return verdict(
              `nsenter -t ${d.pid} -a ps -eo pid,comm`,
              "PID 1, exec's helper and ps: nothing of the host",
              rows.join(', '),
              rows.length <= 4 && rows[0]?.startsWith('1 '),
            );
          },
        },
        {
          label: '$$ and /proc/self agree again',
          run: async (ctx) => {
            const r = await selfPids(ctx, 'd');
            if (!r) return noSandbox('d');
            const [own, self] = r.pids;
            return verdict(`nsenter -t ${r.pid} -a sh -c 'echo $$; exec readlink /proc/self'`, 'the same number twice', `${own} / ${self}`, /^\d+$/.test(own) && own === self);
          },
        },
      ],
      hint: 'The explain output of d lists every mount made for it: find the one on /proc, and ask from which PID namespace it was made.',
      takeaway: 'Each mount namespace has its own mount table; propagation decides which mount events cross between them; and /proc must come from inside the PID namespace it should show.',
    },
    {
      id: 'mount-only-in-b',
      title: 'Challenge: a file only sandbox b can see',
      checks: [],
      hint: 'A mount namespace separates mounts, not files: to show b something the host does not see, mount it in b\'s namespace.',
      challenge: {
        goal:
          'Sandbox b has a mount namespace of its own. Make b find a file note.txt in $T, while on the host $T stays an empty directory with nothing mounted on it.',
        tools: ['nsenter', 'mount', 'echo', 'cat /proc/PID/mountinfo'],
        writes: 'a mount in another mount namespace (nsenter, mount)',
        setup: async (ctx) => {
          ctx.workspace('ch-mnt').mkdir('target');
          await ctx.sandbox('ch-b', { namespaces: ['mount'], rootfs: { kind: 'none' }, init: true });
        },
        vars: (ctx) => [
          { name: 'B', value: String(ctx.get('ch-b')?.pid ?? ''), about: "host PID of sandbox b's first process (b has its own mount namespace)" },
          { name: 'T', value: chDir(ctx, 'ch-mnt', 'target') ?? '', about: 'a directory that b and the host both see' },
          { name: 'H', value: String(process.pid), about: "PID of a process in the host's mount namespace (this lesson)" },
        ],
        checks: [
          {
            label: "b's mount table has a mount of its own at $T",
            run: (ctx) => {
              const b = ctx.get('ch-b');
              const t = chDir(ctx, 'ch-mnt', 'target');
              if (!b || !t) return noSandbox('b');
              return verdict(`grep ' ${t} ' /proc/${b.pid}/mountinfo`, 'a mount at $T', describe(topAt(tableOf(b.pid), t)), topAt(tableOf(b.pid), t) !== null);
            },
          },
          {
            label: "b sees $T/note.txt, while the host's $T is empty and has no mount",
            run: (ctx) => {
              const b = ctx.get('ch-b');
              const t = chDir(ctx, 'ch-mnt', 'target');
              if (!b || !t) return noSandbox('b');
              const inB = fs.existsSync(`/proc/${b.pid}/root${t}/note.txt`);
              const onHost = topAt(tableOf('self'), t);
              const files = lsA(t);
              return verdict(
                `ls /proc/${b.pid}/root${t}; ls -A ${t}; grep ' ${t} ' /proc/self/mountinfo`,
                'b: note.txt; host: empty, not mounted',
                `b: ${inB ? 'note.txt' : 'no note.txt'}; host: ${files === null ? 'no directory' : files.length ? files.join(' ') : 'empty'}, ${onHost ? `${describe(onHost)} mounted` : 'not mounted'}`,
                inB && onHost === null && files !== null && files.length === 0,
              );
            },
          },
        ],
        hints: [
          {
            when: {
              probe: "grep ' $T ' /proc/$H/mountinfo",
              holds: (ctx) => {
                const t = chDir(ctx, 'ch-mnt', 'target');
                return t !== null && topAt(tableOf('self'), t) !== null;
              },
            },
            text: "You mounted on $T in the host's mount namespace. b's copy of the table was taken when b was made, and its mounts are private: nothing the host mounts now reaches b. Unmount it on the host (nsenter -t $H -m umount $T) and mount in b's namespace instead.",
            reach: ['nsenter -t "$H" -m mount -t tmpfs -o size=1m on-host "$T"'],
          },
          {
            when: {
              probe: 'ls -A $T  # on the host',
              holds: (ctx) => {
                const t = chDir(ctx, 'ch-mnt', 'target');
                return t !== null && fs.existsSync(`${t}/note.txt`) && topAt(tableOf('self'), t) === null;
              },
            },
            text: 'note.txt went into the directory itself, and b and the host look at the same directory: a mount namespace has its own list of mounts, not its own files. Remove it (rm $T/note.txt), then put a filesystem of b\'s own on $T first.',
            reach: ['echo hello > "$T/note.txt"'],
          },
          {
            when: {
              probe: "grep ' $T ' /proc/self/mountinfo /proc/$B/mountinfo  # in your shell",
              holds: (ctx) => {
                const b = ctx.get('ch-b');
                const t = chDir(ctx, 'ch-mnt', 'target');
                return !!b && t !== null && topAt(benchTable(ctx), t) !== null && topAt(tableOf(b.pid), t) === null;
              },
            },
            text: "Your mount went into your shell's own mount namespace (the challenge's, neither the host's nor b's): it is in /proc/self/mountinfo but not in /proc/$B/mountinfo. Run mount inside b's namespace: nsenter -t $B -m …",
            reach: ['mount -t tmpfs -o size=1m mine "$T"'],
          },
          { text: 'nsenter -t $B -m COMMAND runs COMMAND in b\'s mount namespace: mount a tmpfs on $T there, then write note.txt into it (both inside b, e.g. with sh -c \'…\').' },
        ],
        solution: [`nsenter -t "$B" -m sh -c 'mount -t tmpfs -o size=1m b-only "$T" && echo hello > "$T/note.txt"'`],
      },
    },
    {
      id: 'receive-from-the-host',
      title: 'Challenge: a namespace that receives the host\'s mounts',
      checks: [],
      hint: 'A new mount namespace copies each mount with its propagation; unshare then changes it (see its --propagation option).',
      challenge: {
        goal:
          "The host's $P is a shared mount. Start a process (in the background) in a new mount namespace of your own in which $P receives what the host mounts under it. Then, from the host's side, mount a tmpfs on $P/from-host: it must show up in your namespace by itself.",
        tools: ['unshare', 'nsenter', 'mount', 'sleep', 'cat /proc/PID/mountinfo'],
        writes: 'mount propagation (unshare --propagation, mount)',
        setup: async (ctx) => {
          const ws = ctx.workspace('ch-prop');
          ws.mkdir('p');
          ctx.explain([ws.bind('p'), ws.propagation('p', 'shared')]);
        },
        vars: (ctx) => [
          { name: 'P', value: chDir(ctx, 'ch-prop', 'p') ?? '', about: 'a shared mount on the host' },
          { name: 'H', value: String(process.pid), about: "PID of a process in the host's mount namespace (this lesson)" },
        ],
        checks: [
          {
            label: "a process of yours is in a new mount namespace where $P is a slave of the host's peer group",
            run: (ctx) => {
              const n = hostGroupOfP(ctx);
              const copies = learnerCopiesOfP(ctx);
              return verdict(
                "grep ' $P ' /proc/PID/mountinfo for each of your processes in a new mount namespace",
                n === null ? "master:N (N = the host's peer group)" : `master:${n}`,
                copies.length ? copies.map(([pid, m]) => `PID ${pid}: ${m ? propagationOf(m) : 'no mount'}`).join(', ') : 'no new mount namespace',
                n !== null && copies.some(([, m]) => m?.master === n),
              );
            },
          },
          {
            label: "the host's mount at $P/from-host appeared in it",
            run: (ctx) => {
              const p = chDir(ctx, 'ch-prop', 'p');
              if (!p) return noSandbox('p', '(the workspace)');
              const n = hostGroupOfP(ctx);
              const host = topAt(tableOf('self'), `${p}/from-host`);
              const seen = learnerCopiesOfP(ctx)
                .filter(([, m]) => n !== null && m?.master === n)
                .map(([pid]) => topAt(tableOf(pid), `${p}/from-host`));
              return verdict(
                `grep ' ${p}/from-host ' /proc/$H/mountinfo /proc/PID/mountinfo`,
                'the same mount (device) on the host and in your namespace',
                `host: ${host ? `${host.fstype} ${host.source} (${host.dev})` : 'not mounted'}; yours: ${seen.length ? seen.map((m) => (m ? `${m.fstype} ${m.source} (${m.dev})` : 'not mounted')).join(', ') : 'no receiving namespace yet'}`,
                host !== null && seen.some((m) => m?.dev === host.dev),
              );
            },
          },
        ],
        hints: [
          {
            when: {
              probe: "grep ' $P ' /proc/PID/mountinfo  # PID: your process in the new namespace",
              holds: (ctx) => {
                const copies = learnerCopiesOfP(ctx);
                return copies.length > 0 && copies.every(([, m]) => !m || (m.master === null && m.shared === null));
              },
            },
            text: "Your new namespace's $P is private: it neither receives nor sends. unshare -m makes every mount private by default (as sandbox does); --propagation slave (or unchanged) keeps the link to the host's peer group. A private mount cannot rejoin it: start a new one.",
            reach: ['unshare -m sleep 1000 >/dev/null 2>&1 &', 'sleep 0.3'],
          },
          {
            when: {
              probe: "grep ' $P/from-host ' /proc/self/mountinfo /proc/$H/mountinfo  # in your shell",
              holds: (ctx) => {
                const p = chDir(ctx, 'ch-prop', 'p');
                return p !== null && topAt(benchTable(ctx), `${p}/from-host`) !== null && topAt(tableOf('self'), `${p}/from-host`) === null;
              },
            },
            text: "That mount is in your shell's own mount namespace, not the host's: your shell's $P is a slave, which receives but never sends. Make the mount in the host's namespace: nsenter -t $H -m mount …",
            reach: ['mkdir -p "$P/from-host"', 'mount -t tmpfs -o size=1m mine "$P/from-host"'],
          },
          { text: "Compare the optional fields of the $P lines: shared:N on the host (/proc/$H/mountinfo), master:N where a copy receives from group N. unshare --propagation decides what your new namespace's copies are." },
        ],
        questions: [
          {
            id: 'peer-group',
            question: "What is the number of the host's peer group for $P (the N of shared:N)?",
            compare: 'number',
            answer: (ctx) => ({
              probe: `grep " $P " /proc/$H/mountinfo | grep -o 'shared:[0-9]*' | cut -d: -f2`,
              value: String(hostGroupOfP(ctx) ?? ''),
            }),
            explanation: 'Every mount that shares events with the host\'s $P carries shared:N with that N; a slave of the group says master:N.',
          },
        ],
        solution: [
          'unshare -m --propagation slave sleep 1000 >/dev/null 2>&1 &',
          'sleep 0.3',
          'mkdir -p "$P/from-host"',
          'nsenter -t "$H" -m mount -t tmpfs -o size=1m from-host "$P/from-host"',
        ],
      },
    },
    {
      id: 'what-d-sees',
      title: 'Challenge: read what only sandbox d sees',
      checks: [],
      hint: '/proc/PID/root is the root directory of PID as the host can walk it: paths below it are resolved in that process\'s mount namespace.',
      challenge: {
        goal:
          "Sandbox d mounted a tmpfs on $Q in its own mount namespace and wrote a word into $Q/secret. Find the word without changing anything, and count the mounts in d's mount table.",
        tools: ['cat', 'ls', 'wc', 'nsenter'],
        setup: async (ctx) => {
          const q = ctx.workspace('ch-secret').mkdir('q');
          const d = await ctx.sandbox('ch-d', { namespaces: ['mount'], rootfs: { kind: 'none' }, init: true });
          const word = `${SECRET_WORDS[randomInt(SECRET_WORDS.length)]}-${randomInt(100, 1000)}`;
          // Run without logging: the log is on screen and would give the word away.
          const r = await d.execOutput(['sh', '-c', `mount -t tmpfs -o size=1m d-only ${q} && echo ${word} > ${q}/secret`], { security: MOUNTS });
          if (r.status.code !== 0) throw new Error(`sandbox d could not mount its tmpfs: ${r.stderr.trim()}`);
        },
        vars: (ctx) => [
          { name: 'D', value: String(ctx.get('ch-d')?.pid ?? ''), about: "host PID of sandbox d's first process" },
          { name: 'Q', value: chDir(ctx, 'ch-secret', 'q') ?? '', about: 'the directory d mounted on' },
        ],
        checks: [],
        hints: [
          {
            text: "In your shell, $Q is the plain empty directory: d's tmpfs is only in d's table (/proc/$D/mountinfo). Read the file through d's root, /proc/$D/root$Q/secret, or run cat in d's namespace with nsenter -t $D -m.",
          },
        ],
        questions: [
          {
            id: 'secret',
            question: 'What word does sandbox d see in $Q/secret?',
            answer: (ctx) => {
              const d = ctx.get('ch-d');
              const q = chDir(ctx, 'ch-secret', 'q');
              let value = '';
              try {
                value = d && q ? fs.readFileSync(`/proc/${d.pid}/root${q}/secret`, 'utf8').trim() : '';
              } catch {
                /* d is gone: no answer */
              }
              return { probe: 'cat /proc/$D/root$Q/secret', value };
            },
            explanation: "The host's $Q and d's $Q are the same path in two mount tables: only d's has the tmpfs on it.",
          },
          {
            id: 'mount-count',
            question: "How many mounts are in sandbox d's mount table?",
            compare: 'number',
            answer: (ctx) => {
              const d = ctx.get('ch-d');
              return { probe: 'wc -l < /proc/$D/mountinfo', value: d ? String(tableOf(d.pid).length) : '' };
            },
            explanation: "d's table is a copy of the host's as it was when d was made, plus the tmpfs d mounted; one line of /proc/PID/mountinfo per mount.",
          },
        ],
        solution: ['cat "/proc/$D/root$Q/secret"', 'wc -l < "/proc/$D/mountinfo"'],
      },
    },
  ],
};
