/**
 * A stream's executor: the code cache and resident program memories of the programs assigned to one stream,
 * and the loop that runs a batch of messages in queue order. The same class runs in a pool worker and, with
 * `streams: 0`, on the main thread.
 */
import type { GasSchedule } from '../gas/schedule.js'
import { ProgramMemory } from '../memory/program_memory.js'
import type { CodeId, ProgramId } from '../message/ids.js'
import type { Message } from '../message/types.js'
import { executeMessage, type JournalEntry } from '../program/executor.js'
import { ProgramStatus, type ProgramRecord } from '../program/records.js'
import { loadCode, type LoadedCode } from '../program/sandbox.js'

export interface StreamExecutorOptions {
  readonly schedule: GasSchedule
  readonly planesMax: number
  /** Returns a code's blob (codes are immutable). */
  readonly codeBlob: (codeId: CodeId) => Uint8Array
}

export class StreamExecutor {
  readonly #options: StreamExecutorOptions
  readonly #codes = new Map<CodeId, LoadedCode>()
  readonly #memories = new Map<ProgramId, ProgramMemory>()

  constructor(options: StreamExecutorOptions) {
    this.#options = options
  }

  /**
   * Runs `messages` (all for programs of this stream) in order. `records` are the programs' records at the
   * cycle's start; a record changed by one message is what the next message of that program sees.
   */
  executeBatch(messages: readonly Message[], records: ReadonlyMap<ProgramId, ProgramRecord>, cycle: number): JournalEntry[] {
    const current = new Map(records)
    const entries: JournalEntry[] = []
    for (const message of messages) {
      const record = current.get(message.destination as ProgramId)!
      const entry = executeMessage(message, record, this.memory(record.id), this.code(record.codeId),
        { cycle, schedule: this.#options.schedule })
      if (entry.program !== undefined) {
        current.set(record.id, entry.program)
        if (entry.program.status === ProgramStatus.EXITED) this.#memories.delete(record.id)
      }
      entries.push(entry)
    }
    return entries
  }

  /** Runs one message read-only (query / gas estimation): everything is rolled back. */
  executeReadOnly(message: Message, record: ProgramRecord, cycle: number): JournalEntry {
    return executeMessage(message, record, this.memory(record.id), this.code(record.codeId),
      { cycle, schedule: this.#options.schedule, readOnly: true })
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

  code(codeId: CodeId): LoadedCode {
    let code = this.#codes.get(codeId)
    if (code === undefined) {
      code = loadCode(codeId, this.#options.codeBlob(codeId))
      this.#codes.set(codeId, code)
    }
    return code
  }
}
