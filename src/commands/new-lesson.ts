/**
 * `sandbox new-lesson NAME`: writes NAME/lesson.md, a commented skeleton lesson in the folder
 * format (docs/LESSON-FORMAT.md) that passes `sandbox check-lesson NAME` as written, and
 * remembers that the user trusts it (they just wrote it).
 *
 * NAME is a path the user chose, often under their home, while we may be root (sudo): the folder
 * and the file are made *as the invoking user* (src/runtime/userfiles.ts asUser), so every path
 * component is resolved with the user's rights; the folder must not exist yet (mkdir refuses
 * anything there, a link included), and the file is created with O_EXCL|O_NOFOLLOW.
 */
import fs from 'node:fs';
import path from 'node:path';

import { LessonFileError } from '../lessons/folder/index.js';
import { recordTrust } from '../lessons/folder/trust.js';
import { echo, SandboxError } from '../runtime/errors.js';
import { formatError } from '../runtime/index.js';
import { asUser, invokingUser } from '../runtime/userfiles.js';

const ID_RE = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;
const ID_MAX = 40;

/** The skeleton lesson.md for lesson `id`: three steps (a guided one, two challenges), commented. */
export function skeleton(id: string): string {
  const title = id.replace(/-/g, ' ').replace(/^./, (c) => c.toUpperCase());
  return `---
id: ${id}
title: ${title}
summary: a sandbox with its own PID namespace; its process count limited through the cgroup
requires: controller pids
---

# ${title}

This is a skeleton written by sandbox new-lesson: edit it into your own lesson. The format is
described in docs/LESSON-FORMAT.md. Check it with sandbox check-lesson, run it with sandbox
learn. Text outside the fenced blocks is prose, shown to the learner as written.

## own-pid1: A process that is PID 1

Each step is a "## id: Title" section. Its blocks say what it does: the prediction asked first,
the setup and run lines (its action), the view, the checks that prove it, a hint.

\`create a --pid --mount\` records a sandbox with a new PID namespace; \`start a\` makes it.

\`\`\`predict
# Lines starting with # are comments. The answer is counted from 1.
question: How many PIDs does the kernel list for a's first process in /proc/PID/status (NSpid)?
choice: one, the same everywhere
choice: two, one per PID namespace it is in
answer: 2
explanation: A process has a PID in its own namespace and in every namespace above it: NSpid lists them.
\`\`\`

\`\`\`setup
# The REPL's own language (sandbox repl): create records, start makes it. Keys: a, b, c…
create a --pid --mount
start a
\`\`\`

\`\`\`run
# A shell line run on the host as root; $A is the host PID of a's PID 1.
grep NSpid /proc/$A/status
\`\`\`

\`\`\`view
kind: tree
title: The lesson's processes
\`\`\`

\`\`\`check
# Each check must fail when the step's action is skipped (check-lesson proves it).
label: a's first process is PID 1 inside its namespace
probe: grep NSpid /proc/$A/status
matches: \\s1$
\`\`\`

\`\`\`check
# in: a runs the probe inside sandbox a; differs: host compares it with the same probe on the host.
label: a's PID namespace is not the host's
in: a
probe: readlink /proc/self/ns/pid
differs: host
\`\`\`

\`\`\`hint
text: NSpid in /proc/PID/status lists the PIDs of a process, outermost namespace first.
\`\`\`

\`\`\`takeaway
text: A PID namespace numbers its processes from 1; the host still sees them with their own PIDs.
\`\`\`

## limit-b: Challenge: at most 5 processes in b

Your turn: press s for a shell, or use any terminal. A challenge has a goal, its own setup, the
variables the learner gets, checks, hints and a reference solution.

\`\`\`challenge
goal: Let sandbox b hold at most 5 processes, by writing its cgroup's file directly.
tools: cat, echo, the pids controller's files in $B_CG
writes: pids.max of b's cgroup
hint: The pids controller has one file that sets the limit.
\`\`\`

\`\`\`setup
create b --pid --mount
start b
\`\`\`

\`\`\`vars
B_CG: cgroup b pids
\`\`\`

\`\`\`check
label: b's cgroup allows at most 5 processes
probe: cat $B_CG/pids.max
equals: 5
\`\`\`

\`\`\`hint
# A conditional hint: shown while its probe holds; reach is a wrong attempt check-lesson tries.
when: cat $B_CG/pids.max
equals: 6
reach: echo 6 > $B_CG/pids.max
text: Close: the limit counts every process of b, sandbox-init included. At most 5.
\`\`\`

\`\`\`hint
text: echo a number into $B_CG/pids.max.
\`\`\`

\`\`\`solution
echo 5 > "$B_CG/pids.max"
\`\`\`

## count-c: Challenge: read c's PID 1

Typed answers are read from the live system: the question's probe prints the answer.

\`\`\`challenge
goal: Find the host PID of sandbox c's PID 1 from its cgroup.
tools: cat, $C_CG/cgroup.procs
\`\`\`

\`\`\`setup
create c --pid --mount
start c
\`\`\`

\`\`\`vars
C_CG: cgroup c pids
\`\`\`

\`\`\`question
id: c-pid1
question: What is the host PID of c's PID 1?
probe: head -n 1 $C_CG/cgroup.procs
compare: number
explanation: cgroup.procs lists the host PIDs of the processes in the cgroup; c holds only its PID 1.
\`\`\`

\`\`\`hint
text: Every cgroup lists its processes in cgroup.procs.
\`\`\`

\`\`\`solution
cat "$C_CG/cgroup.procs"
\`\`\`
`;
}

/** The lesson id for folder NAME (its last part), or why it cannot be one. */
export function idFor(name: string): string | { problem: string } {
  if (!name.trim()) return { problem: 'no folder name given: the folder\'s name becomes the lesson id' };
  const base = path.basename(path.resolve(name));
  if (!ID_RE.test(base) || base.length > ID_MAX) {
    return { problem: `the folder's name "${echo(base)}" is not a lesson id: it becomes the id, so use lowercase words joined by - (at most ${ID_MAX} characters), e.g. my-lesson` };
  }
  return base;
}

export async function newLessonCommand(name: string, opts: { err?: NodeJS.WritableStream; out?: NodeJS.WritableStream } = {}): Promise<number> {
  const err = opts.err ?? process.stderr;
  const out = opts.out ?? process.stdout;
  const id = idFor(name);
  if (typeof id !== 'string') {
    err.write(`error: ${id.problem}\nhint: sandbox new-lesson my-lesson\n`);
    return 2;
  }
  const user = invokingUser();
  const file = path.join(name, 'lesson.md');
  try {
    asUser(user, () => {
      try {
        // mkdir fails on anything already there (a file, a directory, a link: it is not followed).
        fs.mkdirSync(name, { mode: 0o755 });
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EEXIST') {
          throw new SandboxError(`${echo(name)} already exists: new-lesson writes a new folder and never changes an existing one`, {
            code: 'EEXIST',
            path: name,
            hint: `choose another name, or move it away: mv ${name} ${name}.old`,
          });
        }
        if (code === 'ENOENT' || code === 'ENOTDIR') {
          throw new SandboxError(`cannot create the folder ${echo(name)}: ${echo(path.dirname(name))} is not an existing folder`, {
            code,
            path: name,
            hint: `create the folder above it first (mkdir -p ${path.dirname(name)}), or give a name in this folder`,
          });
        }
        throw new SandboxError(`cannot create the folder ${echo(name)}${user.switches ? ` as uid ${user.uid}` : ''}: ${(e as Error).message}`, {
          code: code ?? 'E_BUG',
          path: name,
          hint: 'create it where you may write (your home, /tmp)',
        });
      }
      const fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o644);
      try {
        fs.writeSync(fd, skeleton(id));
      } finally {
        fs.closeSync(fd);
      }
    });
  } catch (e) {
    err.write(`${formatError(e)}\n`);
    // Bad input (a name taken, a folder above it missing) is the caller's to fix: exit 2.
    return e instanceof SandboxError && ['EEXIST', 'ENOENT', 'ENOTDIR'].includes(e.code ?? '') ? 2 : 1;
  }
  // The user wrote it (through us): its first run does not ask. Loaded as written, so the hash is
  // that of what is on disk now; any later edit asks again.
  const shown = name.includes('/') ? name : `./${name}`;
  try {
    const { loadLessonFolder } = await import('../lessons/folder/index.js');
    const folder = await loadLessonFolder(name);
    recordTrust(folder.dir, folder.hash);
  } catch (e) {
    const why = e instanceof LessonFileError ? `${e.where}: ${e.message}` : formatError(e).replace(/^error: /, '');
    err.write(`warning: the skeleton is written, but its first run will ask before running: ${why}\n`);
  }
  out.write(
    `Wrote ${file}: a lesson "${id}" with a guided step and two challenges, commented.\n` +
      `Next:\n  sudo sandbox check-lesson ${shown}      every check fails without its action, passes with it\n` +
      `  sudo sandbox learn ${shown}             run it (add --auto --plain to run every step without asking)\n` +
      'The format: docs/LESSON-FORMAT.md\n',
  );
  return 0;
}
