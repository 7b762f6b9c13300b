/**
 * Workspaces: named places under /run/sandbox/<name>/ with host-side mounts, recorded in the ledger,
 * removed (mounts first) by destroy() and, when their owner was killed, by sweep(). Needs root.
 */
import fs from 'node:fs';
import path from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import { liveWorkspaces, mountInfo, readEntry, sweep, Workspace } from '../../../src/runtime/index.js';
import { isRoot } from '../../helpers/resources.js';
import { clearDebris, declareDebris, killSession, startSession } from '../../helpers/session.js';

const DIST = path.resolve(import.meta.dirname, '../../../dist/runtime/index.js');

const mountsUnder = (dir: string) => mountInfo('self').filter((m) => m.mountPoint === dir || m.mountPoint.startsWith(`${dir}/`));

afterEach(() => {
  for (const w of liveWorkspaces()) w.destroy();
});

describe.skipIf(!isRoot)('workspaces (needs root: host-side mounts under /run/sandbox)', () => {
  it('is a private tmpfs at /run/sandbox/<name>, recorded in the ledger with its directory', () => {
    const ws = Workspace.create({ name: 'ws-test-basic', purpose: 'test' });
    expect(ws.path).toBe('/run/sandbox/ws-test-basic');
    const entry = readEntry('ws-test-basic');
    expect(entry).toMatchObject({ name: 'ws-test-basic', kind: 'workspace', dirs: ['/run/sandbox/ws-test-basic'], cgroups: [], init: null });
    expect(entry!.owner.pid).toBe(process.pid);
    const [m] = mountsUnder(ws.path);
    expect(m).toMatchObject({ mountPoint: ws.path, fstype: 'tmpfs', shared: null, master: null });
    expect(ws.explain.map((s) => s.command)).toEqual([
      'mkdir -p /run/sandbox/ws-test-basic',
      'mount -t tmpfs -o mode=755,size=64m sandbox-ws /run/sandbox/ws-test-basic',
      'mount --make-private /run/sandbox/ws-test-basic',
    ]);
  });

  it('refuses paths outside itself, also through a symlink', () => {
    const ws = Workspace.create({ name: 'ws-test-paths', purpose: 'test' });
    expect(() => ws.resolve('../elsewhere')).toThrow(/outside workspace/);
    expect(() => ws.resolve('/etc/passwd')).toThrow(/outside workspace/);
    fs.symlinkSync('/etc', `${ws.path}/link`);
    expect(() => ws.resolve('link/x')).toThrow(/through a symlink to \/etc/);
    expect(() => ws.mount('tmpfs', 'x', 'link')).toThrow(/outside workspace/);
    expect(() => ws.writeFile('link/evil', 'no')).toThrow(/outside workspace/);
    expect(fs.existsSync('/etc/evil')).toBe(false);
    expect(ws.resolve('a/b/c')).toBe(`${ws.path}/a/b/c`);
  });

  it('makes binds, propagation, tmpfs and overlay mounts inside, and destroy() removes them all', () => {
    const ws = Workspace.create({ name: 'ws-test-mounts', purpose: 'test' });
    ws.bind('shared');
    ws.propagation('shared', 'shared');
    ws.mount('tmpfs', 'inner', 'shared/inner', 0, 'size=1m');
    for (const d of ['lower/a', 'lower/b']) ws.writeFile(`${d}/file-${path.basename(d)}`, d);
    ws.overlay(['lower/a', 'lower/b'], 'upper', 'work', 'merged');
    fs.writeFileSync(`${ws.path}/merged/new`, 'x');
    expect(fs.readdirSync(`${ws.path}/merged`).sort()).toEqual(['file-a', 'file-b', 'new']);
    expect(fs.existsSync(`${ws.path}/upper/new`)).toBe(true);
    const mounts = mountsUnder(ws.path);
    expect(mounts.find((m) => m.mountPoint === `${ws.path}/shared`)?.shared).not.toBeNull();
    expect(mounts.map((m) => m.fstype).sort()).toEqual(['overlay', 'tmpfs', 'tmpfs', 'tmpfs']);

    const r = ws.destroy();
    expect(r.removed).toBe(true);
    expect(r.unmounted).toHaveLength(4);
    expect(mountsUnder(ws.path)).toEqual([]);
    expect(fs.existsSync(ws.path)).toBe(false);
    expect(readEntry('ws-test-mounts')).toBeNull();
    expect(ws.destroy().removed).toBe(false); // idempotent
    expect(() => ws.mkdir('again')).toThrow(/was removed/);
  });

  it('refuses a name a live session holds', () => {
    Workspace.create({ name: 'ws-test-twice', purpose: 'test' });
    expect(() => Workspace.create({ name: 'ws-test-twice' })).toThrow(expect.objectContaining({ code: 'E_EXISTS' }));
  });

  it('what a killed session left (mounts and all) is removed by sweep()', async () => {
    const script = `
      import { Workspace } from ${JSON.stringify(DIST)};
      const ws = Workspace.create({ name: 'ws-test-killed', purpose: 'test' });
      ws.bind('s'); ws.propagation('s', 'shared'); ws.mount('tmpfs', 'deep', 's/deep');
      console.log('ready');
      setInterval(() => {}, 1000);
    `;
    declareDebris('ws-test-killed');
    await killSession(await startSession(script));
    // This sweep, or another session's start sweeping at the same time (they may share the
    // work), removes it: what counts is that afterwards nothing of it is left.
    sweep();
    expect(mountsUnder('/run/sandbox/ws-test-killed')).toEqual([]);
    expect(fs.existsSync('/run/sandbox/ws-test-killed')).toBe(false);
    expect(readEntry('ws-test-killed')).toBeNull();
    clearDebris('ws-test-killed');
  });
});
