import { describe, expect, it } from 'vitest';

import { childStepError, formatError, SandboxError, usageError, wrapSystemError } from '../../src/runtime/errors.js';

describe('errors', () => {
  it('wraps a system error as "outer: inner" keeping code, errno, syscall and path', () => {
    const inner = Object.assign(new Error("EBUSY: resource busy, write '/sys/fs/cgroup/memory/sandbox/x/memory.limit_in_bytes'"), {
      code: 'EBUSY',
      errno: -16,
      syscall: 'write',
      path: '/sys/fs/cgroup/memory/sandbox/x/memory.limit_in_bytes',
    });
    const e = wrapSystemError(inner, { what: 'setting the memory limit', step: 'cgroup' });
    expect(e.message).toMatch(/^setting the memory limit: EBUSY/);
    expect(e).toMatchObject({ code: 'EBUSY', errno: 16, syscall: 'write', step: 'cgroup' });
    expect(e.hint).toMatch(/larger limit/);
  });

  it('turns a failed payload exec into "command not found" with the searched path', () => {
    const e = childStepError(
      'box',
      { errno: 2, code: 'ENOENT', message: 'No such file or directory', step: 'execve', path: 'nosuch' },
      undefined,
      '/usr/bin:/bin',
    );
    expect(e.message).toContain('nosuch: command not found in the sandbox (looked in /usr/bin, /bin)');
    expect(e.step).toBe('execve');
  });

  it('names the setup step that failed', () => {
    const e = childStepError('box', { errno: 22, code: 'EINVAL', message: 'Invalid argument', step: 'pivot_root', path: '/r' }, 'cd /r && pivot_root . .');
    expect(e.message).toContain('setup step "cd /r && pivot_root . ." failed');
    expect(e.hint).toMatch(/mount point/);
  });

  it('formats actionable errors with their hint and bugs with a request to report', () => {
    expect(formatError(usageError('bad', 'do this'))).toBe('error: bad\nhint: do this');
    expect(formatError(new SandboxError('oops', { code: 'E_BUG', actionable: false }))).toMatch(/bug in sandbox/);
  });
});
