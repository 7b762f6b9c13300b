/**
 * cgroups-io: a disk made for the lesson (a 64 MiB loop device whose backing file lives on a tmpfs
 * under /run/sandbox), a sandbox writing to it flat out with O_DIRECT (no page cache between it and
 * the device), the same writer throttled to 5 MiB/s (blkio.throttle.write_bps_device on v1,
 * io.max on v2), and, where the device can use the BFQ scheduler, two writers sharing it by
 * weight (blkio.bfq.weight on v1, io.bfq.weight on v2).
 *
 * The evidence is the cgroup's own byte counter (v1 blkio.throttle.io_service_bytes_recursive,
 * v2 io.stat wbytes), read in windows by src/runtime/iorate.ts: the throttle acts where those
 * bytes are counted. Each check measures a fresh window of its own (CHECK_MS), so it never reads
 * the lesson's bookkeeping; the action's window feeds the chart, the log and the prediction.
 *
 * Tolerance: on this host the throttled writer measures 9.9–10.1 MiB/s under a 10 MiB/s throttle
 * over 2 s (v1 lets a first slice through at full speed, which the action's settle pause leaves
 * out). Checks accept 5 ± 1.5 (room for the emulated v2 guest's late timers), while the
 * unthrottled figure is 90–900 MiB/s here (a RAM-backed device) and 20–23 MiB/s in the emulated v2
 * guest: the outcome without the action is far outside.
 *
 * The BFQ step checks the kernel's state (scheduler, weights) and shows the split it measured,
 * without a check on it: v/w measured 1.8–4.5× here (weights 800/100), but also 1.1–1.2× with the
 * CPUs overloaded: a RAM disk is rarely the bottleneck (the CPU is), so BFQ seldom has two queues
 * to choose between, and a check on the ratio would fail on a busy CI host.
 */
import fs from 'node:fs';

import {
  attachLoopDevice,
  cgroups,
  diskWriter,
  diskWriterShown,
  ioProbe,
  type IoRate,
  loadModule,
  loopTmpfsSize,
  measureIoRate,
  type LimitWrite,
  type Sandbox,
} from '../../runtime/index.js';
import { noSandbox, verdict } from '../checks.js';
import type { LessonContext } from '../context.js';
import type { ChartView, Check, Lesson, View } from '../types.js';
import { CHALLENGES, deviceBackedBy, throttleFileOf } from './challenges.js';

const MiB = 1024 * 1024;
export const DISK_SIZE = 64 * MiB;
/** The throttle of step 3, in MiB/s. */
const LIMIT_MIBPS = 5;
/** Slack around the throttle a check accepts, MiB/s. */
const SLACK = 1.5;
/**
 * Unthrottled, the writer must write faster than the throttle of the next step will allow. It
 * measures 90–900 MiB/s on a quiet host, but only 9–27 MiB/s with the 2 CPUs at a load of 20–50
 * (each pass of the loop starts a new dd, and the loop device's worker is a thread that waits its
 * turn for a CPU too).
 */
const FLAT_OUT_MIN = LIMIT_MIBPS + SLACK;
const WINDOW_MS = 2000;
const CHECK_MS = 1200;
/** After a change of limits, before measuring: a throttle starts with a slice's budget. */
const SETTLE_MS = 400;
const WEIGHTS = { w: 100, v: 800 } as const;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const f1 = (x: number) => x.toFixed(1);

/** The lesson's loop device, found by its backing file in the lesson's workspace (the kernel's word). */
function disk(ctx: LessonContext): { device: string; majMin: string; sys: string } | null {
  const ws = ctx.getWorkspace('disk');
  return ws ? deviceBackedBy(`${ws.path}/disk.img`) : null;
}

interface Window {
  step: string;
  rates: Record<string, IoRate>;
  /** The live series while it runs (MiB/s written per sample), by sandbox key. */
  live: Record<string, number[]>;
}

/** Measures one window of every sandbox in `keys` at once, for the chart and the log. */
async function measureStep(ctx: LessonContext, step: string, keys: string[]): Promise<Window> {
  const w: Window = { step, rates: {}, live: Object.fromEntries(keys.map((k) => [k, []])) };
  ctx.state.set('io.window', w);
  const rates = await Promise.all(
    keys.map((k) =>
      measureIoRate(ctx.get(k)!.name, WINDOW_MS, {
        onSample: (series) => (w.live[k] = series.map((s) => s.writeMiBps)),
      }),
    ),
  );
  keys.forEach((k, i) => (w.rates[k] = rates[i]));
  for (const k of keys) {
    ctx.log({ command: rates[keys.indexOf(k)].probe, note: `${k} wrote ${f1(w.rates[k].writeBytes / MiB)} MiB in ${w.rates[k].ms} ms: ${f1(w.rates[k].writeMiBps)} MiB/s` });
  }
  return w;
}

function chart(ctx: LessonContext): ChartView {
  const w = ctx.state.get('io.window') as Window | undefined;
  if (!w) return { kind: 'chart', series: [], min: 0, max: 100, unit: 'MiB/s', caption: 'no writer yet' };
  const keys = Object.keys(w.live);
  const all = keys.flatMap((k) => w.live[k]);
  const throttled = w.step === 'throttle';
  return {
    kind: 'chart',
    series: keys.map((k) => ({ name: `${k} writes`, values: w.live[k], target: throttled ? LIMIT_MIBPS : undefined })),
    min: 0,
    max: Math.max(throttled ? 2 * LIMIT_MIBPS : 10, Math.ceil(Math.max(0, ...all) * 1.1)),
    unit: 'MiB/s',
    caption: `MiB written per second by each sandbox's cgroup, every 200 ms over ${WINDOW_MS / 1000} s (${cgroups().version === 1 ? 'blkio.throttle.io_service_bytes_recursive' : 'io.stat wbytes'}).`,
  };
}

const view: View = { title: 'Disk writes, MiB/s (from the cgroup io counters)', sample: chart };

function logWrites(ctx: LessonContext, writes: LimitWrite[]): void {
  for (const w of writes) ctx.log({ command: `echo "${w.value}" > ${w.path}`, syscall: `write("${w.file}", "${w.value}")`, note: w.note });
}

/** A fresh window of sandbox `key`'s writes, for a check. */
async function rateOf(s: Sandbox): Promise<IoRate> {
  return measureIoRate(s.name, CHECK_MS);
}

/** The io throttle line of `s` for the lesson's disk: bytes/s written, or null (none). */
function wbpsOf(s: Sandbox, majMin: string): { file: string; value: number | null } {
  const t = throttleFileOf(cgroups().dirs(s.name), majMin);
  return { file: t.file, value: t.wbps };
}

/** Why the weight step cannot run here (no BFQ for the device, no weight file), or null. */
function weightUnavailable(ctx: LessonContext): string | null {
  const d = disk(ctx);
  if (!d) return null; // the step's own checks say the disk is missing
  let sched = '';
  try {
    sched = fs.readFileSync(`${d.sys}/queue/scheduler`, 'utf8');
  } catch {
    /* no queue */
  }
  if (!/\bbfq\b/.test(sched)) {
    return `the BFQ I/O scheduler is not available for ${d.device} (${d.sys}/queue/scheduler: ${sched.trim() || 'unreadable'}); modprobe bfq (CONFIG_IOSCHED_BFQ) makes it so`;
  }
  const s = ctx.get('w');
  const dirs = s ? cgroups().dirs(s.name) : [];
  const file = cgroups().version === 1 ? 'blkio.bfq.weight' : 'io.bfq.weight';
  if (s && !dirs.some((dir) => fs.existsSync(`${dir}/${file}`))) {
    return `this kernel has no ${file} (BFQ without cgroup support: CONFIG_BFQ_GROUP_IOSCHED)`;
  }
  return null;
}

const flatOutCheck: Check = {
  label: `w writes flat out: faster than the ${LIMIT_MIBPS} MiB/s (+${SLACK}) the next step allows`,
  run: async (ctx) => {
    const s = ctx.get('w');
    if (!s) return noSandbox('w');
    const r = await rateOf(s);
    return verdict(r.probe, `> ${FLAT_OUT_MIN} MiB/s`, `${f1(r.writeMiBps)} MiB/s over ${r.ms} ms`, r.writeMiBps > FLAT_OUT_MIN);
  },
};

export const lesson: Lesson = {
  id: 'cgroups-io',
  title: 'cgroups: disk throttles and weights',
  summary: 'a loop device of its own, a writer flat out, the same writer throttled to 5 MiB/s (blkio.throttle / io.max), BFQ weights',
  requires: [
    { kind: 'root' },
    { kind: 'command', name: 'losetup' },
    { kind: 'command', name: 'dd' },
  ],
  steps: [
    {
      id: 'disk',
      title: 'A disk of our own',
      action: async (ctx) => {
        const cg = cgroups();
        if (!cg.controllers.includes(cg.version === 1 ? 'blkio' : 'io')) {
          throw new Error(`this host's cgroups have no ${cg.version === 1 ? 'blkio' : 'io'} controller: sandbox doctor says how to get it`);
        }
        const ws = ctx.workspace('disk', { tmpfs: loopTmpfsSize(DISK_SIZE) });
        const loop = attachLoopDevice(ws, DISK_SIZE);
        ctx.explain(loop.explain);
        ctx.log({ command: `cat /sys/block/${loop.device.slice(5)}/dev`, output: loop.majMin, note: `${loop.device} is block device ${loop.majMin}: throttles name a disk by these two numbers` });
        // The weight step needs the BFQ scheduler, a module on most distributions' kernels.
        const sched = `/sys/block/${loop.device.slice(5)}/queue/scheduler`;
        if (fs.existsSync(sched) && !/\bbfq\b/.test(fs.readFileSync(sched, 'utf8'))) ctx.log({ command: 'modprobe bfq', note: loadModule('bfq') });
      },
      checks: [
        {
          label: 'a loop device is backed by the lesson\'s file under /run/sandbox',
          run: (ctx) => {
            const ws = ctx.getWorkspace('disk');
            const want = ws ? `${ws.path}/disk.img` : '/run/sandbox/cgroups-io-disk/disk.img';
            const d = deviceBackedBy(want);
            return verdict('grep . /sys/block/loop*/loop/backing_file', `a loop device backed by ${want}`, d ? `${d.device} (${d.majMin})` : 'none', d !== null);
          },
        },
        {
          label: 'it is a 64 MiB block device',
          run: (ctx) => {
            const d = disk(ctx);
            let sectors = NaN;
            try {
              sectors = d ? Number(fs.readFileSync(`${d.sys}/size`, 'utf8').trim()) : NaN;
            } catch {
              /* gone */
            }
            const bytes = sectors * 512;
            return verdict(`cat ${d?.sys ?? '/sys/block/loopN'}/size   # 512-byte sectors`, `${DISK_SIZE / 512} (64 MiB)`, Number.isFinite(bytes) ? `${sectors} (${bytes / MiB} MiB)` : 'no device', bytes === DISK_SIZE);
          },
        },
      ],
      hint: 'losetup -a lists every loop device and the file behind it.',
    },
    {
      id: 'flat-out',
      title: 'A writer, flat out',
      action: async (ctx) => {
        const d = disk(ctx);
        if (!d) throw new Error('the lesson\'s disk is gone: run the first step again');
        const s = await ctx.sandbox('w', { namespaces: ['pid'], init: true, command: diskWriter(d.device, DISK_SIZE), stdio: 'ignore' });
        ctx.log({ command: `nsenter --target ${s.pid} --pid -- ${diskWriterShown(d.device, DISK_SIZE)}`, syscall: `open("${d.device}", O_WRONLY|O_DIRECT), write() of 256 KiB again and again` });
        await sleep(SETTLE_MS);
        await measureStep(ctx, 'flat-out', ['w']);
      },
      view,
      checks: [flatOutCheck],
      hint: `The chart reads the cgroup's byte counter: ${cgroups().version === 1 ? 'blkio.throttle.io_service_bytes_recursive' : 'io.stat'}.`,
    },
    {
      id: 'throttle',
      title: 'The same writer, throttled',
      prediction: {
        question: `w keeps writing flat out. Its cgroup now gets a write limit of ${LIMIT_MIBPS} MiB per second on this disk. How many MiB/s will w write?`,
        choices: [],
        answer: LIMIT_MIBPS,
        number: {
          unit: 'MiB/s',
          min: 0,
          max: 100_000,
          tolerance: 1,
          measured: (ctx) => {
            const w = ctx.state.get('io.window') as Window | undefined;
            const r = w?.step === 'throttle' ? w.rates.w : undefined;
            return { probe: r?.probe ?? ioProbe(ctx.get('w')?.name ?? 'cgroups-io-w'), value: r ? Math.round(r.writeMiBps * 10) / 10 : NaN };
          },
        },
        explanation:
          'The block layer holds back each bio of the group once it is over its budget for the current slice, so the writer gets what the file says and not a byte more, however fast the device is. The page cache is not in the way: dd writes with O_DIRECT.',
      },
      action: async (ctx) => {
        const s = ctx.get('w');
        const d = disk(ctx);
        if (!s || !d) throw new Error('the writer or its disk is gone: run the earlier steps again');
        logWrites(ctx, s.setLimits({ io: [{ device: d.majMin, wbps: LIMIT_MIBPS * MiB }] }));
        // Longer than the other steps: in the emulated v2 guest the rate takes a second or two to
        // settle at the limit after io.max is written (measured 1.4 and 5.4 MiB/s in the first 2 s).
        await sleep(3 * SETTLE_MS);
        await measureStep(ctx, 'throttle', ['w']);
      },
      view,
      checks: [
        {
          label: `the kernel holds a write limit of ${LIMIT_MIBPS} MiB/s for w on the disk`,
          run: (ctx) => {
            const s = ctx.get('w');
            const d = disk(ctx);
            if (!s || !d) return noSandbox('w');
            const t = wbpsOf(s, d.majMin);
            return verdict(`grep ${d.majMin} ${t.file}`, `${LIMIT_MIBPS * MiB} bytes/s`, t.value === null ? 'no limit' : `${t.value} bytes/s`, t.value === LIMIT_MIBPS * MiB);
          },
        },
        {
          label: `w writes ${LIMIT_MIBPS} ± ${SLACK} MiB/s`,
          run: async (ctx) => {
            const s = ctx.get('w');
            if (!s) return noSandbox('w');
            const r = await rateOf(s);
            return verdict(r.probe, `${LIMIT_MIBPS - SLACK}–${LIMIT_MIBPS + SLACK} MiB/s`, `${f1(r.writeMiBps)} MiB/s over ${r.ms} ms`, Math.abs(r.writeMiBps - LIMIT_MIBPS) <= SLACK);
          },
        },
      ],
      hint: cgroups().version === 1 ? 'blkio.throttle.write_bps_device holds one "MAJ:MIN bytes-per-second" line per disk.' : 'io.max holds one line per disk: "MAJ:MIN rbps=… wbps=… riops=… wiops=…".',
    },
    {
      id: 'weight',
      title: 'Two writers, shared by weight',
      unavailable: (ctx) => weightUnavailable(ctx),
      action: async (ctx) => {
        const s = ctx.get('w');
        const d = disk(ctx);
        if (!s || !d) throw new Error('the writer or its disk is gone: run the earlier steps again');
        // BFQ decides who goes next by weight; the default scheduler of a loop device (none) has no weights.
        fs.writeFileSync(`${d.sys}/queue/scheduler`, 'bfq');
        ctx.log({ command: `echo bfq > ${d.sys}/queue/scheduler`, note: 'the BFQ scheduler now orders the disk\'s requests' });
        // BFQ's low-latency heuristics raise the weight of a process that just started, for a
        // while: each pass of the writer loop starts a new dd, which would then outweigh any
        // cgroup weight. Off for this disk, only the weights decide.
        const lowLatency = `${d.sys}/queue/iosched/low_latency`;
        if (fs.existsSync(lowLatency)) {
          fs.writeFileSync(lowLatency, '0');
          ctx.log({ command: `echo 0 > ${lowLatency}`, note: 'no boost for newly started processes: the weights alone decide' });
        }
        // A RAM disk serves a request before the next arrives, so BFQ seldom has two queues to
        // choose between; strict_guarantees makes it wait for the heavier queue's next request
        // instead of serving whichever is there. Measured v/w with 8:1 weights: 1.0–1.6× without
        // it, 3–4.5× with it, at a load of 64 on 2 CPUs.
        const strict = `${d.sys}/queue/iosched/strict_guarantees`;
        if (fs.existsSync(strict)) {
          fs.writeFileSync(strict, '1');
          ctx.log({ command: `echo 1 > ${strict}`, note: 'BFQ keeps the weights even on a disk that is never busy for long' });
        }
        logWrites(ctx, s.setLimits({ io: [{ device: d.majMin, wbps: 'max' }], ioWeight: WEIGHTS.w }));
        const v = await ctx.sandbox('v', { namespaces: ['pid'], init: true, command: diskWriter(d.device, DISK_SIZE), stdio: 'ignore', limits: { ioWeight: WEIGHTS.v } });
        for (const e of v.explain.filter((x) => x.what === 'limit')) ctx.log({ command: e.command, syscall: e.syscall, note: e.result });
        await sleep(SETTLE_MS);
        const m = await measureStep(ctx, 'weight', ['w', 'v']);
        const ratio = m.rates.w.writeMiBps > 0 ? m.rates.v.writeMiBps / m.rates.w.writeMiBps : 0;
        ctx.log({
          note: `v wrote ${ratio.toFixed(1)}× what w wrote (weights 8:1). A RAM disk is rarely the bottleneck, the CPU is: BFQ can only choose while requests of both wait, so the split is less than 8:1, and near even on a host whose CPUs are overloaded.`,
        });
      },
      view,
      checks: [
        {
          label: `BFQ orders the disk's requests, and the weights are ${WEIGHTS.w} (w) and ${WEIGHTS.v} (v)`,
          run: (ctx) => {
            const w = ctx.get('w');
            const v = ctx.get('v');
            const d = disk(ctx);
            if (!w || !d) return noSandbox('w');
            if (!v) return noSandbox('v');
            const file = cgroups().version === 1 ? 'blkio.bfq.weight' : 'io.bfq.weight';
            const weight = (s: Sandbox) => {
              const dir = cgroups().dirs(s.name).find((x) => fs.existsSync(`${x}/${file}`));
              try {
                return dir ? (/(\d{1,5})\s*$/.exec(fs.readFileSync(`${dir}/${file}`, 'utf8').split('\n')[0])?.[1] ?? '?') : '?';
              } catch {
                return '?';
              }
            };
            let sched = '?';
            try {
              sched = /\[(\w+)\]/.exec(fs.readFileSync(`${d.sys}/queue/scheduler`, 'utf8'))?.[1] ?? '?';
            } catch {
              /* gone */
            }
            const actual = `scheduler ${sched}; w ${weight(w)}, v ${weight(v)}`;
            return verdict(`cat ${d.sys}/queue/scheduler; head -1 …/${file} of w and v`, `scheduler bfq; w ${WEIGHTS.w}, v ${WEIGHTS.v}`, actual);
          },
        },
      ],
      hint: 'A weight only matters while both want the disk, and only under a scheduler that reads it (BFQ).',
    },
    ...CHALLENGES,
  ],
};
