/**
 * The describe of every test file in test/cluster: skipped with the reason when PostgreSQL is not installed.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe } from 'vitest'
import { POSTGRES_MISSING, PostgresServer, postgresAvailable } from './postgres_server.js'

/**
 * `describe` for a test of test/cluster: skipped, with POSTGRES_MISSING in its name, when PostgreSQL is not
 * installed (and STRATA_REQUIRE_POSTGRES is not 1).
 */
export function describePostgres(name: string, body: () => void): void {
  if (postgresAvailable) describe(name, body)
  else describe.skip(`${name} (skipped: ${POSTGRES_MISSING})`, body)
}

/** A fresh temp directory (for cache directories), removed by the returned function. */
export function tempDir(prefix = 'strata-pg-cache-'): { readonly dir: string; readonly remove: () => void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix))
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) }
}

/**
 * A server and a temp directory for the enclosing describe block: started in beforeAll, stopped and removed in
 * afterAll. Read them inside tests (or hooks), not while the block is collected.
 */
export function usePostgresServer(): { readonly server: PostgresServer; readonly dir: string } {
  let server: PostgresServer | undefined
  let temp: ReturnType<typeof tempDir> | undefined
  beforeAll(async () => {
    temp = tempDir()
    server = await PostgresServer.start()
  })
  afterAll(async () => {
    await server?.stop()
    temp?.remove()
  })
  return {
    get server(): PostgresServer { return server! },
    get dir(): string { return temp!.dir },
  }
}
