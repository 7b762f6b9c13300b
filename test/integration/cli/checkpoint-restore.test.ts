/**
 * `sandbox learn checkpoint-restore --auto --plain` (issue 15's acceptance): exit 0 where CRIU
 * cannot run (this host: CRIU 3.17 on kernel 6.18, "vdso: Unexpected rt vDSO area bounds"), with
 * the CRIU steps skipped for that reason and the soft-dirty steps run; and where CRIU works (the
 * v2 guest: Debian 12's kernel 6.1, run by npm run test:v2) with every step run: the restored
 * counter is PID 2 inside again. Nothing is left either way.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { criuStatus } from '../../../src/runtime/criu.js';
import { isRoot, leftovers } from '../../helpers/resources.js';

const CLI = path.resolve(import.meta.dirname, '../../../dist/cli.js');
let state: string;

beforeAll(() => {
  state = fs.mkdtempSync(path.join(os.tmpdir(), 'sandbox-learn-criu-'));
});
afterAll(() => fs.rmSync(state, { recursive: true, force: true }));

describe.skipIf(!isRoot)('learn checkpoint-restore (needs root)', () => {
  it('exits 0; CRIU steps run where criu check passes and are skipped with its reason elsewhere; nothing left', () => {
    const before = leftovers();
    const r = spawnSync(process.execPath, [CLI, 'learn', 'checkpoint-restore', '--auto', '--plain'], {
      encoding: 'utf8',
      timeout: 900_000,
      env: { ...process.env, XDG_STATE_HOME: state, NO_COLOR: '1' },
    });
    const out = r.stdout.replace(/\n\s+/g, ' ');
    const st = criuStatus({ timeoutMs: 60_000 });
    console.log(`criu: ${st.detail}`);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).not.toMatch(/^\s*✗/m);
    if (st.works) {
      expect(out).not.toContain('Skipped');
      expect(out).toContain('✓ inside it is PID 2 again; on the host its PID is new');
      expect(out).toContain('✓ the counter goes on from where it was');
      expect(out).toMatch(/pstree\.img/);
    } else {
      expect(out.match(/⊘ Skipped: this step cannot run on this host: (.*?) ──/g)?.length).toBe(2);
      expect(out).toContain(`⊘ Skipped: this step cannot run on this host: ${st.detail}`);
      expect(out).toMatch(/2 steps skipped \(cannot run on this host: checkpoint, restore\)/);
    }
    // The soft-dirty (or page-hash) steps run everywhere.
    expect(out).toMatch(/round 3: \d+ pages/);
    expect(out).toContain("✓ the destination's copy equals the stopped process's memory, page for page");
    expect(out).toMatch(/Lesson complete\./);
    expect(leftovers().filter((l) => !before.includes(l))).toEqual([]);
  }, 900_000);
});
