/** Capability names and masks, and what a security configuration means (no root needed). */
import { describe, expect, it } from 'vitest';

import {
  CAPABILITIES,
  capMask,
  checkBoundingSet,
  decodeCaps,
  describeSecurity,
  DOCKER_DEFAULT_CAPS,
  effectiveCaps,
  formatCapMask,
  parseCapability,
  parseCapabilityList,
  SandboxError,
  securityFlags,
  securityNote,
  validateSecurity,
} from '../../src/runtime/index.js';
import { nativeSecurity } from '../../src/runtime/security.js';

describe('capabilities', () => {
  it('numbers the 41 capabilities as <linux/capability.h> does', () => {
    expect(CAPABILITIES).toHaveLength(41);
    expect(CAPABILITIES[0]).toBe('CHOWN');
    expect(CAPABILITIES[21]).toBe('SYS_ADMIN');
    expect(CAPABILITIES[40]).toBe('CHECKPOINT_RESTORE');
    expect(new Set(CAPABILITIES).size).toBe(41);
  });

  it("Docker's default set is CapEff 00000000a80425fb", () => {
    expect(formatCapMask(capMask(DOCKER_DEFAULT_CAPS))).toBe('00000000a80425fb');
    expect(DOCKER_DEFAULT_CAPS).not.toContain('SYS_ADMIN');
    expect(DOCKER_DEFAULT_CAPS).not.toContain('DAC_READ_SEARCH');
  });

  it('parses names with or without CAP_, in any case, and suggests the nearest for a typo', () => {
    expect(parseCapability('sys_admin')).toBe('SYS_ADMIN');
    expect(parseCapability('CAP_SYS_ADMIN')).toBe('SYS_ADMIN');
    expect(parseCapability(' Net_Admin ')).toBe('NET_ADMIN');
    expect(() => parseCapability('SYS_ADMN')).toThrow(/unknown capability "SYS_ADMN" \(did you mean SYS_ADMIN\?\)/);
    expect(() => parseCapability('')).toThrow(SandboxError);
    const long = 'X'.repeat(500);
    try {
      parseCapability(long);
      expect.unreachable();
    } catch (err) {
      expect((err as SandboxError).code).toBe('E_USAGE');
      expect((err as Error).message.length).toBeLessThan(160);
    }
  });

  it('parses comma-separated lists and ALL; refuses empty items', () => {
    expect(parseCapabilityList('net_admin,SYS_TIME')).toEqual(['NET_ADMIN', 'SYS_TIME']);
    expect(parseCapabilityList('all')).toHaveLength(41);
    expect(() => parseCapabilityList('NET_ADMIN,')).toThrow(/empty capability name/);
  });

  it('decodes a /proc/PID/status mask like capsh --decode', () => {
    expect(decodeCaps('00000000a80425fb')).toEqual(CAPABILITIES.filter((c) => DOCKER_DEFAULT_CAPS.includes(c)));
    expect(decodeCaps('000001fffeffffff')).toEqual(CAPABILITIES.filter((c) => c !== 'SYS_RESOURCE'));
    expect(decodeCaps(0n)).toEqual([]);
    expect(decodeCaps('0x3')).toEqual(['CHOWN', 'DAC_OVERRIDE']);
    expect(() => decodeCaps('zz')).toThrow(/not a capability mask/);
    expect(() => decodeCaps('1'.repeat(17))).toThrow(/not a capability mask/);
  });
});

describe('security configurations', () => {
  it('defaults to Docker: default caps and the default filter', () => {
    const d = describeSecurity({});
    expect(d.capMaskHex).toBe('00000000a80425fb');
    expect(d.seccomp).toMatch(/^default/);
    expect(nativeSecurity({}).filter).toEqual({ defaults: true, deny: [], lift: [] });
    expect(securityNote({})).toBeUndefined();
    expect(securityFlags({})).toEqual([]);
  });

  it('--privileged: every capability, no filter, and a note saying it can write the host', () => {
    expect(effectiveCaps({ privileged: true })).toHaveLength(41);
    expect(describeSecurity({ privileged: true }).seccomp).toMatch(/^unconfined/);
    expect(nativeSecurity({ privileged: true }).filter).toBeUndefined();
    expect(securityNote({ privileged: true })).toMatch(/can write the host/);
    expect(securityNote({ privileged: true }, true)).toMatch(/over its own namespaces only/);
  });

  it('cap-add lifts the matching default seccomp rules; cap-drop wins over cap-add', () => {
    const n = nativeSecurity({ capAdd: ['SYS_ADMIN', 'NET_ADMIN'] });
    expect(n.filter?.lift).toEqual(['SYS_ADMIN']);
    expect(effectiveCaps({ capAdd: ['SYS_ADMIN'], capDrop: ['SYS_ADMIN'] })).not.toContain('SYS_ADMIN');
    expect(securityNote({ capAdd: ['SYS_ADMIN'] })).toMatch(/CAP_SYS_ADMIN beyond Docker's default set/);
    expect(securityFlags({ capAdd: ['SYS_ADMIN'], seccomp: 'unconfined' })).toEqual(['--cap-add SYS_ADMIN', '--seccomp unconfined']);
  });

  it('seccompDeny alone makes a filter with only those syscalls', () => {
    expect(nativeSecurity({ seccomp: 'unconfined', seccompDeny: ['mkdir', 'mkdir'] }).filter).toEqual({ defaults: false, deny: ['mkdir'], lift: [] });
    expect(describeSecurity({ seccomp: 'unconfined', seccompDeny: ['mkdir'] }).seccomp).toBe('EPERM for mkdir only');
  });

  it('refuses a --cap-add outside the bounding set, except in a user namespace, with --privileged, or when also dropped', () => {
    const all = (1n << BigInt(CAPABILITIES.length)) - 1n;
    const noResource = all & ~(1n << 24n); // CAP_SYS_RESOURCE is bit 24
    expect(() => checkBoundingSet({ capAdd: ['SYS_RESOURCE'] }, false, noResource)).toThrow(/CAP_SYS_RESOURCE is not in this machine's capability bounding set/);
    expect(() => checkBoundingSet({ capAdd: ['SYS_RESOURCE', 'SYS_TIME'] }, false, noResource & ~(1n << 25n))).toThrow(/CAP_SYS_RESOURCE, CAP_SYS_TIME are not/);
    expect(() => checkBoundingSet({ capAdd: ['SYS_RESOURCE'] }, false, all)).not.toThrow();
    expect(() => checkBoundingSet({ capAdd: ['SYS_RESOURCE'] }, true, noResource)).not.toThrow();
    expect(() => checkBoundingSet({ capAdd: ['SYS_RESOURCE'], privileged: true }, false, noResource)).not.toThrow();
    expect(() => checkBoundingSet({ capAdd: ['SYS_RESOURCE'], capDrop: ['SYS_RESOURCE'] }, false, noResource)).not.toThrow();
    expect(() => checkBoundingSet({}, false, 0n)).not.toThrow();
  });

  it('validates names and bounds', () => {
    expect(() => validateSecurity({ seccompDeny: ['Mount; rm'] })).toThrow(/not a syscall name/);
    expect(() => validateSecurity({ seccompDeny: Array.from({ length: 65 }, (_, i) => `s${i}`) })).toThrow(/at most 64/);
    expect(() => validateSecurity({ seccomp: 'off' as never })).toThrow(/unknown seccomp mode/);
    expect(() => validateSecurity({ capAdd: ['NOPE' as never] })).toThrow(/unknown capability/);
  });
});
