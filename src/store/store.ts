/**
 * The store: everything a runtime needs to reopen where it stopped, behind one interface so that the on-disk
 * LMDB store, the in-memory test store and a later distributed backend are interchangeable.
 *
 * What it holds: code blobs, program records, per-program memory metadata and planes (64 KiB each, with the
 * 32-byte root committed for each), the message queue (a head cursor over increasing sequence numbers), the
 * waitlist, the delayed schedule, user mailboxes and nonces, the commitment layer's Merkle nodes (opaque keys to
 * 32-byte values), and the head: the last committed cycle, its state root and the format version.
 *
 * Writes happen in two ways only:
 *   - `putCode`: a code upload, durable on its own as soon as it resolves (codes are immutable and keyed by
 *     their hash, so they need no cycle);
 *   - `commit(batch)`: one cycle (or one intake of external messages between cycles), applied atomically: after
 *     a crash at any instant, reopening yields exactly the last committed head and its data.
 *
 * Reads see the last committed batch. Every byte array returned is a fresh copy the caller owns. Planes are
 * checked against their committed root with the `verify` function given at open (the store does not know how
 * planes are hashed); a mismatch is an INTEGRITY error naming program and plane, never served (DESIGN inv. 8).
 */
import { CODE_SIZE_MAX_BYTES, MAILBOX_SIZE_MAX, PLANE_SIZE_BYTES } from '../constants.js'
import type { CodeId, MessageId, ProgramId, UserId } from '../message/index.js'
import type { Message } from '../message/index.js'
import type { ProgramRecord } from '../protocol/index.js'

// ---- limits ---------------------------------------------------------------------------------------------------

/** The on-disk format this build writes and reads. Bump it with any change of key or value layout. */
/**
 * 2: planes are stored as runs of 4,096-byte chunks, the index naming each chunk's blob and position in it (1
 * stored each plane as one 65,536-byte blob; opening a format-1 store as a writer converts it,
 * docs/architecture.md).
 */
export const STORE_FORMAT_VERSION = 2
/** The format before chunked planes, which a writer converts when it opens it. */
export const STORE_FORMAT_WHOLE_PLANES = 1
/** A stored plane chunk: the Merkle leaf size, so a cycle writes what it dirtied at the granularity it hashes. */
export const STORE_CHUNK_SIZE_BYTES = 4096
/** A mask naming every chunk of a plane. */
export const ALL_CHUNKS = 0xffff
/** Hashes (state root, plane roots, Merkle node values) are SHA-256 digests. */
export const STORE_HASH_SIZE_BYTES = 32
/** Planes are stored whole. */
export const STORE_PLANE_SIZE_BYTES = PLANE_SIZE_BYTES
/** One past the largest plane key: region (8 bits) * 2^16 + plane (16 bits). */
export const STORE_PLANE_KEY_LIMIT = 2 ** 24
/**
 * Planes written per LMDB transaction: lmdb writes 64 KiB values at 1.2-1.3 GB/s in transactions of ~1,000,
 * and one 10,000-plane transaction is 3-9x slower (REFERENCE.md). Larger cycles are staged in chunks.
 */
export const PLANES_PER_TRANSACTION_DEFAULT = 1_000
/**
 * A Merkle node key at most 511 bytes: LMDB's key limit is 511 bytes on every page size when built with
 * default options and 1,978 with lmdb-js's build; 511 keeps a store portable and is far above any tree path.
 */
export const MERKLE_KEY_SIZE_MAX_BYTES = 511
/** Codes are bounded where they are accepted (constants.ts); the store refuses larger ones too. */
export const STORE_CODE_SIZE_MAX_BYTES = CODE_SIZE_MAX_BYTES
/** Mailboxes keep this many entries by default; older ones are trimmed first (as the scheduler does). */
export const STORE_MAILBOX_SIZE_MAX_DEFAULT = MAILBOX_SIZE_MAX
/** The largest configurable mailbox bound: 2^32 sequence numbers per user is far beyond any real mailbox. */
export const STORE_MAILBOX_SIZE_MAX_LIMIT = 2 ** 32
/** The largest configurable staging chunk: beyond ~1,000 planes lmdb only gets slower (REFERENCE.md). */
export const PLANES_PER_TRANSACTION_LIMIT = 1_000_000
/** LMDB reader slots by default (lmdb's own default): one per thread or process reading at the same time. */
export const LMDB_READERS_DEFAULT = 126
/** The most reader slots one may ask for: the lock file holds one 64-byte slot each. */
export const LMDB_READERS_LIMIT = 65_536

// ---- values -----------------------------------------------------------------------------------------------------

/** Returns the committed root of a plane's bytes (the commitment layer's `hashPlane`). Must be pure. */
export type PlaneVerifier = (bytes: Uint8Array) => Uint8Array

export interface StoreHead {
  /** The last committed cycle (0 before the first). */
  readonly cycle: number
  /** The state root committed with it; null until the first commit. */
  readonly stateRoot: Uint8Array | null
  /** Batches committed since the store was created (cycle commits and intake commits). */
  readonly commitCount: number
}

/**
 * One plane's change, in one of two forms: the whole plane (`bytes`, 65,536 bytes, optionally with the mask of
 * the chunks that changed), or only the chunks written (`written`, as a stream reports them). `bytes` and
 * `root` both null: the plane was dropped.
 */
export interface StorePlaneChange {
  readonly key: number
  /** The plane's root after the batch. */
  readonly root: Uint8Array | null
  /** The whole plane after the batch; omitted when `written` is given. */
  readonly bytes?: Uint8Array | null
  /**
   * With `bytes`, when the plane is stored already: which 4,096-byte chunks changed (bit i: chunk i); the store
   * writes only those and keeps the others (which must equal `bytes` there). Default ALL_CHUNKS. A plane not
   * stored yet is written whole.
   */
  readonly chunks?: number
  /** Instead of `bytes`: the chunks written, [chunk index, 4,096 bytes], by ascending index. */
  readonly written?: readonly (readonly [number, Uint8Array])[]
  /** With `written`: the plane was created anew, so chunks not written are zeros, whatever was stored. */
  readonly fresh?: boolean
}

/**
 * The memory changes of one program in one batch. The scheduler's `MemoryDelta` (protocol.ts) is assignable to
 * it; its `allocations` list is not stored (the allocator state is inside `meta`).
 */
export interface StoreMemoryDelta {
  readonly programId: ProgramId
  /** The program exited: its meta and every plane are deleted; `meta` and `planes` are ignored. */
  readonly dropped: boolean
  /** Encoded allocator metadata after the batch; replaces the stored one. */
  readonly meta: Uint8Array
  readonly planes: readonly StorePlaneChange[]
}

/** What a cycle did, kept per cycle beside its state root (the counts of the runtime's CycleReport). */
export interface CycleCounts {
  /** Messages executed (including ones skipped because their program was unavailable). */
  readonly processed: number
  /** Messages that failed (error replies). */
  readonly failed: number
  readonly gasBurned: number
  /** Gas returned to origins: unused gas of reply/signal messages and gas of mailbox deliveries. */
  readonly gasRefunded: number
  /** Messages appended to the queue by this cycle. */
  readonly enqueued: number
  /** Messages delivered to user mailboxes. */
  readonly mailboxed: number
  /** Planes whose bytes changed or were dropped in this cycle. */
  readonly dirtyPlanes: number
}

/** A committed cycle: its number, the state root it committed and its counts. */
export interface CycleRecord extends CycleCounts {
  readonly cycle: number
  readonly stateRoot: Uint8Array
}

/** A parked message (the scheduler's `WaitEntry`). */
export interface StoredWaitEntry {
  readonly message: Message
  readonly programId: ProgramId
  /** The last cycle in which a wake can still find it. */
  readonly untilCycle: number
}

/** A message delivered to a user (the scheduler's `MailboxEntry`). */
export interface StoredMailboxEntry {
  readonly message: Message
  /** The cycle in which it arrived. */
  readonly cycle: number
}

/**
 * One atomic commit. Parts are applied in this order: program records, memory, queue (consume, then append),
 * waitlist (delete, then put), delayed (delete, then append), mailboxes, nonces, Merkle nodes (delete, then put),
 * head. Deleting something absent is not an error. The whole batch is validated before anything is written: a
 * rejected batch changes nothing.
 */
export interface CommitBatch {
  /**
   * The cycle this batch commits: head.cycle + 1 for a cycle, or head.cycle for an intake commit (messages,
   * programs and nonces accepted between cycles, so they survive a crash before the next cycle).
   */
  readonly cycle: number
  /** The state root after this batch (32 bytes). */
  readonly stateRoot: Uint8Array
  /** Records inserted or replaced whole. */
  readonly programs?: readonly ProgramRecord[]
  readonly memory?: readonly StoreMemoryDelta[]
  readonly queue?: {
    /** Messages removed from the head of the queue (at most its length before this batch). */
    readonly consumed?: number
    /** Messages appended to its tail, in order. */
    readonly appended?: readonly Message[]
  }
  readonly waitlist?: {
    readonly delete?: readonly MessageId[]
    /** Inserted, or replacing the entry of the same message id. */
    readonly put?: readonly StoredWaitEntry[]
  }
  readonly delayed?: {
    /** Whole cycles removed from the schedule (released at that cycle's start). */
    readonly delete?: readonly number[]
    /** Messages appended to a cycle's list, in order. */
    readonly append?: readonly (readonly [cycle: number, messages: readonly Message[]])[]
  }
  /** Entries appended to users' mailboxes; each mailbox then keeps its newest `mailboxSizeMax` entries. */
  readonly mailboxes?: readonly (readonly [userId: UserId, entries: readonly StoredMailboxEntry[]])[]
  /** A user's next nonce, replacing the stored one. */
  readonly nonces?: readonly (readonly [userId: UserId, nonce: number])[]
  /** A cycle commit's counts, kept as its cycle record with `cycle` and `stateRoot` (not allowed on intake). */
  readonly counts?: CycleCounts
  /** The commitment layer's nodes: opaque keys (1..511 bytes) to 32-byte values. */
  readonly merkle?: {
    readonly delete?: readonly Uint8Array[]
    readonly put?: readonly (readonly [key: Uint8Array, value: Uint8Array])[]
  }
}

export interface StoreOpenOptions {
  /** Returns a plane's committed root; every plane read is checked with it. */
  readonly verify: PlaneVerifier
  /** Entries a mailbox keeps (default MAILBOX_SIZE_MAX). */
  readonly mailboxSizeMax?: number
}

/**
 * One entry of a store image: another store's content in the store's own encodings (the values a
 * `PreparedBatch` carries), from which `LmdbStore.restore` fills an empty store. The PostgreSQL store rebuilds
 * its local replica so. Ids and keys are raw bytes (32-byte ids); a plane lists its chunks that are not all
 * zeros, [chunk index, 4,096 bytes], by ascending index.
 */
export type StoreImageEntry =
  | { readonly space: 'code' | 'program' | 'memmeta'; readonly id: Uint8Array; readonly value: Uint8Array }
  | {
    readonly space: 'plane'; readonly id: Uint8Array; readonly key: number; readonly root: Uint8Array
    readonly chunks: readonly (readonly [number, Uint8Array])[]
  }
  | { readonly space: 'queue'; readonly seq: number; readonly value: Uint8Array }
  | { readonly space: 'wait'; readonly id: Uint8Array; readonly deadline: Uint8Array; readonly value: Uint8Array }
  | { readonly space: 'delayed'; readonly cycle: number; readonly seq: number; readonly value: Uint8Array }
  | { readonly space: 'mailbox'; readonly id: Uint8Array; readonly seq: number; readonly value: Uint8Array }
  | { readonly space: 'nonce'; readonly id: Uint8Array; readonly nonce: number }
  | { readonly space: 'merkle'; readonly key: Uint8Array; readonly value: Uint8Array }
  | { readonly space: 'cycle'; readonly cycle: number; readonly value: Uint8Array }

/** The head of a store image: the committed head plus the queue's sequence cursors. */
export interface StoreImageHead extends StoreHead {
  readonly stateRoot: Uint8Array | null
  /** Sequence number of the queue's first message. */
  readonly queueHead: number
  /** Sequence number the next appended message gets. */
  readonly queueTail: number
}

/** A client's send waiting in a cluster's inbox (Store.takeInbox). */
export interface InboxRequest {
  /** Its place in the inbox: taken in ascending order. */
  readonly seq: number
  readonly source: string
  readonly destination: string
  readonly payload: Uint8Array
  readonly gasLimit: number
}

// ---- the interface ----------------------------------------------------------------------------------------------

export interface Store {
  readonly kind: 'lmdb' | 'memory' | 'postgres'
  readonly readOnly: boolean
  readonly closed: boolean
  /**
   * The LMDB directory that holds this store's committed state on this machine, which stream workers open
   * read-only themselves (the LMDB store's data directory, the PostgreSQL store's local replica); undefined
   * for the memory store, whose workers get committed memory carried in their tasks.
   */
  readonly dataDir: string | undefined

  /** The last committed cycle, its state root and the number of commits. */
  head(): StoreHead
  /**
   * A snapshot reader (LMDB, readOnly with snapshot) moves to the last commit and returns its head; every other
   * store reads its last commit already and returns its head.
   */
  refresh(): StoreHead
  /**
   * A read-only store whose commits reach it over the network (the PostgreSQL reader) brings its local copy to
   * the source's last commit; its snapshot moves there on the next `refresh`. Other stores have no such method.
   */
  catchUp?(): Promise<StoreHead>
  /**
   * A store shared by a cluster (the PostgreSQL writer) holds an inbox of client sends (`ClusterClient.send`):
   * this takes up to `max` of those not taken yet, in the order they were accepted. The caller settles each one
   * with `settleInbox` (the message id it became, or why it was refused), and the next commit records those
   * settlements in the same transaction as the queue they changed: a send is taken exactly once, and one the
   * caller dies holding is taken again by the next coordinator. Other stores have no inbox.
   */
  takeInbox?(max: number): Promise<InboxRequest[]>
  settleInbox?(seq: number, outcome: { readonly messageId: string } | { readonly refused: string }): void

  /** Stores a code blob under its id (SHA-256 of the blob, checked). Durable once resolved; idempotent. */
  putCode(codeId: CodeId, blob: Uint8Array): Promise<void>
  /** The blob, checked against its id (INTEGRITY on mismatch), or undefined. */
  code(codeId: CodeId): Uint8Array | undefined
  hasCode(codeId: CodeId): boolean
  /** Every code id, in id order. For inspection: it walks all codes. */
  codeIds(): IterableIterator<CodeId>

  program(programId: ProgramId): ProgramRecord | undefined
  /** Every program id, in id order. For inspection: it walks all records (opening never does). */
  programIds(): IterableIterator<ProgramId>
  /** Program records held (constant time). */
  programCount(): number

  /** The program's encoded allocator metadata, or undefined if it has none (never ran, or exited). */
  memoryMeta(programId: ProgramId): Uint8Array | undefined
  /** A fresh copy of a plane's 65,536 bytes, verified against its root; undefined if the plane is absent. */
  plane(programId: ProgramId, key: number): Uint8Array | undefined
  /** The committed root of a plane, or undefined if the plane is absent. */
  planeRoot(programId: ProgramId, key: number): Uint8Array | undefined
  /** The keys of a program's stored planes, ascending. */
  planeKeys(programId: ProgramId): number[]

  /** Messages in the queue (constant time). */
  queueLength(): number
  /** The queue from its head, in order. Do not commit while iterating. */
  queue(): IterableIterator<Message>

  waitEntry(messageId: MessageId): StoredWaitEntry | undefined
  /** Every waiting message, in message id order. */
  waitlist(): IterableIterator<StoredWaitEntry>
  /** Waiting messages (constant time). */
  waitlistSize(): number
  /**
   * Waiting messages with untilCycle <= `untilCycleMax`, by untilCycle, then in the order they were put
   * (batch order within a batch; the latest put of an id counts). Reads only those, never the whole list.
   */
  waitlistExpiring(untilCycleMax: number): IterableIterator<StoredWaitEntry>

  /** The messages scheduled for `cycle`, in append order ([] if none). */
  delayed(cycle: number): Message[]
  /** Cycles with scheduled messages, ascending. */
  delayedCycles(): IterableIterator<number>

  /** A user's mailbox, oldest first. */
  mailbox(userId: UserId): StoredMailboxEntry[]
  /** A user's next nonce (0 if never set). */
  nonce(userId: UserId): number

  /** The record of a committed cycle, or undefined (not committed, or committed without counts). */
  cycleRecord(cycle: number): CycleRecord | undefined

  /** A Merkle node's 32-byte value, or undefined. */
  merkleNode(key: Uint8Array): Uint8Array | undefined

  /**
   * Applies one batch atomically; resolves with the new head once it is durable (see each store's `sync`).
   * Rejects with INVALID_ARGUMENT or CYCLE_ORDER (nothing written), IO (the batch is not committed and the
   * last committed state is intact; the one exception is a failure of the fsync after the commit, which is
   * reported as IO although the batch is committed and visible), BUSY (a commit is in flight), READ_ONLY,
   * CLOSED.
   */
  commit(batch: CommitBatch): Promise<StoreHead>
  /** Waits for a commit in flight, then releases everything. Idempotent. */
  close(): Promise<void>
}
