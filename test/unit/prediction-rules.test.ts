/**
 * The course's prediction rules (issue 13): each rejects a made-up step that gives its answer
 * away (or carries a reason in a choice) and accepts the same step fixed.
 */
import { describe, expect, it } from 'vitest';

import { loadLesson } from '../../src/lessons/engine.js';
import { COURSE } from '../../src/lessons/manifest.js';
import { answerWords, givenAway, predictionRules, reasonInChoice, stepPredictionProblems, words } from '../../src/lessons/prediction-rules.js';
import type { Lesson, Prediction, Step } from '../../src/lessons/types.js';

const ok = async () => undefined;
const step = (over: Partial<Step>, prediction: Partial<Prediction> = {}): Step => ({
  id: 'only-lo',
  title: 'A new network namespace',
  prose: 'p',
  action: ok,
  checks: [{ label: 'c', run: () => ({ probe: '', expected: '', actual: '', pass: true }) }],
  hint: '/proc/PID/net/dev shows the interfaces of the network namespace of process PID.',
  prediction: {
    question: 'Sandbox a gets a new network namespace. Which interfaces does `ip link` list inside?',
    choices: ["the host's (lo, eth0…)", 'only lo, and it is down', 'none at all'],
    answer: 1,
    explanation: 'A new network namespace has its own loopback, down until set up.',
    ...prediction,
  },
  ...over,
});

describe('words', () => {
  it('lower-cases, drops punctuation, keeps technical tokens whole, stems lightly', () => {
    expect(words('Only `lo`, and it is DOWN!')).toEqual(['only', 'lo', 'and', 'it', 'is', 'down']);
    expect(words('cgroup.kill; /proc/1/ns/pid: pid:[4026531836] CLONE_NEWPID')).toEqual(['cgroup.kill', 'proc/1/ns/pid', 'pid', '4026531836', 'clone_newpid']);
    expect(words('read-only')).toEqual(['read', 'only']);
    expect(words('killed kills processes process namespaces namespace')).toEqual(['kill', 'kill', 'process', 'process', 'namespac', 'namespac']);
  });
});

describe('(a) neither the title nor the hint holds the answer', () => {
  it('rejects the title "…: only lo, and it is down" (net step 1), accepts it fixed', () => {
    const bad = step({ title: 'A new network namespace: only lo, and it is down' });
    expect(stepPredictionProblems(bad)).toEqual([
      'the title "A new network namespace: only lo, and it is down" contains the right choice\'s words (only, down): it gives the prediction\'s answer away',
    ]);
    expect(stepPredictionProblems(step({}))).toEqual([]);
  });

  it('rejects a hint that states the answer (pid step 1), accepts one that says where to look', () => {
    const pid = (hint: string) =>
      step({ id: 'pid1', title: 'PID 1 inside', hint }, { question: 'Which PID does `sleep` have inside its new PID namespace?', choices: ['its host PID', '1', '0'], answer: 1 });
    // The title's "PID 1" gives it away too.
    expect(stepPredictionProblems(pid('Look at NSpid.')).join('\n')).toMatch(/the title "PID 1 inside" contains the right choice's words \(1\)/);
    const fixedTitle = (hint: string) => ({ ...pid(hint), title: 'The first process of a PID namespace' });
    expect(stepPredictionProblems(fixedTitle('The first process in a new PID namespace is PID 1 there: NSpid shows both.'))).toEqual([
      'the hint "The first process in a new PID namespace is PID 1 there: NS…" contains the right choice\'s words (1): it gives the prediction\'s answer away',
    ]);
    expect(stepPredictionProblems(fixedTitle('The NSpid line of /proc/PID/status lists its PID in each namespace, from the host down.'))).toEqual([]);
  });

  it('a number is a whole word: "1" is not found in "10", "100000" or pid:[1234]', () => {
    const p: Prediction = { question: 'Which PID?', choices: ['4711', '1'], answer: 1, explanation: 'e' };
    expect(givenAway(p, 'pids 10 and 100000, pid:[1234]', 'title')).toBeNull();
    expect(givenAway(p, 'it is PID 1.', 'title')).toEqual(['1']);
  });

  it('a numeric prediction: the expected number in the title or hint, unless the question shows it', () => {
    const cpu = (hint: string, question = 'a gets weight 1 and b weight 3. What % of the CPU will a get?') =>
      step({ id: 'weights', title: 'Unequal weights', hint }, { question, choices: [], answer: 25, number: { unit: '%', min: 0, max: 100, tolerance: 5 } });
    expect(stepPredictionProblems(cpu('a gets 25 % of the CPU.'))).toEqual([
      'the hint "a gets 25 % of the CPU." contains the expected number (25): it gives the prediction\'s answer away',
    ]);
    expect(stepPredictionProblems(cpu('Only the ratio of the weights matters (cpu.weight, default 100).'))).toEqual([]);
    // "weight 25" is in the question already: repeating it gives nothing away.
    expect(stepPredictionProblems(cpu('On v1, weight 25 is cpu.shares 256.', 'a gets weight 25 and b weight 75. What % will a get?'))).toEqual([]);
  });

  it('a word every choice shares, or one the question shows, tells nothing', () => {
    const p: Prediction = { question: 'Where does `ipcs -m` list the segment made in a?', choices: ['in every IPC namespace', "only in a's IPC namespace"], answer: 1, explanation: 'e' };
    expect(answerWords(p)).toEqual(['only']);
    expect(givenAway(p, 'System V IPC, per namespace', 'title')).toBeNull();
  });

  it('a hint may name where to look with one plain word; a number or two words are too many', () => {
    const s = step(
      { id: 'orphans', title: 'Orphans and zombies', hint: 'Follow the sleep\'s parent: which process is it, and in which namespace?' },
      { question: "The sleep's parent exits. Who becomes its parent?", choices: ["the host's PID 1", "PID 1 of d's namespace", 'nobody (it is killed)'], answer: 1 },
    );
    expect(stepPredictionProblems(s)).toEqual([]);
    // Both of the right choice's own words (d, namespace) say it.
    expect(stepPredictionProblems({ ...s, hint: "The sleep is adopted by PID 1 of d's namespace." }).join()).toMatch(/the hint .* contains the right choice's words \(d, namespac\)/);
  });

  it("a hint that explains every choice's notation favours none of them", () => {
    const s = step(
      { id: 'shared', title: 'Shared subtrees', hint: 'mountinfo says it: shared:N = member of peer group N; master:N = slave of group N; none = private.' },
      { question: 'What does b\'s copy of WS/shared show in mountinfo?', choices: ["shared:N, the host mount's group", 'nothing (private)', 'master:N'], answer: 0 },
    );
    expect(stepPredictionProblems(s)).toEqual([]);
  });
});

describe('(b) a choice carries no reason', () => {
  it.each([
    ['1: every PID namespace numbers from 1', /a colon/],
    ['killed, because the limit is reached', /"because"/],
    ['killed since the limit is reached', /"since"/],
    ['killed — the limit is reached', /a dash/],
    ['killed - the limit is reached', /a dash/],
    ['killed; the limit is reached', /a semicolon/],
  ])('rejects %j', (choice, why) => expect(reasonInChoice(choice)).toMatch(why));

  it.each([['1'], ['only lo, and it is down'], ['`pid:[4026531836]`'], ['master:N'], ['`a: b` in the file'], ['read-only'], ['EPERM (Operation not permitted)']])('accepts %j', (choice) =>
    expect(reasonInChoice(choice)).toBeNull(),
  );

  it('names the step and the choice; the fixed step passes', () => {
    const bad: Lesson = {
      id: 't',
      title: 'T',
      summary: 's',
      steps: [step({}, { choices: ['its host PID', '1: every PID namespace numbers from 1', '0'], answer: 1, question: 'Which PID?' })],
    };
    expect(predictionRules(bad)).toEqual([
      'step 1 (only-lo): choice 2 "1: every PID namespace numbers from 1" carries its reason (a colon followed by more words): keep the answer, move the why to the explanation',
    ]);
    const fixed: Lesson = { ...bad, steps: [step({}, { choices: ['its host PID', '1', '0'], answer: 1, question: 'Which PID?' })] };
    expect(predictionRules(fixed)).toEqual([]);
  });
});

describe('the built-in lessons', () => {
  it.each(COURSE.map((e) => [e.id]))('%s: every prediction passes the rules', async (id) => {
    expect(predictionRules(await loadLesson(id))).toEqual([]);
  });
});
