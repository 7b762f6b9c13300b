/**
 * uts-ipc-namespaces: each sandbox has its own hostname and the host keeps its own; a System V
 * shared-memory segment exists only in the IPC namespace that made it. Hostnames are read with
 * `hostname` run in each UTS namespace, segments from /proc/sysvipc/shm, which lists the reader's
 * IPC namespace.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';

import { nsLink } from '../../runtime/index.js';
import { noSandbox, readlinkOr, verdict } from '../checks.js';
import type { LessonContext } from '../context.js';
import type { Lesson, TableView, View } from '../types.js';

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

function sampleSideBySide(ctx: LessonContext): TableView {
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
    rows: [
      ['hostname', ...cols.map((c) => c.hostname)],
      ['UTS namespace', ...cols.map((c) => c.uts)],
      ['IPC namespace', ...cols.map((c) => c.ipc)],
      ['shm segments', ...cols.map((c) => shm(c.shm))],
    ],
    caption: 'hostname and /proc/sysvipc/shm as read from inside each namespace (nsenter -u -i); the namespaces from /proc/PID/ns',
  };
}

const sideBySide: View = { title: 'Side by side: host and sandboxes', intervalMs: 1000, sample: sampleSideBySide };

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
        choices: ['beta: the last name set wins', "the host's own name, unchanged", 'alpha'],
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
      title: 'System V shared memory, per IPC namespace',
      prediction: {
        question: 'Inside a, `ipcmk -M 4096` creates a System V shared-memory segment. Where does `ipcs -m` list it?',
        choices: ['everywhere on the host: there is one IPC key space', "only in a's IPC namespace", 'only in the process that made it'],
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
      view: sideBySide,
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
      hint: '/proc/sysvipc/shm lists the segments of the IPC namespace of whoever reads it; ipcs reads the same table.',
      takeaway: 'A UTS namespace is a private hostname; an IPC namespace a private table of System V objects. Both are simple, and both are needed for a container to look like its own machine.',
    },
  ],
};
