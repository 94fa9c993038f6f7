import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Worker pools and LMDB environments are real in integration tests; forks isolate native handles.
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
})
