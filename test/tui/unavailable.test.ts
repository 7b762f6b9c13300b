/**
 * A step that cannot run on this host (Step.unavailable, issue 15: CRIU where `criu check`
 * fails): the lesson screen shows it with the reason, never runs its action or checks, counts it
 * as neither passed nor failed, and goes on; progress resumes after it.
 */
import { afterEach, describe, expect, it } from 'vitest';

import { LessonController } from '../../src/tui/lesson-controller.js';
import { fakeLesson, fakeSession, memoryStore, until } from './fixtures.js';

const enter = { return: true };
const REASON = 'CRIU 3.17.1 cannot run on kernel 6.18 (vDSO): criu check fails; install CRIU ≥ 4.0';
let live: LessonController[] = [];

function make() {
  const lesson = fakeLesson(3);
  lesson.steps[1] = { ...lesson.steps[1], unavailable: () => REASON };
  const fake = fakeSession(lesson);
  const asked: number[] = [];
  (fake.session as unknown as { unavailable: (i: number) => Promise<string | null> }).unavailable = async (i) => {
    asked.push(i);
    return (await lesson.steps[i].unavailable?.(fake.session.ctx)) ?? null;
  };
  const store = memoryStore();
  const c = new LessonController(lesson, fake.session, store);
  live.push(c);
  return { c, fake, store, asked };
}

afterEach(async () => {
  for (const c of live) await c.quit(0);
  live = [];
});

describe('a step that cannot run on this host', () => {
  it('is shown with its reason, skipped with enter, never acted or checked; the lesson completes', async () => {
    const { c, fake, store, asked } = make();
    await c.start();
    expect(asked).toEqual([1]); // only the step that may not run is asked, once
    c.handleKey('', enter); // intro
    c.handleKey('2', {}); // step 1's prediction
    await until(() => c.getState().stepPhase === 'result');
    c.handleKey('', enter);
    expect(c.getState()).toMatchObject({ phase: 'step', index: 1, stepPhase: 'unavailable' });
    expect(c.unavailableReason(1)).toBe(REASON);
    expect(c.keys().find((k) => k.essential)?.label).toBe('skip to the next step');
    expect(store.data['fake-lesson'].step).toBe(2); // resuming starts after it
    c.handleKey('', enter);
    expect(c.getState()).toMatchObject({ index: 2, stepPhase: 'ask' });
    c.handleKey('2', {});
    await until(() => c.getState().stepPhase === 'result');
    c.handleKey('', enter);
    expect(c.getState().phase).toBe('summary');
    expect(fake.acted).toEqual([0, 2]);
    expect(c.getState().records[1].passed).toBeNull();
    expect(store.data['fake-lesson']).toMatchObject({ completed: true, done: ['step-1', 'step-3'] });
  });
});
