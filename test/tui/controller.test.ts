/** The lesson screen's flow without a terminal: a fake session, progress in memory, keys as Ink reports them. */
import { afterEach, describe, expect, it } from 'vitest';

import { LessonController } from '../../src/tui/lesson-controller.js';
import { fakeChallengeLesson, fakeChallengeSession, fakeLesson, fakeSession, memoryStore, until } from './fixtures.js';

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
    expect(exit.message).toMatch(/Fake lesson: lesson complete \(3 of 3 checks passed; 1\/2 predictions right\)\.\nAll of this lesson's sandboxes were removed\./);
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

describe('a challenge step', () => {
  /** Resumed at the challenge (step 2 of 3); the fake challenge polled until its first result. */
  async function atChallenge() {
    const lesson = fakeChallengeLesson();
    const fake = fakeChallengeSession(lesson);
    const store = memoryStore({ 'fake-lesson': { step: 1, done: ['step-1'], completed: false, predictions: {}, updated: '' } });
    const c = new LessonController(lesson, fake.session, store);
    live.push(c);
    await c.start();
    await until(() => c.getState().challenge?.poll !== null && c.getState().challenge?.poll !== undefined);
    return { c, fake, store, ch: fake.challenge };
  }
  const type = (c: LessonController, text: string) => {
    for (const ch of text) c.handleKey(ch, {});
  };

  it('sets up at once (act), polls every second, ticks checks live and shows the hint whose condition holds', async () => {
    const { c, fake, ch, store } = await atChallenge();
    expect(fake.acted).toEqual([1]);
    expect(c.getState()).toMatchObject({ index: 1, stepPhase: 'challenge' });
    expect(c.getState().challenge).toMatchObject({ phase: 'working', envFile: '/run/sandbox/ws/fake-ws/env' });
    expect(c.getState().records[1].results?.map((r) => r.pass)).toEqual([false, false]);
    expect(store.data['fake-lesson'].challenges).toEqual({ 'fake-challenge': { state: 'started', answered: [] } });
    ch.passing.add(0);
    ch.hintHolds = true;
    const t0 = Date.now();
    await until(() => c.getState().records[1].results?.[0].pass === true, 2500);
    expect(Date.now() - t0).toBeLessThan(2000); // one poll a second (a loaded machine adds a little)
    expect(c.getState().challenge?.poll?.hint?.text).toMatch(/fresh \/proc/);
    // About one poll a second, never two at once.
    const polls = ch.polls;
    await new Promise((r) => setTimeout(r, 2100));
    expect(ch.polls - polls).toBeGreaterThanOrEqual(1);
    expect(ch.polls - polls).toBeLessThanOrEqual(3);
    expect(c.keys().map((k) => k.key).slice(0, 3)).toEqual(['s', 'a', 'h']);
  }, 10_000);

  it('passes once every check passes and every question is answered right; saves done; enter ends it and goes on', async () => {
    const { c, ch, store, fake } = await atChallenge();
    ch.passing.add(0).add(1);
    await until(() => c.getState().challenge?.poll?.passed === true, 2500);
    expect(c.getState().challenge?.phase).toBe('working'); // the question is open
    c.handleKey('a', {});
    expect(c.getState().challenge?.input).toMatchObject({ id: 'q1', text: '' });
    type(c, '42q');
    c.handleKey('', { backspace: true });
    expect(c.getState().challenge?.input?.text).toBe('42');
    c.handleKey('', enter);
    await until(() => c.getState().challenge?.feedback !== null);
    expect(c.getState().challenge).toMatchObject({ input: { id: 'q1', text: '' }, feedback: { right: false }, phase: 'working' });
    c.handleKey('4711\r', {}); // typed fast: one chunk
    await until(() => c.getState().challenge?.phase === 'passed');
    expect(c.getState().challenge?.feedback).toEqual({ right: true, text: 'NSpid shows both.' });
    expect(store.data['fake-lesson']).toMatchObject({
      step: 2,
      done: ['step-1', 'fake-challenge'],
      challenges: { 'fake-challenge': { state: 'done', answered: ['q1'] } },
    });
    const polls = ch.polls;
    await new Promise((r) => setTimeout(r, 1200));
    expect(ch.polls).toBe(polls); // polling stops once passed
    expect(c.keys()[0]).toMatchObject({ key: 'enter', label: 'next step' });
    c.handleKey('', enter);
    await until(() => c.getState().index === 2);
    expect(ch.ended).toBe(1);
    expect(c.getState().notice).toMatch(/Left on the host by the challenge \(remove by hand\): mount on \/mnt\/x/);
    expect(fake.acted).toEqual([1]);
  }, 10_000);

  it('S shows the solution only after a hint; h shows the general hint; the solution is recorded', async () => {
    const { c, store } = await atChallenge();
    c.handleKey('S', {});
    expect(c.getState().challenge).toMatchObject({ showSolution: false, message: expect.stringMatching(/after a hint/) });
    c.handleKey('h', {});
    expect(c.getState()).toMatchObject({ hint: true, challenge: { hintSeen: true } });
    c.handleKey('S', {});
    expect(c.getState().challenge).toMatchObject({ showSolution: true, solutionShown: true });
    expect(store.data['fake-lesson'].challenges?.['fake-challenge']).toEqual({ state: 'started', answered: [], solutionShown: true });
  });

  it('a fail-state shows; R resets (naming what it could not remove); k skips and goes on', async () => {
    const { c, ch, store } = await atChallenge();
    ch.failHolds = true;
    ch.passing.add(0);
    await until(() => c.getState().challenge?.poll?.fail !== null, 2500);
    c.handleKey('R', {});
    await until(() => c.getState().challenge?.phase === 'working' && ch.resets === 1);
    expect(c.getState().challenge?.message).toMatch(/Not removed \(remove by hand\): network interface eth-stray/);
    c.handleKey('k', {});
    await until(() => c.getState().index === 2);
    expect(store.data['fake-lesson']).toMatchObject({ step: 2, done: ['step-1'], challenges: { 'fake-challenge': { state: 'skipped' } } });
    expect(ch.ended).toBe(1);
  }, 10_000);

  it('s hands the terminal to the shell runner; polling goes on meanwhile; keys wait until it is back', async () => {
    const { c, ch } = await atChallenge();
    let release!: () => void;
    const specs: unknown[] = [];
    c.shellRunner = (spec) => {
      specs.push(spec);
      return new Promise<void>((r) => (release = r));
    };
    c.handleKey('s', {});
    await until(() => c.getState().challenge?.inShell === true);
    expect(specs).toEqual([expect.objectContaining({ argv: ['bash', '-i'] })]);
    ch.passing.add(1);
    await until(() => c.getState().records[1].results?.[1].pass === true, 2500);
    expect(c.handleKey('k', {})).toBe(false);
    release();
    await until(() => c.getState().challenge?.inShell === false);
    expect(c.getState().challenge).toMatchObject({ phase: 'working', message: 'Back from the shell.' });
  }, 10_000);

  it('b stops the poll while looking back; q ends the challenge and names what was left', async () => {
    const { c, ch, fake } = await atChallenge();
    c.handleKey('b', {});
    await new Promise((r) => setTimeout(r, 100));
    const polls = ch.polls;
    await new Promise((r) => setTimeout(r, 1300));
    expect(ch.polls).toBe(polls);
    c.handleKey('', { escape: true });
    await until(() => ch.polls > polls);
    c.handleKey('q', {});
    const exit = await c.done;
    expect(ch.ended).toBe(1);
    expect(fake.closed).toBe(1);
    expect(exit.message).toMatch(/Stopped at step 2 of 3.*\nAll of this lesson's sandboxes were removed\.\nLeft on the host by the challenge \(remove by hand\): mount on \/mnt\/x/);
  }, 10_000);

  it('the summary counts challenges done and skipped', async () => {
    const { c, ch } = await atChallenge();
    c.handleKey('k', {});
    await until(() => c.getState().index === 2);
    void ch;
    expect(c.summary()).toMatchObject({ challenges: 1, challengesDone: 0, challengesSkipped: 1 });
  });
});

describe('the summary after a resume (issue 13)', () => {
  /**
   * Seven guided steps with two or three checks each (like pid-namespaces: 15 checks), takeaways
   * on three of them; progress saved at step 4 with steps 1–3 done, as after quitting there.
   */
  function resumedLesson() {
    const lesson = fakeLesson(7);
    lesson.steps.forEach((st, i) => {
      const n = i % 3 === 0 ? 3 : 2;
      st.checks = Array.from({ length: n }, (_, k) => ({
        label: `check ${k + 1} of step ${i + 1}`,
        run: () => ({ probe: `cat /proc/4711/status # ${i}.${k}`, expected: 'x', actual: 'x', pass: true }),
      }));
      st.takeaway = [0, 2, 5].includes(i) ? `Takeaway of step ${i + 1}: \`NSpid\` shows *both* numbers.` : undefined;
    });
    const fake = fakeSession(lesson);
    (fake.session as unknown as { check: (i: number) => Promise<unknown> }).check = async (i: number) =>
      lesson.steps[i].checks.map((ch) => ({ label: ch.label, ...(ch.run({} as never) as object) }));
    const store = memoryStore({
      'fake-lesson': { step: 3, done: ['step-1', 'step-2', 'step-3'], completed: false, predictions: { 'step-1': { choice: 1, correct: true }, 'step-3': { choice: 1, correct: true } }, updated: '' },
    });
    const c = new LessonController(lesson, fake.session, store);
    live.push(c);
    const total = lesson.steps.reduce((n, st) => n + st.checks.length, 0);
    const earlier = lesson.steps.slice(0, 3).reduce((n, st) => n + st.checks.length, 0);
    return { c, lesson, total, earlier };
  }

  async function walkToSummary(c: LessonController) {
    await c.start();
    expect(c.getState()).toMatchObject({ phase: 'step', index: 3 });
    while (c.getState().phase === 'step') {
      if (c.getState().stepPhase === 'ask') c.handleKey('2', {});
      else c.handleKey('', enter);
      await until(() => c.getState().stepPhase === 'result');
      c.handleKey('', enter);
    }
  }

  it('counts every step\'s checks, from the lesson: the replayed ones as passed earlier, from saved progress', async () => {
    const { c, total, earlier } = resumedLesson();
    expect(total).toBe(17);
    await walkToSummary(c);
    expect(c.getState().phase).toBe('summary');
    expect(c.summary()).toMatchObject({ total, passed: total, failed: 0, earlier, unchecked: 0, replayed: 3 });
    c.handleKey('', enter);
    const exit = await c.done;
    expect(exit.message).toContain(`Fake lesson: lesson complete (${total} of ${total} checks passed, ${earlier} in an earlier session;`);
  });

  it('the summary screen says so, and lists the takeaway of every step that has one, replayed or not', async () => {
    const React = await import('react');
    const { render } = await import('ink-testing-library');
    const { LessonScreen } = await import('../../src/tui/screens/LessonScreen.js');
    const { plain } = await import('./fixtures.js');
    const { c, lesson, total, earlier } = resumedLesson();
    const ui = render(React.createElement(LessonScreen, { controller: c, columns: 100, rows: 40 }));
    await walkToSummary(c);
    await new Promise((r) => setTimeout(r, 50));
    const screen = plain(ui.lastFrame());
    expect(screen).toMatch(new RegExp(`checks passed: +${total} of ${total} \\(all of them\\)`));
    expect(screen).toMatch(new RegExp(`${earlier} of them in an earlier session: counted from your saved progress`));
    for (const st of lesson.steps.filter((s) => s.takeaway)) expect(screen).toContain(`Takeaway of step ${lesson.steps.indexOf(st) + 1}: NSpid shows both numbers.`);
    expect(screen).not.toMatch(/\*both\*|`NSpid`/);
    ui.unmount();
  });

  it('a replayed step that had not passed is not counted as passed: its checks are "not checked"', async () => {
    const { c, lesson, total } = resumedLesson();
    // Step 2 was gone past without passing in the earlier session.
    (c as unknown as { store: { data: Record<string, { done: string[] }> } }).store.data['fake-lesson'].done = ['step-1', 'step-3'];
    await walkToSummary(c);
    const n2 = lesson.steps[1].checks.length;
    expect(c.summary()).toMatchObject({ total, passed: total - n2, unchecked: n2, uncheckedSteps: [1] });
  });
});

describe('c: the checks whole-screen (issue 13)', () => {
  it('opens once the step has check results, scrolls, and closes with c, esc, enter or q; c is in the key help', async () => {
    const { c, fake } = make();
    fake.failing.add(0);
    await c.start();
    c.handleKey('', enter);
    // Before the checks ran there is nothing to show: c does nothing and is not offered.
    expect(c.handleKey('c', {})).toBe(false);
    expect(c.keys().map((k) => k.key)).not.toContain('c');
    c.handleKey('1', {});
    await until(() => c.getState().stepPhase === 'result');
    const item = c.keys().find((k) => k.key === 'c');
    expect(item).toMatchObject({ label: 'checks', essential: true });
    for (const close of [['c', {}], ['', { escape: true }], ['', enter], ['q', {}]] as const) {
      expect(c.handleKey('c', {})).toBe(true);
      expect(c.getState()).toMatchObject({ zoom: 'checks', scroll: 0 });
      c.handleKey('j', {});
      c.handleKey(' ', {});
      expect(c.getState().scroll).toBe(11);
      c.handleKey('k', {});
      expect(c.getState().scroll).toBe(10);
      c.handleKey(close[0], close[1]);
      expect(c.getState()).toMatchObject({ zoom: null, scroll: 0, phase: 'step', stepPhase: 'result' });
    }
    // Looking back at step 1 from step 2: its checks are there too.
    c.handleKey('', enter);
    c.handleKey('b', {});
    expect(c.getState().looking).toBe(0);
    expect(c.keys().map((k) => k.key)).toContain('c');
    c.handleKey('c', {});
    expect(c.getState().zoom).toBe('checks');
  });

  it('in a challenge, once the first poll has results', async () => {
    const lesson = fakeChallengeLesson();
    const fake = fakeChallengeSession(lesson);
    const c = new LessonController(lesson, fake.session, memoryStore({ 'fake-lesson': { step: 1, done: ['step-1'], completed: false, predictions: {}, updated: '' } }));
    live.push(c);
    await c.start();
    await until(() => Boolean(c.getState().challenge?.poll));
    expect(c.keys().find((k) => k.key === 'c')).toMatchObject({ label: 'checks', essential: true });
    c.handleKey('c', {});
    expect(c.getState().zoom).toBe('checks');
    c.handleKey('c', {});
    expect(c.getState().zoom).toBeNull();
  });
});

describe('the intro and the summary scroll when longer than the screen', () => {
  it('j/k/arrows/space move within what the screen reports; space at the bottom starts, enter always does', async () => {
    const { c } = make();
    await c.start();
    expect(c.keys().map((k) => k.key)).not.toContain('↑↓ space');
    c.setScrollLimit(15);
    expect(c.keys().find((k) => k.key === '↑↓ space')).toMatchObject({ label: 'scroll' });
    c.handleKey('j', {});
    c.handleKey('', { downArrow: true });
    expect(c.getState().scroll).toBe(2);
    c.handleKey('k', {});
    expect(c.getState().scroll).toBe(1);
    c.handleKey(' ', {});
    c.handleKey(' ', {});
    expect(c.getState()).toMatchObject({ phase: 'intro', scroll: 15 });
    c.handleKey('', { pageUp: true });
    expect(c.getState().scroll).toBe(5);
    c.handleKey('', { pageDown: true });
    expect(c.getState().scroll).toBe(15);
    // At the bottom, space starts the lesson (as enter does at any time).
    c.handleKey(' ', {});
    expect(c.getState()).toMatchObject({ phase: 'step', index: 0, scroll: 0 });
  });
});
