/** The terminal UI's components, rendered into a fake terminal (ink-testing-library): unstyled frames. */
import { render } from 'ink-testing-library';
import { describe, expect, it } from 'vitest';

import type { CheckResult, ChartView, GaugesView, TableView } from '../../src/lessons/types.js';
import { SandboxError } from '../../src/runtime/errors.js';
import {
  ActionLog,
  CheckPanel,
  ErrorBanner,
  Header,
  KeyHelp,
  LessonList,
  LiveView,
  PidTable,
  ProcessTree,
  TooSmall,
} from '../../src/tui/components/index.js';
import { NsPalette } from '../../src/tui/palette.js';
import { frameLines, plain, treeFixture } from './fixtures.js';

describe('ProcessTree', () => {
  it('shows host PID and namespace PIDs side by side, each row tagged with its namespace', () => {
    const out = plain(render(<ProcessTree view={treeFixture()} width={100} />).lastFrame());
    expect(out).toContain(`node(${process.pid})  sandbox itself`);
    expect(out).toMatch(/├─ sleep\(4711\)\(1\) a$/m);
    expect(out).toMatch(/└─ sleep\(4713\)\(2\) a$/m);
    expect(out).toMatch(/sh\(4720\)\(1\) b$/m);
  });

  it('shows a nested chain with a PID at every level, and the namespace boundaries as nested bars', () => {
    const lines = frameLines(render(<ProcessTree view={treeFixture()} width={100} />).lastFrame());
    const deep = lines.find((l) => l.includes('sleep(28935)(4)(3)(1)'));
    expect(deep).toBeDefined();
    // three PID namespace levels below the host: three bars in the gutter, then its letter
    expect(deep).toMatch(/^▌▌▌ .*sleep\(28935\)\(4\)\(3\)\(1\) c\/3$/);
    expect(lines.find((l) => l.includes('unshare(28931)(2)(1)'))).toMatch(/ c\/2$/);
    expect(lines.find((l) => l.includes('unshare(28931)(2)(1)'))).toMatch(/^▌▌ /);
    expect(lines.find((l) => l.includes('sleep(4711)(1)'))).toMatch(/^▌  /);
    // host processes (this program, the exec supervisor) have no bar
    expect(lines.find((l) => l.includes('sandbox-init(4712)'))).toMatch(/^ {4}/);
  });

  it('has a legend of the PID namespaces and counts the host processes it leaves out', () => {
    const out = plain(render(<ProcessTree view={treeFixture(371)} width={100} />).lastFrame());
    expect(out).toMatch(/PID namespaces: ▌a pidns-a pid:\[4026532181\] ▌b pidns-b pid:\[4026532180\]/);
    expect(out).toContain('▌c/3 pidns-c (level 3) pid:[4026532186]');
    expect(out).toContain('+ 371 other processes on this host (not shown)');
  });

  it('keeps a namespace\'s colour when others come and go (a shared palette), and its tag', () => {
    const palette = new NsPalette();
    render(<ProcessTree view={treeFixture()} width={100} palette={palette} />);
    const colourOfB = palette.style(4026532180).color;
    const later = treeFixture();
    later.namespaces = later.namespaces.slice(1); // pidns-a has ended: b's index is now 0
    later.roots[0].children = later.roots[0].children.slice(2).map((r) => ({ ...r, ns: r.ns - 1, children: r.children.map((c) => ({ ...c, ns: c.ns - 1 })) }));
    const out = plain(render(<ProcessTree view={later} width={100} palette={palette} />).lastFrame());
    expect(out).toMatch(/sh\(4720\)\(1\) b$/m);
    expect(palette.style(4026532180).color).toBe(colourOfB);
    expect(palette.style(4026532181).color).not.toBe(colourOfB);
  });

  it('tags a lone sandbox by the short name it is given (the lesson\'s key)', () => {
    const view = treeFixture();
    view.namespaces = view.namespaces.slice(0, 1);
    view.roots[0].children = view.roots[0].children.slice(0, 1);
    expect(plain(render(<ProcessTree view={view} width={100} />).lastFrame())).toMatch(/sleep\(4711\)\(1\) pidns-a$/m);
    const out = plain(render(<ProcessTree view={view} width={100} names={{ 'pidns-a': 'a' }} />).lastFrame());
    expect(out).toMatch(/sleep\(4711\)\(1\) a$/m);
    expect(out).toContain('PID namespaces: ▌a pidns-a pid:[4026532181]');
  });

  it('tags namespaces without a sandbox with a letter', () => {
    const view = treeFixture();
    view.namespaces = view.namespaces.map((n) => ({ ...n, label: `pid:[${n.inode}]` }));
    expect(plain(render(<ProcessTree view={view} width={100} />).lastFrame())).toMatch(/sleep\(28935\)\(4\)\(3\)\(1\) e$/m);
  });

  it('fits in the rows it is given: this program and the newest processes, then a one-line legend', () => {
    const lines = frameLines(render(<ProcessTree view={treeFixture()} width={80} maxRows={6} />).lastFrame());
    expect(lines).toHaveLength(6);
    expect(lines[0]).toContain(`node(${process.pid})`);
    expect(lines[1]).toBe('… 7 more processes above (v: whole view)');
    expect(lines[4]).toContain('sleep(28935)(4)(3)(1) c/3');
    expect(lines[5]).toBe('PID namespaces: ▌a ▌b ▌c ▌c/2 ▌c/3');
  });
});

describe('PidTable', () => {
  const table: TableView = {
    kind: 'table',
    columns: ['process', 'sandbox', 'host PID', 'level 1', 'level 2', 'level 3'],
    rows: [
      ['sleep', 'pidns-a', '4711', '1', '', ''],
      ['unshare', 'pidns-c', '28931', '2', '1', ''],
      ['sleep', 'pidns-c', '28935', '4', '3', '1'],
    ],
    highlight: [2],
    caption: 'the same process, numbered once per PID namespace it is in',
  };

  it('maps each host PID to its PID at every level, numbers right-aligned', () => {
    const lines = frameLines(render(<PidTable view={table} width={100} />).lastFrame());
    expect(lines[0]).toBe('process  sandbox  host PID  level 1  level 2  level 3');
    expect(lines[1]).toMatch(/^─+ {2}─+/);
    expect(lines[2]).toBe('sleep    pidns-a      4711        1');
    expect(lines[4]).toBe('sleep    pidns-c     28935        4        3        1 ◀');
    expect(lines[5]).toContain('numbered once per PID namespace');
  });

  it('says when there are no rows, and cuts rows to fit', () => {
    expect(plain(render(<PidTable view={{ ...table, rows: [], highlight: [] }} width={80} />).lastFrame())).toContain('(none yet)');
    const lines = frameLines(render(<PidTable view={table} width={80} maxRows={4} />).lastFrame());
    expect(lines).toHaveLength(4);
    expect(lines[3]).toContain('… 2 more rows');
  });
});

describe('PidTable: nothing is cut', () => {
  // The mount lesson's table at the width of the right column at 120 columns (58).
  const mounts: TableView = {
    kind: 'table',
    columns: ['mount point', 'host', 'sandbox b'],
    rows: [
      ['WS/private/from-host', 'tmpfs host-private shared:28', '—'],
      ['WS/shared/from-host', 'tmpfs host-shared shared:26', 'tmpfs host-shared shared:26'],
      ['WS/slave/from-host', 'tmpfs host-slave shared:27', 'tmpfs host-slave master:27'],
    ],
    highlight: [0],
    caption: 'from /proc/self/mountinfo and /proc/PID/mountinfo',
  };

  it('wraps a cell that does not fit inside its column, words (master:27) whole, no …', () => {
    const lines = frameLines(render(<PidTable view={mounts} width={58} />).lastFrame());
    const out = lines.join('\n');
    for (const l of lines) expect([...l].length).toBeLessThanOrEqual(58);
    expect(out).not.toContain('…');
    for (const word of ['master:27', 'shared:26', 'shared:27', 'shared:28', 'host-private', 'WS/private/from-host']) expect(out).toContain(word);
    // every column's header is on the first line, and a row takes two lines
    expect(lines[0]).toMatch(/^mount point +host +sandbox b/);
    // the row of WS/slave/from-host takes more than one line; its cells stay in their columns
    const slave = lines.findIndex((l) => l.startsWith('WS/slave/from-host'));
    expect(lines[slave + 1]).toMatch(/^ {20,}\S/);
    const sbCol = lines[0].indexOf('sandbox b');
    expect(lines.slice(slave).some((l) => l.indexOf('master:27') === sbCol)).toBe(true);
    expect(lines.find((l) => l.startsWith('WS/private/from-host'))).toMatch(/◀$/);
  });

  it('at 80×24 widths too (a column of 36): still every token whole', () => {
    const out = plain(render(<PidTable view={mounts} width={36} />).lastFrame());
    expect(out).not.toContain('…');
    for (const word of ['master:27', 'shared:26', 'shared:28', 'WS/slave']) expect(out).toContain(word);
  });

  it('short of rows: whole rows, the highlighted one first, and where to see the rest', () => {
    const view: TableView = {
      kind: 'table',
      columns: ['', 'host', 'sandbox a'],
      rows: [
        ['hostname', 'vm', 'alpha'],
        ['UTS namespace', 'uts:[4026531838]', 'uts:[4026532203]'],
        ['IPC namespace', 'ipc:[4026531839]', 'ipc:[4026532204]'],
        ['shm segments', 'none', '0x16a94535 (4096 B)'],
      ],
      highlight: [3],
    };
    const lines = frameLines(render(<PidTable view={view} width={60} maxRows={5} />).lastFrame());
    expect(lines).toHaveLength(5);
    expect(lines.join('\n')).toMatch(/shm segments +none +0x16a94535 \(4096 B\) ◀/);
    expect(lines[4]).toBe('… 2 more rows (v: all rows)');
  });
});

describe('Gauges and trees: labels and PIDs are never cut', () => {
  const bomb: GaugesView = {
    kind: 'gauges',
    gauges: [
      { label: 'pids.current', value: 64, max: 64, unit: '' },
      { label: 'refused forks (pids.events max)', value: 18231, max: null, unit: '' },
    ],
  };

  it('a long gauge label stays whole beside its bar when it fits, on its own line when not', () => {
    for (const width of [58, 78, 118]) {
      const out = plain(render(<LiveView title="the bomb" data={bomb} width={width} />).lastFrame());
      expect(out).toContain('refused forks (pids.events max)');
      expect(out).toMatch(/18231 \(no limit\)/);
      expect(out).not.toContain('…');
    }
    const narrow = frameLines(render(<LiveView title="the bomb" data={bomb} width={40} />).lastFrame());
    expect(narrow).toContain('refused forks (pids.events max)');
    expect(narrow[narrow.indexOf('refused forks (pids.events max)') + 1]).toMatch(/^ +░+ 18231 \(no limit\)$/);
  });

  it('a tree row too wide loses letters of the command name, never its PIDs or tag', () => {
    const view = treeFixture();
    const lines = frameLines(render(<ProcessTree view={view} width={36} />).lastFrame());
    const deep = lines.find((l) => l.includes('(28935)(4)(3)(1)'));
    expect(deep).toMatch(/ sl…\(28935\)\(4\)\(3\)\(1\) c\/3$/);
    expect(lines.find((l) => l.includes('(4711)'))).toMatch(/sleep\(4711\)\(1\) a$/);
    for (const l of lines) expect([...l].length).toBeLessThanOrEqual(36);
  });

  it('a view title too long for its row wraps instead of being cut', () => {
    const title = "Mount table: the host's and sandbox b's (/proc/PID/mountinfo)";
    const lines = frameLines(render(<LiveView title={title} data={{ kind: 'text', lines: ['x'] }} width={40} />).lastFrame());
    expect(lines.slice(0, 2).join(' ')).toMatch(/^── Mount table: the host's and sandbox +b's \(\/proc\/PID\/mountinfo\) ● live ─+$/);
    expect(lines.join('\n')).not.toContain('…');
  });
});

describe('CheckPanel', () => {
  const results: CheckResult[] = [
    { label: "the sandbox's first process is PID 1", probe: 'grep NSpid /proc/4711/status', expected: '4711 1', actual: '4711 1', pass: true },
    { label: 'it lives in a new PID namespace', probe: 'readlink /proc/4711/ns/pid', expected: 'not pid:[4026531836]', actual: 'pid:[4026531836]', pass: false },
  ];

  it('shows each check with ✓ or ✗, its probe, and expected vs actual', () => {
    const out = plain(render(<CheckPanel results={results} width={100} />).lastFrame());
    expect(out).toMatch(/── Checks against the kernel 1\/2 passed ─+/);
    expect(out).toContain("✓ the sandbox's first process is PID 1");
    expect(out).toContain('✗ it lives in a new PID namespace');
    expect(out).toMatch(/probe +grep NSpid \/proc\/4711\/status/);
    expect(out).toMatch(/expected +not pid:\[4026531836\]\n +actual +pid:\[4026531836\]/);
  });

  it('when short of rows, keeps failed checks whole and passed ones to a line', () => {
    const lines = frameLines(render(<CheckPanel results={results} width={100} maxRows={6} />).lastFrame());
    expect(lines).toHaveLength(6);
    expect(lines[1]).toBe("✓ the sandbox's first process is PID 1");
    expect(lines[2]).toBe('✗ it lives in a new PID namespace');
    expect(lines[5]).toMatch(/actual +pid:\[4026531836\]/);
  });

  it('given more rows than one line each, fills them: passed checks in full, in order, then whole labels', () => {
    const three: CheckResult[] = [0, 1, 2].map((i) => ({
      label: `check ${i} with a label long enough to need two lines at this width`,
      probe: `probe ${i}`,
      expected: 'x',
      actual: 'x',
      pass: true,
    }));
    // full: 1 title + 3×(2+3) = 16 rows; compact: 4. With 13 rows: two in full, the third's label whole.
    const lines = frameLines(render(<CheckPanel results={three} width={50} maxRows={13} />).lastFrame());
    expect(lines).toHaveLength(13);
    expect(lines.filter((l) => /probe +probe/.test(l))).toHaveLength(2);
    expect(lines.join('\n')).not.toContain('…');
    expect(lines.join(' ').replace(/\s+/g, ' ')).toContain('✓ check 2 with a label long enough to need two lines at this width');
  });

  it('says so while the checks run', () => {
    expect(plain(render(<CheckPanel results={null} pending width={80} />).lastFrame())).toMatch(/running…[\s\S]*reading \/proc and \/sys/);
  });
});

describe('ErrorBanner', () => {
  it('an actionable error: the message and what to try next', () => {
    const err = new SandboxError('the lesson "PID namespaces" cannot run on this host', { code: 'E_REQUIREMENTS', hint: '• it needs root: run it with sudo' });
    const out = plain(render(<ErrorBanner error={err} width={80} />).lastFrame());
    expect(out).toMatch(/^╭─ ⚠ Something to fix first ─+╮$/m);
    expect(out).toContain('│ the lesson "PID namespaces" cannot run on this host');
    expect(out).toContain('→ try: • it needs root: run it with sudo');
    expect(out).not.toContain('bug');
  });

  it('a bug: says it is a bug in sandbox, asks for a report, and gives the details', () => {
    const err = new SandboxError('lesson x is malformed: step 1 (a): no hint', { code: 'E_BUG', actionable: false, step: 'load', path: '/x/prose.md' });
    const out = plain(render(<ErrorBanner error={err} width={80} />).lastFrame());
    expect(out).toMatch(/^╭─ ✗ Bug in sandbox ─+╮$/m);
    expect(out).toContain('This is a bug in sandbox, not something you did. Please report it');
    expect(out).toContain('code E_BUG · step load · path /x/prose.md');
  });

  it('anything that is not a SandboxError is a bug', () => {
    expect(plain(render(<ErrorBanner error={new TypeError('x is undefined')} width={80} />).lastFrame())).toContain('Bug in sandbox');
  });

  it('every row is exactly as wide as asked (a closed box)', () => {
    const lines = frameLines(render(<ErrorBanner error={new SandboxError('short', { code: 'EPERM', hint: 'do this' })} width={60} />).lastFrame());
    for (const l of lines) expect([...l].length).toBe(60);
  });
});

describe('LiveView', () => {
  it('draws a chart: series converging on their targets, an axis, and a legend', () => {
    const view: ChartView = {
      kind: 'chart',
      series: [
        { name: 'sandbox a', values: [50, 40, 32, 28, 26, 25, 25], target: 25 },
        { name: 'sandbox b', values: [50, 60, 68, 72, 74, 75, 75], target: 75 },
      ],
      min: 0,
      max: 100,
      unit: '%',
      caption: 'CPU share, one core',
    };
    const out = plain(render(<LiveView title="CPU per sandbox" data={view} width={80} maxRows={14} />).lastFrame());
    const lines = out.split('\n');
    expect(lines[0]).toMatch(/^── CPU per sandbox ● live ─+$/);
    expect(lines[1]).toMatch(/^100% ┤/);
    expect(out).toMatch(/^ {2}0% ┼/m);
    expect(out).toMatch(/[─╭╮╰╯]/);
    expect(out).toContain('┈');
    expect(out).toContain('━━ sandbox a  25%  → target 25%');
    expect(out).toContain('━━ sandbox b  75%  → target 75%');
    expect(out).toContain('CPU share, one core');
    expect(lines.length).toBeLessThanOrEqual(14);
  });

  it('draws gauges: a bar against the limit, the numbers, no-limit, a note', () => {
    const view: GaugesView = {
      kind: 'gauges',
      gauges: [
        { label: 'memory.current', value: 60, max: 64, unit: 'MB', note: 'near the limit' },
        { label: 'pids.current', value: 10, max: 50, unit: '' },
        { label: 'host memory', value: 512, max: null, unit: 'MB' },
      ],
      caption: 'read from memory.current and pids.current',
    };
    const out = plain(render(<LiveView title="Usage" data={view} width={80} />).lastFrame());
    expect(out).toMatch(/memory\.current +█+░* 60MB \/ 64MB {2}near the limit/);
    expect(out).toMatch(/pids\.current +█+░+ 10 \/ 50/);
    expect(out).toMatch(/host memory +░+ 512MB \(no limit\)/);
    expect(out).toContain('read from memory.current');
  });

  it('draws a tree, a table and text by kind; says when a sample failed', () => {
    expect(plain(render(<LiveView title="t" data={treeFixture()} width={80} />).lastFrame())).toContain('sleep(4711)(1) a');
    expect(plain(render(<LiveView title="t" data={{ kind: 'text', lines: ['hello', 'world'] }} width={80} />).lastFrame())).toMatch(/hello\nworld/);
    expect(plain(render(<LiveView title="t" data={null} error="ENOENT /proc/4711" width={80} />).lastFrame())).toContain('the view could not be read: ENOENT /proc/4711');
    expect(plain(render(<LiveView title="t" data={treeFixture()} note="after step 2" width={80} />).lastFrame())).toMatch(/── t \(after step 2\) ─/);
  });
});

describe('KeyHelp', () => {
  const keys = [
    { key: 'enter', label: 'next', essential: true },
    { key: 'b', label: 'back' },
    { key: 'h', label: 'hint' },
    { key: 'v', label: 'view' },
    { key: 'q', label: 'quit', essential: true },
    { key: '?', label: 'keys', essential: true },
  ];

  it('lists the keys that work now', () => {
    expect(plain(render(<KeyHelp keys={keys} width={80} />).lastFrame())).toBe(' enter next · b back · h hint · v view · q quit · ? keys');
  });

  it('on a narrow line drops the optional keys, never quit or help', () => {
    expect(plain(render(<KeyHelp keys={keys} width={40} />).lastFrame())).toBe(' enter next · b back · q quit · ? keys');
  });
});

describe('the rest', () => {
  it('Header: lesson, step k/N and a progress bar, then the step title', () => {
    const lines = frameLines(
      render(<Header lesson="PID namespaces" step={2} marks={['done', 'done', 'current', 'todo']} title="Step 3: Two sandboxes" width={80} />).lastFrame(),
    );
    // right-aligned (Ink trims the trailing space)
    expect(lines[0]).toMatch(/^ sandbox learn {2}PID namespaces +step 3\/4 {2}■■▣□$/);
    expect(lines[0]).toHaveLength(79);
    expect(lines[1]).toBe(' Step 3: Two sandboxes');
  });

  it('ActionLog: the command, the syscall under it, the output with its spacing kept', () => {
    const out = plain(
      render(
        <ActionLog
          entries={[{ command: 'nsenter --target 4711 --all -- ps -eo pid,comm', syscall: 'setns(pidfd of 4711, pid|mount); fork(); execve("ps", …)', output: '    PID COMMAND\n      1 sleep' }]}
          width={100}
        />,
      ).lastFrame(),
    );
    expect(out).toBe('$ nsenter --target 4711 --all -- ps -eo pid,comm\n  ⤷ setns(pidfd of 4711, pid|mount); fork(); execve("ps", …)\n      PID COMMAND\n        1 sleep');
  });

  it('LessonList: each lesson with its status, then the tools', () => {
    const out = plain(
      render(
        <LessonList
          items={[
            { id: 'pid-namespaces', kind: 'lesson', title: 'PID namespaces', summary: 'PID 1 inside', status: 'in progress (step 3)' },
            { id: 'repl', kind: 'tool', title: 'REPL', summary: 'explore freely' },
          ]}
          cursor={0}
          width={80}
        />,
      ).lastFrame(),
    );
    expect(out).toMatch(/^ › 1\. {2}PID namespaces {2}in progress \(step 3\)$/m);
    expect(out).toMatch(/^── Explore on your own ─+$/m);
    expect(out).toMatch(/^ {7}REPL$/m);
  });

  it('LessonList: a long description wraps under its title instead of being cut', () => {
    const summary = 'cgroups decide how much a sandbox can use: cpu.weight shares the CPU, cpu.max caps it, and cpuset pins it to cores';
    const lines = frameLines(render(<LessonList items={[{ id: 'cgroups-cpu', kind: 'lesson', title: 'CPU', summary, status: 'new' }]} cursor={0} width={80} />).lastFrame());
    expect(lines.length).toBeGreaterThan(2);
    expect(lines.slice(1).map((l) => l.trim()).join(' ')).toBe(summary);
    for (const l of lines.slice(1)) expect(l).toMatch(/^ {7}\S/);
  });

  it('TooSmall fits any size', () => {
    const lines = frameLines(render(<TooSmall columns={40} rows={5} minColumns={80} minRows={24} />).lastFrame());
    expect(lines.length).toBeLessThanOrEqual(4);
    expect(lines.join('\n')).toContain('The terminal is 40×5');
    for (const l of lines) expect([...l].length).toBeLessThanOrEqual(40);
  });
});
