/**
 * Real sandboxes on the real kernel, proved through /proc and /sys. Needs root; CI runs it as root,
 * and `npm run test:v2` runs it again inside a pure cgroup v2 guest.
 */
import fs from 'node:fs';
import os from 'node:os';

import { afterEach, describe, expect, it } from 'vitest';

import {
  catchesSignal,
  cgroups,
  liveSandboxes,
  nsLink,
  nsPidChain,
  readEntry,
  runSandbox,
  Sandbox,
  SandboxError,
  snapshot,
} from '../../../src/runtime/index.js';
import { sleep, until } from '../../helpers/wait.js';
import { isRoot } from '../../helpers/resources.js';



function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

afterEach(async () => {
  for (const s of liveSandboxes()) await s.destroy();
});

describe.skipIf(!isRoot)('sandboxes (needs root: real namespaces)', () => {
  it('runs the command as PID 1 of a new PID namespace with its own hostname and /proc', async () => {
    const r = await runSandbox({
      namespaces: ['pid', 'mount', 'uts'],
      hostname: 'box',
      command: ['sh', '-c', 'echo $$; hostname; ps -e | wc -l; grep NSpid /proc/self/status'],
    });
    const [pid1, hostname, count, nspid] = r.stdout.trim().split('\n');
    expect(r.status).toEqual({ code: 0, signal: null });
    expect(pid1).toBe('1');
    expect(hostname).toBe('box');
    // header + sh + ps + wc: not a single host process
    expect(Number(count)).toBeLessThanOrEqual(5);
    expect(nspid.split(/\s+/).slice(1)).toHaveLength(1); // inside, only its own level is visible
    expect(os.hostname()).not.toBe('box');
  });

  it('sees the same process as <host pid> on the host and 1 inside (NSpid)', async () => {
    const s = await Sandbox.create({ namespaces: ['pid', 'mount'], command: ['sleep', '30'], stdio: 'ignore' });
    expect(nsPidChain(s.pid)).toEqual([s.pid, 1]);
    expect(s.nsInodes.pid).toBe(fs.statSync(`/proc/${s.pid}/ns/pid`).ino);
    await s.destroy();
  });

  it('gives two sandboxes different PID namespaces, both different from the host', async () => {
    const a = await Sandbox.create({ namespaces: ['pid', 'mount'], command: ['sleep', '30'], stdio: 'ignore' });
    const b = await Sandbox.create({ namespaces: ['pid', 'mount'], command: ['sleep', '30'], stdio: 'ignore' });
    const links = [nsLink(a.pid, 'pid'), nsLink(b.pid, 'pid'), nsLink('self', 'pid')];
    expect(links.every((l) => /^pid:\[\d+\]$/.test(l ?? ''))).toBe(true);
    expect(new Set(links).size).toBe(3);
    expect(nsPidChain(a.pid)).toEqual([a.pid, 1]);
    expect(nsPidChain(b.pid)).toEqual([b.pid, 1]);
    // each has its own PID 1, 2, 3
    const pa = await a.execOutput(['sh', '-c', 'sleep 20 >/dev/null 2>&1 & echo $!; ps -eo pid= | sort -n | head -3 | tr "\\n" " "']);
    const pb = await b.execOutput(['sh', '-c', 'ps -eo pid= | sort -n | head -1']);
    expect(pa.stdout.split('\n')[1].trim().split(/\s+/)[0]).toBe('1');
    expect(pb.stdout.trim()).toBe('1');
  });

  it('reports a three-level nested PID namespace with its whole NSpid chain', async () => {
    const s = await Sandbox.create({
      namespaces: ['pid', 'mount'],
      command: ['unshare', '--pid', '--fork', '--mount-proc', 'unshare', '--pid', '--fork', '--mount-proc', 'sleep', '60'],
      stdio: 'ignore',
      // unshare and mount inside need CAP_SYS_ADMIN (not in the default set).
      security: { capAdd: ['SYS_ADMIN'] },
    });
    const deepest = await until(() => {
      const snap = snapshot({ namespaces: ['pid'] });
      return snap.processes.find((p) => p.comm === 'sleep' && p.nspid[0] !== s.pid && p.nspid.length === 4 && p.sandbox === s.name);
    });
    // host → sandbox → nested → nested: four PIDs for one process, the last level sees it as 1
    expect(deepest.nspid).toHaveLength(4);
    expect(deepest.nspid[0]).toBe(deepest.pid);
    expect(deepest.nspid[3]).toBe(1);
    expect(nsPidChain(deepest.pid)).toEqual(deepest.nspid);
    const chainOfInit = nsPidChain(s.pid)!;
    expect(chainOfInit).toEqual([s.pid, 1]);
    await s.destroy();
    expect(alive(deepest.pid)).toBe(false);
  });

  it('joins a running sandbox with exec: same namespaces, next PID, exit code back', async () => {
    const s = await Sandbox.create({ namespaces: ['pid', 'mount', 'uts', 'ipc'], hostname: 'inside', command: ['sleep', '30'], stdio: 'ignore' });
    const r = await s.execOutput(['sh', '-c', 'hostname; echo $$; readlink /proc/self/ns/pid; exit 3']);
    const [hn, pid, link] = r.stdout.trim().split('\n');
    expect(r.status.code).toBe(3);
    expect(hn).toBe('inside');
    expect(Number(pid)).toBeGreaterThan(1);
    expect(link).toBe(nsLink(s.pid, 'pid'));
  });

  it('keeps uts, ipc, net and cgroup namespaces apart from the host', async () => {
    const r = await runSandbox({
      namespaces: ['pid', 'mount', 'uts', 'ipc', 'net', 'cgroup'],
      command: ['sh', '-c', 'readlink /proc/self/ns/ipc; ls /sys/class/net 2>/dev/null || ip -o link | cut -d: -f2; cat /proc/self/cgroup'],
    });
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).not.toBe(nsLink('self', 'ipc'));
    expect(r.stdout).toMatch(/\blo\b/);
    expect(r.stdout).not.toMatch(/\beth0\b/);
    // inside a cgroup namespace the sandbox's own cgroup is the root
    for (const line of lines.filter((l) => /^\d+:/.test(l))) expect(line).toMatch(/:\/$/);
  });

  it('maps root inside a user namespace to an unprivileged uid outside', async () => {
    const s = await Sandbox.create({
      namespaces: ['user', 'pid', 'mount', 'uts'],
      command: ['sh', '-c', 'id -u; cat /proc/self/uid_map; sleep 30'],
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const firstLines = await new Promise<string>((resolve) => {
      let buf = '';
      s.stdout!.on('data', (c: Buffer) => {
        buf += c.toString();
        if (buf.split('\n').length > 2) resolve(buf);
      });
    });
    const [uidInside, map] = firstLines.trim().split('\n');
    expect(uidInside).toBe('0');
    expect(map.trim().split(/\s+/)).toEqual(['0', '100000', '65536']);
    const status = fs.readFileSync(`/proc/${s.pid}/status`, 'utf8');
    expect(/^Uid:\s+(\d+)/m.exec(status)![1]).toBe('100000');
    await s.destroy();
  });

  it('does not touch the host mount table or hostname', async () => {
    const mountsBefore = fs.readFileSync('/proc/self/mountinfo', 'utf8');
    const hostBefore = os.hostname();
    await runSandbox({ namespaces: ['pid', 'mount', 'uts'], hostname: 'elsewhere', rootfs: { kind: 'host' }, command: ['true'] });
    expect(fs.readFileSync('/proc/self/mountinfo', 'utf8')).toBe(mountsBefore);
    expect(os.hostname()).toBe(hostBefore);
  });

  it('pivots into a busybox root where the host files are gone', async () => {
    const r = await runSandbox({
      namespaces: ['pid', 'mount'],
      rootfs: { kind: 'busybox' },
      command: ['sh', '-c', 'ls /; test -e /usr/lib/os-release && echo host-visible || echo host-hidden'],
    });
    expect(r.status.code).toBe(0);
    expect(r.stdout).toContain('host-hidden');
    expect(r.stdout.split('\n')).toContain('bin');
  });

  describe('PID 1 and signals', () => {
    it('drops signals PID 1 has no handler for; SIGKILL from the host still works', async () => {
      const s = await Sandbox.create({ namespaces: ['pid'], command: ['sleep', '30'], stdio: 'ignore' });
      expect(catchesSignal(s.pid, os.constants.signals.SIGTERM)).toBe(false);
      s.signal('SIGTERM');
      await sleep(300);
      expect(s.running).toBe(true);
      s.signal('SIGKILL');
      expect(await s.wait()).toEqual({ code: null, signal: 'SIGKILL' });
    });

    it('with sandbox-init as PID 1: forwards SIGTERM to the command and reports its status', async () => {
      const s = await Sandbox.create({
        namespaces: ['pid', 'mount'],
        init: true,
        command: ['sh', '-c', 'trap "exit 42" TERM; while :; do sleep 0.05; done'],
        stdio: 'ignore',
      });
      const comm = fs.readFileSync(`/proc/${s.pid}/comm`, 'utf8').trim();
      expect(comm).toBe('sandbox-init');
      await sleep(200);
      s.signal('SIGTERM');
      expect(await s.wait()).toEqual({ code: 42, signal: null });
    });

    it('reaps orphans: no zombie stays in the namespace', async () => {
      const s = await Sandbox.create({
        namespaces: ['pid', 'mount'],
        init: true,
        command: ['sh', '-c', '(sleep 0.1 &); (sleep 0.1 &); sleep 30'],
        stdio: 'ignore',
      });
      await sleep(600);
      const r = await s.execOutput(['ps', '-eo', 'stat=,comm=']);
      expect(r.stdout).not.toMatch(/^Z/m);
      const kids = snapshot().processes.filter((p) => p.sandbox === s.name && p.state === 'Z');
      expect(kids).toEqual([]);
    });

    it('killing PID 1 kills every process in its namespace', async () => {
      const s = await Sandbox.create({
        namespaces: ['pid', 'mount'],
        command: ['sh', '-c', 'sleep 100 & sleep 100 & wait'],
        stdio: 'ignore',
      });
      const members = await until(() => {
        const m = snapshot().processes.filter((p) => p.sandbox === s.name);
        return m.length >= 3 ? m : null;
      });
      process.kill(s.pid, 'SIGKILL');
      await s.wait();
      await until(() => members.every((p) => !alive(p.pid)), 2000);
    });

    it('an idle sandbox-init (no command) holds the namespaces until told to stop', async () => {
      const s = await Sandbox.create({ namespaces: ['pid', 'uts'], init: true, stdio: 'ignore' });
      expect(fs.readFileSync(`/proc/${s.pid}/comm`, 'utf8').trim()).toBe('sandbox-pause');
      const r = await s.execOutput(['hostname']);
      expect(r.stdout.trim()).toBe(s.name);
      s.signal('SIGTERM');
      expect((await s.wait()).code).toBe(0);
    });
  });

  describe('failures leave nothing behind', () => {
    it('a missing command: ENOENT at execve, exit 127, no cgroup, no ledger entry', async () => {
      const err = await Sandbox.create({ name: 'missing-cmd', namespaces: ['pid', 'mount'], command: ['no-such-command'] }).catch((e) => e);
      expect(err).toBeInstanceOf(SandboxError);
      expect(err).toMatchObject({ code: 'ENOENT', step: 'execve', path: 'no-such-command' });
      expect(cgroups().exists('missing-cmd')).toBe(false);
      expect(readEntry('missing-cmd')).toBeNull();
      expect(fs.existsSync('/run/sandbox/missing-cmd')).toBe(false);
    });

    it('a setup step that fails names the step and path', async () => {
      const err = await Sandbox.create({
        name: 'bad-root',
        namespaces: ['pid', 'mount'],
        rootfs: { kind: 'dir', path: '/nonexistent-root-for-test' },
        command: ['true'],
      }).catch((e) => e);
      expect(err).toBeInstanceOf(SandboxError);
      expect(err.code).toBe('ENOENT');
      expect(err.step).toBe('mount');
      expect(err.message).toContain('mount --rbind /nonexistent-root-for-test');
      expect(cgroups().exists('bad-root')).toBe(false);
      expect(fs.existsSync('/run/sandbox/bad-root')).toBe(false);
    });

    it('refuses a second sandbox with a live name', async () => {
      const a = await Sandbox.create({ name: 'twice', namespaces: ['pid'], command: ['sleep', '30'], stdio: 'ignore' });
      const err = await Sandbox.create({ name: 'twice', namespaces: ['pid'], command: ['true'] }).catch((e) => e);
      expect(err).toMatchObject({ code: 'E_EXISTS' });
      expect(a.running).toBe(true);
    });

    it('destroy removes processes, cgroup, directories and ledger entry, and is idempotent', async () => {
      const s = await Sandbox.create({ name: 'to-destroy', namespaces: ['pid', 'mount'], command: ['sh', '-c', 'sleep 100 & sleep 100'], stdio: 'ignore' });
      const pids = await until(() => {
        const p = s.pids();
        return p.length >= 3 ? p : null;
      });
      expect(readEntry('to-destroy')).not.toBeNull();
      const r = await s.destroy();
      expect(r.processesKilled).toBeGreaterThanOrEqual(3);
      expect(pids.filter(alive)).toEqual([]);
      expect(cgroups().exists('to-destroy')).toBe(false);
      expect(fs.existsSync('/run/sandbox/to-destroy')).toBe(false);
      expect(readEntry('to-destroy')).toBeNull();
      expect((await s.destroy()).method).toBe('already destroyed');
    });
  });
});
