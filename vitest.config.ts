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
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
})
