/**
 * The VM's pieces that need no root (src/runtime/vm.ts): the initramfs archive, unpacked again
 * by busybox's own cpio (the kernel reads the same newc format), the QEMU command line, and the
 * kernel search. Booting is tested in test/integration/runtime/vm.test.ts.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { describe, expect, it } from 'vitest';

import { cpioNewc, findVmKernel, qemuCommand, VM_INIT } from '../../src/runtime/vm.js';

const busybox = ['/bin/busybox', '/usr/bin/busybox'].find((p) => fs.existsSync(p));

describe('the VM initramfs (newc cpio)', () => {
  it('every header is 110 bytes of "070701" + hex, every member 4-byte aligned, a trailer at the end', () => {
    const a = cpioNewc([{ name: 'init', mode: 0o100755, data: Buffer.from('abc') }]);
    expect(a.subarray(0, 6).toString()).toBe('070701');
    expect(a.subarray(6, 110).toString()).toMatch(/^[0-9a-f]{104}$/);
    // filesize field (7th) = 3, namesize (12th) = 5 ("init\0")
    expect(parseInt(a.subarray(6 + 6 * 8, 6 + 7 * 8).toString(), 16)).toBe(3);
    expect(parseInt(a.subarray(6 + 11 * 8, 6 + 12 * 8).toString(), 16)).toBe(5);
    expect(a.length % 4).toBe(0);
    expect(a.includes(Buffer.from('TRAILER!!!\0'))).toBe(true);
  });

  it.skipIf(!busybox)('busybox cpio unpacks it: the files, their modes, and the console device', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vm-cpio-'));
    try {
      const payload = Buffer.from('#!/bin/sh\necho x\n'.repeat(100));
      const archive = cpioNewc([
        { name: 'bin', mode: 0o040755 },
        { name: 'bin/tool', mode: 0o100755, data: payload },
        { name: 'init', mode: 0o100755, data: Buffer.from(VM_INIT) },
        { name: 'dev', mode: 0o040755 },
        { name: 'dev/console', mode: 0o020600, rdev: [5, 1] },
      ]);
      const listing = spawnSync(busybox!, ['cpio', '-t', '-v'], { input: archive, encoding: 'utf8' });
      expect(listing.status).toBe(0);
      expect(listing.stdout).toMatch(/^crw------- .* dev\/console$/m);
      expect(listing.stdout).toMatch(/^-rwxr-xr-x .* init$/m);
      // Unpacked without the device node: making one needs root, and unit tests run without.
      const files = cpioNewc([
        { name: 'bin', mode: 0o040755 },
        { name: 'bin/tool', mode: 0o100755, data: payload },
        { name: 'init', mode: 0o100755, data: Buffer.from(VM_INIT) },
      ]);
      const r = spawnSync(busybox!, ['cpio', '-i', '-d'], { input: files, cwd: dir, encoding: 'utf8' });
      expect(r.status).toBe(0);
      expect(fs.readFileSync(`${dir}/bin/tool`)).toEqual(payload);
      expect(fs.statSync(`${dir}/bin/tool`).mode & 0o777).toBe(0o755);
      expect(fs.readFileSync(`${dir}/init`, 'utf8')).toBe(VM_INIT);
      expect(VM_INIT).toMatch(/echo ready\n/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the QEMU command', () => {
  it('boots the given kernel and initramfs with the accelerator asked for, console on stdio, no devices, no reboot', () => {
    const c = qemuCommand('/k', '/i', 'tcg', 128);
    const arg = (flag: string) => c[c.indexOf(flag) + 1];
    expect(c[0]).toBe('qemu-system-x86_64');
    expect([arg('-kernel'), arg('-initrd'), arg('-accel'), arg('-m'), arg('-serial')]).toEqual(['/k', '/i', 'tcg', '128', 'stdio']);
    expect(arg('-append')).toMatch(/console=ttyS0/);
    expect(c).toContain('-nodefaults');
    expect(c).toContain('-no-reboot');
    expect(qemuCommand('/k', '/i', 'kvm', 64)).toContain('kvm');
  });

  it('findVmKernel returns a readable file or null, never a download', () => {
    const k = findVmKernel();
    if (k) {
      expect(fs.statSync(k.path).isFile()).toBe(true);
      expect(k.path === `/boot/vmlinuz-${os.release()}` || k.path.startsWith('/var/cache/sandbox-v2-guest/kernel/')).toBe(true);
    } else {
      expect(k).toBeNull();
    }
  });
});
