/** mountinfo parsing and the plan that enters a root filesystem (chroot or pivot_root); no root needed. */
import { describe, expect, it } from 'vitest';

import { parseMountInfo, propagationOf } from '../../src/runtime/proc.js';
import { rootfsOps } from '../../src/runtime/rootfs.js';

const SAMPLE = [
  '27 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw',
  '95 44 0:43 /shared /run/sandbox/w\\040x/shared rw,relatime shared:12 master:3 - tmpfs sandbox-ws rw,size=65536k',
  '96 44 0:43 /slave /run/sandbox/w/slave rw,relatime master:2 - tmpfs sandbox-ws rw',
  '97 44 0:43 /private /run/sandbox/w/private rw,relatime - tmpfs sandbox-ws rw',
  '98 44 0:50 / /run/sandbox/w/merged rw,relatime unbindable - overlay overlay rw,lowerdir=/a:/b,upperdir=/u,workdir=/w',
  '',
].join('\n');

describe('parseMountInfo', () => {
  const t = parseMountInfo(SAMPLE);

  it('reads ids, device, root, mount point (unescaped), type and source', () => {
    expect(t).toHaveLength(5);
    expect(t[1]).toMatchObject({ id: 95, parent: 44, dev: '0:43', root: '/shared', mountPoint: '/run/sandbox/w x/shared', fstype: 'tmpfs', source: 'sandbox-ws' });
    expect(t[4].superOptions).toBe('rw,lowerdir=/a:/b,upperdir=/u,workdir=/w');
  });

  it('reads the propagation tags', () => {
    expect(t.map(propagationOf)).toEqual(['shared:1', 'shared:12 master:3', 'master:2', 'private', 'unbindable']);
    expect(t[2]).toMatchObject({ shared: null, master: 2, unbindable: false });
  });
});

describe('rootfsOps: entering the root', () => {
  const ctx = { root: '/run/sandbox/x/root', hostname: 'x', pidNs: true, userNs: false, propagation: 'private' as const };

  it('pivot_root by default, detaching the old root', () => {
    const ops = rootfsOps({ kind: 'dir', path: '/run/sandbox/w/rootfs' }, ctx);
    expect(ops[0].command).toBe('mount --make-rprivate /');
    expect(ops.at(-1)!.command).toBe('cd /run/sandbox/x/root && pivot_root . . && umount -l .');
  });

  it('chroot when asked, and nothing else changes', () => {
    const pivot = rootfsOps({ kind: 'dir', path: '/run/sandbox/w/rootfs' }, ctx);
    const chroot = rootfsOps({ kind: 'dir', path: '/run/sandbox/w/rootfs' }, { ...ctx, entry: 'chroot' });
    expect(chroot.at(-1)!.command).toBe('chroot /run/sandbox/x/root');
    expect(chroot.at(-1)!.syscall).toBe('chdir("/run/sandbox/x/root"); chroot("."); chdir("/")');
    expect(chroot.slice(0, -1)).toEqual(pivot.slice(0, -1));
  });
});
