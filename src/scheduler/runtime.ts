/**
 * The Runtime: the public face of Strata. Users upload code, create programs, send messages and run cycles;
 * every cycle takes a queue prefix, executes it (on streams), applies the journals in queue order, and reports.
 */
import { availableParallelism } from 'node:os'
import { performance } from 'node:perf_hooks'
import { EventEmitter } from 'eventemitter3'
import {
  CYCLE_GAS_BUDGET_DEFAULT, CYCLE_MESSAGES_MAX, MESSAGE_GAS_LIMIT_MAX, PAYLOAD_SIZE_MAX_BYTES,
  PROGRAM_PLANES_MAX_DEFAULT, QUERY_GAS_LIMIT_DEFAULT, QUEUE_LENGTH_MAX_DEFAULT, SALT_SIZE_MAX_BYTES,
} from '../constants.js'
import { isBytes } from '../bytes.js'
import { StrataError, describeValue } from '../errors.js'
import { GAS_SCHEDULE, type GasSchedule } from '../gas/schedule.js'
import type { MemoryStats } from '../memory/program_memory.js'
import type { AllocationRecord } from '../memory/view.js'
import {
  deriveProgramId, externalMessageId, toId, type CodeId, type MessageId, type ProgramId, type UserId,
} from '../message/ids.js'
import { MessageKind, type Message } from '../message/types.js'
import { bundleProgram } from '../program/bundle.js'
import { ExecutionResult, type MessageOutcome } from '../program/executor.js'
import { ProgramStatus, type ProgramRecord } from '../program/records.js'
import { loadCode } from '../program/sandbox.js'
import { CycleEffects, applyEntry, beginCycle } from './apply.js'
import { RuntimeErrorCode } from './errors.js'
import { SchedulerState, type MailboxEntry } from './state.js'
import { StreamExecutor } from './stream_executor.js'

/** The user that creates programs when `createProgram` names no source. */
export const DEFAULT_USER_ID = '0000000000000000000000000000000000000000000000000000000000000001' as UserId

export interface RuntimeOptions {
  /** Parallel streams; 0 runs every message on the calling thread. */
  readonly streams?: number
  /** Summed gas limits one cycle may take from the queue. */
  readonly cycleGasBudget?: number
  /** Messages the queue may hold before `send` is refused. */
  readonly queueLengthMax?: number
  readonly schedule?: GasSchedule
  /** Each program's plane budget. */
  readonly planesMax?: number
}

export interface CycleReport {
  readonly cycle: number
  /** Messages executed (including ones skipped because their program was unavailable). */
  readonly processed: number
  /** Messages that failed (error replies). */
  readonly failed: number
  readonly gasBurned: number
  /** Gas returned to origins: unused gas of reply/signal messages and gas of mailbox deliveries. */
  readonly gasRefunded: number
  /** Messages appended to the queue by this cycle. */
  readonly enqueued: number
  /** Messages delivered to user mailboxes. */
  readonly mailboxed: number
  readonly queueLength: number
  readonly ms: number
}

export interface RuntimeEvents {
  cycle: [report: CycleReport]
  message: [outcome: MessageOutcome]
  program: [change: { readonly programId: ProgramId; readonly status: ProgramStatus }]
  mailbox: [delivery: { readonly userId: UserId; readonly message: Message }]
  error: [error: Error]
}

export interface SendInput {
  readonly source: string
  readonly destination: string
  readonly payload: Uint8Array
  readonly gasLimit: number
}

export interface CreateProgramInput {
  readonly salt?: Uint8Array
  readonly payload?: Uint8Array
  readonly gasLimit: number
  /** The creating user (default DEFAULT_USER_ID); init's reply goes to its mailbox. */
  readonly source?: string
}

export interface QueryResult {
  readonly replyCode: number | null
  readonly payload: Uint8Array
  readonly gasBurned: number
  readonly error?: string
  readonly logs: readonly string[]
}

/** A read-only view of one program as of the last committed cycle. */
export interface ProgramView {
  readonly id: ProgramId
  record(): ProgramRecord
  read(address: number, length: number): Uint8Array
  stats(): MemoryStats
  allocations(): AllocationRecord[]
}

export class Runtime extends EventEmitter<RuntimeEvents> {
  readonly #state = new SchedulerState()
  readonly #blobs = new Map<CodeId, Uint8Array>()
  readonly #executor: StreamExecutor
  readonly #streams: number
  readonly #cycleGasBudget: number
  readonly #queueLengthMax: number
  #closed = false
  #running = false

  private constructor(options: RuntimeOptions) {
    super()
    this.#streams = option('streams', options.streams ?? Math.min(availableParallelism(), 8), 0, 64)
    this.#cycleGasBudget = option('cycleGasBudget', options.cycleGasBudget ?? CYCLE_GAS_BUDGET_DEFAULT, 1, Number.MAX_SAFE_INTEGER)
    this.#queueLengthMax = option('queueLengthMax', options.queueLengthMax ?? QUEUE_LENGTH_MAX_DEFAULT, 1, 100_000_000)
    const planesMax = option('planesMax', options.planesMax ?? PROGRAM_PLANES_MAX_DEFAULT, 1, PROGRAM_PLANES_MAX_DEFAULT * 8)
    this.#executor = new StreamExecutor({
      schedule: options.schedule ?? GAS_SCHEDULE, planesMax, codeBlob: (codeId) => this.#blobs.get(codeId)!,
    })
  }

  static async open(options: RuntimeOptions = {}): Promise<Runtime> {
    if (typeof options !== 'object' || options === null) {
      throw new StrataError(RuntimeErrorCode.INVALID_OPTION, `options must be an object, got ${describeValue(options)}`)
    }
    return new Runtime(options)
  }

  get streams(): number {
    return this.#streams
  }

  /** The last committed cycle number. */
  get cycle(): number {
    return this.#state.cycle
  }

  get queueLength(): number {
    return this.#state.queue.length
  }

  /** Bundles a TypeScript (or JavaScript) program module and stores its code; returns the code id. */
  async uploadCode(path: string): Promise<CodeId> {
    this.#open()
    const { codeId, blob } = await bundleProgram(path)
    if (!this.#blobs.has(codeId)) {
      loadCode(codeId, blob) // rejects code whose top level throws or that has no valid default export
      this.#blobs.set(codeId, blob)
      this.#state.codes.add(codeId)
    }
    return codeId
  }

  codeIds(): CodeId[] {
    return [...this.#state.codes]
  }

  /** Creates a program from uploaded code and enqueues its init message; returns the program id. */
  async createProgram(codeId: string, input: CreateProgramInput): Promise<ProgramId> {
    this.#open()
    const code = toId<CodeId>(codeId, 'codeId')
    if (!this.#state.codes.has(code)) {
      throw new StrataError('UNKNOWN_CODE', `no code ${code} was uploaded`, { codeId: code })
    }
    const source = toId<UserId>(input?.source ?? DEFAULT_USER_ID, 'source')
    const salt = input.salt ?? new Uint8Array(0)
    if (!isBytes(salt) || salt.length > SALT_SIZE_MAX_BYTES) {
      throw new StrataError(RuntimeErrorCode.INVALID_PAYLOAD,
        `salt must be a Uint8Array of at most ${SALT_SIZE_MAX_BYTES} bytes, got ${describeValue(salt)}`)
    }
    const programId = deriveProgramId(source, code, salt)
    if (this.#state.programs.has(programId)) {
      throw new StrataError(RuntimeErrorCode.PROGRAM_EXISTS,
        `program ${programId} exists already (same creator, code and salt)`, { programId })
    }
    const message = this.#userMessage(source, programId, input.payload ?? new Uint8Array(0), input.gasLimit, MessageKind.INIT)
    this.#state.programs.set(programId, {
      id: programId, codeId: code, status: ProgramStatus.INITIALIZING, stateAddress: null, creator: source,
    })
    this.#enqueue(message)
    return programId
  }

  /** Enqueues a message from a user to a program; returns its id. Delivered in the next cycle. */
  send(input: SendInput): MessageId {
    this.#open()
    if (typeof input !== 'object' || input === null) {
      throw new StrataError(RuntimeErrorCode.INVALID_PAYLOAD, `send expects { source, destination, payload, gasLimit }`)
    }
    const source = toId<UserId>(input.source, 'source')
    const destination = this.#programId(input.destination, 'destination')
    const message = this.#userMessage(source, destination, input.payload, input.gasLimit, MessageKind.HANDLE)
    this.#enqueue(message)
    return message.id
  }

  /** Runs one cycle. */
  async runCycle(): Promise<CycleReport> {
    this.#open()
    if (this.#running) throw new StrataError(RuntimeErrorCode.BUSY, 'a cycle is already running')
    this.#running = true
    try {
      return this.#runCycle()
    } finally {
      this.#running = false
    }
  }

  /** Runs cycles until the queue, delayed schedule and waitlist are empty, or `maxCycles` ran. */
  async runUntilIdle(options: { maxCycles?: number } = {}): Promise<CycleReport[]> {
    const maxCycles = option('maxCycles', options.maxCycles ?? 1000, 1, Number.MAX_SAFE_INTEGER)
    const reports: CycleReport[] = []
    while (reports.length < maxCycles && !this.idle) reports.push(await this.runCycle())
    return reports
  }

  /** Nothing queued, delayed or waiting. */
  get idle(): boolean {
    return this.#state.queue.length === 0 && this.#state.delayed.size === 0 && this.#state.waitlist.size === 0
  }

  program(id: string): ProgramView {
    this.#open()
    const programId = this.#programId(id, 'programId')
    const executor = this.#executor
    const state = this.#state
    return {
      id: programId,
      record: () => state.programs.get(programId)!,
      read: (address, length) => executor.memory(programId).readRaw(address, length),
      stats: () => executor.memory(programId).stats(),
      allocations: () => executor.memory(programId).allocations(),
    }
  }

  programIds(): ProgramId[] {
    return [...this.#state.programs.keys()]
  }

  mailbox(userId: string): readonly MailboxEntry[] {
    this.#open()
    return this.#state.mailboxes.get(toId<UserId>(userId, 'userId')) ?? []
  }

  /** Runs `handle` read-only and returns its reply; nothing changes. */
  async query(programId: string, payload: Uint8Array, options: { gasLimit?: number; source?: string } = {}): Promise<QueryResult> {
    this.#open()
    const destination = this.#programId(programId, 'programId')
    const source = toId<UserId>(options.source ?? DEFAULT_USER_ID, 'source')
    const message = this.#probe(source, destination, payload, options.gasLimit ?? QUERY_GAS_LIMIT_DEFAULT)
    const entry = this.#executor.executeReadOnly(message, this.#state.programs.get(destination)!, this.#state.cycle + 1)
    const reply = entry.outgoing.find((m) => m.kind === MessageKind.REPLY && m.replyTo === message.id)
    return {
      replyCode: entry.outcome.replyCode, payload: reply?.payload ?? new Uint8Array(0), gasBurned: entry.outcome.gasBurned,
      ...(entry.outcome.error !== undefined ? { error: entry.outcome.error } : {}), logs: entry.outcome.logs,
    }
  }

  /**
   * The smallest gas limit with which the message would succeed now (binary search over read-only runs), or
   * null if it fails even with QUERY_GAS_LIMIT_DEFAULT. Assumes success is monotone in the gas limit, which
   * holds unless a handler branches on gasLeft().
   */
  async estimateGas(input: { source?: string; destination: string; payload: Uint8Array }): Promise<number | null> {
    this.#open()
    const destination = this.#programId(input.destination, 'destination')
    const source = toId<UserId>(input.source ?? DEFAULT_USER_ID, 'source')
    const record = this.#state.programs.get(destination)!
    const succeeds = (gasLimit: number): boolean => {
      const entry = this.#executor.executeReadOnly(this.#probe(source, destination, input.payload, gasLimit), record, this.#state.cycle + 1)
      return entry.outcome.result === ExecutionResult.SUCCESS || entry.outcome.result === ExecutionResult.WAITED
        || entry.outcome.result === ExecutionResult.EXITED
    }
    if (!succeeds(QUERY_GAS_LIMIT_DEFAULT)) return null
    let low = 0
    let high = QUERY_GAS_LIMIT_DEFAULT
    while (low < high) {
      const mid = Math.floor((low + high) / 2)
      if (succeeds(mid)) high = mid
      else low = mid + 1
    }
    return low
  }

  async close(): Promise<void> {
    this.#closed = true
    this.removeAllListeners()
  }

  #runCycle(): CycleReport {
    const started = performance.now()
    const state = this.#state
    const cycle = state.cycle + 1
    const effects = new CycleEffects()
    beginCycle(state, cycle, effects)
    const batch = state.queue.takePrefix(this.#cycleGasBudget, CYCLE_MESSAGES_MAX)
    const entries = this.#executor.executeBatch(batch, state.programs, cycle)
    for (const entry of entries) applyEntry(state, entry, cycle, effects)
    state.cycle = cycle

    let failed = 0
    let gasBurned = 0
    let gasRefunded = 0
    for (const outcome of effects.outcomes) {
      if (outcome.result === ExecutionResult.ERROR) failed += 1
      gasBurned += outcome.gasBurned
      gasRefunded += outcome.gasRefunded
    }
    for (const message of effects.mailboxed) gasRefunded += message.gasLimit
    const report: CycleReport = {
      cycle, processed: effects.outcomes.length, failed, gasBurned, gasRefunded, enqueued: effects.enqueued,
      mailboxed: effects.mailboxed.length, queueLength: state.queue.length, ms: performance.now() - started,
    }
    // Costly payloads are built only for listeners.
    if (this.listenerCount('message') > 0) for (const outcome of effects.outcomes) this.emit('message', outcome)
    if (this.listenerCount('program') > 0) for (const change of effects.statusChanges) this.emit('program', change)
    if (this.listenerCount('mailbox') > 0) {
      for (const message of effects.mailboxed) this.emit('mailbox', { userId: message.destination as UserId, message })
    }
    this.emit('cycle', report)
    return report
  }

  #userMessage(
    source: UserId, destination: ProgramId, payload: unknown, gasLimit: unknown, kind: MessageKind,
  ): Message {
    if (this.#state.programs.has(source as unknown as ProgramId)) {
      throw new StrataError(RuntimeErrorCode.INVALID_SOURCE, `source ${source} is a program; users send as users`)
    }
    if (!isBytes(payload)) {
      throw new StrataError(RuntimeErrorCode.INVALID_PAYLOAD, `payload must be a Uint8Array, got ${describeValue(payload)}`)
    }
    if (payload.length > PAYLOAD_SIZE_MAX_BYTES) {
      throw new StrataError(RuntimeErrorCode.PAYLOAD_TOO_LARGE,
        `payload is ${payload.length} bytes, over the ${PAYLOAD_SIZE_MAX_BYTES}-byte limit`, { length: payload.length })
    }
    if (typeof gasLimit !== 'number' || !Number.isSafeInteger(gasLimit) || gasLimit < 0 || gasLimit > MESSAGE_GAS_LIMIT_MAX) {
      throw new StrataError('INVALID_GAS',
        `gasLimit must be an integer in 0..${MESSAGE_GAS_LIMIT_MAX}, got ${describeValue(gasLimit)}`, { gasLimit })
    }
    if (this.#state.queue.length >= this.#queueLengthMax) {
      throw new StrataError(RuntimeErrorCode.QUEUE_FULL,
        `the queue holds ${this.#state.queue.length} messages (queueLengthMax); run cycles before sending more`)
    }
    const nonce = this.#state.nonces.get(source) ?? 0
    this.#state.nonces.set(source, nonce + 1)
    const id = externalMessageId(source, nonce)
    return { id, kind, source, destination, payload: Uint8Array.from(payload), gasLimit, origin: id }
  }

  /** A message for read-only runs: validated like a send, but takes no nonce and is never enqueued. */
  #probe(source: UserId, destination: ProgramId, payload: unknown, gasLimit: number): Message {
    if (!isBytes(payload)) {
      throw new StrataError(RuntimeErrorCode.INVALID_PAYLOAD, `payload must be a Uint8Array, got ${describeValue(payload)}`)
    }
    const id = externalMessageId(source, Number.MAX_SAFE_INTEGER)
    return { id, kind: MessageKind.HANDLE, source, destination, payload, gasLimit, origin: id }
  }

  #enqueue(message: Message): void {
    this.#state.queue.push(message)
  }

  #programId(value: unknown, name: string): ProgramId {
    const id = toId<ProgramId>(value, name)
    if (!this.#state.programs.has(id)) {
      throw new StrataError(RuntimeErrorCode.UNKNOWN_PROGRAM, `no program ${id}`, { [name]: id })
    }
    return id
  }

  #open(): void {
    if (this.#closed) throw new StrataError(RuntimeErrorCode.CLOSED, 'the runtime is closed')
  }
}

function option(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new StrataError(RuntimeErrorCode.INVALID_OPTION,
      `${name} must be an integer in ${min}..${max}, got ${describeValue(value)}`, { [name]: value })
  }
  return value
}
