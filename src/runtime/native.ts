/**
 * The native addon (native/*.cc) and the sandbox-init executable, typed by hand. The addon's
 * functions take plain, already-validated arguments; every check and default lives in
 * TypeScript before the call.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { SandboxError } from './errors.js';

/** One step of a sandbox's setup plan, executed in order by the child (see native/spawn.cc). */
export interface NativeOp {
  kind: number;
  a?: string;
  b?: string;
  c?: string;
  d?: string;
  flags?: number;
}

export interface NativeSpawnOptions {
  /** CLONE_NEW* flags for clone3 (never CLONE_NEWCGROUP: see unshareCgroup). */
  cloneFlags: number;
  /** Create the cgroup namespace after the parent attached the child to its cgroups. */
  unshareCgroup: boolean;
  /** Exec mode: join the namespaces of the process this pidfd names. */
  joinPidfd: number;
  joinFlags: number;
  /** A user namespace is created or joined: become uid/gid 0 in it after the maps are written. */
  user: boolean;
  hostname: string | null;
  ops: NativeOp[];
  cwd: string;
  noNewPrivs: boolean;
  /** Make the payload the terminal's foreground process group (interactive shells). */
  foreground: boolean;
  /** Run sandbox-init (PID 1 that reaps and forwards signals) with argv as its child; else exec argv directly. */
  init: boolean;
  initPath: string;
  argv: string[];
  /** Without init: the paths to try for argv[0], in PATH order (the child cannot search PATH itself). */
  candidates: string[];
  env: string[];
  /** Per fd 0..2: -1 inherit, -2 pipe, -3 /dev/null, >= 0 this descriptor. */
  stdio: [number, number, number];
  /** cgroup.procs files the child joins (writes "0" to) before anything else. */
  cgroupProcs: string[];
  /**
   * Make the child with CLONE_VM|CLONE_VFORK (as posix_spawn does): no page-table copy, and the
   * child runs its whole plan before spawn() returns. Only when the parent has nothing to do
   * between clone and exec: no id maps to write, no plan to show first.
   */
  vfork: boolean;
  /**
   * The payload's privileges, applied just before execve: capMaskLo/Hi = the capabilities kept
   * (absent: every capability the caller has), filter = the seccomp filter (absent: none).
   */
  security?: {
    capMaskLo?: number;
    capMaskHi?: number;
    filter?: NativeSeccompFilter;
  };
}

/** A seccomp filter's configuration (native/seccomp.cc builds and caches the BPF program). */
export interface NativeSeccompFilter {
  /** The default deny-list (Docker-like). */
  defaults: boolean;
  /** Extra syscalls that return EPERM. */
  deny: string[];
  /** Capabilities whose syscalls the default list lets through (CAP_SYS_ADMIN: mount…). */
  lift: string[];
}

export interface NativeSpawnResult {
  pid: number;
  pidfd: number;
  goFd: number;
  errFd: number;
  statusFd: number;
  /** The parent's ends of piped stdio (-1 where not piped). */
  stdio: [number, number, number];
}

export interface NativeStepFailure {
  errno: number;
  code: string;
  message: string;
  /** Index into the plan's ops, or -1. */
  op: number;
  step: string;
  path: string;
}

/** Raw wait statuses: the init's own, and the payload's as sandbox-init reported it (-1: none). */
export interface NativeWaitStatus {
  status: number;
  payloadStatus: number;
}

export interface NativeProcess {
  pid: number;
  ppid: number;
  comm: string;
  state: string;
  uid: number;
  nspid: number[];
  ns: number[];
  cgroup: string | null;
}

export interface NativeAddon {
  spawn(options: NativeSpawnOptions): NativeSpawnResult;
  release(goFd: number, errFd: number, pidfd: number, timeoutMs: number): NativeStepFailure | null;
  waitAsync(pidfd: number, pid: number, statusFd: number, cb: (err: Error | null, st: NativeWaitStatus) => void): void;
  waitSync(pid: number, statusFd: number): NativeWaitStatus;
  pidfdSignal(pidfd: number, signo: number): void;
  /** Builds (and caches) a seccomp filter; returns its length in BPF instructions. Throws on an unknown syscall. */
  seccompFilter(filter: NativeSeccompFilter): number;
  pidfdOpen(pid: number): number;
  /** `select.pids`: only those; `select.roots`: those and their descendants; none: every process. */
  procSnapshot(
    nsFiles: string[],
    cgroupKey: string | null,
    select?: { roots?: number[]; pids?: number[] },
  ): { total: number; processes: NativeProcess[] };
  mount(source: string, target: string, fstype: string, flags: number, data: string): void;
  umount(target: string, flags: number): void;
  tcsetpgrp(fd: number, pgid: number): void;
  getpgrp(): number;
}

/** The package root (where package.json and build/ live), from dist/runtime or src/runtime. */
export const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

let addon: NativeAddon | undefined;

export function native(): NativeAddon {
  if (addon) return addon;
  const require = createRequire(import.meta.url);
  try {
    const load = require('node-gyp-build') as (dir: string) => NativeAddon;
    addon = load(PACKAGE_ROOT);
  } catch (err) {
    throw new SandboxError(`the native addon is not built: ${(err as Error).message}`, {
      code: 'E_NO_ADDON',
      hint: 'run `npm install` (or `npm run build`) in the sandbox directory; it needs g++, make and python3',
      cause: err,
    });
  }
  return addon;
}

/** Path of the static sandbox-init executable built next to the addon. */
export function initPath(): string {
  const p = path.join(PACKAGE_ROOT, 'build', 'Release', 'sandbox-init');
  if (!fs.existsSync(p)) {
    throw new SandboxError(`sandbox-init is missing (${p})`, {
      code: 'E_NO_ADDON',
      hint: 'run `npm install` (or `npm run build`) in the sandbox directory to build it',
    });
  }
  return p;
}
