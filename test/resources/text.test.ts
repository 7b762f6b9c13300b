/** The plain-text renderings of charts and gauges (what --plain and --auto print). No root. */
import { describe, expect, it } from 'vitest';

import { chartLines, gaugeBar, gaugeLines, sparkline } from '../../src/tui/text.js';

describe('text charts and gauges', () => {
  it('sparkline: ▁ at min, █ at max, clamped, newest on the right, at most `width` marks', () => {
    expect(sparkline([0, 50, 100], 0, 100)).toBe('▁▅█');
    expect(sparkline([-10, 200], 0, 100)).toBe('▁█');
    expect(sparkline([1, 2, 3, 4, 5], 0, 5, 3)).toBe(sparkline([3, 4, 5], 0, 5));
    expect(sparkline([NaN, 50], 0, 100)).toBe(' ▅');
    expect(sparkline([], 0, 100)).toBe('');
  });

  it('chart: one row per series with its latest value and target, then the scale and caption', () => {
    const lines = chartLines(
      {
        kind: 'chart',
        series: [
          { name: 'a  cpu.shares 256', values: [50, 40, 30, 25.04], target: 25 },
          { name: 'b  cpu.shares 768', values: [50, 60, 70, 74.96], target: 75 },
          { name: 'idle', values: [] },
        ],
        min: 0,
        max: 100,
        unit: '%',
        caption: 'share of CPU 1',
      },
      80,
    );
    expect(lines[0]).toMatch(/^a {2}cpu\.shares 256 {2}[▁▂▃▄▅▆▇█]{4} +25\.0% → target 25%$/);
    expect(lines[1]).toMatch(/^b {2}cpu\.shares 768 {2}[▁▂▃▄▅▆▇█]{4} +75\.0% → target 75%$/);
    expect(lines[2]).toMatch(/^idle +\(no samples yet\) +–$/);
    expect(lines[3]).toContain('▁ = 0%, █ = 100%');
    expect(lines[4]).toBe('share of CPU 1');
    for (const l of lines) expect(l.length).toBeLessThanOrEqual(80);
  });

  it('chart values above the maximum show clamped', () => {
    const [row] = chartLines({ kind: 'chart', series: [{ name: 'a', values: [101.6] }], min: 0, max: 100, unit: '%' }, 60);
    expect(row).toMatch(/100%$/);
  });

  it('gauge bar: filled in proportion, clamped', () => {
    expect(gaugeBar(5, 10, 10)).toBe('[█████░░░░░]');
    expect(gaugeBar(20, 10, 4)).toBe('[████]');
    expect(gaugeBar(1, 0, 4)).toBe('[░░░░]');
  });

  it('gauges: value / max (percent), a note beside or under the bar, no limit said plainly', () => {
    const lines = gaugeLines(
      {
        kind: 'gauges',
        gauges: [
          { label: 'processes (pids.current)', value: 64, max: 64, unit: '', note: 'refused forks (pids.events max): 12345' },
          { label: 'memory in use', value: 31.5, max: 32, unit: ' MiB' },
          { label: 'pids', value: 3, max: null, unit: '' },
        ],
        caption: 'caption',
      },
      80,
    );
    expect(lines[0]).toMatch(/^processes \(pids\.current\) {2}\[█+\] 64 \/ 64 \(100 %\)$/);
    expect(lines[1]).toMatch(/^ {26}refused forks \(pids\.events max\): 12345$/);
    expect(lines[2]).toMatch(/^memory in use +\[█+░*\] 31\.5 MiB \/ 32 MiB \(98 %\)$/);
    expect(lines[3]).toMatch(/^pids +3 \(no limit\)$/);
    expect(lines[4]).toBe('caption');
    for (const l of lines) expect(l.length).toBeLessThanOrEqual(80);
  });
});
