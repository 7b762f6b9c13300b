/**
 * The REPL's commands as data: name, usage, a one-line summary and the help text. The parser,
 * completion and `help` all read this table, so a command is described in exactly one place.
 * The lifecycle is OpenVZ's (`vzctl create/start/exec/enter/stop/destroy`): `create` only
 * records a configuration, `start` makes the kernel objects, `stop` removes them and keeps the
 * configuration, `destroy` forgets it.
 */

export const COMMAND_NAMES = [
  'create',
  'start',
  'exec',
  'enter',
  'ps',
  'tree',
  'set',
  'inspect',
  'checkpoint',
  'restore',
  'migrate',
  'stop',
  'destroy',
  'list',
  'help',
  'exit',
] as const;

export type CommandName = (typeof COMMAND_NAMES)[number];

/** What a positional word is, for completion. */
export type ArgKind = 'name' | 'new-name' | 'command' | 'setting' | 'topic';

export interface CommandSpec {
  name: CommandName;
  usage: string;
  summary: string;
  /** Longer explanation for `help COMMAND`. */
  help: string[];
  /** Positional words in order; the last repeats for `command` and `setting`. */
  args: ArgKind[];
  /** Flags this command accepts (for completion). */
  flags: string[];
}

/** Namespace flags, as `sandbox run` spells them. */
export const NAMESPACE_FLAGS = ['--pid', '--mount', '--uts', '--ipc', '--net', '--user', '--cgroup'] as const;

/** Limit settings: the `key=value` word and the `--key VALUE` flag name the same limit. */
export const SETTINGS = ['cpu-weight', 'cpu-quota', 'cpu-burst', 'cpus', 'memory', 'memory-high', 'pids', 'io-rbps', 'io-wbps', 'io-weight'] as const;
export type SettingName = (typeof SETTINGS)[number];

export const SETTING_HELP: Record<SettingName, string> = {
  'cpu-weight': 'relative CPU share, 1-10000 (default 100): 25 and 75 split a busy CPU 25%/75%',
  'cpu-quota': 'hard CPU cap in percent of one CPU (30 = 30 ms of every 100 ms)',
  'cpu-burst': 'quota left unused that may be spent later, in percent of one CPU (at most the quota)',
  cpus: 'CPUs it may run on (cpuset), e.g. 0 or 0-1',
  memory: 'memory limit, e.g. 64M (at least 1M, a multiple of 4K)',
  'memory-high': 'memory throttle (cgroup v2 memory.high), e.g. 32M: above it the group is slowed, not killed',
  pids: 'maximum number of processes and threads',
  'io-rbps': 'disk read limit per second on one whole disk, DEVICE=SIZE: loop3=10M or 7:3=10M (max removes it)',
  'io-wbps': 'disk write limit per second, DEVICE=SIZE as io-rbps: blkio.throttle (v1) or io.max (v2)',
  'io-weight': 'relative disk share under the BFQ scheduler, 1-1000 (default 100)',
};

export const ROOTFS_VALUES = ['host', 'busybox', 'none'] as const;

/** `create`'s security flags (as `sandbox run`'s); --cap-add and --cap-drop may repeat. */
export const SECURITY_FLAGS = ['--cap-add', '--cap-drop', '--seccomp', '--privileged'] as const;
export const SECCOMP_VALUES = ['default', 'unconfined'] as const;

const LIMIT_FLAGS = SETTINGS.map((s) => `--${s}`);

export const COMMANDS: Record<CommandName, CommandSpec> = {
  create: {
    name: 'create',
    usage:
      'create NAME [--pid --mount --uts --ipc --net --user --cgroup] [--rootfs host|busybox|none|DIR] [--hostname H] ' +
      '[--cpu-weight N] [--cpu-quota PCT] [--cpu-burst PCT] [--cpus LIST] [--memory SIZE] [--memory-high SIZE] [--pids N] ' +
      '[--cap-add CAP] [--cap-drop CAP] [--seccomp default|unconfined] [--privileged] [KEY=VALUE...]',
    summary: 'record a sandbox configuration (nothing runs yet)',
    help: [
      'Records a configuration, like `vzctl create`: no process, namespace or cgroup exists until `start`.',
      'Namespace flags are those of `sandbox run`; without any, NAME gets --pid --mount --uts --ipc --cgroup.',
      '--rootfs host (the default with --mount) is a tmpfs root with the host\'s /usr, /bin, /lib* read-only;',
      'busybox is a tiny root with only a static busybox; none keeps the host\'s files; DIR is your own tree.',
      '--hostname needs --uts and defaults to NAME.',
      'Limits can be flags (--pids 50) or settings (pids=50): cpu-weight, cpu-quota, cpu-burst, cpus, memory, memory-high, pids.',
      'NAME: 1-32 lowercase letters, digits, "-", "_" or ".", starting with a letter or digit.',
      "Root inside keeps Docker's default capabilities and a seccomp filter (no mount, no module loading…);",
      '--cap-add CAP (repeatable, or NET_ADMIN,SYS_TIME), --cap-drop CAP, --seccomp unconfined and --privileged',
      '(every capability, no filter: it can write the host) ask for more. inspect shows what the kernel applied.',
      'Example: create web --pid --mount --uts --hostname web pids=50 memory=64M',
    ],
    args: ['new-name'],
    flags: [...NAMESPACE_FLAGS, '--rootfs', '--hostname', ...LIMIT_FLAGS, ...SECURITY_FLAGS],
  },
  start: {
    name: 'start',
    usage: 'start NAME',
    summary: 'create the namespaces and cgroup; PID 1 is sandbox-init holding them open',
    help: [
      'Makes the kernel objects: the cgroup (with its limits), the namespaces (clone3), the root filesystem.',
      'PID 1 is sandbox-init in "pause" mode: it runs nothing, reaps orphans and keeps the namespaces alive,',
      'like a Kubernetes pause container. Run programs in it with exec, or a shell with enter.',
    ],
    args: ['name'],
    flags: [],
  },
  exec: {
    name: 'exec',
    usage: 'exec [-d] NAME CMD [ARG...]',
    summary: 'run a command inside a running sandbox and show its output',
    help: [
      'Joins every namespace of NAME and its cgroup (setns), then runs CMD; prints its output and exit code.',
      'Words are split like a shell does, without expansion: exec a sh -c \'echo $$; hostname\'.',
      '-d (detach) starts CMD in the background and returns at once, e.g. a CPU burner:',
      "  exec -d a sh -c 'while :; do :; done'      (stop NAME ends it)",
      'Ctrl-C interrupts a command that runs too long.',
    ],
    args: ['name', 'command'],
    flags: ['-d'],
  },
  enter: {
    name: 'enter',
    usage: 'enter NAME',
    summary: 'an interactive shell inside NAME on this terminal; exit returns here',
    help: [
      'Hands the terminal to a shell inside NAME (vzctl enter). Leave it with exit or Ctrl-D.',
      'If NAME is running, the shell joins it and gets the next free PID.',
      'If NAME is created but not running, the shell becomes its PID 1 (echo $$ prints 1) and NAME',
      'stops when the shell exits: the kernel ends a PID namespace when its first process dies.',
    ],
    args: ['name'],
    flags: [],
  },
  ps: {
    name: 'ps',
    usage: 'ps NAME',
    summary: "processes inside NAME: the PID inside and the host PID",
    help: [
      "Lists NAME's processes (every process in its cgroup) from a /proc snapshot: each one's PID inside",
      'the sandbox and on the host (the NSpid line of /proc/PID/status), its parent inside, state and command.',
    ],
    args: ['name'],
    flags: [],
  },
  tree: {
    name: 'tree',
    usage: 'tree',
    summary: 'the process tree of every sandbox, host PID (namespace PID)',
    help: ['The processes of every running sandbox below this REPL, each as comm(host PID)(PID inside).'],
    args: [],
    flags: [],
  },
  set: {
    name: 'set',
    usage: 'set NAME KEY=VALUE... (keys: cpu-weight cpu-quota cpu-burst cpus memory memory-high pids)',
    summary: 'change limits: written to the kernel at once if NAME runs',
    help: [
      'Changes limits. On a running sandbox they are written to its cgroup files now, and the files are',
      'shown (cpu.shares on cgroup v1, cpu.weight on v2...); otherwise they are kept for start.',
      ...SETTINGS.map((s) => `  ${s.padEnd(10)} ${SETTING_HELP[s]}`),
      'Example: set a cpu-weight=25   then   set b cpu-weight=75',
    ],
    args: ['name', 'setting'],
    flags: LIMIT_FLAGS,
  },
  inspect: {
    name: 'inspect',
    usage: 'inspect NAME',
    summary: 'namespaces, cgroup files and their values, rootfs, and how NAME was made',
    help: [
      'Shows the namespace inodes (readlink /proc/PID/ns/*), the cgroup directories with every limit and',
      'usage file and its value, the root filesystem, and each step that made NAME as the equivalent',
      'command and system call (what `sandbox run --explain` prints).',
    ],
    args: ['name'],
    flags: [],
  },
  checkpoint: {
    name: 'checkpoint',
    usage: 'checkpoint NAME [--leave-running]',
    summary: 'save the whole process tree of NAME to image files (CRIU), and stop it',
    help: [
      'Runs `criu dump -t <PID 1>` (vzctl chkpnt): every process of NAME, its memory, open files, mounts and',
      `namespaces go to image files in /run/sandbox/NAME/images; the sizes and the time are printed.`,
      'Then NAME stops (its processes, cgroup and root are gone); the images stay: restore NAME brings it back.',
      '--leave-running keeps NAME running after the dump (the images then go with NAME when it is stopped).',
      'Processes started with exec are children of the exec helper, outside the tree: start them detached,',
      "  exec NAME sh -c 'setsid sh -c \"…\" </dev/null >/dev/null 2>&1 &'   (then PID 1 adopts them)",
      'Needs a CRIU that works on this kernel (sandbox doctor says); its log file is kept and named on errors.',
    ],
    args: ['name'],
    flags: ['--leave-running'],
  },
  restore: {
    name: 'restore',
    usage: 'restore NAME',
    summary: 'bring back a checkpointed NAME: same PIDs inside, same namespaces kind, same limits',
    help: [
      'Runs `criu restore` from /run/sandbox/NAME/images (vzctl restore) inside a new cgroup with the same limits,',
      'on a fresh root: the processes get their old PIDs back inside the new PID namespace (their host PIDs are new).',
      'Works after destroy NAME too: the checkpoint remembers the configuration.',
    ],
    args: ['name'],
    flags: [],
  },
  migrate: {
    name: 'migrate',
    usage: 'migrate NAME NEWNAME',
    summary: 'checkpoint NAME, move its images, restore them as NEWNAME (a move between two "hosts")',
    help: [
      'A migration on one machine: checkpoint NAME, copy the images to /run/sandbox/NEWNAME/images (the transfer),',
      'restore them as NEWNAME with its own cgroup and root; NAME is gone afterwards. Prints the image size and the',
      'dump, copy and restore times: the downtime is their sum (a stop-and-copy migration).',
    ],
    args: ['name', 'new-name'],
    flags: [],
  },
  stop: {
    name: 'stop',
    usage: 'stop NAME',
    summary: 'kill every process and remove the kernel objects; keep the configuration',
    help: ['Ends NAME (vzctl stop): kills its processes, removes its cgroup and root directory. start runs it again.'],
    args: ['name'],
    flags: [],
  },
  destroy: {
    name: 'destroy',
    usage: 'destroy NAME',
    summary: 'stop NAME and forget its configuration',
    help: ['Stops NAME if it runs, then forgets it (vzctl destroy).'],
    args: ['name'],
    flags: [],
  },
  list: {
    name: 'list',
    usage: 'list',
    summary: 'every sandbox of this REPL: state, host PID, namespaces, limits',
    help: ['One line per sandbox this REPL knows: its state (created, running, stopped), PID 1 on the host, namespaces, root and limits.'],
    args: [],
    flags: [],
  },
  help: {
    name: 'help',
    usage: 'help [COMMAND]',
    summary: 'this list, or the details of one command',
    help: ['help lists the commands; help COMMAND explains one.'],
    args: ['topic'],
    flags: [],
  },
  exit: {
    name: 'exit',
    usage: 'exit',
    summary: 'leave the REPL, destroying every sandbox it created',
    help: ['Leaves the REPL. Every sandbox it started is destroyed, as with Ctrl-D, Ctrl-C, SIGTERM or SIGHUP.'],
    args: [],
    flags: [],
  },
};

export function isCommandName(word: string): word is CommandName {
  return (COMMAND_NAMES as readonly string[]).includes(word);
}

/** Edit distance with transpositions ("lsit" is one edit from "list"), for "did you mean". */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/** The closest of `candidates` to `word`, if it is close enough to be a likely typo. */
export function didYouMean(word: string, candidates: readonly string[]): string | undefined {
  if (word.length > 40) return undefined;
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const dist = distance(word.toLowerCase(), c);
    if (dist < bestD) {
      best = c;
      bestD = dist;
    }
  }
  return best !== undefined && bestD <= Math.max(1, Math.floor(best.length / 3)) ? best : undefined;
}

/** `help` without a topic. */
export function helpLines(): string[] {
  const w = Math.max(...COMMAND_NAMES.map((c) => COMMANDS[c].usage.split(' [')[0].length));
  const short = (c: CommandName) => (c === 'create' ? 'create NAME [flags]' : c === 'set' ? 'set NAME KEY=VALUE...' : COMMANDS[c].usage);
  const width = Math.max(w, ...COMMAND_NAMES.map((c) => short(c).length));
  return [
    'Commands (the lifecycle of vzctl: create -> start -> exec/enter -> stop -> destroy):',
    ...COMMAND_NAMES.map((c) => `  ${short(c).padEnd(width)}  ${COMMANDS[c].summary}`),
    'help COMMAND shows the details. Tab completes commands, names, flags and settings; Up/Down recall history.',
    'Leaving (exit, Ctrl-D, Ctrl-C at an empty prompt) destroys every sandbox this REPL created.',
  ];
}

/** `help COMMAND`. */
export function commandHelpLines(name: CommandName): string[] {
  const spec = COMMANDS[name];
  return [`usage: ${spec.usage}`, `${spec.summary}.`, ...spec.help.map((l) => `  ${l}`)];
}
