/**
 * 1,000 create/exec/destroy cycles in one process must leave the Node process's file descriptors
 * and memory flat: every pidfd, pipe and poll handle is released, every native waiter freed.
 * Measured in a fresh process (test/helpers/cycles-child.mjs, on the built dist/).
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';

import { describe, expect, it } from 'vitest';

import { isRoot, leftovers } from '../../helpers/resources.js';

const child = path.resolve(import.meta.dirname, '../../helpers/cycles-child.mjs');

describe.skipIf(!isRoot)('resource use of the runtime itself (needs root)', () => {
  it('1,000 create/exec/destroy cycles leave the fd count and RSS flat', { timeout: 600_000 }, () => {
    const out = execFileSync(process.execPath, ['--expose-gc', '--max-semi-space-size=1', child, '1000'], { encoding: 'utf8' });
    const r = JSON.parse(out.trim().split('\n').at(-1)!) as Record<string, number>;
    console.log(`1000 cycles: fd ${r.fd_before} -> ${r.fd_after}, RSS ${r.rss_before_mb} -> ${r.rss_after_mb} MB, ${r.ms_per_cycle} ms/cycle`);
    expect(r.fd_after).toBe(r.fd_before);
    expect(r.rss_after_mb - r.rss_before_mb).toBeLessThan(5);
    expect(leftovers()).toEqual([]);
  });
});
