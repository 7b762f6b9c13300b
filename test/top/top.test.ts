/**
 * `sandbox top` end to end, as an instructor uses it: two sandboxes run under `sandbox run` in
 * other terminals (tmux sessions on a private tmux server), and the dashboard, in a terminal of
 * its own, shows both in its table and its CPU chart, updates, follows ↑/↓ to the selected
 * sandbox's process tree (host PID and PID inside), and exits cleanly on q. Then the two runs are
 * stopped with Ctrl-C and nothing of theirs is left. Also: `top --plain` prints the table.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { cgroups } from '../../src/runtime/index.js';
import { isRoot } from '../helpers/resources.js';

const CLI = path.resolve(import.meta.dirname, '../../dist/cli.js');
const hasTmux = spawnSync('tmux', ['-V']).status === 0;
const SOCKET = `sbx-top-${process.pid}`;
const A = `topa-${process.pid}`;
const B = `topb-${process.pid}`;

const tmux = (...a: string[]) => execFileSync('tmux', ['-L', SOCKET, ...a], { encoding: 'utf8' });
const screen = (session: string) => tmux('capture-pane', '-p', '-t', session);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(session: string, ok: (text: string) => boolean, what: string, ms = 20_000): Promise<string> {
  const end = Date.now() + ms;
  for (;;) {
    const text = screen(session);
    if (ok(text)) return text;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; screen:\n${text}`);
    await sleep(150);
  }
}

function ledger(name: string): { init: { pid: number } | null } | null {
  try {
    return JSON.parse(fs.readFileSync(`/run/sandbox/ledger/${name}.json`, 'utf8'));
  } catch {
    return null;
  }
}

async function until<T>(probe: () => T | null | undefined | false, what: string, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** The table row of sandbox `name` on the screen, split into its cells. */
function rowOf(text: string, name: string): string[] | null {
  const line = text.split('\n').find((l) => l.includes(` ${name} `));
  return line ? line.replace(/[│┃|x]\s*$/u, '').trim().split(/\s{2,}|\s(?=\d)/) : null;
}

describe.skipIf(!isRoot || !hasTmux)('sandbox top in a terminal (tmux; needs root)', () => {
  beforeAll(async () => {
    const run = (session: string, args: string) =>
      tmux('new-session', '-d', '-s', session, '-x', '120', '-y', '20', `${process.execPath} ${CLI} run ${args}; sleep 30`);
    run('run-a', `--name ${A} --cpu-quota 30 -- sh -c 'while :; do :; done'`);
    run('run-b', `--name ${B} --pids 20 --memory 64M -- sh -c 'sleep 300 & sleep 300 & wait'`);
    await until(() => ledger(A)?.init && ledger(B)?.init, 'both sandboxes to start');
  });

  afterAll(async () => {
    // Ctrl-C: PID 1 of each (sh, no handler) cannot get it, so `sandbox run` destroys its sandbox.
    for (const s of ['run-a', 'run-b']) spawnSync('tmux', ['-L', SOCKET, 'send-keys', '-t', s, 'C-c']);
    await until(() => !ledger(A) && !ledger(B), 'the runs to remove their sandboxes', 10_000).catch(() => undefined);
    spawnSync('tmux', ['-L', SOCKET, 'kill-server']);
    if (ledger(A) || ledger(B)) spawnSync(process.execPath, [CLI, 'cleanup'], { stdio: 'ignore' });
  });

  it('shows both sandboxes in the table and the chart, updates, follows the selection, quits on q', async () => {
    const initA = ledger(A)!.init!.pid;
    const initB = ledger(B)!.init!.pid;
    // NCURSES_NO_UTF8_ACS: draw lines as UTF-8, so capture-pane shows ─ │ rather than ACS letters.
    tmux(
      'new-session', '-d', '-s', 'top', '-x', '160', '-y', '45',
      `NCURSES_NO_UTF8_ACS=1 ${process.execPath} ${CLI} top; echo EXITED $?; sleep 30`,
    );
    let text = await waitFor('top', (t) => t.includes(A) && t.includes(B) && t.includes('PID 1 (host)'), 'the table with both sandboxes');
    expect(text).toMatch(/sandboxes · cgroup (v1|hybrid|v2) · ↑\/↓ select · q quit/);
    expect(text).toContain('CPU % of one CPU, last minute');
    expect(rowOf(text, A)).toContain(String(initA));
    expect(rowOf(text, B)).toContain(String(initB));
    // b's limits are in its row: pids 3 / 20 (sh and two sleeps) and a 64M memory limit.
    expect(text).toMatch(new RegExp(`${B}\\s.*64\\.0M\\s+3 / 20`));

    // It updates: a, held by its 30 % quota, shows a CPU % near 30 once two samples exist.
    text = await waitFor(
      'top',
      (t) => {
        const cpu = Number(rowOf(t, A)?.[3]);
        return cpu >= 15 && cpu <= 40;
      },
      `${A}'s CPU % near its 30 % quota`,
    );
    // The chart's legend names both; the plot itself changes from one refresh to the next.
    const count = (name: string) => text.split(name.slice(0, 16)).length - 1;
    expect(count(A)).toBeGreaterThanOrEqual(2); // its table row and its legend entry
    expect(count(B)).toBeGreaterThanOrEqual(2);
    const before = screen('top');
    await waitFor('top', (t) => t !== before, 'the screen to update');

    // Select b (other people's sandboxes may be listed too): its process tree, with host PIDs and
    // PIDs inside (sh is 1, the sleeps 2 and 3).
    for (let i = 0; i < 30 && !screen('top').includes(`${B}: host PID (PID inside)`); i++) {
      tmux('send-keys', '-t', 'top', 'Down');
      await sleep(250);
    }
    text = await waitFor('top', (t) => t.includes(`${B}: host PID (PID inside)`), `the tree of ${B}`, 5_000);
    expect(text).toContain(`sh(${initB})(1)`);
    expect(text).toMatch(/sleep\(\d+\)\(2\)/);
    expect(text).toMatch(/sleep\(\d+\)\(3\)/);
    expect(text).toMatch(/pids 3 \/ 20/);
    // Above the tree: b's own pressure (v2), or v1's memory counters in its place.
    expect(text).toMatch(
      cgroups().version === 2 ? /\(some avg10 % cpu\/mem\/io\): [\d.]+\/[\d.]+\/[\d.]+/ : /its memory counters: failcnt \d+, under_oom 0, oom_kill 0, pgmajfault \d+/,
    );

    tmux('send-keys', '-t', 'top', 'q');
    text = await waitFor('top', (t) => /EXITED \d+/.test(t), 'top to exit');
    expect(text).toContain('EXITED 0');
    // The terminal is restored: the dashboard's frame is gone from the screen.
    expect(text).not.toContain('CPU % of one CPU');
  });

  it('top --plain prints one snapshot of the table', () => {
    const r = spawnSync(process.execPath, [CLI, 'top', '--plain'], { encoding: 'utf8', timeout: 30_000 });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^sandbox\s+PID 1 \(host\)\s+procs\s+CPU %\s+memory \/ limit\s+pids \/ max\s+made by/m);
    expect(r.stdout).toMatch(new RegExp(`^${A}\\s+${ledger(A)!.init!.pid}\\s+1\\s+\\d`, 'm'));
    expect(r.stdout).toMatch(new RegExp(`^${B}\\s+${ledger(B)!.init!.pid}\\s+3\\s+.*64\\.0M\\s+3 / 20\\s+run`, 'm'));
    // Pressure (PSI): each sandbox's own on v2 (some avg10 of cpu/mem/io, read from its cgroup's
    // *.pressure), none per group on v1, where the host's /proc/pressure is shown and labelled.
    const v2 = cgroups().version === 2;
    expect(r.stdout).toMatch(new RegExp(`^${B}\\s.*\\s${v2 ? '\\d+\\.\\d/\\d+\\.\\d/\\d+\\.\\d' : "– \\(v1: host's below\\)"}$`, 'm'));
    expect(r.stdout).toMatch(
      v2
        ? /^PSI \(some avg10, % of the last 10 s\) the host's \(\/proc\/pressure\); each sandbox's own in its row: cpu [\d.]+ mem [\d.]+ io [\d.]+$/m
        : /^PSI \(some avg10, % of the last 10 s\) cgroup v1 keeps no pressure per sandbox: the host's \(\/proc\/pressure\): cpu [\d.]+ mem [\d.]+ io [\d.]+$/m,
    );
  });
});
