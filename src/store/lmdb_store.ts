/**
 * The default store: one LMDB environment (npm `lmdb`) in a data directory.
 *
 * ## Key spaces (named LMDB databases, binary keys, binary values; layouts in keys.ts and codec.ts)
 *
 *   meta         'format' -> u32 format version; 'head' -> [cycle, stateRoot, commitCount, queueHead, queueTail]
 *   codes        code id -> blob                              programs  program id -> record
 *   memmeta      program id -> allocator metadata             planes    program id | plane key -> root | 16 slots
 *   blobs        commit number | index -> 1-16 plane chunks   queue     sequence -> message
 *   waitlist     message id -> entry                          deadlines untilCycle | commit | index -> message id
 *   delayed      cycle | sequence -> message                  mailbox   user id | sequence -> entry
 *   mailboxmeta  user id -> head sequence | tail sequence     nonces    user id -> u64
 *   merkle       opaque key -> 32-byte value                  cycles    cycle -> cycle record
 *
 * ## Planes in chunks; atomic commits, split when large
 *
 * A plane is stored as runs: each run of consecutive changed chunks (4,096 bytes each, not all zeros) that a
 * commit writes is one blob, and the plane's entry in the `planes` index holds its committed root and, for each
 * of its 16 chunks, a slot naming the blob and the chunk's position in it (an empty slot: a chunk of zeros). A
 * commit writes only the chunks the batch says changed, so the bytes written per cycle follow the bytes a cycle
 * dirtied (an 8-byte change writes one 4 KiB blob), while a plane rewritten whole is still one 64 KiB value. A
 * blob holds chunks of one plane only; when no slot of its plane names it any more, the commit deletes it.
 * Everything a reader can reach goes through the index, the head and the small key spaces, and all of those
 * change only in a commit's *final* transaction. For a batch writing W chunks with a part size C
 * (planesPerTransaction x 16 chunks, 16,000 by default):
 *
 *   1. staging (only while more than C chunks are left): runs are written in transactions of about C chunks,
 *      under fresh keys (commit number head.commitCount + 1, index). No index entry and no head points at them
 *      yet: they are pending, and no blob a reader can reach is touched.
 *   2. final: one transaction writes the remaining runs under fresh keys, points the index at them and at the
 *      staged ones, deletes the blobs no slot names any more, applies drops, records, queue, waitlist, delayed,
 *      mailboxes, nonces and Merkle nodes, and writes the head with the new commit number. LMDB commits it
 *      atomically, so readers and a reopen see all of it or none of it.
 *
 * A blob is pending exactly when its commit number is greater than the head's commitCount. After a crash at
 * any instant LMDB reopens at some committed transaction: if it is the final one, every blob it names was
 * committed before it (LMDB transactions are ordered); if it is a staging one or earlier, the head still names
 * the previous commit and the staged blobs are pending. Opening deletes pending blobs (one range seek from key
 * (commitCount + 1, 0), touching only pending keys), and so does a commit that failed, before returning its IO
 * error (or, if even that fails, the next commit). Open reads only the format, the head and that range: its
 * time does not depend on how many programs or planes the store holds.
 *
 * Durability: by default a commit resolves after LMDB flushed it to disk (lmdb's default `overlappingSync`: the
 * transaction is committed and visible first, then synced; `await env.flushed`). `sync: false` maps to LMDB's
 * `noSync`: commits are never fsynced. A crash of the process loses nothing (the OS holds the pages), but a
 * crash of the machine or a power loss can lose the last commits and, per LMDB's documentation, can corrupt the
 * database. Use it for benchmarks and throwaway runs only.
 *
 * Writers and readers: one writer per directory (lock.ts: a pid lock file checked for liveness, so a second
 * writer fails LOCKED). `readOnly: true` opens take no lock and may run in worker threads of the writer's
 * process (lmdb shares one environment per process) or in other processes; they read the head from disk on
 * every call, so they follow the writer's commits.
 */
import { closeSync, mkdirSync, openSync, readSync, statSync } from 'node:fs'
import { createHash } from 'node:crypto'
import path from 'node:path'
import { setImmediate as yieldToEventLoop } from 'node:timers/promises'
import { open, type Database, type RootDatabase, type Transaction } from 'lmdb'
import { StrataError, describeValue } from '../errors.js'
import type { CodeId, MessageId, ProgramId, UserId } from '../message/index.js'
import type { Message } from '../message/index.js'
import type { ProgramRecord } from '../protocol/index.js'
import { chunksOf, prepareBatch, type PreparedBatch, type PreparedPlane } from './batch.js'
import { checkedCode, checkedMerkleKey, checkedPlaneKey, codeMismatch, planeMismatch } from './checks.js'
import {
  EMPTY_HEAD, checkedCount, checkedIdBytes, decodeCycleRecord, decodeHead, decodeMailboxEntry, decodeMessage, decodeProgramRecord,
  decodeWaitEntry, encodeHead, invalid, type HeadRecord,
} from './codec.js'
import { StoreErrorCode } from './errors.js'
import {
  BLOB_KEY_BYTES, CHUNKS_PER_PLANE, ID_BYTES, PLANE_INDEX_VALUE_BYTES, PLANE_SLOT_BYTES, blobKey, delayedKey, hasPrefix, idFromKey, isEmptySlot,
  mailboxKey, planeIndexKey, readU32, readU64, u64Key, writeU64,
} from './keys.js'
import { acquireWriterLock, ioError, type WriterLock } from './lock.js'
import {
  ALL_CHUNKS, LMDB_READERS_DEFAULT, LMDB_READERS_LIMIT, STORE_CHUNK_SIZE_BYTES, STORE_FORMAT_WHOLE_PLANES, PLANES_PER_TRANSACTION_DEFAULT, PLANES_PER_TRANSACTION_LIMIT,
  STORE_FORMAT_VERSION, STORE_MAILBOX_SIZE_MAX_LIMIT, STORE_HASH_SIZE_BYTES, STORE_MAILBOX_SIZE_MAX_DEFAULT,
  STORE_PLANE_SIZE_BYTES, type CommitBatch, type CycleRecord, type PlaneVerifier, type Store, type StoreHead, type StoreImageEntry,
  type StoreImageHead, type StoreOpenOptions, type StoredMailboxEntry, type StoredWaitEntry,
} from './store.js'

export interface LmdbStoreOptions extends StoreOpenOptions {
  /** The data directory; created (with parents) if absent, unless readOnly. */
  readonly dataDir: string
  /**
   * Durable commits (default true): a commit resolves once flushed to disk. false maps to LMDB's noSync: no
   * fsync at all; a machine crash can lose recent commits or corrupt the database (see the file header).
   */
  readonly sync?: boolean
  /**
   * Open for reading only: takes no writer lock; allowed beside a writer, in the same process (e.g. stream
   * workers) or not. Reads follow the writer: each head() starts a fresh snapshot.
   */
  readonly readOnly?: boolean
  /**
   * With readOnly: read one consistent snapshot (the commit that was last when the store opened, or when
   * `refresh` was last called) instead of following the writer call by call. The snapshot pins LMDB pages the
   * writer has since replaced, so the file grows while an old snapshot is held: refresh it, or close the store.
   */
  readonly snapshot?: boolean
  /** Staging transactions hold this many planes' worth of chunks (x 16; default 1,000, where lmdb writes fastest). */
  readonly planesPerTransaction?: number
  /** LMDB reader slots (default 126): one per thread or process reading at the same time. */
  readonly maxReaders?: number
}

/** What open and the store did that tests and benches look at. */
export interface LmdbStoreDiagnostics {
  readonly dataDir: string
  /** LMDB entries read while opening: a constant, whatever the store holds. */
  readonly openEntriesRead: number
  /** Pending blobs of an unfinished commit deleted when opening. */
  readonly pendingBlobsDeleted: number
  /** Transactions the last commit used (staging parts + the final one). */
  readonly lastCommitTransactions: number
  /** Chunk blobs the last commit wrote (4,096 bytes each). */
  readonly lastCommitChunkWrites: number
  /** Planes converted from whole-plane blobs (store format 1) when opening. */
  readonly planesConverted: number
}

/** Key spaces, each a named LMDB database. */
const DB_NAMES = [
  'meta', 'codes', 'programs', 'memmeta', 'planes', 'blobs', 'queue', 'waitlist', 'deadlines', 'delayed', 'mailbox',
  'mailboxmeta', 'nonces', 'merkle', 'cycles',
] as const
type DbName = (typeof DB_NAMES)[number]
/** Named databases the environment allows: ours plus room for later key spaces. */
const MAX_DBS = 24
/** At most this many root entries are read when checking that a directory holds a Strata store. */
const ROOT_ENTRIES_CHECKED_MAX = 64
const FORMAT_KEY = Buffer.from('format')
const HEAD_KEY = Buffer.from('head')
const DATA_FILE_NAME = 'data.mdb'
const LMDB_MAGIC = 0xbeefc0de
const LMDB_MAGIC_OFFSET = 24

/** The options every read takes: a snapshot reader's pinned transaction, or nothing. */
type ReadOptions = { readonly transaction: Transaction } | undefined
/** lmdb's point reads accept a transaction in their options (lmdb read.js), which its typings leave out. */
type Db = Database<Buffer, Buffer> & {
  getBinary(key: Buffer, options: ReadOptions): Buffer | undefined
  getBinaryFast(key: Buffer, options: ReadOptions): Buffer | undefined
  doesExist(key: Buffer, valueOrVersion: undefined, options: ReadOptions): boolean
}
type Dbs = { readonly [K in DbName]: Db }

export class LmdbStore implements Store {
  readonly kind = 'lmdb' as const
  readonly readOnly: boolean
  readonly #dataDir: string
  readonly #env: RootDatabase<Buffer, Buffer>
  readonly #db: Dbs
  readonly #verify: PlaneVerifier
  readonly #sync: boolean
  readonly #mailboxSizeMax: number
  readonly #planesPerTransaction: number
  readonly #lock: WriterLock | undefined
  /** The writer's committed head (readers read it from disk on every call, snapshot readers once per snapshot). */
  #head: HeadRecord
  /** A snapshot reader's pinned LMDB read transaction (undefined for writers and following readers). */
  #snapshot: Transaction | undefined
  /** Options passed to every read: the pinned transaction, if any. */
  #read: ReadOptions
  /** Entry counts of the pinned snapshot, by key space, counted when first asked for. */
  readonly #snapshotCounts = new Map<DbName, number>()
  #closed = false
  #committing: Promise<unknown> | undefined
  /** A commit failed after staging blobs and could not delete them: the next commit deletes them first. */
  #pendingDirty = false
  #openEntriesRead: number
  #pendingBlobsDeleted: number
  #lastCommitTransactions = 0
  #lastCommitChunkWrites = 0
  readonly #planesConverted: number

  private constructor(init: {
    dataDir: string; env: RootDatabase<Buffer, Buffer>; db: Dbs; verify: PlaneVerifier; sync: boolean; readOnly: boolean; snapshot: boolean
    mailboxSizeMax: number; planesPerTransaction: number; lock: WriterLock | undefined; head: HeadRecord
    openEntriesRead: number; pendingBlobsDeleted: number; planesConverted: number
  }) {
    this.#dataDir = init.dataDir
    this.#env = init.env
    this.#db = init.db
    this.#verify = init.verify
    this.#sync = init.sync
    this.readOnly = init.readOnly
    this.#mailboxSizeMax = init.mailboxSizeMax
    this.#planesPerTransaction = init.planesPerTransaction
    this.#lock = init.lock
    this.#head = init.head
    this.#openEntriesRead = init.openEntriesRead
    this.#pendingBlobsDeleted = init.pendingBlobsDeleted
    this.#planesConverted = init.planesConverted
    if (init.snapshot) this.#pin()
  }

  /** Opens (creating if needed) the store in `options.dataDir`. See `openLmdbStore`. */
  static async open(options: LmdbStoreOptions): Promise<LmdbStore> {
    if (typeof options !== 'object' || options === null) throw invalid(`options must be an object, got ${describeValue(options)}`)
    if (typeof options.dataDir !== 'string' || options.dataDir.length === 0) {
      throw invalid(`dataDir must be a non-empty path, got ${describeValue(options.dataDir)}`)
    }
    if (typeof options.verify !== 'function') throw invalid(`verify must be a function, got ${describeValue(options.verify)}`)
    const readOnly = options.readOnly ?? false
    const snapshot = options.snapshot ?? false
    const sync = options.sync ?? true
    if (typeof readOnly !== 'boolean') throw invalid(`readOnly must be a boolean, got ${describeValue(readOnly)}`)
    if (typeof snapshot !== 'boolean') throw invalid(`snapshot must be a boolean, got ${describeValue(snapshot)}`)
    if (snapshot && !readOnly) throw invalid('snapshot applies to readOnly stores only (a writer always reads its own last commit)')
    if (typeof sync !== 'boolean') throw invalid(`sync must be a boolean, got ${describeValue(sync)}`)
    const mailboxSizeMax = checkedCount(options.mailboxSizeMax ?? STORE_MAILBOX_SIZE_MAX_DEFAULT, 'mailboxSizeMax',
      STORE_MAILBOX_SIZE_MAX_LIMIT)
    const planesPerTransaction = checkedCount(options.planesPerTransaction ?? PLANES_PER_TRANSACTION_DEFAULT,
      'planesPerTransaction', PLANES_PER_TRANSACTION_LIMIT)
    const maxReaders = checkedCount(options.maxReaders ?? LMDB_READERS_DEFAULT, 'maxReaders', LMDB_READERS_LIMIT)
    if (mailboxSizeMax === 0 || planesPerTransaction === 0 || maxReaders === 0) {
      throw invalid('mailboxSizeMax, planesPerTransaction and maxReaders must be at least 1')
    }
    const dataDir = path.resolve(options.dataDir)

    let lock: WriterLock | undefined
    if (readOnly) {
      // An empty data file is a store no writer has begun: lmdb, opening it, would write a fresh environment into it.
      if (dataFileSize(dataDir) === 0) {
        throw new StrataError(StoreErrorCode.NOT_FOUND, `no store in ${dataDir} to open read-only`, { dataDir })
      }
    } else {
      try {
        mkdirSync(dataDir, { recursive: true })
        if (!statSync(dataDir).isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' })
      } catch (error) {
        throw ioError(dataDir, 'create the data directory', error)
      }
      lock = acquireWriterLock(dataDir)
    }

    let env: RootDatabase<Buffer, Buffer> | undefined
    try {
      checkDataFileMagic(dataDir)
      try {
        // Readers open the environment without LMDB's readOnly flag and are read-only in this class instead:
        // lmdb shares one environment per process, and one first opened read-only (say, by a worker) would make
        // every later writer open in the process fail, and a failed open leaks it for the process's life.
        env = open<Buffer, Buffer>({
          path: dataDir, noSubdir: false, maxDbs: MAX_DBS, maxReaders, keyEncoding: 'binary', encoding: 'binary',
          ...(sync || readOnly ? {} : { noSync: true }),
        })
      } catch (error) {
        throw ioError(dataDir, 'open the LMDB environment', error)
      }
      let entriesRead = 0
      const rootNames: string[] = []
      for (const key of env.getKeys({ limit: ROOT_ENTRIES_CHECKED_MAX + 1 })) {
        entriesRead += 1
        rootNames.push(Buffer.from(key).toString('latin1').replace(/\0$/, ''))
      }
      const foreign = rootNames.filter((name) => !(DB_NAMES as readonly string[]).includes(name))
      if (foreign.length > 0) {
        throw new StrataError(StoreErrorCode.FORMAT_VERSION,
          `${dataDir} holds an LMDB environment that is not a Strata store (it has ${describeValue(foreign[0])})`, { dataDir })
      }
      if (readOnly && !rootNames.includes('meta')) {
        throw new StrataError(StoreErrorCode.NOT_FOUND, `${dataDir} holds no Strata store yet`, { dataDir })
      }
      const db = {} as Record<DbName, Database<Buffer, Buffer>>
      for (const name of DB_NAMES) {
        if (readOnly && !rootNames.includes(name)) {
          throw new StrataError(StoreErrorCode.NOT_FOUND, `${dataDir} holds an incomplete Strata store (no ${name})`, { dataDir })
        }
        db[name] = env.openDB<Buffer, Buffer>(name, { keyEncoding: 'binary', encoding: 'binary' })
      }
      const format = db.meta.getBinary(FORMAT_KEY)
      entriesRead += 1
      let head: HeadRecord
      let planesConverted = 0
      if (format === undefined) {
        if (readOnly) throw new StrataError(StoreErrorCode.NOT_FOUND, `${dataDir} holds no Strata store yet`, { dataDir })
        // Fresh, or created but killed before its first transaction: every key space must be empty.
        const nonEmpty = DB_NAMES.find((name) => entryCount(db[name]) > 0)
        if (nonEmpty !== undefined) {
          throw new StrataError(StoreErrorCode.FORMAT_VERSION,
            `${dataDir} holds data (in ${nonEmpty}) but no format version; it was not written by Strata`, { dataDir })
        }
        const formatBytes = Buffer.alloc(4)
        formatBytes.writeUInt32BE(STORE_FORMAT_VERSION)
        db.meta.transactionSync(() => {
          db.meta.putSync(FORMAT_KEY, formatBytes)
          db.meta.putSync(HEAD_KEY, Buffer.from(encodeHead(EMPTY_HEAD)))
        })
        head = EMPTY_HEAD
      } else {
        const version = format.length === 4 ? format.readUInt32BE(0) : -1
        if (version === STORE_FORMAT_WHOLE_PLANES && !readOnly) {
          planesConverted = convertWholePlanes(db, readHead(db.meta))
          entriesRead += planesConverted
        } else if (version !== STORE_FORMAT_VERSION) {
          throw new StrataError(StoreErrorCode.FORMAT_VERSION,
            `${dataDir} has store format ${version === -1 ? 'unknown' : version}; this build reads format ${STORE_FORMAT_VERSION}`
            + (version > STORE_FORMAT_VERSION ? ' (written by a newer Strata: upgrade)'
              : version === STORE_FORMAT_WHOLE_PLANES ? ' (a writer converts it when it opens it: run `strata run` on it once)' : ''),
            { dataDir, found: version, expected: STORE_FORMAT_VERSION })
        }
        head = readHead(db.meta)
        entriesRead += 1
      }
      let pendingBlobsDeleted = 0
      if (!readOnly) {
        const swept = deletePendingBlobs(db.blobs, head.commitCount)
        pendingBlobsDeleted = swept
        entriesRead += swept + 1
      }
      return new LmdbStore({
        dataDir, env, db, verify: options.verify, sync, readOnly, snapshot, mailboxSizeMax, planesPerTransaction, lock, head,
        openEntriesRead: entriesRead, pendingBlobsDeleted, planesConverted,
      })
    } catch (error) {
      await env?.close().catch(() => undefined)
      lock?.release()
      if (error instanceof StrataError) throw error
      throw ioError(dataDir, 'open the store', error)
    }
  }

  get closed(): boolean {
    return this.#closed
  }

  get dataDir(): string {
    return this.#dataDir
  }

  diagnostics(): LmdbStoreDiagnostics {
    return {
      dataDir: this.#dataDir, openEntriesRead: this.#openEntriesRead, pendingBlobsDeleted: this.#pendingBlobsDeleted,
      lastCommitTransactions: this.#lastCommitTransactions, lastCommitChunkWrites: this.#lastCommitChunkWrites,
      planesConverted: this.#planesConverted,
    }
  }

  head(): StoreHead {
    const { cycle, stateRoot, commitCount } = this.#currentHead()
    return { cycle, stateRoot: stateRoot === null ? null : stateRoot.slice(), commitCount }
  }

  // ---- codes --------------------------------------------------------------------------------------------------

  async putCode(codeId: CodeId, blob: Uint8Array): Promise<void> {
    this.#writable()
    const key = checkedCode(codeId, blob)
    if (this.#db.codes.doesExist(key)) return
    try {
      this.#db.codes.transactionSync(() => this.#db.codes.putSync(key, blob as Buffer))
      if (this.#sync) await this.#env.flushed
    } catch (error) {
      throw ioError(this.#dataDir, `store code ${codeId}`, error)
    }
  }

  code(codeId: CodeId): Uint8Array | undefined {
    this.#open()
    const blob = this.#db.codes.getBinary(checkedIdBytes(codeId, 'codeId'), this.#read)
    if (blob === undefined) return undefined
    if (createHash('sha256').update(blob).digest('hex') !== codeId) throw codeMismatch(codeId)
    return plain(blob)
  }

  hasCode(codeId: CodeId): boolean {
    this.#open()
    return this.#db.codes.doesExist(checkedIdBytes(codeId, 'codeId'), undefined, this.#read)
  }

  *codeIds(): IterableIterator<CodeId> {
    this.#open()
    for (const key of this.#db.codes.getKeys({ ...this.#read })) yield idFromKey(key) as CodeId
  }

  // ---- programs and memory ------------------------------------------------------------------------------------------

  program(programId: ProgramId): ProgramRecord | undefined {
    this.#open()
    const bytes = this.#db.programs.getBinaryFast(checkedIdBytes(programId, 'programId'), this.#read)
    return bytes === undefined ? undefined : decodeProgramRecord(programId, bytes)
  }

  *programIds(): IterableIterator<ProgramId> {
    this.#open()
    for (const key of this.#db.programs.getKeys({ ...this.#read })) yield idFromKey(key) as ProgramId
  }

  programCount(): number {
    this.#open()
    return this.#count('programs')
  }

  memoryMeta(programId: ProgramId): Uint8Array | undefined {
    this.#open()
    const bytes = this.#db.memmeta.getBinary(checkedIdBytes(programId, 'programId'), this.#read)
    return bytes === undefined ? undefined : plain(bytes)
  }

  plane(programId: ProgramId, planeKey: number): Uint8Array | undefined {
    this.#open()
    const index = this.#db.planes.getBinary(planeIndexKey(checkedIdBytes(programId, 'programId'), checkedPlaneKey(planeKey)), this.#read)
    if (index === undefined) return undefined
    if (index.length !== PLANE_INDEX_VALUE_BYTES) throw planeMismatch(programId, planeKey, 'its index entry is malformed')
    // Same snapshot as the index read: lmdb renews a thread's read transaction only between event turns or
    // after this thread's own writes, and none happens in between.
    const bytes = new Uint8Array(STORE_PLANE_SIZE_BYTES)
    let blobKeyRead: Buffer | undefined
    let blob: Buffer | undefined
    for (let chunk = 0; chunk < CHUNKS_PER_PLANE; chunk += 1) {
      const slot = STORE_HASH_SIZE_BYTES + chunk * PLANE_SLOT_BYTES
      if (isEmptySlot(index, slot)) continue
      const key = index.subarray(slot, slot + BLOB_KEY_BYTES)
      // Consecutive chunks of one run share a blob: read it once.
      if (blobKeyRead === undefined || !blobKeyRead.equals(key)) {
        blobKeyRead = key
        blob = this.#db.blobs.getBinary(key, this.#read)
        if (blob === undefined) throw planeMismatch(programId, planeKey, `the stored bytes of its chunk ${chunk} are missing`)
      }
      const position = index[slot + BLOB_KEY_BYTES]!
      if (blob!.length % STORE_CHUNK_SIZE_BYTES !== 0 || (position + 1) * STORE_CHUNK_SIZE_BYTES > blob!.length) {
        throw planeMismatch(programId, planeKey, `its chunk ${chunk} names position ${position} of a ${blob!.length}-byte blob`)
      }
      bytes.set(blob!.subarray(position * STORE_CHUNK_SIZE_BYTES, (position + 1) * STORE_CHUNK_SIZE_BYTES), chunk * STORE_CHUNK_SIZE_BYTES)
    }
    const root = this.#verify(bytes)
    if (!index.subarray(0, STORE_HASH_SIZE_BYTES).equals(root)) throw planeMismatch(programId, planeKey)
    return bytes
  }

  planeRoot(programId: ProgramId, key: number): Uint8Array | undefined {
    this.#open()
    const index = this.#db.planes.getBinary(planeIndexKey(checkedIdBytes(programId, 'programId'), checkedPlaneKey(key)), this.#read)
    return index === undefined ? undefined : new Uint8Array(index.subarray(0, STORE_HASH_SIZE_BYTES))
  }

  planeKeys(programId: ProgramId): number[] {
    this.#open()
    const prefix = checkedIdBytes(programId, 'programId')
    const keys: number[] = []
    for (const key of this.#db.planes.getKeys({ start: prefix, ...this.#read })) {
      if (!hasPrefix(key, prefix)) break
      keys.push(readU32(key, ID_BYTES))
    }
    return keys
  }

  // ---- queue, waitlist, delayed, mailboxes, nonces, merkle ----------------------------------------------------------

  queueLength(): number {
    const head = this.#currentHead()
    return head.queueTail - head.queueHead
  }

  *queue(): IterableIterator<Message> {
    const head = this.#currentHead()
    for (const { value } of this.#db.queue.getRange({ start: u64Key(head.queueHead), end: u64Key(head.queueTail), ...this.#read })) {
      yield decodeMessage(value, 'queued message')
    }
  }

  waitEntry(messageId: MessageId): StoredWaitEntry | undefined {
    this.#open()
    const bytes = this.#db.waitlist.getBinaryFast(checkedIdBytes(messageId, 'messageId'), this.#read)
    return bytes === undefined ? undefined : decodeWaitEntry(bytes).entry
  }

  *waitlist(): IterableIterator<StoredWaitEntry> {
    this.#open()
    for (const { value } of this.#db.waitlist.getRange({ ...this.#read })) yield decodeWaitEntry(value).entry
  }

  waitlistSize(): number {
    this.#open()
    return this.#count('waitlist')
  }

  *waitlistExpiring(untilCycleMax: number): IterableIterator<StoredWaitEntry> {
    this.#open()
    const max = checkedCount(untilCycleMax, 'untilCycleMax')
    for (const { key, value } of this.#db.deadlines.getRange({ ...this.#read })) {
      if (readU64(key, 0) > max) break
      const entry = this.#db.waitlist.getBinaryFast(value, this.#read)
      if (entry === undefined) throw integrity(`the deadline index names a waiting message that is not stored`)
      yield decodeWaitEntry(entry).entry
    }
  }

  delayed(cycle: number): Message[] {
    this.#open()
    const prefix = u64Key(checkedCount(cycle, 'cycle'))
    const messages: Message[] = []
    for (const { key, value } of this.#db.delayed.getRange({ start: prefix, ...this.#read })) {
      if (!hasPrefix(key, prefix)) break
      messages.push(decodeMessage(value, 'delayed message'))
    }
    return messages
  }

  *delayedCycles(): IterableIterator<number> {
    this.#open()
    let from = 0
    for (;;) {
      // One seek per distinct cycle, not a walk over every scheduled message.
      let next: number | undefined
      for (const key of this.#db.delayed.getKeys({ start: delayedKey(from, 0), limit: 1, ...this.#read })) next = readU64(key, 0)
      if (next === undefined) return
      yield next
      from = next + 1
    }
  }

  mailbox(userId: UserId): StoredMailboxEntry[] {
    this.#open()
    const prefix = checkedIdBytes(userId, 'userId')
    const entries: StoredMailboxEntry[] = []
    for (const { key, value } of this.#db.mailbox.getRange({ start: prefix, ...this.#read })) {
      if (!hasPrefix(key, prefix)) break
      entries.push(decodeMailboxEntry(value))
    }
    return entries
  }

  nonce(userId: UserId): number {
    this.#open()
    const bytes = this.#db.nonces.getBinaryFast(checkedIdBytes(userId, 'userId'), this.#read)
    return bytes === undefined ? 0 : readU64(bytes, 0)
  }

  merkleNode(key: Uint8Array): Uint8Array | undefined {
    this.#open()
    const value = this.#db.merkle.getBinary(checkedMerkleKey(key), this.#read)
    return value === undefined ? undefined : plain(value)
  }

  cycleRecord(cycle: number): CycleRecord | undefined {
    checkedCount(cycle, 'cycle')
    if (cycle > this.#currentHead().cycle) return undefined // a reader may see a record its head does not yet
    const value = this.#db.cycles.getBinary(u64Key(cycle), this.#read)
    return value === undefined ? undefined : decodeCycleRecord(value)
  }

  // ---- commit -------------------------------------------------------------------------------------------------------

  async commit(batch: CommitBatch): Promise<StoreHead> {
    this.#writable()
    if (this.#committing !== undefined) {
      throw new StrataError(StoreErrorCode.BUSY, 'a commit is in flight; await it before committing the next batch')
    }
    const prepared = prepareBatch(batch, this.#head)
    const run = this.#commit(prepared)
    this.#committing = run
    try {
      return await run
    } finally {
      this.#committing = undefined
    }
  }

  async #commit(p: PreparedBatch): Promise<StoreHead> {
    const db = this.#db
    const previous = this.#head
    let transactions = 0
    try {
      if (this.#pendingDirty) {
        deletePendingBlobs(db.blobs, previous.commitCount)
        this.#pendingDirty = false
      }
      // Runs of changed chunks in batch order, one blob each. While more than one part's worth of chunks is left,
      // runs are staged in transactions of about a part; the rest are written by the final transaction itself.
      const { runs, chunks, runsOf, chunkCount } = runWrites(p, db.planes)
      const part = this.#planesPerTransaction * CHUNKS_PER_PLANE
      // A split commit yields between its parts: what it stores must not change if the caller reuses its buffers
      // meanwhile, so it works on a copy of every changed chunk (an unsplit commit runs without yielding).
      if (chunkCount > part) for (const [plane, list] of chunks) chunks.set(plane, list.map((chunk) => (chunk ? Uint8Array.from(chunk) : chunk)))
      const stagedKeys = new Map<RunWrite, Buffer>()
      let staged = 0
      let stagedChunks = 0
      while (chunkCount - stagedChunks > part) {
        this.#pendingDirty = true
        db.blobs.transactionSync(() => {
          for (let inPart = 0; inPart < part && staged < runs.length; staged += 1) {
            const run = runs[staged]!
            const key = blobKey(p.commitNumber, staged)
            db.blobs.putSync(key, runBytes(run, chunks.get(run.plane)!))
            stagedKeys.set(run, key)
            inPart += run.count
            stagedChunks += run.count
          }
        })
        transactions += 1
        // Let the event loop breathe between parts; readers meanwhile see the previous commit.
        await yieldToEventLoop()
      }
      this.#pendingDirty = staged > 0
      const next: HeadRecord = {
        cycle: p.cycle, stateRoot: p.stateRoot, commitCount: p.commitNumber,
        queueHead: previous.queueHead + p.consumed, queueTail: previous.queueTail + p.appended.length,
      }
      db.meta.transactionSync(() => {
        this.#applyFinal(p, previous, chunks, runsOf, stagedKeys, staged)
        db.meta.putSync(HEAD_KEY, Buffer.from(encodeHead(next)))
      })
      transactions += 1
      this.#head = next
      this.#pendingDirty = false
      this.#lastCommitTransactions = transactions
      this.#lastCommitChunkWrites = chunkCount
    } catch (error) {
      // Nothing of this batch is visible: the final transaction aborted (or never ran). Delete staged blobs now
      // if the disk lets us, else at the next commit or open.
      if (this.#pendingDirty && !this.#closed) {
        try {
          deletePendingBlobs(db.blobs, previous.commitCount)
          this.#pendingDirty = false
        } catch { /* left for the next commit or open */ }
      }
      if (error instanceof StrataError) throw error
      throw ioError(this.#dataDir, `commit cycle ${p.cycle}`, error)
    }
    if (this.#sync) {
      try {
        await this.#env.flushed
      } catch (error) {
        throw ioError(this.#dataDir, `flush cycle ${p.cycle} to disk`, error)
      }
    }
    return this.head()
  }

  /**
   * Everything of a batch but the head, inside the final write transaction. A plane that was not staged is
   * written here: over its current blob when it has one (this transaction commits atomically with the index,
   * so overwriting in place is safe, and as cheap as a raw put), else under a fresh key. A staged plane's index
   * entry is pointed at its staged blob and the blob it replaces is deleted.
   */
  #applyFinal(
    p: PreparedBatch, previous: HeadRecord, chunks: ReadonlyMap<PreparedPlane, readonly ChangedChunk[]>,
    runsOf: ReadonlyMap<PreparedPlane, readonly RunWrite[]>, stagedKeys: ReadonlyMap<RunWrite, Buffer>, staged: number,
  ): void {
    const db = this.#db
    for (const { key, value } of p.programs) db.programs.putSync(key, value as Buffer)

    const fresh = { next: staged }
    for (const delta of p.memory) {
      if (delta.dropped) {
        const doomed: Buffer[] = []
        for (const { key, value } of db.planes.getRange({ start: delta.program })) {
          if (!hasPrefix(key, delta.program)) break
          doomed.push(Buffer.from(key))
          removeChunkBlobs(db.blobs, value)
        }
        for (const key of doomed) db.planes.removeSync(key)
        db.memmeta.removeSync(delta.program)
        continue
      }
      db.memmeta.putSync(delta.program, delta.meta as Buffer)
      for (const plane of delta.planes) {
        const indexKey = planeIndexKey(delta.program, plane.key)
        const old = db.planes.getBinary(indexKey)
        if (plane.root === null) {
          if (old !== undefined) {
            removeChunkBlobs(db.blobs, old)
            db.planes.removeSync(indexKey)
          }
          continue
        }
        db.planes.putSync(indexKey, this.#writeRuns(p.commitNumber, plane, chunks.get(plane)!, runsOf.get(plane) ?? [], old, stagedKeys, fresh))
      }
    }

    for (let i = 0; i < p.consumed; i += 1) db.queue.removeSync(u64Key(previous.queueHead + i))
    p.appended.forEach((value, i) => db.queue.putSync(u64Key(previous.queueTail + i), value as Buffer))

    for (const { key } of p.waitDelete) this.#unpark(key)
    for (const { key, deadline, value } of p.waitPut) {
      this.#unpark(key)
      db.deadlines.putSync(deadline, key)
      db.waitlist.putSync(key, value as Buffer)
    }

    for (const cycle of p.delayedDelete) {
      const prefix = u64Key(cycle)
      const doomed: Buffer[] = []
      for (const key of db.delayed.getKeys({ start: prefix })) {
        if (!hasPrefix(key, prefix)) break
        doomed.push(Buffer.from(key))
      }
      for (const key of doomed) db.delayed.removeSync(key)
    }
    for (const { cycle, values } of p.delayedAppend) {
      let sequence = 0
      for (const key of db.delayed.getKeys({ start: delayedKey(cycle, 0xffff_ffff), reverse: true, limit: 1 })) {
        if (readU64(key, 0) === cycle) sequence = readU32(key, 8) + 1
      }
      values.forEach((value, i) => db.delayed.putSync(delayedKey(cycle, sequence + i), value as Buffer))
    }

    for (const { key: user, values } of p.mailboxes) {
      const meta = db.mailboxmeta.getBinary(user)
      const head = meta === undefined ? 0 : readU64(meta, 0)
      const tail = meta === undefined ? 0 : readU64(meta, 8)
      const newTail = tail + values.length
      const newHead = Math.max(head, newTail - this.#mailboxSizeMax)
      for (let seq = head; seq < Math.min(newHead, tail); seq += 1) db.mailbox.removeSync(mailboxKey(user, seq))
      values.forEach((value, i) => {
        if (tail + i >= newHead) db.mailbox.putSync(mailboxKey(user, tail + i), value as Buffer)
      })
      const next = Buffer.allocUnsafe(16)
      writeU64(next, 0, newHead)
      writeU64(next, 8, newTail)
      db.mailboxmeta.putSync(user, next)
    }

    for (const { key, nonce } of p.nonces) db.nonces.putSync(key, u64Key(nonce))
    if (p.cycleRecord !== undefined) db.cycles.putSync(u64Key(p.cycle), p.cycleRecord as Buffer)
    for (const key of p.merkleDelete) db.merkle.removeSync(key)
    for (const { key, value } of p.merklePut) db.merkle.putSync(key, value as Buffer)
  }

  /** Removes a waiting message and its deadline index entry (inside the write transaction). */
  /**
   * A plane's new index value, inside the final transaction. Chunks the batch did not change keep their slot (or,
   * for a fresh plane, become zeros); a changed chunk of zeros has no blob; every other changed chunk points into
   * its run's blob, staged already or written here under a fresh key. Blobs the old value named and the new one
   * does not are deleted (a blob holds chunks of this plane only).
   */
  #writeRuns(
    commitNumber: number, plane: PreparedPlane, chunks: readonly ChangedChunk[], runs: readonly RunWrite[],
    old: Buffer | undefined, stagedKeys: ReadonlyMap<RunWrite, Buffer>, fresh: { next: number },
  ): Buffer {
    const db = this.#db
    const value = Buffer.alloc(PLANE_INDEX_VALUE_BYTES)
    value.set(plane.root!, 0)
    if (old !== undefined && !plane.fresh) {
      for (let chunk = 0; chunk < CHUNKS_PER_PLANE; chunk += 1) {
        if (chunks[chunk] !== undefined) continue
        const slot = STORE_HASH_SIZE_BYTES + chunk * PLANE_SLOT_BYTES
        value.set(old.subarray(slot, slot + PLANE_SLOT_BYTES), slot)
      }
    }
    for (const run of runs) {
      let key = stagedKeys.get(run)
      if (key === undefined) {
        // Over the old blob when it held exactly this run's chunks, in order, and no other slot names it (a plane
        // rewritten the way it was last written): as cheap as a raw put, and safe, since this transaction commits
        // atomically with the index. Else under a fresh key.
        key = (old === undefined ? undefined : sameRunBlob(old, run)) ?? blobKey(commitNumber, fresh.next++)
        db.blobs.putSync(key, runBytes(run, chunks))
      }
      for (let i = 0; i < run.count; i += 1) {
        const slot = STORE_HASH_SIZE_BYTES + (run.first + i) * PLANE_SLOT_BYTES
        value.set(key, slot)
        value[slot + BLOB_KEY_BYTES] = i
      }
    }
    if (old !== undefined) {
      const kept = slotKeys(value)
      for (const key of slotKeys(old)) if (!kept.includes(key)) db.blobs.removeSync(Buffer.from(key, 'hex'))
    }
    return value
  }

  #unpark(key: Buffer): void {
    const old = this.#db.waitlist.getBinary(key)
    if (old === undefined) return
    this.#db.deadlines.removeSync(Buffer.from(decodeWaitEntry(old).deadline))
    this.#db.waitlist.removeSync(key)
  }

  // ---- restore ------------------------------------------------------------------------------------------------------

  /**
   * Fills an empty store with an image of another store (the PostgreSQL store rebuilds its local replica so):
   * entries in the store's own encodings, one page per LMDB transaction, then the mailbox cursors and `head` in a
   * last one. Until that last transaction the head says commit 0, so an interrupted restore leaves a store at
   * commit 0 that holds data: restore into a fresh directory and discard it on failure. Values are taken as they
   * come (they were encoded by this store's codecs); every later read decodes and checks them as usual.
   */
  async restore(pages: AsyncIterable<readonly StoreImageEntry[]>, head: StoreImageHead): Promise<StoreHead> {
    this.#writable()
    if (this.#committing !== undefined) throw new StrataError(StoreErrorCode.BUSY, 'a commit is in flight; a restore needs an idle store')
    if (this.#head.commitCount !== 0 || this.#count('programs') !== 0 || this.#count('codes') !== 0) {
      throw invalid(`a restore needs an empty store; ${this.#dataDir} holds commit ${this.#head.commitCount}`)
    }
    checkedCount(head.cycle, 'head.cycle')
    checkedCount(head.commitCount, 'head.commitCount')
    checkedCount(head.queueHead, 'head.queueHead')
    checkedCount(head.queueTail, 'head.queueTail', Number.MAX_SAFE_INTEGER)
    if (head.queueHead > head.queueTail) throw invalid(`head.queueHead ${head.queueHead} is after head.queueTail ${head.queueTail}`)
    if (head.stateRoot !== null && (head.stateRoot.length !== STORE_HASH_SIZE_BYTES)) throw invalid('head.stateRoot must be 32 bytes or null')
    const db = this.#db
    /** Mailbox cursors by user (hex): the lowest sequence seen and one past the highest. */
    const mailboxes = new Map<string, { head: number; tail: number }>()
    let blobIndex = 0
    try {
      for await (const page of pages) {
        db.meta.transactionSync(() => {
          for (const entry of page) {
            switch (entry.space) {
              case 'code': db.codes.putSync(asBuffer(entry.id), asBuffer(entry.value)); break
              case 'program': db.programs.putSync(asBuffer(entry.id), asBuffer(entry.value)); break
              case 'memmeta': db.memmeta.putSync(asBuffer(entry.id), asBuffer(entry.value)); break
              case 'plane': {
                // The plane's chunks that are not zeros, packed into one blob in index order; a slot names its position.
                const index = Buffer.alloc(PLANE_INDEX_VALUE_BYTES)
                index.set(entry.root, 0)
                const stored = entry.chunks.filter(([, bytes]) => !isZeroChunk(bytes))
                if (stored.length > 0) {
                  const key = blobKey(head.commitCount, blobIndex++)
                  stored.forEach(([chunk, bytes], position) => {
                    if (!Number.isInteger(chunk) || chunk < 0 || chunk >= CHUNKS_PER_PLANE || bytes.length !== STORE_CHUNK_SIZE_BYTES) {
                      throw invalid(`image plane ${entry.key}: chunk ${chunk} of ${bytes.length} bytes`)
                    }
                    const slot = STORE_HASH_SIZE_BYTES + chunk * PLANE_SLOT_BYTES
                    index.set(key, slot)
                    index[slot + BLOB_KEY_BYTES] = position
                  })
                  db.blobs.putSync(key, Buffer.concat(stored.map(([, bytes]) => asBuffer(bytes))))
                }
                db.planes.putSync(planeIndexKey(entry.id, entry.key), index)
                break
              }
              case 'queue': db.queue.putSync(u64Key(entry.seq), asBuffer(entry.value)); break
              case 'wait':
                db.deadlines.putSync(asBuffer(entry.deadline), asBuffer(entry.id))
                db.waitlist.putSync(asBuffer(entry.id), asBuffer(entry.value))
                break
              case 'delayed': db.delayed.putSync(delayedKey(entry.cycle, entry.seq), asBuffer(entry.value)); break
              case 'mailbox': {
                db.mailbox.putSync(mailboxKey(entry.id, entry.seq), asBuffer(entry.value))
                const user = Buffer.from(entry.id).toString('hex')
                const cursor = mailboxes.get(user)
                if (cursor === undefined) mailboxes.set(user, { head: entry.seq, tail: entry.seq + 1 })
                else mailboxes.set(user, { head: Math.min(cursor.head, entry.seq), tail: Math.max(cursor.tail, entry.seq + 1) })
                break
              }
              case 'nonce': db.nonces.putSync(asBuffer(entry.id), u64Key(entry.nonce)); break
              case 'merkle': db.merkle.putSync(checkedMerkleKey(entry.key), asBuffer(entry.value)); break
              case 'cycle': db.cycles.putSync(u64Key(entry.cycle), asBuffer(entry.value)); break
            }
          }
        })
        await yieldToEventLoop()
      }
      const next: HeadRecord = {
        cycle: head.cycle, stateRoot: head.stateRoot === null ? null : new Uint8Array(head.stateRoot), commitCount: head.commitCount,
        queueHead: head.queueHead, queueTail: head.queueTail,
      }
      db.meta.transactionSync(() => {
        for (const [user, cursor] of mailboxes) {
          const value = Buffer.allocUnsafe(16)
          writeU64(value, 0, cursor.head)
          writeU64(value, 8, cursor.tail)
          db.mailboxmeta.putSync(Buffer.from(user, 'hex'), value)
        }
        db.meta.putSync(HEAD_KEY, Buffer.from(encodeHead(next)))
      })
      this.#head = next
    } catch (error) {
      if (error instanceof StrataError) throw error
      throw ioError(this.#dataDir, 'restore a store image', error)
    }
    if (this.#sync) {
      try {
        await this.#env.flushed
      } catch (error) {
        throw ioError(this.#dataDir, 'flush a restored store image to disk', error)
      }
    }
    return this.head()
  }

  // ---- lifecycle ------------------------------------------------------------------------------------------------------

  async close(): Promise<void> {
    if (this.#closed) return
    await this.#committing?.catch(() => undefined)
    this.#closed = true
    this.#snapshot?.done()
    this.#snapshot = undefined
    try {
      await this.#env.close()
    } finally {
      this.#lock?.release()
    }
  }

  /**
   * A snapshot reader moves to the last commit now (releasing the one it held) and returns its head; a
   * following reader or a writer only returns its head.
   */
  refresh(): StoreHead {
    this.#open()
    if (this.#snapshot !== undefined) this.#pin()
    return this.head()
  }

  /** Takes a read transaction on the latest commit and reads the head in it. */
  #pin(): void {
    this.#snapshot?.done()
    this.#snapshot = undefined
    // Starts lmdb's shared read transaction afresh (a transaction someone still uses is set aside, not reset).
    this.#env.resetReadTxn()
    const transaction = this.#env.useReadTransaction()
    this.#snapshot = transaction
    this.#read = { transaction }
    this.#snapshotCounts.clear()
    this.#head = readHead(this.#db.meta, this.#read)
  }

  /** Entries in a key space: LMDB's count for writers and following readers, counted in the snapshot otherwise. */
  #count(name: DbName): number {
    this.#open()
    if (this.#read === undefined) return entryCount(this.#db[name])
    let count = this.#snapshotCounts.get(name)
    if (count === undefined) {
      count = this.#db[name].getKeysCount({ ...this.#read })
      this.#snapshotCounts.set(name, count)
    }
    return count
  }

  #currentHead(): HeadRecord {
    this.#open()
    if (!this.readOnly || this.#snapshot !== undefined) return this.#head
    // A reader follows the writer: start a fresh snapshot here (lmdb would only renew it on its next timer
    // tick), so this head and the reads that follow it in the same turn see the latest commit.
    this.#env.resetReadTxn()
    return readHead(this.#db.meta)
  }

  #open(): void {
    if (this.#closed) throw new StrataError(StoreErrorCode.CLOSED, `the store in ${this.#dataDir} is closed`)
  }

  #writable(): void {
    this.#open()
    if (this.readOnly) throw new StrataError(StoreErrorCode.READ_ONLY, `the store in ${this.#dataDir} was opened read-only`)
  }
}

/**
 * Opens the LMDB store in `dataDir` (created if absent). Fails with LOCKED if another live writer holds it,
 * FORMAT_VERSION if it was written in another format (or is not a Strata store), IO if the file system refuses,
 * NOT_FOUND for a read-only open of a directory without a store.
 */
export function openLmdbStore(options: LmdbStoreOptions): Promise<LmdbStore> {
  return LmdbStore.open(options)
}

/** The size of the data file, 0 when there is none (or dataDir is no directory), as existsSync would say. */
function dataFileSize(dataDir: string): number {
  try {
    return statSync(path.join(dataDir, DATA_FILE_NAME)).size
  } catch {
    return 0
  }
}

/**
 * Refuses a data file that is not LMDB's before lmdb opens it: lmdb 3.5 crashes the process (SIGSEGV) on one.
 * LMDB's first meta page carries the magic 0xBEEFC0DE (little-endian) at byte 24 (16-byte page header, then
 * the meta's magic after an 8-byte field); an empty or absent file is a fresh store.
 */
function checkDataFileMagic(dataDir: string): void {
  const file = path.join(dataDir, DATA_FILE_NAME)
  let fd: number
  try {
    fd = openSync(file, 'r')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return
    throw ioError(dataDir, `read ${DATA_FILE_NAME}`, error)
  }
  try {
    const header = Buffer.alloc(LMDB_MAGIC_OFFSET + 4)
    const length = readSync(fd, header, 0, header.length, 0)
    if (length === 0) return
    if (length < header.length || header.readUInt32LE(LMDB_MAGIC_OFFSET) !== LMDB_MAGIC) {
      throw new StrataError(StoreErrorCode.FORMAT_VERSION,
        `${path.join(dataDir, DATA_FILE_NAME)} is not an LMDB data file; this is not a Strata store`, { dataDir })
    }
  } finally {
    closeSync(fd)
  }
}

function readHead(meta: Db, read?: ReadOptions): HeadRecord {
  const bytes = meta.getBinaryFast(HEAD_KEY, read)
  if (bytes === undefined) throw integrity('the head record is missing')
  return decodeHead(bytes)
}

/** Deletes blobs of commits after `commitCount` (staged by a commit that never finished); returns how many. */
/** A Buffer view of the caller's bytes (lmdb copies them into the map). */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

function chunkOf(plane: Uint8Array, chunk: number): Buffer {
  return Buffer.from(plane.buffer, plane.byteOffset + chunk * STORE_CHUNK_SIZE_BYTES, STORE_CHUNK_SIZE_BYTES)
}

const ZERO_CHUNK = Buffer.alloc(STORE_CHUNK_SIZE_BYTES)

function isZeroChunk(chunk: Uint8Array): boolean {
  return ZERO_CHUNK.equals(asBuffer(chunk))
}

/** A changed chunk: its new bytes, or null when it became zeros; undefined in a list: not changed. */
type ChangedChunk = Uint8Array | null | undefined

/** Consecutive changed chunks of one plane that are not zeros: stored as one blob. */
interface RunWrite {
  readonly plane: PreparedPlane
  readonly first: number
  readonly count: number
}

/**
 * What a commit writes, in batch order: each plane's changed chunks (a plane given whole but not stored yet is
 * written whole, whatever its mask says) and their runs.
 */
function runWrites(p: PreparedBatch, planes: Database<Buffer, Buffer>): {
  readonly runs: RunWrite[]
  readonly chunks: Map<PreparedPlane, readonly ChangedChunk[]>
  readonly runsOf: Map<PreparedPlane, RunWrite[]>
  readonly chunkCount: number
} {
  const runs: RunWrite[] = []
  const chunks = new Map<PreparedPlane, readonly ChangedChunk[]>()
  const runsOf = new Map<PreparedPlane, RunWrite[]>()
  let chunkCount = 0
  // Whether a plane is stored when its entry applies: not if this batch dropped it, or its program, before.
  const droppedPrograms = new Set<string>()
  const droppedPlanes = new Set<string>()
  const stored = (program: Buffer, key: number): boolean => {
    const id = program.toString('hex')
    return !droppedPrograms.has(id) && !droppedPlanes.has(`${id}/${key}`) && planes.doesExist(planeIndexKey(program, key))
  }
  for (const delta of p.memory) {
    if (delta.dropped) {
      droppedPrograms.add(delta.program.toString('hex'))
      continue
    }
    for (const plane of delta.planes) {
      if (plane.root === null) {
        droppedPlanes.add(`${delta.program.toString('hex')}/${plane.key}`)
        continue
      }
      const partial = plane.whole !== undefined && plane.chunks.includes(undefined)
      const given = partial && !stored(delta.program, plane.key) ? chunksOf(plane.whole!, ALL_CHUNKS) : plane.chunks
      const changed = given.map((bytes): ChangedChunk => (bytes === undefined ? undefined : isZeroChunk(bytes) ? null : bytes))
      chunks.set(plane, changed)
      const own: RunWrite[] = []
      for (let chunk = 0; chunk < CHUNKS_PER_PLANE;) {
        if (!changed[chunk]) {
          chunk += 1
          continue
        }
        const first = chunk
        while (chunk < CHUNKS_PER_PLANE && changed[chunk]) chunk += 1
        own.push({ plane, first, count: chunk - first })
        chunkCount += chunk - first
      }
      runs.push(...own)
      runsOf.set(plane, own)
    }
  }
  return { runs, chunks, runsOf, chunkCount }
}

/** A run's bytes as one value: a view when its chunks are consecutive in one buffer (a whole plane), else a copy. */
function runBytes(run: RunWrite, chunks: readonly ChangedChunk[]): Buffer {
  const first = chunks[run.first]!
  let contiguous = true
  for (let i = 1; i < run.count && contiguous; i += 1) {
    const chunk = chunks[run.first + i]!
    contiguous = chunk.buffer === first.buffer && chunk.byteOffset === first.byteOffset + i * STORE_CHUNK_SIZE_BYTES
  }
  if (contiguous) return Buffer.from(first.buffer, first.byteOffset, run.count * STORE_CHUNK_SIZE_BYTES)
  return Buffer.concat(chunks.slice(run.first, run.first + run.count).map((chunk) => asBuffer(chunk!)))
}

/** The key of the blob `old`'s slots give this run's chunks, if it holds exactly them in order and nothing else. */
function sameRunBlob(old: Uint8Array, run: RunWrite): Buffer | undefined {
  const first = STORE_HASH_SIZE_BYTES + run.first * PLANE_SLOT_BYTES
  if (isEmptySlot(old, first)) return undefined
  for (let chunk = 0; chunk < CHUNKS_PER_PLANE; chunk += 1) {
    const slot = STORE_HASH_SIZE_BYTES + chunk * PLANE_SLOT_BYTES
    const inRun = chunk >= run.first && chunk < run.first + run.count
    const named = !isEmptySlot(old, slot) && sameKey(old, slot, first)
    if (inRun ? !named || old[slot + BLOB_KEY_BYTES] !== chunk - run.first : named) return undefined
  }
  return Buffer.from(old.subarray(first, first + BLOB_KEY_BYTES))
}

/** The distinct blob keys an index value names, as hex (the chunks of one run sit in consecutive slots). */
function slotKeys(index: Uint8Array): string[] {
  const keys: string[] = []
  let previous = -1
  for (let chunk = 0; chunk < CHUNKS_PER_PLANE; chunk += 1) {
    const slot = STORE_HASH_SIZE_BYTES + chunk * PLANE_SLOT_BYTES
    if (index.length < slot + PLANE_SLOT_BYTES || isEmptySlot(index, slot)) continue
    if (previous >= 0 && sameKey(index, previous, slot)) continue
    const key = Buffer.from(index.buffer, index.byteOffset + slot, BLOB_KEY_BYTES).toString('hex')
    if (!keys.includes(key)) keys.push(key)
    previous = slot
  }
  return keys
}

function sameKey(index: Uint8Array, a: number, b: number): boolean {
  for (let i = 0; i < BLOB_KEY_BYTES; i += 1) if (index[a + i] !== index[b + i]) return false
  return true
}

/** Deletes the blobs an index value names. */
function removeChunkBlobs(blobs: Database<Buffer, Buffer>, index: Uint8Array): void {
  for (const key of slotKeys(index)) blobs.removeSync(Buffer.from(key, 'hex'))
}

/**
 * Converts a store of format 1 (each plane one 65,536-byte blob, index value root | blob key) to the chunked
 * index, in one transaction with the format key: a crash leaves format 1 intact, and the next open converts again.
 * No bytes move: the old blob becomes a 16-chunk run, and each non-zero chunk's slot points into it.
 */
function convertWholePlanes(db: Dbs, head: HeadRecord): number {
  // Blobs a crashed format-1 commit staged are pending under the next commit number: gone first.
  deletePendingBlobs(db.blobs, head.commitCount)
  let planes = 0
  db.meta.transactionSync(() => {
    const entries: [Buffer, Buffer][] = []
    for (const { key, value } of db.planes.getRange()) entries.push([Buffer.from(key), Buffer.from(value)])
    for (const [key, value] of entries) {
      if (value.length !== STORE_HASH_SIZE_BYTES + BLOB_KEY_BYTES) {
        throw integrity(`plane index entry ${key.toString('hex')} is not a format-1 entry (${value.length} bytes)`)
      }
      const blobKeyOld = value.subarray(STORE_HASH_SIZE_BYTES)
      const blob = db.blobs.getBinary(blobKeyOld)
      if (blob === undefined || blob.length !== STORE_PLANE_SIZE_BYTES) {
        throw integrity(`plane index entry ${key.toString('hex')} names a missing or malformed blob`)
      }
      const index = Buffer.alloc(PLANE_INDEX_VALUE_BYTES)
      index.set(value.subarray(0, STORE_HASH_SIZE_BYTES), 0)
      let used = false
      for (let chunk = 0; chunk < CHUNKS_PER_PLANE; chunk += 1) {
        if (isZeroChunk(chunkOf(blob, chunk))) continue
        const slot = STORE_HASH_SIZE_BYTES + chunk * PLANE_SLOT_BYTES
        index.set(blobKeyOld, slot)
        index[slot + BLOB_KEY_BYTES] = chunk
        used = true
      }
      if (!used) db.blobs.removeSync(Buffer.from(blobKeyOld))
      db.planes.putSync(key, index)
      planes += 1
    }
    const format = Buffer.alloc(4)
    format.writeUInt32BE(STORE_FORMAT_VERSION)
    db.meta.putSync(FORMAT_KEY, format)
  })
  return planes
}

function deletePendingBlobs(blobs: Database<Buffer, Buffer>, commitCount: number): number {
  const doomed: Buffer[] = []
  for (const key of blobs.getKeys({ start: blobKey(commitCount + 1, 0) })) {
    if (key.length === BLOB_KEY_BYTES) doomed.push(Buffer.from(key))
  }
  if (doomed.length === 0) return 0
  blobs.transactionSync(() => {
    for (const key of doomed) blobs.removeSync(key)
  })
  return doomed.length
}

/** Entries in a key space, from LMDB's B-tree header (constant time, no walk). */
function entryCount(db: Database<Buffer, Buffer>): number {
  return (db.getStats() as { readonly entryCount: number }).entryCount
}

function integrity(detail: string): StrataError {
  return new StrataError(StoreErrorCode.INTEGRITY, `store integrity: ${detail}`)
}

/**
 * A plain Uint8Array the caller owns. lmdb's getBinary returns a Buffer over an ArrayBuffer of its own (a copy
 * out of the map), which is wrapped without a second copy; anything else is copied.
 */
function plain(buffer: Buffer): Uint8Array {
  if (buffer.byteOffset === 0 && buffer.buffer.byteLength === buffer.length) {
    return new Uint8Array(buffer.buffer, 0, buffer.length)
  }
  return new Uint8Array(buffer)
}
