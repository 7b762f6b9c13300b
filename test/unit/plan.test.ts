import { describe, expect, it } from 'vitest';

import { MS_BIND, MS_NOSUID, MS_PRIVATE, MS_REC } from '../../src/runtime/linux.js';
import { op, OpKind, toNative } from '../../src/runtime/plan.js';
import { execCandidates, rootfsOps } from '../../src/runtime/rootfs.js';

describe('plan ops', () => {
  it('shows each op as a command and a system call', () => {
    const p = op.propagation('private');
    expect(p.command).toBe('mount --make-rprivate /');
    expect(p.syscall).toBe('mount(NULL, "/", NULL, MS_REC|MS_PRIVATE, NULL)');
    expect(p.flags).toBe(MS_REC | MS_PRIVATE);

    const m = op.mount('proc', 'proc', '/r/proc', MS_NOSUID);
    expect(m.command).toBe('mount -t proc -o nosuid proc /r/proc');
    expect(m.kind).toBe(OpKind.Mount);

    const b = op.bind('/usr', '/r/usr');
    expect(b.flags).toBe(MS_BIND | MS_REC);
    expect(b.command).toBe('mount --rbind /usr /r/usr');
  });

  it('passes only plain data to the native layer', () => {
    const [n] = toNative([op.mkdir('/x', 0o700)]);
    expect(n).toEqual({ kind: OpKind.Mkdir, a: undefined, b: '/x', c: undefined, d: undefined, flags: 0o700 });
  });
});

describe('rootfs plans', () => {
  const ctx = { root: '/run/sandbox/t/root', hostname: 'box', pidNs: true, userNs: false, propagation: 'private' as const };

  it('makes / private before any mount and ends with pivot_root', () => {
    const ops = rootfsOps({ kind: 'host' }, ctx);
    expect(ops[0].command).toBe('mount --make-rprivate /');
    expect(ops.at(-1)!.kind).toBe(OpKind.Pivot);
    const firstMount = ops.findIndex((o, i) => i > 0 && o.kind === OpKind.Mount);
    expect(firstMount).toBeGreaterThan(0);
  });

  it('mounts a fresh proc in a new PID namespace, binds the host one for a user namespace without one', () => {
    const withPid = rootfsOps({ kind: 'host' }, ctx).find((o) => o.b === `${ctx.root}/proc` && o.kind === OpKind.Mount)!;
    expect(withPid.c).toBe('proc');
    const userOnly = rootfsOps({ kind: 'host' }, { ...ctx, pidNs: false, userNs: true }).find(
      (o) => o.b === `${ctx.root}/proc` && o.kind === OpKind.Mount,
    )!;
    expect(userOnly.a).toBe('/proc');
    expect(userOnly.flags! & MS_BIND).toBeTruthy();
  });

  it('with no new root only remounts /proc', () => {
    const ops = rootfsOps({ kind: 'none' }, ctx);
    expect(ops.map((o) => o.command)).toEqual(['mount --make-rprivate /', 'mount -t proc -o nosuid,nodev,noexec proc /proc']);
  });

  it('binds the host binaries read-only', () => {
    const ops = rootfsOps({ kind: 'host' }, ctx);
    expect(ops.some((o) => o.kind === OpKind.RemountRo && o.b === `${ctx.root}/usr`)).toBe(true);
  });
});

describe('execCandidates', () => {
  it('searches PATH in order, or uses a path as given', () => {
    expect(execCandidates('sh', '/a:/b/')).toEqual(['/a/sh', '/b/sh']);
    expect(execCandidates('./x', '/a')).toEqual(['./x']);
  });
});
