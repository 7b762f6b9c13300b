/**
 * Host responsiveness: how long this host takes to start a process and wait for it to finish
 * (fork + execve("/bin/true") + waitpid), timed again and again by a small perl loop that runs on
 * the host, outside every sandbox.
 *
 * Why this probe: a fork bomb hurts a host in two ways, by taking the CPU and by taking the
 * process table (and the locks every fork goes through). Starting a process needs both: the
 * scheduler must run the probe and its child, and the kernel must allocate a PID and copy a
 * process. When the host "freezes" under a fork bomb, this is what gets slow or fails.
 *
 * Why a separate process rather than Node's spawnSync: Node adds about a millisecond of its own
 * (pipes, libuv, a turn of the event loop) that would blur the number, and a separate process can
 * be pinned (taskset) to the CPU under test, which Node cannot do to itself. perl is on every
 * Debian and Ubuntu system (perl-base is essential) and has a high-resolution clock.
 */
import { spawn } from 'node:child_process';

/**
 * ARGV: runs (0 = until stopped), pause between runs in seconds, the longest it may live in
 * seconds, the pid of the Node process that must still be its parent, then cgroup.procs files to
 * join first (none = stay in Node's cgroup). Prints one line per run: milliseconds, or "fail"
 * when the host refused the fork.
 */
const PROBE_SCRIPT = `
use strict; use warnings; use Time::HiRes qw(time sleep);
$| = 1;
my ($runs, $pause, $maxs, $parent, @join) = @ARGV;
for my $f (@join) { open(my $fh, '>', $f) or die "join $f: $!\\n"; print $fh "$$\\n"; close($fh) or die "join $f: $!\\n" }
my $end = time + $maxs;
for (my $i = 0; $runs == 0 || $i < $runs; $i++) {
  last if time > $end || getppid() != $parent;
  my $t = time;
  my $pid = fork;
  if (!defined $pid) { print "fail\\n"; sleep 0.01; next }
  if ($pid == 0) { exec '/bin/true'; exit 127 }
  waitpid $pid, 0;
  printf "%.4f\\n", (time - $t) * 1000;
  sleep $pause if $pause > 0;
}
`;

export interface LatencySample {
  /** performance.now() when the line arrived (ms). */
  t: number;
  /** fork + exec + wait of /bin/true, in ms; null = the fork was refused. */
  ms: number | null;
}

export interface LatencyProbeOptions {
  /** Pin the probe to this CPU (taskset -c), e.g. the CPU a sandbox under test is pinned to. */
  cpu?: number;
  /** Pause between runs. Default 0. */
  intervalMs?: number;
  /** The probe ends on its own after this long, whatever happens to its parent. Default 120 s. */
  maxMs?: number;
  /**
   * Cgroup directories the probe joins before its first run (a sandbox's `cgroups().dirs(name)`),
   * so that it competes for the CPU as a sibling of other sandboxes: a cgroup's weight divides the
   * CPU only among the groups beside it, and the host's own processes are not beside them.
   */
  cgroupDirs?: readonly string[];
}

function probeArgv(runs: number, o: LatencyProbeOptions): string[] {
  const perl = [
    'perl',
    '-e',
    PROBE_SCRIPT,
    String(runs),
    String((o.intervalMs ?? 0) / 1000),
    String((o.maxMs ?? 120_000) / 1000),
    String(process.pid),
    ...(o.cgroupDirs ?? []).map((d) => `${d}/cgroup.procs`),
  ];
  return o.cpu === undefined ? perl : ['taskset', '-c', String(o.cpu), ...perl];
}

/** The command line a learner could type for the same probe. */
export function probeCommand(o: LatencyProbeOptions = {}): string {
  const join = o.cgroupDirs?.length ? `echo $$ | tee ${o.cgroupDirs.map((d) => `${d}/cgroup.procs`).join(' ')} >/dev/null; exec ` : '';
  return `${join}${o.cpu === undefined ? '' : `taskset -c ${o.cpu} `}perl -MTime::HiRes=time -e 'for (1..N) { $t = time; system "/bin/true"; print time - $t }'`;
}

/** A probe running in the background: every result, as it arrives. */
export class LatencyProbe {
  readonly samples: LatencySample[] = [];
  private child: ReturnType<typeof spawn> | null = null;
  private readonly done: Promise<void>;
  private finish!: () => void;

  constructor(runs: number, options: LatencyProbeOptions = {}) {
    this.done = new Promise((r) => (this.finish = r));
    const [cmd, ...args] = probeArgv(runs, options);
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'ignore'] });
    this.child = child;
    let buf = '';
    child.stdout!.on('data', (c: Buffer) => {
      buf += c.toString('utf8');
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (line) this.samples.push({ t: performance.now(), ms: line === 'fail' ? null : Number(line) });
      }
    });
    child.on('error', () => this.finish());
    child.on('close', () => {
      this.child = null;
      this.finish();
    });
  }

  get running(): boolean {
    return this.child !== null;
  }

  /** Resolves when the probe has exited (all its runs done, or stopped). */
  exited(): Promise<void> {
    return this.done;
  }

  /** Stops the probe (it is our own child: signalled through its ChildProcess handle). */
  stop(): Promise<void> {
    this.child?.kill('SIGKILL');
    return this.done;
  }

  /** Timings (ms) that arrived within the last `windowMs` (all if omitted); refused forks left out. */
  recent(windowMs?: number): number[] {
    const since = windowMs === undefined ? -Infinity : performance.now() - windowMs;
    return this.samples.filter((s) => s.t >= since && s.ms !== null).map((s) => s.ms!);
  }

  /** Forks the host refused while the probe ran. */
  get refused(): number {
    return this.samples.filter((s) => s.ms === null).length;
  }
}

/** Runs the probe `runs` times and returns each timing in ms (refused forks left out). */
export async function measureSpawnLatency(runs: number, options: LatencyProbeOptions = {}): Promise<number[]> {
  const p = new LatencyProbe(runs, options);
  await p.exited();
  return p.recent();
}

/** The q-quantile (0–1) of a list of numbers; null for an empty list. */
export function quantile(values: readonly number[], q: number): number | null {
  if (!values.length) return null;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
}
