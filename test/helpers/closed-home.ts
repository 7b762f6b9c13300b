/**
 * A student's home as Debian 13 makes it (/home/vagrant: mode 0700, owned by the student), for
 * running the CLI from a directory that root may enter but the sandbox's root may not: with a user
 * namespace that root is uid 100000 on the host. The owner is a numeric uid with no user behind it.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const CLOSED_HOME_OWNER = 4242;

export interface ClosedHome {
  /** The 0700 directory, owned by CLOSED_HOME_OWNER; its parent is open (0755). */
  dir: string;
  remove(): void;
}

export function closedHome(): ClosedHome {
  const parent = fs.mkdtempSync(path.join(os.tmpdir(), 'sandbox-closed-'));
  fs.chmodSync(parent, 0o755);
  const dir = path.join(parent, 'home');
  fs.mkdirSync(dir, { mode: 0o700 });
  fs.chmodSync(dir, 0o700);
  fs.chownSync(dir, CLOSED_HOME_OWNER, CLOSED_HOME_OWNER);
  return { dir, remove: () => fs.rmSync(parent, { recursive: true, force: true }) };
}
