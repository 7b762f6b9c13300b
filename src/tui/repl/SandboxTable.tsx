/** Each sandbox of the REPL with its state and live usage: CPU, memory and pids from its cgroup. */
import { Box, Text } from 'ink';

import type { SandboxSample } from '../../repl/session.js';
import { formatBytes } from '../../runtime/cgroup/limits.js';
import { tint } from './theme.js';

export interface SandboxTableProps {
  sandboxes: SandboxSample[];
  /** Columns available. */
  width: number;
}

const STATE_COLOR = { running: 'green', created: 'gray', stopped: 'yellow' } as const;

/** The rows SandboxTable draws for these sandboxes (for height budgeting). */
export function sandboxTableRows(sandboxes: SandboxSample[]): number {
  return 1 + Math.max(1, sandboxes.reduce((n, s) => n + (s.state === 'running' ? 2 : 1), 0));
}

function usageLine(s: SandboxSample): string {
  const cpu = s.cpuPercent === null ? 'cpu –' : `cpu ${s.cpuPercent.toFixed(0)}%`;
  const mem = s.memoryBytes === null ? 'mem –' : `mem ${formatBytes(s.memoryBytes)}${s.memoryLimit ? `/${formatBytes(s.memoryLimit)}` : ''}`;
  const pids = s.pidsCurrent === null ? 'pids –' : `pids ${s.pidsCurrent}${s.pidsMax ? `/${s.pidsMax}` : ''}`;
  return `${cpu}  ${mem}  ${pids}`;
}

export function SandboxTable({ sandboxes, width }: SandboxTableProps) {
  const nameW = Math.min(16, Math.max(4, ...sandboxes.map((s) => s.name.length)));
  return (
    <Box flexDirection="column" width={width}>
      <Text bold wrap="truncate">
        Sandboxes
      </Text>
      {sandboxes.length === 0 && (
        <Text color={tint('gray')} wrap="truncate">
          none yet: create NAME
        </Text>
      )}
      {sandboxes.map((s) => (
        <Box key={s.name} flexDirection="column">
          <Text wrap="truncate">
            {s.name.padEnd(nameW)} <Text color={tint(STATE_COLOR[s.state])}>{s.state.padEnd(8)}</Text>
            {s.pid !== null ? ` pid ${s.pid}` : ''}
            {s.limits ? <Text color={tint('gray')}> {s.limits}</Text> : null}
          </Text>
          {s.state === 'running' && (
            <Text wrap="truncate">
              {' '.repeat(nameW + 1)}
              {usageLine(s)}
            </Text>
          )}
        </Box>
      ))}
    </Box>
  );
}
