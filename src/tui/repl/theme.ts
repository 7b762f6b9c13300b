/** Colours of the REPL screen; none at all under NO_COLOR (https://no-color.org), as elsewhere in the TUI. */
import { colorFromEnv } from '../hooks/use-color.js';
import type { LineKind } from './controller.js';

export const colorOn = colorFromEnv();

/** A colour name for Ink's <Text color>, or undefined under NO_COLOR. */
export function tint(color: string): string | undefined {
  return colorOn ? color : undefined;
}

export const KIND_COLOR: Record<LineKind, string | undefined> = {
  input: tint('cyan'),
  output: undefined,
  error: tint('red'),
  notice: tint('yellow'),
  info: tint('gray'),
};
