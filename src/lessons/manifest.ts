/**
 * The course, in teaching order. Listing it loads no lesson code (so `sandbox lessons` starts
 * fast); `load` imports a lesson only when it runs.
 */
import type { Lesson } from './types.js';

export interface CourseEntry {
  id: string;
  title: string;
  summary: string;
  load: () => Promise<{ lesson: Lesson }>;
}

export const COURSE: CourseEntry[] = [
  {
    id: 'pid-namespaces',
    title: 'PID namespaces',
    summary: 'PID 1 inside, the same process seen from host and sandbox, nesting, orphans, the death of PID 1',
    load: () => import('./pid-namespaces/index.js'),
  },
];

export function courseIds(): string[] {
  return COURSE.map((e) => e.id);
}
