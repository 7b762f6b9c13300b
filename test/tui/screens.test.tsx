/** Whole screens in a fake terminal: they fit the size they are given, from 80×24 up, and show each phase. */
import { render } from 'ink-testing-library';
import { afterEach, describe, expect, it } from 'vitest';

import { MenuStore } from '../../src/tui/home.js';
import { LessonController } from '../../src/tui/lesson-controller.js';
import { HomeScreen } from '../../src/tui/screens/HomeScreen.js';
import { LessonScreen } from '../../src/tui/screens/LessonScreen.js';
import { allocate } from '../../src/tui/screens/layout.js';
import { fakeLesson, fakeSession, frameLines, memoryStore, plain, until } from './fixtures.js';

let live: LessonController[] = [];
afterEach(async () => {
  for (const c of live) await c.quit(0);
  live = [];
});

function lessonScreen(columns: number, rows: number) {
  const lesson = fakeLesson(3);
  const fake = fakeSession(lesson);
  const c = new LessonController(lesson, fake.session, memoryStore());
  live.push(c);
  const ui = render(<LessonScreen controller={c} columns={columns} rows={rows} />);
  return { c, fake, ui };
}

/** Every frame fits: at most rows-1 lines (Ink keeps the cursor on the last row), none wider than the terminal. */
function expectFits(frame: string | undefined, columns: number, rows: number) {
  const lines = frameLines(frame);
  expect(lines.length).toBeLessThanOrEqual(rows - 1);
  for (const l of lines) expect([...l].length).toBeLessThanOrEqual(columns);
}

const tick = () => new Promise((r) => setTimeout(r, 30));

describe('the lesson screen', () => {
  it.each([
    [80, 24],
    [100, 30],
    [120, 40],
  ])('fits %i×%i in every phase: intro, prediction, result, summary', async (columns, rows) => {
    const { c, ui } = lessonScreen(columns, rows);
    await c.start();
    await tick();
    expectFits(ui.lastFrame(), columns, rows);
    expect(plain(ui.lastFrame())).toContain('An introduction to the fake lesson.');
    ui.stdin.write('\r');
    await tick();
    const asking = plain(ui.lastFrame());
    expectFits(ui.lastFrame(), columns, rows);
    expect(asking).toMatch(/step 1\/3/);
    expect(asking).toContain('? Question 1: which PID?');
    expect(asking).toMatch(/› 1\) its host PID/);
    expect(asking).toContain('sleep(4711)(1) a');
    expect(asking).toMatch(/1-3 predict .* q quit · \? keys/);
    ui.stdin.write('2');
    await until(() => c.getState().stepPhase === 'result');
    await tick();
    const result = plain(ui.lastFrame());
    expectFits(ui.lastFrame(), columns, rows);
    expect(result).toMatch(/Checks against the kernel 1\/1 passed/);
    expect(result).toContain('✓ check of step 1');
    expect(result).toMatch(/You predicted: 1 ✓ right/);
    expect(result).toContain('enter next step');
    for (let i = 1; i < 3; i++) {
      ui.stdin.write('\r');
      await tick();
      if (c.getState().stepPhase === 'ask') ui.stdin.write('2');
      else ui.stdin.write('\r');
      await until(() => c.getState().stepPhase === 'result');
      await tick();
      expectFits(ui.lastFrame(), columns, rows);
    }
    ui.stdin.write('\r');
    await tick();
    const summary = plain(ui.lastFrame());
    expectFits(ui.lastFrame(), columns, rows);
    expect(summary).toContain('✓ Lesson complete: Fake lesson');
    expect(summary).toMatch(/checks passed: +3 of 3 \(all of them\)/);
    expect(summary).toMatch(/predictions right: 2 of 2/);
  });

  it('at 80×24 the layout has exactly 23 rows: header, body, key help at the bottom', async () => {
    const { c, ui } = lessonScreen(80, 24);
    await c.start();
    ui.stdin.write('\r');
    await tick();
    const lines = frameLines(ui.lastFrame());
    expect(lines).toHaveLength(23);
    expect(lines[0]).toMatch(/^ sandbox learn {2}Fake lesson +step 1\/3 {2}▣□□$/);
    expect(lines[1]).toBe(' Step 1: Fake step 1');
    expect(lines[22]).toMatch(/^ 1-3 predict/);
  });

  it('a failed check shows ✗, the hint, and r to retry', async () => {
    const { c, fake, ui } = lessonScreen(100, 30);
    fake.failing.add(0);
    await c.start();
    ui.stdin.write('\r');
    await tick();
    ui.stdin.write('1');
    await until(() => c.getState().stepPhase === 'result');
    await tick();
    const out = plain(ui.lastFrame());
    expect(out).toContain('✗ a check that fails');
    expect(out).toMatch(/expected +pid:\[1\]/);
    expect(out).toMatch(/actual +pid:\[2\]/);
    expect(out).toContain('hint: The hint of step 1.');
    expect(out).toMatch(/✗ the kernel did: 1/);
    expect(out).toMatch(/r retry · enter continue anyway/);
  });

  it('below 80×24 it asks for a bigger window instead of garbling', async () => {
    const { c, ui } = lessonScreen(70, 20);
    await c.start();
    const out = plain(ui.lastFrame());
    expect(out).toContain('The terminal is 70×20; this screen needs 80×24.');
    expectFits(ui.lastFrame(), 70, 20);
  });
});

describe('nothing the step is about is hidden (issue 13)', () => {
  it('at 80×24, c shows every check whole: label, probe, expected and actual; the key help offers it', async () => {
    const { c, fake, ui } = lessonScreen(80, 24);
    fake.failing.add(0);
    await c.start();
    ui.stdin.write('\r');
    await tick();
    ui.stdin.write('1');
    await until(() => c.getState().stepPhase === 'result');
    await tick();
    expect(plain(ui.lastFrame())).toMatch(/ c checks · /);
    ui.stdin.write('c');
    await tick();
    const out = plain(ui.lastFrame());
    expectFits(ui.lastFrame(), 80, 24);
    expect(out).toContain('The checks of step 1: Fake step 1');
    expect(out).toMatch(/✓ check of step 1\n +probe +grep NSpid \/proc\/4711\/status\n +expected +4711 1\n +actual +4711 1/);
    expect(out).toMatch(/✗ a check that fails\n +probe +readlink \/proc\/4711\/ns\/pid\n +expected +pid:\[1\]\n +actual +pid:\[2\]/);
    expect(out).toMatch(/esc back to the step/);
    ui.stdin.write('c');
    await tick();
    expect(c.getState().zoom).toBeNull();
  });

  it.each([
    [120, 40],
    [80, 24],
  ])('at %i×%i a wide table (the user-namespaces one) shows every column, no cell cut', async (columns, rows) => {
    const lesson = fakeLesson(3);
    lesson.steps[0].view = {
      title: 'User namespaces: id maps and capabilities',
      sample: () => ({
        kind: 'table',
        columns: ['process', 'PID', 'uid_map', 'host uid', 'uid inside', 'CapEff'],
        rows: [
          ['host: sandbox', '11113', '0 0 4294967295', '0', '0', '000001ffffffffff'],
          ['u: PID 1', '11363', '0 100000 65536', '100000', '0', '00000000a80425fb'],
        ],
        caption: 'from /proc/PID/uid_map and /proc/PID/status',
      }),
    };
    const c = new LessonController(lesson, fakeSession(lesson).session, memoryStore());
    live.push(c);
    const ui = render(<LessonScreen controller={c} columns={columns} rows={rows} />);
    await c.start();
    ui.stdin.write('\r');
    await tick();
    const out = plain(ui.lastFrame());
    expectFits(ui.lastFrame(), columns, rows);
    for (const cell of ['CapEff', '00000000a80425fb', '000001ffffffffff', 'inside', '4294967295', '100000']) expect(out).toContain(cell);
    expect(out).not.toMatch(/\S…/);
  });

  it('an intro longer than the screen scrolls with j/space, with a marker for what is below and above', async () => {
    const lesson = fakeLesson(3);
    lesson.intro = Array.from({ length: 12 }, (_, i) => `Paragraph ${i + 1} of a long introduction, long enough to take a line or two.`).join('\n\n');
    const fake = fakeSession(lesson);
    const c = new LessonController(lesson, fake.session, memoryStore());
    live.push(c);
    const ui = render(<LessonScreen controller={c} columns={80} rows={24} />);
    await c.start();
    await tick();
    let out = plain(ui.lastFrame());
    expectFits(ui.lastFrame(), 80, 24);
    expect(out).toMatch(/↓ \d+ lines below/);
    expect(out).not.toContain('Paragraph 12');
    expect(out).toMatch(/↑↓ space scroll/);
    // Pages of 10 lines: to the bottom (and no further: one more space would start).
    while (c.getState().scroll < (c as unknown as { scrollLimit: number }).scrollLimit) {
      ui.stdin.write(' ');
      await tick();
    }
    out = plain(ui.lastFrame());
    expectFits(ui.lastFrame(), 80, 24);
    expect(out).toMatch(/↑ \d+ lines above/);
    expect(out).toContain('Paragraph 12');
    expect(out).toContain('Press enter to start.');
    expect(c.getState().phase).toBe('intro');
    ui.stdin.write('k');
    await tick();
    expect(plain(ui.lastFrame())).toMatch(/↓ 2 lines below/);
    ui.stdin.write('\r');
    await tick();
    expect(c.getState().phase).toBe('step');
  });
});

describe('the home screen', () => {
  it('lists the course with each status and the tools; enter opens the one under the cursor', async () => {
    const store = new MenuStore(
      [
        { id: 'pid-namespaces', kind: 'lesson', title: 'PID namespaces', summary: 'PID 1 inside', status: 'completed' },
        { id: 'mount-namespaces', kind: 'lesson', title: 'Mount namespaces', summary: 'private mounts', status: 'new' },
        { id: 'repl', kind: 'tool', title: 'REPL', summary: 'explore freely' },
        { id: 'top', kind: 'tool', title: 'Dashboard (sandbox top)', summary: 'every sandbox, live' },
      ],
      'Linux containers, from the kernel up',
    );
    const ui = render(<HomeScreen store={store} columns={80} rows={24} />);
    const out = plain(ui.lastFrame());
    expectFits(ui.lastFrame(), 80, 24);
    expect(out).toMatch(/› 1\. {2}PID namespaces {2,}completed/);
    expect(out).toMatch(/ 2\. {2}Mount namespaces {2,}new/);
    expect(out).toContain('Dashboard (sandbox top)');
    expect(out).toMatch(/enter open .* q quit/);
    ui.stdin.write('\u001B[B');
    await tick();
    ui.stdin.write('\u001B[B');
    await tick();
    ui.stdin.write('\r');
    expect(await store.chosen).toMatchObject({ id: 'repl', kind: 'tool' });
  });

  it('q quits', async () => {
    const store = new MenuStore([{ id: 'a', kind: 'lesson', title: 'A', summary: 's' }], 't');
    const ui = render(<HomeScreen store={store} columns={80} rows={24} />);
    ui.stdin.write('q');
    expect(await store.chosen).toBeNull();
  });
});

describe('allocate', () => {
  it('serves lower priorities first, tier by tier, never more rows than there are', () => {
    const rows = allocate(
      [
        { id: 'prose', natural: 10, min: 3, tiers: [[3, 3], [7, 999]] },
        { id: 'result', natural: 6, min: 1, tiers: [[1, 999]] },
        { id: 'checks', natural: 12, min: 2, tiers: [[2, 3], [5, 12]] },
        { id: 'view', natural: 15, min: 4, tiers: [[4, 8], [6, 999]] },
      ],
      20,
    );
    expect(rows).toEqual({ result: 6, checks: 3, prose: 3, view: 8 });
  });

  it('gives a block nothing rather than less than its minimum', () => {
    expect(allocate([{ id: 'a', natural: 10, min: 1, tiers: [[1, 999]] }, { id: 'b', natural: 5, min: 4, tiers: [[2, 999]] }], 12)).toEqual({ a: 10, b: 0 });
  });
});
