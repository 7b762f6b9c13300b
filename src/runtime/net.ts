/**
 * Networking between sandboxes: a sandbox's network namespace published under a name
 * (/run/netns/sandbox-<name>, which `ip netns` lists and `ip -n` uses), and veth pairs `sbx-…`
 * whose ends are moved into sandboxes. Each is recorded in the sandbox's ledger entry *before* it
 * exists; Sandbox.destroy() and `sandbox cleanup` (sweep) remove them. Nothing else on the host's
 * network is created or changed: the host only ever holds a new veth pair for the moment between
 * `ip link add` and moving its ends away.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

import { SandboxError, usageError } from './errors.js';
import { NETNS_DIR, NETNS_PREFIX, readEntry, VETH_PREFIX, writeEntry } from './ledger.js';
import { MS_BIND } from './linux.js';
import { native } from './native.js';
import type { ExplainStep } from './plan.js';
import type { Sandbox } from './sandbox.js';

/** The name a sandbox's network namespace is published under: `sandbox-<name>`. */
/** Interface names in the network namespace of `pid`, sorted (from /proc/PID/net/dev), or null. */
export function netLinks(pid: number | 'self'): string[] | null {
  try {
    return fs
      .readFileSync(`/proc/${pid}/net/dev`, 'utf8')
      .split('\n')
      .slice(2)
      .map((l) => l.split(':')[0].trim())
      .filter(Boolean)
      .sort();
  } catch {
    return null;
  }
}

export function netnsName(sandbox: Pick<Sandbox, 'name'>): string {
  return `${NETNS_PREFIX}${sandbox.name}`;
}

/** Interface names are at most 15 characters (IFNAMSIZ - 1). */
const VETH_RE = new RegExp(`^${VETH_PREFIX}[a-z0-9-]{1,11}$`);

/** A fresh pair of veth names, `sbx-<tag><rand>-a` / `-b`, short enough for the kernel. */
export function vethNames(tag = ''): [string, string] {
  const t = tag.replace(/[^a-z0-9]/g, '').slice(0, 3);
  const r = Math.floor(Math.random() * 0x10000)
    .toString(16)
    .padStart(4, '0');
  return [`${VETH_PREFIX}${t}${r}-a`, `${VETH_PREFIX}${t}${r}-b`];
}

/** Adds names to a live sandbox's ledger entry (before the resources exist). */
function record(sandbox: Sandbox, what: { netns?: string[]; veths?: string[] }): void {
  const entry = readEntry(sandbox.name);
  if (!entry || sandbox.isDestroyed) {
    throw usageError(`sandbox ${sandbox.name} is not running`, undefined, 'E_NOT_RUNNING');
  }
  entry.netns = [...new Set([...entry.netns, ...(what.netns ?? [])])];
  entry.veths = [...new Set([...entry.veths, ...(what.veths ?? [])])];
  writeEntry(entry);
}

/**
 * Records names a learner is about to use by hand (`ip link add $VETH_A …`, `ip netns add
 * $NETNS`) in a live sandbox's ledger entry, so that its destruction or `sandbox cleanup` removes
 * them. Only names of ours: `sbx-…` interfaces, `sandbox-…` namespaces.
 */
export function recordNetNames(sandbox: Sandbox, what: { netns?: string[]; veths?: string[] }): void {
  for (const v of what.veths ?? []) if (!VETH_RE.test(v)) throw usageError(`not a veth name of ours: ${v}`);
  for (const n of what.netns ?? []) if (!n.startsWith(NETNS_PREFIX) || n.length > 64 || !/^[a-z0-9-]+$/.test(n)) throw usageError(`not a netns name of ours: ${n}`);
  record(sandbox, what);
}

function needsNet(sandbox: Sandbox): void {
  if (!sandbox.namespaces.includes('net')) {
    throw usageError(`sandbox ${sandbox.name} has no network namespace of its own`, 'create it with the net namespace');
  }
  if (sandbox.isDestroyed || !sandbox.running) {
    throw usageError(`sandbox ${sandbox.name} is not running`, undefined, 'E_NOT_RUNNING');
  }
}

/** `ip ARGS` on the host; a failure becomes a SandboxError naming the command and ip's message. */
function ip(args: string[]): string {
  try {
    return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') {
      throw new SandboxError('the `ip` command is missing', { code: 'ENOENT', step: 'ip', hint: 'install iproute2: sudo apt-get install iproute2' });
    }
    throw new SandboxError(`ip ${args.join(' ')}: ${(e.stderr ?? e.message).trim()}`, { code: 'E_IP', step: 'ip', cause: err });
  }
}

/**
 * Publishes the sandbox's network namespace as /run/netns/sandbox-<name> (what
 * `ip netns attach NAME PID` does): a bind mount of /proc/PID/ns/net, which also keeps the
 * namespace alive until it is unmounted. Idempotent.
 */
export function publishNetns(sandbox: Sandbox): { name: string; path: string; steps: ExplainStep[] } {
  needsNet(sandbox);
  const name = netnsName(sandbox);
  const target = `${NETNS_DIR}/${name}`;
  const source = `/proc/${sandbox.pid}/ns/net`;
  const steps: ExplainStep[] = [
    { what: 'mkdir', command: `mkdir -p ${NETNS_DIR}`, syscall: `mkdir("${NETNS_DIR}", 0755)` },
    { what: 'touch', command: `touch ${target}`, syscall: `open("${target}", O_CREAT|O_EXCL)` },
    {
      what: 'mount',
      command: `mount --bind ${source} ${target}`,
      syscall: `mount("${source}", "${target}", NULL, MS_BIND, NULL)`,
      result: `ip netns now lists ${name} (the same as: ip netns attach ${name} ${sandbox.pid})`,
    },
  ];
  try {
    if (fs.statSync(target).ino === fs.statSync(source).ino) return { name, path: target, steps: [] };
  } catch {
    /* not published yet */
  }
  record(sandbox, { netns: [name] });
  fs.mkdirSync(NETNS_DIR, { recursive: true, mode: 0o755 });
  try {
    fs.closeSync(fs.openSync(target, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o444));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  native().mount(source, target, '', MS_BIND, '');
  return { name, path: target, steps };
}

/**
 * Joins two sandboxes with a veth pair: created on the host (`ip link add A type veth peer name
 * B`), then each end moved into one sandbox's network namespace. The names are recorded in `a`'s
 * ledger entry first. When either namespace goes away, the kernel deletes the pair: one end
 * cannot exist without the other.
 */
export function connectSandboxes(
  a: Sandbox,
  b: Sandbox,
  names: [string, string] = vethNames(),
): { links: [string, string]; steps: ExplainStep[] } {
  needsNet(a);
  needsNet(b);
  for (const n of names) {
    if (!VETH_RE.test(n)) throw usageError(`"${n}" is not a veth name sandbox may create`, `use ${VETH_PREFIX} and at most 11 more characters (a-z, 0-9, -)`);
  }
  record(a, { veths: names });
  const steps: ExplainStep[] = [];
  const run = (args: string[], syscall: string, result?: string) => {
    ip(args);
    steps.push({ what: 'ip', command: `ip ${args.join(' ')}`, syscall, result });
  };
  run(
    ['link', 'add', names[0], 'type', 'veth', 'peer', 'name', names[1]],
    `netlink RTM_NEWLINK { ifname: "${names[0]}", kind: "veth", peer: "${names[1]}" }`,
    'a pair of virtual Ethernet devices, on the host for now: what goes into one comes out of the other',
  );
  run(['link', 'set', names[0], 'netns', String(a.pid)], `netlink RTM_NEWLINK { ifname: "${names[0]}", IFLA_NET_NS_PID: ${a.pid} }`, `${names[0]} moved into ${a.name}'s network namespace`);
  run(['link', 'set', names[1], 'netns', String(b.pid)], `netlink RTM_NEWLINK { ifname: "${names[1]}", IFLA_NET_NS_PID: ${b.pid} }`, `${names[1]} moved into ${b.name}'s network namespace`);
  return { links: names, steps };
}
