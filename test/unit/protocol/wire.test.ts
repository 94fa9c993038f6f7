/**
 * The wire between the main thread and the stream workers: tasks and results round-trip, chunk bytes travel as
 * their own ArrayBuffers in `buffers` (moved, not packed), byte arrays come back as plain Uint8Arrays, and an
 * encoding of another protocol version (or none) is refused.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { MessageKind, type CodeId, type Message, type MessageId, type ProgramId, type UserId } from '../../../src/message/index.js'
import {
  ExecutionResult, PROTOCOL_VERSION, ProgramStatus, ProtocolErrorCode, decodeResult, decodeTask, encodeMessage, encodeResult, encodeTask,
  type JournalEntry, type StreamResult, type StreamTask,
} from '../../../src/protocol/index.js'

const id = <T extends string>(byte: number): T => byte.toString(16).padStart(2, '0').repeat(32) as T
const P = id<ProgramId>(0xa1)
const Q = id<ProgramId>(0xa2)
const U = id<UserId>(0xb1)
const bytes = (...values: number[]): Uint8Array => Uint8Array.from(values)

function msg(n: number, overrides: Partial<Message> = {}): Message {
  return {
    id: id<MessageId>(n), kind: MessageKind.HANDLE, source: U, destination: P, payload: bytes(n, 2, 3),
    gasLimit: 1_000_000 + n, origin: id<MessageId>(n), ...overrides,
  }
}

function task(): StreamTask {
  return {
    cycle: 12, stream: 3,
    messages: [msg(1), msg(2, { kind: MessageKind.INIT, destination: Q, delay: 4, payload: new Uint8Array(0) })],
    records: [
      { id: P, codeId: id<CodeId>(0xc1), status: ProgramStatus.ACTIVE, stateAddress: 4096, creator: U },
      { id: Q, codeId: id<CodeId>(0xc1), status: ProgramStatus.EXITED, stateAddress: null, creator: P, inheritor: U },
    ],
    preload: [{ programId: P, meta: bytes(9, 8, 7), planes: [[0, new Uint8Array(65_536).fill(5)], [65_537, bytes(1)]] }],
    drop: [Q],
    codes: [{ codeId: id<CodeId>(0xc1), blob: new TextEncoder().encode('export default {}') }],
  }
}

function journalEntry(): JournalEntry {
  const ran = msg(1)
  return {
    outcome: {
      messageId: ran.id, origin: ran.origin, programId: P, kind: MessageKind.HANDLE, result: ExecutionResult.WAITED,
      replyCode: null, gasBurned: 1234, gasRefunded: 0, error: 'boom ünïcødé 🚀', trace: 'program:1:2', logs: ['a', '', 'ß'.repeat(300)],
    },
    outgoing: [msg(3, { kind: MessageKind.REPLY, source: P, destination: U, replyTo: ran.id, replyCode: 0x01 })],
    created: [{ programId: Q, codeId: id<CodeId>(0xc1), initMessageId: id<MessageId>(4) }],
    wakes: [id<MessageId>(5)],
    wait: { message: { ...ran, gasLimit: 10 }, untilCycle: 99 },
    program: { id: P, codeId: id<CodeId>(0xc1), status: ProgramStatus.ACTIVE, stateAddress: 8, creator: U },
  }
}

/** A 4 KiB chunk whose bytes name it. */
const chunk = (seed: number): Uint8Array => new Uint8Array(4096).map((_, i) => (i * 31 + seed) & 0xff)

function result(): StreamResult {
  return {
    stream: 3,
    entries: [journalEntry()],
    deltas: [
      {
        programId: P, dropped: false, meta: bytes(1, 2, 3), allocations: [[4096, 64], [8192, 0]],
        planes: [
          { key: 0, dropped: false, fresh: true, chunks: [[0, chunk(1)], [15, chunk(2)]] },
          { key: 7, dropped: true, fresh: false, chunks: [] },
        ],
      },
      { programId: Q, dropped: true, meta: new Uint8Array(0), allocations: [], planes: [{ key: 1, dropped: false, fresh: false, chunks: [[3, chunk(3)]] }] },
    ],
    evicted: [Q],
  }
}

/** Every byte array reachable from `value`, with its path. */
function byteArrays(value: unknown, at = '$'): [string, Uint8Array][] {
  if (value instanceof Uint8Array) return [[at, value]]
  if (Array.isArray(value)) return value.flatMap((v, i) => byteArrays(v, `${at}[${i}]`))
  if (typeof value === 'object' && value !== null) return Object.entries(value).flatMap(([k, v]) => byteArrays(v, `${at}.${k}`))
  return []
}

function expectPlainBytes(value: unknown): void {
  const arrays = byteArrays(value)
  expect(arrays.length).toBeGreaterThan(0)
  for (const [at, array] of arrays) {
    expect(Object.getPrototypeOf(array), at).toBe(Uint8Array.prototype)
    expect(Buffer.isBuffer(array), at).toBe(false)
  }
}

function codeOf(action: () => unknown): string | undefined {
  try {
    action()
  } catch (error) {
    return (error as { code?: string }).code
  }
  return undefined
}

describe('tasks on the wire', () => {
  it('round-trip whole: messages, records, preloaded memory, drops and code blobs', () => {
    const original = task()
    expect(decodeTask(encodeTask(original))).toEqual(original)
  })

  it('start with the protocol version byte, in a buffer of their own (transferable, no shared pool)', () => {
    const encoded = encodeTask(task())
    expect(encoded[0]).toBe(PROTOCOL_VERSION)
    expect(encoded.byteOffset).toBe(0)
    expect(encoded.buffer.byteLength).toBe(encoded.byteLength)
  })

  it('decode byte arrays as plain Uint8Arrays, not Buffers, also when the encoding arrives in a Buffer', () => {
    const encoded = encodeTask(task())
    expectPlainBytes(decodeTask(encoded))
    expectPlainBytes(decodeTask(Buffer.from(encoded)))
  })

  it('round-trip any message fields, including gas and cycle numbers up to the largest safe integer', () => {
    const gas = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER })
    fc.assert(fc.property(
      fc.array(fc.record({
        gasLimit: gas, payload: fc.uint8Array({ maxLength: 64 }), delay: fc.option(fc.nat(), { nil: undefined }),
        kind: fc.constantFrom(...Object.values(MessageKind)),
      }), { maxLength: 8 }),
      gas, fc.nat({ max: 63 }),
      (parts, cycle, stream) => {
        const original: StreamTask = {
          cycle, stream, messages: parts.map((p, n) => msg(n, p)), records: [], preload: [], drop: [], codes: [],
        }
        const decoded = decodeTask(encodeTask(original))
        expect(decoded).toEqual(original)
        for (const m of decoded.messages) expect(typeof m.gasLimit).toBe('number')
      }), { numRuns: 200 })
  })
})

describe('results on the wire', () => {
  it('round-trip whole: journal entries, memory deltas with their chunks, evictions', () => {
    const original = result()
    expect(decodeResult(encodeResult(result()))).toEqual(original)
  })

  it('round-trip a fatal result', () => {
    const fatal: StreamResult = { stream: 0, entries: [], deltas: [], evicted: [], fatal: { code: 'INTEGRITY', message: 'plane 3' } }
    expect(decodeResult(encodeResult(fatal))).toEqual(fatal)
  })

  it('move each chunk\'s own buffer into `buffers`, in order, and keep the chunk bytes out of the header', () => {
    const original = result()
    const chunks = original.deltas.flatMap((d) => d.planes.flatMap((p) => p.chunks.map(([, b]) => b)))
    const encoded = encodeResult(original)
    expect(encoded.buffers).toHaveLength(3)
    encoded.buffers.forEach((buffer, i) => expect(buffer, `chunk ${i}`).toBe(chunks[i]!.buffer))
    expect(encoded.header[0]).toBe(PROTOCOL_VERSION)
    expect(encoded.header.byteLength).toBeLessThan(4096)
  })

  it('copy a chunk that is a view into a larger buffer, so only its own bytes travel', () => {
    const backing = new Uint8Array(3 * 4096).map((_, i) => i & 0xff)
    const view = backing.subarray(4096, 8192)
    const original: StreamResult = {
      stream: 0, entries: [], evicted: [],
      deltas: [{ programId: P, dropped: false, meta: bytes(1), allocations: [], planes: [{ key: 0, dropped: false, fresh: false, chunks: [[1, view]] }] }],
    }
    const encoded = encodeResult(original)
    expect(encoded.buffers).toHaveLength(1)
    expect(encoded.buffers[0]).not.toBe(backing.buffer)
    expect(encoded.buffers[0]!.byteLength).toBe(4096)
    const decoded = decodeResult(encoded)
    expect(Buffer.from(decoded.deltas[0]!.planes[0]!.chunks[0]![1]).equals(Buffer.from(view))).toBe(true)
  })

  it('decode byte arrays as plain Uint8Arrays, not Buffers, chunks included, also when the header arrives in a Buffer', () => {
    const encoded = encodeResult(result())
    const decoded = decodeResult(encoded)
    expectPlainBytes(decoded)
    expect(Object.getPrototypeOf(decoded.deltas[0]!.planes[0]!.chunks[0]![1])).toBe(Uint8Array.prototype)
    expectPlainBytes(decodeResult({ header: Buffer.from(encoded.header), buffers: encoded.buffers }))
  })
})

describe('protocol version', () => {
  const otherVersions = [0, PROTOCOL_VERSION - 1, PROTOCOL_VERSION + 1, 255].filter((v) => v !== PROTOCOL_VERSION && v >= 0)

  it.each(otherVersions)('a task led by version %i is refused with PROTOCOL_VERSION', (version) => {
    const encoded = encodeTask(task())
    encoded[0] = version
    expect(codeOf(() => decodeTask(encoded))).toBe(ProtocolErrorCode.PROTOCOL_VERSION)
  })

  it.each(otherVersions)('a result led by version %i is refused with PROTOCOL_VERSION', (version) => {
    const encoded = encodeResult(result())
    encoded.header[0] = version
    expect(codeOf(() => decodeResult(encoded))).toBe(ProtocolErrorCode.PROTOCOL_VERSION)
  })

  it('an empty task or result is refused with PROTOCOL_VERSION, saying it has none', () => {
    expect(codeOf(() => decodeTask(new Uint8Array(0)))).toBe(ProtocolErrorCode.PROTOCOL_VERSION)
    expect(codeOf(() => decodeResult({ header: new Uint8Array(0), buffers: [] }))).toBe(ProtocolErrorCode.PROTOCOL_VERSION)
    expect(() => decodeTask(new Uint8Array(0))).toThrow(`protocol version none; this build speaks ${PROTOCOL_VERSION}`)
  })

  it('a bare msgpack body without the version byte is refused', () => {
    const body = encodeMessage(task()).subarray(1)
    expect(body[0]).not.toBe(PROTOCOL_VERSION)
    expect(codeOf(() => decodeTask(body.slice()))).toBe(ProtocolErrorCode.PROTOCOL_VERSION)
  })
})
