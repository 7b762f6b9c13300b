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

/** Where a token too long for a whole line may break: after these, or before a "/". */
const STRONG_AFTER = new Set(['|', ',', ';']);
/** Only when no strong boundary fits (a fresh line): after these. */
const WEAK_AFTER = new Set(['_', '-', '.', ':', '=']);

/**
 * The longest head of `chars` (at most `room` long, at least 1) that ends at a token boundary: a
 * strong one (after `|`, `,`, `;`, before `/`) or, when `weak`, after `_`, `-`, `.`, `:`, `=`.
 * Null if none fits. "CLONE_NEWPID|CLONE_PIDFD" breaks after the `|`, "/proc/4711/ns/pid" before a
 * `/`, never inside "CLONE_PIDFD" unless that alone is wider than the line.
 */
export function tokenBreak(chars: string[], room: number, weak: boolean): number | null {
  const limit = Math.min(room, chars.length - 1);
  for (let k = limit; k >= 1; k--) if (STRONG_AFTER.has(chars[k - 1]) || (chars[k] === '/' && chars[k - 1] !== '/')) return k;
  if (weak) for (let k = limit; k >= 1; k--) if (WEAK_AFTER.has(chars[k - 1])) return k;
  return null;
}

/** The first `n` characters of a word's segments, and the rest. */
function splitSegs(segs: Seg[], n: number): [Seg[], Seg[]] {
  const head: Seg[] = [];
  const tail: Seg[] = [];
  let left = n;
  for (const s of segs) {
    const chars = [...s.text];
    if (left >= chars.length) head.push(s);
    else if (left <= 0) tail.push(s);
    else {
      head.push({ ...s, text: chars.slice(0, left).join('') });
      tail.push({ ...s, text: chars.slice(left).join('') });
    }
    left -= chars.length;
  }
  return [head, tail];
}

/**
 * Wraps styled text to `width` columns at spaces. A word never breaks unless it is wider than a
 * whole line; then it breaks at a token boundary (`|`, `,`, before `/`; on a fresh line also `_`,
 * `-`, `.`, `:`), and only if none fits, at the width. `first` and `rest` are prefixes for the
 * first and the following lines (a hanging indent), counted in the width.
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
  const place = (ws: Seg[], w: number) => {
    if (!empty) {
      lineSegs.push({ text: ' ' });
      used += 1;
    }
    lineSegs.push(...ws);
    used += w;
    empty = false;
  };
  const fullLine = Math.max(1, width - lineWidth(rest));
  for (const w of words) {
    if (w.width === -1) {
      flush();
      continue;
    }
    const room = () => width - used - (empty ? 0 : 1);
    if (w.width <= room() || (empty && w.width <= Math.max(1, room()))) {
      place(w.segs, w.width);
      continue;
    }
    if (!empty && w.width <= fullLine) {
      flush();
      place(w.segs, w.width);
      continue;
    }
    // A token wider than a whole line: in pieces, each ending at a token boundary if one fits.
    let segsLeft = w.segs;
    let chars = segsLeft.flatMap((x) => [...x.text]);
    while (chars.length) {
      const space = room();
      if (chars.length <= space) {
        place(segsLeft, chars.length);
        break;
      }
      let k = space >= 1 ? tokenBreak(chars, space, empty) : null;
      if (k === null) {
        if (!empty) {
          flush();
          continue;
        }
        k = Math.max(1, space);
      }
      const [head, tail] = splitSegs(segsLeft, k);
      place(head, k);
      flush();
      segsLeft = tail;
      chars = chars.slice(k);
    }
  }
  if (!empty || out.length === 0) out.push(lineSegs);
  return out;
}

/**
 * Breaks text into rows of `width` columns keeping every space (command output): a row ends after
 * a space where one fits, else at a token boundary, else at the width. The rows joined give the
 * text back.
 */
export function hardWrap(text: string, width: number, style: Omit<Seg, 'text'> = {}, first = '', rest = first): Line[] {
  const out: Line[] = [];
  let chars = [...text];
  let prefix = first;
  do {
    const room = Math.max(1, width - [...prefix].length);
    let k = room;
    if (chars.length > room) {
      // After a space that follows some text (a row of indentation alone says nothing).
      const text0 = chars.findIndex((c) => c !== ' ');
      let spaceAt = 0;
      let anySpace = 0;
      for (let j = room; j >= text0 + 2; j--) {
        if (chars[j - 1] !== ' ') continue;
        anySpace ||= j;
        if (chars[j] !== ' ') {
          spaceAt = j;
          break;
        }
      }
      k = spaceAt || anySpace || (tokenBreak(chars, room, true) ?? room);
    }
    out.push([seg(prefix), seg(chars.slice(0, k).join(''), style)]);
    chars = chars.slice(k);
    prefix = rest;
  } while (chars.length);
  return out;
}

/** Wraps plain text in one style. */
export function wrapText(text: string, width: number, style: Omit<Seg, 'text'> = {}, first = '', rest = first): Line[] {
  return wrapSegs([seg(text, style)], width, first ? [seg(first, style)] : [], rest ? [seg(rest, style)] : []);
}

/** A piece of inline markdown: plain, `code`, *emphasis* (or _emphasis_), or **strong**. */
export interface Span {
  text: string;
  code?: boolean;
  em?: boolean;
  strong?: boolean;
}

/**
 * Emphasis as markdown writes it, strict enough that shell and kernel text is left alone: the
 * opening `*`, `**` or `_` follows a space or punctuation (never a letter: CLONE_NEWPID, a*b) and
 * is followed by a letter, digit, quote or `(`; the closing one follows a letter, digit, quote,
 * `)` or `.` and is not followed by a letter or digit. "sandbox-* and sbx-*" stays as it is.
 */
const EMPHASIS = /(^|[^\p{L}\p{N}\\*_])(\*\*|\*|_)(?=[\p{L}\p{N}`'"(])(.*?[\p{L}\p{N}`'").!?])\2(?![\p{L}\p{N}*_])/u;

/** Inline markdown as spans: `code` first (nothing inside it is markup), then emphasis outside it. */
export function markdownSpans(text: string): Span[] {
  const out: Span[] = [];
  for (const part of text.split(/(`[^`]+`)/)) {
    if (!part) continue;
    if (part.length > 2 && part.startsWith('`') && part.endsWith('`')) {
      out.push({ text: part.slice(1, -1), code: true });
      continue;
    }
    let rest = part;
    for (let m = EMPHASIS.exec(rest); m; m = EMPHASIS.exec(rest)) {
      const before = rest.slice(0, m.index + m[1].length);
      if (before) out.push({ text: before });
      out.push(m[2] === '**' ? { text: m[3], strong: true } : { text: m[3], em: true });
      rest = rest.slice(m.index + m[0].length);
    }
    if (rest) out.push({ text: rest });
  }
  return out;
}

/** Inline markdown as plain text (line mode): emphasis without its markers, `code` kept as typed. */
export function plainMarkdown(text: string): string {
  return markdownSpans(text)
    .map((s) => (s.code ? `\`${s.text}\`` : s.text))
    .join('');
}

/**
 * Inline markdown in prose, hints and takeaways: `code` drawn in a colour instead of with
 * backticks, *emphasis* in italics, **strong** in bold.
 */
export function inlineCode(text: string, style: Omit<Seg, 'text'> = {}): Seg[] {
  return markdownSpans(text).map((s) =>
    s.code ? seg(s.text, { ...style, color: 'cyan' }) : s.strong ? seg(s.text, { ...style, bold: true }) : s.em ? seg(s.text, { ...style, italic: true }) : seg(s.text, style),
  );
}

/** The same, under its markdown name. */
export const inlineMarkdown = inlineCode;

/** A list item's marker: "- ", "* ", "+ " or "1. ", with its indentation. */
const LIST_ITEM = /^(\s*)([-*+]|\d+[.)])\s+(.*)$/;

/**
 * A paragraph as its lead-in text (lines before the first list item) and its list items, each
 * item with the lines that continue it: "- shared: it belongs…\nthe other members…".
 */
export function listItems(para: string): { lead: string; items: { marker: string; text: string }[] } {
  const lead: string[] = [];
  const items: { marker: string; text: string }[] = [];
  for (const l of para.split('\n')) {
    const m = LIST_ITEM.exec(l);
    if (m) items.push({ marker: /\d/.test(m[2]) ? `${m[1]}${m[2]} ` : `${m[1]}• `, text: m[3].trim() });
    else if (items.length) items[items.length - 1].text += ` ${l.trim()}`;
    else lead.push(l.trim());
  }
  return { lead: lead.join(' ').trim(), items };
}

/**
 * Prose (paragraphs separated by blank lines, inline markdown, list items written "- ", "* " or
 * "1. ", all drawn with one marker) wrapped to `width`, with a blank line between paragraphs.
 */
export function proseLines(text: string, width: number): Line[] {
  const out: Line[] = [];
  const paras = text
    .trim()
    .split(/\n\s*\n/)
    .filter((p) => p.trim());
  paras.forEach((para, i) => {
    if (i > 0) out.push(blank());
    const { lead, items } = listItems(para);
    if (lead) out.push(...wrapSegs(inlineCode(lead), width));
    for (const it of items) out.push(...wrapSegs(inlineCode(it.text), width, [seg(it.marker)], [seg(' '.repeat([...it.marker].length))]));
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
