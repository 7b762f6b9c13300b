/** `sandbox cleanup`: remove what crashed or killed sessions left behind. */
import { describeHolders, formatError, isAlive, notRootError, readCpuClaims, readEntries, sweep, sweepCpuClaims } from '../runtime/index.js';
import { formatSweep } from './format.js';

export function cleanupCommand(): number {
  if (process.getuid?.() !== 0) {
    process.stderr.write(`${formatError(notRootError('sandbox cleanup'))}\n`);
    return 1;
  }
  try {
    // Only here, not in the sweep every session starts with, is sandbox's systemd unit stopped.
    const report = sweep({ stopUnit: true });
    const lines = formatSweep(report);
    // CPU claims (/run/sandbox/cpu-claims) of dead sessions: stale already, removed for tidiness.
    const claims = sweepCpuClaims();
    if (claims.length) lines.push(`Removed the CPU claims of ended sessions: ${describeHolders(claims)}`);
    process.stdout.write(lines.length ? `${lines.join('\n')}\n` : 'Nothing to clean up: no sandbox of a dead session is left.\n');
    const busy = readEntries().filter((e) => isAlive(e.owner));
    if (busy.length) {
      process.stdout.write(
        `Left alone (their sessions are still running): ${busy.map((e) => `${e.name} (pid ${e.owner.pid})`).join(', ')}\n`,
      );
    }
    const holders = readCpuClaims().filter((c) => c.alive);
    if (holders.length) process.stdout.write(`CPUs held by running CPU lessons or benchmarks: ${describeHolders(holders)}\n`);
    return 0;
  } catch (err) {
    process.stderr.write(`${formatError(err)}\n`);
    return 1;
  }
}
