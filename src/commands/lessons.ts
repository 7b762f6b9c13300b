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
  process.stdout.write(`${lines.join('\n')}\n\nStart one with: sudo sandbox learn ${rows.find((r) => r.status !== 'completed')?.id ?? rows[0].id}\n`);
  return 0;
}
