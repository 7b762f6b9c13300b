/**
 * The full-screen REPL in a real terminal (tmux, on a private server socket of this test run):
 * `enter` hands the terminal to a shell inside the sandbox and takes it back with the screen
 * intact; every way of leaving destroys every sandbox. Needs root and tmux.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { alive, sleep } from '../helpers/wait.js';
import { isRoot, leftovers } from '../helpers/resources.js';

const CLI = path.resolve(import.meta.dirname, '../../dist/cli.js');
const hasTmux = spawnSync('tmux', ['-V']).status === 0;
const SOCKET = `sbx-repl-test-${process.pid}`;
const STATE = isRoot && hasTmux ? fs.mkdtempSync(path.join(os.tmpdir(), 'sandbox-repl-tmux-')) : '';
const COLUMNS = 140;
const ROWS = 40;
let sessions = 0;

const tmux = (...a: string[]) => execFileSync('tmux', ['-L', SOCKET, ...a], { encoding: 'utf8' });


/** One REPL in its own tmux session; `echo EXITED $?` shows its exit code when it ends. */
class Terminal {
  readonly name = `repl-${++sessions}`;

  constructor() {
    tmux(
      'new-session', '-d', '-s', this.name, '-x', String(COLUMNS), '-y', String(ROWS),
      `env -u CI XDG_STATE_HOME=${STATE} ${process.execPath} ${CLI} repl; echo EXITED $?; sleep 600`,
    );
  }

  screen(): string {
    return tmux('capture-pane', '-p', '-t', this.name);
  }

  /** The transcript column of the REPL screen (left of the side pane). */
  transcript(): string[] {
    return this.screen()
      .split('\n')
      .map((l) => l.split('│')[0].trimEnd());
  }

  async waitFor(what: RegExp | ((screen: string) => boolean), ms = 30_000): Promise<string> {
    const test = typeof what === 'function' ? what : (s: string) => what.test(s);
    const t0 = Date.now();
    for (;;) {
      const s = this.screen();
      if (test(s)) return s;
      if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}; screen:\n${s}`);
      await sleep(100);
    }
  }

  /** Types a line and presses Enter. */
  type(text: string): void {
    tmux('send-keys', '-t', this.name, '-l', text);
    tmux('send-keys', '-t', this.name, 'Enter');
  }

  keys(...keys: string[]): void {
    tmux('send-keys', '-t', this.name, ...keys);
  }

  /** Waits for the REPL prompt with nothing typed and nothing running. */
  async idle(): Promise<void> {
    await this.waitFor((s) => /^sandbox> *$/m.test(s) && !/running: /.test(s));
  }

  /** Runs a REPL line and waits until it is done. */
  async run(line: string): Promise<void> {
    await this.idle();
    this.type(line);
    await this.waitFor((s) => s.includes(`sandbox> ${line}`) && /^sandbox> *$/m.test(s) && !/running: /.test(s));
  }

  kill(): void {
    spawnSync('tmux', ['-L', SOCKET, 'kill-session', '-t', this.name]);
  }
}

function ledgerOwner(name: string): number {
  return JSON.parse(fs.readFileSync(`/run/sandbox/ledger/${name}.json`, 'utf8')).owner.pid;
}

describe.skipIf(!isRoot || !hasTmux)('sandbox repl in a terminal (tmux; needs root)', () => {
  afterAll(() => {
    spawnSync('tmux', ['-L', SOCKET, 'kill-server']); // this run's own server only
    fs.rmSync(STATE, { recursive: true, force: true });
  });

  it('enter: a shell as PID 1 with the sandbox hostname; Ctrl-C stops a sleep in it, not the REPL; exit returns to an intact screen', async () => {
    const before = leftovers();
    const t = new Terminal();
    try {
      await t.run('create tmx-web --pid --mount --uts --hostname webbox pids=50');
      await t.run('list');
      const shown = t.transcript().filter((l) => l.trim() && !l.startsWith('Tab completes') && !/^sandbox> *$/.test(l));
      t.type('enter tmx-web');
      await t.waitFor(/webbox:\/# ?$/m);
      expect(t.screen()).toContain('sandbox repl: entering tmx-web (not running): /bin/sh becomes its PID 1');

      t.type('echo "pid=$$"; hostname');
      let s = await t.waitFor(/^pid=\d+\nwebbox$/m);
      expect(s).toMatch(/^pid=1$/m);

      t.type('sleep 100; echo not-interrupted');
      await t.waitFor(/sleep 100; echo not-interrupted\n/);
      await sleep(300);
      t.keys('C-c');
      t.type('echo "after ctrl-c: $$"');
      s = await t.waitFor(/after ctrl-c: 1$/m);
      expect(s).not.toMatch(/^not-interrupted$/m);

      t.type('exit');
      s = await t.waitFor(/left tmx-web: its PID 1 \(the shell\) ended/);
      await t.idle();
      // The screen is the REPL again, with everything it showed before, then the enter.
      const after = t.transcript();
      const tail = shown.slice(-8);
      const at = after.indexOf(tail[0]);
      expect(at, after.join('\n')).toBeGreaterThanOrEqual(0);
      expect(after.slice(at, at + tail.length)).toEqual(tail);
      expect(after.slice(at + tail.length, at + tail.length + 2)).toEqual(['sandbox> enter tmx-web', expect.stringMatching(/^left tmx-web: its PID 1/)]);
      expect(t.screen()).toContain('Sandboxes');
      expect(t.screen()).toMatch(/tmx-web +stopped/);

      // A running sandbox: the shell joins it and gets the next free PID; the sandbox stays up.
      await t.run('start tmx-web');
      t.type('enter tmx-web');
      await t.waitFor(/entering tmx-web \(running\)[\s\S]*webbox:\/# ?$/m);
      t.type('echo "joined=$$"; hostname');
      s = await t.waitFor(/^joined=\d+\nwebbox$/m);
      expect(s).toMatch(/^joined=2$/m);
      t.keys('C-d');
      await t.waitFor(/left tmx-web: the shell ended \(exit code 0\); tmx-web is still running/);
      await t.run('ps tmx-web');
      expect(t.screen()).toMatch(/^1 +\d+ +0 +S +sandbox-pause/m);

      await t.idle();
      t.type('exit');
      await t.waitFor(/^EXITED 0$/m);
      expect(t.screen()).toMatch(/sandbox repl: exit: destroyed every sandbox it created\n {2}destroyed tmx-web/);
      expect(leftovers().filter((l) => !before.includes(l))).toEqual([]);
    } finally {
      t.kill();
    }
  }, 180_000);

  const ways: [string, (t: Terminal, replPid: number) => void, number | null][] = [
    ['exit', (t) => t.type('exit'), 0],
    ['Ctrl-D', (t) => t.keys('C-d'), 0],
    ['Ctrl-C at an empty prompt', (t) => t.keys('C-c'), 0],
    ['SIGTERM', (_t, pid) => process.kill(pid, 'SIGTERM'), 143],
    ['SIGHUP (the terminal closes)', (t) => t.kill(), null],
  ];
  for (const [how, leave, code] of ways) {
    it(`leaving by ${how} destroys every sandbox it created`, async () => {
      const before = leftovers();
      const t = new Terminal();
      const name = `tmx-${how.split(' ')[0].toLowerCase().replace(/[^a-z]/g, '')}`;
      try {
        await t.run(`create ${name} --pid --mount`);
        await t.run(`start ${name}`);
        await t.run(`exec -d ${name} sh -c 'sleep 300'`);
        await t.run(`create ${name}-2 --pid`);
        await t.run(`start ${name}-2`);
        const repl = ledgerOwner(name);
        expect(alive(repl)).toBe(true);
        await t.idle();
        leave(t, repl);
        const t0 = Date.now();
        while (alive(repl) && Date.now() - t0 < 20_000) await sleep(50);
        expect(alive(repl)).toBe(false);
        if (code !== null) {
          const s = await t.waitFor(/^EXITED \d+$/m);
          expect(s).toMatch(new RegExp(`^EXITED ${code}$`, 'm'));
          expect(s).toContain(`destroyed ${name} in`);
          expect(s).toContain(`destroyed ${name}-2 in`);
        }
        expect(fs.existsSync(`/run/sandbox/ledger/${name}.json`)).toBe(false);
        expect(leftovers().filter((l) => !before.includes(l))).toEqual([]);
      } finally {
        t.kill();
      }
    }, 120_000);
  }
});
