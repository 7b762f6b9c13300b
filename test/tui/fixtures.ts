/** Data and fakes for the terminal UI tests: a tree like the pid-namespaces lesson's, a fake lesson session. */
import type { LessonSession } from '../../src/lessons/engine.js';
import type { CheckResult, Lesson, LessonProgress, LogEntry, TreeRow, TreeView } from '../../src/lessons/types.js';
import type { ProgressStore } from '../../src/tui/lesson-controller.js';

// eslint-disable-next-line no-control-regex
const ANSI = /\u001B\[[0-9;?]*[ -/]*[@-~]/g;

/** The frame as plain text (no colours, no cursor codes). */
export function plain(frame: string | undefined): string {
  return (frame ?? '').replace(ANSI, '');
}

export function frameLines(frame: string | undefined): string[] {
  return plain(frame).split('\n');
}

function row(hostPid: number, nspid: number[], comm: string, ns: number, children: TreeRow[] = [], sandbox: string | null = null): TreeRow {
  return { hostPid, nspid: [hostPid, ...nspid], comm, state: 'S', ns, sandbox, children };
}

/**
 * This program with: sandbox a (sleep 4711 as PID 1, and a joined sleep as PID 2 under its
 * host-side supervisor), sandbox b (sh with two sleeps), and sandbox c three levels deep.
 */
export function treeFixture(hidden = 371): TreeView {
  return {
    kind: 'tree',
    roots: [
      row(process.pid, [], 'node', -1, [
        row(4711, [1], 'sleep', 0, [], 'pidns-a'),
        row(4712, [], 'sandbox-init', -1, [row(4713, [2], 'sleep', 0, [], 'pidns-a')], 'pidns-a'),
        row(4720, [1], 'sh', 1, [row(4721, [2], 'sleep', 1, [], 'pidns-b'), row(4722, [3], 'sleep', 1, [], 'pidns-b')], 'pidns-b'),
        row(28930, [1], 'unshare', 2, [row(28931, [2, 1], 'unshare', 3, [row(28933, [3, 2], 'sleep', 3), row(28935, [4, 3, 1], 'sleep', 4)])], 'pidns-c'),
      ]),
    ],
    namespaces: [
      { inode: 4026532181, label: 'pidns-a pid:[4026532181]' },
      { inode: 4026532180, label: 'pidns-b pid:[4026532180]' },
      { inode: 4026532183, label: 'pidns-c pid:[4026532183]' },
      { inode: 4026532185, label: 'pidns-c (level 2) pid:[4026532185]' },
      { inode: 4026532186, label: 'pidns-c (level 3) pid:[4026532186]' },
    ],
    hidden,
  };
}

export interface FakeSession {
  session: LessonSession;
  acted: number[];
  replayedUpTo: number[];
  closed: number;
  /** Makes step i's checks fail (until set back). */
  failing: Set<number>;
}

const pass = (label: string, probe: string, value: string): CheckResult => ({ label, probe, expected: value, actual: value, pass: true });

/** A lesson of `n` steps whose actions log a command and whose checks pass (unless told to fail). */
export function fakeLesson(n = 3): Lesson {
  return {
    id: 'fake-lesson',
    title: 'Fake lesson',
    summary: 'for tests',
    intro: 'An introduction to the fake lesson.',
    steps: Array.from({ length: n }, (_, i) => ({
      id: `step-${i + 1}`,
      title: `Fake step ${i + 1}`,
      prose: `The text of step ${i + 1}. It says what the step is about to do, in a few words that wrap.`,
      prediction:
        i % 2 === 0
          ? { question: `Question ${i + 1}: which PID?`, choices: ['its host PID', '1', '0'], answer: 1, explanation: 'Each PID namespace numbers from 1.' }
          : undefined,
      action: async () => undefined,
      view: { title: 'Processes: host PID (namespace PIDs)', sample: () => treeFixture() },
      checks: [{ label: `check of step ${i + 1}`, run: () => pass(`check of step ${i + 1}`, 'grep NSpid /proc/4711/status', '4711 1') }],
      hint: `The hint of step ${i + 1}.`,
      takeaway: i === n - 1 ? 'The last takeaway.' : undefined,
    })),
  };
}

export function fakeSession(lesson: Lesson): FakeSession {
  const fake: FakeSession = {
    acted: [],
    replayedUpTo: [],
    closed: 0,
    failing: new Set(),
    session: undefined as unknown as LessonSession,
  };
  const log = (i: number): LogEntry[] => [
    { command: `sandbox run --pid -- sleep infinity   # step ${i + 1}`, syscall: 'clone3({ flags: CLONE_NEWPID|CLONE_PIDFD }) = 4711', output: 'host PID 4711' },
  ];
  fake.session = {
    lesson,
    ctx: {},
    act: async (i: number) => {
      fake.acted.push(i);
      await new Promise((r) => setTimeout(r, 5));
      return { log: log(i), error: null };
    },
    check: async (i: number) => {
      const results: CheckResult[] = [pass(`check of step ${i + 1}`, 'grep NSpid /proc/4711/status', '4711 1')];
      if (fake.failing.has(i)) results.push({ label: 'a check that fails', probe: 'readlink /proc/4711/ns/pid', expected: 'pid:[1]', actual: 'pid:[2]', pass: false });
      return results;
    },
    replay: async (upTo: number, onStep?: (i: number) => void) => {
      fake.replayedUpTo.push(upTo);
      for (let i = 0; i < upTo; i++) onStep?.(i);
      return null;
    },
    close: async () => {
      fake.closed++;
    },
  } as unknown as LessonSession;
  return fake;
}

/** Progress kept in memory. */
export function memoryStore(initial: Record<string, LessonProgress> = {}): ProgressStore & { data: Record<string, LessonProgress> } {
  const data = { ...initial };
  return {
    data,
    read: (id) => data[id] ?? null,
    save: (id, p) => {
      data[id] = JSON.parse(JSON.stringify(p)) as LessonProgress;
    },
    empty: () => ({ step: 0, done: [], completed: false, predictions: {}, updated: new Date().toISOString() }),
  };
}

/** Resolves once `cond()` holds (polling), or throws after `ms`. */
export async function until(cond: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A fake ChallengeRun: checks the test sets, a conditional hint, a fail-state, one question. */
export interface FakeChallenge {
  /** Which checks pass now (by index). */
  passing: Set<number>;
  hintHolds: boolean;
  failHolds: boolean;
  polls: number;
  resets: number;
  ended: number;
  /** The answer the "kernel" gives to the question. */
  value: string;
  shells: number;
}

/**
 * A lesson with a guided step, then a challenge step (two checks, a conditional hint, a general
 * hint, a fail-state, a question), then a last guided step; and a fake session whose challenge
 * the test drives through `challenge`.
 */
export function fakeChallengeLesson(): Lesson {
  const base = fakeLesson(3);
  const chStep: Lesson['steps'][number] = {
    id: 'fake-challenge',
    title: 'Challenge: do it yourself',
    prose: 'The text of the challenge.',
    checks: [],
    hint: 'The step hint.',
    takeaway: 'You did it yourself.',
    challenge: {
      goal: 'Make two processes in a new PID namespace.',
      tools: ['unshare', 'ps'],
      setup: async () => undefined,
      vars: () => [],
      checks: [
        { label: 'a new namespace', run: () => pass('a new namespace', 'readlink', 'x') },
        { label: 'two processes in it', run: () => pass('two processes in it', 'count', '2') },
      ],
      hints: [
        { when: { probe: 'readlink /proc/X/root/proc/1/ns/pid', holds: () => true }, text: 'Mount a fresh /proc: unshare --mount-proc.' },
        { text: 'The general hint: unshare --pid --fork --mount-proc.' },
      ],
      failStates: [{ when: { probe: 'cat pids.current', holds: () => true }, text: 'The PIDs are spent.', reach: [] }],
      questions: [{ id: 'q1', question: 'What is the host PID of PID 1?', answer: () => ({ probe: 'echo 4711', value: '4711' }), compare: 'number', explanation: 'NSpid shows both.' }],
      solution: ["unshare --pid --fork --mount-proc sh -c 'sleep 1000 & exec sleep 1000' &"],
    },
  };
  return { ...base, steps: [base.steps[0], chStep, base.steps[2]] };
}

export function fakeChallengeSession(lesson: Lesson): FakeSession & { challenge: FakeChallenge } {
  const fake = fakeSession(lesson) as FakeSession & { challenge: FakeChallenge };
  const ch: FakeChallenge = { passing: new Set(), hintHolds: false, failHolds: false, polls: 0, resets: 0, ended: 0, value: '4711', shells: 0 };
  fake.challenge = ch;
  let current = -1;
  const vars = [
    { name: 'WS', value: '/run/sandbox/ws/fake-ws', about: 'a scratch directory' },
    { name: 'NETNS', value: 'sandbox-fake-bench', about: 'a netns name' },
  ];
  const run = (i: number) => {
    const c = lesson.steps[i].challenge!;
    return {
      vars,
      shownVars: vars,
      envFile: '/run/sandbox/ws/fake-ws/env',
      poll: async () => {
        ch.polls++;
        const results = c.checks.map((k, n) => ({ label: k.label, probe: `probe ${n}`, expected: 'yes', actual: ch.passing.has(n) ? 'yes' : 'no', pass: ch.passing.has(n) }));
        const passed = results.every((r) => r.pass);
        return {
          results,
          passed,
          hint: !passed && ch.hintHolds ? c.hints[0] : null,
          fail: ch.failHolds ? c.failStates![0] : null,
          at: Date.now(),
        };
      },
      answer: async (q: { compare?: string }, typed: string) => ({ right: Number(typed.trim()) === Number(ch.value), value: ch.value, probe: 'echo' }),
      reset: async () => {
        ch.resets++;
        ch.passing.clear();
        return ['network interface eth-stray (ip link delete eth-stray)'];
      },
      shell: () => ({ sandbox: {}, argv: ['bash', '-i'], env: {}, intro: 'a root shell' }),
      takeLog: () => [],
    };
  };
  const s = fake.session as unknown as Record<string, unknown>;
  const act = s.act as (i: number) => Promise<unknown>;
  s.act = async (i: number) => {
    if (lesson.steps[i].challenge) current = i;
    return act(i);
  };
  s.challengeOf = (i: number) => (i === current ? run(i) : null);
  s.endChallenge = async () => {
    if (current < 0) return [];
    current = -1;
    ch.ended++;
    return ['mount on /mnt/x (umount /mnt/x)'];
  };
  return fake;
}
