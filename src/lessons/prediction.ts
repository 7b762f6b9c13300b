/**
 * Predictions, the same everywhere (the TUI, line mode, --auto, progress, the course check): a
 * choice ("which PID will `sleep` have inside?") or a number ("what % of the CPU will a get?").
 * A number is typed, checked against the prediction's bounds, and scored by its closeness to the
 * answer: right within the tolerance, close within three times it, off beyond. What the kernel
 * gave (`measured`) is read after the action and shown with its probe next to the guess.
 */
import type { LessonContext } from './context.js';
import type { Prediction, PredictionRecord, PredictionScore } from './types.js';

/** Longest number a learner may type (digits, one '.', a sign): "100000.25". */
export const MAX_GUESS_CHARS = 16;
/** No prediction's bounds reach this; a stored guess beyond it is not valid. */
export const MAX_GUESS_ABS = 1e12;
const MEASURE_TIMEOUT_MS = 15_000;

export function isNumeric(p: Prediction): p is Prediction & { number: NonNullable<Prediction['number']> } {
  return p.number !== undefined;
}

/** "33.3", "1", "0.25": at most two decimals, no trailing zeros, no exponent. */
export function formatNumber(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const r = Math.round(x * 100) / 100;
  return String(Object.is(r, -0) ? 0 : r);
}

/** "33 %", "2 processes", "1 process", "64 MiB": the unit after a space, singular for 1. */
export function withUnit(x: number, unit: string): string {
  const n = formatNumber(x);
  return unit ? `${n} ${n === '1' || n === '-1' ? singular(unit) : unit}` : n;
}

/** "processes" → "process", "capabilities" → "capability", "PIDs" → "PID"; "%", "ms", "MiB" as they are. */
function singular(unit: string): string {
  if (!/^[A-Za-z]{3,}s$/.test(unit)) return unit;
  if (/ies$/.test(unit)) return `${unit.slice(0, -3)}y`;
  if (/(ss|x|z|ch|sh)es$/.test(unit)) return unit.slice(0, -2);
  return unit.slice(0, -1);
}

/** A number's score against the prediction's answer. */
export function scoreGuess(p: Prediction & { number: NonNullable<Prediction['number']> }, guess: number): PredictionScore {
  const d = Math.abs(guess - p.answer);
  // A hair of slack for binary fractions: 0.1 + 0.2 typed as 0.3 is within a tolerance of 0.3.
  const eps = 1e-9 * Math.max(1, Math.abs(p.answer));
  if (d <= p.number.tolerance + eps) return 'right';
  if (d <= 3 * p.number.tolerance + eps) return 'close';
  return 'off';
}

/** The score of an answer: a choice index (right or off) or a typed number (right, close, off). */
export function scoreAnswer(p: Prediction, given: number): PredictionScore {
  if (isNumeric(p)) return scoreGuess(p, given);
  return given === p.answer ? 'right' : 'off';
}

/** What progress keeps of an answer: the choice, or the typed number and its score. */
export function predictionRecord(p: Prediction, given: number): PredictionRecord {
  const score = scoreAnswer(p, given);
  if (isNumeric(p)) return { choice: 0, correct: score === 'right', guess: given, score };
  return { choice: given, correct: score === 'right' };
}

/** The answer kept in progress, as the screens hold it: the choice index, or the typed number. */
export function recordedAnswer(r: PredictionRecord | undefined): number | null {
  if (!r) return null;
  return r.guess ?? r.choice;
}

/** Characters that may be typed into a numeric prediction: digits, '.', and '-' when it may be negative. */
export function allowedGuessChar(p: Prediction, ch: string): boolean {
  if (/^[0-9.]$/.test(ch)) return true;
  return ch === '-' && (p.number?.min ?? 0) < 0;
}

/**
 * Reads a typed number: "33", "33.3", "33 %" and "33%" (the unit may follow). Returns the number,
 * or what is wrong with it and what to type instead.
 */
export function parseGuess(p: Prediction, text: string): { value: number } | { error: string } {
  const n = p.number!;
  const range = `a number from ${formatNumber(n.min)} to ${withUnit(n.max, n.unit)}`;
  let t = text.trim();
  if (n.unit && t.toLowerCase().endsWith(n.unit.toLowerCase())) t = t.slice(0, t.length - n.unit.length).trim();
  if (!t) return { error: `Type ${range}.` };
  if (t.length > MAX_GUESS_CHARS || !/^-?(\d+\.?\d*|\.\d+)$/.test(t)) return { error: `"${text.trim().slice(0, MAX_GUESS_CHARS)}" is not a number: type ${range}.` };
  const value = Number(t);
  if (!Number.isFinite(value)) return { error: `"${t}" is not a number: type ${range}.` };
  if (value < n.min || value > n.max) return { error: `${withUnit(value, n.unit)} is outside what this can be: type ${range}.` };
  return { value };
}

/** What the learner answered, in words: the choice's text, or the number with its unit. */
export function answerText(p: Prediction, given: number): string {
  if (isNumeric(p)) return withUnit(given, p.number.unit);
  return p.choices[given] ?? '?';
}

/** The right answer, in words: the right choice, or the expected number with its tolerance. */
export function expectedText(p: Prediction): string {
  if (isNumeric(p)) {
    // A count with a tolerance under 1 is right only when exact: no "± 0.5" to puzzle over.
    if (Number.isInteger(p.answer) && p.number.tolerance < 1) return `${withUnit(p.answer, p.number.unit)}, exactly`;
    return `${withUnit(p.answer, p.number.unit)} ± ${formatNumber(p.number.tolerance)}`;
  }
  return p.choices[p.answer] ?? '?';
}

/** What the kernel gave, read after the action: its value and how it was read, or why it could not be. */
export type Measured = { probe: string; value: number } | { error: string };

/** Reads `measured` (if the prediction has it) after the action; never throws. */
export async function measurePrediction(p: Prediction | undefined, ctx: LessonContext): Promise<Measured | null> {
  const m = p?.number?.measured;
  if (!m) return null;
  let timer: NodeJS.Timeout | undefined;
  try {
    const r = await Promise.race([
      Promise.resolve(m(ctx)),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`it took longer than ${MEASURE_TIMEOUT_MS / 1000} s`)), MEASURE_TIMEOUT_MS);
      }),
    ]);
    if (!Number.isFinite(r.value)) return { error: `the measurement gave ${String(r.value)} (${r.probe})` };
    return { probe: r.probe, value: r.value };
  } catch (err) {
    return { error: (err as Error).message ?? String(err) };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * One line for the reveal, without the explanation: "You predicted 40 %: close (the kernel's
 * figure is 33 % ± 5; measured 33.2 % by `…`)". Used by line mode; the TUI styles the same parts.
 */
export function revealText(p: Prediction, given: number, measured: Measured | null): string {
  const score = scoreAnswer(p, given);
  if (!isNumeric(p)) return `You predicted: ${answerText(p, given)}. ${score === 'right' ? 'Right.' : `The kernel did: ${expectedText(p)}.`}`;
  const verdict = score === 'right' ? 'right' : score === 'close' ? 'close' : 'off';
  return `You predicted ${answerText(p, given)}: ${verdict} (expected ${expectedText(p)}${measuredText(p, measured)}).`;
}

/** "; measured 33.2 % by `cat …`", or why it could not be measured, or nothing. */
export function measuredText(p: Prediction, measured: Measured | null): string {
  if (!measured) return '';
  if ('error' in measured) return `; the measurement failed: ${measured.error}`;
  return `; measured ${withUnit(measured.value, p.number?.unit ?? '')} by \`${measured.probe}\``;
}

/** Problems with a prediction's definition (empty = fine): used by lintLesson. */
export function lintPrediction(p: Prediction): string[] {
  const out: string[] = [];
  if (!p.question.trim()) out.push('a prediction needs a question');
  if (!p.explanation.trim()) out.push('a prediction needs an explanation');
  if (!isNumeric(p)) {
    if (p.choices.length < 2) out.push('a prediction needs at least two choices');
    if (!(Number.isInteger(p.answer) && p.answer >= 0 && p.answer < p.choices.length)) out.push(`prediction answer ${p.answer} is not a choice`);
    if (p.choices.length > 9) out.push('at most 9 choices (they are picked with the keys 1-9)');
    return out;
  }
  const n = p.number;
  if (p.choices.length) out.push('a numeric prediction has no choices (choices: [])');
  const finite = [p.answer, n.min, n.max, n.tolerance].every((x) => typeof x === 'number' && Number.isFinite(x) && Math.abs(x) < MAX_GUESS_ABS);
  if (!finite) out.push('a numeric prediction needs finite numbers (answer, min, max, tolerance)');
  else {
    if (!(n.min <= n.max)) out.push(`a numeric prediction's min ${n.min} is above its max ${n.max}`);
    if (!(p.answer >= n.min && p.answer <= n.max)) out.push(`the numeric prediction's answer ${p.answer} is outside ${n.min}..${n.max}`);
    if (!(n.tolerance > 0)) out.push(`the numeric prediction's tolerance must be above 0 (it is ${n.tolerance}; for an exact count use 0.5: right only when exact, close when one off)`);
  }
  if (!n.unit.trim()) out.push('a numeric prediction needs a unit ("%", "processes", "MiB")');
  return out;
}
