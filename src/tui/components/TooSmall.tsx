import { memo } from 'react';

import { type Line, seg, wrapText } from '../lines.js';
import { Lines } from './Lines.js';

export interface TooSmallProps {
  /** The terminal's width now. */
  columns: number;
  /** The terminal's height now. */
  rows: number;
  /** The smallest width the screen needs. */
  minColumns: number;
  /** The smallest height the screen needs. */
  minRows: number;
}

/** What to draw instead of the screen when the terminal is too small: fits in any size, never garbles. */
export function tooSmallLines(p: TooSmallProps): Line[] {
  const width = Math.max(1, p.columns);
  const lines: Line[] = [
    ...wrapText(`The terminal is ${p.columns}×${p.rows}; this screen needs ${p.minColumns}×${p.minRows}.`, width, { bold: true }),
    ...wrapText('Please enlarge the window. The lesson keeps its place.', width),
    [seg('q', { bold: true, color: 'cyan' }), seg(' quits')],
  ];
  return lines.slice(0, Math.max(1, p.rows - 1));
}

/** "Enlarge the window": shown below the minimum size. */
export const TooSmall = memo(function TooSmall(props: TooSmallProps) {
  return <Lines lines={tooSmallLines(props)} width={Math.max(1, props.columns)} />;
});
