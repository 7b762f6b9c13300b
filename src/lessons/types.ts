/**
 * A course is data (as in rustlings and learnyounode): an ordered manifest of lessons, a folder
 * per lesson holding its prose (prose.md) and its steps (index.ts). A step has prose, an optional
 * prediction the learner makes first, an action through the runtime (shown as the equivalent
 * commands and system calls), a live view, checks of real kernel state, and a hint.
 *
 * Lessons know nothing of syscalls (they call the runtime) and nothing of the screen (they return
 * plain data: log entries, view samples, check results). The engine (engine.ts) runs them; the
 * TUI (src/tui/) and the line printer (plain.ts) render what they return.
 */
import type { LessonContext } from './context.js';

export interface Lesson {
  /** Stable id, the `sandbox learn ID` argument: "pid-namespaces". */
  id: string;
  title: string;
  /** One line for the catalogue. */
  summary: string;
  /** Shown before the first step. From prose.md (the text under its `#` title) unless given here. */
  intro?: string;
  /** What the host must offer; checked before the lesson starts. */
  requires?: Requirement[];
  steps: Step[];
  /**
   * Set for a lesson read from a folder (`sandbox learn ./dir`, src/commands/folder-lesson.ts):
   * the folder as the learner names it, and the key its progress is saved under (`id@` + a hash
   * of the folder's real path, so two folders with the same id do not share progress). Unset for
   * the course's own lessons.
   */
  folder?: { dir: string; progressKey: string };
}

export type Requirement =
  | { kind: 'root' }
  | { kind: 'controller'; name: string }
  | { kind: 'busybox' }
  | { kind: 'command'; name: string }
  | { kind: 'userns' }
  | { kind: 'overlay' };

export interface Step {
  /** Stable within the lesson (progress is saved by id): "pid1-inside". */
  id: string;
  title: string;
  /** Text shown before the action. From the lesson's prose.md section `## <id>` unless given here. */
  prose?: string;
  /** Asked before the action runs. */
  prediction?: Prediction;
  /** What this step does through the runtime. Steps without one only explain or look. */
  action?: (ctx: LessonContext) => Promise<void>;
  /** The live view shown with this step. */
  view?: View;
  /** Checks of real kernel state, run after the action. Each must fail if the action is skipped. */
  checks: Check[];
  /** Shown on request (h) and when a check fails. */
  hint: string;
  /** Said after the checks pass: what the learner just saw. Optional. */
  takeaway?: string;
  /**
   * Why this step cannot run on this host, or null when it can (read from the host: "CRIU 3.17
   * cannot dump on kernel 6.18: vdso: Unexpected rt vDSO area bounds"). A step that cannot run is
   * skipped with that reason shown, on screen, in line mode and in `--auto`, and counts as neither
   * passed nor failed.
   */
  unavailable?: (ctx: LessonContext) => Promise<string | null> | string | null;
  /**
   * Makes this a challenge step: the learner's own work, checked live (see Challenge). A
   * challenge step has no action or prediction of its own; its `checks` are the challenge's.
   */
  challenge?: Challenge;
}

// ----- challenges ------------------------------------------------------------------------------

/**
 * A challenge (after iximiuz Labs' challenges and Killercoda's verify scripts): a goal the learner
 * reaches with the real tools, in a real shell (`s`) or any other terminal, while the screen polls
 * its checks against the kernel (at least once a second) and ticks them as they turn true.
 *
 * The setup makes sandboxes through the runtime (its own keys, destroyed with the challenge) and
 * exposes them as variables. Everything the challenge shell starts lives in a cgroup of the
 * lesson and a mount namespace of the challenge (the "bench"), so it all goes when the challenge
 * ends. Hints are chosen by conditions read from the kernel; fail-states offer a reset; typed
 * answers are read from the live system; the reference solution is what `--auto` and the course
 * check run.
 */
export interface Challenge {
  /** The goal in plain words: "make a PID namespace in which `ps` shows exactly two processes". */
  goal: string;
  /** The tools to use, shown under the goal: ["unshare", "mount", "ps"]. */
  tools: string[];
  /**
   * The kernel interface the learner writes directly, not through `sandbox` ("cgroup files",
   * "uid_map", "mount", "ip"): every lesson has at least one such challenge.
   */
  writes?: string;
  /** Builds what the challenge starts from (sandboxes, files). Runs before the bench exists. */
  setup: (ctx: LessonContext) => Promise<void>;
  /**
   * The variables the learner gets (in the `s` shell, in an env file for other terminals, and on
   * screen): `A` = host PID of a's PID 1, `A_CG` = its cgroup directory… `WS`, `VETH_A`/`VETH_B`
   * and `NETNS` are always added (see ChallengeBench).
   */
  vars: (ctx: LessonContext) => ChallengeVar[];
  /** Where `s` opens the shell and where the solution runs. Default: the host (the bench). */
  shell?: { in: 'host' } | { in: 'sandbox'; key: string };
  /** The goal, as checks of real kernel state. Each must fail after the setup alone. */
  checks: Check[];
  /**
   * Hints, first match wins: a hint with `when` is shown while its condition holds; the hint
   * without `when` (at most one, last) is the general one, shown on request (h).
   */
  hints: ChallengeHint[];
  /** States the learner cannot come back from: the screen offers "reset this challenge". */
  failStates?: ChallengeFailState[];
  /** Questions whose answers are found on the live system. */
  questions?: Question[];
  /** The reference solution: shell lines (POSIX sh), run where `shell` says, with the variables set. */
  solution: string[];
  /** How long `--auto` and the course check wait for the checks after the solution. Default 10 s. */
  settleMs?: number;
}

export interface ChallengeVar {
  /** Shell variable name: A, A_CG, WS. */
  name: string;
  value: string;
  /** What it is, on screen: "host PID of sandbox a's PID 1". */
  about: string;
}

/** A condition read from the kernel (never from the lesson's bookkeeping). */
export interface Condition {
  /** How it is read, shown with the hint: "readlink /proc/$A/ns/pid". */
  probe: string;
  holds: (ctx: LessonContext) => boolean | Promise<boolean>;
}

export interface ChallengeHint {
  /** When this hint applies. Absent: the general hint (shown on request). */
  when?: Condition;
  text: string;
  /**
   * Shell lines (a wrong or partial attempt) that, run after the setup, reach a state where
   * `when` holds: the course check runs them to prove the hint can ever show. Not needed when
   * the condition holds right after the setup.
   */
  reach?: string[];
}

export interface ChallengeFailState {
  when: Condition;
  /** What went wrong, and why it cannot be undone ("the bomb's PIDs are spent: reset"). */
  text: string;
  /** Lines that reach the state (the course check runs them). */
  reach: string[];
}

export interface Question {
  /** Stable within the challenge (progress keeps answers by id). */
  id: string;
  question: string;
  /**
   * The right answer, read from the live system now; `probe` is the shell line (run on the
   * host, with the challenge's variables) that prints exactly `value`: the course check runs it.
   */
  answer: (ctx: LessonContext) => { probe: string; value: string } | Promise<{ probe: string; value: string }>;
  /** 'number' compares numerically (spaces and a trailing unit ignored); default: exact text, trimmed. */
  compare?: 'text' | 'number';
  /** Shown once answered. */
  explanation?: string;
}

export interface Prediction {
  question: string;
  /** The choices. Empty for a numeric prediction (`number` set). */
  choices: string[];
  /**
   * Index of the right choice: what the kernel will do. For a numeric prediction, the number the
   * kernel will give. `--auto` answers with it.
   */
  answer: number;
  /**
   * Makes this a numeric prediction ("what % of the CPU will a get?"): the learner types a number,
   * scored by its closeness to `answer` (right within `tolerance`, close within 3× `tolerance`).
   */
  number?: NumberPrediction;
  /** Why, shown once the learner has answered (and the action has shown it for real). */
  explanation: string;
}

export interface NumberPrediction {
  /** Unit shown after the number: "%", "processes", "MiB". */
  unit: string;
  /** Bounds of what may be typed (inclusive); anything else is refused with a clear message. */
  min: number;
  max: number;
  /** |guess − answer| ≤ tolerance is right; ≤ 3 × tolerance is close. */
  tolerance: number;
  /** What the kernel gave, read after the action, shown next to the guess (with its probe). */
  measured?: (ctx: LessonContext) => Promise<{ probe: string; value: number }> | { probe: string; value: number };
}

/** One line of what an action did: the command a learner could type, the syscall, the output. */
export interface LogEntry {
  /** Equivalent shell command, e.g. `sandbox run --pid -- sh` or `readlink /proc/4711/ns/pid`. */
  command?: string;
  /** System call(s) made, e.g. `clone3({ flags: CLONE_NEWPID|… }) = 4711`. */
  syscall?: string;
  /** What it printed or produced. */
  output?: string;
  /** A remark in plain words. */
  note?: string;
}

export interface CheckResult {
  label: string;
  /** How the kernel state was read: `grep NSpid /proc/4711/status`. */
  probe: string;
  expected: string;
  actual: string;
  pass: boolean;
}

export interface Check {
  label: string;
  /** Reads real kernel state (never the lesson's own bookkeeping) and compares. */
  run: (ctx: LessonContext) => Promise<Omit<CheckResult, 'label'>> | Omit<CheckResult, 'label'>;
}

// ----- live views ------------------------------------------------------------------------------

/** A view is sampled from the kernel at `intervalMs` (default 200) and rendered by kind. */
export interface View {
  title: string;
  intervalMs?: number;
  sample: (ctx: LessonContext) => ViewData;
}

export type ViewData = TreeView | TableView | ChartView | GaugesView | TextView;

/** A process tree with host PID and namespace PIDs side by side, grouped by PID namespace. */
export interface TreeView {
  kind: 'tree';
  roots: TreeRow[];
  /** Legend: one entry per PID namespace shown, in colour order. */
  namespaces: { inode: number; label: string }[];
  /** Processes left out (the rest of the host), for a "… N more" line. */
  hidden: number;
}

export interface TreeRow {
  hostPid: number;
  /** PID in each namespace from the host down: [4711, 1]. */
  nspid: number[];
  comm: string;
  state: string;
  /** Index into TreeView.namespaces (colour), or -1 for the host's own. */
  ns: number;
  /** The sandbox whose cgroup holds it. */
  sandbox: string | null;
  /** Emphasised (the process the step is about). */
  highlight?: boolean;
  children: TreeRow[];
}

export interface TableView {
  kind: 'table';
  columns: string[];
  rows: string[][];
  /** Row indexes to emphasise. */
  highlight?: number[];
  caption?: string;
}

export interface ChartView {
  kind: 'chart';
  /** Values per series over time, oldest first. */
  series: { name: string; values: number[]; target?: number }[];
  min: number;
  max: number;
  unit: string;
  caption?: string;
}

export interface GaugesView {
  kind: 'gauges';
  gauges: { label: string; value: number; max: number | null; unit: string; note?: string }[];
  caption?: string;
}

export interface TextView {
  kind: 'text';
  lines: string[];
}

// ----- progress --------------------------------------------------------------------------------

export interface LessonProgress {
  /** Index of the step to resume at. */
  step: number;
  /** Ids of steps whose checks passed (challenges included). */
  done: string[];
  completed: boolean;
  predictions: Record<string, PredictionRecord>;
  /** Each challenge step's state by step id (absent: not started). */
  challenges?: Record<string, ChallengeProgress>;
  updated: string;
}

export interface ChallengeProgress {
  state: 'started' | 'done' | 'skipped';
  /** Question ids answered right. */
  answered: string[];
  /** The reference solution was shown (or run) before the challenge passed. */
  solutionShown?: boolean;
}

/** How close a prediction was: a choice is right or off; a number may also be close (within 3× the tolerance). */
export type PredictionScore = 'right' | 'close' | 'off';

/** A prediction the learner made, kept in progress. */
export interface PredictionRecord {
  /** Index of the choice made; 0 for a numeric prediction (its number is `guess`). */
  choice: number;
  /** Right: the right choice, or a number within the tolerance. */
  correct: boolean;
  /** A numeric prediction's number, and its score (both absent for a choice). */
  guess?: number;
  score?: PredictionScore;
}

export type LessonStatus = 'new' | 'in progress' | 'completed';
