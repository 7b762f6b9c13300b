/**
 * The end of a lesson in line mode after a resume (issue 13): quit at step 4 of pid-namespaces,
 * come back, finish; the summary counts every guided step's checks (from the lesson, the steps
 * done before the resume from the saved progress), says how many were counted that way, and
 * lists the takeaway of every step that has one. Driven through a pipe as a script would, with
 * the real CLI (dist/cli.js) and a private XDG_STATE_HOME. Needs root.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { loadLesson } from '../../../src/lessons/engine.js';
import { plainMarkdown } from '../../../src/tui/lines.js';
import { acquireLessonLock, releaseLessonLock } from '../../helpers/lesson-lock.js';
import { isRoot, leftovers } from '../../helpers/resources.js';

const CLI = path.resolve(import.meta.dirname, '../../../dist/cli.js');
const RESUME_AT = 3; // step 4

describe.skipIf(!isRoot)('learn --plain: the summary after a resume (needs root)', () => {
  let state: string;
  beforeAll(async () => {
    state = fs.mkdtempSync(path.join(os.tmpdir(), 'sandbox-summary-'));
    await acquireLessonLock();
  }, 900_000);
  afterAll(() => {
    releaseLessonLock();
    fs.rmSync(state, { recursive: true, force: true });
  });

  it('resumed at step 4 of pid-namespaces: every check counted, the earlier ones from progress; every takeaway listed', async () => {
    const lesson = await loadLesson('pid-namespaces');
    const before = lesson.steps.slice(0, RESUME_AT);
    expect(before.some((s) => s.challenge)).toBe(false);
    fs.mkdirSync(path.join(state, 'sandbox'));
    const progressFile = path.join(state, 'sandbox', 'progress.json');
    fs.writeFileSync(
      progressFile,
      JSON.stringify({ version: 1, lessons: { 'pid-namespaces': { step: RESUME_AT, done: before.map((s) => s.id), completed: false, predictions: {}, updated: new Date().toISOString() } } }),
    );
    // The answers, one line per prompt: each prediction answered right, Enter for a step without
    // one, k to skip each challenge (they are typed in a shell: test/integration/cli/challenge-plain.test.ts).
    const input = lesson.steps
      .slice(RESUME_AT)
      .map((s) => (s.challenge ? 'k' : !s.prediction ? '' : s.prediction.number ? String(s.prediction.answer) : String(s.prediction.answer + 1)))
      .join('\n');
    const env: NodeJS.ProcessEnv = { ...process.env, XDG_STATE_HOME: state, NO_COLOR: '1' };
    delete env.SUDO_USER;
    const r = spawnSync(process.execPath, [CLI, 'learn', 'pid-namespaces', '--plain'], { input: `${input}\n`, encoding: 'utf8', timeout: 300_000, env });
    const out = r.stdout;
    expect(r.status, `${out}\n${r.stderr}`).toBe(0);
    expect(out).toMatch(new RegExp(`Resuming at step ${RESUME_AT + 1} of ${lesson.steps.length}`));

    const guided = lesson.steps.filter((s) => !s.challenge);
    const total = guided.reduce((n, s) => n + s.checks.length, 0);
    const earlier = before.reduce((n, s) => n + s.checks.length, 0);
    expect(total).toBeGreaterThanOrEqual(15);
    expect(out).toContain(`PID namespaces: ${total} of ${total} checks passed (${earlier} in an earlier session). Lesson complete.`);
    expect(out.replace(/\s+/g, ' ')).toContain(`${earlier} of the checks passed in an earlier session: they are counted from your saved progress`);
    const challenges = lesson.steps.filter((s) => s.challenge).length;
    expect(out).toContain(`Challenges: 0 of ${challenges} done (${challenges} skipped).`);
    // Every takeaway, those of the replayed steps too, without markdown markers.
    const saw = out.slice(out.indexOf('What you saw:'));
    const takeaways = lesson.steps.filter((s) => s.takeaway).map((s) => s.takeaway!);
    expect(takeaways.length).toBeGreaterThan(1);
    for (const t of takeaways) expect(saw.replace(/\s+/g, ' ')).toContain(plainMarkdown(t).replace(/\s+/g, ' '));
    expect(JSON.parse(fs.readFileSync(progressFile, 'utf8')).lessons['pid-namespaces']).toMatchObject({ completed: true });
    expect(leftovers()).toEqual([]);
  }, 600_000);
});
