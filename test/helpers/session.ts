/** A separate sandbox session for tests that kill one: what a crashed `sandbox` process leaves. */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';

/** Starts Node running `script` (ESM; it may import the built runtime) and resolves once it prints "ready". */
export async function startSession(script: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (c: Buffer) => c.toString().includes('ready') && resolve());
    child.on('exit', (code) => reject(new Error(`the session exited with ${code} before it was ready`)));
  });
  return child;
}

/** SIGKILLs the session (no handler, no exit hook runs) and waits until it has exited. */
export async function killSession(child: ChildProcess): Promise<void> {
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
}

/**
 * Debris a test leaves on purpose: a killed session's sandboxes, between the kill and the sweep
 * that the test then checks. Other test files running meanwhile must not count it as their leak,
 * so `leftovers()` skips these names until the test clears them.
 */
export const DEBRIS_DIR = '/tmp/sandbox-tests-debris';

export function declareDebris(...names: string[]): void {
  fs.mkdirSync(DEBRIS_DIR, { recursive: true });
  for (const n of names) fs.writeFileSync(`${DEBRIS_DIR}/${n}`, String(process.pid));
}

export function clearDebris(...names: string[]): void {
  for (const n of names) fs.rmSync(`${DEBRIS_DIR}/${n}`, { force: true });
}
