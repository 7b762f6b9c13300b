/** The challenge step on the lesson screen, in a fake terminal: what it draws at 80×24 and 120×40. */
import { render } from 'ink-testing-library';
import { afterEach, describe, expect, it } from 'vitest';

import { LessonController } from '../../src/tui/lesson-controller.js';
import { LessonScreen } from '../../src/tui/screens/LessonScreen.js';
import { fakeChallengeLesson, fakeChallengeSession, frameLines, memoryStore, plain, until } from './fixtures.js';

let live: LessonController[] = [];
afterEach(async () => {
  for (const c of live) await c.quit(0);
  live = [];
});

const tick = () => new Promise((r) => setTimeout(r, 30));

function expectFits(frame: string | undefined, columns: number, rows: number) {
  const lines = frameLines(frame);
  expect(lines.length).toBeLessThanOrEqual(rows - 1);
  for (const l of lines) expect([...l].length).toBeLessThanOrEqual(columns);
}

describe('a challenge on the lesson screen', () => {
  it.each([
    [80, 24],
    [120, 40],
  ])('at %i×%i: goal, tools, variables, the other-terminal line, live checks, the hint that holds, the question, the keys', async (columns, rows) => {
    const lesson = fakeChallengeLesson();
    const fake = fakeChallengeSession(lesson);
    const c = new LessonController(lesson, fake.session, memoryStore({ 'fake-lesson': { step: 1, done: ['step-1'], completed: false, predictions: {}, updated: '' } }));
    live.push(c);
    const ui = render(<LessonScreen controller={c} columns={columns} rows={rows} />);
    await c.start();
    await until(() => c.getState().challenge?.poll != null);
    fake.challenge.passing.add(0);
    fake.challenge.hintHolds = true;
    await until(() => c.getState().challenge?.poll?.hint != null, 2500);
    await tick();
    let s = plain(ui.lastFrame());
    expectFits(ui.lastFrame(), columns, rows);
    expect(s).toMatch(/Step 2: Challenge: do it yourself +\(checked live\)/);
    expect(s).toContain('Your turn: Make two processes in a new PID namespace.');
    expect(s).toContain('tools: unshare, ps');
    expect(s).toMatch(/\$WS +\s*= \/run\/sandbox\/ws\/fake-ws/);
    expect(s).toContain('other terminal: sudo -s; . /run/sandbox/ws/fake-ws/env');
    expect(s).toMatch(/Checks against the kernel 1\/2 passed/);
    expect(s).toMatch(/✓ a new namespace/);
    expect(s).toMatch(/✗ two processes in it/);
    expect(s).toMatch(/hint: Mount a fresh \/proc: unshare --mount-proc\./);
    expect(s).toMatch(/read with: readlink \/proc\/X\/root\/proc\/1\/ns\/pid/);
    expect(s).toMatch(/\? What is the host PID of PID 1\?/);
    expect(s).toMatch(/s shell · a answer · h hint/);

    // A fail-state replaces the hint and offers the reset.
    fake.challenge.failHolds = true;
    await until(() => c.getState().challenge?.poll?.fail != null, 2500);
    await tick();
    s = plain(ui.lastFrame());
    expect(s).toMatch(/✗ stuck: The PIDs are spent\./);
    expect(s).toMatch(/press R to reset this challenge/);
    fake.challenge.failHolds = false;

    // Typing an answer: the question shows the text; the key line says how to finish.
    ui.stdin.write('a');
    await tick();
    ui.stdin.write('47');
    await tick();
    s = plain(ui.lastFrame());
    expect(s).toMatch(/answer: 47/);
    expect(s).toMatch(/enter check the answer · esc cancel/);
    expectFits(ui.lastFrame(), columns, rows);
  }, 15_000);

  it('the summary counts the challenges', async () => {
    const lesson = fakeChallengeLesson();
    const fake = fakeChallengeSession(lesson);
    const c = new LessonController(lesson, fake.session, memoryStore({ 'fake-lesson': { step: 1, done: ['step-1'], completed: false, predictions: {}, updated: '' } }));
    live.push(c);
    const ui = render(<LessonScreen controller={c} columns={80} rows={24} />);
    await c.start();
    await until(() => c.getState().challenge?.phase === 'working');
    ui.stdin.write('k');
    await until(() => c.getState().index === 2);
    c.handleKey('', { return: true });
    await until(() => c.getState().stepPhase === 'result');
    c.handleKey('', { return: true });
    await until(() => c.getState().phase === 'summary');
    await tick();
    expect(plain(ui.lastFrame())).toMatch(/challenges done: +0 of 1 \(1 skipped\)/);
  });
});
