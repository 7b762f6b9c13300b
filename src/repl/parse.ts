/**
 * A REPL line → a typed command, or an error that says what is wrong and shows the usage.
 * Everything that can be checked without the kernel is checked here (names, flags, duplicates,
 * limits against what the kernel would silently do with them, hostnames, root filesystems), so a
 * malformed line never reaches the session and never changes anything.
 */
import { NAME_RE, nameProblem } from '../runtime/cgroup/index.js';
import { burstProblem, type LimitInput, type Limits, onlineCpus, validateLimits } from '../runtime/cgroup/limits.js';
import { echo, SandboxError } from '../runtime/errors.js';
import { NAMESPACES, type Namespace } from '../runtime/linux.js';
import { parseRootfs, type RootfsSpec } from '../runtime/rootfs.js';
import { type Capability, parseCapabilityList, type SecurityOptions } from '../runtime/security.js';
import {
  type CommandName,
  COMMAND_NAMES,
  COMMANDS,
  didYouMean,
  isCommandName,
  NAMESPACE_FLAGS,
  SECURITY_FLAGS,
  type SettingName,
  SETTINGS,
} from './commands.js';
import { type Token, tokenize } from './tokenize.js';

/** The same default as `sandbox run`. */
export const DEFAULT_NAMESPACES: Namespace[] = ['pid', 'mount', 'uts', 'ipc', 'cgroup'];

/** What `create` records: everything `start` needs to make the sandbox. */
export interface SandboxConfig {
  name: string;
  namespaces: Namespace[];
  /** undefined: the default (host with a mount namespace, else none). */
  rootfs?: RootfsSpec;
  /** As given; undefined: the sandbox's name (with a UTS namespace). */
  hostname?: string;
  limits: Limits;
  /** undefined: the default (Docker's capabilities, the default seccomp filter). */
  security?: SecurityOptions;
}

export type ReplCommand =
  | { kind: 'create'; config: SandboxConfig }
  | { kind: 'start' | 'enter' | 'ps' | 'inspect' | 'stop' | 'destroy'; name: string }
  | { kind: 'exec'; name: string; argv: string[]; detach: boolean }
  | { kind: 'set'; name: string; limits: Limits }
  | { kind: 'checkpoint'; name: string; leaveRunning: boolean }
  | { kind: 'restore'; name: string }
  | { kind: 'migrate'; name: string; newName: string }
  | { kind: 'tree' | 'list' | 'exit' }
  | { kind: 'help'; topic?: CommandName };

export interface LineError {
  /** What is wrong, in one line. */
  message: string;
  /** What to try, when there is more to say than the usage. */
  hint?: string;
  usage: string;
  command?: CommandName;
}

export type Parsed = { kind: 'empty' } | { kind: 'command'; command: ReplCommand } | { kind: 'error'; error: LineError };

export interface ParseContext {
  /** CPUs of this host (for --cpus and --cpu-quota). */
  cpus: number[];
  /** `--rootfs VALUE` → a spec, or a usage error (busybox missing, no such directory). */
  parseRootfs: (value: string) => RootfsSpec;
}

let defaultCtx: ParseContext | undefined;

export function defaultParseContext(): ParseContext {
  defaultCtx ??= { cpus: onlineCpus(), parseRootfs };
  return defaultCtx;
}

const GENERAL_USAGE = `${COMMAND_NAMES.join(' | ')}  (help COMMAND for details)`;
const HOSTNAME_RE = /^[A-Za-z0-9]([A-Za-z0-9.-]{0,62})$/;
const MAX_LINE = 8192;

class LineFailure extends Error {
  constructor(readonly error: LineError) {
    super(error.message);
  }
}

function fail(command: CommandName | undefined, message: string, hint?: string): never {
  throw new LineFailure({ message, hint, usage: command ? COMMANDS[command].usage : GENERAL_USAGE, command });
}

/** Shows a word in a message: quoted, with control characters made visible, and shortened. */
export function showWord(w: string): string {
  const short = w.length > 40 ? `${w.slice(0, 40)}…` : w;
  return `"${visible(short).replace(/"/g, '\\"')}"`;
}

/** Control characters as \xNN, so that a line of output is one line and sends no terminal codes. */
export function visible(text: string): string {
  return text.replace(/[\x00-\x08\x0a-\x1f\x7f-\x9f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

function isFlag(t: Token): boolean {
  return !t.quoted && t.value.startsWith('-') && t.value.length > 1;
}

function checkName(command: CommandName, t: Token | undefined): string {
  if (!t || isFlag(t)) fail(command, `${command}: missing NAME`, command === 'create' ? 'the name comes first: create NAME [flags]' : undefined);
  if (!NAME_RE.test(t.value)) {
    fail(
      command,
      `${command}: ${showWord(t.value)} is not a valid sandbox name`,
      'use 1-32 lowercase letters, digits, "-", "_" or ".", starting with a letter or digit',
    );
  }
  const problem = nameProblem(t.value);
  if (problem) fail(command, `${command}: ${problem.message}`, problem.hint);
  return t.value;
}

function noMore(command: CommandName, rest: Token[]): void {
  if (rest.length) fail(command, `${command}: unexpected ${isFlag(rest[0]) ? 'flag' : 'argument'} ${showWord(rest[0].value)}`);
}

const LIMIT_KEY: Record<SettingName, keyof LimitInput> = {
  'cpu-weight': 'cpuWeight',
  'cpu-quota': 'cpuQuota',
  'cpu-burst': 'cpuBurst',
  cpus: 'cpus',
  memory: 'memory',
  'memory-high': 'memoryHigh',
  pids: 'pids',
  'io-rbps': 'ioRbps',
  'io-wbps': 'ioWbps',
  'io-weight': 'ioWeight',
};

/**
 * Collects limits from `--key VALUE`, `--key=VALUE` and `key=VALUE` words; returns the index of
 * the first word it does not understand (or -1 if it understood them all).
 */
class LimitCollector {
  private readonly raw = new Map<SettingName, { value: string; form: 'flag' | 'word' }>();

  constructor(private readonly command: CommandName) {}

  /** Tries to take tokens[i] (and its value); returns how many tokens were used (0 = not a limit). */
  take(tokens: Token[], i: number): number {
    const t = tokens[i];
    if (t.quoted) return 0;
    let key: string;
    let value: string | undefined;
    let used = 1;
    let form: 'flag' | 'word';
    if (t.value.startsWith('--')) {
      const eq = t.value.indexOf('=');
      key = eq < 0 ? t.value.slice(2) : t.value.slice(2, eq);
      if (!(SETTINGS as readonly string[]).includes(key)) return 0;
      form = 'flag';
      if (eq >= 0) value = t.value.slice(eq + 1);
      else {
        const next = tokens[i + 1];
        if (!next || isFlag(next)) fail(this.command, `${this.command}: --${key} needs a value`, `e.g. --${key} ${example(key as SettingName)}`);
        value = next.value;
        used = 2;
      }
    } else {
      const eq = t.value.indexOf('=');
      if (eq <= 0) return 0;
      key = t.value.slice(0, eq);
      value = t.value.slice(eq + 1);
      form = 'word';
      if (!(SETTINGS as readonly string[]).includes(key)) {
        const guess = didYouMean(key, SETTINGS);
        fail(
          this.command,
          `${this.command}: unknown setting ${showWord(key)}${guess ? ` (did you mean ${guess}?)` : ''}`,
          `settings: ${SETTINGS.join(', ')}`,
        );
      }
    }
    const name = key as SettingName;
    if (this.raw.has(name)) fail(this.command, `${this.command}: ${name} is given twice`);
    this.raw.set(name, { value: value!, form });
    return used;
  }

  get size(): number {
    return this.raw.size;
  }

  validate(cpus: number[]): Limits {
    const limits: Limits = {};
    for (const [name, { value, form }] of this.raw) {
      try {
        const one = validateLimits({ [LIMIT_KEY[name]]: value }, { cpus });
        // io-rbps and io-wbps each give a throttle list: keep both.
        if (one.io && limits.io) one.io = [...limits.io, ...one.io];
        Object.assign(limits, one);
      } catch (err) {
        if (!(err instanceof SandboxError)) throw err;
        let message = err.message;
        // The runtime names the flag (--memory 1k); say it the way it was typed.
        const flagged = `--${name} ${echo(value)}`;
        if (form === 'word' && message.startsWith(flagged)) message = `${name}=${echo(value)}${message.slice(flagged.length)}`;
        fail(this.command, `${this.command}: ${message}`, err.hint);
      }
    }
    // Each setting alone is checked above; a burst above the quota given with it is refused here.
    const burst = limits.cpuBurst !== undefined && limits.cpuQuota !== undefined ? burstProblem(limits.cpuBurst, limits.cpuQuota) : null;
    if (burst) fail(this.command, `${this.command}: ${burst.message}`, burst.hint);
    return limits;
  }
}

function example(key: SettingName): string {
  return {
    'cpu-weight': '75',
    'cpu-quota': '30',
    'cpu-burst': '20',
    cpus: '0',
    memory: '64M',
    'memory-high': '32M',
    pids: '50',
    'io-rbps': 'loop3=10M',
    'io-wbps': 'loop3=10M',
    'io-weight': '500',
  }[key];
}

function parseCreate(tokens: Token[], ctx: ParseContext): ReplCommand {
  const name = checkName('create', tokens[1]);
  const namespaces = new Set<Namespace>();
  const limits = new LimitCollector('create');
  let rootfsText: string | undefined;
  let hostname: string | undefined;
  const security: SecurityOptions = {};
  const capAdd: Capability[] = [];
  const capDrop: Capability[] = [];
  for (let i = 2; i < tokens.length; ) {
    const t = tokens[i];
    const used = limits.take(tokens, i);
    if (used) {
      i += used;
      continue;
    }
    if (!isFlag(t)) {
      fail('create', `create: unexpected argument ${showWord(t.value)}`, 'limits are KEY=VALUE (pids=50) or flags (--pids 50)');
    }
    const eq = t.value.indexOf('=');
    const flag = eq < 0 ? t.value : t.value.slice(0, eq);
    if ((NAMESPACE_FLAGS as readonly string[]).includes(flag)) {
      if (eq >= 0) fail('create', `create: ${flag} takes no value`);
      const ns = flag.slice(2) as Namespace;
      if (namespaces.has(ns)) fail('create', `create: ${flag} is given twice`);
      namespaces.add(ns);
      i++;
      continue;
    }
    if (flag === '--privileged') {
      if (eq >= 0) fail('create', 'create: --privileged takes no value');
      if (security.privileged) fail('create', 'create: --privileged is given twice');
      security.privileged = true;
      i++;
      continue;
    }
    if (flag === '--cap-add' || flag === '--cap-drop' || flag === '--seccomp') {
      let value: string;
      if (eq >= 0) {
        value = t.value.slice(eq + 1);
        i++;
      } else {
        const next = tokens[i + 1];
        if (!next || isFlag(next)) {
          fail('create', `create: ${flag} needs a value`, flag === '--seccomp' ? 'default or unconfined' : 'a capability, e.g. NET_ADMIN (see capabilities(7))');
        }
        value = next.value;
        i += 2;
      }
      if (flag === '--seccomp') {
        if (security.seccomp !== undefined) fail('create', 'create: --seccomp is given twice');
        if (value !== 'default' && value !== 'unconfined') fail('create', `create: --seccomp ${showWord(value)}: not a seccomp mode`, 'default or unconfined');
        security.seccomp = value;
        continue;
      }
      try {
        (flag === '--cap-add' ? capAdd : capDrop).push(...parseCapabilityList(value));
      } catch (err) {
        if (!(err instanceof SandboxError)) throw err;
        fail('create', `create: ${flag}: ${err.message}`, err.hint);
      }
      continue;
    }
    if (flag === '--rootfs' || flag === '--hostname') {
      let value: string;
      if (eq >= 0) {
        value = t.value.slice(eq + 1);
        i++;
      } else {
        const next = tokens[i + 1];
        if (!next || isFlag(next)) fail('create', `create: ${flag} needs a value`, flag === '--rootfs' ? 'host, busybox, none or a directory' : 'e.g. --hostname web');
        value = next.value;
        i += 2;
      }
      if ((flag === '--rootfs' ? rootfsText : hostname) !== undefined) fail('create', `create: ${flag} is given twice`);
      if (flag === '--rootfs') rootfsText = value;
      else hostname = value;
      continue;
    }
    const all = [...NAMESPACE_FLAGS, '--rootfs', '--hostname', ...SETTINGS.map((s) => `--${s}`), ...SECURITY_FLAGS];
    const guess = didYouMean(flag, all);
    fail('create', `create: unknown flag ${showWord(flag)}${guess ? ` (did you mean ${guess}?)` : ''}`);
  }
  const ns = namespaces.size ? NAMESPACES.filter((n) => namespaces.has(n)) : [...DEFAULT_NAMESPACES];
  if (hostname !== undefined) {
    if (!ns.includes('uts')) fail('create', 'create: --hostname needs a UTS namespace', "add --uts, or the host's own hostname would change");
    if (!HOSTNAME_RE.test(hostname)) fail('create', `create: ${showWord(hostname)} is not a valid hostname`, 'use letters, digits, "-" and "." (at most 63 characters)');
  }
  let rootfs: RootfsSpec | undefined;
  if (rootfsText !== undefined) {
    if (rootfsText === '') fail('create', 'create: --rootfs needs a value', 'host, busybox, none or a directory');
    try {
      rootfs = ctx.parseRootfs(rootfsText);
    } catch (err) {
      if (!(err instanceof SandboxError)) throw err;
      fail('create', `create: ${err.message}`, err.hint);
    }
    if (rootfs.kind !== 'none' && !ns.includes('mount')) {
      fail('create', 'create: a root filesystem needs a mount namespace', 'add --mount (pivot_root only works inside a mount namespace), or --rootfs none');
    }
  }
  if (capAdd.length) security.capAdd = [...new Set(capAdd)];
  if (capDrop.length) security.capDrop = [...new Set(capDrop)];
  const config: SandboxConfig = { name, namespaces: ns, rootfs, hostname, limits: limits.validate(ctx.cpus) };
  if (Object.keys(security).length) config.security = security;
  return { kind: 'create', config };
}

function parseExec(tokens: Token[]): ReplCommand {
  let i = 1;
  let detach = false;
  while (tokens[i] && isFlag(tokens[i])) {
    const v = tokens[i].value;
    if (v !== '-d' && v !== '--detach') fail('exec', `exec: unknown flag ${showWord(v)}`, 'flags come before NAME; after NAME everything is the command');
    if (detach) fail('exec', `exec: ${v} is given twice`);
    detach = true;
    i++;
  }
  const name = checkName('exec', tokens[i]);
  i++;
  if (tokens[i] && !tokens[i].quoted && tokens[i].value === '--') i++;
  const argv = tokens.slice(i).map((t) => t.value);
  if (argv.length === 0) fail('exec', 'exec: missing CMD', `e.g. exec ${name} ps`);
  if (argv[0] === '') fail('exec', 'exec: the command is an empty word');
  return { kind: 'exec', name, argv, detach };
}

function parseSet(tokens: Token[], ctx: ParseContext): ReplCommand {
  const name = checkName('set', tokens[1]);
  const limits = new LimitCollector('set');
  for (let i = 2; i < tokens.length; ) {
    const used = limits.take(tokens, i);
    if (!used) {
      const v = tokens[i].value;
      const guess = didYouMean(v.replace(/^--/, '').split('=')[0], SETTINGS);
      fail('set', `set: ${isFlag(tokens[i]) ? 'unknown flag' : 'not a setting'} ${showWord(v)}${guess ? ` (did you mean ${guess}=…?)` : ''}`, `settings are KEY=VALUE with KEY one of ${SETTINGS.join(', ')}`);
    }
    i += used;
  }
  if (limits.size === 0) fail('set', 'set: nothing to set', `e.g. set ${name} cpu-weight=75`);
  return { kind: 'set', name, limits: limits.validate(ctx.cpus) };
}

function parseTokens(tokens: Token[], ctx: ParseContext): ReplCommand {
  const head = tokens[0];
  const word = head.value;
  if (!isCommandName(word) || head.quoted) {
    const guess = didYouMean(word, COMMAND_NAMES);
    fail(undefined, `unknown command ${showWord(word)}${guess ? ` (did you mean ${guess}?)` : ''}`);
  }
  const rest = tokens.slice(1);
  switch (word) {
    case 'create':
      return parseCreate(tokens, ctx);
    case 'exec':
      return parseExec(tokens);
    case 'set':
      return parseSet(tokens, ctx);
    case 'start':
    case 'enter':
    case 'ps':
    case 'inspect':
    case 'stop':
    case 'destroy': {
      const name = checkName(word, rest[0]);
      noMore(word, rest.slice(1));
      return { kind: word, name };
    }
    case 'checkpoint': {
      const name = checkName(word, rest[0]);
      let leaveRunning = false;
      for (const t of rest.slice(1)) {
        if (!isFlag(t)) fail(word, `checkpoint: unexpected argument ${showWord(t.value)}`);
        if (t.value !== '--leave-running') {
          const guess = didYouMean(t.value, ['--leave-running']);
          fail(word, `checkpoint: unknown flag ${showWord(t.value)}${guess ? ` (did you mean ${guess}?)` : ''}`);
        }
        if (leaveRunning) fail(word, 'checkpoint: --leave-running is given twice');
        leaveRunning = true;
      }
      return { kind: 'checkpoint', name, leaveRunning };
    }
    case 'restore': {
      const name = checkName(word, rest[0]);
      noMore(word, rest.slice(1));
      return { kind: 'restore', name };
    }
    case 'migrate': {
      const name = checkName(word, rest[0]);
      if (!rest[1] || isFlag(rest[1])) {
        if (rest[1]) fail(word, `migrate: unknown flag ${showWord(rest[1].value)}`);
        fail(word, 'migrate: missing NEWNAME', `the name it gets on the "other host", e.g. migrate ${name} ${name.slice(0, 28)}-2`);
      }
      const newName = checkName(word, rest[1]);
      if (newName === name) fail(word, `migrate: NEWNAME is ${name} itself`, `give another name, e.g. migrate ${name} ${name.slice(0, 28)}-2`);
      noMore(word, rest.slice(2));
      return { kind: 'migrate', name, newName };
    }
    case 'tree':
    case 'list':
    case 'exit':
      noMore(word, rest);
      return { kind: word };
    case 'help': {
      if (rest.length === 0) return { kind: 'help' };
      const topic = rest[0].value;
      if (!isCommandName(topic)) {
        const guess = didYouMean(topic, COMMAND_NAMES);
        fail('help', `help: no command ${showWord(topic)}${guess ? ` (did you mean ${guess}?)` : ''}`);
      }
      noMore('help', rest.slice(1));
      return { kind: 'help', topic };
    }
  }
}

/** Parses one line. Never throws for bad input: every problem comes back as `{ kind: 'error' }`. */
export function parseLine(line: string, ctx: ParseContext = defaultParseContext()): Parsed {
  if (line.length > MAX_LINE) {
    return { kind: 'error', error: { message: `the line is too long (${line.length} characters; at most ${MAX_LINE})`, usage: GENERAL_USAGE } };
  }
  const tk = tokenize(line);
  if (tk.error) {
    const head = tk.tokens[0]?.value;
    const command = head !== undefined && isCommandName(head) && tk.tokens.length > 1 ? head : undefined;
    return { kind: 'error', error: { message: tk.error, usage: command ? COMMANDS[command].usage : GENERAL_USAGE, command } };
  }
  if (tk.tokens.length === 0) return { kind: 'empty' };
  try {
    return { kind: 'command', command: parseTokens(tk.tokens, ctx) };
  } catch (err) {
    if (err instanceof LineFailure) return { kind: 'error', error: err.error };
    throw err;
  }
}

/** A failure found after parsing (unknown sandbox, a duplicate name…), with the command's usage. */
export function lineError(command: CommandName | undefined, message: string, hint?: string): LineError {
  return { message, hint, usage: command ? COMMANDS[command].usage : GENERAL_USAGE, command };
}

/** `cpu-weight=25 pids=50 memory=64M`, in the order of SETTINGS. */
export function formatLimits(l: Limits, formatBytes: (n: number) => string): string {
  const parts: string[] = [];
  if (l.cpuWeight !== undefined) parts.push(`cpu-weight=${l.cpuWeight}`);
  if (l.cpuQuota !== undefined) parts.push(`cpu-quota=${l.cpuQuota}`);
  if (l.cpuBurst !== undefined) parts.push(`cpu-burst=${l.cpuBurst}`);
  if (l.cpus !== undefined) parts.push(`cpus=${l.cpus}`);
  if (l.memory !== undefined) parts.push(`memory=${formatBytes(l.memory)}`);
  if (l.memoryHigh !== undefined) parts.push(`memory-high=${formatBytes(l.memoryHigh)}`);
  if (l.pids !== undefined) parts.push(`pids=${l.pids}`);
  for (const io of l.io ?? []) {
    if (io.rbps !== undefined) parts.push(`io-rbps=${io.device}=${io.rbps === 'max' ? 'max' : formatBytes(io.rbps)}`);
    if (io.wbps !== undefined) parts.push(`io-wbps=${io.device}=${io.wbps === 'max' ? 'max' : formatBytes(io.wbps)}`);
  }
  if (l.ioWeight !== undefined) parts.push(`io-weight=${l.ioWeight}`);
  return parts.join(' ');
}
