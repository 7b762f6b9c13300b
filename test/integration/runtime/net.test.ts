/**
 * Named network namespaces (/run/netns/sandbox-<name>) and veth pairs (sbx-…) between sandboxes:
 * recorded in the ledger before they exist, removed by destroy() and, after a killed session, by
 * sweep(). The host's own interfaces are never touched. Needs root and `ip`.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import { connectSandboxes, liveSandboxes, netLinks, netnsName, publishNetns, readEntry, Sandbox, sweep, vethNames } from '../../../src/runtime/index.js';
import { until } from '../../helpers/wait.js';
import { isRoot } from '../../helpers/resources.js';
import { clearDebris, declareDebris, killSession, startSession } from '../../helpers/session.js';

const DIST = path.resolve(import.meta.dirname, '../../../dist/runtime/index.js');
const hasIp = (() => {
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();



const netSandbox = () => Sandbox.create({ namespaces: ['pid', 'mount', 'net'], init: true, stdio: 'ignore' });

afterEach(async () => {
  for (const s of liveSandboxes()) await s.destroy();
});

describe.skipIf(!isRoot || !hasIp)('network namespaces and veth pairs (needs root and ip)', () => {
  it('vethNames() are sbx-… and fit IFNAMSIZ', () => {
    const [a, b] = vethNames('net');
    expect(a).toMatch(/^sbx-net[0-9a-f]{4}-a$/);
    expect(b).toBe(`${a.slice(0, -1)}b`);
    expect(a.length).toBeLessThanOrEqual(15);
  });

  it('publishes a sandbox netns as /run/netns/sandbox-<name> (recorded first); destroy() removes it', async () => {
    const s = await netSandbox();
    const r = publishNetns(s);
    expect(r.name).toBe(netnsName(s));
    expect(r.path).toBe(`/run/netns/sandbox-${s.name}`);
    expect(fs.statSync(r.path).ino).toBe(fs.statSync(`/proc/${s.pid}/ns/net`).ino);
    expect(readEntry(s.name)!.netns).toEqual([r.name]);
    expect(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })).toContain(r.name);
    expect(execFileSync('ip', ['-n', r.name, '-o', 'link'], { encoding: 'utf8' })).toMatch(/^1: lo:/);
    expect(publishNetns(s).steps).toEqual([]); // already published
    const d = await s.destroy();
    expect(d.netns).toEqual([r.name]);
    expect(fs.existsSync(r.path)).toBe(false);
  });

  it('joins two sandboxes with a veth pair; the host keeps none of it; one end going takes the other', async () => {
    const a = await netSandbox();
    const b = await netSandbox();
    const hostBefore = netLinks('self');
    const names = vethNames('t');
    const r = connectSandboxes(a, b, names);
    expect(r.steps.map((x) => x.command)).toEqual([
      `ip link add ${names[0]} type veth peer name ${names[1]}`,
      `ip link set ${names[0]} netns ${a.pid}`,
      `ip link set ${names[1]} netns ${b.pid}`,
    ]);
    expect(readEntry(a.name)!.veths).toEqual(names);
    expect(netLinks(a.pid)).toEqual(['lo', names[0]].sort());
    expect(netLinks(b.pid)).toEqual(['lo', names[1]].sort());
    expect(netLinks('self')).toEqual(hostBefore);

    // the pair works: addresses in a private test range, a ping across
    // Configuring interfaces needs CAP_NET_ADMIN (not in the default set).
    const netAdmin = { security: { capAdd: ['NET_ADMIN'] } } as const;
    await a.execOutput(['sh', '-c', `ip addr add 10.200.9.1/24 dev ${names[0]} && ip link set ${names[0]} up`], netAdmin);
    await b.execOutput(['sh', '-c', `ip addr add 10.200.9.2/24 dev ${names[1]} && ip link set ${names[1]} up`], netAdmin);
    const ping = await a.execOutput(['busybox', 'ping', '-c', '1', '-W', '2', '10.200.9.2']);
    expect(ping.status.code).toBe(0);

    await a.destroy();
    await until(() => (netLinks(b.pid) ?? []).join(' ') === 'lo');
    expect(netLinks('self')).toEqual(hostBefore);
  });

  it('refuses sandboxes without a network namespace and names outside sbx-', async () => {
    const a = await netSandbox();
    const plain = await Sandbox.create({ namespaces: ['pid'], init: true, stdio: 'ignore' });
    expect(() => publishNetns(plain)).toThrow(/no network namespace/);
    expect(() => connectSandboxes(a, a, ['eth7', 'eth8'])).toThrow(/not a veth name/);
    expect(() => connectSandboxes(a, a, ['sbx-much-too-long-a', 'sbx-b'])).toThrow(/not a veth name/);
  });

  it('what a killed session left (netns name, veth on the host) is removed by sweep()', async () => {
    const names = vethNames('k');
    const script = `
      import { execFileSync } from 'node:child_process';
      import { Sandbox, publishNetns, connectSandboxes } from ${JSON.stringify(DIST)};
      const a = await Sandbox.create({ name: 'net-test-killed', namespaces: ['pid', 'mount', 'net'], init: true, stdio: 'ignore' });
      const b = await Sandbox.create({ name: 'net-test-killed-b', namespaces: ['pid', 'mount', 'net'], init: true, stdio: 'ignore' });
      publishNetns(a);
      connectSandboxes(a, b, ${JSON.stringify(names)});
      // As if the session died half-way: one end back on the host, the other in a's namespace,
      // which the /run/netns bind keeps alive after a's processes are gone.
      execFileSync('nsenter', ['--net=/proc/' + b.pid + '/ns/net', 'ip', 'link', 'set', ${JSON.stringify(names[1])}, 'netns', String(a.pid)]);
      execFileSync('ip', ['-n', 'sandbox-net-test-killed', 'link', 'set', ${JSON.stringify(names[0])}, 'netns', '1']);
      console.log('ready');
      setInterval(() => {}, 1000);
    `;
    declareDebris('net-test-killed', 'net-test-killed-b');
    await killSession(await startSession(script));
    await new Promise((r) => setTimeout(r, 300)); // the sandboxes die of their parent's death meanwhile
    // This sweep, or another session's start sweeping at the same time (they may share the
    // work), removes it: what counts is that afterwards nothing of it is left.
    sweep();
    expect(netLinks('self')).not.toContain(names[0]);
    expect(fs.existsSync('/run/netns/sandbox-net-test-killed')).toBe(false);
    expect(readEntry('net-test-killed')).toBeNull();
    clearDebris('net-test-killed', 'net-test-killed-b');
  });
});
