/**
 * `sandbox report`'s output without measuring (src/commands/report.ts): the parts it accepts, and
 * the Markdown it prints from a report's data, the lectures' figures beside this host's.
 */
import { describe, expect, it } from 'vitest';

import { markdown, parseParts, reportCommand, type Report } from '../../src/commands/report.js';
import { LECTURE_DENSITY, type DensityReport } from '../../src/runtime/index.js';

const machine = { kernel: '6.1.0', cpu: 'Test CPU', cpus: 2, memory: '4G', cgroup: 'hybrid', date: '2026-12-02T07:00:00Z' };

const density: DensityReport = {
  machine: { kernel: '6.1.0', cpu: 'Test CPU', cpus: 2, memTotal: 4 * 1024 ** 3, cgroup: 'hybrid' },
  container: { startMs: [120, 100, 110], startMsP50: 110, memory: { cgroup: 600 * 1024, pss: 700 * 1024, processes: 2 }, memoryFile: 'memory.usage_in_bytes' },
  vm: { accel: 'tcg', accelNote: 'no /dev/kvm', kernel: '6.1.0-57-amd64', kernelSource: 'cache', memoryMiB: 128, bootMs: 4400, memory: { pss: 200 * 1024 * 1024, rss: 240 * 1024 * 1024, pssAnon: 150 * 1024 * 1024 }, cgroupBytes: 160 * 1024 * 1024 },
  vmSkipped: null,
  ratios: { startup: 40, memory: 292.6 },
  fill: { started: 77, elapsedMs: 10_000, stoppedBy: 'time', cgroupBytes: 40 * 1024 * 1024, pssBytes: 10 * 1024 * 1024, startMsP50: 116, perSandboxBytes: 550 * 1024, budgetBytes: 200 * 1024 * 1024, budgetIs: "the VM's PSS" },
  fitInOneVm: 372,
  lecture: LECTURE_DENSITY,
};

describe('sandbox report', () => {
  it('--only takes the three parts, once each, and refuses anything else with what to use', () => {
    expect(parseParts(undefined)).toEqual(['isolation', 'overhead', 'density']);
    expect(parseParts('density,density')).toEqual(['density']);
    expect(() => parseParts('density,vms')).toThrow(/unknown part "vms"/);
    expect(() => parseParts(',')).toThrow(/no part/);
    expect(() => parseParts('')).toThrow(/no part/);
  });

  it('a bad --only exits 2 with what to use, before anything is measured', async () => {
    const write = process.stderr.write.bind(process.stderr);
    let said = '';
    process.stderr.write = ((chunk: string | Uint8Array) => ((said += String(chunk)), true)) as typeof process.stderr.write;
    try {
      expect(await reportCommand({ only: 'vms' })).toBe(2);
    } finally {
      process.stderr.write = write;
    }
    expect(said).toMatch(/unknown part "vms"[\s\S]*isolation, overhead, density/);
  });

  it('prints the machine and the density table with the lecture figures beside this host\'s', () => {
    const md = markdown({ machine, density } satisfies Report);
    expect(md).toContain('Linux 6.1.0, Test CPU (2 CPUs), 4G RAM, cgroup hybrid');
    expect(md).toMatch(/\| VM ÷ sandbox, start-up \| 50–100× \| 40× \|/);
    expect(md).toMatch(/\| VM ÷ sandbox, memory \| 11–60× \| 293× \|/);
    expect(md).toMatch(/\| per host \| 41 VMs or 112 containers \| 77 sandboxes started in 10\.0 s \(stopped by time\) \|/);
    expect(md).toMatch(/\| sandboxes in one VM's memory \| 2\.7 \| 372 \|/);
    expect(md).not.toContain('## Isolation');
  });

  it('says why a part was not measured, and a skipped VM with its reason', () => {
    const md = markdown({
      machine,
      overhead: { error: 'the latctx program is missing' },
      density: { ...density, vm: null, vmSkipped: 'no kernel to boot', ratios: { startup: null, memory: null }, fitInOneVm: null },
    });
    expect(md).toContain('Not measured: the latctx program is missing');
    expect(md).toContain('skipped: no kernel to boot');
  });
});
