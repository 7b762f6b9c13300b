/**
 * bench:isolation — the noisy-neighbour table (src/runtime/isolation.ts): a victim in sandbox A,
 * a stressor in sandbox B (CPU, memory, disk, fork bomb, network send and receive), all pinned to
 * one CPU (claimed as CPU lessons claim theirs, src/runtime/cpuclaim.ts), each row measured with B
 * unlimited and with B limited. Prints one JSON object on stdout: per row the victim's rates (alone,
 * beside B unlimited, beside B limited), the degradations in %, the limit's kernel files, the probe,
 * and the 2013 cells we can source. BENCH_ROWS=cpu,memory picks rows; BENCH_WINDOW_S the window (1–5 s).
 * Needs root.
 */
import os from 'node:os';

import { cgroups, createLoopDevice, describeHolders, type LoopDevice, loopProblem, ISOLATION_STRESSORS, type IsolationStressor, measureIsolation } from '../src/runtime/index.js';
import { claimBenchCpu } from './cpu-claim.js';

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) {
    process.stderr.write('bench:isolation needs root (it creates cgroups, a loop device and network namespaces): run it with sudo\n');
    process.exit(1);
  }
  const wanted = (process.env.BENCH_ROWS ?? '').split(',').filter(Boolean);
  for (const w of wanted) {
    if (!(ISOLATION_STRESSORS as readonly string[]).includes(w)) {
      process.stderr.write(`BENCH_ROWS: unknown row "${w.slice(0, 40)}": use ${ISOLATION_STRESSORS.join(', ')}\n`);
      process.exit(2);
    }
  }
  const rows = (wanted.length ? wanted : ISOLATION_STRESSORS) as IsolationStressor[];
  const windowS = Number(process.env.BENCH_WINDOW_S ?? 1);
  if (!Number.isInteger(windowS) || windowS < 1 || windowS > 5) {
    process.stderr.write('BENCH_WINDOW_S: a whole number of seconds from 1 to 5\n');
    process.exit(2);
  }
  const claimed = await claimBenchCpu('bench isolation');
  const t0 = performance.now();
  let loop: LoopDevice | null = null;
  let diskWhy: string | null = null;
  try {
    if (rows.includes('disk')) {
      diskWhy = loopProblem();
      if (!diskWhy) loop = createLoopDevice(`iso-bench-${process.pid % 100000}`, 128 * 1024 * 1024, { purpose: 'bench isolation' });
    }
    const out = await measureIsolation({
      cpu: claimed.cpu,
      rows,
      windowS,
      disk: loop ? { path: loop.device, device: loop.majMin } : null,
      onProgress: (r, phase) => process.stderr.write(`${r.stressor}: ${phase}\n`),
    });
    for (const r of out) if (r.stressor === 'disk' && r.skipped && diskWhy) r.skipped = `no loop device: ${diskWhy}`;
    const limitedLower = out.filter((r) => r.unlimitedPct !== null && r.limitedPct !== null).map((r) => [r.stressor, r.limitedPct! < r.unlimitedPct!]);
    process.stdout.write(
      `${JSON.stringify(
        {
          rows: out,
          limited_lower: Object.fromEntries(limitedLower),
          window_s: windowS,
          seconds: Number(((performance.now() - t0) / 1000).toFixed(1)),
          pinned_cpu: claimed.cpu,
          cpu_claim: claimed.claim ? 'its own' : `shared with ${describeHolders(claimed.sharedWith)}`,
          host: { kernel: os.release(), cgroup: cgroups().layout, cpus: os.cpus().length, loadavg: os.loadavg().map((x) => Number(x.toFixed(2))) },
        },
        null,
        2,
      )}\n`,
    );
  } finally {
    loop?.destroy();
    claimed.claim?.release();
  }
}

await main();
