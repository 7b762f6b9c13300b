/**
 * Text that reads well (issue 13): wrapping breaks between words and tokens, never inside a
 * token such as `CLONE_PIDFD` or `uts:[4026532179]`; markdown in prose renders as emphasis, not
 * `*raw*`, with one list marker; line mode prints emphasis without its markers. No root.
 */
import fs from 'node:fs';
import path from 'node:path';

import { describe, expect, it } from 'vitest';

import { actionLogLines } from '../../src/tui/components/ActionLog.js';
import { hardWrap, inlineCode, type Line, lineText, lineWidth, markdownSpans, plainMarkdown, proseLines, seg, tokenBreak, wrapSegs, wrapText } from '../../src/tui/lines.js';
import { wrap } from '../../src/tui/text.js';

const SYSCALL = 'clone3({ flags: CLONE_NEWPID|CLONE_NEWNS|CLONE_NEWUTS|CLONE_NEWIPC|CLONE_NEWNET|CLONE_NEWCGROUP|CLONE_PIDFD, exit_signal: SIGCHLD }) = 4711';
const TOKENS = ['CLONE_NEWPID', 'CLONE_NEWNS', 'CLONE_NEWUTS', 'CLONE_NEWIPC', 'CLONE_NEWNET', 'CLONE_NEWCGROUP', 'CLONE_PIDFD', 'uts:[4026532179]', 'exit_signal:', 'SIGCHLD'];

/** The rows as text without their prefixes (`cut` columns of each row). */
const texts = (lines: Line[], cut = 0) => lines.map((l) => lineText(l).slice(cut));

/** Every token is whole on one row (no row ends in the middle of it). */
function expectWhole(rows: string[], tokens: string[]) {
  const joined = rows.join('\n');
  for (const t of tokens) if (rows.join(' ').includes(t)) expect(joined, `${t} is cut:\n${joined}`).toContain(t);
}

describe('wrapping breaks between words and tokens', () => {
  it('a syscall line never breaks inside CLONE_PIDFD at any width from 30 to 120', () => {
    for (let width = 30; width <= 120; width++) {
      const lines = wrapSegs([seg(SYSCALL)], width, [seg('  ⤷ ')], [seg('      ')]);
      for (const l of lines) expect(lineWidth(l)).toBeLessThanOrEqual(width);
      const rows = texts(lines).map((r) => r.replace(/^ {2}⤷ |^ {6}/, ''));
      expectWhole(rows, TOKENS);
      // Nothing lost: the words come back in order.
      expect(rows.join('').replace(/\s+/g, '')).toBe(SYSCALL.replace(/\s+/g, ''));
    }
  });

  it('a flags token wider than the line breaks after a |, a path before a /', () => {
    const flags = 'CLONE_NEWPID|CLONE_NEWNS|CLONE_NEWUTS|CLONE_PIDFD';
    const rows = texts(wrapText(flags, 30));
    expect(rows).toEqual(['CLONE_NEWPID|CLONE_NEWNS|', 'CLONE_NEWUTS|CLONE_PIDFD']);
    expect(texts(wrapText('/proc/4711/ns/pid', 12))).toEqual(['/proc/4711', '/ns/pid']);
    expect(texts(wrapText('see /sys/fs/cgroup/sandbox/pidns-a/cgroup.procs now', 24))).toEqual(['see /sys/fs/cgroup', '/sandbox/pidns-a', '/cgroup.procs now']);
  });

  it('a token wider than a whole line with no | , or / breaks at a _ first, and at the width only as a last resort', () => {
    expect(texts(wrapText('CLONE_NEWCGROUP', 10))).toEqual(['CLONE_', 'NEWCGROUP']);
    expect(texts(wrapText('ABCDEFGHIJKLMNOP', 10))).toEqual(['ABCDEFGHIJ', 'KLMNOP']);
    // A token that fits a line of its own is moved whole, never split.
    expect(texts(wrapText('the namespace uts:[4026532179] of a', 20))).toEqual(['the namespace', 'uts:[4026532179] of', 'a']);
    expect(tokenBreak([...'uts:[4026532179]'], 10, false)).toBeNull();
  });

  it('keeps styles across a split and the hanging indent on every row', () => {
    const lines = wrapSegs([seg('CLONE_NEWPID|', { bold: true }), seg('CLONE_PIDFD', { color: 'cyan' })], 16, [seg('$ ')], [seg('  ')]);
    expect(texts(lines)).toEqual(['$ CLONE_NEWPID|', '  CLONE_PIDFD']);
    expect(lines[1][1]).toMatchObject({ text: 'CLONE_PIDFD', color: 'cyan' });
  });

  it('command output keeps every space, breaks after a space where one fits, and gives the text back', () => {
    const out = "lrwxrwxrwx 1 root root 0 Dec  2 02:47 uts -> 'uts:[4026532179]'";
    for (let width = 20; width <= 70; width++) {
      const lines = hardWrap(out, width, {}, '  ', '    ');
      for (const l of lines) expect(lineWidth(l)).toBeLessThanOrEqual(width);
      const rows = lines.map((l, i) => lineText(l).slice(i ? 4 : 2));
      expect(rows.join('')).toBe(out);
      expectWhole(rows, ["'uts:[4026532179]'", 'lrwxrwxrwx', '02:47']);
    }
  });

  it('the action log: command, syscall, note and output lines keep their tokens whole', () => {
    const lines = actionLogLines(
      [{ command: 'sandbox run --pid --mount --uts -- readlink /proc/4711/ns/uts', syscall: SYSCALL, note: 'the flags CLONE_NEWPID and CLONE_PIDFD', output: 'uts:[4026532179]' }],
      44,
    );
    const rows = texts(lines).map((r) => r.trim().replace(/^(\$|⤷|#) /, ''));
    expectWhole(rows, [...TOKENS, '/proc/4711/ns/uts']);
  });
});

describe('markdown in prose', () => {
  it('*word*, _word_ and **word** render as emphasis without their markers; `code` in a colour', () => {
    const segs = inlineCode('a *mount namespace*, _shared subtrees_ and **never** `mount --bind`');
    expect(segs.map((s) => s.text).join('')).toBe('a mount namespace, shared subtrees and never mount --bind');
    expect(segs.find((s) => s.text === 'mount namespace')).toMatchObject({ italic: true });
    expect(segs.find((s) => s.text === 'shared subtrees')).toMatchObject({ italic: true });
    expect(segs.find((s) => s.text === 'never')).toMatchObject({ bold: true });
    expect(segs.find((s) => s.text === 'mount --bind')).toMatchObject({ color: 'cyan' });
  });

  it('leaves kernel and shell text alone: identifiers, globs, arithmetic, code spans', () => {
    for (const t of ['CLONE_NEWPID|CLONE_NEWNS', 'sandbox-* and sbx-*', 'a*b*c', 'snake_case_name', '2 * 3 * 4']) expect(plainMarkdown(t)).toBe(t);
    expect(markdownSpans('`ls /proc/*/ns` and `*x*`')).toEqual([{ text: 'ls /proc/*/ns', code: true }, { text: ' and ' }, { text: '*x*', code: true }]);
  });

  it('emphasis written across a line break in prose.md renders too', () => {
    const rows = texts(proseLines('The kernel keeps the list per *mount\nnamespace*. A process…', 80));
    expect(rows.join('\n')).not.toMatch(/\*/);
    expect(rows[0]).toContain('per mount namespace.');
  });

  it('list items written "- x" or "* x", with lines that continue them, get one marker and a hanging indent', () => {
    const text = '- shared: it belongs to a peer group. A mount or unmount under any member is repeated\nunder all the other members.\n\n* slave: it receives\n- private: neither';
    const rows = texts(proseLines(text, 50));
    expect(rows[0]).toMatch(/^• shared: it belongs/);
    expect(rows[1]).toMatch(/^ {2}\S/);
    expect(rows.filter((r) => /^[-*] /.test(r))).toEqual([]);
    expect(rows.filter((r) => r.startsWith('• '))).toHaveLength(3);
    // Line mode: one marker too, and no emphasis markers.
    const plain = wrap(`${text}\n\nper *mount\nnamespace*`, 50).split('\n');
    expect(plain.filter((r) => /^- /.test(r))).toHaveLength(3);
    expect(plain.filter((r) => /^\* /.test(r))).toEqual([]);
    expect(plain.join('\n')).toContain('per mount namespace');
  });

  it('no lesson shows a raw *word* or _word_: prose, intro, hints, takeaways, explanations (screen and line mode)', async () => {
    const { COURSE } = await import('../../src/lessons/manifest.js');
    const { loadLesson } = await import('../../src/lessons/engine.js');
    const raw = /(^|[\s(])([*_]{1,2})[\p{L}`][^*_\n]*[\p{L}`.)]\2(?=[\s.,;:)]|$)/u;
    const seen: string[] = [];
    for (const e of COURSE) {
      const lesson = await loadLesson(e.id);
      const texts: string[] = [lesson.intro ?? ''];
      for (const st of lesson.steps) {
        texts.push(st.prose ?? '', st.hint, st.takeaway ?? '', st.prediction?.explanation ?? '', st.prediction?.question ?? '', ...(st.prediction?.choices ?? []));
        if (st.challenge) texts.push(st.challenge.goal, ...st.challenge.hints.map((h) => h.text), ...(st.challenge.questions ?? []).map((q) => q.explanation ?? ''));
      }
      for (const t of texts.filter(Boolean)) {
        const screen = proseLines(t, 78).map(lineText).join('\n');
        const line = wrap(t, 78);
        for (const shown of [screen, line]) if (raw.test(shown)) seen.push(`${e.id}: ${raw.exec(shown)![0]}`);
      }
    }
    expect(seen).toEqual([]);
  });

  it('every prose.md with emphasis still has it in the source (the test above is not vacuous)', () => {
    const dir = path.resolve(import.meta.dirname, '../../src/lessons');
    const withEmphasis = fs.readdirSync(dir).filter((d) => fs.existsSync(path.join(dir, d, 'prose.md')) && /(^|\s)\*[a-z]/m.test(fs.readFileSync(path.join(dir, d, 'prose.md'), 'utf8')));
    expect(withEmphasis.length).toBeGreaterThan(0);
  });
});
