/**
 * Test files that run whole lessons take turns: two copies of cgroups-cpu pinned to the same core,
 * or a fork bomb next to the host-latency probe of another, would make each other's measurements
 * meaningless, and their sandboxes would compete for the same names. A lock directory with the
 * holder's pid (a holder that died is ignored) is enough between the test workers of one run.
 */
import fs from 'node:fs';

const LOCK = '/tmp/sandbox-tests-lessons.lock';

function holderAlive(): boolean {
  try {
    const pid = Number(fs.readFileSync(`${LOCK}/pid`, 'utf8'));
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export async function acquireLessonLock(timeoutMs = 600_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      fs.mkdirSync(LOCK);
      fs.writeFileSync(`${LOCK}/pid`, String(process.pid));
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      if (fs.existsSync(`${LOCK}/pid`) && !holderAlive()) fs.rmSync(LOCK, { recursive: true, force: true });
      if (Date.now() > end) throw new Error(`waited ${timeoutMs / 1000} s for ${LOCK}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

export function releaseLessonLock(): void {
  try {
    if (Number(fs.readFileSync(`${LOCK}/pid`, 'utf8')) === process.pid) fs.rmSync(LOCK, { recursive: true, force: true });
  } catch {
    /* not ours, or already gone */
  }
}
