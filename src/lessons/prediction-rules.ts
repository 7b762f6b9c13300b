/**
 * The course's rules for predictions (issue 13): a prediction tests the learner only if nothing
 * on the screen around it answers it. `check:lessons` applies them to every lesson (and
 * `check:lessons --static` applies them alone, in a second, without root).
 *
 *  (a) the step's title and its hint do not contain the right answer's words;
 *  (b) a choice is an answer, not an answer and its reason ("1: every PID namespace numbers
 *      from 1", "… because …", "… — …"): the reason belongs in the explanation.
 *
 * The rules read the lesson's data only; they are heuristics, written to flag what a reader would
 * call a give-away and little else (see answerWords for how words are compared).
 */
import { formatNumber, isNumeric } from './prediction.js';
import type { Lesson, Prediction, Step } from './types.js';

/**
 * Function words: they carry no answer ("it is down" gives nothing away by its "it is"). Words
 * like "only", "one", "none", "never" are content: they are often the answer. A choice made of
 * function words alone ("no", or a sandbox called "a") cannot be checked by these rules.
 */
const STOP_WORDS = new Set(
  `a an the and or but nor if then else of to in on at by for with from into onto over under as
  is are was were be been being am it its this that these those there here no yes so than too
  very just also still yet do does did done has have had having will would can could may might
  must shall should i you he she we they them their his her our your my me us what which who whom
  whose when where why how all any both each few more most other some such own same again once
  up out off about after before while until s t`.split(/\s+/),
);

/**
 * Words of a text, normalised: lower case, backticks and punctuation dropped, hyphenated words
 * split ("read-only" → read, only); technical tokens kept whole (`cgroup.kill`, `/proc/1/ns`,
 * `pid:[4026531836]` → pid, 4026531836; `CLONE_NEWPID`); a light stem, so "killed", "kills"
 * and "kill" compare equal, and "processes" and "process".
 */
export function words(text: string): string[] {
  return text
    .toLowerCase()
    .split(/[^a-z0-9._/:+]+/)
    .map((t) => t.replace(/^[._/:+]+|[._/:+]+$/g, ''))
    .filter((t) => t.length > 0)
    .map(stem);
}

function stem(w: string): string {
  if (!/^[a-z]+$/.test(w) || w.length <= 4) return w;
  let base = w;
  if (w.endsWith('sses')) base = w.slice(0, -2);
  else if (w.endsWith('ies')) base = `${w.slice(0, -3)}y`;
  else if (/(s|x|z|ch|sh)es$/.test(w)) base = w.slice(0, -2);
  else if (w.endsWith('ing')) base = w.slice(0, -3);
  else if (w.endsWith('ed')) base = w.slice(0, -2);
  else if (w.endsWith('s') && !w.endsWith('ss')) base = w.slice(0, -1);
  // "create", "created", "creating" → creat; "namespace", "namespaces" → namespac.
  if (base.endsWith('e') && base.length > 3) base = base.slice(0, -1);
  return base.length >= 3 ? base : w;
}

const contentWords = (text: string): string[] => words(text).filter((w) => !STOP_WORDS.has(w));

/**
 * The words that single out choice `i` (default: the right one): its content words that no other
 * choice has (a word every choice shares, like "namespace", tells nothing). For a number choice
 * ("1", "4711") or a short token ("EPERM", "lo") that is the token itself, matched as a whole
 * word: "1" is found in "PID 1" but not in "10" or "pid:[1234]". For a numeric prediction, the
 * expected number as written ("30", "33.3"), matched the same way. Words the question itself
 * shows are left out: a hint that repeats "weight 25" from the question gives nothing away when
 * the answer is 25 %.
 */
export function answerWords(p: Prediction, i = p.answer): string[] {
  const asked = new Set(words(p.question));
  if (isNumeric(p)) return [formatNumber(p.answer)].filter((w) => !asked.has(w));
  const mine = new Set(contentWords(p.choices[i] ?? ''));
  const others = new Set(p.choices.filter((_, j) => j !== i).flatMap(contentWords));
  return [...mine].filter((w) => !others.has(w) && !asked.has(w));
}

/** A number or a technical token (`shared:N`, `cgroup.kill`, `/proc/1`): one is enough to tell. */
const specific = (w: string) => /[0-9._/:]/.test(w);

/**
 * The right answer's words that `text` gives away, or null. A title gives the answer away when it
 * holds all of the right choice's singling words (when there are one or two) or three in five (a
 * long choice shares a word with a title now and then without saying what it says). A hint may
 * name where to look, so one plain word is not enough there ("in which namespace?"); a number or a
 * technical token is. Either way the text must favour the right choice: a hint that explains
 * every choice's notation (shared:N, master:N) singles out none of them; a "none" in passing
 * does not outweigh three of the right choice's words.
 */
export function givenAway(p: Prediction, text: string, where: 'title' | 'hint'): string[] | null {
  const have = new Set(words(text));
  const answer = answerWords(p);
  if (!answer.length) return null;
  const found = answer.filter((w) => have.has(w));
  const need = answer.length <= 2 ? answer.length : Math.ceil(answer.length * 0.6);
  const enough = found.length >= need || (where === 'hint' && found.some(specific));
  if (!enough || (where === 'hint' && found.length < 2 && !found.some(specific))) return null;
  // A rival: a wrong choice the text names as much: as large a share of its words, and as many
  // of them or a number or technical token of its own (master:N is as telling as shared:N).
  const rival = p.choices.some((_, i) => {
    if (i === p.answer) return false;
    const theirs = answerWords(p, i).filter((w) => have.has(w));
    const share = theirs.length / Math.max(1, answerWords(p, i).length);
    return share >= found.length / answer.length && (theirs.length >= found.length || theirs.some(specific));
  });
  return rival ? null : found;
}

/**
 * Why a choice carries a reason, or null. Code spans (`…`) are left out: `pid:[4026531836]` or
 * `a: b` inside backticks is a value. Flags: a colon or semicolon followed by a space, a dash
 * between spaces (or an em dash), and "because", "since", "so that", "which means", "due to".
 */
export function reasonInChoice(choice: string): string | null {
  const bare = choice.replace(/`[^`]*`/g, 'x');
  if (/:\s/.test(bare)) return 'a colon followed by more words';
  if (/;\s/.test(bare)) return 'a semicolon followed by more words';
  if (/\s[-–—]\s|—/.test(bare)) return 'a dash followed by more words';
  const word = /\b(because|since|so that|which means|due to)\b/i.exec(bare);
  if (word) return `"${word[1].toLowerCase()}"`;
  return null;
}

const quote = (s: string) => JSON.stringify(s.length > 60 ? `${s.slice(0, 59)}…` : s);

/** The prediction rules' findings for one step (empty = fine). */
export function stepPredictionProblems(step: Step): string[] {
  const p = step.prediction;
  if (!p) return [];
  const out: string[] = [];
  const what = isNumeric(p) ? 'the expected number' : "the right choice's words";
  for (const [where, text] of [
    ['title', step.title],
    ['hint', step.hint],
  ] as const) {
    const found = givenAway(p, text, where);
    if (found) out.push(`the ${where} ${quote(text)} contains ${what} (${found.join(', ')}): it gives the prediction's answer away`);
  }
  p.choices.forEach((c, i) => {
    const reason = reasonInChoice(c);
    if (reason) out.push(`choice ${i + 1} ${quote(c)} carries its reason (${reason}): keep the answer, move the why to the explanation`);
  });
  return out;
}

/** The prediction rules over a lesson: "step 2 (id): …" per finding. */
export function predictionRules(lesson: Lesson): string[] {
  return lesson.steps.flatMap((s, i) => stepPredictionProblems(s).map((p) => `step ${i + 1} (${s.id}): ${p}`));
}
