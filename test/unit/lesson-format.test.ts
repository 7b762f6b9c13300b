/**
 * The lesson format (docs/LESSON-FORMAT.md): the loader turns a folder into a Lesson, lists every
 * line it can run with file:line, hashes the folder, and refuses each malformed fixture with the
 * file, the line and a message that says what is wrong. Loading runs nothing (only `sh -n`).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import { COURSE } from '../../src/lessons/manifest.js';
import { LessonFileError, loadLessonFolder } from '../../src/lessons/folder/index.js';
import { LIMITS, parseLessonText } from '../../src/lessons/folder/parse.js';
import { courseRules, lintLesson } from '../../src/lessons/engine.js';
import { cgroups } from '../../src/runtime/index.js';

const FIXTURES = path.resolve('test/fixtures/lessons');
const malformed = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'malformed.json'), 'utf8')) as {
  cases: { dir: string; line: number; message: string }[];
};

async function refusal(dir: string): Promise<LessonFileError> {
  try {
    await loadLessonFolder(dir);
  } catch (e) {
    if (e instanceof LessonFileError) return e;
    throw e;
  }
  throw new Error(`${dir} loaded: it should have been refused`);
}

const tmps: string[] = [];
function tmpLesson(text: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lesson-format-'));
  tmps.push(dir);
  fs.writeFileSync(path.join(dir, 'lesson.md'), text);
  return dir;
}
afterEach(() => {
  for (const d of tmps.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

const demoText = () => fs.readFileSync(path.join(FIXTURES, 'demo', 'lesson.md'), 'utf8');

describe('a lesson folder', () => {
  it('loads the demo into a Lesson the engine accepts, with the course rules met', async () => {
    const f = await loadLessonFolder(path.join(FIXTURES, 'demo'));
    expect(f.lesson.id).toBe('demo');
    expect(f.lesson.steps.map((s) => s.id)).toEqual(['own-hostname', 'rename-b', 'read-b']);
    expect(f.lesson.requires).toEqual([
      { kind: 'command', name: 'hostname' },
      { kind: 'command', name: 'nsenter' },
    ]);
    expect(f.lesson.intro).toMatch(/^A UTS namespace holds a hostname/);
    const [guided, rename, read] = f.lesson.steps;
    expect(guided.prose).toMatch(/^`create a --uts --hostname alpha`/);
    expect(guided.prediction).toMatchObject({ choices: ['alpha', "the host's own name"], answer: 1 });
    expect(guided.checks.map((c) => c.label)).toEqual(['a is called alpha', "a's UTS namespace is not the host's"]);
    expect(guided.view?.title).toBe('Hostnames');
    expect(rename.challenge).toMatchObject({ tools: ['nsenter', 'hostname'], solution: ['nsenter -t "$B" -u hostname gamma'] });
    expect(rename.challenge!.hints[0].when!.probe).toBe('nsenter -t $B -u hostname');
    expect(read.challenge!.questions![0]).toMatchObject({ id: 'c-name', question: "What is sandbox c's hostname?" });
    expect(lintLesson(f.lesson)).toEqual([]);
    expect(courseRules(f.lesson)).toEqual([]);
  });

  it('lists every line it can run, as written, with its line; the REPL lines as setup', async () => {
    const f = await loadLessonFolder(path.join(FIXTURES, 'demo'));
    const lines = demoText().split('\n');
    expect(f.commands.length).toBeGreaterThan(10);
    for (const c of f.commands) {
      expect(c.file).toBe('lesson.md');
      expect(lines[c.line - 1], `line ${c.line}`).toContain(c.text);
    }
    expect(f.commands).toContainEqual({ file: 'lesson.md', line: expect.any(Number), where: 'setup', role: 'setup', text: 'start a' });
    expect(f.commands).toContainEqual(expect.objectContaining({ where: 'sandbox a', role: 'run', text: 'hostname' }));
    expect(f.commands).toContainEqual(expect.objectContaining({ where: 'host', role: 'solution', text: 'nsenter -t "$B" -u hostname gamma' }));
    expect(f.commands).toContainEqual(expect.objectContaining({ role: 'cleanup' }));
    expect(f.files).toEqual(['lesson.md']);
  });

  it('hashes every file of the folder: an edit, or a file added, changes the hash', async () => {
    const dir = tmpLesson(demoText());
    const h1 = (await loadLessonFolder(dir)).hash;
    expect(h1).toMatch(/^[0-9a-f]{64}$/);
    expect((await loadLessonFolder(dir)).hash).toBe(h1);
    fs.appendFileSync(path.join(dir, 'lesson.md'), '\n');
    const h2 = (await loadLessonFolder(dir)).hash;
    expect(h2).not.toBe(h1);
    fs.writeFileSync(path.join(dir, 'notes.txt'), 'x');
    const f = await loadLessonFolder(dir);
    expect(f.hash).not.toBe(h2);
    expect(f.files).toEqual(['lesson.md', 'notes.txt']);
  });

  it('the built-in uts-ipc-namespaces is a folder lesson with its checks, views, challenges and questions', async () => {
    const entry = COURSE.find((e) => e.id === 'uts-ipc-namespaces')!;
    const { lesson } = await entry.load();
    expect(lesson.steps.map((s) => s.id)).toEqual(['two-hostnames', 'rename-inside', 'shm-inside', 'name-b-gamma', 'find-the-segments']);
    expect(lesson.steps.slice(0, 3).map((s) => s.checks.length)).toEqual([2, 2, 2]);
    expect(lesson.steps.slice(0, 3).every((s) => s.view && s.prediction && s.action)).toBe(true);
    expect(lesson.steps[2].takeaway).toMatch(/private hostname/);
    expect(lesson.steps[3].challenge!.writes).toBeTruthy();
    expect(lesson.steps[4].challenge!.questions!.map((q) => [q.id, q.compare])).toEqual([
      ['a-key', undefined],
      ['b-count', 'number'],
    ]);
    expect(entry.challenges).toEqual(['name-b-gamma', 'find-the-segments']);
    expect(lintLesson(lesson)).toEqual([]);
    expect(courseRules(lesson)).toEqual([]);
  });
});

describe('a malformed lesson file is refused with file:line and what is wrong', () => {
  it('has at least ten fixtures, each a different mistake', () => {
    expect(malformed.cases.length).toBeGreaterThanOrEqual(10);
    expect(new Set(malformed.cases.map((c) => c.message)).size).toBe(malformed.cases.length);
    for (const c of malformed.cases) expect(fs.existsSync(path.join(FIXTURES, c.dir, 'lesson.md')), c.dir).toBe(true);
  });

  it.each(malformed.cases.map((c) => [c.dir, c] as const))('%s', async (_dir, c) => {
    const e = await refusal(path.join(FIXTURES, c.dir));
    expect(e.code).toBe('E_LESSON_FILE');
    expect(e.file).toBe(path.join(FIXTURES, c.dir, 'lesson.md'));
    expect(e.line).toBe(c.line);
    expect(e.message).toMatch(new RegExp(c.message));
    expect(e.where).toBe(`${path.join(FIXTURES, c.dir, 'lesson.md')}:${c.line}`);
  });

  it('the fixtures differ from a loadable lesson only in their mistake', async () => {
    await expect(loadLessonFolder(path.join(FIXTURES, 'ok-minimal'))).resolves.toMatchObject({ lesson: { id: 'ok-minimal' } });
  });

  it('refuses a folder without lesson.md, a symlinked lesson.md, a symlinked folder, and a file over the size limit', async () => {
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'lesson-format-'));
    tmps.push(empty);
    expect((await refusal(empty)).message).toMatch(/no lesson\.md/);
    const link = fs.mkdtempSync(path.join(os.tmpdir(), 'lesson-format-'));
    tmps.push(link);
    fs.symlinkSync(path.join(FIXTURES, 'demo', 'lesson.md'), path.join(link, 'lesson.md'));
    expect((await refusal(link)).message).toMatch(/not a regular file/);
    const dirLink = `${link}-dir`;
    fs.symlinkSync(path.join(FIXTURES, 'demo'), dirLink);
    tmps.push(dirLink);
    expect((await refusal(dirLink)).message).toMatch(/symlink/);
    const big = tmpLesson(`${demoText()}\n${'x'.repeat(100)}\n`.repeat(Math.ceil(LIMITS.fileBytes / 100)));
    expect((await refusal(big)).message).toMatch(/larger than 256 KiB/);
  });

  it('refuses a line over the length limit, and a file that does not start with front matter', () => {
    expect(() => parseLessonText('l.md', `---\nid: x\n---\n${'a'.repeat(LIMITS.lineChars + 1)}\n`)).toThrow(/line is longer than 2000/);
    try {
      parseLessonText('l.md', '# no front matter\n');
      expect.unreachable();
    } catch (e) {
      expect(e).toMatchObject({ file: 'l.md', line: 1, message: expect.stringMatching(/must start with front matter/) });
    }
  });

  it('refuses what the format forbids, each at its line', async () => {
    const cases: [string, string, RegExp][] = [
      ['equals: alpha', 'equals: alpha\nmatches: alpha', /one comparison per check/],
      ['equals: alpha', 'differs: host', /differs: host .* add "in: KEY"/],
      ['create a --pid --mount --uts --hostname alpha', 'create bench --pid', /bench is reserved/],
      ['start a', 'start a\nexec a ls', /"exec" is not allowed in a lesson file/],
      ['```hint', '```vars\nX: pid a\n```\n\n```hint', /a vars block belongs in a challenge step/],
      ['equals: alpha', 'number: 9..1', /MIN is above MAX/],
      ['equals: alpha', `number: 1..${'9'.repeat(20)}`, /is not a number/],
    ];
    for (const [from, to, re] of cases) {
      const text = fs.readFileSync(path.join(FIXTURES, 'ok-minimal', 'lesson.md'), 'utf8').replace(from, to);
      const e = await refusal(tmpLesson(text));
      expect(e.message, to).toMatch(re);
      expect(e.line, to).toBeGreaterThan(0);
    }
  });
});

describe('what the cgroups-memory rewrite needs (format-gaps.md)', () => {
  const withStep = (extra: string) =>
    fs.readFileSync(path.join(FIXTURES, 'ok-minimal', 'lesson.md'), 'utf8').replace('```hint', `${extra}\n\n\`\`\`hint`);

  it('an only block makes the step unavailable, with its reason, where its condition does not hold', async () => {
    const v = cgroups().version === 2 ? 'v2' : 'v1';
    const other = v === 'v2' ? 'v1' : 'v2';
    const here = await loadLessonFolder(tmpLesson(withStep(`\`\`\`only\nwhen: cgroup ${v}\nwhy: needs ${v}\n\`\`\``)));
    expect(await here.lesson.steps[0].unavailable!({} as never)).toBeNull();
    const there = await loadLessonFolder(tmpLesson(withStep(`\`\`\`only\nwhen: cgroup ${other}\nwhy: needs ${other}\n\`\`\``)));
    expect(await there.lesson.steps[0].unavailable!({} as never)).toBe(`needs ${other}`);
    const cmd = await loadLessonFolder(tmpLesson(withStep('```only\nwhen: command no-such-command-here\nwhy: no such command\n```')));
    expect(await cmd.lesson.steps[0].unavailable!({} as never)).toBe('no such command');
    const e = await refusal(tmpLesson(withStep('```only\nwhen: kernel 6.1\nwhy: x\n```')));
    expect(e.message).toMatch(/only when "kernel 6.1"/);
  });

  it('probe-v1 and probe-v2: both listed for the instructor, the host\'s one run; one alone is refused', async () => {
    const text = fs
      .readFileSync(path.join(FIXTURES, 'ok-minimal', 'lesson.md'), 'utf8')
      .replace('probe: nsenter -t $A -u hostname', 'probe-v1: echo one\nprobe-v2: echo two');
    const f = await loadLessonFolder(tmpLesson(text));
    expect(f.commands.filter((c) => c.role === 'probe').map((c) => c.text)).toEqual(['echo one', 'echo two']);
    const alone = await refusal(tmpLesson(text.replace('probe-v2: echo two\n', '')));
    expect(alone.message).toMatch(/probe-v1 without probe-v2/);
    const both = await refusal(tmpLesson(text.replace('probe-v1: echo one', 'probe: echo x\nprobe-v1: echo one')));
    expect(both.message).toMatch(/give one probe, or probe-v1 and probe-v2/);
  });

  it('wait is bounded and only on guided checks', async () => {
    const e = await refusal(tmpLesson(withStep('').replace('equals: alpha', 'equals: alpha\nwait: 60000')));
    expect(e.message).toMatch(/wait \(ms\): 60000 is out of range/);
  });
});

describe('a host line of a lesson file', () => {
  it('leaves nothing running: what it started in the background is killed when the line ends', async () => {
    const { runHost } = await import('../../src/lessons/folder/shell.js');
    const r = await runHost('sleep 60 >/dev/null 2>&1 & echo $!', {}, 5000);
    const pid = Number(r.stdout.trim());
    expect(pid).toBeGreaterThan(1);
    const alive = () => {
      try {
        process.kill(pid, 0);
        return !/^State:\s+Z/m.test(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
      } catch {
        return false;
      }
    };
    for (let i = 0; i < 50 && alive(); i++) await new Promise((res) => setTimeout(res, 20));
    expect(alive()).toBe(false);
  });
});
