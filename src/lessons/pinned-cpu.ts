/**
 * The CPU a lesson pins its demonstration to (cgroups-cpu, fork-bomb), claimed for the lesson's
 * lifetime through the runtime's CPU claims (src/runtime/cpuclaim.ts): the quietest CPU that no
 * other session's CPU lesson or benchmark holds, so that two learners on one host get a CPU each.
 * While every CPU is held the lesson waits and says so, as it happens (the live view's caption in
 * the full-screen UI, a line with --plain); after CPU_WAIT_MS it shares the quietest CPU rather
 * than give up. Its checks are built to hold on a shared CPU too: they compare the lesson's own
 * sandboxes with each other, or with what other work left of the CPU.
 */
import { claimQuietestCpu, type CpuAssignment, cpuHolders, describeHolders, CPU_CLAIM_DIR, type CpuHolder } from '../runtime/index.js';
import type { LessonContext } from './context.js';

/** How long a lesson waits for a CPU while every one is held, before it shares one. */
export const CPU_WAIT_MS = 60_000;
/** How often the line printer repeats the waiting message. */
const NOTE_EVERY_MS = 10_000;

const ASSIGNMENT = 'cpu.assignment';
const WAITING = 'cpu.waiting';

/** "another learner is using CPU 0 and 1 for a CPU lesson or benchmark (…); waiting…" */
export function waitingMessage(holders: readonly CpuHolder[], waitedMs: number, waitMs = CPU_WAIT_MS): string {
  const cpus = holders.map((h) => String(h.cpu));
  const list = cpus.length <= 1 ? (cpus[0] ?? '') : `${cpus.slice(0, -1).join(', ')} and ${cpus.at(-1)}`;
  return (
    `another learner is using CPU ${list} for a CPU lesson or benchmark: ${describeHolders(holders)}. ` +
    `Waiting for one to finish: ${Math.round(waitedMs / 1000)} s so far, at most ${Math.round(waitMs / 1000)} s, then this lesson shares the quietest CPU…`
  );
}

/** The waiting message while the lesson waits for a CPU, for a live view's caption; else null. */
export function cpuWaiting(ctx: LessonContext): string | null {
  return (ctx.state.get(WAITING) as string | undefined) ?? null;
}

/** The CPU the lesson holds (or shares), once pinnedCpu() has returned. */
export function lessonCpu(ctx: LessonContext): number | undefined {
  return (ctx.state.get(ASSIGNMENT) as CpuAssignment | undefined)?.cpu;
}

/**
 * Claims the lesson's CPU (once; later calls return the same one), logs how it was chosen, and
 * releases it when the lesson closes, after destroying the sandboxes pinned to it.
 */
export async function pinnedCpu(ctx: LessonContext, what: string, waitMs = CPU_WAIT_MS): Promise<number> {
  const have = ctx.state.get(ASSIGNMENT) as CpuAssignment | undefined;
  if (have && (have.claim === null || !have.claim.isReleased)) return have.cpu;
  let noted = -Infinity;
  let a: CpuAssignment;
  try {
    a = await claimQuietestCpu({
      purpose: `lesson ${ctx.lessonId}`,
      waitMs,
      aborted: () => ctx.isClosed,
      onWait: (holders, waitedMs) => {
        const msg = waitingMessage(holders, waitedMs, waitMs);
        ctx.state.set(WAITING, msg);
        if (waitedMs - noted >= NOTE_EVERY_MS) {
          noted = waitedMs;
          ctx.progress(msg);
        }
      },
    });
  } finally {
    ctx.state.delete(WAITING);
  }
  ctx.state.set(ASSIGNMENT, a);
  ctx.defer(async () => {
    // The sandboxes first: another session may take the CPU as soon as the claim is gone.
    for (const [key] of ctx.all()) await ctx.destroy(key).catch(() => undefined);
    a.claim?.release();
  });
  const others = [...cpuHolders().values()];
  const waited = a.waitedMs >= 1000 ? `after waiting ${Math.round(a.waitedMs / 1000)} s, ` : '';
  if (a.claim) {
    ctx.log({
      command: `ls ${CPU_CLAIM_DIR}`,
      output: [a.claim.file, ...others.map((h) => h.file)].map((f) => f.slice(f.lastIndexOf('/') + 1)).join('  '),
    });
    ctx.log({
      note:
        `${waited}CPU ${a.cpu} is the quietest CPU of this host that no other CPU lesson is using` +
        `${others.length ? `; taken: ${describeHolders(others)}` : ''}. ${what} pinned to it; this lesson holds it (file <cpu>-<pid>-<start>) until it ends`,
    });
  } else {
    ctx.log({
      note:
        `no CPU came free in ${Math.round(a.waitedMs / 1000)} s: ${what.charAt(0).toLowerCase()}${what.slice(1)} pinned to CPU ${a.cpu}, the quietest, ` +
        `${a.sharedWith.length ? `shared with ${describeHolders(a.sharedWith)}` : 'shared with another CPU lesson'}. ` +
        'The checks compare this lesson\'s sandboxes with each other and with what other work leaves, so they still hold; the figures show the other work.',
    });
  }
  return a.cpu;
}
