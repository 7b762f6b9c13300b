/**
 * A lesson as plain lines: `--plain` (interactive through line prompts when there is a terminal)
 * and `--auto` (every step run without asking, predictions answered right, every check printed;
 * the exit code says whether all passed). No full-screen UI, no colour unless asked.
 */
import readline from 'node:readline';

import { LessonSession, loadLesson, missingRequirements } from '../lessons/engine.js';
import { emptyProgress, loadLessonProgress, saveProgress } from '../lessons/progress.js';
import type { Lesson, LessonProgress } from '../lessons/types.js';
import { withTerminal } from '../repl/terminal.js';
import { formatError } from '../runtime/index.js';
import { runChallengeAuto, runChallengeInteractive } from './plain-challenge.js';
import { checkLines, logLines, viewLines, wrap } from './text.js';

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

/** Runs lesson `id` in line mode; returns the process exit code. */
export async function runLessonPlain(id: string, options: PlainOptions): Promise<number> {
  const out = options.out ?? process.stdout;
  const width = Math.max(60, Math.min(options.width ?? process.stdout.columns ?? 80, 100));
  const print = (s = '') => out.write(`${s}\n`);
  let lesson: Lesson;
  try {
    lesson = await loadLesson(id);
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
      saveProgress(lesson.id, progress);
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
    print(`You completed "${lesson.title}" before; going through it again (sandbox reset ${lesson.id} forgets it).`);
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
  let passedChecks = 0;
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
      if (step.challenge) {
        const o = options.auto
          ? await runChallengeAuto(session, i, print, width)
          : await runChallengeInteractive(session, i, { print, ask: (q, signal) => prompter!.ask(q, signal), width, progress, save, terminal });
        if (o === 'quit') {
          quit = true;
          break;
        }
        passedChecks += o.checksPassed;
        if (o.passed || o.skipped) {
          if (o.passed && !progress.done.includes(step.id)) progress.done.push(step.id);
          progress.step = Math.min(i + 1, steps.length - 1);
          if (interactive) save();
        } else if (options.auto) failedChecks += Math.max(1, o.checksFailed);
        continue;
      }
      let choice: number | null = null;
      if (step.prediction) {
        const p = step.prediction;
        print(`\n? ${p.question}`);
        p.choices.forEach((c, k) => print(`  ${k + 1}) ${c}`));
        if (options.auto) {
          choice = p.answer;
          print(`  → ${p.answer + 1} (--auto answers with what the kernel will do)`);
        } else {
          for (;;) {
            const a = await prompter!.ask(`Your prediction (1-${p.choices.length}, h for a hint, q to quit): `);
            if (a === null || a === 'q') {
              quit = true;
              break;
            }
            if (a === 'h') {
              print(wrap(`hint: ${step.hint}`, width, '  '));
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
        print(`\nChecks against the kernel:`);
        print(checkLines(results).map((l) => `  ${l}`).join('\n'));
        const passed = results.every((r) => r.pass);
        if (step.prediction && choice !== null) {
          const p = step.prediction;
          const right = choice === p.answer;
          print(`\nYou predicted: ${p.choices[choice]}. ${right ? 'Right.' : `The kernel did: ${p.choices[p.answer]}.`}`);
          print(wrap(p.explanation, width));
          progress.predictions[step.id] = { choice, correct: right };
        }
        if (passed) {
          passedChecks += results.length;
          if (step.takeaway) print(`\n${wrap(`✓ ${step.takeaway}`, width)}`);
          if (!progress.done.includes(step.id)) progress.done.push(step.id);
          progress.step = Math.min(i + 1, steps.length - 1);
          if (interactive) save();
          break;
        }
        print(`\n${wrap(`hint: ${step.hint}`, width)}`);
        if (options.auto) {
          failedChecks += results.filter((r) => !r.pass).length;
          passedChecks += results.filter((r) => r.pass).length;
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
      print(
        `\n${lesson.title}: ${passedChecks} checks passed${failedChecks ? `, ${failedChecks} failed` : ''}.${
          allPassed ? ' Lesson complete.' : ''
        }`,
      );
    } else if (quit) {
      print(`\nStopped at step ${progress.step + 1}; \`sandbox learn ${lesson.id}\` resumes there.`);
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
