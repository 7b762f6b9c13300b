/**
 * bench:fork-bomb — a real fork bomb (`perl -e 'while (1) { fork() }'`) in a sandbox whose cgroup
 * has pids.max = 64, pinned to one CPU (the quietest at the start that no other session's CPU
 * lesson or benchmark holds: a CPU claim, src/runtime/cpuclaim.ts), each bounded by a 20 s
 * deadline. Five rounds, each: the host probe without a bomb, a bomb, the probe while it is full,
 * one kill. Interleaving the two conditions means drift in the machine's load (other people's
 * work) lands on both alike. Reported:
 *   peak          the highest pids.current seen (polled every ~5 ms while the bomb runs, plus
 *                 pids.peak where the kernel has it), over all rounds: never above pids.max
 *   refused       forks the kernel refused (pids.events "max") in one round, median of rounds
 *   teardown_ms   one kill of the whole cgroup (v2 cgroup.kill; v1 freeze, SIGKILL each, thaw)
 *                 until cgroup.procs is empty; median of rounds (each round in teardown_ms_all)
 *   host_probe_ms how long the host takes to fork + exec + wait /bin/true (src/runtime/latency.ts),
 *                 by a host process pinned to the SAME CPU as the bomb: the hardest place for it,
 *                 and out of reach of load on the other CPUs; 40 runs per condition per round
 *   with_weight   the same bomb with the lowest CPU weight (1 on the v2 scale: cpu.weight 1, v1
 *                 cpu.shares 10), as OpenVZ's fair scheduler gave a container; the probe, still
 *                 pinned to the bomb's CPU, now runs in a sibling sandbox of the bomb's at the
 *                 default weight (a neighbour). A weight divides a CPU only among the groups beside
 *                 each other: the bomb's cgroup is under sandbox/, and the host's own processes are
 *                 not its siblings (on v1 every task of the root cgroup counts as one more entity
 *                 at the root, against the whole sandbox/ group), so the probe where the first
 *                 figures take it cannot gain from the bomb's weight; five rounds, each: the probe
 *                 without a bomb, a bomb that gets weight 1 once full, the probe while it is full, one kill
 *   host_with_weight  the host's own probe again (this program's cgroup, pinned to the bomb's CPU),
 *                 the bomb at weight 1 and the parent of every sandbox (sandbox/, or the group
 *                 systemd delegates) at weight 1 too: the parent is the bomb's only ancestor the
 *                 host's processes are siblings of, so the weight that shields the host goes there
 *                 (on a systemd machine, the unit's CPUWeight= does it one level up). The parent's
 *                 weight is put back after each round (and on a signal); five rounds
 * Prints one JSON object on stdout. Needs root.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';

import {
  cgroupFile,
  cgroups,
  createForkBomb,
  type ForkBomb,
  LatencyProbe,
  measureSpawnLatency,
  describeHolders,
  quantile,
  Sandbox,
  weightToShares,
} from '../src/runtime/index.js';
import { claimBenchCpu } from './cpu-claim.js';

const PIDS = Number(process.env.BENCH_PIDS ?? 64);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const RUNS = Number(process.env.BENCH_RUNS ?? 40);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const r3 = (x: number | null) => (x === null ? null : Number(x.toFixed(3)));

interface Round {
  baseline: number[];
  during: number[];
  peak: number;
  refused: number;
  teardownMs: number;
  killed: number;
  left: number;
  fillMs: number;
  probeRefused: number;
}

/** The bomb's weight in the with_weight rounds: the lowest there is (v2 scale). */
const LOW_WEIGHT = 1;

/** The parent's weight file (every sandbox's cgroup is under it), where the controller has one. */
function parentWeightFile(): string | null {
  const file = cgroups().version === 1 ? 'cpu.shares' : 'cpu.weight';
  return cgroups().parents().map((p) => `${p}/${file}`).find((f) => fs.existsSync(f)) ?? null;
}

/** The parent's weight before this program lowered it, to put back: [file, value]. */
let parentRestore: [string, string] | null = null;
function restoreParentWeight(): void {
  if (!parentRestore) return;
  const [file, value] = parentRestore;
  parentRestore = null;
  // The parent goes away with its last sandbox (and comes back with the default weight).
  if (fs.existsSync(file)) fs.writeFileSync(file, value);
}

/**
 * One round. `mode`: 'pids', the probe stays in this program's cgroup and the bomb gets no weight;
 * an array, the probe joins these cgroup directories (a sibling sandbox's) and the bomb gets
 * LOW_WEIGHT; 'parent', the probe stays in this program's cgroup and both the bomb and the parent
 * of every sandbox get LOW_WEIGHT.
 */
async function round(cpu: number, track: (b: ForkBomb | null) => void, mode: 'pids' | 'parent' | readonly string[]): Promise<Round> {
  const neighbour = Array.isArray(mode) ? (mode as readonly string[]) : undefined;
  const where = { cpu, cgroupDirs: neighbour };
  const baseline = await measureSpawnLatency(RUNS, where);
  const bomb = await createForkBomb({
    pids: PIDS,
    cpus: String(cpu),
    deadlineMs: 20_000,
    purpose: 'bench',
  });
  track(bomb);
  try {
    const name = bomb.sandbox.name;
    const cg = cgroups();
    let peak = 0;
    const poll = () => {
      const u = cg.usage(name);
      peak = Math.max(peak, u.pidsCurrent ?? 0);
      return u;
    };
    // Full: the population reached pids.max and the kernel has started refusing.
    const t0 = performance.now();
    for (let u = poll(); !(u.pidsCurrent === PIDS && (u.pidsRefused ?? 0) > 0); u = poll()) {
      if (performance.now() - t0 > 10_000) throw new Error(`the bomb did not reach pids.max ${PIDS} in 10 s (pids.current ${u.pidsCurrent})`);
      await sleep(1);
    }
    const fillMs = performance.now() - t0;
    // The weight after the fill: at weight 1 the bomb would take long to fill beside other
    // sandboxes that want the CPU (other sessions' lessons), and the figure is about a full bomb.
    if (mode !== 'pids') bomb.sandbox.setLimits({ cpuWeight: LOW_WEIGHT });
    if (mode === 'parent') {
      const file = parentWeightFile();
      if (!file) throw new Error('the parent cgroup of the sandboxes has no cpu weight file (no cpu controller?)');
      parentRestore = [file, fs.readFileSync(file, 'utf8').trim()];
      fs.writeFileSync(file, cgroups().version === 1 ? String(weightToShares(LOW_WEIGHT)) : String(LOW_WEIGHT));
    }
    const probe = new LatencyProbe(RUNS, where);
    while (probe.running) {
      poll();
      await sleep(5);
    }
    const u = poll();
    const peakFile = cgroupFile(name, 'pids.peak');
    if (peakFile) peak = Math.max(peak, Number(fs.readFileSync(peakFile, 'utf8').trim()));
    const kill = bomb.kill();
    restoreParentWeight();
    return {
      baseline,
      during: probe.recent(),
      peak,
      refused: u.pidsRefused ?? 0,
      teardownMs: kill.ms,
      killed: kill.killed,
      left: kill.left,
      fillMs,
      probeRefused: probe.refused,
    };
  } finally {
    restoreParentWeight();
    await bomb.dispose();
    track(null);
  }
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) {
    process.stderr.write('bench:fork-bomb needs root (it creates cgroups): run it with sudo\n');
    process.exit(1);
  }
  let live: ForkBomb | null = null;
  let neighbour: Sandbox | null = null;
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () =>
      void Promise.resolve(restoreParentWeight())
        .then(() => (live ? live.dispose() : undefined))
        .then(() => neighbour?.destroy())
        .finally(() => process.exit(130)),
    );
  }
  const claimed = await claimBenchCpu('bench fork-bomb');
  const cpu = claimed.cpu;
  // This program polls the bomb's cgroup every 5 ms while the probe runs, and not while it takes
  // the baseline: on the probe's CPU that polling would be charged to the bomb. So it moves itself
  // (every thread) off that CPU; the bomb (its cpuset) and the probe (taskset) are pinned to it.
  const away = os.cpus().map((_, i) => i).filter((i) => i !== cpu);
  const movedAway = away.length > 0 && spawnSync('taskset', ['-a', '-p', '-c', away.join(','), String(process.pid)], { stdio: 'ignore' }).status === 0;
  const rounds: Round[] = [];
  const weighted: Round[] = [];
  const hostWeighted: Round[] = [];
  const parentFile = parentWeightFile() ?? cgroups().parents()[0];
  try {
    for (let i = 0; i < ROUNDS; i++) rounds.push(await round(cpu, (b) => (live = b), 'pids'));
    neighbour = await Sandbox.create({ namespaces: [], purpose: 'bench', command: ['sleep', '3600'], stdio: 'ignore' });
    const dirs = cgroups().dirs(neighbour.name);
    for (let i = 0; i < ROUNDS; i++) weighted.push(await round(cpu, (b) => (live = b), dirs));
    await neighbour.destroy();
    neighbour = null;
    for (let i = 0; i < ROUNDS; i++) hostWeighted.push(await round(cpu, (b) => (live = b), 'parent'));
  } finally {
    await neighbour?.destroy();
    claimed.claim?.release();
  }
  const wBase = quantile(
    weighted.flatMap((r) => r.baseline),
    0.5,
  )!;
  const wDuring = quantile(
    weighted.flatMap((r) => r.during),
    0.5,
  )!;

  const hBase = quantile(hostWeighted.flatMap((r) => r.baseline), 0.5)!;
  const hDuring = quantile(hostWeighted.flatMap((r) => r.during), 0.5)!;

  const baseline = rounds.flatMap((r) => r.baseline);
  const during = rounds.flatMap((r) => r.during);
  const base50 = quantile(baseline, 0.5)!;
  const during50 = quantile(during, 0.5)!;
  const teardown = quantile(
    rounds.map((r) => r.teardownMs),
    0.5,
  )!;
  const peak = Math.max(...rounds.map((r) => r.peak));
  const out = {
    pids_max: PIDS,
    peak,
    refused: quantile(
      rounds.map((r) => r.refused),
      0.5,
    ),
    teardown_ms: r3(teardown),
    host_probe_ms: {
      baseline_p50: r3(base50),
      during_p50: r3(during50),
      during_p99: r3(quantile(during, 0.99)),
      baseline_p99: r3(quantile(baseline, 0.99)),
      runs: [baseline.length, during.length],
      host_forks_refused: rounds.reduce((s, r) => s + r.probeRefused, 0),
    },
    with_weight: {
      baseline_p50: r3(wBase),
      during_p50: r3(wDuring),
      ratio: r3(wDuring / wBase),
      during_p99: r3(quantile(
        weighted.flatMap((r) => r.during),
        0.99,
      )),
      runs: [weighted.flatMap((r) => r.baseline).length, weighted.flatMap((r) => r.during).length],
      bomb_weight: cgroups().version === 1 ? `cpu.shares ${weightToShares(LOW_WEIGHT)} (weight ${LOW_WEIGHT})` : `cpu.weight ${LOW_WEIGHT}`,
      probe: 'pinned to the bomb\'s CPU, in a sibling sandbox of the bomb\'s at the default weight',
      peak: Math.max(...weighted.map((r) => r.peak)),
    },
    host_with_weight: {
      baseline_p50: r3(hBase),
      during_p50: r3(hDuring),
      ratio: r3(hDuring / hBase),
      during_p99: r3(quantile(hostWeighted.flatMap((r) => r.during), 0.99)),
      runs: [hostWeighted.flatMap((r) => r.baseline).length, hostWeighted.flatMap((r) => r.during).length],
      weights: `the bomb and ${parentFile} at weight ${LOW_WEIGHT}${cgroups().version === 1 ? ` (cpu.shares ${weightToShares(LOW_WEIGHT)})` : ''}, put back after each round`,
      probe: 'pinned to the bomb\'s CPU, in this program\'s own cgroup (the host\'s)',
      peak: Math.max(...hostWeighted.map((r) => r.peak)),
    },
    rounds: ROUNDS,
    teardown_ms_all: rounds.map((r) => r3(r.teardownMs)),
    killed: rounds.map((r) => r.killed),
    left: rounds.map((r) => r.left),
    fill_ms: rounds.map((r) => r3(r.fillMs)),
    kill_method: cgroups().killMethod(),
    pinned_cpu: cpu,
    bench_process_cpus: movedAway ? away.join(',') : 'all (it could not move off the bomb\'s CPU)',
    cpu_claim: claimed.claim ? 'its own' : `shared with ${describeHolders(claimed.sharedWith)}`,
    host: { kernel: os.release(), cgroup: cgroups().layout, cpus: os.cpus().length, loadavg: os.loadavg().map((x) => Number(x.toFixed(2))) },
    goal: 'peak <= pids_max, teardown_ms <= 50, with_weight.during_p50 <= 1.2 x with_weight.baseline_p50 (host_with_weight: measured, no goal)',
    goal_met: peak <= PIDS && teardown <= 50 && wDuring <= 1.2 * wBase,
    pids_only_ratio: r3(during50 / base50),
  };
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
}

await main();
