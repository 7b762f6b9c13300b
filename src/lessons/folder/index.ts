/**
 * Lessons an instructor writes: a folder holding lesson.md (docs/LESSON-FORMAT.md). The file is
 * untrusted input with root behind it: it is parsed with hard bounds, every problem is a
 * LessonFileError with file and line, and the only things it can run are the shell and setup lines
 * it lists in `commands` (which the CLI shows the instructor before the first run).
 */
import path from 'node:path';

import { PACKAGE_ROOT } from '../../runtime/index.js';
import type { Lesson } from '../types.js';
import type { FolderLesson, LoadOptions } from './types.js';

export { LessonFileError, type FolderLesson, type LoadOptions, type RunListing } from './types.js';

/** Reads, validates and interprets a lesson folder. Throws LessonFileError for a malformed one. */
export async function loadLessonFolder(dir: string, opts: LoadOptions = {}): Promise<FolderLesson> {
  const { loadFolder } = await import('./load.js');
  return loadFolder(dir, opts);
}

/**
 * A built-in lesson written as a folder: src/lessons/<id>/lesson.md, found from the package root
 * as prose.md is (the package ships src/, so it is there whether running from dist/ or src/).
 * For the manifest's `load`.
 */
export async function loadBuiltInFolder(id: string): Promise<{ lesson: Lesson }> {
  const dir = path.join(PACKAGE_ROOT, 'src', 'lessons', id);
  return { lesson: (await loadLessonFolder(dir, { expectId: id })).lesson };
}
