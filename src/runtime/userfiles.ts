/**
 * The invoking user's own files: progress and REPL history in the XDG state directory
 * ($XDG_STATE_HOME/sandbox, else ~/.local/state/sandbox). sandbox runs as root through sudo, but
 * these files live in a place the learner controls, so nothing here may let the learner turn
 * root's write (or read) onto another file:
 *
 * - Every read, write, mkdir and rename is done *as the user*: egid, euid and the supplementary
 *   groups are switched to the invoking user's around the work and switched back after. The kernel
 *   then resolves every path component with the user's rights, so a link the user planted can only
 *   lead us where the user could write (or read) anyway.
 * - On top of that, nothing follows a link: the temporary file is created with
 *   O_CREAT|O_EXCL|O_NOFOLLOW under a random name, files are opened with O_NOFOLLOW, and a state
 *   directory (or ~/.local, ~/.local/state), file or backup that is a symbolic link, not a
 *   directory/regular file, or not owned by the user is refused with a message naming it.
 * - Files are replaced atomically (write a temporary file, rename it over the old one).
 *
 * Under sudo (root with SUDO_USER, SUDO_UID, SUDO_GID) the user is SUDO_UID/SUDO_GID and the home
 * is that uid's entry in the user database; root itself (no sudo) keeps root's own home.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { SandboxError } from './errors.js';

export interface FileUser {
  uid: number;
  gid: number;
  /** The login name under sudo (SUDO_USER), for the user's supplementary groups. */
  name: string | null;
  /** The home directory from the user database; null when the uid has none. */
  home: string | null;
  /** Root acting for someone else (sudo): file work switches to the user's credentials. */
  switches: boolean;
}

/** Where the state files live, and the directories (in order) that must be the user's own. */
export interface StateLocation {
  user: FileUser;
  dir: string;
  /** From the first directory sandbox may create down to `dir`; each checked before use. */
  chain: string[];
}

/** A state file or directory we refuse to use; `path` names it, `hint` says what to do. */
export function userFileError(message: string, file: string, hint: string, code = 'E_USER_FILE', cause?: unknown): SandboxError {
  return new SandboxError(message, { code, path: file, hint, actionable: true, cause });
}

/** A file larger than the reader allows: the caller decides (progress keeps it aside). */
export const E_TOO_BIG = 'E_TOO_BIG';

const ID_MAX = 0xfffffffe;

/** At most 80 characters of something we did not choose (an env value, a link's target), one line. */
function shown(s: string): string {
  const t = s.replace(/[\x00-\x1f\x7f-\x9f]/g, '?');
  return t.length > 80 ? `${t.slice(0, 79)}…` : t;
}
const NAME_RE = /^[A-Za-z0-9._][A-Za-z0-9._-]{0,63}\$?$/;

function parseId(value: string, what: string): number {
  const n = /^\d{1,10}$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n > ID_MAX) {
    throw new SandboxError(`${what}="${shown(value)}" is not a user or group id`, {
      code: 'E_USAGE',
      hint: `sudo sets ${what} to a number; run sandbox through sudo without changing it`,
    });
  }
  return n;
}

const cache = new Map<string, FileUser>();

/**
 * Who the files belong to. Under sudo: SUDO_UID/SUDO_GID (validated numbers), the home from the
 * user database (looked up while acting as that uid, so NSS/LDAP users work too). Otherwise the
 * process's own user and home.
 */
export function invokingUser(env: NodeJS.ProcessEnv = process.env): FileUser {
  const uid = process.getuid!();
  if (uid !== 0) return { uid, gid: process.getgid!(), name: null, home: os.homedir(), switches: false };
  const sudoUser = env.SUDO_USER;
  if (!sudoUser || sudoUser === 'root' || !env.SUDO_UID || !env.SUDO_GID) {
    return { uid: 0, gid: process.getgid!(), name: null, home: os.homedir(), switches: false };
  }
  const key = `${sudoUser}\0${env.SUDO_UID}\0${env.SUDO_GID}`;
  const known = cache.get(key);
  if (known) return known;
  const u = parseId(env.SUDO_UID, 'SUDO_UID');
  const g = parseId(env.SUDO_GID, 'SUDO_GID');
  if (u === 0) return { uid: 0, gid: process.getgid!(), name: null, home: os.homedir(), switches: false };
  const user: FileUser = { uid: u, gid: g, name: NAME_RE.test(sudoUser) ? sudoUser : null, home: null, switches: true };
  // os.userInfo() reads the entry of the *effective* uid (getpwuid_r(geteuid())).
  user.home = asUser(user, () => {
    try {
      const h = os.userInfo().homedir;
      return path.isAbsolute(h) ? h : null;
    } catch {
      return null;
    }
  });
  cache.set(key, user);
  return user;
}

const groupCache = new Map<string, number[]>();

/**
 * Runs `fn` with the user's credentials (a no-op unless root is acting for a sudo user).
 *
 * Why this is safe and sufficient: glibc's setegid/seteuid/setgroups change the credentials of
 * every thread of the process (Node's libuv pool included), and all file work in sandbox is
 * synchronous, so nothing else runs while we are the user. Root's supplementary groups are
 * dropped too (root's group list must not open group-writable files to the user's links). The
 * real and saved uid stay 0, which is what lets us switch back. While we are the user, every
 * path is resolved with the user's rights: a directory swapped for a symlink between our checks
 * and our write (a TOCTOU race) can only redirect us to a place the user could write anyway.
 * Side effect: the kernel marks the process non-dumpable after an euid change (no core dump, its
 * /proc files stay root's), which changes nothing for a process that runs as root.
 */
export function asUser<T>(user: FileUser, fn: () => T): T {
  if (!user.switches || process.geteuid!() !== 0) return fn();
  const groups = supplementaryGroups();
  const egid = process.getegid!();
  const restore = () => {
    process.seteuid!(0);
    process.setegid!(egid);
    process.setgroups!(groups);
  };
  try {
    const key = `${user.name}\0${user.gid}`;
    let list = groupCache.get(key);
    if (!list) {
      if (user.name) {
        // Node has it on POSIX, @types/node does not declare it.
        (process as unknown as { initgroups(user: string, extraGroup: number): void }).initgroups(user.name, user.gid);
        list = supplementaryGroups();
      } else {
        list = [user.gid];
      }
      groupCache.set(key, list);
    }
    process.setgroups!(list);
    process.setegid!(user.gid);
    process.seteuid!(user.uid);
  } catch (err) {
    restore();
    throw new SandboxError(`cannot act as uid ${user.uid} to use your files: ${(err as Error).message}`, { code: 'E_BUG', actionable: false, cause: err });
  }
  try {
    return fn();
  } finally {
    restore();
  }
}

/**
 * The kernel's list of supplementary groups, exactly (process.getgroups() adds the effective gid,
 * which would hand root's group 0 to the user).
 */
function supplementaryGroups(): number[] {
  const line = /^Groups:(.*)$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return (line?.[1] ?? '').trim().split(/\s+/).filter(Boolean).map(Number);
}

/** $XDG_STATE_HOME/sandbox (absolute values only, as the spec says), else ~/.local/state/sandbox. */
export function stateLocation(env: NodeJS.ProcessEnv = process.env, user: FileUser = invokingUser(env)): StateLocation {
  const xdg = env.XDG_STATE_HOME;
  if (xdg && path.isAbsolute(xdg)) {
    const base = path.resolve(xdg);
    const dir = path.join(base, 'sandbox');
    return { user, dir, chain: [base, dir] };
  }
  if (!user.home) {
    throw userFileError(
      `cannot tell where to keep your progress: uid ${user.uid} has no home directory in the user database`,
      '~/.local/state/sandbox',
      'set XDG_STATE_HOME to an absolute directory of yours (e.g. XDG_STATE_HOME=/home/you/.local/state)',
    );
  }
  const local = path.join(user.home, '.local');
  const state = path.join(local, 'state');
  const dir = path.join(state, 'sandbox');
  return { user, dir, chain: [local, state, dir] };
}

function linkTarget(p: string): string {
  try {
    return ` (to ${shown(fs.readlinkSync(p))})`;
  } catch {
    return '';
  }
}

function whose(st: fs.Stats, user: FileUser): string {
  return `it belongs to uid ${st.uid}, not to you (uid ${user.uid})`;
}

/** The directory `p` must be a real directory owned by the user. */
function checkDir(p: string, st: fs.Stats, user: FileUser): void {
  if (st.isSymbolicLink()) {
    throw userFileError(
      `refusing to use ${p}: it is a symbolic link${linkTarget(p)}, and sandbox never follows a link where it keeps your files`,
      p,
      `remove the link (rm ${p}) and run again: sandbox creates the directory itself`,
      'E_SYMLINK',
    );
  }
  if (!st.isDirectory()) {
    throw userFileError(`refusing to use ${p}: it is not a directory`, p, `move it away (mv ${p} ${p}.old) and run again`);
  }
  if (st.uid !== user.uid) {
    throw userFileError(`refusing to use ${p}: ${whose(st, user)}`, p, `remove it, or make it yours: sudo chown ${user.uid}:${user.gid} ${p}`, 'E_NOT_OWNER');
  }
}

/** The existing file `p` must be a regular file owned by the user. */
function checkFile(p: string, st: fs.Stats, user: FileUser): void {
  if (st.isSymbolicLink()) {
    throw userFileError(
      `refusing to use ${p}: it is a symbolic link${linkTarget(p)}, and sandbox never follows a link where it keeps your files`,
      p,
      `remove the link (rm ${p}) and run again`,
      'E_SYMLINK',
    );
  }
  if (!st.isFile()) {
    throw userFileError(`refusing to use ${p}: it is not a regular file`, p, `move it away (mv ${p} ${p}.old) and run again`);
  }
  if (st.uid !== user.uid) {
    throw userFileError(`refusing to use ${p}: ${whose(st, user)}`, p, `remove it, or make it yours: sudo chown ${user.uid}:${user.gid} ${p}`, 'E_NOT_OWNER');
  }
}

function lstatOrNull(p: string): fs.Stats | null {
  try {
    return fs.lstatSync(p);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** Wraps an fs error met while acting as the user: names the path and says whose rights were used. */
function fsError(err: unknown, p: string, doing: string, user: FileUser): SandboxError {
  if (err instanceof SandboxError) return err;
  const e = err as NodeJS.ErrnoException;
  const code = typeof e?.code === 'string' ? e.code : 'E_BUG';
  const denied = code === 'EACCES' || code === 'EPERM';
  if (typeof e?.path === 'string' && e.path !== p) {
    doing = 'use';
    p = e.path;
  }
  return userFileError(
    `cannot ${doing} ${p}${user.switches ? ` as uid ${user.uid}` : ''}: ${e?.message ?? String(err)}`,
    p,
    denied
      ? `sandbox uses your files with your own rights: make ${p} (and the directories above it) yours, or set XDG_STATE_HOME to a directory of yours`
      : `check ${p}, then run again`,
    code,
    err,
  );
}

/** Runs `fn`; an fs error from it (lstat, mkdir… on any path) comes out naming that path. */
function guarded<T>(p: string, doing: string, user: FileUser, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw fsError(err, p, doing, user);
  }
}

/**
 * Checks the chain of state directories (creating missing ones, as the user, mode 0700, when
 * `create`). Returns false when a directory is missing and `create` is off.
 */
function checkChain(loc: StateLocation, create: boolean): boolean {
  for (const [i, d] of loc.chain.entries()) {
    let st = lstatOrNull(d);
    if (!st) {
      if (!create) return false;
      try {
        // The first element may need its parents (a fresh XDG_STATE_HOME): made as the user too.
        fs.mkdirSync(d, { mode: 0o700, recursive: i === 0 });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw fsError(err, d, 'create', loc.user);
      }
      st = fs.lstatSync(d);
    }
    checkDir(d, st, loc.user);
  }
  return true;
}

/**
 * Reads `name` from the state directory, as the user, without following a link; null when it (or
 * the directory) does not exist. Throws E_TOO_BIG above `maxBytes`.
 */
export function readUserFile(loc: StateLocation, name: string, maxBytes: number): string | null {
  const file = path.join(loc.dir, name);
  return asUser(loc.user, () => guarded(file, 'read', loc.user, () => {
    if (!checkChain(loc, false)) return null;
    let fd: number;
    try {
      // O_NONBLOCK: a FIFO planted as the file must not hang us (it is refused just below).
      fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK | fs.constants.O_NOCTTY);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return null;
      if (code === 'ELOOP') checkFile(file, fs.lstatSync(file), loc.user);
      throw fsError(err, file, 'read', loc.user);
    }
    try {
      const st = fs.fstatSync(fd);
      checkFile(file, st, loc.user);
      if (st.size > maxBytes) {
        throw userFileError(`${file} is larger than ${maxBytes} bytes (${st.size})`, file, 'it is kept aside; sandbox starts afresh', E_TOO_BIG);
      }
      const buf = Buffer.alloc(maxBytes + 1);
      let len = 0;
      for (let n; len < buf.length && (n = fs.readSync(fd, buf, len, buf.length - len, null)) > 0; ) len += n;
      if (len > maxBytes) {
        throw userFileError(`${file} is larger than ${maxBytes} bytes`, file, 'it is kept aside; sandbox starts afresh', E_TOO_BIG);
      }
      return buf.subarray(0, len).toString('utf8');
    } finally {
      fs.closeSync(fd);
    }
  }));
}

/**
 * Replaces `name` in the state directory with `text`, atomically, as the user: a new temporary
 * file (random name, O_EXCL|O_NOFOLLOW, mode 0600) renamed over the old file. The old file, if
 * any, must be the user's regular file; a link there is refused, not replaced.
 */
export function writeUserFile(loc: StateLocation, name: string, text: string, mode = 0o600): void {
  const file = path.join(loc.dir, name);
  asUser(loc.user, () => guarded(file, 'write', loc.user, () => {
    checkChain(loc, true);
    const old = lstatOrNull(file);
    if (old) checkFile(file, old, loc.user);
    let tmp = '';
    let fd = -1;
    // A random name: links planted for every PID cannot be guessed, and cannot deny us a name.
    for (let attempt = 0; fd < 0; attempt++) {
      tmp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
      try {
        fd = fs.openSync(tmp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, mode);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 8) throw fsError(err, tmp, 'create', loc.user);
      }
    }
    try {
      try {
        fs.writeSync(fd, text);
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      fs.renameSync(tmp, file);
    } catch (err) {
      try {
        fs.unlinkSync(tmp);
      } catch {
        /* already renamed or gone */
      }
      throw fsError(err, file, 'write', loc.user);
    }
  }));
}

/**
 * Keeps a bad file aside as `<name>.bad-<timestamp>` (a rename, as the user: nothing is copied,
 * nothing followed) and returns the new path; null when there was no file.
 */
export function quarantineUserFile(loc: StateLocation, name: string, now = new Date()): string | null {
  const file = path.join(loc.dir, name);
  return asUser(loc.user, () => guarded(file, 'keep aside', loc.user, () => {
    if (!checkChain(loc, false)) return null;
    const st = lstatOrNull(file);
    if (!st) return null;
    checkFile(file, st, loc.user);
    const stamp = now.toISOString().replace(/[-:.]/g, '');
    let backup = `${file}.bad-${stamp}`;
    for (let i = 2; lstatOrNull(backup); i++) backup = `${file}.bad-${stamp}-${i}`;
    try {
      fs.renameSync(file, backup);
    } catch (err) {
      throw fsError(err, file, 'keep aside', loc.user);
    }
    return backup;
  }));
}
