/**
 * The `sandbox top` dashboard (blessed-contrib): a table of every sandbox on the host, a CPU line
 * chart with one line per sandbox, gauges for the selected one (memory, pids, CPU against their
 * limits) and its process tree with host and namespace PIDs. ↑/↓ select, q quits. It renders what
 * TopModel reads; it never reads the kernel itself.
 *
 * blessed and blessed-contrib are CommonJS and take a while to load: they are required here, on
 * first use, so `sandbox --help` and `sandbox top --plain` never load them.
 */
import { createRequire } from 'node:module';

import { formatMiB, hostPressureLine, pressureCell, rowCells, v1MemoryLine, TOP_COLUMNS, type TopRow, type TopSnapshot, TopModel, treeLabel } from '../../top/model.js';

const REFRESH_MS = 500;
/** How much CPU history the chart shows (points at REFRESH_MS). */
const CHART_POINTS = 120;
const COLORS = ['cyan', 'magenta', 'yellow', 'green', 'blue', 'red', 'white'];

/* Minimal shapes of the blessed widgets used (the packages ship no usable types). */
interface Widget {
  setContent(s: string): void;
  setLabel(s: string): void;
}
interface TableWidget extends Widget {
  setData(d: { headers: string[]; data: string[][] }): void;
  options: { columnWidth: number[] };
  width: number;
  rows: { select(i: number): void };
}
interface LineWidget extends Widget {
  setData(d: { title: string; x: string[]; y: number[]; style: { line: string } }[]): void;
}
interface GaugeWidget extends Widget {
  setPercent(p: number): void;
}
interface Screen {
  key(keys: string[], fn: () => void): void;
  on(ev: string, fn: () => void): void;
  render(): void;
  destroy(): void;
  width: number;
}

/** blessed-contrib's gauge reads values below 1.001 as fractions: 0.5 would draw 50 %. */
function gaugePercent(p: number): number {
  const r = Math.max(0, Math.min(100, Math.round(p)));
  return r === 1 ? 1.01 : r < 1 ? 0 : r;
}

/**
 * Column widths that fit the headers and the data, squeezed (the "made by" column first) into the
 * table's share of the screen.
 */
function columnWidths(rows: string[][], available: number): number[] {
  const widths = TOP_COLUMNS.map((h, i) => Math.min(24, Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length))));
  const spacing = 2 * widths.length;
  let over = widths.reduce((s, x) => s + x, 0) + spacing - available;
  for (let i = widths.length - 1; i >= 0 && over > 0; i--) {
    const cut = Math.min(over, widths[i] - 5);
    if (cut > 0) {
      widths[i] -= cut;
      over -= cut;
    }
  }
  return widths;
}

export async function runDashboard(): Promise<number> {
  const require = createRequire(import.meta.url);
  const blessed = require('blessed');
  const contrib = require('blessed-contrib');

  // forceUnicode: draw borders and the tree with Unicode lines, not the terminal's ACS charset.
  const screen: Screen = blessed.screen({ smartCSR: true, title: 'sandbox top', fullUnicode: true, forceUnicode: true, autoPadding: true });
  const grid = new contrib.grid({ rows: 12, cols: 12, screen });
  const table: TableWidget = grid.set(0, 0, 6, 7, contrib.table, {
    keys: false,
    interactive: true,
    label: ' sandboxes ',
    fg: 'white',
    selectedFg: 'black',
    selectedBg: 'cyan',
    columnSpacing: 2,
    columnWidth: TOP_COLUMNS.map((h) => h.length),
  });
  const chart: LineWidget = grid.set(0, 7, 6, 5, contrib.line, {
    label: ' CPU % of one CPU, last minute ',
    showLegend: true,
    legend: { width: 18 },
    minY: 0,
    wholeNumbersOnly: true,
    xLabelPadding: 3,
    xPadding: 5,
    style: { text: 'white', baseline: 'white' },
  });
  const gMem: GaugeWidget = grid.set(6, 0, 2, 4, contrib.gauge, { label: ' memory ', stroke: 'green', fill: 'white' });
  const gPids: GaugeWidget = grid.set(8, 0, 2, 4, contrib.gauge, { label: ' pids ', stroke: 'yellow', fill: 'white' });
  const gCpu: GaugeWidget = grid.set(10, 0, 2, 4, contrib.gauge, { label: ' CPU ', stroke: 'cyan', fill: 'white' });
  const tree: Widget = grid.set(6, 4, 6, 8, blessed.box, {
    label: ' processes ',
    tags: false,
    scrollable: true,
    alwaysScroll: true,
    style: { fg: 'white' },
  });

  const model = new TopModel(REFRESH_MS, CHART_POINTS);
  let selected = 0;
  let snap: TopSnapshot | null = null;

  const draw = () => {
    if (!snap) return;
    const rows = snap.rows;
    if (selected >= rows.length) selected = Math.max(0, rows.length - 1);
    table.setLabel(` ${rows.length} sandbox${rows.length === 1 ? '' : 'es'} · cgroup ${snap.layout} · ↑/↓ select · q quit `);
    const cells = rows.length ? rows.map(rowCells) : [['(no sandboxes on this host)', ...TOP_COLUMNS.slice(1).map(() => '')]];
    table.options.columnWidth = columnWidths(cells, table.width - 4);
    table.setData({ headers: TOP_COLUMNS, data: cells });
    if (rows.length) table.rows.select(selected);

    const series = rows.map((r, i) => {
      const ys = (snap!.cpuSeries.get(r.name) ?? []).slice(-CHART_POINTS).map((v) => Math.max(0, Number(v.toFixed(1))));
      const n = ys.length;
      const x = ys.map((_, k) => `${(((k - n + 1) * REFRESH_MS) / 1000).toFixed(0)}s`);
      return { title: r.name.slice(0, 16), x: x.length ? x : ['0s'], y: ys.length ? ys : [0], style: { line: COLORS[i % COLORS.length] } };
    });
    chart.setData(series.length ? series : [{ title: '(none)', x: ['0s'], y: [0], style: { line: 'white' } }]);

    const r: TopRow | undefined = rows[selected];
    if (r) {
      gMem.setLabel(` memory ${formatMiB(r.memoryBytes)} / ${r.memoryLimit === null ? 'no limit' : formatMiB(r.memoryLimit)} `);
      gMem.setPercent(gaugePercent(r.memoryLimit && r.memoryBytes !== null ? (r.memoryBytes / r.memoryLimit) * 100 : 0));
      gPids.setLabel(` pids ${r.pidsCurrent ?? '–'} / ${r.pidsMax ?? 'no limit'} `);
      gPids.setPercent(gaugePercent(r.pidsMax && r.pidsCurrent !== null ? (r.pidsCurrent / r.pidsMax) * 100 : 0));
      const cap = r.cpuQuota ?? 100;
      gCpu.setLabel(` CPU ${r.cpuPercent === null ? '…' : r.cpuPercent.toFixed(1)} % of ${r.cpuQuota === null ? 'one CPU' : `its ${r.cpuQuota} % quota`} `);
      gCpu.setPercent(gaugePercent(r.cpuPercent === null ? 0 : (r.cpuPercent / cap) * 100));
      const psi = r.pressure
        ? [`PSI of ${r.name} (some avg10 % cpu/mem/io): ${pressureCell(r.pressure)}`]
        : [hostPressureLine(snap.pressure), ...(r.v1Memory ? [v1MemoryLine(r.v1Memory)] : [])];
      const lines = [...psi, '', ...model.tree(r.name).map(treeLabel)];
      tree.setLabel(` ${r.name}: host PID (PID inside) · ${r.namespaces.join(',') || 'no namespaces'} `);
      tree.setContent(lines.length > psi.length + 1 ? lines.join('\n') : `${psi.join('\n')}\n\n(no processes)`);
    } else {
      for (const g of [gMem, gPids, gCpu]) g.setPercent(0);
      tree.setLabel(' processes ');
      tree.setContent(hostPressureLine(snap.pressure) + '\n\nStart one in another terminal, e.g.\n  sudo sandbox run --cpu-quota 30 -- sh -c "while :; do :; done"');
    }
    screen.render();
  };

  const tick = () => {
    try {
      snap = model.refresh();
    } catch {
      /* a sandbox vanished mid-read: the next tick sees the new state */
    }
    draw();
  };

  return new Promise<number>((resolve) => {
    let timer: NodeJS.Timeout | null = null;
    const quit = () => {
      if (timer) clearInterval(timer);
      timer = null;
      screen.destroy();
      resolve(0);
    };
    screen.key(['q', 'C-c', 'escape'], quit);
    screen.key(['up', 'k'], () => {
      selected = Math.max(0, selected - 1);
      draw();
    });
    screen.key(['down', 'j'], () => {
      selected = Math.min(Math.max(0, (snap?.rows.length ?? 1) - 1), selected + 1);
      draw();
    });
    screen.on('resize', draw);
    tick();
    timer = setInterval(tick, REFRESH_MS);
  });
}
