/**
 * The lesson screen's state and flow, outside React: which step, which phase (ask → run → check
 * → result), what each step recorded, the live view's latest sample, the keys that work now and
 * what they do. The Ink screen (screens/LessonScreen.tsx) only draws this state and forwards
 * keys; so the flow is testable without a terminal, and the screen can be remounted (on resize)
 * without losing its place.
 *
 * The same rules as line mode (plain.ts): progress is saved after each passed step (the index of
 * the next step, the ids done, the predictions); resuming replays the earlier steps' actions to
 * rebuild their sandboxes; every way out closes the session, which destroys every sandbox.
 *
 * A challenge step (issue 12) is set up as soon as it is entered (act: its sandboxes and the
 * bench), then its checks are polled every CHALLENGE_POLL_MS, one poll at a time, while the
 * learner works in the `s` shell (handed the terminal through `shellRunner`) or any other
 * terminal; it passes when a poll passes and every question is answered right. Its keys are the
 * same as line mode's: s a h R S k, enter once passed or skipped. Leaving it (next, skip, quit)
 * ends it and names what it could not remove.
 */
import type { KeyInput } from './keys.js';
import type { ChallengePoll, ShellSpec } from '../lessons/challenge.js';
import type { LessonSession } from '../lessons/engine.js';
import { lessonArg } from '../lessons/progress.js';
import { allowedGuessChar, isNumeric, MAX_GUESS_CHARS, type Measured, measurePrediction, parseGuess, predictionRecord, recordedAnswer } from '../lessons/prediction.js';
import type { ChallengeProgress, ChallengeVar, CheckResult, Lesson, LessonProgress, LogEntry, Question, Step, ViewData } from '../lessons/types.js';
import type { KeyItem } from './components/KeyHelp.js';
import { NsPalette } from './palette.js';
import { checksSentence, tallyChecks } from './text.js';

export interface ProgressStore {
  read(id: string): LessonProgress | null;
  save(id: string, progress: LessonProgress): void;
  empty(): LessonProgress;
  /** What the last read found wrong (and kept aside), to show once. */
  notice?(): string | null;
}

/** What one step produced in this session (or that it was replayed on resume). */
export interface StepRecord {
  /** The prediction made: the choice's index, or for a numeric prediction the number typed. */
  choice: number | null;
  /** A numeric prediction's `measured`: what the kernel gave, read after the action. */
  measured: Measured | null;
  log: LogEntry[];
  error: unknown | null;
  results: CheckResult[] | null;
  /** The view as it was when the checks ran: what "back" shows. */
  viewAfter: ViewData | null;
  passed: boolean | null;
  /** Rebuilt by replaying its action when the lesson resumed, not run in front of the learner. */
  replayed: boolean;
  attempts: number;
}

export type Phase = 'intro' | 'rebuilding' | 'step' | 'summary' | 'fatal' | 'closing';
/** A challenge step is in 'challenge' from entering it to leaving it (ChallengeState says where). */
/** 'unavailable': the step cannot run on this host (Step.unavailable); it is shown with the reason and skipped. */
export type StepPhase = 'ask' | 'ready' | 'running' | 'checking' | 'result' | 'challenge' | 'unavailable';

/**
 * The challenge of the current step: its setup, the latest poll of its checks, the learner's
 * answers, what they asked to see, and how it ended.
 */
export interface ChallengeState {
  /** setup: act() is making the sandboxes and the bench; working: polled live; ending: being removed. */
  phase: 'setup' | 'working' | 'passed' | 'skipped' | 'error' | 'resetting' | 'ending';
  /** The latest poll (checks, the conditional hint that holds, a fail-state), or null before the first. */
  poll: ChallengePoll | null;
  /** The variables (name = value, about) and the env file for other terminals. */
  vars: ChallengeVar[];
  envFile: string | null;
  /** Question ids answered right. */
  answered: string[];
  /** The question being answered and the text typed so far, or null. */
  input: { id: string; text: string; checking: boolean } | null;
  /** What the last answer got: right (with the explanation) or wrong. */
  feedback: { right: boolean; text: string } | null;
  /** A hint was shown (h) at some point: the reference solution may be shown. */
  hintSeen: boolean;
  /** The reference solution is on screen now. */
  showSolution: boolean;
  /** It was shown (or asked for) before the challenge passed. */
  solutionShown: boolean;
  /** The learner's shell has the terminal now. */
  inShell: boolean;
  /** A line about the last thing done (a reset, a refused key, the shell's end). */
  message: string | null;
  /** The setup's error (phase 'error'). */
  error: unknown | null;
}

/** Hands the terminal to the challenge shell and takes it back (learn.ts); resolves when it exits. */
export type ShellRunner = (spec: ShellSpec) => Promise<void>;

/** How often a challenge's checks are polled (the issue asks for at least 1 Hz). */
export const CHALLENGE_POLL_MS = 1000;
/** A panel shown whole-screen: the step's text, the live view, the log, the checks, the keys. */
export type Zoom = 'prose' | 'view' | 'log' | 'checks' | 'keys';

export interface LessonState {
  phase: Phase;
  /** The step being worked on. */
  index: number;
  stepPhase: StepPhase;
  /** A previous step shown read-only ("b"), or null. */
  looking: number | null;
  records: StepRecord[];
  /** The prediction choice under the cursor. */
  cursor: number;
  /** A numeric prediction being typed, and why the last enter was refused (outside min..max, not a number). */
  typed: { text: string; error: string | null };
  hint: boolean;
  zoom: Zoom | null;
  /** Lines scrolled in the zoomed panel (from the top; from the end for the log). */
  scroll: number;
  /** While rebuilding on resume: steps [0, upTo) are replayed; `current` is being replayed now. */
  rebuild: { upTo: number; current: number } | null;
  /** A line shown above the first step (e.g. "you completed this before"). */
  notice: string | null;
  /** What stopped the lesson (the banner on the fatal screen). */
  fatal: unknown | null;
  /** Latest live view sample of the step shown. */
  view: { data: ViewData | null; error: string | null };
  /** Set once the lesson has ended: the exit code and the line to print after the screen is gone. */
  exit: { code: number; message: string } | null;
  /** The current step's challenge, or null (not a challenge step). */
  challenge: ChallengeState | null;
}

export type { KeyInput } from './keys.js';

const QUIT_WAIT_MS = 3000;
/** How often a change in the count of other host processes alone may redraw the live tree. */
const HIDDEN_REFRESH_MS = 2000;

/**
 * What of a view sample shows on screen, as a string, and the tree's count of other processes
 * apart: two samples with the same key draw the same view. (A process's scheduler state shows
 * only as <zombie>; R and S flicker between samples.)
 */
export function displayKey(data: ViewData): { key: string; hidden: number | null } {
  if (data.kind !== 'tree') return { key: JSON.stringify(data), hidden: null };
  const key = JSON.stringify(data, (k, v: unknown) => (k === 'hidden' ? undefined : k === 'state' ? (v === 'Z' ? 'Z' : '') : v));
  return { key, hidden: data.hidden };
}

function freshChallenge(): ChallengeState {
  return {
    phase: 'setup',
    poll: null,
    vars: [],
    envFile: null,
    answered: [],
    input: null,
    feedback: null,
    hintSeen: false,
    showSolution: false,
    solutionShown: false,
    inShell: false,
    message: null,
    error: null,
  };
}

/** What of a poll shows on screen: two polls with the same key draw the same screen. */
function pollKey(p: ChallengePoll): string {
  return JSON.stringify([p.results, p.passed, p.hint?.text ?? null, p.fail?.text ?? null]);
}

/** Longest typed answer kept (an answer is a PID, a path, a number). */
const MAX_ANSWER = 200;

/**
 * Applies a chunk of typed keys to `text`. Keys typed fast (or pasted) arrive as one chunk:
 * "12\x7f3\r" edits, then submits. A key that is neither accepted, an edit, nor enter is skipped,
 * or with `refuse` makes the whole chunk not typing (null: a command key such as h or v).
 */
function typeChunk(text: string, input: string, accept: (ch: string) => boolean, max: number, refuse = false): { text: string; submit: boolean } | null {
  for (const ch of input) {
    if (ch === '\r' || ch === '\n') return { text, submit: true };
    if (ch === '\x7f' || ch === '\b') text = text.slice(0, -1);
    else if (accept(ch)) text = (text + ch).slice(0, max);
    else if (refuse) return null;
  }
  return { text, submit: false };
}

function emptyRecord(): StepRecord {
  return { choice: null, measured: null, log: [], error: null, results: null, viewAfter: null, passed: null, replayed: false, attempts: 0 };
}

export class LessonController {
  readonly lesson: Lesson;
  readonly session: LessonSession;
  /** Namespace colours, stable for the whole lesson (and across remounts). */
  readonly palette = new NsPalette();
  private readonly store: ProgressStore;
  private progress: LessonProgress;
  private state: LessonState;
  private readonly listeners = new Set<() => void>();
  private timer: NodeJS.Timeout | null = null;
  private lastSampleKey = '';
  private lastHidden: number | null = null;
  private lastSampleAt = 0;
  private running: Promise<void> | null = null;
  /** The challenge poll: one pending timer at most; a new generation cancels the older loop. */
  private pollTimer: NodeJS.Timeout | null = null;
  private pollGen = 0;
  private lastPollKey = '';
  private resolveDone!: (exit: { code: number; message: string }) => void;
  /** Settles once the lesson has ended and every sandbox is gone. */
  readonly done: Promise<{ code: number; message: string }>;

  constructor(lesson: Lesson, session: LessonSession, store: ProgressStore) {
    this.lesson = lesson;
    this.session = session;
    this.store = store;
    this.progress = store.empty();
    this.done = new Promise((resolve) => {
      this.resolveDone = resolve;
    });
    this.state = {
      phase: 'intro',
      index: 0,
      stepPhase: 'ask',
      looking: null,
      records: lesson.steps.map(emptyRecord),
      cursor: 0,
      typed: { text: '', error: null },
      hint: false,
      zoom: null,
      scroll: 0,
      rebuild: null,
      notice: null,
      fatal: null,
      view: { data: null, error: null },
      exit: null,
      challenge: null,
    };
  }

  /** Set by learn.ts: how `s` hands the terminal to the challenge shell. Without it, `s` says so. */
  shellRunner: ShellRunner | null = null;

  // ----- store (useSyncExternalStore) ----------------------------------------------------------

  subscribe = (fn: () => void): (() => void) => {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  };

  getState = (): LessonState => this.state;

  private set(patch: Partial<LessonState>): void {
    this.state = { ...this.state, ...patch };
    for (const fn of this.listeners) fn();
  }

  private setRecord(i: number, patch: Partial<StepRecord>): void {
    const records = this.state.records.slice();
    records[i] = { ...records[i], ...patch };
    this.set({ records });
  }

  /** The lesson is ending: async work that finishes now must not change the screen. */
  private get closing(): boolean {
    return this.state.phase === 'closing' || this.state.exit !== null;
  }

  get steps(): Step[] {
    return this.lesson.steps;
  }

  /** The lesson's sandboxes by name → the key the lesson knows them by ("pidns-a" → "a"): tree tags. */
  sandboxNames(): Record<string, string> {
    const ctx = this.session.ctx as Partial<LessonSession['ctx']>;
    const out: Record<string, string> = {};
    if (typeof ctx.all === 'function') for (const [key, s] of ctx.all()) out[s.name] = key;
    return out;
  }

  /** Ids of steps whose checks passed (this session or saved earlier). */
  get doneIds(): string[] {
    return this.progress.done;
  }

  /** A challenge step's saved state (this session or earlier), or undefined. */
  challengeProgress(stepId: string): ChallengeProgress | undefined {
    return this.progress.challenges?.[stepId];
  }

  get predictions(): LessonProgress['predictions'] {
    return this.progress.predictions;
  }

  // ----- flow ----------------------------------------------------------------------------------

  /** Reads progress and starts: the intro, or (resuming) rebuilding the earlier steps' sandboxes. */
  async start(): Promise<void> {
    await this.readUnavailable();
    const saved = this.store.read(this.lesson.id);
    const readNotice = this.store.notice?.() ?? null;
    if (readNotice) this.set({ notice: readNotice });
    const n = this.steps.length;
    if (saved?.completed) {
      this.progress = this.store.empty();
      this.set({ notice: `You completed this lesson before; this is a fresh run from step 1 (sandbox reset ${lessonArg(this.lesson)} forgets it).` });
    } else if (saved) {
      this.progress = { ...saved, done: [...saved.done], predictions: { ...saved.predictions } };
    }
    const start = saved && !saved.completed ? Math.max(0, Math.min(saved.step, n - 1)) : 0;
    if (start === 0) {
      if (this.lesson.intro?.trim()) this.set({ phase: 'intro' });
      else this.enterStep(0);
      return;
    }
    this.set({ phase: 'rebuilding', rebuild: { upTo: start, current: 0 } });
    let failed: { error: unknown } | null = null;
    const replay = this.session.replay(start, (i) => {
      if (!this.closing) this.set({ rebuild: { upTo: start, current: i } });
    });
    // quit() waits for it (briefly) before closing the session, as for a running step.
    this.running = replay.then(
      () => undefined,
      () => undefined,
    );
    try {
      failed = await replay;
    } catch (err) {
      failed = { error: err };
    }
    this.running = null;
    if (this.closing) return;
    if (failed?.error) {
      this.set({ phase: 'fatal', fatal: failed.error, rebuild: null });
      return;
    }
    const records = this.state.records.slice();
    for (let i = 0; i < start; i++) {
      const p = this.progress.predictions[this.steps[i].id];
      records[i] = { ...records[i], replayed: true, passed: this.progress.done.includes(this.steps[i].id), choice: recordedAnswer(p) };
    }
    this.set({ records, rebuild: null, notice: `Resumed at step ${start + 1}: the sandboxes of ${stepRange(start)} were rebuilt.` });
    this.enterStep(start);
  }

  private readonly unavailableWhy = new Map<number, string>();

  /** Asks each step that may not run here why not (once, before any step is shown). */
  private async readUnavailable(): Promise<void> {
    for (const [i, step] of this.steps.entries()) {
      if (!step.unavailable) continue;
      const why = await this.session.unavailable(i);
      if (why) this.unavailableWhy.set(i, why);
    }
  }

  /** Why step i cannot run on this host (it is skipped), or null. */
  unavailableReason(i: number): string | null {
    return this.unavailableWhy.get(i) ?? null;
  }

  private enterStep(i: number): void {
    const step = this.steps[i];
    const why = this.unavailableWhy.get(i);
    this.set({
      phase: 'step',
      index: i,
      stepPhase: why ? 'unavailable' : step.challenge ? 'challenge' : step.prediction ? 'ask' : 'ready',
      looking: null,
      cursor: 0,
      typed: { text: '', error: null },
      hint: false,
      zoom: null,
      scroll: 0,
      challenge: null,
    });
    if (why) {
      // Neither passed nor failed: nothing runs, and resuming starts after it.
      this.stopSampling();
      this.set({ view: { data: { kind: 'text', lines: ['(this step does not run on this host: nothing to show)'] }, error: null } });
      this.progress.step = Math.min(i + 1, this.steps.length - 1);
      this.save();
      return;
    }
    this.startSampling(step);
    if (step.challenge) this.startChallenge(i);
  }

  /** Runs step `index`'s action, then its checks (the prediction, if any, already chosen). */
  private run(choice: number | null): void {
    const i = this.state.index;
    const step = this.steps[i];
    const attempts = this.state.records[i].attempts + 1;
    this.setRecord(i, { choice, measured: null, log: [], error: null, results: null, passed: null, attempts });
    this.set({ stepPhase: 'running', hint: false });
    this.running = (async () => {
      const act = await this.session.act(i);
      if (this.closing) return;
      // What the kernel gave, read right after the action (before the checks move anything on).
      const measured = choice !== null ? await measurePrediction(step.prediction, this.session.ctx) : null;
      if (this.closing) return;
      this.setRecord(i, { log: act.log, error: act.error, measured });
      this.set({ stepPhase: 'checking' });
      const results = await this.session.check(i);
      if (this.closing) return;
      const passed = results.every((r) => r.pass);
      this.sampleNow(step, true);
      this.setRecord(i, { results, passed, viewAfter: this.state.view.data });
      if (step.prediction && choice !== null) {
        this.progress.predictions[step.id] = predictionRecord(step.prediction, choice);
      }
      if (passed) {
        if (!this.progress.done.includes(step.id)) this.progress.done.push(step.id);
        this.progress.step = Math.min(i + 1, this.steps.length - 1);
        this.save();
      }
      this.set({ stepPhase: 'result', hint: !passed });
    })()
      .catch((err) => {
        if (!this.closing) this.set({ phase: 'fatal', fatal: err });
      })
      .finally(() => {
        this.running = null;
      });
  }

  private next(): void {
    const i = this.state.index;
    if (this.steps[i].challenge && this.state.challenge && this.state.challenge.phase !== 'ending') {
      this.leaveChallenge(i);
      return;
    }
    this.set({ notice: null });
    this.advance(i);
  }

  private advance(i: number): void {
    if (i + 1 < this.steps.length) {
      this.enterStep(i + 1);
      return;
    }
    this.stopSampling();
    this.progress.completed = true;
    this.progress.step = 0;
    this.save();
    this.set({ phase: 'summary', zoom: null, looking: null, scroll: 0 });
  }

  private save(): void {
    try {
      this.store.save(this.lesson.id, this.progress);
    } catch (err) {
      this.set({ notice: `Your progress could not be saved: ${(err as Error).message}` });
    }
  }

  /**
   * The summary's numbers. Checks: every guided step's, counted from the lesson; a step done in
   * an earlier session counts as passed from the saved progress (replayed, not checked again).
   */
  summary(): {
    /** Checks of the lesson's guided steps (a challenge counts as the challenge). */
    total: number;
    /** Passed now, or in an earlier session (`earlier` of them). */
    passed: number;
    failed: number;
    earlier: number;
    /** Not checked: neither run in this session nor passed in an earlier one (`uncheckedSteps`). */
    unchecked: number;
    uncheckedSteps: number[];
    replayed: number;
    predictionsRight: number;
    /** Numeric predictions not right but within 3× their tolerance. */
    predictionsClose: number;
    predictions: number;
    failedSteps: number[];
    challenges: number;
    challengesDone: number;
    challengesSkipped: number;
  } {
    let replayed = 0;
    const failedSteps: number[] = [];
    this.state.records.forEach((r, i) => {
      if (r.replayed) replayed++;
      if (this.steps[i].challenge) return;
      if (r.passed === false) failedSteps.push(i);
    });
    // A challenge's checks are live readings, counted as the challenge (done or skipped).
    const checks = tallyChecks(
      this.steps.map((st, i) => {
        const r = this.state.records[i];
        // A step that cannot run on this host counts as neither passed nor failed: out of the count.
        if (st.challenge || this.unavailableReason(i)) return { checks: 0, results: null, doneEarlier: false };
        return { checks: st.checks.length, results: r.results, doneEarlier: r.replayed && this.progress.done.includes(st.id) };
      }),
    );
    const asked = this.steps.filter((s) => s.prediction);
    const predictionsRight = asked.filter((s) => this.progress.predictions[s.id]?.correct).length;
    const predictionsClose = asked.filter((s) => this.progress.predictions[s.id]?.score === 'close').length;
    const challenges = this.steps.filter((st) => st.challenge);
    const stateOf = (st: Step) => this.progress.challenges?.[st.id]?.state;
    return {
      total: checks.total,
      passed: checks.passed,
      failed: checks.failed,
      earlier: checks.earlier,
      unchecked: checks.unchecked,
      uncheckedSteps: checks.uncheckedSteps,
      replayed,
      predictionsRight,
      predictionsClose,
      predictions: asked.length,
      failedSteps,
      challenges: challenges.length,
      challengesDone: challenges.filter((st) => stateOf(st) === 'done').length,
      challengesSkipped: challenges.filter((st) => stateOf(st) === 'skipped').length,
    };
  }

  /**
   * Ends the lesson: waits a moment for a running action, closes the session (every sandbox
   * destroyed), and settles `done`. Safe to call more than once (the first call wins).
   */
  async quit(code: number, message?: string): Promise<void> {
    if (this.state.phase === 'closing' || this.state.exit) return;
    const wasSummary = this.state.phase === 'summary';
    this.stopSampling();
    this.stopPolling();
    this.set({ phase: 'closing', zoom: null });
    if (this.running) await Promise.race([this.running, new Promise((r) => setTimeout(r, QUIT_WAIT_MS))]);
    // The challenge first, to name what it could not remove; close() then takes the rest.
    let left: string[] = [];
    if (typeof this.session.endChallenge === 'function') left = await this.session.endChallenge().catch(() => []);
    try {
      await this.session.close();
    } catch {
      /* the runtime's exit hook destroys what is left */
    }
    const s = this.summary();
    const msg =
      message ??
      (wasSummary
        ? `${this.lesson.title}: lesson complete (${checksSentence(s, true)}; ${s.predictionsRight}/${s.predictions} predictions right${s.predictionsClose ? `, ${s.predictionsClose} close` : ''}${
            s.challenges ? `; ${s.challengesDone}/${s.challenges} challenges done${s.challengesSkipped ? `, ${s.challengesSkipped} skipped` : ''}` : ''
          }).`
        : this.state.fatal
          ? `${this.lesson.title} stopped on an error; your progress is kept.`
          : `Stopped at step ${this.progress.step + 1} of ${this.steps.length}; \`sandbox learn ${lessonArg(this.lesson)}\` resumes there.`);
    const leftLine = left.length ? `\nLeft on the host by the challenge (remove by hand): ${left.join('; ')}` : '';
    const exit = { code, message: `${msg}\nAll of this lesson's sandboxes were removed.${leftLine}` };
    this.set({ exit });
    this.resolveDone(exit);
  }

  // ----- challenges ----------------------------------------------------------------------------

  private patchChallenge(patch: Partial<ChallengeState>): void {
    if (!this.state.challenge) return;
    this.set({ challenge: { ...this.state.challenge, ...patch } });
  }

  /** The running challenge of the current step (null while it is set up, reset or gone). */
  private currentRun(): ReturnType<LessonSession['challengeOf']> {
    return this.session.challengeOf(this.state.index);
  }

  /** Records the challenge's state in progress (and saves it). A finished one is not set back to started. */
  private markChallenge(step: Step, state: 'started' | 'done' | 'skipped'): void {
    const ch = this.state.challenge;
    const prev = this.progress.challenges?.[step.id];
    if (state === 'started' && prev && prev.state !== 'started') return;
    const solutionShown = Boolean(ch?.solutionShown || (state === 'started' && prev?.solutionShown));
    this.progress.challenges = {
      ...(this.progress.challenges ?? {}),
      [step.id]: { state, answered: [...(ch?.answered ?? [])], ...(solutionShown ? { solutionShown: true } : {}) },
    };
    this.save();
  }

  /** Entering a challenge step: its setup and bench at once (act), then the live poll. */
  private startChallenge(i: number): void {
    const step = this.steps[i];
    this.lastPollKey = '';
    this.set({ challenge: freshChallenge() });
    this.setRecord(i, { log: [], error: null, results: null, passed: null, attempts: this.state.records[i].attempts + 1 });
    this.running = (async () => {
      const act = await this.session.act(i);
      if (this.closing || this.state.index !== i || !this.state.challenge) return;
      this.setRecord(i, { log: act.log, error: act.error });
      const run = this.session.challengeOf(i);
      if (act.error || !run) {
        this.patchChallenge({ phase: 'error', error: act.error ?? new Error('the challenge did not start') });
        return;
      }
      this.patchChallenge({ phase: 'working', vars: run.shownVars, envFile: run.envFile });
      this.markChallenge(step, 'started');
      if (this.state.looking === null) this.startPolling(i);
    })()
      .catch((err: unknown) => {
        if (!this.closing) this.patchChallenge({ phase: 'error', error: err });
      })
      .finally(() => {
        this.running = null;
      });
  }

  /**
   * Polls the challenge's checks every CHALLENGE_POLL_MS, one poll at a time (the next is timed
   * from the end of the last), while the challenge is being worked on. The screen redraws only
   * when what it shows changed.
   */
  private startPolling(i: number): void {
    this.stopPolling();
    const gen = this.pollGen;
    const tick = async () => {
      this.pollTimer = null;
      const run = this.session.challengeOf(i);
      if (gen !== this.pollGen || !run || this.state.challenge?.phase !== 'working') return;
      let p: ChallengePoll | null = null;
      try {
        p = await run.poll();
      } catch {
        /* the challenge is ending; the next tick (if any) tries again */
      }
      if (gen !== this.pollGen || this.closing) return;
      if (p) this.applyPoll(i, p);
      if (gen === this.pollGen && this.state.challenge?.phase === 'working') this.pollTimer = setTimeout(() => void tick(), CHALLENGE_POLL_MS);
    };
    void tick();
  }

  private stopPolling(): void {
    this.pollGen++;
    if (this.pollTimer) clearTimeout(this.pollTimer);
    this.pollTimer = null;
  }

  private applyPoll(i: number, p: ChallengePoll): void {
    const ch = this.state.challenge;
    if (!ch) return;
    const key = pollKey(p);
    if (key !== this.lastPollKey) {
      this.lastPollKey = key;
      const records = this.state.records.slice();
      records[i] = { ...records[i], results: p.results };
      this.set({ records, challenge: { ...ch, poll: p } });
    }
    this.maybePass(i);
  }

  /** Passed: the last poll passed and every question is answered right. */
  private maybePass(i: number): void {
    const ch = this.state.challenge;
    const step = this.steps[i];
    if (!ch || ch.phase !== 'working' || !ch.poll?.passed) return;
    if (!(step.challenge!.questions ?? []).every((q) => ch.answered.includes(q.id))) return;
    this.stopPolling();
    if (!this.progress.done.includes(step.id)) this.progress.done.push(step.id);
    this.progress.step = Math.min(i + 1, this.steps.length - 1);
    this.setRecord(i, { passed: true });
    this.patchChallenge({ phase: 'passed', input: null });
    this.markChallenge(step, 'done');
  }

  /** Leaving a challenge step (next, skip): everything it made is removed; what could not be is named. */
  private leaveChallenge(i: number): void {
    this.stopPolling();
    this.patchChallenge({ phase: 'ending', input: null });
    this.running = (async () => {
      let left: string[] = [];
      try {
        left = await this.session.endChallenge();
      } catch (err) {
        left = [`(ending the challenge failed: ${(err as Error).message})`];
      }
      if (this.closing) return;
      this.set({ notice: null });
      this.advance(i);
      if (left.length) this.set({ notice: `Left on the host by the challenge (remove by hand): ${left.join('; ')}` });
    })().finally(() => {
      this.running = null;
    });
  }

  /** The next question not yet answered right, after the one asked last (cycling). */
  private nextQuestion(questions: Question[], ch: ChallengeState): Question | null {
    const open = questions.filter((q) => !ch.answered.includes(q.id));
    if (!open.length) return null;
    const last = ch.input?.id ?? null;
    const at = last ? questions.findIndex((q) => q.id === last) : -1;
    return open.find((q) => questions.indexOf(q) > at) ?? open[0];
  }

  /** Text typed as an answer: Enter submits, Esc cancels, Backspace deletes. */
  private inputKey(input: string, key: KeyInput): boolean {
    const ch = this.state.challenge!;
    const inp = ch.input!;
    if (key.escape) {
      this.patchChallenge({ input: null, feedback: null });
      return true;
    }
    if (inp.checking) return true;
    if (key.return) {
      void this.submitAnswer();
      return true;
    }
    if (key.backspace || key.delete) {
      this.patchChallenge({ input: { ...inp, text: inp.text.slice(0, -1) } });
      return true;
    }
    if (key.ctrl || key.meta) return false;
    const { text, submit } = typeChunk(inp.text, input, (ch) => ch >= ' ', MAX_ANSWER)!;
    if (text === inp.text && !submit) return false;
    this.patchChallenge({ input: { ...inp, text }, feedback: null });
    if (submit) void this.submitAnswer();
    return true;
  }

  private async submitAnswer(): Promise<void> {
    const i = this.state.index;
    const ch = this.state.challenge!;
    const inp = ch.input!;
    const run = this.currentRun();
    const q = this.steps[i].challenge!.questions?.find((x) => x.id === inp.id);
    if (!run || !q || !inp.text.trim()) return;
    this.patchChallenge({ input: { ...inp, checking: true } });
    let verdict: { right: boolean } | null = null;
    let error: string | null = null;
    try {
      verdict = await run.answer(q, inp.text);
    } catch (err) {
      error = (err as Error).message ?? String(err);
    }
    const now = this.state.challenge;
    if (this.closing || this.state.index !== i || !now?.input) return;
    if (!verdict) {
      this.patchChallenge({ input: { ...now.input, checking: false }, feedback: { right: false, text: `The answer could not be read from the kernel: ${error}` } });
      return;
    }
    if (!verdict.right) {
      this.patchChallenge({
        input: { ...now.input, text: '', checking: false },
        feedback: { right: false, text: `"${inp.text.trim()}" is not what the kernel says. Look again (esc to stop answering).` },
      });
      return;
    }
    const answered = now.answered.includes(q.id) ? now.answered : [...now.answered, q.id];
    this.patchChallenge({ input: null, answered, feedback: { right: true, text: q.explanation ?? 'Right: that is what the kernel says.' } });
    const step = this.steps[i];
    if (now.phase === 'working') this.markChallenge(step, 'started');
    else if (now.phase === 'passed') this.markChallenge(step, 'done');
    this.maybePass(i);
  }

  /** `s`: the learner's shell gets the terminal; the screen comes back when it exits. */
  private async openShell(): Promise<void> {
    const run = this.currentRun();
    const ch = this.state.challenge;
    if (!run || !ch || ch.inShell) return;
    if (!this.shellRunner) {
      this.patchChallenge({ message: `No terminal to hand over here: in another terminal run sudo -s, then . ${ch.envFile ?? '$WS/env'}` });
      return;
    }
    let spec: ShellSpec;
    try {
      spec = run.shell();
    } catch (err) {
      this.patchChallenge({ message: `The shell cannot start: ${(err as Error).message}` });
      return;
    }
    this.patchChallenge({ inShell: true, message: null });
    let message: string | null = 'Back from the shell.';
    try {
      await this.shellRunner(spec);
    } catch (err) {
      message = `The shell could not run: ${(err as Error).message}`;
    }
    if (this.closing) return;
    this.patchChallenge({ inShell: false, message });
  }

  /** `R`: the challenge from its setup again; names what it could not remove. */
  private async resetChallenge(): Promise<void> {
    const i = this.state.index;
    const run = this.currentRun();
    const ch = this.state.challenge;
    if (!run || !ch || ch.phase === 'resetting') return;
    this.stopPolling();
    this.lastPollKey = '';
    this.patchChallenge({ phase: 'resetting', poll: null, input: null, feedback: null, message: null });
    this.setRecord(i, { results: null, passed: null });
    let message: string;
    let ok = true;
    try {
      const left = await run.reset();
      message = left.length ? `Reset. Not removed (remove by hand): ${left.join('; ')}` : 'Reset: the challenge starts again from its setup.';
    } catch (err) {
      ok = false;
      message = `The reset failed: ${(err as Error).message}`;
    }
    if (this.closing || this.state.index !== i) return;
    this.setRecord(i, { log: [...this.state.records[i].log, ...run.takeLog()] });
    // Answers were read from the old sandboxes: the new ones have other PIDs.
    this.patchChallenge({ phase: ok ? 'working' : 'error', error: ok ? null : new Error(message), answered: [], vars: run.shownVars, envFile: ok ? run.envFile : null, message });
    if (ok && this.state.looking === null) this.startPolling(i);
  }

  /** Keys of a challenge step (not looking back, no answer being typed). */
  private challengeKey(input: string, key: KeyInput): boolean {
    const s = this.state;
    const ch = s.challenge;
    const step = this.steps[s.index];
    if (!ch) return false;
    const finished = ch.phase === 'passed' || ch.phase === 'skipped';
    if (finished && (key.return || input === 'n' || key.rightArrow)) {
      this.next();
      return true;
    }
    if (ch.phase === 'error') {
      if (input === 'k') return this.skipChallenge();
      if (input === 'R') {
        this.startChallenge(s.index);
        return true;
      }
      return false;
    }
    if (ch.phase !== 'working' && ch.phase !== 'passed') return false;
    switch (input) {
      case 's':
        void this.openShell();
        return true;
      case 'a': {
        const qs = step.challenge!.questions ?? [];
        const q = this.nextQuestion(qs, ch);
        if (!q) {
          this.patchChallenge({ message: qs.length ? 'Every question is answered.' : 'This challenge asks no questions.' });
          return true;
        }
        this.patchChallenge({ input: { id: q.id, text: '', checking: false }, feedback: null, message: null });
        return true;
      }
      case 'R':
        void this.resetChallenge();
        return true;
      case 'S':
        if (!ch.hintSeen && ch.phase !== 'passed') {
          this.patchChallenge({ message: 'The reference solution shows after a hint: press h first (or pass the challenge).' });
          return true;
        }
        this.patchChallenge({ showSolution: !ch.showSolution, solutionShown: ch.solutionShown || ch.phase !== 'passed', message: null });
        if (ch.phase === 'working') this.markChallenge(step, 'started');
        return true;
      case 'k':
        if (ch.phase === 'passed') return false;
        return this.skipChallenge();
      default:
        return false;
    }
  }

  /** `k`: skipped (kept in progress as such); the lesson goes on. */
  private skipChallenge(): boolean {
    const i = this.state.index;
    const step = this.steps[i];
    this.stopPolling();
    this.patchChallenge({ phase: 'skipped', input: null });
    this.progress.step = Math.min(i + 1, this.steps.length - 1);
    this.markChallenge(step, 'skipped');
    this.next();
    return true;
  }

  // ----- live view -----------------------------------------------------------------------------

  private startSampling(step: Step): void {
    this.stopSampling();
    this.lastSampleKey = '';
    this.lastHidden = null;
    this.set({ view: { data: null, error: null } });
    if (!step.view) return;
    this.sampleNow(step);
    this.timer = setInterval(() => this.sampleNow(step), step.view.intervalMs ?? 200);
  }

  private stopSampling(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /**
   * Samples the view; the state changes (and the screen redraws) only if what it shows changed.
   * A busy host starts and ends processes all the time, which changes only the tree's count of
   * other processes: that alone redraws at most every HIDDEN_REFRESH_MS.
   */
  private sampleNow(step: Step, force = false): void {
    if (!step.view) return;
    let data: ViewData | null = null;
    let error: string | null = null;
    try {
      data = step.view.sample(this.session.ctx);
    } catch (err) {
      error = (err as Error).message ?? String(err);
    }
    const { key, hidden } = error ? { key: `error:${error}`, hidden: null } : displayKey(data!);
    if (key === this.lastSampleKey) {
      if (hidden === this.lastHidden) return;
      if (!force && Date.now() - this.lastSampleAt < HIDDEN_REFRESH_MS) return;
    }
    this.lastSampleKey = key;
    this.lastHidden = hidden;
    this.lastSampleAt = Date.now();
    this.set({ view: { data, error } });
  }

  // ----- keys ----------------------------------------------------------------------------------

  /** What each key does now. Returns true if the key did something. */
  handleKey(input: string, key: KeyInput): boolean {
    const s = this.state;
    if (s.phase === 'closing' || s.exit) return false;
    if ((key.ctrl && input === 'c') || input === '\u0003') {
      void this.quit(130, 'Interrupted: your progress is kept.');
      return true;
    }
    if (s.zoom) return this.zoomKey(input, key);
    // An answer being typed takes every key (q and ? are letters of it).
    if (s.phase === 'step' && s.looking === null && s.challenge?.input) return this.inputKey(input, key);
    // The shell has the terminal; keys that reach us now are stale.
    if (s.challenge?.inShell) return false;
    if (input === 'q') {
      void this.quit(s.phase === 'fatal' ? 1 : 0);
      return true;
    }
    if (input === '?') {
      this.set({ zoom: 'keys', scroll: 0 });
      return true;
    }
    switch (s.phase) {
      case 'intro': {
        // Space pages through an intro longer than the screen, then starts, like enter.
        const d = this.scrollDelta(input, key);
        if (d && !(input === ' ' && this.state.scroll >= this.scrollLimit)) return this.scrollPage(d);
        if (key.return || input === ' ' || input === 'n') {
          this.enterStep(0);
          return true;
        }
        return false;
      }
      case 'fatal':
        if (key.return) {
          void this.quit(1);
          return true;
        }
        return false;
      case 'summary': {
        if (key.return) {
          void this.quit(0);
          return true;
        }
        const d = this.scrollDelta(input, key);
        return d ? this.scrollPage(d) : false;
      }
      case 'step':
        return this.stepKey(input, key);
      default:
        return false;
    }
  }

  private zoomKey(input: string, key: KeyInput): boolean {
    const s = this.state;
    const closeKeys: Record<Zoom, string> = { prose: 'p', view: 'v', log: 'l', checks: 'c', keys: '?' };
    if (key.escape || input === closeKeys[s.zoom!] || key.return || input === 'q') {
      this.set({ zoom: null, scroll: 0 });
      return true;
    }
    const d = this.scrollDelta(input, key);
    if (!d) return false;
    // The log counts from its end (newest at the bottom): up means further back.
    const delta = s.zoom === 'log' ? -d : d;
    this.set({ scroll: Math.max(0, s.scroll + delta) });
    return true;
  }

  /** Rows a scrolling key moves (j/k/arrows one, PgUp/PgDn/space a page), or 0. */
  private scrollDelta(input: string, key: KeyInput): number {
    const page = 10;
    if (key.upArrow || input === 'k') return -1;
    if (key.downArrow || input === 'j') return 1;
    if (key.pageUp) return -page;
    if (key.pageDown || input === ' ') return page;
    return 0;
  }

  /** Scrolls the intro or the summary, within what the screen said it can scroll. */
  private scrollPage(d: number): boolean {
    const scroll = Math.max(0, Math.min(this.scrollLimit, this.state.scroll + d));
    if (scroll !== this.state.scroll) this.set({ scroll });
    return true;
  }

  /**
   * How far the intro or the summary can scroll at the screen's current size (rows below the
   * first screenful): only the screen knows its height, so it reports this after drawing.
   */
  private scrollLimit = 0;

  setScrollLimit(n: number): void {
    const limit = Math.max(0, Math.floor(n));
    if (limit === this.scrollLimit) return;
    this.scrollLimit = limit;
    // Redraw: the key help says whether there is more to scroll.
    this.set(this.state.scroll > limit ? { scroll: limit } : {});
  }

  /** The step shown has check results (this session): `c` shows them whole-screen. */
  hasChecks(): boolean {
    const s = this.state;
    if (s.phase !== 'step') return false;
    return this.state.records[s.looking ?? s.index].results !== null;
  }

  /**
   * Shows step i read-only. Its view as it was when its checks ran, if that was recorded in
   * this session; otherwise (a step replayed on resume) its view sampled live, as it is now.
   */
  private look(i: number): void {
    const step = this.steps[i];
    this.stopPolling();
    this.set({ looking: i, zoom: null, scroll: 0 });
    if (this.state.records[i].viewAfter || !step.view) this.stopSampling();
    else this.startSampling(step);
  }

  private stepKey(input: string, key: KeyInput): boolean {
    const s = this.state;
    const step = this.steps[s.index];
    if (input === 'v' || input === 'l' || input === 'p' || (input === 'c' && this.hasChecks())) {
      const zoom: Zoom = input === 'v' ? 'view' : input === 'l' ? 'log' : input === 'c' ? 'checks' : 'prose';
      this.set({ zoom, scroll: 0 });
      return true;
    }
    if (input === 'h') {
      this.set({ hint: !s.hint });
      if (s.challenge && s.looking === null && !s.hint) this.patchChallenge({ hintSeen: true });
      return true;
    }
    if (s.looking !== null) {
      if (input === 'b' || key.leftArrow) {
        if (s.looking > 0) this.look(s.looking - 1);
        return true;
      }
      if (key.return || input === 'n' || key.rightArrow || key.escape) {
        const next = key.escape ? s.index : s.looking + 1;
        if (next >= s.index) {
          this.set({ looking: null });
          this.startSampling(step);
          if (s.challenge?.phase === 'working') this.startPolling(s.index);
        } else this.look(next);
        return true;
      }
      return false;
    }
    if ((input === 'b' || key.leftArrow) && s.index > 0) {
      this.look(s.index - 1);
      return true;
    }
    switch (s.stepPhase) {
      case 'challenge':
        return this.challengeKey(input, key);
      case 'ask': {
        if (isNumeric(step.prediction!)) return this.guessKey(input, key);
        const n = step.prediction!.choices.length;
        const digit = Number(input);
        if (/^[1-9]$/.test(input) && digit <= n) {
          this.set({ cursor: digit - 1 });
          this.run(digit - 1);
          return true;
        }
        if (key.upArrow) {
          this.set({ cursor: (s.cursor + n - 1) % n });
          return true;
        }
        if (key.downArrow || key.tab) {
          this.set({ cursor: (s.cursor + 1) % n });
          return true;
        }
        if (key.return) {
          this.run(s.cursor);
          return true;
        }
        return false;
      }
      case 'ready':
        if (key.return) {
          this.run(null);
          return true;
        }
        return false;
      case 'unavailable':
        if (key.return || input === 'n' || key.rightArrow) {
          this.next();
          return true;
        }
        return false;
      case 'result': {
        const failed = this.state.records[s.index].passed === false;
        if (failed && input === 'r') {
          this.run(this.state.records[s.index].choice);
          return true;
        }
        if (key.return || input === 'n' || key.rightArrow) {
          this.next();
          return true;
        }
        return false;
      }
      default:
        return false;
    }
  }

  /**
   * A numeric prediction being typed: digits and '.' (and '-' when it may be negative) are
   * typed, backspace deletes, enter submits; a number outside the prediction's bounds, or not a
   * number, is refused with a line saying what to type. Letters keep their meaning (h, b, v, q).
   */
  private guessKey(input: string, key: KeyInput): boolean {
    const p = this.steps[this.state.index].prediction!;
    const typed = this.state.typed;
    if (key.backspace || key.delete) {
      this.set({ typed: { text: typed.text.slice(0, -1), error: null } });
      return true;
    }
    if (key.return) {
      const r = parseGuess(p, typed.text);
      if ('error' in r) {
        this.set({ typed: { ...typed, error: r.error } });
        return true;
      }
      this.set({ typed: { text: typed.text, error: null } });
      this.run(r.value);
      return true;
    }
    if (key.ctrl || key.meta || !input) return false;
    const chunk = typeChunk(typed.text, input, (ch) => allowedGuessChar(p, ch), MAX_GUESS_CHARS, true);
    if (!chunk) return false;
    const { text, submit } = chunk;
    this.set({ typed: { text, error: null } });
    if (submit) return this.guessKey('', { return: true });
    return true;
  }

  /** The keys of a challenge step, by where it is. */
  private challengeKeys(hint: KeyItem, back: KeyItem[], panels: KeyItem[], quit: KeyItem, help: KeyItem): KeyItem[] {
    const ch = this.state.challenge;
    const last = this.state.index === this.steps.length - 1;
    if (!ch || ch.phase === 'setup' || ch.phase === 'resetting') return [{ key: '', label: 'setting up…', essential: true }, quit, help];
    if (ch.phase === 'ending') return [{ key: '', label: 'removing the challenge…', essential: true }, quit, help];
    if (ch.inShell) return [{ key: '', label: 'in the shell', essential: true }];
    if (ch.input) return [{ key: 'enter', label: 'check the answer', essential: true }, { key: 'esc', label: 'cancel', essential: true }];
    if (ch.phase === 'error') return [{ key: 'R', label: 'try again', essential: true }, { key: 'k', label: 'skip', essential: true }, ...back, ...panels, quit, help];
    const questions = this.steps[this.state.index].challenge!.questions ?? [];
    const open = questions.some((q) => !ch.answered.includes(q.id));
    const shell: KeyItem = { key: 's', label: 'shell', essential: true };
    const answer: KeyItem[] = open ? [{ key: 'a', label: 'answer', essential: true }] : [];
    const solution: KeyItem[] = ch.hintSeen || ch.phase === 'passed' ? [{ key: 'S', label: ch.showSolution ? 'hide solution' : 'solution' }] : [];
    if (ch.phase === 'passed' || ch.phase === 'skipped') {
      return [{ key: 'enter', label: last ? 'finish' : 'next step', essential: true }, shell, ...answer, ...solution, hint, ...back, ...panels, quit, help];
    }
    return [shell, ...answer, hint, { key: 'R', label: 'reset' }, ...solution, { key: 'k', label: 'skip' }, ...back, ...panels, quit, help];
  }

  /** j/k space, while the intro or the summary is longer than the screen. */
  private scrollKeys(): KeyItem[] {
    return this.scrollLimit > 0 ? [{ key: '↑↓ space', label: 'scroll', essential: true }] : [];
  }

  /** The keys that work now, for the help line (most useful first) and the "?" overlay. */
  keys(): KeyItem[] {
    const s = this.state;
    const quit: KeyItem = { key: 'q', label: 'quit', essential: true };
    const help: KeyItem = { key: '?', label: 'keys', essential: true };
    if (s.phase === 'closing') return [{ key: '', label: 'removing the sandboxes…', essential: true }];
    if (s.zoom) {
      return [
        { key: 'esc', label: 'back to the step', essential: true },
        ...(s.zoom === 'keys' ? [] : [{ key: '↑↓ PgUp PgDn', label: 'scroll', essential: true }]),
      ];
    }
    switch (s.phase) {
      case 'intro':
        return [{ key: 'enter', label: 'start the lesson', essential: true }, ...this.scrollKeys(), quit, help];
      case 'rebuilding':
        return [{ key: '', label: 'rebuilding…', essential: true }, quit, help];
      case 'fatal':
        return [{ key: 'enter', label: 'quit', essential: true }, help];
      case 'summary':
        return [{ key: 'enter', label: 'finish', essential: true }, ...this.scrollKeys(), quit, help];
      default:
        break;
    }
    const panels: KeyItem[] = [
      // The checks' probes and values are often cut to a line each on the step screen.
      ...(this.hasChecks() ? [{ key: 'c', label: 'checks', essential: true }] : []),
      { key: 'v', label: 'view' },
      { key: 'l', label: 'log' },
      { key: 'p', label: 'text' },
    ];
    const back: KeyItem[] = s.index > 0 ? [{ key: 'b', label: 'back' }] : [];
    if (s.looking !== null) {
      return [
        { key: 'enter', label: 'forward', essential: true },
        ...(s.looking > 0 ? [{ key: 'b', label: 'further back', essential: true }] : []),
        { key: 'esc', label: 'current step' },
        ...panels,
        quit,
        help,
      ];
    }
    const hint: KeyItem = { key: 'h', label: s.hint ? 'hide hint' : 'hint' };
    if (s.stepPhase === 'challenge') return this.challengeKeys(hint, back, panels, quit, help);
    switch (s.stepPhase) {
      case 'ask': {
        if (isNumeric(this.steps[s.index].prediction!)) {
          return [{ key: '0-9 .', label: 'type a number', essential: true }, { key: 'enter', label: 'predict', essential: true }, hint, ...back, ...panels, quit, help];
        }
        const n = this.steps[s.index].prediction!.choices.length;
        return [{ key: `1-${n}`, label: 'predict', essential: true }, { key: '↑↓ enter', label: 'choose' }, hint, ...back, ...panels, quit, help];
      }
      case 'ready':
        return [{ key: 'enter', label: 'run the step', essential: true }, hint, ...back, ...panels, quit, help];
      case 'unavailable':
        return [{ key: 'enter', label: s.index === this.steps.length - 1 ? 'finish' : 'skip to the next step', essential: true }, ...back, ...panels, quit, help];
      case 'running':
      case 'checking':
        return [hint, ...back, ...panels, quit, help];
      case 'result': {
        const last = s.index === this.steps.length - 1;
        if (this.state.records[s.index].passed === false) {
          return [
            { key: 'r', label: 'retry', essential: true },
            { key: 'enter', label: 'continue anyway', essential: true },
            hint,
            ...back,
            ...panels,
            quit,
            help,
          ];
        }
        return [{ key: 'enter', label: last ? 'finish' : 'next step', essential: true }, hint, ...back, ...panels, quit, help];
      }
    }
  }
}

/** "step 1" or "steps 1–4": the steps before the one resumed at. */
export function stepRange(upTo: number): string {
  return upTo === 1 ? 'step 1' : `steps 1–${upTo}`;
}
