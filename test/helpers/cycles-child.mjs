// Runs N create/exec/destroy cycles in a fresh Node process and prints one JSON line with the
// fd count and RSS before and after. Started by test/integration/leaks/cycles.test.ts with
// --max-semi-space-size=1 so V8's young generation does not grow with the allocation rate, and
// collects garbage every 100 cycles so that V8's own heap policy (it frees old-generation garbage
// when it likes) is not mistaken for growth: what remains is memory the runtime keeps.
import fs from 'node:fs';
import { Sandbox } from '../../dist/runtime/index.js';

const cycles = Number(process.argv[2] ?? 1000);
const fdCount = () => fs.readdirSync('/proc/self/fd').length;
const rssMb = () => {
  globalThis.gc();
  return process.memoryUsage().rss / 2 ** 20;
};
async function cycle() {
  const s = await Sandbox.create({ namespaces: ['pid', 'mount', 'uts', 'ipc'], command: ['sleep', '60'], stdio: 'ignore' });
  const r = await s.execOutput(['true']);
  if (r.status.code !== 0) throw new Error(`exec failed: ${JSON.stringify(r)}`);
  await s.destroy();
}
// Warm up until RSS has levelled off (measured: it rises ~4 MB over the first ~400 cycles, then
// holds within about a megabyte through 3,000): JIT, caches, lazily loaded modules, malloc arenas.
for (let i = 0; i < 500; i++) {
  await cycle();
  if (i % 100 === 99) globalThis.gc();
}
const fdBefore = fdCount();
const rssBefore = rssMb();
const samples = [];
const t0 = performance.now();
for (let i = 0; i < cycles; i++) {
  await cycle();
  if (i % 100 === 99) samples.push(Number(rssMb().toFixed(1)));
}
const ms = performance.now() - t0;
console.log(
  JSON.stringify({
    cycles,
    fd_before: fdBefore,
    fd_after: fdCount(),
    rss_before_mb: Number(rssBefore.toFixed(1)),
    rss_after_mb: Number(rssMb().toFixed(1)),
    rss_every_100_mb: samples,
    ms_per_cycle: Number((ms / cycles).toFixed(2)),
  }),
);
