/**
 * The course runs on arm64 lab VMs (Apple Silicon, Graviton) as on x86_64: a lesson that leans on
 * a kernel feature only x86 has must say so in its prose, or an arm64 student meets a failure the
 * lesson never explains. Features x86 has and arm64 lacks: soft-dirty page tracking (CRIU's
 * pre-copy rounds; arm64 has no HAVE_ARCH_SOFT_DIRTY), vsyscall, the x86-only system calls
 * (iopl, ioperm, modify_ldt, arch_prctl, vm86), the 32-bit `int 0x80` entry, MSRs, and the layout
 * of /proc/cpuinfo ("flags" and "model name" on x86, "Features" on arm64). No root needed.
 */
import fs from 'node:fs';
import path from 'node:path';

import { describe, expect, it } from 'vitest';

import { COURSE } from '../../src/lessons/manifest.js';

const LESSONS = path.resolve(import.meta.dirname, '../../src/lessons');

const X86_ONLY: [RegExp, string][] = [
  [/soft[-_ ]?dirty|clear_refs/i, 'soft-dirty page tracking'],
  [/vsyscall/i, 'vsyscall'],
  [/\b(iopl|ioperm|modify_ldt|arch_prctl|vm86(old)?)\b/, 'an x86-only system call'],
  [/int 0x80/i, 'the i386 system call entry'],
  [/\/dev\/cpu\/\d+\/msr|\brdmsr\b|\bwrmsr\b|\brdtsc\b|\bcpuid\b/i, 'an x86 CPU interface'],
  [/\/proc\/cpuinfo/, "/proc/cpuinfo's layout"],
];

/** What a lesson's code and prose rely on that only x86 has. */
function x86Only(text: string): string[] {
  return X86_ONLY.filter(([re]) => re.test(text)).map(([, what]) => what);
}

describe('lessons and x86-only kernel features', () => {
  it('the patterns find what they are meant to find', () => {
    expect(x86Only("echo 4 > /proc/PID/clear_refs; read the soft-dirty bit")).toEqual(['soft-dirty page tracking']);
    expect(x86Only('arch_prctl(ARCH_SET_FS)')).toEqual(['an x86-only system call']);
    expect(x86Only('grep flags /proc/cpuinfo')).toEqual(["/proc/cpuinfo's layout"]);
    expect(x86Only('clone3, pidfd_open, pivot_root, mount, unshare, setns')).toEqual([]);
  });

  for (const { id } of COURSE) {
    it(`${id}: runs on arm64, or its prose says what it needs from x86`, () => {
      const dir = path.join(LESSONS, id);
      const prose = fs.existsSync(path.join(dir, 'prose.md')) ? fs.readFileSync(path.join(dir, 'prose.md'), 'utf8') : '';
      const code = fs
        .readdirSync(dir)
        .filter((f) => f.endsWith('.ts'))
        .map((f) => fs.readFileSync(path.join(dir, f), 'utf8'))
        .join('\n');
      const needs = x86Only(`${code}\n${prose}`);
      const says = /\bx86\b/.test(prose);
      expect({ id, needs: needs.length > 0 && !says ? needs : [] }).toEqual({ id, needs: [] });
    });
  }
});
