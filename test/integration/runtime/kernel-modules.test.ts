/**
 * The real module loader behind the lesson requirements (src/runtime/host.ts): its trial
 * `mount -t TYPE` is what makes the kernel load a filesystem module on a fresh Debian 13 VM, and
 * it must never leave a mount or a directory behind, whatever the kernel answers. The decision
 * logic is tested with a simulated kernel in test/unit/requirements.test.ts. Needs root.
 */
import fs from 'node:fs';

import { describe, expect, it } from 'vitest';

import { realKernel } from '../../../src/runtime/host.js';
import { isRoot } from '../../helpers/resources.js';

const probes = () => {
  try {
    return fs.readdirSync('/run/sandbox').filter((n) => n.startsWith('probe-'));
  } catch {
    return [];
  }
};
const mountsUnderRun = () =>
  fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => l.split(' ')[4]?.startsWith('/run/sandbox/probe-'));

describe.skipIf(!isRoot)('the kernel module loader (needs root)', () => {
  it('a registered filesystem: the trial mount is refused for want of options, nothing is mounted or left', () => {
    expect(realKernel.filesystems()).toMatch(/\toverlay$/m);
    const tried = realKernel.load('overlay');
    // overlay without lowerdir: the kernel found the type (no ENODEV) and refused the mount itself.
    expect(tried[0]).toMatch(/^mount -t overlay none \/run\/sandbox\/probe-overlay-\w+: EINVAL$/);
    expect(tried).toHaveLength(1); // listed afterwards: no modprobe
    expect(probes()).toEqual([]);
    expect(mountsUnderRun()).toEqual([]);
  });

  it('an unknown filesystem: ENODEV from the kernel, then modprobe (or its absence) is reported', () => {
    const tried = realKernel.load('sandboxnosuchfs');
    expect(tried[0]).toMatch(/^mount -t sandboxnosuchfs none \S+: ENODEV \(the kernel knows no such filesystem and could not load it\)$/);
    expect(tried[1]).toMatch(/^modprobe(: not installed \(Debian package kmod\)| sandboxnosuchfs: .+)$/);
    expect(probes()).toEqual([]);
    expect(mountsUnderRun()).toEqual([]);
  });

  it('refuses a filesystem name that is not one', () => {
    expect(realKernel.load('../etc')).toEqual(['nothing: "../etc" is not a filesystem name']);
    expect(probes()).toEqual([]);
  });
});
