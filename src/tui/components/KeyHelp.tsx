import { memo } from 'react';

import { type Line, seg } from '../lines.js';
import { Lines } from './Lines.js';

export interface KeyItem {
  /** The key as shown: "enter", "b", "1-3", "↑↓". */
  key: string;
  /** What it does, in a word or two. */
  label: string;
  /** Kept when the line is too narrow for all (quit and help always are). */
  essential?: boolean;
}

export interface KeyHelpProps {
  /** The keys that work now, most useful first. */
  keys: KeyItem[];
  /** Columns available. */
  width: number;
}

/** "enter next · b back · h hint · q quit · ? keys" fitted to the width: optional keys are dropped from the end first. */
export function keyHelpLine(keys: KeyItem[], width: number): Line {
  const widthOf = (ks: KeyItem[]) => ks.reduce((n, k, i) => n + k.key.length + 1 + k.label.length + (i ? 3 : 0), 1);
  let shown = keys;
  while (widthOf(shown) > width) {
    const drop = [...shown].reverse().find((k) => !k.essential);
    if (!drop) break;
    shown = shown.filter((k) => k !== drop);
  }
  const l: Line = [seg(' ')];
  shown.forEach((k, i) => {
    if (i) l.push(seg(' · ', { dim: true }));
    l.push(seg(k.key, { bold: true, color: 'cyan' }), seg(` ${k.label}`));
  });
  return l;
}

/** The keys that work now, always on screen. */
export const KeyHelp = memo(function KeyHelp({ keys, width }: KeyHelpProps) {
  return <Lines lines={[keyHelpLine(keys, width)]} width={width} />;
});
