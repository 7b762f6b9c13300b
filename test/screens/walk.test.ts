/**
 * Every lesson, every step, as a learner sees it: the real binary in a real terminal (tmux) at
 * 80×24 and at 120×40, driven with the keys the screen shows and read back with capture-pane.
 * For every step it asserts that what the step is about can be brought on screen:
 *  - each check's label, probe, expected and actual, through the checks zoom (`c`), scrolled to
 *    its end, with nothing cut (`…`);
 *  - the live view, through its zoom (`v`), with no table cell cut (the zooms are where nothing
 *    may be cut: on the step screen a panel may be shortened, saying which key shows it whole,
 *    and the lessons' own text uses "…" as an ellipsis);
 *  - no raw Markdown emphasis (`*word*`) anywhere.
 * Challenges are opened (their checks are polled live: they are zoomed too) and skipped: typing
 * them is test/tui/challenges-tmux.test.ts's job. Steps that cannot run on this host
 * (`unavailable`) are passed over with their reason on screen.
 *
 * Long (every lesson's actions, twice): not part of `npm test`; `npm run test:screens` runs it,
 * and CI runs that. Needs root and tmux. Only the tmux sessions made here are killed.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { COURSE } from '../../src/lessons/manifest.js';
import type { Lesson } from '../../src/lessons/types.js';
import { acquireLessonLock, releaseLessonLock } from '../helpers/lesson-lock.js';
import { isRoot, leftovers } from '../helpers/resources.js';

const CLI = path.resolve(import.meta.dirname, '../../dist/cli.js');
const hasTmux = spawnSync('tmux', ['-V']).status === 0;
const SIZES: [number, number][] = [
  [80, 24],
  [120, 40],
];
/** Only these lessons (comma-separated ids), for a focused run: SCREENS_LESSONS=net-namespaces. */
const only = process.env.SCREENS_LESSONS?.split(',').filter(Boolean);

const sessions: string[] = [];
let state: string;

const tmux = (...args: string[]) => execFileSync('tmux', args, { encoding: 'utf8' });
const screen = (name: string) => tmux('capture-pane', '-p', '-t', name);
const keys = (name: string, ...k: string[]) => tmux('send-keys', '-t', name, ...k);
const statusFile = (name: string) => path.join(os.tmpdir(), `${name}.status`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function start(lesson: string, cols: number, rows: number, stateHome: string): string {
  const name = `sbx-screens-${process.pid}-${sessions.length}`;
  sessions.push(name);
  fs.rmSync(statusFile(name), { force: true });
  // env -u CI: draw as in a learner's terminal.
  tmux(
    'new-session', '-d', '-s', name, '-x', String(cols), '-y', String(rows), '-e', `XDG_STATE_HOME=${stateHome}`,
    `env -u CI -u CONTINUOUS_INTEGRATION ${process.execPath} ${CLI} learn ${lesson}; echo $? > ${statusFile(name)}`,
    ';', 'set-option', '-t', name, 'remain-on-exit', 'on',
  );
  return name;
}

async function waitFor(name: string, re: RegExp, ms = 90_000): Promise<string> {
  const end = Date.now() + ms;
  for (;;) {
    const s = screen(name);
    if (re.test(s)) return s;
    if (Date.now() > end) throw new Error(`timed out waiting for ${re}; screen:\n${s}`);
    await sleep(100);
  }
}

async function exited(name: string, ms = 60_000): Promise<number> {
  const end = Date.now() + ms;
  for (;;) {
    const text = fs.existsSync(statusFile(name)) ? fs.readFileSync(statusFile(name), 'utf8').trim() : '';
    if (text !== '') return Number(text);
    if (Date.now() > end) throw new Error(`still running; screen:\n${screen(name)}`);
    await sleep(100);
  }
}

/** The first rows under the header, figures masked. */
const top = (page: string) => page.split('\n').slice(1, 6).join('\n').replace(/[0-9.]+/g, '#');

/** A zoom is open: its key line offers the way back. */
const ZOOMED = /esc back to the step/;

/**
 * Opens a zoom with `key`, pages through it (space) until the page stops changing, closes it
 * with the same key; returns every page's text, in order. Each change is waited for on screen.
 */
async function zoomPages(name: string, key: string, title: RegExp): Promise<string[]> {
  keys(name, key);
  let page = await waitFor(name, new RegExp(`${title.source}[\\s\\S]*${ZOOMED.source}`), 10_000);
  const pages = [page];
  for (let i = 0; i < 40; i++) {
    keys(name, 'Space');
    await sleep(300);
    const next = screen(name);
    // Scrolled when the top of the page moved; a live view's figures change on their own.
    if (top(next) === top(page)) break;
    pages.push(next);
    page = next;
  }
  keys(name, key);
  const end = Date.now() + 5000;
  while (ZOOMED.test(screen(name))) {
    if (Date.now() > end) throw new Error(`the ${key} zoom did not close; screen:\n${screen(name)}`);
    await sleep(100);
  }
  return pages;
}

/** Whitespace-collapsed text of several screens: labels that wrap still match. */
const flat = (pages: string[]) => pages.join('\n').replace(/[│┃|]/g, ' ').replace(/\s+/g, ' ');

/**
 * Words cut with "…": a word character right before the ellipsis. What the screens say on purpose
 * ("setting up…", "… 3 more rows", "reading /proc and /sys…") is a word of progress, not a cut
 * cell: those are listed here, and nothing else may end in "…".
 */
const MEANT = /(?:setting up|removing the sandboxes|removing the challenge|rebuilding|running|reading \/proc and \/sys|checking|waiting|starting|sampling|measuring|loading)…/gi;
function cuts(text: string): string[] {
  return [...text.replace(MEANT, '').matchAll(/\S{0,24}[\w)\]:%.-]…/g)].map((m) => m[0]);
}

/**
 * A zoom's pages without the screen's header rows (the lesson and step on one line each, which
 * may be shortened: the zoom's own first lines give the step's title whole).
 */
const body = (pages: string[]) => pages.map((p) => p.split('\n').slice(2).join('\n')).join('\n');

/** Raw Markdown emphasis: `*word*` or `**word**` left in the text. */
function rawEmphasis(text: string): string[] {
  return [...text.matchAll(/(?:^|[\s(])(\*{1,2}[A-Za-z][^*\n]{0,60}\*{1,2})(?=[\s.,;:)]|$)/gm)].map((m) => m[1]);
}

interface Finding {
  where: string;
  what: string;
}

async function walk(lesson: Lesson, cols: number, rows: number, findings: Finding[]): Promise<void> {
  const home = path.join(state, `${cols}x${rows}`);
  fs.rmSync(home, { recursive: true, force: true });
  fs.mkdirSync(home);
  const name = start(lesson.id, cols, rows, home);
  const intro = await waitFor(name, /enter start the lesson/, 60_000);
  for (const e of rawEmphasis(intro)) findings.push({ where: `${lesson.id} ${cols}×${rows} intro`, what: `raw emphasis: ${e}` });
  keys(name, 'Enter');
  for (let i = 0; i < lesson.steps.length; i++) {
    const step = lesson.steps[i];
    const stepRe = new RegExp(`Step ${i + 1}[:/ ]`);
    const where = `${lesson.id} ${cols}×${rows} step ${i + 1} (${step.id})`;
    // What the step waits for: a prediction, enter, a challenge, or a skip because it cannot run here.
    const first = await waitFor(name, new RegExp(`${stepRe.source}[\\s\\S]*(predict|run the step|s shell|k skip|cannot run|skipped|enter next step|enter finish)`), 120_000);
    if (/cannot run here|cannot run on this host/.test(first) && !/s shell/.test(first)) {
      // An unavailable step: its reason is on screen; move on.
      keys(name, 'Enter');
      continue;
    }
    if (step.challenge) {
      // Wait for the setup, then the first poll of its checks (a CPU share takes a few seconds
      // to measure), zoom them, and skip.
      await waitFor(name, /s shell/, 120_000);
      // (A challenge of typed answers only has no checks to show.)
      if (step.challenge.checks.length) {
        // `c checks` comes into the keys once the first poll has results.
        await waitFor(name, /\bc checks\b/, 60_000);
        const pages = await zoomPages(name, 'c', /probe/);
        checkZoom(pages, step.challenge.checks.map((c) => c.label), where, findings);
      }
      // k skips and moves on (to the next step, or the summary).
      keys(name, 'k');
      continue;
    }
    if (step.prediction) {
      await waitFor(name, /predict|number/);
      if (step.prediction.number) {
        keys(name, String(step.prediction.answer));
        keys(name, 'Enter');
      } else keys(name, String(step.prediction.answer + 1));
    } else if (step.action) {
      await waitFor(name, /run the step/);
      keys(name, 'Enter');
    }
    let done = await waitFor(name, /enter (next step|finish)|r retry/, 180_000);
    if (/r retry/.test(done)) {
      // A timing-sensitive check on a busy machine: one retry, as a learner would.
      keys(name, 'r');
      await sleep(500);
      done = await waitFor(name, /enter (next step|finish|continue anyway)/, 180_000);
    }
    expect(done.replace(/\n$/, '').split('\n').length, where).toBeLessThanOrEqual(rows);
    for (const e of rawEmphasis(done)) findings.push({ where, what: `raw emphasis: ${e}` });
    if (step.view) {
      const pages = await zoomPages(name, 'v', new RegExp(step.view.title.slice(0, 12).replace(/[()[\]]/g, '.')));
      for (const c of cuts(body(pages))) findings.push({ where, what: `cut in the view: "${c}"` });
    }
    if (step.checks.length) {
      const pages = await zoomPages(name, 'c', /probe/);
      checkZoom(pages, step.checks.map((c) => c.label), where, findings);
    }
    keys(name, 'Enter');
  }
  await waitFor(name, /Lesson complete/, 120_000);
  keys(name, 'Enter');
  expect(await exited(name)).toBe(0);
}

/** Every check's label, probe, expected and actual on the zoom's pages, nothing cut. */
function checkZoom(pages: string[], labels: string[], where: string, findings: Finding[]): void {
  const text = flat(pages);
  for (const label of labels) {
    if (!text.includes(label.replace(/\s+/g, ' '))) findings.push({ where, what: `check "${label}" not on the checks zoom` });
  }
  const all = pages.join('\n');
  for (const field of ['probe', 'expected', 'actual']) {
    const n = all.split('\n').filter((l) => new RegExp(`^\\s*${field}\\b`).test(l.replace(/^[│ ]+/, ' '))).length;
    if (n < labels.length) findings.push({ where, what: `${n} "${field}" lines for ${labels.length} checks on the checks zoom` });
  }
  for (const c of cuts(body(pages))) findings.push({ where, what: `cut on the checks zoom: "${c}"` });
  for (const e of rawEmphasis(all)) findings.push({ where, what: `raw emphasis on the checks zoom: ${e}` });
}

beforeAll(async () => {
  state = fs.mkdtempSync(path.join(os.tmpdir(), 'sandbox-screens-'));
  await acquireLessonLock();
});

afterAll(() => {
  releaseLessonLock();
  for (const s of sessions) {
    spawnSync('tmux', ['kill-session', '-t', s]);
    fs.rmSync(statusFile(s), { force: true });
  }
  fs.rmSync(state, { recursive: true, force: true });
});

describe.skipIf(!isRoot || !hasTmux)('every lesson, every step, at 80×24 and 120×40 (tmux; needs root)', () => {
  for (const entry of COURSE.filter((e) => !only || only.includes(e.id))) {
    // The two sizes run side by side, as two learners on one host would (each with its own
    // progress file): the course supports that, and it halves the time.
    it(`${entry.id}: every check's probe, expected and actual can be brought on screen, no cell cut, no raw emphasis`, async () => {
      const { lesson } = await entry.load();
      const findings: Finding[] = [];
      await Promise.all(SIZES.map(([cols, rows]) => walk(lesson, cols, rows, findings)));
      expect(findings.map((f) => `${f.where}: ${f.what}`)).toEqual([]);
      expect(leftovers()).toEqual([]);
    }, 900_000);
  }
});
