/**
 * Per-user progress, in the XDG state directory: $XDG_STATE_HOME/sandbox or ~/.local/state/sandbox.
 * Lessons run as root through sudo, but progress belongs to the person: it is read and written as
 * the invoking user, never through a link (runtime/userfiles.ts), atomically (a temporary file
 * renamed into place), so it is never half-written, lost, or a way to write root's files.
 *
 * The file is the learner's to edit or break, so what is read is validated field by field
 * (bounded numbers, known shapes). A file that is not valid is kept aside as
 * `progress.json.bad-<timestamp>` and the lessons it spoiled start afresh, with one line saying so.
 */
import path from 'node:path';

import { E_TOO_BIG, quarantineUserFile, readUserFile, stateLocation, writeUserFile } from '../runtime/userfiles.js';
import { formatError, SandboxError } from '../runtime/errors.js';
import { MAX_GUESS_ABS } from './prediction.js';
import type { ChallengeProgress, Lesson, LessonProgress, LessonStatus, PredictionRecord, PredictionScore } from './types.js';

export const PROGRESS_FILE = 'progress.json';
/** Far above any real progress file (a few KiB); a bigger one is not read. */
export const PROGRESS_MAX_BYTES = 1 << 20;
const MAX_LESSONS = 500;
const MAX_STEP = 999;
const MAX_IDS = 1000;
const MAX_CHOICE = 99;
/** Far above a lesson's challenges and a challenge's questions. */
const MAX_CHALLENGES = 100;
const MAX_ANSWERS = 100;
const CHALLENGE_STATES: readonly ChallengeProgress['state'][] = ['started', 'done', 'skipped'];
const SCORES: readonly PredictionScore[] = ['right', 'close', 'off'];
const STEP_ID_RE = /^[a-z0-9][a-z0-9-]{0,99}$/;
const CONTROL_RE = /[\x00-\x1f\x7f-\x9f]/;

/** $XDG_STATE_HOME/sandbox (absolute values only, as the spec says), else ~/.local/state/sandbox. */
export function stateDir(): string {
  return stateLocation().dir;
}

/** Writes a file in the state directory atomically, as the invoking user, never through a link. */
export function writeStateFile(name: string, text: string): void {
  writeUserFile(stateLocation(), name, text);
}

interface ProgressFile {
  version: 1;
  lessons: Record<string, LessonProgress>;
}

export interface ParsedProgress {
  /** The valid lessons (a null-prototype record: no id can reach Object.prototype). */
  lessons: Record<string, LessonProgress>;
  /** What was wrong, for the learner (empty when the file is fine). */
  problems: string[];
  /** The whole file was unusable (not JSON, wrong shape, too big). */
  whole: boolean;
  /** Lessons dropped because their entry was not valid. */
  dropped: string[];
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isIndex = (v: unknown, max: number): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= max;
const shortId = (id: string) => JSON.stringify(id.length > 40 ? `${id.slice(0, 39)}…` : id);

/** One lesson's entry, checked field by field; a problem (one phrase) or the clean copy. */
function parseEntry(v: unknown): LessonProgress | string {
  if (!isObject(v)) return 'not an object';
  if (!isIndex(v.step, MAX_STEP)) return `step ${typeof v.step === 'number' ? v.step : JSON.stringify(v.step)?.slice(0, 20)} is out of range`;
  if (!Array.isArray(v.done) || v.done.length > MAX_IDS || !v.done.every((d) => typeof d === 'string' && STEP_ID_RE.test(d))) {
    return '"done" is not a list of step ids';
  }
  if (typeof v.completed !== 'boolean') return '"completed" is not true or false';
  if (!isObject(v.predictions)) return '"predictions" is not an object';
  const entries = Object.entries(v.predictions);
  if (entries.length > MAX_IDS) return 'too many predictions';
  const predictions: LessonProgress['predictions'] = {};
  for (const [k, p] of entries) {
    const record = STEP_ID_RE.test(k) ? parsePrediction(p) : null;
    if (!record) return `prediction ${shortId(k)} is not valid`;
    predictions[k] = record;
  }
  if (typeof v.updated !== 'string' || v.updated.length > 64) return '"updated" is not a date';
  const out: LessonProgress = { step: v.step, done: [...new Set(v.done as string[])], completed: v.completed, predictions, updated: v.updated };
  if (v.challenges !== undefined) {
    const challenges = parseChallenges(v.challenges);
    if (typeof challenges === 'string') return challenges;
    out.challenges = challenges;
  }
  return out;
}

/**
 * One prediction: { choice, correct } for a choice; a numeric one adds its guess (a finite number,
 * bounded) and its score, which must agree with `correct`. Null when not valid.
 */
function parsePrediction(p: unknown): PredictionRecord | null {
  if (!isObject(p) || !isIndex(p.choice, MAX_CHOICE) || typeof p.correct !== 'boolean') return null;
  if (p.guess === undefined && p.score === undefined) return { choice: p.choice, correct: p.correct };
  const guess = p.guess;
  if (typeof guess !== 'number' || !Number.isFinite(guess) || Math.abs(guess) > MAX_GUESS_ABS) return null;
  if (typeof p.score !== 'string' || !SCORES.includes(p.score as PredictionScore)) return null;
  if (p.correct !== (p.score === 'right') || p.choice !== 0) return null;
  return { choice: 0, correct: p.correct, guess, score: p.score as PredictionScore };
}

/** The optional `challenges` field: step id → { state, answered, solutionShown? }, bounded. */
function parseChallenges(v: unknown): Record<string, ChallengeProgress> | string {
  if (!isObject(v)) return '"challenges" is not an object';
  const entries = Object.entries(v);
  if (entries.length > MAX_CHALLENGES) return 'too many challenges';
  const out: Record<string, ChallengeProgress> = {};
  for (const [k, c] of entries) {
    const bad = `challenge ${shortId(k)} is not valid`;
    if (!STEP_ID_RE.test(k) || !isObject(c)) return bad;
    if (typeof c.state !== 'string' || !CHALLENGE_STATES.includes(c.state as ChallengeProgress['state'])) return bad;
    if (!Array.isArray(c.answered) || c.answered.length > MAX_ANSWERS || !c.answered.every((a) => typeof a === 'string' && STEP_ID_RE.test(a))) return bad;
    if (c.solutionShown !== undefined && typeof c.solutionShown !== 'boolean') return bad;
    out[k] = { state: c.state as ChallengeProgress['state'], answered: [...new Set(c.answered as string[])] };
    if (c.solutionShown !== undefined) out[k].solutionShown = c.solutionShown;
  }
  return out;
}

/** Validates a progress file's text. Never throws. */
export function parseProgress(text: string): ParsedProgress {
  const lessons = Object.create(null) as Record<string, LessonProgress>;
  const whole = (problem: string): ParsedProgress => ({ lessons: Object.create(null), problems: [problem], whole: true, dropped: [] });
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return whole('it is not valid JSON');
  }
  if (!isObject(data) || data.version !== 1 || !isObject(data.lessons)) return whole('it is not a progress file of version 1');
  const ids = Object.keys(data.lessons);
  if (ids.length > MAX_LESSONS) return whole(`it lists ${ids.length} lessons`);
  const problems: string[] = [];
  const dropped: string[] = [];
  for (const id of ids) {
    const entry = id.length > 0 && id.length <= 200 && !CONTROL_RE.test(id) ? parseEntry(data.lessons[id]) : 'its name is not a lesson id';
    if (typeof entry === 'string') {
      problems.push(`${shortId(id)}: ${entry}`);
      dropped.push(id);
    } else {
      lessons[id] = entry;
    }
  }
  return { lessons, problems, whole: false, dropped };
}

/**
 * Predictions recorded for a step whose prediction has since changed kind (a choice became a
 * number, or back, in a newer course): not the learner's doing, so not a reason to start the
 * lesson afresh; they are forgotten (the step asks again when it is run).
 */
export function stalePredictions(p: LessonProgress, lesson: Pick<Lesson, 'steps'>): string[] {
  return Object.entries(p.predictions)
    .filter(([k, c]) => {
      const pred = lesson.steps.find((s) => s.id === k)?.prediction;
      return pred !== undefined && (c.guess !== undefined) !== (pred.number !== undefined);
    })
    .map(([k]) => k);
}

/** What a lesson's entry must also agree with: its own steps and choices. */
export function lessonProblem(p: LessonProgress, lesson: Pick<Lesson, 'steps'>): string | null {
  const steps = lesson.steps;
  if (p.step >= steps.length) return `step ${p.step + 1} of a ${steps.length}-step lesson`;
  const ids = new Set(steps.map((s) => s.id));
  const unknown = p.done.find((d) => !ids.has(d));
  if (unknown !== undefined) return `unknown step ${shortId(unknown)}`;
  for (const [k, c] of Object.entries(p.predictions)) {
    const pred = steps.find((s) => s.id === k)?.prediction;
    if (!pred) return `prediction ${shortId(k)} is not one of the choices`;
    // A record of the other kind is from before the course changed the step (see stalePredictions).
    if ((c.guess !== undefined) !== (pred.number !== undefined)) continue;
    if (pred.number) {
      if (!(c.guess! >= pred.number.min && c.guess! <= pred.number.max)) return `prediction ${shortId(k)} is outside ${pred.number.min}..${pred.number.max}`;
    } else if (c.choice >= pred.choices.length) return `prediction ${shortId(k)} is not one of the choices`;
  }
  for (const [k, c] of Object.entries(p.challenges ?? {})) {
    const step = steps.find((s) => s.id === k);
    if (!step?.challenge) return `${shortId(k)} is not a challenge of this lesson`;
    const qids = new Set((step.challenge.questions ?? []).map((q) => q.id));
    const stray = c.answered.find((a) => !qids.has(a));
    if (stray !== undefined) return `challenge ${shortId(k)} has no question ${shortId(stray)}`;
  }
  return null;
}

interface Loaded {
  lessons: Record<string, LessonProgress>;
  notice: string | null;
}

function serialise(lessons: Record<string, LessonProgress>): string {
  return `${JSON.stringify({ version: 1, lessons } satisfies ProgressFile, null, 2)}\n`;
}

/**
 * Keeps the bad file aside, writes what was valid (unless nothing was), and says so in one line.
 * Failing to do either is said too, but never stops the learner.
 */
function repair(lessons: Record<string, LessonProgress>, problems: string[], scope: string): string {
  const loc = stateLocation();
  const file = path.join(loc.dir, PROGRESS_FILE);
  const reasons = problems.slice(0, 3).join('; ') + (problems.length > 3 ? `; and ${problems.length - 3} more` : '');
  let kept: string;
  try {
    const backup = quarantineUserFile(loc, PROGRESS_FILE);
    kept = backup ? `it is kept as ${backup}` : 'it is gone';
    if (Object.keys(lessons).length) writeUserFile(loc, PROGRESS_FILE, serialise(lessons));
  } catch (err) {
    kept = `it could not be set aside (${err instanceof SandboxError ? err.message : String(err)})`;
  }
  return `Your saved progress in ${file} was not valid (${reasons}); ${kept}; ${scope} starts afresh.`;
}

/** Reads and validates the progress file; throws (SandboxError) only when it must not be used. */
function load(): Loaded {
  let text: string | null;
  try {
    text = readUserFile(stateLocation(), PROGRESS_FILE, PROGRESS_MAX_BYTES);
  } catch (err) {
    if (err instanceof SandboxError && err.code === E_TOO_BIG) {
      return { lessons: Object.create(null), notice: repair(Object.create(null), [`it is larger than ${PROGRESS_MAX_BYTES} bytes`], 'every lesson') };
    }
    throw err;
  }
  if (text === null) return { lessons: Object.create(null), notice: null };
  const parsed = parseProgress(text);
  if (!parsed.problems.length) return { lessons: parsed.lessons, notice: null };
  const scope = parsed.whole ? 'every lesson' : parsed.dropped.map(shortId).join(', ');
  return { lessons: parsed.lessons, notice: repair(parsed.lessons, parsed.problems, scope) };
}

/**
 * Every lesson's progress, for listings (`lessons`, the home screen). Never throws: a file that
 * cannot be used is reported through `notice` and reads as no progress.
 */
export function readAllProgress(notice: (message: string) => void = () => undefined): Record<string, LessonProgress> {
  try {
    const l = load();
    if (l.notice) notice(l.notice);
    return l.lessons;
  } catch (err) {
    notice(`${formatError(err).replace(/^error: /, 'warning: your progress is not shown: ')}`);
    return Object.create(null);
  }
}

export function readProgress(id: string): LessonProgress | null {
  return load().lessons[id] ?? null;
}

/**
 * The read boundary of a lesson run: lesson `lesson`'s progress, checked against its steps, or
 * null; `notice` says what was not valid and kept aside. Throws when the file must not be used
 * (a link, not the user's): the caller refuses to start and shows the message.
 */
export function loadLessonProgress(lesson: Pick<Lesson, 'id' | 'steps' | 'folder'>): { progress: LessonProgress | null; notice: string | null } {
  const l = load();
  const key = progressKeyOf(lesson);
  const p = l.lessons[key] ?? null;
  const problem = p && lessonProblem(p, lesson);
  if (!problem) {
    const stale = p ? stalePredictions(p, lesson) : [];
    if (!p || !stale.length) return { progress: p, notice: l.notice };
    const predictions = { ...p.predictions };
    for (const k of stale) delete predictions[k];
    return { progress: { ...p, predictions }, notice: l.notice };
  }
  delete l.lessons[key];
  const notice = repair(l.lessons, [`${shortId(key)}: ${problem}`], shortId(key));
  return { progress: null, notice: l.notice ? `${l.notice}\n${notice}` : notice };
}

/** The key a lesson's progress is saved under: its id, or a folder lesson's own key (see Lesson.folder). */
export function progressKeyOf(lesson: Pick<Lesson, 'id' | 'folder'>): string {
  return lesson.folder?.progressKey ?? lesson.id;
}

/** What to type after `sandbox learn` (or `reset`) for this lesson: its id, or its folder. */
export function lessonArg(lesson: Pick<Lesson, 'id' | 'folder'>): string {
  if (!lesson.folder) return lesson.id;
  const d = lesson.folder.dir;
  return /^[\w@%+=:,./-]+$/.test(d) ? d : `'${d.replace(/'/g, `'\\''`)}'`;
}

export function saveProgress(id: string, progress: LessonProgress): void {
  const all = load().lessons;
  all[id] = { ...progress, updated: new Date().toISOString() };
  writeUserFile(stateLocation(), PROGRESS_FILE, serialise(all));
}

/** Forgets one lesson's progress, or all of it. Returns the ids forgotten. */
export function resetProgress(id?: string, notice: (message: string) => void = () => undefined): string[] {
  const loaded = load();
  if (loaded.notice) notice(loaded.notice);
  const all = loaded.lessons;
  const ids = id ? (all[id] ? [id] : []) : Object.keys(all);
  for (const i of ids) delete all[i];
  if (ids.length) writeUserFile(stateLocation(), PROGRESS_FILE, serialise(all));
  return ids;
}

export function statusOf(p: LessonProgress | null): LessonStatus {
  if (!p) return 'new';
  return p.completed ? 'completed' : 'in progress';
}

/** A lesson's challenges for listings: done (passed) and skipped out of `ids` (its challenge steps). */
export function challengeCounts(ids: readonly string[], p: LessonProgress | null): { done: number; total: number; skipped: number } {
  let done = 0;
  let skipped = 0;
  for (const id of ids) {
    const c = p?.challenges?.[id];
    if (c?.state === 'done' || p?.done.includes(id)) done++;
    else if (c?.state === 'skipped') skipped++;
  }
  return { done, total: ids.length, skipped };
}

/** "challenges 1/2, 1 skipped" (empty for a lesson without challenges). */
export function challengeText(c: { done: number; total: number; skipped: number }): string {
  if (!c.total) return '';
  return `challenges ${c.done}/${c.total}${c.skipped ? `, ${c.skipped} skipped` : ''}`;
}

export function emptyProgress(): LessonProgress {
  return { step: 0, done: [], completed: false, predictions: {}, updated: new Date().toISOString() };
}
