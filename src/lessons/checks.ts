/** Helpers for checks: read the kernel, compare, and say how it was read. */
import fs from 'node:fs';

import type { CheckResult } from './types.js';

export type Verdict = Omit<CheckResult, 'label'>;

export function verdict(probe: string, expected: string, actual: string, pass = actual === expected): Verdict {
  return { probe, expected, actual, pass };
}

/** The verdict when the step's sandbox does not exist (its action did not run or failed). */
export function noSandbox(key: string, probe = `(sandbox "${key}")`): Verdict {
  return { probe, expected: `a running sandbox "${key}"`, actual: 'none: the step that creates it has not run', pass: false };
}

/** A field of /proc/PID/status, e.g. NSpid → "4711 1"; null if the process is gone. */
export function statusField(pid: number, field: string): string | null {
  try {
    const m = new RegExp(`^${field}:\\s*(.*)$`, 'm').exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? m[1].trim().replace(/\s+/g, ' ') : null;
  } catch {
    return null;
  }
}

export function readlinkOr(path: string, fallback = '(gone)'): string {
  try {
    return fs.readlinkSync(path);
  } catch {
    return fallback;
  }
}

/** Polls until probe() returns a value or the time is up (then returns the last value). */
export async function settle<T>(probe: () => T, done: (v: T) => boolean, ms = 3000): Promise<T> {
  const end = Date.now() + ms;
  let v = probe();
  while (!done(v) && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 25));
    v = probe();
  }
  return v;
}
