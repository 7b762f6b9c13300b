/**
 * `sandbox top`: every sandbox on this host, live, for an instructor to project while students
 * work: a full-screen blessed-contrib dashboard; with --plain (or when stdout is not a terminal)
 * one snapshot of the table as text.
 */
import { formatError } from '../runtime/index.js';
import { hostPressureLine, rowCells, TOP_COLUMNS, TopModel } from '../top/model.js';
import { tableLines } from '../tui/text.js';

/** One snapshot as text: two readings half a second apart, so CPU % has something to measure. */
async function printSnapshot(out: NodeJS.WritableStream): Promise<number> {
  const model = new TopModel();
  model.refresh();
  await new Promise((r) => setTimeout(r, 500));
  const snap = model.refresh();
  const width = Math.max(80, (out as NodeJS.WriteStream).columns ?? 120);
  const lines = tableLines(
    {
      kind: 'table',
      columns: TOP_COLUMNS,
      rows: snap.rows.map(rowCells),
      caption: `${snap.rows.length} sandbox${snap.rows.length === 1 ? '' : 'es'} on this host (cgroup ${snap.layout}, in ${snap.where}); CPU % of one CPU over the last 0.5 s`,
    },
    width,
  );
  out.write(`${lines.join('\n')}\n${hostPressureLine(snap.pressure)}\n`);
  return 0;
}

export async function topCommand(opts: { plain?: boolean }): Promise<number> {
  try {
    if (opts.plain || !process.stdout.isTTY) return await printSnapshot(process.stdout);
    const { runDashboard } = await import('../tui/top/dashboard.js');
    return await runDashboard();
  } catch (err) {
    process.stderr.write(`${formatError(err)}\n`);
    return 1;
  }
}
