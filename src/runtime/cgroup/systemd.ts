/**
 * cgroup v2 under systemd. systemd owns the cgroup tree of a host it booted: it re-applies the
 * root's and every slice's settings (taking back controllers nobody asked it for, such as
 * `cpuset`), and its rules (docs/CGROUP_DELEGATION.md in systemd's repository) give another
 * program a subtree only through a unit with `Delegate=yes`: one writer per cgroup, no processes
 * in inner cgroups, nothing created outside a delegated unit.
 *
 * So on such a host every sandbox lives in one shared transient service, `sandbox.service`, made
 * the way `systemd-run` makes one (D-Bus StartTransientUnit), with:
 *  - Delegate=yes: the subtree below the unit's cgroup is sandbox's; systemd enables the
 *    controllers on the way down (root, system.slice) and never touches what is below;
 *  - DelegateSubgroup=supervisor (systemd 254+): its only process, sandbox-init in pause mode,
 *    starts in `sandbox.service/supervisor`, a leaf, so the unit's cgroup can enable controllers
 *    for its children (older systemd starts it in the unit's cgroup; it is then moved there);
 *  - KillMode=process: stopping the unit ends that process only; a live sandbox is never killed
 *    by systemd behind sandbox's back (`sandbox cleanup` stops the unit only when none is left);
 *  - OOMPolicy=continue: an OOM kill inside a sandbox (the memory lesson makes them) must not
 *    make systemd stop the unit; TasksMax=infinity: each sandbox has its own pids.max.
 * A sandbox NAME is then /sys/fs/cgroup/system.slice/sandbox.service/NAME: the shape of the
 * direct layout (v2.ts), another base. The unit is started on first need and stays (it costs one
 * sleeping process); `sandbox cleanup` stops it when it holds no sandbox.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

import { SandboxError } from '../errors.js';
import { ensureDir, readProcs, readText, sleepSync, writeCgroupFile } from './files.js';
import { CgroupV2 } from './v2.js';

export const UNIT = 'sandbox.service';
/** The leaf of the unit's cgroup that holds the unit's own process (not a sandbox name: see nameProblem). */
export const SUPERVISOR = 'supervisor';
const SLICE = 'system.slice';
/** How the unit is recognised as sandbox's own before anything is created in it or it is stopped. */
export const UNIT_DESCRIPTION = 'sandbox: the cgroups of every sandbox on this host (sandbox cleanup stops it)';

/** sd_booted(): systemd is PID 1 when it has made /run/systemd/system (/proc/1/comm may be unreadable). */
export function systemdBooted(runDir = '/run/systemd/system'): boolean {
  try {
    return fs.lstatSync(runDir).isDirectory();
  } catch {
    return false;
  }
}

export interface UnitState {
  /** LoadState: "loaded", "not-found"… */
  load: string;
  /** ActiveState: "active", "inactive", "failed", "activating", "deactivating"… */
  active: string;
  /** The unit's cgroup below the hierarchy's root ("/system.slice/sandbox.service"), "" if none. */
  controlGroup: string;
  mainPid: number;
  description: string;
}

/**
 * What sandbox asks of the service manager; the real one runs `systemd-run` and `systemctl`
 * (both talk to systemd over D-Bus), tests use a recording one.
 */
export interface UnitManager {
  state(unit: string): UnitState;
  /** StartTransientUnit: starts a transient service with these properties, waiting for its start job. */
  startService(unit: string, properties: [string, string][], argv: string[]): void;
  /** Stops the unit, waiting for the stop job. */
  stop(unit: string): void;
}

/** `systemd-run` arguments for a transient service (also shown to learners by doctor). */
export function systemdRunArgs(unit: string, properties: [string, string][], argv: string[]): string[] {
  return [`--unit=${unit}`, '--quiet', ...properties.map(([k, v]) => `--property=${k}=${v}`), '--', ...argv];
}

/** `systemctl show` output ("Key=value" lines) → the fields sandbox reads. */
export function parseShow(text: string): UnitState {
  const kv = new Map<string, string>();
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) kv.set(line.slice(0, eq), line.slice(eq + 1));
  }
  const pid = Number(kv.get('MainPID') ?? '0');
  return {
    load: kv.get('LoadState') ?? 'not-found',
    active: kv.get('ActiveState') ?? 'inactive',
    controlGroup: kv.get('ControlGroup') ?? '',
    mainPid: Number.isInteger(pid) && pid > 0 && pid <= 4_194_304 ? pid : 0,
    description: kv.get('Description') ?? '',
  };
}

function toolError(err: unknown, what: string, command: string): SandboxError {
  const e = err as { stderr?: Buffer | string; code?: string; message?: string };
  const said = (e.stderr?.toString() ?? '').trim().split('\n').slice(-3).join(' ') || e.message || String(err);
  return new SandboxError(`${what}: ${said}`, {
    code: e.code === 'ENOENT' ? 'ENOENT' : 'E_SYSTEMD',
    step: 'systemd',
    hint:
      e.code === 'ENOENT'
        ? `${command} is not installed, but systemd is PID 1 here; install systemd's tools (the systemd package)`
        : `\`systemctl status ${UNIT}\` and \`journalctl -u ${UNIT}\` show what systemd did`,
    cause: err,
  });
}

/** The real manager: systemd's own command-line clients, each bounded in time. */
export class SystemdTools implements UnitManager {
  private run(command: string, args: string[], what: string): string {
    try {
      return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
    } catch (err) {
      throw toolError(err, what, command);
    }
  }

  state(unit: string): UnitState {
    return parseShow(
      this.run('systemctl', ['show', '--property=LoadState,ActiveState,ControlGroup,MainPID,Description', '--', unit], `reading the state of ${unit}`),
    );
  }

  startService(unit: string, properties: [string, string][], argv: string[]): void {
    this.run('systemd-run', systemdRunArgs(unit, properties, argv), `starting ${unit}`);
  }

  stop(unit: string): void {
    this.run('systemctl', ['stop', '--', unit], `stopping ${unit}`);
  }
}

export interface SystemdOptions {
  manager?: UnitManager;
  /** The hierarchy's mount point (a temporary directory in tests). */
  root?: string;
  /** The unit's process: sandbox-init with no command, which only waits (its pause mode). */
  pauseCommand?: () => string[];
}

const TRANSITIONAL = new Set(['activating', 'deactivating', 'reloading', 'refreshing']);

export class CgroupV2Systemd extends CgroupV2 {
  readonly unit = UNIT;
  readonly manager: UnitManager;
  private readonly pauseCommand: () => string[];
  /** Whether this systemd knows DelegateSubgroup= (254+); learnt from its answer. */
  private subgroupProperty = true;

  constructor(options: SystemdOptions) {
    const root = options.root ?? '/sys/fs/cgroup';
    super(root, `${root}/${SLICE}/${UNIT}`);
    this.manager = options.manager ?? new SystemdTools();
    this.pauseCommand = options.pauseCommand ?? (() => []);
  }

  override where(): string {
    return `${this.parent} (inside ${UNIT}, a unit systemd delegates to sandbox)`;
  }

  protected override isSandboxName(name: string): boolean {
    return name !== SUPERVISOR;
  }

  /** The properties of the unit, in the order `systemd-run` would be given them. */
  unitProperties(): [string, string][] {
    return [
      ['Description', UNIT_DESCRIPTION],
      ['Slice', SLICE],
      ['Type', 'exec'],
      ['Delegate', 'yes'],
      ...(this.subgroupProperty ? ([['DelegateSubgroup', SUPERVISOR]] as [string, string][]) : []),
      ['KillMode', 'process'],
      ['OOMPolicy', 'continue'],
      ['TasksMax', 'infinity'],
      ['CollectMode', 'inactive-or-failed'],
    ];
  }

  /**
   * The unit's cgroup enables the controllers for the sandboxes' cgroups. That file is delegated
   * to sandbox (the kernel's delegation covers a delegated cgroup's subtree_control, and systemd
   * keeps it as it is for a unit with Delegate=yes); nothing above it is written.
   */
  protected override prepareParent(): void {
    this.ensureUnit();
    this.enableControllers([this.parent]);
  }

  /** The unit's cgroup is systemd's to remove: it stays until `sandbox cleanup` stops the unit. */
  protected override removeEmptyParent(): boolean {
    return false;
  }

  protected override vanishedHint(controller: string): string {
    return (
      `systemd does not delegate "${controller}" to ${UNIT} (systemctl show -p DelegateControllers ${UNIT}); ` +
      `once no sandbox runs, \`sandbox cleanup\` stops the unit and the next sandbox starts it again`
    );
  }

  /** Running, ours, where it should be, with its process in the supervisor leaf. */
  private ensureUnit(): void {
    // The usual case, read from the cgroup tree alone: the unit's process is in its leaf.
    if (readProcs(`${this.parent}/${SUPERVISOR}`).length > 0 && readProcs(this.parent).length === 0) return;
    const deadline = performance.now() + 15_000;
    let starts = 0;
    for (;;) {
      const st = this.manager.state(UNIT);
      if (st.active === 'active') {
        this.adopt(st);
        return;
      }
      if (performance.now() > deadline || starts > 2) {
        throw new SandboxError(`${UNIT} does not become active (it is ${st.active})`, {
          code: 'E_SYSTEMD',
          step: 'systemd',
          hint: `\`systemctl status ${UNIT}\` says why; \`systemctl reset-failed ${UNIT}\` clears a failed one`,
        });
      }
      if (TRANSITIONAL.has(st.active)) {
        sleepSync(50);
        continue;
      }
      starts++;
      try {
        this.manager.startService(UNIT, this.unitProperties(), this.pauseCommand());
      } catch (err) {
        // Two sessions can start it at the same moment: systemd takes one StartTransientUnit and
        // refuses the other ("already loaded"), which then finds it active above.
        if (this.subgroupProperty && /DelegateSubgroup/i.test((err as Error).message)) {
          this.subgroupProperty = false; // systemd < 254: its process is moved into the leaf by adopt()
          continue;
        }
        const again = this.manager.state(UNIT);
        if (again.active !== 'active' && !TRANSITIONAL.has(again.active)) throw err;
      }
    }
  }

  /** Checks an active unit before anything is created in it, and keeps its cgroup an inner node. */
  private adopt(st: UnitState): void {
    if (st.description !== UNIT_DESCRIPTION) {
      throw new SandboxError(`a systemd unit named ${UNIT} exists that sandbox did not start ("${st.description}")`, {
        code: 'E_SYSTEMD',
        step: 'systemd',
        hint: `sandbox keeps its cgroups in its own ${UNIT}; stop that unit (systemctl stop ${UNIT}) or ask whoever made it`,
      });
    }
    const where = `${this.root}${st.controlGroup}`;
    if (st.controlGroup && where !== this.parent) {
      throw new SandboxError(`systemd put ${UNIT} in ${where}, not in ${this.parent}`, {
        code: 'E_SYSTEMD',
        step: 'systemd',
        hint: `sandbox asks for Slice=${SLICE}; a drop-in for ${UNIT} may move it: check \`systemctl cat ${UNIT}\``,
      });
    }
    // No processes in an inner cgroup: a cgroup with processes cannot enable controllers for
    // children (EBUSY). systemd 254+ starts the process in the leaf already; before, it starts in
    // the unit's cgroup and the delegation rules say to move it down into a leaf of our own.
    const inUnit = readProcs(this.parent);
    if (inUnit.length) {
      ensureDir(`${this.parent}/${SUPERVISOR}`);
      for (const pid of inUnit) writeCgroupFile(`${this.parent}/${SUPERVISOR}/cgroup.procs`, String(pid));
    }
  }

  /** Stops the unit when asked, it is ours, and no sandbox's cgroup is in it. */
  override tidy(options: { stopUnit?: boolean } = {}): { cgroups: string[]; units: string[] } {
    if (!options.stopUnit || this.list().length > 0) return { cgroups: [], units: [] };
    const st = this.manager.state(UNIT);
    if (st.active === 'inactive' || st.load !== 'loaded' || st.description !== UNIT_DESCRIPTION) return { cgroups: [], units: [] };
    this.manager.stop(UNIT);
    return { cgroups: [], units: [UNIT] };
  }

  /** Is the unit there (for doctor and the tests' leak guard)? */
  unitState(): UnitState {
    return this.manager.state(UNIT);
  }
}

/** The unit's cgroup if it exists (no systemd call): what `top` and the tests look at. */
export function unitCgroup(root = '/sys/fs/cgroup'): string | null {
  const d = `${root}/${SLICE}/${UNIT}`;
  return readText(`${d}/cgroup.controllers`) === null ? null : d;
}
