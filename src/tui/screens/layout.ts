/**
 * Height allocation for the lesson screen: every panel knows its natural height (its lines at the
 * current width) and asks for rows in tiers, each at a priority ("the first 3 lines of the prose
 * at priority 3, the rest at 6"). Rows go to the lowest priority number first; a panel that
 * cannot get its minimum gets nothing rather than a useless sliver. So on a small terminal the
 * important panels stay whole and the others shrink or disappear, and the screen never has more
 * rows than the terminal.
 */

export interface BlockSpec {
  id: string;
  /** Rows the panel would use in full. */
  natural: number;
  /** Fewest rows worth showing (e.g. a title and one line). */
  min: number;
  /** [priority, up to this many rows]: lower priorities are served first. */
  tiers: [number, number][];
}

/** Rows for each block (by id), never more than `height` in all. */
export function allocate(blocks: BlockSpec[], height: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const b of blocks) out[b.id] = 0;
  let left = Math.max(0, height);
  const asks = blocks
    .flatMap((b, order) => b.tiers.map(([priority, upTo]) => ({ b, priority, upTo: Math.min(upTo, b.natural), order })))
    .sort((x, y) => x.priority - y.priority || x.order - y.order);
  for (const a of asks) {
    const want = a.upTo - out[a.b.id];
    if (want <= 0 || left <= 0) continue;
    if (out[a.b.id] === 0 && left < Math.min(a.b.min, a.b.natural)) continue;
    const give = Math.min(want, left);
    out[a.b.id] += give;
    left -= give;
  }
  return out;
}
