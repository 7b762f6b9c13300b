import { defineConfig } from 'vitest/config';

/**
 * `npm run test:screens`: every lesson walked in tmux at two terminal sizes (test/screens/). Long,
 * so not part of `npm test`; one file at a time (it holds the lesson lock throughout).
 */
export default defineConfig({
  test: {
    include: ['test/screens/**/*.test.ts'],
    testTimeout: 900_000,
    hookTimeout: 900_000,
    maxWorkers: 1,
    globalSetup: ['test/helpers/leak-guard.ts'],
  },
});
