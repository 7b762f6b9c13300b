/**
 * Tab completion: commands, sandbox names, flags, settings and --rootfs values, from the command
 * table and the session's names. Pure: the caller passes what exists.
 */
import fs from 'node:fs';
import path from 'node:path';

import { CAPABILITIES } from '../runtime/security.js';
import {
  type CommandName,
  COMMAND_NAMES,
  COMMANDS,
  isCommandName,
  NAMESPACE_FLAGS,
  ROOTFS_VALUES,
  SECCOMP_VALUES,
  SECURITY_FLAGS,
  SETTINGS,
} from './commands.js';
import { tokenize } from './tokenize.js';

export interface NameSets {
  all: string[];
  running: string[];
}

export interface Completion {
  /** Where the word being completed starts in the line. */
  start: number;
  /** The part of that word typed so far. */
  prefix: string;
  /** Every word that fits, sorted. */
  candidates: string[];
}

export interface Completed {
  line: string;
  cursor: number;
  /** More than one candidate: show them. */
  shown: string[];
}

const VALUE_FLAGS = new Set(['--rootfs', '--hostname', ...SETTINGS.map((s) => `--${s}`), '--cap-add', '--cap-drop', '--seccomp']);
/** Flags that may be given more than once. */
const REPEATABLE = new Set(['--cap-add', '--cap-drop']);

/** Which names make sense after this command: stop/exec/ps need a running sandbox, start a stopped one. */
function namesFor(command: CommandName, names: NameSets): string[] {
  const running = new Set(names.running);
  switch (command) {
    case 'exec':
    case 'ps':
    case 'stop':
    case 'checkpoint':
    case 'migrate':
      return names.running;
    case 'start':
      return names.all.filter((n) => !running.has(n));
    default:
      return names.all;
  }
}

function directories(prefix: string): string[] {
  const dir = prefix.endsWith('/') ? prefix : path.dirname(prefix);
  try {
    return fs
      .readdirSync(dir || '/', { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => `${dir.endsWith('/') ? dir : `${dir}/`}${e.name}/`)
      .filter((d) => d.startsWith(prefix))
      .slice(0, 200);
  } catch {
    return [];
  }
}

function wordsAt(before: string, index: number, words: string[], names: NameSets): string[] {
  const head = words[0];
  if (index === 0) return [...COMMAND_NAMES];
  if (!isCommandName(head)) return [];
  const prev = words[index - 1];
  switch (head) {
    case 'help':
      return index === 1 ? [...COMMAND_NAMES] : [];
    case 'create': {
      if (index === 1) return [];
      if (prev === '--rootfs') {
        const typed = before.slice(before.lastIndexOf(' ') + 1);
        return typed.startsWith('/') || typed.startsWith('.') ? directories(typed) : [...ROOTFS_VALUES];
      }
      if (prev === '--seccomp') return [...SECCOMP_VALUES];
      if (prev === '--cap-add' || prev === '--cap-drop') return [...CAPABILITIES];
      if (VALUE_FLAGS.has(prev)) return [];
      const used = new Set(words.slice(2).map((w) => (w.startsWith('--') ? w.split('=')[0] : `--${w.split('=')[0]}`)));
      const flags = [...NAMESPACE_FLAGS, '--rootfs', '--hostname', ...SETTINGS.map((s) => `--${s}`), ...SECURITY_FLAGS].filter(
        (f) => REPEATABLE.has(f) || !used.has(f),
      );
      const settings = SETTINGS.filter((s) => !used.has(`--${s}`)).map((s) => `${s}=`);
      return [...flags, ...settings];
    }
    case 'exec': {
      const detached = words[1] === '-d' || words[1] === '--detach';
      if (index === 1) return ['-d', ...namesFor('exec', names)];
      if (index === 2 && detached) return namesFor('exec', names);
      return [];
    }
    case 'checkpoint':
      if (index === 1) return namesFor('checkpoint', names);
      return words.slice(2).includes('--leave-running') ? [] : ['--leave-running'];
    case 'set': {
      if (index === 1) return namesFor('set', names);
      if (VALUE_FLAGS.has(prev)) return [];
      const used = new Set(words.slice(2).map((w) => w.replace(/^--/, '').split('=')[0]));
      return SETTINGS.filter((s) => !used.has(s)).map((s) => `${s}=`);
    }
    default:
      return index === 1 && COMMANDS[head].args[0] === 'name' ? namesFor(head, names) : [];
  }
}

/** What could complete the word that ends at `cursor`. */
export function complete(line: string, cursor: number, names: NameSets): Completion {
  const before = line.slice(0, cursor);
  const tk = tokenize(before);
  const none = { start: cursor, prefix: '', candidates: [] };
  if (tk.error) return none;
  const words = tk.tokens.map((t) => t.value);
  let index: number;
  let start: number;
  let prefix: string;
  if (tk.endsInSpace) {
    index = tk.tokens.length;
    start = cursor;
    prefix = '';
  } else {
    const last = tk.tokens[tk.tokens.length - 1];
    if (last.quoted) return none;
    index = tk.tokens.length - 1;
    start = last.start;
    prefix = last.value;
  }
  const candidates = [...new Set(wordsAt(before, index, words, names))].filter((c) => c.startsWith(prefix)).sort();
  return { start, prefix, candidates };
}

function commonPrefix(words: string[]): string {
  if (words.length === 0) return '';
  let p = words[0];
  for (const w of words) while (!w.startsWith(p)) p = p.slice(0, -1);
  return p;
}

/** Applies Tab: one candidate replaces the word (and adds a space); several extend it to their common prefix. */
export function applyCompletion(line: string, cursor: number, names: NameSets): Completed {
  const c = complete(line, cursor, names);
  if (c.candidates.length === 0) return { line, cursor, shown: [] };
  const rest = line.slice(cursor);
  if (c.candidates.length === 1) {
    const word = c.candidates[0];
    const tail = word.endsWith('=') || word.endsWith('/') ? '' : ' ';
    const head = line.slice(0, c.start) + word + (rest.startsWith(' ') ? '' : tail);
    return { line: head + rest, cursor: head.length + (rest.startsWith(' ') && tail ? 1 : 0), shown: [] };
  }
  const common = commonPrefix(c.candidates);
  const head = line.slice(0, c.start) + (common.length > c.prefix.length ? common : c.prefix);
  return { line: head + rest, cursor: head.length, shown: c.candidates };
}
