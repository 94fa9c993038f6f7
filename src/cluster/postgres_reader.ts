/**
 * The read-only PostgreSQL store: a reader of a database some writer (PostgresStore) commits to. It takes no
 * writer epoch and writes nothing to the database; it keeps a replica of its own in a node-local cache
 * directory, brought to the database's head at open exactly as the writer's is (replayed from the commit log,
 * or rebuilt from the tables), and it reads that replica as an LMDB snapshot, like `Runtime.open({ dataDir,
 * readOnly: true })`: every read is of one committed cycle until the snapshot moves.
 *
 * Moving on is two steps: `catchUp()` replays the log rows after the replica's commit count, all read in one
 * REPEATABLE READ transaction whose head row is the target, so that only whole committed rows are applied, in
 * order, and the replica ends equal to one committed head (each row's root checked against the log's, the end
 * against the head's); then `refresh()` moves the snapshot to the replica's new last commit. A writer
 * committing meanwhile is simply not seen until the next catch-up. The snapshot pins the replica's pages, so the
 * reader's reads are untouched by the replay under them.
 *
 * The cache directory is never a writer's: its default is the writer's default name plus `-read-N`, taking
 * the first of READER_CACHE_SLOTS_MAX slots whose lock is free, so that a CLI read beside `strata serve` (which
 * holds a reader of its own) gets a slot of its own and a later one reuses it. An explicit cacheDir is locked
 * the same way (a second process on it fails LOCKED).
 */
import path from 'node:path'
import type pg from 'pg'
import { StrataError, describeValue } from '../errors.js'
import type { CodeId } from '../message/index.js'
import {
  LmdbStore, STORE_MAILBOX_SIZE_MAX_DEFAULT, STORE_MAILBOX_SIZE_MAX_LIMIT, StoreErrorCode, type CommitBatch,
  type Store, type StoreHead, type StoreOpenOptions, type WriterLock,
} from '../store/index.js'
import { ClusterErrorCode } from './errors.js'
import {
  CONNECT_TIMEOUT_MS, QUERY_TIMEOUT_MS, dbError, lockCacheDir as lockOwnCacheDir, readHead, replay, sameRoot, step, syncCodes, syncReplica,
  type ReplicaSync,
} from './postgres_store.js'
import { ReplicaReads } from './replica_reads.js'
import { checkSchema } from './schema.js'
import { checkedDatabaseUrl, defaultCacheDir, type DatabaseUrl } from './url.js'

/**
 * Default reader cache directories per database on one machine: one per reading process at a time (a server's
 * read view, a few CLI reads beside it). Past this many live readers, a default open fails LOCKED; pass
 * cacheDir to run more.
 */
export const READER_CACHE_SLOTS_MAX = 16

export interface PostgresReaderOptions extends StoreOpenOptions {
  /** postgres:// or postgresql:// URL of a database a writer has created (nothing is created). */
  readonly url: string
  /**
   * The node-local directory of this reader's replica (created if absent; never a writer's). Default: the
   * writer's default name plus `-read-N`, the first slot not held by a live reader.
   */
  readonly cacheDir?: string
}

export interface PostgresReaderDiagnostics {
  readonly cacheDir: string
  readonly replicaDir: string
  /** How the open found the replica. */
  readonly replica: ReplicaSync
  /** Log rows replayed at open and by every catch-up since. */
  readonly replayed: number
  readonly rebuildReason: string | undefined
}

export class PostgresReader extends ReplicaReads implements Store {
  readonly kind = 'postgres' as const
  readonly readOnly = true
  readonly #client: pg.Client
  readonly #url: DatabaseUrl
  readonly #cacheDir: string
  readonly #lock: WriterLock
  /** The replica as written by replay (never read from outside catchUp). */
  readonly #replica: LmdbStore
  /** The same directory read as a snapshot: every read goes here. */
  readonly #view: LmdbStore
  #closed = false
  #catching: Promise<StoreHead> | undefined
  #connectionError: Error | undefined
  #replayed: number
  readonly #opened: { readonly replica: ReplicaSync; readonly rebuildReason: string | undefined }

  private constructor(init: {
    client: pg.Client; url: DatabaseUrl; cacheDir: string; lock: WriterLock; replica: LmdbStore; view: LmdbStore
    how: ReplicaSync; replayed: number; rebuildReason: string | undefined
  }) {
    super()
    this.#client = init.client
    this.#url = init.url
    this.#cacheDir = init.cacheDir
    this.#lock = init.lock
    this.#replica = init.replica
    this.#view = init.view
    this.#replayed = init.replayed
    this.#opened = { replica: init.how, rebuildReason: init.rebuildReason }
    init.client.on('error', (error) => { this.#connectionError = error })
  }

  /** Connects, checks the schema (creating nothing), locks a cache directory and brings its replica to the head. */
  static async open(options: PostgresReaderOptions): Promise<PostgresReader> {
    if (typeof options !== 'object' || options === null) throw invalid(`options must be an object, got ${describeValue(options)}`)
    const url = checkedDatabaseUrl(options.url)
    if (typeof options.verify !== 'function') throw invalid(`verify must be a function, got ${describeValue(options.verify)}`)
    if (options.cacheDir !== undefined && (typeof options.cacheDir !== 'string' || options.cacheDir.length === 0)) {
      throw invalid(`cacheDir must be a non-empty path, got ${describeValue(options.cacheDir)}`)
    }
    const mailboxSizeMax = options.mailboxSizeMax ?? STORE_MAILBOX_SIZE_MAX_DEFAULT
    if (!Number.isSafeInteger(mailboxSizeMax) || mailboxSizeMax < 1 || mailboxSizeMax > STORE_MAILBOX_SIZE_MAX_LIMIT) {
      throw invalid(`mailboxSizeMax must be an integer in 1..${STORE_MAILBOX_SIZE_MAX_LIMIT}, got ${describeValue(mailboxSizeMax)}`)
    }
    const { default: driver } = await import('pg')
    const client = new driver.Client({
      connectionString: url.url, connectionTimeoutMillis: CONNECT_TIMEOUT_MS, query_timeout: QUERY_TIMEOUT_MS, keepAlive: true,
    })
    const early = (): void => undefined
    client.on('error', early)
    let lock: WriterLock | undefined
    let replica: LmdbStore | undefined
    try {
      try {
        await client.connect()
      } catch (error) {
        throw dbError(url, 'connect', error)
      }
      const info = await step(url, 'check the schema', () => checkSchema(client, url.where))
      const locked = options.cacheDir !== undefined
        ? lockCacheDir(path.resolve(options.cacheDir))
        : lockDefaultCacheDir(defaultCacheDir(url, info.systemId, info.databaseId))
      lock = locked.lock
      const { cacheDir } = locked
      const openReplica = (dir: string): Promise<LmdbStore> => LmdbStore.open({ dataDir: dir, verify: options.verify, mailboxSizeMax })
      const synced = await syncReplica(client, url, cacheDir, openReplica)
      replica = synced.replica
      const view = await LmdbStore.open({ dataDir: replica.dataDir, verify: options.verify, mailboxSizeMax, readOnly: true, snapshot: true })
      client.off('error', early)
      return new PostgresReader({
        client, url, cacheDir, lock, replica, view, how: synced.how, replayed: synced.replayed, rebuildReason: synced.rebuildReason,
      })
    } catch (error) {
      await replica?.close().catch(() => undefined)
      lock?.release()
      await client.end().catch(() => undefined)
      throw error
    }
  }

  get closed(): boolean {
    return this.#closed
  }

  /** The replica's LMDB directory. */
  get dataDir(): string {
    return this.#view.dataDir
  }

  /** host:port/database, without credentials. */
  get where(): string {
    return this.#url.where
  }

  diagnostics(): PostgresReaderDiagnostics {
    return { cacheDir: this.#cacheDir, replicaDir: this.#replica.dataDir, replayed: this.#replayed, ...this.#opened }
  }

  /**
   * Brings the replica to the database's current head: the log rows after the replica's commit count, read in
   * one REPEATABLE READ snapshot with the head they lead to, applied in order, each checked against the log's
   * root, the result against the head's. The reads stay on their snapshot until `refresh`. One at a time: a
   * call while one runs gets the running one's result.
   */
  catchUp(): Promise<StoreHead> {
    this.#open()
    this.#catching ??= this.#catchUp().finally(() => { this.#catching = undefined })
    return this.#catching
  }

  async #catchUp(): Promise<StoreHead> {
    const client = this.#client
    const url = this.#url
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY')
    } catch (error) {
      throw dbError(url, 'begin a catch-up snapshot', this.#connectionError ?? error)
    }
    try {
      const head = await step(url, 'read the head', () => readHead(client))
      const local = this.#replica.head()
      if (local.commitCount > head.commitCount) {
        throw replayError(`the replica of ${url.where} is at commit ${local.commitCount}, ahead of the database's ${head.commitCount} (was the database replaced?)`)
      }
      if (local.commitCount < head.commitCount) {
        // Codes first: a replayed cycle may create programs of codes uploaded since.
        await syncCodes(client, url, this.#replica)
        const result = await replay(client, url, this.#replica, local.commitCount, head.commitCount)
        this.#replayed += result.replayed
        if (result.failure !== undefined) throw replayError(`could not replay the commit log of ${url.where}: ${result.failure}`)
      }
      const now = this.#replica.head()
      if (now.commitCount !== head.commitCount || now.cycle !== head.cycle || !sameRoot(now.stateRoot, head.stateRoot)) {
        throw replayError(`the replica of ${url.where} is at commit ${now.commitCount}, cycle ${now.cycle}, with another root than the database's head`)
      }
      await client.query('COMMIT')
      return now
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined)
      if (error instanceof StrataError) throw error
      throw dbError(url, 'catch up with the commit log', this.#connectionError ?? error)
    }
  }

  /** Moves the snapshot to the replica's last commit (what the last `catchUp` reached) and returns its head. */
  refresh(): StoreHead {
    this.#open()
    return this.#view.refresh()
  }

  // ---- reads: the snapshot -------------------------------------------------------------------------------------

  protected override reads(): Store {
    this.#open()
    return this.#view
  }

  // ---- writes: refused -----------------------------------------------------------------------------------------

  async putCode(codeId: CodeId, _blob: Uint8Array): Promise<void> {
    this.#open()
    throw this.#readOnlyError(`store code ${codeId}`)
  }

  async commit(batch: CommitBatch): Promise<StoreHead> {
    this.#open()
    throw this.#readOnlyError(`commit cycle ${describeValue(batch?.cycle)}`)
  }

  async close(): Promise<void> {
    if (this.#closed) return
    await this.#catching?.catch(() => undefined)
    this.#closed = true
    try {
      await this.#view.close()
      await this.#replica.close()
    } finally {
      this.#lock.release()
      await this.#client.end().catch(() => undefined)
    }
  }

  #readOnlyError(action: string): StrataError {
    return new StrataError(StoreErrorCode.READ_ONLY, `cannot ${action}: the store on ${this.#url.where} was opened read-only`)
  }

  #open(): void {
    if (this.#closed) throw new StrataError(StoreErrorCode.CLOSED, `the read-only store on ${this.#url.where} is closed`)
  }
}

/** Opens a read-only PostgreSQL store. See PostgresReader.open. */
export function openPostgresReader(options: PostgresReaderOptions): Promise<PostgresReader> {
  return PostgresReader.open(options)
}

/** Creates `cacheDir` if absent and takes its lock (postgres_store.ts: lockCacheDir). */
function lockCacheDir(cacheDir: string): { cacheDir: string; lock: WriterLock } {
  return lockOwnCacheDir(cacheDir)
}

/** The first free reader slot beside the writer's default cache directory `base`. */
function lockDefaultCacheDir(base: string): { cacheDir: string; lock: WriterLock } {
  for (let slot = 1; slot <= READER_CACHE_SLOTS_MAX; slot += 1) {
    try {
      return lockCacheDir(`${base}-read-${slot}`)
    } catch (error) {
      if ((error as StrataError).code !== StoreErrorCode.LOCKED) throw error
    }
  }
  throw new StrataError(StoreErrorCode.LOCKED,
    `all ${READER_CACHE_SLOTS_MAX} default reader cache directories (${base}-read-N) are held by live readers; pass cacheDir`,
    { cacheDir: base })
}

function replayError(message: string): StrataError {
  return new StrataError(ClusterErrorCode.REPLAY, message)
}

function invalid(message: string): StrataError {
  return new StrataError(ClusterErrorCode.INVALID_ARGUMENT, message)
}
