/**
 * Numeric predictions on the lesson screen ("what % of the CPU will a get?"): typing a number
 * (digits, '.', backspace, enter), refusals with what to type, scoring by closeness, the reveal
 * with the expected figure and the measurement, progress and the summary.
 */
import { render } from 'ink-testing-library';
import { createElement } from 'react';
import { afterEach, describe, expect, it } from 'vitest';

import type { Lesson, Prediction } from '../../src/lessons/types.js';
import { predictionLines } from '../../src/tui/components/Prediction.js';
import { LessonController } from '../../src/tui/lesson-controller.js';
import { lineText } from '../../src/tui/lines.js';
import { LessonScreen } from '../../src/tui/screens/LessonScreen.js';
import { fakeLesson, fakeSession, memoryStore, plain, until } from './fixtures.js';

const enter = { return: true };
const cpu: Prediction = {
  question: 'a has weight 1, b weight 3. What % of the CPU will a get?',
  choices: [],
  answer: 25,
  number: { unit: '%', min: 0, max: 100, tolerance: 5, measured: () => ({ probe: 'cat /sys/fs/cgroup/sandbox/a/cpu.stat', value: 24.6 }) },
  explanation: 'The CPU is shared in proportion to the weights: 1 / (1 + 3).',
};

function numericLesson(): Lesson {
  const l = fakeLesson(3);
  return { ...l, steps: [{ ...l.steps[0], prediction: cpu }, ...l.steps.slice(1)] };
}

let live: LessonController[] = [];
afterEach(async () => {
  for (const c of live) await c.quit(0);
  live = [];
});

async function atQuestion(store = memoryStore()) {
  const lesson = numericLesson();
  const fake = fakeSession(lesson);
  const c = new LessonController(lesson, fake.session, store);
  live.push(c);
  await c.start();
  c.handleKey('', enter);
  expect(c.getState()).toMatchObject({ phase: 'step', index: 0, stepPhase: 'ask' });
  return { c, fake, store, lesson };
}

describe('typing a number', () => {
  it('digits and "." are typed, backspace deletes, enter predicts; the step then runs and the guess is kept', async () => {
    const { c, fake, store } = await atQuestion();
    expect(c.keys().slice(0, 2)).toEqual([
      { key: '0-9 .', label: 'type a number', essential: true },
      { key: 'enter', label: 'predict', essential: true },
    ]);
    for (const k of ['3', '7', '.', '5']) expect(c.handleKey(k, {})).toBe(true);
    expect(c.getState().typed).toEqual({ text: '37.5', error: null });
    c.handleKey('', { backspace: true });
    c.handleKey('', { backspace: true });
    c.handleKey('', { backspace: true });
    c.handleKey('2', {});
    expect(c.getState().typed.text).toBe('32');
    expect(fake.acted).toEqual([]);
    c.handleKey('', enter);
    expect(c.getState().stepPhase).toBe('running');
    await until(() => c.getState().stepPhase === 'result');
    expect(c.getState().records[0]).toMatchObject({ choice: 32, measured: { probe: 'cat /sys/fs/cgroup/sandbox/a/cpu.stat', value: 24.6 }, passed: true });
    expect(store.data['fake-lesson'].predictions['step-1']).toEqual({ choice: 0, correct: false, guess: 32, score: 'close' });
  });

  it('a pasted chunk edits, then submits', async () => {
    const { c } = await atQuestion();
    c.handleKey('3\x7f25\r', {});
    await until(() => c.getState().stepPhase === 'result');
    expect(c.getState().records[0].choice).toBe(25);
  });

  it('refuses nothing typed, a number outside 0..100 and "1.2.3" with a line saying what to type; the step does not run', async () => {
    const { c, fake } = await atQuestion();
    c.handleKey('', enter);
    expect(c.getState().typed.error).toBe('Type a number from 0 to 100 %.');
    c.handleKey('150', {});
    expect(c.getState().typed.error).toBeNull();
    c.handleKey('', enter);
    expect(c.getState().typed).toEqual({ text: '150', error: '150 % is outside what this can be: type a number from 0 to 100 %.' });
    for (let i = 0; i < 3; i++) c.handleKey('', { backspace: true });
    c.handleKey('1.2.3', {});
    c.handleKey('', enter);
    expect(c.getState().typed.error).toMatch(/"1.2.3" is not a number: type a number from 0 to 100 %/);
    expect(c.getState().stepPhase).toBe('ask');
    expect(fake.acted).toEqual([]);
  });

  it('letters keep their meaning (h: the hint), other characters are not typed; the input is bounded', async () => {
    const { c } = await atQuestion();
    c.handleKey('h', {});
    expect(c.getState().hint).toBe(true);
    expect(c.handleKey('-', {})).toBe(false);
    expect(c.handleKey('x', {})).toBe(false);
    c.handleKey('9'.repeat(100), {});
    expect(c.getState().typed.text).toHaveLength(16);
  });

  it('right, close and off are counted by the summary; the exit line says how many were close', async () => {
    const store = memoryStore();
    const { c } = await atQuestion(store);
    c.handleKey('40', {});
    c.handleKey('', enter);
    await until(() => c.getState().stepPhase === 'result');
    c.handleKey('', enter);
    c.handleKey('', enter);
    await until(() => c.getState().stepPhase === 'result');
    c.handleKey('', enter);
    c.handleKey('2', {});
    await until(() => c.getState().stepPhase === 'result');
    c.handleKey('', enter);
    expect(c.getState().phase).toBe('summary');
    expect(c.summary()).toMatchObject({ predictionsRight: 1, predictionsClose: 1, predictions: 2 });
    const ui = render(createElement(LessonScreen, { controller: c, columns: 80, rows: 24 }));
    expect(plain(ui.lastFrame())).toMatch(/predictions right: 1 of 2 \(1 more close\)/);
    ui.unmount();
    c.handleKey('', enter);
    expect((await c.done).message).toMatch(/1\/2 predictions right, 1 close/);
  });

  it('resuming shows the guess recorded earlier when looking back', async () => {
    const store = memoryStore({
      'fake-lesson': { step: 1, done: ['step-1'], completed: false, predictions: { 'step-1': { choice: 0, correct: true, guess: 27, score: 'right' } }, updated: '' },
    });
    const lesson = numericLesson();
    const c = new LessonController(lesson, fakeSession(lesson).session, store);
    live.push(c);
    await c.start();
    expect(c.getState().records[0]).toMatchObject({ replayed: true, choice: 27 });
  });
});

describe('the numeric prediction on screen', () => {
  const text = (lines: ReturnType<typeof predictionLines>) => lines.map(lineText).join('\n');

  it('asking: the question, an input field with the unit, the bounds; a refusal replaces the bounds', () => {
    const asking = text(predictionLines({ prediction: cpu, cursor: 0, choice: null, reveal: false, width: 60, typed: { text: '3', error: null } }));
    expect(asking).toContain('? a has weight 1, b weight 3. What % of the CPU will a get?');
    expect(asking).toMatch(/^ › 3  %$/m);
    expect(asking).toContain('a number from 0 to 100 %; enter to predict');
    const refused = text(predictionLines({ prediction: cpu, cursor: 0, choice: null, reveal: false, width: 60, typed: { text: '150', error: '150 % is outside what this can be: type a number from 0 to 100 %.' } }));
    expect(refused).toContain('150 % is outside what this can be');
    expect(refused).not.toContain('enter to predict');
  });

  it('the reveal: the guess and its verdict, the expected figure, the measurement with its probe, why', () => {
    const close = text(predictionLines({ prediction: cpu, cursor: 0, choice: 32, reveal: true, width: 80, measured: { probe: 'cat /sys/fs/cgroup/sandbox/a/cpu.stat', value: 24.6 } }));
    expect(close).toMatch(/^You predicted: 32 % ≈ close$/m);
    expect(close).toMatch(/^Expected: +25 % ± 5$/m);
    expect(close).toMatch(/^Measured: +24\.6 % by cat \/sys\/fs\/cgroup\/sandbox\/a\/cpu\.stat$/m);
    expect(close).toContain('The CPU is shared in proportion to the weights');
    expect(text(predictionLines({ prediction: cpu, cursor: 0, choice: 25, reveal: true, width: 80 }))).toMatch(/You predicted: 25 % ✓ right/);
    expect(text(predictionLines({ prediction: cpu, cursor: 0, choice: 90, reveal: true, width: 80, measured: { error: 'cpu.stat is gone' } }))).toMatch(
      /✗ off[\s\S]*Measured: +could not be read: cpu\.stat is gone/,
    );
    expect(text(predictionLines({ prediction: cpu, cursor: 0, choice: 32, reveal: false, width: 80 }))).toBe('You predicted: 32 %');
  });

  it('the lesson screen at 80×24: typed text shows as typed, then the reveal after the step ran', async () => {
    const { c } = await atQuestion();
    const ui = render(createElement(LessonScreen, { controller: c, columns: 80, rows: 24 }));
    c.handleKey('32', {});
    await new Promise((r) => setTimeout(r, 30));
    expect(plain(ui.lastFrame())).toMatch(/› 32  %/);
    c.handleKey('', enter);
    await until(() => c.getState().stepPhase === 'result');
    await new Promise((r) => setTimeout(r, 30));
    const screen = plain(ui.lastFrame());
    expect(screen).toMatch(/You predicted: 32 % ≈ close/);
    expect(screen).toMatch(/Expected: +25 % ± 5/);
    ui.unmount();
  });
});
