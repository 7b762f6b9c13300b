/**
 * container-from-scratch, the capstone: a container built stage by stage the way LXC and OpenVZ
 * build one (an image, namespaces, pivot_root, its own /proc, a hostname, cgroup limits, a veth
 * to the host), then run through vzctl's lifecycle in the REPL (create, start, exec, inspect,
 * checkpoint, restore, stop, destroy), and a closing table of every kernel object it was made
 * of, read from the kernel. The challenges (challenges.ts) have the learner do the stages by hand.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

import { type ReplCommand, parseLine } from '../../repl/parse.js';
import { ReplSession, type RunContext } from '../../repl/session.js';
import { buildRootTree, cgroups, criuStatus, readEntry, recordNetNames, RUN_DIR, SandboxError, vethNames } from '../../runtime/index.js';
import { noSandbox, settle, statusField, verdict } from '../checks.js';
import type { LessonContext } from '../context.js';
import type { Lesson, TableView } from '../types.js';
import { treeView } from '../views.js';
import { CHALLENGES } from './challenges.js';
import {
  cgroupValue,
  dirId,
  hostRootMounts,
  interfacesOf,
  limitFiles,
  localAddresses,
  nsLinkOf,
  NS_KINDS,
  ownProc,
  readText,
  sharedWithHost,
  snmpCounter,
} from './probes.js';

const MIB = 1024 * 1024;
const PIDS_MAX = 20;
const WEIGHT = 50;
/** cpu.shares for a weight, as the runtime writes it on v1 (weight × 1024 / 100). */
const SHARES = Math.round((WEIGHT * 1024) / 100);

const rootOf = (ctx: LessonContext) => {
  const ws = ctx.getWorkspace('image');
  return ws ? `${ws.path}/rootfs` : null;
};

/** The expected value of each limit file on this host's cgroup version. */
function expectedLimits(): { controller: string; file: string; value: string }[] {
  const f = limitFiles();
  return [
    { controller: f.cpu[0], file: f.cpu[1], value: cgroups().version === 2 ? String(WEIGHT) : String(SHARES) },
    { controller: f.memory[0], file: f.memory[1], value: String(64 * MIB) },
    { controller: f.pids[0], file: f.pids[1], value: String(PIDS_MAX) },
  ];
}

// ----- the REPL session of the lifecycle steps ----------------------------------------------------

interface Lifecycle {
  session: ReplSession;
  name: string;
  counter: string;
}

function lifecycle(ctx: LessonContext): Lifecycle | null {
  return (ctx.state.get('lifecycle') as Lifecycle | undefined) ?? null;
}

/** Host PID of the REPL sandbox's PID 1, read from the session's live sample (null: not running). */
function replPid(ctx: LessonContext): number | null {
  const l = lifecycle(ctx);
  if (!l) return null;
  const s = l.session.sample(false).sandboxes.find((x) => x.name === l.name);
  return s && s.state === 'running' ? s.pid : null;
}

/** Runs REPL lines, logging each with what it printed; a failed line ends the action. */
async function repl(ctx: LessonContext, l: Lifecycle, lines: string[]): Promise<string[]> {
  const outputs: string[] = [];
  for (const line of lines) {
    const parsed = parseLine(line);
    if (parsed.kind !== 'command') throw new SandboxError(`the lesson's REPL line does not parse: ${line}`, { code: 'E_BUG', actionable: false });
    let text = '';
    const problems: string[] = [];
    const rc: RunContext = { print: (t) => (text += `${t}\n`), problem: (p) => problems.push(...p) };
    const r = await l.session.run(parsed.command as ReplCommand, rc);
    ctx.log({ command: `sandbox> ${line}`, output: (text + problems.join('\n')).trimEnd() || undefined });
    if (!r.ok) throw new SandboxError(`${line}: ${problems[0]?.replace(/^error: /, '') ?? 'failed'}`, { code: 'E_LESSON', hint: problems.find((p) => p.startsWith('hint:'))?.slice(6) });
    outputs.push(text);
  }
  return outputs;
}

/** A name for the REPL sandbox that no live session on this host holds. */
function freeName(): string {
  for (let i = 1; i < 20; i++) {
    const n = i === 1 ? 'capstone' : `capstone-${i}`;
    if (!readEntry(n) && !fs.existsSync(`${RUN_DIR}/${n}`)) return n;
  }
  return `capstone-${process.pid}`;
}

/** The counter process of the lifecycle (a sh whose NSpid inside is not 1), or null. */
function counterProcess(ctx: LessonContext): { pid: number; nspid: string } | null {
  const pid1 = replPid(ctx);
  if (!pid1) return null;
  const ns = nsLinkOf(pid1, 'pid');
  const cg = cgroupValue(pid1, 'pids', 'cgroup.procs');
  for (const p of (cg?.value ?? '').split('\n').map(Number).filter(Boolean)) {
    if (nsLinkOf(p, 'pid') !== ns) continue;
    const cmd = readText(`/proc/${p}/cmdline`)?.replace(/\0/g, ' ') ?? '';
    if (/while :/.test(cmd)) return { pid: p, nspid: statusField(p, 'NSpid') ?? '' };
  }
  return null;
}

const counterValue = (l: Lifecycle | null) => Number(readText(l?.counter ?? '/nonexistent')?.trim() ?? NaN);

/** Seconds since boot (/proc/uptime). */
function uptime(): number {
  return Number(readText('/proc/uptime')?.split(' ')[0] ?? 0);
}

/**
 * When process `pid` started, in seconds since boot (field 22 of /proc/PID/stat, in USER_HZ
 * ticks: 100 on every architecture Linux exposes to userspace), or Infinity.
 */
function startedAt(pid: number): number {
  const stat = readText(`/proc/${pid}/stat`);
  if (!stat) return Infinity;
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[19]) / 100;
}

// ----- the closing inventory -----------------------------------------------------------------------

interface Row {
  object: string;
  probe: string;
  value: string;
}

/** Every kernel object of container c, read now (empty when c is gone). */
function inventory(ctx: LessonContext): Row[] {
  const c = ctx.get('c');
  if (!c) return [];
  const rows: Row[] = [];
  for (const ns of NS_KINDS) rows.push({ object: `${ns} namespace`, probe: `readlink /proc/${c.pid}/ns/${ns}`, value: nsLinkOf(c.pid, ns) ?? 'gone' });
  const mounts = (() => {
    try {
      return fs.readFileSync(`/proc/${c.pid}/mountinfo`, 'utf8').split('\n').filter(Boolean);
    } catch {
      return [];
    }
  })();
  for (const mp of ['/', '/proc', '/dev', '/tmp']) {
    const m = mounts.map((l) => l.split(' ')).find((f) => f[4] === mp);
    const type = m ? m[m.indexOf('-') + 1] : null;
    rows.push({ object: `mount ${mp}`, probe: `grep ' ${mp} ' /proc/${c.pid}/mountinfo`, value: type ? `${type}${mp === '/' ? ` (${m![3]})` : ''}` : 'none' });
  }
  for (const e of expectedLimits()) {
    const v = cgroupValue(c.pid, e.controller, e.file);
    rows.push({ object: `cgroup ${e.file}`, probe: `cat ${v?.path ?? e.file}`, value: v?.value ?? 'gone' });
  }
  const veth = ctx.state.get('veth') as { host: string; inside: string } | undefined;
  if (veth) {
    const state = readText(`/sys/class/net/${veth.host}/operstate`)?.trim();
    rows.push({ object: `link ${veth.host}`, probe: `cat /sys/class/net/${veth.host}/operstate`, value: state ? `host end, ${state}` : 'gone' });
    const inside = interfacesOf(c.pid);
    rows.push({ object: `link ${veth.inside}`, probe: `cat /proc/${c.pid}/net/dev`, value: inside?.includes(veth.inside) ? `in the container (${localAddresses(c.pid).filter((a) => a !== '127.0.0.1').join(', ')})` : 'gone' });
  }
  rows.push({ object: 'PID 1', probe: `grep NSpid /proc/${c.pid}/status`, value: `NSpid ${statusField(c.pid, 'NSpid') ?? 'gone'}` });
  return rows;
}

function inventoryView(ctx: LessonContext): TableView {
  const built = (ctx.state.get('built') as Row[] | undefined) ?? inventory(ctx);
  const now = new Map(inventory(ctx).map((r) => [r.object, r.value]));
  return {
    kind: 'table',
    columns: ['object', 'while it ran', 'now'],
    rows: built.map((r) => [r.object, r.value, now.get(r.object) ?? 'gone']),
    caption: 'each value read from /proc and /sys (probes in the log)',
  };
}

// ----- the lesson ---------------------------------------------------------------------------------

export const lesson: Lesson = {
  id: 'container-from-scratch',
  title: 'A container from scratch',
  summary: 'the capstone: an image, namespaces, pivot_root, /proc, limits and a veth, then create → start → checkpoint → restore → destroy',
  requires: [{ kind: 'root' }, { kind: 'busybox' }, { kind: 'command', name: 'ip' }, { kind: 'command', name: 'nsenter' }, { kind: 'command', name: 'unshare' }],
  steps: [
    {
      id: 'the-image',
      title: 'An image: a root filesystem from busybox',
      prediction: {
        question: 'bin/ of the new root will list one name per busybox command, a few hundred of them. How many of those names are regular files holding program code?',
        choices: [],
        answer: 1,
        number: {
          unit: 'files',
          min: 0,
          max: 1000,
          tolerance: 0.5,
          measured: (ctx) => {
            const root = rootOf(ctx);
            const n = root ? fs.readdirSync(`${root}/bin`).filter((f) => fs.lstatSync(`${root}/bin/${f}`).isFile()).length : 0;
            return { probe: `find ${root ?? 'ROOT'}/bin -type f | wc -l`, value: n };
          },
        },
        explanation: 'busybox is one program that looks at the name it was started as (argv[0]): every command is a symbolic link to the same file, and it is statically linked, so the image needs no libraries.',
      },
      action: async (ctx) => {
        const ws = ctx.workspace('image');
        const tree = buildRootTree(`${ws.path}/rootfs`, { hostname: 'capstone' });
        ctx.explain(tree.steps);
        await ctx.host(['sh', '-c', `ls ${tree.dir}; ls ${tree.dir}/bin | wc -l; find ${tree.dir}/bin -type f`]);
        ctx.log({ note: `the image: ${tree.programs.length} commands in ${(tree.bytes / 1024).toFixed(0)} KiB` });
      },
      checks: [
        {
          label: 'bin/busybox is one statically linked program',
          run: (ctx) => {
            const root = rootOf(ctx);
            if (!root) return noSandbox('image', '(the image workspace)');
            let head = Buffer.alloc(0);
            try {
              head = fs.readFileSync(`${root}/bin/busybox`).subarray(0, 4096);
            } catch {
              /* absent */
            }
            const elf = head.subarray(0, 4).toString('latin1') === '\x7fELF';
            const actual = !head.length ? 'no bin/busybox' : !elf ? 'not an ELF program' : head.includes('ld-linux') ? 'dynamically linked' : 'ELF, no program interpreter (static)';
            return verdict(`file ${root}/bin/busybox`, 'ELF, no program interpreter (static)', actual);
          },
        },
        {
          label: 'every other command in bin/ is a link to it',
          run: (ctx) => {
            const root = rootOf(ctx);
            if (!root) return noSandbox('image', '(the image workspace)');
            let names: string[] = [];
            try {
              names = fs.readdirSync(`${root}/bin`).filter((f) => f !== 'busybox');
            } catch {
              /* absent */
            }
            const links = names.filter((f) => {
              try {
                return fs.readlinkSync(`${root}/bin/${f}`) === 'busybox';
              } catch {
                return false;
              }
            });
            return verdict(`find ${root}/bin -type l -lname busybox | wc -l`, `all of them (${names.length}), over 100`, `${links.length} of ${names.length}`, names.length > 100 && links.length === names.length);
          },
        },
      ],
      hint: 'Compare `ls -l ROOT/bin | head` with `file ROOT/bin/busybox`.',
      takeaway: 'An image is only files: a directory tree that will become someone\'s /.',
    },
    {
      id: 'namespaces-and-root',
      title: 'New namespaces, pivot_root, its own /proc and hostname',
      prediction: {
        question: "pivot_root puts the host's root under a directory of the new root. What of the host's root filesystem will the container's mount table hold once the runtime is done?",
        choices: ['nothing', "the host's / under that directory", "the host's / read-only"],
        answer: 0,
        explanation:
          'pivot_root moves the old root to a directory under the new one; umount -l detaches it from the namespace. The kernel lists only mounts reachable from the process\'s root, and none of the host\'s are left: unlike chroot, there is no ".." to climb.',
      },
      action: async (ctx) => {
        const root = rootOf(ctx);
        if (!root) throw new SandboxError('the image from step 1 is missing', { code: 'E_LESSON', hint: 'run the first step again' });
        const c = await ctx.sandbox('c', {
          namespaces: ['pid', 'mount', 'uts', 'ipc', 'net'],
          rootfs: { kind: 'dir', path: root },
          hostname: 'capstone',
          init: true,
        });
        ctx.explain(c.explain.filter((s) => ['mount', 'pivot_root', 'umount', 'sethostname', 'chdir'].some((w) => s.what.includes(w))));
        await ctx.exec('c', ['sh', '-c', 'hostname; ls /; cat /proc/mounts; echo "PID 1: $(cat /proc/1/comm)"']);
        await ctx.host(['sh', '-c', `for n in ${NS_KINDS.join(' ')}; do echo "$n: $(readlink /proc/${c.pid}/ns/$n)  host: $(readlink /proc/self/ns/$n)"; done`]);
      },
      view: treeView(),
      checks: [
        {
          label: 'its PID, mount, UTS, IPC and network namespaces are all new',
          run: (ctx) => {
            const c = ctx.get('c');
            if (!c) return noSandbox('c');
            const shared = sharedWithHost(c.pid);
            return verdict(`readlink /proc/${c.pid}/ns/{${NS_KINDS.join(',')}} /proc/self/ns/…`, 'none shared with the host', shared === null ? 'gone' : shared.length ? `shared: ${shared.join(' ')}` : 'none shared with the host');
          },
        },
        {
          label: 'its root is the image',
          run: (ctx) => {
            const c = ctx.get('c');
            const root = rootOf(ctx);
            if (!c || !root) return noSandbox('c');
            const want = dirId(`${root}/bin/busybox`);
            const got = dirId(`/proc/${c.pid}/root/bin/busybox`);
            return verdict(`stat -L -c %d:%i /proc/${c.pid}/root/bin/busybox ${root}/bin/busybox`, `the same file (${want})`, got ?? 'no /bin/busybox in its root', got !== null && got === want);
          },
        },
        {
          label: "no mount of the host's root filesystem is left in its mount table",
          run: (ctx) => {
            const c = ctx.get('c');
            if (!c) return noSandbox('c');
            const m = hostRootMounts(c.pid);
            return verdict(`grep ' / ' /proc/${c.pid}/mountinfo (the host root's device)`, 'nothing', m === null ? 'unreadable' : m.length ? m.join(' ') : 'nothing');
          },
        },
        {
          label: 'its /proc is its own, and its hostname is capstone',
          run: (ctx) => {
            const c = ctx.get('c');
            if (!c) return noSandbox('c');
            let host = '(unreadable)';
            try {
              host = execFileSync('nsenter', ['-t', String(c.pid), '-u', 'hostname'], { encoding: 'utf8', timeout: 5000 }).trim();
            } catch {
              /* gone */
            }
            const own = ownProc(c.pid);
            return verdict(
              `readlink /proc/${c.pid}/root/proc/1/ns/pid; nsenter -t ${c.pid} -u hostname`,
              "its own /proc; capstone",
              `${own ? 'its own /proc' : "the host's /proc"}; ${host}`,
              own && host === 'capstone',
            );
          },
        },
      ],
      hint: 'Each ns link in /proc/PID/ns names a namespace; compare them with /proc/self/ns. /proc/PID/mountinfo lists what the process can reach.',
      takeaway: 'Five namespaces and one pivot_root: that is where "inside a container" begins.',
    },
    {
      id: 'limits',
      title: 'cgroup limits: CPU weight, memory, processes',
      prediction: {
        question: `The container gets pids.max = ${PIDS_MAX}. Its PID 1 runs; a helper joins it (as docker exec's does) and runs a shell, which tries to start 60 sleeps. How many sleeps get to run?`,
        choices: [],
        answer: PIDS_MAX - 3,
        number: {
          unit: 'sleeps',
          min: 0,
          max: 1000,
          tolerance: 0.5,
          measured: (ctx) => ({ probe: 'cat /proc/$(cat …/cgroup.procs)/comm | grep -c sleep (before they were ended)', value: (ctx.state.get('sleeps') as number | undefined) ?? 0 }),
        },
        explanation: `pids.max counts every task in the cgroup: PID 1, the helper and the shell hold 3 of the ${PIDS_MAX}, so ${PIDS_MAX - 3} sleeps fit and the next fork() fails with EAGAIN; pids.events counts the refusal. busybox's sh gives up at its first failed fork: it and its helper exit, and the sleeps stay.`,
      },
      action: async (ctx) => {
        const c = ctx.get('c');
        if (!c) throw new SandboxError('container c from the previous step is not running', { code: 'E_LESSON', hint: 'run the previous step again' });
        for (const w of c.setLimits({ cpuWeight: WEIGHT, memory: 64 * MIB, pids: PIDS_MAX })) {
          ctx.log({ command: `echo ${w.value} > ${w.path}`, syscall: `write("${w.path}", "${w.value}")`, note: w.note });
        }
        await ctx.start('c', ['sh', '-c', 'for i in $(seq 60); do sleep 1000 & done 2>/dev/null; exec sleep 1000']);
        const cur = () => Number(cgroupValue(c.pid, 'pids', 'pids.current')?.value ?? 0);
        const refused = () => Number(/max (\d+)/.exec(cgroupValue(c.pid, 'pids', 'pids.events')?.value ?? '')?.[1] ?? 0);
        await settle(refused, (n) => n > 0, 5000);
        // The shell exits at the refused fork and its helper follows: wait until every process
        // but PID 1 is a sleep (a child between fork and exec still shows the shell's name).
        const isSleep = (p: number) => readText(`/proc/${p}/comm`)?.trim() === 'sleep';
        await settle(() => c.pids().filter((p) => p !== c.pid && !isSleep(p)).length, (n) => n === 0, 3000);
        await new Promise((r) => setTimeout(r, 200));
        const sleeps = c.pids().filter(isSleep);
        ctx.state.set('sleeps', sleeps.length);
        const pc = cgroupValue(c.pid, 'pids', 'pids.current');
        const ev = cgroupValue(c.pid, 'pids', 'pids.events');
        await ctx.host(['cat', pc!.path, ev!.path]);
        ctx.log({ command: `cat /proc/$(cat ${pc!.path.replace(/pids\.current$/, 'cgroup.procs')})/comm | grep -c sleep`, output: String(sleeps.length) });
        // The sleeps would hold every PID the next steps need: the host ends them (not PID 1).
        const rest = c.pids().filter((p) => p !== c.pid);
        for (const p of rest) {
          try {
            process.kill(p, 'SIGKILL');
          } catch {
            /* gone */
          }
        }
        ctx.log({ command: `kill -KILL ${rest.join(' ')}`, note: 'the sleeps are ended from the host; PID 1 stays' });
        await settle(cur, (n) => n <= 1, 3000);
      },
      checks: [
        ...expectedLimits().map((e) => ({
          label: `${e.file} holds ${e.value}`,
          run: (ctx: LessonContext) => {
            const c = ctx.get('c');
            if (!c) return noSandbox('c');
            const v = cgroupValue(c.pid, e.controller, e.file);
            return verdict(`cat ${v?.path ?? e.file}`, e.value, v?.value ?? '(unreadable)');
          },
        })),
        {
          label: `the kernel refused forks at ${PIDS_MAX}`,
          run: (ctx: LessonContext) => {
            const c = ctx.get('c');
            if (!c) return noSandbox('c');
            const v = cgroupValue(c.pid, 'pids', 'pids.events');
            const n = Number(/max (\d+)/.exec(v?.value ?? '')?.[1] ?? 0);
            return verdict(`cat ${v?.path ?? 'pids.events'}`, 'max N, N > 0', v?.value ?? '(unreadable)', n > 0);
          },
        },
      ],
      hint: 'The cgroup directory of a process is in /proc/PID/cgroup; its limit files are plain text. pids.events counts what the limit refused.',
    },
    {
      id: 'veth',
      title: 'A veth to the host, with an address',
      prediction: {
        question: 'Before any link is added, how many network interfaces does the container\'s new network namespace hold?',
        choices: [],
        answer: 1,
        number: {
          unit: 'interfaces',
          min: 0,
          max: 100,
          tolerance: 0.5,
          measured: (ctx) => ({ probe: 'tail -n +3 /proc/PID/net/dev | wc -l (read before the veth)', value: (ctx.state.get('ifaces-before') as number | undefined) ?? 0 }),
        },
        explanation: 'A new network namespace starts with only lo, and lo is down: no route leads anywhere until a link is moved in. That is why every runtime adds a veth pair (or macvlan…) to the namespace it makes.',
      },
      action: async (ctx) => {
        const c = ctx.get('c');
        if (!c) throw new SandboxError('container c is not running', { code: 'E_LESSON', hint: 'run the earlier steps again' });
        ctx.state.set('ifaces-before', interfacesOf(c.pid)?.length ?? 0);
        await ctx.host(['cat', `/proc/${c.pid}/net/dev`]);
        const [host, inside] = vethNames('cap');
        recordNetNames(c, { veths: [host, inside] });
        const net = `10.231.${1 + Math.floor(Math.random() * 250)}`;
        ctx.state.set('veth', { host, inside, net });
        ctx.defer(() => {
          try {
            execFileSync('ip', ['link', 'del', host], { stdio: 'ignore' });
          } catch {
            /* gone with the namespace */
          }
        });
        const t = String(c.pid);
        for (const argv of [
          ['ip', 'link', 'add', host, 'type', 'veth', 'peer', 'name', inside],
          ['ip', 'link', 'set', inside, 'netns', t],
          ['ip', 'addr', 'add', `${net}.1/24`, 'dev', host],
          ['ip', 'link', 'set', host, 'up'],
          ['nsenter', '-t', t, '-n', 'ip', 'addr', 'add', `${net}.2/24`, 'dev', inside],
          ['nsenter', '-t', t, '-n', 'ip', 'link', 'set', inside, 'up'],
          ['nsenter', '-t', t, '-n', 'ip', 'link', 'set', 'lo', 'up'],
        ]) {
          await ctx.host(argv);
        }
        await settle(() => readText(`/sys/class/net/${host}/operstate`)?.trim(), (s) => s === 'up', 3000);
        await ctx.exec('c', ['ping', '-c', '2', '-W', '2', `${net}.1`]);
      },
      checks: [
        {
          label: 'the host end is up, with its address',
          run: (ctx) => {
            const v = ctx.state.get('veth') as { host: string; net: string } | undefined;
            if (!v) return verdict('ip -br addr (sbx-… links)', 'a veth on the host', 'none', false);
            const state = readText(`/sys/class/net/${v.host}/operstate`)?.trim() ?? 'absent';
            const has = localAddresses('self').includes(`${v.net}.1`);
            return verdict(`cat /sys/class/net/${v.host}/operstate; grep -A1 ${v.net}.1 /proc/net/fib_trie`, `up; ${v.net}.1`, `${state}; ${has ? `${v.net}.1` : 'no address'}`);
          },
        },
        {
          label: 'the other end is in the container, with its address',
          run: (ctx) => {
            const c = ctx.get('c');
            const v = ctx.state.get('veth') as { inside: string; net: string } | undefined;
            if (!c) return noSandbox('c');
            if (!v) return verdict(`cat /proc/${c.pid}/net/dev`, 'a veth inside', `only ${interfacesOf(c.pid)?.join(' ')}`, false);
            const ifs = interfacesOf(c.pid) ?? [];
            const addr = localAddresses(c.pid);
            return verdict(`cat /proc/${c.pid}/net/dev /proc/${c.pid}/net/fib_trie`, `${v.inside}; ${v.net}.2`, `${ifs.join(' ')}; ${addr.join(' ')}`, ifs.includes(v.inside) && addr.includes(`${v.net}.2`));
          },
        },
        {
          label: 'the container got echo replies from the host',
          run: (ctx) => {
            const c = ctx.get('c');
            if (!c) return noSandbox('c');
            const n = snmpCounter(c.pid, 'Icmp', 'InEchoReps');
            return verdict(`grep Icmp: /proc/${c.pid}/net/snmp (InEchoReps)`, '≥ 1', String(n ?? '(unreadable)'), (n ?? 0) >= 1);
          },
        },
      ],
      hint: 'A veth pair is a cable with two ends: one stays in the host\'s namespace, one is moved into the container\'s (ip link set … netns PID). Each side sets its own address.',
    },
    {
      id: 'lifecycle',
      title: 'The lifecycle: create, start, exec, inspect',
      prediction: {
        question: '`create capstone …` then `start capstone`, with no command given. How many processes run in its cgroup right after start?',
        choices: [],
        answer: 1,
        number: {
          unit: 'processes',
          min: 0,
          max: 100,
          tolerance: 0.5,
          measured: (ctx) => ({ probe: 'cat …/pids.current (right after start)', value: (ctx.state.get('after-start') as number | undefined) ?? 0 }),
        },
        explanation:
          'create only records a configuration (vzctl create writes a config file); start makes the namespaces and the cgroup with one process holding them: sandbox-init, the "pause" process of a Kubernetes pod. Everything else comes with exec.',
      },
      action: async (ctx) => {
        const session = new ReplSession({ purpose: `lesson ${ctx.lessonId}` });
        ctx.defer(async () => {
          await session.shutdown();
        });
        const ws = ctx.workspace('counter', { tmpfs: '1m' });
        const l: Lifecycle = { session, name: freeName(), counter: `${ws.path}/count` };
        ctx.state.set('lifecycle', l);
        const n = l.name;
        // No mount namespace and --privileged: the REPL's PID 1 (sandbox-init) is the host's
        // file, which CRIU finds only in the host's mount namespace; without a mount namespace the
        // tasks see the host's /proc, and CRIU needs CAP_SYS_ADMIN to mount one of their own.
        await repl(ctx, l, [`create ${n} --pid --uts --ipc --hostname ${n} --privileged cpu-weight=${WEIGHT} memory=64M pids=40`, `inspect ${n}`, `start ${n}`]);
        const pid = replPid(ctx);
        ctx.state.set('after-start', pid ? Number(cgroupValue(pid, 'pids', 'pids.current')?.value ?? 0) : 0);
        await repl(ctx, l, [
          `exec ${n} sh -c 'echo "hostname $(hostname), PID $$"'`,
          `exec ${n} sh -c 'setsid sh -c "i=0; while :; do i=\\$((i+1)); echo \\$i > ${l.counter}; sleep 0.1; done" </dev/null >/dev/null 2>&1 &'`,
          `inspect ${n}`,
        ]);
        // Not ps: without a mount namespace the container sees the host's /proc, so ps would
        // list the host's processes. NSpid, read on the host, gives both numbers.
        const counter = counterProcess(ctx);
        if (counter) await ctx.host(['grep', 'NSpid', `/proc/${pid}/status`, `/proc/${counter.pid}/status`]);
        ctx.log({ note: `enter ${n} hands your terminal to a shell that joins it the same way (try it in sandbox repl, or nsenter -t ${pid} -a sh from the s shell)` });
      },
      view: {
        title: 'the REPL sandbox',
        intervalMs: 500,
        sample: (ctx) => lifecycle(ctx)?.session.sample(true).tree ?? { kind: 'text', lines: ['(the REPL sandbox is not running)'] },
      },
      checks: [
        {
          label: 'its PID 1 runs in new PID, UTS and IPC namespaces',
          run: (ctx) => {
            const pid = replPid(ctx);
            if (!pid) return noSandbox('capstone', '(the REPL sandbox)');
            const shared = ['pid', 'uts', 'ipc'].filter((ns) => nsLinkOf(pid, ns) === nsLinkOf('self', ns));
            return verdict(`readlink /proc/${pid}/ns/{pid,uts,ipc} /proc/self/ns/…`, 'none shared with the host', shared.length ? `shared: ${shared.join(' ')}` : 'none shared with the host');
          },
        },
        {
          label: 'its cgroup holds the limits given to create',
          run: (ctx) => {
            const pid = replPid(ctx);
            if (!pid) return noSandbox('capstone', '(the REPL sandbox)');
            const f = limitFiles();
            const got = [cgroupValue(pid, f.memory[0], f.memory[1]), cgroupValue(pid, f.pids[0], f.pids[1])];
            return verdict(`cat ${got.map((g) => g?.path ?? '?').join(' ')}`, `${64 * MIB} 40`, got.map((g) => g?.value ?? '?').join(' '));
          },
        },
        {
          label: 'the counter runs inside and counts',
          run: async (ctx) => {
            const p = counterProcess(ctx);
            const l = lifecycle(ctx);
            if (!p || !l) return verdict('the counter in the REPL sandbox', 'a running counter', 'none', false);
            // It counts every 0.1 s; under load (or an emulated CPU) its first write, and one round
            // of its shell loop, can take longer than that, so the file is given up to 5 s to
            // appear and the count up to 5 s more to grow. (NaN, a file not written yet, compares
            // false with everything: the first wait is for a number.)
            const a = await settle(() => counterValue(l), Number.isFinite, 5000);
            const b = Number.isFinite(a) ? await settle(() => counterValue(l), (v) => v > a, 5000) : a;
            return verdict(`grep NSpid /proc/${p.pid}/status; cat ${l.counter} twice`, 'NSpid HOST n (n > 1); the count grows', `NSpid ${p.nspid}; ${a} then ${b}`, b > a && p.nspid.split(' ').length === 2);
          },
        },
      ],
      hint: 'inspect prints each namespace link and cgroup file the way the kernel shows them: compare with readlink /proc/PID/ns/* and cat on the files.',
    },
    {
      id: 'checkpoint-restore',
      title: 'Checkpoint and restore',
      unavailable: () => {
        const st = criuStatus({ timeoutMs: 60_000 });
        return st.works ? null : `${st.detail}${st.fix ? ` (${st.fix})` : ''}`;
      },
      prediction: {
        question: 'The counter is a process with some PID n inside the container. It is checkpointed (and killed), then restored. Which PID does it have inside afterwards?',
        choices: ['n again', 'the next free PID inside', 'a new host PID, and no PID inside'],
        answer: 0,
        explanation:
          'CRIU recreates each task with its old PID (clone3 with set_tid), which it can do because the container has a PID namespace of its own where those numbers are free. The host PIDs are new.',
      },
      action: async (ctx) => {
        const l = lifecycle(ctx);
        if (!l) throw new SandboxError('the REPL sandbox of the previous step is not running', { code: 'E_LESSON', hint: 'run the previous step again' });
        const before = counterProcess(ctx);
        ctx.state.set('before-checkpoint', before);
        await repl(ctx, l, [`checkpoint ${l.name}`]);
        const at = counterValue(l);
        ctx.state.set('count-at-checkpoint', at);
        await ctx.host(['sh', '-c', `cat ${l.counter}; ls /proc/${before?.pid ?? 0} >/dev/null 2>&1 && echo "PID ${before?.pid} still runs" || echo "host PID ${before?.pid} is gone"`]);
        await repl(ctx, l, [`restore ${l.name}`]);
        await new Promise((r) => setTimeout(r, 500));
        await repl(ctx, l, [`exec ${l.name} cat ${l.counter}`]);
        const after = counterProcess(ctx);
        if (after) await ctx.host(['grep', 'NSpid', `/proc/${after.pid}/status`]);
      },
      checks: [
        {
          label: 'the counter has its old PID inside and a new host PID',
          run: (ctx) => {
            const before = ctx.state.get('before-checkpoint') as { pid: number; nspid: string } | undefined;
            const now = counterProcess(ctx);
            if (!now) return verdict('the counter in the REPL sandbox', 'a running counter', 'none', false);
            const inside = (s: string) => s.split(' ').pop();
            return verdict(
              `grep NSpid /proc/${now.pid}/status`,
              before ? `inside ${inside(before.nspid)}, host PID not ${before.pid}` : 'a checkpoint first',
              `NSpid ${now.nspid}`,
              !!before && inside(before.nspid) === inside(now.nspid) && now.pid !== before.pid,
            );
          },
        },
        {
          label: 'it goes on counting from where it was',
          run: async (ctx) => {
            const at = ctx.state.get('count-at-checkpoint') as number | undefined;
            // A restored tree takes a moment to run again (seen in the v2 guest under load): give it
            // up to 5 s to be running and to have written a value at least the one checkpointed.
            let now = counterValue(lifecycle(ctx));
            let running = counterProcess(ctx) !== null;
            for (const end = Date.now() + 5000; at !== undefined && !(running && now >= at) && Date.now() < end; ) {
              await new Promise((r) => setTimeout(r, 100));
              now = counterValue(lifecycle(ctx));
              running = counterProcess(ctx) !== null;
            }
            return verdict(
              `cat ${lifecycle(ctx)?.counter ?? 'the counter file'}`,
              at === undefined ? 'a checkpoint first' : `≥ ${at}, counting`,
              `${now}${running ? '' : ' (no counter running)'}`,
              at !== undefined && running && now >= at,
            );
          },
        },
      ],
      hint: 'NSpid in /proc/PID/status lists the PID at every level: the last number is the one inside.',
    },
    {
      id: 'stop-and-destroy',
      title: 'stop, then destroy',
      prediction: {
        question: '`stop capstone` runs. What is left of it?',
        choices: ['nothing', 'its configuration only', 'its cgroup, empty'],
        answer: 1,
        explanation: 'stop removes every kernel object (vzctl stop); the configuration stays so that start can make them again. destroy then forgets the configuration too.',
      },
      action: async (ctx) => {
        const l = lifecycle(ctx);
        const pid = replPid(ctx);
        if (!l || !pid) throw new SandboxError('the REPL sandbox is not running', { code: 'E_LESSON', hint: 'run the lifecycle step again' });
        ctx.state.set('stopped', {
          ns: nsLinkOf(pid, 'pid'),
          cgroups: cgroups().dirs(l.name).filter((d) => fs.existsSync(d)),
          dir: `${RUN_DIR}/${l.name}`,
        });
        await repl(ctx, l, [`stop ${l.name}`]);
        ctx.state.set('stopped-at', uptime());
        await repl(ctx, l, [`list`, `destroy ${l.name}`, 'list']);
      },
      checks: [
        {
          label: 'no process is left in its PID namespace',
          run: (ctx) => {
            const s = ctx.state.get('stopped') as { ns: string } | undefined;
            const ns = s?.ns ?? (replPid(ctx) ? nsLinkOf(replPid(ctx)!, 'pid') : null);
            if (!ns) return noSandbox('capstone', '(the REPL sandbox)');
            // Only processes that existed before the stop: the inode number may be reused since.
            const until = (ctx.state.get('stopped-at') as number | undefined) ?? Infinity;
            const left = fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p) && startedAt(Number(p)) < until && nsLinkOf(Number(p), 'pid') === ns);
            return verdict(`readlink /proc/*/ns/pid | grep -c '${ns}'`, '0', String(left.length));
          },
        },
        {
          label: 'its cgroup directories and its run directory are gone',
          run: (ctx) => {
            const l = lifecycle(ctx);
            if (!l) return noSandbox('capstone', '(the REPL sandbox)');
            const s = ctx.state.get('stopped') as { cgroups: string[]; dir: string } | undefined;
            const paths = [...(s?.cgroups ?? cgroups().dirs(l.name)), s?.dir ?? `${RUN_DIR}/${l.name}`];
            const left = paths.filter((p) => fs.existsSync(p));
            return verdict(`ls -d ${paths.join(' ')}`, 'none left', left.length ? left.join(' ') : 'none left', left.length === 0 && !replPid(ctx));
          },
        },
      ],
      hint: 'After stop, look for its processes in /proc and its directories under /sys/fs/cgroup; `list` shows what the REPL still knows of it.',
    },
    {
      id: 'what-you-built',
      title: 'What the container was made of',
      prediction: {
        question: 'Container c is destroyed: its processes are killed, and the runtime removes its cgroup directories and its workspace. Which of its namespaces, mounts and links outlive it?',
        choices: ['none', 'its mounts, until someone unmounts them', "the veth's host end"],
        answer: 0,
        explanation:
          "A namespace lives while something holds it (a process, an open fd or a bind mount). When the last holder goes, its mounts are unmounted and its network devices deleted, and a veth's host end goes with its peer. Nothing is left to clean up by hand.",
      },
      action: async (ctx) => {
        const c = ctx.get('c');
        if (!c) throw new SandboxError('container c is not running', { code: 'E_LESSON', hint: 'run the earlier steps again' });
        const built = inventory(ctx);
        ctx.state.set('built', built);
        ctx.state.set('built-of', { pid: c.pid, name: c.name, veth: (ctx.state.get('veth') as { host: string } | undefined)?.host, root: rootOf(ctx) });
        for (const r of built) ctx.log({ command: r.probe, output: r.value });
        await ctx.destroy('c');
        ctx.state.set('destroyed-at', uptime());
        ctx.destroyWorkspace('image');
      },
      view: { title: 'container c, object by object', intervalMs: 1000, sample: inventoryView },
      checks: [
        {
          label: 'its namespaces are gone',
          run: (ctx) => {
            const built = (ctx.state.get('built') as Row[] | undefined) ?? inventory(ctx);
            const links = built.filter((r) => r.object.endsWith('namespace')).map((r) => r.value);
            if (!links.length) return noSandbox('c');
            const held = new Set<string>();
            // Namespace inode numbers are reused: a process started after the destroy that shows
            // one of them is in a new namespace (another session's), not in c's.
            const until = (ctx.state.get('destroyed-at') as number | undefined) ?? Infinity;
            for (const p of fs.readdirSync('/proc').filter((x) => /^\d+$/.test(x) && startedAt(Number(x)) < until)) {
              for (const ns of NS_KINDS) {
                const l = nsLinkOf(Number(p), ns);
                if (l && links.includes(l)) held.add(l);
              }
            }
            return verdict('readlink /proc/*/ns/* (the five links)', 'none held by any process', held.size ? [...held].join(' ') : 'none held by any process');
          },
        },
        {
          label: 'its cgroup, veth and image are gone',
          run: (ctx) => {
            const of = ctx.state.get('built-of') as { name: string; veth?: string; root: string | null } | undefined;
            const c = ctx.get('c');
            const name = of?.name ?? c?.name;
            if (!name) return noSandbox('c');
            const veth = of?.veth ?? (ctx.state.get('veth') as { host: string } | undefined)?.host;
            const paths = [...cgroups().dirs(name), `${RUN_DIR}/${name}`, ...(veth ? [`/sys/class/net/${veth}`] : []), of?.root ?? rootOf(ctx) ?? ''].filter(Boolean);
            const left = paths.filter((p) => fs.existsSync(p));
            return verdict(`ls -d ${paths.join(' ')}`, 'none left', left.length ? left.join(' ') : 'none left', left.length === 0);
          },
        },
      ],
      hint: 'Every row of the table is a file in /proc or /sys: read each again now.',
      takeaway: 'A container is nothing but these objects: namespaces, mounts, a cgroup, links. Made in order, read from the kernel, gone when its last holder goes.',
    },
    ...CHALLENGES,
  ],
};
