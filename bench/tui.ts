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
 *   challenge_cpu_percent  the same lesson screen's CPU over the window while it shows a challenge
 *                          step (pid-namespaces, `your-own-pid-namespace`, resumed there from a
 *                          progress file) and polls its checks live (≥ 1 Hz), after a wrong first
 *                          attempt made in the challenge's bench, so the checks and the hints'
 *                          conditions have a namespace to read.
 *   challenge_poll_cpu_percent  the checks' own cost: the same challenge started in this process
 *                          (LessonSession.act), ChallengeRun.poll() at 1 Hz over the window, this
 *                          process's CPU (process.cpuUsage) in percent of one core;
 *                          challenge_poll_ms is the median time of one poll.
 * BENCH_ONLY=tui or BENCH_ONLY=challenge measures only that part of the screen (startup is always timed).
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
const GOALS = { help_ms: 150, lessons_ms: 150, tui_cpu_percent: 5, tui_rss_mb: 150, challenge_cpu_percent: 5, challenge_poll_cpu_percent: 5 };
const CHALLENGE = 'your-own-pid-namespace';

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

/** Starts `need` idle sleeps (killed by pid in the caller's finally), so the host has ≥ 300 processes. */
async function fillHost(sleepers: ChildProcess[]): Promise<number> {
  const need = Math.max(0, MIN_PROCESSES + 20 - processCount());
  for (let i = 0; i < need; i++) sleepers.push(spawn('sleep', ['900'], { stdio: 'ignore' }));
  await sleep(300);
  return need;
}

/** A wrong first attempt (the first conditional hint's `reach` lines), run where the learner's shell runs. */
function wrongAttempt(): string[] {
  const step = lesson.steps.find((s) => s.id === CHALLENGE)!;
  return step.challenge!.hints.find((h) => h.reach?.length)?.reach ?? [];
}

/**
 * Runs `lines` in the challenge's bench from outside, as a second terminal would: joined to the
 * bench's cgroups and mount namespace (the bench's init is the first process of its cgroup).
 */
function inBench(benchPid: number, lines: string[]): void {
  const joins = fs
    .readFileSync(`/proc/${benchPid}/cgroup`, 'utf8')
    .split('\n')
    .filter((l) => /\/sandbox\/pidns-bench(-\d+)?$/.test(l))
    .map((l) => {
      const [, ctrl, rel] = l.split(':');
      return `echo $$ > ${path.join('/sys/fs/cgroup', ctrl === '' ? '' : ctrl.replace(/^name=/, ''), rel)}/cgroup.procs`;
    });
  if (!joins.length) throw new Error(`bench: ${benchPid} is in no bench cgroup`);
  execFileSync('sh', ['-c', `${joins.join(' && ')} && exec nsenter -t ${benchPid} -m -- sh -c "$0"`, lines.join('\n')], { stdio: 'ignore', timeout: 20_000 });
}

/**
 * The challenge's bench started by the lesson process `owner`: its child whose cgroup is a
 * `pidns-bench` sandbox (other sessions may run the same lesson meanwhile, with their own).
 */
function findBench(owner: number): number {
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) !== owner) continue;
      if (/\/sandbox\/pidns-bench(-\d+)?$/m.test(fs.readFileSync(`/proc/${e}/cgroup`, 'utf8'))) return Number(e);
    } catch {
      /* gone meanwhile */
    }
  }
  throw new Error(`bench: no challenge bench (pidns-bench) started by ${owner}`);
}

interface ChallengeScreenResult {
  challenge_cpu_percent: number;
  challenge_rss_mb: number;
  challenge_window_s: number;
}

/** The lesson screen on a challenge step, polling its checks; CPU of its process over the window. */
async function challengeScreen(): Promise<ChallengeScreenResult> {
  const tmux = (...a: string[]) => execFileSync('tmux', a, { encoding: 'utf8' });
  const name = `sbx-bench-tui-ch-${process.pid}`;
  const sleepers: ChildProcess[] = [];
  const at = lesson.steps.findIndex((s) => s.id === CHALLENGE);
  const dir = path.join(state, 'challenge');
  fs.mkdirSync(path.join(dir, 'sandbox'), { recursive: true });
  fs.writeFileSync(
    path.join(dir, 'sandbox', 'progress.json'),
    JSON.stringify({ version: 1, lessons: { [lesson.id]: { step: at, done: lesson.steps.slice(0, at).map((s) => s.id), completed: false, predictions: {}, updated: new Date().toISOString() } } }),
  );
  try {
    await fillHost(sleepers);
    tmux(
      'new-session', '-d', '-s', name, '-x', '120', '-y', '40', '-e', `XDG_STATE_HOME=${dir}`,
      `exec env -u CI -u CONTINUOUS_INTEGRATION ${process.execPath} ${CLI} learn pid-namespaces`,
      ';', 'set-option', '-t', name, 'remain-on-exit', 'on',
    );
    const screen = () => tmux('capture-pane', '-p', '-t', name);
    const end = Date.now() + 180_000;
    while (!(/s shell ·/.test(screen()) && /Checks against the kernel \d+\/\d+ passed/.test(screen()))) {
      if (Date.now() > end) throw new Error(`bench: timed out waiting for the challenge screen:\n${screen()}`);
      await sleep(200);
    }
    const pid = Number(tmux('display', '-p', '-t', name, '#{pane_pid}').trim());
    inBench(findBench(pid), wrongAttempt());
    // The screen ticks what the attempt reached (2 of 3) with no key pressed: it is polling.
    const ticked = Date.now() + 10_000;
    while (!/Checks against the kernel 2\/3 passed/.test(screen())) {
      if (Date.now() > ticked) throw new Error(`bench: the screen did not tick the attempt:\n${screen()}`);
      await sleep(100);
    }
    await sleep(1000);
    const hz = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    const t0 = performance.now();
    const ticks0 = cpuTicks(pid);
    let rss = rssMb(pid);
    while (performance.now() - t0 < WINDOW_MS) {
      await sleep(250);
      rss = Math.max(rss, rssMb(pid));
    }
    const ticks1 = cpuTicks(pid);
    const seconds = (performance.now() - t0) / 1000;
    tmux('send-keys', '-t', name, 'q');
    const quitEnd = Date.now() + 30_000;
    while (tmux('display', '-p', '-t', name, '#{pane_dead}').trim() !== '1' && Date.now() < quitEnd) await sleep(100);
    return {
      challenge_cpu_percent: Number((((ticks1 - ticks0) / hz / seconds) * 100).toFixed(2)),
      challenge_rss_mb: Number(rss.toFixed(1)),
      challenge_window_s: Number(seconds.toFixed(2)),
    };
  } finally {
    spawnSync('tmux', ['kill-session', '-t', name]);
    for (const s of sleepers) if (s.pid) s.kill('SIGKILL');
  }
}

interface ChallengePollResult {
  challenge_poll_cpu_percent: number;
  challenge_poll_ms: number;
  challenge_polls: number;
}

/** The checks alone: the challenge in this process, ChallengeRun.poll() once a second. */
async function challengePoll(): Promise<ChallengePollResult> {
  const { LessonSession, loadLesson } = await import('../src/lessons/engine.js');
  const sleepers: ChildProcess[] = [];
  const l = await loadLesson(lesson.id);
  const at = l.steps.findIndex((s) => s.id === CHALLENGE);
  const session = new LessonSession(l);
  try {
    await fillHost(sleepers);
    const act = await session.act(at);
    if (act.error) throw act.error;
    const run = session.challengeOf(at)!;
    const attempt = await run.run(wrongAttempt());
    if (attempt.code !== 0) throw new Error(`bench: the wrong attempt exited ${attempt.code}: ${attempt.output}`);
    await run.poll(); // warm: modules, first reads
    const times: number[] = [];
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    while (performance.now() - t0 < WINDOW_MS) {
      const p0 = performance.now();
      await run.poll();
      const ms = performance.now() - p0;
      times.push(ms);
      await sleep(Math.max(0, 1000 - ms));
    }
    const cpu = process.cpuUsage(c0);
    const elapsed = performance.now() - t0;
    return {
      challenge_poll_cpu_percent: Number((((cpu.user + cpu.system) / 1000 / elapsed) * 100).toFixed(2)),
      challenge_poll_ms: median(times),
      challenge_polls: times.length,
    };
  } finally {
    await session.close();
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
    challenge_cpu_percent: null,
    challenge_poll_cpu_percent: null,
    help_p95_ms: p95(help),
    lessons_p95_ms: p95(lessons),
    runs: RUNS,
  };
  const hasTmux = spawnSync('tmux', ['-V']).status === 0;
  if (process.getuid?.() !== 0) out.skipped = 'the lesson screen needs root';
  else if (!hasTmux) out.skipped = 'the lesson screen is measured in tmux, which is not installed';
  else {
    if (!process.env.BENCH_ONLY || process.env.BENCH_ONLY === 'tui') Object.assign(out, await tui());
    if (!process.env.BENCH_ONLY || process.env.BENCH_ONLY === 'challenge') {
      Object.assign(out, await challengePoll());
      try {
        Object.assign(out, await challengeScreen());
      } catch (err) {
        out.challenge_skipped = `the lesson screen did not show the challenge: ${(err as Error).message.split('\n')[0]}`;
      }
    }
  }
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
