/**
 * The PostgreSQL store: durable state lives in one PostgreSQL database (the source of truth, shared by the nodes
 * of a later cluster); every read is served synchronously by a local replica, an ordinary LmdbStore in a
 * node-local cache directory, kept at the database's last commit.
 *
 * ## Commit: the database first, then the replica
 *
 *   1. the batch is validated (prepareBatch, as every store does: a bad batch changes nothing), encoded for the
 *      log, and decoded again: from here on the store works on its own copy, never on the caller's buffers;
 *   2. one PostgreSQL transaction: lock the writer row and check its epoch is the one this store took at open
 *      (else FENCED: a newer writer exists; nothing is written), check the head's commit count is the replica's
 *      (else CONFLICT), write the batch into the materialized tables (materialize.ts: multi-row statements),
 *      update the head, append the encoded batch to the commit log under its commit number; COMMIT;
 *   3. only then the same batch is committed to the replica.
 *
 * A crash between 2 and 3 leaves the replica one commit behind: the next open replays that log row. A failure
 * of 3 (the local disk) leaves the store unusable for commits until reopened, which repairs the replica; the
 * batch itself is committed (as with an fsync failure after an LMDB commit, the error says so).
 *
 * ## Open: schema, epoch, replica
 *
 * The schema is created if absent and its version checked (schema.ts). The cache directory's lock comes next
 * (a second process on the same cache fails LOCKED and fences nobody). The writer role is taken by bumping the
 * epoch (`UPDATE strata_writer SET epoch = epoch + 1`): from that statement on, a previous writer that is paused
 * or partitioned fails FENCED on its next commit, so one writer per database is enforced by the database itself,
 * not by timing. The replica is then brought to the database's head: equal and with the same root, nothing to do;
 * behind, with its root equal to the log's at its commit count, the missing log rows are replayed; otherwise
 * (ahead, another root, log rows missing or unreadable, a replica that does not open) it is rebuilt from the
 * materialized tables into a fresh directory, which then replaces it (rename), so a crash mid-rebuild leaves
 * either the old replica or none, and the next open rebuilds again.
 *
 * The cache directory holds the replica (`replica/`, with LMDB's own writer lock) and a writer lock of its own
 * (a second process on the same cache directory fails LOCKED before touching anything).
 */
import { lstatSync, mkdirSync, readdirSync, realpathSync, renameSync, rmSync, statSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type pg from 'pg'
import { printableName } from '../bytes.js'
import { StrataError, describeValue } from '../errors.js'
import type { CodeId } from '../message/index.js'
import {
  LmdbStore, STORE_MAILBOX_SIZE_MAX_DEFAULT, type InboxRequest, STORE_MAILBOX_SIZE_MAX_LIMIT, StoreErrorCode, acquireWriterLock, checkedCode, ioError, prepareBatch, type CommitBatch,
  type PlaneVerifier, type Store, type StoreHead, type StoreImageHead, type StoreOpenOptions, type WriterLock,
} from '../store/index.js'
import { CYCLE_LEASE_FILE_NAME, LeaseKeeper, takeCycleLease } from './cycle_lease.js'
import { ClusterErrorCode } from './errors.js'
import { imagePages } from './image.js'
import { readInbox, recordInbox, type InboxSettlement } from './inbox.js'
import { LOG_BATCH_SIZE_MAX_BYTES, decodeLogBatch, encodeLogBatch } from './log.js'
import { materialize } from './materialize.js'
import {
  LEASE_TERM_MS_DEFAULT, LEASE_TERM_MS_MAX, LEASE_TERM_MS_MIN, checkLease, limitIdleTransactions,
} from './lease.js'
import { ReplicaReads } from './replica_reads.js'
import { ensureSchema } from './schema.js'
import { checkedDatabaseUrl, defaultCacheDir, type DatabaseUrl } from './url.js'

/** Log rows fetched per round trip while a replica catches up (each at most LOG_BATCH_SIZE_MAX_BYTES). */
export const LOG_REPLAY_ROWS_PER_FETCH = 16
/** How long a connection attempt may take before open fails IO: a reachable server answers in milliseconds. */
export const CONNECT_TIMEOUT_MS = 10_000
/**
 * How long one statement may take before it fails IO (client side, so a server that stopped answering cannot hang
 * a cycle forever): the largest statement sends 1,024 chunks (~8 MiB of parameters) and a rebuild fetches pages
 * of ~4 MiB, a fraction of a second each here; a minute means the server or the network is gone.
 */
export const QUERY_TIMEOUT_MS = 60_000
/**
 * Commit log rows kept behind the head; older ones are deleted by each commit. A replica (a node's, a reader's,
 * the next coordinator's) that fell further behind is rebuilt from the tables instead of replayed, so this bounds
 * the log's size (at one commit every few ms, a minute or more of commits) without losing anything.
 */
export const LOG_KEEP_COMMITS_DEFAULT = 10_000
/** How often a waiting standby brings its replica to the database's head (see open). */
export const STANDBY_SYNC_MS = 1_000
/** The longest holder name (node id) stored with the epoch. */
export const HOLDER_SIZE_MAX_CHARS = 200
/** Replica directory inside the cache directory, and the name a rebuild writes to before it replaces it. */
const REPLICA_DIR_NAME = 'replica'
const REBUILD_DIR_NAME = 'replica.rebuild'

export interface PostgresStoreOptions extends StoreOpenOptions {
  /** postgres:// or postgresql:// URL of the database (created schema if absent). */
  readonly url: string
  /**
   * The node-local directory of the replica (created if absent). Default: under os.tmpdir(), named from a hash
   * of the URL (without password) and the database's identity.
   */
  readonly cacheDir?: string
  /** Who holds the writer epoch, stored with it (default `<hostname>:<pid>`). */
  readonly holder?: string
  /** fsync the replica's commits (default true). The database is durable either way; see docs/cluster.md. */
  readonly sync?: boolean
  /** The cycle lease's term in ms (default LEASE_TERM_MS_DEFAULT): a dead coordinator is replaced within it. */
  readonly leaseTermMs?: number
  /**
   * While another coordinator holds the cycle lease: wait, and open once it is free or expired (true), or fail
   * LEASE_HELD at once (false, the default).
   */
  readonly standby?: boolean
  /** Commit log rows kept behind the head (default LOG_KEEP_COMMITS_DEFAULT, at least 1). */
  readonly logKeepCommits?: number
}

/** How the open found the replica, for tests and operators. */
export type ReplicaSync = 'current' | 'replayed' | 'rebuilt'

export interface PostgresStoreDiagnostics {
  readonly cacheDir: string
  readonly replicaDir: string
  /** The writer epoch this store took. */
  readonly epoch: number
  /** The cycle lease's epoch (its tenure) this store holds. */
  readonly leaseEpoch: number
  readonly replica: ReplicaSync
  /** Log rows replayed at open. */
  readonly replayed: number
  /** Why the replica was rebuilt, if it was. */
  readonly rebuildReason: string | undefined
}

/** What open found, kept for diagnostics(). */
type OpenDiagnostics = Omit<PostgresStoreDiagnostics, 'cacheDir' | 'replicaDir' | 'epoch' | 'leaseEpoch'>

/** The database's head row. */
export interface DbHead {
  readonly cycle: number
  readonly stateRoot: Buffer | null
  readonly commitCount: number
  readonly queueHead: number
  readonly queueTail: number
}

export class PostgresStore extends ReplicaReads implements Store {
  readonly kind = 'postgres' as const
  readonly readOnly = false
  readonly #client: pg.Client
  readonly #url: DatabaseUrl
  readonly #epoch: number
  readonly #cacheDir: string
  readonly #lock: WriterLock
  readonly #mailboxSizeMax: number
  readonly #replica: LmdbStore
  /** Renews the cycle lease, which every transaction of this store fences. */
  readonly #keeper: LeaseKeeper
  readonly #logKeepCommits: number
  /** The database's head as of this store's last commit (queue cursors included, which prepareBatch needs). */
  #head: DbHead
  #closed = false
  #committing: Promise<unknown> | undefined
  /** Inbox requests settled since the last commit (takeInbox, settleInbox), recorded by the next one. */
  #settled: InboxSettlement[] = []
  /** Set when a commit's outcome left the replica out of step (see commit): commits are refused until reopened. */
  #broken: Error | undefined
  /** The connection failed outside a query (pg emits 'error'): the next statement fails, this says why. */
  #connectionError: Error | undefined
  readonly #diagnostics: OpenDiagnostics

  private constructor(init: {
    client: pg.Client; url: DatabaseUrl; epoch: number; cacheDir: string; lock: WriterLock; replica: LmdbStore; head: DbHead
    mailboxSizeMax: number; diagnostics: OpenDiagnostics; keeper: LeaseKeeper; logKeepCommits: number
  }) {
    super()
    this.#client = init.client
    this.#url = init.url
    this.#epoch = init.epoch
    this.#cacheDir = init.cacheDir
    this.#lock = init.lock
    this.#replica = init.replica
    this.#head = init.head
    this.#mailboxSizeMax = init.mailboxSizeMax
    this.#diagnostics = init.diagnostics
    this.#keeper = init.keeper
    this.#logKeepCommits = init.logKeepCommits
    init.client.on('error', (error) => { this.#connectionError = error })
  }

  /** Opens the database (creating the schema), takes the writer epoch and brings the replica to its head. */
  static async open(options: PostgresStoreOptions): Promise<PostgresStore> {
    if (typeof options !== 'object' || options === null) throw invalid(`options must be an object, got ${describeValue(options)}`)
    const url = checkedDatabaseUrl(options.url)
    if (typeof options.verify !== 'function') throw invalid(`verify must be a function, got ${describeValue(options.verify)}`)
    if (options.cacheDir !== undefined && (typeof options.cacheDir !== 'string' || options.cacheDir.length === 0)) {
      throw invalid(`cacheDir must be a non-empty path, got ${describeValue(options.cacheDir)}`)
    }
    const holder = options.holder ?? `${os.hostname()}:${process.pid}`
    if (typeof holder !== 'string' || holder.length === 0 || holder.length > HOLDER_SIZE_MAX_CHARS || !printableName(holder)) {
      throw invalid(`holder must be a string of 1..${HOLDER_SIZE_MAX_CHARS} printable characters, got ${describeValue(holder)}`)
    }
    if (options.sync !== undefined && typeof options.sync !== 'boolean') throw invalid(`sync must be a boolean, got ${describeValue(options.sync)}`)
    if (options.standby !== undefined && typeof options.standby !== 'boolean') throw invalid(`standby must be a boolean, got ${describeValue(options.standby)}`)
    const logKeepCommits = options.logKeepCommits ?? LOG_KEEP_COMMITS_DEFAULT
    if (!Number.isSafeInteger(logKeepCommits) || logKeepCommits < 1) {
      throw invalid(`logKeepCommits must be a positive integer, got ${describeValue(logKeepCommits)}`)
    }
    const termMs = options.leaseTermMs ?? LEASE_TERM_MS_DEFAULT
    if (!Number.isSafeInteger(termMs) || termMs < LEASE_TERM_MS_MIN || termMs > LEASE_TERM_MS_MAX) {
      throw invalid(`leaseTermMs must be an integer in ${LEASE_TERM_MS_MIN}..${LEASE_TERM_MS_MAX}, got ${describeValue(termMs)}`)
    }
    const mailboxSizeMax = options.mailboxSizeMax ?? STORE_MAILBOX_SIZE_MAX_DEFAULT
    if (!Number.isSafeInteger(mailboxSizeMax) || mailboxSizeMax < 1 || mailboxSizeMax > STORE_MAILBOX_SIZE_MAX_LIMIT) {
      throw invalid(`mailboxSizeMax must be an integer in 1..${STORE_MAILBOX_SIZE_MAX_LIMIT}, got ${describeValue(mailboxSizeMax)}`)
    }

    // The driver loads on first use (~35 ms here), so that importing Strata costs nothing for other stores.
    const { default: driver } = await import('pg')
    const newClient = (): pg.Client => new driver.Client({
      connectionString: url.url, connectionTimeoutMillis: CONNECT_TIMEOUT_MS, query_timeout: QUERY_TIMEOUT_MS, keepAlive: true,
    })
    const client = newClient()
    // Until the store owns it: an 'error' event with no listener would crash the process.
    const early = (): void => undefined
    client.on('error', early)
    let lock: WriterLock | undefined
    let replica: LmdbStore | undefined
    let keeper: LeaseKeeper | undefined
    const renewals = newClient()
    renewals.on('error', early)
    try {
      try {
        await client.connect()
      } catch (error) {
        throw dbError(url, 'connect', error)
      }
      const info = await step(url, 'create or check the schema', () => ensureSchema(client))
      // The cache directory's lock before the lease and the epoch: a second process on this machine's cache fails
      // LOCKED without fencing the first.
      const locked = lockCacheDir(path.resolve(options.cacheDir ?? defaultCacheDir(url, info.systemId, info.databaseId)))
      lock = locked.lock
      const { cacheDir } = locked
      // The coordinator's role: the cycle lease (waited for by a standby), renewed on a connection of its own and
      // fenced by every transaction of this store. A session left idle inside a transaction (a paused process)
      // is ended by the server after the term, so it cannot hold the lease row from a successor.
      await step(url, 'connect', () => renewals.connect())
      const sync = options.sync ?? true
      const openReplica = (dir: string): Promise<LmdbStore> =>
        LmdbStore.open({ dataDir: dir, verify: options.verify, mailboxSizeMax, sync })
      // A standby keeps its replica near the database's head while it waits (at most STANDBY_SYNC_MS behind), so
      // that taking over replays the last few commits, not everything committed since it started.
      let lastSync = Number.NEGATIVE_INFINITY
      const whileWaiting = async (): Promise<void> => {
        if (Date.now() - lastSync < STANDBY_SYNC_MS) return
        await (await syncReplica(client, url, cacheDir, openReplica)).replica.close()
        lastSync = Date.now()
      }
      const lease = await takeCycleLease(client, url, { cacheDir, holder, termMs, standby: options.standby ?? false, whileWaiting })
      keeper = new LeaseKeeper(renewals, url, lease, termMs)
      await step(url, 'limit idle transactions', () => limitIdleTransactions(client, termMs))
      const epoch = await step(url, 'take the writer epoch', async () => {
        const session = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid
        // The writer row is locked by a predecessor's commit in flight. That commit checked a lease which has
        // expired since (this store holds it now), so it may finish or fail, but not wait forever: a predecessor
        // paused while the server still reads its statement is not idle (idle_in_transaction_session_timeout
        // does not fire) and would hold the row for as long as it stays paused. So every term the bump still
        // waits, the sessions it waits for are ended.
        const unblock = setInterval(() => {
          renewals.query('SELECT pg_terminate_backend(b) FROM unnest(pg_blocking_pids($1)) AS b', [session]).catch(() => undefined)
        }, termMs)
        try {
          const result = await client.query<{ epoch: string }>(
            'UPDATE strata_writer SET epoch = epoch + 1, holder = $1, taken_at = now() WHERE id = 1 RETURNING epoch', [holder])
          return Number(result.rows[0]!.epoch)
        } finally {
          clearInterval(unblock)
        }
      })
      const synced = await syncReplica(client, url, cacheDir, openReplica)
      replica = synced.replica
      const head = synced.head
      client.off('error', early)
      return new PostgresStore({
        client, url, epoch, cacheDir, lock, replica, head, mailboxSizeMax, keeper, logKeepCommits,
        diagnostics: { replica: synced.how, replayed: synced.replayed, rebuildReason: synced.rebuildReason },
      })
    } catch (error) {
      await replica?.close().catch(() => undefined)
      if (keeper !== undefined) await keeper.stop()
      else await renewals.end().catch(() => undefined)
      lock?.release()
      await client.end().catch(() => undefined)
      throw error
    }
  }

  get closed(): boolean {
    return this.#closed
  }

  /** The replica's LMDB directory: stream workers read committed memory there. */
  get dataDir(): string {
    return this.#replica.dataDir
  }

  /** The writer epoch this store holds (it commits only while the database's epoch is still this one). */
  get epoch(): number {
    return this.#epoch
  }

  /** host:port/database, without credentials. */
  get where(): string {
    return this.#url.where
  }

  diagnostics(): PostgresStoreDiagnostics {
    return { cacheDir: this.#cacheDir, replicaDir: this.#replica.dataDir, epoch: this.#epoch, leaseEpoch: this.#keeper.lease.epoch, ...this.#diagnostics }
  }

  /** Why this store can commit no more (its cycle lease is lost: FENCED), or undefined while it can. */
  get fenced(): Error | undefined {
    return this.#keeper.lost
  }

  // ---- reads: the replica ---------------------------------------------------------------------------------------

  protected override reads(): Store {
    this.#open()
    return this.#replica
  }

  refresh(): StoreHead {
    return this.head()
  }

  // ---- writes: the database, then the replica -------------------------------------------------------------------

  /** Stores a code in the database (fenced like a commit; idempotent), then in the replica. */
  async putCode(codeId: CodeId, blob: Uint8Array): Promise<void> {
    this.#writable()
    // The same checks as every store (id, size, hash) before anything is sent.
    checkedCode(codeId, blob)
    if (this.#replica.hasCode(codeId)) return
    await this.#transaction(`store code ${codeId}`, async () => {
      await this.#checkEpoch()
      await this.#client.query('INSERT INTO strata_codes (code_id, blob) VALUES ($1, $2) ON CONFLICT (code_id) DO NOTHING',
        [Buffer.from(codeId, 'hex'), Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength)])
    })
    // A crash here leaves the code in the database only: the next open copies it to the replica (syncCodes).
    await this.#replica.putCode(codeId, blob)
  }

  /** Client sends waiting in the inbox (see Store.takeInbox and inbox.ts). */
  async takeInbox(max: number): Promise<InboxRequest[]> {
    this.#writable()
    if (this.#committing !== undefined) throw new StrataError(StoreErrorCode.BUSY, 'a commit is in flight; take the inbox between commits')
    if (!Number.isSafeInteger(max) || max < 1) throw invalid(`max must be a positive integer, got ${describeValue(max)}`)
    const lost = this.#keeper.lost
    if (lost !== undefined) throw lost
    return readInbox(this.#client, this.#url, max, this.#settled)
  }

  settleInbox(seq: number, outcome: { readonly messageId: string } | { readonly refused: string }): void {
    this.#writable()
    this.#settled.push({
      seq, messageId: 'messageId' in outcome ? outcome.messageId : null, refused: 'refused' in outcome ? outcome.refused : null,
    })
  }

  async commit(batch: CommitBatch): Promise<StoreHead> {
    this.#writable()
    if (this.#committing !== undefined) {
      throw new StrataError(StoreErrorCode.BUSY, 'a commit is in flight; await it before committing the next batch')
    }
    if (this.#broken !== undefined) {
      throw new StrataError(ClusterErrorCode.IO,
        `the replica of ${this.#url.where} is out of step since an earlier failure (${this.#broken.message}); reopen the store to repair it`)
    }
    // Validation first (INVALID_ARGUMENT, CYCLE_ORDER): nothing is sent for a bad batch.
    prepareBatch(batch, this.#head)
    const run = this.#commit(batch)
    this.#committing = run
    try {
      return await run
    } finally {
      this.#committing = undefined
    }
  }

  async #commit(batch: CommitBatch): Promise<StoreHead> {
    const encoded = encodeLogBatch(batch)
    const own = decodeLogBatch(encoded, this.#head.commitCount + 1)
    const p = prepareBatch(own, this.#head)
    const previous = this.#head
    const next: DbHead = {
      cycle: p.cycle, stateRoot: Buffer.from(p.stateRoot), commitCount: p.commitNumber,
      queueHead: previous.queueHead + p.consumed, queueTail: previous.queueTail + p.appended.length,
    }
    const settled = this.#settled
    await this.#transaction(`commit cycle ${p.cycle}`, async () => {
      const checked = await this.#checkEpoch()
      if (checked.commitCount !== previous.commitCount) {
        throw new StrataError(ClusterErrorCode.CONFLICT,
          `the database ${this.#url.where} is at commit ${checked.commitCount}, this store's replica at ${previous.commitCount}; nothing was written`,
          { databaseCommit: checked.commitCount, replicaCommit: previous.commitCount })
      }
      await materialize(this.#client, p, previous.queueHead, previous.queueTail, this.#mailboxSizeMax)
      await recordInbox(this.#client, next.commitCount, settled)
      await this.#client.query(`WITH h AS (
          UPDATE strata_head SET cycle = $1, state_root = $2, commit_count = $3, queue_head = $4, queue_tail = $5 WHERE id = 1
        ), pruned AS (DELETE FROM strata_log WHERE commit_number <= $7)
        INSERT INTO strata_log (commit_number, cycle, state_root, batch) VALUES ($3, $1, $2, $6)`,
      [next.cycle, next.stateRoot, next.commitCount, next.queueHead, next.queueTail, encoded.length <= LOG_BATCH_SIZE_MAX_BYTES ? encoded : null,
        next.commitCount - this.#logKeepCommits])
    })
    this.#head = next
    this.#settled = this.#settled.slice(settled.length)
    try {
      return await this.#replica.commit(own)
    } catch (error) {
      this.#broken = error as Error
      throw new StrataError(ClusterErrorCode.IO,
        `cycle ${p.cycle} is committed to ${this.#url.where}, but the local replica in ${this.#replica.dataDir} failed to apply it (${(error as Error).message}); reopen the store to repair the replica`,
        { cycle: p.cycle })
    }
  }

  /**
   * Locks the writer row for this transaction and checks that the epoch is still this store's (FENCED if not);
   * returns the database's commit count, read under the same lock.
   */
  async #checkEpoch(): Promise<{ commitCount: number }> {
    const lost = this.#keeper.lost
    if (lost !== undefined) throw lost
    // The lease must be live and this store's. Read without a row lock: a lock would hold this store's own
    // renewals (an UPDATE of that row) until the commit ends, and a long commit would then cost the lease. A
    // successor cannot commit meanwhile anyway: it must first bump the writer epoch, whose row this transaction
    // locks next, so it waits for this commit and then reads its head.
    await checkLease(this.#client, this.#keeper.lease)
    const result = await this.#client.query<{ epoch: string; commit_count: string }>(
      `SELECT w.epoch, h.commit_count FROM strata_writer w, strata_head h WHERE w.id = 1 AND h.id = 1 FOR UPDATE OF w`)
    const row = result.rows[0]!
    const epoch = Number(row.epoch)
    if (epoch !== this.#epoch) {
      throw new StrataError(ClusterErrorCode.FENCED,
        `this store's writer epoch ${this.#epoch} on ${this.#url.where} was superseded by epoch ${epoch} (another writer opened the database); nothing was written`,
        { epoch: this.#epoch, current: epoch })
    }
    return { commitCount: Number(row.commit_count) }
  }

  /**
   * Runs `body` in one transaction: COMMIT if it returns, ROLLBACK if it throws. Typed errors pass as they are;
   * anything else is IO naming the action and the database. A failure of COMMIT itself leaves the outcome
   * unknown (the connection may have dropped after the server committed): the store then refuses further commits
   * until reopened, which finds out from the database's head.
   */
  async #transaction(action: string, body: () => Promise<void>): Promise<void> {
    const client = this.#client
    try {
      await client.query('BEGIN')
    } catch (error) {
      throw dbError(this.#url, action, this.#connectionError ?? error)
    }
    try {
      await body()
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined)
      if (error instanceof StrataError) throw error
      throw dbError(this.#url, action, this.#connectionError ?? error)
    }
    try {
      await client.query('COMMIT')
    } catch (error) {
      const failure = dbError(this.#url, `${action} (the outcome of COMMIT is unknown)`, this.#connectionError ?? error)
      this.#broken = failure
      throw failure
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return
    await this.#committing?.catch(() => undefined)
    this.#closed = true
    try {
      await this.#replica.close()
    } finally {
      await this.#keeper.stop()
      this.#lock.release()
      await this.#client.end().catch(() => undefined)
    }
  }

  #open(): void {
    if (this.#closed) throw new StrataError(StoreErrorCode.CLOSED, `the store on ${this.#url.where} is closed`)
  }

  #writable(): void {
    this.#open()
  }
}

/**
 * Creates `cacheDir` if absent (only its owner may enter it) and takes its lock (LOCKED if a live process holds
 * it); returns the directory's real path, which every later use of it must take (never the given path again).
 * UNSAFE_CACHE if another user could change what lies there, now or after this check: the default lies in the
 * shared temp directory under a predictable name, and a local user who planted it could feed this process a forged
 * replica or a forged record of the last coordinator (the restart shortcut of the cycle lease). So:
 *
 *   - the directory must be this user's and not writable by group or others;
 *   - no component of the given path may be a symlink of another user (root's aside): they could point it
 *     elsewhere once checked;
 *   - every directory above the real path must be this user's or root's, and not writable by group or others
 *     unless sticky (as /tmp): otherwise another user may rename the cache directory away and put theirs there;
 *   - what lies inside (the replica, its files, the `cycle-lease` record) must be this user's: created while the
 *     directory was still open to others, it could be theirs.
 */
export function lockCacheDir(cacheDir: string): { readonly cacheDir: string; readonly lock: WriterLock } {
  let real: string
  try {
    mkdirSync(cacheDir, { recursive: true, mode: 0o700 })
    real = realpathSync(cacheDir)
    if (!statSync(real).isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' })
  } catch (error) {
    throw ioError(cacheDir, 'create the replica cache directory', error)
  }
  const uid = typeof process.getuid === 'function' ? process.getuid() : undefined
  if (uid !== undefined) {
    const why = unsafeCacheDir(path.resolve(cacheDir), real, uid)
    if (why !== undefined) {
      throw new StrataError(ClusterErrorCode.UNSAFE_CACHE,
        `the replica cache directory ${cacheDir} is unsafe: ${why}; another user could plant a replica there. `
        + 'Use a directory of your own (cacheDir, --cache) in directories only you or root may change, or chmod go-w it',
        { cacheDir })
    }
  }
  return { cacheDir: real, lock: acquireWriterLock(real) }
}

/** Why another user than `uid` could change the cache directory (see lockCacheDir), or undefined. */
function unsafeCacheDir(given: string, real: string, uid: number): string | undefined {
  const writable = (mode: number): boolean => (mode & 0o022) !== 0
  const parts = given.split(path.sep).filter((part) => part.length > 0)
  for (let i = 1; i <= parts.length; i += 1) {
    const prefix = path.join(path.parse(given).root, ...parts.slice(0, i))
    const stat = lstatSync(prefix, { throwIfNoEntry: false })
    if (stat?.isSymbolicLink() === true && stat.uid !== uid && stat.uid !== 0) return `${prefix} is a symlink of user ${stat.uid}`
  }
  const own = statSync(real)
  if (own.uid !== uid) return `${real} belongs to user ${own.uid}, not to this process's user ${uid}`
  if (writable(own.mode)) return `${real} may be written by other users (mode ${(own.mode & 0o777).toString(8)})`
  for (let dir = path.dirname(real); ; dir = path.dirname(dir)) {
    const stat = statSync(dir)
    if (stat.uid !== uid && stat.uid !== 0) return `its parent ${dir} belongs to user ${stat.uid}`
    if (writable(stat.mode) && (stat.mode & 0o1000) === 0) return `its parent ${dir} may be written by other users and is not sticky (mode ${(stat.mode & 0o7777).toString(8)})`
    if (path.dirname(dir) === dir) break
  }
  const replicaDir = path.join(real, REPLICA_DIR_NAME)
  const inside = [path.join(real, CYCLE_LEASE_FILE_NAME), replicaDir]
  try {
    if (lstatSync(replicaDir, { throwIfNoEntry: false })?.isDirectory() === true) inside.push(...readdirSync(replicaDir).map((name) => path.join(replicaDir, name)))
  } catch {
    // unreadable: the replica's open reports it
  }
  for (const entry of inside) {
    const stat = lstatSync(entry, { throwIfNoEntry: false })
    if (stat === undefined) continue
    // Behind this directory, which others cannot enter, only who owns them matters (LMDB's files follow the umask).
    if (stat.uid !== uid) return `${entry} belongs to user ${stat.uid}`
  }
  return undefined
}

/** Opens the PostgreSQL store. See PostgresStore.open. */
export function openPostgresStore(options: PostgresStoreOptions): Promise<PostgresStore> {
  return PostgresStore.open(options)
}

// ---- bringing the replica to the database's head (shared with postgres_reader.ts) ---------------------------------

export interface Synced {
  readonly replica: LmdbStore
  readonly head: DbHead
  readonly how: ReplicaSync
  readonly replayed: number
  readonly rebuildReason: string | undefined
}

export async function syncReplica(
  client: pg.Client, url: DatabaseUrl, cacheDir: string, openReplica: (dir: string) => Promise<LmdbStore>,
): Promise<Synced> {
  const replicaDir = path.join(cacheDir, REPLICA_DIR_NAME)
  // A rebuild that did not finish leaves its directory: it never replaced anything, so it goes.
  rmSync(path.join(cacheDir, REBUILD_DIR_NAME), { recursive: true, force: true })
  const head = await step(url, 'read the head', () => readHead(client))
  let replica: LmdbStore | undefined
  let reason: string | undefined
  try {
    replica = await openReplica(replicaDir)
  } catch (error) {
    const code = (error as StrataError).code
    if (code === StoreErrorCode.LOCKED) throw error
    reason = `the replica did not open (${(error as Error).message})`
  }
  let replayed = 0
  if (replica !== undefined) {
    // A failure from here on (the database lost mid-replay) must not leave the replica open: its LMDB lock would
    // make every later open of this cache directory in this process fail LOCKED (a standby that reconnects).
    const opened = replica
    try {
      const synced = await bringUp(client, url, opened, head)
      if (synced.reason === undefined) return { replica: opened, head, how: synced.replayed > 0 ? 'replayed' : 'current', replayed: synced.replayed, rebuildReason: undefined }
      replayed = synced.replayed
      reason = synced.reason
    } catch (error) {
      await opened.close().catch(() => undefined)
      throw error
    }
    await opened.close()
  }
  const rebuilt = await rebuild(client, url, cacheDir, openReplica)
  return { replica: rebuilt.replica, head: rebuilt.head, how: 'rebuilt', replayed, rebuildReason: reason }
}

/** Replays the log into an opened replica up to `head`; `reason` says why it must be rebuilt instead. */
async function bringUp(client: pg.Client, url: DatabaseUrl, replica: LmdbStore, head: DbHead): Promise<{ replayed: number; reason: string | undefined }> {
  let replayed = 0
  let reason: string | undefined
  const local = replica.head()
  if (local.commitCount > head.commitCount) {
    reason = `the replica is at commit ${local.commitCount}, ahead of the database's ${head.commitCount}`
  } else {
    const rootThere = local.commitCount === head.commitCount ? head.stateRoot
      : local.commitCount === 0 ? null : await step(url, 'read the commit log', () => logRoot(client, local.commitCount))
    if (!sameRoot(rootThere, local.stateRoot)) {
      reason = `the replica's root at commit ${local.commitCount} is not the database's`
    } else if (local.commitCount < head.commitCount) {
      const result = await replay(client, url, replica, local.commitCount, head.commitCount)
      replayed = result.replayed
      reason = result.failure
    }
  }
  if (reason === undefined) {
    const now = replica.head()
    if (now.commitCount !== head.commitCount || now.cycle !== head.cycle || !sameRoot(now.stateRoot, head.stateRoot)) {
      reason = `the replica reached commit ${now.commitCount}, cycle ${now.cycle} with another root than the database's`
    }
  }
  if (reason === undefined) await syncCodes(client, url, replica)
  return { replayed, reason }
}

/** Replays log rows after `from` up to `to` into the replica; a missing or unreadable row stops it (the replica is then rebuilt). */
export async function replay(client: pg.Client, url: DatabaseUrl, replica: LmdbStore, from: number, to: number): Promise<{ replayed: number; failure?: string }> {
  let at = from
  while (at < to) {
    const rows = await step(url, 'read the commit log', async () => (await client.query<{ commit_number: string; state_root: Buffer; batch: Buffer | null }>(
      `SELECT commit_number, state_root, batch FROM strata_log WHERE commit_number > $1 AND commit_number <= $2
        ORDER BY commit_number LIMIT ${LOG_REPLAY_ROWS_PER_FETCH}`, [at, to])).rows)
    if (rows.length === 0) return { replayed: at - from, failure: `the commit log has no row ${at + 1}` }
    for (const row of rows) {
      const number = Number(row.commit_number)
      if (number !== at + 1) return { replayed: at - from, failure: `the commit log has no row ${at + 1}` }
      if (row.batch === null) return { replayed: at - from, failure: `commit ${number} was too large to keep in the log` }
      try {
        const head = await replica.commit(decodeLogBatch(row.batch, number))
        if (!sameRoot(head.stateRoot, row.state_root)) return { replayed: at - from + 1, failure: `replaying commit ${number} gave another root than the log's` }
      } catch (error) {
        if ((error as StrataError).code === StoreErrorCode.IO) throw error
        return { replayed: at - from, failure: `commit log row ${number} did not apply (${(error as Error).message})` }
      }
      at = number
    }
  }
  return { replayed: at - from }
}

/**
 * Rebuilds the replica from the materialized tables: restored into a fresh directory at one database snapshot,
 * which then replaces the replica (remove, rename).
 */
async function rebuild(
  client: pg.Client, url: DatabaseUrl, cacheDir: string, openReplica: (dir: string) => Promise<LmdbStore>,
): Promise<{ replica: LmdbStore; head: DbHead }> {
  const replicaDir = path.join(cacheDir, REPLICA_DIR_NAME)
  const rebuildDir = path.join(cacheDir, REBUILD_DIR_NAME)
  rmSync(rebuildDir, { recursive: true, force: true })
  const fresh = await openReplica(rebuildDir)
  let head: DbHead
  try {
    await step(url, 'begin the rebuild snapshot', () => client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY'))
    try {
      head = await readHead(client)
      const imageHead: StoreImageHead = { ...head, stateRoot: head.stateRoot === null ? null : new Uint8Array(head.stateRoot) }
      await fresh.restore(guarded(url, imagePages(client)), imageHead)
      await client.query('COMMIT')
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined)
      if (error instanceof StrataError) throw error
      throw dbError(url, 'read the tables to rebuild the replica', error)
    }
  } finally {
    await fresh.close()
  }
  try {
    rmSync(replicaDir, { recursive: true, force: true })
    renameSync(rebuildDir, replicaDir)
  } catch (error) {
    throw ioError(cacheDir, 'replace the replica with its rebuild', error)
  }
  return { replica: await openReplica(replicaDir), head }
}

/** The pages of a rebuild, with the database's failures named as such (restore would report them as its own IO). */
async function* guarded<T>(url: DatabaseUrl, pages: AsyncGenerator<T>): AsyncGenerator<T> {
  try {
    yield* pages
  } catch (error) {
    if (error instanceof StrataError) throw error
    throw dbError(url, 'read the tables to rebuild the replica', error)
  }
}

/** Codes the database holds and the replica lacks (a crash between the two writes of putCode), copied over. */
export async function syncCodes(client: pg.Client, url: DatabaseUrl, replica: LmdbStore): Promise<void> {
  const ids = await step(url, 'list codes', async () => (await client.query<{ id: string }>(
    "SELECT encode(code_id, 'hex') AS id FROM strata_codes")).rows.map((r) => r.id))
  for (const id of ids) {
    if (replica.hasCode(id as CodeId)) continue
    const blob = await step(url, `read code ${id}`, async () => (await client.query<{ blob: Buffer }>(
      'SELECT blob FROM strata_codes WHERE code_id = $1', [Buffer.from(id, 'hex')])).rows[0]!.blob)
    await replica.putCode(id as CodeId, blob)
  }
}

export async function readHead(client: pg.Client): Promise<DbHead> {
  const result = await client.query<{ cycle: string; state_root: Buffer | null; commit_count: string; queue_head: string; queue_tail: string }>(
    'SELECT cycle, state_root, commit_count, queue_head, queue_tail FROM strata_head WHERE id = 1')
  const row = result.rows[0]!
  return {
    cycle: Number(row.cycle), stateRoot: row.state_root, commitCount: Number(row.commit_count),
    queueHead: Number(row.queue_head), queueTail: Number(row.queue_tail),
  }
}

/** The state root the log recorded for a commit, or undefined if its row is gone. */
export async function logRoot(client: pg.Client, commitNumber: number): Promise<Buffer | undefined> {
  const result = await client.query<{ state_root: Buffer }>('SELECT state_root FROM strata_log WHERE commit_number = $1', [commitNumber])
  return result.rows[0]?.state_root
}

export function sameRoot(a: Uint8Array | null | undefined, b: Uint8Array | null | undefined): boolean {
  if (a === undefined || b === undefined) return false
  if (a === null || b === null) return a === b
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength))
}

export async function step<T>(url: DatabaseUrl, action: string, body: () => Promise<T>): Promise<T> {
  try {
    return await body()
  } catch (error) {
    if (error instanceof StrataError) throw error
    throw dbError(url, action, error)
  }
}

/** An IO error naming the database (host:port/database, never the password) and the driver's reason. */
export function dbError(url: DatabaseUrl, action: string, cause: unknown): StrataError {
  const error = cause as { message?: string; code?: string }
  const reason = String(error?.message ?? cause).replaceAll(url.url, url.where)
  return new StrataError(ClusterErrorCode.IO, `could not ${action} on PostgreSQL at ${url.where}: ${reason}`,
    { where: url.where, cause: error?.code ?? reason })
}

function invalid(message: string): StrataError {
  return new StrataError(ClusterErrorCode.INVALID_ARGUMENT, message)
}

