/**
 * What a sandbox's payload may do as root: its capabilities and its seccomp filter.
 *
 * Root inside a container is only "not root on the host" because of these two. The default is
 * Docker's: its default capability set (moby oci/caps/defaults.go) and a seccomp filter in the
 * spirit of its default profile (moby profiles/seccomp/default.json), which returns EPERM for
 * mount, pivot_root, open_by_handle_at, module loading, kexec, bpf… The setup before execve
 * (mounts, pivot_root, hostname) still runs with every capability; the native layer drops them
 * and installs the filter as its last steps, just before execve.
 *
 * The names and numbers here come from <linux/capability.h>; the filter itself is built from
 * syscall names by libseccomp in the addon (native/seccomp.cc), once per distinct configuration.
 */
import fs from 'node:fs';

import { usageError } from './errors.js';

/** Capability names without the CAP_ prefix; the index in CAPABILITIES is the kernel's number. */
export type Capability =
  | 'CHOWN'
  | 'DAC_OVERRIDE'
  | 'DAC_READ_SEARCH'
  | 'FOWNER'
  | 'FSETID'
  | 'KILL'
  | 'SETGID'
  | 'SETUID'
  | 'SETPCAP'
  | 'LINUX_IMMUTABLE'
  | 'NET_BIND_SERVICE'
  | 'NET_BROADCAST'
  | 'NET_ADMIN'
  | 'NET_RAW'
  | 'IPC_LOCK'
  | 'IPC_OWNER'
  | 'SYS_MODULE'
  | 'SYS_RAWIO'
  | 'SYS_CHROOT'
  | 'SYS_PTRACE'
  | 'SYS_PACCT'
  | 'SYS_ADMIN'
  | 'SYS_BOOT'
  | 'SYS_NICE'
  | 'SYS_RESOURCE'
  | 'SYS_TIME'
  | 'SYS_TTY_CONFIG'
  | 'MKNOD'
  | 'LEASE'
  | 'AUDIT_WRITE'
  | 'AUDIT_CONTROL'
  | 'SETFCAP'
  | 'MAC_OVERRIDE'
  | 'MAC_ADMIN'
  | 'SYSLOG'
  | 'WAKE_ALARM'
  | 'BLOCK_SUSPEND'
  | 'AUDIT_READ'
  | 'PERFMON'
  | 'BPF'
  | 'CHECKPOINT_RESTORE';

/** Index = capability number (CAP_CHOWN = 0 … CAP_CHECKPOINT_RESTORE = 40). */
export const CAPABILITIES: readonly Capability[] = Object.freeze([
  'CHOWN',
  'DAC_OVERRIDE',
  'DAC_READ_SEARCH',
  'FOWNER',
  'FSETID',
  'KILL',
  'SETGID',
  'SETUID',
  'SETPCAP',
  'LINUX_IMMUTABLE',
  'NET_BIND_SERVICE',
  'NET_BROADCAST',
  'NET_ADMIN',
  'NET_RAW',
  'IPC_LOCK',
  'IPC_OWNER',
  'SYS_MODULE',
  'SYS_RAWIO',
  'SYS_CHROOT',
  'SYS_PTRACE',
  'SYS_PACCT',
  'SYS_ADMIN',
  'SYS_BOOT',
  'SYS_NICE',
  'SYS_RESOURCE',
  'SYS_TIME',
  'SYS_TTY_CONFIG',
  'MKNOD',
  'LEASE',
  'AUDIT_WRITE',
  'AUDIT_CONTROL',
  'SETFCAP',
  'MAC_OVERRIDE',
  'MAC_ADMIN',
  'SYSLOG',
  'WAKE_ALARM',
  'BLOCK_SUSPEND',
  'AUDIT_READ',
  'PERFMON',
  'BPF',
  'CHECKPOINT_RESTORE',
] as const);

/** Docker's default set (moby oci/caps/defaults.go): CapEff 00000000a80425fb. */
export const DOCKER_DEFAULT_CAPS: readonly Capability[] = Object.freeze([
  'CHOWN',
  'DAC_OVERRIDE',
  'FSETID',
  'FOWNER',
  'MKNOD',
  'NET_RAW',
  'SETGID',
  'SETUID',
  'SETFCAP',
  'SETPCAP',
  'NET_BIND_SERVICE',
  'SYS_CHROOT',
  'KILL',
  'AUDIT_WRITE',
] as const);

/** Levenshtein distance, for "did you mean". */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array(b.length).fill(0)] as number[]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
  }
  return d[a.length][b.length];
}

function shown(s: string): string {
  return JSON.stringify(s.length > 80 ? `${s.slice(0, 80)}…` : s);
}

/** "sys_admin", "CAP_SYS_ADMIN", "Sys_Admin" → 'SYS_ADMIN'; anything else is a usage error. */
export function parseCapability(s: string): Capability {
  const name = s.trim().toUpperCase().replace(/^CAP_/, '');
  if ((CAPABILITIES as readonly string[]).includes(name)) return name as Capability;
  let best: Capability | undefined;
  let bestD = Infinity;
  if (name.length <= 40) {
    for (const c of CAPABILITIES) {
      const dd = distance(name, c);
      if (dd < bestD) [best, bestD] = [c, dd];
    }
  }
  const guess = best !== undefined && bestD <= Math.max(2, Math.floor(best.length / 3)) ? best : undefined;
  throw usageError(
    `unknown capability ${shown(s)}${guess ? ` (did you mean ${guess}?)` : ''}`,
    'capabilities are named as in capabilities(7), with or without CAP_: e.g. SYS_ADMIN, NET_ADMIN, DAC_READ_SEARCH; ' +
      '`man 7 capabilities` lists them all',
  );
}

/**
 * A flag's value: one name, or several separated by commas ("NET_ADMIN,SYS_TIME"); "ALL" stands
 * for every capability (as in `docker run --cap-drop ALL`).
 */
export function parseCapabilityList(s: string): Capability[] {
  const parts = s.split(',').map((p) => p.trim());
  if (parts.some((p) => p === '')) throw usageError(`empty capability name in ${shown(s)}`, 'give names separated by commas, e.g. --cap-add NET_ADMIN,SYS_TIME');
  const out: Capability[] = [];
  for (const p of parts) {
    const caps = /^(CAP_)?ALL$/i.test(p) ? [...CAPABILITIES] : [parseCapability(p)];
    for (const c of caps) if (!out.includes(c)) out.push(c);
  }
  return out;
}

export function capMask(caps: readonly Capability[]): bigint {
  let m = 0n;
  for (const c of caps) {
    const i = CAPABILITIES.indexOf(c);
    if (i < 0) throw usageError(`unknown capability ${shown(String(c))}`);
    m |= 1n << BigInt(i);
  }
  return m;
}

/** As /proc/PID/status prints it: 16 hex digits. */
export function formatCapMask(mask: bigint): string {
  return mask.toString(16).padStart(16, '0');
}

/** capsh --decode: a CapEff/CapPrm/CapBnd value ("000001fffeffffff" or a bigint) to names. */
export function decodeCaps(hex: string | bigint): Capability[] {
  let m: bigint;
  if (typeof hex === 'bigint') m = hex;
  else {
    const t = hex.trim().replace(/^0x/i, '');
    if (!/^[0-9a-fA-F]{1,16}$/.test(t)) throw usageError(`not a capability mask: ${shown(hex)}`, 'give up to 16 hex digits, as in /proc/PID/status');
    m = BigInt(`0x${t}`);
  }
  if (m < 0n) throw usageError(`not a capability mask: ${String(hex)}`);
  const out: Capability[] = [];
  for (let i = 0; i < CAPABILITIES.length; i++) if ((m >> BigInt(i)) & 1n) out.push(CAPABILITIES[i]);
  return out;
}

export interface SecurityOptions {
  /** Every capability the caller has and no seccomp filter: today's behaviour, asked for visibly. */
  privileged?: boolean;
  capAdd?: readonly Capability[];
  capDrop?: readonly Capability[];
  /** 'default': the default filter; 'unconfined': none. */
  seccomp?: 'default' | 'unconfined';
  /** Extra syscalls (by name) that return EPERM, on top of the chosen filter (a lesson shows one). */
  seccompDeny?: readonly string[];
}

/** The capabilities a configuration keeps (before intersecting with what the caller has). */
export function effectiveCaps(s: SecurityOptions = {}): Capability[] {
  const set = new Set<Capability>(s.privileged ? CAPABILITIES : DOCKER_DEFAULT_CAPS);
  for (const c of s.capAdd ?? []) set.add(c);
  for (const c of s.capDrop ?? []) set.delete(c);
  return CAPABILITIES.filter((c) => set.has(c));
}

/** 'default' unless asked otherwise; --privileged means no filter, as in Docker. */
export function seccompMode(s: SecurityOptions = {}): 'default' | 'unconfined' {
  return s.seccomp ?? (s.privileged ? 'unconfined' : 'default');
}

/** Syscall names: lower-case letters, digits and underscores (libseccomp checks they exist). */
const SYSCALL_RE = /^[a-z_][a-z0-9_]{0,39}$/;

export function validateSecurity(s: SecurityOptions = {}): void {
  for (const c of [...(s.capAdd ?? []), ...(s.capDrop ?? [])]) parseCapability(c);
  if (s.seccomp !== undefined && s.seccomp !== 'default' && s.seccomp !== 'unconfined') {
    throw usageError(`unknown seccomp mode ${shown(String(s.seccomp))}`, 'use --seccomp default or --seccomp unconfined');
  }
  if ((s.seccompDeny?.length ?? 0) > 64) throw usageError('at most 64 syscalls can be denied one by one');
  for (const n of s.seccompDeny ?? []) {
    if (!SYSCALL_RE.test(n)) throw usageError(`not a syscall name: ${shown(n)}`, 'syscalls are named as in syscalls(2), e.g. mkdir, unshare');
  }
}

/** This process's capability bounding set (CapBnd in /proc/self/status), or null if unreadable. */
export function ownBoundingSet(): bigint | null {
  try {
    const hex = /^CapBnd:\s*([0-9a-fA-F]{1,16})$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'))?.[1];
    return hex ? BigInt(`0x${hex}`) : null;
  } catch {
    return null;
  }
}

/**
 * Refuses a capability asked for by name (--cap-add) that this process's bounding set lacks: the
 * kernel would drop it silently at exec, and the payload would run without what the learner asked
 * for while the note said it had it. The machine took it from everything started here (a
 * container, or systemd's CapabilityBoundingSet=). A new user namespace starts with a full
 * bounding set of its own, so it is exempt; so is --privileged (everything the caller has).
 */
export function checkBoundingSet(s: SecurityOptions, inUserNamespace: boolean, given?: bigint | null): void {
  // Every create and exec passes here: /proc/self/status is read only when a capability is added.
  if (inUserNamespace || s.privileged || !s.capAdd?.length) return;
  const bounding = given === undefined ? ownBoundingSet() : given;
  if (bounding === null) return;
  const missing = (s.capAdd ?? []).filter((c) => !(s.capDrop ?? []).includes(c) && !((bounding >> BigInt(CAPABILITIES.indexOf(c))) & 1n));
  if (!missing.length) return;
  const names = missing.map((c) => `CAP_${c}`).join(', ');
  throw usageError(
    `${names} ${missing.length > 1 ? 'are' : 'is'} not in this machine's capability bounding set (CapBnd ${formatCapMask(bounding)}): no process started here can hold ${missing.length > 1 ? 'them' : 'it'}, so --cap-add cannot give ${missing.length > 1 ? 'them' : 'it'}`,
    `the machine dropped ${missing.length > 1 ? 'them' : 'it'} for everything it runs (it is a container, or systemd's CapabilityBoundingSet=); run without --cap-add ${missing.join(',')}, or add --user to get ${missing.length > 1 ? 'them' : 'it'} inside a user namespace of its own`,
  );
}

export function describeSecurity(s: SecurityOptions = {}): { caps: Capability[]; capMaskHex: string; seccomp: string } {
  const caps = effectiveCaps(s);
  const mode = seccompMode(s);
  const deny = [...new Set(s.seccompDeny ?? [])];
  const seccomp =
    mode === 'default'
      ? `default (Docker-like: EPERM for mount, pivot_root, open_by_handle_at, module loading, kexec, bpf…)${deny.length ? ` + EPERM for ${deny.join(', ')}` : ''}`
      : deny.length
        ? `EPERM for ${deny.join(', ')} only`
        : 'unconfined (no filter)';
  return { caps, capMaskHex: formatCapMask(capMask(caps)), seccomp };
}

/** The `sandbox run` flags that ask for this configuration (none for the default). */
export function securityFlags(s: SecurityOptions = {}): string[] {
  const out: string[] = [];
  if (s.privileged) out.push('--privileged');
  const all = (caps: readonly Capability[] | undefined) => CAPABILITIES.every((c) => caps?.includes(c));
  if (all(s.capAdd)) out.push('--cap-add ALL');
  else for (const c of s.capAdd ?? []) out.push(`--cap-add ${c}`);
  if (all(s.capDrop)) out.push('--cap-drop ALL');
  else for (const c of s.capDrop ?? []) out.push(`--cap-drop ${c}`);
  if (s.seccomp) out.push(`--seccomp ${s.seccomp}`);
  return out;
}

/** What the caller asked for beyond the default, as one line for stderr; undefined if nothing. */
export function securityNote(s: SecurityOptions = {}, inUserNamespace = false): string | undefined {
  if (s.privileged) {
    const filter = seccompMode(s) === 'unconfined' ? ' and no seccomp filter' : '';
    return inUserNamespace
      ? `note: --privileged in a user namespace: the payload keeps every capability${filter}, over its own namespaces only`
      : `note: --privileged: the payload keeps every capability${filter}; it can write the host (remount binds, mount its disks, load modules)`;
  }
  const extra = (s.capAdd ?? []).filter((c) => !DOCKER_DEFAULT_CAPS.includes(c) && !(s.capDrop ?? []).includes(c));
  const parts: string[] = [];
  if (extra.length) parts.push(`the payload gets ${extra.map((c) => `CAP_${c}`).join(', ')} beyond Docker's default set`);
  if (seccompMode(s) === 'unconfined') parts.push('no seccomp filter: mount, pivot_root, open_by_handle_at, module loading… are not blocked');
  return parts.length ? `note: ${parts.join('; ')}` : undefined;
}

/**
 * What the native layer needs: the capability mask to keep, and the filter's configuration.
 * `filter` is undefined for no filter; `lift` are the capabilities whose syscalls the default
 * filter allows again (Docker does the same: with CAP_SYS_ADMIN, mount is allowed…).
 */
export interface NativeSecurity {
  capMask: bigint;
  filter?: { defaults: boolean; deny: string[]; lift: Capability[] };
}

/** Capabilities whose syscalls the default filter lets through when the profile holds them. */
export const LIFTING_CAPS: readonly Capability[] = ['SYS_ADMIN', 'SYS_MODULE', 'DAC_READ_SEARCH', 'SYS_BOOT', 'SYS_PTRACE', 'SYS_TIME', 'SYS_PACCT', 'SYS_RAWIO', 'SYSLOG', 'BPF', 'PERFMON'];

export function nativeSecurity(s: SecurityOptions = {}): NativeSecurity {
  const caps = effectiveCaps(s);
  const mode = seccompMode(s);
  const deny = [...new Set(s.seccompDeny ?? [])].sort();
  if (mode === 'unconfined' && deny.length === 0) return { capMask: capMask(caps) };
  return {
    capMask: capMask(caps),
    filter: { defaults: mode === 'default', deny, lift: mode === 'default' ? LIFTING_CAPS.filter((c) => caps.includes(c)) : [] },
  };
}
