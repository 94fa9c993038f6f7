/**
 * msgpackr codecs for what the store keeps as values: messages, program records, wait and mailbox entries, the
 * head. Each is a fixed-position msgpack array (no field names on disk, no shared structures to persist), ids
 * as their 32 raw bytes (half the size of hex). The layout is part of STORE_FORMAT_VERSION:
 *
 *   message   [id, kind u8, source, destination, payload, gasLimit, origin, replyTo|nil, replyCode|nil, delay|nil]
 *   record    [codeId, status u8, stateAddress|nil, creator, inheritor|nil]          (the id is the key)
 *   wait      [message, programId, untilCycle, deadline key]
 *   mailbox   [message, cycle]
 *   head      [cycle, stateRoot|nil, commitCount, queue head sequence, queue tail sequence]
 *   cycle     [cycle, stateRoot, processed, failed, gasBurned, gasRefunded, enqueued, mailboxed, dirtyPlanes]
 *
 * Encoders validate (a batch is refused with INVALID_ARGUMENT before anything is written); decoders turn any
 * malformed value into INTEGRITY naming what was being read. Decoded bytes are fresh plain Uint8Arrays.
 */
import { Packr } from 'msgpackr'
import { isBytes } from '../bytes.js'
import { StrataError, describeValue } from '../errors.js'
import type { ActorId, CodeId, MessageId, ProgramId } from '../message/index.js'
import { MessageKind, canonicalIdBytes, type Message } from '../message/index.js'
import { PROGRAM_STATUS_CODE, type ProgramRecord, type ProgramStatus } from '../protocol/index.js'
import { StoreErrorCode } from './errors.js'
import { ID_BYTES } from './keys.js'
import type { CycleCounts, CycleRecord, StoredMailboxEntry, StoredWaitEntry } from './store.js'

const packr = new Packr({ useRecords: false, moreTypes: false, variableMapSize: true })

const KIND_CODE: Readonly<Record<MessageKind, number>> = { init: 0, handle: 1, reply: 2, signal: 3 }
const KIND_OF: readonly MessageKind[] = [MessageKind.INIT, MessageKind.HANDLE, MessageKind.REPLY, MessageKind.SIGNAL]
const STATUS_OF: readonly ProgramStatus[] = (() => {
  const out: ProgramStatus[] = []
  for (const [status, code] of Object.entries(PROGRAM_STATUS_CODE)) out[code] = status as ProgramStatus
  return out
})()

// ---- validation helpers (INVALID_ARGUMENT) -----------------------------------------------------------------------

export function invalid(message: string, details?: Record<string, unknown>): StrataError {
  return new StrataError(StoreErrorCode.INVALID_ARGUMENT, message, details)
}

/** A canonical id (64 lowercase hex characters) as its 32 bytes. */
export function checkedIdBytes(value: unknown, name: string): Buffer {
  const bytes = canonicalIdBytes(value)
  if (bytes === undefined) {
    throw invalid(`${name} must be 64 lowercase hex characters, got ${describeValue(value)}`, { [name]: describeValue(value) })
  }
  return bytes
}

export function checkedCount(value: unknown, name: string, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || value > max) {
    throw invalid(`${name} must be an integer in 0..${max}, got ${describeValue(value)}`, { [name]: value })
  }
  return value
}

export function checkedBytes(value: unknown, name: string, length?: number): Uint8Array {
  if (!isBytes(value) || (length !== undefined && value.length !== length)) {
    throw invalid(`${name} must be a Uint8Array${length !== undefined ? ` of ${length} bytes` : ''}, got ${describeValue(value)}`,
      { [name]: describeValue(value) })
  }
  return value
}

function checkedObject(value: unknown, name: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null) throw invalid(`${name} must be an object, got ${describeValue(value)}`)
  return value as Record<string, unknown>
}

// ---- decode helpers (INTEGRITY) ----------------------------------------------------------------------------------

function corrupt(what: string, detail: string): StrataError {
  return new StrataError(StoreErrorCode.INTEGRITY, `stored ${what} is malformed (${detail}); the data directory is damaged`,
    { what })
}

function unpack(bytes: Uint8Array, what: string): unknown[] {
  let value: unknown
  try {
    value = packr.unpack(bytes)
  } catch (error) {
    throw corrupt(what, (error as Error).message)
  }
  if (!Array.isArray(value)) throw corrupt(what, 'not an array')
  return value
}

function hexOf(value: unknown, what: string): string {
  if (!isBytes(value) || value.length !== ID_BYTES) throw corrupt(what, 'an id is not 32 bytes')
  return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('hex')
}

function intOf(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw corrupt(what, 'a count is not an integer')
  return value
}

function freshBytes(value: unknown, what: string): Uint8Array {
  if (!isBytes(value)) throw corrupt(what, 'bytes expected')
  return new Uint8Array(value)
}

// ---- messages -----------------------------------------------------------------------------------------------------

function messageTuple(message: Message, name: string): unknown[] {
  const m = checkedObject(message, name)
  const kind = KIND_CODE[m['kind'] as MessageKind]
  if (kind === undefined) throw invalid(`${name}.kind must be one of ${KIND_OF.join(', ')}, got ${describeValue(m['kind'])}`)
  const payload = checkedBytes(m['payload'], `${name}.payload`)
  const replyCode = m['replyCode'] === undefined ? null : checkedCount(m['replyCode'], `${name}.replyCode`, 255)
  return [
    checkedIdBytes(m['id'], `${name}.id`), kind, checkedIdBytes(m['source'], `${name}.source`),
    checkedIdBytes(m['destination'], `${name}.destination`), payload, checkedCount(m['gasLimit'], `${name}.gasLimit`),
    checkedIdBytes(m['origin'], `${name}.origin`),
    m['replyTo'] === undefined ? null : checkedIdBytes(m['replyTo'], `${name}.replyTo`),
    replyCode, m['delay'] === undefined ? null : checkedCount(m['delay'], `${name}.delay`),
  ]
}

function messageFromTuple(value: unknown, what: string): Message {
  if (!Array.isArray(value) || value.length !== 10) throw corrupt(what, 'a message is not a 10-field array')
  const kind = KIND_OF[value[1] as number]
  if (kind === undefined) throw corrupt(what, 'unknown message kind')
  const message: {
    id: MessageId; kind: MessageKind; source: ActorId; destination: ActorId; payload: Uint8Array; gasLimit: number
    origin: MessageId; replyTo?: MessageId; replyCode?: number; delay?: number
  } = {
    id: hexOf(value[0], what) as MessageId, kind, source: hexOf(value[2], what) as ActorId,
    destination: hexOf(value[3], what) as ActorId, payload: freshBytes(value[4], what), gasLimit: intOf(value[5], what),
    origin: hexOf(value[6], what) as MessageId,
  }
  if (value[7] !== null && value[7] !== undefined) message.replyTo = hexOf(value[7], what) as MessageId
  if (value[8] !== null && value[8] !== undefined) message.replyCode = intOf(value[8], what)
  if (value[9] !== null && value[9] !== undefined) message.delay = intOf(value[9], what)
  return message
}

export function encodeMessage(message: Message, name = 'message'): Uint8Array {
  return packr.pack(messageTuple(message, name))
}

export function decodeMessage(bytes: Uint8Array, what = 'message'): Message {
  return messageFromTuple(unpack(bytes, what), what)
}

// ---- program records ------------------------------------------------------------------------------------------------

const CYCLE_COUNT_FIELDS = ['processed', 'failed', 'gasBurned', 'gasRefunded', 'enqueued', 'mailboxed', 'dirtyPlanes'] as const

/** Checks a batch's cycle counts (non-negative safe integers) and encodes them with the cycle and its root. */
export function encodeCycleRecord(cycle: number, stateRoot: Uint8Array, counts: CycleCounts, name = 'batch.counts'): Uint8Array {
  if (typeof counts !== 'object' || counts === null) throw invalid(`${name} must be an object, got ${describeValue(counts)}`)
  const values = CYCLE_COUNT_FIELDS.map((field) => checkedCount(counts[field], `${name}.${field}`))
  return packr.pack([cycle, stateRoot, ...values])
}

export function decodeCycleRecord(bytes: Uint8Array): CycleRecord {
  const what = 'cycle record'
  const value = unpack(bytes, what)
  if (value.length !== 2 + CYCLE_COUNT_FIELDS.length) throw corrupt(what, `not a ${2 + CYCLE_COUNT_FIELDS.length}-field record`)
  const stateRoot = freshBytes(value[1], what)
  if (stateRoot.length !== 32) throw corrupt(what, 'state root is not 32 bytes')
  const record: Record<string, unknown> = { cycle: intOf(value[0], what), stateRoot }
  CYCLE_COUNT_FIELDS.forEach((field, i) => { record[field] = intOf(value[2 + i], what) })
  return record as unknown as CycleRecord
}

export function encodeProgramRecord(record: ProgramRecord, name = 'program'): Uint8Array {
  const r = checkedObject(record, name)
  checkedIdBytes(r['id'], `${name}.id`)
  const status = PROGRAM_STATUS_CODE[r['status'] as ProgramStatus]
  if (status === undefined) throw invalid(`${name}.status must be one of ${STATUS_OF.join(', ')}, got ${describeValue(r['status'])}`)
  return packr.pack([
    checkedIdBytes(r['codeId'], `${name}.codeId`), status,
    r['stateAddress'] === null ? null : checkedCount(r['stateAddress'], `${name}.stateAddress`),
    checkedIdBytes(r['creator'], `${name}.creator`),
    r['inheritor'] === undefined ? null : checkedIdBytes(r['inheritor'], `${name}.inheritor`),
  ])
}

export function decodeProgramRecord(id: ProgramId, bytes: Uint8Array): ProgramRecord {
  const what = `record of program ${id}`
  const value = unpack(bytes, what)
  const status = STATUS_OF[value[1] as number]
  if (value.length !== 5 || status === undefined) throw corrupt(what, 'not a 5-field record')
  const record: {
    id: ProgramId; codeId: CodeId; status: ProgramStatus; stateAddress: number | null; creator: ActorId; inheritor?: ActorId
  } = {
    id, codeId: hexOf(value[0], what) as CodeId, status,
    stateAddress: value[2] === null ? null : intOf(value[2], what), creator: hexOf(value[3], what) as ActorId,
  }
  if (value[4] !== null && value[4] !== undefined) record.inheritor = hexOf(value[4], what) as ActorId
  return record
}

// ---- waitlist and mailbox entries -----------------------------------------------------------------------------------

export function encodeWaitEntry(entry: StoredWaitEntry, deadline: Uint8Array, name = 'wait entry'): Uint8Array {
  const e = checkedObject(entry, name)
  return packr.pack([
    messageTuple(e['message'] as Message, `${name}.message`), checkedIdBytes(e['programId'], `${name}.programId`),
    checkedCount(e['untilCycle'], `${name}.untilCycle`), deadline,
  ])
}

export function decodeWaitEntry(bytes: Uint8Array): { readonly entry: StoredWaitEntry; readonly deadline: Uint8Array } {
  const what = 'waitlist entry'
  const value = unpack(bytes, what)
  if (value.length !== 4) throw corrupt(what, 'not a 4-field entry')
  return {
    entry: {
      message: messageFromTuple(value[0], what), programId: hexOf(value[1], what) as ProgramId,
      untilCycle: intOf(value[2], what),
    },
    deadline: freshBytes(value[3], what),
  }
}

/** Validates a wait entry's fields without encoding (to learn untilCycle before the deadline key exists). */
export function checkedWaitEntry(entry: unknown, name: string): StoredWaitEntry {
  const e = checkedObject(entry, name)
  checkedObject(e['message'], `${name}.message`)
  checkedIdBytes((e['message'] as Record<string, unknown>)['id'], `${name}.message.id`)
  checkedIdBytes(e['programId'], `${name}.programId`)
  checkedCount(e['untilCycle'], `${name}.untilCycle`)
  return entry as StoredWaitEntry
}

export function encodeMailboxEntry(entry: StoredMailboxEntry, name = 'mailbox entry'): Uint8Array {
  const e = checkedObject(entry, name)
  return packr.pack([messageTuple(e['message'] as Message, `${name}.message`), checkedCount(e['cycle'], `${name}.cycle`)])
}

export function decodeMailboxEntry(bytes: Uint8Array): StoredMailboxEntry {
  const what = 'mailbox entry'
  const value = unpack(bytes, what)
  if (value.length !== 2) throw corrupt(what, 'not a 2-field entry')
  return { message: messageFromTuple(value[0], what), cycle: intOf(value[1], what) }
}

// ---- head -----------------------------------------------------------------------------------------------------------

export interface HeadRecord {
  readonly cycle: number
  readonly stateRoot: Uint8Array | null
  readonly commitCount: number
  /** Sequence number of the queue's first message. */
  readonly queueHead: number
  /** Sequence number the next appended message gets. */
  readonly queueTail: number
}

export const EMPTY_HEAD: HeadRecord = { cycle: 0, stateRoot: null, commitCount: 0, queueHead: 0, queueTail: 0 }

export function encodeHead(head: HeadRecord): Uint8Array {
  return packr.pack([head.cycle, head.stateRoot, head.commitCount, head.queueHead, head.queueTail])
}

export function decodeHead(bytes: Uint8Array): HeadRecord {
  const what = 'head'
  const value = unpack(bytes, what)
  if (value.length !== 5) throw corrupt(what, 'not a 5-field head')
  const stateRoot = value[1] === null ? null : freshBytes(value[1], what)
  if (stateRoot !== null && stateRoot.length !== 32) throw corrupt(what, 'state root is not 32 bytes')
  const head = {
    cycle: intOf(value[0], what), stateRoot, commitCount: intOf(value[2], what),
    queueHead: intOf(value[3], what), queueTail: intOf(value[4], what),
  }
  if (head.queueHead > head.queueTail) throw corrupt(what, 'queue head after tail')
  return head
}
