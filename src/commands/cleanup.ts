/** `sandbox cleanup`: remove what crashed or killed sessions left behind. */
import { formatError, isAlive, notRootError, readEntries, sweep } from '../runtime/index.js';
import { formatSweep } from './format.js';

export function cleanupCommand(): number {
  if (process.getuid?.() !== 0) {
    process.stderr.write(`${formatError(notRootError('sandbox cleanup'))}\n`);
    return 1;
  }
  try {
    const report = sweep();
    const lines = formatSweep(report);
    process.stdout.write(lines.length ? `${lines.join('\n')}\n` : 'Nothing to clean up: no sandbox of a dead session is left.\n');
    const busy = readEntries().filter((e) => isAlive(e.owner));
    if (busy.length) {
      process.stdout.write(
        `Left alone (their sessions are still running): ${busy.map((e) => `${e.name} (pid ${e.owner.pid})`).join(', ')}\n`,
      );
    }
    return 0;
  } catch (err) {
    process.stderr.write(`${formatError(err)}\n`);
    return 1;
  }
}
