/**
 * uts-ipc-namespaces: each sandbox has its own hostname and the host keeps its own; a System V
 * shared-memory segment exists only in the IPC namespace that made it. Hostnames are read with
 * `hostname` run in each UTS namespace, segments from /proc/sysvipc/shm, which lists the reader's
 * IPC namespace.
 */
import { execFile, execFileSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';

import { nsLink } from '../../runtime/index.js';
import { noSandbox, readlinkOr, verdict } from '../checks.js';
import type { LessonContext } from '../context.js';
import type { Lesson, TableView, View } from '../types.js';
import { benchPids, nsOf } from '../challenge-probes.js';

const NAMES = { a: 'alpha', b: 'beta' } as const;
const RENAMED = 'alpha-renamed';
const SEGMENT = 4096;

interface Segment {
  key: string;
  shmid: number;
  size: number;
}

/** Rows of /proc/sysvipc/shm (key as 0x… hex, as ipcs shows it). */
function parseShm(text: string): Segment[] {
  return text
    .split('\n')
    .slice(1)
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length > 3 && /^-?\d+$/.test(f[0]))
    .map((f) => ({ key: `0x${(Number(f[0]) >>> 0).toString(16).padStart(8, '0')}`, shmid: Number(f[1]), size: Number(f[3]) }));
}

function hostSegments(): Segment[] {
  try {
    return parseShm(fs.readFileSync('/proc/sysvipc/shm', 'utf8'));
  } catch {
    return [];
  }
}

async function segmentsIn(ctx: LessonContext, key: string): Promise<Segment[] | null> {
  const s = ctx.get(key);
  if (!s) return null;
  const r = await s.execOutput(['cat', '/proc/sysvipc/shm']);
  return parseShm(r.stdout);
}

async function hostnameIn(ctx: LessonContext, key: string): Promise<string | null> {
  const s = ctx.get(key);
  if (!s) return null;
  return (await s.execOutput(['hostname'])).stdout.trim();
}

/** Hostname and segments of a sandbox, read by joining its UTS and IPC namespaces (for the view). */
function peek(pid: number): { hostname: string; shm: Segment[] } {
  try {
    const out = execFileSync('nsenter', ['-t', String(pid), '-u', '-i', 'sh', '-c', 'hostname; cat /proc/sysvipc/shm'], {
      encoding: 'utf8',
      timeout: 2000,
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const nl = out.indexOf('\n');
    return { hostname: out.slice(0, nl), shm: parseShm(out.slice(nl + 1)) };
  } catch {
    return { hostname: '?', shm: [] };
  }
}

/**
 * The host and sandboxes side by side. `ipcFirst`: the rows the shared-memory step is about come
 * first (segments, then the IPC namespaces), so that a short view never hides them.
 */
function sampleSideBySide(ctx: LessonContext, ipcFirst = false): TableView {
  const cols: { name: string; uts: string; ipc: string; hostname: string; shm: Segment[] }[] = [
    { name: 'host', uts: nsLink('self', 'uts') ?? '', ipc: nsLink('self', 'ipc') ?? '', hostname: os.hostname(), shm: hostSegments() },
  ];
  for (const key of ['a', 'b']) {
    const s = ctx.get(key);
    if (!s) continue;
    cols.push({ name: `sandbox ${key}`, uts: readlinkOr(`/proc/${s.pid}/ns/uts`), ipc: readlinkOr(`/proc/${s.pid}/ns/ipc`), ...peek(s.pid) });
  }
  const shm = (l: Segment[]) => (l.length ? l.map((g) => `${g.key} (${g.size} B)`).join(', ') : 'none');
  return {
    kind: 'table',
    columns: ['', ...cols.map((c) => c.name)],
    rows: ipcFirst
      ? [
          ['shm segments', ...cols.map((c) => shm(c.shm))],
          ['IPC namespace', ...cols.map((c) => c.ipc)],
          ['hostname', ...cols.map((c) => c.hostname)],
        ]
      : [
          ['hostname', ...cols.map((c) => c.hostname)],
          ['UTS namespace', ...cols.map((c) => c.uts)],
          ['IPC namespace', ...cols.map((c) => c.ipc)],
          ['shm segments', ...cols.map((c) => shm(c.shm))],
        ],
    highlight: ipcFirst ? [0] : undefined,
    caption: ipcFirst
      ? 'shm segments: /proc/sysvipc/shm read inside each IPC namespace (nsenter -i), as key (size); namespaces from /proc/PID/ns'
      : 'hostname and /proc/sysvipc/shm as read from inside each namespace (nsenter -u -i); the namespaces from /proc/PID/ns',
  };
}

const sideBySide: View = { title: 'Side by side: host and sandboxes', intervalMs: 1000, sample: (ctx) => sampleSideBySide(ctx) };
const ipcSideBySide: View = { title: 'Shared memory: host and sandboxes', intervalMs: 1000, sample: (ctx) => sampleSideBySide(ctx, true) };


// ----- challenges ------------------------------------------------------------------------------

const GAMMA = 'gamma';
const CH_NAMES = { a: 'alpha', b: 'beta' } as const;

/**
 * The hostnames of the challenge's sandboxes a and b. A hostname can only be read from inside its
 * UTS namespace (/proc/sys/kernel/hostname and uname(2) answer for the reader's, even through
 * /proc/PID/root), so this runs one `nsenter` per poll: the checks and hints of one poll share
 * the result.
 */
const namesCache = new WeakMap<LessonContext, { at: number; names: Promise<{ a: string | null; b: string | null }> }>();
function utsNames(ctx: LessonContext): Promise<{ a: string | null; b: string | null }> {
  const hit = namesCache.get(ctx);
  if (hit && Date.now() - hit.at < 700) return hit.names;
  const a = ctx.get('uts-a');
  const b = ctx.get('uts-b');
  const one = (pid: number | undefined, tag: string) => (pid ? `echo ${tag}=$(nsenter -t ${pid} -u hostname 2>/dev/null)` : '');
  const names = new Promise<{ a: string | null; b: string | null }>((resolve) => {
    execFile('sh', ['-c', [one(a?.pid, 'a'), one(b?.pid, 'b')].filter(Boolean).join('; ')], { encoding: 'utf8', timeout: 5000 }, (_err, out) => {
      const get = (tag: string) => {
        const line = (out ?? '').split('\n').find((l) => l.startsWith(`${tag}=`));
        return line && line.length > tag.length + 1 ? line.slice(tag.length + 1) : null;
      };
      resolve({ a: a ? get('a') : null, b: b ? get('b') : null });
    });
  });
  namesCache.set(ctx, { at: Date.now(), names });
  return names;
}

/** UTS namespaces of the learner's processes other than the host's, a's and b's (unshare -u…). */
function learnerUtsNamespaces(ctx: LessonContext): string[] {
  const known = new Set([nsLink('self', 'uts'), ...['uts-a', 'uts-b'].map((k) => ctx.get(k)).map((s) => (s ? nsOf(s.pid, 'uts') : null))]);
  return [...new Set(benchPids(ctx).map((p) => nsOf(p, 'uts')).filter((n): n is string => n !== null && !known.has(n)))];
}

/** The shared-memory segments of the challenge's sandbox `key`, read from inside its IPC namespace. */
async function chSegments(ctx: LessonContext, key: string): Promise<Segment[] | null> {
  const s = ctx.get(key);
  if (!s) return null;
  return parseShm((await s.execOutput(['cat', '/proc/sysvipc/shm'])).stdout);
}

export const lesson: Lesson = {
  id: 'uts-ipc-namespaces',
  title: 'UTS and IPC namespaces',
  summary: "a hostname per sandbox while the host keeps its own; System V shared memory visible only in its IPC namespace",
  requires: [
    { kind: 'command', name: 'hostname' },
    { kind: 'command', name: 'ipcmk' },
    { kind: 'command', name: 'ipcs' },
    { kind: 'command', name: 'nsenter' },
  ],
  steps: [
    {
      id: 'two-hostnames',
      title: 'A hostname per sandbox',
      prediction: {
        question: 'Sandbox a is created with hostname alpha, then sandbox b with hostname beta. What does `hostname` print on the host afterwards?',
        choices: ['beta', "the host's own name", 'alpha'],
        answer: 1,
        explanation:
          "Each sandbox has its own UTS namespace, a separate copy of the hostname (and NIS domain name). sethostname() inside changes that copy only. The host's copy lives in the host's UTS namespace, which neither sandbox is in.",
      },
      action: async (ctx) => {
        await ctx.sandbox('a', { namespaces: ['pid', 'mount', 'uts', 'ipc'], hostname: NAMES.a, init: true });
        await ctx.sandbox('b', { namespaces: ['pid', 'mount', 'uts', 'ipc'], hostname: NAMES.b, init: true });
        await ctx.exec('a', ['hostname']);
        await ctx.exec('b', ['hostname']);
        await ctx.host(['hostname']);
      },
      view: sideBySide,
      checks: [
        {
          label: `a is called ${NAMES.a} and b is called ${NAMES.b}`,
          run: async (ctx) => {
            const [a, b] = [await hostnameIn(ctx, 'a'), await hostnameIn(ctx, 'b')];
            if (a === null) return noSandbox('a');
            if (b === null) return noSandbox('b');
            return verdict(`nsenter -t A -u hostname; nsenter -t B -u hostname`, `${NAMES.a}, ${NAMES.b}`, `${a}, ${b}`);
          },
        },
        {
          label: "host, a and b are three UTS namespaces, and the host kept its own name",
          run: (ctx) => {
            const a = ctx.get('a');
            const b = ctx.get('b');
            if (!a) return noSandbox('a');
            if (!b) return noSandbox('b');
            const links = [nsLink('self', 'uts'), readlinkOr(`/proc/${a.pid}/ns/uts`), readlinkOr(`/proc/${b.pid}/ns/uts`)];
            const host = os.hostname();
            return verdict(
              `readlink /proc/{self,${a.pid},${b.pid}}/ns/uts; hostname`,
              `three different uts:[…]; host not ${NAMES.a} or ${NAMES.b}`,
              `${links.join(' ')}; host ${host}`,
              new Set(links).size === 3 && links.every((l) => l?.startsWith('uts:[')) && host !== NAMES.a && host !== NAMES.b,
            );
          },
        },
      ],
      hint: 'sandbox sets the hostname in the child, right after clone3(CLONE_NEWUTS): sethostname("alpha"). `hostname` run anywhere reports the copy of its own UTS namespace.',
    },
    {
      id: 'rename-inside',
      title: 'Renaming from inside',
      prediction: {
        question: `Root inside a runs \`hostname ${RENAMED}\`. Which names change?`,
        choices: ["a's only", "a's and the host's", 'all three'],
        answer: 0,
        explanation:
          "sethostname() writes the caller's UTS namespace. a's root may do that when it holds CAP_SYS_ADMIN over a's namespace (this command is given it: a default sandbox, like Docker's, lacks it); b and the host are separate copies that nothing inside a can reach.",
      },
      action: async (ctx) => {
        ctx.log({ note: 'sethostname() needs CAP_SYS_ADMIN, which a default sandbox does not have: this one command gets it' });
        await ctx.exec('a', ['hostname', RENAMED], { security: { capAdd: ['SYS_ADMIN'] } });
        await ctx.exec('a', ['uname', '-n']);
        await ctx.exec('b', ['uname', '-n']);
        await ctx.host(['uname', '-n']);
      },
      view: sideBySide,
      checks: [
        {
          label: `a is now ${RENAMED}`,
          run: async (ctx) => {
            const a = await hostnameIn(ctx, 'a');
            if (a === null) return noSandbox('a');
            return verdict(`nsenter -t ${ctx.get('a')!.pid} -u hostname`, RENAMED, a);
          },
        },
        {
          label: "b and the host kept their names",
          run: async (ctx) => {
            const [a, b] = [await hostnameIn(ctx, 'a'), await hostnameIn(ctx, 'b')];
            if (a === null) return noSandbox('a');
            if (b === null) return noSandbox('b');
            const host = os.hostname();
            return verdict(
              'nsenter -t B -u hostname; hostname',
              `b ${NAMES.b}; host not ${RENAMED} (while a is ${RENAMED})`,
              `b ${b}; host ${host}${a === RENAMED ? '' : ` (a is ${a})`}`,
              a === RENAMED && b === NAMES.b && host !== RENAMED,
            );
          },
        },
      ],
      hint: 'The hostname is per UTS namespace: /proc/sys/kernel/hostname and uname(2) both answer from the caller\'s namespace.',
    },
    {
      id: 'shm-inside',
      title: 'System V shared memory in a sandbox',
      prediction: {
        question: 'Inside a, `ipcmk -M 4096` creates a System V shared-memory segment. Where does `ipcs -m` list it?',
        choices: ['in a, in b and on the host', "only in a's IPC namespace", 'only in the process that made it'],
        answer: 1,
        explanation:
          "System V IPC objects (shared memory, semaphores, message queues) are named by numeric keys in one table per IPC namespace. a's segment is in a's table: b and the host have their own, and a key a uses means nothing there. When the namespace's last process exits, its segments are destroyed with it.",
      },
      action: async (ctx) => {
        await ctx.exec('a', ['ipcmk', '-M', String(SEGMENT)]);
        await ctx.exec('a', ['ipcs', '-m']);
        await ctx.exec('b', ['ipcs', '-m']);
        await ctx.host(['ipcs', '-m']);
      },
      view: ipcSideBySide,
      checks: [
        {
          label: `a's IPC namespace holds a ${SEGMENT}-byte segment`,
          run: async (ctx) => {
            const segs = await segmentsIn(ctx, 'a');
            if (segs === null) return noSandbox('a');
            const mine = segs.filter((g) => g.size === SEGMENT);
            return verdict(`nsenter -t ${ctx.get('a')!.pid} -i cat /proc/sysvipc/shm`, `a segment of ${SEGMENT} bytes`, mine.length ? mine.map((g) => `key ${g.key} shmid ${g.shmid} size ${g.size}`).join(', ') : 'none', mine.length === 1);
          },
        },
        {
          label: 'neither b nor the host has a segment with that key',
          run: async (ctx) => {
            const a = await segmentsIn(ctx, 'a');
            const b = await segmentsIn(ctx, 'b');
            if (a === null) return noSandbox('a');
            if (b === null) return noSandbox('b');
            const key = a.find((g) => g.size === SEGMENT)?.key;
            if (!key) return verdict('key of the segment in a', `a's segment`, 'a has no segment', false);
            const inB = b.some((g) => g.key === key);
            const onHost = hostSegments().some((g) => g.key === key);
            return verdict(
              `nsenter -t ${ctx.get('b')!.pid} -i cat /proc/sysvipc/shm; cat /proc/sysvipc/shm  # look for ${key}`,
              `${key} in neither`,
              `b: ${inB ? 'has it' : 'no'}; host: ${onHost ? 'has it' : 'no'}`,
              !inB && !onHost,
            );
          },
        },
      ],
      hint: "Read /proc/sysvipc/shm (the table ipcs prints) from inside a, from inside b (nsenter -t PID -i) and on the host, and look for the key ipcmk made.",
      takeaway: 'A UTS namespace is a private hostname; an IPC namespace a private table of System V objects. Both are simple, and both are needed for a container to look like its own machine.',
    },
    {
      id: 'name-b-gamma',
      title: 'Challenge: rename sandbox b, and only b',
      checks: [],
      hint: "hostname renames the UTS namespace of the process that runs it; nsenter -u runs a command in another process's UTS namespace.",
      challenge: {
        goal: `Sandboxes a (${CH_NAMES.a}) and b (${CH_NAMES.b}) each have a UTS namespace of their own. Rename b to ${GAMMA}; a and the host must keep their names.`,
        tools: ['nsenter', 'hostname', 'readlink /proc/PID/ns/uts'],
        writes: "a hostname in another UTS namespace (nsenter -u, hostname: sethostname)",
        setup: async (ctx) => {
          const original = os.hostname();
          ctx.state.set('uts-host-name', original);
          // The learner's shell shares the host's UTS namespace: a plain `hostname gamma` there
          // renames this machine. The check says so at once; if it is still so when the lesson
          // ends, the host's name is put back.
          ctx.defer(() => {
            if (os.hostname() === GAMMA && original !== GAMMA) {
              try {
                execFileSync('hostname', [original], { stdio: 'ignore', timeout: 2000 });
              } catch {
                /* nothing more we can do: the check told the learner */
              }
            }
          });
          for (const k of ['a', 'b'] as const) {
            await ctx.sandbox(`uts-${k}`, { namespaces: ['pid', 'mount', 'uts', 'ipc'], hostname: CH_NAMES[k], init: true });
          }
        },
        vars: (ctx) => [
          { name: 'A', value: String(ctx.get('uts-a')?.pid ?? ''), about: `host PID of sandbox a's PID 1 (a is ${CH_NAMES.a})` },
          { name: 'B', value: String(ctx.get('uts-b')?.pid ?? ''), about: `host PID of sandbox b's PID 1 (b is ${CH_NAMES.b})` },
        ],
        checks: [
          {
            label: `b is called ${GAMMA}`,
            run: async (ctx) => {
              const b = ctx.get('uts-b');
              if (!b) return noSandbox('b');
              const { b: name } = await utsNames(ctx);
              return verdict(`nsenter -t ${b.pid} -u hostname`, GAMMA, name ?? '(unreadable)');
            },
          },
          {
            label: `a and the host kept their names (while b is ${GAMMA})`,
            run: async (ctx) => {
              const a = ctx.get('uts-a');
              if (!a) return noSandbox('a');
              const names = await utsNames(ctx);
              const host = os.hostname();
              const original = (ctx.state.get('uts-host-name') as string | undefined) ?? host;
              const hostNote = host === original ? host : `${host}: you renamed the host (your shell is in its UTS namespace); put it back: hostname ${original}`;
              return verdict(
                `nsenter -t ${a.pid} -u hostname; hostname`,
                `a ${CH_NAMES.a}; host ${original}`,
                `a ${names.a ?? '(unreadable)'}; host ${hostNote}${names.b === GAMMA ? '' : ` (b is ${names.b ?? '?'})`}`,
                names.a === CH_NAMES.a && host === original && names.b === GAMMA,
              );
            },
          },
        ],
        hints: [
          {
            when: {
              probe: 'nsenter -t $A -u hostname',
              holds: async (ctx) => (await utsNames(ctx)).a === GAMMA,
            },
            text: `You renamed a: $A is a's PID 1. b's is $B. Put a back (nsenter -t $A -u hostname ${CH_NAMES.a}).`,
            reach: [`nsenter -t "$A" -u hostname ${GAMMA}`],
          },
          {
            when: {
              probe: 'readlink /proc/PID/ns/uts  # for your processes, against /proc/$B/ns/uts',
              holds: (ctx) => learnerUtsNamespaces(ctx).length > 0,
            },
            text: "unshare -u made a new UTS namespace of your own, a copy of the host's: renaming it renames no one else. b's namespace already exists: join it (nsenter -t $B -u) instead of making one.",
            reach: [`unshare -u sh -c 'hostname ${GAMMA}; exec sleep 1000' >/dev/null 2>&1 &`, 'sleep 0.3'],
          },
          { text: "Your shell is in the host's UTS namespace, so hostname there renames the host. Compare readlink /proc/self/ns/uts with /proc/$B/ns/uts, then run hostname in b's namespace with nsenter." },
        ],
        solution: [`nsenter -t "$B" -u hostname ${GAMMA}`],
      },
    },
    {
      id: 'find-the-segments',
      title: 'Challenge: find the segments of each IPC namespace',
      checks: [],
      hint: 'ipcs lists the System V objects of the IPC namespace it runs in, and nothing else.',
      challenge: {
        goal: 'Sandboxes a and b each made System V shared-memory segments in an IPC namespace of their own. Find the key of the one segment in a, and how many segments b holds.',
        tools: ['ipcs', 'nsenter', 'cat /proc/sysvipc/shm'],
        setup: async (ctx) => {
          const a = await ctx.sandbox('ipc-a', { namespaces: ['pid', 'mount', 'uts', 'ipc'], init: true });
          const b = await ctx.sandbox('ipc-b', { namespaces: ['pid', 'mount', 'uts', 'ipc'], init: true });
          // Not logged: the output (key, ids) would give the answers away.
          await a.execOutput(['ipcmk', '-M', String(SEGMENT)]);
          const n = randomInt(2, 6);
          for (let i = 1; i <= n; i++) await b.execOutput(['ipcmk', '-M', String(SEGMENT * i)]);
        },
        vars: (ctx) => [
          { name: 'A', value: String(ctx.get('ipc-a')?.pid ?? ''), about: "host PID of sandbox a's PID 1" },
          { name: 'B', value: String(ctx.get('ipc-b')?.pid ?? ''), about: "host PID of sandbox b's PID 1" },
        ],
        checks: [],
        hints: [
          {
            text: "ipcs -m in your shell lists the host's segments: your shell is in the host's IPC namespace. /proc/sysvipc/shm, even read through /proc/$A/root, answers for the reader's namespace too. Run ipcs in a's and b's: nsenter -t $A -i ipcs -m.",
          },
        ],
        questions: [
          {
            id: 'a-key',
            question: 'What is the key of the shared-memory segment in sandbox a (as ipcs -m prints it, 0x…)?',
            answer: async (ctx) => {
              const segs = (await chSegments(ctx, 'ipc-a')) ?? [];
              return { probe: "nsenter -t $A -i ipcs -m | awk '/^0x/ {print $1}'", value: segs.map((g) => g.key).join('\n') };
            },
            explanation: "The key names the segment in a's IPC namespace only: the same key in b or on the host would be another segment, or none.",
          },
          {
            id: 'b-count',
            question: "How many shared-memory segments does sandbox b's IPC namespace hold?",
            compare: 'number',
            answer: async (ctx) => {
              const segs = await chSegments(ctx, 'ipc-b');
              return { probe: "nsenter -t $B -i ipcs -m | grep -c '^0x'", value: segs ? String(segs.length) : '' };
            },
            explanation: "Each IPC namespace has its own table of segments; ipcs (and /proc/sysvipc/shm) shows the one of the namespace it runs in.",
          },
        ],
        solution: ["nsenter -t \"$A\" -i ipcs -m | awk '/^0x/ {print $1}'", "nsenter -t \"$B\" -i ipcs -m | grep -c '^0x'"],
      },
    },
  ],
};
