/**
 * A CPU of the benchmark's own, claimed as the CPU lessons claim theirs, so that a benchmark never
 * shares a core with a learner's CPU lesson (or another benchmark) and skews both. While every CPU
 * is held, says so on stderr every 10 s.
 */
import { claimQuietestCpu, describeHolders } from '../src/runtime/index.js';

export function claimBenchCpu(purpose: string): ReturnType<typeof claimQuietestCpu> {
  let told = -Infinity;
  return claimQuietestCpu({
    purpose,
    onWait: (holders, waited) => {
      if (waited - told < 10_000) return;
      told = waited;
      process.stderr.write(`every CPU is held by another CPU lesson or benchmark (${describeHolders(holders)}): waiting, ${Math.round(waited / 1000)} s so far…\n`);
    },
  });
}
