/**
 * Building a root filesystem tree (static busybox, or the host's programs with their libraries) and
 * entering it with chroot instead of pivot_root: the chroot can be escaped to the host's files, the
 * pivot_root cannot. Proved with real file reads. Needs root.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import {
  buildRootTree,
  busyboxPath,
  liveSandboxes,
  liveWorkspaces,
  mountInfo,
  PACKAGE_ROOT,
  Sandbox,
  SandboxError,
  sharedLibraries,
  Workspace,
} from '../../../src/runtime/index.js';
import { isRoot } from '../../helpers/resources.js';

const ESCAPE = path.join(PACKAGE_ROOT, 'build', 'Release', 'chroot-escape');

afterEach(async () => {
  for (const s of liveSandboxes()) await s.destroy();
  for (const w of liveWorkspaces()) w.destroy();
});

/** A workspace with a tiny root (plus the escape program) and a host file next to it. */
function jailSetup(source?: 'busybox' | 'host') {
  const ws = Workspace.create({ purpose: 'test' });
  const tree = buildRootTree(`${ws.path}/rootfs`, { source });
  fs.copyFileSync(ESCAPE, `${ws.path}/rootfs/bin/chroot-escape`);
  fs.chmodSync(`${ws.path}/rootfs/bin/chroot-escape`, 0o755);
  const token = randomBytes(6).toString('hex');
  const marker = ws.writeFile('marker', `host file ${token}\n`);
  return { ws, tree, token, marker, rootfs: `${ws.path}/rootfs` };
}

describe('sharedLibraries', () => {
  it('lists the loader and libc of a dynamically linked program, nothing for a static one', () => {
    const libs = sharedLibraries('/bin/ls');
    expect(libs.some((l) => /\/libc\.so/.test(l))).toBe(true);
    expect(libs.some((l) => /ld-linux/.test(l))).toBe(true);
    if (fs.existsSync(ESCAPE)) expect(sharedLibraries(ESCAPE)).toEqual([]);
  });
});

describe.skipIf(!isRoot)('root filesystem trees and how they are entered (needs root)', () => {
  it('builds a tree from the host\'s programs and their libraries that runs on its own', async () => {
    const ws = Workspace.create({ purpose: 'test' });
    const tree = buildRootTree(`${ws.path}/rootfs`, { source: 'host', programs: ['sh', 'ls', 'cat'], hostname: 'copied' });
    expect(tree.source).toBe('host');
    expect(tree.programs).toEqual(['sh', 'ls', 'cat']);
    for (const l of tree.libraries) expect(fs.existsSync(`${ws.path}/rootfs${l}`)).toBe(true);
    const s = await Sandbox.create({ namespaces: ['pid', 'mount'], rootfs: { kind: 'dir', path: `${ws.path}/rootfs` }, init: true, stdio: 'ignore' });
    const r = await s.execOutput(['sh', '-c', 'ls /bin; cat /etc/hostname']);
    expect(r.status.code).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual(['cat', 'ls', 'sh', 'copied']);
  });

  it.skipIf(!busyboxPath())('builds a busybox tree: one static program and a link per applet', () => {
    const ws = Workspace.create({ purpose: 'test' });
    const tree = buildRootTree(`${ws.path}/rootfs`);
    expect(tree.source).toBe('busybox');
    expect(tree.libraries).toEqual([]);
    expect(fs.readlinkSync(`${ws.path}/rootfs/bin/sh`)).toBe('busybox');
    expect(() => buildRootTree(`${ws.path}/rootfs`)).toThrow(/not empty/);
    expect(() => buildRootTree('/tmp/elsewhere')).toThrow(/not under \/run\/sandbox/);
  });

  it('rootEntry chroot: the host root stays mounted, exec lands in the chroot, and the classic escape reads a host file', async () => {
    const { marker, token, rootfs } = jailSetup();
    const jail = await Sandbox.create({ namespaces: ['pid', 'mount'], rootfs: { kind: 'dir', path: rootfs }, rootEntry: 'chroot', init: true, stdio: 'ignore' });
    expect(jail.rootEntry).toBe('chroot');
    expect(jail.explain.some((s) => s.what === 'chroot')).toBe(true);
    expect(jail.explain.some((s) => s.what === 'pivot_root')).toBe(false);
    const rootId = (p: string) => `${fs.statSync(p).dev}:${fs.statSync(p).ino}`;
    expect(rootId(`/proc/${jail.pid}/root`)).toBe(rootId(rootfs));

    // exec joins the mount namespace *and* the chroot
    const inside = await jail.execOutput(['sh', '-c', `ls /; cat ${marker} 2>&1; true`]);
    expect(inside.stdout).toMatch(/^bin$/m);
    expect(inside.stdout).toMatch(/No such file/);

    const esc = await jail.execOutput(['chroot-escape', marker]);
    expect(esc.status.code).toBe(0);
    expect(esc.stdout).toContain(`read ${marker}: host file ${token}`);
  });

  it('pivot_root (the default): no mount of the host root is left, and the same escape fails', async () => {
    const { marker, token, rootfs } = jailSetup();
    const s = await Sandbox.create({ namespaces: ['pid', 'mount'], rootfs: { kind: 'dir', path: rootfs }, init: true, stdio: 'ignore' });
    const hostRoot = mountInfo('self').find((m) => m.mountPoint === '/')!;
    expect(mountInfo(s.pid).filter((m) => m.dev === hostRoot.dev && m.root === '/')).toEqual([]);
    const esc = await s.execOutput(['chroot-escape', marker]);
    expect(esc.status.code).toBe(1);
    expect(esc.stdout).toContain('No such file or directory');
    expect(esc.stdout).not.toContain(token);
  });

  it('rootEntry chroot needs a root filesystem', async () => {
    const err = await Sandbox.create({ namespaces: ['pid'], rootEntry: 'chroot', command: ['true'] }).catch((e) => e);
    expect(err).toBeInstanceOf(SandboxError);
    expect(err.code).toBe('E_USAGE');
  });
});
