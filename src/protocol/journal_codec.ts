/**
 * The journal's wire encoding: a stream's entries as one flat binary buffer, written and read field by field in
 * a fixed order (no keys, no type tags). Ids travel as their 32 bytes, not as 64 hex characters. Msgpack took
 * about 5 us an entry in a stream worker, most of it spent on hex strings; this takes a fraction of that.
 *
 *   entries   u32 count, then each entry:
 *   entry     outcome | u32 n, n x message (outgoing) | u32 n, n x (programId, codeId, initMessageId) (created)
 *             | u32 n, n x id (wakes) | u8 has wait [message, f64 untilCycle] | u8 has program [record]
 *   outcome   id messageId, id origin, id programId, u8 kind, u8 result, u16 replyCode (0xffff: null),
 *             f64 gasBurned, f64 gasRefunded, opt str error, opt str trace, u32 n, n x str logs
 *   message   id, u8 kind, id source, id destination, bytes payload, f64 gasLimit, id origin, opt id replyTo,
 *             u16 replyCode (0xffff: absent), opt f64 delay
 *   record    id, id codeId, u8 status, opt f64 stateAddress, id creator, opt id inheritor
 *   id = 32 bytes; str = u32 byte length + UTF-8; bytes = u32 length + bytes; opt x = u8 0 | u8 1 + x
 *
 * A task's messages use the same message layout (encodeMessages). Numbers are little-endian. Part of the protocol: a change here is a PROTOCOL_VERSION change (wire.ts).
 */
import { StrataError } from '../errors.js'
import type { ActorId, CodeId, MessageId, ProgramId } from '../message/index.js'
import { MessageKind, type Message } from '../message/index.js'
import { ExecutionResult, type CreatedProgram, type JournalEntry, type MessageOutcome } from './journal.js'
import { PROGRAM_STATUS_CODE, type ProgramRecord, type ProgramStatus } from './records.js'

const ID_BYTES = 32
const NULL_CODE = 0xffff
/** A first buffer that holds a cycle's worth of small entries for one stream without growing. */
const INITIAL_BYTES = 256 * 1024

const KINDS: readonly MessageKind[] = [MessageKind.INIT, MessageKind.HANDLE, MessageKind.REPLY, MessageKind.SIGNAL]
const RESULTS: readonly ExecutionResult[] = Object.values(ExecutionResult)
const STATUSES: readonly ProgramStatus[] = (() => {
  const out: ProgramStatus[] = []
  for (const [status, code] of Object.entries(PROGRAM_STATUS_CODE)) out[code] = status as ProgramStatus
  return out
})()
const KIND_CODE = new Map(KINDS.map((kind, i) => [kind, i]))
const RESULT_CODE = new Map(RESULTS.map((result, i) => [result, i]))

export const JournalCodecErrorCode = {
  /** An entry that cannot be encoded (a bug in the executor), or bytes that are not an encoded journal. */
  MALFORMED_JOURNAL: 'MALFORMED_JOURNAL',
} as const
export type JournalCodecErrorCode = (typeof JournalCodecErrorCode)[keyof typeof JournalCodecErrorCode]

function malformed(detail: string): StrataError {
  return new StrataError(JournalCodecErrorCode.MALFORMED_JOURNAL, `journal: ${detail}`)
}

class Writer {
  buffer = Buffer.allocUnsafe(INITIAL_BYTES)
  at = 0

  room(bytes: number): void {
    if (this.at + bytes <= this.buffer.length) return
    const grown = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.at + bytes))
    this.buffer.copy(grown, 0, 0, this.at)
    this.buffer = grown
  }

  u8(value: number): void {
    this.room(1)
    this.buffer[this.at++] = value
  }

  u16(value: number): void {
    this.room(2)
    this.buffer.writeUInt16LE(value, this.at)
    this.at += 2
  }

  u32(value: number): void {
    this.room(4)
    this.buffer.writeUInt32LE(value, this.at)
    this.at += 4
  }

  f64(value: number): void {
    this.room(8)
    this.buffer.writeDoubleLE(value, this.at)
    this.at += 8
  }

  id(hex: string): void {
    this.room(ID_BYTES)
    // Buffer's native hex decoder stops at the first character that is not hex: fewer than 32 bytes is an error.
    // Ids inside the runtime are canonical (lowercase); upper case would decode to the same bytes.
    if (typeof hex !== 'string' || hex.length !== 2 * ID_BYTES || this.buffer.write(hex, this.at, ID_BYTES, 'hex') !== ID_BYTES) {
      throw malformed(`an id is not 64 hex characters: ${String(hex)}`)
    }
    this.at += ID_BYTES
  }

  str(text: string): void {
    const length = Buffer.byteLength(text)
    this.u32(length)
    this.room(length)
    this.at += this.buffer.write(text, this.at, 'utf8')
  }

  bytes(value: Uint8Array): void {
    this.u32(value.length)
    this.room(value.length)
    this.buffer.set(value, this.at)
    this.at += value.length
  }

  optStr(text: string | undefined): void {
    if (text === undefined) this.u8(0)
    else {
      this.u8(1)
      this.str(text)
    }
  }

  optId(hex: string | undefined): void {
    if (hex === undefined) this.u8(0)
    else {
      this.u8(1)
      this.id(hex)
    }
  }

  optF64(value: number | null | undefined): void {
    if (value === undefined || value === null) this.u8(0)
    else {
      this.u8(1)
      this.f64(value)
    }
  }
}

class Reader {
  readonly #view: Buffer
  at = 0

  constructor(bytes: Uint8Array) {
    this.#view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  }

  #need(bytes: number): void {
    if (this.at + bytes > this.#view.length) throw malformed(`truncated at byte ${this.at}`)
  }

  u8(): number {
    this.#need(1)
    return this.#view[this.at++]!
  }

  u16(): number {
    this.#need(2)
    const value = this.#view.readUInt16LE(this.at)
    this.at += 2
    return value
  }

  u32(): number {
    this.#need(4)
    const value = this.#view.readUInt32LE(this.at)
    this.at += 4
    return value
  }

  f64(): number {
    this.#need(8)
    const value = this.#view.readDoubleLE(this.at)
    this.at += 8
    return value
  }

  id<T extends string>(): T {
    this.#need(ID_BYTES)
    const hex = this.#view.toString('hex', this.at, this.at + ID_BYTES)
    this.at += ID_BYTES
    return hex as T
  }

  str(): string {
    const length = this.u32()
    this.#need(length)
    const text = this.#view.toString('utf8', this.at, this.at + length)
    this.at += length
    return text
  }

  bytes(): Uint8Array {
    const length = this.u32()
    this.#need(length)
    // A copy the caller owns, as a plain Uint8Array.
    const out = new Uint8Array(length)
    out.set(this.#view.subarray(this.at, this.at + length))
    this.at += length
    return out
  }

  flag(): boolean {
    const value = this.u8()
    if (value > 1) throw malformed(`a presence flag is ${value}`)
    return value === 1
  }

  get done(): boolean {
    return this.at === this.#view.length
  }
}

export function encodeJournal(entries: readonly JournalEntry[]): Uint8Array {
  const w = new Writer()
  w.u32(entries.length)
  for (const entry of entries) {
    writeOutcome(w, entry.outcome)
    w.u32(entry.outgoing.length)
    for (const message of entry.outgoing) writeMessage(w, message)
    w.u32(entry.created.length)
    for (const created of entry.created) {
      w.id(created.programId)
      w.id(created.codeId)
      w.id(created.initMessageId)
    }
    w.u32(entry.wakes.length)
    for (const id of entry.wakes) w.id(id)
    if (entry.wait === undefined) w.u8(0)
    else {
      w.u8(1)
      writeMessage(w, entry.wait.message)
      w.f64(entry.wait.untilCycle)
    }
    if (entry.program === undefined) w.u8(0)
    else {
      w.u8(1)
      writeRecord(w, entry.program)
    }
  }
  return w.buffer.subarray(0, w.at)
}

/** A task's messages in the same encoding: u32 count, then each message. */
export function encodeMessages(messages: readonly Message[]): Uint8Array {
  const w = new Writer()
  w.u32(messages.length)
  for (const message of messages) writeMessage(w, message)
  return w.buffer.subarray(0, w.at)
}

export function decodeMessages(bytes: Uint8Array): Message[] {
  const r = new Reader(bytes)
  const messages = list(r, () => readMessage(r))
  if (!r.done) throw malformed('bytes left after the last message')
  return messages
}

export function decodeJournal(bytes: Uint8Array): JournalEntry[] {
  const r = new Reader(bytes)
  const count = r.u32()
  const entries: JournalEntry[] = []
  for (let i = 0; i < count; i += 1) {
    const outcome = readOutcome(r)
    const outgoing = list(r, () => readMessage(r))
    const created = list(r, (): CreatedProgram => ({ programId: r.id<ProgramId>(), codeId: r.id<CodeId>(), initMessageId: r.id<MessageId>() }))
    const wakes = list(r, () => r.id<MessageId>())
    const entry: { -readonly [K in keyof JournalEntry]: JournalEntry[K] } = { outcome, outgoing, created, wakes }
    if (r.flag()) entry.wait = { message: readMessage(r), untilCycle: r.f64() }
    if (r.flag()) entry.program = readRecord(r)
    entries.push(entry)
  }
  if (!r.done) throw malformed('bytes left after the last entry')
  return entries
}

function list<T>(r: Reader, read: () => T): T[] {
  const count = r.u32()
  const out: T[] = []
  for (let i = 0; i < count; i += 1) out.push(read())
  return out
}

function code<T>(table: ReadonlyMap<T, number>, value: T, what: string): number {
  const found = table.get(value)
  if (found === undefined) throw malformed(`unknown ${what} ${String(value)}`)
  return found
}

function decoded<T>(table: readonly T[], index: number, what: string): T {
  const value = table[index]
  if (value === undefined) throw malformed(`unknown ${what} code ${index}`)
  return value
}

function writeOutcome(w: Writer, o: MessageOutcome): void {
  w.id(o.messageId)
  w.id(o.origin)
  w.id(o.programId)
  w.u8(code(KIND_CODE, o.kind, 'message kind'))
  w.u8(code(RESULT_CODE, o.result, 'execution result'))
  w.u16(o.replyCode === null ? NULL_CODE : o.replyCode)
  w.f64(o.gasBurned)
  w.f64(o.gasRefunded)
  w.optStr(o.error)
  w.optStr(o.trace)
  w.u32(o.logs.length)
  for (const log of o.logs) w.str(log)
}

function readOutcome(r: Reader): MessageOutcome {
  const messageId = r.id<MessageId>()
  const origin = r.id<MessageId>()
  const programId = r.id<ProgramId>()
  const kind = decoded(KINDS, r.u8(), 'message kind')
  const result = decoded(RESULTS, r.u8(), 'execution result')
  const replyCode = r.u16()
  const gasBurned = r.f64()
  const gasRefunded = r.f64()
  const error = r.flag() ? r.str() : undefined
  const trace = r.flag() ? r.str() : undefined
  const logs = list(r, () => r.str())
  return {
    messageId, origin, programId, kind, result, replyCode: replyCode === NULL_CODE ? null : replyCode, gasBurned, gasRefunded,
    ...(error !== undefined ? { error } : {}), ...(trace !== undefined ? { trace } : {}), logs,
  }
}

function writeMessage(w: Writer, m: Message): void {
  w.id(m.id)
  w.u8(code(KIND_CODE, m.kind, 'message kind'))
  w.id(m.source)
  w.id(m.destination)
  w.bytes(m.payload)
  w.f64(m.gasLimit)
  w.id(m.origin)
  w.optId(m.replyTo)
  w.u16(m.replyCode === undefined ? NULL_CODE : m.replyCode)
  w.optF64(m.delay)
}

function readMessage(r: Reader): Message {
  const message: { -readonly [K in keyof Message]: Message[K] } = {
    id: r.id<MessageId>(), kind: decoded(KINDS, r.u8(), 'message kind'), source: r.id<ActorId>(), destination: r.id<ActorId>(),
    payload: r.bytes(), gasLimit: r.f64(), origin: r.id<MessageId>(),
  }
  if (r.flag()) message.replyTo = r.id<MessageId>()
  const replyCode = r.u16()
  if (replyCode !== NULL_CODE) message.replyCode = replyCode
  if (r.flag()) message.delay = r.f64()
  return message
}

function writeRecord(w: Writer, record: ProgramRecord): void {
  w.id(record.id)
  w.id(record.codeId)
  const status = PROGRAM_STATUS_CODE[record.status]
  if (status === undefined) throw malformed(`unknown program status ${String(record.status)}`)
  w.u8(status)
  w.optF64(record.stateAddress)
  w.id(record.creator)
  w.optId(record.inheritor)
}

function readRecord(r: Reader): ProgramRecord {
  const id = r.id<ProgramId>()
  const codeId = r.id<CodeId>()
  const status = decoded(STATUSES, r.u8(), 'program status')
  const stateAddress = r.flag() ? r.f64() : null
  const record: { -readonly [K in keyof ProgramRecord]: ProgramRecord[K] } = { id, codeId, status, stateAddress, creator: r.id<ActorId>() }
  if (r.flag()) record.inheritor = r.id<ActorId>()
  return record
}
