/**
 * The public shape of a lesson folder once loaded (see docs/LESSON-FORMAT.md): the Lesson the
 * engine runs, and what the instructor is shown before a first run (every line it can run).
 */
import type { Lesson } from '../types.js';

/** One line the lesson can run, with where it was written: shown before the first run. */
export interface RunListing {
  /** The file, relative to the lesson folder: "lesson.md". */
  file: string;
  /** 1-based line number in that file. */
  line: number;
  /** Where it runs: the host (a root shell), inside sandbox KEY, or the REPL language (setup). */
  where: 'host' | 'setup' | `sandbox ${string}`;
  /** What kind of line: an action, a probe (check, hint condition, view, answer), a solution… */
  role: 'setup' | 'run' | 'probe' | 'view' | 'solution' | 'reach' | 'answer' | 'cleanup';
  /** The line exactly as written. */
  text: string;
}

export interface FolderLesson {
  lesson: Lesson;
  /** The folder, absolute (realpath). */
  dir: string;
  /** Every file of the folder read to build the lesson, relative to dir, sorted. */
  files: string[];
  /** sha256 (hex) over every file's name and bytes: an edited lesson gets a new hash. */
  hash: string;
  /** Every shell line and setup line the lesson can run, in file order. */
  commands: RunListing[];
}

export interface LoadOptions {
  /**
   * The lesson's id must be this (a built-in lesson: src/lessons/<id>/lesson.md). Absent: any id
   * that follows the rules.
   */
  expectId?: string;
}

/** A malformed lesson file: the CLI prints `file:line: message` and exits 2, creating nothing. */
export class LessonFileError extends Error {
  readonly code = 'E_LESSON_FILE';
  /** Path of the file as given (folder + relative name). */
  readonly file: string;
  /** 1-based line; 0 when the problem is the file as a whole (missing, too big). */
  readonly line: number;
  /** What to do about it, when there is more to say. */
  readonly hint?: string;
  constructor(file: string, line: number, message: string, hint?: string) {
    super(message);
    this.name = 'LessonFileError';
    this.file = file;
    this.line = line;
    this.hint = hint;
  }

  /** `lesson.md:12: unknown key "answr"` */
  get where(): string {
    return this.line > 0 ? `${this.file}:${this.line}` : this.file;
  }
}
