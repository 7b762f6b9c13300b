import { Box, Text } from 'ink';
import { memo } from 'react';

import { useColor } from '../hooks/use-color.js';
import { type Line, truncateLine } from '../lines.js';

export interface LinesProps {
  /** Rows to draw, already wrapped (lines.ts); a row wider than `width` is cut with "…". */
  lines: Line[];
  /** Columns available. */
  width: number;
}

/** Draws styled lines, exactly one terminal row each: the building block of every panel. */
export const Lines = memo(function Lines({ lines, width }: LinesProps) {
  const color = useColor();
  return (
    <Box flexDirection="column" width={width} flexShrink={0}>
      {lines.map((l, i) => {
        const cut = truncateLine(l, width);
        return (
          <Text key={i} wrap="truncate-end">
            {cut.length === 0
              ? ' '
              : cut.map((s, j) => (
                  <Text
                    key={j}
                    color={color ? s.color : undefined}
                    bold={s.bold}
                    dimColor={s.dim}
                    italic={s.italic}
                    inverse={s.inverse}
                  >
                    {s.text}
                  </Text>
                ))}
          </Text>
        );
      })}
    </Box>
  );
});
