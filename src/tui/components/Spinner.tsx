import { Text } from 'ink';
import { useEffect, useState } from 'react';

import { useColor } from '../hooks/use-color.js';

export interface SpinnerProps {
  /** What is happening, after the spinner. */
  label: string;
  /** Columns available (the label is cut to fit). */
  width: number;
}

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/** One line: a spinner (10 frames a second, only while shown) and a label. */
export function Spinner({ label, width }: SpinnerProps) {
  const color = useColor();
  const [frame, setFrame] = useState(0);
  useEffect(() => {
    const t = setInterval(() => setFrame((f) => (f + 1) % FRAMES.length), 100);
    return () => clearInterval(t);
  }, []);
  const text = label.length > width - 2 ? `${label.slice(0, Math.max(0, width - 3))}…` : label;
  return (
    <Text wrap="truncate-end">
      <Text color={color ? 'yellow' : undefined}>{FRAMES[frame]}</Text> {text}
    </Text>
  );
}
