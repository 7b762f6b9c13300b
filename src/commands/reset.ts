/** `sandbox reset [LESSON]`: forget progress (one lesson, or all). */
import { findEntry, unknownLessonError } from '../lessons/engine.js';
import { resetProgress } from '../lessons/progress.js';
import { formatError } from '../runtime/index.js';

export function resetCommand(id: string | undefined): number {
  if (id !== undefined && !findEntry(id)) {
    process.stderr.write(`${formatError(unknownLessonError(id))}\n`);
    return 2;
  }
  const forgotten = resetProgress(id, (m) => process.stderr.write(`${m}\n`));
  process.stdout.write(
    forgotten.length
      ? `Forgot your progress in: ${forgotten.join(', ')}.\n`
      : `Nothing to forget: no progress saved${id ? ` for ${id}` : ''}.\n`,
  );
  return 0;
}
