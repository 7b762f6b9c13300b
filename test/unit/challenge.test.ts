/**
 * The challenge engine's pure parts: typed answers against the value read from the kernel, the
 * lint of a challenge step, the course's rules for challenges, and that every built-in lesson's
 * challenges are well formed (and listed in the manifest, which `sandbox lessons` counts from).
 */
import { describe, expect, it } from 'vitest';

import { answerMatches } from '../../src/lessons/challenge.js';
import { lessonListLines } from '../../src/tui/components/LessonList.js';
import { courseRules, lintChallenge, lintLesson, loadLesson } from '../../src/lessons/engine.js';
import { COURSE } from '../../src/lessons/manifest.js';
import type { Challenge, Lesson, Step } from '../../src/lessons/types.js';

describe('answerMatches', () => {
  it.each([
    ['4711', '4711', true],
    ['  4711 ', '4711', true],
    ['4711', '4711\n', true],
    ['4 711', '4711', true],
    ['4712', '4711', false],
    ['12.0', '12', true],
    ['512 kB', '512', true],
    ['50%', '50', true],
    ['50 %', '50', true],
    ['100000', '100000', true],
    ['1000000', '100000', false],
    ['', '0', false],
    ['   ', '0', false],
    ['', '', false],
    ['pid', '1', false],
    ['1', '(no sandbox b)', false],
  ])('number: %j against %j → %s', (typed, value, right) => {
    expect(answerMatches(typed, value, 'number')).toBe(right);
  });

  it.each([
    ['gamma', 'gamma', true],
    ['  gamma  ', 'gamma\n', true],
    ['Gamma', 'gamma', false],
    ['a  b', 'a b', true],
    ['a b', 'a\tb', true],
    ['ab', 'a b', false],
    ['gamm', 'gamma', false],
    ['', '', false],
    ['  ', ' ', false],
  ])('text: %j against %j → %s', (typed, value, right) => {
    expect(answerMatches(typed, value)).toBe(right);
    expect(answerMatches(typed, value, 'text')).toBe(right);
  });
});

const ok = async () => undefined;
const check = (label: string) => ({ label, run: () => ({ probe: 'p', expected: 'e', actual: 'a', pass: false }) });
const goodChallenge = (): Challenge => ({
  goal: 'make a PID namespace with two processes',
  tools: ['unshare'],
  writes: 'mount',
  setup: ok,
  vars: () => [],
  checks: [check('one'), check('two')],
  hints: [{ when: { probe: 'p', holds: () => true }, text: 'conditional' }, { text: 'general' }],
  questions: [{ id: 'q1', question: 'what?', answer: () => ({ probe: 'echo 1', value: '1' }) }],
  solution: ['true'],
});
const step = (over: Partial<Step> = {}, c: Partial<Challenge> = {}): Step => ({
  id: 'own',
  title: 'Challenge: own',
  prose: 'prose',
  checks: [],
  hint: 'hint',
  challenge: { ...goodChallenge(), ...c },
  ...over,
});

describe('lintChallenge', () => {
  it('a well-formed challenge step has no problems', () => {
    expect(lintChallenge(step())).toEqual([]);
    // Questions alone (no checks) are a challenge too.
    expect(lintChallenge(step({}, { checks: [] }))).toEqual([]);
    // A single general hint is fine.
    expect(lintChallenge(step({}, { hints: [{ text: 'general' }] }))).toEqual([]);
  });

  it.each([
    ['an action of its own', step({ action: ok }), /no action, prediction or checks of its own/],
    ['checks of its own', step({ checks: [check('x')] }), /no action, prediction or checks of its own/],
    ['a prediction', step({ prediction: { question: 'q', choices: ['a', 'b'], answer: 0, explanation: 'e' } }), /no action, prediction or checks/],
    ['an empty goal', step({}, { goal: '  ' }), /no goal/],
    ['no tools', step({}, { tools: [] }), /names no tools/],
    ['neither checks nor questions', step({}, { checks: [], questions: [] }), /neither checks nor questions/],
    ['no solution', step({}, { solution: [] }), /no reference solution/],
    ['no hints', step({}, { hints: [] }), /no hints/],
    ['two general hints', step({}, { hints: [{ text: 'a' }, { text: 'b' }] }), /at most one hint without a condition/],
    ['the general hint first', step({}, { hints: [{ text: 'g' }, { when: { probe: 'p', holds: () => true }, text: 'c' }] }), /comes last/],
    ['a duplicate question id', step({}, { questions: [goodChallenge().questions![0], goodChallenge().questions![0]] }), /duplicate question id q1/],
    ['a duplicate check label', step({}, { checks: [check('one'), check('one')] }), /duplicate check label "one"/],
  ])('finds %s', (_what, s, problem) => {
    const problems = lintChallenge(s);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(problem);
  });

  it('lintLesson reports a challenge step\'s problems with where they are, and no "no checks" for it', () => {
    const lesson: Lesson = { id: 't', title: 'T', summary: 's', steps: [step({}, { tools: [] })] };
    expect(lintLesson(lesson)).toEqual(['step 1 (own): the challenge names no tools']);
  });
});

describe('courseRules', () => {
  const guided: Step = { id: 'guided', title: 'Guided', prose: 'p', checks: [check('c')], hint: 'h', action: ok };
  const lesson = (...steps: Step[]): Lesson => ({ id: 't', title: 'T', summary: 's', steps });
  const a = step({ id: 'a' }, { questions: [] });
  const b = step({ id: 'b' }, { writes: undefined });

  it('two challenges at the end, one writing the kernel, one asking: fine', () => {
    expect(courseRules(lesson(guided, a, b))).toEqual([]);
  });

  it.each([
    ['no challenge', lesson(guided), /has 0 challenge\(s\): every lesson ends with at least two/],
    ['one challenge', lesson(guided, step()), /has 1 challenge\(s\)/],
    ['a challenge before a guided step', lesson(a, guided, b), /not all at the end/],
    ['no challenge writes the kernel', lesson(guided, step({ id: 'a' }, { writes: undefined }), b), /writes a kernel interface directly/],
    ['no question', lesson(guided, a, step({ id: 'b' }, { questions: [] })), /no challenge asks a typed question/],
  ])('finds %s', (_what, l, problem) => {
    const problems = courseRules(l);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(problem);
  });
});

describe('the built-in lessons', () => {
  it.each(COURSE.map((e) => [e.id]))('%s: each challenge lints clean and the manifest lists them', async (id) => {
    // loadLesson lints the whole lesson (it throws on a malformed one): each challenge, once more, alone.
    const lesson = await loadLesson(id);
    const challenges = lesson.steps.filter((s) => s.challenge);
    for (const s of challenges) {
      expect(lintChallenge(s), s.id).toEqual([]);
      expect(s.title, s.id).toMatch(/^Challenge: /);
      expect(s.prose?.trim(), `${s.id}: its "## ${s.id}" section in prose.md`).toBeTruthy();
    }
    // `sandbox lessons` counts challenges from the manifest (it loads no lesson code).
    expect(COURSE.find((e) => e.id === id)!.challenges, `manifest.ts "challenges" of ${id}`).toEqual(challenges.map((s) => s.id));
    // At least two, at the end, one writing a kernel interface directly, one typed question.
    expect(courseRules(lesson)).toEqual([]);
  });

  it('the course has at least 25 challenges (issue 12), every lesson at least two', () => {
    expect(COURSE.reduce((n, e) => n + e.challenges.length, 0)).toBeGreaterThanOrEqual(25);
    for (const e of COURSE) expect(e.challenges.length, e.id).toBeGreaterThanOrEqual(2);
  });
});

describe('the pick list shows the challenges count when it fits', () => {
  const items = [
    { id: 'pid-namespaces', kind: 'lesson' as const, title: 'PID namespaces', summary: 's', status: 'in progress (step 9)', challenges: 'challenges 1/2, 1 skipped' },
    { id: 'other', kind: 'lesson' as const, title: 'Other', summary: 's', status: 'new' },
  ];
  const text = (width: number) => lessonListLines({ items, cursor: 0, width }).lines.map((l) => l.map((x) => x.text).join(''));
  it('wide: after the status; narrow: left out rather than cut', () => {
    expect(text(100)[0]).toMatch(/in progress \(step 9\) · challenges 1\/2, 1 skipped$/);
    expect(text(100)[2]).not.toMatch(/challenges/);
    expect(text(50)[0]).toMatch(/in progress \(step 9\)$/);
  });
});
