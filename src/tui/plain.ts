/**
 * A lesson as plain lines: `--plain` (interactive through line prompts when there is a terminal)
 * and `--auto` (every step run without asking, predictions answered right, every check printed;
 * the exit code says whether all passed). No full-screen UI, no colour unless asked.
 */
import readline from 'node:readline';

import { LessonSession, loadLesson, missingRequirements } from '../lessons/engine.js';
import { isNumeric, measurePrediction, parseGuess, predictionRecord, revealText, withUnit } from '../lessons/prediction.js';
import { emptyProgress, lessonArg, loadLessonProgress, progressKeyOf, saveProgress } from '../lessons/progress.js';
import type { CheckResult, Lesson, LessonProgress } from '../lessons/types.js';
import { withTerminal } from '../repl/terminal.js';
import { formatError } from '../runtime/index.js';
import { runChallengeAuto, runChallengeInteractive } from './plain-challenge.js';
import { checkLines, checksSentence, logLines, tallyChecks, viewLines, wrap } from './text.js';

export interface PlainOptions {
  auto: boolean;
  out?: NodeJS.WritableStream;
  input?: NodeJS.ReadableStream;
  width?: number;
}

/**
 * Line prompts. Lines that arrive while nothing is asked (typed ahead, or piped in by a script
 * while a check runs) are queued, not dropped: each ask() takes the next one.
 */
class Prompter {
  private rl: readline.Interface;
  private closed = false;
  private readonly queue: string[] = [];
  private waiting: ((line: string | null) => void) | null = null;
  private readonly output: NodeJS.WritableStream;
  constructor(input: NodeJS.ReadableStream, output: NodeJS.WritableStream) {
    this.output = output;
    this.rl = readline.createInterface({ input, output, terminal: false });
    this.rl.on('line', (line) => {
      // Bounded: a flood of input is not kept (a learner types a few lines ahead at most).
      if (this.waiting) this.take(line);
      else if (this.queue.length < 100) this.queue.push(line);
    });
    this.rl.on('close', () => {
      this.closed = true;
      this.take(null);
    });
    // An input that has already ended (read to its end before, in this process) sends no more
    // 'close': without this, the first question would wait for ever.
    const r = input as NodeJS.ReadableStream & { readableEnded?: boolean; destroyed?: boolean };
    if (r.readableEnded || r.destroyed) this.closed = true;
  }
  private take(line: string | null) {
    const w = this.waiting;
    this.waiting = null;
    w?.(line);
  }
  /** The next line (trimmed), or null at the end of input; `signal` ends the wait early with ''. */
  ask(q: string, signal?: AbortSignal): Promise<string | null> {
    this.output.write(q);
    const next = this.queue.shift();
    if (next !== undefined) return Promise.resolve(next.trim());
    if (this.closed) return Promise.resolve(null);
    return new Promise((resolve) => {
      const waiting = (line: string | null) => {
        signal?.removeEventListener('abort', onAbort);
        resolve(line === null ? null : line.trim());
      };
      const onAbort = () => {
        if (this.waiting !== waiting) return;
        this.waiting = null;
        this.output.write('\n');
        resolve('');
      };
      this.waiting = waiting;
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
  /** Stops reading the input (while a shell owns the terminal: a background read would stop us with SIGTTIN). */
  pause() {
    if (!this.closed) this.rl.pause();
  }
  resume() {
    if (!this.closed) this.rl.resume();
  }
  close() {
    this.rl.close();
  }
}

/** Runs lesson `id` (or a lesson already loaded, e.g. from a folder) in line mode; returns the process exit code. */
export async function runLessonPlain(id: string | Lesson, options: PlainOptions): Promise<number> {
  const out = options.out ?? process.stdout;
  const width = Math.max(60, Math.min(options.width ?? process.stdout.columns ?? 80, 100));
  const print = (s = '') => out.write(`${s}\n`);
  let lesson: Lesson;
  try {
    lesson = typeof id === 'string' ? await loadLesson(id) : id;
  } catch (err) {
    process.stderr.write(`${formatError(err)}\n`);
    return 2;
  }
  const missing = missingRequirements(lesson);
  if (missing.length) {
    process.stderr.write(`error: lesson ${lesson.id} cannot run on this host:\n${missing.map((m) => `  - ${m}`).join('\n')}\n`);
    return 1;
  }

  const interactive = !options.auto;
  let progress: LessonProgress = emptyProgress();
  if (interactive) {
    // The read boundary: a progress file that must not be used (a link, not the learner's) stops
    // here with its path and what to do; one that is not valid is kept aside with a notice.
    try {
      const read = loadLessonProgress(lesson);
      if (read.notice) print(read.notice);
      progress = read.progress ?? progress;
    } catch (err) {
      process.stderr.write(`${formatError(err)}\n`);
      return 1;
    }
  }
  const save = () => {
    try {
      saveProgress(progressKeyOf(lesson), progress);
    } catch (err) {
      print(`Your progress could not be saved: ${formatError(err).replace(/^error: /, '')}`);
    }
  };
  const prompter = interactive ? new Prompter(options.input ?? process.stdin, out) : null;
  // A challenge's shell gets the real terminal (as the REPL's enter does); the prompter is paused meanwhile.
  const terminal =
    prompter && !options.input && process.stdin.isTTY
      ? <T>(intro: string, run: (fd: number) => Promise<T>) =>
          withTerminal(run, {
            before: () => {
              prompter.pause();
              print(intro);
            },
            after: () => prompter.resume(),
          })
      : undefined;
  const steps = lesson.steps;
  let start = 0;
  if (interactive && progress.completed) {
    print(`You completed "${lesson.title}" before; going through it again (sandbox reset ${lessonArg(lesson)} forgets it).`);
    progress = emptyProgress();
  } else if (interactive) {
    start = Math.max(0, Math.min(progress.step, steps.length - 1));
  }

  const session = new LessonSession(lesson);
  session.ctx.onProgress = (note) => print(wrap(`… ${note}`, width, '  '));
  let interrupted: NodeJS.Signals | null = null;
  const onSignal = (sig: NodeJS.Signals) => {
    interrupted = sig;
    prompter?.close();
    void session.close().then(() => {
      print(`\n${sig === 'SIGINT' ? 'Interrupted' : `Stopped by ${sig}`}: the lesson's sandboxes were removed; your progress is kept.`);
      process.exit(sig === 'SIGINT' ? 130 : 143);
    });
  };
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const s of signals) process.on(s, onSignal);

  let failedChecks = 0;
  // For the summary: each guided step's last results in this run, and how each challenge ended;
  // steps before a resume count from the saved progress (replayed, not checked again).
  const doneEarlier = new Set(start > 0 ? progress.done : []);
  const lastResults: (CheckResult[] | null)[] = steps.map(() => null);
  const challengeEnd: Record<string, 'done' | 'skipped' | 'failed'> = {};
  const skipped: string[] = [];
  let quit = false;
  try {
    print(`${lesson.title} — ${steps.length} steps${options.auto ? ' (--auto: every step runs, predictions answered, checks printed)' : ''}`);
    if (lesson.intro && start === 0) print(`\n${wrap(lesson.intro, width)}`);
    if (start > 0) {
      print(`\nResuming at step ${start + 1} of ${steps.length}. Rebuilding the sandboxes of the steps before it…`);
      const failed = await session.replay(start, (i) => print(`  (${i + 1}) ${steps[i].title}`));
      if (failed?.error) {
        print(formatError(failed.error));
        return 1;
      }
    }
    for (let i = start; i < steps.length && !quit && !interrupted; i++) {
      const step = steps[i];
      print(`\n── Step ${i + 1}/${steps.length}: ${step.title} ${'─'.repeat(Math.max(0, width - step.title.length - 16))}`);
      print(wrap(step.prose ?? '', width));
      const why = await session.unavailable(i);
      if (why) {
        // Neither passed nor failed: the lesson goes on (and --auto exits 0) without it.
        skipped.push(step.id);
        print(`\n${wrap(`⊘ Skipped: this step cannot run on this host: ${why}`, width, '  ')}`);
        progress.step = Math.min(i + 1, steps.length - 1);
        if (interactive) save();
        continue;
      }
      if (step.challenge) {
        const o = options.auto
          ? await runChallengeAuto(session, i, print, width)
          : await runChallengeInteractive(session, i, { print, ask: (q, signal) => prompter!.ask(q, signal), width, progress, save, terminal });
        if (o === 'quit') {
          quit = true;
          break;
        }
        challengeEnd[step.id] = o.passed ? 'done' : o.skipped ? 'skipped' : 'failed';
        if (o.passed || o.skipped) {
          if (o.passed && !progress.done.includes(step.id)) progress.done.push(step.id);
          progress.step = Math.min(i + 1, steps.length - 1);
          if (interactive) save();
        } else if (options.auto) failedChecks += Math.max(1, o.checksFailed);
        continue;
      }
      // The prediction: a choice's index, or for a numeric prediction the number typed.
      let choice: number | null = null;
      if (step.prediction) {
        const p = step.prediction;
        const numeric = isNumeric(p);
        print(`\n? ${p.question}`);
        p.choices.forEach((c, k) => print(`  ${k + 1}) ${c}`));
        if (options.auto) {
          choice = p.answer;
          print(`  → ${numeric ? withUnit(p.answer, p.number!.unit) : p.answer + 1} (--auto answers with what the kernel will do)`);
        } else {
          const asked = numeric ? `a number from ${p.number!.min} to ${withUnit(p.number!.max, p.number!.unit)}` : `1-${p.choices.length}`;
          for (;;) {
            const a = await prompter!.ask(`Your prediction (${asked}, h for a hint, q to quit): `);
            if (a === null || a === 'q') {
              quit = true;
              break;
            }
            if (a === 'h') {
              print(wrap(`hint: ${step.hint}`, width, '  '));
              continue;
            }
            if (numeric) {
              const g = parseGuess(p, a);
              if ('value' in g) {
                choice = g.value;
                break;
              }
              print(`  ${g.error}`);
              continue;
            }
            const n = Number(a);
            if (Number.isInteger(n) && n >= 1 && n <= p.choices.length) {
              choice = n - 1;
              break;
            }
            print(`  Please answer with a number from 1 to ${p.choices.length}.`);
          }
          if (quit) break;
        }
      } else if (interactive) {
        const a = await prompter!.ask('\n[Enter] run this step · h hint · q quit: ');
        if (a === null || a === 'q') {
          quit = true;
          break;
        }
        if (a === 'h') print(wrap(`hint: ${step.hint}`, width, '  '));
      }

      for (;;) {
        const act = await session.act(i);
        // What the kernel gave for a numeric prediction, read right after the action.
        const measured = choice !== null ? await measurePrediction(step.prediction, session.ctx) : null;
        if (act.log.length) print(`\n${logLines(act.log).join('\n')}`);
        if (act.error) print(`\n${formatError(act.error)}`);
        if (step.view) {
          try {
            const data = step.view.sample(session.ctx);
            print(`\n${step.view.title}:`);
            print(viewLines(data, width).map((l) => `  ${l}`).join('\n'));
          } catch (err) {
            print(`(the view could not be read: ${(err as Error).message})`);
          }
        }
        const results = await session.check(i);
        lastResults[i] = results;
        print(`\nChecks against the kernel:`);
        print(checkLines(results).map((l) => `  ${l}`).join('\n'));
        const passed = results.every((r) => r.pass);
        if (step.prediction && choice !== null) {
          const p = step.prediction;
          print(`\n${wrap(revealText(p, choice, measured), width)}`);
          print(wrap(p.explanation, width));
          progress.predictions[step.id] = predictionRecord(p, choice);
        }
        if (passed) {
          if (step.takeaway) print(`\n${wrap(`✓ ${step.takeaway}`, width)}`);
          if (!progress.done.includes(step.id)) progress.done.push(step.id);
          progress.step = Math.min(i + 1, steps.length - 1);
          if (interactive) save();
          break;
        }
        print(`\n${wrap(`hint: ${step.hint}`, width)}`);
        if (options.auto) {
          failedChecks += results.filter((r) => !r.pass).length;
          break;
        }
        const a = await prompter!.ask('r to run the step again · Enter to go on anyway · q to quit: ');
        if (a === null || a === 'q') {
          quit = true;
          break;
        }
        if (a !== 'r') break;
      }
    }
    if (!quit && !interrupted) {
      const allPassed = failedChecks === 0;
      if (interactive && allPassed) {
        progress.completed = true;
        progress.step = 0;
        save();
      }
      // Predictions as the TUI's summary counts them: those made (this run or before a resume).
      // Not in --auto, which answers every one itself.
      const asked = steps.filter((st) => st.prediction);
      if (interactive && asked.length) {
        const made = asked.map((st) => progress.predictions[st.id]).filter((r) => r !== undefined);
        const close = made.filter((r) => r.score === 'close').length;
        print(`\nPredictions right: ${made.filter((r) => r.correct).length} of ${asked.length}${close ? ` (${close} more close)` : ''}.`);
      }
      // Every challenge, and the takeaway of every step that has one (replayed steps too).
      const challenges = steps.filter((st) => st.challenge && !skipped.includes(st.id));
      if (challenges.length) {
        const end = (st: (typeof steps)[number]) => challengeEnd[st.id] ?? (progress.challenges?.[st.id]?.state === 'started' ? undefined : progress.challenges?.[st.id]?.state);
        const count = (e: string) => challenges.filter((st) => end(st) === e).length;
        const others = [count('skipped') ? `${count('skipped')} skipped` : '', count('failed') ? `${count('failed')} not passed` : ''].filter(Boolean);
        print(`\nChallenges: ${count('done')} of ${challenges.length} done${others.length ? ` (${others.join(', ')})` : ''}.`);
      }
      const takeaways = steps.filter((st) => st.takeaway && !skipped.includes(st.id));
      if (takeaways.length) print(`\nWhat you saw:\n${takeaways.map((st) => wrap(st.takeaway!, width, '    ').replace(/^ {4}/, '  - ')).join('\n')}`);
      // Every guided step's checks, counted from the lesson; those done before a resume from progress.
      const tally = tallyChecks(
        steps.map((st, k) =>
          st.challenge || skipped.includes(st.id) ? { checks: 0, results: null, doneEarlier: false } : { checks: st.checks.length, results: lastResults[k], doneEarlier: k < start && doneEarlier.has(st.id) },
        ),
      );
      if (tally.earlier) {
        print(
          `\n${wrap(`${tally.earlier} of the checks passed in an earlier session: they are counted from your saved progress (on resuming, the actions of ${start === 1 ? 'step 1' : `steps 1–${start}`} ran again to rebuild the sandboxes; their checks did not).`, width)}`,
        );
      }
      print(
        `\n${lesson.title}: ${checksSentence(tally)}${
          skipped.length ? `, ${skipped.length} step${skipped.length === 1 ? '' : 's'} skipped (cannot run on this host: ${skipped.join(', ')})` : ''
        }.${
          allPassed ? ' Lesson complete.' : ''
        }`,
      );
    } else if (quit) {
      print(`\nStopped at step ${progress.step + 1}; \`sandbox learn ${lessonArg(lesson)}\` resumes there.`);
    }
  } finally {
    prompter?.close();
    await session.close();
    for (const s of signals) process.off(s, onSignal);
  }
  print("All of this lesson's sandboxes were removed.");
  return failedChecks === 0 ? 0 : 1;
}

/** The course as a numbered list; asks which lesson to run. Returns its id, or null to quit. */
export async function pickLessonPlain(out: NodeJS.WritableStream = process.stdout): Promise<string | null> {
  const { COURSE } = await import('../lessons/manifest.js');
  const { challengeCounts, challengeText, readAllProgress, statusOf } = await import('../lessons/progress.js');
  const progress = readAllProgress((m) => out.write(`${m}\n`));
  out.write('Lessons:\n');
  COURSE.forEach((e, i) => {
    const p = progress[e.id] ?? null;
    const ch = challengeText(challengeCounts(e.challenges, p));
    out.write(`  ${i + 1}) ${e.title} [${statusOf(p)}${ch ? `, ${ch}` : ''}]: ${e.summary}\n`);
  });
  const prompter = new Prompter(process.stdin, out);
  try {
    for (;;) {
      const a = await prompter.ask(`Which lesson (1-${COURSE.length}, or q to quit)? `);
      if (a === null || a === 'q') return null;
      const n = Number(a);
      if (Number.isInteger(n) && n >= 1 && n <= COURSE.length) return COURSE[n - 1].id;
      const byId = COURSE.find((e) => e.id === a);
      if (byId) return byId.id;
      out.write(`  Please answer with a number from 1 to ${COURSE.length}.\n`);
    }
  } finally {
    prompter.close();
  }
}
