/** Re-renders the component whenever the REPL controller changes. */
import { useSyncExternalStore } from 'react';

import type { ReplController } from './controller.js';

export function useController(controller: ReplController): number {
  return useSyncExternalStore(controller.subscribe, controller.getVersion);
}
