/**
 * The progress file is the learner's to edit or break: every field is validated where it is read,
 * a bad file is kept aside (progress.json.bad-<timestamp>) and the lessons it spoiled start
 * afresh, with one line saying so.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import {
  challengeCounts,
  challengeText,
  emptyProgress,
  lessonProblem,
  loadLessonProgress,
  parseProgress,
  PROGRESS_MAX_BYTES,
  readAllProgress,
  readProgress,
  saveProgress,
  stalePredictions,
} from '../../src/lessons/progress.js';
import type { LessonProgress } from '../../src/lessons/types.js';

const good: LessonProgress = { step: 1, done: ['first'], completed: false, predictions: { first: { choice: 1, correct: true } }, updated: '2026-12-01T00:00:00.000Z' };
const file = (lessons: Record<string, unknown>) => JSON.stringify({ version: 1, lessons });

describe('parseProgress', () => {
  it('keeps a valid file as it is', () => {
    const p = parseProgress(file({ a: good }));
    expect(p.problems).toEqual([]);
    expect({ ...p.lessons }).toEqual({ a: good });
  });

  it.each([
    ['"predictions": null', { ...good, predictions: null }, /"predictions" is not an object/],
    ['a negative step', { ...good, step: -5 }, /step -5 is out of range/],
    ['a huge step', { ...good, step: 1e12 }, /step 1000000000000 is out of range/],
    ['a fractional step', { ...good, step: 1.5 }, /step 1.5 is out of range/],
    ['a step as a string', { ...good, step: '3' }, /step "3" is out of range/],
    ['done not a list', { ...good, done: 'first' }, /"done" is not a list/],
    ['done with a non-id', { ...good, done: [3] }, /"done" is not a list/],
    ['completed not a boolean', { ...good, completed: 'yes' }, /"completed"/],
    ['a prediction with a bad choice', { ...good, predictions: { first: { choice: -1, correct: true } } }, /prediction "first"/],
    ['a prediction without correct', { ...good, predictions: { first: { choice: 1 } } }, /prediction "first"/],
    ['updated missing', { ...good, updated: undefined }, /"updated"/],
    ['an entry that is not an object', 7, /not an object/],
  ])('drops a lesson with %s, keeps the others', (_what, bad, problem) => {
    const p = parseProgress(file({ a: good, b: bad }));
    expect(p.whole).toBe(false);
    expect(p.dropped).toEqual(['b']);
    expect(p.problems.join()).toMatch(problem);
    expect({ ...p.lessons }).toEqual({ a: good });
  });

  it.each([
    ['invalid JSON', '{"version":1,'],
    ['an empty file', ''],
    ['JSON null', 'null'],
    ['another version', JSON.stringify({ version: 2, lessons: {} })],
    ['lessons as a list', JSON.stringify({ version: 1, lessons: [] })],
    ['too many lessons', file(Object.fromEntries(Array.from({ length: 501 }, (_, i) => [`l${i}`, good])))],
  ])('rejects the whole file with %s', (_what, text) => {
    const p = parseProgress(text);
    expect(p.whole).toBe(true);
    expect(p.problems).toHaveLength(1);
    expect(Object.keys(p.lessons)).toEqual([]);
  });

  it('keeps valid challenge states (answers deduplicated); an entry without them stays without', () => {
    const withC = { ...good, challenges: { 'own-ns': { state: 'done', answered: ['q1', 'q1'], solutionShown: false }, 'find-it': { state: 'skipped', answered: [] } } };
    const p = parseProgress(file({ a: withC, b: good }));
    expect(p.problems).toEqual([]);
    expect(p.lessons.a.challenges).toEqual({ 'own-ns': { state: 'done', answered: ['q1'], solutionShown: false }, 'find-it': { state: 'skipped', answered: [] } });
    expect('challenges' in p.lessons.b).toBe(false);
  });

  it.each([
    ['challenges not an object', [], /"challenges" is not an object/],
    ['challenges null', null, /"challenges" is not an object/],
    ['an unknown state', { c: { state: 'won', answered: [] } }, /challenge "c" is not valid/],
    ['a state missing', { c: { answered: [] } }, /challenge "c" is not valid/],
    ['answered not a list', { c: { state: 'started', answered: 'q1' } }, /challenge "c" is not valid/],
    ['answered with a non-id', { c: { state: 'started', answered: ['Q 1'] } }, /challenge "c" is not valid/],
    ['answered too long', { c: { state: 'started', answered: Array.from({ length: 101 }, (_, i) => `q${i}`) } }, /challenge "c" is not valid/],
    ['solutionShown not a boolean', { c: { state: 'done', answered: [], solutionShown: 'yes' } }, /challenge "c" is not valid/],
    ['a step id that is not an id', { 'Not An Id': { state: 'done', answered: [] } }, /challenge "Not An Id" is not valid/],
    ['too many challenges', Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`c${i}`, { state: 'done', answered: [] }])), /too many challenges/],
  ])('drops a lesson whose challenges have %s', (_what, challenges, problem) => {
    const p = parseProgress(file({ a: good, b: { ...good, challenges } }));
    expect(p.dropped).toEqual(['b']);
    expect(p.problems.join()).toMatch(problem);
    expect({ ...p.lessons }).toEqual({ a: good });
  });

  it('keeps a numeric prediction: its guess and score', () => {
    const numeric = { ...good, predictions: { first: { choice: 1, correct: true }, cpu: { choice: 0, correct: false, guess: 38.5, score: 'close' } } };
    const p = parseProgress(file({ a: numeric }));
    expect(p.problems).toEqual([]);
    expect(p.lessons.a.predictions.cpu).toEqual({ choice: 0, correct: false, guess: 38.5, score: 'close' });
  });

  it.each([
    ['a guess as a string', { choice: 0, correct: true, guess: '25', score: 'right' }],
    ['a guess without a score', { choice: 0, correct: true, guess: 25 }],
    ['a score without a guess', { choice: 0, correct: true, score: 'right' }],
    ['an unknown score', { choice: 0, correct: false, guess: 25, score: 'nearly' }],
    ['a score that disagrees with correct', { choice: 0, correct: true, guess: 25, score: 'close' }],
    ['a huge guess', { choice: 0, correct: false, guess: 1e300, score: 'off' }],
    ['a guess with a choice', { choice: 2, correct: true, guess: 25, score: 'right' }],
  ])('drops a lesson whose numeric prediction has %s', (_what, record) => {
    const p = parseProgress(file({ a: good, b: { ...good, predictions: { cpu: record } } }));
    expect(p.dropped).toEqual(['b']);
    expect(p.problems.join()).toMatch(/prediction "cpu" is not valid/);
  });

  it('a guess of NaN or Infinity cannot be written as JSON, and null is refused', () => {
    const p = parseProgress(file({ b: { ...good, predictions: { cpu: { choice: 0, correct: false, guess: NaN, score: 'off' } } } }));
    expect(p.dropped).toEqual(['b']);
  });

  it('an id like __proto__ or constructor reaches no prototype', () => {
    const p = parseProgress(`{"version":1,"lessons":{"__proto__":${JSON.stringify(good)},"constructor":${JSON.stringify(good)}}}`);
    expect(Object.getPrototypeOf(p.lessons)).toBeNull();
    expect(p.lessons.toString).toBeUndefined();
    expect(Object.keys(p.lessons).sort()).toEqual(['__proto__', 'constructor']);
  });
});

describe('lessonProblem (checked against the lesson itself)', () => {
  const lesson = { steps: [{ id: 'first', prediction: { choices: ['x', 'y'] } }, { id: 'second' }] } as never;
  it('accepts what fits the lesson', () => expect(lessonProblem(good, lesson)).toBeNull());
  it('refuses a step past the end, an unknown step, a choice not offered', () => {
    expect(lessonProblem({ ...good, step: 2 }, lesson)).toMatch(/step 3 of a 2-step lesson/);
    expect(lessonProblem({ ...good, done: ['third'] }, lesson)).toMatch(/unknown step "third"/);
    expect(lessonProblem({ ...good, predictions: { first: { choice: 5, correct: false } } }, lesson)).toMatch(/not one of the choices/);
    expect(lessonProblem({ ...good, predictions: { second: { choice: 0, correct: false } } }, lesson)).toMatch(/not one of the choices/);
  });

  it('a numeric prediction: its guess within the step\'s bounds', () => {
    const withN = { steps: [{ id: 'first', prediction: { choices: ['x', 'y'] } }, { id: 'cpu', prediction: { choices: [], number: { unit: '%', min: 0, max: 100, tolerance: 5 } } }] } as never;
    const rec = (guess: number) => ({ ...good, predictions: { cpu: { choice: 0, correct: false, guess, score: 'off' as const } } });
    expect(lessonProblem(rec(100), withN)).toBeNull();
    expect(lessonProblem(rec(0), withN)).toBeNull();
    expect(lessonProblem(rec(101), withN)).toMatch(/prediction "cpu" is outside 0..100/);
    expect(lessonProblem(rec(-1), withN)).toMatch(/prediction "cpu" is outside 0..100/);
  });

  it('a prediction of the other kind (the course changed the step) is forgotten, not a reason to start afresh', () => {
    const withN = { steps: [{ id: 'first', prediction: { choices: ['x', 'y'] } }, { id: 'cpu', prediction: { choices: [], number: { unit: '%', min: 0, max: 100, tolerance: 5 } } }] } as never;
    const old = { ...good, predictions: { first: { choice: 1, correct: true }, cpu: { choice: 1, correct: true } } };
    expect(lessonProblem(old, withN)).toBeNull();
    expect(stalePredictions(old, withN)).toEqual(['cpu']);
    const back = { ...good, predictions: { first: { choice: 0, correct: false, guess: 3, score: 'off' as const } } };
    expect(stalePredictions(back, withN)).toEqual(['first']);
  });

  it('challenges: only the lesson\'s challenge steps, answers only to their questions', () => {
    const withC = {
      steps: [{ id: 'first', prediction: { choices: ['x', 'y'] } }, { id: 'second' }, { id: 'own-ns', challenge: { questions: [{ id: 'q1' }] } }, { id: 'no-q', challenge: {} }],
    } as never;
    const ok = { ...good, challenges: { 'own-ns': { state: 'started' as const, answered: ['q1'] }, 'no-q': { state: 'skipped' as const, answered: [] } } };
    expect(lessonProblem(ok, withC)).toBeNull();
    expect(lessonProblem({ ...good, challenges: { gone: { state: 'done', answered: [] } } }, withC)).toMatch(/"gone" is not a challenge of this lesson/);
    expect(lessonProblem({ ...good, challenges: { second: { state: 'done', answered: [] } } }, withC)).toMatch(/"second" is not a challenge/);
    expect(lessonProblem({ ...good, challenges: { 'own-ns': { state: 'done', answered: ['q2'] } } }, withC)).toMatch(/challenge "own-ns" has no question "q2"/);
    expect(lessonProblem({ ...good, challenges: { 'no-q': { state: 'done', answered: ['q1'] } } }, withC)).toMatch(/challenge "no-q" has no question "q1"/);
  });
});

describe('challengeCounts / challengeText (the catalogue)', () => {
  const ids = ['c1', 'c2', 'c3'];
  it('counts done (in done, or state done), skipped, out of the lesson\'s challenges', () => {
    expect(challengeCounts(ids, null)).toEqual({ done: 0, total: 3, skipped: 0 });
    const p = { ...good, done: ['first', 'c1'], challenges: { c2: { state: 'skipped' as const, answered: [] }, c3: { state: 'started' as const, answered: [] }, old: { state: 'done' as const, answered: [] } } };
    expect(challengeCounts(ids, p)).toEqual({ done: 1, total: 3, skipped: 1 });
    expect(challengeText(challengeCounts(ids, p))).toBe('challenges 1/3, 1 skipped');
    expect(challengeText(challengeCounts([], p))).toBe('');
  });
});

describe('a bad progress file on disk', () => {
  let dir: string;
  let progressFile: string;
  const saved = { ...process.env };
  const backups = () => fs.readdirSync(path.join(dir, 'sandbox')).filter((f) => f.startsWith('progress.json.bad-'));

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sandbox-progress-'));
    process.env.XDG_STATE_HOME = dir;
    delete process.env.SUDO_USER;
    fs.mkdirSync(path.join(dir, 'sandbox'));
    progressFile = path.join(dir, 'sandbox', 'progress.json');
  });
  afterEach(() => {
    process.env = { ...saved };
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('invalid JSON: kept aside, every lesson starts afresh, said once in one line', () => {
    fs.writeFileSync(progressFile, '{"version":1, "lessons": {');
    const notices: string[] = [];
    expect({ ...readAllProgress((m) => notices.push(m)) }).toEqual({});
    expect(notices).toHaveLength(1);
    expect(notices[0]).not.toContain('\n');
    expect(notices[0]).toMatch(/was not valid \(it is not valid JSON\); it is kept as .*progress\.json\.bad-\d{8}T\d{9}Z; every lesson starts afresh/);
    expect(backups()).toHaveLength(1);
    expect(fs.readFileSync(path.join(dir, 'sandbox', backups()[0]), 'utf8')).toBe('{"version":1, "lessons": {');
    expect(fs.existsSync(progressFile)).toBe(false);
    // The next read finds nothing wrong: no second copy, no second message.
    readAllProgress((m) => notices.push(m));
    expect(notices).toHaveLength(1);
    saveProgress('a', emptyProgress());
    expect(readProgress('a')).toMatchObject({ step: 0 });
  });

  it('"predictions": null in one lesson: that lesson starts afresh, the others are kept, the file is repaired', () => {
    const text = file({ a: good, b: { ...good, predictions: null } });
    fs.writeFileSync(progressFile, text);
    const notices: string[] = [];
    const all = readAllProgress((m) => notices.push(m));
    expect({ ...all }).toEqual({ a: good });
    expect(notices[0]).toMatch(/"b": "predictions" is not an object\); it is kept as .*; "b" starts afresh/);
    expect(fs.readFileSync(path.join(dir, 'sandbox', backups()[0]), 'utf8')).toBe(text);
    expect(parseProgress(fs.readFileSync(progressFile, 'utf8')).problems).toEqual([]);
    expect(readProgress('b')).toBeNull();
  });

  it('a huge file is not read: kept aside, quickly', () => {
    fs.writeFileSync(progressFile, Buffer.alloc(PROGRESS_MAX_BYTES * 4, 0x20));
    const t0 = Date.now();
    const notices: string[] = [];
    expect({ ...readAllProgress((m) => notices.push(m)) }).toEqual({});
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(notices[0]).toMatch(/larger than 1048576 bytes/);
    expect(backups()).toHaveLength(1);
  });

  it('a step out of range for the lesson: the lesson starts afresh with a message, never "step -4"', () => {
    const lesson = { id: 'two-steps', steps: [{ id: 'first', prediction: { choices: ['x', 'y'] } }, { id: 'second' }] } as never;
    fs.writeFileSync(progressFile, file({ 'two-steps': { ...good, step: 40 }, other: good }));
    const r = loadLessonProgress(lesson);
    expect(r.progress).toBeNull();
    expect(r.notice).toMatch(/"two-steps": step 41 of a 2-step lesson\); it is kept as .*; "two-steps" starts afresh/);
    expect(readProgress('other')).toEqual(good);
    expect(backups()).toHaveLength(1);
    // A valid entry comes back as saved.
    fs.writeFileSync(progressFile, file({ 'two-steps': good }));
    expect(loadLessonProgress(lesson)).toEqual({ progress: good, notice: null });
  });

  it('a choice recorded for a step that now asks a number: that prediction is dropped, the rest kept, no notice', () => {
    const lesson = { id: 'two-steps', steps: [{ id: 'first', prediction: { choices: [], number: { unit: '%', min: 0, max: 100, tolerance: 5 } } }, { id: 'second' }] } as never;
    fs.writeFileSync(progressFile, file({ 'two-steps': good }));
    expect(loadLessonProgress(lesson)).toEqual({ progress: { ...good, predictions: {} }, notice: null });
    expect(backups()).toHaveLength(0);
    // A guess outside the bounds is not valid: the lesson starts afresh, said once.
    fs.writeFileSync(progressFile, file({ 'two-steps': { ...good, predictions: { first: { choice: 0, correct: false, guess: 500, score: 'off' } } } }));
    const r = loadLessonProgress(lesson);
    expect(r.progress).toBeNull();
    expect(r.notice).toMatch(/"two-steps": prediction "first" is outside 0..100\)/);
  });
});
