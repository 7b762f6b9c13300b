/**
 * Disk throughput of a sandbox, measured the way the kernel counts it: the bytes its cgroup read
 * and wrote on block devices (v1 blkio.throttle.io_service_bytes_recursive, v2 io.stat), read at
 * the start and end of a window and at every sample between. The throttle acts where these bytes
 * are counted (the block layer), so what the counter says is what the throttle let through.
 *
 * The writer is `dd … oflag=direct`: O_DIRECT writes skip the page cache, which would otherwise
 * take a burst of writes at memory speed and hide the throttle until writeback.
 */
import { cgroups } from './cgroup/index.js';

export const MiB = 1024 * 1024;

/** Block size of the writer: small enough that a throttle of a few MiB/s is met smoothly. */
export const WRITER_BLOCK = 256 * 1024;

/**
 * A shell loop that writes zeros over the whole device again and again with O_DIRECT, as PID 1
 * of a sandbox or a command exec'd into one. `dd` failing (the device went away) pauses the loop
 * instead of spinning.
 */
export function diskWriter(device: string, sizeBytes: number): string[] {
  const count = Math.max(1, Math.floor(sizeBytes / WRITER_BLOCK));
  return ['sh', '-c', `while :; do dd if=/dev/zero of=${device} bs=${WRITER_BLOCK / 1024}K count=${count} oflag=direct 2>/dev/null || sleep 0.2; done`];
}

/** The same loop as the learner would type it. */
export function diskWriterShown(device: string, sizeBytes: number): string {
  const [, , script] = diskWriter(device, sizeBytes);
  return `sh -c '${script}'`;
}

export interface IoSample {
  /** ms since the window opened. */
  t: number;
  /** MiB/s over the interval since the previous sample. */
  readMiBps: number;
  writeMiBps: number;
}

export interface IoRate {
  /** The sandbox (cgroup name) measured. */
  name: string;
  ms: number;
  readBytes: number;
  writeBytes: number;
  /** Over the whole window, in MiB/s (1 MiB = 1048576 bytes, the unit of the throttle files' "10M"). */
  readMiBps: number;
  writeMiBps: number;
  series: IoSample[];
  /** The files the bytes were read from, for the learner. */
  probe: string;
}

/** Bytes read and written by the cgroup so far, or null if this host counts neither. */
export function ioBytes(name: string): { read: number; write: number } | null {
  const u = cgroups().usage(name);
  if (u.ioReadBytes == null && u.ioWriteBytes == null) return null;
  return { read: u.ioReadBytes ?? 0, write: u.ioWriteBytes ?? 0 };
}

/** Where ioBytes reads from on this host, as a command. */
export function ioProbe(name: string): string {
  const cg = cgroups();
  if (cg.version === 2) return `cat ${cg.dirs(name)[0]}/io.stat   # rbytes= wbytes=`;
  const dir = cg.dirs(name).find((d) => d.includes('/blkio/')) ?? cg.describe(name);
  return `cat ${dir}/blkio.throttle.io_service_bytes_recursive   # Read / Write`;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round2 = (x: number) => Math.round(x * 100) / 100;

/**
 * Measures one window of `ms` milliseconds (bounded to 50 ms–60 s), sampling every `sampleMs`;
 * `onSample` sees the series as it grows (a live chart). Throws if the cgroup has no io counters.
 */
export async function measureIoRate(
  name: string,
  ms: number,
  options: { sampleMs?: number; onSample?: (series: IoSample[]) => void } = {},
): Promise<IoRate> {
  const windowMs = Math.min(60_000, Math.max(50, Math.round(ms)));
  const sampleMs = Math.min(windowMs, Math.max(20, options.sampleMs ?? 200));
  const first = ioBytes(name);
  if (!first) throw new Error(`the cgroup of ${name} has no io counters on this host (no blkio/io controller)`);
  const t0 = performance.now();
  let prev = { ...first, t: 0 };
  const series: IoSample[] = [];
  for (;;) {
    const left = windowMs - (performance.now() - t0);
    if (left <= 0) break;
    await sleep(Math.min(sampleMs, left));
    const now = ioBytes(name) ?? prev;
    const t = performance.now() - t0;
    const dt = (t - prev.t) / 1000;
    if (dt > 0) {
      series.push({ t: Math.round(t), readMiBps: round2((now.read - prev.read) / MiB / dt), writeMiBps: round2((now.write - prev.write) / MiB / dt) });
      options.onSample?.(series);
    }
    prev = { ...now, t };
  }
  const secs = prev.t / 1000;
  const readBytes = prev.read - first.read;
  const writeBytes = prev.write - first.write;
  return {
    name,
    ms: Math.round(prev.t),
    readBytes,
    writeBytes,
    readMiBps: secs > 0 ? round2(readBytes / MiB / secs) : 0,
    writeMiBps: secs > 0 ? round2(writeBytes / MiB / secs) : 0,
    series,
    probe: ioProbe(name),
  };
}
