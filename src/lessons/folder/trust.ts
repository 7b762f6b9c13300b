/**
 * Which lesson folders the user has agreed to run. A lesson file is untrusted input with root
 * behind it: before a folder's first run, the instructor or learner sees every line it can run and
 * says yes once. The answer is kept per folder, as its real path and the hash of its files
 * (FolderLesson.hash), so an edited lesson (a new hash) or another folder asks again.
 *
 * Kept in the invoking user's state directory (`trusted-lessons.json`, next to progress.json),
 * read and written as that user without following a link (src/runtime/userfiles.ts). The file is
 * the user's to edit: it is validated entry by entry, bounded, and a file that is not valid is kept
 * aside and read as "nothing trusted" (the safe side: the question comes again).
 */
import { E_TOO_BIG, quarantineUserFile, readUserFile, stateLocation, writeUserFile } from '../../runtime/userfiles.js';
import { SandboxError } from '../../runtime/errors.js';

export const TRUST_FILE = 'trusted-lessons.json';
const TRUST_MAX_BYTES = 1 << 20;
/** Folders remembered; beyond this, the oldest answers are forgotten. */
const MAX_FOLDERS = 200;
const MAX_PATH = 4096;
const HASH_RE = /^[0-9a-f]{64}$/;

interface TrustEntry {
  hash: string;
  /** When the answer was given (ISO date). */
  at: string;
}

interface TrustFile {
  version: 1;
  folders: Record<string, TrustEntry>;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The valid entries of a trust file's text (a null-prototype record), or null when the file as a whole is not valid. */
export function parseTrust(text: string): Record<string, TrustEntry> | null {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return null;
  }
  if (!isObject(data) || data.version !== 1 || !isObject(data.folders)) return null;
  const out = Object.create(null) as Record<string, TrustEntry>;
  const entries = Object.entries(data.folders);
  if (entries.length > MAX_FOLDERS * 2) return null;
  for (const [dir, e] of entries) {
    if (!dir.startsWith('/') || dir.length > MAX_PATH || /[\x00-\x1f]/.test(dir)) continue;
    if (!isObject(e) || typeof e.hash !== 'string' || !HASH_RE.test(e.hash) || typeof e.at !== 'string' || e.at.length > 64) continue;
    out[dir] = { hash: e.hash, at: e.at };
  }
  return out;
}

/** Every remembered answer; a file that cannot be parsed is kept aside (and nothing is trusted). */
function readTrust(): Record<string, TrustEntry> {
  const loc = stateLocation();
  let text: string | null;
  try {
    text = readUserFile(loc, TRUST_FILE, TRUST_MAX_BYTES);
  } catch (err) {
    if (err instanceof SandboxError && err.code === E_TOO_BIG) {
      quarantineUserFile(loc, TRUST_FILE);
      return Object.create(null);
    }
    throw err;
  }
  if (text === null) return Object.create(null);
  const parsed = parseTrust(text);
  if (parsed) return parsed;
  quarantineUserFile(loc, TRUST_FILE);
  return Object.create(null);
}

/** Whether the user said yes to this folder with exactly these files. */
export function isTrusted(realDir: string, hash: string): boolean {
  return trustOf(realDir, hash) === 'trusted';
}

/** The user said yes to this folder with these files ('trusted'), with other files ('changed'), or never ('new'). */
export function trustOf(realDir: string, hash: string): 'trusted' | 'changed' | 'new' {
  const e = readTrust()[realDir];
  return !e ? 'new' : e.hash === hash ? 'trusted' : 'changed';
}

/** Remembers a yes for this folder and these files (replacing an older answer for the folder). */
export function recordTrust(realDir: string, hash: string, now = new Date()): void {
  if (!realDir.startsWith('/') || realDir.length > MAX_PATH || !HASH_RE.test(hash)) {
    throw new SandboxError(`cannot remember the lesson folder ${realDir.slice(0, 80)}: not an absolute path and a sha256 hash`, { code: 'E_BUG', actionable: false });
  }
  const all = readTrust();
  delete all[realDir];
  all[realDir] = { hash, at: now.toISOString() };
  // The oldest answers go first (insertion order is the order they were given).
  const keys = Object.keys(all);
  const kept: Record<string, TrustEntry> = {};
  for (const k of keys.slice(Math.max(0, keys.length - MAX_FOLDERS))) kept[k] = all[k];
  writeUserFile(stateLocation(), TRUST_FILE, `${JSON.stringify({ version: 1, folders: kept } satisfies TrustFile, null, 2)}\n`);
}

/** Forgets the answers for one folder (its real path), or all. Returns how many were forgotten. */
export function forgetTrust(realDir?: string): number {
  const all = readTrust();
  const keys = realDir === undefined ? Object.keys(all) : realDir in all ? [realDir] : [];
  if (!keys.length) return 0;
  for (const k of keys) delete all[k];
  writeUserFile(stateLocation(), TRUST_FILE, `${JSON.stringify({ version: 1, folders: { ...all } } satisfies TrustFile, null, 2)}\n`);
  return keys.length;
}
