/** The input line: prompt, text and a block cursor, scrolled sideways to keep the cursor in view. */
import { Text } from 'ink';

import { tint } from './theme.js';

export interface PromptLineProps {
  prompt: string;
  /** The text being edited. */
  input: string;
  /** Cursor offset in `input`. */
  cursor: number;
  /** Columns available. */
  width: number;
}

export function PromptLine({ prompt, input, cursor, width }: PromptLineProps) {
  const room = Math.max(4, width - prompt.length - 1);
  const start = Math.max(0, cursor - room + 1);
  const shown = input.slice(start, start + room);
  const at = cursor - start;
  const under = shown[at] ?? ' ';
  return (
    <Text wrap="truncate">
      <Text color={tint('cyan')} bold>
        {prompt}
      </Text>
      {shown.slice(0, at)}
      <Text inverse>{under}</Text>
      {shown.slice(at + 1)}
    </Text>
  );
}
