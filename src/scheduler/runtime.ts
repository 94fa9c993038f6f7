/**
 * The Runtime: the public face of Strata. Users upload code, create programs, send messages and run cycles;
 * every cycle takes a queue prefix, executes it (on streams), applies the journals in queue order, and reports.
 */
import { performance } from 'node:perf_hooks'
import { EventEmitter } from 'eventemitter3'
import {
  CYCLE_MESSAGES_MAX, MESSAGE_GAS_LIMIT_MAX, PAYLOAD_SIZE_MAX_BYTES, QUERY_GAS_LIMIT_DEFAULT, SALT_SIZE_MAX_BYTES,
} from '../constants.js'
import { bytesLength, isBytes } from '../bytes.js'
import { StrataError, describeValue } from '../errors.js'
import type { MemoryStats } from '../memory/index.js'
import type { AllocationRecord } from '../memory/index.js'
import {
  deriveProgramId, externalMessageId, toId, type CodeId, type MessageId, type ProgramId, type UserId,
} from '../message/index.js'
import { MessageKind, type Message } from '../message/index.js'
import { bundleProgram, checkCode, loadCode } from '../program/index.js'
import {
  ExecutionResult, ProgramStatus, type JournalEntry, type MessageOutcome, type ProgramRecord,
} from '../protocol/index.js'
import {
  EMPTY_STATE_ROOT_HEX, bytesToHex, hashPlane, nativeHasher, proveAbsence, proveRange, type AbsenceProof, type RangeProof,
} from '../merkle/index.js'
import { openLmdbStore, openMemoryStore, type CycleCounts, type Store, type StoreMemoryDelta } from '../store/index.js'
import { CycleEffects, applyEntry, beginCycle } from './apply.js'
import { Commitment } from './commitment.js'
import { Dispatcher } from './dispatch.js'
import { RuntimeErrorCode } from './errors.js'
import { integerOption, settleOptions, type RuntimeOptions, type SettledOptions } from './options.js'
import { QueryPool, StreamPool, type StreamRunner } from './pool.js'
import { SchedulerState, type MailboxEntry, type WaitEntry } from './state.js'
import { StreamExecutor } from './stream_executor.js'

export type { RuntimeOptions } from './options.js'

/** How every plane read from a store is checked: its bytes must hash to the root committed with it. */
const verifyPlane = (bytes: Uint8Array): Uint8Array => hashPlane(nativeHasher, bytes)

/**
 * The PostgreSQL store, loaded on first use (the `pg` driver is not loaded by runtimes that never use it). The
 * cluster folder sits above the store and beside the scheduler; only this function reaches it.
 */
async function openPostgres(settled: SettledOptions): Promise<Store> {
  const { openPostgresReader, openPostgresStore } = await import('../cluster/index.js')
  // A reader takes no writer epoch: it follows the database into a replica of its own (docs/cluster.md).
  if (settled.readOnly) {
    return openPostgresReader({ url: settled.url!, verify: verifyPlane, ...(settled.cacheDir !== undefined ? { cacheDir: settled.cacheDir } : {}) })
  }
  const { node, leaseTermMs, standby } = settled.coordinator
  return openPostgresStore({
    url: settled.url!, verify: verifyPlane, ...(settled.cacheDir !== undefined ? { cacheDir: settled.cacheDir } : {}),
    ...(settled.sync !== undefined ? { sync: settled.sync } : {}),
    ...(node !== undefined ? { holder: node } : {}), ...(leaseTermMs !== undefined ? { leaseTermMs } : {}),
    ...(standby !== undefined ? { standby } : {}),
  })
}

/**
 * With `nodes`: the coordinator's StreamRunner, which hands stream k's task to the node holding lease `stream/k`
 * (or runs it here when none does), through the database the store writes (docs/cluster.md).
 */
async function openNodes(settled: SettledOptions, store: Store): Promise<StreamRunner> {
  const { openRemotePool } = await import('../cluster/index.js')
  return openRemotePool({
    url: settled.url!, streams: settled.streams, store, schedule: settled.schedule, planesMax: settled.planesMax, workerHeapMb: settled.workerHeapMb,
    epoch: (store as Store & { readonly epoch: number }).epoch,
  })
}

/**
 * The checks of a user's message that need no state (INVALID_PAYLOAD, PAYLOAD_TOO_LARGE, INVALID_GAS): `send`
 * makes them, and so does a cluster client before a send enters the database's inbox.
 */
export function checkPayloadAndGas(payload: unknown, gasLimit: unknown): asserts payload is Uint8Array {
  if (!isBytes(payload)) {
    throw new StrataError(RuntimeErrorCode.INVALID_PAYLOAD, `payload must be a Uint8Array, got ${describeValue(payload)}`)
  }
  // The internal length: a subclass's `length` getter could otherwise pass the check and be copied in full.
  const length = bytesLength(payload)
  if (length > PAYLOAD_SIZE_MAX_BYTES) {
    throw new StrataError(RuntimeErrorCode.PAYLOAD_TOO_LARGE,
      `payload is ${length} bytes, over the ${PAYLOAD_SIZE_MAX_BYTES}-byte limit`, { length })
  }
  if (typeof gasLimit !== 'number' || !Number.isSafeInteger(gasLimit) || gasLimit < 0 || gasLimit > MESSAGE_GAS_LIMIT_MAX) {
    throw new StrataError(RuntimeErrorCode.INVALID_GAS,
      `gasLimit must be an integer in 0..${MESSAGE_GAS_LIMIT_MAX}, got ${describeValue(gasLimit)}`, { gasLimit })
  }
}

/** The user that creates programs when `createProgram` names no source. */
export const DEFAULT_USER_ID = '0000000000000000000000000000000000000000000000000000000000000001' as UserId

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
  /** The planes a cycle changed or dropped, per program (keys: region * 65,536 + plane), ascending. */
  planes: [change: { readonly cycle: number; readonly programId: ProgramId; readonly planes: readonly number[] }]
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
  /** The planes that hold data, as keys (region * 65,536 + plane), ascending. */
  planes(): number[]
}

/**
 * Client sends one intake takes from a cluster's inbox at most: more than a busy cycle runs (so the queue does not
 * starve), few enough that one intake's rows (payloads up to 64 KiB) stay a bounded read.
 */
export const INBOX_TAKE_MAX = 10_000

/** Queue listings return at most this many messages at a time: a queue can hold millions. */
export const QUEUE_PAGE_MAX = 10_000

export class Runtime extends EventEmitter<RuntimeEvents> {
  readonly #store: Store
  readonly #options: SettledOptions
  /** Replaced only by `refresh` (read-only runtimes), with the commitment: both follow the store's snapshot. */
  #state: SchedulerState
  readonly #dispatch: Dispatcher
  #commitment: Commitment
  /** Runs queries and gas estimates on this thread against committed memory (refreshed when it changes). */
  readonly #queries: StreamExecutor
  /**
   * A writer on disk runs them on a worker instead, with its own heap limit: a hostile handler cannot hold or
   * kill the runtime's thread (docs/security.md). Started on the first query.
   */
  readonly #queryPool: QueryPool | undefined
  /** Refreshes of a read-only runtime, one at a time. */
  #refreshing: Promise<unknown> = Promise.resolve()
  /** Commits, one at a time (a cycle's, or an intake flush). */
  #committing: Promise<unknown> = Promise.resolve()
  #closed = false
  #running: Promise<unknown> | undefined
  /** Inbox requests settled (by intake) since the last commit began: flush and close commit them. */
  #inboxSettled = false
  /** Set when a system error stopped the runtime: no further cycles run. */
  #fault: Error | undefined

  private constructor(options: SettledOptions, store: Store, runner: StreamRunner | undefined) {
    super()
    this.#options = options
    this.#store = store
    this.#state = new SchedulerState(store)
    const { schedule, planesMax, residentBytesMax, streams } = options
    // The LMDB directory workers read committed memory from: the data directory, or the PostgreSQL store's replica.
    const { dataDir } = store
    this.#commitment = this.#newCommitment()
    this.#dispatch = new Dispatcher({
      streams, store, storeOnDisk: dataDir !== undefined, messageTimeoutMs: options.messageTimeoutMs,
      record: (id) => this.#state.programs.get(id)!,
      // Workers read committed memory from LMDB themselves; with the memory store, tasks carry it.
      pool: runner ?? (streams === 0 ? undefined : new StreamPool({
        streams, schedule, planesMax, workerHeapMb: options.workerHeapMb, residentBytesMax, ...(dataDir !== undefined ? { dataDir } : {}),
      })),
      inline: streams === 0 ? new StreamExecutor({ schedule, planesMax, source: store, residentBytesMax }) : undefined,
    })
    this.#queries = new StreamExecutor({ schedule, planesMax, source: store, residentBytesMax })
    this.#queryPool = dataDir === undefined || options.readOnly ? undefined
      : new QueryPool({ dataDir, schedule, planesMax, workerHeapMb: options.workerHeapMb, messageTimeoutMs: options.messageTimeoutMs })
  }

  static async open(options: RuntimeOptions = {}): Promise<Runtime> {
    // Options are checked in full before anything touches the disk.
    const settled = settleOptions(options)
    const { dataDir } = settled
    const store = settled.store === 'postgres' ? await openPostgres(settled)
      : dataDir === undefined ? await openMemoryStore({ verify: verifyPlane })
      : settled.readOnly ? await openLmdbStore({ dataDir, verify: verifyPlane, readOnly: true, snapshot: true })
        : await openLmdbStore({ dataDir, verify: verifyPlane, ...(settled.sync !== undefined ? { sync: settled.sync } : {}) })
    let runtime: Runtime
    let runner: StreamRunner | undefined
    try {
      runner = settled.nodes === undefined ? undefined : await openNodes(settled, store)
      runtime = new Runtime(settled, store, runner)
      runtime.#commitment.checkHead()
    } catch (error) {
      await runner?.close()
      await store.close()
      throw error
    }
    return runtime
  }

  /** Opened with readOnly: true: reads one committed cycle, changes nothing (see `refresh`). */
  get readOnly(): boolean {
    return this.#options.readOnly
  }

  /**
   * A read-only runtime moves to the writer's last committed cycle (everything it reads afterwards is of that
   * cycle) and resolves to its number; a writer has nothing to refresh and resolves to its last committed cycle.
   * On PostgreSQL the reader first brings its replica to the database's head (it replays the commit log), so the
   * reads go on from the old cycle until the promise resolves. Refreshes run one at a time, in call order.
   */
  refresh(): Promise<number> {
    this.#open()
    if (!this.#options.readOnly) return Promise.resolve(this.#state.cycle)
    const run = this.#refreshing.then(() => this.#refresh())
    this.#refreshing = run.catch(() => undefined)
    return run
  }

  async #refresh(): Promise<number> {
    this.#open()
    await this.#store.catchUp?.()
    this.#open()
    this.#store.refresh()
    this.#state = new SchedulerState(this.#store)
    this.#commitment = this.#newCommitment()
    this.#queries.forgetAll()
    this.#commitment.checkHead()
    return this.#state.cycle
  }

  #newCommitment(): Commitment {
    const { schedule, planesMax } = this.#options
    return new Commitment(this.#store, { schedule, planesMax, record: (id) => this.#state.programs.get(id) })
  }

  /** Where the state lives: the LMDB data directory, or undefined for the memory store. */
  get dataDir(): string | undefined {
    return this.#options.dataDir
  }

  get streams(): number {
    return this.#options.streams
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
    this.#writable('uploadCode')
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
    this.#writable('createProgram')
    const code = toId<CodeId>(codeId, 'codeId')
    if (!this.#store.hasCode(code)) {
      throw new StrataError(RuntimeErrorCode.UNKNOWN_CODE, `no code ${code} was uploaded`, { codeId: code })
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
    this.#commitment.commitRecord(record)
    this.#state.enqueue(message)
    return programId
  }

  /** Enqueues a message from a user to a program; returns its id. Delivered in the next cycle. */
  send(input: SendInput): MessageId {
    this.#writable('send')
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
    this.#writable('flush')
    await this.#running?.catch(() => undefined)
    this.#notFaulted()
    if (!this.#state.changed && !this.#inboxSettled) return
    await this.#commit(this.#state.cycle, [])
  }

  /**
   * A cluster's coordinator (store: 'postgres'): takes the client sends waiting in the database's inbox
   * (`ClusterClient.send`) into the queue, in the order they were accepted, as `send` would; resolves to how many
   * it took. Each becomes durable with the next commit, which records its message id (or why it was refused: an
   * unknown program, a program as sender) in the same transaction; `flush`, `close` and an idle `runUntilIdle`
   * commit refusals that changed nothing else. `runCycle` and `runUntilIdle` do this first; other runtimes have no
   * inbox and take 0. One intake or cycle runs at a time (BUSY otherwise: two would take the same requests). A
   * queue filled meanwhile by this process's own sends leaves the rest in the inbox, untaken.
   */
  async intake(): Promise<number> {
    this.#writable('intake')
    if (this.#running !== undefined) throw new StrataError(RuntimeErrorCode.BUSY, 'a cycle or an intake is running')
    this.#notFaulted()
    // Held as running: a second intake (or a cycle's) started before this one settles would take the same
    // requests again.
    const running = this.#intake()
    this.#running = running
    try {
      return await running
    } finally {
      this.#running = undefined
    }
  }

  async #intake(): Promise<number> {
    const store = this.#store
    if (store.takeInbox === undefined || store.settleInbox === undefined) return 0
    const room = Math.min(INBOX_TAKE_MAX, this.#options.queueLengthMax - this.#state.queueLength)
    if (room <= 0) return 0
    let taken = 0
    for (const request of await store.takeInbox(room)) {
      let outcome: { messageId: string } | { refused: string }
      try {
        outcome = { messageId: this.send(request) }
      } catch (error) {
        if (!(error instanceof StrataError)) throw error
        // A full queue is no fault of the send (this process's own sends filled it while the inbox was read):
        // the rest stay in the inbox for a later intake, as they would on a queue full at its start.
        if (error.code === RuntimeErrorCode.QUEUE_FULL) break
        outcome = { refused: `${error.code}: ${error.message}` }
      }
      store.settleInbox(request.seq, outcome)
      this.#inboxSettled = true
      taken += 1
    }
    return taken
  }

  /** Runs one cycle (a cluster's coordinator takes its inbox first: `intake`). */
  async runCycle(): Promise<CycleReport> {
    this.#writable('runCycle')
    if (this.#running !== undefined) throw new StrataError(RuntimeErrorCode.BUSY, 'a cycle or an intake is already running')
    this.#notFaulted()
    const running = this.#intake().then(() => this.#runCycle())
    this.#running = running
    try {
      return await running
    } finally {
      this.#running = undefined
    }
  }

  /** Runs cycles until the queue, delayed schedule and waitlist are empty, or `maxCycles` ran. */
  async runUntilIdle(options: { maxCycles?: number } = {}): Promise<CycleReport[]> {
    this.#writable('runUntilIdle')
    const maxCycles = integerOption('maxCycles', options.maxCycles ?? 1000, 1, Number.MAX_SAFE_INTEGER)
    const reports: CycleReport[] = []
    while (reports.length < maxCycles) {
      await this.intake()
      if (this.idle) {
        // Refusals alone change no state, and are still recorded (a client's `status` waits for them).
        if (this.#inboxSettled) await this.flush()
        break
      }
      reports.push(await this.runCycle())
    }
    return reports
  }

  /** Nothing queued, delayed or waiting. */
  get idle(): boolean {
    return this.#state.queueLength === 0 && this.#state.delayed.size === 0 && this.#state.waitlist.size === 0
  }

  program(id: string): ProgramView {
    this.#open()
    const programId = this.#programId(id, 'programId')
    return {
      id: programId,
      record: () => this.#state.programs.get(programId)!,
      memoryRoot: () => bytesToHex(this.#commitment.program(programId).memoryRoot()),
      read: (address, length) => this.#commitment.view(programId).readRaw(address, length),
      stats: () => this.#commitment.view(programId).stats(),
      allocations: () => this.#commitment.view(programId).allocations(),
      planes: () => this.#store.planeKeys(programId),
    }
  }

  /** Queued messages in delivery order, `limit` (at most QUEUE_PAGE_MAX) from position `offset`; none are taken. */
  queued(options: { offset?: number; limit?: number } = {}): Message[] {
    this.#open()
    const offset = integerOption('offset', options.offset ?? 0, 0, Number.MAX_SAFE_INTEGER)
    const limit = integerOption('limit', options.limit ?? 100, 0, QUEUE_PAGE_MAX)
    return this.#state.peekQueue(offset, limit)
  }

  /** Messages parked by `ctx.wait`, each with its program and the last cycle a wake can find it. */
  waiting(): WaitEntry[] {
    this.#open()
    return [...this.#state.waitlist.values()]
  }

  /** Delayed messages by the cycle that releases them into the queue, ascending. */
  delayedMessages(): [cycle: number, messages: readonly Message[]][] {
    this.#open()
    return [...this.#state.delayed.entries()].sort((a, b) => a[0] - b[0])
  }

  /** How many programs exist (committed and created since), without walking their records. */
  get programCount(): number {
    this.#open()
    return this.#state.programs.size
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
    const entry = await this.#readOnly(message)
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
    const succeeds = async (gasLimit: number): Promise<boolean> => {
      const entry = await this.#readOnly(this.#probe(source, destination, input.payload, gasLimit))
      return entry.outcome.result === ExecutionResult.SUCCESS || entry.outcome.result === ExecutionResult.WAITED
        || entry.outcome.result === ExecutionResult.EXITED
    }
    if (!await succeeds(QUERY_GAS_LIMIT_DEFAULT)) return null
    let low = 0
    let high = QUERY_GAS_LIMIT_DEFAULT
    while (low < high) {
      const mid = Math.floor((low + high) / 2)
      if (await succeeds(mid)) high = mid
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
    return bytesToHex(this.#commitment.root())
  }

  /**
   * A self-contained proof that `length` bytes at `address` of a program's memory are what they are under the
   * current state root; anyone can check it with `verifyProof(stateRoot, proof)` (docs/merkle.md).
   */
  async prove(programId: string, address: number, length: number): Promise<RangeProof> {
    this.#open()
    await this.#running?.catch(() => undefined)
    const id = this.#programId(programId, 'programId')
    return proveRange(this.#commitment.proofSource(id), address, length)
  }

  /** A proof that plane (region, plane) of a program holds no data (reads as zeros) under the state root. */
  async proveAbsence(programId: string, region: number, plane: number): Promise<AbsenceProof> {
    this.#open()
    await this.#running?.catch(() => undefined)
    const id = this.#programId(programId, 'programId')
    const { state, program, programId: pid } = this.#commitment.proofSource(id)
    return proveAbsence({ state, program, programId: pid }, region, plane)
  }

  /**
   * Commits everything since the last commit as one atomic batch: a cycle's (cycle = last + 1) or an intake
   * flush (cycle = last). A failure faults the runtime: its memory is then ahead of the store, which still
   * holds the last committed state intact.
   */
  async #commit(cycle: number, memory: StoreMemoryDelta[], counts?: CycleCounts): Promise<void> {
    const run = async (): Promise<void> => {
      const stateRoot = this.#commitment.root()
      const batch = {
        cycle, stateRoot, ...this.#state.takeChanges(), memory, merkle: this.#commitment.drainNodes(),
        ...(counts !== undefined ? { counts } : {}),
      }
      // The store records every settlement made so far with this commit.
      this.#inboxSettled = false
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
    const number = integerOption('cycle', cycle, 1, Number.MAX_SAFE_INTEGER)
    const record = this.#store.cycleRecord(number)
    return record === undefined ? undefined : { ...record, stateRoot: bytesToHex(record.stateRoot) }
  }

  /** Waits for a running cycle, then stops the stream workers. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return
    await this.#running?.catch(() => undefined)
    await this.#refreshing
    // What was accepted since the last cycle is committed before the store closes.
    let flushError: unknown
    if (this.#fault === undefined && (this.#state.changed || this.#inboxSettled)) {
      await this.#commit(this.#state.cycle, []).catch((error: unknown) => { flushError = error })
    }
    this.#closed = true
    await this.#committing
    await this.#dispatch.close()
    await this.#queryPool?.close()
    await this.#store.close()
    this.removeAllListeners()
    if (flushError !== undefined) throw flushError
  }

  async #runCycle(): Promise<CycleReport> {
    const started = performance.now()
    const state = this.#state
    const cycle = state.cycle + 1
    const effects = new CycleEffects()
    let stalls = 0
    let counts: CycleCounts | undefined
    let touched: readonly ProgramId[] = []
    const dirty: [ProgramId, readonly number[]][] = []
    try {
      beginCycle(state, cycle, effects)
      const batch = state.takePrefix(this.#options.cycleGasBudget, CYCLE_MESSAGES_MAX)
      const executed = await this.#dispatch.execute(batch, cycle)
      stalls = executed.stalls
      touched = executed.deltas.map((d) => d.programId)
      for (const entry of executed.entries) applyEntry(state, entry, cycle, effects)
      const memory: StoreMemoryDelta[] = []
      let dirtyPlanes = 0
      for (const delta of executed.deltas) {
        dirtyPlanes += delta.planes.length
        if (delta.planes.length > 0 || delta.dropped) dirty.push([delta.programId, delta.planes.map((p) => p.key)])
        memory.push(this.#commitment.commitMemory(delta))
      }
      const records = new Set<ProgramId>(touched)
      for (const change of effects.statusChanges) records.add(change.programId)
      for (const programId of records) this.#commitment.commitRecord(state.programs.get(programId)!)
      counts = cycleCounts(effects, dirtyPlanes)
      await this.#commit(cycle, memory, counts)
      state.cycle = cycle
    } catch (error) {
      // A system error (a bug, corrupt data, a full disk; not a program's fault): stop rather than go on from a
      // state the store does not hold. The store keeps the last committed cycle.
      this.#setFault(error as Error)
      throw error
    } finally {
      // Cached readers of committed memory see the new cycle (or, after a fault, nothing stale is kept).
      for (const programId of touched) {
        this.#queries.forget(programId)
        this.#commitment.forgetView(programId)
      }
    }

    const report: CycleReport = {
      cycle, stateRoot: this.stateRoot(), ...counts, queueLength: state.queueLength, ms: performance.now() - started,
      watchdogStalls: stalls,
    }
    // Costly payloads are built only for listeners.
    if (this.listenerCount('message') > 0) for (const outcome of effects.outcomes) this.emit('message', outcome)
    if (this.listenerCount('program') > 0) for (const change of effects.statusChanges) this.emit('program', change)
    if (this.listenerCount('planes') > 0) {
      for (const [programId, planes] of dirty) this.emit('planes', { cycle, programId, planes })
    }
    if (this.listenerCount('mailbox') > 0) {
      for (const message of effects.mailboxed) this.emit('mailbox', { userId: message.destination as UserId, message })
    }
    this.emit('cycle', report)
    return report
  }

  /** A read-only run against the committed memory (query, estimateGas): on the query worker, or on this thread. */
  async #readOnly(message: Message): Promise<JournalEntry> {
    const programId = message.destination as ProgramId
    const record = this.#state.programs.get(programId)!
    if (this.#queryPool !== undefined) return this.#queryPool.run({ message, record, cycle: this.#state.cycle + 1 })
    if (!this.#queries.hasCode(record.codeId)) this.#queries.addCode(record.codeId, this.#store.code(record.codeId)!)
    return this.#queries.executeReadOnly(message, record, this.#state.cycle + 1)
  }

  #userMessage(
    source: UserId, destination: ProgramId, payload: unknown, gasLimit: unknown, kind: MessageKind,
  ): Message {
    if (this.#state.programs.has(source as unknown as ProgramId)) {
      throw new StrataError(RuntimeErrorCode.INVALID_SOURCE, `source ${source} is a program; users send as users`)
    }
    checkPayloadAndGas(payload, gasLimit)
    if (this.#state.queueLength >= this.#options.queueLengthMax) {
      throw new StrataError(RuntimeErrorCode.QUEUE_FULL,
        `the queue holds ${this.#state.queueLength} messages (queueLengthMax); run cycles before sending more`)
    }
    const nonce = this.#state.nonce(source)
    this.#state.setNonce(source, nonce + 1)
    const id = externalMessageId(source, nonce)
    return { id, kind, source, destination, payload: new Uint8Array(payload as Uint8Array), gasLimit: gasLimit as number, origin: id }
  }

  /** A message for read-only runs: validated like a send, but takes no nonce and is never enqueued. */
  #probe(source: UserId, destination: ProgramId, payload: unknown, gasLimit: number): Message {
    if (!isBytes(payload)) {
      throw new StrataError(RuntimeErrorCode.INVALID_PAYLOAD, `payload must be a Uint8Array, got ${describeValue(payload)}`)
    }
    // Bounded like a send: a query is a message that is not kept.
    if (bytesLength(payload) > PAYLOAD_SIZE_MAX_BYTES) {
      throw new StrataError(RuntimeErrorCode.PAYLOAD_TOO_LARGE,
        `payload is ${bytesLength(payload)} bytes, over the ${PAYLOAD_SIZE_MAX_BYTES}-byte limit`, { length: payload.length })
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

  #writable(method: string): void {
    this.#open()
    if (this.#options.readOnly) {
      throw new StrataError(RuntimeErrorCode.READ_ONLY,
        `${method}: the runtime on ${this.#options.dataDir ?? 'its PostgreSQL database'} was opened read-only; changes go through the process that writes it`,
        { method })
    }
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
