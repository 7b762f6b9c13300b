/** Predictions (choices and numbers): typing, bounds, scoring by closeness, the reveal, the lint. */
import { describe, expect, it } from 'vitest';

import { lintLesson } from '../../src/lessons/engine.js';
import {
  answerText,
  formatNumber,
  lintPrediction,
  measurePrediction,
  parseGuess,
  predictionRecord,
  recordedAnswer,
  revealText,
  scoreAnswer,
} from '../../src/lessons/prediction.js';
import type { LessonContext } from '../../src/lessons/context.js';
import type { Lesson, Prediction } from '../../src/lessons/types.js';

const cpu: Prediction = {
  question: 'What % of the CPU will a get?',
  choices: [],
  answer: 25,
  number: { unit: '%', min: 0, max: 100, tolerance: 5 },
  explanation: 'Weights share the CPU in proportion: 25 / (25 + 75).',
};
const pick: Prediction = { question: 'Which PID?', choices: ['4711', '1', '0'], answer: 1, explanation: 'Each PID namespace numbers from 1.' };
const ctx = {} as LessonContext;

describe('typing a number', () => {
  it.each([
    ['25', 25],
    [' 33.3 ', 33.3],
    ['33 %', 33],
    ['33%', 33],
    ['.5', 0.5],
    ['100', 100],
    ['0', 0],
  ])('accepts %j', (text, value) => expect(parseGuess(cpu, text)).toEqual({ value }));

  it.each([
    ['', /Type a number from 0 to 100 %/],
    ['abc', /"abc" is not a number: type a number from 0 to 100 %/],
    ['1e3', /is not a number/],
    ['0x10', /is not a number/],
    ['1.2.3', /is not a number/],
    ['-5', /-5 % is outside what this can be/],
    ['101', /101 % is outside what this can be: type a number from 0 to 100 %/],
    ['9'.repeat(40), /is not a number/],
    ['Infinity', /is not a number/],
  ])('refuses %j with what to type', (text, message) => {
    const r = parseGuess(cpu, text);
    expect('error' in r && r.error).toMatch(message);
  });

  it('a negative number only where the bounds allow one', () => {
    const delta: Prediction = { ...cpu, number: { unit: 'ms', min: -50, max: 50, tolerance: 2 }, answer: -10 };
    expect(parseGuess(delta, '-12')).toEqual({ value: -12 });
  });
});

describe('scoring by closeness', () => {
  it.each([
    [25, 'right'],
    [30, 'right'],
    [20, 'right'],
    [30.1, 'close'],
    [40, 'close'],
    [10, 'close'],
    [40.5, 'off'],
    [50, 'off'],
    [0, 'off'],
  ] as const)('%d against 25 ± 5 is %s', (guess, score) => expect(scoreAnswer(cpu, guess)).toBe(score));

  it('a choice is right or off', () => {
    expect(scoreAnswer(pick, 1)).toBe('right');
    expect(scoreAnswer(pick, 0)).toBe('off');
  });

  it('progress keeps the guess and its score; a choice keeps its index', () => {
    expect(predictionRecord(cpu, 38)).toEqual({ choice: 0, correct: false, guess: 38, score: 'close' });
    expect(predictionRecord(cpu, 26)).toEqual({ choice: 0, correct: true, guess: 26, score: 'right' });
    expect(predictionRecord(pick, 2)).toEqual({ choice: 2, correct: false });
    expect(recordedAnswer(predictionRecord(cpu, 38))).toBe(38);
    expect(recordedAnswer(predictionRecord(pick, 2))).toBe(2);
    expect(recordedAnswer(undefined)).toBeNull();
  });
});

describe('the reveal', () => {
  it('says the guess, the verdict, the expected figure and the measurement with its probe', () => {
    const m = { probe: 'cat /sys/fs/cgroup/sandbox/a/cpu.stat', value: 24.81 };
    expect(revealText(cpu, 38, m)).toBe('You predicted 38 %: close (expected 25 % ± 5; measured 24.81 % by `cat /sys/fs/cgroup/sandbox/a/cpu.stat`).');
    expect(revealText(cpu, 25, null)).toBe('You predicted 25 %: right (expected 25 % ± 5).');
    expect(revealText(cpu, 90, { error: 'no cpu.stat' })).toBe('You predicted 90 %: off (expected 25 % ± 5; the measurement failed: no cpu.stat).');
    expect(revealText(pick, 0, null)).toBe('You predicted: 4711. The kernel did: 1.');
    expect(answerText(cpu, 33.333)).toBe('33.33 %');
    expect(formatNumber(-0.001)).toBe('0');
  });

  it('measured() is read once, bounded in time, and its failure is said, not thrown', async () => {
    expect(await measurePrediction(pick, ctx)).toBeNull();
    expect(await measurePrediction({ ...cpu, number: { ...cpu.number!, measured: () => ({ probe: 'p', value: 24.5 }) } }, ctx)).toEqual({ probe: 'p', value: 24.5 });
    expect(await measurePrediction({ ...cpu, number: { ...cpu.number!, measured: () => Promise.reject(new Error('gone')) } }, ctx)).toEqual({ error: 'gone' });
    expect(await measurePrediction({ ...cpu, number: { ...cpu.number!, measured: () => ({ probe: 'p', value: NaN }) } }, ctx)).toEqual({ error: 'the measurement gave NaN (p)' });
  });
});

describe('lintPrediction (and lintLesson through it)', () => {
  it('accepts a well-formed choice and a well-formed number', () => {
    expect(lintPrediction(pick)).toEqual([]);
    expect(lintPrediction(cpu)).toEqual([]);
  });

  it.each([
    ['choices', { ...cpu, choices: ['a', 'b'] }, /a numeric prediction has no choices/],
    ['an answer below min', { ...cpu, answer: -1 }, /answer -1 is outside 0..100/],
    ['an answer above max', { ...cpu, answer: 101 }, /answer 101 is outside 0..100/],
    ['min above max', { ...cpu, number: { ...cpu.number!, min: 100, max: 0 } }, /min 100 is above its max 0/],
    ['a zero tolerance', { ...cpu, number: { ...cpu.number!, tolerance: 0 } }, /tolerance must be above 0 \(it is 0; for an exact count use 0.5/],
    ['a negative tolerance', { ...cpu, number: { ...cpu.number!, tolerance: -1 } }, /tolerance must be above 0/],
    ['NaN', { ...cpu, answer: NaN }, /finite numbers/],
    ['an infinite max', { ...cpu, number: { ...cpu.number!, max: Infinity } }, /finite numbers/],
    ['no unit', { ...cpu, number: { ...cpu.number!, unit: ' ' } }, /needs a unit/],
  ])('a numeric prediction with %s is refused', (_what, p, problem) => {
    expect(lintPrediction(p as Prediction).join('\n')).toMatch(problem);
  });

  it.each([
    ['one choice', { ...pick, choices: ['1'], answer: 0 }, /at least two choices/],
    ['an answer not a choice', { ...pick, answer: 3 }, /answer 3 is not a choice/],
    ['a fractional answer', { ...pick, answer: 0.5 }, /answer 0.5 is not a choice/],
    ['ten choices', { ...pick, choices: Array.from({ length: 10 }, (_, i) => `${i}`) }, /at most 9 choices/],
    ['no explanation', { ...pick, explanation: '' }, /needs an explanation/],
  ])('a choice prediction with %s is refused', (_what, p, problem) => {
    expect(lintPrediction(p as Prediction).join('\n')).toMatch(problem);
  });

  it('lintLesson says which step', () => {
    const lesson: Lesson = {
      id: 't',
      title: 'T',
      summary: 's',
      steps: [{ id: 'w', title: 'W', prose: 'p', action: async () => undefined, checks: [{ label: 'c', run: () => ({ probe: '', expected: '', actual: '', pass: true }) }], hint: 'h', prediction: { ...cpu, answer: 200 } }],
    };
    expect(lintLesson(lesson)).toEqual(["step 1 (w): the numeric prediction's answer 200 is outside 0..100"]);
  });
});

describe('units on screen', () => {
  it('singular for 1, the expected count without "± 0.5" when only the exact count is right', () => {
    const count = (unit: string): Prediction => ({ question: 'How many?', choices: [], answer: 1, number: { unit, min: 0, max: 100, tolerance: 0.5 }, explanation: 'e' });
    expect(revealText(count('interfaces'), 2, { probe: 'wc -l', value: 1 })).toBe('You predicted 2 interfaces: close (expected 1 interface, exactly; measured 1 interface by `wc -l`).');
    expect(answerText(count('processes'), 1)).toBe('1 process');
    expect(answerText(count('capabilities'), 1)).toBe('1 capability');
    expect(answerText(count('PIDs'), 1)).toBe('1 PID');
    expect(answerText(count('ms'), 1)).toBe('1 ms');
    expect(answerText(count('MiB'), 1)).toBe('1 MiB');
    expect(answerText(count('processes'), 3)).toBe('3 processes');
  });
});
