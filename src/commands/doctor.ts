/** `sandbox doctor`: what this host supports, and how to fix what is missing. */
import { probeHost } from '../runtime/index.js';
import { bold, dim } from './format.js';

const MARK = { ok: '✓', warn: '!', fail: '✗' } as const;

export function doctorCommand(opts: { json?: boolean }): number {
  const report = probeHost();
  if (opts.json) {
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    return report.ok ? 0 : 1;
  }
  const width = Math.max(...report.checks.map((c) => c.label.length));
  const lines = [bold('sandbox doctor: what this host supports'), ''];
  for (const c of report.checks) {
    lines.push(` ${MARK[c.status]} ${c.label.padEnd(width)}  ${c.detail}`);
    if (c.fix) lines.push(`   ${' '.repeat(width)}  ${dim(`fix: ${c.fix}`)}`);
  }
  lines.push('');
  lines.push(
    report.ok
      ? 'Ready. Start with: sudo sandbox learn pid-namespaces'
      : 'Not ready: fix the ✗ lines above, then run sandbox doctor again.',
  );
  process.stdout.write(`${lines.join('\n')}\n`);
  return report.ok ? 0 : 1;
}
