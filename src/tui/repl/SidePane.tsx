/** The side pane: every sandbox with its live usage, and the process tree (host PID ↔ PID inside). */
import { Box, Text } from 'ink';

import type { SessionSample } from '../../repl/session.js';
import { ProcessTree } from '../components/ProcessTree.js';
import type { NsPalette } from '../palette.js';
import { SandboxTable, sandboxTableRows } from './SandboxTable.js';
import { tint } from './theme.js';

export interface SidePaneProps {
  /** The latest sample of the session (null before the first). */
  sample: SessionSample | null;
  /** Columns available, border included. */
  width: number;
  /** Rows available. */
  height: number;
  /** Colours and letters per PID namespace, kept for the whole session. */
  palette: NsPalette;
}

export function SidePane({ sample, width, height, palette }: SidePaneProps) {
  const inner = Math.max(10, width - 2);
  const sandboxes = sample?.sandboxes ?? [];
  const tableRows = sandboxTableRows(sandboxes);
  const treeRows = Math.max(0, height - tableRows - 2);
  return (
    <Box
      flexDirection="column"
      width={width}
      height={height}
      overflow="hidden"
      borderStyle="single"
      borderTop={false}
      borderBottom={false}
      borderRight={false}
      borderColor={tint('gray')}
      paddingLeft={1}
    >
      <SandboxTable sandboxes={sandboxes} width={inner} />
      <Text> </Text>
      <Text bold wrap="truncate">
        Processes <Text color={tint('gray')}>comm(host PID)(PID inside)</Text>
      </Text>
      {sample?.tree ? (
        <ProcessTree view={{ ...sample.tree, hidden: 0 }} width={inner} maxRows={treeRows} palette={palette} />
      ) : (
        <Text color={tint('gray')} wrap="truncate">
          nothing runs: start NAME
        </Text>
      )}
    </Box>
  );
}
