/**
 * The net-namespaces challenges: connect two sandboxes with a veth pair and ping across; read a
 * sandbox's network namespace from the host (typed answers); a named namespace with no process
 * in it (`ip netns add`), joined to the host by a veth pair, pinged from the host.
 *
 * Everything is read from /proc/PID/net/{dev,route,snmp} of a process in the namespace; a named
 * namespace with no process is read through one `nsenter --net=… cat` per poll (cached for the
 * poll: checks and hints share it). The host's own interfaces and routes are never touched: the
 * only host-side names are $VETH_A/$VETH_B (sbx-…, swept at the end) and addresses from a
 * 10.213.N.0/24 that no host route uses.
 */
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';

import { netLinks } from '../../runtime/index.js';
import { CHALLENGE_VARS } from '../challenge.js';
import { noSandbox, verdict } from '../checks.js';
import type { LessonContext } from '../context.js';
import type { Step } from '../types.js';

const SANDBOX = { namespaces: ['pid', 'mount', 'uts', 'net'] as ('pid' | 'mount' | 'uts' | 'net')[], init: true };

/** The running challenge's variables ($VETH_A…), set by ChallengeRun.start(). */
function v(ctx: LessonContext, name: string): string {
  return (ctx.state.get(CHALLENGE_VARS) as Record<string, string> | undefined)?.[name] ?? `(no $${name})`;
}

/** Host PID of the challenge's sandbox `key`, or null. */
function pidOf(ctx: LessonContext, key: string): number | null {
  return ctx.get(key)?.pid ?? null;
}

// ----- parsing /proc/net files (of a process, or printed by nsenter) ----------------------------

/** "10.213.1.0/24 dev X" per IPv4 route of a /proc/net/route text. */
function parseRoutes(text: string): { net: string; dev: string }[] {
  const ip = (h: string) => [6, 4, 2, 0].map((i) => parseInt(h.slice(i, i + 2), 16)).join('.');
  const bits = (h: string) => {
    let n = parseInt(h, 16) >>> 0;
    let c = 0;
    while (n) {
      c += n & 1;
      n >>>= 1;
    }
    return c;
  };
  return text
    .split('\n')
    .slice(1)
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length > 7 && /^[0-9A-F]{8}$/i.test(f[1]) && /^[0-9A-F]{8}$/i.test(f[7]))
    .map((f) => ({ net: `${ip(f[1])}/${bits(f[7])}`, dev: f[0] }));
}

/** Interface names of a /proc/net/dev text. */
function parseDev(text: string): string[] {
  return text
    .split('\n')
    .slice(2)
    .map((l) => l.split(':')[0].trim())
    .filter(Boolean);
}

/** The Icmp: counters of a /proc/net/snmp text. */
function parseIcmp(text: string): Record<string, number> | null {
  const lines = text.split('\n').filter((l) => l.startsWith('Icmp:'));
  if (lines.length < 2) return null;
  const names = lines[0].trim().split(/\s+/).slice(1);
  const values = lines[1].trim().split(/\s+/).slice(1);
  return Object.fromEntries(names.map((n, i) => [n, Number(values[i]) || 0]));
}

function readOr(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

const routesOf = (pid: number | 'self') => parseRoutes(readOr(`/proc/${pid}/net/route`) ?? '');
const icmpOf = (pid: number) => parseIcmp(readOr(`/proc/${pid}/net/snmp`) ?? '');
const linksOf = (pid: number | 'self') => netLinks(pid) ?? [];
/** Subnets routed through `dev` in a route list. */
const netsOn = (routes: { net: string; dev: string }[], dev: string) => routes.filter((r) => r.dev === dev).map((r) => r.net);

// ----- challenge 1: a and b ------------------------------------------------------------------------

/** What the first challenge's checks and hints read, once per call: cheap /proc reads only. */
function pair(ctx: LessonContext) {
  const a = pidOf(ctx, 'ch-a');
  const b = pidOf(ctx, 'ch-b');
  const va = v(ctx, 'VETH_A');
  const vb = v(ctx, 'VETH_B');
  const la = a ? linksOf(a) : [];
  const lb = b ? linksOf(b) : [];
  const ra = a ? netsOn(routesOf(a), va) : [];
  const rb = b ? netsOn(routesOf(b), vb) : [];
  return { a, b, va, vb, la, lb, ra, rb, moved: la.includes(va) && lb.includes(vb), common: ra.filter((n) => rb.includes(n)) };
}

const connect: Step = {
  id: 'connect-a-and-b',
  title: 'Challenge: connect a and b, and ping across',
  checks: [],
  hint: 'A veth pair is a cable with two ends; each end goes into one namespace, and each namespace configures its own end.',
  challenge: {
    goal:
      'Sandboxes a and b each have a network namespace with only lo in it. Connect them with a veth pair named $VETH_A (in a) and $VETH_B (in b), ' +
      'give the two ends addresses in one private subnet (for example 10.213.1.0/24), and make a ping from one sandbox answered by the other.',
    tools: ['ip', 'nsenter', 'ping (or busybox ping)'],
    writes: 'ip (netlink: a veth pair, moved between namespaces, addresses and links up)',
    setup: async (ctx) => {
      await ctx.sandbox('ch-a', { ...SANDBOX, namespaces: [...SANDBOX.namespaces] });
      await ctx.sandbox('ch-b', { ...SANDBOX, namespaces: [...SANDBOX.namespaces] });
    },
    vars: (ctx) => [
      { name: 'A', value: String(pidOf(ctx, 'ch-a') ?? ''), about: "host PID of sandbox a's PID 1 (its network namespace: /proc/$A/ns/net)" },
      { name: 'B', value: String(pidOf(ctx, 'ch-b') ?? ''), about: "host PID of sandbox b's PID 1" },
    ],
    checks: [
      {
        label: 'a holds $VETH_A and b holds $VETH_B',
        run: (ctx) => {
          const p = pair(ctx);
          if (!p.a) return noSandbox('a');
          if (!p.b) return noSandbox('b');
          return verdict(
            `cat /proc/${p.a}/net/dev /proc/${p.b}/net/dev`,
            `a: lo ${p.va}; b: lo ${p.vb}`,
            `a: ${p.la.join(' ') || '(gone)'}; b: ${p.lb.join(' ') || '(gone)'}`,
            p.moved,
          );
        },
      },
      {
        label: 'both ends are up, with addresses in one subnet',
        run: (ctx) => {
          const p = pair(ctx);
          if (!p.a || !p.b) return noSandbox(p.a ? 'b' : 'a');
          return verdict(
            `cat /proc/${p.a}/net/route /proc/${p.b}/net/route`,
            `the same subnet routed on ${p.va} in a and on ${p.vb} in b (a route appears once an address is set and the link is up)`,
            `a: ${p.ra.join(', ') || 'no route'}; b: ${p.rb.join(', ') || 'no route'}`,
            p.moved && p.common.length > 0,
          );
        },
      },
      {
        label: 'a ping crossed the pair and was answered by the other sandbox',
        run: (ctx) => {
          const p = pair(ctx);
          if (!p.a || !p.b) return noSandbox(p.a ? 'b' : 'a');
          const [ca, cb] = [icmpOf(p.a), icmpOf(p.b)];
          const aToB = !!ca && !!cb && ca.InEchoReps > 0 && cb.OutEchoReps > 0;
          const bToA = !!ca && !!cb && cb.InEchoReps > 0 && ca.OutEchoReps > 0;
          const show = (c: Record<string, number> | null) => (c ? `OutEchos ${c.OutEchos} InEchoReps ${c.InEchoReps} InEchos ${c.InEchos} OutEchoReps ${c.OutEchoReps}` : '(gone)');
          return verdict(
            `grep Icmp: /proc/${p.a}/net/snmp /proc/${p.b}/net/snmp`,
            'replies received on one side (InEchoReps > 0), sent by the other (OutEchoReps > 0)',
            `a: ${show(ca)}; b: ${show(cb)}`,
            aToB || bToA,
          );
        },
      },
    ],
    hints: [
      {
        when: {
          probe: 'grep -E "$VETH_A|$VETH_B" /proc/self/net/dev',
          holds: (ctx) => {
            const host = linksOf('self');
            return host.includes(v(ctx, 'VETH_A')) || host.includes(v(ctx, 'VETH_B'));
          },
        },
        text:
          "The pair exists, but an end of it is still in the host's network namespace, where neither sandbox can see it. An interface belongs to " +
          'exactly one network namespace at a time: move each end into its sandbox\'s (ip link set NAME netns PID).',
        reach: ['ip link add $VETH_A type veth peer name $VETH_B'],
      },
      {
        when: {
          probe: 'cat /proc/$A/net/dev /proc/$B/net/dev',
          holds: (ctx) => {
            const p = pair(ctx);
            return (p.la.includes(p.va) && p.la.includes(p.vb)) || (p.lb.includes(p.va) && p.lb.includes(p.vb));
          },
        },
        text: 'Both ends are in the same namespace: a cable with both ends in one machine connects nothing. Move one of them into the other sandbox\'s namespace.',
        reach: ['ip link add $VETH_A type veth peer name $VETH_B', 'ip link set $VETH_A netns $A', 'ip link set $VETH_B netns $A'],
      },
      {
        when: {
          probe: 'cat /proc/$A/net/route /proc/$B/net/route',
          holds: (ctx) => {
            const p = pair(ctx);
            return p.moved && (p.ra.length === 0 || p.rb.length === 0);
          },
        },
        text:
          'Both ends are in place, but at least one is down or has no address: no route uses it yet. An interface moved into a namespace arrives down, ' +
          'and its address is set in that namespace, by a command that runs there (nsenter -t PID -n ip …).',
        reach: ['ip link add $VETH_A type veth peer name $VETH_B', 'ip link set $VETH_A netns $A', 'ip link set $VETH_B netns $B'],
      },
      {
        when: {
          probe: 'cat /proc/$A/net/route /proc/$B/net/route',
          holds: (ctx) => {
            const p = pair(ctx);
            return p.moved && p.ra.length > 0 && p.rb.length > 0 && p.common.length === 0;
          },
        },
        text:
          "Both ends are up with addresses, but in different subnets: each side only reaches directly the subnet its route names, so a's packets for b have nowhere to go. " +
          'Put both addresses in one subnet (same prefix and length).',
        reach: [
          'ip link add $VETH_A type veth peer name $VETH_B',
          'ip link set $VETH_A netns $A',
          'ip link set $VETH_B netns $B',
          'nsenter -t $A -n ip addr add 10.213.1.1/24 dev $VETH_A',
          'nsenter -t $A -n ip link set $VETH_A up',
          'nsenter -t $B -n ip addr add 10.213.2.2/24 dev $VETH_B',
          'nsenter -t $B -n ip link set $VETH_B up',
        ],
      },
      {
        text:
          'Three stages: make the pair on the host (ip link add … type veth peer name …); move each end into its sandbox (ip link set … netns PID); ' +
          'in each sandbox, give its end an address and bring it up (nsenter -t PID -n ip addr add …, ip link set … up). Then ping from inside one of them.',
      },
    ],
    failStates: [
      {
        when: {
          probe: 'readlink /proc/$A/ns/net /proc/$B/ns/net',
          holds: (ctx) => {
            const gone = (pid: number | null) => {
              if (!pid) return false;
              try {
                fs.readlinkSync(`/proc/${pid}/ns/net`);
                return false;
              } catch {
                return true;
              }
            };
            return gone(pidOf(ctx, 'ch-a')) || gone(pidOf(ctx, 'ch-b'));
          },
        },
        text:
          "A sandbox's PID 1 is gone, and with it its network namespace and the end of the pair inside it: nothing can bring that namespace back. Reset the challenge (R).",
        reach: ['kill -KILL $B', 'sleep 0.3'],
      },
    ],
    solution: [
      'ip link add $VETH_A type veth peer name $VETH_B',
      'ip link set $VETH_A netns $A',
      'ip link set $VETH_B netns $B',
      'nsenter -t $A -n ip addr add 10.213.1.1/24 dev $VETH_A',
      'nsenter -t $A -n ip link set $VETH_A up',
      'nsenter -t $B -n ip addr add 10.213.1.2/24 dev $VETH_B',
      'nsenter -t $B -n ip link set $VETH_B up',
      'if command -v ping >/dev/null; then PING=ping; else PING="busybox ping"; fi',
      'nsenter -t $A -n $PING -c 2 -W 2 10.213.1.2',
    ],
  },
};

// ----- challenge 2: read c's network namespace from the host -------------------------------------

const ADDR_PROBE = "nsenter -t $C -n ip -o -4 addr show | awk '{print $4}' | cut -d/ -f1";

/** IPv4 addresses in the network namespace of `pid` (ip run there: read only when an answer is typed). */
function addressesIn(pid: number): string[] {
  try {
    const out = execFileSync('nsenter', [`--net=/proc/${pid}/ns/net`, 'ip', '-o', '-4', 'addr', 'show'], { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'] });
    return out
      .split('\n')
      .map((l) => l.trim().split(/\s+/)[3]?.split('/')[0])
      .filter((a): a is string => !!a);
  } catch {
    return [];
  }
}

const questions: Step = {
  id: 'read-c-from-the-host',
  title: "Challenge: read sandbox c's network from the host",
  checks: [],
  hint: "/proc/PID/net/… shows the network namespace of process PID, whoever reads it; /proc/PID/ns/net names that namespace.",
  challenge: {
    goal:
      'Sandbox c has a network namespace of its own, with a few interfaces and one address in it. From the host, find how many interfaces it has and its IPv4 address, and type the answers.',
    tools: ['cat', 'nsenter', 'ip'],
    setup: async (ctx) => {
      const c = await ctx.sandbox('ch-c', { ...SANDBOX, namespaces: [...SANDBOX.namespaces] });
      // 1 to 3 veth pairs made straight inside c (`ip link add … netns PID`): they never exist on the
      // host, and go with c's namespace. Not logged: the count is what the learner finds.
      const pairs = 1 + Math.floor(Math.random() * 3);
      const run = (args: string[]) => execFileSync(args[0], args.slice(1), { stdio: 'ignore', timeout: 10_000 });
      for (let i = 0; i < pairs; i++) {
        run(['ip', 'link', 'add', `eth${2 * i}`, 'netns', String(c.pid), 'type', 'veth', 'peer', 'name', `eth${2 * i + 1}`, 'netns', String(c.pid)]);
      }
      // One address, on a random interface of the pairs, in c's namespace only (no host route can clash).
      const dev = `eth${Math.floor(Math.random() * 2 * pairs)}`;
      const addr = `10.213.${1 + Math.floor(Math.random() * 254)}.${2 + Math.floor(Math.random() * 250)}/24`;
      const inC = ['nsenter', `--net=/proc/${c.pid}/ns/net`, 'ip'];
      run([...inC, 'addr', 'add', addr, 'dev', dev]);
      run([...inC, 'link', 'set', dev, 'up']);
    },
    vars: (ctx) => [{ name: 'C', value: String(pidOf(ctx, 'ch-c') ?? ''), about: "host PID of sandbox c's PID 1" }],
    checks: [],
    hints: [
      {
        text:
          "`ip link` on the host lists the host's interfaces, not c's. Read c's own: /proc/$C/net/dev (two header lines, then one line per interface), " +
          'or run ip in its namespace (nsenter -t $C -n ip -br link, nsenter -t $C -n ip addr).',
      },
    ],
    questions: [
      {
        id: 'c-links',
        question: 'How many network interfaces does sandbox c have (lo included)?',
        compare: 'number',
        answer: (ctx) => {
          const c = pidOf(ctx, 'ch-c');
          return { probe: 'tail -n +3 /proc/$C/net/dev | wc -l', value: c ? String(linksOf(c).length) : '' };
        },
        explanation: "Each network namespace has its own list of interfaces; /proc/PID/net/dev is that list for PID's namespace, wherever you read it from.",
      },
      {
        id: 'c-address',
        question: 'Sandbox c has one IPv4 address. Which (without the /prefix)?',
        answer: (ctx) => {
          const c = pidOf(ctx, 'ch-c');
          return { probe: ADDR_PROBE, value: c ? addressesIn(c).join(' ') : '' };
        },
        explanation:
          "Addresses, like interfaces and routes, belong to one network namespace: the host's `ip addr` does not list c's. nsenter -n runs ip in c's namespace (its /proc/PID/net/fib_trie lists them too).",
      },
    ],
    solution: ['tail -n +3 /proc/$C/net/dev | wc -l', ADDR_PROBE],
  },
};

// ----- challenge 3: a named namespace with no process, joined to the host ------------------------

/** A 10.213.N.0/24 that no route of the host uses (several learners may run this at once). */
function freeSubnet(): string {
  const used = new Set(routesOf('self').map((r) => r.net.split('/')[0]));
  for (let i = 0; i < 64; i++) {
    const n = 2 + Math.floor(Math.random() * 250);
    if (!used.has(`10.213.${n}.0`)) return `10.213.${n}.0/24`;
  }
  return '10.213.254.0/24';
}

/**
 * Where $NETNS is mounted: in the host's /run/netns (`ip netns add` from another terminal) or in
 * the bench's (from the `s` shell, whose mounts stay in its own mount namespace): an nsfs file.
 */
function netnsPath(ctx: LessonContext): string | null {
  const name = v(ctx, 'NETNS');
  let nsfs: number;
  try {
    nsfs = fs.statSync('/proc/self/ns/net').dev;
  } catch {
    return null;
  }
  const bench = ctx.get('bench');
  for (const p of [`/run/netns/${name}`, ...(bench ? [`/proc/${bench.pid}/root/run/netns/${name}`] : [])]) {
    try {
      if (fs.statSync(p).dev === nsfs) return p;
    } catch {
      /* not there */
    }
  }
  return null;
}

interface Inside {
  links: string[];
  routes: { net: string; dev: string }[];
  icmp: Record<string, number> | null;
}

/** What is inside the named namespace: one nsenter per poll (checks and hints of a poll share it). */
function inside(ctx: LessonContext): Promise<Inside | null> {
  const at = Date.now();
  const cached = ctx.state.get('net-ch-inside') as { at: number; path: string | null; p: Promise<Inside | null> } | undefined;
  const path = netnsPath(ctx);
  if (cached && cached.path === path && at - cached.at < 600) return cached.p;
  const p: Promise<Inside | null> = !path
    ? Promise.resolve(null)
    : new Promise((resolve) => {
        execFile(
          'nsenter',
          [`--net=${path}`, 'sh', '-c', 'cat /proc/net/dev; echo @@; cat /proc/net/route; echo @@; cat /proc/net/snmp'],
          { encoding: 'utf8', timeout: 2000 },
          (err, stdout) => {
            if (err) return resolve(null);
            const [dev, route, snmp] = stdout.split('@@\n');
            resolve({ links: parseDev(dev ?? ''), routes: parseRoutes(route ?? ''), icmp: parseIcmp(snmp ?? '') });
          },
        );
      });
  ctx.state.set('net-ch-inside', { at, path, p });
  return p;
}

const named: Step = {
  id: 'a-namespace-without-a-process',
  title: 'Challenge: a network namespace with no process in it',
  checks: [],
  hint: 'ip netns add makes a namespace and keeps it alive by a bind mount under /run/netns: no process needs to be in it.',
  challenge: {
    goal:
      'Make a network namespace named $NETNS that no process runs in, and connect it to the host: $VETH_A stays on the host, $VETH_B goes into $NETNS, ' +
      'both with addresses in $SUBNET (say .1 on the host and .2 inside), both up. Then ping the namespace from the host, and have it answer.',
    tools: ['ip netns', 'ip', 'ping (or busybox ping)'],
    writes: 'ip (a named network namespace, a veth pair, addresses)',
    setup: async (ctx) => {
      ctx.state.set('net-ch-subnet', freeSubnet());
      ctx.state.delete('net-ch-inside');
    },
    vars: (ctx) => [{ name: 'SUBNET', value: String(ctx.state.get('net-ch-subnet') ?? ''), about: 'a private subnet no route of this host uses: yours for this challenge' }],
    checks: [
      {
        label: '$NETNS exists: a name for a network namespace',
        run: (ctx) => {
          const p = netnsPath(ctx);
          return verdict(`stat -L /run/netns/$NETNS (in the host's or the challenge shell's mounts)`, 'an nsfs file (a namespace kept by a bind mount)', p ? `${p}: nsfs` : 'no such namespace', p !== null);
        },
      },
      {
        label: '$VETH_B is inside it, up, with an address in $SUBNET',
        run: async (ctx) => {
          const vb = v(ctx, 'VETH_B');
          const subnet = v(ctx, 'SUBNET');
          const i = await inside(ctx);
          return verdict(
            'nsenter --net=/run/netns/$NETNS cat /proc/net/dev /proc/net/route',
            `${vb}; route ${subnet} dev ${vb}`,
            i ? `${i.links.join(' ')}; ${i.routes.map((r) => `${r.net} dev ${r.dev}`).join(', ') || 'no routes'}` : 'no namespace $NETNS',
            !!i && i.links.includes(vb) && netsOn(i.routes, vb).includes(subnet),
          );
        },
      },
      {
        label: "$VETH_A is on the host, up, with an address in $SUBNET",
        run: (ctx) => {
          const va = v(ctx, 'VETH_A');
          const subnet = v(ctx, 'SUBNET');
          const on = netsOn(routesOf('self'), va);
          const here = linksOf('self').includes(va);
          return verdict(`grep ${va} /proc/self/net/dev /proc/self/net/route`, `${va}; route ${subnet} dev ${va}`, here ? `${va}; ${on.map((n) => `route ${n} dev ${va}`).join(', ') || 'no route on it'}` : `no ${va} on the host`, here && on.includes(subnet));
        },
      },
      {
        label: "the namespace answered the host's ping",
        run: async (ctx) => {
          const i = await inside(ctx);
          const c = i?.icmp;
          return verdict(
            'nsenter --net=/run/netns/$NETNS grep Icmp: /proc/net/snmp',
            'InEchos > 0, OutEchoReps > 0',
            c ? `InEchos ${c.InEchos}, OutEchoReps ${c.OutEchoReps}` : 'no namespace $NETNS',
            !!c && c.InEchos > 0 && c.OutEchoReps > 0,
          );
        },
      },
    ],
    hints: [
      {
        when: {
          probe: 'ip netns list; grep $VETH_B /proc/self/net/dev',
          holds: (ctx) => netnsPath(ctx) !== null && linksOf('self').includes(v(ctx, 'VETH_B')),
        },
        text: "$NETNS exists and the pair too, but $VETH_B is still in the host's namespace. ip link set … netns takes a name from ip netns as well as a PID.",
        reach: ['ip netns add $NETNS', 'ip link add $VETH_A type veth peer name $VETH_B'],
      },
      {
        when: {
          probe: 'ip -n $NETNS route',
          holds: async (ctx) => {
            const i = await inside(ctx);
            return !!i && i.links.includes(v(ctx, 'VETH_B')) && netsOn(i.routes, v(ctx, 'VETH_B')).length === 0;
          },
        },
        text:
          "$VETH_B is in $NETNS, but down or without an address there: no route uses it. It has to be configured inside the namespace, where it now lives: " +
          'ip -n $NETNS … (or ip netns exec $NETNS ip …). Plain ip on the host cannot even see it.',
        reach: ['ip netns add $NETNS', 'ip link add $VETH_A type veth peer name $VETH_B', 'ip link set $VETH_B netns $NETNS'],
      },
      {
        when: {
          probe: 'ip -n $NETNS route; grep $VETH_A /proc/self/net/route',
          holds: async (ctx) => {
            const i = await inside(ctx);
            return !!i && netsOn(i.routes, v(ctx, 'VETH_B')).length > 0 && linksOf('self').includes(v(ctx, 'VETH_A')) && netsOn(routesOf('self'), v(ctx, 'VETH_A')).length === 0;
          },
        },
        text: "The namespace's end is ready; the host's end, $VETH_A, is down or has no address, so the host has no route to $SUBNET. Configure it on the host, with plain ip.",
        reach: [
          'ip netns add $NETNS',
          'ip link add $VETH_A type veth peer name $VETH_B',
          'ip link set $VETH_B netns $NETNS',
          'ip -n $NETNS addr add ${SUBNET%.0/24}.2/24 dev $VETH_B',
          'ip -n $NETNS link set $VETH_B up',
        ],
      },
      {
        text:
          'ip netns add $NETNS makes the namespace (a bind mount of it under /run/netns keeps it alive). Make the pair on the host, move $VETH_B into it ' +
          '(ip link set $VETH_B netns $NETNS), configure each end where it lives (ip -n $NETNS … inside, plain ip on the host), then ping.',
      },
    ],
    solution: [
      'ip netns add $NETNS',
      'ip link add $VETH_A type veth peer name $VETH_B',
      'ip link set $VETH_B netns $NETNS',
      'ip addr add ${SUBNET%.0/24}.1/24 dev $VETH_A',
      'ip link set $VETH_A up',
      'ip -n $NETNS addr add ${SUBNET%.0/24}.2/24 dev $VETH_B',
      'ip -n $NETNS link set $VETH_B up',
      'if command -v ping >/dev/null; then PING=ping; else PING="busybox ping"; fi',
      '$PING -c 2 -W 2 ${SUBNET%.0/24}.2',
    ],
  },
};

/** The lesson's challenges, in order, after its guided steps. */
export const challengeSteps: Step[] = [connect, questions, named];
