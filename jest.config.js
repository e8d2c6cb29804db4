// Jest runs the compiled ESM output in dist/ (built by `tsc`), so no transform is
// needed and client-node's ESM-only package loads natively.
const common = {
  testEnvironment: 'node',
  transform: {},
  moduleFileExtensions: ['js', 'mjs', 'json'],
};

export default {
  // Integration tests spawn the CLI and run the simulator; e2e suites override per test.
  testTimeout: 30000,
  projects: [
    {
      ...common,
      displayName: 'unit',
      testMatch: [
        '<rootDir>/dist/operator/test/**/*.test.js',
        '<rootDir>/dist/e2e/ticdc-sim/**/*.test.js',
        '<rootDir>/dist/bench/**/*.test.js',
        '<rootDir>/dist/chaos/**/*.test.js',
      ],
      testPathIgnorePatterns: ['\\.e2e\\.test\\.js$'],
    },
    {
      ...common,
      displayName: 'e2e',
      // chaos/smoke.e2e.test.ts: the chaos suite's smoke subset (it lives in chaos/: nothing imports chaos).
      testMatch: ['<rootDir>/dist/e2e/specs/**/*.test.js', '<rootDir>/dist/chaos/**/*.e2e.test.js'],
      globalSetup: '<rootDir>/dist/e2e/specs/support/global-setup.js',
      globalTeardown: '<rootDir>/dist/e2e/specs/support/global-teardown.js',
      setupFilesAfterEnv: ['<rootDir>/dist/e2e/specs/support/timeout.js'],
    },
  ],
};
