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
}

export interface Prediction {
  question: string;
  choices: string[];
  /** Index of the right choice: what the kernel will do. `--auto` answers with it. */
  answer: number;
  /** Why, shown once the learner has answered (and the action has shown it for real). */
  explanation: string;
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
  /** Ids of steps whose checks passed. */
  done: string[];
  completed: boolean;
  predictions: Record<string, { choice: number; correct: boolean }>;
  updated: string;
}

export type LessonStatus = 'new' | 'in progress' | 'completed';
