/**
 * Reads a lesson folder from disk with hard bounds: the folder and lesson.md are never symlinks,
 * lesson.md is read with a size cap before it is parsed, and the hash covers every file of the
 * folder (bounded in number and size) so that any edit asks the instructor's trust again.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import { interpret } from './interpret.js';
import { LIMITS, parseLessonText } from './parse.js';
import { type FolderLesson, LessonFileError, type LoadOptions } from './types.js';

const MAX_FILES = 64;
const MAX_FILE_BYTES = 1024 * 1024;
const MAX_DEPTH = 3;

/** Every regular file under dir (relative, sorted), bounded; symlinks are listed, never followed. */
function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string, depth: number) => {
    for (const d of fs.readdirSync(path.join(dir, rel), { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const r = rel ? `${rel}/${d.name}` : d.name;
      if (out.length >= MAX_FILES) throw new LessonFileError(dir, 0, `the lesson folder holds more than ${MAX_FILES} files`, 'a lesson folder holds lesson.md and little else');
      if (d.isDirectory() && !d.isSymbolicLink()) {
        if (depth < MAX_DEPTH) walk(r, depth + 1);
      } else if (d.isFile() || d.isSymbolicLink()) out.push(r);
    }
  };
  walk('', 0);
  return out;
}

/**
 * `lessonMd` is the very bytes that are parsed: lesson.md is hashed from them, not read again, so
 * a file swapped between the read and the hash cannot run under the hash of other content (the
 * trust the user gave, src/lessons/folder/trust.ts, is for exactly what runs).
 */
function hashFiles(dir: string, files: string[], lessonMd: Buffer): string {
  const h = createHash('sha256');
  for (const f of files) {
    const p = path.join(dir, f);
    h.update(`${f}\0`);
    if (f === 'lesson.md') {
      h.update(lessonMd);
      h.update('\0');
      continue;
    }
    const st = fs.lstatSync(p);
    if (st.isSymbolicLink()) h.update(`-> ${fs.readlinkSync(p)}\0`);
    else if (st.size > MAX_FILE_BYTES) h.update(`size ${st.size} mtime ${st.mtimeMs}\0`);
    else h.update(fs.readFileSync(p));
    h.update('\0');
  }
  return h.digest('hex');
}

export async function loadFolder(dirGiven: string, opts: LoadOptions): Promise<FolderLesson> {
  const shownDir = dirGiven.replace(/\/+$/, '') || dirGiven;
  const mdShown = path.join(shownDir, 'lesson.md');
  let st: fs.Stats;
  try {
    st = fs.lstatSync(dirGiven);
  } catch {
    throw new LessonFileError(shownDir, 0, 'no such lesson folder', 'give the folder that holds lesson.md (sandbox new-lesson NAME makes one)');
  }
  if (st.isSymbolicLink()) throw new LessonFileError(shownDir, 0, 'the lesson folder is a symlink', 'give the real folder');
  if (!st.isDirectory()) throw new LessonFileError(shownDir, 0, 'not a folder', 'a lesson is a folder holding lesson.md');
  const dir = fs.realpathSync(dirGiven);
  const md = path.join(dir, 'lesson.md');
  let mst: fs.Stats;
  try {
    mst = fs.lstatSync(md);
  } catch {
    throw new LessonFileError(mdShown, 0, 'the folder has no lesson.md', 'a lesson folder holds one Markdown file, lesson.md (sandbox new-lesson NAME writes a skeleton)');
  }
  if (!mst.isFile()) throw new LessonFileError(mdShown, 0, 'lesson.md is not a regular file (a symlink?)', 'lesson.md must be a plain file inside the folder');
  if (mst.size > LIMITS.fileBytes) throw new LessonFileError(mdShown, 0, `the file is larger than ${LIMITS.fileBytes / 1024} KiB`, 'split the lesson in two');
  // Read at most the cap, through one descriptor that refuses a symlink swapped in meanwhile.
  const fd = fs.openSync(md, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  let buf: Buffer;
  try {
    const b = Buffer.alloc(LIMITS.fileBytes + 1);
    const n = fs.readSync(fd, b, 0, b.length, 0);
    buf = b.subarray(0, n);
  } finally {
    fs.closeSync(fd);
  }
  if (buf.length > LIMITS.fileBytes) throw new LessonFileError(mdShown, 0, `the file is larger than ${LIMITS.fileBytes / 1024} KiB`, 'split the lesson in two');
  const text = buf.toString('utf8');
  if (text.includes('\uFFFD') && !buf.includes(Buffer.from('\uFFFD', 'utf8'))) {
    const at = text.slice(0, text.indexOf('\uFFFD')).split('\n').length;
    throw new LessonFileError(mdShown, at, 'the line is not valid UTF-8', 'save the file as UTF-8');
  }
  const files = listFiles(dir);
  const hash = hashFiles(dir, files, buf);
  const src = parseLessonText(mdShown, text);
  const { lesson, commands } = interpret(src, opts);
  return { lesson, dir, files, hash, commands };
}
