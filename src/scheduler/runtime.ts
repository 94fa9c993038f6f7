/**
 * The Runtime: the public face of Strata. Users upload code, create programs, send messages and run cycles;
 * every cycle takes a queue prefix, executes it (on streams), applies the journals in queue order, and reports.
 */
import { performance } from 'node:perf_hooks'
import { EventEmitter } from 'eventemitter3'
import path from 'node:path'
import {
  COMMITMENTS_CACHED_MAX, CYCLE_GAS_BUDGET_DEFAULT, DIRTY_CHUNK_SIZE_BYTES, PLANE_SIZE_BYTES, CYCLE_MESSAGES_MAX, DATA_DIR_DEFAULT, MESSAGE_TIMEOUT_MS_DEFAULT,
  MESSAGE_GAS_LIMIT_MAX, PAYLOAD_SIZE_MAX_BYTES, PROGRAM_PLANES_MAX_DEFAULT, QUERY_GAS_LIMIT_DEFAULT,
  QUEUE_LENGTH_MAX_DEFAULT, RESIDENT_BYTES_MAX_DEFAULT, SALT_SIZE_MAX_BYTES, STREAMS_MAX,
  VIEWS_CACHED_MAX, WORKER_HEAP_MB_DEFAULT,
} from '../constants.js'
import { isBytes } from '../bytes.js'
import { StrataError, describeValue } from '../errors.js'
import { GAS_SCHEDULE, type GasSchedule } from '../gas/schedule.js'
import { decodeMemoryMetadata } from '../memory/metadata.js'
import { ProgramMemory, type MemoryStats } from '../memory/program_memory.js'
import type { AllocationRecord } from '../memory/view.js'
import {
  deriveProgramId, externalMessageId, toId, type CodeId, type MessageId, type ProgramId, type UserId,
} from '../message/ids.js'
import { MessageKind, type Message } from '../message/types.js'
import { bundleProgram } from '../program/bundle.js'
import { ExecutionResult, workerDiedEntry, type JournalEntry, type MessageOutcome } from '../program/executor.js'
import { ProgramStatus, type ProgramRecord } from '../program/records.js'
import { checkCode, loadCode } from '../program/code.js'
import {
  EMPTY_STATE_ROOT_HEX, ProgramCommitment, StateCommitment, ZERO_PLANE_ROOT, bytesEqual, bytesToHex, hashPlane, nativeHasher, proveAbsence,
  proveRange, type AbsenceProof, type ProgramStatusCode, type RangeProof,
} from '../merkle/index.js'
import { PersistentNodeStore } from '../merkle/persistent_nodes.js'
import { PROGRAM_STATUS_CODE } from '../program/records.js'
import { openLmdbStore } from '../store/lmdb_store.js'
import { openMemoryStore } from '../store/memory_store.js'
import { ALL_CHUNKS, type CycleCounts, type Store, type StoreMemoryDelta } from '../store/store.js'
import { CycleEffects, applyEntry, beginCycle } from './apply.js'
import { streamOf } from './assign.js'
import { RuntimeErrorCode } from './errors.js'
import { StreamPool, defaultStreamCount } from './pool.js'
import type { MemoryDelta, ProgramImage, StreamResult, StreamTask } from './protocol.js'
import { PlaneCache } from './plane_cache.js'
import { SchedulerState, type MailboxEntry } from './state.js'
import { StreamExecutor } from './stream_executor.js'

const RUNTIME_OPTION_KEYS = new Set([
  'dataDir', 'store', 'sync', 'residentBytesMax', 'streams', 'messageTimeoutMs', 'workerHeapMb',
  'cycleGasBudget', 'queueLengthMax', 'schedule', 'planesMax',
])

/** How every plane read from a store is checked: its bytes must hash to the root committed with it. */
const verifyPlane = (bytes: Uint8Array): Uint8Array => hashPlane(nativeHasher, bytes)

/** The commitment of an empty memory (a program that never wrote, or one that exited). */
const EMPTY_MEMORY = new ProgramCommitment()

/** Stalls of one stream in one cycle before the runtime faults: one retry on a fresh worker, then stop. */
const WATCHDOG_STALLS_MAX = 2

/** The user that creates programs when `createProgram` names no source. */
export const DEFAULT_USER_ID = '0000000000000000000000000000000000000000000000000000000000000001' as UserId

export interface RuntimeOptions {
  /**
   * Where the runtime keeps its state (LMDB; created if absent, resumed if not). Default `./data`. One runtime
   * (one process) may hold a directory at a time: a second open fails with LOCKED.
   */
  readonly dataDir?: string
  /**
   * 'lmdb' (the default): durable state in `dataDir`. 'memory': nothing survives close; for tests and
   * throwaway runs.
   */
  readonly store?: 'lmdb' | 'memory'
  /**
   * Durable commits (default true): a cycle is on disk when runCycle resolves. false skips fsync: faster, and a
   * crash of the process loses nothing, but a power loss or OS crash can lose recent cycles or corrupt the
   * store (docs/architecture.md). LMDB only.
   */
  readonly sync?: boolean
  /**
   * Plane bytes each stream keeps resident between cycles (an LRU budget), and the main thread's cache of
   * committed planes likewise; default 256 MiB.
   */
  readonly residentBytesMax?: number
  /**
   * Parallel streams, each a pinned worker thread (default: one per core). 0 runs every message on the calling
   * thread, in one stream: the sequential reference, with a per-message deadline instead of a worker abort.
   */
  readonly streams?: number
  /**
   * The watchdog, a last resort: a stream worker that makes no progress on one message for this long is replaced
   * and the stream's part of the cycle runs again from committed memory; if it stalls again, the runtime faults
   * (FAULTED, nothing of the cycle committed). Gas, not time, ends runaway programs, so this fires only when the
   * machine or Strata itself misbehaves. Default 120 s. Streams only (with streams: 0 nothing can stop the thread).
   */
  readonly messageTimeoutMs?: number
  /** Heap limit of each stream worker, in MiB. */
  readonly workerHeapMb?: number
  /** Summed gas limits one cycle may take from the queue. */
  readonly cycleGasBudget?: number
  /** Messages the queue may hold before `send` is refused. */
  readonly queueLengthMax?: number
  readonly schedule?: GasSchedule
  /** Each program's plane budget. */
  readonly planesMax?: number
}

/** What one cycle did (the counts are documented on CycleCounts; they are stored with the cycle too). */
export interface CycleReport extends CycleCounts {
  readonly cycle: number
  /** The state root after this cycle (hex): commits to every program's id, code, status and memory. */
  readonly stateRoot: string
  readonly queueLength: number
  readonly ms: number
  /**
   * Times the watchdog replaced a stalled stream worker in this cycle (the cycle then ran that stream's part
   * again). Normally 0: a stall is a fault of the machine or of Strata, never a program's outcome.
   */
  readonly watchdogStalls: number
}

/** A committed cycle, as `cycleRecord` returns it: the figures of its CycleReport that are stored with it. */
export type CycleRecordView = Omit<CycleReport, 'queueLength' | 'ms' | 'watchdogStalls'>

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
  /** The program's memory root (hex): planes and allocations (docs/merkle.md). */
  memoryRoot(): string
  read(address: number, length: number): Uint8Array
  stats(): MemoryStats
  allocations(): AllocationRecord[]
}

export class Runtime extends EventEmitter<RuntimeEvents> {
  readonly #store: Store
  readonly #dataDir: string | undefined
  readonly #state: SchedulerState
  readonly #streams: number
  readonly #options: { readonly schedule: GasSchedule; readonly planesMax: number }
  readonly #cycleGasBudget: number
  readonly #queueLengthMax: number
  readonly #messageTimeoutMs: number
  /** Streams on worker threads (streams > 0) ... */
  readonly #pool: StreamPool | undefined
  /** ... or one executor on this thread (streams = 0). */
  readonly #inline: StreamExecutor | undefined
  /** Per stream: programs whose committed memory the stream holds (preloads; memory store only), codes it loaded. */
  readonly #resident: Set<ProgramId>[]
  readonly #loadedCodes: Set<CodeId>[]
  /** Runs queries and gas estimates on this thread against committed memory (refreshed when it changes). */
  readonly #queries: StreamExecutor
  /** Merkle commitments, updated incrementally at every commit from the cycle's deltas. */
  readonly #stateNodes: PersistentNodeStore
  readonly #state_: StateCommitment
  /** Program commitments, least recently used first; others are restored from the store's plane roots. */
  readonly #commitments = new Map<ProgramId, ProgramCommitment>()
  /** Committed planes that streams patch with written chunks. */
  readonly #planeCache: PlaneCache
  /** Decoded read-only views of committed memory, least recently used first. */
  readonly #views = new Map<ProgramId, ProgramMemory>()
  /** Commits, one at a time (a cycle's, or an intake flush). */
  #committing: Promise<unknown> = Promise.resolve()
  #closed = false
  #running: Promise<CycleReport> | undefined
  /** Set when a system error stopped the runtime: no further cycles run. */
  #fault: Error | undefined

  private constructor(options: RuntimeOptions, store: Store, dataDir: string | undefined) {
    super()
    this.#dataDir = dataDir
    this.#store = store
    this.#state = new SchedulerState(store)
    this.#stateNodes = new PersistentNodeStore((key) => store.merkleNode(key))
    this.#state_ = new StateCommitment({
      nodes: this.#stateNodes,
      records: (hex) => {
        const record = this.#state.programs.get(hex as ProgramId)
        if (record === undefined) return undefined
        return { codeId: hexBytes(record.codeId), status: PROGRAM_STATUS_CODE[record.status] as ProgramStatusCode, memoryRoot: this.#commitment(record.id).memoryRoot() }
      },
    })
    this.#streams = option('streams', options.streams ?? defaultStreamCount(), 0, STREAMS_MAX)
    this.#cycleGasBudget = option('cycleGasBudget', options.cycleGasBudget ?? CYCLE_GAS_BUDGET_DEFAULT, 1, Number.MAX_SAFE_INTEGER)
    this.#queueLengthMax = option('queueLengthMax', options.queueLengthMax ?? QUEUE_LENGTH_MAX_DEFAULT, 1, 100_000_000)
    this.#messageTimeoutMs = option('messageTimeoutMs', options.messageTimeoutMs ?? MESSAGE_TIMEOUT_MS_DEFAULT, 1, 3_600_000)
    const workerHeapMb = option('workerHeapMb', options.workerHeapMb ?? WORKER_HEAP_MB_DEFAULT, 16, 65_536)
    const planesMax = option('planesMax', options.planesMax ?? PROGRAM_PLANES_MAX_DEFAULT, 1, PROGRAM_PLANES_MAX_DEFAULT * 8)
    const residentBytesMax = option('residentBytesMax', options.residentBytesMax ?? RESIDENT_BYTES_MAX_DEFAULT, 0, Number.MAX_SAFE_INTEGER)
    const schedule = options.schedule ?? GAS_SCHEDULE
    this.#options = { schedule, planesMax }
    this.#planeCache = new PlaneCache(residentBytesMax)
    const lanes = Math.max(this.#streams, 1)
    this.#resident = Array.from({ length: lanes }, () => new Set())
    this.#loadedCodes = Array.from({ length: lanes }, () => new Set())
    if (this.#streams > 0) {
      // Workers read committed memory from LMDB themselves; with the memory store, tasks carry it.
      this.#pool = new StreamPool({
        streams: this.#streams, schedule, planesMax, workerHeapMb, residentBytesMax,
        ...(dataDir !== undefined ? { dataDir } : {}),
      })
    } else {
      this.#inline = new StreamExecutor({ schedule, planesMax, source: store, residentBytesMax })
    }
    this.#queries = new StreamExecutor({ schedule, planesMax, source: store, residentBytesMax })
  }

  static async open(options: RuntimeOptions = {}): Promise<Runtime> {
    if (typeof options !== 'object' || options === null) {
      throw new StrataError(RuntimeErrorCode.INVALID_OPTION, `options must be an object, got ${describeValue(options)}`)
    }
    // A misspelt option would silently fall back to its default: refuse it instead.
    const unknown = Object.keys(options).filter((key) => !RUNTIME_OPTION_KEYS.has(key))
    if (unknown.length > 0) {
      throw new StrataError(RuntimeErrorCode.INVALID_OPTION,
        `unknown option ${JSON.stringify(unknown[0])}; known: ${[...RUNTIME_OPTION_KEYS].join(', ')}`)
    }
    const kind = options.store ?? 'lmdb'
    if (kind !== 'lmdb' && kind !== 'memory') {
      throw new StrataError(RuntimeErrorCode.INVALID_OPTION, `store must be 'lmdb' or 'memory', got ${describeValue(kind)}`)
    }
    if (kind === 'memory' && (options.dataDir !== undefined || options.sync !== undefined)) {
      throw new StrataError(RuntimeErrorCode.INVALID_OPTION, `dataDir and sync apply to the lmdb store, not to store: 'memory'`)
    }
    if (options.sync !== undefined && typeof options.sync !== 'boolean') {
      throw new StrataError(RuntimeErrorCode.INVALID_OPTION, `sync must be a boolean, got ${describeValue(options.sync)}`)
    }
    const dirOption = options.dataDir ?? DATA_DIR_DEFAULT
    if (typeof dirOption !== 'string' || dirOption.length === 0) {
      throw new StrataError(RuntimeErrorCode.INVALID_OPTION, `dataDir must be a non-empty path, got ${describeValue(dirOption)}`)
    }
    // Options are checked in full before anything touches the disk.
    Runtime.#checkOptions(options)
    const dataDir = kind === 'lmdb' ? path.resolve(dirOption) : undefined
    const store = dataDir === undefined ? await openMemoryStore({ verify: verifyPlane })
      : await openLmdbStore({ dataDir, verify: verifyPlane, ...(options.sync !== undefined ? { sync: options.sync } : {}) })
    let runtime: Runtime
    try {
      runtime = new Runtime(options, store, dataDir)
      runtime.#checkHead()
    } catch (error) {
      await store.close()
      throw error
    }
    return runtime
  }

  static #checkOptions(options: RuntimeOptions): void {
    const bounds: [keyof RuntimeOptions, number, number][] = [
      ['streams', 0, STREAMS_MAX], ['cycleGasBudget', 1, Number.MAX_SAFE_INTEGER], ['queueLengthMax', 1, 100_000_000],
      ['messageTimeoutMs', 1, 3_600_000], ['workerHeapMb', 16, 65_536],
      ['planesMax', 1, PROGRAM_PLANES_MAX_DEFAULT * 8], ['residentBytesMax', 0, Number.MAX_SAFE_INTEGER],
    ]
    for (const [name, min, max] of bounds) if (options[name] !== undefined) option(name, options[name], min, max)
  }

  /** The reopened state tree must give the root the store committed: anything else is corruption. */
  #checkHead(): void {
    const head = this.#store.head()
    if (head.stateRoot === null) return
    const root = this.#state_.root()
    if (!bytesEqual(root, head.stateRoot)) {
      throw new StrataError('INTEGRITY',
        `the stored state tree gives root ${bytesToHex(root)}, but cycle ${head.cycle} committed ${bytesToHex(head.stateRoot)}`)
    }
  }

  /** Where the state lives: the LMDB data directory, or undefined for the memory store. */
  get dataDir(): string | undefined {
    return this.#dataDir
  }

  get streams(): number {
    return this.#streams
  }

  /** The last committed cycle number. */
  get cycle(): number {
    return this.#state.cycle
  }

  /** The system error that stopped the runtime, if one did (cycles are refused with FAULTED then). */
  get fault(): Error | undefined {
    return this.#fault
  }

  get queueLength(): number {
    return this.#state.queueLength
  }

  /** Bundles a TypeScript (or JavaScript) program module and stores its code; returns the code id. */
  async uploadCode(path: string): Promise<CodeId> {
    this.#open()
    const { codeId, blob } = await bundleProgram(path)
    if (!this.#store.hasCode(codeId)) {
      // Instruments and compiles it, then evaluates its top level once, metered, in a fresh context: rejects code
      // the engine cannot contain, whose top level throws or runs out of gas, or that exports no program.
      checkCode(loadCode(codeId, blob, this.#options.schedule))
      await this.#store.putCode(codeId, blob) // durable on its own: codes are immutable and keyed by hash
    }
    return codeId
  }

  codeIds(): CodeId[] {
    return [...this.#store.codeIds()]
  }

  /** Creates a program from uploaded code and enqueues its init message; returns the program id. */
  async createProgram(codeId: string, input: CreateProgramInput): Promise<ProgramId> {
    this.#open()
    const code = toId<CodeId>(codeId, 'codeId')
    if (!this.#store.hasCode(code)) {
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
    const record = { id: programId, codeId: code, status: ProgramStatus.INITIALIZING, stateAddress: null, creator: source }
    this.#state.programs.set(programId, record)
    this.#commitRecord(record)
    this.#state.enqueue(message)
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
    this.#state.enqueue(message)
    return message.id
  }

  /**
   * Makes everything accepted since the last commit durable (sends and program creations between cycles): they
   * are otherwise committed with the next cycle. `close` flushes too.
   */
  async flush(): Promise<void> {
    this.#open()
    await this.#running?.catch(() => undefined)
    this.#notFaulted()
    if (!this.#state.changed) return
    await this.#commit(this.#state.cycle, [])
  }

  /** Runs one cycle. */
  async runCycle(): Promise<CycleReport> {
    this.#open()
    if (this.#running !== undefined) throw new StrataError(RuntimeErrorCode.BUSY, 'a cycle is already running')
    this.#notFaulted()
    this.#running = this.#runCycle()
    try {
      return await this.#running
    } finally {
      this.#running = undefined
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
    return this.#state.queueLength === 0 && this.#state.delayed.size === 0 && this.#state.waitlist.size === 0
  }

  program(id: string): ProgramView {
    this.#open()
    const programId = this.#programId(id, 'programId')
    const state = this.#state
    return {
      id: programId,
      record: () => state.programs.get(programId)!,
      memoryRoot: () => bytesToHex(this.#commitment(programId).memoryRoot()),
      read: (address, length) => this.#view(programId).readRaw(address, length),
      stats: () => this.#view(programId).stats(),
      allocations: () => this.#view(programId).allocations(),
    }
  }

  /** Every program: committed ones in id order, then those created since the last commit. Walks all records. */
  programIds(): ProgramId[] {
    return [...this.#state.programs.keys()]
  }

  mailbox(userId: string): readonly MailboxEntry[] {
    this.#open()
    return this.#state.mailbox(toId<UserId>(userId, 'userId'))
  }

  /** Runs `handle` read-only and returns its reply; nothing changes. */
  async query(programId: string, payload: Uint8Array, options: { gasLimit?: number; source?: string } = {}): Promise<QueryResult> {
    this.#open()
    const destination = this.#programId(programId, 'programId')
    const source = toId<UserId>(options.source ?? DEFAULT_USER_ID, 'source')
    const message = this.#probe(source, destination, payload, options.gasLimit ?? QUERY_GAS_LIMIT_DEFAULT)
    const entry = this.#readOnly(message)
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
    const succeeds = (gasLimit: number): boolean => {
      const entry = this.#readOnly(this.#probe(source, destination, input.payload, gasLimit))
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

  /**
   * The state root (hex) as of the last committed cycle (or of program creations since). After a fault, the
   * root the store holds: the in-memory state may be ahead of what was committed.
   */
  stateRoot(): string {
    if (this.#fault !== undefined) {
      const head = this.#store.closed ? undefined : this.#store.head()
      return head?.stateRoot == null ? EMPTY_STATE_ROOT_HEX : bytesToHex(head.stateRoot)
    }
    return bytesToHex(this.#state_.root())
  }

  /**
   * A self-contained proof that `length` bytes at `address` of a program's memory are what they are under the
   * current state root; anyone can check it with `verifyProof(stateRoot, proof)` (docs/merkle.md).
   */
  async prove(programId: string, address: number, length: number): Promise<RangeProof> {
    this.#open()
    await this.#running?.catch(() => undefined)
    const id = this.#programId(programId, 'programId')
    return proveRange(this.#proofSource(id), address, length)
  }

  /** A proof that plane (region, plane) of a program holds no data (reads as zeros) under the state root. */
  async proveAbsence(programId: string, region: number, plane: number): Promise<AbsenceProof> {
    this.#open()
    await this.#running?.catch(() => undefined)
    const id = this.#programId(programId, 'programId')
    const { state, program, programId: pid } = this.#proofSource(id)
    return proveAbsence({ state, program, programId: pid }, region, plane)
  }

  /**
   * Proofs need every chunk hash of the planes they cross: the program's commitment is built from its stored
   * bytes (each verified against its root), and prove checks it against the state's memory root.
   */
  #proofSource(programId: ProgramId) {
    const view = this.#view(programId)
    return { state: this.#state_, program: ProgramCommitment.fromScratch(view), view, programId }
  }

  /** A program's commitment: cached, or restored from the store's plane roots and allocator metadata (no hashing of planes). */
  #commitment(programId: ProgramId): ProgramCommitment {
    return lruGet(this.#commitments, programId, COMMITMENTS_CACHED_MAX, () => {
      const commitment = new ProgramCommitment()
      const meta = this.#store.memoryMeta(programId)
      if (meta !== undefined) {
        for (const key of this.#store.planeKeys(programId)) commitment.restorePlane(key, this.#store.planeRoot(programId, key)!)
        const allocator = decodeMemoryMetadata(meta, { ...this.#options, planeSource: () => { throw new Error('no plane reads') } })
        for (const { address, size } of allocator.allocations()) commitment.setAllocation(address, size)
      }
      return commitment
    })
  }

  /** A read-only decoded view of a program's committed memory (do not mutate). */
  #view(programId: ProgramId): ProgramMemory {
    return lruGet(this.#views, programId, VIEWS_CACHED_MAX, () => {
      const meta = this.#store.memoryMeta(programId)
      const store = this.#store
      return meta === undefined ? new ProgramMemory(this.#options)
        : decodeMemoryMetadata(meta, { ...this.#options, planeSource: (key) => store.plane(programId, key)! })
    })
  }

  /**
   * Applies one program's memory delta: patches the written chunks into the committed planes, rehashes only
   * those chunks in the commitment, and returns the change as the store records it (whole planes, with roots).
   */
  #commitMemory(delta: MemoryDelta): StoreMemoryDelta {
    const { programId } = delta
    if (delta.dropped) {
      this.#commitments.delete(programId)
      this.#planeCache.dropProgram(programId)
      return { programId, dropped: true, meta: delta.meta, planes: [] }
    }
    const commitment = this.#commitment(programId)
    const planes = delta.planes.map((plane) => {
      if (plane.dropped) {
        this.#planeCache.delete(programId, plane.key)
        commitment.updatePlane(plane.key, undefined)
        return { key: plane.key, bytes: null, root: null }
      }
      // Patched in place: the cache holds committed bytes again once this cycle commits (a failed commit
      // stops the runtime).
      const bytes = (plane.fresh ? undefined : this.#planeCache.get(programId, plane.key) ?? this.#store.plane(programId, plane.key))
        ?? new Uint8Array(PLANE_SIZE_BYTES)
      let chunkMask = 0
      for (const [index, chunk] of plane.chunks) {
        bytes.set(chunk, index * DIRTY_CHUNK_SIZE_BYTES)
        chunkMask |= 1 << index
      }
      this.#planeCache.set(programId, plane.key, bytes)
      commitment.updatePlane(plane.key, bytes, { chunkMask, fresh: plane.fresh })
      // An all-zero plane is absent from the tree but still stored (memory holds it): its root is the zero root.
      // The store rewrites only the chunks that changed (all of them for a plane created this cycle).
      return { key: plane.key, bytes, root: commitment.planeRoot(plane.key) ?? ZERO_PLANE_ROOT, chunks: plane.fresh ? ALL_CHUNKS : chunkMask }
    })
    for (const [address, size] of delta.allocations) commitment.setAllocation(address, size === 0 ? undefined : size)
    return { programId: delta.programId, dropped: false, meta: delta.meta, planes }
  }

  #commitRecord(record: ProgramRecord): void {
    const memoryRoot = record.status === ProgramStatus.EXITED ? EMPTY_MEMORY.memoryRoot() : this.#commitment(record.id).memoryRoot()
    this.#state_.setProgram(record.id, { codeId: record.codeId, status: PROGRAM_STATUS_CODE[record.status], memoryRoot })
  }

  /**
   * Commits everything since the last commit as one atomic batch: a cycle's (cycle = last + 1) or an intake
   * flush (cycle = last). A failure faults the runtime: its memory is then ahead of the store, which still
   * holds the last committed state intact.
   */
  async #commit(cycle: number, memory: StoreMemoryDelta[], counts?: CycleCounts): Promise<void> {
    const run = async (): Promise<void> => {
      const stateRoot = this.#state_.root()
      const batch = {
        cycle, stateRoot, ...this.#state.takeChanges(), memory, merkle: this.#stateNodes.drain(),
        ...(counts !== undefined ? { counts } : {}),
      }
      try {
        await this.#store.commit(batch)
      } catch (error) {
        this.#setFault(error as Error)
        throw error
      }
    }
    const committed = this.#committing.then(run)
    this.#committing = committed.catch(() => undefined)
    await committed
  }

  #setFault(error: Error): void {
    this.#fault ??= error
    if (this.listenerCount('error') > 0) this.emit('error', error)
  }

  #notFaulted(): void {
    if (this.#fault !== undefined) {
      throw new StrataError(RuntimeErrorCode.FAULTED,
        `the runtime stopped after a system error (reopen it; the store holds the last committed cycle): ${this.#fault.message}`)
    }
  }

  /**
   * What committed cycle `cycle` did: its state root and counts, as stored with it (so they survive reopening),
   * or undefined for a cycle not committed yet.
   */
  cycleRecord(cycle: number): CycleRecordView | undefined {
    this.#open()
    const number = option('cycle', cycle, 1, Number.MAX_SAFE_INTEGER)
    const record = this.#store.cycleRecord(number)
    return record === undefined ? undefined : { ...record, stateRoot: bytesToHex(record.stateRoot) }
  }

  /** Waits for a running cycle, then stops the stream workers. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return
    await this.#running?.catch(() => undefined)
    // What was accepted since the last cycle is committed before the store closes.
    let flushError: unknown
    if (this.#fault === undefined && (this.#state.changed)) {
      await this.#commit(this.#state.cycle, []).catch((error: unknown) => { flushError = error })
    }
    this.#closed = true
    await this.#committing
    await this.#pool?.close()
    await this.#store.close()
    this.removeAllListeners()
    if (flushError !== undefined) throw flushError
  }

  async #runCycle(): Promise<CycleReport> {
    const started = performance.now()
    const state = this.#state
    const cycle = state.cycle + 1
    const effects = new CycleEffects()
    const watchdog = { stalls: 0 }
    let counts: CycleCounts | undefined
    let deltas: MemoryDelta[] = []
    try {
      beginCycle(state, cycle, effects)
      const batch = state.takePrefix(this.#cycleGasBudget, CYCLE_MESSAGES_MAX)
      const executed = await this.#execute(batch, cycle, watchdog)
      deltas = executed.deltas
      for (const entry of executed.entries) applyEntry(state, entry, cycle, effects)
      const memory: StoreMemoryDelta[] = []
      let dirtyPlanes = 0
      for (const delta of executed.deltas) {
        dirtyPlanes += delta.planes.length
        memory.push(this.#commitMemory(delta))
      }
      const touched = new Set<ProgramId>(executed.deltas.map((d) => d.programId))
      for (const change of effects.statusChanges) touched.add(change.programId)
      for (const programId of touched) this.#commitRecord(state.programs.get(programId)!)
      counts = cycleCounts(effects, dirtyPlanes)
      await this.#commit(cycle, memory, counts)
      state.cycle = cycle
      this.#planeCache.trim()
    } catch (error) {
      // A system error (a bug, corrupt data, a full disk; not a program's fault): stop rather than go on from a
      // state the store does not hold. The store keeps the last committed cycle.
      this.#setFault(error as Error)
      throw error
    } finally {
      // Cached readers of committed memory see the new cycle (or, after a fault, nothing stale is kept).
      for (const delta of deltas) {
        this.#queries.forget(delta.programId)
        this.#views.delete(delta.programId)
      }
    }

    const report: CycleReport = {
      cycle, stateRoot: this.stateRoot(), ...counts, queueLength: state.queueLength, ms: performance.now() - started,
      watchdogStalls: watchdog.stalls,
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

  /** Runs the batch on the streams and returns its entries in batch order with every memory delta. */
  async #execute(batch: readonly Message[], cycle: number, watchdog: { stalls: number }): Promise<{ entries: JournalEntry[]; deltas: MemoryDelta[] }> {
    const entries = new Array<JournalEntry>(batch.length)
    const deltas: MemoryDelta[] = []
    const lanes = Math.max(this.#streams, 1)
    const groups = Array.from({ length: lanes }, () => ({ messages: [] as Message[], positions: [] as number[] }))
    batch.forEach((message, position) => {
      const group = groups[this.#streams === 0 ? 0 : streamOf(message.destination, this.#streams)]!
      group.messages.push(message)
      group.positions.push(position)
    })
    const collect = (stream: number, positions: readonly number[], result: StreamResult): void => {
      for (const programId of result.evicted) this.#resident[stream]!.delete(programId)
      result.entries.forEach((entry, i) => { entries[positions[i]!] = entry })
      for (const delta of result.deltas) {
        deltas.push(delta)
        if (delta.dropped) this.#resident[stream]!.delete(delta.programId)
      }
    }
    await Promise.all(groups.map(async ({ messages, positions }, stream) => {
      if (messages.length === 0) return
      // A worker that dies while a message runs (it exhausted its heap) fails that message with WORKER_DIED, and the
      // stream's part runs again without it from committed memory. A worker that stalls (the watchdog) is a fault of
      // the runtime, not of a program: the part runs again once on a fresh worker, and a second stall stops the runtime.
      let stalls = 0
      for (;;) {
        const task = this.#task(stream, messages, cycle)
        const outcome = this.#pool === undefined ? this.#inline!.run(task)
          : await this.#pool.run(task, this.#messageTimeoutMs)
        if ('entries' in outcome) {
          if (outcome.fatal !== undefined) throw new StrataError(outcome.fatal.code, outcome.fatal.message)
          for (const programId of new Set(messages.map((m) => m.destination as ProgramId))) this.#resident[stream]!.add(programId)
          for (const { codeId } of task.codes) this.#loadedCodes[stream]!.add(codeId)
          collect(stream, positions, outcome)
          return
        }
        this.#resident[stream]!.clear()
        this.#loadedCodes[stream]!.clear()
        const culprit = messages[outcome.messageIndex]
        if (culprit === undefined) throw outcome.error
        if (outcome.kind === 'timeout') {
          stalls += 1
          watchdog.stalls += 1
          if (stalls >= WATCHDOG_STALLS_MAX) {
            throw new StrataError(RuntimeErrorCode.WATCHDOG,
              `stream ${stream} made no progress for ${this.#messageTimeoutMs} ms on message ${culprit.id} in cycle ${cycle}, `
              + `${stalls} times: the runtime stopped (nothing of the cycle was committed; see docs/architecture.md, "Watchdog")`)
          }
          continue
        }
        const record = this.#state.programs.get(culprit.destination as ProgramId)!
        entries[positions[outcome.messageIndex]!] = workerDiedEntry(culprit, record, cycle)
        messages = messages.filter((_, i) => i !== outcome.messageIndex)
        positions = positions.filter((_, i) => i !== outcome.messageIndex)
        if (messages.length === 0) return
      }
    }))
    return { entries, deltas }
  }

  #task(stream: number, messages: readonly Message[], cycle: number): StreamTask {
    const programs = [...new Set(messages.map((m) => m.destination as ProgramId))]
    const records = programs.map((id) => this.#state.programs.get(id)!)
    const resident = this.#resident[stream]!
    const loaded = this.#loadedCodes[stream]!
    // Workers on LMDB read committed memory themselves; on the memory store it travels with the task.
    const preload = this.#pool === undefined || this.#dataDir !== undefined ? []
      : programs.filter((id) => !resident.has(id)).flatMap((id) => this.#image(id) ?? [])
    const codes = [...new Set(records.map((r) => r.codeId))].filter((id) => !loaded.has(id))
      .map((codeId) => ({ codeId, blob: this.#store.code(codeId)! }))
    return { cycle, stream, messages, records, preload, drop: [], codes }
  }

  /** A program's whole committed memory, for a stream on the memory store that does not hold it. */
  #image(programId: ProgramId): ProgramImage | undefined {
    const meta = this.#store.memoryMeta(programId)
    if (meta === undefined) return undefined
    const planes = this.#store.planeKeys(programId).map((key) => [key, this.#store.plane(programId, key)!] as const)
    return { programId, meta, planes }
  }

  /** A read-only run on this thread against the committed memory (query, estimateGas). */
  #readOnly(message: Message): JournalEntry {
    const programId = message.destination as ProgramId
    const record = this.#state.programs.get(programId)!
    if (!this.#queries.hasCode(record.codeId)) this.#queries.addCode(record.codeId, this.#store.code(record.codeId)!)
    return this.#queries.executeReadOnly(message, record, this.#state.cycle + 1)
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
    if (this.#state.queueLength >= this.#queueLengthMax) {
      throw new StrataError(RuntimeErrorCode.QUEUE_FULL,
        `the queue holds ${this.#state.queueLength} messages (queueLengthMax); run cycles before sending more`)
    }
    const nonce = this.#state.nonce(source)
    this.#state.setNonce(source, nonce + 1)
    const id = externalMessageId(source, nonce)
    return { id, kind, source, destination, payload: new Uint8Array(payload), gasLimit, origin: id }
  }

  /** A message for read-only runs: validated like a send, but takes no nonce and is never enqueued. */
  #probe(source: UserId, destination: ProgramId, payload: unknown, gasLimit: number): Message {
    if (!isBytes(payload)) {
      throw new StrataError(RuntimeErrorCode.INVALID_PAYLOAD, `payload must be a Uint8Array, got ${describeValue(payload)}`)
    }
    const id = externalMessageId(source, Number.MAX_SAFE_INTEGER)
    return { id, kind: MessageKind.HANDLE, source, destination, payload, gasLimit, origin: id }
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

/** What a cycle did, from its effects: the counts of its report and of its stored cycle record. */
function cycleCounts(effects: CycleEffects, dirtyPlanes: number): CycleCounts {
  let failed = 0
  let gasBurned = 0
  let gasRefunded = 0
  for (const outcome of effects.outcomes) {
    if (outcome.result === ExecutionResult.ERROR) failed += 1
    gasBurned += outcome.gasBurned
    gasRefunded += outcome.gasRefunded
  }
  for (const message of effects.mailboxed) gasRefunded += message.gasLimit
  return {
    processed: effects.outcomes.length, failed, gasBurned, gasRefunded, enqueued: effects.enqueued,
    mailboxed: effects.mailboxed.length, dirtyPlanes,
  }
}

/** Gets (or loads) `key` in a Map kept in least-recently-used order, evicting the oldest past `max` entries. */
function lruGet<K, V>(cache: Map<K, V>, key: K, max: number, load: () => V): V {
  let value = cache.get(key)
  if (value !== undefined) cache.delete(key)
  else value = load()
  cache.set(key, value)
  for (const [oldest] of cache) {
    if (cache.size <= max) break
    cache.delete(oldest)
  }
  return value
}

function hexBytes(hex: string): Uint8Array {
  return Uint8Array.from(Buffer.from(hex, 'hex'))
}

function option(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new StrataError(RuntimeErrorCode.INVALID_OPTION,
      `${name} must be an integer in ${min}..${max}, got ${describeValue(value)}`, { [name]: value })
  }
  return value
}
