/** Samples the session for the side pane while the screen is mounted (stopped during `enter`). */
import { useEffect } from 'react';

import type { ReplController } from './controller.js';

export function useSampler(controller: ReplController, intervalMs: number, withTree: boolean): void {
  useEffect(() => {
    controller.refresh(withTree);
    const timer = setInterval(() => controller.refresh(withTree), intervalMs);
    return () => clearInterval(timer);
  }, [controller, intervalMs, withTree]);
}
