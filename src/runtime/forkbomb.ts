/**
 * A real fork bomb, made safe to demonstrate: it only ever runs inside a sandbox whose cgroup has
 * a `pids.max` the kernel enforces (read back from the kernel's own file, not taken on trust), at
 * most FORK_BOMB_MAX_PIDS, and it is bounded in time: a deadline ends it whatever else happens.
 * Node's exit, an exception, Ctrl-C in a lesson: each path ends in Sandbox.destroy(), which kills
 * the whole cgroup.
 *
 * The payload is `perl -e 'while (1) { fork() }'`: every copy forks forever and survives a
 * refused fork (a shell function bomb exits at its first failed fork and thins itself out), so
 * the population stays at pids.max and the kernel refuses forks for as long as it runs.
 */
import { cgroups } from './cgroup/index.js';
import { SandboxError, usageError } from './errors.js';
import { Sandbox, type SandboxOptions } from './sandbox.js';

/** The highest pids.max a demonstration may use: enough to see, far below any host's pid_max. */
export const FORK_BOMB_MAX_PIDS = 1024;
export const FORK_BOMB_COMMAND = ['perl', '-e', 'while (1) { fork() }'];
/** The deadline when none is given. */
export const FORK_BOMB_DEFAULT_DEADLINE_MS = 30_000;

export interface KillReport {
  /** How long the one kill took: from the first write until the cgroup was empty. */
  ms: number;
  /** Processes that were in the cgroup. */
  killed: number;
  /** The kernel files written, e.g. "cgroup.kill = 1". */
  method: string;
  /** Processes still in the cgroup afterwards (0 unless something went badly wrong). */
  left: number;
}

export interface ForkBombOptions {
  /** Ends the bomb this long after it starts, whatever else happens. Default 30 s. */
  deadlineMs?: number;
}

function noLimitError(name: string, pidsMax: number | null): SandboxError {
  return usageError(
    pidsMax === null
      ? `refusing to start a fork bomb in sandbox ${name}: its cgroup has no pids.max`
      : `refusing to start a fork bomb in sandbox ${name}: pids.max ${pidsMax} is above the ${FORK_BOMB_MAX_PIDS} a demonstration may use`,
    `create the sandbox with a process limit of at most ${FORK_BOMB_MAX_PIDS}, e.g. limits: { pids: 64 } (sandbox run --pids 64)`,
    'E_NO_PIDS_LIMIT',
  );
}

/** A fork bomb running in a sandbox, with its deadline armed. */
export class ForkBomb {
  readonly sandbox: Sandbox;
  /** pids.max as the kernel reported it when the bomb was started. */
  readonly pidsMax: number;
  /** performance.now() at the start, and when the deadline ends it. */
  readonly startedAt: number;
  readonly deadlineAt: number;
  private timer: NodeJS.Timeout | null;
  private ended: KillReport | null = null;
  private how: 'killed' | 'deadline' | null = null;

  constructor(sandbox: Sandbox, pidsMax: number, deadlineMs: number) {
    this.sandbox = sandbox;
    this.pidsMax = pidsMax;
    this.startedAt = performance.now();
    this.deadlineAt = this.startedAt + deadlineMs;
    // unref: if the program exits first, Sandbox's exit hook destroys the sandbox anyway.
    this.timer = setTimeout(() => {
      this.timer = null;
      if (this.how) return;
      this.how = 'deadline';
      try {
        this.kill();
      } finally {
        void sandbox.destroy().catch(() => sandbox.destroySync());
      }
    }, deadlineMs);
    this.timer.unref();
  }

  /** How it ended: "killed" (kill()), "deadline", or null while it runs. */
  get endedBy(): 'killed' | 'deadline' | null {
    return this.how;
  }

  /** Still running: neither killed nor past its deadline, and its cgroup still exists. */
  get active(): boolean {
    return this.how === null && !this.sandbox.isDestroyed && cgroups().exists(this.sandbox.name);
  }

  /**
   * Ends every process in the sandbox's cgroup with one kill (v2: cgroup.kill; v1: freeze, SIGKILL
   * each, thaw), timed. The sandbox's cgroup is left in place (empty) for a look afterwards;
   * Sandbox.destroy() removes it. Idempotent: later calls return the first report.
   */
  kill(): KillReport {
    if (this.ended) return this.ended;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const cg = cgroups();
    const name = this.sandbox.name;
    const method = cg.killMethod();
    if (this.sandbox.isDestroyed || !cg.exists(name)) {
      this.ended = { ms: 0, killed: 0, method, left: 0 };
    } else {
      const t0 = performance.now();
      const killed = cg.kill(name);
      const ms = performance.now() - t0;
      this.ended = { ms, killed, method, left: cg.procs(name).length };
    }
    this.how ??= 'killed';
    return this.ended;
  }

  /** Kills it (if still running) and destroys the sandbox. */
  async dispose(): Promise<KillReport> {
    const r = this.kill();
    await this.sandbox.destroy();
    return r;
  }
}

/**
 * Starts a fork bomb inside an existing sandbox. Refuses (E_NO_PIDS_LIMIT), before anything runs,
 * unless the kernel reports a pids.max of at most FORK_BOMB_MAX_PIDS for the sandbox's cgroup. At
 * the deadline every process in the cgroup is killed and the sandbox destroyed.
 */
export async function startForkBomb(sandbox: Sandbox, options: ForkBombOptions = {}): Promise<ForkBomb> {
  if (!sandbox.hasCgroup) throw noLimitError(sandbox.name, null);
  const pidsMax = cgroups().usage(sandbox.name).pidsMax;
  if (pidsMax === null || pidsMax > FORK_BOMB_MAX_PIDS) throw noLimitError(sandbox.name, pidsMax);
  const deadlineMs = options.deadlineMs ?? FORK_BOMB_DEFAULT_DEADLINE_MS;
  if (!(deadlineMs > 0 && deadlineMs <= 600_000)) throw usageError(`fork bomb deadline ${deadlineMs} ms: out of range`, 'give it 1 ms to 10 minutes');
  // Armed before the payload starts: from here on, the deadline ends it.
  const bomb = new ForkBomb(sandbox, pidsMax, deadlineMs);
  try {
    await sandbox.exec(FORK_BOMB_COMMAND, { stdio: 'ignore' });
  } catch (err) {
    bomb.kill();
    throw err;
  }
  return bomb;
}

export interface CreateForkBombOptions extends ForkBombOptions, Pick<SandboxOptions, 'name' | 'purpose'> {
  /** pids.max for the sandbox: required, 1..FORK_BOMB_MAX_PIDS. */
  pids: number;
  /** Pin it to these CPUs (cpuset), e.g. "1". */
  cpus?: string;
  /** Its CPU weight (v2 scale). */
  cpuWeight?: number;
  /** Creates the sandbox (e.g. a lesson's tracked ctx.sandbox). Default Sandbox.create. */
  create?: (options: SandboxOptions) => Promise<Sandbox>;
}

/**
 * Creates a sandbox limited to `pids` processes (sandbox-init as PID 1, in new pid and mount
 * namespaces) and starts a fork bomb in it, with the same deadline.
 */
export async function createForkBomb(options: CreateForkBombOptions): Promise<ForkBomb> {
  const { pids } = options;
  if (!Number.isInteger(pids) || pids < 2 || pids > FORK_BOMB_MAX_PIDS) {
    throw usageError(
      `refusing to create a fork bomb with pids.max ${pids}`,
      `give it a process limit from 2 to ${FORK_BOMB_MAX_PIDS} (PID 1 counts as one), e.g. 64`,
      'E_NO_PIDS_LIMIT',
    );
  }
  const create = options.create ?? ((o: SandboxOptions) => Sandbox.create(o));
  const sandbox = await create({
    name: options.name,
    purpose: options.purpose ?? 'fork-bomb',
    namespaces: ['pid', 'mount'],
    init: true,
    stdio: 'ignore',
    limits: { pids, cpus: options.cpus, cpuWeight: options.cpuWeight },
  });
  try {
    return await startForkBomb(sandbox, options);
  } catch (err) {
    await sandbox.destroy();
    throw err;
  }
}
