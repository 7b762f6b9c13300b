/**
 * The systemd layout's driver through its seam: a recording unit manager stands in for
 * systemd-run/systemctl and plays systemd's part on a fake cgroup tree in a temporary directory
 * (what systemd makes when it starts a transient service with Delegate=yes). No root needed; the
 * real systemd is exercised by `npm run test:lab:vm`, the real kernel by
 * test/integration/runtime/cgroup-parent.test.ts in the v2 guest.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { type CgroupDriver, nameProblem } from '../../src/runtime/cgroup/index.js';
import {
  CgroupV2Systemd,
  parseShow,
  SUPERVISOR,
  systemdBooted,
  systemdRunArgs,
  UNIT,
  UNIT_DESCRIPTION,
  type UnitManager,
  type UnitState,
} from '../../src/runtime/cgroup/systemd.js';
import { CgroupV2, CREATE_ATTEMPTS } from '../../src/runtime/cgroup/v2.js';
import { SandboxError } from '../../src/runtime/errors.js';

const PAUSE = ['/opt/sandbox/build/Release/sandbox-init', '--error-fd', '2', '--status-fd', '2'];
const MAIN_PID = 4242;

/** systemd, as far as sandbox can tell: a unit table, and the cgroups it makes for a unit. */
class RecordingManager implements UnitManager {
  readonly calls: string[] = [];
  readonly started: { unit: string; properties: [string, string][]; argv: string[] }[] = [];
  private units = new Map<string, { description: string; slice: string }>();
  /** systemd < 254: refuses DelegateSubgroup= and starts the process in the unit's own cgroup. */
  oldSystemd = false;
  /** Another session's StartTransientUnit wins between our state() and our start. */
  loseRace = false;
  /** Put the unit's cgroup elsewhere (a drop-in moving it to another slice). */
  slice = 'system.slice';
  /** The controllers systemd delegates (what the unit's cgroup.controllers lists). */
  delegated = 'cpuset cpu io memory pids';

  constructor(private readonly root: string) {}

  state(unit: string): UnitState {
    this.calls.push(`state ${unit}`);
    const u = this.units.get(unit);
    if (!u) return { load: 'not-found', active: 'inactive', controlGroup: '', mainPid: 0, description: '' };
    return { load: 'loaded', active: 'active', controlGroup: `/${u.slice}/${unit}`, mainPid: MAIN_PID, description: u.description };
  }

  startService(unit: string, properties: [string, string][], argv: string[]): void {
    this.calls.push(`start ${unit}`);
    this.started.push({ unit, properties, argv });
    const props = new Map(properties);
    if (this.oldSystemd && props.has('DelegateSubgroup')) throw new Error(`Failed to start transient service unit: Unknown assignment: DelegateSubgroup=${props.get('DelegateSubgroup')}`);
    if (this.loseRace) {
      this.loseRace = false;
      this.make(unit, UNIT_DESCRIPTION, props.get('DelegateSubgroup'));
      throw new Error(`Failed to start transient service unit: Unit ${unit} was already loaded or has a fragment file.`);
    }
    if (this.units.has(unit)) throw new Error(`Failed to start transient service unit: Unit ${unit} was already loaded or has a fragment file.`);
    this.make(unit, props.get('Description') ?? '', props.get('DelegateSubgroup'));
  }

  /** What systemd does for a started unit: its cgroup, the controllers delegated, its process. */
  make(unit: string, description: string, subgroup?: string): void {
    const base = path.join(this.root, this.slice, unit);
    fs.mkdirSync(base, { recursive: true });
    fs.writeFileSync(`${base}/cgroup.controllers`, `${this.delegated}\n`);
    const leaf = subgroup ? `${base}/${subgroup}` : base;
    fs.mkdirSync(leaf, { recursive: true });
    fs.writeFileSync(`${leaf}/cgroup.procs`, `${MAIN_PID}\n`);
    this.units.set(unit, { description, slice: this.slice });
  }

  stop(unit: string): void {
    this.calls.push(`stop ${unit}`);
    fs.rmSync(path.join(this.root, this.units.get(unit)?.slice ?? this.slice, unit), { recursive: true, force: true });
    this.units.delete(unit);
  }
}

let root: string;
let systemd: RecordingManager;
let driver: CgroupV2Systemd;

beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'sandbox-cg-'));
  fs.writeFileSync(`${root}/cgroup.controllers`, 'cpuset cpu io memory hugetlb pids rdma misc\n');
  fs.mkdirSync(`${root}/system.slice`);
  systemd = new RecordingManager(root);
  driver = new CgroupV2Systemd({ manager: systemd, root, pauseCommand: () => PAUSE });
});

afterEach(() => {
  fs.rmSync(root, { recursive: true, force: true });
});

const unitDir = () => `${root}/system.slice/${UNIT}`;

function failure(fn: () => unknown): SandboxError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(SandboxError);
    return err as SandboxError;
  }
  throw new Error('did not throw');
}

describe('the systemd layout (one delegated unit for every sandbox)', () => {
  it('names the real paths: the unit’s cgroup is the parent, /proc/PID/cgroup maps back to the sandbox', () => {
    expect(driver.dirs('web')).toEqual([`${unitDir()}/web`]);
    expect(driver.describe('web')).toBe(`${unitDir()}/web`);
    expect(driver.parents()).toEqual([unitDir()]);
    expect(driver.where()).toContain(`${unitDir()} (inside ${UNIT}`);
    expect(driver.unit).toBe(UNIT);
    expect(driver.sandboxOf(`/system.slice/${UNIT}/web`)).toBe('web');
    expect(driver.sandboxOf(`/system.slice/${UNIT}/web/inner`)).toBe('web');
    expect(driver.sandboxOf(`/system.slice/${UNIT}/${SUPERVISOR}`)).toBeNull();
    expect(driver.sandboxOf('/sandbox/web')).toBeNull();
    expect(driver.sandboxOf('/user.slice/user-1000.slice/session-1.scope')).toBeNull();
  });

  it('starts the unit once, with delegation, and enables controllers in the unit’s cgroup only', () => {
    expect(driver.create('a')).toEqual([`${unitDir()}/a`]);
    expect(driver.create('b')).toEqual([`${unitDir()}/b`]);
    expect(systemd.calls.filter((c) => c.startsWith('start'))).toEqual([`start ${UNIT}`]);
    const [{ properties, argv }] = systemd.started;
    expect(new Map(properties)).toEqual(
      new Map([
        ['Description', UNIT_DESCRIPTION],
        ['Slice', 'system.slice'],
        ['Type', 'exec'],
        ['Delegate', 'yes'],
        ['DelegateSubgroup', SUPERVISOR],
        ['KillMode', 'process'],
        ['OOMPolicy', 'continue'],
        ['TasksMax', 'infinity'],
        ['CollectMode', 'inactive-or-failed'],
      ]),
    );
    expect(argv).toEqual(PAUSE);
    // The second create found the unit from the cgroup tree alone: no systemd call at all.
    expect(systemd.calls).toEqual([`state ${UNIT}`, `start ${UNIT}`, `state ${UNIT}`]);
    expect(fs.readFileSync(`${unitDir()}/cgroup.subtree_control`, 'utf8')).toContain('+cpu +cpuset +memory +pids');
    // Nothing above the delegated unit was written: not the root, not system.slice.
    expect(fs.existsSync(`${root}/cgroup.subtree_control`)).toBe(false);
    expect(fs.existsSync(`${root}/system.slice/cgroup.subtree_control`)).toBe(false);
    expect(fs.existsSync(`${root}/sandbox`)).toBe(false);
    expect(driver.list()).toEqual(['a', 'b']);
  });

  it('takes a unit another session started at the same moment ("already loaded") as success', () => {
    systemd.loseRace = true;
    expect(driver.create('a')).toEqual([`${unitDir()}/a`]);
    expect(systemd.started).toHaveLength(1);
    expect(systemd.calls).toEqual([`state ${UNIT}`, `start ${UNIT}`, `state ${UNIT}`, `state ${UNIT}`]);
  });

  it('on systemd before 254 starts it without DelegateSubgroup and moves its process into supervisor/ itself', () => {
    systemd.oldSystemd = true;
    driver.create('a');
    expect(systemd.started.map((s) => new Map(s.properties).has('DelegateSubgroup'))).toEqual([true, false]);
    expect(fs.readFileSync(`${unitDir()}/${SUPERVISOR}/cgroup.procs`, 'utf8').trim()).toBe(String(MAIN_PID));
    expect(driver.list()).toEqual(['a']);
  });

  it('refuses a sandbox.service it did not start, and creates nothing in it', () => {
    systemd.make(UNIT, 'Some other program');
    const err = failure(() => driver.create('a'));
    expect(err.message).toContain('that sandbox did not start ("Some other program")');
    expect(err.hint).toContain(`systemctl stop ${UNIT}`);
    expect(fs.existsSync(`${unitDir()}/a`)).toBe(false);
    expect(systemd.started).toHaveLength(0);
    // and cleanup leaves it alone
    expect(driver.tidy({ stopUnit: true })).toEqual({ cgroups: [], units: [] });
    expect(systemd.calls).not.toContain(`stop ${UNIT}`);
  });

  it('refuses a unit systemd put somewhere else than the path the ledger recorded', () => {
    systemd.slice = 'machine.slice';
    const err = failure(() => driver.create('a'));
    expect(err.message).toBe(`systemd put ${UNIT} in ${root}/machine.slice/${UNIT}, not in ${unitDir()}`);
    expect(fs.existsSync(`${root}/machine.slice/${UNIT}/a`)).toBe(false);
  });

  it('a controller systemd does not delegate: retried with pauses, then an error naming it, nothing left', () => {
    systemd.delegated = 'cpu memory pids';
    systemd.make(UNIT, UNIT_DESCRIPTION, SUPERVISOR);
    // The kernel answers ENOENT to "+cpuset" in a cgroup whose cgroup.controllers lacks it; a
    // dangling link gives the same errno on this fake tree.
    fs.symlinkSync(`${root}/nowhere/cgroup.subtree_control`, `${unitDir()}/cgroup.subtree_control`);
    const t0 = performance.now();
    const err = failure(() => driver.create('a'));
    const ms = performance.now() - t0;
    expect(err.code).toBe('ENOENT');
    expect(err.message).toContain(`the cpuset controller kept disappearing from ${root}/system.slice/cgroup.subtree_control (${CREATE_ATTEMPTS} tries`);
    expect(err.hint).toContain(`systemd does not delegate "cpuset" to ${UNIT}`);
    expect(ms).toBeGreaterThan(1000); // the pauses: 5 + 10 + … + 200 ms
    expect(ms).toBeLessThan(5000);
    expect(fs.existsSync(`${unitDir()}/a`)).toBe(false);
    // the unit's cgroup is systemd's: not removed by sandbox
    expect(fs.existsSync(unitDir())).toBe(true);
  });

  it('cleanup stops the unit only when asked and when no sandbox cgroup is in it', () => {
    driver.create('a');
    expect(driver.tidy()).toEqual({ cgroups: [], units: [] });
    expect(driver.tidy({ stopUnit: true })).toEqual({ cgroups: [], units: [] });
    expect(systemd.calls).not.toContain(`stop ${UNIT}`);
    fs.rmdirSync(`${unitDir()}/a`);
    expect(driver.tidy({ stopUnit: true })).toEqual({ cgroups: [], units: [UNIT] });
    expect(fs.existsSync(unitDir())).toBe(false);
    // nothing to stop the second time
    expect(driver.tidy({ stopUnit: true })).toEqual({ cgroups: [], units: [] });
    expect(systemd.calls.filter((c) => c.startsWith('stop'))).toHaveLength(1);
  });

  it('a sandbox cannot be named like the unit’s own leaf', () => {
    expect(nameProblem(SUPERVISOR)?.message).toContain(`"${SUPERVISOR}" is reserved`);
    expect(driver.exists(SUPERVISOR)).toBe(false);
  });
});

describe('talking to systemd', () => {
  it('builds the systemd-run command line a learner could type', () => {
    expect(systemdRunArgs(UNIT, [['Delegate', 'yes'], ['KillMode', 'process']], ['/x/sandbox-init', '--error-fd', '2'])).toEqual([
      `--unit=${UNIT}`,
      '--quiet',
      '--property=Delegate=yes',
      '--property=KillMode=process',
      '--',
      '/x/sandbox-init',
      '--error-fd',
      '2',
    ]);
  });

  it('reads systemctl show, bounding the pid', () => {
    const st = parseShow(
      `LoadState=loaded\nActiveState=active\nControlGroup=/system.slice/${UNIT}\nMainPID=812\nDescription=${UNIT_DESCRIPTION}\n`,
    );
    expect(st).toEqual({ load: 'loaded', active: 'active', controlGroup: `/system.slice/${UNIT}`, mainPid: 812, description: UNIT_DESCRIPTION });
    expect(parseShow('LoadState=not-found\nActiveState=inactive\nMainPID=0\n')).toMatchObject({ load: 'not-found', active: 'inactive', mainPid: 0 });
    expect(parseShow('MainPID=99999999999\n').mainPid).toBe(0);
    expect(parseShow('MainPID=-3\n').mainPid).toBe(0);
    expect(parseShow('').load).toBe('not-found');
  });

  it('detects systemd as PID 1 by /run/systemd/system (sd_booted)', () => {
    expect(systemdBooted(root)).toBe(true);
    expect(systemdBooted(`${root}/absent`)).toBe(false);
    fs.writeFileSync(`${root}/file`, '');
    expect(systemdBooted(`${root}/file`)).toBe(false);
  });
});

describe('the direct layout (no systemd): sandbox/ made and removed by sandbox', () => {
  it('an empty parent is removed after a failed create, and cleanup removes one left behind', () => {
    const direct = new CgroupV2(root);
    fs.symlinkSync(`${root}/nowhere/x`, `${root}/cgroup.subtree_control`);
    expect(() => direct.create('a')).toThrow(SandboxError);
    expect(fs.existsSync(`${root}/sandbox`)).toBe(false);
    fs.unlinkSync(`${root}/cgroup.subtree_control`);
    fs.mkdirSync(`${root}/sandbox`);
    expect(direct.tidy()).toEqual({ cgroups: [`${root}/sandbox`], units: [] });
    expect(fs.existsSync(`${root}/sandbox`)).toBe(false);
    expect(direct.tidy()).toEqual({ cgroups: [], units: [] });
  });

  it('keeps a parent with a sandbox in it, and names /sandbox/NAME paths', () => {
    const direct = new CgroupV2(root);
    expect(direct.create('a')).toEqual([`${root}/sandbox/a`]);
    expect(fs.readFileSync(`${root}/cgroup.subtree_control`, 'utf8')).toContain('+cpu +cpuset +memory +pids');
    expect(direct.tidy()).toEqual({ cgroups: [], units: [] });
    expect(direct.sandboxOf('/sandbox/a/x')).toBe('a');
    expect(direct.sandboxOf(`/system.slice/${UNIT}/a`)).toBeNull();
    expect((direct as CgroupDriver).unit).toBeUndefined();
  });
});
