import { memo } from 'react';

import { fitLines, type Line, proseLines } from '../lines.js';
import { Lines } from './Lines.js';

export interface ProseProps {
  /** The step's text (prose.md): paragraphs, `code`, lists. */
  text: string;
  /** Columns available. */
  width: number;
  /** Rows available; the rest is left out with a "… N more lines" line. */
  maxRows?: number;
}

/** A step's explanation, wrapped to the width. */
export const Prose = memo(function Prose({ text, width, maxRows }: ProseProps) {
  const lines: Line[] = proseLines(text, width);
  return <Lines lines={maxRows === undefined ? lines : fitLines(lines, maxRows, { what: 'more lines', key: 'p: read all' })} width={width} />;
});
