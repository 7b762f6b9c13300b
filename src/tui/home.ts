/**
 * `sandbox` on a terminal: the home screen. The course (each lesson with its status), the REPL
 * and the dashboard; enter opens one. After a lesson the home screen comes back (with what
 * happened); the REPL and the dashboard take the terminal over until they exit. Nothing here loads
 * a lesson's code until one is chosen.
 */
import type { KeyInput } from './lesson-controller.js';
import type { ListItem } from './components/LessonList.js';
import { loadInk, mountScreen } from './mount.js';

export interface MenuState {
  cursor: number;
  notice: string | null;
}

/** The menu's state outside React (so a resize can remount the screen), and what its keys do. */
export class MenuStore {
  readonly items: ListItem[];
  readonly title: string;
  readonly isRoot = process.getuid?.() === 0;
  private state: MenuState;
  private readonly listeners = new Set<() => void>();
  private resolve!: (item: ListItem | null) => void;
  /** The item chosen (null: quit). */
  readonly chosen: Promise<ListItem | null>;

  constructor(items: ListItem[], title: string, notice: string | null = null, cursor = 0) {
    this.items = items;
    this.title = title;
    this.state = { cursor: Math.max(0, Math.min(cursor, items.length - 1)), notice };
    this.chosen = new Promise((r) => {
      this.resolve = r;
    });
  }

  subscribe = (fn: () => void): (() => void) => {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  };

  getState = (): MenuState => this.state;

  private set(patch: Partial<MenuState>): void {
    this.state = { ...this.state, ...patch };
    for (const fn of this.listeners) fn();
  }

  handleKey(input: string, key: KeyInput): void {
    const n = this.items.length;
    if (input === 'q' || key.escape || (key.ctrl && input === 'c')) this.resolve(null);
    else if (key.upArrow || input === 'k') this.set({ cursor: (this.state.cursor + n - 1) % n });
    else if (key.downArrow || input === 'j' || key.tab) this.set({ cursor: (this.state.cursor + 1) % n });
    else if (key.return) this.resolve(this.items[this.state.cursor]);
    else if (/^[1-9]$/.test(input)) {
      const lessons = this.items.filter((i) => i.kind === 'lesson');
      const item = lessons[Number(input) - 1];
      if (item) {
        this.set({ cursor: this.items.indexOf(item) });
        this.resolve(item);
      }
    }
  }
}

/** The course as list items, each lesson with its status (from the progress file only). */
export async function menuItems(tools: boolean): Promise<ListItem[]> {
  const { COURSE } = await import('../lessons/manifest.js');
  const { challengeCounts, challengeText, readAllProgress, statusOf } = await import('../lessons/progress.js');
  const progress = readAllProgress();
  const items: ListItem[] = COURSE.map((e) => {
    const p = progress[e.id] ?? null;
    const status = statusOf(p);
    return {
      id: e.id,
      kind: 'lesson',
      title: e.title,
      summary: e.summary,
      status: status === 'in progress' ? `in progress (step ${p!.step + 1})` : status,
      challenges: challengeText(challengeCounts(e.challenges, p)) || undefined,
    };
  });
  if (tools) {
    items.push(
      { id: 'repl', kind: 'tool', title: 'REPL', summary: 'explore freely: create, exec, enter, limit, inspect and destroy sandboxes' },
      { id: 'top', kind: 'tool', title: 'Dashboard (sandbox top)', summary: 'every sandbox on this host, live: processes, CPU, memory, limits' },
    );
  }
  return items;
}

/** Shows the menu full-screen until something is chosen (or q). */
export async function runMenu(opts: { tools: boolean; title: string; notice?: string | null; cursor?: number }): Promise<ListItem | null> {
  await loadInk();
  const { createElement } = await import('react');
  const { HomeScreen } = await import('./screens/HomeScreen.js');
  const store = new MenuStore(await menuItems(opts.tools), opts.title, opts.notice ?? null, opts.cursor);
  const screen = mountScreen((size) => createElement(HomeScreen, { store, ...size }));
  const onSignal = (sig: NodeJS.Signals) => {
    screen.close();
    process.exit(sig === 'SIGINT' ? 130 : sig === 'SIGHUP' ? 129 : 143);
  };
  for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(s, onSignal);
  try {
    return await store.chosen;
  } finally {
    screen.close();
    for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.off(s, onSignal);
  }
}

/** `sandbox` on a terminal: the home screen, until q or a tool takes over. Returns the exit code. */
export async function runHomeScreen(): Promise<number> {
  let notice: string | null = null;
  let cursor = 0;
  for (;;) {
    const item = await runMenu({ tools: true, title: 'Linux containers, from the kernel up', notice, cursor });
    if (!item) return 0;
    if (item.kind === 'tool') {
      if (item.id === 'repl') {
        const { replCommand } = await import('../commands/repl.js');
        return replCommand({});
      }
      const { topCommand } = await import('../commands/top.js');
      return topCommand({});
    }
    const items = await menuItems(true);
    cursor = Math.max(0, items.findIndex((i) => i.id === item.id));
    if (process.getuid?.() !== 0) {
      notice = `${item.title} needs root: namespaces, mounts and cgroups are privileged. Quit and run: sudo sandbox learn ${item.id}`;
      continue;
    }
    const { runLesson } = await import('./learn.js');
    const outcome = await runLesson(item.id);
    if (outcome.code !== 0 && !outcome.message) return outcome.code;
    notice = outcome.message.replace(/\n/g, ' ') || null;
  }
}
