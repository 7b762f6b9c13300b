/**
 * Test files that run whole lessons take turns. Two CPU lessons no longer need it to stay off each
 * other's core (each claims a CPU of its own, src/runtime/cpuclaim.ts, and their checks hold on a
 * shared one: test/resources/concurrent-learners.test.ts runs two at once on purpose), but a fork
 * bomb next to another file's lessons still makes the host-latency probe's before/after
 * comparison noisy, and the whole-course run compares the host's state before and after, which
 * another file's sandboxes would change. A lock directory with the holder's pid (a holder that
 * died is ignored) is enough between the test workers of one run.
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

/**
 * What `learn ID --auto --plain` ends with when everything passed: "Challenges: C of C done." (if
 * it has any), then "N of N checks passed. Lesson complete.", C and N counted from the lesson
 * itself (N: the guided steps' checks; a challenge passes only when all its checks do).
 */
export async function completeLine(id: string): Promise<RegExp> {
  const { loadLesson } = await import('../../src/lessons/engine.js');
  const lesson = await loadLesson(id);
  const n = lesson.steps.reduce((sum, s) => sum + (s.challenge ? 0 : s.checks.length), 0);
  const c = lesson.steps.filter((s) => s.challenge).length;
  // A step that cannot run on this host (Step.unavailable) is skipped and leaves the counts.
  const mayskip = lesson.steps.some((s) => s.unavailable);
  const challenges = !c ? '' : mayskip ? 'Challenges: (?<c>\\d+) of \\k<c> done\\.[\\s\\S]*' : `Challenges: ${c} of ${c} done\\.[\\s\\S]*`;
  const checks = mayskip
    ? `(?:${n} of ${n} checks passed|(?<n>\\d+) of \\k<n> checks passed, \\d+ steps? skipped \\(cannot run on this host: [^)]*\\))`
    : `${n} of ${n} checks passed`;
  return new RegExp(`${challenges}: ${checks}\\. Lesson complete\\.`);
}
