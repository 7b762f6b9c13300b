/**
 * A tiny virtual machine, to compare with a sandbox: QEMU boots a Linux kernel with an initramfs
 * we build (a static busybox and an /init that prints "ready" and then waits), and the time to
 * "ready" and the memory the QEMU process holds are measured the same way as a sandbox's.
 *
 * The kernel: the host's own (/boot/vmlinuz-$(uname -r), as on every lab VM); else the Debian
 * kernel test/v2/run-in-guest.sh keeps in /var/cache/sandbox-v2-guest (its uncompressed vmlinux
 * boots through QEMU's PVH entry, 3–4 s faster under emulation than the bzImage); never a
 * download. KVM where /dev/kvm works, else software emulation (TCG), and the caller says which.
 *
 * Safety: QEMU runs as the command of a sandbox of ours (a cgroup with memory and pids limits, no
 * namespaces, Docker's capabilities and seccomp filter), so the ledger records it before it
 * starts and `sandbox cleanup` kills it with its cgroup; its files (the initramfs) live in a
 * workspace under /run/sandbox/<name>/, recorded and removed the same way.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { SandboxError } from './errors.js';
import { busyboxPath } from './rootfs.js';
import { Sandbox } from './sandbox.js';
import { Workspace } from './workspace.js';

/** Where test/v2/run-in-guest.sh caches the Debian kernel it boots (read only here). */
export const GUEST_KERNEL_CACHE = '/var/cache/sandbox-v2-guest/kernel';
export const QEMU = 'qemu-system-x86_64';
/** Guest RAM. 64 MiB is too little for Debian's kernel to unpack itself and the initramfs. */
export const VM_MEMORY_MIB = 128;
/** The QEMU sandbox's memory.max: guest RAM + QEMU's own (code, TCG translation cache). */
const VM_CGROUP_MEMORY = 768 * 1024 * 1024;
const READY = 'ready';

export interface VmKernel {
  path: string;
  /** "the host's own kernel" / "the v2 guest's Debian kernel (…cache)". */
  source: string;
  version: string;
}

/** A kernel QEMU can boot, without downloading anything; null if there is none. */
export function findVmKernel(): VmKernel | null {
  const own = `/boot/vmlinuz-${os.release()}`;
  if (readable(own)) return { path: own, source: "the host's own kernel", version: os.release() };
  let versions: string[] = [];
  try {
    versions = fs.readdirSync(GUEST_KERNEL_CACHE).filter((v) => /^[\w.+-]{1,64}$/.test(v) && fs.existsSync(`${GUEST_KERNEL_CACHE}/${v}/.complete`));
  } catch {
    return null;
  }
  for (const v of versions.sort().reverse()) {
    for (const p of [`${GUEST_KERNEL_CACHE}/${v}/vmlinux`, `${GUEST_KERNEL_CACHE}/${v}/boot/vmlinuz-${v}`]) {
      if (readable(p)) return { path: p, source: `the Debian kernel test/v2/run-in-guest.sh cached in ${GUEST_KERNEL_CACHE}`, version: v };
    }
  }
  return null;
}

function readable(p: string): boolean {
  try {
    fs.accessSync(p, fs.constants.R_OK);
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

export function which(cmd: string): string | null {
  for (const dir of (process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
    const p = path.join(dir || '.', cmd);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  return null;
}

/**
 * True when this machine is itself emulated by QEMU without KVM (the v2 guest, the lab VM under
 * TCG): a VM inside it is emulated twice and takes minutes to boot. QEMU's TCG CPU models name
 * themselves in /proc/cpuinfo.
 */
export function underEmulation(): boolean {
  if (process.env.SANDBOX_V2_GUEST === '1') return true;
  try {
    return /^model name\s*:\s*QEMU TCG/m.test(fs.readFileSync('/proc/cpuinfo', 'utf8'));
  } catch {
    return false;
  }
}

/** Why no VM can be booted here (with what to do), or null when one can. */
export function vmUnavailable(): string | null {
  if (process.arch !== 'x64') return `the VM comparison boots an x86_64 kernel with ${QEMU}; this machine is ${process.arch}`;
  if (underEmulation()) {
    return 'this machine is itself a VM emulated by QEMU without KVM (TCG): a VM inside it would be emulated twice and take minutes to boot; run the lesson on the host or a lab VM with KVM';
  }
  if (!which(QEMU)) return `${QEMU} is not installed: \`sudo apt-get install qemu-system-x86\``;
  if (!busyboxPath()) return 'no static busybox for the VM\'s initramfs: `sudo apt-get install busybox-static`';
  if (!findVmKernel()) {
    return `no kernel to boot: /boot/vmlinuz-${os.release()} is absent (a container host often has none) and ${GUEST_KERNEL_CACHE} is empty; \`sudo bash test/v2/run-in-guest.sh -- true\` caches a Debian kernel there once`;
  }
  return null;
}

// ----- the initramfs ---------------------------------------------------------------------------

/**
 * The VM's PID 1: prints "ready" on the serial console, then waits (a shell loop, as the
 * sandbox's shell does), so that its memory can be read while it runs.
 */
export const VM_INIT = `#!/bin/busybox sh
/bin/busybox echo ${READY}
while :; do /bin/busybox sleep 3600; done
`;

interface CpioFile {
  name: string;
  mode: number;
  data?: Buffer;
  rdev?: [number, number];
}

/** One newc ("070701") cpio archive, the format the kernel unpacks into its initial rootfs. */
export function cpioNewc(files: CpioFile[]): Buffer {
  const parts: Buffer[] = [];
  const pad = (n: number) => Buffer.alloc((4 - (n % 4)) % 4);
  const hex = (n: number) => n.toString(16).padStart(8, '0');
  let ino = 1;
  for (const f of [...files, { name: 'TRAILER!!!', mode: 0 }] as CpioFile[]) {
    const data = f.data ?? Buffer.alloc(0);
    const name = Buffer.from(`${f.name}\0`);
    const header = Buffer.from(
      '070701' +
        [ino++, f.mode, 0, 0, f.mode & 0o040000 ? 2 : 1, 0, data.length, 0, 0, f.rdev?.[0] ?? 0, f.rdev?.[1] ?? 0, name.length, 0].map(hex).join(''),
    );
    parts.push(header, name, pad(header.length + name.length), data, pad(data.length));
  }
  return Buffer.concat(parts);
}

/** The VM's initramfs: busybox, /dev/console (the kernel opens it for PID 1), /init. */
export function buildInitramfs(busybox: string): Buffer {
  return cpioNewc([
    { name: 'bin', mode: 0o040755 },
    { name: 'dev', mode: 0o040755 },
    { name: 'dev/console', mode: 0o020600, rdev: [5, 1] },
    { name: 'bin/busybox', mode: 0o100755, data: fs.readFileSync(busybox) },
    { name: 'init', mode: 0o100755, data: Buffer.from(VM_INIT) },
  ]);
}

// ----- booting ---------------------------------------------------------------------------------

export type Accel = 'kvm' | 'tcg';

export interface VmOptions {
  /** Sandbox and workspace name (the workspace is `<name>-files`). */
  name: string;
  purpose?: string;
  memoryMiB?: number;
  /** Default: KVM if /dev/kvm can be opened (falling back to TCG if it fails), else TCG. */
  accel?: Accel | 'auto';
  /** Longest wait for "ready" under TCG. Default 120 s (a busy 2-core machine measured 35 s). */
  timeoutMs?: number;
}

export interface BootedVm {
  /** The sandbox whose command is QEMU: its pid is QEMU's. */
  sandbox: Sandbox;
  files: Workspace;
  accel: Accel;
  /** Why KVM was not used, when it was not. */
  accelNote: string;
  kernel: VmKernel;
  /** From the spawn of QEMU to "ready" on the serial console. */
  bootMs: number;
  command: string[];
  initramfs: string;
  stop: () => Promise<void>;
}

export function qemuCommand(kernel: string, initrd: string, accel: Accel, memoryMiB: number): string[] {
  return [
    QEMU,
    '-accel', accel,
    '-m', String(memoryMiB),
    '-smp', '1',
    '-kernel', kernel,
    '-initrd', initrd,
    '-append', 'console=ttyS0 quiet loglevel=0 panic=-1',
    '-display', 'none',
    '-serial', 'stdio',
    '-monitor', 'none',
    '-nodefaults',
    '-no-reboot',
  ];
}

function kvmUsable(): boolean {
  try {
    fs.closeSync(fs.openSync('/dev/kvm', 'r+'));
    return true;
  } catch {
    return false;
  }
}

/** Waits for a line equal to "ready" on QEMU's serial console (its stdout). */
function waitReady(s: Sandbox, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const out = s.stdout;
    if (!out) return resolve(false);
    let buf = '';
    const done = (ok: boolean) => {
      clearTimeout(timer);
      out.off('data', onData);
      out.off('end', onEnd);
      out.resume();
      resolve(ok);
    };
    const onData = (c: Buffer) => {
      buf = (buf + c.toString('latin1')).slice(-4096);
      if (/(^|\n)ready\r?\n/.test(buf)) done(true);
    };
    const onEnd = () => done(false);
    const timer = setTimeout(() => done(false), timeoutMs);
    out.on('data', onData);
    out.on('end', onEnd);
  });
}

/** Boots the VM and returns once its /init has printed "ready" (or throws, leaving nothing). */
export async function bootVm(options: VmOptions): Promise<BootedVm> {
  const why = vmUnavailable();
  if (why) throw new SandboxError(`cannot boot a VM here: ${why}`, { code: 'E_NO_VM' });
  const kernel = findVmKernel()!;
  const memoryMiB = options.memoryMiB ?? VM_MEMORY_MIB;
  const purpose = options.purpose ?? 'vm';
  const files = Workspace.create({ name: `${options.name.slice(0, 26)}-files`, purpose, tmpfs: '16m' });
  const stopAll: (() => Promise<void>)[] = [async () => void files.destroy()];
  try {
    const initramfs = `${files.path}/initramfs.cpio`;
    fs.writeFileSync(initramfs, buildInitramfs(busyboxPath()!), { mode: 0o644, flag: 'wx' });
    const tries: { accel: Accel; timeoutMs: number }[] = [];
    let accelNote = '';
    const want = options.accel ?? 'auto';
    if (want === 'kvm' || (want === 'auto' && kvmUsable())) tries.push({ accel: 'kvm', timeoutMs: 15_000 });
    else accelNote = fs.existsSync('/dev/kvm') ? '/dev/kvm cannot be opened' : 'no /dev/kvm on this machine';
    if (want !== 'kvm') tries.push({ accel: 'tcg', timeoutMs: options.timeoutMs ?? 120_000 });
    for (const t of tries) {
      const command = qemuCommand(kernel.path, initramfs, t.accel, memoryMiB);
      const t0 = performance.now();
      const sandbox = await Sandbox.create({
        name: options.name,
        purpose,
        command,
        limits: { memory: VM_CGROUP_MEMORY, pids: 64 },
        stdio: ['pipe', 'pipe', 'pipe'],
        cwd: '/',
      });
      sandbox.stderr?.resume();
      const ok = await waitReady(sandbox, t.timeoutMs);
      const bootMs = performance.now() - t0;
      if (ok) {
        const stop = async () => {
          for (const f of stopAll.reverse()) await f().catch(() => undefined);
          stopAll.length = 0;
        };
        stopAll.push(async () => void (await sandbox.destroy()));
        return { sandbox, files, accel: t.accel, accelNote, kernel, bootMs, command, initramfs, stop };
      }
      // KVM on this machine may abort (stock Debian kernels on some nested hosts): fall back.
      const exited = !sandbox.running;
      await sandbox.destroy();
      if (t.accel === 'kvm') accelNote = `KVM was tried and ${exited ? 'QEMU exited' : `gave no "ready" within ${t.timeoutMs / 1000} s`}`;
      else throw new SandboxError(`the VM gave no "${READY}" within ${t.timeoutMs / 1000} s (${exited ? 'QEMU exited' : 'still booting'})`, { code: 'E_VM_BOOT' });
    }
    throw new SandboxError('no accelerator to try', { code: 'E_VM_BOOT' });
  } catch (err) {
    for (const f of stopAll.reverse()) await f().catch(() => undefined);
    throw err;
  }
}

// ----- memory ----------------------------------------------------------------------------------

export interface ProcessMemory {
  /** Proportional set size: each shared page divided among the processes that map it. */
  pss: number;
  rss: number;
  /** Private, anonymous pages: for QEMU, the guest's RAM it touched and its translation cache. */
  pssAnon: number;
}

/** /proc/PID/smaps_rollup in bytes; null if the process is gone. */
export function processMemory(pid: number): ProcessMemory | null {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  } catch {
    return null;
  }
  const kb = (field: string) => {
    const m = new RegExp(`^${field}:\\s+(\\d{1,15}) kB$`, 'm').exec(text);
    return m ? Number(m[1]) * 1024 : 0;
  };
  return { pss: kb('Pss'), rss: kb('Rss'), pssAnon: kb('Pss_Anon') };
}

// ----- doctor ----------------------------------------------------------------------------------

/** `sandbox doctor`'s QEMU line: can the containers-vs-vms lesson boot its VM here, and how. */
export function vmDoctor(): { status: 'ok' | 'warn'; detail: string; fix?: string } {
  const qemu = which(QEMU);
  const kernel = findVmKernel();
  if (process.arch !== 'x64') return { status: 'warn', detail: `the VM steps boot an x86_64 kernel; this machine is ${process.arch}: they are skipped` };
  if (underEmulation()) return { status: 'warn', detail: 'this machine is itself emulated by QEMU without KVM: the VM steps are skipped (a nested boot takes minutes)' };
  if (!qemu) return { status: 'warn', detail: `${QEMU} not found: the VM steps are skipped`, fix: 'sudo apt-get install qemu-system-x86' };
  if (!kernel) {
    return {
      status: 'warn',
      detail: `no kernel to boot (/boot/vmlinuz-${os.release()} absent, ${GUEST_KERNEL_CACHE} empty): the VM steps are skipped`,
      fix: `sudo bash test/v2/run-in-guest.sh -- true (caches a Debian kernel in ${GUEST_KERNEL_CACHE} once), or install the kernel image package that puts /boot/vmlinuz-${os.release()} in place`,
    };
  }
  if (!busyboxPath()) return { status: 'warn', detail: 'no static busybox for the VM\'s initramfs', fix: 'sudo apt-get install busybox-static' };
  return { status: 'ok', detail: `${qemu}; kernel ${kernel.path}; ${kvmUsable() ? 'KVM (falls back to TCG if it fails)' : 'TCG, software emulation (no usable /dev/kvm)'}` };
}
