/**
 * A throwaway PostgreSQL server for one test file: `initdb` into a temp directory, `postgres` on a free loopback
 * port with its socket in that directory, a fresh database per test, and a fast shutdown (SIGINT to the
 * postmaster's pid) in afterAll, which also removes the directory.
 *
 * PostgreSQL refuses to run as root: as root, the directory is chowned to the `postgres` system user and the
 * binaries run through `runuser -u postgres --`; as anyone else they run directly.
 *
 * Without the binaries (no /usr/lib/postgresql/<version>/bin/initdb) every test of test/cluster skips with the
 * reason POSTGRES_MISSING, unless STRATA_REQUIRE_POSTGRES=1, in which case they fail (CI installs them first:
 * scripts/ci/install-postgresql.sh); see suite.ts. This file imports nothing of vitest, so that the benchmark
 * (bench/postgres.bench.ts) starts its server with it too.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { chownSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import pg from 'pg'

/** Where Debian puts each major version's server binaries. */
const POSTGRES_LIB_DIR = '/usr/lib/postgresql'
/** How long the server may take to accept connections: initdb ~1.2 s and start ~0.2 s here (REFERENCE.md). */
const START_TIMEOUT_MS = 30_000
/** Polling interval while waiting for the server. */
const POLL_MS = 50
/** A fast shutdown takes well under a second; after this the postmaster is killed. */
const STOP_TIMEOUT_MS = 10_000

export const POSTGRES_MISSING = 'PostgreSQL not installed: .ci/run installs Debian\'s postgresql'

/** The directory of the newest installed major version's binaries, or undefined. */
export function postgresBinDir(): string | undefined {
  if (!existsSync(POSTGRES_LIB_DIR)) return undefined
  const versions = readdirSync(POSTGRES_LIB_DIR)
    .filter((name) => existsSync(path.join(POSTGRES_LIB_DIR, name, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a))
  return versions[0] === undefined ? undefined : path.join(POSTGRES_LIB_DIR, versions[0], 'bin')
}

/**
 * Whether the tests of test/cluster run here: true with PostgreSQL installed; false without it (they skip),
 * unless STRATA_REQUIRE_POSTGRES=1 asks for them, in which case true (and starting the server fails loudly).
 */
export const postgresAvailable = postgresBinDir() !== undefined || process.env['STRATA_REQUIRE_POSTGRES'] === '1'

function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0
}

/** A command line that runs `binary` as the postgres user when we are root. */
function asServerUser(binary: string, args: readonly string[]): [string, string[]] {
  return isRoot() ? ['runuser', ['-u', 'postgres', '--', binary, ...args]] : [binary, [...args]]
}

function postgresUid(): { uid: number; gid: number } {
  const id = (flag: string): number => Number(spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' }).stdout.trim())
  return { uid: id('-u'), gid: id('-g') }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo
      server.close(() => resolve(port))
    })
  })
}

export class PostgresServer {
  readonly dir: string
  readonly port: number
  readonly #process: ChildProcess
  #log = ''
  #databases = 0

  private constructor(dir: string, port: number, child: ChildProcess) {
    this.dir = dir
    this.port = port
    this.#process = child
    child.stderr?.on('data', (chunk: Buffer) => { this.#log = (this.#log + chunk.toString()).slice(-8_000) })
  }

  /**
   * initdb + start; resolves once the server accepts connections. A test server runs without fsync (its data
   * dies with the test); `durable: true` keeps PostgreSQL's defaults (fsync, full page writes), for benchmarks.
   */
  static async start(options: { readonly durable?: boolean } = {}): Promise<PostgresServer> {
    const bin = postgresBinDir()
    if (bin === undefined) throw new Error(`${POSTGRES_MISSING} (STRATA_REQUIRE_POSTGRES=1 requires it)`)
    const dir = mkdtempSync(path.join(os.tmpdir(), 'strata-pg-'))
    const dataDir = path.join(dir, 'data')
    if (isRoot()) {
      const { uid, gid } = postgresUid()
      chownSync(dir, uid, gid)
    }
    const [initdb, initArgs] = asServerUser(path.join(bin, 'initdb'),
      ['-D', dataDir, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C'])
    const init = spawnSync(initdb, initArgs, { encoding: 'utf8' })
    if (init.status !== 0) {
      rmSync(dir, { recursive: true, force: true })
      throw new Error(`initdb failed (${init.status}): ${init.stderr || init.stdout}`)
    }
    const port = await freePort()
    const [postgres, args] = asServerUser(path.join(bin, 'postgres'), [
      '-D', dataDir, '-k', dir, '-p', String(port), '-c', 'listen_addresses=127.0.0.1',
      '-c', 'shared_buffers=32MB', '-c', 'max_connections=50',
      ...(options.durable === true ? [] : ['-c', 'fsync=off', '-c', 'full_page_writes=off']),
    ])
    const child = spawn(postgres, args, { stdio: ['ignore', 'ignore', 'pipe'] })
    const server = new PostgresServer(dir, port, child)
    // Should the test process exit without afterAll (an uncaught error), the server must not outlive it.
    const onExit = (): void => {
      const pid = server.#postmasterPid()
      if (pid !== undefined) try { process.kill(pid, 'SIGQUIT') } catch { /* gone already */ }
    }
    process.once('exit', onExit)
    child.once('exit', () => process.off('exit', onExit))
    const deadline = Date.now() + START_TIMEOUT_MS
    for (;;) {
      if (child.exitCode !== null) throw new Error(`postgres exited (${child.exitCode}): ${server.#log}`)
      const client = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' })
      try {
        await client.connect()
        await client.end()
        return server
      } catch (error) {
        await client.end().catch(() => undefined)
        if (Date.now() > deadline) {
          await server.stop()
          throw new Error(`postgres did not accept connections within ${START_TIMEOUT_MS} ms: ${(error as Error).message}\n${server.#log}`)
        }
        await new Promise((resolve) => setTimeout(resolve, POLL_MS))
      }
    }
  }

  /** A URL for `database`. */
  url(database = 'postgres'): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${database}`
  }

  /** Creates a fresh database and returns its URL. */
  async createDatabase(prefix = 'strata'): Promise<string> {
    const name = `${prefix}_${process.pid}_${this.#databases++}`
    await this.query(`CREATE DATABASE ${name}`)
    return this.url(name)
  }

  /** One statement on `database` (default: the maintenance database) through a short-lived connection. */
  async query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values: unknown[] = [], url = this.url()): Promise<pg.QueryResult<R>> {
    const client = new pg.Client({ connectionString: url })
    await client.connect()
    try {
      return await client.query<R>(text, values)
    } finally {
      await client.end()
    }
  }

  /** The postmaster's pid, from the first line of postmaster.pid. */
  #postmasterPid(): number | undefined {
    try {
      const pid = Number(readFileSync(path.join(this.dir, 'data', 'postmaster.pid'), 'utf8').split('\n')[0])
      return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined
    } catch {
      return undefined
    }
  }

  /** Fast shutdown (SIGINT) by pid, then the directory goes. */
  async stop(): Promise<void> {
    const child = this.#process
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve))
      // The postmaster's own pid (runuser forks it as a child): SIGINT asks it for a fast shutdown.
      const pid = this.#postmasterPid()
      if (pid !== undefined) process.kill(pid, 'SIGINT')
      else child.kill('SIGINT')
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS)
      await exited
      clearTimeout(timer)
    }
    rmSync(this.dir, { recursive: true, force: true })
  }
}
