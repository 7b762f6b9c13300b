/**
 * Global setup/teardown: after the whole suite, nothing of sandbox's may remain on the host
 * (cgroups under sandbox/ or systemd's sandbox.service, anything under /run/sandbox, mounts there, netns sandbox-*, veths
 * sbx-*). Leftovers fail the run, listed, so the leaking path gets fixed rather than hidden.
 */
import { leftovers } from './resources.js';

export function setup(): void {
  const before = leftovers();
  if (before.length) {
    process.stderr.write(
      `leak-guard: resources of sandbox existed before the tests (an earlier run was killed?):\n  ${before.join('\n  ')}\n` +
        'run `sudo sandbox cleanup` to remove them.\n',
    );
  }
}

export function teardown(): void {
  const after = leftovers();
  if (after.length) throw new Error(`the test suite leaked:\n  ${after.join('\n  ')}`);
}
