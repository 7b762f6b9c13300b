/**
 * The cgroups-io challenges.
 *  1. throttle-by-hand: hold a writer to 4 MiB/s by writing its cgroup's throttle file yourself
 *     (blkio.throttle.write_bps_device on v1, io.max on v2), for a disk named by MAJ:MIN.
 *  2. count-the-bytes: how many bytes a sandbox wrote, by its cgroup's own counter.
 *
 * Each makes its own loop device (a workspace of the challenge with a small tmpfs). Checks read
 * the cgroup files in TypeScript and measure the writer's rate from its byte counter over one
 * second (src/runtime/iorate.ts); nothing is spawned per poll.
 */
import fs from 'node:fs';

import { attachLoopDevice, cgroups, diskWriter, ioBytes, loopTmpfsSize, measureIoRate } from '../../runtime/index.js';
import { cgroupDirOf } from '../challenge-probes.js';
import { noSandbox, verdict } from '../checks.js';
import type { LessonContext } from '../context.js';
import type { Step } from '../types.js';

const MiB = 1024 * 1024;

/** The loop device whose backing file is `file`, from /sys/block/loop*\/loop/backing_file, or null. */
export function deviceBackedBy(file: string): { device: string; majMin: string; sys: string } | null {
  let names: string[] = [];
  try {
    names = fs.readdirSync('/sys/block').filter((n) => /^loop\d{1,7}$/.test(n));
  } catch {
    return null;
  }
  for (const n of names) {
    try {
      if (fs.readFileSync(`/sys/block/${n}/loop/backing_file`, 'utf8').trim() !== file) continue;
      return { device: `/dev/${n}`, majMin: fs.readFileSync(`/sys/block/${n}/dev`, 'utf8').trim(), sys: `/sys/block/${n}` };
    } catch {
      /* not attached */
    }
  }
  return null;
}

/**
 * The throttles a cgroup holds for `majMin`, read from this host's file: v1 has one file per
 * direction and unit ("MAJ:MIN N" lines), v2 one io.max line per disk ("MAJ:MIN rbps=N wbps=max …").
 */
export function throttleFileOf(dirs: string[], majMin: string): { file: string; wbps: number | null; rbps: number | null } {
  const read = (f: string) => {
    try {
      return fs.readFileSync(f, 'utf8').slice(0, 8192);
    } catch {
      return '';
    }
  };
  if (cgroups().version === 1) {
    const dir = dirs.find((d) => fs.existsSync(`${d}/blkio.throttle.write_bps_device`)) ?? dirs[0] ?? '';
    const line = (f: string) => {
      const m = new RegExp(`^${majMin} (\\d{1,20})$`, 'm').exec(read(`${dir}/${f}`));
      return m ? Number(m[1]) : null;
    };
    return { file: `${dir}/blkio.throttle.write_bps_device`, wbps: line('blkio.throttle.write_bps_device'), rbps: line('blkio.throttle.read_bps_device') };
  }
  const dir = dirs[0] ?? '';
  const line = new RegExp(`^${majMin} (.*)$`, 'm').exec(read(`${dir}/io.max`))?.[1] ?? '';
  const key = (k: string) => {
    const m = new RegExp(`\\b${k}=(\\d{1,20})\\b`).exec(line);
    return m ? Number(m[1]) : null;
  };
  return { file: `${dir}/io.max`, wbps: key('wbps'), rbps: key('rbps') };
}

/** "io.max (cgroup v2; on v1: blkio.throttle.write_bps_device)", this host's first. */
function both(v1: string, v2: string): string {
  return cgroups().version === 2 ? `${v2} (cgroup v2; on v1: ${v1})` : `${v1} (cgroup v1; on v2: ${v2})`;
}

/** A loop device of `size` for a challenge, in its own workspace `key`; returns its /dev path. */
function challengeDisk(ctx: LessonContext, key: string, size: number): string {
  const ws = ctx.workspace(key, { tmpfs: loopTmpfsSize(size) });
  const loop = attachLoopDevice(ws, size);
  ctx.explain(loop.explain);
  return loop.device;
}

function diskOf(ctx: LessonContext, key: string): { device: string; majMin: string; sys: string } | null {
  const ws = ctx.getWorkspace(key);
  return ws ? deviceBackedBy(`${ws.path}/disk.img`) : null;
}

// ----- 1. a throttle by hand ---------------------------------------------------------------------

const X = 'ch-x';
const X_DISK = 'ch-x-disk';
const X_SIZE = 32 * MiB;
const HAND_MIBPS = 4;
const HAND_BPS = HAND_MIBPS * MiB;
const HAND_SLACK = 1.5;

/** The throttle file of x's cgroup on this host, for the solution and the hints. */
function handFile(write: boolean): string {
  if (cgroups().version === 2) return '$X_CG/io.max';
  return `$X_CG/blkio.throttle.${write ? 'write' : 'read'}_bps_device`;
}

function handLine(value: string, write = true): string {
  return cgroups().version === 2 ? `"$MM ${write ? 'wbps' : 'rbps'}=${value}"` : `"$MM ${value}"`;
}

const MM = 'MM=$(cat /sys/block/${DEV#/dev/}/dev)';

export const throttleByHand: Step = {
  id: 'throttle-by-hand',
  title: 'Challenge: a disk throttle, by hand',
  checks: [],
  hint: 'A throttle names its disk by major:minor numbers, and its rate in bytes per second.',
  challenge: {
    get goal() {
      return (
        `Sandbox x writes to the loop device $DEV as fast as it can. Hold its writes to ${HAND_MIBPS} MiB/s ` +
        `by writing ${both('blkio.throttle.write_bps_device', 'io.max')} in $X_CG yourself, and let it keep writing.`
      );
    },
    tools: ['echo >', 'cat', 'lsblk', 'ls -l /dev'],
    writes: 'cgroup files',
    setup: async (ctx) => {
      const dev = challengeDisk(ctx, X_DISK, X_SIZE);
      await ctx.sandbox(X, { namespaces: ['pid'], init: true, command: diskWriter(dev, X_SIZE), stdio: 'ignore' });
    },
    vars: (ctx) => [
      { name: 'X', value: String(ctx.get(X)?.pid ?? ''), about: "host PID of x's PID 1" },
      { name: 'X_CG', value: cgroupDirOf(ctx, X, cgroups().version === 1 ? 'blkio' : 'io') ?? '(none)', about: `x's cgroup directory (${cgroups().version === 1 ? 'blkio' : 'io'} controller)` },
      { name: 'DEV', value: diskOf(ctx, X_DISK)?.device ?? '(none)', about: 'the loop device x writes to' },
    ],
    checks: [
      {
        label: `the kernel holds a write limit of ${HAND_MIBPS} MiB/s for x on $DEV`,
        run: (ctx) => {
          const s = ctx.get(X);
          const d = diskOf(ctx, X_DISK);
          if (!s || !d) return noSandbox('x');
          const t = throttleFileOf(cgroups().dirs(s.name), d.majMin);
          return verdict(`grep ${d.majMin} ${t.file}`, `${HAND_BPS} bytes/s`, t.wbps === null ? 'no write limit' : `${t.wbps} bytes/s`, t.wbps === HAND_BPS);
        },
      },
      {
        label: `x still writes, at ${HAND_MIBPS} ± ${HAND_SLACK} MiB/s`,
        run: async (ctx) => {
          const s = ctx.get(X);
          if (!s) return noSandbox('x');
          const r = await measureIoRate(s.name, 1000);
          return verdict(r.probe, `${HAND_MIBPS - HAND_SLACK}–${HAND_MIBPS + HAND_SLACK} MiB/s`, `${r.writeMiBps.toFixed(1)} MiB/s`, Math.abs(r.writeMiBps - HAND_MIBPS) <= HAND_SLACK);
        },
      },
    ],
    hints: [
      {
        when: {
          probe: `grep MAJ:MIN ${handFile(true)}`,
          holds: (ctx) => {
            const s = ctx.get(X);
            const d = diskOf(ctx, X_DISK);
            if (!s || !d) return false;
            const t = throttleFileOf(cgroups().dirs(s.name), d.majMin);
            return t.wbps !== null && t.wbps < HAND_BPS / 100;
          },
        },
        text: `The limit is there, but tiny: the number is bytes per second, and ${HAND_MIBPS} MiB is ${HAND_BPS} of them. (These files take no M suffix.)`,
        get reach() {
          return [MM, `echo ${handLine(String(HAND_MIBPS))} > ${handFile(true)}`];
        },
      },
      {
        when: {
          probe: `grep MAJ:MIN ${cgroups().version === 2 ? '$X_CG/io.max   # rbps=' : '$X_CG/blkio.throttle.read_bps_device'}`,
          holds: (ctx) => {
            const s = ctx.get(X);
            const d = diskOf(ctx, X_DISK);
            if (!s || !d) return false;
            const t = throttleFileOf(cgroups().dirs(s.name), d.majMin);
            return t.rbps !== null && t.wbps === null;
          },
        },
        text: 'That limits what x reads from the disk; x only writes. Reads and writes are throttled apart.',
        get reach() {
          return [MM, `echo ${handLine(String(HAND_BPS), false)} > ${handFile(false)}`];
        },
      },
      {
        text: `The disk's numbers: cat /sys/block/${'$'}{DEV#/dev/}/dev (or lsblk). Then one line, "MAJ:MIN bytes-per-second"${cgroups().version === 2 ? ' with the key: "MAJ:MIN wbps=N"' : ''}, into ${both('blkio.throttle.write_bps_device', 'io.max')}.`,
      },
    ],
    failStates: [
      {
        when: {
          probe: 'grep -x $X $X_CG/cgroup.procs',
          holds: (ctx) => {
            const s = ctx.get(X);
            const dir = cgroupDirOf(ctx, X, cgroups().version === 1 ? 'blkio' : 'io');
            let procs = '';
            try {
              procs = dir ? fs.readFileSync(`${dir}/cgroup.procs`, 'utf8') : '';
            } catch {
              /* gone */
            }
            return s !== undefined && !procs.split('\n').includes(String(s.pid));
          },
        },
        text: "x's PID 1 is gone, and its writer with it. Reset the challenge (R).",
        reach: ['kill -KILL $X', 'sleep 0.3'],
      },
    ],
    get solution() {
      return [MM, `echo ${handLine(String(HAND_BPS))} > ${handFile(true)}`];
    },
  },
};

// ----- 2. count the bytes ------------------------------------------------------------------------

const Y = 'ch-y';
const Y_DISK = 'ch-y-disk';
const Y_SIZE = 16 * MiB;
/** What y writes (MiB), picked at random by the setup: the answer is read, not known. */
const AMOUNTS = [3, 5, 7, 9];

function counterProbe(): string {
  return cgroups().version === 1
    ? `awk '$1 ~ /:/ && $2 == "Write" { s += $3 } END { print s + 0 }' $Y_CG/blkio.throttle.io_service_bytes_recursive`
    : `awk '{ for (i = 2; i <= NF; i++) if ($i ~ /^wbytes=/) s += substr($i, 8) } END { print s + 0 }' $Y_CG/io.stat`;
}

export const countTheBytes: Step = {
  id: 'count-the-bytes',
  title: 'Challenge: what the cgroup counted',
  checks: [],
  hint: 'Every cgroup counts the bytes its processes read and wrote on each disk.',
  challenge: {
    get goal() {
      return `Sandbox y wrote some data to the loop device $DEV with O_DIRECT and stopped. Find out from its cgroup's own counter in $Y_CG (${both('blkio.throttle.io_service_bytes_recursive', 'io.stat')}) how much.`;
    },
    tools: ['cat', 'grep', 'awk'],
    setup: async (ctx) => {
      const dev = challengeDisk(ctx, Y_DISK, Y_SIZE);
      const y = await ctx.sandbox(Y, { namespaces: ['pid'], init: true });
      const n = AMOUNTS[Math.floor(Math.random() * AMOUNTS.length)];
      const r = await y.execOutput(['dd', 'if=/dev/zero', `of=${dev}`, 'bs=256K', `count=${n * 4}`, 'oflag=direct']);
      if (r.status.code !== 0) throw new Error(`dd in y failed: ${r.stderr.trim().split('\n').pop()}`);
      ctx.log({ note: 'y wrote to the disk and stopped' });
    },
    vars: (ctx) => [
      { name: 'Y_CG', value: cgroupDirOf(ctx, Y, cgroups().version === 1 ? 'blkio' : 'io') ?? '(none)', about: `y's cgroup directory (${cgroups().version === 1 ? 'blkio' : 'io'} controller)` },
      { name: 'DEV', value: diskOf(ctx, Y_DISK)?.device ?? '(none)', about: 'the loop device y wrote to' },
    ],
    checks: [],
    hints: [
      {
        text: `${cgroups().version === 1 ? 'blkio.throttle.io_service_bytes_recursive has "MAJ:MIN Write N" lines' : 'io.stat has one line per disk with wbytes=N'}; add them up if there are several disks.`,
      },
    ],
    questions: [
      {
        id: 'bytes-written',
        question: 'How many bytes has y written to disk, by its cgroup\'s counter?',
        compare: 'number',
        answer: (ctx) => {
          const s = ctx.get(Y);
          const b = s ? ioBytes(s.name) : null;
          return { probe: counterProbe(), value: b === null ? '(unreadable)' : String(b.write) };
        },
        explanation:
          'The counter is kept where the throttle acts, in the block layer: every byte the group sent to a disk, whatever file or device it went through. With O_DIRECT it is exactly what dd wrote; a buffered write would be counted later, at writeback, against the group that dirtied the pages.',
      },
    ],
    get solution() {
      return [counterProbe()];
    },
  },
};

export const CHALLENGES: Step[] = [throttleByHand, countTheBytes];
