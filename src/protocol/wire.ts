/**
 * Everything that crosses between the main thread and a stream worker, in one place. A task carries one
 * stream's whole batch for a cycle; the result carries its journal entries and the memory changes of every
 * program it touched. Both are msgpackr-encoded into one buffer that is transferred, not copied.
 */
import { Packr } from 'msgpackr'
import { StrataError } from '../errors.js'
import type { CodeId, ProgramId } from '../message/index.js'
import type { Message } from '../message/index.js'
import type { JournalEntry } from './journal.js'
import { decodeJournal, decodeMessages, encodeJournal, encodeMessages } from './journal_codec.js'
import type { ProgramRecord } from './records.js'

/**
 * The version of everything in this folder that crosses threads: tasks, results, journal entries, records. Every
 * encoded task and result starts with it, and a decoder refuses any other (a worker from another build, say).
 * Bump it with any change to these types or their encoding.
 */
export const PROTOCOL_VERSION = 3

export const ProtocolErrorCode = {
  /** An encoded task or result of another protocol version, or not one at all. */
  PROTOCOL_VERSION: 'PROTOCOL_VERSION',
} as const
export type ProtocolErrorCode = (typeof ProtocolErrorCode)[keyof typeof ProtocolErrorCode]

/** A program's committed memory, shipped to a stream that does not hold it (memory store; LMDB reads directly). */
export interface ProgramImage {
  readonly programId: ProgramId
  /** encodeMemoryMetadata output. */
  readonly meta: Uint8Array
  /** [plane key, 65,536 bytes] for every materialized plane. */
  readonly planes: readonly (readonly [number, Uint8Array])[]
}

export interface StreamTask {
  readonly cycle: number
  readonly stream: number
  readonly messages: readonly Message[]
  /** Start-of-cycle records of the programs the messages are for. */
  readonly records: readonly ProgramRecord[]
  /** Committed memories of programs in this batch that the stream does not hold. */
  readonly preload: readonly ProgramImage[]
  /** Programs whose resident memory the stream must discard first. */
  readonly drop: readonly ProgramId[]
  /** Code blobs the stream has not loaded yet. */
  readonly codes: readonly { readonly codeId: CodeId; readonly blob: Uint8Array }[]
}

/**
 * One plane's change in a cycle: only the 4 KiB chunks that were written travel; the main thread patches them
 * into its commitment (rehashing just those chunks) and hands them to the store, which writes just those.
 */
export interface PlaneChange {
  readonly key: number
  /** The plane was dropped (its last allocation freed, or compacted away). */
  readonly dropped: boolean
  /** The plane was created this cycle: its chunks not listed are zeros (not what was committed before). */
  readonly fresh: boolean
  /** [chunk index, 4,096 bytes] for every written chunk, ascending. */
  readonly chunks: readonly (readonly [number, Uint8Array])[]
}

/** The memory changes of one program in one cycle. */
export interface MemoryDelta {
  readonly programId: ProgramId
  /** The program exited: its whole memory is gone. */
  readonly dropped: boolean
  /** Metadata after the cycle (allocator state, materialized planes). */
  readonly meta: Uint8Array
  readonly planes: readonly PlaneChange[]
  /** Allocation starts created or freed, with their size now (0 = freed). */
  readonly allocations: readonly (readonly [address: number, size: number])[]
}

export interface StreamResult {
  readonly stream: number
  /** In batch order. */
  readonly entries: readonly JournalEntry[]
  readonly deltas: readonly MemoryDelta[]
  /** Programs the stream evicted after this task (its resident byte budget): preload them again when needed. */
  readonly evicted: readonly ProgramId[]
  /** The committed memory could not be read (corrupt or IO): the runtime must stop. Entries are empty then. */
  readonly fatal?: { readonly code: string; readonly message: string }
}

// Records with their structures embedded in each buffer: keys travel once per buffer, not once per object, and a
// freshly replaced worker still decodes everything (nothing is shared between buffers).
const packr = new Packr({ useRecords: true, variableMapSize: true, moreTypes: false })

/**
 * A result as it crosses threads: chunk bytes travel as their own ArrayBuffers in the transfer list (moved, not
 * copied or packed: a cycle can dirty thousands of chunks), everything else as one msgpack header in which each
 * chunk's bytes are replaced by its index in `buffers`.
 */
export interface EncodedResult {
  readonly header: Uint8Array
  readonly buffers: ArrayBuffer[]
}

export function encodeResult(result: StreamResult): EncodedResult {
  const buffers: ArrayBuffer[] = []
  const deltas = result.deltas.map((delta) => ({
    ...delta,
    planes: delta.planes.map((plane) => ({
      ...plane,
      chunks: plane.chunks.map(([index, bytes]) => {
        // Chunks are fresh copies (stream_executor slices them), so each owns exactly its buffer.
        const own = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength
          ? bytes.buffer as ArrayBuffer : bytes.slice().buffer
        buffers.push(own)
        return [index, buffers.length - 1]
      }),
    })),
  }))
  // Journal entries travel as one binary buffer (journal_codec.ts), not as msgpack objects.
  return { header: encodeMessage({ ...result, entries: encodeJournal(result.entries), deltas } as unknown as StreamResult), buffers }
}

export function decodeResult(encoded: EncodedResult): StreamResult {
  const packed = revive(packr.unpack(versioned(encoded.header))) as Omit<StreamResult, 'entries'> & { entries: Uint8Array }
  const result: StreamResult = { ...packed, entries: decodeJournal(packed.entries) }
  for (const delta of result.deltas) {
    for (const plane of delta.planes) {
      for (const chunk of plane.chunks as unknown as [number, unknown][]) {
        chunk[1] = new Uint8Array(encoded.buffers[chunk[1] as number]!)
      }
    }
  }
  return result
}

export function encodeMessage(value: StreamTask | StreamResult): Uint8Array {
  const packed = packr.pack(value)
  // A fresh ArrayBuffer of exactly this length (so it can be transferred without exposing a shared pool), led by
  // the protocol version.
  const bytes = new Uint8Array(packed.byteLength + 1)
  bytes[0] = PROTOCOL_VERSION
  bytes.set(packed, 1)
  return bytes
}

/** A task as it crosses to its worker: its messages in the journal's binary layout, the rest msgpack. */
export function encodeTask(task: StreamTask): Uint8Array {
  return encodeMessage({ ...task, messages: encodeMessages(task.messages) } as unknown as StreamTask)
}

export function decodeTask(bytes: Uint8Array): StreamTask {
  const packed = revive(packr.unpack(versioned(bytes))) as Omit<StreamTask, 'messages'> & { messages: Uint8Array }
  return { ...packed, messages: decodeMessages(packed.messages) }
}

/** The body of an encoded task or result, after checking its version byte. */
function versioned(bytes: Uint8Array): Uint8Array {
  if (bytes.length === 0 || bytes[0] !== PROTOCOL_VERSION) {
    throw new StrataError(ProtocolErrorCode.PROTOCOL_VERSION,
      `an encoded stream message has protocol version ${bytes.length === 0 ? 'none' : bytes[0]}; this build speaks ${PROTOCOL_VERSION}`)
  }
  return bytes.subarray(1)
}

/** msgpackr decodes binary as Buffer; the rest of Strata expects plain Uint8Arrays. Walks and converts. */
function revive(value: unknown): unknown {
  if (value instanceof Uint8Array) {
    return Object.getPrototypeOf(value) === Uint8Array.prototype ? value : new Uint8Array(value.buffer, value.byteOffset, value.byteLength)
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i += 1) value[i] = revive(value[i])
    return value
  }
  if (typeof value === 'object' && value !== null) {
    const record = value as Record<string, unknown>
    for (const key of Object.keys(record)) record[key] = revive(record[key])
  }
  return value
}
