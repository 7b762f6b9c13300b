/** The line above the prompt: completions after Tab, what is running, or the keys to know. */
import { Text } from 'ink';

import { tint } from './theme.js';

export interface StatusLineProps {
  /** Candidates from the last Tab (several words). */
  completions: string[];
  /** The command running now, if any. */
  busy: string | null;
  /** Lines waiting to run after it. */
  queued: number;
  /** Rows scrolled back. */
  scroll: number;
  /** Columns available. */
  width: number;
}

export function StatusLine({ completions, busy, queued, scroll, width }: StatusLineProps) {
  let text: string;
  let color = tint('gray');
  if (completions.length) {
    text = completions.join('  ');
    color = tint('green');
  } else if (busy) {
    text = `running: ${busy}${queued ? ` (+${queued} queued)` : ''}   Ctrl-C interrupts it`;
    color = tint('yellow');
  } else if (scroll) {
    text = `scrolled back ${scroll} lines: PageDown returns`;
  } else {
    text = 'Tab completes  Up/Down history  PageUp scrolls  help  exit (or Ctrl-D) leaves and destroys every sandbox';
  }
  return (
    <Text color={color} wrap="truncate">
      {text.length > width ? `${text.slice(0, Math.max(0, width - 1))}…` : text || ' '}
    </Text>
  );
}
