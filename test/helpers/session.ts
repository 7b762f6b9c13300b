/** A separate sandbox session for tests that kill one: what a crashed `sandbox` process leaves. */
import { type ChildProcess, spawn } from 'node:child_process';

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
