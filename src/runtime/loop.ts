/**
 * A loop device made for a lesson: a block device whose "disk" is a file under
 * /run/sandbox/<name>/, on a tmpfs of its own, so a disk throttle (blkio.throttle.* on v1,
 * io.max on v2) can be shown on a device nobody else uses, without touching the host's disks.
 *
 * The workspace that holds the file is recorded in the ledger before it exists, and the backing
 * file is recorded (LedgerEntry.loops) before `losetup` attaches it: destroy() and `sandbox
 * cleanup` find the device again by its backing file (/sys/block/loopN/loop/backing_file) and
 * detach it before the tmpfs is unmounted (ledger.ts detachLoopsUnder).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

import { formatBytes } from './cgroup/limits.js';
import { SandboxError, usageError, wrapSystemError } from './errors.js';
import { detachLoopsUnder, loopDevices, readEntry, writeEntry } from './ledger.js';
import type { ExplainStep } from './plan.js';
import { Workspace } from './workspace.js';

export const MIN_LOOP_SIZE = 1024 * 1024;
/** Largest loop disk: it lives in RAM (tmpfs), so keep it small. */
export const MAX_LOOP_SIZE = 512 * 1024 * 1024;
export const BACKING_FILE = 'disk.img';

const { O_CREAT, O_EXCL, O_NOFOLLOW, O_WRONLY } = fs.constants;

export interface LoopDevice {
  /** The workspace's name (/run/sandbox/<name>). */
  readonly name: string;
  /** /dev/loopN */
  readonly device: string;
  /** "7:N", for blkio.throttle.* and io.max. */
  readonly majMin: string;
  readonly backingFile: string;
  readonly sizeBytes: number;
  /** What was done on the host, as commands and system calls. */
  readonly explain: ExplainStep[];
  readonly workspace: Workspace;
  /** Detaches the device and removes the workspace (idempotent). */
  destroy(): { detached: string[]; removed: boolean };
}

/**
 * Loads a kernel module with modprobe (root only); returns what happened, for the log. Lessons
 * load `loop` where the kernel has it as a module that nothing loaded yet (the v2 CI guest; a
 * fresh VM loads it when /dev/loop-control is first opened), and `bfq` for the weight step.
 */
export function loadModule(name: 'loop' | 'bfq'): string {
  const modprobe = ['/usr/sbin/modprobe', '/sbin/modprobe', '/usr/bin/modprobe', '/bin/modprobe'].find((p) => fs.existsSync(p));
  if (!modprobe) return `modprobe ${name}: modprobe is not installed (Debian package kmod)`;
  try {
    execFileSync(modprobe, [name], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 15_000 });
    return `modprobe ${name}: done`;
  } catch (err) {
    const stderr = String((err as { stderr?: Buffer }).stderr ?? '').trim().split('\n')[0];
    return `modprobe ${name}: ${stderr || (err as Error).message}`;
  }
}

const loopDriverLoaded = () => fs.existsSync('/dev/loop-control') || fs.existsSync('/sys/module/loop');

/** Why this host cannot make a loop device (no losetup, no loop driver), or null if it can. Loads the driver if it is a module. */
export function loopProblem(): string | null {
  try {
    execFileSync('losetup', ['--version'], { stdio: 'ignore', timeout: 5000 });
  } catch {
    return 'losetup is not installed (Debian/Ubuntu package util-linux)';
  }
  if (!loopDriverLoaded()) {
    const tried = process.getuid?.() === 0 ? loadModule('loop') : 'only root may load it';
    if (!loopDriverLoaded()) return `the kernel has no loop driver (${tried}; CONFIG_BLK_DEV_LOOP)`;
  }
  return null;
}

/** The tmpfs size (for Workspace's `tmpfs` option) that holds a loop disk of `sizeBytes` and a little slack. */
export function loopTmpfsSize(sizeBytes: number): string {
  // A full tmpfs would fail writes to the device with EIO.
  return `${Math.ceil(sizeBytes / 1024 / 1024) + 4}m`;
}

function checkSize(sizeBytes: number): void {
  if (!Number.isSafeInteger(sizeBytes) || sizeBytes < MIN_LOOP_SIZE || sizeBytes > MAX_LOOP_SIZE || sizeBytes % 512 !== 0) {
    throw usageError(
      `a loop device of ${Number.isFinite(sizeBytes) ? formatBytes(sizeBytes) : String(sizeBytes)}: out of range`,
      `its disk lives in memory: give ${formatBytes(MIN_LOOP_SIZE)}–${formatBytes(MAX_LOOP_SIZE)}, a multiple of 512 bytes, e.g. 64M`,
      'E_LIMIT',
    );
  }
}

/**
 * Makes /run/sandbox/<name>/disk.img (sizeBytes, sparse, on a tmpfs of its workspace) and attaches
 * it as the first free loop device. destroy() detaches it and removes the workspace. Needs root.
 */
export function createLoopDevice(name: string, sizeBytes: number, options: { purpose?: string } = {}): LoopDevice {
  checkSize(sizeBytes);
  const problem = loopProblem();
  if (problem) throw new SandboxError(`cannot make a loop device: ${problem}`, { code: 'E_NO_LOOP', hint: 'sandbox doctor says what this host has' });
  const ws = Workspace.create({ name, purpose: options.purpose ?? 'loop device', tmpfs: loopTmpfsSize(sizeBytes) });
  const loop = attachLoopDevice(ws, sizeBytes);
  loop.explain.unshift(...ws.explain);
  return loop;
}

/**
 * Attaches a loop device backed by `<workspace>/disk.img` (sizeBytes, sparse) in a workspace that
 * exists (a lesson's ctx.workspace, made with tmpfs: loopTmpfsSize(sizeBytes)). Removing the
 * workspace detaches the device. On failure the workspace is removed too.
 */
export function attachLoopDevice(ws: Workspace, sizeBytes: number): LoopDevice {
  const name = ws.name;
  const explain: ExplainStep[] = [];
  const backingFile = `${ws.path}/${BACKING_FILE}`;
  let device = '';
  try {
    checkSize(sizeBytes);
    const problem = loopProblem();
    if (problem) throw new SandboxError(`cannot make a loop device: ${problem}`, { code: 'E_NO_LOOP', hint: 'sandbox doctor says what this host has' });
    // O_EXCL|O_NOFOLLOW: a name planted in the directory (a link to a host file) is never opened.
    const fd = fs.openSync(backingFile, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
    try {
      fs.ftruncateSync(fd, sizeBytes);
    } finally {
      fs.closeSync(fd);
    }
    explain.push({
      what: 'truncate',
      command: `truncate -s ${formatBytes(sizeBytes)} ${backingFile}`,
      syscall: `open("${backingFile}", O_CREAT|O_EXCL|O_NOFOLLOW), ftruncate(fd, ${sizeBytes})`,
    });
    // Recorded before it is attached: a crash right after losetup leaves a device cleanup finds.
    const entry = readEntry(name);
    if (!entry) throw new SandboxError(`the ledger entry of workspace ${name} is gone`, { code: 'E_BUG', actionable: false });
    writeEntry({ ...entry, loops: [backingFile] });
    try {
      device = execFileSync('losetup', ['--find', '--show', backingFile], { encoding: 'utf8', timeout: 20_000, stdio: ['ignore', 'pipe', 'pipe'] }).trim();
    } catch (err) {
      const stderr = String((err as { stderr?: unknown }).stderr ?? '').trim();
      throw new SandboxError(`losetup --find --show ${backingFile} failed${stderr ? `: ${stderr}` : ''}`, {
        code: 'E_LOSETUP',
        step: 'losetup',
        path: backingFile,
        hint: 'every loop device may be busy (losetup -a lists them), or the loop driver is missing (modprobe loop)',
      });
    }
    // The device losetup named must be the one the kernel shows backed by our file.
    const n = /^\/dev\/(loop\d{1,7})$/.exec(device)?.[1];
    if (!n || !loopDevices().some((l) => l.device === device && l.backingFile === backingFile)) {
      throw new SandboxError(`losetup printed ${JSON.stringify(device.slice(0, 80))}, not a loop device backed by ${backingFile}`, { code: 'E_LOSETUP' });
    }
    const majMin = fs.readFileSync(`/sys/block/${n}/dev`, 'utf8').trim();
    explain.push({
      what: 'losetup',
      command: `losetup --find --show ${backingFile}   # → ${device} (${majMin})`,
      syscall: `ioctl(/dev/loop-control, LOOP_CTL_GET_FREE), ioctl(${device}, LOOP_CONFIGURE, fd of ${backingFile})`,
    });
    let destroyed = false;
    return {
      name,
      device,
      majMin,
      backingFile,
      sizeBytes,
      explain,
      workspace: ws,
      destroy() {
        if (destroyed) return { detached: [], removed: false };
        destroyed = true;
        const detached = detachLoopsUnder(ws.path);
        const r = ws.destroy();
        return { detached, removed: r.removed };
      },
    };
  } catch (err) {
    try {
      ws.destroy(); // detaches a device that did get attached (removeTree), unmounts, removes the entry
    } catch {
      /* `sandbox cleanup` finishes the job */
    }
    throw err instanceof SandboxError ? err : wrapSystemError(err, { what: `making loop device ${name}`, path: backingFile });
  }
}
