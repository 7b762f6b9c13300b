import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'test/**/*.test.tsx'],
    // Every lesson walked in tmux at two sizes is long: `npm run test:screens` (CI runs it).
    exclude: ['test/screens/**', '**/node_modules/**'],
    // Sandboxes are real processes: give kernel work time, and run at most two files at once
    // on the 2-core CI machine.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    maxWorkers: 2,
    // Fails the run if any test left a process, cgroup, mount, netns or veth of ours behind.
    globalSetup: ['test/helpers/leak-guard.ts'],
  },
});
