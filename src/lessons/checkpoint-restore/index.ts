/**
 * checkpoint-restore: CRIU saves a running counter to image files and brings it back with the
 * same PIDs inside a new PID namespace (why PID namespaces made CRIU possible); then live
 * migration by pre-copy: rounds of dirty-page tracking (soft-dirty bits, or page hashes where the
 * kernel has none) until the final stop-and-copy, its downtime against a plain stop-and-copy; and
 * post-copy. The CRIU steps are skipped, with criuStatus()'s reason, where CRIU cannot run.
 */
import fs from 'node:fs';
import os from 'node:os';

import { cgroups, nsInode, snapshot } from '../../runtime/index.js';
import { checkpoint, checkpointOf, criuStatus, dropCheckpoint, imagesDir, restore, type RestoredSandbox } from '../../runtime/criu.js';
import {
  continueProcess,
  type CopyRound,
  differingPages,
  dirtierPath,
  type DirtyMethod,
  filledRegion,
  findRegion,
  changedPages,
  snapshotPages,
  preCopy,
  procState,
  type Region,
  softDirtyWorks,
  stopAndCopy,
} from '../../runtime/softdirty.js';
import { CHALLENGE_VARS } from '../challenge.js';
import { cgroupDirOf } from '../challenge-probes.js';
import { noSandbox, settle, statusField, verdict } from '../checks.js';
import type { LessonContext } from '../context.js';
import type { Lesson, View } from '../types.js';
import { treeView } from '../views.js';

/** The writer's region: 8 MiB, of which it keeps writing the first 2 MiB, one page per ms. */
const PAGES = 2048;
const HOT = 512;
/** The emulated link: 8 MiB/s, so copying the whole region takes one second. */
const LINK = 8 * 1024 * 1024;
const MIB = 1024 * 1024;

/** Why CRIU cannot run here (criuStatus's one line and its fix), or null. */
function criuUnavailable(): string | null {
  const st = criuStatus({ timeoutMs: 60_000 });
  return st.works ? null : `${st.detail}${st.fix ? `; ${st.fix}` : ''}`;
}

const counterFile = (ctx: LessonContext): string | null => {
  const ws = ctx.getWorkspace('files');
  return ws ? `${ws.path}/counter` : null;
};

function readCounter(ctx: LessonContext): number | null {
  const f = counterFile(ctx);
  if (!f) return null;
  try {
    const v = Number(fs.readFileSync(f, 'utf8').trim());
    return Number.isInteger(v) && v >= 0 ? v : null;
  } catch {
    return null;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Processes of PID namespace `ino` whose PID in it is `inner`. */
function inNamespace(ino: number | null, inner: number) {
  if (!ino) return null;
  return snapshot({ namespaces: ['pid'] }).processes.find((p) => p.ns.pid === ino && p.nspid[p.nspid.length - 1] === inner) ?? null;
}

const restoredOf = (ctx: LessonContext): RestoredSandbox | null => {
  const r = ctx.state.get('restored') as RestoredSandbox | undefined;
  return r && r.running && !r.isDestroyed ? r : null;
};

/** The counter of sandbox ck: PID 2 inside (the sh loop PID 1 started). */
function counterProcess(ctx: LessonContext) {
  const ck = ctx.get('ck');
  return ck ? inNamespace(nsInode(ck.pid, 'pid'), 2) : null;
}

function writerRegion(ctx: LessonContext, key: string, pages = PAGES): Region | null {
  const w = ctx.get(key);
  return w ? findRegion(w.pid, pages) : null;
}

function imagesView(): View {
  return {
    title: 'The checkpoint: image files and sizes',
    sample: (ctx) => {
      const name = ctx.state.get('ck-name') as string | undefined;
      const dir = name ? imagesDir(name) : null;
      let files: [string, number][] = [];
      try {
        if (dir) files = fs.readdirSync(dir).map((f) => [f, fs.statSync(`${dir}/${f}`).size] as [string, number]);
      } catch {
        /* not yet, or restored and gone */
      }
      files.sort((a, b) => b[1] - a[1]);
      return {
        kind: 'table',
        columns: ['file', 'bytes'],
        rows: files.slice(0, 14).map(([f, n]) => [f, String(n)]),
        caption: dir ? `${dir}${files.length > 14 ? ` (${files.length - 14} more)` : ''}` : 'no checkpoint yet',
      };
    },
  };
}

/** The counter before the checkpoint and after the restore: host PID and PID inside. */
function pidsView(): View {
  return {
    title: 'The counter: before the checkpoint and after the restore',
    sample: (ctx) => {
      const old = ctx.state.get('ck-host-pid') as number | null | undefined;
      const r = restoredOf(ctx);
      const now = r ? inNamespace(nsInode(r.pid, 'pid'), 2) : null;
      const nspid = (pid: number | null | undefined) => (pid ? (statusField(pid, 'NSpid') ?? '(gone)') : '');
      return {
        kind: 'table',
        columns: ['', 'NSpid (host, inside)', 'counter'],
        rows: [
          ['before', old ? `${old} 2` : '?', String(ctx.state.get('ck-value') ?? '?')],
          ['after', now ? nspid(now.pid) : 'not restored yet', now ? String(readCounter(ctx) ?? '?') : ''],
        ],
        highlight: now ? [1] : [],
      };
    },
  };
}

/** One bar per round: the pages each pre-copy round sent, then the final stop-and-copy. */
function roundsView(): View {
  return {
    title: 'Pre-copy: dirty pages copied per round',
    sample: (ctx) => {
      const rounds = (ctx.state.get('rounds') as CopyRound[] | undefined) ?? [];
      const final = ctx.state.get('final') as { pages: number; downtimeMs: number } | undefined;
      const plain = ctx.state.get('plain') as { pages: number; downtimeMs: number } | undefined;
      const gauges = rounds.map((r) => ({ label: `round ${r.round}`, value: r.pages, max: PAGES, unit: 'pages', note: `${r.ms.toFixed(0)} ms, running` }));
      if (final) gauges.push({ label: 'stop + copy', value: final.pages, max: PAGES, unit: 'pages', note: `${final.downtimeMs.toFixed(1)} ms stopped` });
      if (plain) gauges.push({ label: 'plain stop', value: plain.pages, max: PAGES, unit: 'pages', note: `${plain.downtimeMs.toFixed(0)} ms stopped` });
      const method = ctx.state.get('method') as DirtyMethod | undefined;
      return {
        kind: 'gauges',
        gauges,
        caption: gauges.length
          ? `${PAGES} pages of 4 KiB over an emulated ${LINK / MIB} MiB/s link; dirty pages found by ${method === 'hash' ? 'page hashes (no soft-dirty bits here)' : 'soft-dirty bits'}`
          : 'waiting for the first round',
      };
    },
  };
}

/** The workspace of the challenge ($WS). */
const wsOf = (ctx: LessonContext): string | null => (ctx.state.get(CHALLENGE_VARS) as Record<string, string> | undefined)?.WS ?? null;

/** Whether sandbox `key`'s cgroup is frozen (v1 freezer.state, v2 cgroup.events). */
function frozen(ctx: LessonContext, key: string): { pass: boolean; actual: string; probe: string } {
  const dir = cgroupDirOf(ctx, key, 'freezer');
  if (!dir) return { pass: false, actual: 'no cgroup', probe: 'cat …/freezer.state' };
  if (cgroups().version === 2) {
    let ev = '';
    try {
      ev = fs.readFileSync(`${dir}/cgroup.events`, 'utf8');
    } catch {
      /* gone */
    }
    const v = /^frozen (\d)$/m.exec(ev)?.[1] ?? '?';
    return { pass: v === '1', actual: `frozen ${v}`, probe: `grep frozen ${dir}/cgroup.events` };
  }
  let st = '?';
  try {
    st = fs.readFileSync(`${dir}/freezer.state`, 'utf8').trim();
  } catch {
    /* gone */
  }
  return { pass: st === 'FROZEN', actual: st, probe: `cat ${dir}/freezer.state` };
}

/** Pages of the region that differ from the file (null: no file of the right size). */
function differsFrom(r: Region | null, file: string | null): number[] | null {
  if (!r || !file) return null;
  try {
    if (fs.statSync(file).size !== r.pages * r.pageSize) return null;
    return differingPages(r, file);
  } catch {
    return null;
  }
}

/** Pages of the region written within `ms` (two hash snapshots compared): works on every kernel. */
async function pagesWrittenWithin(r: Region, ms: number): Promise<number> {
  const a = snapshotPages(r);
  await sleep(ms);
  return changedPages(r, a, snapshotPages(r)).length;
}

const ddLine = (pidVar: string, addrVar: string, pagesVar: string, out: string) =>
  `dd if=/proc/$${pidVar}/mem of=${out} bs=4096 skip=$(($${addrVar} / 4096)) count=$${pagesVar} 2>/dev/null`;

/** Counts the pages of $Y's region that change within 2 s: two copies, compared. */
const HOT_PROBE = `${ddLine('Y', 'Y_ADDR', 'Y_PAGES', '$WS/a')}; sleep 2; ${ddLine('Y', 'Y_ADDR', 'Y_PAGES', '$WS/b')}; cmp -l $WS/a $WS/b | awk '{print int(($1 - 1) / 4096)}' | sort -u | wc -l`;

export const lesson: Lesson = {
  id: 'checkpoint-restore',
  title: 'Checkpoint, restore and live migration',
  summary: 'CRIU saves a running counter to files and restores it with its PIDs; pre-copy migration by dirty-page rounds; post-copy',
  steps: [
    {
      id: 'counter',
      title: 'A counter in a sandbox',
      action: async (ctx) => {
        const ws = ctx.workspace('files', { tmpfs: '4m' });
        const file = `${ws.path}/counter`;
        // No mount namespace: CRIU 3.17 finds the programs' files only in the host's mount
        // namespace. Privileged: without a /proc of its own, CRIU's parasite code needs
        // CAP_SYS_ADMIN to look into the sandbox's PID namespace. setsid: CRIU restores only
        // sessions that begin inside the PID namespace.
        const ck = await ctx.sandbox('ck', {
          namespaces: ['pid', 'uts'],
          hostname: 'ck',
          limits: { pids: 40 },
          security: { privileged: true },
          command: ['setsid', 'sh', '-c', `(i=0; while :; do i=$((i+1)); echo $i > ${file}; sleep 0.1; done) & wait`],
        });
        ctx.state.set('ck-name', ck.name);
        const c = await settle(() => counterProcess(ctx), (p) => p !== null && readCounter(ctx) !== null);
        if (c) await ctx.host(['grep', 'NSpid', `/proc/${c.pid}/status`]);
        await sleep(500);
        await ctx.host(['cat', file]);
      },
      view: treeView(),
      checks: [
        {
          label: 'the counter is PID 2 in its sandbox, with a host PID of its own',
          run: (ctx) => {
            const ck = ctx.get('ck');
            if (!ck) return noSandbox('ck');
            const c = counterProcess(ctx);
            const nspid = c ? (statusField(c.pid, 'NSpid') ?? '(gone)') : '(no PID 2 in its namespace)';
            return verdict(c ? `grep NSpid /proc/${c.pid}/status` : `NSpid of the processes of ${ck.name}`, `${c?.pid ?? 'H'} 2`, nspid, !!c && nspid === `${c.pid} 2`);
          },
        },
        {
          label: 'it counts',
          run: async (ctx) => {
            const f = counterFile(ctx) ?? '(no file)';
            const a = readCounter(ctx);
            // A slow machine (the emulated test guest) may take a while per round of the loop.
            const b = await settle(() => readCounter(ctx), (v) => a !== null && v !== null && v > a, 5000);
            return verdict(`cat ${f}; sleep 1; cat ${f}`, 'a number, then a bigger one', `${a ?? '(none)'} then ${b ?? '(none)'}`, a !== null && b !== null && b > a);
          },
        },
      ],
      hint: 'NSpid in /proc/PID/status lists the PID at every level, host first; the file the counter writes is on the host.',
    },
    {
      id: 'checkpoint',
      title: 'Checkpoint: the tree into image files',
      unavailable: () => criuUnavailable(),
      action: async (ctx) => {
        const ck = ctx.get('ck');
        if (!ck) throw new Error('sandbox ck from the first step is not running');
        const c = counterProcess(ctx);
        ctx.state.set('ck-host-pid', c?.pid ?? null);
        ctx.state.set('ck-pidns', nsInode(ck.pid, 'pid'));
        ctx.defer(() => void dropCheckpoint(ck.name));
        ctx.log({ note: `${criuStatus().detail} (kernel ${os.release()})` });
        const info = await checkpoint(ck);
        ctx.state.set('ck-value', readCounter(ctx));
        ctx.log({
          command: `criu dump -t ${info.hostPid} -D ${info.dir} --shell-job -o dump.log`,
          syscall: 'ptrace(PTRACE_SEIZE) each task; a parasite inside each dumps its memory; then SIGKILL',
          output: `${info.files} image files, ${(info.bytes / 1024).toFixed(0)} KiB, in ${info.dumpMs.toFixed(0)} ms; the sandbox was destroyed`,
        });
        await ctx.host(['sh', '-c', `ls -l ${info.dir} | head -12`]);
        ctx.log({ note: `the counter file still says ${readCounter(ctx)}; no process writes it any more` });
      },
      view: imagesView(),
      checks: [
        {
          label: 'the counter process is gone',
          run: (ctx) => {
            const pid = ctx.state.get('ck-host-pid') as number | null | undefined;
            const ino = ctx.state.get('ck-pidns') as number | null | undefined;
            if (!pid || !ino) return verdict('(the counter before the checkpoint)', 'gone', 'not recorded: run the step', false);
            const still = inNamespace(ino, 2);
            return verdict(`ls /proc/${pid}; readlink /proc/*/ns/pid | grep pid:[${ino}]`, 'no process in its old PID namespace', still ? `still running: host PID ${still.pid}` : 'no process', !still);
          },
        },
        {
          label: 'the images hold the process tree, each task and its memory',
          run: (ctx) => {
            const name = (ctx.state.get('ck-name') as string | undefined) ?? '?';
            const ck = checkpointOf(name);
            let files: string[] = [];
            try {
              files = ck ? fs.readdirSync(ck.dir) : [];
            } catch {
              /* none */
            }
            const has = (re: RegExp) => files.some((f) => re.test(f));
            const ok = has(/^pstree\.img$/) && has(/^core-\d+\.img$/) && has(/^pages-\d+\.img$/) && has(/^mm-\d+\.img$/);
            return verdict(`ls ${imagesDir(name)}`, 'pstree.img, core-*.img, mm-*.img, pages-*.img', files.filter((f) => /^(pstree|core-|mm-|pages-)/.test(f)).join(' ') || '(no images)', ok);
          },
        },
      ],
      hint: 'criu dump writes one set of image files per task: its registers (core), its memory map (mm) and its pages; the tree itself is in pstree.img.',
    },
    {
      id: 'restore',
      title: 'Restore: the same tree, back from the files',
      unavailable: () => criuUnavailable(),
      prediction: {
        question: 'The counter was PID 2 inside its sandbox. CRIU restores it into a brand-new PID namespace. Which PID will it have inside?',
        choices: ['2', 'the next free PID there', 'its old host PID'],
        answer: 0,
        explanation:
          "A process cannot learn a new PID: programs keep their own and their children's PIDs in memory. On the host the old number may be taken by now, but a fresh PID namespace has every number free, so CRIU asks for the old ones there (clone3 with set_tid). That is why checkpoint/restore of whole containers came with PID namespaces (OpenVZ had both, and CRIU needs them).",
      },
      action: async (ctx) => {
        const name = ctx.state.get('ck-name') as string | undefined;
        if (!name || !checkpointOf(name)) throw new Error('there is no checkpoint: run the checkpoint step first');
        const r = await restore(name);
        ctx.state.set('restored', r.sandbox);
        ctx.defer(async () => void (await r.sandbox.destroy()));
        ctx.log({
          command: `criu restore -D ${imagesDir(name)} --shell-job -o restore.log`,
          syscall: 'clone3({ flags: CLONE_NEWPID…, set_tid: [old PIDs] }) for each task; memory and registers put back',
          output: `restored in ${r.restoreMs.toFixed(0)} ms: PID 1 is host PID ${r.sandbox.pid}`,
        });
        await sleep(600);
        const c = inNamespace(nsInode(r.sandbox.pid, 'pid'), 2);
        if (c) await ctx.host(['grep', 'NSpid', `/proc/${c.pid}/status`]);
        ctx.log({ note: `the counter said ${String(ctx.state.get('ck-value'))} at the checkpoint; it says ${readCounter(ctx)} now` });
      },
      view: pidsView(),
      checks: [
        {
          label: 'the counter goes on from where it was',
          run: async (ctx) => {
            const r = restoredOf(ctx);
            if (!r) return noSandbox('the restored counter');
            const at = ctx.state.get('ck-value') as number | null;
            const f = counterFile(ctx) ?? '?';
            const a = readCounter(ctx);
            const b = await settle(() => readCounter(ctx), (v) => a !== null && v !== null && v > a, 5000);
            return verdict(`cat ${f}; sleep 1; cat ${f}`, `≥ ${at ?? '?'} (the value at the checkpoint), then rising`, `${a ?? '(none)'} then ${b ?? '(none)'}`, at !== null && a !== null && b !== null && a >= at && b > a);
          },
        },
        {
          label: 'inside it is PID 2 again; on the host its PID is new',
          run: (ctx) => {
            const r = restoredOf(ctx);
            if (!r) return noSandbox('the restored counter');
            const old = ctx.state.get('ck-host-pid') as number | null;
            const c = inNamespace(nsInode(r.pid, 'pid'), 2);
            const nspid = c ? (statusField(c.pid, 'NSpid') ?? '(gone)') : '(no PID 2)';
            return verdict(c ? `grep NSpid /proc/${c.pid}/status` : 'NSpid of the restored processes', `H 2, with H ≠ ${old ?? '?'} (the old host PID)`, nspid, !!c && nspid === `${c.pid} 2` && c.pid !== old);
          },
        },
      ],
      hint: 'Compare the NSpid line of the counter now with the one from the first step: first number the host, last the sandbox.',
      takeaway: 'Same PIDs inside, new ones outside: the namespace made the old numbers available again.',
    },
    {
      id: 'writer',
      title: 'A process that keeps writing its memory',
      action: async (ctx) => {
        const w = await ctx.sandbox('w', { namespaces: ['pid'], limits: { pids: 4 }, command: [dirtierPath(), String(PAGES), String(HOT)] });
        const r = await filledRegion(w.pid, PAGES);
        if (!r) throw new Error(`the writer's ${PAGES}-page region is not in /proc/${w.pid}/maps, or not filled within 10 s`);
        await ctx.host(['sh', '-c', `grep -E '^${r.start.toString(16)}-' /proc/${w.pid}/maps`]);
        const sd = await softDirtyWorks(r);
        const method: DirtyMethod = sd ? 'soft-dirty' : 'hash';
        ctx.state.set('method', method);
        ctx.log({
          command: `echo 4 > /proc/${w.pid}/clear_refs; sleep 0.1; read /proc/${w.pid}/pagemap (bit 55 of each page's entry)`,
          note: sd
            ? 'this kernel keeps soft-dirty bits: the migration below reads them'
            : 'this kernel has no soft-dirty bits (CONFIG_MEM_SOFT_DIRTY is off, as on arm64 kernels): bit 55 stays 0, so the migration below hashes every page each round and compares',
        });
      },
      view: treeView(),
      checks: [
        {
          label: `its memory region is ${PAGES} pages (${(PAGES * 4) / 1024} MiB)`,
          run: (ctx) => {
            const w = ctx.get('w');
            if (!w) return noSandbox('w');
            const r = writerRegion(ctx, 'w');
            return verdict(`grep ' 00:00 0' /proc/${w.pid}/maps`, `a ${PAGES * 4} KiB anonymous mapping`, r ? `${r.start.toString(16)}: ${r.pages * 4} KiB` : 'none of that size', !!r);
          },
        },
        {
          label: 'in one second it writes many pages, but never more than a bounded set',
          run: async (ctx) => {
            const r = writerRegion(ctx, 'w');
            if (!r) return noSandbox('w');
            const n = await pagesWrittenWithin(r, 1000);
            return verdict(`hash each page of /proc/${r.pid}/mem, wait 1 s, hash again`, `between 1 and ${PAGES / 2} pages changed`, String(n), n > 0 && n <= PAGES / 2);
          },
        },
      ],
      hint: 'Look for the anonymous mapping (no file, inode 0) in /proc/PID/maps; its pages can be read in /proc/PID/mem at those addresses.',
    },
    {
      id: 'pre-copy',
      title: 'Pre-copy: copy while it runs, then again',
      prediction: {
        question: 'Round 1 copies all 2048 pages while the writer runs; each next round copies only the pages written during the round before. What happens to the page count from round to round?',
        choices: ['it stays the same', 'it falls', 'it grows'],
        answer: 1,
        explanation:
          'A round that copies fewer pages is shorter, so fewer pages get written during it: the dirty set shrinks towards what the process writes in a very short time. Then the process is stopped for only that small rest. It converges as long as the link copies faster than the process dirties.',
      },
      action: async (ctx) => {
        const r = writerRegion(ctx, 'w');
        if (!r) throw new Error('the writer from the previous step is not running');
        const method = (ctx.state.get('method') as DirtyMethod | undefined) ?? ((await softDirtyWorks(r)) ? 'soft-dirty' : 'hash');
        const ws = ctx.workspace('images', { tmpfs: '32m' });
        ctx.state.set('rounds', []);
        ctx.state.delete('final');
        const res = await preCopy({
          region: r,
          method,
          bytesPerSec: LINK,
          image: `${ws.path}/pre-copy.img`,
          onRound: (round) => ctx.state.set('rounds', [...((ctx.state.get('rounds') as CopyRound[]) ?? []), round]),
        });
        ctx.state.set('final', res.final);
        ctx.log({
          command:
            method === 'soft-dirty'
              ? `each round: echo 4 > /proc/${r.pid}/clear_refs; copy the dirty pages from /proc/${r.pid}/mem; read bit 55 of /proc/${r.pid}/pagemap`
              : `each round: copy the changed pages from /proc/${r.pid}/mem; hash every page again and compare with the hashes of the copies`,
          note: `the copy goes to ${res.image} at ${LINK / MIB} MiB/s (an emulated link: a real migration sends the pages to another host)${
            method === 'soft-dirty' ? '; each round reads and clears the bits with the writer stopped for a moment, as CRIU\'s pre-dump does: a write between the read and the clear would be lost' : ''
          }`,
          output: [
            ...res.rounds.map((x) => `round ${x.round}: ${x.pages} pages, ${x.ms.toFixed(0)} ms (running${x.pausedMs ? `; stopped ${x.pausedMs.toFixed(1)} ms to read and clear the bits` : ''})`),
            `stop-and-copy: kill -STOP ${r.pid}; ${res.final.pages} pages; stopped for ${res.final.downtimeMs.toFixed(1)} ms`,
          ].join('\n'),
        });
      },
      view: roundsView(),
      checks: [
        {
          label: 'the source is stopped',
          run: (ctx) => {
            const w = ctx.get('w');
            if (!w) return noSandbox('w');
            const st = procState(w.pid) ?? 'gone';
            return verdict(`grep State /proc/${w.pid}/status`, 'T (stopped)', st, st === 'T');
          },
        },
        {
          label: "the destination's copy equals the stopped process's memory, page for page",
          run: (ctx) => {
            const file = ctx.getWorkspace('images') ? `${ctx.getWorkspace('images')!.path}/pre-copy.img` : null;
            const d = differsFrom(writerRegion(ctx, 'w'), file);
            return verdict(`cmp ${file ?? 'pre-copy.img'} <(dd if=/proc/PID/mem …)`, '0 pages differ', d ? `${d.length} pages differ` : 'no copy', d !== null && d.length === 0);
          },
        },
      ],
      hint: 'The chart shows one bar per round; the last bar is the only time the process was stopped.',
      takeaway: 'The rounds copied while the process ran; the one real stop was the last, small copy (soft-dirty rounds also pause it for a moment to read the bits).',
    },
    {
      id: 'stop-and-copy',
      title: 'For comparison: stop first, then copy everything',
      prediction: {
        question: `Now the same writer is stopped first and all ${PAGES} pages (${(PAGES * 4) / 1024} MiB) go over the same ${LINK / MIB} MiB/s link. For how many milliseconds will it be stopped?`,
        choices: [],
        answer: 1000,
        number: {
          unit: 'ms',
          min: 0,
          max: 100_000,
          tolerance: 100,
          measured: (ctx) => {
            const p = ctx.state.get('plain') as { downtimeMs: number } | undefined;
            return { probe: 'from kill -STOP until the last page is copied', value: Math.round(p?.downtimeMs ?? 0) };
          },
        },
        explanation: `Stopped, nothing changes, so one pass is enough, but the process waits for all of it: ${PAGES * 4} KiB at ${LINK / MIB} MiB/s is a second. Pre-copy paid for the same pages while the process still ran.`,
      },
      action: async (ctx) => {
        const r = writerRegion(ctx, 'w');
        if (!r) throw new Error('the writer is not running');
        continueProcess(r.pid);
        ctx.log({ command: `kill -CONT ${r.pid}`, note: 'the writer runs again' });
        await sleep(300);
        const ws = ctx.getWorkspace('images') ?? ctx.workspace('images', { tmpfs: '32m' });
        const res = await stopAndCopy({ region: r, method: 'hash', bytesPerSec: LINK, image: `${ws.path}/stop-and-copy.img` });
        ctx.state.set('plain', res);
        const pre = ctx.state.get('final') as { downtimeMs: number } | undefined;
        ctx.log({
          command: `kill -STOP ${r.pid}; copy all ${PAGES} pages of /proc/${r.pid}/mem`,
          output: `stopped for ${res.downtimeMs.toFixed(0)} ms${pre ? `; pre-copy's final round: ${pre.downtimeMs.toFixed(1)} ms` : ''}`,
        });
      },
      view: roundsView(),
      checks: [
        {
          label: 'the source is stopped again',
          run: (ctx) => {
            const w = ctx.get('w');
            if (!w) return noSandbox('w');
            const st = procState(w.pid) ?? 'gone';
            const file = ctx.getWorkspace('images') ? `${ctx.getWorkspace('images')!.path}/stop-and-copy.img` : null;
            return verdict(`grep State /proc/${w.pid}/status; ls ${file ?? 'stop-and-copy.img'}`, 'T (stopped), with its copy', `${st}${file && fs.existsSync(file) ? ', copied' : ', no copy'}`, st === 'T' && !!file && fs.existsSync(file));
          },
        },
        {
          label: 'the copy equals its memory, page for page',
          run: (ctx) => {
            const file = ctx.getWorkspace('images') ? `${ctx.getWorkspace('images')!.path}/stop-and-copy.img` : null;
            const d = differsFrom(writerRegion(ctx, 'w'), file);
            return verdict(`cmp ${file ?? 'stop-and-copy.img'} <(dd if=/proc/PID/mem …)`, '0 pages differ', d ? `${d.length} pages differ` : 'no copy', d !== null && d.length === 0);
          },
        },
      ],
      hint: 'Downtime is what the users of the process notice: compare the last two bars of the chart.',
      takeaway: 'Same memory, same link: pre-copy trades a longer migration for a much shorter stop.',
    },
    {
      id: 'post-copy',
      title: 'Post-copy: run first, fetch pages later',
      action: async (ctx) => {
        const r = writerRegion(ctx, 'w');
        if (!r) throw new Error('the writer is not running');
        continueProcess(r.pid);
        ctx.log({ command: `kill -CONT ${r.pid}`, note: 'the "destination" resumes at once, before any page has arrived' });
        await sleep(200);
        const file = `${ctx.getWorkspace('images')?.path}/stop-and-copy.img`;
        const d = differsFrom(r, file);
        ctx.log({
          note: `in its first 200 ms it wrote ${d?.length ?? '?'} pages: under post-copy each first touch is a page fault that fetches the page from the source (userfaultfd), so the stop is tiny but the first moments are slow, and losing the source loses the process`,
        });
        const st = criuStatus();
        ctx.log({
          note: st.works
            ? 'CRIU does post-copy with `criu dump --lazy-pages` and `criu lazy-pages` on the destination (userfaultfd)'
            : `CRIU's lazy pages (criu dump --lazy-pages, criu lazy-pages) would show it for real; not here: ${st.detail}`,
        });
      },
      checks: [
        {
          label: 'the writer runs again and changes only part of its memory',
          run: (ctx) => {
            const r = writerRegion(ctx, 'w');
            if (!r) return noSandbox('w');
            const st = procState(r.pid) ?? 'gone';
            const d = differsFrom(r, `${ctx.getWorkspace('images')?.path}/stop-and-copy.img`);
            return verdict(`grep State /proc/${r.pid}/status; compare its memory with the stopped copy`, `running; 1 to ${HOT} pages changed`, `${st}; ${d ? d.length : '?'} pages changed`, st !== 'T' && !!d && d.length > 0 && d.length <= HOT);
          },
        },
      ],
      hint: 'Only the pages it writes after resuming differ from the copy made while it was stopped.',
    },
    {
      id: 'freeze-and-copy',
      title: 'Challenge: freeze it, then copy it',
      checks: [],
      hint: 'A process that changes its memory while you copy it gives you a copy that never existed.',
      challenge: {
        goal: 'Sandbox x keeps writing its memory. Stop it the way CRIU does before a dump, with its cgroup (not with a signal), and copy its memory region into $WS/x.img while it cannot change: the checks compare your copy with its memory.',
        tools: ['echo', 'cat', 'dd', 'grep'],
        writes: 'the cgroup freezer (freezer.state on v1, cgroup.freeze on v2)',
        setup: async (ctx) => {
          const x = await ctx.sandbox('x', { namespaces: ['pid'], limits: { pids: 4 }, command: [dirtierPath(), '256', '64'] });
          await filledRegion(x.pid, 256);
        },
        vars: (ctx) => {
          const x = ctx.get('x');
          const r = writerRegion(ctx, 'x', 256);
          return [
            { name: 'X', value: String(x?.pid ?? ''), about: "host PID of sandbox x's writer" },
            { name: 'X_CG', value: cgroupDirOf(ctx, 'x', 'freezer') ?? '(none)', about: "sandbox x's cgroup (freezer on v1)" },
            { name: 'X_ADDR', value: r ? `0x${r.start.toString(16)}` : '', about: 'start address of its memory region' },
            { name: 'X_PAGES', value: '256', about: 'pages in the region (4 KiB each)' },
          ];
        },
        checks: [
          {
            label: "x's cgroup is frozen",
            run: (ctx) => {
              const f = frozen(ctx, 'x');
              return verdict(f.probe, cgroups().version === 2 ? 'frozen 1' : 'FROZEN', f.actual, f.pass);
            },
          },
          {
            label: '$WS/x.img equals its memory region, page for page',
            run: (ctx) => {
              const ws = wsOf(ctx);
              const d = differsFrom(writerRegion(ctx, 'x', 256), ws ? `${ws}/x.img` : null);
              return verdict('cmp $WS/x.img with /proc/$X/mem at $X_ADDR', '0 pages differ', d ? `${d.length} pages differ` : 'no x.img of 1 MiB', d !== null && d.length === 0);
            },
          },
        ],
        hints: [
          {
            when: {
              probe: 'cat $X_CG/freezer.state (or grep frozen $X_CG/cgroup.events); cmp $WS/x.img …',
              holds: (ctx) => {
                const ws = wsOf(ctx);
                const d = differsFrom(writerRegion(ctx, 'x', 256), ws ? `${ws}/x.img` : null);
                return !frozen(ctx, 'x').pass && d !== null && d.length > 0;
              },
            },
            text: 'You have a copy, but x was running while you made it and has written pages since: freeze its cgroup first, then copy again.',
            reach: [ddLine('X', 'X_ADDR', 'X_PAGES', '$WS/x.img'), 'sleep 0.3'],
          },
          {
            when: {
              probe: 'cat $X_CG/freezer.state (or grep frozen $X_CG/cgroup.events); ls $WS/x.img',
              holds: (ctx) => {
                const ws = wsOf(ctx);
                return frozen(ctx, 'x').pass && !(ws && fs.existsSync(`${ws}/x.img`));
              },
            },
            text: 'x is frozen. Its memory is in /proc/$X/mem at the addresses of the region: dd can read it with bs=4096, skipping to page $X_ADDR / 4096.',
            reach: ['if [ -f "$X_CG/freezer.state" ]; then echo FROZEN > "$X_CG/freezer.state"; else echo 1 > "$X_CG/cgroup.freeze"; fi', 'sleep 0.2'],
          },
          { text: 'On cgroup v1 the freezer has freezer.state (FROZEN, THAWED); on v2 every cgroup has cgroup.freeze (1, 0). Then dd reads /proc/$X/mem.' },
        ],
        solution: [
          'if [ -f "$X_CG/freezer.state" ]; then echo FROZEN > "$X_CG/freezer.state"; else echo 1 > "$X_CG/cgroup.freeze"; fi',
          'sleep 0.2',
          ddLine('X', 'X_ADDR', 'X_PAGES', '$WS/x.img'),
        ],
      },
    },
    {
      id: 'count-the-hot-pages',
      title: 'Challenge: how much does it write?',
      checks: [],
      hint: 'Pages written since some moment: soft-dirty bits where the kernel has them, or two copies compared.',
      challenge: {
        goal: 'Process $Y writes some of the pages of its memory region over and over, and leaves the rest alone. Pre-copy converges only if that set is small. Find how many pages it keeps writing, and type the number in.',
        tools: ['dd', 'cmp', 'awk', 'sort', 'wc', 'od'],
        setup: async (ctx) => {
          // Few enough hot pages that even a slow machine (the emulated test guest) writes each of
          // them many times within the 2 s the answer is read over.
          const hot = 16 + Math.floor(Math.random() * 48);
          const y = await ctx.sandbox('y', { namespaces: ['pid'], limits: { pids: 4 }, command: [dirtierPath(), '1024', String(hot), '500'] });
          await filledRegion(y.pid, 1024);
        },
        vars: (ctx) => {
          const y = ctx.get('y');
          const r = writerRegion(ctx, 'y', 1024);
          return [
            { name: 'Y', value: String(y?.pid ?? ''), about: 'host PID of the writer' },
            { name: 'Y_ADDR', value: r ? `0x${r.start.toString(16)}` : '', about: 'start address of its memory region' },
            { name: 'Y_PAGES', value: '1024', about: 'pages in the region (4 KiB each)' },
          ];
        },
        checks: [],
        hints: [
          {
            text: 'Copy the region twice a second or more apart (dd if=/proc/$Y/mem bs=4096 skip=$((Y_ADDR / 4096)) count=$Y_PAGES) and count the pages that differ (cmp -l prints byte offsets). Where the kernel keeps soft-dirty bits, echo 4 > /proc/$Y/clear_refs and bit 55 of each 8-byte entry of /proc/$Y/pagemap tell the same.',
          },
        ],
        questions: [
          {
            id: 'hot-pages',
            question: 'How many different pages does $Y keep writing?',
            compare: 'number',
            answer: async (ctx) => {
              const r = writerRegion(ctx, 'y', 1024);
              const n = r ? await pagesWrittenWithin(r, 2000) : 0;
              return {
                probe: HOT_PROBE,
                value: String(n),
              };
            },
            explanation: 'That is its working set: every pre-copy round re-sends at most that many pages, and the rounds shrink until they take less time than it needs to write them all.',
          },
        ],
        solution: [HOT_PROBE],
      },
    },
  ],
};
