/** Reading and writing cgroup files: helpers shared by the v1 and v2 drivers. */
import fs from 'node:fs';

import { SandboxError, usageError, wrapSystemError } from '../errors.js';
import type { LimitWrite } from './index.js';

/** The parent cgroup of every sandbox where sandbox makes it itself (no systemd). */
export const CGROUP_PARENT = 'sandbox';

export function readText(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

export function readNumber(file: string): number | null {
  const t = readText(file);
  if (t === null) return null;
  const n = Number(t.trim());
  return Number.isFinite(n) ? n : null;
}

/** "key value" lines (cpu.stat, memory.events, pids.events, memory.oom_control). */
export function readKeyed(file: string): Record<string, number> {
  const out: Record<string, number> = {};
  const t = readText(file);
  if (!t) return out;
  for (const line of t.split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined && Number.isFinite(Number(v))) out[k] = Number(v);
  }
  return out;
}

export function writeCgroupFile(file: string, value: string): void {
  try {
    fs.writeFileSync(file, value);
  } catch (err) {
    throw wrapSystemError(err, { what: `writing "${value}" to ${file}`, step: 'cgroup', path: file });
  }
}

export function readProcs(dir: string): number[] {
  const t = readText(`${dir}/cgroup.procs`);
  if (!t) return [];
  return t
    .split('\n')
    .filter(Boolean)
    .map(Number);
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));
/** Blocks this thread briefly; used only while waiting for the kernel to empty or free a cgroup. */
export function sleepSync(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}

/** rmdir, retrying EBUSY for up to ~2 s: a cgroup stays busy for a moment after its last process died. */
export function rmdirRetry(dir: string): boolean {
  for (let i = 0; ; i++) {
    try {
      fs.rmdirSync(dir);
      return true;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return false;
      if ((code === 'EBUSY' || code === 'EAGAIN') && i < 100) {
        sleepSync(20);
        continue;
      }
      throw wrapSystemError(err, { what: `removing cgroup ${dir}`, step: 'cgroup-remove', path: dir });
    }
  }
}

/** mkdir that tolerates an existing directory. */
export function ensureDir(dir: string): boolean {
  try {
    fs.mkdirSync(dir);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw wrapSystemError(err, { what: `creating cgroup ${dir}`, step: 'cgroup', path: dir });
  }
}

export function missingController(controller: string, limit: string, layout: 'v1' | 'hybrid' | 'v2'): SandboxError {
  return usageError(
    `${limit} needs the "${controller}" cgroup controller, which this host does not offer`,
    layout === 'v2'
      ? `check /sys/fs/cgroup/cgroup.controllers; on some systems it must be enabled on the kernel command line`
      : `mount it (e.g. mount -t cgroup -o ${controller} cgroup /sys/fs/cgroup/${controller}) or boot with cgroup v2`,
    'E_NO_CONTROLLER',
  );
}

/** An io weight asked for where the kernel has no weight file: the device's scheduler decides. */
export function noIoWeight(path: string): SandboxError {
  return usageError(
    `--io-weight: ${path} does not exist: this kernel has no proportional disk weight here`,
    'a disk weight needs the BFQ I/O scheduler (CONFIG_BFQ_GROUP_IOSCHED; v2 also io.weight from blk-iocost); ' +
      'use a throttle instead, e.g. --io-wbps loop3=10M',
    'E_NO_CONTROLLER',
  );
}

/** Writes planned limit files in order (the order matters: see memsw on v1); returns them. */
export function applyWrites(writes: LimitWrite[]): LimitWrite[] {
  for (const w of writes) writeCgroupFile(w.path, w.value);
  return writes;
}
