/**
 * The capabilities-and-seccomp challenges: a root process that cannot read a file it does not
 * own (the learner drops the two capabilities that bypass file permissions, with setpriv:
 * prctl(PR_CAPBSET_DROP) and capset), and which capability one sandbox has beyond Docker's
 * default set (a typed answer, read from /proc/PID/status).
 *
 * Checks read /proc/PID/status of the processes in the challenge shell's cgroup: no process is
 * spawned to poll.
 */
import fs from 'node:fs';

import { CAPABILITIES, type Capability, decodeCaps } from '../../runtime/index.js';
import { benchPids } from '../challenge-probes.js';
import { verdict } from '../checks.js';
import type { LessonContext } from '../context.js';
import type { Step } from '../types.js';

/** The owner of the file root must not be able to read (no host user needs to exist). */
const OWNER = 4242;
const DAC: Capability[] = ['DAC_OVERRIDE', 'DAC_READ_SEARCH'];

interface Creds {
  pid: number;
  comm: string;
  uid: string;
  eff: bigint;
  bnd: bigint;
}

function creds(pid: number): Creds | null {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return null;
  }
  const f = (name: string) => new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(text)?.[1].trim().replace(/\s+/g, ' ') ?? '';
  const hex = (s: string) => (/^[0-9a-f]{1,16}$/i.test(s) ? BigInt(`0x${s}`) : 0n);
  return { pid, comm: f('Name'), uid: f('Uid'), eff: hex(f('CapEff')), bnd: hex(f('CapBnd')) };
}

const bit = (c: Capability) => 1n << BigInt(CAPABILITIES.indexOf(c));
const has = (mask: bigint, c: Capability) => (mask & bit(c)) !== 0n;
const DAC_MASK = DAC.reduce((m, c) => m | bit(c), 0n);
const names = (mask: bigint) => (mask === 0n ? '(none)' : decodeCaps(mask).map((c) => `cap_${c.toLowerCase()}`).join(','));

/** The learner's processes (challenge cgroup) running as uid 0, and the bench's own full set. */
function learner(ctx: LessonContext): { root: Creds[]; other: Creds[]; full: bigint | null } {
  const bench = ctx.get('bench');
  const all = benchPids(ctx)
    .map(creds)
    .filter((c): c is Creds => c !== null);
  const full = bench ? (creds(bench.pid)?.eff ?? null) : null;
  return { root: all.filter((c) => c.uid === '0 0 0 0'), other: all.filter((c) => !c.uid.startsWith('0 ')), full };
}

const lacksEff = (c: Creds) => !has(c.eff, 'DAC_OVERRIDE') && !has(c.eff, 'DAC_READ_SEARCH');
const lacksBnd = (c: Creds) => !has(c.bnd, 'DAC_OVERRIDE') && !has(c.bnd, 'DAC_READ_SEARCH');
const keepsRest = (c: Creds, full: bigint | null) => full !== null && (c.eff | DAC_MASK) === (full | DAC_MASK);
const show = (c: Creds) => `${c.comm}(${c.pid}) CapEff ${c.eff.toString(16)}, CapBnd ${c.bnd.toString(16)}`;

const unreadable: Step = {
  id: 'root-that-cannot-read',
  title: 'Challenge: a root that cannot read a file',
  checks: [],
  hint: 'Root reads any file only because of capabilities; without the right ones, uid 0 gets the same permission checks as anyone else.',
  challenge: {
    goal:
      `$SECRET belongs to uid ${OWNER} and has mode 600. Start a process that still runs as uid 0 but cannot read it, and leave it running ` +
      '(a shell, or sh -c \'cat $SECRET; exec sleep 1000\'). Remove only what lets root ignore file permissions, from its bounding set too, and keep every other capability.',
    tools: ['setpriv', 'cat', 'capsh --decode (if installed)'],
    writes: 'the capability sets (setpriv: prctl(PR_CAPBSET_DROP), capset)',
    setup: async (ctx) => {
      const ws = ctx.workspace('ch-files', { tmpfs: '1m' });
      const p = ws.writeFile('secret', 'only uid 4242 may read this\n', 0o600);
      fs.chownSync(p, OWNER, OWNER);
      ctx.log({ command: `chown ${OWNER}:${OWNER} ${p}; chmod 600 ${p}` });
    },
    vars: (ctx) => [{ name: 'SECRET', value: `${ctx.getWorkspace('ch-files')?.path ?? ''}/secret`, about: `a file of uid ${OWNER}, mode 600` }],
    checks: [
      {
        label: 'a process of yours runs as uid 0 without CAP_DAC_OVERRIDE or CAP_DAC_READ_SEARCH in CapEff',
        run: (ctx) => {
          const { root } = learner(ctx);
          const ok = root.find(lacksEff);
          return verdict(
            "grep -E 'Uid|CapEff' /proc/PID/status (each PID in the challenge's cgroup)",
            'Uid 0 0 0 0; CapEff without bits 1 and 2 (dac_override, dac_read_search)',
            ok ? show(ok) : `${root.length} root process(es) of yours, each with at least one of them`,
            !!ok,
          );
        },
      },
      {
        label: 'they are gone from its bounding set too: nothing it runs gets them back',
        run: (ctx) => {
          const { root } = learner(ctx);
          const ok = root.find((c) => lacksEff(c) && lacksBnd(c));
          const near = root.find(lacksEff);
          return verdict(
            "grep CapBnd /proc/PID/status",
            'CapBnd without dac_override and dac_read_search',
            ok ? show(ok) : near ? `${show(near)}: still ${names(near.bnd & DAC_MASK)} in CapBnd` : 'no such process',
            !!ok,
          );
        },
      },
      {
        label: 'it keeps every other capability it had',
        run: (ctx) => {
          const { root, full } = learner(ctx);
          const ok = root.find((c) => lacksEff(c) && lacksBnd(c) && keepsRest(c, full));
          const near = root.find((c) => lacksEff(c) && lacksBnd(c));
          const missing = near && full !== null ? full & ~near.eff & ~DAC_MASK : 0n;
          return verdict(
            'grep CapEff /proc/PID/status',
            `the challenge shell's CapEff minus those two${full !== null ? ` (${(full & ~DAC_MASK).toString(16)})` : ''}`,
            ok ? show(ok) : near ? `${show(near)}: also lost ${names(missing)}` : 'no such process',
            !!ok,
          );
        },
      },
    ],
    hints: [
      {
        when: {
          probe: "grep Uid /proc/PID/status (the challenge's processes)",
          holds: (ctx) => learner(ctx).other.length > 0,
        },
        text:
          `A process of yours no longer runs as root. Changing uid drops every capability, but uid ${OWNER} owns $SECRET: as its owner it may read it. ` +
          'The goal is a root (uid 0) that cannot: keep the uid and remove capabilities instead.',
        reach: [`setpriv --reuid=${OWNER} --regid=${OWNER} --clear-groups sleep 1000 >/dev/null 2>&1 &`, 'sleep 0.3'],
      },
      {
        when: {
          probe: 'grep CapEff /proc/PID/status',
          holds: (ctx) => learner(ctx).root.some((c) => !has(c.eff, 'DAC_OVERRIDE') && has(c.eff, 'DAC_READ_SEARCH')),
        },
        text: 'CAP_DAC_OVERRIDE is gone, but CAP_DAC_READ_SEARCH still lets root read any file (and search any directory): cat $SECRET still works there.',
        reach: ['setpriv --bounding-set=-dac_override sleep 1000 >/dev/null 2>&1 &', 'sleep 0.3'],
      },
      {
        when: {
          probe: 'grep CapEff /proc/PID/status',
          holds: (ctx) => learner(ctx).root.some((c) => has(c.eff, 'DAC_OVERRIDE') && !has(c.eff, 'DAC_READ_SEARCH')),
        },
        text: 'CAP_DAC_READ_SEARCH is gone, but CAP_DAC_OVERRIDE bypasses read, write and execute permission alike: root still reads $SECRET.',
        reach: ['setpriv --bounding-set=-dac_read_search sleep 1000 >/dev/null 2>&1 &', 'sleep 0.3'],
      },
      {
        when: {
          probe: 'grep CapEff /proc/PID/status',
          holds: (ctx) => {
            const { root, full } = learner(ctx);
            return root.some((c) => lacksEff(c) && lacksBnd(c)) && !root.some((c) => lacksEff(c) && lacksBnd(c) && keepsRest(c, full));
          },
        },
        text:
          'That root cannot read $SECRET, but it lost more than needed (a runtime that drops everything breaks programs that need, say, CAP_CHOWN). ' +
          'Remove just the two capabilities that bypass file permission checks.',
        reach: ['setpriv --bounding-set=-all sleep 1000 >/dev/null 2>&1 &', 'sleep 0.3'],
      },
      {
        text:
          'Two capabilities let root ignore file permissions (man 7 capabilities, "DAC"). setpriv --bounding-set=-cap1,-cap2 CMD drops them from the bounding set ' +
          'before running CMD; as root, CMD then gets only what the bounding set allows.',
      },
    ],
    solution: [`setpriv --bounding-set=-dac_override,-dac_read_search sh -c 'cat "$SECRET" || true; exec sleep 1000' >/dev/null 2>&1 &`, 'sleep 0.3'],
  },
};

/** Capabilities outside Docker's default set that a sandbox may be given here, one at random. */
const EXTRA: Capability[] = ['NET_ADMIN', 'SYS_PTRACE', 'SYS_TIME', 'DAC_READ_SEARCH', 'SYS_ADMIN', 'SYS_NICE', 'IPC_LOCK', 'SYS_RESOURCE'];

/** CapEff of `pid` as a mask, or null. */
function capEff(pid: number | undefined): bigint | null {
  if (!pid) return null;
  return creds(pid)?.eff ?? null;
}

/**
 * Prints b's extra capability: the bits b has and a lacks (sh arithmetic is 64-bit), the lowest
 * one's number, and its name from `setpriv --list-caps` (every name, in bit order). util-linux
 * only: capsh (libcap2-bin) is not on a minimal Debian.
 */
const EXTRA_PROBE =
  "e=$(( 0x$(awk '/^CapEff/{print $2}' /proc/$B/status) & ~0x$(awk '/^CapEff/{print $2}' /proc/$A/status) )); " +
  'n=0; while [ $n -lt 64 ] && [ $(( (e >> n) & 1 )) = 0 ]; do n=$((n+1)); done; ' +
  'echo cap_$(setpriv --list-caps | sed -n "$((n+1))p")';

const whichCap: Step = {
  id: 'which-capability',
  title: 'Challenge: which capability does b have?',
  checks: [],
  hint: 'CapEff in /proc/PID/status is a mask with one bit per capability, bit 0 = cap_chown.',
  challenge: {
    goal:
      "Sandboxes a and b both run sleep as uid 0. a has Docker's default capabilities; b has exactly one more. Find which, from the host, and type its name.",
    tools: ['grep', 'setpriv --list-caps (or capsh --decode)', 'sh arithmetic'],
    setup: async (ctx) => {
      // Only one this host can give: a capability outside our own bounding set (CAP_SYS_RESOURCE
      // on some hosted VMs) cannot reach a sandbox, and b would have nothing extra to find.
      const own = creds(process.pid)?.bnd ?? 0n;
      const offered = EXTRA.filter((c) => has(own, c));
      if (!offered.length) throw new Error(`this host's own bounding set holds none of ${EXTRA.join(', ')}: there is no capability to add`);
      const extra = offered[Math.floor(Math.random() * offered.length)];
      const base = { namespaces: ['pid', 'mount', 'uts'] as ('pid' | 'mount' | 'uts')[], command: ['sleep', 'infinity'] };
      await ctx.sandbox('ch-a', base);
      await ctx.sandbox('ch-b', { ...base, security: { capAdd: [extra] } });
      // The sandboxes' own log lines name b's extra capability (--cap-add …): that is the answer.
      ctx.takeLog();
      ctx.log({ note: "sandbox a: Docker's default capabilities; sandbox b: the same plus one, which you are to find" });
    },
    vars: (ctx) => [
      { name: 'A', value: String(ctx.get('ch-a')?.pid ?? ''), about: "host PID of sandbox a's sleep (Docker's default set)" },
      { name: 'B', value: String(ctx.get('ch-b')?.pid ?? ''), about: "host PID of sandbox b's sleep (one capability more)" },
    ],
    checks: [],
    hints: [
      {
        text:
          "Compare the CapEff lines of /proc/$A/status and /proc/$B/status. The bit that b has and a lacks is the answer; shell arithmetic isolates it " +
          "($(( 0xB & ~0xA ))). capsh --decode=HEX names the bits of a mask, if capsh is installed; setpriv --list-caps lists every name in bit order, from bit 0.",
      },
    ],
    questions: [
      {
        id: 'extra-cap',
        question: 'Which capability does b have beyond a\'s? (its name in lower case, e.g. cap_chown)',
        answer: (ctx) => {
          const a = capEff(ctx.get('ch-a')?.pid);
          const b = capEff(ctx.get('ch-b')?.pid);
          return { probe: EXTRA_PROBE, value: a !== null && b !== null ? names(b & ~a) : '' };
        },
        explanation:
          "Each capability is one bit of the mask; a runtime's --cap-add sets one more bit in the bounding, permitted and effective sets of the container's first process. " +
          'Whether b is dangerous depends on that one bit: CAP_SYS_ADMIN or CAP_DAC_READ_SEARCH opens the host, as this lesson showed.',
      },
    ],
    solution: [EXTRA_PROBE],
  },
};

/** The lesson's challenges, in order, after its guided steps. */
export const challengeSteps: Step[] = [unreadable, whichCap];
