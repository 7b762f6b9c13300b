/** The lesson screen's flow without a terminal: a fake session, progress in memory, keys as Ink reports them. */
import { afterEach, describe, expect, it } from 'vitest';

import { LessonController } from '../../src/tui/lesson-controller.js';
import { fakeLesson, fakeSession, memoryStore, until } from './fixtures.js';

const enter = { return: true };
let live: LessonController[] = [];

function make(store = memoryStore(), n = 3) {
  const lesson = fakeLesson(n);
  const fake = fakeSession(lesson);
  const c = new LessonController(lesson, fake.session, store);
  live.push(c);
  return { c, fake, store, lesson };
}

afterEach(async () => {
  for (const c of live) await c.quit(0);
  live = [];
});

describe('the lesson flow', () => {
  it('intro → prediction → the action and checks run → result; progress saved like line mode', async () => {
    const { c, fake, store } = make();
    await c.start();
    expect(c.getState().phase).toBe('intro');
    c.handleKey('', enter);
    expect(c.getState()).toMatchObject({ phase: 'step', index: 0, stepPhase: 'ask' });
    expect(c.getState().view.data?.kind).toBe('tree');
    c.handleKey('2', {});
    expect(c.getState().stepPhase).toBe('running');
    await until(() => c.getState().stepPhase === 'result');
    const rec = c.getState().records[0];
    expect(rec).toMatchObject({ choice: 1, passed: true, attempts: 1 });
    expect(rec.log[0].command).toContain('sandbox run --pid');
    expect(rec.viewAfter?.kind).toBe('tree');
    expect(fake.acted).toEqual([0]);
    expect(store.data['fake-lesson']).toMatchObject({ step: 1, done: ['step-1'], completed: false, predictions: { 'step-1': { choice: 1, correct: true } } });
  });

  it('a step without a prediction waits for enter; arrows move the prediction cursor', async () => {
    const { c } = make();
    await c.start();
    c.handleKey('', enter);
    c.handleKey('', { downArrow: true });
    c.handleKey('', { downArrow: true });
    expect(c.getState().cursor).toBe(2);
    c.handleKey('', { upArrow: true });
    c.handleKey('', enter);
    await until(() => c.getState().stepPhase === 'result');
    expect(c.getState().records[0].choice).toBe(1);
    c.handleKey('', enter);
    expect(c.getState()).toMatchObject({ index: 1, stepPhase: 'ready' });
    expect(c.keys()[0]).toMatchObject({ key: 'enter', label: 'run the step' });
    c.handleKey('', enter);
    await until(() => c.getState().stepPhase === 'result');
    expect(c.getState().records[1]).toMatchObject({ choice: null, passed: true });
  });

  it('walking to the end shows a summary and marks the lesson completed', async () => {
    const { c, store } = make();
    await c.start();
    c.handleKey('', enter);
    for (let i = 0; i < 3; i++) {
      c.handleKey(i % 2 === 0 ? (i === 0 ? '1' : '2') : '', i % 2 === 0 ? {} : enter);
      await until(() => c.getState().stepPhase === 'result');
      c.handleKey('', enter);
    }
    expect(c.getState().phase).toBe('summary');
    expect(c.summary()).toMatchObject({ passed: 3, failed: 0, predictionsRight: 1, predictions: 2 });
    expect(store.data['fake-lesson']).toMatchObject({ completed: true, step: 0, done: ['step-1', 'step-2', 'step-3'] });
    c.handleKey('', enter);
    const exit = await c.done;
    expect(exit.code).toBe(0);
    expect(exit.message).toMatch(/Fake lesson: lesson complete \(3 checks passed; 1\/2 predictions right\)\.\nAll of this lesson's sandboxes were removed\./);
  });

  it('failed checks: the hint shows, r runs the step again, enter goes on without saving', async () => {
    const { c, fake, store } = make();
    fake.failing.add(0);
    await c.start();
    c.handleKey('', enter);
    c.handleKey('2', {});
    await until(() => c.getState().stepPhase === 'result');
    expect(c.getState().records[0].passed).toBe(false);
    expect(c.getState().hint).toBe(true);
    expect(c.keys().slice(0, 2).map((k) => k.key)).toEqual(['r', 'enter']);
    expect(store.data['fake-lesson']).toBeUndefined();
    fake.failing.clear();
    c.handleKey('r', {});
    await until(() => c.getState().stepPhase === 'result');
    expect(c.getState().records[0]).toMatchObject({ passed: true, attempts: 2, choice: 1 });
    expect(fake.acted).toEqual([0, 0]);
    expect(store.data['fake-lesson'].step).toBe(1);
  });

  it('b looks back at the previous step read-only, as recorded; enter comes forward again', async () => {
    const { c } = make();
    await c.start();
    c.handleKey('', enter);
    c.handleKey('2', {});
    await until(() => c.getState().stepPhase === 'result');
    c.handleKey('', enter);
    c.handleKey('b', {});
    expect(c.getState()).toMatchObject({ looking: 0, index: 1 });
    c.handleKey('b', {});
    expect(c.getState().looking).toBe(0);
    c.handleKey('', enter);
    expect(c.getState().looking).toBeNull();
    expect(c.getState().stepPhase).toBe('ready');
  });

  it('q quits half-way: the session is closed and the exit says where it resumes', async () => {
    const { c, fake } = make();
    await c.start();
    c.handleKey('', enter);
    c.handleKey('2', {});
    await until(() => c.getState().stepPhase === 'result');
    c.handleKey('', enter);
    c.handleKey('q', {});
    const exit = await c.done;
    expect(fake.closed).toBe(1);
    expect(exit).toEqual({ code: 0, message: "Stopped at step 2 of 3; `sandbox learn fake-lesson` resumes there.\nAll of this lesson's sandboxes were removed." });
    expect(c.handleKey('', enter)).toBe(false);
  });

  it('Ctrl-C quits with 130 and closes the session', async () => {
    const { c, fake } = make();
    await c.start();
    c.handleKey('c', { ctrl: true });
    expect((await c.done).code).toBe(130);
    expect(fake.closed).toBe(1);
  });

  it('resumes at the saved step after replaying the earlier steps', async () => {
    const store = memoryStore({
      'fake-lesson': { step: 2, done: ['step-1', 'step-2'], completed: false, predictions: { 'step-1': { choice: 0, correct: false } }, updated: '' },
    });
    const { c, fake } = make(store);
    const phases: string[] = [];
    c.subscribe(() => phases.push(c.getState().phase));
    await c.start();
    expect(phases).toContain('rebuilding');
    expect(fake.replayedUpTo).toEqual([2]);
    expect(c.getState()).toMatchObject({ phase: 'step', index: 2, stepPhase: 'ask' });
    expect(c.getState().notice).toMatch(/Resumed at step 3: the sandboxes of steps 1–2 were rebuilt/);
    expect(c.getState().records[0]).toMatchObject({ replayed: true, passed: true, choice: 0 });
  });

  it('a completed lesson starts again from step 1, with a note', async () => {
    const store = memoryStore({ 'fake-lesson': { step: 0, done: ['step-1', 'step-2', 'step-3'], completed: true, predictions: {}, updated: '' } });
    const { c, fake } = make(store);
    await c.start();
    expect(c.getState().phase).toBe('intro');
    expect(c.getState().notice).toMatch(/completed this lesson before/);
    expect(fake.replayedUpTo).toEqual([]);
  });

  it('a failed replay stops the lesson with the error; enter quits with 1', async () => {
    const store = memoryStore({ 'fake-lesson': { step: 1, done: ['step-1'], completed: false, predictions: {}, updated: '' } });
    const { c, fake } = make(store);
    (fake.session as unknown as { replay: () => Promise<unknown> }).replay = async () => ({ log: [], error: new Error('clone3: EPERM') });
    await c.start();
    expect(c.getState().phase).toBe('fatal');
    c.handleKey('', enter);
    expect((await c.done).code).toBe(1);
  });

  it('v, l and p show a panel whole screen; esc comes back; ? lists the keys', async () => {
    const { c } = make();
    await c.start();
    c.handleKey('', enter);
    for (const [k, zoom] of [['v', 'view'], ['l', 'log'], ['p', 'prose'], ['?', 'keys']] as const) {
      c.handleKey(k, {});
      expect(c.getState().zoom).toBe(zoom);
      c.handleKey('', { escape: true });
      expect(c.getState().zoom).toBeNull();
    }
  });
});
