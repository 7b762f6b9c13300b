/**
 * The REPL screen rendered into a fake terminal (ink-testing-library): the prompt, keys, Tab
 * completion, history, errors, the side pane and leaving. Uses a real session for commands that
 * touch no kernel object (help, create, list), so it runs without root.
 */
import { render } from 'ink-testing-library';
import { afterEach, describe, expect, it, vi } from 'vitest';

import { History } from '../../src/repl/history.js';
import { ReplSession, type SessionSample } from '../../src/repl/session.js';
import { cleanText, ReplController } from '../../src/tui/repl/controller.js';
import { ReplScreen } from '../../src/tui/repl/ReplScreen.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let unmounts: (() => void)[] = [];
afterEach(() => {
  for (const u of unmounts) u();
  unmounts = [];
});

function setup(size = { columns: 120, rows: 30 }, history: string[] = []) {
  const session = new ReplSession();
  const exit = vi.fn();
  const controller = new ReplController(session, new History(history), { exit });
  const r = render(<ReplScreen controller={controller} size={size} sampleMs={60_000} />);
  unmounts.push(r.unmount);
  // eslint-disable-next-line no-control-regex
  const frame = () => (r.lastFrame() ?? '').replace(/\x1b\[[0-9;]*m/g, '');
  const type = async (...chunks: string[]) => {
    for (const c of chunks) {
      r.stdin.write(c);
      await sleep(15);
    }
    await sleep(30);
  };
  return { session, controller, exit, frame, type };
}

const ENTER = '\r';
const TAB = '\t';
const UP = '\x1b[A';
const CTRL_C = '\x03';
const CTRL_D = '\x04';

describe('the REPL screen', () => {
  it('shows the welcome, the side pane and an empty prompt', async () => {
    const { frame } = setup();
    await sleep(30);
    expect(frame()).toContain('sandbox repl: create, start, exec');
    expect(frame()).toContain('Sandboxes');
    expect(frame()).toContain('none yet: create NAME');
    expect(frame().split('\n').at(-1)).toMatch(/^sandbox>/);
    expect(frame().split('\n')).toHaveLength(29); // one row less than the terminal: no full-screen clears
  });

  it('runs a typed line and shows the result in the transcript', async () => {
    // help lists every command and every setting (about 55 rows since the io, burst and memory-high settings).
    const { frame, type } = setup({ columns: 120, rows: 64 });
    await type('help', ENTER);
    expect(frame()).toContain('sandbox> help');
    expect(frame()).toContain('Commands (the lifecycle of vzctl');
  });

  it('create appears in the side pane; list shows it', async () => {
    const { frame, type, controller } = setup();
    await type('create web --pid --uts pids=20', ENTER);
    controller.refresh();
    await sleep(30);
    expect(frame()).toContain('created web (nothing runs yet');
    expect(frame()).toMatch(/web\s+created\s+pids=20/);
    await type('list', ENTER);
    expect(frame()).toMatch(/web\s+created\s+-\s+pid,uts/);
  });

  it('a bad line shows the error and the usage, and changes nothing', async () => {
    const { frame, type, session } = setup();
    await type('create Bad --pid', ENTER);
    expect(frame()).toContain('error: create: "Bad" is not a valid sandbox name');
    expect(frame()).toContain('usage: create NAME');
    expect(session.names().all).toEqual([]);
  });

  it('Tab completes a command, and lists candidates when there are several', async () => {
    const { frame, type, controller } = setup();
    await type('cre', TAB);
    expect(controller.input).toBe('create ');
    await type('x --pi', TAB);
    expect(controller.input).toBe('create x --pid');
    expect(frame()).toMatch(/--pid\s+--pids/);
  });

  it('keys that arrive in one chunk are still keys (Tab and Enter inside typed text)', async () => {
    const { frame, type, controller } = setup();
    await type(`cre${TAB}box${ENTER}`);
    expect(frame()).toContain('created box');
    expect(controller.input).toBe('');
  });

  it('a pasted block runs line by line', async () => {
    const { frame, type } = setup();
    await type('create p1\ncreate p2\nlist\n');
    await sleep(50);
    expect(frame()).toMatch(/p1\s+created/);
    expect(frame()).toMatch(/p2\s+created/);
  });

  it('Up recalls history (kept from earlier runs)', async () => {
    const { type, controller } = setup(undefined, ['inspect old']);
    await type(UP);
    expect(controller.input).toBe('inspect old');
    await type(CTRL_C);
    expect(controller.input).toBe('');
  });

  it('Ctrl-C clears a line; at an empty prompt it leaves, as Ctrl-D does', async () => {
    const a = setup();
    await a.type('some text', CTRL_C);
    expect(a.exit).not.toHaveBeenCalled();
    await a.type(CTRL_C);
    expect(a.exit).toHaveBeenCalledWith('Ctrl-C');
    const b = setup();
    await b.type('x', CTRL_D); // Ctrl-D with text deletes, like readline
    expect(b.exit).not.toHaveBeenCalled();
    await b.type('\x7f', CTRL_D);
    expect(b.exit).toHaveBeenCalledWith('Ctrl-D');
  });

  it('exit leaves', async () => {
    const { type, exit } = setup();
    await type('exit', ENTER);
    expect(exit).toHaveBeenCalledWith('exit');
  });

  it('draws a sample: usage and the process tree', async () => {
    const { controller, frame } = setup();
    await sleep(30); // after the screen's first sample
    const sample: SessionSample = {
      taken: 0,
      sandboxes: [
        { name: 'a', state: 'running', pid: 4711, cpuPercent: 24.6, memoryBytes: 1.5 * 1024 * 1024, memoryLimit: 64 * 1024 * 1024, pidsCurrent: 2, pidsMax: 50, limits: 'cpu-weight=25' },
        { name: 'b', state: 'stopped', pid: null, cpuPercent: null, memoryBytes: null, memoryLimit: null, pidsCurrent: null, pidsMax: null, limits: '' },
      ],
      tree: {
        kind: 'tree',
        roots: [
          {
            hostPid: 100,
            nspid: [100],
            comm: 'node',
            state: 'S',
            ns: -1,
            sandbox: null,
            children: [{ hostPid: 4711, nspid: [4711, 1], comm: 'sandbox-pause', state: 'S', ns: 0, sandbox: 'a', children: [] }],
          },
        ],
        namespaces: [{ inode: 4026532801, label: 'a pid:[4026532801]' }],
        hidden: 0,
      },
    };
    controller.sample = sample;
    controller.append('', 'info');
    await sleep(30);
    expect(frame()).toMatch(/a\s+running\s+pid 4711 cpu-weight=25/);
    expect(frame()).toContain('cpu 25%  mem 1536K/64M  pids 2/50');
    expect(frame()).toMatch(/b\s+stopped/);
    expect(frame()).toMatch(/└─ sandbox-pause\(4711\)\(1\) a/);
  });

  it('leaves the side pane out on a narrow terminal', async () => {
    const { frame } = setup({ columns: 80, rows: 20 });
    await sleep(30);
    expect(frame()).not.toContain('Sandboxes');
  });

  it('never draws control characters from command output', () => {
    expect(cleanText('\x1b[31mred\x1b[0m\ttab\x07bell')).toBe('red     tab\\x07bell');
  });
});
