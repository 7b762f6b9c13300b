/**
 * bench:cpu-split — how exactly CPU weights divide a busy CPU. Two sandboxes, both pinned to the
 * same CPU (cpuset) and both burning it (`while :; do :; done`), get weights 25 and 75; after a
 * second of warm-up, each one's CPU time is read from its cgroup (cpuacct.usage on v1, cpu.stat
 * usage_usec on v2) at the start and end of a 5 s window, and its share of the sum is compared
 * with the target.
 *
 * Why a share of the sum and one pinned CPU: on a machine where other work runs, that work takes
 * some of the pinned CPU too, but the weights govern how the two sandboxes divide whatever their
 * parent group gets there; load on the other CPUs cannot reach them at all. The pinned CPU is
 * the quietest one at the start that no other session's CPU lesson or benchmark holds (a CPU
 * claim, src/runtime/cpuclaim.ts; while all are held it waits up to a minute, then shares one and
 * says so in `cpu_claim`). Prints one JSON object on stdout. Needs root.
 */
import os from 'node:os';

import { cgroups, describeHolders, measureCpu, Sandbox } from '../src/runtime/index.js';
import { claimBenchCpu } from './cpu-claim.js';

const WINDOW_S = Number(process.env.BENCH_WINDOW_S ?? 5);
const TARGET = [25, 75] as const;
const BURN = ['sh', '-c', 'while :; do :; done'];

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) {
    process.stderr.write('bench:cpu-split needs root (it creates cgroups): run it with sudo\n');
    process.exit(1);
  }
  const claimed = await claimBenchCpu('bench cpu-split');
  const cpu = claimed.cpu;
  const made: Sandbox[] = [];
  const cleanup = async () => {
    for (const s of made) await s.destroy().catch(() => s.destroySync());
    claimed.claim?.release();
  };
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => void cleanup().then(() => process.exit(130)));
  }
  try {
    for (const weight of TARGET) {
      made.push(
        await Sandbox.create({
          namespaces: ['pid'],
          limits: { cpus: String(cpu), cpuWeight: weight },
          command: BURN,
          stdio: 'ignore',
          purpose: 'bench',
        }),
      );
    }
    const written = made.flatMap((s) =>
      s.explain.filter((e) => e.what === 'limit').map((e) => `${s.name}: ${e.command.replace(/^echo (\S+) > .*\/([^/]+)$/, '$2 = $1')}`),
    );
    await new Promise((r) => setTimeout(r, 1000));
    const m = await measureCpu(
      made.map((s) => s.name),
      WINDOW_S * 1000,
    );
    const measured = m.shares.map((x) => Number(x.toFixed(2)));
    const error = Number(Math.max(...measured.map((x, i) => Math.abs(x - TARGET[i]))).toFixed(2));
    const out = {
      target: [...TARGET],
      measured,
      window_s: Number((m.windowMs / 1000).toFixed(2)),
      error_pp: error,
      pinned_cpu: cpu,
      cpu_claim: claimed.claim ? 'its own' : `shared with ${describeHolders(claimed.sharedWith)}`,
      // What each got of the pinned CPU's wall time: the rest went to other work on that CPU.
      percent_of_cpu: m.percentOfCpu.map((x) => Number(x.toFixed(1))),
      written,
      host: { kernel: os.release(), cgroup: cgroups().layout, cpus: os.cpus().length, loadavg: os.loadavg().map((x) => Number(x.toFixed(2))) },
      goal: 'error_pp <= 2',
      goal_met: error <= 2,
    };
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  } finally {
    await cleanup();
  }
}

await main();
