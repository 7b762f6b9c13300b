import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { lintLesson, parseProse, suggestLessons } from '../../src/lessons/engine.js';
import { COURSE } from '../../src/lessons/manifest.js';
import { emptyProgress, readProgress, resetProgress, saveProgress, stateDir } from '../../src/lessons/progress.js';
import type { Lesson } from '../../src/lessons/types.js';

describe('the course manifest', () => {
  it('has unique ids, each with a lesson folder and prose', () => {
    const ids = COURSE.map((e) => e.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(fs.existsSync(path.join('src/lessons', id, 'prose.md'))).toBe(true);
  });
});

describe('prose.md', () => {
  it('splits into an intro and one section per step', () => {
    const { intro, sections } = parseProse('# Title\n\nIntro text.\n\n## first\n\nOne.\n\n## second-step\nTwo\nlines.\n');
    expect(intro).toBe('Intro text.');
    expect([...sections.keys()]).toEqual(['first', 'second-step']);
    expect(sections.get('second-step')).toBe('Two\nlines.');
  });
});

describe('did you mean', () => {
  it('suggests the closest lesson', () => {
    expect(suggestLessons('pid-namspaces')[0]).toBe('pid-namespaces');
    expect(suggestLessons('pid')[0]).toBe('pid-namespaces');
    expect(suggestLessons('zzzzzzzzzzzzzzzzzzz')).toEqual([]);
  });
});

describe('lintLesson', () => {
  const ok = async () => undefined;
  const base: Lesson = {
    id: 't',
    title: 'T',
    summary: 's',
    steps: [{ id: 'one', title: 'One', prose: 'p', action: ok, checks: [{ label: 'c', run: () => ({ probe: '', expected: '', actual: '', pass: true }) }], hint: 'h' }],
  };
  it('accepts a well-formed lesson', () => expect(lintLesson(base)).toEqual([]));
  it('finds duplicate ids, missing prose, bad predictions and checks that cannot fail', () => {
    const bad: Lesson = {
      ...base,
      steps: [
        base.steps[0],
        { ...base.steps[0], prose: '' },
        { ...base.steps[0], id: 'two', action: undefined, prediction: { question: 'q', choices: ['a', 'b'], answer: 5, explanation: 'e' } },
      ],
    };
    const problems = lintLesson(bad).join('\n');
    expect(problems).toMatch(/duplicate id/);
    expect(problems).toMatch(/no prose/);
    expect(problems).toMatch(/answer 5 is not a choice/);
    expect(problems).toMatch(/checks without an action/);
  });
});

describe('progress', () => {
  let dir: string;
  const saved = { ...process.env };
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sandbox-state-'));
    process.env.XDG_STATE_HOME = dir;
    delete process.env.SUDO_USER;
  });
  afterEach(() => {
    process.env = { ...saved };
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('lives in $XDG_STATE_HOME/sandbox and survives a reload', () => {
    expect(stateDir()).toBe(path.join(dir, 'sandbox'));
    saveProgress('pid-namespaces', { ...emptyProgress(), step: 3, done: ['a', 'b', 'c'] });
    expect(readProgress('pid-namespaces')).toMatchObject({ step: 3, done: ['a', 'b', 'c'], completed: false });
    expect(fs.readdirSync(path.join(dir, 'sandbox'))).toEqual(['progress.json']); // no temporary file left
  });

  it('ignores a relative XDG_STATE_HOME, as the spec says', () => {
    process.env.XDG_STATE_HOME = 'relative/dir';
    expect(stateDir()).toBe(path.join(os.homedir(), '.local', 'state', 'sandbox'));
  });

  it('reset forgets one lesson or all', () => {
    saveProgress('a', emptyProgress());
    saveProgress('b', emptyProgress());
    expect(resetProgress('a')).toEqual(['a']);
    expect(readProgress('a')).toBeNull();
    expect(readProgress('b')).not.toBeNull();
    expect(resetProgress()).toEqual(['b']);
    expect(resetProgress()).toEqual([]);
  });
});
