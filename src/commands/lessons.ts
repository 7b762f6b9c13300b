/**
 * `sandbox lessons [--json]`: the course, with each lesson's status for this user and its
 * challenges done/total (and skipped), counted from the manifest: no lesson code is loaded.
 */
import { COURSE } from '../lessons/manifest.js';
import { challengeCounts, challengeText, readAllProgress, statusOf } from '../lessons/progress.js';

export function lessonsCommand(opts: { json?: boolean }): number {
  const progress = readAllProgress((m) => process.stderr.write(`${m}\n`));
  const rows = COURSE.map((e) => {
    const p = progress[e.id] ?? null;
    return {
      id: e.id,
      title: e.title,
      summary: e.summary,
      status: statusOf(p),
      step: p && !p.completed ? p.step + 1 : null,
      challenges: challengeCounts(e.challenges, p),
    };
  });
  if (opts.json) {
    process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
    return 0;
  }
  const idW = Math.max(...rows.map((r) => r.id.length));
  const chW = Math.max(0, ...rows.map((r) => challengeText(r.challenges).length));
  const lines = rows.map((r, i) => {
    const status = r.status === 'in progress' ? `in progress (step ${r.step})` : r.status;
    const ch = challengeText(r.challenges);
    return `${String(i + 1).padStart(2)}. ${r.id.padEnd(idW)}  ${status.padEnd(22)} ${ch.padEnd(chW)}${chW ? '  ' : ''}${r.title}: ${r.summary}`;
  });
  process.stdout.write(`${lines.join('\n')}\n\n${whatNext(rows)}\n`);
  return 0;
}

interface Row {
  id: string;
  status: ReturnType<typeof statusOf>;
  step: number | null;
  challenges: { done: number; total: number; skipped: number };
}

/**
 * The line under the list: the first lesson not completed (in course order), or, once every
 * lesson is, the challenges still open, or that everything is done.
 */
export function whatNext(rows: Row[]): string {
  const next = rows.find((r) => r.status !== 'completed');
  if (next?.status === 'in progress') return `Continue with: sudo sandbox learn ${next.id} (it resumes at step ${next.step})`;
  if (next) return `${rows.some((r) => r.status !== 'new') ? 'Next' : 'Start one with'}: sudo sandbox learn ${next.id}`;
  const open = rows.filter((r) => r.challenges.done < r.challenges.total);
  if (!open.length) return 'All done: every lesson and every challenge. Explore freely: sudo sandbox repl';
  const left = open.reduce((n, r) => n + r.challenges.total - r.challenges.done, 0);
  const skipped = open.reduce((n, r) => n + r.challenges.skipped, 0);
  return (
    `Every lesson is complete; ${left} challenge${left === 1 ? ' is' : 's are'} not done yet${skipped ? ` (${skipped} skipped)` : ''}, in ${open.map((r) => r.id).join(', ')}.\n` +
    `sudo sandbox learn ${open[0].id} goes through that lesson again, its challenges included; or explore freely: sudo sandbox repl`
  );
}
