/**
 * bench:tui — what the terminal UI costs.
 *   help_ms, lessons_ms    median wall time of `sandbox --help` and `sandbox lessons --plain`
 *                          (whole processes, interleaved): they must not load Ink or React.
 *   tui_cpu_percent        CPU of the lesson screen's process (utime+stime from /proc/PID/stat)
 *                          over a 10 s window, in percent of one core, while it shows step 3
 *                          (two sandboxes) with its live process tree refreshing at 5 Hz, in a
 *                          120×40 tmux terminal, on a host with at least 300 processes (the bench
 *                          starts idle `sleep`s of its own to get there, and kills them by pid).
 *   tui_rss_mb             the largest resident set of that process seen during the window.
 * Prints one JSON object on stdout. The TUI part needs root (the lesson makes real namespaces)
 * and tmux; without them its keys are null and `skipped` says why.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { lesson } from '../src/lessons/pid-namespaces/index.js';

const CLI = path.resolve(import.meta.dirname, '../dist/cli.js');
const RUNS = Number(process.env.BENCH_RUNS ?? 15);
const WINDOW_MS = Number(process.env.BENCH_WINDOW_MS ?? 10_000);
const MIN_PROCESSES = 300;
const GOALS = { help_ms: 150, lessons_ms: 150, tui_cpu_percent: 5, tui_rss_mb: 150 };

const state = fs.mkdtempSync(path.join(os.tmpdir(), 'sandbox-bench-tui-'));
const env: NodeJS.ProcessEnv = { ...process.env, XDG_STATE_HOME: state };
delete env.CI;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return Number(s[Math.floor(s.length / 2)].toFixed(1));
}

function p95(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return Number(s[Math.min(s.length - 1, Math.floor(0.95 * s.length))].toFixed(1));
}

function timeCli(args: string[]): number {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [CLI, ...args], { stdio: 'ignore', env });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`sandbox ${args.join(' ')} exited ${r.status}`);
  return ms;
}

function startup(): { help: number[]; lessons: number[] } {
  const help: number[] = [];
  const lessons: number[] = [];
  for (let i = 0; i < 2; i++) {
    timeCli(['--help']);
    timeCli(['lessons', '--plain']);
  }
  for (let i = 0; i < RUNS; i++) {
    help.push(timeCli(['--help']));
    lessons.push(timeCli(['lessons', '--plain']));
  }
  return { help, lessons };
}

const processCount = () => fs.readdirSync('/proc').filter((e) => /^\d+$/.test(e)).length;

function cpuTicks(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]); // utime, stime (fields 14 and 15)
}

function rssMb(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : 0;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface TuiResult {
  tui_cpu_percent: number;
  tui_rss_mb: number;
  processes: number;
  sleepers_started: number;
  tui_output_bytes_per_s: number;
  window_s: number;
}

async function tui(): Promise<TuiResult> {
  const tmux = (...a: string[]) => execFileSync('tmux', a, { encoding: 'utf8' });
  const name = `sbx-bench-tui-${process.pid}`;
  const sleepers: ChildProcess[] = [];
  const rawLog = path.join(state, 'pane.raw');
  try {
    const need = Math.max(0, MIN_PROCESSES + 20 - processCount());
    for (let i = 0; i < need; i++) sleepers.push(spawn('sleep', ['900'], { stdio: 'ignore' }));
    await sleep(300);

    tmux(
      'new-session', '-d', '-s', name, '-x', '120', '-y', '40', '-e', `XDG_STATE_HOME=${state}`,
      `exec env -u CI -u CONTINUOUS_INTEGRATION ${process.execPath} ${CLI} learn pid-namespaces`,
      ';', 'set-option', '-t', name, 'remain-on-exit', 'on',
    );
    const screen = () => tmux('capture-pane', '-p', '-t', name);
    const waitFor = async (re: RegExp, ms = 90_000) => {
      const end = Date.now() + ms;
      while (!re.test(screen())) {
        if (Date.now() > end) throw new Error(`bench: timed out waiting for ${re}:\n${screen()}`);
        await sleep(100);
      }
    };
    await waitFor(/Press enter to start/);
    tmux('send-keys', '-t', name, 'Enter');
    for (let i = 0; i < 3; i++) {
      const step = lesson.steps[i];
      await waitFor(/1-3 predict/);
      tmux('send-keys', '-t', name, String(step.prediction!.answer + 1));
      await waitFor(new RegExp(`Checks against the kernel ${step.checks.length}/${step.checks.length} passed`));
      if (i < 2) tmux('send-keys', '-t', name, 'Enter');
    }
    await waitFor(/sh\(\d+\)\(1\) b/);
    const pid = Number(tmux('display', '-p', '-t', name, '#{pane_pid}').trim());
    tmux('pipe-pane', '-t', name, '-o', `cat > ${rawLog}`);
    await sleep(1000);

    const processes = processCount();
    const hz = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    const bytes0 = fs.existsSync(rawLog) ? fs.statSync(rawLog).size : 0;
    const t0 = performance.now();
    const ticks0 = cpuTicks(pid);
    let rss = rssMb(pid);
    while (performance.now() - t0 < WINDOW_MS) {
      await sleep(250);
      rss = Math.max(rss, rssMb(pid));
    }
    const ticks1 = cpuTicks(pid);
    const seconds = (performance.now() - t0) / 1000;
    const bytes1 = fs.existsSync(rawLog) ? fs.statSync(rawLog).size : 0;

    tmux('send-keys', '-t', name, 'q');
    const end = Date.now() + 30_000;
    while (tmux('display', '-p', '-t', name, '#{pane_dead}').trim() !== '1' && Date.now() < end) await sleep(100);
    return {
      tui_cpu_percent: Number((((ticks1 - ticks0) / hz / seconds) * 100).toFixed(2)),
      tui_rss_mb: Number(rss.toFixed(1)),
      processes,
      sleepers_started: need,
      tui_output_bytes_per_s: Math.round((bytes1 - bytes0) / seconds),
      window_s: Number(seconds.toFixed(2)),
    };
  } finally {
    spawnSync('tmux', ['kill-session', '-t', name]);
    for (const s of sleepers) if (s.pid) s.kill('SIGKILL');
  }
}

async function main(): Promise<void> {
  const load_before = os.loadavg().map((x) => Number(x.toFixed(2)));
  const { help, lessons } = startup();
  const out: Record<string, unknown> = {
    help_ms: median(help),
    lessons_ms: median(lessons),
    tui_cpu_percent: null,
    tui_rss_mb: null,
    help_p95_ms: p95(help),
    lessons_p95_ms: p95(lessons),
    runs: RUNS,
  };
  const hasTmux = spawnSync('tmux', ['-V']).status === 0;
  if (process.getuid?.() !== 0) out.skipped = 'the lesson screen needs root';
  else if (!hasTmux) out.skipped = 'the lesson screen is measured in tmux, which is not installed';
  else Object.assign(out, await tui());
  out.goals = GOALS;
  out.met = Object.fromEntries(Object.entries(GOALS).map(([k, v]) => [k, typeof out[k] === 'number' ? (out[k] as number) <= v : null]));
  out.machine = { cpus: os.cpus().length, load_avg_before: load_before, load_avg_after: os.loadavg().map((x) => Number(x.toFixed(2))), node: process.version };
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
}

try {
  await main();
} finally {
  fs.rmSync(state, { recursive: true, force: true });
}
