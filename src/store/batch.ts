/**
 * Validating and encoding a commit batch, shared by both stores: everything that can be wrong with a batch is
 * found here, before a single write, so a rejected batch changes nothing (DESIGN inv. 7). What comes out is
 * encoded values and binary keys; the stores only apply them.
 */
import { isBytes } from '../bytes.js'
import { StrataError, describeValue } from '../errors.js'
import type { MessageId, ProgramId, UserId } from '../message/index.js'
import type { Message } from '../message/index.js'
import {
  checkedBytes, checkedCount, checkedIdBytes, checkedWaitEntry, encodeCycleRecord, encodeMailboxEntry, encodeMessage,
  encodeProgramRecord,
  encodeWaitEntry, invalid, type HeadRecord,
} from './codec.js'
import { StoreErrorCode } from './errors.js'
import { checkedMerkleKey } from './checks.js'
import { deadlineKey } from './keys.js'
import {
  ALL_CHUNKS, STORE_CHUNK_SIZE_BYTES, STORE_HASH_SIZE_BYTES, STORE_PLANE_KEY_LIMIT, STORE_PLANE_SIZE_BYTES, type CommitBatch,
  type StoreMemoryDelta,
} from './store.js'

export interface PreparedPlane {
  readonly key: number
  /** Null: the plane was dropped. */
  readonly root: Uint8Array | null
  /** The new bytes of each chunk that changed (views of the caller's bytes, not copied), undefined for the others. */
  readonly chunks: readonly (Uint8Array | undefined)[]
  /** Chunks that did not change are zeros, not what was stored. */
  readonly fresh: boolean
  /** The whole plane, when the caller gave it: a plane not stored yet is written whole from it. */
  readonly whole: Uint8Array | undefined
}

/** A dropped plane, prepared. */
const DROPPED_CHUNKS: readonly undefined[] = new Array<undefined>(STORE_PLANE_SIZE_BYTES / STORE_CHUNK_SIZE_BYTES).fill(undefined)

export interface PreparedDelta {
  readonly programId: ProgramId
  readonly program: Buffer
  readonly dropped: boolean
  readonly meta: Uint8Array
  readonly planes: readonly PreparedPlane[]
}

export interface PreparedBatch {
  /** The commit number this batch becomes (head.commitCount + 1). */
  readonly commitNumber: number
  readonly cycle: number
  readonly stateRoot: Uint8Array
  readonly programs: readonly { readonly id: ProgramId; readonly key: Buffer; readonly value: Uint8Array }[]
  readonly memory: readonly PreparedDelta[]
  /** Planes with bytes, over all deltas. */
  readonly planeWriteCount: number
  readonly consumed: number
  readonly appended: readonly Uint8Array[]
  readonly waitDelete: readonly { readonly id: MessageId; readonly key: Buffer }[]
  readonly waitPut: readonly {
    readonly id: MessageId; readonly key: Buffer; readonly deadline: Buffer; readonly value: Uint8Array
  }[]
  readonly delayedDelete: readonly number[]
  readonly delayedAppend: readonly { readonly cycle: number; readonly values: readonly Uint8Array[] }[]
  readonly mailboxes: readonly { readonly userId: UserId; readonly key: Buffer; readonly values: readonly Uint8Array[] }[]
  readonly nonces: readonly { readonly userId: UserId; readonly key: Buffer; readonly nonce: number }[]
  /** The encoded cycle record, for a cycle commit with counts. */
  readonly cycleRecord: Uint8Array | undefined
  readonly merkleDelete: readonly Buffer[]
  readonly merklePut: readonly { readonly key: Buffer; readonly value: Uint8Array }[]
}

export function prepareBatch(batch: CommitBatch, head: HeadRecord): PreparedBatch {
  if (typeof batch !== 'object' || batch === null) throw invalid(`a batch must be an object, got ${describeValue(batch)}`)
  const cycle = checkedCount(batch.cycle, 'batch.cycle')
  if (cycle !== head.cycle && cycle !== head.cycle + 1) {
    throw new StrataError(StoreErrorCode.CYCLE_ORDER,
      `batch.cycle must be ${head.cycle} (intake) or ${head.cycle + 1} (next cycle), got ${cycle}`,
      { cycle, headCycle: head.cycle })
  }
  const stateRoot = new Uint8Array(checkedBytes(batch.stateRoot, 'batch.stateRoot', STORE_HASH_SIZE_BYTES))
  const commitNumber = head.commitCount + 1

  const programs = list(batch.programs, 'batch.programs').map((record, i) => {
    const name = `batch.programs[${i}]`
    const value = encodeProgramRecord(record, name)
    return { id: record.id, key: checkedIdBytes(record.id, `${name}.id`), value }
  })

  let planeWriteCount = 0
  const memory = list(batch.memory, 'batch.memory').map((delta, i) => {
    const prepared = prepareDelta(delta, `batch.memory[${i}]`)
    for (const plane of prepared.planes) if (plane.root !== null) planeWriteCount += 1
    return prepared
  })

  const queue = batch.queue ?? {}
  if (typeof queue !== 'object' || queue === null) throw invalid(`batch.queue must be an object, got ${describeValue(queue)}`)
  const queueLength = head.queueTail - head.queueHead
  const consumed = checkedCount(queue.consumed ?? 0, 'batch.queue.consumed', queueLength)
  const appended = list(queue.appended, 'batch.queue.appended').map((m, i) => encodeMessage(m, `batch.queue.appended[${i}]`))

  const waitlist = batch.waitlist ?? {}
  const waitDelete = list(waitlist.delete, 'batch.waitlist.delete').map((id, i) => ({
    id, key: checkedIdBytes(id, `batch.waitlist.delete[${i}]`),
  }))
  const waitPut = list(waitlist.put, 'batch.waitlist.put').map((entry, i) => {
    const name = `batch.waitlist.put[${i}]`
    const checked = checkedWaitEntry(entry, name)
    const deadline = deadlineKey(checked.untilCycle, commitNumber, i)
    return {
      id: checked.message.id, key: checkedIdBytes(checked.message.id, `${name}.message.id`), deadline,
      value: encodeWaitEntry(checked, deadline, name),
    }
  })

  const delayed = batch.delayed ?? {}
  const delayedDelete = list(delayed.delete, 'batch.delayed.delete').map((c, i) => checkedCount(c, `batch.delayed.delete[${i}]`))
  const delayedAppend = list(delayed.append, 'batch.delayed.append').map((pair, i) => {
    const name = `batch.delayed.append[${i}]`
    if (!Array.isArray(pair) || pair.length !== 2) throw invalid(`${name} must be [cycle, messages], got ${describeValue(pair)}`)
    const messages = list(pair[1] as readonly Message[], `${name}[1]`)
    return { cycle: checkedCount(pair[0], `${name}[0]`), values: messages.map((m, j) => encodeMessage(m, `${name}[1][${j}]`)) }
  })

  const mailboxes = list(batch.mailboxes, 'batch.mailboxes').map((pair, i) => {
    const name = `batch.mailboxes[${i}]`
    if (!Array.isArray(pair) || pair.length !== 2) throw invalid(`${name} must be [userId, entries], got ${describeValue(pair)}`)
    const entries = list(pair[1] as readonly unknown[], `${name}[1]`)
    return {
      userId: pair[0] as UserId, key: checkedIdBytes(pair[0], `${name}[0]`),
      values: entries.map((e, j) => encodeMailboxEntry(e as never, `${name}[1][${j}]`)),
    }
  })

  const nonces = list(batch.nonces, 'batch.nonces').map((pair, i) => {
    const name = `batch.nonces[${i}]`
    if (!Array.isArray(pair) || pair.length !== 2) throw invalid(`${name} must be [userId, nonce], got ${describeValue(pair)}`)
    return { userId: pair[0] as UserId, key: checkedIdBytes(pair[0], `${name}[0]`), nonce: checkedCount(pair[1], `${name}[1]`) }
  })

  if (batch.counts !== undefined && cycle === head.cycle) {
    throw invalid(`batch.counts belong to a cycle commit (cycle ${head.cycle + 1}), not to an intake commit (cycle ${cycle})`)
  }
  const cycleRecord = batch.counts === undefined ? undefined : encodeCycleRecord(cycle, stateRoot, batch.counts)

  const merkle = batch.merkle ?? {}
  const merkleDelete = list(merkle.delete, 'batch.merkle.delete').map((key, i) => checkedMerkleKey(key, `batch.merkle.delete[${i}]`))
  const merklePut = list(merkle.put, 'batch.merkle.put').map((pair, i) => {
    const name = `batch.merkle.put[${i}]`
    if (!Array.isArray(pair) || pair.length !== 2) throw invalid(`${name} must be [key, value], got ${describeValue(pair)}`)
    return {
      key: checkedMerkleKey(pair[0], `${name}[0]`),
      value: new Uint8Array(checkedBytes(pair[1], `${name}[1]`, STORE_HASH_SIZE_BYTES)),
    }
  })

  return {
    commitNumber, cycle, stateRoot, programs, memory, planeWriteCount, consumed, appended, waitDelete, waitPut,
    delayedDelete, delayedAppend, mailboxes, nonces, cycleRecord, merkleDelete, merklePut,
  }
}

function prepareDelta(delta: StoreMemoryDelta, name: string): PreparedDelta {
  if (typeof delta !== 'object' || delta === null) throw invalid(`${name} must be an object, got ${describeValue(delta)}`)
  const program = checkedIdBytes(delta.programId, `${name}.programId`)
  if (typeof delta.dropped !== 'boolean') throw invalid(`${name}.dropped must be a boolean, got ${describeValue(delta.dropped)}`)
  if (delta.dropped) return { programId: delta.programId, program, dropped: true, meta: new Uint8Array(0), planes: [] }
  const meta = new Uint8Array(checkedBytes(delta.meta, `${name}.meta`))
  const planes = list(delta.planes, `${name}.planes`).map((plane, j): PreparedPlane => {
    // The common cases are checked without building names (a cycle can carry thousands of planes).
    if (typeof plane === 'object' && plane !== null && Number.isSafeInteger(plane.key) && plane.key >= 0
      && plane.key < STORE_PLANE_KEY_LIMIT && isBytes(plane.root) && plane.root.length === STORE_HASH_SIZE_BYTES) {
      if (plane.written === undefined && plane.fresh === undefined && isBytes(plane.bytes) && plane.bytes.length === STORE_PLANE_SIZE_BYTES
        && (plane.chunks === undefined || (Number.isInteger(plane.chunks) && plane.chunks >= 0 && plane.chunks <= ALL_CHUNKS))) {
        return { key: plane.key, root: new Uint8Array(plane.root), chunks: chunksOf(plane.bytes, plane.chunks ?? ALL_CHUNKS), fresh: false, whole: plane.bytes }
      }
      if (plane.bytes === undefined && plane.chunks === undefined && (plane.fresh === undefined || typeof plane.fresh === 'boolean')) {
        const chunks = writtenChunks(plane.written)
        if (chunks !== undefined) return { key: plane.key, root: new Uint8Array(plane.root), chunks, fresh: plane.fresh ?? false, whole: undefined }
      }
    }
    const at = `${name}.planes[${j}]`
    if (typeof plane !== 'object' || plane === null) throw invalid(`${at} must be an object, got ${describeValue(plane)}`)
    const key = checkedCount(plane.key, `${at}.key`, STORE_PLANE_KEY_LIMIT - 1)
    if (plane.bytes === null && plane.root === null) {
      if (plane.written !== undefined || plane.chunks !== undefined || plane.fresh !== undefined) {
        throw invalid(`${at} is dropped (bytes and root null): it takes no written, chunks or fresh`)
      }
      return { key, root: null, chunks: DROPPED_CHUNKS, fresh: false, whole: undefined }
    }
    checkedBytes(plane.root, `${at}.root`, STORE_HASH_SIZE_BYTES)
    if (plane.written !== undefined) {
      if (plane.bytes !== undefined || plane.chunks !== undefined) throw invalid(`${at}: give either bytes (and chunks) or written, not both`)
      if (plane.fresh !== undefined && typeof plane.fresh !== 'boolean') throw invalid(`${at}.fresh must be a boolean, got ${describeValue(plane.fresh)}`)
      throw invalid(`${at}.written must be [chunk index 0..15, Uint8Array of ${STORE_CHUNK_SIZE_BYTES} bytes] pairs by ascending index, got ${describeValue(plane.written)}`)
    }
    if (plane.bytes === null) throw invalid(`${at}: bytes and root must both be null (dropped) or both set`)
    if (plane.fresh !== undefined) throw invalid(`${at}.fresh goes with written chunks, not with whole bytes`)
    checkedBytes(plane.bytes, `${at}.bytes`, STORE_PLANE_SIZE_BYTES)
    if (plane.chunks !== undefined) checkedCount(plane.chunks, `${at}.chunks`, ALL_CHUNKS)
    throw invalid(`${at} is malformed`)
  })
  return { programId: delta.programId, program, dropped: false, meta, planes }
}

/** Views of the chunks in `mask` of a whole plane. */
export function chunksOf(bytes: Uint8Array, mask: number): (Uint8Array | undefined)[] {
  const chunks = new Array<Uint8Array | undefined>(STORE_PLANE_SIZE_BYTES / STORE_CHUNK_SIZE_BYTES)
  for (let i = 0; i < chunks.length; i += 1) {
    chunks[i] = (mask & (1 << i)) === 0 ? undefined : bytes.subarray(i * STORE_CHUNK_SIZE_BYTES, (i + 1) * STORE_CHUNK_SIZE_BYTES)
  }
  return chunks
}

/** A `written` list as chunks by index, or undefined if it is malformed. */
function writtenChunks(written: unknown): (Uint8Array | undefined)[] | undefined {
  if (!Array.isArray(written)) return undefined
  const chunks = new Array<Uint8Array | undefined>(STORE_PLANE_SIZE_BYTES / STORE_CHUNK_SIZE_BYTES).fill(undefined)
  let last = -1
  for (const pair of written as unknown[]) {
    if (!Array.isArray(pair) || pair.length !== 2) return undefined
    const [index, bytes] = pair as [unknown, unknown]
    if (typeof index !== 'number' || !Number.isInteger(index) || index <= last || index >= chunks.length) return undefined
    if (!isBytes(bytes) || bytes.length !== STORE_CHUNK_SIZE_BYTES) return undefined
    chunks[index] = bytes
    last = index
  }
  return chunks
}

function list<T>(value: readonly T[] | undefined, name: string): readonly T[] {
  if (value === undefined) return []
  if (!Array.isArray(value)) throw invalid(`${name} must be an array, got ${describeValue(value)}`)
  return value
}
