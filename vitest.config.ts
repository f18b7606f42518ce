import { defineConfig } from 'vitest/config';

// Unit tests live beside their code (packages/*/src/**/*.test.ts) and run on the TypeScript
// sources; end-to-end tests (test/**) start the compiled programs as real processes, so
// `npm test` builds first. Two cores: keep the worker count small so process tests are not starved.
export default defineConfig({
  test: {
    include: ['packages/*/src/**/*.test.ts', 'test/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ['default'],
  },
});
