/**
 * Numeric predictions in line mode (`--plain`) and `--auto`: one prompt, refusals saying what to
 * type, the reveal (guess, verdict, expected, measured with its probe), progress, the tally. The
 * lesson is a fake (engine mocked): no root, no kernel.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Writable } from 'node:stream';

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import type { CheckResult, Lesson } from '../../src/lessons/types.js';
import { fakeLesson } from './fixtures.js';

function numericLesson(): Lesson {
  const l = fakeLesson(3);
  return {
    ...l,
    steps: [
      {
        ...l.steps[0],
        prediction: {
          question: 'a has weight 1, b weight 3. What % of the CPU will a get?',
          choices: [],
          answer: 25,
          number: { unit: '%', min: 0, max: 100, tolerance: 5, measured: () => ({ probe: 'cat a/cpu.stat', value: 24.6 }) },
          explanation: 'In proportion to the weights: 1 / (1 + 3).',
        },
      },
      ...l.steps.slice(1),
    ],
  };
}

vi.mock('../../src/lessons/engine.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/lessons/engine.js')>();
  class FakeSession {
    ctx: { onProgress?: (n: string) => void } = {};
    async act(i: number) {
      return { log: [{ command: `step ${i + 1} ran` }], error: null };
    }
    async check(i: number): Promise<CheckResult[]> {
      return [{ label: `check of step ${i + 1}`, probe: 'grep NSpid /proc/4711/status', expected: '4711 1', actual: '4711 1', pass: true }];
    }
    async replay() {
      return null;
    }
    async unavailable() {
      return null;
    }
    async close() {}
  }
  return { ...real, loadLesson: async () => numericLesson(), missingRequirements: () => [], LessonSession: FakeSession };
});

const { runLessonPlain } = await import('../../src/tui/plain.js');
const { readProgress } = await import('../../src/lessons/progress.js');

function sink(): { stream: Writable; text: () => string } {
  let out = '';
  const stream = new Writable({
    write(chunk, _enc, cb) {
      out += String(chunk);
      cb();
    },
  });
  return { stream, text: () => out };
}

let dir: string;
const saved = { ...process.env };
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sandbox-plain-'));
  process.env.XDG_STATE_HOME = dir;
  delete process.env.SUDO_USER;
});
afterEach(() => {
  process.env = { ...saved };
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('line mode', () => {
  it('asks for a number in one prompt, refuses what is not one (or out of bounds) with what to type, reveals and keeps the guess', async () => {
    const input = new PassThrough();
    const out = sink();
    // Typed ahead: a word, a number too big, then 32 %; enter for step 2; choice 2 for step 3.
    input.end('abc\n150\n32 %\n\n2\n');
    const code = await runLessonPlain('fake-lesson', { auto: false, input, out: out.stream, width: 80 });
    // Lines are wrapped at 80 columns: compared with the wrapping undone.
    const text = out.text().replace(/\n +/g, ' ').replace(/([^\n])\n(?=[a-z`])/g, '$1 ');
    expect(code).toBe(0);
    expect(text).toContain('? a has weight 1, b weight 3. What % of the CPU will a get?');
    expect(text).toContain('Your prediction (a number from 0 to 100 %, h for a hint, q to quit): ');
    expect(text).toContain('"abc" is not a number: type a number from 0 to 100 %.');
    expect(text).toContain('150 % is outside what this can be: type a number from 0 to 100 %.');
    expect(text).toContain('You predicted 32 %: close (expected 25 % ± 5; measured 24.6 % by `cat a/cpu.stat`).');
    expect(text).toContain('In proportion to the weights');
    expect(text).toContain('Predictions right: 1 of 2 (1 more close).');
    expect(readProgress('fake-lesson')?.predictions['step-1']).toEqual({ choice: 0, correct: false, guess: 32, score: 'close' });
  });

  it('--auto answers with the expected number and shows the measurement', async () => {
    const out = sink();
    const code = await runLessonPlain('fake-lesson', { auto: true, out: out.stream, width: 80 });
    const text = out.text().replace(/\n +/g, ' ').replace(/([^\n])\n(?=[a-z`])/g, '$1 ');
    expect(code).toBe(0);
    expect(text).toContain('→ 25 % (--auto answers with what the kernel will do)');
    expect(text).toContain('You predicted 25 %: right (expected 25 % ± 5; measured 24.6 % by `cat a/cpu.stat`).');
    expect(text).toMatch(/Fake lesson: (3 of )?3 checks passed\. Lesson complete\./);
    expect(text).not.toContain('Predictions right');
  });
});
