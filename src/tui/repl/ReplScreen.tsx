/**
 * The REPL screen: the transcript on the left with the prompt under it, and a side pane with the
 * live state of every sandbox and their process tree. It draws one row less than the terminal
 * has, so Ink rewrites the frame in place instead of clearing the screen on every update.
 */
import { Box, useInput } from 'ink';

import { PROMPT } from '../../repl/script.js';
import type { ReplController } from './controller.js';
import { PromptLine } from './PromptLine.js';
import { SidePane } from './SidePane.js';
import { StatusLine } from './StatusLine.js';
import { Transcript } from './Transcript.js';
import { useController } from './use-controller.js';
import { useSampler } from './use-sampler.js';
import { useTerminalSize } from './use-terminal-size.js';

export interface ReplScreenProps {
  /** The state and behaviour of the REPL (kept across remounts). */
  controller: ReplController;
  /** Overrides the terminal size (tests). */
  size?: { columns: number; rows: number };
  /** How often the side pane is sampled. Default 500 ms. */
  sampleMs?: number;
}

/** Below this width the side pane is left out. */
export const SIDE_PANE_MIN_COLUMNS = 100;

export function ReplScreen({ controller, size, sampleMs = 500 }: ReplScreenProps) {
  useController(controller);
  const terminal = useTerminalSize();
  const { columns, rows } = size ?? terminal;
  const side = columns >= SIDE_PANE_MIN_COLUMNS;
  useSampler(controller, sampleMs, side);
  useInput((input, key) => controller.key(input, key));

  const height = Math.max(4, rows - 1);
  const sideWidth = side ? Math.min(60, Math.max(40, Math.floor(columns * 0.38))) : 0;
  const leftWidth = columns - sideWidth - 1;
  const transcriptHeight = height - 2;
  return (
    <Box flexDirection="column" width={columns} height={height}>
      <Box flexDirection="row" height={transcriptHeight}>
        <Transcript lines={controller.transcript} width={leftWidth} height={transcriptHeight} scroll={controller.scroll} />
        {side && <SidePane sample={controller.sample} width={sideWidth} height={transcriptHeight} palette={controller.palette} />}
      </Box>
      <StatusLine completions={controller.completions} busy={controller.busy} queued={controller.queued} scroll={controller.scroll} width={columns - 1} />
      <PromptLine prompt={PROMPT} input={controller.input} cursor={controller.cursor} width={columns - 1} />
    </Box>
  );
}
