/** The REPL's transcript: commands and their results, newest at the bottom, like a terminal. */
import { Box, Text } from 'ink';

import type { TranscriptLine } from './controller.js';
import { KIND_COLOR } from './theme.js';
import { visibleRows } from './wrap.js';

export interface TranscriptProps {
  /** Every line so far, oldest first. */
  lines: TranscriptLine[];
  /** Columns available. */
  width: number;
  /** Rows available. */
  height: number;
  /** Rows scrolled back from the bottom (PageUp/PageDown). */
  scroll: number;
}

export function Transcript({ lines, width, height, scroll }: TranscriptProps) {
  const rows = visibleRows(lines, width, height, scroll);
  const pad = Math.max(0, height - rows.length);
  return (
    <Box flexDirection="column" width={width} height={height} overflow="hidden">
      {Array.from({ length: pad }, (_, i) => (
        <Text key={`pad-${i}`}> </Text>
      ))}
      {rows.map((r, i) => (
        <Text key={i} color={KIND_COLOR[r.kind]} wrap="truncate">
          {r.text === '' ? ' ' : r.text}
        </Text>
      ))}
    </Box>
  );
}
