/**
 * Per-user progress, in the XDG state directory: $XDG_STATE_HOME/sandbox or ~/.local/state/sandbox.
 * Lessons run as root through sudo, but progress belongs to the person: under sudo it goes to the
 * invoking user's home and their files stay theirs (chown to SUDO_UID/SUDO_GID). Every write is
 * atomic (write a temporary file, rename), so progress is never half-written or lost.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import type { LessonProgress, LessonStatus } from './types.js';

interface Owner {
  home: string;
  uid: number | null;
  gid: number | null;
}

function invokingUser(): Owner {
  const sudoUser = process.env.SUDO_USER;
  const uid = process.env.SUDO_UID;
  const gid = process.env.SUDO_GID;
  if (process.getuid?.() === 0 && sudoUser && sudoUser !== 'root' && uid && gid) {
    try {
      for (const line of fs.readFileSync('/etc/passwd', 'utf8').split('\n')) {
        const f = line.split(':');
        if (f[0] === sudoUser && f[5]) return { home: f[5], uid: Number(uid), gid: Number(gid) };
      }
    } catch {
      /* fall back to root's home */
    }
  }
  return { home: os.homedir(), uid: null, gid: null };
}

/** $XDG_STATE_HOME/sandbox (absolute values only, as the spec says), else ~/.local/state/sandbox. */
export function stateDir(): string {
  const owner = invokingUser();
  const xdg = process.env.XDG_STATE_HOME;
  const base = xdg && path.isAbsolute(xdg) ? xdg : path.join(owner.home, '.local', 'state');
  return path.join(base, 'sandbox');
}

/** Creates the state directory (and its missing parents) owned by the invoking user. */
export function ensureStateDir(): string {
  const dir = stateDir();
  const owner = invokingUser();
  const missing: string[] = [];
  for (let d = dir; !fs.existsSync(d); d = path.dirname(d)) missing.unshift(d);
  for (const d of missing) {
    fs.mkdirSync(d, { mode: 0o755 });
    if (owner.uid !== null) fs.chownSync(d, owner.uid, owner.gid!);
  }
  return dir;
}

/** Writes a file in the state directory atomically, owned by the invoking user. */
export function writeStateFile(name: string, text: string): void {
  const dir = ensureStateDir();
  const file = path.join(dir, name);
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, text, { mode: 0o644 });
  const owner = invokingUser();
  if (owner.uid !== null) fs.chownSync(tmp, owner.uid, owner.gid!);
  fs.renameSync(tmp, file);
}

interface ProgressFile {
  version: 1;
  lessons: Record<string, LessonProgress>;
}

function progressPath(): string {
  return path.join(stateDir(), 'progress.json');
}

export function readAllProgress(): Record<string, LessonProgress> {
  try {
    const data = JSON.parse(fs.readFileSync(progressPath(), 'utf8')) as ProgressFile;
    return data.version === 1 && data.lessons ? data.lessons : {};
  } catch {
    return {};
  }
}

export function readProgress(id: string): LessonProgress | null {
  return readAllProgress()[id] ?? null;
}

export function saveProgress(id: string, progress: LessonProgress): void {
  const all = readAllProgress();
  all[id] = { ...progress, updated: new Date().toISOString() };
  writeStateFile('progress.json', `${JSON.stringify({ version: 1, lessons: all } satisfies ProgressFile, null, 2)}\n`);
}

/** Forgets one lesson's progress, or all of it. Returns the ids forgotten. */
export function resetProgress(id?: string): string[] {
  const all = readAllProgress();
  const ids = id ? (all[id] ? [id] : []) : Object.keys(all);
  for (const i of ids) delete all[i];
  if (ids.length) writeStateFile('progress.json', `${JSON.stringify({ version: 1, lessons: all } satisfies ProgressFile, null, 2)}\n`);
  return ids;
}

export function statusOf(p: LessonProgress | null): LessonStatus {
  if (!p) return 'new';
  return p.completed ? 'completed' : 'in progress';
}

export function emptyProgress(): LessonProgress {
  return { step: 0, done: [], completed: false, predictions: {}, updated: new Date().toISOString() };
}
