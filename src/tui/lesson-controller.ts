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
 */
import type { KeyInput } from './keys.js';
import type { LessonSession } from '../lessons/engine.js';
import type { CheckResult, Lesson, LessonProgress, LogEntry, Step, ViewData } from '../lessons/types.js';
import type { KeyItem } from './components/KeyHelp.js';
import { NsPalette } from './palette.js';

export interface ProgressStore {
  read(id: string): LessonProgress | null;
  save(id: string, progress: LessonProgress): void;
  empty(): LessonProgress;
  /** What the last read found wrong (and kept aside), to show once. */
  notice?(): string | null;
}

/** What one step produced in this session (or that it was replayed on resume). */
export interface StepRecord {
  choice: number | null;
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
export type StepPhase = 'ask' | 'ready' | 'running' | 'checking' | 'result';
export type Zoom = 'prose' | 'view' | 'log' | 'keys';

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

function emptyRecord(): StepRecord {
  return { choice: null, log: [], error: null, results: null, viewAfter: null, passed: null, replayed: false, attempts: 0 };
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
      hint: false,
      zoom: null,
      scroll: 0,
      rebuild: null,
      notice: null,
      fatal: null,
      view: { data: null, error: null },
      exit: null,
    };
  }

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

  get predictions(): LessonProgress['predictions'] {
    return this.progress.predictions;
  }

  // ----- flow ----------------------------------------------------------------------------------

  /** Reads progress and starts: the intro, or (resuming) rebuilding the earlier steps' sandboxes. */
  async start(): Promise<void> {
    const saved = this.store.read(this.lesson.id);
    const readNotice = this.store.notice?.() ?? null;
    if (readNotice) this.set({ notice: readNotice });
    const n = this.steps.length;
    if (saved?.completed) {
      this.progress = this.store.empty();
      this.set({ notice: `You completed this lesson before; this is a fresh run from step 1 (sandbox reset ${this.lesson.id} forgets it).` });
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
      records[i] = { ...records[i], replayed: true, passed: this.progress.done.includes(this.steps[i].id), choice: p?.choice ?? null };
    }
    this.set({ records, rebuild: null, notice: `Resumed at step ${start + 1}: the sandboxes of ${stepRange(start)} were rebuilt.` });
    this.enterStep(start);
  }

  private enterStep(i: number): void {
    const step = this.steps[i];
    this.set({
      phase: 'step',
      index: i,
      stepPhase: step.prediction ? 'ask' : 'ready',
      looking: null,
      cursor: 0,
      hint: false,
      zoom: null,
      scroll: 0,
    });
    this.startSampling(step);
  }

  /** Runs step `index`'s action, then its checks (the prediction, if any, already chosen). */
  private run(choice: number | null): void {
    const i = this.state.index;
    const step = this.steps[i];
    const attempts = this.state.records[i].attempts + 1;
    this.setRecord(i, { choice, log: [], error: null, results: null, passed: null, attempts });
    this.set({ stepPhase: 'running', hint: false });
    this.running = (async () => {
      const act = await this.session.act(i);
      if (this.closing) return;
      this.setRecord(i, { log: act.log, error: act.error });
      this.set({ stepPhase: 'checking' });
      const results = await this.session.check(i);
      if (this.closing) return;
      const passed = results.every((r) => r.pass);
      this.sampleNow(step, true);
      this.setRecord(i, { results, passed, viewAfter: this.state.view.data });
      if (step.prediction && choice !== null) {
        this.progress.predictions[step.id] = { choice, correct: choice === step.prediction.answer };
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
    this.set({ notice: null });
    if (i + 1 < this.steps.length) {
      this.enterStep(i + 1);
      return;
    }
    this.stopSampling();
    this.progress.completed = true;
    this.progress.step = 0;
    this.save();
    this.set({ phase: 'summary', zoom: null, looking: null });
  }

  private save(): void {
    try {
      this.store.save(this.lesson.id, this.progress);
    } catch (err) {
      this.set({ notice: `Your progress could not be saved: ${(err as Error).message}` });
    }
  }

  /** The summary's numbers: checks passed and failed in this session, predictions right. */
  summary(): { passed: number; failed: number; replayed: number; predictionsRight: number; predictions: number; failedSteps: number[] } {
    let passed = 0;
    let failed = 0;
    let replayed = 0;
    const failedSteps: number[] = [];
    this.state.records.forEach((r, i) => {
      if (r.replayed) replayed++;
      for (const c of r.results ?? []) (c.pass ? passed++ : failed++);
      if (r.passed === false) failedSteps.push(i);
    });
    const asked = this.steps.filter((s) => s.prediction);
    const predictionsRight = asked.filter((s) => this.progress.predictions[s.id]?.correct).length;
    return { passed, failed, replayed, predictionsRight, predictions: asked.length, failedSteps };
  }

  /**
   * Ends the lesson: waits a moment for a running action, closes the session (every sandbox
   * destroyed), and settles `done`. Safe to call more than once (the first call wins).
   */
  async quit(code: number, message?: string): Promise<void> {
    if (this.state.phase === 'closing' || this.state.exit) return;
    const wasSummary = this.state.phase === 'summary';
    this.stopSampling();
    this.set({ phase: 'closing', zoom: null });
    if (this.running) await Promise.race([this.running, new Promise((r) => setTimeout(r, QUIT_WAIT_MS))]);
    try {
      await this.session.close();
    } catch {
      /* the runtime's exit hook destroys what is left */
    }
    const s = this.summary();
    const msg =
      message ??
      (wasSummary
        ? `${this.lesson.title}: lesson complete (${s.passed} checks passed${s.failed ? `, ${s.failed} failed` : ''}; ${s.predictionsRight}/${s.predictions} predictions right).`
        : this.state.fatal
          ? `${this.lesson.title} stopped on an error; your progress is kept.`
          : `Stopped at step ${this.progress.step + 1} of ${this.steps.length}; \`sandbox learn ${this.lesson.id}\` resumes there.`);
    const exit = { code, message: `${msg}\nAll of this lesson's sandboxes were removed.` };
    this.set({ exit });
    this.resolveDone(exit);
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
    if (input === 'q') {
      void this.quit(s.phase === 'fatal' ? 1 : 0);
      return true;
    }
    if (input === '?') {
      this.set({ zoom: 'keys', scroll: 0 });
      return true;
    }
    switch (s.phase) {
      case 'intro':
        if (key.return || input === ' ' || input === 'n') {
          this.enterStep(0);
          return true;
        }
        return false;
      case 'fatal':
        if (key.return) {
          void this.quit(1);
          return true;
        }
        return false;
      case 'summary':
        if (key.return) {
          void this.quit(0);
          return true;
        }
        return false;
      case 'step':
        return this.stepKey(input, key);
      default:
        return false;
    }
  }

  private zoomKey(input: string, key: KeyInput): boolean {
    const s = this.state;
    const closeKeys: Record<Zoom, string> = { prose: 'p', view: 'v', log: 'l', keys: '?' };
    if (key.escape || input === closeKeys[s.zoom!] || key.return || input === 'q') {
      this.set({ zoom: null, scroll: 0 });
      return true;
    }
    const page = 10;
    let d = 0;
    if (key.upArrow || input === 'k') d = -1;
    else if (key.downArrow || input === 'j') d = 1;
    else if (key.pageUp) d = -page;
    else if (key.pageDown || input === ' ') d = page;
    if (!d) return false;
    // The log counts from its end (newest at the bottom): up means further back.
    const delta = s.zoom === 'log' ? -d : d;
    this.set({ scroll: Math.max(0, s.scroll + delta) });
    return true;
  }

  /**
   * Shows step i read-only. Its view as it was when its checks ran, if that was recorded in
   * this session; otherwise (a step replayed on resume) its view sampled live, as it is now.
   */
  private look(i: number): void {
    const step = this.steps[i];
    this.set({ looking: i, zoom: null, scroll: 0 });
    if (this.state.records[i].viewAfter || !step.view) this.stopSampling();
    else this.startSampling(step);
  }

  private stepKey(input: string, key: KeyInput): boolean {
    const s = this.state;
    const step = this.steps[s.index];
    if (input === 'v' || input === 'l' || input === 'p') {
      const zoom: Zoom = input === 'v' ? 'view' : input === 'l' ? 'log' : 'prose';
      this.set({ zoom, scroll: 0 });
      return true;
    }
    if (input === 'h') {
      this.set({ hint: !s.hint });
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
      case 'ask': {
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
        return [{ key: 'enter', label: 'start the lesson', essential: true }, quit, help];
      case 'rebuilding':
        return [{ key: '', label: 'rebuilding…', essential: true }, quit, help];
      case 'fatal':
        return [{ key: 'enter', label: 'quit', essential: true }, help];
      case 'summary':
        return [{ key: 'enter', label: 'finish', essential: true }, quit, help];
      default:
        break;
    }
    const panels: KeyItem[] = [
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
    switch (s.stepPhase) {
      case 'ask': {
        const n = this.steps[s.index].prediction!.choices.length;
        return [{ key: `1-${n}`, label: 'predict', essential: true }, { key: '↑↓ enter', label: 'choose' }, hint, ...back, ...panels, quit, help];
      }
      case 'ready':
        return [{ key: 'enter', label: 'run the step', essential: true }, hint, ...back, ...panels, quit, help];
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
