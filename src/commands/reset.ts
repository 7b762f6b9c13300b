/** `sandbox reset [LESSON|./DIR]`: forget progress (one lesson, or all). */
import { findEntry, unknownLessonError } from '../lessons/engine.js';
import { resetProgress } from '../lessons/progress.js';
import { formatError } from '../runtime/index.js';

export async function resetCommand(id: string | undefined): Promise<number> {
  let key = id;
  if (id !== undefined) {
    // A lesson folder: its progress is kept under its own key (see Lesson.folder); reading it runs nothing.
    const { isFolderArg, loadFolderOrSay, EXIT_LESSON_FILE } = await import('./folder-lesson.js');
    if (isFolderArg(id)) {
      const folder = await loadFolderOrSay(id);
      if (!folder) return EXIT_LESSON_FILE;
      key = folder.lesson.folder!.progressKey;
    } else if (!findEntry(id)) {
      process.stderr.write(`${formatError(unknownLessonError(id))}\n`);
      return 2;
    }
  }
  const forgotten = resetProgress(key, (m) => process.stderr.write(`${m}\n`));
  process.stdout.write(
    forgotten.length
      ? `Forgot your progress in: ${id !== undefined && key !== id ? id : forgotten.join(', ')}.\n`
      : `Nothing to forget: no progress saved${id ? ` for ${id}` : ''}.\n`,
  );
  return 0;
}
