/** Plain-text renderings shared by the line-mode commands (run, cleanup, the REPL's script mode). */
import type { DestroyReport, ExplainStep, SweepReport } from '../runtime/index.js';

const color = process.env.NO_COLOR === undefined && process.stderr.isTTY === true;
export const dim = (s: string) => (color ? `\x1b[2m${s}\x1b[22m` : s);
export const bold = (s: string) => (color ? `\x1b[1m${s}\x1b[22m` : s);

/** Numbered steps: the command, the system call under it, and what it produced. */
export function formatExplain(steps: ExplainStep[]): string {
  const width = String(steps.length).length;
  const pad = ' '.repeat(width + 2);
  return steps
    .map((s, i) => {
      const lines = [`${String(i + 1).padStart(width)}. ${bold(s.command)}`, `${pad}${dim(s.syscall)}`];
      if (s.result) lines.push(`${pad}→ ${s.result}`);
      return lines.join('\n');
    })
    .join('\n');
}

export function formatDestroy(r: DestroyReport): string {
  const parts = [`killed ${r.processesKilled} process${r.processesKilled === 1 ? '' : 'es'} (${r.method})`];
  if (r.cgroups.length) parts.push(`removed cgroup${r.cgroups.length === 1 ? '' : 's'} ${r.cgroups.join(', ')}`);
  if (r.dirs.length) parts.push(`removed ${r.dirs.join(', ')}`);
  return `destroyed ${r.name} in ${r.ms.toFixed(1)} ms: ${parts.join('; ')}`;
}

export function formatSweep(r: SweepReport): string[] {
  const lines: string[] = [];
  if (r.entries.length) lines.push(`sandboxes of dead sessions: ${r.entries.join(', ')}`);
  if (r.processesKilled) lines.push(`processes killed: ${r.processesKilled}`);
  if (r.cgroups.length) lines.push(`cgroups removed: ${r.cgroups.join(' ')}`);
  if (r.mounts.length) lines.push(`mounts removed: ${r.mounts.join(' ')}`);
  if (r.dirs.length) lines.push(`directories removed: ${r.dirs.join(' ')}`);
  if (r.netns.length) lines.push(`network namespaces removed: ${r.netns.join(' ')}`);
  if (r.veths.length) lines.push(`veth devices removed: ${r.veths.join(' ')}`);
  if (r.loops?.length) lines.push(`loop devices detached: ${r.loops.join(' ')}`);
  if (r.units?.length) lines.push(`systemd units stopped (they held no sandbox): ${r.units.join(' ')}`);
  return lines;
}
