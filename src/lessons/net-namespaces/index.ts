/**
 * net-namespaces: a new network namespace has one interface, lo, and it is down; a veth pair joins two
 * sandboxes; addresses from a private range; one pings the other; the host's interfaces and
 * routes never change; deleting one namespace deletes the pair. Read from /proc/PID/net/* (the
 * network namespace of that process) and `ip` run inside.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

import {
  busyboxPath,
  connectSandboxes,
  type ExecOptions,
  netLinks,
  nsLink,
  publishNetns,
  SandboxError,
  vethNames,
} from '../../runtime/index.js';
import { noSandbox, readlinkOr, settle, verdict, type Verdict } from '../checks.js';
import type { LessonContext } from '../context.js';
import type { Lesson, TableView, View } from '../types.js';
import { challengeSteps } from './challenges.js';

const NET = '10.200.0.0/24';
const ADDR = { a: '10.200.0.1', b: '10.200.0.2' } as const;
const SANDBOX = { namespaces: ['pid', 'mount', 'uts', 'net'] as const, init: true };
/** For the commands that configure interfaces (ip addr add, ip link set … up). */
const NET_ADMIN: ExecOptions = { security: { capAdd: ['NET_ADMIN'] } };

/** Routes of the namespace of `pid` as "10.200.0.0/24 dev X" (IPv4, /proc/PID/net/route). */
function routes(pid: number | 'self'): string[] {
  try {
    const hexIp = (h: string) => [6, 4, 2, 0].map((i) => parseInt(h.slice(i, i + 2), 16)).join('.');
    const bits = (h: string) => [...hexIp(h).split('.')].reduce((n, o) => n + Number(o).toString(2).replace(/0/g, '').length, 0);
    return fs
      .readFileSync(`/proc/${pid}/net/route`, 'utf8')
      .split('\n')
      .slice(1)
      .map((l) => l.trim().split(/\s+/))
      .filter((f) => f.length > 7)
      .map((f) => `${hexIp(f[1])}/${bits(f[7])} dev ${f[0]}`);
  } catch {
    return [];
  }
}

/** ICMP counters of the namespace of `pid` (/proc/PID/net/snmp). */
function icmp(pid: number): Record<string, number> | null {
  try {
    const lines = fs.readFileSync(`/proc/${pid}/net/snmp`, 'utf8').split('\n').filter((l) => l.startsWith('Icmp:'));
    const [names, values] = [lines[0].split(/\s+/).slice(1), lines[1].split(/\s+/).slice(1)];
    return Object.fromEntries(names.map((n, i) => [n, Number(values[i])]));
  } catch {
    return null;
  }
}

/** How many interfaces the host's network namespace has (/proc/self/net/dev), for the question. */
function hostLinkCount(): number {
  return netLinks('self')?.length ?? 0;
}

function names(ctx: LessonContext): [string, string] | null {
  return (ctx.state.get('veths') as [string, string] | undefined) ?? null;
}

/** `ip -br link` and `ip -br -4 addr` in the network namespace of `pid` (the host's for 'self'). */
function brief(pid: number | 'self'): { name: string; state: string; addrs: string }[] {
  try {
    const pre = pid === 'self' ? [] : ['nsenter', `--net=/proc/${pid}/ns/net`];
    const cmd = [...pre, 'sh', '-c', 'ip -br link; echo --; ip -br -4 addr'];
    const out = execFileSync(cmd[0], cmd.slice(1), { encoding: 'utf8', timeout: 2000, stdio: ['ignore', 'pipe', 'ignore'] });
    const [l, a] = out.split('--\n');
    const addrs = new Map(
      (a ?? '')
        .split('\n')
        .filter(Boolean)
        .map((x) => x.trim().split(/\s+/))
        .map((f) => [f[0].split('@')[0], f.slice(2).join(' ')]),
    );
    return l
      .split('\n')
      .filter(Boolean)
      .map((x) => x.trim().split(/\s+/))
      .map((f) => ({ name: f[0].split('@')[0], state: f[1], addrs: addrs.get(f[0].split('@')[0]) ?? '' }));
  } catch {
    return [];
  }
}

/**
 * One group of rows per network namespace: its name on the first row and its inode on the second
 * (a namespace with one interface gets a second row for it), so that the table keeps four short
 * columns and the addresses, what the steps are about, have the room.
 */
function sampleLinks(ctx: LessonContext): TableView {
  const rows: string[][] = [];
  const add = (who: string, pid: number | 'self') => {
    const ns = (pid === 'self' ? nsLink('self', 'net') : readlinkOr(`/proc/${pid}/ns/net`)) ?? '';
    const ls = brief(pid);
    const first = ls.length ? ls : [{ name: '(none)', state: '', addrs: '' }];
    first.forEach((l, i) => rows.push([i === 0 ? who : i === 1 ? ns : '', l.name, l.state, l.addrs]));
    if (first.length === 1) rows.push([ns, '', '', '']);
  };
  add('host', 'self');
  for (const key of ['a', 'b']) {
    const s = ctx.get(key);
    if (s) add(`sandbox ${key}`, s.pid);
  }
  return {
    kind: 'table',
    columns: ['namespace', 'interface', 'state', 'IPv4'],
    rows,
    caption: 'ip -br link / ip -br -4 addr, run in each network namespace (nsenter --net=/proc/PID/ns/net)',
  };
}

const linksView: View = { title: 'Interfaces and addresses per network namespace', intervalMs: 1000, sample: sampleLinks };

function pingCommand(): string[] {
  if (busyboxPath()) return ['busybox', 'ping'];
  for (const d of ['/usr/bin', '/bin', '/usr/sbin', '/sbin']) if (fs.existsSync(`${d}/ping`)) return ['ping'];
  throw new SandboxError('no ping on this host', { code: 'ENOENT', hint: 'install busybox-static (or iputils-ping)' });
}

function both(ctx: LessonContext): { a: number; b: number; veths: [string, string] } | Verdict {
  const a = ctx.get('a');
  const b = ctx.get('b');
  const v = names(ctx);
  if (!a) return noSandbox('a');
  if (!b || !v) return noSandbox('b');
  return { a: a.pid, b: b.pid, veths: v };
}

async function ipIn(ctx: LessonContext, key: string, args: string[]): Promise<string> {
  const s = ctx.get(key);
  return s ? (await s.execOutput(['ip', ...args])).stdout : '';
}

export const lesson: Lesson = {
  id: 'net-namespaces',
  title: 'Network namespaces',
  summary: 'a brand-new network stack, a veth pair between two sandboxes, a ping across it, and a host network that never changes',
  requires: [
    { kind: 'command', name: 'ip' },
    { kind: 'command', name: 'nsenter' },
  ],
  steps: [
    {
      id: 'only-lo',
      title: 'A brand-new network namespace',
      prediction: {
        // A getter: the host's count is read when the question is shown, not when the lesson loads.
        get question() {
          return `Sandbox a gets a new network namespace. How many interfaces will \`ip link\` list inside? (The host's lists ${hostLinkCount()}.)`;
        },
        choices: [],
        answer: 1,
        number: {
          unit: 'interfaces',
          min: 0,
          max: 100,
          tolerance: 0.5,
          measured: (ctx) => {
            const a = ctx.get('a');
            return { probe: a ? `tail -n +3 /proc/${a.pid}/net/dev | wc -l` : 'tail -n +3 /proc/PID/net/dev | wc -l', value: a ? (netLinks(a.pid)?.length ?? 0) : 0 };
          },
        },
        explanation:
          "A network namespace is a whole network stack of its own: interfaces, addresses, routes, firewall, sockets. A new one has a loopback interface, lo, and nothing else, and even lo starts down: no address answers, not even 127.0.0.1, until it is brought up. The host's interfaces stay in the host's namespace.",
      },
      action: async (ctx) => {
        const a = await ctx.sandbox('a', { ...SANDBOX, namespaces: [...SANDBOX.namespaces] });
        ctx.state.set('a-name', a.name);
        await ctx.exec('a', ['ip', 'link']);
        await ctx.exec('a', ['ip', 'route']);
        await ctx.host(['ip', '-br', 'link']);
      },
      view: linksView,
      checks: [
        {
          label: "a's network namespace has one interface, lo",
          run: (ctx) => {
            const a = ctx.get('a');
            if (!a) return noSandbox('a');
            const ls = netLinks(a.pid);
            const ns = readlinkOr(`/proc/${a.pid}/ns/net`);
            return verdict(`cat /proc/${a.pid}/net/dev; readlink /proc/${a.pid}/ns/net`, `lo; not ${nsLink('self', 'net')}`, `${ls?.join(' ') ?? '(gone)'}; ${ns}`, ls?.join(' ') === 'lo' && ns !== nsLink('self', 'net'));
          },
        },
        {
          label: 'lo is down, and there are no routes',
          run: async (ctx) => {
            const a = ctx.get('a');
            if (!a) return noSandbox('a');
            const lo = (await ipIn(ctx, 'a', ['-o', 'link', 'show', 'lo'])).trim();
            const flags = /<([^>]*)>/.exec(lo)?.[1] ?? '';
            const r = routes(a.pid);
            return verdict(
              `nsenter -t ${a.pid} -n ip -o link show lo; cat /proc/${a.pid}/net/route`,
              'flags without UP; no routes',
              `<${flags}>; ${r.length ? r.join(', ') : 'no routes'}`,
              flags !== '' && !flags.split(',').includes('UP') && r.length === 0,
            );
          },
        },
      ],
      hint: '/proc/PID/net/dev and /proc/PID/net/route show the network namespace of process PID, whoever reads them.',
    },
    {
      id: 'veth-pair',
      title: 'A veth pair between two sandboxes',
      prediction: {
        question:
          'A veth pair is created on the host (`ip link add A type veth peer name B`), then A is moved into a and B into b. Which interfaces does the host have afterwards?',
        choices: ['its own plus both ends', 'its own, as before', 'its own plus one end'],
        answer: 1,
        explanation:
          'An interface belongs to exactly one network namespace at a time, and `ip link set X netns PID` moves it. A veth pair is a virtual cable: a packet sent into one end comes out of the other, whichever namespaces the two ends are in.',
      },
      action: async (ctx) => {
        const a = ctx.get('a');
        if (!a) throw new Error('sandbox a from step 1 is not running');
        const b = await ctx.sandbox('b', { ...SANDBOX, namespaces: [...SANDBOX.namespaces] });
        for (const s of [a, b]) ctx.explain(publishNetns(s).steps);
        const v = vethNames('net');
        ctx.state.set('veths', v);
        ctx.explain(connectSandboxes(a, b, v).steps);
        await ctx.host(['ip', 'netns', 'list']);
        await ctx.host(['ip', '-n', `sandbox-${a.name}`, '-br', 'link']);
        await ctx.host(['ip', '-n', `sandbox-${b.name}`, '-br', 'link']);
        await ctx.host(['ip', '-br', 'link']);
      },
      view: linksView,
      checks: [
        {
          label: 'a has one end of the pair and b the other',
          run: (ctx) => {
            const s = both(ctx);
            if ('pass' in s) return s;
            const [la, lb] = [netLinks(s.a) ?? [], netLinks(s.b) ?? []];
            return verdict(
              `cat /proc/${s.a}/net/dev /proc/${s.b}/net/dev`,
              `a: lo ${s.veths[0]}; b: lo ${s.veths[1]}`,
              `a: ${la.join(' ')}; b: ${lb.join(' ')}`,
              la.join(' ') === `lo ${s.veths[0]}` && lb.join(' ') === `lo ${s.veths[1]}`,
            );
          },
        },
        {
          label: 'the host has neither end',
          run: (ctx) => {
            const s = both(ctx);
            if ('pass' in s) return s;
            const host = netLinks('self') ?? [];
            const moved = (netLinks(s.a) ?? []).includes(s.veths[0]) && (netLinks(s.b) ?? []).includes(s.veths[1]);
            const left = host.filter((l) => s.veths.includes(l));
            return verdict(
              'cat /proc/self/net/dev',
              `no ${s.veths.join(' or ')} (both moved into the sandboxes)`,
              left.length ? `still here: ${left.join(' ')}` : moved ? `${host.join(' ')}` : 'the pair is not in the sandboxes either',
              moved && left.length === 0,
            );
          },
        },
        {
          label: 'both namespaces are published for `ip netns` as sandbox-<name>',
          run: (ctx) => {
            const a = ctx.get('a');
            const b = ctx.get('b');
            if (!a || !b) return noSandbox(a ? 'b' : 'a');
            const same = (s: typeof a) => {
              try {
                return fs.statSync(`/run/netns/sandbox-${s.name}`).ino === fs.statSync(`/proc/${s.pid}/ns/net`).ino;
              } catch {
                return false;
              }
            };
            return verdict(
              `stat -L -c %i /run/netns/sandbox-${a.name} /proc/${a.pid}/ns/net (and b's)`,
              'the same inode, for a and for b',
              `a ${same(a) ? 'same' : 'different/missing'}; b ${same(b) ? 'same' : 'different/missing'}`,
              same(a) && same(b),
            );
          },
        },
      ],
      hint: '/run/netns/NAME is a bind mount of /proc/PID/ns/net: that is all `ip netns` is. It also keeps the namespace alive after its last process.',
    },
    {
      id: 'addresses',
      title: 'Addresses and routes, per namespace',
      prediction: {
        question: `a runs \`ip addr add ${ADDR.a}/24 dev A\` and \`ip link set A up\`. Which routing table gets a route to ${NET}?`,
        choices: ["a's only", "a's and the host's", 'none until one is added by hand'],
        answer: 0,
        explanation:
          "Adding an address with a prefix to an interface that is up adds the matching \"directly connected\" route, in the namespace the interface is in. The host's routing table is a different one and does not change.",
      },
      action: async (ctx) => {
        const v = names(ctx);
        if (!v) throw new Error('the veth pair from step 2 is missing');
        ctx.log({
          note:
            "configuring interfaces needs CAP_NET_ADMIN, which a default sandbox (like Docker's) lacks: these ip commands get it " +
            "(exec --cap-add NET_ADMIN); it reaches only the sandbox's own network namespace",
        });
        for (const [key, link, addr] of [
          ['a', v[0], ADDR.a],
          ['b', v[1], ADDR.b],
        ] as const) {
          await ctx.exec(key, ['ip', 'addr', 'add', `${addr}/24`, 'dev', link], NET_ADMIN);
          await ctx.exec(key, ['ip', 'link', 'set', link, 'up'], NET_ADMIN);
          await ctx.exec(key, ['ip', 'link', 'set', 'lo', 'up'], NET_ADMIN);
        }
        await ctx.exec('a', ['ip', '-br', '-4', 'addr']);
        await ctx.exec('a', ['ip', 'route']);
        await ctx.host(['ip', 'route']);
      },
      view: linksView,
      checks: [
        {
          label: `a has ${ADDR.a}/24 and b has ${ADDR.b}/24, both up`,
          run: async (ctx) => {
            const s = both(ctx);
            if ('pass' in s) return s;
            const show = async (key: string, link: string) => (await ipIn(ctx, key, ['-br', '-4', 'addr', 'show', 'dev', link])).trim().replace(/\s+/g, ' ');
            const [ia, ib] = [await show('a', s.veths[0]), await show('b', s.veths[1])];
            const ok = (line: string, addr: string) => line.includes(`${addr}/24`) && / (UP|UNKNOWN) /.test(`${line} `);
            return verdict(`ip -br -4 addr show dev … (in a and in b)`, `UP ${ADDR.a}/24; UP ${ADDR.b}/24`, `${ia || 'none'}; ${ib || 'none'}`, ok(ia, ADDR.a) && ok(ib, ADDR.b));
          },
        },
        {
          label: `a's routing table has ${NET}; the host's does not`,
          run: (ctx) => {
            const s = both(ctx);
            if ('pass' in s) return s;
            const ra = routes(s.a).filter((r) => r.startsWith(NET));
            const rh = routes('self').filter((r) => r.startsWith(NET));
            return verdict(
              `grep ${NET} in /proc/${s.a}/net/route and /proc/self/net/route`,
              `a: ${NET} dev ${s.veths[0]}; host: none`,
              `a: ${ra.join(', ') || 'none'}; host: ${rh.join(', ') || 'none'}`,
              ra.includes(`${NET} dev ${s.veths[0]}`) && rh.length === 0,
            );
          },
        },
      ],
      hint: 'Each network namespace has its routing table in /proc/PID/net/route (`ip route` run inside it): compare a\'s with the host\'s /proc/self/net/route.',
    },
    {
      id: 'ping',
      title: 'A ping across the pair',
      prediction: {
        question: `a pings ${ADDR.b}. Which network stack answers?`,
        choices: ["the host's", "b's", "a's own, through its lo", 'none'],
        answer: 1,
        explanation:
          "a's kernel stack sends the echo request out of A; it comes out of B in b's namespace, whose stack answers. The counters prove it: each namespace counts its own ICMP traffic.",
      },
      action: async (ctx) => {
        await ctx.exec('a', [...pingCommand(), '-c', '3', '-W', '2', ADDR.b]);
        const s = both(ctx);
        if (!('pass' in s)) {
          for (const [key, pid] of [['a', s.a], ['b', s.b]] as const) {
            const c = icmp(pid);
            if (c) ctx.log({ command: `grep Icmp: /proc/${pid}/net/snmp  # ${key}'s counters`, output: `OutEchos ${c.OutEchos}  InEchoReps ${c.InEchoReps}  InEchos ${c.InEchos}  OutEchoReps ${c.OutEchoReps}` });
          }
        }
      },
      view: linksView,
      checks: [
        {
          label: 'a sent echo requests and got the replies',
          run: (ctx) => {
            const s = both(ctx);
            if ('pass' in s) return s;
            const c = icmp(s.a);
            return verdict(`grep Icmp: /proc/${s.a}/net/snmp`, 'OutEchos ≥ 3, InEchoReps ≥ 3', c ? `OutEchos ${c.OutEchos}, InEchoReps ${c.InEchoReps}` : '(gone)', !!c && c.OutEchos >= 3 && c.InEchoReps >= 3);
          },
        },
        {
          label: "b's network stack received and answered them",
          run: (ctx) => {
            const s = both(ctx);
            if ('pass' in s) return s;
            const c = icmp(s.b);
            return verdict(`grep Icmp: /proc/${s.b}/net/snmp`, 'InEchos ≥ 3, OutEchoReps ≥ 3', c ? `InEchos ${c.InEchos}, OutEchoReps ${c.OutEchoReps}` : '(gone)', !!c && c.InEchos >= 3 && c.OutEchoReps >= 3);
          },
        },
      ],
      hint: '/proc/PID/net/snmp holds the protocol counters of the network namespace of PID: InEchos are echo requests received, OutEchoReps the replies sent.',
    },
    {
      id: 'teardown',
      title: 'Sandbox a is destroyed',
      prediction: {
        question: "Sandbox a is destroyed: its processes end and its /run/netns name is removed, so its network namespace is freed. What happens to b's end of the pair?",
        choices: ['it stays in b, with no peer', 'it disappears', 'it moves back to the host'],
        answer: 1,
        explanation:
          "Freeing a network namespace deletes its interfaces; deleting one end of a veth pair deletes the other. Physical interfaces would be moved back to the host instead, but a veth is virtual: nothing is left anywhere, and the host's network is as it was.",
      },
      action: async (ctx) => {
        const a = ctx.get('a');
        const s = both(ctx);
        if (!a || 'pass' in s) throw new Error('sandboxes a and b from the steps before are not running');
        await ctx.destroy('a');
        ctx.log({ command: `ip netns delete sandbox-${a.name}`, syscall: `umount2("/run/netns/sandbox-${a.name}", MNT_DETACH); unlink(…)`, note: 'done as part of destroying a' });
        await settle(() => netLinks(s.b), (l) => !l?.includes(s.veths[1]), 3000);
        await ctx.exec('b', ['ip', '-br', 'link']);
        await ctx.host(['ip', 'netns', 'list']);
      },
      view: linksView,
      checks: [
        {
          label: "b's end of the pair is gone: b has lo only",
          run: (ctx) => {
            const b = ctx.get('b');
            const v = names(ctx);
            if (!b || !v) return noSandbox('b');
            const lb = netLinks(b.pid);
            return verdict(`cat /proc/${b.pid}/net/dev`, 'lo', lb?.join(' ') ?? '(gone)');
          },
        },
        {
          label: "a's netns name is gone and no sbx- device is left on the host",
          run: (ctx) => {
            const v = names(ctx);
            const aName = ctx.state.get('a-name') as string | undefined;
            if (!v) return noSandbox('b');
            const published = fs.existsSync('/run/netns') ? fs.readdirSync('/run/netns').filter((n) => n === `sandbox-${aName}`) : [];
            const host = (netLinks('self') ?? []).filter((l) => v.includes(l));
            const aGone = !ctx.get('a');
            return verdict(
              `ls /run/netns; cat /proc/self/net/dev`,
              `no sandbox-${aName ?? 'a'}; no ${v.join(' or ')}`,
              `${aGone ? '' : 'sandbox a still running; '}${published.length ? `${published[0]} still there` : `no sandbox-${aName ?? 'a'}`}; ${host.length ? `host has ${host.join(' ')}` : 'no veth on the host'}`,
              aGone && published.length === 0 && host.length === 0,
            );
          },
        },
      ],
      hint: 'Read b\'s /proc/PID/net/dev, and the host\'s /proc/self/net/dev; a network namespace lives while a process is in it or a /run/netns bind mount holds it.',
      takeaway: 'A network namespace is a complete network stack of its own. Containers get their network from veth pairs (usually plugged into a bridge on the host) and addresses inside, while the host\'s interfaces and routes stay untouched.',
    },
    ...challengeSteps,
  ],
};
