import { defineConfig } from 'vitest/config';

// Three suites, from least to most powerful (STYLE.md "Tests"):
//  unit         *.test.ts      no cluster, no network beyond loopback sockets the test opens itself
//  integration  *.int.test.ts  against the real local control plane (hack/cluster.ts), started once by the global setup
//  e2e          *.e2e.test.ts  against whatever KUBECONFIG points at (local control plane or kind)
const exclude = ['node_modules/**', 'hack/control-plane/**'];
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['**/*.test.ts'],
          exclude: [...exclude, '**/*.int.test.ts', '**/*.e2e.test.ts'],
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['**/*.int.test.ts'],
          exclude,
          globalSetup: ['test/support/cluster-global-setup.ts'],
          testTimeout: 120_000,
          // real processes on a shared 2-core machine: one retry absorbs scheduling hiccups;
          // a test that fails twice is a failure
          retry: 1,
          hookTimeout: 180_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.e2e.test.ts'],
          exclude,
          globalSetup: ['test/support/cluster-global-setup.ts'],
          testTimeout: 300_000,
          hookTimeout: 300_000,
          retry: 1,
          fileParallelism: false,
        },
      },
    ],
  },
});
