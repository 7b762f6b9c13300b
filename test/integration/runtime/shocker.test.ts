/**
 * The 2014 "shocker" escape (native/shocker.c, used by the capabilities-and-seccomp lesson):
 * open_by_handle_at reaches a host directory outside the sandbox's root only when the payload
 * holds CAP_DAC_READ_SEARCH *and* the seccomp filter lets the call through. Each configuration is
 * a real sandbox whose root is a directory of a tmpfs workspace; the token it should not reach
 * lies beside that root. Needs root (except the bad-input cases).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import { capNames } from '../../../src/lessons/capabilities-and-seccomp/index.js';
import { buildRootTree, liveSandboxes, liveWorkspaces, PACKAGE_ROOT, Sandbox, type SecurityOptions, Workspace } from '../../../src/runtime/index.js';
import { isRoot } from '../../helpers/resources.js';

const SHOCKER = path.join(PACKAGE_ROOT, 'build', 'Release', 'shocker');

afterEach(async () => {
  for (const s of liveSandboxes()) await s.destroy();
  for (const w of liveWorkspaces()) w.destroy();
});

function run(args: string[]) {
  const r = spawnSync(SHOCKER, args, { encoding: 'utf8', timeout: 5000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('shocker: input', () => {
  it('is statically linked', () => {
    const head = fs.readFileSync(SHOCKER).subarray(0, 4096);
    expect(head.subarray(0, 4).toString('latin1')).toBe('\x7fELF');
    expect(head.includes('ld-linux')).toBe(false);
  });

  it('refuses malformed handles and arguments with exit 2 and a usage line', () => {
    for (const args of [[], ['/'], ['--handle', 'zz', '/', 'x'], ['--handle', '1:0', '/', 'x'], ['--handle', '1:', '/', 'x'], ['--handle', '999:00', '/', 'x'], ['--handle', `1:${'00'.repeat(129)}`, '/', 'x'], ['--handle', '1:0g', '/', 'x']]) {
      const r = run(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/usage: shocker|bad handle/);
      expect(r.stderr.length).toBeLessThan(400);
    }
  });

  it('reports a failed call the way strace does', () => {
    const r = run(['--handle-of', '/nonexistent-sandbox-path']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/name_to_handle_at\(AT_FDCWD, "\/nonexistent-sandbox-path", …\) = -1 ENOENT \(No such file or directory\)/);
  });

  it('prints a handle as TYPE:HEX', () => {
    const r = run(['--handle-of', '/proc/self']);
    // procfs cannot encode handles on every kernel; a directory of /tmp's filesystem usually can.
    const t = run(['--handle-of', '/tmp']);
    expect([r.code, t.code]).toContain(0);
    expect((r.code === 0 ? r : t).stdout).toMatch(/handle \d+:[0-9a-f]+$/m);
  });
});

describe('capNames (capsh --decode)', () => {
  it('names a small set and abbreviates a large one', () => {
    expect(capNames('00000000a80425fb').split(',')).toHaveLength(14);
    expect(capNames('00000000a80425fb')).toMatch(/^cap_chown,cap_dac_override,cap_fowner,/);
    expect(capNames('000001ffffffffff')).toBe('all 41');
    expect(capNames('000001fffeffffff')).toBe('all 41 but cap_sys_resource');
    expect(capNames('0000000000000000')).toBe('(none)');
  });
});

describe.skipIf(!isRoot)('shocker in sandboxes (needs root)', { timeout: 120_000 }, () => {
  it('reaches the token outside its root only with CAP_DAC_READ_SEARCH and a filter that allows the call', async () => {
    const ws = Workspace.create({ purpose: 'test', tmpfs: '32m' });
    const rootfs = `${ws.path}/rootfs`;
    buildRootTree(rootfs, { source: 'host', programs: ['sh', 'sleep'] });
    fs.copyFileSync(SHOCKER, `${rootfs}/bin/shocker`);
    fs.chmodSync(`${rootfs}/bin/shocker`, 0o755);
    const token = `token ${randomBytes(8).toString('hex')}`;
    ws.writeFile('outside/token', `${token}\n`, 0o600);
    const handle = /handle (\d+:[0-9a-f]+)/.exec(execFileSync(SHOCKER, ['--handle-of', ws.path], { encoding: 'utf8' }))?.[1];
    expect(handle).toBeTruthy();

    const cases: { name: string; security: SecurityOptions | undefined; reads: boolean }[] = [
      { name: 'default', security: undefined, reads: false },
      { name: 'cap-add DAC_READ_SEARCH', security: { capAdd: ['DAC_READ_SEARCH'] }, reads: true },
      { name: 'no filter, no capability', security: { seccomp: 'unconfined' }, reads: false },
      { name: 'capability, call denied by the filter', security: { capAdd: ['DAC_READ_SEARCH'], seccompDeny: ['open_by_handle_at'] }, reads: false },
      { name: 'privileged', security: { privileged: true }, reads: true },
    ];
    for (const c of cases) {
      const s = await Sandbox.create({
        namespaces: ['pid', 'mount'],
        rootfs: { kind: 'dir', path: rootfs },
        command: ['sleep', 'infinity'],
        stdio: 'ignore',
        security: c.security,
      });
      // By path, the token is not there: only the handle leads to it.
      expect(fs.existsSync(`/proc/${s.pid}/root/outside/token`)).toBe(false);
      const r = await s.execOutput(['shocker', '--handle', handle!, '/', 'outside/token']);
      if (c.reads) {
        expect(r.status.code, c.name).toBe(0);
        expect(r.stdout.trim().split('\n').pop(), c.name).toBe(token);
      } else {
        expect(r.status.code, c.name).toBe(1);
        expect(r.stderr, c.name).toMatch(/open_by_handle_at\(.*\) = -1 EPERM/);
        expect(r.stdout, c.name).not.toContain(token);
      }
      await s.destroy();
    }
  });
});
