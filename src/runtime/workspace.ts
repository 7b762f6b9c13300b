/**
 * Workspaces: named places on the host, under /run/sandbox/<name>/, that belong to no process.
 * A lesson builds a root filesystem or image layers there, or makes host-side mounts (a shared
 * subtree, an overlay) that sandboxes then see. Like a sandbox, a workspace is recorded in the
 * ledger *before* its directory exists, so `sandbox cleanup` (sweep) unmounts and removes
 * whatever a killed session left; destroy() does the same for a live one.
 *
 * Every path a workspace touches is checked to lie inside it after symlinks are resolved: a tree
 * a sandbox wrote into (busybox applet links, a rootfs) cannot redirect a host-side mount or
 * write onto the host's own files.
 */
import fs from 'node:fs';
import path from 'node:path';

import { checkName } from './cgroup/index.js';
import { SandboxError, usageError, wrapSystemError } from './errors.js';
import { claimName, type LedgerEntry, ownDir, reclaim, removeEntry, RUN_DIR, selfId, writeEntry } from './ledger.js';
import { native } from './native.js';
import { type ExplainStep, op, OpKind, type PlanOp, type Propagation } from './plan.js';

export interface WorkspaceOptions {
  /** Becomes the directory name: /run/sandbox/<name>. Default `<purpose>-ws-<random>`. */
  name?: string;
  /** Who made it: "lesson mount-namespaces", "test"… */
  purpose?: string;
  /**
   * Mount a fresh tmpfs of this size (e.g. "64m") on the workspace, so that what is built there
   * never lands on the host's disk and goes away with one unmount. Default "64m"; false: a plain
   * directory on whatever filesystem holds /run.
   */
  tmpfs?: string | false;
}

export interface WorkspaceRemoval {
  name: string;
  unmounted: string[];
  removed: boolean;
}

const live = new Set<Workspace>();
let exitHookInstalled = false;

/** Every workspace this process created that is not destroyed yet. */
export function liveWorkspaces(): Workspace[] {
  return [...live];
}

function randomSuffix(): string {
  return Math.floor(Math.random() * 0x10000)
    .toString(16)
    .padStart(4, '0');
}

export class Workspace {
  readonly name: string;
  readonly purpose: string;
  /** /run/sandbox/<name> */
  readonly path: string;
  /** What was done on the host, in order, as commands and system calls. */
  readonly explain: ExplainStep[] = [];
  private destroyed = false;

  private constructor(name: string, purpose: string) {
    this.name = name;
    this.purpose = purpose;
    this.path = `${RUN_DIR}/${name}`;
  }

  /** Creates the workspace (recorded in the ledger first). Needs root. */
  static create(options: WorkspaceOptions = {}): Workspace {
    if (process.getuid?.() !== 0) {
      throw new SandboxError('creating a workspace under /run/sandbox needs root', { code: 'E_NOT_ROOT', hint: 'run it again with sudo' });
    }
    const purpose = options.purpose ?? 'workspace';
    const name = options.name ?? `${purpose.split(' ').pop()!.replace(/[^a-z0-9-]/g, '').slice(0, 16) || 'sbx'}-ws-${randomSuffix()}`;
    checkName(name, 'workspace name');
    claimName(name);
    const ws = new Workspace(name, purpose);
    const entry: LedgerEntry = {
      version: 1,
      name,
      kind: 'workspace',
      owner: selfId(),
      created: new Date().toISOString(),
      purpose,
      init: null,
      command: [],
      namespaces: [],
      limits: {},
      cgroups: [],
      dirs: [ws.path],
      netns: [],
      veths: [],
    };
    // Recorded before the directory exists: a crash from here on leaves nothing unfindable.
    writeEntry(entry, { exclusive: true });
    installExitHook();
    try {
      ownDir(name); // /run/sandbox/<name>: checked, never through a symlink
      ws.explain.push({ what: 'mkdir', command: `mkdir -p ${ws.path}`, syscall: `mkdir("${ws.path}", 0755)` });
      const size = options.tmpfs ?? '64m';
      if (size !== false) {
        ws.applyChecked(op.mount('tmpfs', 'sandbox-ws', ws.path, 0, `mode=755,size=${size}`));
        // A mount under a shared parent (/run is shared on systemd hosts) starts shared, and binds
        // of it would all join its peer group: the workspace starts private, whatever /run is.
        ws.applyChecked(op.propagation('private', ws.path, false));
      }
    } catch (err) {
      try {
        reclaim(name, entry);
      } finally {
        removeEntry(name);
      }
      throw err instanceof SandboxError ? err : wrapSystemError(err, { what: `creating workspace ${name}`, path: ws.path });
    }
    live.add(ws);
    return ws;
  }

  get isDestroyed(): boolean {
    return this.destroyed;
  }

  /**
   * The absolute host path of `rel` (relative to the workspace, or already absolute inside it).
   * Throws if it lies outside, also when an existing symlink on the way points outside.
   */
  resolve(rel: string): string {
    const abs = path.resolve(this.path, rel);
    if (abs !== this.path && !abs.startsWith(`${this.path}/`)) {
      throw usageError(`${rel} is outside workspace ${this.path}`, undefined, 'E_OUTSIDE');
    }
    // The deepest existing ancestor, with symlinks resolved, must still be inside.
    let probe = abs;
    for (;;) {
      try {
        const real = fs.realpathSync(probe);
        if (real !== this.path && !real.startsWith(`${this.path}/`)) {
          throw usageError(`${rel} leads outside workspace ${this.path} (through a symlink to ${real})`, undefined, 'E_OUTSIDE');
        }
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || probe === this.path) throw err;
        probe = path.dirname(probe);
      }
    }
    return abs;
  }

  private live(): void {
    if (this.destroyed) throw usageError(`workspace ${this.name} was removed`, undefined, 'E_NOT_RUNNING');
  }

  /** Executes a mount, umount, mkdir or write plan op on the host; returns it as an ExplainStep. */
  private applyChecked(o: PlanOp): ExplainStep {
    const step: ExplainStep = { what: o.command.split(' ')[0], command: o.command, syscall: o.syscall };
    try {
      switch (o.kind) {
        case OpKind.Mount:
          native().mount(o.a ?? '', o.b!, o.c ?? '', o.flags ?? 0, o.d ?? '');
          break;
        case OpKind.Umount:
          native().umount(o.b!, o.flags ?? 0);
          break;
        case OpKind.Mkdir:
          fs.mkdirSync(o.b!, { recursive: true, mode: o.flags });
          break;
        case OpKind.Write:
          fs.writeFileSync(o.b!, o.d ?? '', { mode: o.flags });
          break;
        default:
          throw new Error(`op ${o.command} cannot run on the host`);
      }
    } catch (err) {
      throw wrapSystemError(err, { what: o.command, step: step.what, path: o.b });
    }
    this.explain.push(step);
    return step;
  }

  /** `mkdir -p`; returns the absolute path. */
  mkdir(rel: string, mode = 0o755): string {
    this.live();
    const p = this.resolve(rel);
    this.applyChecked(op.mkdir(p, mode));
    return p;
  }

  /** Writes a file (creating its directory); returns the absolute path. */
  writeFile(rel: string, contents: string, mode = 0o644): string {
    this.live();
    const p = this.resolve(rel);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    this.applyChecked(op.write(p, contents, mode));
    fs.chmodSync(p, mode);
    return p;
  }

  /** A new filesystem instance (tmpfs…) mounted at `rel` on the host, inside this workspace. */
  mount(fstype: string, source: string, rel: string, flags = 0, data = ''): ExplainStep {
    this.live();
    const target = this.resolve(rel);
    fs.mkdirSync(target, { recursive: true });
    return this.applyChecked(op.mount(fstype, source, target, flags, data));
  }

  /** Bind-mounts `fromRel` onto `toRel` (both inside); `rel` onto itself makes a directory a mount point. */
  bind(fromRel: string, toRel = fromRel, recursive = false): ExplainStep {
    this.live();
    const from = this.resolve(fromRel);
    const to = this.resolve(toRel);
    fs.mkdirSync(to, { recursive: true });
    return this.applyChecked(op.bind(from, to, recursive));
  }

  /** `mount --make-shared|slave|private|unbindable` on a mount point inside the workspace. */
  propagation(rel: string, kind: Propagation, recursive = false): ExplainStep {
    this.live();
    return this.applyChecked(op.propagation(kind, this.resolve(rel), recursive));
  }

  /**
   * An overlay filesystem at `targetRel`: `lowers` top first (as overlayfs' lowerdir lists them),
   * the writable `upper` and its `work` directory. Every directory must be inside the workspace.
   */
  overlay(lowers: string[], upperRel: string, workRel: string, targetRel: string): ExplainStep {
    this.live();
    const lower = lowers.map((l) => this.resolve(l));
    const upper = this.resolve(upperRel);
    const work = this.resolve(workRel);
    const target = this.resolve(targetRel);
    for (const d of [upper, work, target]) fs.mkdirSync(d, { recursive: true });
    for (const d of lower) if (!fs.statSync(d).isDirectory()) throw usageError(`${d} is not a directory`);
    return this.applyChecked(op.mount('overlay', 'overlay', target, 0, `lowerdir=${lower.join(':')},upperdir=${upper},workdir=${work}`));
  }

  umount(rel: string, detach = true): ExplainStep {
    this.live();
    return this.applyChecked(op.umount(this.resolve(rel), detach));
  }

  /** Unmounts everything inside and removes the tree and the ledger entry. Idempotent. */
  destroy(): WorkspaceRemoval {
    if (this.destroyed) return { name: this.name, unmounted: [], removed: false };
    this.destroyed = true;
    live.delete(this);
    const report = reclaim(this.name, { dirs: [this.path] });
    removeEntry(this.name);
    return { name: this.name, unmounted: report.mounts, removed: report.dirs.includes(this.path) };
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const ws of [...live]) {
      try {
        ws.destroy();
      } catch {
        /* `sandbox cleanup` finishes the job */
      }
    }
  });
}

