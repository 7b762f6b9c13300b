import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { lintLesson, parseProse, suggestLessons } from '../../src/lessons/engine.js';
import { COURSE } from '../../src/lessons/manifest.js';
import { emptyProgress, readProgress, resetProgress, saveProgress, stateDir } from '../../src/lessons/progress.js';
import type { Lesson } from '../../src/lessons/types.js';

describe('the course manifest', () => {
  it('has unique ids, each with a lesson folder and prose (prose.md, or a lesson.md folder lesson)', () => {
    const ids = COURSE.map((e) => e.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(['prose.md', 'lesson.md'].some((f) => fs.existsSync(path.join('src/lessons', id, f))), id).toBe(true);
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

describe('fork-bomb: the kill question follows the host\'s kernel', () => {
  it('asks about one write on v2 and about the freezer on v1, and both pass the prediction rules', async () => {
    const { killPrediction } = await import('../../src/lessons/fork-bomb/index.js');
    const { predictionRules } = await import('../../src/lessons/prediction-rules.js');
    const { loadLesson } = await import('../../src/lessons/engine.js');
    const v2 = killPrediction(2);
    const v1 = killPrediction(1);
    expect(v2.question).toMatch(/cgroup v2/);
    expect(v2.choices[v2.answer]).toMatch(/one write/);
    expect(v2.explanation).toMatch(/cgroup\.kill/);
    expect(v1.question).toMatch(/cgroup v1, which has no cgroup\.kill/);
    expect(v1.choices[v1.answer]).toMatch(/freeze.*SIGKILL.*thaw/);
    const lesson = await loadLesson('fork-bomb');
    for (const p of [v1, v2]) {
      const steps = lesson.steps.map((s) => (s.id === 'one-kill' ? { ...s, prediction: p } : s));
      expect(predictionRules({ ...lesson, steps })).toEqual([]);
    }
  });
});

describe('mount, net, overlay, cgroups-memory, capabilities: predictions that test', () => {
  const ids = ['mount-namespaces', 'net-namespaces', 'overlay-images', 'cgroups-memory', 'capabilities-and-seccomp'];
  it.each(ids)('%s: the lint and the prediction rules find nothing', async (id) => {
    const { predictionRules } = await import('../../src/lessons/prediction-rules.js');
    const { loadLesson } = await import('../../src/lessons/engine.js');
    const lesson = await loadLesson(id);
    expect([...lintLesson(lesson), ...predictionRules(lesson)]).toEqual([]);
  });

  it('asks for a number where the kernel gives one, with the host\'s own figure in the question', async () => {
    const { loadLesson } = await import('../../src/lessons/engine.js');
    const { DOCKER_DEFAULT_CAPS } = await import('../../src/runtime/index.js');
    const pick = async (id: string, step: string) => (await loadLesson(id)).steps.find((s) => s.id === step)!.prediction!;
    const lo = await pick('net-namespaces', 'only-lo');
    expect(lo).toMatchObject({ choices: [], answer: 1, number: { unit: 'interfaces' } });
    expect(lo.question).toMatch(/The host's lists \d+\./);
    expect(await pick('cgroups-memory', 'touch')).toMatchObject({ choices: [], answer: 16, number: { unit: 'MiB' } });
    const caps = await pick('capabilities-and-seccomp', 'root-twice');
    expect(caps).toMatchObject({ choices: [], answer: DOCKER_DEFAULT_CAPS.length, number: { unit: 'capabilities' } });
    expect(caps.question).toMatch(/Root on this host has \d+ capabilities/);
  });

  it('cgroups-memory runs the reserve-then-touch experiment before asking what is charged', async () => {
    const { loadLesson } = await import('../../src/lessons/engine.js');
    const steps = (await loadLesson('cgroups-memory')).steps;
    const at = (id: string) => steps.findIndex((s) => s.id === id);
    expect(at('limit')).toBeLessThan(at('reserve'));
    expect(at('reserve') + 1).toBe(at('touch'));
    expect(at('touch')).toBeLessThan(at('oom'));
    for (const id of ['reserve', 'touch']) {
      const s = steps[at(id)];
      expect(s.action).toBeTypeOf('function');
      expect(s.checks.length).toBeGreaterThanOrEqual(2);
    }
  });
});
