/**
 * `sandbox report [--json] [--only isolation,overhead,density]`: the course's three measured
 * claims on this host, for an instructor's slide: the noisy-neighbour table (measureIsolation,
 * src/runtime/isolation.ts), the cost of a container (measureOverhead, overhead.ts) and
 * containers vs VMs (measureDensity, density.ts), each next to the lectures' 2013 figures, with
 * the machine they were measured on. Markdown tables by default, one JSON object with --json.
 * Everything it creates is removed at the end (and recorded in the ledger meanwhile).
 */
import os from 'node:os';

import {
  claimQuietestCpu,
  cgroups,
  cpuModel,
  createLoopDevice,
  type DensityReport,
  type IsolationRow,
  loopProblem,
  type LoopDevice,
  measureDensity,
  measureIsolation,
  measureOverhead,
  type OverheadRow,
  STRESSOR_LABEL,
  usageError,
} from '../runtime/index.js';

export const REPORT_PARTS = ['isolation', 'overhead', 'density'] as const;
export type ReportPart = (typeof REPORT_PARTS)[number];

export interface Report {
  machine: { kernel: string; cpu: string; cpus: number; memory: string; cgroup: string; date: string };
  isolation?: IsolationRow[] | { error: string };
  overhead?: OverheadRow[] | { error: string };
  density?: DensityReport | { error: string };
}

/** `--only a,b`: the parts, checked; throws a usage error naming the bad one. */
export function parseParts(only: string | undefined): ReportPart[] {
  if (only === undefined) return [...REPORT_PARTS];
  const parts = only.split(',').map((p) => p.trim()).filter(Boolean);
  for (const p of parts) {
    if (!(REPORT_PARTS as readonly string[]).includes(p)) {
      throw usageError(`--only: unknown part "${p.slice(0, 40)}"`, `use one or more of ${REPORT_PARTS.join(', ')}, separated by commas`);
    }
  }
  if (!parts.length) throw usageError('--only: no part given', `use one or more of ${REPORT_PARTS.join(', ')}`);
  return [...new Set(parts)] as ReportPart[];
}

const fix = (x: number | null | undefined, d = 1) => (x === null || x === undefined ? '–' : x.toFixed(d));
const pct = (x: number | null | undefined) => (x === null || x === undefined ? '–' : `${x.toFixed(0)} %`);
const cell = (c: number | 'DNR' | null) => (c === null ? 'n/a' : c === 'DNR' ? 'did not run' : `${c} %`);
const mib = (b: number | null | undefined) => (b === null || b === undefined ? '–' : `${(b / 1048576).toFixed(b < 10 * 1048576 ? 2 : 0)} MiB`);
const esc = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

function table(columns: string[], rows: string[][]): string[] {
  return [`| ${columns.map(esc).join(' | ')} |`, `|${columns.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.map(esc).join(' | ')} |`)];
}

export function markdown(r: Report): string {
  const m = r.machine;
  const out = [`# Containers, measured on this host`, '', `Machine: Linux ${m.kernel}, ${m.cpu} (${m.cpus} CPUs), ${m.memory} RAM, cgroup ${m.cgroup}; ${m.date}.`, ''];
  if (r.isolation) {
    out.push('## Isolation: a noisy neighbour, without and with the limit that isolates', '');
    if ('error' in r.isolation) out.push(`Not measured: ${r.isolation.error}`);
    else {
      out.push(
        ...table(
          ['stressor in B', 'victim degradation, B unlimited', 'B limited', 'limit', 'LXC 2013', 'OpenVZ 2013', 'VServer 2013', 'Xen 2013'],
          r.isolation.map((x) => [
            STRESSOR_LABEL[x.stressor],
            x.skipped ? `skipped: ${x.skipped}` : pct(x.unlimitedPct),
            x.skipped ? '–' : pct(x.limitedPct),
            x.limit,
            cell(x.ref2013.lxc),
            cell(x.ref2013.openvz),
            cell(x.ref2013.vserver),
            cell(x.ref2013.xen),
          ]),
        ),
      );
    }
    out.push('');
  }
  if (r.overhead) {
    out.push('## Overhead: the cost of a container (sandbox ÷ host, one run)', '');
    if ('error' in r.overhead) out.push(`Not measured: ${r.overhead.error}`);
    else {
      out.push(
        ...table(
          ['measure', 'host', 'sandbox', 'ratio', 'unit', 'the lecture'],
          r.overhead.map((x) => [`${x.group}: ${x.label}`, x.skipped ? `skipped: ${x.skipped}` : fix(x.host, 2), fix(x.sandbox, 2), x.ratio === null ? '–' : `${x.ratio.toFixed(2)}×`, x.unit, x.lecture]),
        ),
      );
    }
    out.push('');
  }
  if (r.density) {
    out.push('## Containers vs VMs: start-up and density', '');
    const d = r.density;
    if ('error' in d) out.push(`Not measured: ${d.error}`);
    else {
      const vm = d.vm;
      out.push(
        ...table(
          ['', 'the lecture (2013)', 'this host'],
          [
            ['sandbox start-up (create → "ready")', '–', `${fix(d.container.startMsP50, 0)} ms`],
            [`VM boot to "ready"`, '–', vm ? `${fix(vm.bootMs, 0)} ms (${vm.accel.toUpperCase()}, kernel ${vm.kernel})` : `skipped: ${d.vmSkipped}`],
            ['VM ÷ sandbox, start-up', `${d.lecture.startupRatio[0]}–${d.lecture.startupRatio[1]}×`, d.ratios.startup === null ? '–' : `${d.ratios.startup.toFixed(0)}×`],
            ['sandbox memory (cgroup / PSS)', '–', `${mib(d.container.memory.cgroup)} / ${mib(d.container.memory.pss)}`],
            ['VM memory (QEMU PSS)', '–', vm ? `${mib(vm.memory.pss)} (guest RAM ${vm.memoryMiB} MiB)` : '–'],
            ['VM ÷ sandbox, memory', `${d.lecture.memoryRatio[0]}–${d.lecture.memoryRatio[1]}×`, d.ratios.memory === null ? '–' : `${d.ratios.memory.toFixed(0)}×`],
            ['per host', `${d.lecture.vms} VMs or ${d.lecture.containers} containers`, `${d.fill.started} sandboxes started in ${fix(d.fill.elapsedMs / 1000)} s (stopped by ${d.fill.stoppedBy})`],
            ["sandboxes in one VM's memory", (d.lecture.containers / d.lecture.vms).toFixed(1), d.fitInOneVm === null ? '–' : String(d.fitInOneVm)],
          ],
        ),
      );
    }
    out.push('');
  }
  return out.join('\n');
}

/** Runs the parts asked for, one after another; a part that fails is reported, the others still run. */
export async function buildReport(parts: ReportPart[], note: (s: string) => void): Promise<Report> {
  const report: Report = {
    machine: { kernel: os.release(), cpu: cpuModel(), cpus: os.cpus().length, memory: `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`, cgroup: cgroups().layout, date: new Date().toISOString() },
  };
  const errorOf = (err: unknown) => ({ error: (err as Error).message ?? String(err) });
  if (parts.includes('isolation')) {
    note('isolation: a victim and a noisy neighbour, row by row (about a minute)');
    const claimed = await claimQuietestCpu({ purpose: 'sandbox report' });
    let loop: LoopDevice | null = null;
    try {
      const why = loopProblem();
      if (!why) loop = createLoopDevice(`report-disk-${process.pid % 100000}`, 128 * 1024 * 1024, { purpose: 'sandbox report' });
      report.isolation = await measureIsolation({ cpu: claimed.cpu, windowS: 1, disk: loop ? { path: loop.device, device: loop.majMin } : null, onProgress: (r, phase) => note(`isolation: ${r.stressor} ${phase}`) });
    } catch (err) {
      report.isolation = errorOf(err);
    } finally {
      loop?.destroy();
      claimed.claim?.release();
    }
  }
  if (parts.includes('overhead')) {
    note('overhead: context switches, syscalls, fork+exec, network');
    try {
      report.overhead = await measureOverhead({ onRow: (r) => note(`overhead: ${r.group} ${r.label}`) });
    } catch (err) {
      report.overhead = errorOf(err);
    }
  }
  if (parts.includes('density')) {
    note('density: a sandbox and a VM to "ready", then sandboxes until one VM\'s memory');
    try {
      report.density = await measureDensity({ purpose: 'sandbox report', prefix: `report-${process.pid % 100000}`, onProgress: (n) => note(`density: ${n}`) });
    } catch (err) {
      report.density = errorOf(err);
    }
  }
  return report;
}

export async function reportCommand(opts: { json?: boolean; only?: string }): Promise<number> {
  // Bad input and a missing root are the caller's to fix: said, nothing started, exit 2.
  let parts: ReportPart[];
  try {
    parts = parseParts(opts.only);
    if (process.getuid?.() !== 0) {
      throw usageError('sandbox report needs root: it starts sandboxes, a VM and a loop device', 'run it again with sudo');
    }
  } catch (err) {
    const { formatError } = await import('../runtime/errors.js');
    process.stderr.write(`${formatError(err)}\n`);
    return 2;
  }
  const report = await buildReport(parts, (s) => process.stderr.write(`report: ${s}\n`));
  process.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : `${markdown(report)}\n`);
  const failed = parts.some((p) => { const v = report[p]; return !!v && 'error' in v; });
  return failed ? 1 : 0;
}
