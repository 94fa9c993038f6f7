/**
 * The in-memory store: the same interface and the same semantics as the LMDB store, for tests and for runs that
 * need no disk. Values are kept encoded with the same codecs (so both stores round-trip identically and nothing
 * a caller holds aliases stored data), planes are copied in and out and verified on every read, and a batch is
 * validated completely before it is applied, so a rejected batch changes nothing. Nothing survives `close`.
 */
import { createHash } from 'node:crypto'
import { StrataError } from '../errors.js'
import type { CodeId, MessageId, ProgramId, UserId } from '../message/index.js'
import type { Message } from '../message/index.js'
import type { ProgramRecord } from '../protocol/index.js'
import { prepareBatch } from './batch.js'
import {
  EMPTY_HEAD, checkedCount, checkedIdBytes, decodeCycleRecord, decodeMailboxEntry, decodeMessage, decodeProgramRecord,
  decodeWaitEntry, invalid, type HeadRecord,
} from './codec.js'
import { StoreErrorCode } from './errors.js'
import { checkedCode, checkedMerkleKey, checkedPlaneKey, codeMismatch, planeMismatch } from './checks.js'
import { readU64 } from './keys.js'
import {
  STORE_CHUNK_SIZE_BYTES, STORE_MAILBOX_SIZE_MAX_DEFAULT, STORE_MAILBOX_SIZE_MAX_LIMIT, STORE_PLANE_SIZE_BYTES, type CommitBatch, type CycleRecord,
  type PlaneVerifier, type Store, type StoreHead,
  type StoreOpenOptions, type StoredMailboxEntry, type StoredWaitEntry,
} from './store.js'

interface StoredPlane {
  readonly bytes: Uint8Array
  readonly root: Uint8Array
}

export type MemoryStoreOptions = StoreOpenOptions

export class MemoryStore implements Store {
  readonly kind = 'memory' as const
  readonly readOnly = false
  /** Nothing on disk: workers get committed memory in their tasks. */
  readonly dataDir = undefined
  readonly #verify: PlaneVerifier
  readonly #mailboxSizeMax: number
  #head: HeadRecord = EMPTY_HEAD
  #closed = false
  readonly #codes = new Map<string, Uint8Array>()
  readonly #programs = new Map<string, Uint8Array>()
  readonly #meta = new Map<string, Uint8Array>()
  readonly #planes = new Map<string, Map<number, StoredPlane>>()
  /** Queue sequence number -> encoded message. */
  readonly #queue = new Map<number, Uint8Array>()
  /** Message id -> encoded entry; deadline key (hex, sorts like the bytes) -> message id. */
  readonly #waitlist = new Map<string, Uint8Array>()
  readonly #deadlines = new Map<string, string>()
  readonly #delayed = new Map<number, Uint8Array[]>()
  readonly #mailboxes = new Map<string, Uint8Array[]>()
  readonly #nonces = new Map<string, number>()
  readonly #merkle = new Map<string, Uint8Array>()
  readonly #cycles = new Map<number, Uint8Array>()

  constructor(options: MemoryStoreOptions) {
    if (typeof options !== 'object' || options === null || typeof options.verify !== 'function') {
      throw invalid('MemoryStore options must be an object with a verify function')
    }
    this.#verify = options.verify
    this.#mailboxSizeMax = checkedCount(options.mailboxSizeMax ?? STORE_MAILBOX_SIZE_MAX_DEFAULT, 'mailboxSizeMax',
      STORE_MAILBOX_SIZE_MAX_LIMIT)
    if (this.#mailboxSizeMax === 0) throw invalid('mailboxSizeMax must be at least 1')
  }

  get closed(): boolean {
    return this.#closed
  }

  head(): StoreHead {
    this.#open()
    const { cycle, stateRoot, commitCount } = this.#head
    return { cycle, stateRoot: stateRoot === null ? null : stateRoot.slice(), commitCount }
  }

  /** The memory store has one reader, its writer: there is nothing to move to. */
  refresh(): StoreHead {
    return this.head()
  }

  async putCode(codeId: CodeId, blob: Uint8Array): Promise<void> {
    this.#open()
    checkedCode(codeId, blob)
    if (!this.#codes.has(codeId)) this.#codes.set(codeId, new Uint8Array(blob))
  }

  code(codeId: CodeId): Uint8Array | undefined {
    this.#open()
    checkedIdBytes(codeId, 'codeId')
    const blob = this.#codes.get(codeId)
    if (blob === undefined) return undefined
    if (createHash('sha256').update(blob).digest('hex') !== codeId) throw codeMismatch(codeId)
    return blob.slice()
  }

  hasCode(codeId: CodeId): boolean {
    this.#open()
    checkedIdBytes(codeId, 'codeId')
    return this.#codes.has(codeId)
  }

  codeIds(): IterableIterator<CodeId> {
    this.#open()
    return sortedKeys(this.#codes)[Symbol.iterator]() as IterableIterator<CodeId>
  }

  program(programId: ProgramId): ProgramRecord | undefined {
    this.#open()
    checkedIdBytes(programId, 'programId')
    const bytes = this.#programs.get(programId)
    return bytes === undefined ? undefined : decodeProgramRecord(programId, bytes)
  }

  programIds(): IterableIterator<ProgramId> {
    this.#open()
    return sortedKeys(this.#programs)[Symbol.iterator]() as IterableIterator<ProgramId>
  }

  programCount(): number {
    this.#open()
    return this.#programs.size
  }

  memoryMeta(programId: ProgramId): Uint8Array | undefined {
    this.#open()
    checkedIdBytes(programId, 'programId')
    return this.#meta.get(programId)?.slice()
  }

  plane(programId: ProgramId, key: number): Uint8Array | undefined {
    this.#open()
    checkedIdBytes(programId, 'programId')
    checkedPlaneKey(key)
    const stored = this.#planes.get(programId)?.get(key)
    if (stored === undefined) return undefined
    const bytes = stored.bytes.slice()
    if (!Buffer.from(this.#verify(bytes)).equals(stored.root)) throw planeMismatch(programId, key)
    return bytes
  }

  planeRoot(programId: ProgramId, key: number): Uint8Array | undefined {
    this.#open()
    checkedIdBytes(programId, 'programId')
    checkedPlaneKey(key)
    return this.#planes.get(programId)?.get(key)?.root.slice()
  }

  planeKeys(programId: ProgramId): number[] {
    this.#open()
    checkedIdBytes(programId, 'programId')
    return [...(this.#planes.get(programId)?.keys() ?? [])].sort((a, b) => a - b)
  }

  queueLength(): number {
    this.#open()
    return this.#head.queueTail - this.#head.queueHead
  }

  *queue(): IterableIterator<Message> {
    this.#open()
    const { queueHead, queueTail } = this.#head
    for (let seq = queueHead; seq < queueTail; seq += 1) yield decodeMessage(this.#queue.get(seq)!)
  }

  waitEntry(messageId: MessageId): StoredWaitEntry | undefined {
    this.#open()
    checkedIdBytes(messageId, 'messageId')
    const bytes = this.#waitlist.get(messageId)
    return bytes === undefined ? undefined : decodeWaitEntry(bytes).entry
  }

  *waitlist(): IterableIterator<StoredWaitEntry> {
    this.#open()
    for (const id of sortedKeys(this.#waitlist)) yield decodeWaitEntry(this.#waitlist.get(id)!).entry
  }

  waitlistSize(): number {
    this.#open()
    return this.#waitlist.size
  }

  *waitlistExpiring(untilCycleMax: number): IterableIterator<StoredWaitEntry> {
    this.#open()
    checkedCount(untilCycleMax, 'untilCycleMax')
    for (const deadline of sortedKeys(this.#deadlines)) {
      if (readU64(Buffer.from(deadline, 'hex'), 0) > untilCycleMax) break
      yield decodeWaitEntry(this.#waitlist.get(this.#deadlines.get(deadline)!)!).entry
    }
  }

  delayed(cycle: number): Message[] {
    this.#open()
    checkedCount(cycle, 'cycle')
    return (this.#delayed.get(cycle) ?? []).map((bytes) => decodeMessage(bytes))
  }

  delayedCycles(): IterableIterator<number> {
    this.#open()
    return [...this.#delayed.keys()].sort((a, b) => a - b)[Symbol.iterator]()
  }

  mailbox(userId: UserId): StoredMailboxEntry[] {
    this.#open()
    checkedIdBytes(userId, 'userId')
    return (this.#mailboxes.get(userId) ?? []).map((bytes) => decodeMailboxEntry(bytes))
  }

  nonce(userId: UserId): number {
    this.#open()
    checkedIdBytes(userId, 'userId')
    return this.#nonces.get(userId) ?? 0
  }

  merkleNode(key: Uint8Array): Uint8Array | undefined {
    this.#open()
    return this.#merkle.get(checkedMerkleKey(key).toString('hex'))?.slice()
  }

  cycleRecord(cycle: number): CycleRecord | undefined {
    this.#open()
    checkedCount(cycle, 'cycle')
    const value = this.#cycles.get(cycle)
    return value === undefined ? undefined : decodeCycleRecord(value)
  }

  async commit(batch: CommitBatch): Promise<StoreHead> {
    this.#open()
    const p = prepareBatch(batch, this.#head)
    // Validated and encoded: nothing below can fail, so the batch applies whole.
    for (const { id, value } of p.programs) this.#programs.set(id, value)
    for (const delta of p.memory) {
      if (delta.dropped) {
        this.#meta.delete(delta.programId)
        this.#planes.delete(delta.programId)
        continue
      }
      this.#meta.set(delta.programId, delta.meta)
      let planes = this.#planes.get(delta.programId)
      if (planes === undefined) {
        planes = new Map()
        this.#planes.set(delta.programId, planes)
      }
      for (const plane of delta.planes) {
        if (plane.root === null) {
          planes.delete(plane.key)
          continue
        }
        // The whole plane when given; else the stored one (zeros if fresh or none) with the changed chunks.
        const stored = planes.get(plane.key)
        const bytes = plane.whole !== undefined ? new Uint8Array(plane.whole)
          : plane.fresh || stored === undefined ? new Uint8Array(STORE_PLANE_SIZE_BYTES) : stored.bytes.slice()
        if (plane.whole === undefined) {
          plane.chunks.forEach((chunk, index) => { if (chunk !== undefined) bytes.set(chunk, index * STORE_CHUNK_SIZE_BYTES) })
        }
        planes.set(plane.key, { bytes, root: plane.root })
      }
      if (planes.size === 0) this.#planes.delete(delta.programId)
    }
    let { queueHead, queueTail } = this.#head
    for (let i = 0; i < p.consumed; i += 1) this.#queue.delete(queueHead + i)
    queueHead += p.consumed
    for (const value of p.appended) this.#queue.set(queueTail++, value)
    for (const { id } of p.waitDelete) this.#unpark(id)
    for (const { id, deadline, value } of p.waitPut) {
      this.#unpark(id)
      this.#waitlist.set(id, value)
      this.#deadlines.set(deadline.toString('hex'), id)
    }
    for (const cycle of p.delayedDelete) this.#delayed.delete(cycle)
    for (const { cycle, values } of p.delayedAppend) {
      if (values.length === 0) continue
      const list = this.#delayed.get(cycle)
      if (list === undefined) this.#delayed.set(cycle, [...values])
      else list.push(...values)
    }
    for (const { userId, values } of p.mailboxes) {
      const box = [...(this.#mailboxes.get(userId) ?? []), ...values]
      const kept = box.length > this.#mailboxSizeMax ? box.slice(box.length - this.#mailboxSizeMax) : box
      if (kept.length > 0) this.#mailboxes.set(userId, kept)
    }
    for (const { userId, nonce } of p.nonces) this.#nonces.set(userId, nonce)
    if (p.cycleRecord !== undefined) this.#cycles.set(p.cycle, p.cycleRecord)
    for (const key of p.merkleDelete) this.#merkle.delete(key.toString('hex'))
    for (const { key, value } of p.merklePut) this.#merkle.set(key.toString('hex'), value)
    this.#head = { cycle: p.cycle, stateRoot: p.stateRoot, commitCount: p.commitNumber, queueHead, queueTail }
    return this.head()
  }

  async close(): Promise<void> {
    this.#closed = true
  }

  #unpark(id: MessageId): void {
    const old = this.#waitlist.get(id)
    if (old === undefined) return
    this.#deadlines.delete(Buffer.from(decodeWaitEntry(old).deadline).toString('hex'))
    this.#waitlist.delete(id)
  }

  #open(): void {
    if (this.#closed) throw new StrataError(StoreErrorCode.CLOSED, 'the store is closed')
  }
}

/** Opens an empty in-memory store (async like every store's open). */
export async function openMemoryStore(options: MemoryStoreOptions): Promise<MemoryStore> {
  return new MemoryStore(options)
}

function sortedKeys(map: ReadonlyMap<string, unknown>): string[] {
  return [...map.keys()].sort()
}
