/**
 * user-namespaces: uid/gid maps; uid 0 inside is an unprivileged uid outside; files made inside
 * belong to that uid; root inside has every capability, but only over what its user namespace
 * owns: its own mounts and hostname yes, the host's files and hostname no. Read from
 * /proc/PID/{uid_map,gid_map,status}, stat on the host, and commands run inside.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';

import { DEFAULT_USER_MAP, mountInfo, nsLink, type SecurityOptions, snapshot } from '../../runtime/index.js';
import { benchPids, nsOf } from '../challenge-probes.js';
import { noSandbox, readlinkOr, statusField, verdict } from '../checks.js';
import type { LessonContext } from '../context.js';
import type { Lesson, TableView, View } from '../types.js';

const MAP = DEFAULT_USER_MAP;
/**
 * This lesson is about what a user namespace's root can do by itself, so its sandboxes keep every
 * capability (no Docker-like drop, no seccomp filter): in a user namespace those capabilities
 * count over the namespace's own resources only, which is what the steps show.
 */
const USERNS_ROOT: SecurityOptions = { privileged: true };
const USERNS_NOTE =
  "sandboxes u and v are --privileged: every capability, but inside a user namespace, where they count only over u's own namespaces (the lesson shows what they still cannot reach)";
const INSIDE_NAME = 'ns-root-was-here';
const SECRET = 'secret.txt';

/** Every capability this kernel has, as CapEff spells it. */
function fullCaps(): string {
  const last = Number(fs.readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8'));
  return ((1n << BigInt(last + 1)) - 1n).toString(16).padStart(16, '0');
}

function read(p: string): string | null {
  try {
    return fs.readFileSync(p, 'utf8').trim().replace(/\s+/g, ' ');
  } catch {
    return null;
  }
}

/** The uid the process has in its own user namespace, mapped back through /proc/PID/uid_map. */
function uidInside(pid: number): string {
  const uid = Number((statusField(pid, 'Uid') ?? '').split(' ')[0]);
  const map = (read(`/proc/${pid}/uid_map`) ?? '').split(' ').map(Number);
  for (let i = 0; i + 2 < map.length; i += 3) {
    if (uid >= map[i + 1] && uid < map[i + 1] + map[i + 2]) return String(uid - map[i + 1] + map[i]);
  }
  return '?';
}

const opts = { cwd: '/' };

/** The unprivileged user of the rootless step: a bare number, no account (nothing is added to /etc). */
const NOBODY_UID = 4242;
const OWN_MAP = `0 ${NOBODY_UID} 1`;
const WIDE_MAP = `0 ${MAP.outside} ${MAP.count}`;

/**
 * What uid 4242 runs (bash: it names the errno of a failed write, dash says "I/O error"): two
 * `unshare --user sleep` children, then its own writes to their maps, each printed as `$ command`
 * and its result. The children are waited for until the sandbox ends.
 */
const ROOTLESS_SCRIPT = [
  '# Run by sandbox (user-namespaces lesson, step "rootless") as uid 4242: see the lesson\'s log.',
  'say() { printf \'$ %s\\n\' "$1"; }',
  't() { say "$1"; { eval "$1"; } 2>&1; }',
  'w() { say "$1"; { eval "$1"; } 2>&1 && echo ok; }',
  'inside() { until [ "$(readlink /proc/$1/ns/user 2>/dev/null)" != "$(readlink /proc/self/ns/user)" ]; do sleep 0.02; done; }',
  't "id -u; grep CapEff /proc/self/status"',
  'unshare --user sleep infinity & C=$!; inside $C',
  'say "unshare --user sleep infinity &"; echo "host PID $C"',
  `w "echo '${OWN_MAP}' > /proc/$C/uid_map"`,
  `w "echo '${OWN_MAP}' > /proc/$C/gid_map"`,
  't "cat /proc/$C/setgroups"',
  'w "echo deny > /proc/$C/setgroups"',
  `w "echo '${OWN_MAP}' > /proc/$C/gid_map"`,
  'unshare --user sleep infinity & D=$!; inside $D',
  'say "unshare --user sleep infinity &"; echo "host PID $D"',
  `w "echo '${WIDE_MAP}' > /proc/$D/uid_map"`,
  'echo READY',
  'wait',
].join('\n') + '\n';

/** Reads a sandbox's piped output up to a line `marker` (or a timeout); the rest is drained. */
function readUntil(stream: NodeJS.ReadableStream | null, marker: string, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve) => {
    if (!stream) return resolve('');
    let buf = '';
    const done = () => {
      clearTimeout(timer);
      stream.off('data', onData);
      stream.resume();
      resolve(buf.split(`${marker}\n`)[0]);
    };
    const onData = (c: Buffer) => {
      buf += c.toString('utf8');
      if (buf.includes(`${marker}\n`)) done();
    };
    const timer = setTimeout(done, timeoutMs);
    stream.on('data', onData);
  });
}

/**
 * Why uid 4242 cannot make a user namespace on this host, or null when it can: tried for real
 * (a distribution may switch unprivileged user namespaces off), with the sysctl that says why.
 */
function rootlessUnavailable(): string | null {
  try {
    execFileSync('setpriv', [`--reuid=${NOBODY_UID}`, `--regid=${NOBODY_UID}`, '--clear-groups', '--', 'unshare', '--user', 'true'], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 5000 });
    return null;
  } catch (err) {
    const said = String((err as { stderr?: Buffer }).stderr ?? (err as Error).message).trim().split('\n')[0];
    const knobs = ['/proc/sys/kernel/unprivileged_userns_clone', '/proc/sys/user/max_user_namespaces', '/proc/sys/kernel/apparmor_restrict_unprivileged_userns']
      .map((f) => ({ f, v: read(f) }))
      .filter((k) => k.v !== null)
      .map((k) => `${k.f.replace('/proc/sys/', '').replace(/\//g, '.')} = ${k.v}`);
    return `an unprivileged user cannot make a user namespace on this host (${said}; ${knobs.join(', ') || 'no sysctl says why'})`;
  }
}

/** The rootless step's processes: uid 4242's shell, and the namespaces it made (mapped, and refused). */
function rootless(ctx: LessonContext): { shell: number; mapped: number | null; refused: number | null } | null {
  const r = ctx.get('r');
  if (!r || !fs.existsSync(`/proc/${r.pid}`)) return null;
  const host = readlinkOr('/proc/self/ns/user');
  const kids = snapshot({ cgroup: false })
    .processes.filter((p) => p.ppid === r.pid && readlinkOr(`/proc/${p.pid}/ns/user`) !== host)
    .map((p) => p.pid)
    .sort((a, b) => a - b);
  const mapped = kids.find((p) => read(`/proc/${p}/uid_map`) === OWN_MAP) ?? null;
  const refused = kids.find((p) => read(`/proc/${p}/uid_map`) === '') ?? null;
  return { shell: r.pid, mapped, refused };
}

function ws(ctx: LessonContext): string | null {
  return ctx.getWorkspace('files')?.path ?? null;
}

function sampleIds(ctx: LessonContext): TableView {
  const rows: string[][] = [];
  const add = (who: string, pid: number) => {
    if (!fs.existsSync(`/proc/${pid}`)) return;
    rows.push([
      who,
      String(pid),
      read(`/proc/${pid}/uid_map`) ?? '',
      `${(statusField(pid, 'Uid') ?? '').split(' ')[0]}→${uidInside(pid)}`,
      statusField(pid, 'CapEff') ?? '',
    ]);
  };
  add('sandbox', process.pid);
  const u = ctx.get('u');
  if (u) add('u: PID 1', u.pid);
  const shell = ctx.state.get('u-shell') as number | undefined;
  if (u && shell) add('u: a shell', shell);
  const v = ctx.get('v');
  if (v) add('v: PID 1', v.pid);
  const r = rootless(ctx);
  if (r) add(`${NOBODY_UID}: shell`, r.shell);
  if (r?.mapped) add(`${NOBODY_UID}: its ns`, r.mapped);
  return {
    kind: 'table',
    columns: ['process', 'PID', 'uid_map', 'uid host→in', 'CapEff'],
    rows,
    caption:
      'sandbox: this program, root on the host; uid_map: "inside outside count" (/proc/PID/uid_map); uid host→in: the Uid line of /proc/PID/status, and that uid ' +
      'mapped back through uid_map (? = unmapped); CapEff: /proc/PID/status',
  };
}

const idView: View = { title: 'User namespaces: id maps and capabilities', sample: sampleIds };

// ----- challenges ------------------------------------------------------------------------------

const WANT_MAP = `0 ${MAP.outside} ${MAP.count}`;

/** The challenge's scratch directory ($WS). */
const wsOf = (ctx: LessonContext) => ctx.getWorkspace('ws')?.path ?? null;

/** New user namespaces among the learner's processes: one PID each, with its maps as written. */
function learnerUserNs(ctx: LessonContext): { ns: string; pid: number; uid: string; gid: string }[] {
  const host = readlinkOr('/proc/self/ns/user');
  const seen = new Set<string>();
  const out: { ns: string; pid: number; uid: string; gid: string }[] = [];
  for (const pid of benchPids(ctx)) {
    const ns = nsOf(pid, 'user');
    if (!ns || ns === host || seen.has(ns)) continue;
    seen.add(ns);
    out.push({ ns, pid, uid: read(`/proc/${pid}/uid_map`) ?? '', gid: read(`/proc/${pid}/gid_map`) ?? '' });
  }
  return out;
}

/** Entries under `dir` (a few levels) owned by `uid` (and `gid`, when given): regular files or directories. */
function ownedBy(dir: string, kind: 'file' | 'dir', uid: number, gid?: number): string[] {
  const out: string[] = [];
  const walk = (rel: string, depth: number) => {
    let names: string[] = [];
    try {
      names = fs.readdirSync(`${dir}/${rel}`);
    } catch {
      return;
    }
    for (const n of names) {
      const r = rel ? `${rel}/${n}` : n;
      let st: fs.Stats;
      try {
        st = fs.lstatSync(`${dir}/${r}`);
      } catch {
        continue;
      }
      const mine = st.uid === uid && (gid === undefined || st.gid === gid);
      if (mine && (kind === 'file' ? st.isFile() : st.isDirectory())) out.push(r);
      if (st.isDirectory() && depth < 4 && out.length < 20) walk(r, depth + 1);
    }
  };
  walk('', 0);
  return out;
}

/** Whether some namespace of the learner's has the maps the goal asks for. */
const mappedRight = (ctx: LessonContext) => learnerUserNs(ctx).some((n) => n.uid === WANT_MAP && n.gid === WANT_MAP);

export const lesson: Lesson = {
  id: 'user-namespaces',
  title: 'User namespaces',
  summary: 'uid/gid maps; root inside is an unprivileged uid outside; what that root can and cannot do',
  requires: [{ kind: 'userns' }, { kind: 'command', name: 'id' }, { kind: 'command', name: 'stat' }, { kind: 'command', name: 'unshare' }, { kind: 'command', name: 'nsenter' }, { kind: 'command', name: 'setpriv' }, { kind: 'command', name: 'bash' }],
  steps: [
    {
      id: 'uid-map',
      title: 'The id maps of a user namespace',
      prediction: {
        question: `Inside sandbox u, \`id -u\` prints 0. Which uid does the host see for the same process (the Uid line of /proc/PID/status)?`,
        choices: ['0', `${MAP.outside}`, '65534 (nobody)'],
        answer: 1,
        explanation:
          `A user namespace translates ids. Its uid_map line "0 ${MAP.outside} ${MAP.count}" says: uids 0…${MAP.count - 1} inside are ${MAP.outside}…${MAP.outside + MAP.count - 1} on the host. The kernel stores the host uid; a process inside is shown the translated one. To the host, this "root" is uid ${MAP.outside}, a nobody.`,
      },
      action: async (ctx) => {
        ctx.workspace('files');
        const u = await ctx.sandbox('u', {
          namespaces: ['user', 'pid', 'mount', 'uts'],
          rootfs: { kind: 'none' },
          cwd: '/',
          init: true,
          security: USERNS_ROOT,
        });
        ctx.log({ note: USERNS_NOTE });
        ctx.explain(u.explain.filter((s) => s.what === 'id-map'));
        await ctx.exec('u', ['id'], opts);
        await ctx.host(['cat', `/proc/${u.pid}/uid_map`]);
        await ctx.host(['grep', '-E', '^(Uid|Gid)', `/proc/${u.pid}/status`]);
      },
      view: idView,
      checks: [
        {
          label: `u's uid_map and gid_map: 0 inside = ${MAP.outside} outside, ${MAP.count} ids`,
          run: (ctx) => {
            const u = ctx.get('u');
            if (!u) return noSandbox('u');
            const [uid, gid] = [read(`/proc/${u.pid}/uid_map`), read(`/proc/${u.pid}/gid_map`)];
            const want = `0 ${MAP.outside} ${MAP.count}`;
            return verdict(`cat /proc/${u.pid}/uid_map /proc/${u.pid}/gid_map`, `${want}; ${want}`, `${uid}; ${gid}`);
          },
        },
        {
          label: 'inside, the process is uid 0 (root)',
          run: async (ctx) => {
            const u = ctx.get('u');
            if (!u) return noSandbox('u');
            const r = await u.execOutput(['id', '-u'], opts);
            return verdict(`nsenter -t ${u.pid} -a id -u`, '0', r.stdout.trim());
          },
        },
        {
          label: `on the host, the same process is uid ${MAP.outside}`,
          run: (ctx) => {
            const u = ctx.get('u');
            if (!u) return noSandbox('u');
            const uid = statusField(u.pid, 'Uid') ?? '(gone)';
            return verdict(`grep Uid /proc/${u.pid}/status`, `${MAP.outside} ${MAP.outside} ${MAP.outside} ${MAP.outside}`, uid);
          },
        },
      ],
      hint: "Read u's /proc/PID/uid_map as \"inside outside count\", then the Uid line of /proc/PID/status for the same PID.",
    },
    {
      id: 'files-outside',
      title: 'Files made by root inside',
      prediction: {
        question: 'Root in u creates a file in a directory the host gave to uid 100000. Who owns the file, seen from the host?',
        choices: ['root (uid 0)', `uid ${MAP.outside}`, 'nobody (65534)'],
        answer: 1,
        explanation: `The kernel stores host ids on disk. The file belongs to ${MAP.outside}:${MAP.outside}; only a process in u, looking through u's map, sees it as 0:0.`,
      },
      action: async (ctx) => {
        const w = ctx.getWorkspace('files');
        if (!w) throw new Error('the workspace from step 1 is missing');
        const box = w.mkdir('box');
        fs.chownSync(box, MAP.outside, MAP.outside);
        ctx.log({ command: `mkdir ${box} && chown ${MAP.outside}:${MAP.outside} ${box}`, note: 'a directory for u\'s root to write in' });
        await ctx.exec('u', ['sh', '-c', `echo "made inside u" > ${box}/made-inside && stat -c '%u:%g %n' ${box}/made-inside`], opts);
        await ctx.host(['stat', '-c', '%u:%g %n', `${box}/made-inside`]);
      },
      view: idView,
      checks: [
        {
          label: `on the host, the file belongs to ${MAP.outside}:${MAP.outside}`,
          run: (ctx) => {
            const w = ws(ctx);
            if (!w) return noSandbox('u', '(the workspace)');
            try {
              const st = fs.statSync(`${w}/box/made-inside`);
              return verdict(`stat -c %u:%g ${w}/box/made-inside`, `${MAP.outside}:${MAP.outside}`, `${st.uid}:${st.gid}`);
            } catch {
              return verdict(`stat -c %u:%g ${w}/box/made-inside`, `${MAP.outside}:${MAP.outside}`, 'no such file', false);
            }
          },
        },
        {
          label: 'inside u, the same file belongs to 0:0',
          run: async (ctx) => {
            const u = ctx.get('u');
            const w = ws(ctx);
            if (!u || !w) return noSandbox('u');
            const r = await u.execOutput(['stat', '-c', '%u:%g', `${w}/box/made-inside`], opts);
            return verdict(`nsenter -t ${u.pid} -a stat -c %u:%g ${w}/box/made-inside`, '0:0', (r.stdout + r.stderr).trim());
          },
        },
      ],
      hint: "stat the file from the host, and again from inside u (nsenter): the disk keeps one owner; each side reads it through its own map.",
    },
    {
      id: 'root-inside-can',
      title: 'Capabilities inside',
      prediction: {
        question: 'Which capabilities does a shell started as root in u have (CapEff in /proc/PID/status)?',
        choices: ['none', "all of them, over u's own namespaces", 'all of them, over the whole host'],
        answer: 1,
        explanation:
          "The first process in a new user namespace gets every capability in it, and root there keeps them across exec. The kernel checks a capability against the user namespace that owns the object: u owns its mount and UTS namespaces (they were created with it), so mounting there and renaming it work.",
      },
      action: async (ctx) => {
        const w = ctx.getWorkspace('files');
        const u = ctx.get('u');
        if (!w || !u) throw new Error('sandbox u from step 1 is not running');
        const pid = await ctx.start('u', ['sleep', 'infinity']);
        if (pid) {
          ctx.state.set('u-shell', pid);
          await ctx.host(['grep', 'CapEff', `/proc/${pid}/status`, '/proc/self/status']);
        }
        const mnt = w.mkdir('mnt');
        await ctx.exec('u', ['mount', '-t', 'tmpfs', '-o', 'size=1m', 'mounted-by-ns-root', mnt], opts);
        await ctx.exec('u', ['hostname', INSIDE_NAME], opts);
        await ctx.exec('u', ['sh', '-c', `grep ${mnt} /proc/self/mountinfo; hostname`], opts);
      },
      view: idView,
      checks: [
        {
          label: 'a process started in u has the full capability set',
          run: (ctx) => {
            const pid = ctx.state.get('u-shell') as number | undefined;
            if (!ctx.get('u') || !pid) return verdict('(a process started in u)', 'one', 'none: the step has not run', false);
            const caps = statusField(pid, 'CapEff') ?? '(gone)';
            return verdict(`grep CapEff /proc/${pid}/status`, fullCaps(), caps);
          },
        },
        {
          label: `u's root mounted a tmpfs in u's mount namespace (the host has no such mount)`,
          run: (ctx) => {
            const u = ctx.get('u');
            const w = ws(ctx);
            if (!u || !w) return noSandbox('u');
            const inU = mountInfo(u.pid).some((m) => m.mountPoint === `${w}/mnt` && m.source === 'mounted-by-ns-root');
            const onHost = mountInfo('self').some((m) => m.mountPoint === `${w}/mnt`);
            return verdict(`grep ${w}/mnt /proc/${u.pid}/mountinfo /proc/self/mountinfo`, 'in u: tmpfs mounted-by-ns-root; on the host: nothing', `in u: ${inU ? 'tmpfs mounted-by-ns-root' : 'nothing'}; on the host: ${onHost ? 'mounted' : 'nothing'}`, inU && !onHost);
          },
        },
        {
          label: `u's root renamed u to ${INSIDE_NAME}; the host kept its name`,
          run: async (ctx) => {
            const u = ctx.get('u');
            if (!u) return noSandbox('u');
            const r = await u.execOutput(['hostname'], opts);
            return verdict(`nsenter -t ${u.pid} -a hostname; hostname`, `${INSIDE_NAME}; host not ${INSIDE_NAME}`, `${r.stdout.trim()}; host ${os.hostname()}`, r.stdout.trim() === INSIDE_NAME && os.hostname() !== INSIDE_NAME);
          },
        },
      ],
      hint: 'Compare CapEff of the shell in u with that of sandbox itself (/proc/self/status, real root on the host): the same bits, or even more, but each set counts in its own user namespace.',
    },
    {
      id: 'root-inside-cannot',
      title: "Root inside, against the host's things",
      prediction: {
        question: `The host's root makes ${SECRET} (owner root, mode 0600). Root in u tries to read it. And sandbox v, root in a user namespace but sharing the host's UTS namespace, tries to set the hostname. What happens?`,
        choices: ['both work', 'both fail with a permission error', 'reading works, the hostname fails'],
        answer: 1,
        explanation:
          "Host root (uid 0 outside) is not in u's map, so to u the file belongs to nobody and mode 0600 shuts it out; CAP_DAC_OVERRIDE in u does not apply to files whose owner u cannot map. The host's UTS namespace is owned by the host's user namespace, where v's root has no capabilities at all: sethostname() fails with EPERM.",
      },
      action: async (ctx) => {
        const w = ctx.getWorkspace('files');
        if (!w || !ctx.get('u')) throw new Error('sandbox u from step 1 is not running');
        const secret = w.writeFile(SECRET, `only the host's root may read this; token ${randomBytes(6).toString('hex')}\n`, 0o600);
        await ctx.host(['stat', '-c', '%U:%G %a %n', secret]);
        await ctx.exec('u', ['sh', '-c', `stat -c '%u:%g %a %n' ${secret}; cat ${secret}`], opts);
        await ctx.sandbox('v', { namespaces: ['user', 'pid', 'mount'], rootfs: { kind: 'none' }, cwd: '/', init: true, security: USERNS_ROOT });
        await ctx.exec('v', ['sh', '-c', 'id -u; hostname "$(hostname)"'], opts);
      },
      view: idView,
      checks: [
        {
          label: `${SECRET} belongs to the host's root, and root in u cannot read it`,
          run: async (ctx) => {
            const u = ctx.get('u');
            const w = ws(ctx);
            if (!u || !w) return noSandbox('u');
            let st: fs.Stats | null = null;
            try {
              st = fs.statSync(`${w}/${SECRET}`);
            } catch {
              /* not made */
            }
            if (!st) return verdict(`stat ${w}/${SECRET}`, 'a file of root, mode 600', 'no such file', false);
            const r = await u.execOutput(['cat', `${w}/${SECRET}`], opts);
            const denied = r.status.code !== 0 && /denied/i.test(r.stderr);
            return verdict(
              `stat -c '%u %a' ${w}/${SECRET}; nsenter -t ${u.pid} -a cat ${w}/${SECRET}`,
              'owner 0, mode 600; Permission denied',
              `owner ${st.uid}, mode ${(st.mode & 0o777).toString(8)}; ${denied ? 'Permission denied' : r.status.code === 0 ? 'read it!' : r.stderr.trim()}`,
              st.uid === 0 && (st.mode & 0o777) === 0o600 && denied,
            );
          },
        },
        {
          label: "v is root in its user namespace, in the host's UTS namespace, and may not set the hostname",
          run: async (ctx) => {
            const v = ctx.get('v');
            if (!v) return noSandbox('v');
            const uts = readlinkOr(`/proc/${v.pid}/ns/uts`);
            // Setting the name it already has: harmless even if it were allowed.
            const r = await v.execOutput(['sh', '-c', 'id -u; hostname "$(hostname)"'], opts);
            const uid = r.stdout.trim().split('\n')[0];
            // "Operation not permitted" (busybox, util-linux) or "you must be root…" (Debian's hostname): EPERM.
            const eperm = r.status.code !== 0 && /not permitted|EPERM|must be root/i.test(r.stderr);
            return verdict(
              `readlink /proc/${v.pid}/ns/uts; nsenter -t ${v.pid} -U -p -m sh -c 'id -u; hostname "$(hostname)"'`,
              `${nsLink('self', 'uts')}; uid 0; Operation not permitted`,
              `${uts}; uid ${uid}; ${eperm ? `Operation not permitted (${r.stderr.trim()})` : r.status.code === 0 ? 'allowed!' : r.stderr.trim()}`,
              uts === nsLink('self', 'uts') && uid === '0' && eperm,
            );
          },
        },
      ],
      hint: 'A capability is always "capability in some user namespace". Root in u has them all in u, and none in the host\'s user namespace, which owns the host\'s files\' ids, the host\'s UTS namespace, its network devices and its modules.',
      takeaway: "A user namespace makes root inside an ordinary uid outside: full powers over the container's own namespaces, none over the host.",
    },
    {
      id: 'rootless',
      title: 'Without root: a user namespace of your own',
      unavailable: () => rootlessUnavailable(),
      prediction: {
        question: `A process of uid ${NOBODY_UID}, with no capability at all, makes a user namespace (\`unshare --user\`) and writes its maps: uid_map "${OWN_MAP}", then gid_map "${OWN_MAP}". Which of the two writes does the kernel accept?`,
        choices: ['neither', 'uid_map only', 'both'],
        answer: 1,
        explanation:
          `An unprivileged process may map exactly one id: its own (uid_map "${OWN_MAP}"). For gid_map the kernel asks one more thing first: "deny" in /proc/PID/setgroups. Otherwise root inside, mapped to that gid, could call setgroups() and drop a supplementary group it had outside, and so get past a file whose mode denies that group what it grants everyone else (mode 0705). Root on the host has CAP_SETGID and may write gid_map either way; sandbox writes setgroups first anyway. A wider map (${MAP.count} ids) needs privilege: that is what newuidmap is for.`,
      },
      action: async (ctx) => {
        const w = ctx.getWorkspace('files');
        if (!w) throw new Error('the workspace from step 1 is missing');
        const script = w.writeFile(`as-uid-${NOBODY_UID}.sh`, ROOTLESS_SCRIPT, 0o644);
        ctx.log({ command: `cat > ${script}`, note: `what uid ${NOBODY_UID} will run: each command it runs is shown below, with its result` });
        const r = await ctx.sandbox('r', {
          namespaces: [],
          command: ['setpriv', `--reuid=${NOBODY_UID}`, `--regid=${NOBODY_UID}`, '--clear-groups', '--', 'bash', script],
          stdio: ['ignore', 'pipe', 'pipe'],
          security: { seccomp: 'unconfined' },
        });
        ctx.log({
          note: `the default filter (like Docker's) refuses unshare(CLONE_NEWUSER): this sandbox goes without it, then setpriv drops to uid ${NOBODY_UID} (a bare number, no account), which leaves no capability`,
        });
        // Generous: under emulation (a CI guest without KVM) each process start takes a while.
        const out = await readUntil(r.stdout, 'READY', 60_000);
        // "$ command" lines start an entry; bash's "bash: line N:" prefix is noise to the learner.
        for (const block of out.split(/^(?=\$ )/m).filter((b) => b.startsWith('$ '))) {
          const [first, ...rest] = block.trimEnd().split('\n');
          ctx.log({ command: `${first.slice(2)}   # as uid ${NOBODY_UID}`, output: rest.map((l) => l.replace(/^\S+: line \d+: /, '')).join('\n') || undefined });
        }
        await ctx.host(['sh', '-c', 'for f in newuidmap newgidmap; do p=$(command -v $f) && ls -l "$p" || echo "$f: not installed here (Debian and Ubuntu: package uidmap)"; done']);
        await ctx.host(['sh', '-c', 'if [ -s /etc/subuid ]; then head -n 5 /etc/subuid; elif [ -e /etc/subuid ]; then echo "/etc/subuid is empty: no user has subordinate ids here"; else echo "no /etc/subuid on this host"; fi']);
        ctx.log({
          note: "newuidmap is setuid root: it writes a map of many ids for an unprivileged user, but only the ranges /etc/subuid grants that user (a line like alice:100000:65536). podman and rootless Docker call it. This lesson only reads these files: it never edits the host's /etc.",
        });
      },
      view: idView,
      checks: [
        {
          label: `uid ${NOBODY_UID}, without a single capability, made a user namespace`,
          run: (ctx) => {
            const r = rootless(ctx);
            if (!r) return noSandbox('r');
            const ns = r.mapped ?? r.refused;
            const uid = (statusField(r.shell, 'Uid') ?? '(gone)').split(' ')[0];
            const cap = statusField(r.shell, 'CapEff') ?? '(gone)';
            const link = ns ? readlinkOr(`/proc/${ns}/ns/user`) : 'none';
            return verdict(
              `grep -E '^(Uid|CapEff)' /proc/${r.shell}/status; readlink /proc/${ns ?? 'CHILD'}/ns/user`,
              `Uid ${NOBODY_UID}, CapEff 0000000000000000; not ${nsLink('self', 'user')}`,
              `Uid ${uid}, CapEff ${cap}; ${link}`,
              uid === String(NOBODY_UID) && /^0+$/.test(cap) && link.startsWith('user:[') && link !== nsLink('self', 'user'),
            );
          },
        },
        {
          label: 'it mapped its own uid and gid, with setgroups denied',
          run: (ctx) => {
            const r = rootless(ctx);
            if (!r) return noSandbox('r');
            const c = r.mapped;
            const got = c ? `${read(`/proc/${c}/uid_map`)}; ${read(`/proc/${c}/gid_map`) || '(empty)'}; ${read(`/proc/${c}/setgroups`)}` : 'no namespace with that uid_map';
            return verdict(
              `cat /proc/${c ?? 'CHILD'}/{uid_map,gid_map,setgroups}`,
              `${OWN_MAP}; ${OWN_MAP}; deny`,
              got,
            );
          },
        },
        {
          label: `a map of ${MAP.count} ids was refused: the second namespace's uid_map is still empty`,
          run: (ctx) => {
            const r = rootless(ctx);
            if (!r) return noSandbox('r');
            const d = r.refused;
            return verdict(
              `cat /proc/${d ?? 'SECOND'}/uid_map (uid ${NOBODY_UID} wrote "${WIDE_MAP}")`,
              '(empty)',
              d ? read(`/proc/${d}/uid_map`) || '(empty)' : 'no second namespace with an empty map',
              d !== null,
            );
          },
        },
      ],
      hint: "Read the log's writes one by one, then cat /proc/PID/setgroups for the namespace that has a uid_map: what did the gid_map write need?",
      takeaway:
        'Any user can make a user namespace and be root in it with one id mapped, its own; newuidmap, reading /etc/subuid, grants the 65536 ids a container image needs. That is what rootless containers build on: full powers over their own namespaces, none over the host.',
    },
    {
      id: 'map-it-yourself',
      title: 'Challenge: write the id maps yourself',
      checks: [],
      hint: 'A map line is "inside outside count". Each map file can be written once; root on the host may write them in any order.',
      challenge: {
        goal: `Start a process in a new user namespace with unshare -U, in the background, and write its maps yourself so that uids and gids 0–${MAP.count - 1} inside are ${MAP.outside}–${MAP.outside + MAP.count - 1} on the host. Then, as root inside that namespace, create a file under $WS: on the host it must belong to ${MAP.outside}:${MAP.outside}.`,
        tools: ['unshare -U', 'echo > /proc/PID/uid_map', 'gid_map', 'nsenter -U', 'chown', 'stat'],
        writes: 'uid_map and gid_map',
        setup: async () => {},
        vars: () => [],
        checks: [
          {
            label: `a process of yours is in a new user namespace with uid_map "${WANT_MAP}"`,
            run: (ctx) => {
              const ns = learnerUserNs(ctx);
              const right = ns.find((n) => n.uid === WANT_MAP);
              return verdict('cat /proc/PID/uid_map (PID: your processes in a new user namespace)', WANT_MAP, right ? `${right.uid} (PID ${right.pid})` : ns.length ? ns.map((n) => `PID ${n.pid}: ${n.uid || '(empty)'}`).join(', ') : 'no new user namespace', !!right);
            },
          },
          {
            label: `its gid_map is "${WANT_MAP}" too`,
            run: (ctx) => {
              const ns = learnerUserNs(ctx).filter((n) => n.uid === WANT_MAP);
              const right = ns.find((n) => n.gid === WANT_MAP);
              return verdict('cat /proc/PID/gid_map', WANT_MAP, right ? `${right.gid} (PID ${right.pid})` : ns.length ? ns.map((n) => `PID ${n.pid}: ${n.gid || '(empty)'}`).join(', ') : 'no namespace with that uid_map', !!right);
            },
          },
          {
            label: `a file under $WS belongs to ${MAP.outside}:${MAP.outside} on the host`,
            run: (ctx) => {
              const ws = wsOf(ctx);
              if (!ws) return noSandbox('bench', '(the challenge workspace)');
              const files = ownedBy(ws, 'file', MAP.outside, MAP.outside);
              return verdict(`find $WS -type f -uid ${MAP.outside} -gid ${MAP.outside}`, 'a file', files.length ? files.slice(0, 3).join(', ') : 'none', files.length > 0);
            },
          },
        ],
        hints: [
          {
            when: {
              probe: 'cat /proc/PID/uid_map /proc/PID/gid_map',
              holds: (ctx) => learnerUserNs(ctx).some((n) => n.uid === WANT_MAP && n.gid === ''),
            },
            text: 'uid_map is written, gid_map is still empty: the namespace\'s root has no group of its own, so what it creates gets an unmapped gid. Write gid_map too. (Root on the host may write gid_map whatever setgroups says; an unprivileged writer must first write "deny" to /proc/PID/setgroups, or the gid_map write fails with EPERM.)',
            reach: ['unshare -U sleep 1000 >/dev/null 2>&1 &', 'P=$!', 'sleep 0.2', `echo '${WANT_MAP}' > /proc/$P/uid_map`],
          },
          {
            when: {
              probe: `cat /proc/PID/uid_map; find $WS -uid ${MAP.outside}`,
              holds: (ctx) => {
                const ws = wsOf(ctx);
                return !!ws && mappedRight(ctx) && ownedBy(ws, 'dir', MAP.outside).length === 0 && ownedBy(ws, 'file', MAP.outside).length === 0;
              },
            },
            text: `The maps are right. Root inside is uid ${MAP.outside} to the host, and $WS belongs to the host's root, an id that namespace cannot even name: it may not write there. Give it a directory first (mkdir $WS/box; chown ${MAP.outside}:${MAP.outside} $WS/box), then create the file as root inside: nsenter -t PID -U touch $WS/box/file.`,
            reach: ['unshare -U sleep 1000 >/dev/null 2>&1 &', 'P=$!', 'sleep 0.2', `echo '${WANT_MAP}' > /proc/$P/gid_map`, `echo '${WANT_MAP}' > /proc/$P/uid_map`],
          },
          {
            when: {
              probe: `find $WS -type d -uid ${MAP.outside}; find $WS -type f -uid ${MAP.outside}`,
              holds: (ctx) => {
                const ws = wsOf(ctx);
                return !!ws && mappedRight(ctx) && ownedBy(ws, 'dir', MAP.outside).length > 0 && ownedBy(ws, 'file', MAP.outside, MAP.outside).length === 0;
              },
            },
            text: `Writing the maps does not change the ids of the process that is already running: it is still host uid 0, which shows as 65534 inside. A process that joins the namespace and becomes root there is ${MAP.outside} here: nsenter -t PID -U sh -c 'id; touch DIR/file' (nsenter -U switches to uid and gid 0 inside).`,
            reach: ['unshare -U sleep 1000 >/dev/null 2>&1 &', 'P=$!', 'sleep 0.2', `echo '${WANT_MAP}' > /proc/$P/gid_map`, `echo '${WANT_MAP}' > /proc/$P/uid_map`, 'mkdir "$WS/box"', `chown ${MAP.outside}:${MAP.outside} "$WS/box"`],
          },
          { text: `unshare -U sleep 1000 & P=$!; then echo '${WANT_MAP}' > /proc/$P/gid_map and the same to uid_map; then a directory for uid ${MAP.outside} in $WS, and a file made there by nsenter -t $P -U.` },
        ],
        failStates: [
          {
            when: {
              probe: 'cat /proc/PID/uid_map',
              holds: (ctx) => {
                const ns = learnerUserNs(ctx);
                return ns.some((n) => n.uid !== '' && n.uid !== WANT_MAP) && !ns.some((n) => n.uid === WANT_MAP);
              },
            },
            text: `A map was written with other numbers, and a namespace's uid_map can be written only once: that one keeps it. Start a new namespace (kill the old process; unshare -U sleep 1000 &), or reset (R). The line is "inside outside count": ${WANT_MAP}.`,
            reach: ['unshare -U sleep 1000 >/dev/null 2>&1 &', 'P=$!', 'sleep 0.2', `echo '${MAP.outside} 0 ${MAP.count}' > /proc/$P/uid_map`],
          },
        ],
        solution: [
          'unshare -U sleep 1000 >/dev/null 2>&1 &',
          'P=$!',
          'sleep 0.2',
          `echo '${WANT_MAP}' > /proc/$P/gid_map`,
          `echo '${WANT_MAP}' > /proc/$P/uid_map`,
          'mkdir "$WS/box"',
          `chown ${MAP.outside}:${MAP.outside} "$WS/box"`,
          'nsenter -t "$P" -U touch "$WS/box/made-inside"',
        ],
      },
    },
    {
      id: 'whose-root',
      title: "Challenge: read another sandbox's map",
      checks: [],
      hint: '/proc/PID/uid_map is "inside outside count": uid X inside (inside ≤ X < inside + count) is outside + (X − inside) on the host.',
      challenge: {
        goal: 'Sandbox b (its PID 1 is $B) has a user namespace with a map of its own, not the lesson\'s. Read it from the kernel and answer: which host uid is root in b, and which host uid does a process running as uid 1000 in b have?',
        tools: ['cat /proc/$B/uid_map', 'grep Uid /proc/PID/status'],
        setup: async (ctx) => {
          // A different map each time: the answer has to be read, not remembered.
          const outside = 200000 + MAP.count * randomInt(1, 16);
          await ctx.sandbox('b', { namespaces: ['user', 'pid', 'mount'], rootfs: { kind: 'none' }, cwd: '/', init: true, userMap: { outside, count: MAP.count } });
          const pid = await ctx.start('b', ['setpriv', '--reuid=1000', '--regid=1000', '--keep-groups', 'sleep', '1000']);
          if (pid) ctx.state.set('b-user1000', pid);
        },
        vars: (ctx) => [{ name: 'B', value: String(ctx.get('b')?.pid ?? '(none)'), about: "host PID of sandbox b's PID 1 (root in b)" }],
        checks: [],
        hints: [{ text: 'cat /proc/$B/uid_map. Root is uid 0 inside; for uid 1000, add 1000 to the outside start. To check on a live process: the Uid line of /proc/PID/status shows host uids (the PIDs of b are in its cgroup.procs, or under ps -o pid,uid,comm).' }],
        questions: [
          {
            id: 'root-in-b',
            question: 'Which uid does root in sandbox b have on the host?',
            compare: 'number',
            answer: (ctx) => {
              const b = ctx.get('b');
              return { probe: "awk '$1 == 0 { print $2 }' /proc/$B/uid_map", value: b ? (statusField(b.pid, 'Uid') ?? '(gone)').split(' ')[0] : '(no sandbox b)' };
            },
            explanation: "The map's line \"0 OUTSIDE COUNT\" sends uid 0 to OUTSIDE: to the host, b's root is that ordinary uid. The Uid line of /proc/$B/status shows the same number.",
          },
          {
            id: 'uid1000-in-b',
            question: 'A process in b runs as uid 1000 inside. Which uid does the host see for it?',
            compare: 'number',
            answer: (ctx) => {
              const pid = ctx.state.get('b-user1000') as number | undefined;
              return { probe: "awk '$1 == 0 { print $2 + 1000 }' /proc/$B/uid_map", value: pid ? (statusField(pid, 'Uid') ?? '(gone)').split(' ')[0] : '(no such process)' };
            },
            explanation: 'A map is a range: uid 1000 inside is OUTSIDE + 1000 on the host. ps -o pid,uid on the host shows that uid for the sleep b runs as 1000.',
          },
        ],
        solution: ["awk '$1 == 0 { print \"root in b is host uid \" $2 \"; uid 1000 is \" $2 + 1000 }' /proc/$B/uid_map"],
      },
    },
  ],
};
