/**
 * The whole course leaves the host exactly as it found it. Every lesson in the manifest runs with
 * `sandbox learn ID --auto --plain` through the built CLI (dist/cli.js), and the host's mount
 * table, interfaces, addresses, routes and hostname are compared before and after.
 *
 * What is compared, and the only normalisation applied:
 *  - /proc/self/mountinfo: every line verbatim, including mount IDs, parent IDs, peer groups
 *    (shared:N, master:N) and options. A host mount that was unmounted and mounted again, remounted,
 *    or had its propagation changed shows up as a changed line. Lines for mount points under
 *    /run/sandbox/ and /run/netns/sandbox-* are left out of the comparison: those names belong to
 *    sandbox sessions, including other people's live ones on a shared machine, which may come and
 *    go during the run. The course's own leftovers there are caught by leftovers() instead, which
 *    ignores only sandboxes whose owner is alive and not part of this run.
 *  - `ip -o link`, `ip -o addr`, `ip route`, `ip -6 route`: verbatim, except (a) the remaining
 *    lifetimes of dynamic addresses (`valid_lft 86123sec preferred_lft 86123sec`) and routes
 *    (`expires 1234sec`), which count down by themselves every second on DHCP/SLAAC hosts, and
 *    (b) lines of `sbx-*` devices, for the same reason as above (leftovers() checks ours).
 *  - the hostname and NIS domain name of the host's UTS namespace: verbatim.
 * The course runs from a student's home that the sandbox's root cannot enter (mode 0700, another
 * owner: /home/vagrant on Debian 13; see helpers/closed-home.ts), as `sudo sandbox learn` from `~`
 * does in the lab VM: a process started without a reachable working directory fails there.
 * Needs root; takes minutes (it is the whole course).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { closedHome, type ClosedHome } from '../helpers/closed-home.js';
import { acquireLessonLock, releaseLessonLock } from '../helpers/lesson-lock.js';

import { COURSE } from '../../src/lessons/manifest.js';
import { isRoot, leftovers } from '../helpers/resources.js';

const CLI = path.resolve(import.meta.dirname, '../../dist/cli.js');

interface HostState {
  mountinfo: string[];
  links: string[];
  addrs: string[];
  routes: string[];
  routes6: string[];
  hostname: string;
  domainname: string;
}

const ours = (mountPoint: string) => mountPoint.startsWith('/run/sandbox/') || mountPoint === '/run/sandbox' || mountPoint.startsWith('/run/netns/sandbox-');

function ip(args: string[]): string[] {
  return execFileSync('ip', args, { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l.trim() && !/\bsbx-/.test(l))
    .map((l) => l.replace(/valid_lft \d+sec/g, 'valid_lft *').replace(/preferred_lft \d+sec/g, 'preferred_lft *').replace(/expires \d+sec/g, 'expires *'));
}

function hostState(): HostState {
  return {
    mountinfo: fs
      .readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .filter((l) => l && !ours(l.split(' ')[4].replace(/\\040/g, ' '))),
    links: ip(['-o', 'link']),
    addrs: ip(['-o', 'addr']),
    routes: ip(['route']),
    routes6: ip(['-6', 'route']),
    hostname: os.hostname(),
    domainname: fs.readFileSync('/proc/sys/kernel/domainname', 'utf8').trim(),
  };
}

const hasIp = spawnSync('ip', ['-V']).status === 0;

describe.skipIf(!isRoot || !hasIp)('the whole course leaves the host unchanged (needs root; runs every lesson)', () => {
  let state: string;
  let home: ClosedHome;
  let before: HostState;
  let after: HostState;
  const results: { id: string; code: number | null; seconds: number; tail: string }[] = [];

  beforeAll(async () => {
    await acquireLessonLock();
    state = fs.mkdtempSync(path.join(os.tmpdir(), 'sandbox-course-'));
    home = closedHome();
    before = hostState();
    for (const { id } of COURSE) {
      const t0 = performance.now();
      const r = spawnSync(process.execPath, [CLI, 'learn', id, '--auto', '--plain'], {
        cwd: home.dir,
        encoding: 'utf8',
        timeout: 600_000,
        env: { ...process.env, XDG_STATE_HOME: state },
      });
      const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
      results.push({
        id,
        code: r.status,
        seconds: Number(((performance.now() - t0) / 1000).toFixed(1)),
        tail: out.split('\n').filter((l) => /^\s*✗|error|checks passed/i.test(l)).slice(-12).join('\n'),
      });
    }
    after = hostState();
  }, 3_600_000);

  afterAll(() => {
    releaseLessonLock();
    fs.rmSync(state, { recursive: true, force: true });
    home?.remove();
    console.log(results.map((r) => `${r.id}: exit ${r.code}, ${r.seconds} s`).join('\n'));
  });

  it('ran every lesson in the manifest, and each passed', () => {
    expect(results.map((r) => r.id)).toEqual(COURSE.map((e) => e.id));
    for (const r of results) expect({ id: r.id, code: r.code, failures: r.code === 0 ? '' : r.tail }).toEqual({ id: r.id, code: 0, failures: '' });
  });

  it('the host mount table is line for line the same', () => {
    expect(after.mountinfo).toEqual(before.mountinfo);
  });

  it('the host interfaces and addresses are the same', () => {
    expect(after.links).toEqual(before.links);
    expect(after.addrs).toEqual(before.addrs);
  });

  it('the host routes (IPv4 and IPv6) are the same', () => {
    expect(after.routes).toEqual(before.routes);
    expect(after.routes6).toEqual(before.routes6);
  });

  it('the hostname and domain name are the same', () => {
    expect({ hostname: after.hostname, domainname: after.domainname }).toEqual({ hostname: before.hostname, domainname: before.domainname });
  });

  it('nothing of the course is left: no cgroup, directory, mount, netns or veth of sandbox', () => {
    expect(leftovers()).toEqual([]);
  });
});
