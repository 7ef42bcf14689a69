import { defineConfig } from 'vitest/config';

// The tests Stryker runs against each mutant of the transport and the controllers (npm run mutation): their own unit
// tests, against the fake API server. Tests that start whole servers are left out: in child processes a mutant (it
// lives in Stryker's sandbox) is not loaded at all, and the in-process end-to-end tests cost seconds per mutant for
// little the unit tests do not already see.
export default defineConfig({
  test: {
    // plus the tests of the modules that use a controller's parts in process (the serving-certificate slot, the
    // access review behind the side port)
    include: ['test/kube/**/*.test.ts', 'test/controllers/**/*.test.ts', 'test/certs/serving-manager.test.ts', 'test/server/side-ports.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
