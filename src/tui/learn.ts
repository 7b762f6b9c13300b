/** The full-screen lesson (Ink). Until the screen lands, the line-mode lesson runs in its place. */
import { pickLessonPlain, runLessonPlain } from './plain.js';

export async function runLessonScreen(id: string | undefined): Promise<number> {
  const lesson = id ?? (await pickLessonPlain());
  if (!lesson) return 0;
  return runLessonPlain(lesson, { auto: false });
}
