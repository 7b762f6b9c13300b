/**
 * A persistent worker for the CLI fuzz test: runs many argv vectors through the real entry point
 * (dist/cli.js) in one Node process, so 5,000 runs do not cost 5,000 Node start-ups.
 *
 * Each run imports dist/cli.js afresh (a new module instance, `?run=N`): its top level builds a
 * new commander program and parses process.argv, exactly as `node dist/cli.js ARGV…` does; the
 * command modules and the runtime it loads are shared between runs, as they would be loaded in
 * one process anyway. stdout/stderr writes are captured; the exit code is process.exitCode.
 *
 * Protocol (IPC): parent sends { batch: [{ id, argv }…] }; the worker answers each with
 * { id, code, out, err, ms, crash } as soon as it ends.
 */
import { pathToFileURL } from 'node:url';

const CLI = process.env.SANDBOX_CLI;
const cliUrl = pathToFileURL(CLI).href;

let current = null;
const crashes = [];
process.on('uncaughtException', (err) => crashes.push(`uncaughtException: ${err?.stack ?? err}`));
process.on('unhandledRejection', (err) => crashes.push(`unhandledRejection: ${err?.stack ?? err}`));

const realOut = process.stdout.write.bind(process.stdout);
const realErr = process.stderr.write.bind(process.stderr);
const capture = (key) =>
  function write(chunk, encoding, cb) {
    if (current) current[key] += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    else (key === 'out' ? realOut : realErr)(chunk, encoding, cb);
    const done = typeof encoding === 'function' ? encoding : cb;
    if (typeof done === 'function') done();
    return true;
  };
process.stdout.write = capture('out');
process.stderr.write = capture('err');

const MAX_CAPTURE = 64 * 1024;

/** Runs one argv vector; returns what the parent checks. */
async function runOne(id, argv) {
  current = { out: '', err: '' };
  crashes.length = 0;
  process.exitCode = undefined;
  process.argv = [process.execPath, CLI, ...argv];
  const t0 = performance.now();
  try {
    await import(`${cliUrl}?run=${id}`);
  } catch (err) {
    crashes.push(`import threw: ${err?.stack ?? err}`);
  }
  // Let anything the command left running (a stray timer, a rejected promise) show itself.
  await new Promise((r) => setImmediate(r));
  const result = {
    id,
    code: process.exitCode ?? 0,
    out: current.out.slice(0, MAX_CAPTURE),
    err: current.err.slice(0, MAX_CAPTURE),
    ms: performance.now() - t0,
    crash: crashes.join('\n') || null,
  };
  current = null;
  process.exitCode = 0;
  return result;
}

// A batch at a time, each result sent as soon as it is known (no round trip per run: on a loaded
// machine every wake-up of the parent costs a scheduler slice). The parent's watchdog sees a run
// that hangs as results that stop coming.
process.on('message', async ({ batch }) => {
  for (const { id, argv } of batch) process.send(await runOne(id, argv));
});

process.send({ ready: true });
