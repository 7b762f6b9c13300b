/**
 * What this host supports, and how to fix what is missing (`sandbox doctor`).
 */
import fs from 'node:fs';
import os from 'node:os';

import { cgroups, detectLayout, type CgroupLayout } from './cgroup/index.js';
import { NAMESPACES, NS_FILE, type Namespace } from './linux.js';
import { initPath, native, PACKAGE_ROOT } from './native.js';
import { busyboxPath } from './rootfs.js';

export type CheckStatus = 'ok' | 'warn' | 'fail';

export interface Check {
  id: string;
  label: string;
  status: CheckStatus;
  detail: string;
  /** What to do about a warn/fail. */
  fix?: string;
}

export interface HostReport {
  checks: Check[];
  root: boolean;
  kernel: string;
  cgroup: { layout: CgroupLayout; controllers: string[] };
  namespaces: Record<Namespace, boolean>;
  ok: boolean;
}

const NEEDED_CONTROLLERS_V1 = ['cpu', 'cpuacct', 'cpuset', 'memory', 'pids', 'freezer'];
const NEEDED_CONTROLLERS_V2 = ['cpu', 'cpuset', 'memory', 'pids'];

function kernelAtLeast(release: string, major: number, minor: number): boolean {
  const m = /^(\d+)\.(\d+)/.exec(release);
  if (!m) return false;
  const [a, b] = [Number(m[1]), Number(m[2])];
  return a > major || (a === major && b >= minor);
}

function which(cmd: string): string | null {
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(':')) {
    try {
      fs.accessSync(`${dir}/${cmd}`, fs.constants.X_OK);
      return `${dir}/${cmd}`;
    } catch {
      /* next */
    }
  }
  return null;
}

function readNum(file: string): number | null {
  try {
    return Number(fs.readFileSync(file, 'utf8').trim());
  } catch {
    return null;
  }
}

export function probeHost(): HostReport {
  const checks: Check[] = [];
  const root = process.getuid?.() === 0;
  checks.push({
    id: 'root',
    label: 'running as root',
    status: root ? 'ok' : 'fail',
    detail: root ? 'uid 0' : `uid ${process.getuid?.()}`,
    fix: root ? undefined : 'namespaces, mounts and cgroups need root: run sandbox with sudo',
  });

  const kernel = os.release();
  const kernelOk = kernelAtLeast(kernel, 5, 8);
  checks.push({
    id: 'kernel',
    label: 'Linux kernel ≥ 5.8 (clone3, pidfd setns)',
    status: kernelOk ? 'ok' : 'fail',
    detail: kernel,
    fix: kernelOk ? undefined : 'use a newer distribution (Debian 12+, Ubuntu 22.04+)',
  });

  const layout = detectLayout();
  const driver = cgroups();
  const needed = layout === 'v2' ? NEEDED_CONTROLLERS_V2 : NEEDED_CONTROLLERS_V1;
  const missing = needed.filter((c) => !driver.controllers.includes(c));
  checks.push({
    id: 'cgroup',
    label: 'cgroups',
    status: 'ok',
    detail:
      layout === 'v2'
        ? 'cgroup v2 (unified) at /sys/fs/cgroup'
        : layout === 'hybrid'
          ? 'hybrid: controllers on cgroup v1, an empty cgroup v2 at /sys/fs/cgroup/unified'
          : 'cgroup v1',
  });
  checks.push({
    id: 'controllers',
    label: 'cgroup controllers',
    status: missing.length === 0 ? 'ok' : 'warn',
    detail: `${driver.controllers.join(' ') || 'none'}${missing.length ? ` (missing: ${missing.join(' ')})` : ''}`,
    fix: missing.length
      ? `limits that need ${missing.join(', ')} will be refused; ${layout === 'v2' ? 'check /sys/fs/cgroup/cgroup.controllers' : 'mount the missing v1 controllers'}`
      : undefined,
  });
  if (layout === 'v2') {
    const kill = kernelAtLeast(kernel, 5, 14);
    checks.push({
      id: 'cgroup.kill',
      label: 'cgroup.kill (one write ends a whole sandbox)',
      status: kill ? 'ok' : 'warn',
      detail: kill ? 'available' : 'not in this kernel: sandbox freezes and kills each process instead',
    });
  } else {
    checks.push({
      id: 'freezer',
      label: 'freezer (to end a fork bomb at once)',
      status: driver.controllers.includes('freezer') ? 'ok' : 'warn',
      detail: driver.controllers.includes('freezer') ? 'available' : 'missing: processes are killed one by one',
    });
  }

  const namespaces = {} as Record<Namespace, boolean>;
  for (const ns of NAMESPACES) namespaces[ns] = fs.existsSync(`/proc/self/ns/${NS_FILE[ns]}`);
  const noNs = NAMESPACES.filter((n) => !namespaces[n]);
  checks.push({
    id: 'namespaces',
    label: 'namespaces',
    status: noNs.length ? 'fail' : 'ok',
    detail: noNs.length ? `missing: ${noNs.join(' ')}` : NAMESPACES.join(' '),
    fix: noNs.length ? 'this kernel was built without some namespaces; use a distribution kernel' : undefined,
  });
  const maxUserNs = readNum('/proc/sys/user/max_user_namespaces');
  checks.push({
    id: 'userns',
    label: 'user namespaces',
    status: maxUserNs === 0 ? 'warn' : 'ok',
    detail: maxUserNs === null ? 'unknown' : `max_user_namespaces = ${maxUserNs}`,
    fix: maxUserNs === 0 ? 'the user-namespaces lesson needs them: sysctl -w user.max_user_namespaces=15000' : undefined,
  });

  let addonOk = true;
  let addonDetail = `${PACKAGE_ROOT}/build/Release`;
  try {
    native();
    initPath();
  } catch (err) {
    addonOk = false;
    addonDetail = (err as Error).message;
  }
  checks.push({
    id: 'addon',
    label: 'native addon and sandbox-init',
    status: addonOk ? 'ok' : 'fail',
    detail: addonDetail,
    fix: addonOk ? undefined : 'run `npm install` in the sandbox directory (needs g++, make, python3)',
  });

  const bb = busyboxPath();
  checks.push({
    id: 'busybox',
    label: 'static busybox (tiny "image" root filesystems)',
    status: bb ? 'ok' : 'warn',
    detail: bb ?? 'not found',
    fix: bb ? undefined : 'sudo apt-get install busybox-static',
  });
  const filesystems = fs.existsSync('/proc/filesystems') ? fs.readFileSync('/proc/filesystems', 'utf8') : '';
  const overlay = /\toverlay$/m.test(filesystems) || fs.existsSync('/sys/module/overlay');
  checks.push({
    id: 'overlay',
    label: 'overlayfs (image layers)',
    status: overlay ? 'ok' : 'warn',
    detail: overlay ? 'available' : 'not loaded',
    fix: overlay ? undefined : 'sudo modprobe overlay',
  });
  const ip = which('ip');
  checks.push({
    id: 'iproute2',
    label: 'ip (iproute2, for the network lesson)',
    status: ip ? 'ok' : 'warn',
    detail: ip ?? 'not found',
    fix: ip ? undefined : 'sudo apt-get install iproute2',
  });

  const tty = process.stdout.isTTY === true;
  const cols = process.stdout.columns ?? 0;
  const rows = process.stdout.rows ?? 0;
  checks.push({
    id: 'terminal',
    label: 'terminal',
    status: !tty || (cols >= 80 && rows >= 24) ? 'ok' : 'warn',
    detail: tty
      ? `${cols}×${rows}, TERM=${process.env.TERM ?? '(unset)'}${process.env.NO_COLOR ? ', NO_COLOR set' : ''}`
      : 'not a terminal: screens print plain lines (--plain)',
    fix: tty && (cols < 80 || rows < 24) ? 'enlarge the window to at least 80×24 for the lesson screens' : undefined,
  });

  return {
    checks,
    root,
    kernel,
    cgroup: { layout, controllers: driver.controllers },
    namespaces,
    ok: checks.every((c) => c.status !== 'fail'),
  };
}
