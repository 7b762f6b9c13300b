/**
 * Step.unavailable in the engine (issue 15: CRIU steps where `criu check` fails): the reason is
 * asked once per session; such a step's action never runs, it has no checks, and replaying to
 * resume skips it. No root needed: nothing here touches the kernel.
 */
import { describe, expect, it } from 'vitest';

import { LessonSession } from '../../src/lessons/engine.js';
import type { Lesson } from '../../src/lessons/types.js';

function lesson(ran: number[], asked: number[]): Lesson {
  const step = (i: number, why?: string) => ({
    id: `s${i}`,
    title: `step ${i}`,
    prose: 'p',
    action: async () => void ran.push(i),
    checks: [{ label: `c${i}`, run: () => ({ probe: 'p', expected: 'x', actual: 'x', pass: true }) }],
    hint: 'h',
    ...(why === undefined
      ? {}
      : {
          unavailable: () => {
            asked.push(i);
            return why || null;
          },
        }),
  });
  return { id: 'l', title: 'L', summary: 's', steps: [step(0), step(1, 'CRIU 3.17.1 cannot run on kernel 6.18 (vDSO)'), step(2, '')] };
}

describe('LessonSession and unavailable steps', () => {
  it('asks once, skips the action and the checks, and replays around it', async () => {
    const ran: number[] = [];
    const asked: number[] = [];
    const s = new LessonSession(lesson(ran, asked));
    expect(await s.unavailable(0)).toBeNull();
    expect(await s.unavailable(1)).toBe('CRIU 3.17.1 cannot run on kernel 6.18 (vDSO)');
    expect(await s.unavailable(1)).toBe('CRIU 3.17.1 cannot run on kernel 6.18 (vDSO)');
    expect(await s.unavailable(2)).toBeNull(); // an empty reason means it can run
    expect(asked).toEqual([1, 2]);
    const act = await s.act(1);
    expect(act.error).toBeNull();
    expect(act.log).toEqual([{ note: 'skipped on this host: CRIU 3.17.1 cannot run on kernel 6.18 (vDSO)' }]);
    expect(await s.check(1)).toEqual([]);
    expect(ran).toEqual([]);
    await s.replay(3);
    expect(ran).toEqual([0, 2]);
    await s.close();
  });
  it('a reason that throws is a reason, not a crash', async () => {
    const l = lesson([], []);
    l.steps[1].unavailable = () => {
      throw new Error('criu --version hung');
    };
    const s = new LessonSession(l);
    expect(await s.unavailable(1)).toBe('whether it can run here could not be read: criu --version hung');
    await s.close();
  });
});
