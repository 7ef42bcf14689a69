import { defineConfig } from 'vitest/config';

// The tests Stryker runs against each mutant of the transport and the controllers (npm run mutation): their own unit
// tests, against the fake API server. Tests that start whole servers are left out: in child processes a mutant (it
// lives in Stryker's sandbox) is not loaded at all, and the in-process end-to-end tests cost seconds per mutant for
// little the unit tests do not already see.
//
// MUTATION_TESTS=kube|controllers narrows the run to one folder's own tests (npm run mutation:kube and
// mutation:controllers): a transport mutant is then judged by the transport's tests alone, not rescued by a
// controller test that happens to cover it, and each run fits in well under an hour on two cores.
const SUITES: Record<string, string[]> = {
  kube: ['test/kube/**/*.test.ts'],
  // plus the tests of the modules that use a controller's parts in process (the serving-certificate slot, the access
  // review behind the side port)
  controllers: ['test/controllers/**/*.test.ts', 'test/certs/serving-manager.test.ts', 'test/server/side-ports.test.ts'],
};
const only = process.env.MUTATION_TESTS;

export default defineConfig({
  test: {
    include: only ? (SUITES[only] ?? []) : Object.values(SUITES).flat(),
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
