/**
 * capabilities-and-seccomp: root inside a container is not root on the host only because of
 * capabilities and seccomp. The capability sets of a privileged sandbox and a default one; the
 * 2014 "shocker" escape (open_by_handle_at) with and without CAP_DAC_READ_SEARCH; a read-only
 * bind remounted read-write with CAP_SYS_ADMIN, and refused without it; a seccomp filter that
 * answers EPERM for one system call; no_new_privs against a setuid binary. Every claim is read in
 * /proc/PID/status, /proc/PID/mountinfo, or in the host files the sandboxes reached (or not).
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import {
  CAPABILITIES,
  capMask,
  decodeCaps,
  DOCKER_DEFAULT_CAPS,
  formatCapMask,
  buildRootTree,
  mountInfo,
  PACKAGE_ROOT,
  SandboxError,
  type SandboxOptions,
} from '../../runtime/index.js';
import { MS_BIND, MS_RDONLY, MS_REMOUNT } from '../../runtime/linux.js';
import { noSandbox, statusField, verdict, type Verdict } from '../checks.js';
import type { LessonContext } from '../context.js';
import type { Lesson, TableView, View } from '../types.js';
import { memberPids } from '../views.js';
import { challengeSteps } from './challenges.js';

/** The unprivileged uid (and gid) that runs the setuid program; no host user needs to exist. */
const UID = 4242;
/** Programs copied into the lesson's root filesystem (with the libraries they load). */
const PROGRAMS = ['sh', 'cat', 'ls', 'echo', 'mkdir', 'touch', 'sleep', 'grep', 'mount', 'setpriv', 'strace'];
const TOKEN = 'host-only/token';

// ----- reading /proc/PID/status ------------------------------------------------------------------

interface Privileges {
  uid: string;
  eff: string;
  prm: string;
  inh: string;
  amb: string;
  bnd: string;
  seccomp: string;
  filters: string;
  nnp: string;
}

/** One read of /proc/PID/status (the view samples it five times a second); null if the process is gone. */
function privileges(pid: number): Privileges | null {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return null;
  }
  const f = (name: string, fallback = '?') => new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(text)?.[1].trim().replace(/\s+/g, ' ') ?? fallback;
  return {
    uid: f('Uid'),
    eff: f('CapEff'),
    prm: f('CapPrm'),
    inh: f('CapInh'),
    amb: f('CapAmb'),
    bnd: f('CapBnd'),
    seccomp: f('Seccomp'),
    filters: f('Seccomp_filters', '0'),
    nnp: f('NoNewPrivs'),
  };
}

function mask(hex: string): bigint | null {
  return /^[0-9a-f]{1,16}$/i.test(hex) ? BigInt(`0x${hex}`) : null;
}

const DOCKER = formatCapMask(capMask(DOCKER_DEFAULT_CAPS));

/** capsh --decode, shortened when most capabilities are there: "all but cap_sys_resource". */
export function capNames(hex: string): string {
  const m = mask(hex);
  if (m === null) return hex;
  if (m === 0n) return '(none)';
  const names = decodeCaps(m);
  if (names.length > CAPABILITIES.length / 2) {
    const missing = CAPABILITIES.filter((c) => !names.includes(c));
    return missing.length ? `all ${CAPABILITIES.length} but ${missing.map((c) => `cap_${c.toLowerCase()}`).join(',')}` : `all ${CAPABILITIES.length}`;
  }
  return names.map((c) => `cap_${c.toLowerCase()}`).join(',');
}

/** A mask as a short cell: its significant hex digits (the caption decodes them). */
function capCell(hex: string): string {
  const m = mask(hex);
  return m === null ? hex : m.toString(16);
}

/** How many capabilities root on this host (this program) has in CapEff. */
function hostCapCount(): number {
  const m = mask(statusField(process.pid, 'CapEff') ?? '');
  return m === null ? 0 : decodeCaps(m).length;
}

function has(hex: string, cap: (typeof CAPABILITIES)[number]): boolean {
  const m = mask(hex);
  return m !== null && ((m >> BigInt(CAPABILITIES.indexOf(cap))) & 1n) === 1n;
}

// ----- the live view --------------------------------------------------------------------------

/**
 * The privileges of this program (root on the host) and of every process in the step's
 * sandboxes, one column each, straight from /proc/PID/status.
 */
function samplePrivileges(ctx: LessonContext, keys: string[]): TableView {
  const cols: { label: string; pid: number; comm: string; p: Privileges }[] = [];
  const add = (label: string, pid: number) => {
    const p = privileges(pid);
    let comm: string;
    try {
      comm = fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
    } catch {
      return;
    }
    if (p) cols.push({ label, pid, comm, p });
  };
  add('host root', process.pid);
  for (const key of keys) {
    const s = ctx.get(key);
    if (!s) continue;
    const pids = memberPids([s.name]).sort((a, b) => a - b).slice(0, 3);
    pids.forEach((pid, i) => add(pids.length > 1 ? `${key} #${i + 1}` : key, pid));
  }
  const row = (name: string, get: (c: (typeof cols)[number]) => string) => [name, ...cols.map(get)];
  const masks = [...new Set(cols.flatMap((c) => [c.p.eff, c.p.prm, c.p.bnd]).filter((h) => mask(h)))];
  const realEff = (uid: string) => uid.split(' ').slice(0, 2).join('/');
  return {
    kind: 'table',
    columns: ['status', ...cols.map((c) => c.label)],
    rows: [
      row('PID', (c) => String(c.pid)),
      row('comm', (c) => c.comm.slice(0, 15)),
      row('Uid real/eff', (c) => realEff(c.p.uid)),
      row('CapEff', (c) => capCell(c.p.eff)),
      row('CapPrm', (c) => capCell(c.p.prm)),
      row('CapInh', (c) => capCell(c.p.inh)),
      row('CapAmb', (c) => capCell(c.p.amb)),
      row('CapBnd', (c) => capCell(c.p.bnd)),
      row('Seccomp', (c) => (c.p.seccomp === '2' ? `2 filter` : c.p.seccomp === '0' ? '0 none' : c.p.seccomp)),
      row('NoNewPrivs', (c) => c.p.nnp),
    ],
    highlight: [3],
    caption:
      'from /proc/PID/status; capability masks in hex, decoded as capsh --decode does: ' +
      masks.map((h) => `${mask(h)!.toString(16)} (${decodeCaps(mask(h)!).length}) = ${capNames(h)}`).join('; '),
  };
}

const privilegesView = (keys: string[]): View => ({ title: 'Privileges per process (/proc/PID/status)', sample: (ctx) => samplePrivileges(ctx, keys) });

// ----- the lesson's files ---------------------------------------------------------------------

/** The static escape program built next to the addon (binding.gyp target shocker). */
function shockerProgram(): string {
  const p = path.join(PACKAGE_ROOT, 'build', 'Release', 'shocker');
  if (!fs.existsSync(p)) {
    throw new SandboxError(`the shocker program is missing (${p})`, {
      code: 'E_NO_ADDON',
      hint: 'build it with `npm run build:native` (it is built with the native addon)',
    });
  }
  return p;
}

interface Paths {
  ws: string;
  rootfs: string;
  token: string;
  data: string;
}

function paths(ctx: LessonContext): Paths | null {
  const ws = ctx.getWorkspace('files');
  return ws ? { ws: ws.path, rootfs: `${ws.path}/rootfs`, token: `${ws.path}/${TOKEN}`, data: `${ws.path}/data` } : null;
}

function readOr(p: string): { text: string | null; error: string | null } {
  try {
    return { text: fs.readFileSync(p, 'utf8').trim(), error: null };
  } catch (err) {
    return { text: null, error: (err as NodeJS.ErrnoException).code ?? String(err) };
  }
}

/** The workspace with the root filesystem every sandbox here uses, and the host's token beside it. */
async function ensureFiles(ctx: LessonContext): Promise<Paths> {
  const have = paths(ctx);
  if (have) return have;
  const prog = shockerProgram();
  const ws = ctx.workspace('files');
  const tree = buildRootTree(`${ws.path}/rootfs`, { source: 'host', programs: PROGRAMS, hostname: 'caps' });
  ctx.explain(tree.steps);
  // The host's mount is setuid root; its copy here need not be (root runs it), and the only
  // setuid program in this tree should be the one step 5 makes on purpose.
  for (const name of tree.programs) {
    const f = `${ws.path}/rootfs/bin/${name}`;
    const mode = fs.statSync(f).mode & 0o7777;
    if (mode & 0o6000) {
      fs.chmodSync(f, mode & ~0o6000);
      ctx.log({ command: `chmod u-s,g-s ${f}`, note: `${name} is setuid on the host; its copy here is not` });
    }
  }
  fs.copyFileSync(prog, `${ws.path}/rootfs/bin/shocker`);
  fs.chmodSync(`${ws.path}/rootfs/bin/shocker`, 0o755);
  ctx.log({ command: `cp ${prog} ${ws.path}/rootfs/bin/`, note: 'the escape program (statically linked)' });
  ws.writeFile(TOKEN, `host token ${randomBytes(8).toString('hex')}\n`, 0o600);
  ctx.log({ command: `echo "host token …" > ${ws.path}/${TOKEN}; chmod 600 …`, note: 'beside the root filesystem, outside it: no sandbox can name this path' });
  return paths(ctx)!;
}

/** Runs on the host: the file handle of `target` (name_to_handle_at), as "TYPE:HEX". */
async function handleOf(ctx: LessonContext | null, target: string): Promise<string | null> {
  const prog = shockerProgram();
  let out: string;
  if (ctx) out = await ctx.host([prog, '--handle-of', target]);
  else {
    const { execFileSync } = await import('node:child_process');
    try {
      out = execFileSync(prog, ['--handle-of', target], { encoding: 'utf8', timeout: 5000 });
    } catch {
      return null;
    }
  }
  return /handle (\d+:[0-9a-f]+)/.exec(out)?.[1] ?? null;
}

/** What a tmpfs handle says (generation, inode), as mm/shmem.c encodes it. */
function describeHandle(handle: string): string {
  const [type, hex] = handle.split(':');
  const b = Buffer.from(hex, 'hex');
  if (type === '1' && b.length === 12) return `tmpfs: generation ${b.readUInt32LE(0)} (random, chosen when the inode was made), inode ${b.readUInt32LE(4)}`;
  if (type === '1' && b.length === 8) return `inode ${b.readUInt32LE(0)}, generation ${b.readUInt32LE(4)}`;
  return `type ${type}, ${b.length} bytes`;
}

function sandboxIn(p: Paths, extra: Partial<SandboxOptions>): SandboxOptions {
  return { namespaces: ['pid', 'mount', 'uts'], rootfs: { kind: 'dir', path: p.rootfs }, command: ['sleep', 'infinity'], ...extra };
}

/** Runs shocker inside sandbox `key` against the workspace's root directory. */
async function shockerIn(ctx: LessonContext, key: string, handle: string) {
  const s = ctx.get(key);
  if (!s) return null;
  return s.execOutput(['shocker', '--handle', handle, '/', TOKEN]);
}

const mountOf = (pid: number | 'self', mountPoint: string) => {
  try {
    return mountInfo(pid).filter((m) => m.mountPoint === mountPoint).pop() ?? null;
  } catch {
    return null;
  }
};

const rw = (options: string | undefined) => (options ? (options.split(',').includes('ro') ? 'ro' : 'rw') : 'no such mount');

function uidCheck(key: string, pid: number, want: { uid: string; nnp: string }, capsOk: (p: Privileges) => boolean, capsWant: string): Verdict {
  const p = privileges(pid);
  let exe = '';
  try {
    exe = fs.readlinkSync(`/proc/${pid}/exe`);
  } catch {
    /* gone */
  }
  if (!p) return verdict(`grep -E 'Uid|CapEff|NoNewPrivs' /proc/${pid}/status`, `${key}'s suid-sleep`, '(gone)', false);
  return verdict(
    `grep -E 'Uid|CapEff|CapBnd|NoNewPrivs' /proc/${pid}/status; readlink /proc/${pid}/exe`,
    `Uid ${want.uid}; CapEff ${capsWant}; NoNewPrivs ${want.nnp}; exe …/bin/suid-sleep`,
    `Uid ${p.uid}; CapEff ${p.eff} (CapBnd ${p.bnd}); NoNewPrivs ${p.nnp}; exe ${exe || '?'}`,
    p.uid === want.uid && p.nnp === want.nnp && capsOk(p) && exe.endsWith('/bin/suid-sleep'),
  );
}

export const lesson: Lesson = {
  id: 'capabilities-and-seccomp',
  title: 'Capabilities and seccomp',
  summary: 'root inside is not root outside only if capabilities and seccomp make it so: shocker, a remount, a seccomp filter, no_new_privs',
  requires: [
    { kind: 'command', name: 'mount' },
    { kind: 'command', name: 'setpriv' },
    { kind: 'command', name: 'grep' },
  ],
  steps: [
    {
      id: 'root-twice',
      title: 'Two roots: privileged and default',
      prediction: {
        // A getter: the host's count is read when the question is shown, not when the lesson loads.
        get question() {
          return `Two sandboxes each run a process as uid 0. One is made with --privileged, the other with the defaults. Root on this host has ${hostCapCount()} capabilities in CapEff. How many will the default one have?`;
        },
        choices: [],
        answer: DOCKER_DEFAULT_CAPS.length,
        number: {
          unit: 'capabilities',
          min: 0,
          max: 64,
          tolerance: 1,
          measured: (ctx) => {
            const b = ctx.get('default');
            const eff = b ? (statusField(b.pid, 'CapEff') ?? '') : '';
            const m = mask(eff);
            return { probe: b ? `capsh --decode=$(awk '/CapEff/ {print $2}' /proc/${b.pid}/status)` : 'capsh --decode=CAPEFF', value: m === null ? 0 : decodeCaps(m).length };
          },
        },
        explanation:
          "Since Linux 2.2, root's power is split into about 40 capabilities, each checked on its own. uid 0 in a sandbox gets only the set the runtime leaves it: Docker's default is 14 (chown, kill, setuid, net_bind_service…), without CAP_SYS_ADMIN, CAP_DAC_READ_SEARCH, CAP_SYS_MODULE or CAP_NET_ADMIN. --privileged keeps everything the caller had. uid 0 alone counts for little: the kernel checks the capability, not the uid.",
      },
      action: async (ctx) => {
        const priv = await ctx.sandbox('privileged', { namespaces: ['pid', 'mount', 'uts'], command: ['sleep', 'infinity'], security: { privileged: true } });
        const def = await ctx.sandbox('default', { namespaces: ['pid', 'mount', 'uts'], command: ['sleep', 'infinity'] });
        for (const [label, s] of [
          ['privileged', priv],
          ['default', def],
        ] as const) {
          await ctx.host(['grep', '-E', '^(Uid|Cap|Seccomp|NoNewPrivs)', `/proc/${s.pid}/status`]);
          const eff = statusField(s.pid, 'CapEff') ?? '';
          ctx.log({ note: `${label}: CapEff ${eff} is ${capNames(eff)} (the names capsh --decode=${eff} lists)` });
        }
      },
      view: privilegesView(['privileged', 'default']),
      checks: [
        {
          label: 'both sandboxes run their process as uid 0',
          run: (ctx) => {
            const a = ctx.get('privileged');
            const b = ctx.get('default');
            if (!a) return noSandbox('privileged');
            if (!b) return noSandbox('default');
            const ua = statusField(a.pid, 'Uid') ?? '(gone)';
            const ub = statusField(b.pid, 'Uid') ?? '(gone)';
            return verdict(`grep Uid /proc/{${a.pid},${b.pid}}/status`, 'privileged: 0 0 0 0; default: 0 0 0 0', `privileged: ${ua}; default: ${ub}`);
          },
        },
        {
          label: "privileged keeps every capability root on the host has, CAP_SYS_ADMIN included",
          run: (ctx) => {
            const a = ctx.get('privileged');
            if (!a) return noSandbox('privileged');
            const host = statusField(process.pid, 'CapEff') ?? '?';
            const eff = statusField(a.pid, 'CapEff') ?? '(gone)';
            return verdict(
              `grep CapEff /proc/${a.pid}/status /proc/${process.pid}/status`,
              `${host} (the host root's: ${capNames(host)})`,
              `${eff} (${capNames(eff)})`,
              eff === host && has(eff, 'SYS_ADMIN'),
            );
          },
        },
        {
          label: "the default one's CapEff and CapBnd are Docker's default set, without CAP_SYS_ADMIN",
          run: (ctx) => {
            const b = ctx.get('default');
            if (!b) return noSandbox('default');
            const eff = statusField(b.pid, 'CapEff') ?? '(gone)';
            const bnd = statusField(b.pid, 'CapBnd') ?? '(gone)';
            return verdict(
              `grep -E 'CapEff|CapBnd' /proc/${b.pid}/status`,
              `CapEff ${DOCKER}, CapBnd ${DOCKER} (${capNames(DOCKER)})`,
              `CapEff ${eff}, CapBnd ${bnd}${eff === DOCKER ? '' : ` (${capNames(eff)})`}`,
              eff === DOCKER && bnd === DOCKER,
            );
          },
        },
      ],
      hint: 'CapEff in /proc/PID/status is the set the kernel checks; `capsh --decode=HEX` names its bits. CapBnd limits what the process can ever get back, even by executing a setuid program.',
      takeaway: 'uid 0 is a name; what root can do is the capability set, and the runtime chooses it.',
    },
    {
      id: 'shocker',
      title: 'The 2014 escape: open_by_handle_at',
      prediction: {
        question:
          'A program in each of two sandboxes knows the file handle of a host directory outside its root and calls open_by_handle_at with it. Sandbox reader was given CAP_DAC_READ_SEARCH; sandbox confined has the defaults. Where does it read the host token in that directory?',
        choices: ['in both sandboxes', 'in reader only', 'in neither'],
        answer: 1,
        explanation:
          'A handle names an inode by numbers, not by path, and open_by_handle_at does not check that the inode lies under the caller\'s root or under the mount it was given: the directory being outside their roots stops nothing. That is why it needs CAP_DAC_READ_SEARCH. Docker gave containers that capability until shocker (2014) read /etc/shadow of the host with it; since then it is out of the default set, and the default seccomp profile lets the call through only when that capability is granted. Without it: EPERM.',
      },
      action: async (ctx) => {
        const p = await ensureFiles(ctx);
        const handle = await handleOf(ctx, p.ws);
        if (!handle) throw new SandboxError(`name_to_handle_at(${p.ws}) failed on this host`, { code: 'E_NO_HANDLE' });
        ctx.log({ note: `the workspace's root directory, by handle: ${handle} (${describeHandle(handle)}). The sandboxes' root is its subdirectory rootfs; ${TOKEN} is beside it.` });
        const root = mountOf('self', '/');
        if (root && /^ext[234]$/.test(root.fstype)) {
          const hostRoot = await handleOf(ctx, '/');
          ctx.log({
            note: `this host's own / is ${root.fstype}: its handle is ${hostRoot} (${hostRoot ? describeHandle(hostRoot) : '?'}), as on every ext4 filesystem. shocker.c hard-coded it in 2014; a tmpfs needs the handle to be known.`,
          });
        }
        await ctx.sandbox('reader', sandboxIn(p, { security: { capAdd: ['DAC_READ_SEARCH'] } }));
        await ctx.sandbox('confined', sandboxIn(p, {}));
        await ctx.exec('reader', ['ls', '/']);
        await ctx.exec('reader', ['cat', `/${TOKEN}`]);
        await ctx.exec('reader', ['shocker', '--handle', handle, '/', TOKEN]);
        await ctx.exec('confined', ['shocker', '--handle', handle, '/', TOKEN]);
      },
      view: privilegesView(['reader', 'confined']),
      checks: [
        {
          label: 'reader holds CAP_DAC_READ_SEARCH; confined does not',
          run: (ctx) => {
            const r = ctx.get('reader');
            const c = ctx.get('confined');
            if (!r) return noSandbox('reader');
            if (!c) return noSandbox('confined');
            const er = statusField(r.pid, 'CapEff') ?? '(gone)';
            const ec = statusField(c.pid, 'CapEff') ?? '(gone)';
            return verdict(
              `grep CapEff /proc/{${r.pid},${c.pid}}/status`,
              'reader: cap_dac_read_search set; confined: not set',
              `reader: ${er} (${has(er, 'DAC_READ_SEARCH') ? 'set' : 'not set'}); confined: ${ec} (${has(ec, 'DAC_READ_SEARCH') ? 'set' : 'not set'})`,
              has(er, 'DAC_READ_SEARCH') && !has(ec, 'DAC_READ_SEARCH'),
            );
          },
        },
        {
          label: "in reader, shocker reads the host's token, which no path inside leads to",
          run: async (ctx) => {
            const r = ctx.get('reader');
            const p = paths(ctx);
            if (!r || !p) return noSandbox('reader');
            const handle = await handleOf(null, p.ws);
            const host = readOr(p.token);
            const byPath = readOr(`/proc/${r.pid}/root/${TOKEN}`);
            const out = handle ? await shockerIn(ctx, 'reader', handle) : null;
            const last = out?.stdout.trim().split('\n').pop() ?? '';
            return verdict(
              `nsenter -t ${r.pid} -a shocker --handle ${handle ?? '?'} / ${TOKEN}; cat ${p.token}; cat /proc/${r.pid}/root/${TOKEN}`,
              `shocker prints "${host.text ?? '(the host token)'}"; by path: ENOENT`,
              `shocker prints "${last || (out?.stderr.trim() ?? 'nothing')}"; by path: ${byPath.text !== null ? `read "${byPath.text}"` : byPath.error}`,
              host.text !== null && last === host.text && byPath.error === 'ENOENT',
            );
          },
        },
        {
          label: 'in confined, the same call fails with EPERM',
          run: async (ctx) => {
            const c = ctx.get('confined');
            const p = paths(ctx);
            if (!c || !p) return noSandbox('confined');
            const handle = await handleOf(null, p.ws);
            const host = readOr(p.token);
            const out = handle ? await shockerIn(ctx, 'confined', handle) : null;
            const err = out?.stderr.trim().split('\n').pop() ?? '(did not run)';
            return verdict(
              `nsenter -t ${c.pid} -a shocker --handle ${handle ?? '?'} / ${TOKEN}`,
              'open_by_handle_at(…) = -1 EPERM, exit 1, no token',
              `${err}, exit ${out?.status.code ?? '?'}`,
              out !== null && out.status.code === 1 && /open_by_handle_at.*EPERM/.test(err) && !!host.text && !out.stdout.includes(host.text),
            );
          },
        },
      ],
      hint: 'shocker prints each system call it makes. The difference between the two sandboxes is one bit of CapEff; the live view shows it.',
      takeaway: 'One capability turned a file handle into a key to every file on the filesystem. Docker removed CAP_DAC_READ_SEARCH from its default set for that reason.',
    },
    {
      id: 'remount',
      title: 'A read-only bind, remounted',
      prediction: {
        question:
          'The host binds its directory WS/data read-only into two sandboxes (as docker -v DIR:/data:ro does). Root in each runs `mount -o remount,bind,rw /data` and writes a file there. Sandbox admin has CAP_SYS_ADMIN, plain has the defaults. Where does a file appear in the host\'s WS/data?',
        choices: ['from neither sandbox', 'from admin only', 'from both'],
        answer: 1,
        explanation:
          'Read-only is a flag of one mount, not of the files, and each mount namespace has its own copies of the mounts. With CAP_SYS_ADMIN, root flips the flag on its copy: the host\'s mount stays read-only, but the file lands in the same filesystem, so the host sees it. A container with CAP_SYS_ADMIN writes the host\'s /usr the same way, through the read-only bind it was given. Without CAP_SYS_ADMIN (and with the default seccomp filter, which refuses mount(2)), the remount fails with EPERM.',
      },
      action: async (ctx) => {
        const p = await ensureFiles(ctx);
        const ws = ctx.getWorkspace('files')!;
        if (!mountOf('self', `${p.rootfs}/data`)) {
          ws.mkdir('data');
          ws.writeFile('data/README', 'a host directory, bound read-only into sandboxes\n');
          ctx.explain([ws.bind('data', 'rootfs/data', false)]);
          ws.mount('', '', 'rootfs/data', MS_REMOUNT | MS_BIND | MS_RDONLY);
          ctx.log({
            command: `mount -o remount,bind,ro ${p.rootfs}/data`,
            syscall: `mount(NULL, "${p.rootfs}/data", NULL, MS_REMOUNT|MS_BIND|MS_RDONLY, NULL)`,
          });
        }
        await ctx.sandbox('admin', sandboxIn(p, { security: { capAdd: ['SYS_ADMIN'] } }));
        await ctx.sandbox('plain', sandboxIn(p, {}));
        for (const key of ['admin', 'plain']) {
          await ctx.exec(key, ['grep', ' /data ', '/proc/self/mountinfo']);
          await ctx.exec(key, ['sh', '-c', `mount -o remount,bind,rw /data && echo "written by root in sandbox ${key}" > /data/from-${key}`]);
          await ctx.exec(key, ['grep', ' /data ', '/proc/self/mountinfo']);
        }
        await ctx.host(['ls', p.data]);
        await ctx.host(['grep', `${p.rootfs}/data`, '/proc/self/mountinfo']);
      },
      view: privilegesView(['admin', 'plain']),
      checks: [
        {
          label: "admin's copy of the mount is read-write now; plain's is still read-only",
          run: (ctx) => {
            const a = ctx.get('admin');
            const b = ctx.get('plain');
            if (!a) return noSandbox('admin');
            if (!b) return noSandbox('plain');
            const ma = mountOf(a.pid, '/data');
            const mb = mountOf(b.pid, '/data');
            return verdict(
              `grep ' /data ' /proc/{${a.pid},${b.pid}}/mountinfo`,
              'admin: rw; plain: ro',
              `admin: ${rw(ma?.options)}; plain: ${rw(mb?.options)}`,
            );
          },
        },
        {
          label: "the host's own mount of WS/rootfs/data is still read-only",
          run: (ctx) => {
            const p = paths(ctx);
            if (!p) return noSandbox('files', '(the workspace)');
            const m = mountOf('self', `${p.rootfs}/data`);
            return verdict(`grep ' ${p.rootfs}/data ' /proc/self/mountinfo`, 'ro', rw(m?.options), m !== null && rw(m.options) === 'ro');
          },
        },
        {
          label: "admin's file is in the host's WS/data; plain wrote nothing",
          run: (ctx) => {
            const p = paths(ctx);
            if (!p) return noSandbox('files', '(the workspace)');
            const a = readOr(`${p.data}/from-admin`);
            const b = readOr(`${p.data}/from-plain`);
            return verdict(
              `cat ${p.data}/from-admin ${p.data}/from-plain`,
              'from-admin: "written by root in sandbox admin"; from-plain: ENOENT',
              `from-admin: ${a.text !== null ? `"${a.text}"` : a.error}; from-plain: ${b.text !== null ? `"${b.text}"` : b.error}`,
            );
          },
        },
      ],
      hint: "Compare the ' /data ' line of each sandbox's /proc/PID/mountinfo with the host's line for WS/rootfs/data: same filesystem, separate mounts, separate flags.",
      takeaway: 'A read-only bind protects the host only from a root that cannot remount it: CAP_SYS_ADMIN (or a seccomp filter that allows mount) undoes it.',
    },
    {
      id: 'seccomp-filter',
      title: 'A seccomp filter of our own',
      prediction: {
        question:
          'In sandbox filtered, the seccomp rule for mkdir says ERRNO(EPERM). Root there holds CAP_DAC_OVERRIDE and CAP_FOWNER, which override any file permission. What does `mkdir /tmp/made-by-mkdir` do?',
        choices: ['it creates the directory', 'it fails with EPERM', 'it fails with EACCES'],
        answer: 1,
        explanation:
          'A seccomp filter is a small BPF program the kernel runs at every system call, before the call does anything: it looks at the call number and its arguments and decides. This rule answers "errno EPERM", so mkdir fails before any permission or capability is looked at. A filter can also kill the process (SECCOMP_RET_KILL) or let a tracer decide. Docker\'s default profile allows about 300 calls by name and refuses the rest (about 44) this way.',
      },
      action: async (ctx) => {
        const p = await ensureFiles(ctx);
        const s = await ctx.sandbox('filtered', sandboxIn(p, { security: { seccompDeny: ['mkdir', 'mkdirat'] } }));
        ctx.log({
          note:
            'the same as a default sandbox plus one rule, asked for as security: { seccompDeny: [\'mkdir\', \'mkdirat\'] } (sandbox run has no flag for it). ' +
            'The sandbox installs the filter as its last step before execve: seccomp(SECCOMP_SET_MODE_FILTER, 0, &prog); every child inherits it',
        });
        await ctx.host(['grep', '-E', '^(Seccomp|NoNewPrivs)', `/proc/${s.pid}/status`]);
        const made = await ctx.exec('filtered', ['mkdir', '/tmp/made-by-mkdir']);
        await ctx.exec('filtered', ['touch', '/tmp/made-by-touch']);
        await ctx.exec('filtered', ['ls', '/tmp']);
        if (fs.existsSync(`${p.rootfs}/bin/strace`)) {
          await ctx.exec('filtered', ['strace', '-e', 'trace=mkdir,mkdirat', 'mkdir', '/tmp/made-by-mkdir']);
        }
        const why = /Operation not permitted/.test(made.stderr) ? 'EPERM (Operation not permitted)' : made.stderr.trim() || `exit ${made.status.code}`;
        ctx.log({
          note: `what strace would show: mkdir("/tmp/made-by-mkdir", 0777) = -1 ${why}: from mkdir's own error message`,
        });
      },
      view: privilegesView(['filtered']),
      checks: [
        {
          label: 'the sandbox runs under a seccomp filter (mode 2)',
          run: (ctx) => {
            const s = ctx.get('filtered');
            if (!s) return noSandbox('filtered');
            const mode = statusField(s.pid, 'Seccomp') ?? '(gone)';
            const filters = statusField(s.pid, 'Seccomp_filters') ?? '?';
            return verdict(
              `grep -E '^Seccomp' /proc/${s.pid}/status`,
              'Seccomp: 2, Seccomp_filters: 1 or more',
              `Seccomp: ${mode}, Seccomp_filters: ${filters}`,
              mode === '2' && Number(filters) >= 1,
            );
          },
        },
        {
          label: 'mkdir fails with EPERM there, while touch in the same /tmp works',
          run: async (ctx) => {
            const s = ctx.get('filtered');
            if (!s) return noSandbox('filtered');
            const r = await s.execOutput(['mkdir', '/tmp/probe-by-mkdir']);
            const touched = fs.existsSync(`/proc/${s.pid}/root/tmp/made-by-touch`);
            const made = fs.existsSync(`/proc/${s.pid}/root/tmp/made-by-mkdir`) || fs.existsSync(`/proc/${s.pid}/root/tmp/probe-by-mkdir`);
            const err = r.stderr.trim().split('\n').pop() ?? '';
            return verdict(
              `nsenter -t ${s.pid} -a mkdir /tmp/probe-by-mkdir; ls /proc/${s.pid}/root/tmp`,
              'mkdir: "Operation not permitted"; made-by-touch present; no directory made by mkdir',
              `mkdir: ${err ? `"${err}"` : `exit ${r.status.code}`}; made-by-touch ${touched ? 'present' : 'absent'}; ${made ? 'a directory made by mkdir exists' : 'no directory made by mkdir'}`,
              r.status.code !== 0 && /Operation not permitted/.test(err) && touched && !made,
            );
          },
        },
      ],
      hint: 'Seccomp: 2 in /proc/PID/status means a filter is loaded. mkdir\'s own error message in the log names the errno it got; touch in the same directory is the comparison.',
      takeaway: 'Capabilities say what root may do; a seccomp filter says which system calls may be made at all.',
    },
    {
      id: 'no-new-privs',
      title: 'no_new_privs and a setuid program',
      prediction: {
        question:
          'In two sandboxes, uid 4242 runs a setuid-root copy of sleep. Sandbox nnp has no_new_privs set, sandbox suid does not. In which one does the sleep run with effective uid 0?',
        choices: ['in both', 'in suid only', 'in neither'],
        answer: 1,
        explanation:
          'A setuid-root program starts with euid 0 and the capabilities of the bounding set, whoever runs it: that is how su and passwd work. PR_SET_NO_NEW_PRIVS, once set, is inherited and can never be unset; from then on execve ignores setuid bits and file capabilities. The seccomp filter of an unprivileged process needs it, so that a filter cannot trick a setuid program.',
      },
      action: async (ctx) => {
        const p = await ensureFiles(ctx);
        const suid = `${p.rootfs}/bin/suid-sleep`;
        if (!fs.existsSync(suid)) {
          fs.copyFileSync(`${p.rootfs}/bin/sleep`, suid);
          // Group UID only, mode 4750: on the host no one but root and gid 4242 may run it.
          fs.chownSync(suid, 0, UID);
          fs.chmodSync(suid, 0o4750);
        }
        ctx.log({ command: `cp ${p.rootfs}/bin/sleep ${suid}; chown 0:${UID} ${suid}; chmod 4750 ${suid}` });
        await ctx.host(['ls', '-l', suid]);
        const command = ['setpriv', `--reuid=${UID}`, `--regid=${UID}`, '--clear-groups', 'suid-sleep', 'infinity'];
        const a = await ctx.sandbox('suid', sandboxIn(p, { noNewPrivs: false, command }));
        ctx.log({ note: 'suid: noNewPrivs: false: the sandbox does not call prctl(PR_SET_NO_NEW_PRIVS, 1) before execve' });
        const b = await ctx.sandbox('nnp', sandboxIn(p, { noNewPrivs: true, command }));
        ctx.log({ note: 'nnp: noNewPrivs: true: prctl(PR_SET_NO_NEW_PRIVS, 1) before execve, as docker run --security-opt no-new-privileges does' });
        await new Promise((r) => setTimeout(r, 100));
        for (const s of [a, b]) await ctx.host(['grep', '-E', '^(Uid|CapEff|CapBnd|NoNewPrivs)', `/proc/${s.pid}/status`]);
      },
      view: privilegesView(['suid', 'nnp']),
      checks: [
        {
          label: 'in nnp, the setuid bit was ignored: uid 4242 throughout, no capabilities',
          run: (ctx) => {
            const b = ctx.get('nnp');
            if (!b) return noSandbox('nnp');
            const u = String(UID);
            return uidCheck('nnp', b.pid, { uid: `${u} ${u} ${u} ${u}`, nnp: '1' }, (p) => mask(p.eff) === 0n, '0000000000000000');
          },
        },
        {
          label: 'in suid, the setuid bit gave euid 0 and the bounding set, no more',
          run: (ctx) => {
            const a = ctx.get('suid');
            if (!a) return noSandbox('suid');
            return uidCheck(
              'suid',
              a.pid,
              { uid: `${UID} 0 0 0`, nnp: '0' },
              (p) => p.eff === DOCKER && p.bnd === DOCKER,
              `${DOCKER}, its CapBnd (Docker's 14)`,
            );
          },
        },
      ],
      hint: 'Uid in /proc/PID/status lists real, effective, saved and filesystem uid; NoNewPrivs says whether the flag is set. The live view shows both for each sandbox\'s process.',
      takeaway:
        'no_new_privs closes the last door: even a setuid-root program cannot raise privileges. Without it, setuid root still only gets the bounding set back, so a default sandbox stays within Docker\'s 14.',
    },
    ...challengeSteps,
  ],
};
