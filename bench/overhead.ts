/**
 * bench:overhead — the cost of a container, as ratios measured in one run (src/runtime/overhead.ts):
 *   ctx       context switch time (µs, lmbench lat_ctx style, the ring's own work subtracted) by
 *             process size (0, 16, 32 KB) and count (2, 10, 100, 500), host vs a sandbox with new
 *             pid, mount, uts, ipc and net namespaces and a cgroup of its own; both pinned to the
 *             same CPU (claimed as the CPU lessons claim theirs), interleaved host, sandbox,
 *             sandbox, host, BENCH_ROUNDS times; the median of each side
 *   syscall   getppid() in a tight loop (ns per call), same pairing
 *   spawn     fork + execve + wait of a static program (µs), same pairing
 *   net       TCP stream throughput (iperf3, BENCH_NET_SECONDS s a run, the best of BENCH_ROUNDS
 *             interleaved rounds) between two network namespaces over loopback, veth, macvlan and
 *             VLAN (a link this kernel cannot make is reported with the reason); ratio = the link /
 *             loopback, every device at MTU 1500
 * Each row has the lecture's (2013) figure or claim beside it. Prints one JSON object on stdout.
 * Needs root. BENCH_MS sets each context-switch window (default 150 ms).
 */
import os from 'node:os';

import { cgroups, describeHolders, measureOverhead, type OverheadRow } from '../src/runtime/index.js';
import { claimBenchCpu } from './cpu-claim.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const MS = Number(process.env.BENCH_MS ?? 150);
const NET_SECONDS = Number(process.env.BENCH_NET_SECONDS ?? 2);

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) {
    process.stderr.write('bench:overhead needs root (it creates namespaces and cgroups): run it with sudo\n');
    process.exit(1);
  }
  const claimed = await claimBenchCpu('bench overhead');
  const t0 = performance.now();
  let rows: OverheadRow[];
  try {
    rows = await measureOverhead({ cpu: claimed.cpu, rounds: ROUNDS, ms: MS, netSeconds: NET_SECONDS, onRow: (r) => process.stderr.write(`${r.group} ${r.label}: ${r.host} → ${r.sandbox} ${r.unit} (×${r.ratio})\n`) });
  } finally {
    claimed.claim?.release();
  }
  const ratios = (g: OverheadRow['group']) => rows.filter((r) => r.group === g && r.ratio !== null).map((r) => r.ratio!);
  const geo = (xs: number[]) => (xs.length ? Number(Math.exp(xs.reduce((s, x) => s + Math.log(x), 0) / xs.length).toFixed(3)) : null);
  const out = {
    ctx_ratio_geomean: geo(ratios('ctx')),
    syscall_ratio: ratios('syscall')[0] ?? null,
    spawn_ratio: ratios('spawn')[0] ?? null,
    net_ratio: Object.fromEntries(rows.filter((r) => r.group === 'net' && r.label !== 'loopback').map((r) => [r.label, r.ratio])),
    rows,
    rounds: ROUNDS,
    ctx_window_ms: MS,
    net_seconds: NET_SECONDS,
    pinned_cpu: claimed.cpu,
    cpu_claim: claimed.claim ? 'its own' : `shared with ${describeHolders(claimed.sharedWith)}`,
    took_s: Number(((performance.now() - t0) / 1000).toFixed(1)),
    host: { kernel: os.release(), cgroup: cgroups().layout, cpus: os.cpus().length, cpu: os.cpus()[0]?.model, loadavg: os.loadavg().map((x) => Number(x.toFixed(2))) },
  };
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
}

await main();
