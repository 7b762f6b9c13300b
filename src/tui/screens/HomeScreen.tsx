/**
 * The home screen (`sandbox` on a terminal) and the pick list of `sandbox learn`: the course with
 * each lesson's status, and the tools (REPL, dashboard). It draws a MenuStore (home.ts) and
 * forwards keys to it.
 */
import { Box, useInput } from 'ink';
import { useSyncExternalStore } from 'react';

import { KeyHelp } from '../components/KeyHelp.js';
import { LessonList } from '../components/LessonList.js';
import { Lines } from '../components/Lines.js';
import { TooSmall } from '../components/TooSmall.js';
import type { MenuStore } from '../home.js';
import { blank, type Line, seg, wrapText } from '../lines.js';

export interface HomeScreenProps {
  /** The items, the cursor, and what choosing does. */
  store: MenuStore;
  /** Terminal width. */
  columns: number;
  /** Terminal height (the screen uses one row less). */
  rows: number;
}

export const HOME_MIN_COLUMNS = 60;
export const HOME_MIN_ROWS = 16;

export function HomeScreen({ store, columns, rows }: HomeScreenProps) {
  const s = useSyncExternalStore(store.subscribe, store.getState);
  useInput((input, key) => {
    store.handleKey(input, key);
  });
  if (columns < HOME_MIN_COLUMNS || rows < HOME_MIN_ROWS) {
    return <TooSmall columns={columns} rows={rows} minColumns={HOME_MIN_COLUMNS} minRows={HOME_MIN_ROWS} />;
  }
  const width = Math.min(columns - 2, 100);
  const height = rows - 1;
  const top: Line[] = [
    [seg(' sandbox ', { inverse: true, bold: true }), seg(`  ${store.title}`, { bold: true })],
    blank(),
    ...wrapText('Learn how Linux containers work by building real ones, live on this machine: namespaces decide what a process can see, cgroups how much it can use.', width, { dim: true }),
    blank(),
  ];
  const bottom: Line[] = [];
  if (s.notice) bottom.push(...wrapText(s.notice, width, { color: 'yellow' }));
  if (!store.isRoot) bottom.push(...wrapText('Lessons, the REPL and the dashboard need root: run sudo sandbox.', width, { color: 'yellow' }));
  const listRows = Math.max(2, height - top.length - bottom.length - 2);
  return (
    <Box flexDirection="column" width={columns} height={height} paddingLeft={1}>
      <Lines lines={top} width={width} />
      <Box height={listRows} flexDirection="column" overflow="hidden">
        <LessonList items={store.items} cursor={s.cursor} width={width} maxRows={listRows} />
      </Box>
      <Box flexGrow={1} />
      <Lines lines={bottom} width={width} />
      <KeyHelp
        keys={[
          { key: '↑↓', label: 'choose', essential: true },
          { key: 'enter', label: 'open', essential: true },
          { key: '1-9', label: 'lesson by number' },
          { key: 'q', label: 'quit', essential: true },
        ]}
        width={columns - 2}
      />
    </Box>
  );
}
