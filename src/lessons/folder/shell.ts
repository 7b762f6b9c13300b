/**
 * Running a lesson file's shell lines: one `sh -c` each, on the host or inside a sandbox, always
 * with a timeout and at most MAX_OUTPUT bytes of output kept (a line that prints more is killed:
 * a lesson file must not be able to fill the memory of the process that runs it as root).
 */
import { execFileSync, spawn } from 'node:child_process';
import os from 'node:os';

import type { Sandbox, SecurityOptions } from '../../runtime/index.js';

export const MAX_OUTPUT = 64 * 1024;

export interface ShellResult {
  /** Exit code (128 + signal for a signal), null when it could not run. */
  code: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** Collects a stream up to MAX_OUTPUT bytes; calls `over` once when it would exceed. */
function collect(stream: NodeJS.ReadableStream | null, over: () => void): { text: () => string; done: Promise<void> } {
  const chunks: Buffer[] = [];
  let size = 0;
  const done = new Promise<void>((resolve) => {
    if (!stream) return resolve();
    stream.on('data', (c: Buffer) => {
      if (size >= MAX_OUTPUT) return;
      const room = MAX_OUTPUT - size;
      chunks.push(c.length > room ? c.subarray(0, room) : c);
      size += Math.min(c.length, room);
      if (size >= MAX_OUTPUT) over();
    });
    stream.on('error', () => resolve());
    stream.on('close', () => resolve());
    stream.on('end', () => resolve());
  });
  return { text: () => Buffer.concat(chunks).toString('utf8'), done };
}

/** Runs `line` with sh -c on the host, as root, with `env` added to this process's environment. */
export function runHost(line: string, env: Record<string, string>, timeoutMs: number): Promise<ShellResult> {
  return new Promise((resolve) => {
    let timedOut = false;
    // Its own process group, killed whole when the line ends or times out: a host line that leaves
    // something running in the background (`cmd &`) would otherwise outlive the lesson, as root.
    const child = spawn('sh', ['-c', line], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const kill = () => {
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      kill();
    }, timeoutMs);
    const out = collect(child.stdout, kill);
    const err = collect(child.stderr, kill);
    child.on('error', () => {
      clearTimeout(timer);
      resolve({ code: null, stdout: '', stderr: 'sh could not be started', timedOut });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      kill();
      const c = code ?? (signal ? 128 + (signalNumber(signal) ?? 0) : null);
      resolve({ code: c, stdout: out.text(), stderr: err.text(), timedOut });
    });
  });
}

function signalNumber(sig: NodeJS.Signals): number | null {
  const n = (os.constants.signals as Record<string, number>)[sig];
  return typeof n === 'number' ? n : null;
}

/**
 * Runs `line` inside a sandbox (all its namespaces and its root, as `sandbox exec`). The timeout
 * is enforced inside (timeout -s KILL, present in the host's tools and in busybox) and outside
 * (SIGKILL to what exec started, then the result is given up on).
 */
export async function runIn(
  sandbox: Sandbox,
  line: string,
  env: Record<string, string>,
  timeoutMs: number,
  security?: SecurityOptions,
): Promise<ShellResult> {
  const secs = String(Math.max(1, Math.ceil(timeoutMs / 1000)));
  let p;
  try {
    p = await sandbox.exec(['timeout', '-s', 'KILL', secs, 'sh', '-c', line], { env, stdio: ['ignore', 'pipe', 'pipe'], security });
  } catch (e) {
    return { code: null, stdout: '', stderr: (e as Error).message, timedOut: false };
  }
  const proc = p;
  const kill = () => proc.signal('SIGKILL');
  const out = collect(proc.stdout, kill);
  const err = collect(proc.stderr, kill);
  let timedOut = false;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<null>((resolve) => {
    timer = setTimeout(() => {
      timedOut = true;
      kill();
      resolve(null);
    }, timeoutMs + 2000);
  });
  const status = await Promise.race([proc.wait(), deadline]);
  clearTimeout(timer);
  // A background child may hold the pipes: what arrived shortly after the exit is the output.
  await Promise.race([Promise.all([out.done, err.done]), new Promise((r) => setTimeout(r, 250))]);
  proc.stdout?.destroy();
  proc.stderr?.destroy();
  const code = status === null ? null : status.code !== null ? status.code : 128 + ((status.signal && os.constants.signals[status.signal]) || 0);
  return { code, stdout: out.text(), stderr: err.text(), timedOut: timedOut || code === 137 };
}

/** For views (sampled synchronously): runs `line` on the host; null when it fails or times out. */
export function runHostSync(line: string, env: Record<string, string>, timeoutMs: number): string | null {
  try {
    return execFileSync('sh', ['-c', line], {
      encoding: 'utf8',
      env: { ...process.env, ...env },
      timeout: timeoutMs,
      killSignal: 'SIGKILL',
      maxBuffer: MAX_OUTPUT,
      stdio: ['ignore', 'pipe', 'ignore'],
    });
  } catch (e) {
    // A non-zero exit still printed what it printed; a timeout or a failed start gives nothing.
    const x = e as { stdout?: string; signal?: string | null; status?: number | null };
    return x.status !== null && x.status !== undefined && typeof x.stdout === 'string' ? x.stdout : null;
  }
}

/**
 * Which lines `sh -n` refuses (it parses without running anything), with its message, or null for
 * a line it accepts. One process checks them all (a node spawn per line would make loading a
 * lesson take seconds): each line is parsed alone, so a quote left open cannot hide in the next.
 */
export function shellProblems(lines: string[]): (string | null)[] {
  const out: (string | null)[] = lines.map(() => null);
  if (!lines.length) return out;
  let report = '';
  try {
    report = execFileSync(
      'sh',
      ['-c', 'i=0; for l in "$@"; do i=$((i+1)); sh -n -c "$l" 2>/dev/null || { printf "%s\\t" "$i"; sh -n -c "$l" 2>&1 | head -n 1; }; done', 'sh', ...lines],
      { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: MAX_OUTPUT },
    );
  } catch (e) {
    report = String((e as { stdout?: string }).stdout ?? '');
  }
  for (const l of report.split('\n')) {
    const m = /^(\d+)\t(.*)$/.exec(l);
    if (!m) continue;
    const i = Number(m[1]) - 1;
    if (i >= 0 && i < out.length) out[i] = m[2].replace(/^sh: \d+: /, '').replace(/^sh: -c: line \d+: /, '').trim() || 'sh -n refuses it';
  }
  return out;
}
