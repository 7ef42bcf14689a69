import { defineConfig } from 'vitest/config';

// Two projects: the unit and in-process suites (files in parallel), then test/apiserver, whose files each start a
// private control plane (etcd, kube-apiserver, kube-controller-manager) and run one at a time after the others, so that
// two API servers and a busy unit run never share the machine's cores.
export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: ['test/**/*.test.ts'], exclude: ['test/apiserver/**', '**/node_modules/**'] },
      },
      {
        extends: true,
        test: {
          name: 'apiserver',
          include: ['test/apiserver/**/*.test.ts'],
          globalSetup: ['test/apiserver/global-setup.ts'],
          sequence: { groupOrder: 1 },
          pool: 'forks',
          poolOptions: { forks: { singleFork: true } },
          testTimeout: 180_000,
          hookTimeout: 180_000,
        },
      },
    ],
  },
});
