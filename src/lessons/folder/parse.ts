/**
 * The syntax of lesson.md (docs/LESSON-FORMAT.md): front matter, prose, `## id: Title` steps and
 * fenced blocks, with line numbers kept for every error. No meaning here (interpret.ts gives it);
 * only shape and hard bounds, so that a hostile file costs little to refuse.
 */
import { LessonFileError } from './types.js';

export const LIMITS = {
  fileBytes: 256 * 1024,
  lineChars: 2000,
  steps: 60,
  blocksPerStep: 40,
  linesPerBlock: 200,
  sandboxes: 12,
} as const;

export const BLOCK_KINDS = [
  'setup',
  'run',
  'predict',
  'check',
  'hint',
  'takeaway',
  'view',
  'challenge',
  'vars',
  'question',
  'fail',
  'solution',
  'cleanup',
  'only',
] as const;
export type BlockKind = (typeof BLOCK_KINDS)[number];

/** Blocks made of `key: value` lines; the others are lines (to run, or vars: NAME: …). */
export const KV_KINDS: readonly BlockKind[] = ['predict', 'check', 'hint', 'takeaway', 'view', 'challenge', 'question', 'fail', 'only'];

export interface SourceLine {
  text: string;
  /** 1-based line in the file. */
  line: number;
}

export interface KvEntry {
  key: string;
  value: string;
  line: number;
}

export interface Block {
  kind: BlockKind;
  /** Words of the info string after the kind: `run in a` → ['in', 'a']. */
  args: string[];
  /** Line of the opening fence. */
  line: number;
  /** Lines to run (setup, run, solution, cleanup) and vars lines: comments and empty lines left out. */
  lines: SourceLine[];
  /** `key: value` entries, in order (kv blocks). */
  entries: KvEntry[];
}

export interface StepSource {
  id: string;
  title: string;
  line: number;
  prose: string;
  blocks: Block[];
}

export interface LessonSource {
  file: string;
  front: KvEntry[];
  /** Line of the closing `---` of the front matter (errors about a missing key point there). */
  frontEnd: number;
  intro: string;
  steps: StepSource[];
}

/** Levenshtein distance, for "did you mean". */
export function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array(b.length).fill(0)] as number[]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
  }
  return d[a.length][b.length];
}

export function didYouMean(word: string, known: readonly string[]): string {
  if (word.length > 40) return '';
  const best = known.map((k) => ({ k, d: distance(word, k) })).sort((x, y) => x.d - y.d)[0];
  return best && best.d <= Math.max(2, Math.floor(best.k.length / 3)) ? ` (did you mean "${best.k}"?)` : '';
}

/** A word as shown in a message: quoted, control characters visible, shortened. */
export function show(w: string): string {
  const short = w.length > 60 ? `${w.slice(0, 60)}…` : w;
  return `"${short.replace(/[\x00-\x1f\x7f-\x9f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`)}"`;
}

const KEY_RE = /^([a-z][a-z0-9-]{0,30}):(?:[ \t]+(.*)|)$/;
const STEP_RE = /^## +(\S+?)(?::[ \t]+(.*?))?[ \t]*$/;
const FENCE_RE = /^```(?!`)(.*)$/;

/** Parses `key: value` lines (front matter and kv blocks). */
function parseKv(file: string, lines: SourceLine[], what: string): KvEntry[] {
  const out: KvEntry[] = [];
  for (const l of lines) {
    if (l.text.trim() === '' || l.text.trimStart().startsWith('#')) continue;
    if (/^ {2}\S/.test(l.text) && out.length) {
      out[out.length - 1].value = `${out[out.length - 1].value} ${l.text.trim()}`.trim();
      continue;
    }
    const m = KEY_RE.exec(l.text.trimEnd());
    if (!m) {
      throw new LessonFileError(
        file,
        l.line,
        `${what}: ${show(l.text.trim())} is not a "key: value" line`,
        'each line is a lowercase key, a colon and a value; a line starting with two spaces continues the previous value',
      );
    }
    out.push({ key: m[1], value: (m[2] ?? '').trim(), line: l.line });
  }
  return out;
}

/** Splits lesson.md into front matter, intro, steps and blocks. Throws LessonFileError. */
export function parseLessonText(file: string, text: string): LessonSource {
  if (Buffer.byteLength(text, 'utf8') > LIMITS.fileBytes) {
    throw new LessonFileError(file, 0, `the file is larger than ${LIMITS.fileBytes / 1024} KiB`, 'split the lesson in two');
  }
  const raw = text.replace(/\r\n/g, '\n').split('\n');
  for (const [i, t] of raw.entries()) {
    if (t.length > LIMITS.lineChars) throw new LessonFileError(file, i + 1, `the line is longer than ${LIMITS.lineChars} characters`, 'break it up (a value continues on a line starting with two spaces)');
    const bad = /[\x00-\x08\x0b-\x1f\x7f\u202a-\u202e\u2066-\u2069]/.exec(t);
    if (bad) {
      throw new LessonFileError(file, i + 1, `the line holds a control character (\\x${bad[0].charCodeAt(0).toString(16).padStart(2, '0')})`, 'lesson files are plain UTF-8 text: remove it');
    }
  }
  const lines: SourceLine[] = raw.map((t, i) => ({ text: t, line: i + 1 }));

  // Front matter.
  let at = 0;
  if (lines[0]?.text.trimEnd() !== '---') {
    throw new LessonFileError(file, 1, 'the file must start with front matter: a line "---", then id, title and summary, then "---"');
  }
  const close = lines.findIndex((l, i) => i > 0 && l.text.trimEnd() === '---');
  if (close < 0) throw new LessonFileError(file, 1, 'the front matter is not closed: add a line "---" after its last key');
  const front = parseKv(file, lines.slice(1, close), 'front matter');
  at = close + 1;

  const intro: string[] = [];
  const steps: StepSource[] = [];
  let step: StepSource | null = null;
  let prose: string[] = intro;
  while (at < lines.length) {
    const l = lines[at];
    const fence = FENCE_RE.exec(l.text);
    if (fence) {
      const info = fence[1].trim();
      const end = lines.findIndex((x, i) => i > at && x.text.trimEnd() === '```');
      if (end < 0) throw new LessonFileError(file, l.line, `the block opened here is never closed`, 'end it with a line of three backticks: ```');
      const body = lines.slice(at + 1, end);
      if (info === '') {
        // A plain code sample: part of the prose.
        prose.push(...lines.slice(at, end + 1).map((x) => x.text));
        at = end + 1;
        continue;
      }
      const words = info.split(/\s+/);
      const kind = words[0] as BlockKind;
      if (!BLOCK_KINDS.includes(kind)) {
        throw new LessonFileError(file, l.line, `unknown block ${show(words[0])}${didYouMean(words[0], BLOCK_KINDS)}`, `a block is one of: ${BLOCK_KINDS.join(', ')}; a code sample has no info string`);
      }
      if (!step) throw new LessonFileError(file, l.line, `a ${kind} block before the first step`, 'blocks belong to a step: start one with "## step-id: Title"');
      if (step.blocks.length >= LIMITS.blocksPerStep) throw new LessonFileError(file, l.line, `more than ${LIMITS.blocksPerStep} blocks in step ${step.id}`, 'split the step');
      if (body.length > LIMITS.linesPerBlock) throw new LessonFileError(file, l.line, `the block has more than ${LIMITS.linesPerBlock} lines`);
      const block: Block = { kind, args: words.slice(1), line: l.line, lines: [], entries: [] };
      if (KV_KINDS.includes(kind)) block.entries = parseKv(file, body, `${kind} block`);
      else block.lines = body.filter((x) => x.text.trim() !== '' && !x.text.trimStart().startsWith('#')).map((x) => ({ text: x.text.trim(), line: x.line }));
      step.blocks.push(block);
      at = end + 1;
      continue;
    }
    if (l.text.startsWith('## ')) {
      const m = STEP_RE.exec(l.text);
      if (!m || !m[2]) throw new LessonFileError(file, l.line, `a step heading is "## step-id: Title", not ${show(l.text)}`);
      if (steps.length >= LIMITS.steps) throw new LessonFileError(file, l.line, `more than ${LIMITS.steps} steps`, 'split the lesson in two');
      step = { id: m[1], title: m[2], line: l.line, prose: '', blocks: [] };
      steps.push(step);
      prose = [];
      (step as StepSource & { proseLines: string[] }).proseLines = prose;
      at++;
      continue;
    }
    if (l.text.startsWith('# ') && !step) {
      at++; // the lesson's title as a heading: the title comes from the front matter
      continue;
    }
    prose.push(l.text);
    at++;
  }
  for (const s of steps) {
    const p = s as StepSource & { proseLines?: string[] };
    s.prose = tidy(p.proseLines ?? []);
    delete p.proseLines;
  }
  return { file, front, frontEnd: close + 1, intro: tidy(intro), steps };
}

/** Prose as shown: blank runs squeezed, ends trimmed. */
function tidy(lines: string[]): string {
  return lines.join('\n').replace(/\n{3,}/g, '\n\n').trim();
}
