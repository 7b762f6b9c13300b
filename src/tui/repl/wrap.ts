/** Hard-wrapping for a fixed-width pane: every returned line fits in `width` cells. */
import type { TranscriptLine } from './controller.js';

export function hardWrap(text: string, width: number): string[] {
  const w = Math.max(1, width);
  if (text.length <= w) return [text];
  const out: string[] = [];
  for (let i = 0; i < text.length; i += w) out.push(text.slice(i, i + w));
  return out;
}

/** The transcript as screen rows: the last `height` rows, `scroll` rows up from the bottom. */
export function visibleRows(lines: TranscriptLine[], width: number, height: number, scroll: number): TranscriptLine[] {
  const rows: TranscriptLine[] = [];
  // Only as many source lines as can be on screen (wrapping never makes fewer rows than lines).
  const from = Math.max(0, lines.length - height - scroll);
  for (let i = from; i < lines.length; i++) {
    for (const text of hardWrap(lines[i].text, width)) rows.push({ text, kind: lines[i].kind });
  }
  const end = Math.max(0, rows.length - scroll);
  return rows.slice(Math.max(0, end - height), end);
}
