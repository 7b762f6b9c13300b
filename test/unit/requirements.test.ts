/**
 * Issue 11, without a VM. (1) A lesson's kernel requirement is checked the way the kernel itself
 * would meet it: overlay absent from /proc/filesystems on a fresh Debian 13 VM is a module that the
 * first `mount -t overlay` loads, so the check asks the kernel to load it and refuses only when
 * that fails. The kernel is simulated through the seam that reads /proc/filesystems and loads
 * modules (useKernelModules). (2) The working directory a sandbox starts in, and the hint when the
 * sandbox's root cannot enter it.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import { loadLesson, missingRequirements } from '../../src/lessons/engine.js';
import { childStepError } from '../../src/runtime/errors.js';
import { filesystemState, type KernelModules, moduleState, probeHost, requireFilesystem, useKernelModules } from '../../src/runtime/host.js';
import { defaultCwd } from '../../src/runtime/sandbox.js';

const BASE = 'nodev\tsysfs\nnodev\ttmpfs\nnodev\tproc\n\text4\n';

/** A kernel whose overlay is a module on disk (or not), and a loader that works (or not). */
function fakeKernel(opts: { listed?: boolean; onDisk?: 'builtin' | 'module' | null; loadWorks?: boolean; modular?: boolean }) {
  const calls: string[] = [];
  let listed = opts.listed ?? false;
  const k: KernelModules = {
    filesystems: () => {
      calls.push('read /proc/filesystems');
      return listed ? `${BASE}nodev\toverlay\n` : BASE;
    },
    loaded: (m) => {
      calls.push(`stat /sys/module/${m}`);
      return listed;
    },
    onDisk: () => opts.onDisk ?? null,
    modular: () => opts.modular ?? true,
    load: (fstype) => {
      calls.push(`load ${fstype}`);
      if (opts.loadWorks) listed = true;
      return opts.loadWorks ? [`mount -t ${fstype} none /run/sandbox/probe-x: EINVAL`] : [`mount -t ${fstype} none /run/sandbox/probe-x: ENODEV`, `modprobe ${fstype}: FATAL: Module ${fstype} not found`];
    },
  };
  return { k, calls };
}

let restore: (() => void) | null = null;
afterEach(() => {
  restore?.();
  restore = null;
});

const overlayProblems = async () => missingRequirements(await loadLesson('overlay-images')).filter((p) => /overlay/.test(p));

describe('the overlay requirement (kernel simulated through the seam)', () => {
  it('overlay not in /proc/filesystems but on disk: the lesson loads it and starts', async () => {
    const { k, calls } = fakeKernel({ onDisk: 'module', loadWorks: true });
    restore = useKernelModules(k);
    expect(await overlayProblems()).toEqual([]);
    // Asked the kernel to load it, then looked again.
    expect(calls.filter((c) => c.startsWith('load'))).toEqual(['load overlay']);
    expect(calls.lastIndexOf('read /proc/filesystems')).toBeGreaterThan(calls.indexOf('load overlay'));
  });

  it('refuses only after loading failed, saying what was tried and what to do', async () => {
    const { k, calls } = fakeKernel({ onDisk: 'module', loadWorks: false });
    restore = useKernelModules(k);
    const problems = await overlayProblems();
    expect(calls).toContain('load overlay');
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^it needs the overlay filesystem, and this kernel could not load it \(tried: mount -t overlay none \S+: ENODEV; modprobe overlay: FATAL: Module overlay not found\)/);
    expect(problems[0]).toMatch(/sudo modprobe overlay\) and see dmesg/);
  });

  it('a kernel without the module says to install the kernel\'s modules', () => {
    const { k } = fakeKernel({ onDisk: null, loadWorks: false });
    expect(requireFilesystem('overlay', 'overlay', k)).toMatch(new RegExp(`module is not installed for kernel ${os.release().replace(/[.+]/g, '\\$&')}: install`));
  });

  it('already there: nothing is loaded', () => {
    const { k, calls } = fakeKernel({ listed: true });
    expect(requireFilesystem('overlay', 'overlay', k)).toBeNull();
    expect(calls).not.toContain('load overlay');
  });

  it('doctor reads, never loads: available, loadable, missing, unknown', () => {
    const states = {
      listed: filesystemState('overlay', 'overlay', fakeKernel({ listed: true }).k),
      onDisk: filesystemState('overlay', 'overlay', fakeKernel({ onDisk: 'module' }).k),
      onDiskNoModules: filesystemState('overlay', 'overlay', fakeKernel({ onDisk: 'module', modular: false }).k),
      absent: filesystemState('overlay', 'overlay', fakeKernel({}).k),
      vethBuiltin: moduleState('veth', fakeKernel({ onDisk: 'builtin' }).k),
      vethModule: moduleState('veth', fakeKernel({ onDisk: 'module' }).k),
      vethAbsent: moduleState('veth', fakeKernel({}).k),
      vethNoModules: moduleState('veth', fakeKernel({ modular: false }).k),
    };
    expect(states).toEqual({
      listed: 'available',
      onDisk: 'loadable',
      onDiskNoModules: 'missing',
      absent: 'missing',
      vethBuiltin: 'available',
      vethModule: 'loadable',
      vethAbsent: 'missing',
      vethNoModules: 'unknown',
    });
  });

  it('sandbox doctor shows a module on disk as loadable (ok), not as missing', () => {
    const { k, calls } = fakeKernel({ onDisk: 'module' });
    restore = useKernelModules(k);
    const overlay = probeHost().checks.find((c) => c.id === 'overlay');
    expect(overlay).toMatchObject({ status: 'ok', detail: expect.stringMatching(/^loadable: the overlay module is on disk/) });
    expect(calls).not.toContain('load overlay');
  });
});

describe('the working directory a sandbox starts in', () => {
  it('is / with a user namespace or a root of its own, else the caller\'s', () => {
    expect(defaultCwd(['user'], { kind: 'none' })).toBe('/');
    expect(defaultCwd(['user', 'pid', 'mount'], { kind: 'none' })).toBe('/');
    expect(defaultCwd(['pid', 'mount'], { kind: 'host' })).toBe('/');
    expect(defaultCwd(['pid', 'mount'], { kind: 'none' })).toBe(process.cwd());
    expect(defaultCwd(['pid'], { kind: 'none' })).toBe(process.cwd());
  });

  it('EACCES on chdir: the hint names the closed directory, its mode and owner, and --cwd /', () => {
    const parent = fs.mkdtempSync(path.join(os.tmpdir(), 'sandbox-hint-'));
    try {
      fs.chmodSync(parent, 0o755);
      const home = path.join(parent, 'home');
      fs.mkdirSync(path.join(home, 'deeper'), { recursive: true });
      fs.chmodSync(home, 0o700);
      const e = childStepError('box', { errno: 13, code: 'EACCES', message: 'Permission denied', step: 'chdir', path: `${home}/deeper` });
      expect(e.message).toBe(`sandbox box: setup step "chdir ${home}/deeper" failed: Permission denied (EACCES)`);
      expect(e.hint).toBe(
        `the sandbox's root (uid 100000 outside, with a user namespace) cannot enter ${home} (mode 0700, owner uid ${process.getuid?.()}); run from another directory or pass --cwd /`,
      );
    } finally {
      fs.rmSync(parent, { recursive: true, force: true });
    }
  });
});
