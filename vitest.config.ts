import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'

export default defineConfig({
  resolve: {
    // Test fixtures that are programs import the program library as 'strata' (the bundler's name for it), and
    // some tests import their exported constants: here that name is the package's source.
    alias: [{ find: /^strata$/, replacement: fileURLToPath(new URL('./src/index.ts', import.meta.url)) }],
  },
  test: {
    include: ['test/**/*.test.ts'],
    // Worker pools and LMDB environments are real in integration tests; forks isolate native handles.
    pool: 'forks',
    // Two files at once. Vitest's default is one fork fewer than the CPUs, which on a 2-core CI machine means one:
    // the files then run strictly one after another while much of each file's time is spent waiting on child
    // processes, workers, PostgreSQL and Chromium.
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
})
