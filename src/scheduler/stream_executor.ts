/**
 * A stream's executor: the code cache and resident program memories of the programs assigned to one stream,
 * and the loop that runs a batch of messages in queue order. The same class runs in a pool worker and, with
 * `streams: 0`, on the main thread.
 */
import type { GasSchedule } from '../gas/index.js'
import { decodeMemoryMetadata, encodeMemoryMetadata } from '../memory/index.js'
import { ProgramMemory } from '../memory/index.js'
import { DIRTY_CHUNK_SIZE_BYTES, PLANE_SIZE_BYTES } from '../constants.js'
import { RuntimeErrorCode } from './errors.js'
import { StrataError, assert } from '../errors.js'
import type { CodeId, ProgramId } from '../message/index.js'
import type { Message } from '../message/index.js'
import { executeMessage } from '../program/index.js'
import { ProgramStatus, type JournalEntry, type ProgramRecord } from '../protocol/index.js'
import { loadCode } from '../program/index.js'
import type { GuestCode } from '../engine/index.js'
import type { MemoryDelta, PlaneChange, ProgramImage, StreamResult, StreamTask } from '../protocol/index.js'

export interface StreamExecutorOptions {
  readonly schedule: GasSchedule
  readonly planesMax: number
  /**
   * Where committed memories are read when the executor does not hold them (a store: LMDB in a worker, either
   * store on the main thread). Without one, the main thread ships them in `task.preload`.
   */
  readonly source?: MemorySource
  /**
   * Resident plane bytes kept between tasks: past it, the least recently used programs are evicted (and read
   * again from the source, or preloaded again, when next touched). Unbounded if not set.
   */
  readonly residentBytesMax?: number
}

/** Committed memory, read lazily: metadata when a program is first touched, each plane when it is first read. */
export interface MemorySource {
  memoryMeta(programId: ProgramId): Uint8Array | undefined
  plane(programId: ProgramId, key: number): Uint8Array | undefined
}

export class StreamExecutor {
  readonly #options: StreamExecutorOptions
  readonly #blobs = new Map<CodeId, Uint8Array>()
  readonly #codes = new Map<CodeId, GuestCode>()
  /** Resident memories, least recently used first. */
  readonly #memories = new Map<ProgramId, ProgramMemory>()
  /** A failure of the memory source (a corrupt plane, an IO error): it must stop the runtime, not fail a message. */
  #sourceError: Error | undefined

  constructor(options: StreamExecutorOptions) {
    this.#options = options
  }

  /** Runs one stream task: discard, preload, execute the batch, and collect every touched program's delta. */
  run(task: StreamTask, onMessage?: (index: number) => void): StreamResult {
    for (const programId of task.drop) this.forget(programId)
    for (const { codeId, blob } of task.codes) this.#blobs.set(codeId, blob)
    for (const image of task.preload) this.preload(image)
    const records = new Map(task.records.map((r) => [r.id, r]))
    try {
      const entries = this.executeBatch(task.messages, records, task.cycle, onMessage)
      const deltas = this.collectDeltas(entries)
      return { stream: task.stream, entries, deltas, evicted: this.#evict() }
    } catch (error) {
      // Memories may be half-changed: forget them all (the source, or the next preloads, has committed ones).
      this.#memories.clear()
      if (this.#sourceError === undefined) throw error
      const fatal = this.#sourceError
      this.#sourceError = undefined
      return {
        stream: task.stream, entries: [], deltas: [], evicted: [],
        fatal: { code: fatal instanceof StrataError ? fatal.code : 'IO', message: fatal.message },
      }
    }
  }

  /** Evicts least recently used memories while resident plane bytes exceed the budget; returns their ids. */
  #evict(): ProgramId[] {
    const budget = this.#options.residentBytesMax
    if (budget === undefined) return []
    let bytes = 0
    for (const memory of this.#memories.values()) bytes += memory.residentPlaneCount * PLANE_SIZE_BYTES
    const evicted: ProgramId[] = []
    for (const [programId, memory] of this.#memories) {
      if (bytes <= budget) break
      bytes -= memory.residentPlaneCount * PLANE_SIZE_BYTES
      this.#memories.delete(programId)
      evicted.push(programId)
    }
    return evicted
  }

  /**
   * Runs `messages` (all for programs of this stream) in order. `records` are the programs' records at the
   * cycle's start; a record changed by one message is what the next message of that program sees.
   */
  executeBatch(
    messages: readonly Message[], records: ReadonlyMap<ProgramId, ProgramRecord>, cycle: number,
    onMessage?: (index: number) => void,
  ): JournalEntry[] {
    const current = new Map(records)
    const entries: JournalEntry[] = []
    for (let i = 0; i < messages.length; i += 1) {
      onMessage?.(i)
      const message = messages[i]!
      const record = current.get(message.destination as ProgramId)!
      const entry = executeMessage(message, record, this.memory(record.id), this.code(record.codeId), {
        cycle, schedule: this.#options.schedule,
      })
      // A source failure inside the message was reported to the program as an error; it is not the program's.
      if (this.#sourceError !== undefined) throw this.#sourceError
      if (entry.program !== undefined) current.set(record.id, entry.program)
      entries.push(entry)
    }
    return entries
  }

  /** The memory changes of every program the entries touched (exited programs: dropped whole). */
  collectDeltas(entries: readonly JournalEntry[]): MemoryDelta[] {
    const touched = new Map<ProgramId, boolean>()
    for (const entry of entries) {
      const exited = entry.program?.status === ProgramStatus.EXITED
      touched.set(entry.outcome.programId, exited || (touched.get(entry.outcome.programId) ?? false))
    }
    const deltas: MemoryDelta[] = []
    for (const [programId, exited] of touched) {
      const memory = this.#memories.get(programId)
      if (exited) {
        this.forget(programId)
        deltas.push({ programId, dropped: true, meta: new Uint8Array(0), planes: [], allocations: [] })
        continue
      }
      if (memory === undefined) continue
      const dirty = memory.takeDirty()
      if (dirty.planes.length === 0 && dirty.allocations.length === 0) continue
      const fresh = new Set(dirty.freshPlanes)
      const planes: PlaneChange[] = dirty.planes.map((key) => {
        const bytes = memory.planeBytes(key)
        if (bytes === undefined) return { key, dropped: true, fresh: false, chunks: [] }
        const mask = dirty.chunkMasks.get(key) ?? 0
        const chunks: (readonly [number, Uint8Array])[] = []
        for (let c = 0; mask >>> c !== 0; c += 1) {
          if ((mask >>> c) & 1) chunks.push([c, bytes.slice(c * DIRTY_CHUNK_SIZE_BYTES, (c + 1) * DIRTY_CHUNK_SIZE_BYTES)])
        }
        return { key, dropped: false, fresh: fresh.has(key), chunks }
      })
      const allocations = dirty.allocations.map((address) => [address, memory.allocationAt(address) ?? 0] as const)
      deltas.push({ programId, dropped: false, meta: encodeMemoryMetadata(memory), planes, allocations })
    }
    return deltas
  }

  /** Runs one message read-only (query / gas estimation): everything is rolled back. */
  executeReadOnly(message: Message, record: ProgramRecord, cycle: number): JournalEntry {
    return executeMessage(message, record, this.memory(record.id), this.code(record.codeId), {
      cycle, schedule: this.#options.schedule, readOnly: true,
    })
  }

  /** Puts a program's committed memory in place (the stream did not hold it). */
  preload(image: ProgramImage): void {
    this.forget(image.programId)
    this.#memories.set(image.programId, this.#restore(image))
  }

  /** Drops a resident memory: the next touch reads the committed one again. */
  forget(programId: ProgramId): void {
    this.#memories.delete(programId)
  }

  /** Drops every resident memory (the committed memory moved on): touches read it again. */
  forgetAll(): void {
    this.#memories.clear()
  }

  addCode(codeId: CodeId, blob: Uint8Array): void {
    this.#blobs.set(codeId, blob)
  }

  memory(programId: ProgramId): ProgramMemory {
    let memory = this.#memories.get(programId)
    if (memory !== undefined) {
      this.#memories.delete(programId) // to the most recently used end
    } else {
      memory = this.#load(programId)
    }
    this.#memories.set(programId, memory)
    return memory
  }

  hasMemory(programId: ProgramId): boolean {
    return this.#memories.has(programId)
  }

  hasCode(codeId: CodeId): boolean {
    return this.#blobs.has(codeId)
  }

  code(codeId: CodeId): GuestCode {
    let code = this.#codes.get(codeId)
    if (code === undefined) {
      const blob = this.#blobs.get(codeId)
      // The main thread sends every code a stream lacks with its task: a missing blob is a bug.
      assert(blob !== undefined, `stream has no blob for code ${codeId}`)
      code = loadCode(codeId, blob, this.#options.schedule)
      this.#codes.set(codeId, code)
    }
    return code
  }

  #load(programId: ProgramId): ProgramMemory {
    const options = { schedule: this.#options.schedule, planesMax: this.#options.planesMax }
    const source = this.#options.source
    const meta = source?.memoryMeta(programId)
    if (source === undefined || meta === undefined) return new ProgramMemory(options)
    return decodeMemoryMetadata(meta, {
      ...options,
      planeSource: (key) => {
        try {
          const bytes = source.plane(programId, key)
          if (bytes === undefined) throw new StrataError(RuntimeErrorCode.INTEGRITY, `program ${programId}: plane ${key} is in its metadata but not in the store`, { programId, plane: key })
          return bytes
        } catch (error) {
          this.#sourceError ??= error as Error
          throw error
        }
      },
    })
  }

  #restore(image: ProgramImage): ProgramMemory {
    const planes = new Map(image.planes)
    return decodeMemoryMetadata(image.meta, {
      schedule: this.#options.schedule, planesMax: this.#options.planesMax,
      // The memory owns and mutates what it gets: hand it a copy.
      planeSource: (key) => planes.get(key)!.slice(),
    })
  }
}
