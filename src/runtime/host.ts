/**
 * What this host supports, and how to fix what is missing (`sandbox doctor`).
 */
import fs from 'node:fs';
import os from 'node:os';

import { execFileSync } from 'node:child_process';

import { type CgroupDriver, cgroups, detectLayout, type CgroupLayout } from './cgroup/index.js';
import type { CgroupV2Systemd } from './cgroup/systemd.js';
import { criuStatus } from './criu.js';
import { checkRunDir, RUN_DIR } from './ledger.js';
import { MS_RDONLY, NAMESPACES, NS_FILE, type Namespace } from './linux.js';
import { initPath, native, PACKAGE_ROOT } from './native.js';
import { busyboxPath } from './rootfs.js';
import { vmDoctor } from './vm.js';

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
  /** `parents`: where the sandboxes' cgroups go; `unit`: the systemd unit that holds them (systemd hosts). */
  cgroup: { layout: CgroupLayout; controllers: string[]; parents: string[]; unit?: string };
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

/**
 * What the kernel says about its filesystems and modules, and how a module gets loaded: the seam
 * through which the requirement checks below are tested (a fake kernel without overlay in
 * /proc/filesystems, a loader that works or not).
 */
export interface KernelModules {
  /** The text of /proc/filesystems. */
  filesystems(): string;
  /** /sys/module/NAME exists: the module is loaded (or built in). */
  loaded(module: string): boolean;
  /** Where this kernel has the module: built in, as a file to load (modules.dep), or nowhere. */
  onDisk(module: string): 'builtin' | 'module' | null;
  /** The kernel can load modules at all (/proc/modules exists). */
  modular(): boolean;
  /** Asks the kernel to load the module behind filesystem `fstype`; one line per attempt. */
  load(fstype: string): string[];
}

/** `unknown`: a kernel without loadable modules and no list of what is built in. */
export type FeatureState = 'available' | 'loadable' | 'missing' | 'unknown';

function listed(file: string, module: string): boolean {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return false;
  }
  // modules.dep: "kernel/fs/overlayfs/overlay.ko.xz: deps…"; modules.builtin: "kernel/fs/overlayfs/overlay.ko".
  const name = module.replace(/[-_]/g, '[-_]');
  return new RegExp(`(^|/)${name}\\.ko(\\.(xz|zst|gz))?(:|$)`, 'm').test(text);
}

/**
 * A trial `mount -t FSTYPE none DIR` with no options: the kernel looks the type up first and, when
 * it is unknown, loads the module that provides it (request_module("fs-FSTYPE"), which runs
 * modprobe) before anything else, exactly as a lesson's first real mount would. The mount itself
 * then fails for want of options (overlay: EINVAL, and "overlayfs: missing 'lowerdir'" in the
 * kernel log), so nothing is mounted. The target is an empty directory of ours under
 * /run/sandbox, removed at once: even a kernel that accepted the mount would cover nothing.
 */
function trialMount(fstype: string): string {
  checkRunDir(true);
  const dir = fs.mkdtempSync(`${RUN_DIR}/probe-${fstype}-`);
  try {
    native().mount('none', dir, fstype, MS_RDONLY, '');
    native().umount(dir, 0);
    return `mount -t ${fstype} none ${dir}: mounted (and unmounted)`;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    return `mount -t ${fstype} none ${dir}: ${code}${code === 'ENODEV' ? ' (the kernel knows no such filesystem and could not load it)' : ''}`;
  } finally {
    try {
      fs.rmdirSync(dir);
    } catch {
      /* removed by a concurrent `sandbox cleanup`; or still mounted, which cleanup unmounts */
    }
  }
}

export const realKernel: KernelModules = {
  filesystems: () => {
    try {
      return fs.readFileSync('/proc/filesystems', 'utf8');
    } catch {
      return '';
    }
  },
  loaded: (module) => fs.existsSync(`/sys/module/${module}`),
  modular: () => fs.existsSync('/proc/modules'),
  onDisk: (module) => {
    const dir = `/lib/modules/${os.release()}`;
    if (listed(`${dir}/modules.builtin`, module)) return 'builtin';
    return listed(`${dir}/modules.dep`, module) ? 'module' : null;
  },
  load: (fstype) => {
    if (!/^[a-z0-9_]{1,32}$/.test(fstype)) return [`nothing: "${fstype}" is not a filesystem name`];
    if (process.getuid?.() !== 0) return ['nothing: only root may mount or load modules (run with sudo)'];
    const tried: string[] = [];
    try {
      tried.push(trialMount(fstype));
    } catch (err) {
      tried.push(`mount -t ${fstype}: ${(err as Error).message}`);
    }
    if (!filesystemListed(realKernel.filesystems(), fstype)) {
      const modprobe = which('modprobe') ?? ['/usr/sbin/modprobe', '/sbin/modprobe'].find((p) => fs.existsSync(p));
      if (modprobe) {
        try {
          execFileSync(modprobe, [fstype], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 15_000 });
          tried.push(`modprobe ${fstype}: done`);
        } catch (err) {
          const stderr = String((err as { stderr?: Buffer }).stderr ?? '').trim().split('\n')[0];
          tried.push(`modprobe ${fstype}: ${stderr || (err as Error).message}`);
        }
      } else {
        tried.push('modprobe: not installed (Debian package kmod)');
      }
    }
    return tried;
  },
};

let kernel: KernelModules = realKernel;

/** Swaps the kernel seam (tests only); returns the function that puts the real one back. */
export function useKernelModules(k: KernelModules): () => void {
  kernel = k;
  return () => {
    kernel = realKernel;
  };
}

function filesystemListed(filesystems: string, fstype: string): boolean {
  return filesystems.split('\n').some((l) => l.split('\t').pop()?.trim() === fstype);
}

/**
 * Whether filesystem `fstype` (provided by module `module`) can be mounted, without changing
 * anything: `available` (registered, or its module loaded), `loadable` (a module on disk that the
 * first mount loads), `missing`. For `sandbox doctor`.
 */
export function filesystemState(fstype: string, module = fstype, k: KernelModules = kernel): FeatureState {
  if (filesystemListed(k.filesystems(), fstype) || k.loaded(module)) return 'available';
  return k.onDisk(module) === 'module' && k.modular() ? 'loadable' : 'missing';
}

/** Whether module `module` is built in, loaded, or loadable (for features without a filesystem, like veth). */
export function moduleState(module: string, k: KernelModules = kernel): FeatureState {
  if (k.loaded(module)) return 'available';
  const where = k.onDisk(module);
  if (where === 'builtin') return 'available';
  if (where === 'module' && k.modular()) return 'loadable';
  return k.modular() ? 'missing' : 'unknown';
}

/**
 * Makes filesystem `fstype` available the way the kernel itself would on first use (a module on
 * disk is loaded; see trialMount), then reads /proc/filesystems again. A fresh Debian 13 VM has
 * overlay as a module that nothing has loaded yet: refusing a lesson there would be wrong.
 * Returns null when available, else what to tell the learner.
 */
export function requireFilesystem(fstype: string, module = fstype, k: KernelModules = kernel): string | null {
  if (filesystemListed(k.filesystems(), fstype) || k.loaded(module)) return null;
  const tried = k.load(fstype);
  if (filesystemListed(k.filesystems(), fstype) || k.loaded(module)) return null;
  return (
    `it needs the ${fstype} filesystem, and this kernel could not load it (tried: ${tried.join('; ')}): ` +
    (k.onDisk(module) === 'module'
      ? `load it by hand (sudo modprobe ${module}) and see dmesg for why it fails`
      : `the module is not installed for kernel ${os.release()}: install this kernel's modules package, or use a kernel built with it`)
  );
}

/** A doctor check for a module-backed feature: ok when it is there or loads on first use. */
function moduleCheck(id: string, label: string, state: FeatureState, module: string): Check {
  return {
    id,
    label,
    status: state === 'missing' ? 'warn' : 'ok',
    detail:
      state === 'available'
        ? 'available'
        : state === 'loadable'
          ? `loadable: the ${module} module is on disk and the kernel loads it on first use`
          : state === 'unknown'
            ? 'built in, if at all: this kernel loads no modules and lists none (the lesson that needs it will say)'
            : `missing: not in this kernel, and no ${module} module for ${os.release()}`,
    fix: state === 'missing' ? `install the modules of kernel ${os.release()}, or use a distribution kernel` : undefined,
  };
}

/**
 * Where sandboxes' cgroups go. On a systemd host that is a unit systemd delegates to sandbox,
 * started on first need: doctor says whether it runs and that systemd's tools are there to start it.
 */
function delegationCheck(driver: CgroupDriver): Check {
  const label = "sandboxes' cgroups";
  if (!driver.unit) return { id: 'cgroup-parent', label, status: 'ok', detail: driver.where() };
  let state = '';
  try {
    execFileSync('systemd-run', ['--version'], { stdio: 'ignore', timeout: 10_000 });
    state = (driver as CgroupV2Systemd).unitState().active;
  } catch (err) {
    return {
      id: 'cgroup-parent',
      label,
      status: 'fail',
      detail: `systemd is PID 1, but ${(err as { code?: string }).code === 'ENOENT' ? 'systemd-run is missing' : `systemd did not answer: ${(err as Error).message}`}`,
      fix: `sandbox keeps its cgroups in ${driver.unit}, which it asks systemd to start; install the systemd package's tools`,
    };
  }
  return {
    id: 'cgroup-parent',
    label,
    status: 'ok',
    detail: `${driver.where()}; ${driver.unit} is ${state === 'active' ? 'active' : `${state || 'not started'} (started by the first sandbox)`}`,
  };
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
  checks.push(delegationCheck(driver));
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

  // Pressure stall information: per cgroup on v2 (cpu/memory/io.pressure), host-wide only on v1.
  const psi = fs.existsSync('/proc/pressure/memory');
  checks.push({
    id: 'psi',
    label: 'pressure stall information (PSI: memory.high lesson, sandbox top)',
    status: psi ? 'ok' : 'warn',
    detail: !psi
      ? 'not in this kernel (no /proc/pressure): no pressure figures'
      : layout === 'v2'
        ? 'per sandbox (cpu.pressure, memory.pressure, io.pressure) and host-wide (/proc/pressure)'
        : 'host-wide only (/proc/pressure): cgroup v1 keeps none per group; memory.high needs cgroup v2',
    fix: psi ? undefined : 'boot with psi=1 (kernels built with CONFIG_PSI_DEFAULT_DISABLED) or a kernel with CONFIG_PSI=y',
  });

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
  checks.push(moduleCheck('overlay', 'overlayfs (image layers)', filesystemState('overlay'), 'overlay'));
  checks.push(moduleCheck('veth', 'veth (the network lesson)', moduleState('veth'), 'veth'));
  const ip = which('ip');
  checks.push({
    id: 'iproute2',
    label: 'ip (iproute2, for the network lesson)',
    status: ip ? 'ok' : 'warn',
    detail: ip ?? 'not found',
    fix: ip ? undefined : 'sudo apt-get install iproute2',
  });
  // The isolation lesson's neighbours and probes (and bench:isolation, bench:overhead).
  const stressTools = ['stress-ng', 'iperf3', 'fio'].map((c) => [c, which(c)] as const);
  const stressMissing = stressTools.filter(([, p]) => !p).map(([c]) => c);
  checks.push({
    id: 'stress-tools',
    label: 'stress-ng, iperf3, fio (the isolation lesson\'s neighbours)',
    status: stressMissing.length ? 'warn' : 'ok',
    detail: stressTools.map(([c, p]) => `${c}: ${p ?? 'not found'}`).join(', '),
    fix: stressMissing.length ? `sudo apt-get install ${stressMissing.join(' ')}` : undefined,
  });

  // Cached and bounded by a timeout (criu check takes ~0.2 s where it works).
  const criu = criuStatus();
  checks.push({
    id: 'criu',
    label: 'CRIU (checkpoint, restore, migrate)',
    status: criu.works ? 'ok' : 'warn',
    detail: criu.detail,
    fix: criu.fix,
  });

  checks.push({ id: 'qemu', label: 'QEMU (the containers-vs-vms lesson\'s VM)', ...vmDoctor() });

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
    cgroup: { layout, controllers: driver.controllers, parents: driver.parents(), ...(driver.unit ? { unit: driver.unit } : {}) },
    namespaces,
    ok: checks.every((c) => c.status !== 'fail'),
  };
}
