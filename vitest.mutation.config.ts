import { defineConfig } from 'vitest/config';

// The tests Stryker runs against each mutant of the transport and the controllers (npm run mutation): the in-process
// ones that exercise src/kube and src/controllers. Tests that start servers in child processes are left out: a mutant
// lives in Stryker's sandbox, which those processes would not load.
export default defineConfig({
  test: {
    include: ['test/kube/**/*.test.ts', 'test/controllers/**/*.test.ts', 'test/e2e/live.test.ts', 'test/webhooks/**/*.test.ts', 'test/cli/audit.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
