/**
 * Styled lines: the unit the screens lay out. Every panel of the lesson screen is built as a list
 * of lines already wrapped to its width, so the screen knows each panel's exact height before it
 * draws and can decide what to show, shorten or leave out on a small terminal (Ink's flexbox would
 * clip silently). Pure functions, no React: the components render these (components/Lines.tsx).
 */

/** A run of text in one style. Colour names are Ink's (chalk's): "cyan", "redBright"… */
export interface Seg {
  text: string;
  color?: string;
  bold?: boolean;
  dim?: boolean;
  italic?: boolean;
  inverse?: boolean;
}

/** One terminal row. */
export type Line = Seg[];

export const seg = (text: string, style: Omit<Seg, 'text'> = {}): Seg => ({ text, ...style });
export const line = (text: string, style: Omit<Seg, 'text'> = {}): Line => [seg(text, style)];
export const blank = (): Line => [];

export function lineText(l: Line): string {
  return l.map((s) => s.text).join('');
}

export function lineWidth(l: Line): number {
  return l.reduce((n, s) => n + [...s.text].length, 0);
}

/** Cuts a line to `width` columns, ending with "…" when something was cut. */
export function truncateLine(l: Line, width: number): Line {
  if (width <= 0) return [];
  if (lineWidth(l) <= width) return l;
  const out: Line = [];
  let left = width - 1;
  for (const s of l) {
    if (left <= 0) break;
    const chars = [...s.text];
    if (chars.length <= left) {
      out.push(s);
      left -= chars.length;
    } else {
      out.push({ ...s, text: chars.slice(0, left).join('') });
      left = 0;
    }
  }
  const last = out.at(-1);
  out.push({ text: '…', dim: last?.dim, color: last?.color });
  return out;
}

/** Pads a line with spaces to exactly `width` columns (after truncating it to fit). */
export function padLine(l: Line, width: number): Line {
  const t = truncateLine(l, width);
  const w = lineWidth(t);
  return w < width ? [...t, seg(' '.repeat(width - w))] : t;
}

/** Prefixes every line (e.g. an indent or a gutter). */
export function indent(lines: Line[], prefix: Line | string): Line[] {
  const p = typeof prefix === 'string' ? [seg(prefix)] : prefix;
  return lines.map((l) => [...p, ...l]);
}

interface Word {
  segs: Seg[];
  width: number;
}

/**
 * Wraps styled text to `width` columns at spaces (a word longer than the width is cut into
 * pieces). `first` and `rest` are prefixes for the first and the following lines (a hanging
 * indent), counted in the width.
 */
export function wrapSegs(segs: Seg[], width: number, first: Line = [], rest: Line = first): Line[] {
  const words: Word[] = [];
  let cur: Word | null = null;
  for (const s of segs) {
    for (const piece of s.text.split(/( +|\n)/)) {
      if (piece === '') continue;
      if (piece === '\n') {
        if (cur) words.push(cur);
        words.push({ segs: [], width: -1 });
        cur = null;
        continue;
      }
      if (/^ +$/.test(piece)) {
        if (cur) words.push(cur);
        cur = null;
        continue;
      }
      cur ??= { segs: [], width: 0 };
      cur.segs.push({ ...s, text: piece });
      cur.width += [...piece].length;
    }
  }
  if (cur) words.push(cur);

  const out: Line[] = [];
  let lineSegs: Seg[] = [...first];
  let used = lineWidth(first);
  let empty = true;
  const flush = () => {
    out.push(lineSegs);
    lineSegs = [...rest];
    used = lineWidth(rest);
    empty = true;
  };
  for (const w of words) {
    if (w.width === -1) {
      flush();
      continue;
    }
    if (!empty && used + 1 + w.width > width) flush();
    if (!empty) {
      lineSegs.push({ text: ' ' });
      used += 1;
    }
    if (w.width <= Math.max(1, width - used)) {
      lineSegs.push(...w.segs);
      used += w.width;
      empty = false;
      continue;
    }
    // A word wider than the line: cut it.
    for (const s of w.segs) {
      let chars = [...s.text];
      while (chars.length) {
        let space = width - used;
        if (space <= 0) {
          flush();
          space = Math.max(1, width - used);
        }
        const take = chars.slice(0, space);
        lineSegs.push({ ...s, text: take.join('') });
        used += take.length;
        empty = false;
        chars = chars.slice(space);
      }
    }
  }
  if (!empty || out.length === 0) out.push(lineSegs);
  return out;
}

/** Breaks text into rows of `width` columns keeping every space (command output, tables). */
export function hardWrap(text: string, width: number, style: Omit<Seg, 'text'> = {}, first = '', rest = first): Line[] {
  const out: Line[] = [];
  let chars = [...text];
  let prefix = first;
  do {
    const room = Math.max(1, width - [...prefix].length);
    out.push([seg(prefix), seg(chars.slice(0, room).join(''), style)]);
    chars = chars.slice(room);
    prefix = rest;
  } while (chars.length);
  return out;
}

/** Wraps plain text in one style. */
export function wrapText(text: string, width: number, style: Omit<Seg, 'text'> = {}, first = '', rest = first): Line[] {
  return wrapSegs([seg(text, style)], width, first ? [seg(first, style)] : [], rest ? [seg(rest, style)] : []);
}

/** Inline `code` in prose, drawn in a colour instead of with backticks. */
export function inlineCode(text: string, style: Omit<Seg, 'text'> = {}): Seg[] {
  const out: Seg[] = [];
  text.split(/(`[^`]+`)/).forEach((part) => {
    if (!part) return;
    if (part.startsWith('`') && part.endsWith('`') && part.length > 2) out.push(seg(part.slice(1, -1), { ...style, color: 'cyan' }));
    else out.push(seg(part, style));
  });
  return out;
}

/**
 * Prose (paragraphs separated by blank lines, `code` spans, "- " list items) wrapped to `width`,
 * with a blank line between paragraphs.
 */
export function proseLines(text: string, width: number): Line[] {
  const out: Line[] = [];
  const paras = text
    .trim()
    .split(/\n\s*\n/)
    .filter((p) => p.trim());
  paras.forEach((para, i) => {
    if (i > 0) out.push(blank());
    const raw = para.split('\n');
    if (raw.every((l) => /^\s*([-*]|\d+\.)\s/.test(l))) {
      for (const item of raw) {
        const m = /^(\s*(?:[-*]|\d+\.)\s+)(.*)$/.exec(item)!;
        const bullet = m[1].replace(/[-*]/, '•');
        out.push(...wrapSegs(inlineCode(m[2]), width, [seg(bullet)], [seg(' '.repeat(bullet.length))]));
      }
      return;
    }
    out.push(...wrapSegs(inlineCode(para.replace(/\s*\n\s*/g, ' ')), width));
  });
  return out;
}

/** "… 12 more lines" and the like: what a shortened panel says about what it left out. */
export function moreLine(n: number, what = 'more lines', key?: string): Line {
  return [seg(`… ${n} ${what}${key ? ` (${key})` : ''}`, { dim: true })];
}

/**
 * Fits `lines` into `height` rows: all of them if they fit, else the first (or, from the end,
 * the last) height-1 and a "… N more" line. A height of 0 shows nothing.
 */
export function fitLines(lines: Line[], height: number, opts: { from?: 'start' | 'end'; what?: string; key?: string } = {}): Line[] {
  if (height <= 0) return [];
  if (lines.length <= height) return lines;
  if (height === 1) return [moreLine(lines.length, opts.what ?? 'lines', opts.key)];
  const keep = height - 1;
  const more = moreLine(lines.length - keep, opts.from === 'end' ? (opts.what ?? 'earlier lines') : (opts.what ?? 'more lines'), opts.key);
  return opts.from === 'end' ? [more, ...lines.slice(lines.length - keep)] : [...lines.slice(0, keep), more];
}

/** A horizontal rule with a title: "── Checks ──────". */
export function ruleLine(title: string, width: number, style: Omit<Seg, 'text'> = {}): Line {
  const head = title ? `── ${title} ` : '';
  return truncateLine([seg(head, { bold: true, ...style }), seg('─'.repeat(Math.max(0, width - [...head].length)), { dim: true })], width);
}

/** Draws a box around lines: ╭─ title ─╮ │ … │ ╰───╯, `width` columns wide in all. */
export function boxLines(title: string, content: Line[], width: number, color: string): Line[] {
  const inner = Math.max(1, width - 4);
  const head = title ? `─ ${title} ` : '';
  const top: Line = [seg(`╭${head}${'─'.repeat(Math.max(0, width - 2 - [...head].length))}╮`, { color })];
  const bottom: Line = [seg(`╰${'─'.repeat(Math.max(0, width - 2))}╯`, { color })];
  const body = content.map((l) => [seg('│ ', { color }), ...padLine(l, inner), seg(' │', { color })]);
  return [top, ...body, bottom];
}

/** Removes colours (keeps bold, dim, inverse): for NO_COLOR. */
export function withoutColor(l: Line): Line {
  return l.map((s) => (s.color ? { ...s, color: undefined } : s));
}
