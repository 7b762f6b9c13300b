/**
 * pid-namespaces: PID 1 inside; the same process seen from host and sandbox; two sandboxes side
 * by side; a namespace three levels deep; orphans and their reaper; PID 1 and signals; the death
 * of PID 1. Every claim is checked in /proc.
 */
import fs from 'node:fs';
import os from 'node:os';

import { catchesSignal, nsInode, snapshot } from '../../runtime/index.js';
import { noSandbox, readlinkOr, settle, statusField, verdict } from '../checks.js';
import type { LessonContext } from '../context.js';
import type { Lesson } from '../types.js';
import { benchPids, cgroupDirOf, nsOf } from '../challenge-probes.js';
import { pidTableView, treeView } from '../views.js';

/** New PID namespaces among the learner's processes (bench cgroup): inode link → member PIDs. */
function learnerPidNamespaces(ctx: LessonContext): Map<string, number[]> {
  const host = hostPidNs();
  const out = new Map<string, number[]>();
  for (const p of benchPids(ctx)) {
    const ns = nsOf(p, 'pid');
    if (!ns || ns === host) continue;
    out.set(ns, [...(out.get(ns) ?? []), p]);
  }
  return out;
}

/** Whether some new namespace's member has a /proc of that namespace (its /proc/1 is the namespace's own init). */
function ownProcIn(ctx: LessonContext): { pass: boolean; actual: string } {
  let actual = 'no new PID namespace';
  for (const [ns, members] of learnerPidNamespaces(ctx)) {
    for (const m of members) {
      let seen = '(unreadable)';
      try {
        seen = fs.readlinkSync(`/proc/${m}/root/proc/1/ns/pid`);
      } catch {
        /* gone or no /proc */
      }
      if (seen === ns) return { pass: true, actual: `${seen} (its own)` };
      actual = `${seen} (the host's /proc)`;
    }
  }
  return { pass: false, actual };
}

/** Processes whose PID namespace is `ino`, in namespace-PID order. */
function membersOf(ino: number | null) {
  if (!ino) return [];
  return snapshot({ namespaces: ['pid'] })
    .processes.filter((p) => p.ns.pid === ino)
    .sort((a, b) => a.nspid[a.nspid.length - 1] - b.nspid[b.nspid.length - 1]);
}

/** The PID namespace sandbox runs in: the "host" side of every comparison. */
const hostPidNs = () => readlinkOr('/proc/self/ns/pid');

/** The deepest process of sandbox c (the innermost sleep), found in /proc. */
function deepest(ctx: LessonContext) {
  const c = ctx.get('c');
  if (!c) return null;
  const mine = snapshot({ namespaces: ['pid'] }).processes.filter((p) => p.sandbox === c.name);
  return mine.sort((a, b) => b.nspid.length - a.nspid.length)[0] ?? null;
}

export const lesson: Lesson = {
  id: 'pid-namespaces',
  title: 'PID namespaces',
  summary: 'PID 1 inside, the same process seen from host and sandbox, nesting, orphans, the death of PID 1',
  requires: [{ kind: 'command', name: 'unshare' }, { kind: 'command', name: 'ps' }],
  steps: [
    {
      id: 'pid1-inside',
      title: 'A new PID namespace: its first process',
      prediction: {
        question: 'A shell starts as the first process of a new PID namespace and runs `echo $$`. What does it print?',
        choices: ['its PID on the host, such as 4711', '1', '0'],
        answer: 1,
        explanation:
          'Each PID namespace numbers its processes from 1, and the first process in it gets 1. The host still knows it by its ordinary host PID.',
      },
      action: async (ctx) => {
        const s = await ctx.sandbox('a', {
          namespaces: ['pid', 'mount'],
          command: ['sh', '-c', 'echo "inside, my PID is $$"; exec sleep infinity'],
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        const said = await ctx.readLine(s.stdout);
        ctx.log({ note: `the shell printed: ${said}`, output: `outside, the host knows the same process as PID ${s.pid}` });
        ctx.log({ note: `sandbox a is named ${s.name} on the host: the name the tree shows` });
      },
      view: treeView(),
      checks: [
        {
          label: "the sandbox's first process is PID 1 in its namespace",
          run: (ctx) => {
            const a = ctx.get('a');
            if (!a) return noSandbox('a');
            return verdict(`grep NSpid /proc/${a.pid}/status`, `${a.pid} 1`, statusField(a.pid, 'NSpid') ?? '(gone)');
          },
        },
        {
          label: "it lives in a new PID namespace, not the host's",
          run: (ctx) => {
            const a = ctx.get('a');
            if (!a) return noSandbox('a');
            const host = hostPidNs();
            const link = readlinkOr(`/proc/${a.pid}/ns/pid`);
            return verdict(`readlink /proc/${a.pid}/ns/pid /proc/self/ns/pid`, `not ${host}`, link, link.startsWith('pid:[') && link !== host);
          },
        },
      ],
      hint: 'Look at the NSpid line of /proc/PID/status for the host PID the log printed: it lists the process\'s PID in each namespace it is in, the host\'s first.',
      takeaway: 'One process, two numbers: the host PID and 1.',
    },
    {
      id: 'same-process-two-pids',
      title: 'Joining a running sandbox',
      prediction: {
        question: 'A `sleep` joins sandbox a (as `nsenter` does), then `ps -e` runs inside a. How many processes does it list?',
        choices: [],
        answer: 3,
        number: {
          unit: 'processes',
          min: 0,
          max: 100000,
          tolerance: 0.5,
          measured: async (ctx) => {
            const a = ctx.get('a');
            if (!a) throw new Error('sandbox a is not running');
            const r = await a.execOutput(['ps', '-eo', 'pid=']);
            return { probe: `nsenter -t ${a.pid} -a ps -eo pid= | wc -l`, value: r.stdout.trim().split('\n').filter(Boolean).length };
          },
        },
        explanation:
          "ps lists what a's own /proc holds: PID 1 (the first sleep), the sleep that joined, and ps itself. None of the host's processes is in a's namespace. Inside, PIDs are counted per namespace, so the joined sleep got the next free number there (2), and ps the one after; on the host each has an ordinary host PID too: every process has one PID per namespace it is in.",
      },
      action: async (ctx) => {
        const pid = await ctx.start('a', ['sleep', 'infinity']);
        if (pid) ctx.state.set('a-second', pid);
        await ctx.exec('a', ['ps', '-eo', 'pid,comm']);
        if (pid) await ctx.host(['grep', 'NSpid', `/proc/${pid}/status`]);
      },
      view: treeView(),
      checks: [
        {
          label: 'the joined process has its own small PID inside sandbox a',
          run: (ctx) => {
            const a = ctx.get('a');
            if (!a) return noSandbox('a');
            const pid = ctx.state.get('a-second') as number | undefined;
            const second = membersOf(nsInode(a.pid, 'pid')).find((p) => p.pid === pid);
            if (!pid || !second) return verdict(`ls /proc (processes in sandbox a)`, 'a second sleep in sandbox a', 'only PID 1', false);
            const inside = second.nspid[1];
            return verdict(
              `grep NSpid /proc/${pid}/status`,
              `${pid} n (n > 1, counted inside)`,
              second.nspid.join(' '),
              second.nspid.length === 2 && inside > 1 && inside !== pid,
            );
          },
        },
        {
          label: "inside, ps sees only the sandbox's processes",
          run: async (ctx) => {
            const a = ctx.get('a');
            if (!a) return noSandbox('a');
            const r = await a.execOutput(['ps', '-eo', 'pid=,comm=']);
            const rows = r.stdout.trim().split('\n').map((l) => l.trim().replace(/\s+/, ' '));
            const sleeps = rows.filter((l) => / sleep$/.test(l));
            const hostCount = snapshot({ cgroup: false }).processes.length;
            return verdict(
              `nsenter -t ${a.pid} -a ps -eo pid,comm`,
              `1 sleep, 2 sleep, then this check's own ps (a new process each time ps runs: the next free PID); none of the host's ${hostCount} processes`,
              rows.join(', '),
              rows.includes('1 sleep') && sleeps.length === 2 && rows.length <= 4,
            );
          },
        },
      ],
      hint: "Count the rows of the log's ps output, and remember what ps reads: the /proc of sandbox a's PID namespace, where ps itself is a process too.",
      takeaway: 'Joining a PID namespace (setns) only places the children made afterwards inside: the joiner stays on the host side (the sandbox-init above the new sleep in the tree) and waits for its child.',
    },
    {
      id: 'side-by-side',
      title: 'Two sandboxes side by side',
      prediction: {
        question: "Sandbox a's processes are PIDs 1 and 2 inside a. A second sandbox, b, gets its own PID namespace. Which PID does b's first process have inside b?",
        choices: ['3', '1', 'the same as its host PID'],
        answer: 1,
        explanation:
          "Each PID namespace numbers its processes from 1, and namespaces do not share numbering: b's first process is PID 1 in b, just as a's is in a. So two containers on one host can both have a PID 1, a PID 2 and so on, and never see each other. Only the host sees both, with different host PIDs.",
      },
      action: async (ctx) => {
        const b = await ctx.sandbox('b', { namespaces: ['pid', 'mount'], command: ['sh', '-c', 'sleep infinity & sleep infinity & wait'] });
        await settle(() => membersOf(nsInode(b.pid, 'pid')).length, (n) => n >= 3);
        await ctx.exec('b', ['ps', '-eo', 'pid,ppid,comm']);
      },
      view: treeView(),
      checks: [
        {
          label: "b's first process is PID 1 in b",
          run: (ctx) => {
            const b = ctx.get('b');
            if (!b) return noSandbox('b');
            return verdict(`grep NSpid /proc/${b.pid}/status`, `${b.pid} 1`, statusField(b.pid, 'NSpid') ?? '(gone)');
          },
        },
        {
          label: 'a, b and the host are three different PID namespaces',
          run: (ctx) => {
            const a = ctx.get('a');
            const b = ctx.get('b');
            if (!a) return noSandbox('a');
            if (!b) return noSandbox('b');
            const links = [readlinkOr(`/proc/${a.pid}/ns/pid`), readlinkOr(`/proc/${b.pid}/ns/pid`), hostPidNs()];
            return verdict(
              `readlink /proc/${a.pid}/ns/pid /proc/${b.pid}/ns/pid /proc/self/ns/pid`,
              'three different pid:[…] links',
              links.join('  '),
              new Set(links).size === 3 && links.every((l) => l.startsWith('pid:[')),
            );
          },
        },
        {
          label: 'b numbers its own processes 1, 2, 3',
          run: (ctx) => {
            const b = ctx.get('b');
            if (!b) return noSandbox('b');
            const nums = membersOf(nsInode(b.pid, 'pid')).map((p) => p.nspid[1]);
            return verdict(`NSpid of every process in ${readlinkOr(`/proc/${b.pid}/ns/pid`)}`, '1 2 3', nums.join(' '));
          },
        },
      ],
      hint: "Compare the pid:[…] links in /proc/PID/ns: equal links mean the same namespace. Then read the last number of each NSpid line in b.",
    },
    {
      id: 'nested',
      title: 'Three levels deep',
      prediction: {
        question:
          'Inside sandbox c, `unshare --pid --fork` makes a namespace inside c\'s, and inside that, another. How many PIDs does the innermost process have (numbers on its NSpid line)?',
        choices: [],
        answer: 4,
        number: {
          unit: 'PIDs',
          min: 1,
          max: 40,
          tolerance: 0.5,
          measured: (ctx) => {
            const d = deepest(ctx);
            if (!d) throw new Error('no process of sandbox c is running');
            return { probe: `grep NSpid /proc/${d.pid}/status`, value: (statusField(d.pid, 'NSpid') ?? '').split(' ').filter(Boolean).length };
          },
        },
        explanation:
          'PID namespaces nest: a process is visible, with its own number, in its own namespace and in every namespace above it. The innermost sleep is PID 1 at the bottom and has a PID at each level up to the host: host, c, and the two levels below c.',
      },
      action: async (ctx) => {
        // unshare and mount need CAP_SYS_ADMIN, which a default sandbox (like Docker's) lacks.
        const c = await ctx.sandbox('c', {
          namespaces: ['pid', 'mount'],
          command: ['unshare', '--pid', '--fork', '--mount-proc', 'sh', '-c', 'sleep infinity & exec unshare --pid --fork --mount-proc sleep infinity'],
          security: { capAdd: ['SYS_ADMIN'] },
        });
        ctx.log({ note: 'sandbox c gets CAP_SYS_ADMIN so that unshare can make PID namespaces (and mount their /proc) inside it' });
        const deep = await settle(() => deepest(ctx), (p) => (p?.nspid.length ?? 0) >= 4);
        if (deep) await ctx.host(['grep', 'NSpid', `/proc/${deep.pid}/status`]);
        ctx.log({ note: `sandbox c (${c.name} on the host) has host PID ${c.pid} as its own PID 1; each unshare --pid --fork made one more level below it` });
      },
      view: pidTableView(),
      checks: [
        {
          label: 'the innermost sleep has a PID at each of four levels, and is PID 1 at the bottom',
          run: (ctx) => {
            const d = deepest(ctx);
            if (!ctx.get('c')) return noSandbox('c');
            if (!d) return verdict('NSpid of the processes in sandbox c', 'a process four levels deep', 'none', false);
            const nspid = statusField(d.pid, 'NSpid') ?? '(gone)';
            const parts = nspid.split(' ');
            return verdict(`grep NSpid /proc/${d.pid}/status`, `${d.pid} x y 1`, nspid, parts.length === 4 && parts[3] === '1' && parts[0] === String(d.pid));
          },
        },
        {
          label: 'each level is a different PID namespace',
          run: (ctx) => {
            const c = ctx.get('c');
            if (!c) return noSandbox('c');
            const mine = snapshot({ namespaces: ['pid'] }).processes.filter((p) => p.sandbox === c.name);
            const inits = [2, 3, 4].map((len) => mine.find((p) => p.nspid.length === len && p.nspid[len - 1] === 1));
            if (inits.some((p) => !p)) return verdict('PID 1 at each level of sandbox c', 'a PID 1 at levels 1, 2 and 3', 'missing levels', false);
            const links = [hostPidNs(), ...inits.map((p) => readlinkOr(`/proc/${p!.pid}/ns/pid`))];
            return verdict(
              `readlink /proc/{self,${inits.map((p) => p!.pid).join(',')}}/ns/pid`,
              'four different namespaces (host, c, level 2, level 3)',
              links.join('  '),
              new Set(links).size === 4,
            );
          },
        },
      ],
      hint: 'Read the NSpid line of the deepest sleep (the log printed it): one number per namespace the process can be seen from, outermost first.',
    },
    {
      id: 'orphans',
      title: 'Orphans and zombies',
      prediction: {
        question: "Inside sandbox d, a shell starts a sleep in the background and exits. The sleep's parent is gone. Who becomes its parent?",
        choices: ["the host's PID 1", "PID 1 of d's namespace", 'nobody (the sleep is killed)'],
        answer: 1,
        explanation:
          "Within a PID namespace, orphans are adopted by that namespace's own PID 1 (here sandbox-init, which calls itself sandbox-pause), which must also reap them when they exit: nobody else will, and unreaped children stay as zombies.",
      },
      action: async (ctx) => {
        await ctx.sandbox('d', { namespaces: ['pid', 'mount'], init: true });
        await ctx.exec('d', ['sh', '-c', '(sleep infinity >/dev/null 2>&1 &); (sleep 0.3 &); echo "started two sleeps in subshells that exited at once"']);
        await new Promise((r) => setTimeout(r, 800));
        await ctx.exec('d', ['ps', '-eo', 'pid,ppid,stat,comm']);
      },
      view: treeView(),
      checks: [
        {
          label: "the orphaned sleep's new parent is d's PID 1 (sandbox-init, shown as sandbox-pause)",
          run: (ctx) => {
            const d = ctx.get('d');
            if (!d) return noSandbox('d');
            const sleeps = membersOf(nsInode(d.pid, 'pid')).filter((p) => p.comm === 'sleep');
            const adopted = sleeps.filter((p) => p.ppid === d.pid);
            return verdict(
              `grep PPid /proc/<sleep>/status (d's PID 1, sandbox-pause, is host PID ${d.pid})`,
              `PPid ${d.pid}`,
              sleeps.length ? sleeps.map((p) => `sleep(${p.pid}) PPid ${p.ppid}`).join(', ') : 'no sleep in sandbox d',
              adopted.length > 0 && adopted.length === sleeps.length,
            );
          },
        },
        {
          label: 'the orphan that exited was reaped: no zombie left',
          run: async (ctx) => {
            const d = ctx.get('d');
            if (!d) return noSandbox('d');
            const ino = nsInode(d.pid, 'pid');
            const members = await settle(() => membersOf(ino), (m) => m.filter((p) => p.comm === 'sleep').length <= 1);
            const zombies = members.filter((p) => p.state === 'Z');
            const sleeps = members.filter((p) => p.comm === 'sleep');
            return verdict(
              `grep State /proc/*/status (processes in sandbox d)`,
              'one sleep left, no zombie (Z)',
              `${sleeps.length} sleep, ${zombies.length} zombie${zombies.length === 1 ? '' : 's'}`,
              sleeps.length === 1 && zombies.length === 0,
            );
          },
        },
      ],
      hint: 'Find the sleep in the tree (or the PPID column of the log\'s ps) and follow its parent: which process is it, and in which namespace?',
      takeaway: "Orphans in a PID namespace go to that namespace's PID 1, which must reap them: a container's PID 1 has an init's job, which is why tini and sandbox-init exist.",
    },
    {
      id: 'pid1-signals',
      title: 'PID 1 and SIGTERM',
      prediction: {
        question: "Sandbox e's PID 1 is `sleep`, which installs no signal handlers. You send it SIGTERM from the host. What happens?",
        choices: ['it dies', 'nothing happens', 'it stops until SIGCONT'],
        answer: 1,
        explanation:
          "The kernel protects a namespace's init: a signal it has no handler for is dropped (only SIGKILL and SIGSTOP from an ancestor namespace get through). So `docker stop` (SIGTERM, then SIGKILL after 10 seconds) takes the full 10 seconds with such a PID 1 and ends it with SIGKILL, and Ctrl-C does nothing at all. That is why containers need an init that handles and forwards signals (docker run --init).",
      },
      action: async (ctx) => {
        const e = await ctx.sandbox('e', { namespaces: ['pid'], command: ['sleep', 'infinity'] });
        const ctl = await ctx.sandbox('e-host', { namespaces: ['uts'], command: ['sleep', 'infinity'] });
        await ctx.host(['grep', 'SigCgt', `/proc/${e.pid}/status`]);
        ctx.signal('e', 'SIGTERM');
        ctx.signal('e-host', 'SIGTERM');
        await Promise.race([ctl.wait(), new Promise((r) => setTimeout(r, 1000))]);
        await new Promise((r) => setTimeout(r, 200));
        ctx.log({ note: `sleep as PID 1: ${e.running ? 'still running' : 'exited'}; the same sleep without a PID namespace: ${ctl.running ? 'still running' : `ended by ${ctl.status?.signal ?? ctl.status?.code}`}` });
      },
      view: treeView(),
      checks: [
        {
          label: 'sleep has no handler for SIGTERM',
          run: (ctx) => {
            const e = ctx.get('e');
            if (!e) return noSandbox('e');
            const mask = statusField(e.pid, 'SigCgt') ?? '(gone)';
            return verdict(
              `grep SigCgt /proc/${e.pid}/status (bit 15 = SIGTERM)`,
              'bit 15 clear',
              mask,
              catchesSignal(e.pid, os.constants.signals.SIGTERM) === false,
            );
          },
        },
        {
          label: 'as PID 1 it survived SIGTERM; without a PID namespace the same sleep died of it',
          run: (ctx) => {
            const e = ctx.get('e');
            const h = ctx.get('e-host');
            if (!e) return noSandbox('e');
            const state = statusField(e.pid, 'State') ?? 'gone';
            const control = h ? (h.status?.signal ?? (h.running ? 'running' : String(h.status?.code))) : 'SIGTERM';
            return verdict(
              `grep State /proc/${e.pid}/status; wait status of the control sleep`,
              'PID 1: S (sleeping); control: SIGTERM',
              `PID 1: ${state.split(' ')[0]}; control: ${control}`,
              state.startsWith('S') && control === 'SIGTERM',
            );
          },
        },
      ],
      hint: "Look at SigCgt in /proc/PID/status (the signals the process catches: bit 15 is SIGTERM), and at State: is the PID 1 still there?",
      takeaway: "A namespace's PID 1 gets only the signals it handles (and SIGKILL or SIGSTOP from outside): a PID 1 that handles none ignores SIGTERM and Ctrl-C.",
    },
    {
      id: 'pid1-death',
      title: 'When PID 1 dies',
      prediction: {
        question: "Sandbox b's PID 1 has two children. You kill PID 1 with SIGKILL from the host. What happens to the children?",
        choices: ["the host's init adopts them", 'the kernel kills them too', 'they stay, as orphans inside'],
        answer: 1,
        explanation:
          "A PID namespace lives exactly as long as its PID 1: when PID 1 exits, or is killed, the kernel sends SIGKILL to every other process in the namespace. Nothing can escape by being reparented, because there is nobody left to reparent to. That is also how sandbox makes sure nothing survives.",
      },
      action: async (ctx) => {
        const b = ctx.get('b');
        if (!b) throw new Error('sandbox b from step 3 is not running');
        const ino = nsInode(b.pid, 'pid');
        ctx.state.set('b-ns', ino);
        ctx.state.set('b-members', membersOf(ino).map((p) => p.pid));
        ctx.signal('b', 'SIGKILL');
        await b.wait();
        await settle(() => membersOf(ino).length, (n) => n === 0, 2000);
      },
      view: treeView(),
      checks: [
        {
          label: "no process is left in b's PID namespace",
          run: (ctx) => {
            const b = ctx.get('b');
            const ino = (ctx.state.get('b-ns') as number | undefined) ?? (b ? nsInode(b.pid, 'pid') : null);
            if (!ino) return noSandbox('b');
            const left = membersOf(ino);
            return verdict(
              `readlink /proc/*/ns/pid | grep -c pid:[${ino}]`,
              '0',
              String(left.length),
            );
          },
        },
        {
          label: "b's other processes were killed with it",
          run: (ctx) => {
            const b = ctx.get('b');
            const ino = b ? nsInode(b.pid, 'pid') : null;
            const pids = (ctx.state.get('b-members') as number[] | undefined) ?? membersOf(ino).map((p) => p.pid);
            if (!pids.length) return noSandbox('b');
            const alive = pids.filter((p) => {
              const st = statusField(p, 'State');
              return st !== null && !st.startsWith('Z');
            });
            return verdict(`ls -d ${pids.map((p) => `/proc/${p}`).join(' ')}`, 'all gone', alive.length ? `still running: ${alive.join(' ')}` : 'all gone');
          },
        },
      ],
      hint: "Count the processes left in b's namespace: which /proc/*/ns/pid links still point at it?",
      takeaway: 'A PID namespace is a subtree of the process tree: its own numbering, its own init, and a lifetime tied to that init.',
    },
    {
      id: 'your-own-pid-namespace',
      title: 'Challenge: a PID namespace of your own',
      checks: [],
      hint: 'unshare makes the namespace; --fork puts a child in it; --mount-proc gives it a /proc of its own.',
      challenge: {
        goal: 'From your shell, make a new PID namespace that holds exactly two processes, with a /proc of its own in which `ps` lists exactly those two.',
        tools: ['unshare', 'ps', 'sleep'],
        writes: 'a new PID namespace and a procfs mount (unshare, mount)',
        setup: async () => {},
        vars: () => [],
        checks: [
          {
            label: 'a new PID namespace was made from your shell',
            run: (ctx) => {
              const ns = learnerPidNamespaces(ctx);
              return verdict('readlink /proc/PID/ns/pid for each PID in the challenge cgroup', 'a namespace other than the host\'s', ns.size ? [...ns.keys()].join(' ') : "only the host's", ns.size > 0);
            },
          },
          {
            label: 'it holds exactly two processes',
            run: (ctx) => {
              const counts = [...learnerPidNamespaces(ctx).values()].map((m) => m.length);
              return verdict('grep -c the namespace among /proc/*/ns/pid', '2', counts.length ? counts.join(', ') : '0', counts.includes(2));
            },
          },
          {
            label: 'its /proc shows its own PID 1',
            run: (ctx) => {
              const own = ownProcIn(ctx);
              return verdict('readlink /proc/MEMBER/root/proc/1/ns/pid', 'the new namespace (its PID 1 is its own init)', own.actual, own.pass);
            },
          },
        ],
        hints: [
          {
            when: {
              probe: "readlink /proc/MEMBER/ns/pid /proc/MEMBER/root/proc/1/ns/pid",
              holds: (ctx) => learnerPidNamespaces(ctx).size > 0 && !ownProcIn(ctx).pass,
            },
            text: 'There is a new PID namespace, but its processes still see the host\'s /proc (PID 1 there is the host\'s init). Mount a fresh /proc in a new mount namespace: unshare --mount-proc does both.',
            reach: ["unshare --pid --fork sh -c 'sleep 1000 & exec sleep 1000' >/dev/null 2>&1 &", 'sleep 0.3'],
          },
          {
            when: {
              probe: 'count the processes of each new PID namespace',
              holds: (ctx) => {
                const counts = [...learnerPidNamespaces(ctx).values()].map((m) => m.length);
                return counts.length > 0 && !counts.includes(2);
              },
            },
            text: 'Your namespace holds a different number of processes. Its first process is its PID 1; a shell that starts one background child and then execs another program leaves exactly two.',
            reach: ["unshare --pid --fork --mount-proc sleep 1000 >/dev/null 2>&1 &", 'sleep 0.3'],
          },
          { text: "Try: unshare --pid --fork --mount-proc sh -c 'sleep 1000 & exec sleep 1000' &   then look with ps in it (nsenter -t PID -p -m ps)." },
        ],
        questions: [],
        solution: ["unshare --pid --fork --mount-proc sh -c 'sleep 1000 & exec sleep 1000' >/dev/null 2>&1 &", 'sleep 0.3'],
      },
    },
    {
      id: 'find-pid1-on-the-host',
      title: 'Challenge: find PID 1 of a sandbox on the host',
      checks: [],
      hint: 'NSpid in /proc/PID/status lists a process\'s PID at every level, host first.',
      challenge: {
        goal: "Sandbox b runs in its own PID namespace. Find the host PID of its PID 1, using only /proc (and its cgroup's list of processes, $B_CG/cgroup.procs), and type it in.",
        tools: ['cat', 'grep'],
        setup: async (ctx) => {
          await ctx.sandbox('b', { namespaces: ['pid', 'mount'], init: true, command: ['sh', '-c', 'sleep 1000 & sleep 1000 & wait'] });
        },
        vars: (ctx) => [{ name: 'B_CG', value: cgroupDirOf(ctx, 'b', 'pids') ?? '(none)', about: "sandbox b's cgroup directory (pids controller)" }],
        checks: [],
        hints: [{ text: 'For each PID in $B_CG/cgroup.procs, look at the NSpid line of /proc/PID/status: the one whose last number is 1 is PID 1 inside.' }],
        questions: [
          {
            id: 'b-pid1',
            question: 'What is the host PID of PID 1 in sandbox b?',
            compare: 'number',
            answer: (ctx) => {
              const b = ctx.get('b');
              return {
                probe: `grep -l 'NSpid:.*[[:space:]]1$' $(sed 's|.*|/proc/&/status|' $B_CG/cgroup.procs) | cut -d/ -f3`,
                value: b ? String(b.pid) : '(no sandbox b)',
              };
            },
            explanation: 'The host numbers every process, including those in child namespaces; NSpid shows both numbers of the same process.',
          },
        ],
        solution: [`grep -l 'NSpid:.*[[:space:]]1$' $(sed 's|.*|/proc/&/status|' $B_CG/cgroup.procs) | cut -d/ -f3`],
      },
    },
  ],
};
