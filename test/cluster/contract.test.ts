/**
 * The Store contract (test/unit/store/contract.ts) on the PostgreSQL store: each test gets a fresh database and a
 * fresh replica directory.
 */
import path from 'node:path'
import { afterAll, beforeAll } from 'vitest'
import { openPostgresStore } from '../../src/cluster/index.js'
import { storeContract } from '../unit/store/contract.js'
import { verify } from '../unit/store/fixtures.js'
import { PostgresServer } from './postgres_server.js'
import { describePostgres, tempDir } from './suite.js'

describePostgres('postgres store', () => {
  let server: PostgresServer
  beforeAll(async () => { server = await PostgresServer.start() })
  afterAll(async () => { await server?.stop() })
  storeContract(() => {
    const temp = tempDir()
    let n = 0
    return {
      open: async (options) => openPostgresStore({ url: await server.createDatabase('contract'), cacheDir: path.join(temp.dir, `c${n++}`), verify, ...options }),
      cleanup: temp.remove,
    }
  })
})
