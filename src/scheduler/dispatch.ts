/**
 * Dispatch: runs a cycle's batch on the streams. It splits the batch by stream (assign.ts), builds each stream's
 * task (records, codes the stream has not loaded, and on the memory store the committed memory it does not
 * hold), runs the tasks in parallel, and puts the journal entries back in batch order. A worker that dies on a
 * message (its heap) fails that message with WORKER_DIED and the stream's part runs again without it; a worker
 * that stalls (the watchdog) runs its part again once on a fresh worker, and a second stall is a fault.
 */
import { StrataError } from '../errors.js'
import type { CodeId, ProgramId } from '../message/index.js'
import type { Message } from '../message/index.js'
import { workerDiedEntry } from '../program/index.js'
import type { JournalEntry, MemoryDelta, ProgramImage, ProgramRecord, StreamResult, StreamTask } from '../protocol/index.js'
import type { Store } from '../store/index.js'
import { streamOf } from './assign.js'
import { RuntimeErrorCode } from './errors.js'
import type { StreamRunner } from './pool.js'
import type { StreamExecutor } from './stream_executor.js'

/** Stalls of one stream in one cycle before the runtime faults: one retry on a fresh worker, then stop. */
export const WATCHDOG_STALLS_MAX = 2

export interface DispatchOptions {
  /** Streams on worker threads, or on the nodes of a cluster (streams > 0) ... */
  readonly pool: StreamRunner | undefined
  /** ... or one executor on this thread (streams = 0). */
  readonly inline: StreamExecutor | undefined
  readonly streams: number
  readonly store: Store
  /** Workers read committed memory from LMDB themselves; on the memory store tasks carry it. */
  readonly storeOnDisk: boolean
  readonly messageTimeoutMs: number
  /** Start-of-cycle records, by program id. */
  readonly record: (programId: ProgramId) => ProgramRecord
}

export interface Executed {
  /** In batch order. */
  readonly entries: JournalEntry[]
  readonly deltas: MemoryDelta[]
  /** Times the watchdog replaced a stalled worker. */
  readonly stalls: number
}

export class Dispatcher {
  readonly #options: DispatchOptions
  readonly #lanes: number
  /** Per stream: programs whose committed memory the stream holds (preloads; memory store only), codes it loaded. */
  readonly #resident: Set<ProgramId>[]
  readonly #loadedCodes: Set<CodeId>[]

  constructor(options: DispatchOptions) {
    this.#options = options
    this.#lanes = Math.max(options.streams, 1)
    this.#resident = Array.from({ length: this.#lanes }, () => new Set())
    this.#loadedCodes = Array.from({ length: this.#lanes }, () => new Set())
  }

  /** Runs the batch on the streams and returns its entries in batch order with every memory delta. */
  async execute(batch: readonly Message[], cycle: number): Promise<Executed> {
    const { streams } = this.#options
    const entries = new Array<JournalEntry>(batch.length)
    const deltas: MemoryDelta[] = []
    const groups = Array.from({ length: this.#lanes }, () => ({ messages: [] as Message[], positions: [] as number[] }))
    batch.forEach((message, position) => {
      const group = groups[streams === 0 ? 0 : streamOf(message.destination, streams)]!
      group.messages.push(message)
      group.positions.push(position)
    })
    let stalls = 0
    await Promise.all(groups.map(async ({ messages, positions }, stream) => {
      if (messages.length === 0) return
      const result = await this.#runStream(stream, messages, positions, cycle, entries, () => { stalls += 1 })
      if (result === undefined) return
      for (const delta of result.deltas) {
        deltas.push(delta)
        if (delta.dropped) this.#resident[stream]!.delete(delta.programId)
      }
    }))
    return { entries, deltas, stalls }
  }

  /** One stream's part, retried without a message whose worker died, or once after a stall. */
  async #runStream(
    stream: number, messages: Message[], positions: number[], cycle: number, entries: JournalEntry[], stalled: () => void,
  ): Promise<StreamResult | undefined> {
    const { pool, inline, messageTimeoutMs } = this.#options
    let stalls = 0
    for (;;) {
      const task = this.#task(stream, messages, cycle)
      const outcome = pool === undefined ? inline!.run(task) : await pool.run(task, messageTimeoutMs)
      if ('entries' in outcome) {
        if (outcome.fatal !== undefined) throw new StrataError(outcome.fatal.code, outcome.fatal.message)
        for (const programId of new Set(messages.map((m) => m.destination as ProgramId))) this.#resident[stream]!.add(programId)
        for (const { codeId } of task.codes) this.#loadedCodes[stream]!.add(codeId)
        for (const programId of outcome.evicted) this.#resident[stream]!.delete(programId)
        outcome.entries.forEach((entry, i) => { entries[positions[i]!] = entry })
        return outcome
      }
      this.#resident[stream]!.clear()
      this.#loadedCodes[stream]!.clear()
      const culprit = messages[outcome.messageIndex]
      if (culprit === undefined) throw outcome.error
      if (outcome.kind === 'timeout') {
        stalls += 1
        stalled()
        if (stalls >= WATCHDOG_STALLS_MAX) {
          throw new StrataError(RuntimeErrorCode.WATCHDOG,
            `stream ${stream} made no progress for ${messageTimeoutMs} ms on message ${culprit.id} in cycle ${cycle}, `
            + `${stalls} times: the runtime stopped (nothing of the cycle was committed; see docs/architecture.md, "Watchdog")`)
        }
        continue
      }
      entries[positions[outcome.messageIndex]!] = workerDiedEntry(culprit, this.#options.record(culprit.destination as ProgramId), cycle)
      messages = messages.filter((_, i) => i !== outcome.messageIndex)
      positions = positions.filter((_, i) => i !== outcome.messageIndex)
      if (messages.length === 0) return undefined
    }
  }

  #task(stream: number, messages: readonly Message[], cycle: number): StreamTask {
    const { store, pool, storeOnDisk } = this.#options
    const programs = [...new Set(messages.map((m) => m.destination as ProgramId))]
    const records = programs.map((id) => this.#options.record(id))
    const resident = this.#resident[stream]!
    const loaded = this.#loadedCodes[stream]!
    const preload = pool === undefined || storeOnDisk ? []
      : programs.filter((id) => !resident.has(id)).flatMap((id) => this.#image(id) ?? [])
    const codes = [...new Set(records.map((r) => r.codeId))].filter((id) => !loaded.has(id))
      .map((codeId) => ({ codeId, blob: store.code(codeId)! }))
    return { cycle, stream, messages, records, preload, drop: [], codes }
  }

  /** A program's whole committed memory, for a stream on the memory store that does not hold it. */
  #image(programId: ProgramId): ProgramImage | undefined {
    const { store } = this.#options
    const meta = store.memoryMeta(programId)
    if (meta === undefined) return undefined
    const planes = store.planeKeys(programId).map((key) => [key, store.plane(programId, key)!] as const)
    return { programId, meta, planes }
  }

  async close(): Promise<void> {
    await this.#options.pool?.close()
  }
}
