/**
 * One quantity, one figure per screen (issue 13, item 3): in cgroups-cpu and fork-bomb, the log of
 * a step, its live view (as the screen renders it) and its checks give the same number for the
 * same thing. Each step's action runs with a real lesson context on the real kernel, then the view
 * is sampled and rendered, then the checks run, as the lesson screen and the line printer do; the
 * figures are read back from what each shows. Needs root.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { LessonSession, loadLesson } from '../../src/lessons/engine.js';
import type { CheckResult, LogEntry, ViewData } from '../../src/lessons/types.js';
import { viewLines } from '../../src/tui/text.js';
import { acquireLessonLock, releaseLessonLock } from '../helpers/lesson-lock.js';
import { isRoot } from '../helpers/resources.js';

const num = (s: string | undefined) => (s === undefined ? NaN : Number(s));

/** What one step put on the screen: its log, its view (data and rendered lines), its checks. */
interface Screen {
  log: string;
  view: ViewData;
  lines: string[];
  checks: CheckResult[];
}

async function runStep(session: LessonSession, i: number): Promise<Screen> {
  const act = await session.act(i);
  expect(act.error).toBeNull();
  const view = session.lesson.steps[i].view!.sample(session.ctx);
  const checks = await session.check(i);
  const log = act.log.map((e: LogEntry) => [e.command, e.output, e.note].filter(Boolean).join('\n')).join('\n');
  return { log, view, lines: viewLines(view, 100), checks };
}

/** "CPU 1 over the 5.0 s ending 03:12:05 UTC: a 24.8 %, b 74.9 %, other work 0.2 %, idle 0.1 %" */
const CPU_LINE = /CPU (\d+) over the ([\d.]+) s ending ([\d:]+) UTC: a ([\d.]+) %, b ([\d.]+) %, other work ([\d.]+) %, idle ([\d.]+) %/;

function cpuLine(text: string): string[] {
  const m = CPU_LINE.exec(text);
  expect(m, `a CPU line in: ${text}`).not.toBeNull();
  return m!.slice(1);
}

/** The latest value the chart's legend shows for series `k`, as rendered ("a  cpu.weight 25  ▂▃▃  24.8% → target 25%"). */
function legendValue(lines: string[], name: RegExp): number {
  const line = lines.find((l) => name.test(l));
  expect(line, `a legend line ${name}`).toBeDefined();
  const m = /\s([\d.]+)%(?: → target [\d.]+%)?$/.exec(line!);
  expect(m, `a figure at the end of: ${line}`).not.toBeNull();
  return num(m![1]);
}

describe.skipIf(!isRoot)('one figure per quantity on a screen (needs root)', { timeout: 180_000 }, () => {
  beforeAll(() => acquireLessonLock(), 900_000);
  afterAll(() => releaseLessonLock());

  it('cgroups-cpu: the log, the chart and the checks give the same split and the same CPU figures, from one window', async () => {
    const session = new LessonSession(await loadLesson('cgroups-cpu'));
    try {
      // Steps 1 and 2: the split (a's and b's part of what the two used) and the CPU line.
      for (const i of [0, 1]) {
        const s = await runStep(session, i);
        const logSplit = /of what a and b used together over the [\d.]+ s ending [\d:]+ UTC: a ([\d.]+) %, b ([\d.]+) %/.exec(s.log);
        expect(logSplit, s.log).not.toBeNull();
        const split = s.checks.find((c) => /split the CPU|three times/.test(c.label))!;
        const checkSplit = /^a ([\d.]+) %, b ([\d.]+) %/.exec(split.actual);
        expect(checkSplit, split.actual).not.toBeNull();
        const legendA = legendValue(s.lines, /^a {2}cpu\.(shares|weight)/);
        const legendB = legendValue(s.lines, /^b {2}cpu\.(shares|weight)/);
        expect([legendA, legendB]).toEqual([num(logSplit![1]), num(logSplit![2])]);
        expect([num(checkSplit![1]), num(checkSplit![2])]).toEqual([legendA, legendB]);
        // The same window (its length and end) and the same CPU figures in the log, the caption and the check.
        const fromLog = cpuLine(s.log);
        expect(cpuLine((s.view as { caption?: string }).caption ?? '')).toEqual(fromLog);
        expect(cpuLine(split.actual)).toEqual(fromLog);
        expect(split.pass, JSON.stringify(split)).toBe(true);
      }
      // Steps 3 and 4: % of the CPU (a, b, other work, idle) in the legend, the log and the checks.
      for (const i of [2, 3]) {
        const s = await runStep(session, i);
        const fromLog = cpuLine(s.log);
        const [, , , a, b, other, idle] = fromLog.map(Number);
        expect(legendValue(s.lines, /^a( quota \d+%)?\s/)).toBe(a);
        expect(legendValue(s.lines, /^b( \(stopped\))?\s/)).toBe(b);
        expect(legendValue(s.lines, /^other work\s/)).toBe(other);
        expect(legendValue(s.lines, /^CPU \d+ idle\s/)).toBe(idle);
        const measured = s.checks.filter((c) => CPU_LINE.test(c.actual));
        expect(measured.length).toBeGreaterThan(0);
        for (const c of measured) expect(cpuLine(c.actual)).toEqual(fromLog);
        expect(cpuLine((s.view as { caption?: string }).caption ?? '')).toEqual(fromLog);
      }
    } finally {
      await session.close();
    }
  });

  it('fork-bomb: pids.current and the host probe read the same in the gauges, the log and the checks', async () => {
    const session = new LessonSession(await loadLesson('fork-bomb'));
    try {
      await runStep(session, 0);
      // Detonate: 64 of 64 everywhere, and one median for the host probe.
      const s = await runStep(session, 1);
      const gauges = s.view.kind === 'gauges' ? s.view.gauges : [];
      const procs = gauges.find((g) => /pids\.current/.test(g.label))!;
      const host = gauges.find((g) => /host/.test(g.label))!;
      const fill = s.checks.find((c) => /fills the sandbox/.test(c.label))!;
      expect(fill.actual).toMatch(new RegExp(`^${procs.value} of ${procs.max}\\b`));
      expect(s.log).toMatch(new RegExp(`pids\\.current ${procs.value} of ${procs.max}`));
      const probe = s.checks.find((c) => /host still starts/.test(c.label))!;
      const checkMedian = /median ([\d.]+) ms, ([\d.]+)× the ([\d.]+) ms before/.exec(probe.actual);
      const logMedian = /median ([\d.]+) ms, ([\d.]+)× the ([\d.]+) ms before/.exec(s.log);
      expect(checkMedian, probe.actual).not.toBeNull();
      expect(logMedian, s.log).not.toBeNull();
      expect(checkMedian!.slice(1)).toEqual(logMedian!.slice(1));
      expect(host.value).toBeCloseTo(num(checkMedian![1]), 2);
      expect(host.note).toContain(`${checkMedian![1]} ms, ${checkMedian![2]}× the ${checkMedian![3]} ms before`);
      expect(probe.pass, JSON.stringify(probe)).toBe(true);
      // The low weight: the gauge of the weighted bomb, the log and the check give one median.
      const w = await runStep(session, 2);
      const low = (w.view.kind === 'gauges' ? w.view.gauges : []).find((g) => /weight 1/.test(g.label))!;
      const near = w.checks.find((c) => /neighbour on its CPU/.test(c.label))!;
      const wMedian = /median ([\d.]+) ms, ([\d.]+)× no bomb/.exec(near.actual);
      expect(wMedian, near.actual).not.toBeNull();
      expect(w.log).toContain(`the bomb at weight 1: median ${wMedian![1]} ms, ${wMedian![2]}× no bomb`);
      expect(low.value).toBeCloseTo(num(wMedian![1]), 2);
      // The kill: the gauge, the log and the check all read pids.current 0.
      const k = await runStep(session, 3);
      const after = (k.view.kind === 'gauges' ? k.view.gauges : []).find((g) => /pids\.current/.test(g.label))!;
      const empty = k.checks.find((c) => /cgroup is empty/.test(c.label))!;
      expect(after.value).toBe(0);
      expect(empty.actual).toMatch(/pids\.current 0$/);
      expect(k.log).toMatch(/pids\.current 0 \d+ ms after the kill/);
    } finally {
      await session.close();
    }
  });
});
