/**
 * The Store contract (test/unit/store/contract.ts) on the PostgreSQL store: each test gets a fresh database and a
 * fresh replica directory.
 */
import path from 'node:path'
import { openPostgresStore } from '../../src/cluster/index.js'
import { storeContract } from '../unit/store/contract.js'
import { verify } from '../unit/store/fixtures.js'
import { describePostgres, usePostgresServer } from './suite.js'

describePostgres('postgres store', () => {
  const ctx = usePostgresServer()
  let n = 0
  storeContract(() => ({
    open: async (options) => openPostgresStore({ url: await ctx.server.createDatabase('contract'), cacheDir: path.join(ctx.dir, `c${n++}`), verify, ...options }),
    // Each store has its own cache directory under ctx.dir, removed with the server.
    cleanup: () => undefined,
  }))
})
