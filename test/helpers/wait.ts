/** Waiting for the kernel in tests: a sleep, and polling until a probe returns something. */
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `probe` every 10 ms until it returns a truthy value (returned) or `ms` pass (throws). */
export async function until<T>(probe: () => T | null | undefined | false, ms = 5000, what = 'the condition'): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(10);
  }
}
