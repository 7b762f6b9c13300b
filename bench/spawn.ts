/**
 * bench:spawn — the cost of one throwaway container: new pid, mount, uts and ipc namespaces, a
 * fresh /proc, run /bin/true, wait, tear down. Measured in one run, interleaved, for:
 *   sandbox   the runtime API in this process (create → wait → destroy)
 *   unshare   `unshare --fork --pid --mount --uts --ipc --mount-proc /bin/true`, a whole process
 *   bwrap     `bwrap --unshare-pid --unshare-uts --unshare-ipc --bind / / --proc /proc /bin/true`
 *             (bwrap always makes a mount namespace), a whole process, when installed
 * and, for reference, `sandbox_privileged` (no capability drop, no seccomp filter: what the
 * default's security costs), `sandbox_with_cgroup` (the same plus a cgroup, as `sandbox run` does) and
 * `sandbox_default_rootfs` (plus the default root filesystem and pivot_root).
 * Prints one JSON object on stdout. Needs root.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';

import { cgroups, Sandbox } from '../src/runtime/index.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 300);
const WARMUP = 20;

type Stat = { median_ms: number; p95_ms: number; runs: number };

function stats(samples: number[]): Stat {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))];
  const r = (x: number) => Number(x.toFixed(3));
  return { median_ms: r(at(0.5)), p95_ms: r(at(0.95)), runs: s.length };
}

function which(cmd: string): string | null {
  for (const d of (process.env.PATH ?? '/usr/bin:/bin').split(':')) if (fs.existsSync(`${d}/${cmd}`)) return `${d}/${cmd}`;
  return null;
}

async function timeSandbox(opts: { cgroup: boolean; rootfs: 'none' | 'host'; privileged?: boolean }): Promise<number> {
  const t0 = performance.now();
  const s = await Sandbox.create({
    namespaces: ['pid', 'mount', 'uts', 'ipc'],
    rootfs: { kind: opts.rootfs },
    cgroup: opts.cgroup,
    command: ['/bin/true'],
    stdio: 'ignore',
    purpose: 'bench',
    security: { privileged: opts.privileged ?? false },
  });
  const st = await s.wait();
  await s.destroy();
  const ms = performance.now() - t0;
  if (st.code !== 0) throw new Error(`sandbox: /bin/true exited ${JSON.stringify(st)}`);
  return ms;
}

function timeProcess(argv: string[]): number {
  const t0 = performance.now();
  const r = spawnSync(argv[0], argv.slice(1), { stdio: 'ignore' });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`${argv.join(' ')} exited ${r.status} ${r.error ?? ''}`);
  return ms;
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) {
    process.stderr.write('bench:spawn needs root (it creates namespaces): run it with sudo\n');
    process.exit(1);
  }
  const unshare = ['unshare', '--fork', '--pid', '--mount', '--uts', '--ipc', '--mount-proc', '/bin/true'];
  const bwrapPath = which('bwrap');
  const bwrap = bwrapPath ? [bwrapPath, '--unshare-pid', '--unshare-uts', '--unshare-ipc', '--bind', '/', '/', '--proc', '/proc', '/bin/true'] : null;

  // Phase 1, the comparison: the same work three ways, interleaved so that drift in the
  // machine's load affects each alike. Phase 2, for reference only: what `sandbox run` adds (a
  // cgroup; the default root filesystem). Kept apart because tearing down cgroups leaves the
  // kernel background work that would land on whichever case ran next.
  const comparison: [string, () => Promise<number> | number][] = [
    ['sandbox', () => timeSandbox({ cgroup: false, rootfs: 'none' })],
    ['unshare', () => timeProcess(unshare)],
    ...(bwrap ? ([['bwrap', () => timeProcess(bwrap)]] as [string, () => number][]) : []),
    // The default drops capabilities and installs a seccomp filter; this one does neither.
    ['sandbox_privileged', () => timeSandbox({ cgroup: false, rootfs: 'none', privileged: true })],
  ];
  const reference: [string, () => Promise<number>][] = [
    ['sandbox_with_cgroup', () => timeSandbox({ cgroup: true, rootfs: 'none' })],
    ['sandbox_default_rootfs', () => timeSandbox({ cgroup: true, rootfs: 'host' })],
  ];
  const samples = new Map<string, number[]>([...comparison, ...reference].map(([k]) => [k, []]));
  for (const phase of [comparison, reference]) {
    for (let i = 0; i < WARMUP; i++) for (const [, f] of phase) await f();
    for (let i = 0; i < RUNS; i++) for (const [k, f] of phase) samples.get(k)!.push(await f());
  }

  const out: Record<string, unknown> = {};
  for (const [k, v] of samples) out[k] = stats(v);
  if (!bwrap) out.bwrap = null;
  out.host = { kernel: os.release(), cgroup: cgroups().layout, cpus: os.cpus().length, node: process.version };
  out.goal = 'sandbox.median_ms <= unshare.median_ms';
  out.goal_met = (out.sandbox as Stat).median_ms <= (out.unshare as Stat).median_ms;
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
}

await main();
