/**
 * Runs lessons: loads one (its steps and its prose.md), checks what the host must offer, and runs
 * steps one at a time for whichever screen drives it (the Ink TUI, the line printer, --auto, the
 * course check). Actions run through the runtime; checks read the kernel; nothing here draws.
 */
import fs from 'node:fs';
import path from 'node:path';

import { busyboxPath, cgroups, echo, PACKAGE_ROOT, requireFilesystem, SandboxError } from '../runtime/index.js';
import { ChallengeRun } from './challenge.js';
import { LessonContext } from './context.js';
import { COURSE, type CourseEntry } from './manifest.js';
import { lintPrediction } from './prediction.js';
import type { CheckResult, Lesson, LogEntry, Requirement, Step } from './types.js';

const CHECK_TIMEOUT_MS = 15_000;
const ACTION_TIMEOUT_MS = 120_000;

/** Levenshtein distance, for "did you mean". */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array(b.length).fill(0)] as number[]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
  }
  return d[a.length][b.length];
}

/** Lesson ids close to what was typed, best first. */
export function suggestLessons(typed: string, ids = COURSE.map((e) => e.id)): string[] {
  return ids
    .map((id) => ({ id, d: id.startsWith(typed) || id.includes(typed) ? 0 : distance(typed, id) }))
    .filter((x) => x.d <= Math.max(3, Math.floor(x.id.length / 3)))
    .sort((a, b) => a.d - b.d)
    .map((x) => x.id);
}

export function findEntry(id: string): CourseEntry | undefined {
  return COURSE.find((e) => e.id === id);
}

/** An unknown lesson: a usage error listing the course and the closest names. */
export function unknownLessonError(id: string): SandboxError {
  const near = suggestLessons(id);
  const lines = COURSE.map((e) => `  ${e.id.padEnd(24)} ${e.title}`).join('\n');
  return new SandboxError(`there is no lesson "${echo(id)}"${near.length ? `; did you mean ${near.map((n) => `"${n}"`).join(' or ')}?` : ''}`, {
    code: 'E_NO_LESSON',
    hint: `the lessons are:\n${lines}\nrun one with: sandbox learn ${near[0] ?? COURSE[0].id}`,
  });
}

/** Splits prose.md into the intro (under `# Title`) and a section per step (`## step-id`). */
export function parseProse(text: string): { intro: string; sections: Map<string, string> } {
  const sections = new Map<string, string>();
  const parts = text.split(/^## +(\S+)[ \t]*$/m);
  const intro = parts[0].replace(/^# .*$/m, '').trim();
  for (let i = 1; i < parts.length; i += 2) sections.set(parts[i], parts[i + 1].trim());
  return { intro, sections };
}

/** Problems with a lesson's definition (empty = fine). Used when loading and by check:lessons. */
export function lintLesson(lesson: Lesson): string[] {
  const problems: string[] = [];
  const ids = new Set<string>();
  if (!lesson.steps.length) problems.push('has no steps');
  for (const [i, s] of lesson.steps.entries()) {
    const where = `step ${i + 1} (${s.id})`;
    if (!/^[a-z0-9][a-z0-9-]*$/.test(s.id)) problems.push(`${where}: id must be lowercase words joined by -`);
    if (ids.has(s.id)) problems.push(`${where}: duplicate id`);
    ids.add(s.id);
    if (!s.prose?.trim()) problems.push(`${where}: no prose (add "## ${s.id}" to prose.md)`);
    if (!s.hint.trim()) problems.push(`${where}: no hint`);
    if (s.challenge) {
      problems.push(...lintChallenge(s).map((p) => `${where}: ${p}`));
      continue;
    }
    if (s.checks.length === 0) problems.push(`${where}: no checks: every step proves something about the kernel`);
    if (s.checks.length && !s.action) problems.push(`${where}: checks without an action cannot fail when the action is skipped`);
    if (s.prediction) problems.push(...lintPrediction(s.prediction).map((p) => `${where}: ${p}`));
  }
  return problems;
}

/** Problems with a challenge step (empty = fine). */
export function lintChallenge(s: Step): string[] {
  const c = s.challenge!;
  const out: string[] = [];
  if (s.action || s.prediction || s.checks.length) out.push('a challenge step has no action, prediction or checks of its own (they belong to the challenge)');
  if (!c.goal.trim()) out.push('the challenge has no goal');
  if (!c.tools.length) out.push('the challenge names no tools');
  if (!c.checks.length && !c.questions?.length) out.push('the challenge has neither checks nor questions');
  if (!c.solution.length) out.push('the challenge has no reference solution');
  if (!c.hints.length) out.push('the challenge has no hints');
  const general = c.hints.filter((h) => !h.when);
  if (general.length > 1) out.push('at most one hint without a condition');
  if (general.length === 1 && c.hints[c.hints.length - 1].when) out.push('the hint without a condition comes last');
  const qids = new Set<string>();
  for (const q of c.questions ?? []) {
    if (qids.has(q.id)) out.push(`duplicate question id ${q.id}`);
    qids.add(q.id);
  }
  const names = new Set<string>();
  for (const l of c.checks) {
    if (names.has(l.label)) out.push(`duplicate check label "${l.label}"`);
    names.add(l.label);
  }
  return out;
}

/** The course's rules for challenges: at least two, at the end; one writes the kernel directly; one question. */
export function courseRules(lesson: Lesson): string[] {
  const out: string[] = [];
  const idx = lesson.steps.map((s, i) => (s.challenge ? i : -1)).filter((i) => i >= 0);
  if (idx.length < 2) out.push(`has ${idx.length} challenge(s): every lesson ends with at least two`);
  if (idx.length && idx[0] !== lesson.steps.length - idx.length) out.push('its challenges are not all at the end');
  const cs = idx.map((i) => lesson.steps[i].challenge!);
  if (idx.length && !cs.some((c) => c.writes)) out.push('no challenge writes a kernel interface directly (cgroup files, uid_map, mount, ip): mark one with `writes`');
  if (idx.length && !cs.some((c) => c.questions?.length)) out.push('no challenge asks a typed question');
  return out;
}

export async function loadLesson(id: string): Promise<Lesson> {
  const entry = findEntry(id);
  if (!entry) throw unknownLessonError(id);
  const { lesson } = await entry.load();
  const prosePath = path.join(PACKAGE_ROOT, 'src', 'lessons', id, 'prose.md');
  const prose = fs.existsSync(prosePath) ? parseProse(fs.readFileSync(prosePath, 'utf8')) : { intro: '', sections: new Map() };
  const merged: Lesson = {
    ...lesson,
    intro: lesson.intro ?? prose.intro,
    steps: lesson.steps.map((s) => ({ ...s, prose: s.prose ?? prose.sections.get(s.id) ?? '' })),
  };
  const problems = lintLesson(merged);
  if (problems.length) {
    throw new SandboxError(`lesson ${id} is malformed: ${problems.join('; ')}`, { code: 'E_BUG', actionable: false });
  }
  return merged;
}

/** What the host lacks for this lesson, each with what to do (empty = ready). */
export function missingRequirements(lesson: Lesson): string[] {
  const out: string[] = [];
  const has = (r: Requirement): string | null => {
    switch (r.kind) {
      case 'root':
        return process.getuid?.() === 0 ? null : 'it needs root: run it with sudo';
      case 'controller':
        return cgroups().controllers.includes(r.name)
          ? null
          : `it needs the "${r.name}" cgroup controller, which this host lacks (see sandbox doctor)`;
      case 'busybox':
        return busyboxPath() ? null : 'it needs a static busybox: sudo apt-get install busybox-static';
      case 'command':
        return (process.env.PATH ?? '/usr/bin:/bin').split(':').some((d) => fs.existsSync(`${d}/${r.name}`))
          ? null
          : `it needs the "${r.name}" command (see sandbox doctor)`;
      case 'userns':
        return Number(fs.readFileSync('/proc/sys/user/max_user_namespaces', 'utf8')) > 0
          ? null
          : 'it needs user namespaces: sysctl -w user.max_user_namespaces=15000';
      case 'overlay':
        // Loads the module if it is on disk, as the lesson's first mount would (fresh Debian 13 VMs).
        return requireFilesystem('overlay');
    }
  };
  for (const r of [{ kind: 'root' } as Requirement, ...(lesson.requires ?? [])]) {
    const problem = has(r);
    if (problem && !out.includes(problem)) out.push(problem);
  }
  return out;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new SandboxError(`${what} took longer than ${ms / 1000} s`, { code: 'ETIMEDOUT' })), ms);
    }),
  ]);
}

export interface ActResult {
  log: LogEntry[];
  error: unknown | null;
}

/** One run of a lesson: its context (sandboxes, state) and the steps done so far. */
export class LessonSession {
  readonly lesson: Lesson;
  readonly ctx: LessonContext;

  /** The challenge being worked on (started by act() on a challenge step), or null. */
  challenge: ChallengeRun | null = null;
  private challengeStep = -1;

  constructor(lesson: Lesson) {
    this.lesson = lesson;
    this.ctx = new LessonContext(lesson.id);
  }

  private readonly unavailableCache = new Map<number, string | null>();

  /**
   * Why step i cannot run on this host (its `unavailable`), or null. Asked once per session: the
   * answer (CRIU's `criu check`, say) does not change while the lesson runs.
   */
  async unavailable(i: number): Promise<string | null> {
    const cached = this.unavailableCache.get(i);
    if (cached !== undefined) return cached;
    const step = this.lesson.steps[i];
    let why: string | null = null;
    if (step.unavailable) {
      try {
        why = (await step.unavailable(this.ctx)) || null;
      } catch (err) {
        why = `whether it can run here could not be read: ${(err as Error).message}`;
      }
    }
    this.unavailableCache.set(i, why);
    return why;
  }

  /** The running challenge of step i, or null. */
  challengeOf(i: number): ChallengeRun | null {
    return this.challengeStep === i ? this.challenge : null;
  }

  /**
   * Ends the running challenge (everything it made is removed); returns what it could not remove
   * (to name on screen).
   */
  async endChallenge(): Promise<string[]> {
    const c = this.challenge;
    this.challenge = null;
    this.challengeStep = -1;
    return c ? c.end() : [];
  }

  /**
   * Runs step i's action (for a challenge: its setup, and the bench). Errors are returned (and
   * logged), not thrown: the screen shows them.
   */
  async act(i: number): Promise<ActResult> {
    const step = this.lesson.steps[i];
    this.ctx.takeLog();
    let error: unknown | null = null;
    if (this.challenge) await this.endChallenge();
    const why = await this.unavailable(i);
    if (why) {
      // Screens skip such a step before acting; this keeps a caller that does not from failing.
      this.ctx.log({ note: `skipped on this host: ${why}` });
    } else if (step.challenge) {
      const run = new ChallengeRun(this.ctx, step.challenge, step.id);
      this.challenge = run;
      this.challengeStep = i;
      try {
        await withTimeout(run.start(), ACTION_TIMEOUT_MS, `the setup of "${step.title}"`);
      } catch (err) {
        error = err;
      }
    } else if (step.action) {
      try {
        await withTimeout(step.action(this.ctx), ACTION_TIMEOUT_MS, `step "${step.title}"`);
      } catch (err) {
        error = err;
      }
    }
    return { log: this.ctx.takeLog(), error };
  }

  /** Runs step i's checks against the kernel. A check that throws has failed. */
  async check(i: number): Promise<CheckResult[]> {
    const run = this.challengeOf(i);
    if (await this.unavailable(i)) return [];
    if (this.lesson.steps[i].challenge) return run ? (await run.poll()).results : [];
    const results: CheckResult[] = [];
    for (const c of this.lesson.steps[i].checks) {
      try {
        const r = await withTimeout(Promise.resolve(c.run(this.ctx)), CHECK_TIMEOUT_MS, `check "${c.label}"`);
        results.push({ label: c.label, ...r });
      } catch (err) {
        results.push({ label: c.label, probe: '(the check could not run)', expected: '', actual: `error: ${(err as Error).message}`, pass: false });
      }
    }
    this.ctx.takeLog();
    return results;
  }

  /**
   * Re-runs the actions of steps [0, upTo) to rebuild their sandboxes, e.g. when resuming.
   * Challenges are skipped: each builds its own from its setup; so are steps that cannot run here.
   */
  async replay(upTo: number, onStep?: (i: number) => void): Promise<ActResult | null> {
    for (let i = 0; i < upTo; i++) {
      if (this.lesson.steps[i].challenge || (await this.unavailable(i))) continue;
      onStep?.(i);
      const r = await this.act(i);
      if (r.error) return r;
    }
    return null;
  }

  async close(): Promise<void> {
    await this.endChallenge().catch(() => undefined);
    return this.ctx.close();
  }
}
