/**
 * A stream's executor: the code cache and resident program memories of the programs assigned to one stream,
 * and the loop that runs a batch of messages in queue order. The same class runs in a pool worker and, with
 * `streams: 0`, on the main thread.
 */
import type { GasSchedule } from '../gas/schedule.js'
import { decodeMemoryMetadata, encodeMemoryMetadata } from '../memory/metadata.js'
import { ProgramMemory } from '../memory/program_memory.js'
import { DIRTY_CHUNK_SIZE_BYTES } from '../constants.js'
import { assert } from '../errors.js'
import type { CodeId, ProgramId } from '../message/ids.js'
import type { Message } from '../message/types.js'
import { executeMessage, type JournalEntry } from '../program/executor.js'
import { ProgramStatus, type ProgramRecord } from '../program/records.js'
import { loadCode, type LoadedCode } from '../program/sandbox.js'
import type { MemoryDelta, PlaneChange, ProgramImage, StreamResult, StreamTask } from './protocol.js'

export interface StreamExecutorOptions {
  readonly schedule: GasSchedule
  readonly planesMax: number
  /** A per-message deadline, for executors that run where no worker can be aborted (inline, queries). */
  readonly messageTimeoutMs?: number
}

export class StreamExecutor {
  readonly #options: StreamExecutorOptions
  readonly #blobs = new Map<CodeId, Uint8Array>()
  readonly #codes = new Map<CodeId, LoadedCode>()
  readonly #memories = new Map<ProgramId, ProgramMemory>()

  constructor(options: StreamExecutorOptions) {
    this.#options = options
  }

  /** Runs one stream task: discard, preload, execute the batch, and collect every touched program's delta. */
  run(task: StreamTask, onMessage?: (index: number) => void): StreamResult {
    for (const programId of task.drop) this.#forget(programId)
    for (const { codeId, blob } of task.codes) this.#blobs.set(codeId, blob)
    for (const image of task.preload) this.preload(image)
    const records = new Map(task.records.map((r) => [r.id, r]))
    const entries = this.executeBatch(task.messages, records, task.cycle, onMessage)
    return { stream: task.stream, entries, deltas: this.collectDeltas(entries) }
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
        ...(this.#options.messageTimeoutMs !== undefined ? { timeoutMs: this.#options.messageTimeoutMs } : {}),
      })
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
        this.#forget(programId)
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
      ...(this.#options.messageTimeoutMs !== undefined ? { timeoutMs: this.#options.messageTimeoutMs } : {}),
    })
  }

  /** Puts a program's committed memory in place (the stream did not hold it). */
  preload(image: ProgramImage): void {
    this.#forget(image.programId)
    this.#memories.set(image.programId, this.#restore(image))
  }

  #forget(programId: ProgramId): void {
    this.#memories.delete(programId)
  }

  addCode(codeId: CodeId, blob: Uint8Array): void {
    this.#blobs.set(codeId, blob)
  }

  memory(programId: ProgramId): ProgramMemory {
    let memory = this.#memories.get(programId)
    if (memory === undefined) {
      memory = new ProgramMemory({ schedule: this.#options.schedule, planesMax: this.#options.planesMax })
      this.#memories.set(programId, memory)
    }
    return memory
  }

  hasMemory(programId: ProgramId): boolean {
    return this.#memories.has(programId)
  }

  hasCode(codeId: CodeId): boolean {
    return this.#blobs.has(codeId)
  }

  code(codeId: CodeId): LoadedCode {
    let code = this.#codes.get(codeId)
    if (code === undefined) {
      const blob = this.#blobs.get(codeId)
      // The main thread sends every code a stream lacks with its task: a missing blob is a bug.
      assert(blob !== undefined, `stream has no blob for code ${codeId}`)
      code = loadCode(codeId, blob)
      this.#codes.set(codeId, code)
    }
    return code
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
