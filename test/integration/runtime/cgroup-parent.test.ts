/**
 * The parent of the sandboxes' cgroups on a pure cgroup v2 kernel, as another program fights
 * over it: `cpuset` taken back from the root's subtree_control in a loop (what systemd does when
 * it re-applies the root cgroup), an empty parent left by a failed create, `sandbox cleanup`
 * reporting one; and the systemd layout (one unit delegated to sandbox) on the real kernel, with
 * a stand-in for systemd that makes the unit's cgroups as systemd would.
 *
 * These tests write the root cgroup's subtree_control, so they run only in the throw-away guest
 * of `npm run test:v2` (SANDBOX_V2_GUEST=1), never on a host; and alone (test:v2 runs this file
 * first, by itself): they watch the parent go away, which another file's live sandbox would keep:
 *   bash test/v2/run-in-guest.sh -- node_modules/.bin/vitest run test/integration/runtime/cgroup-parent.test.ts
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import {
  CgroupV2Systemd,
  cgroups,
  liveSandboxes,
  runSandbox,
  Sandbox,
  SandboxError,
  setCgroupDriver,
  SYSTEMD_UNIT,
  sweep,
  type UnitManager,
  type UnitState,
} from '../../../src/runtime/index.js';
import { UNIT_DESCRIPTION } from '../../../src/runtime/cgroup/systemd.js';
import { isRoot, leftovers } from '../../helpers/resources.js';
import { sleep, until } from '../../helpers/wait.js';

const ROOT = '/sys/fs/cgroup';
const inGuest = isRoot && process.env.SANDBOX_V2_GUEST === '1' && cgroups().layout === 'v2';
const CLI = path.resolve(import.meta.dirname, '../../../dist/cli.js');

let adversary: ChildProcess | null = null;

afterEach(async () => {
  if (adversary?.pid) {
    adversary.kill('SIGKILL');
    await until(() => adversary!.exitCode !== null || adversary!.signalCode !== null, 5000, 'the loop to end');
  }
  adversary = null;
  for (const s of liveSandboxes()) await s.destroy();
  setCgroupDriver(null);
});

/**
 * A loop that takes a controller back from the root every 10 ms: far more often than systemd
 * re-applies the root cgroup (at boot, on daemon-reload, when a unit starts). Against a loop with
 * no pause at all no program can win for sure: the controller must be on in the root and then in
 * our parent, two writes, and a writer spinning on another CPU can always land between them
 * (measured in the guest under load: 15 of 25 creates failed after 12 tries).
 */
function takeBack(controller: string): ChildProcess {
  const child = spawn('sh', ['-c', `while :; do echo -${controller} > ${ROOT}/cgroup.subtree_control 2>/dev/null; sleep 0.01; done`], { stdio: 'ignore' });
  return child;
}

const rootControllers = () => fs.readFileSync(`${ROOT}/cgroup.subtree_control`, 'utf8').trim().split(/\s+/);

describe.runIf(inGuest)('the direct layout (/sys/fs/cgroup/sandbox) while another writer fights over the root (v2 guest only)', () => {
  it('a controller taken back from the root in a loop: every create succeeds and keeps its cpuset', { timeout: 600_000 }, async () => {
    adversary = takeBack('cpuset');
    await until(() => !rootControllers().includes('cpuset'), 5000, 'the loop to take cpuset back');
    // With no pause in the loop, before the fix 219 of 300 creates failed in the guest, after it
    // 0 of 300 on a quiet host but 15 of 25 under load (see takeBack).
    const runs = 25;
    let failed = 0;
    const errors: string[] = [];
    for (let i = 0; i < runs; i++) {
      try {
        const r = await runSandbox({ namespaces: ['pid', 'mount'], limits: { cpus: '0', pids: 20 }, command: ['grep', 'Cpus_allowed_list', '/proc/self/status'] });
        expect(r.stdout).toMatch(/^Cpus_allowed_list:\s+0\s*$/);
        expect(r.status.code).toBe(0);
      } catch (err) {
        failed++;
        errors.push((err as Error).message);
      }
    }
    expect(errors).toEqual([]);
    expect(failed).toBe(0);
    // the loop really ran all along: cpuset is off the root again once our parent is gone
    await until(() => !fs.existsSync(`${ROOT}/sandbox`) && !rootControllers().includes('cpuset'), 5000, 'cpuset off the root');
  });

  it('`sandbox run --cpus 0` exits 0 while the loop runs (it exited 125: "enabling the cpuset controller … ENOENT")', { timeout: 300_000 }, () => {
    adversary = takeBack('cpuset');
    // (2 runs: a CLI start costs ~20 s under TCG; the loop above covers the numbers)
    for (let i = 0; i < 2; i++) {
      const out = execFileSync('node', [CLI, 'run', '--cpus', '0', '--', 'grep', 'Cpus_allowed_list', '/proc/self/status'], { encoding: 'utf8', timeout: 60_000 });
      expect(out).toMatch(/Cpus_allowed_list:\s+0\b/);
    }
    expect(fs.existsSync(`${ROOT}/sandbox`)).toBe(false);
  });

  it('a create that fails for good leaves no empty parent behind', async () => {
    // A threaded `sandbox/` cannot enable the memory controller (a domain controller): every
    // try fails with EOPNOTSUPP, not a vanished controller, so create gives up at once.
    fs.mkdirSync(`${ROOT}/sandbox`);
    fs.writeFileSync(`${ROOT}/sandbox/cgroup.type`, 'threaded');
    let err: unknown;
    try {
      await Sandbox.create({ namespaces: ['pid'], limits: { memory: 32 * 1024 * 1024 }, command: ['true'] });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SandboxError);
    expect((err as SandboxError).message).toContain(`${ROOT}/sandbox/cgroup.subtree_control`);
    expect(fs.existsSync(`${ROOT}/sandbox`)).toBe(false);
    expect(leftovers()).toEqual([]);
  });

  it('`sandbox cleanup` reports and removes an empty /sys/fs/cgroup/sandbox', { timeout: 300_000 }, () => {
    fs.mkdirSync(`${ROOT}/sandbox`);
    const out = execFileSync('node', [CLI, 'cleanup'], { encoding: 'utf8', timeout: 60_000 });
    expect(out).toContain(`cgroups removed: ${ROOT}/sandbox`);
    expect(fs.existsSync(`${ROOT}/sandbox`)).toBe(false);
    expect(execFileSync('node', [CLI, 'cleanup'], { encoding: 'utf8', timeout: 60_000 })).toContain('Nothing to clean up');
  });
});

/**
 * systemd, as far as cgroups go, on the guest's real kernel: starting the unit enables the
 * delegated controllers in the root and system.slice (systemd's part of the tree), makes the
 * unit's cgroup and puts its process in `supervisor/` (DelegateSubgroup); stopping ends that
 * process and removes the unit's cgroups.
 */
class GuestSystemd implements UnitManager {
  private pause: ChildProcess | null = null;
  readonly calls: string[] = [];
  private readonly slice = `${ROOT}/system.slice`;
  private readonly unitDir = `${ROOT}/system.slice/${SYSTEMD_UNIT}`;

  state(): UnitState {
    this.calls.push('state');
    return this.pause
      ? { load: 'loaded', active: 'active', controlGroup: `/system.slice/${SYSTEMD_UNIT}`, mainPid: this.pause.pid!, description: UNIT_DESCRIPTION }
      : { load: 'not-found', active: 'inactive', controlGroup: '', mainPid: 0, description: '' };
  }

  startService(_unit: string, properties: [string, string][], argv: string[]): void {
    this.calls.push('start');
    const props = new Map(properties);
    expect(props.get('Delegate')).toBe('yes');
    fs.mkdirSync(this.slice, { recursive: true });
    fs.writeFileSync(`${ROOT}/cgroup.subtree_control`, '+cpu +cpuset +memory +pids');
    fs.writeFileSync(`${this.slice}/cgroup.subtree_control`, '+cpu +cpuset +memory +pids');
    fs.mkdirSync(`${this.unitDir}/${props.get('DelegateSubgroup')}`, { recursive: true });
    this.pause = spawn(argv[0], argv.slice(1), { stdio: 'ignore' });
    fs.writeFileSync(`${this.unitDir}/${props.get('DelegateSubgroup')}/cgroup.procs`, String(this.pause.pid));
  }

  stop(): void {
    this.calls.push('stop');
    this.pause?.kill('SIGTERM');
    this.pause = null;
  }

  /** What systemd does once the unit's process has exited: the cgroups go, bottom-up. */
  async removeCgroups(): Promise<void> {
    await until(() => {
      try {
        for (const d of [`${this.unitDir}/supervisor`, this.unitDir, this.slice]) if (fs.existsSync(d)) fs.rmdirSync(d);
        return true;
      } catch {
        return false;
      }
    }, 5000, 'the unit’s cgroups to empty');
  }
}

describe.runIf(inGuest)('the systemd layout (system.slice/sandbox.service) on the real kernel (v2 guest only)', () => {
  it('sandboxes live in the delegated unit with their limits; nothing is written above it; cleanup stops it', { timeout: 300_000 }, async () => {
    const systemd = new GuestSystemd();
    const init = path.resolve(import.meta.dirname, '../../../build/Release/sandbox-init');
    setCgroupDriver(new CgroupV2Systemd({ manager: systemd, pauseCommand: () => [init, '--error-fd', '2', '--status-fd', '2'] }));
    const unitDir = `${ROOT}/system.slice/${SYSTEMD_UNIT}`;
    try {
      const a = await Sandbox.create({ name: 'sd-a', namespaces: ['pid', 'mount'], limits: { cpus: '0', pids: 10, memory: 64 * 1024 * 1024 }, init: true, command: ['sleep', '60'], stdio: 'ignore' });
      const b = await Sandbox.create({ name: 'sd-b', namespaces: ['pid', 'mount'], limits: { cpuWeight: 50 }, command: ['sleep', '60'], stdio: 'ignore' });
      expect(systemd.calls.filter((c) => c === 'start')).toHaveLength(1);
      // the kernel's view: each sandbox's processes in its cgroup under the unit
      expect(fs.readFileSync(`/proc/${a.pid}/cgroup`, 'utf8')).toBe(`0::/system.slice/${SYSTEMD_UNIT}/sd-a\n`);
      expect(fs.readFileSync(`/proc/${b.pid}/cgroup`, 'utf8')).toBe(`0::/system.slice/${SYSTEMD_UNIT}/sd-b\n`);
      expect(fs.readFileSync(`${unitDir}/sd-a/cpuset.cpus.effective`, 'utf8').trim()).toBe('0');
      expect(fs.readFileSync(`${unitDir}/sd-a/pids.max`, 'utf8').trim()).toBe('10');
      expect(fs.readFileSync(`${unitDir}/sd-a/memory.max`, 'utf8').trim()).toBe(String(64 * 1024 * 1024));
      expect(fs.readFileSync(`${unitDir}/sd-b/cpu.weight`, 'utf8').trim()).toBe('50');
      // no process in an inner cgroup: the unit's cgroup holds only children
      expect(fs.readFileSync(`${unitDir}/cgroup.procs`, 'utf8')).toBe('');
      expect(fs.readFileSync(`${unitDir}/supervisor/cgroup.procs`, 'utf8').trim().split('\n')).toHaveLength(1);
      // what top and the lessons see
      expect(cgroups().list()).toEqual(['sd-a', 'sd-b']);
      expect(a.usage()!.pidsMax).toBe(10);
      // the root and system.slice still hold only what "systemd" enabled (no -/+ from sandbox)
      expect(fs.readFileSync(`${ROOT}/system.slice/cgroup.subtree_control`, 'utf8').trim()).toBe('cpuset cpu memory pids');
      // the last destroy keeps the unit (a session may be starting); its cgroup stays, empty of sandboxes
      await a.destroy();
      await b.destroy();
      expect(fs.existsSync(unitDir)).toBe(true);
      expect(cgroups().list()).toEqual([]);
      // the sweep every session starts with leaves the unit alone; cleanup's stops it
      expect(sweep().units).toEqual([]);
      expect(systemd.calls).not.toContain('stop');
      expect(sweep({ stopUnit: true }).units).toEqual([SYSTEMD_UNIT]);
      await systemd.removeCgroups();
      expect(fs.existsSync(unitDir)).toBe(false);
    } finally {
      systemd.stop();
      await sleep(50);
      await systemd.removeCgroups().catch(() => undefined);
    }
  });
});
