/**
 * The only module that imports Piscina. One single-thread pool per stream pins stream k to its own worker:
 * `minThreads === maxThreads === 1` and `idleTimeout: Infinity`, so the worker (with the stream's resident
 * memories and loaded codes) lives as long as the runtime. Aborting a stream's task terminates exactly that
 * worker; Piscina starts a fresh one for the next task, and the runtime reloads its programs from the store.
 *
 * Measured choice (REFERENCE.md): a custom load balancer reaches ~36k tasks/s and per-stream pools ~15k. Strata
 * sends one task per stream per cycle, so that is ~28 us against ~66 us per cycle, lost in any real batch, and
 * per-stream pools make abort and replacement exact without tracking worker identities.
 */
import { availableParallelism } from 'node:os'
import { fileURLToPath } from 'node:url'
import path from 'node:path'
import { Piscina } from 'piscina'
import { STREAMS_MAX } from '../constants.js'
import type { GasSchedule } from '../gas/index.js'
import { decodeResult, encodeTask, type EncodedResult, type StreamResult, type StreamTask } from '../protocol/index.js'
import { ReplyCode } from '../message/index.js'
import { ExecutionResult, type JournalEntry } from '../protocol/index.js'
import type { QueryRequest, QueryWorkerConfig } from './query_worker.js'
import type { WorkerConfig } from './worker.js'

/** Where a compiled worker lives: next to this file in dist/, or in dist/ when this file runs from src/. */
function workerFile(name = 'worker.js'): string {
  const here = fileURLToPath(import.meta.url)
  return here.endsWith('.ts')
    ? path.resolve(path.dirname(here), '../../dist/scheduler', name)
    : path.join(path.dirname(here), name)
}

/**
 * Workers load their (ES module) entry through import(), never require(): Piscina tries require() first, and
 * Node 20.19+ then loads the module with require(esm), which under load was seen to abort the process
 * ("FATAL ERROR: v8::Module::IsGraphAsync must be used on an instantiated module", a Node bug around
 * require(esm) and a concurrent import of the same graph). With require(esm) off in the worker, require() fails
 * at once and Piscina falls back to import(), the path of older Nodes. Only where Node knows the flag.
 */
export const WORKER_EXEC_ARGV: readonly string[] = process.allowedNodeEnvironmentFlags.has('--experimental-require-module')
  ? [...process.execArgv, '--no-experimental-require-module'] : process.execArgv

/** The watchdog looks at a stream's progress at least every 250 ms and at most every 5 ms (a quarter of the limit). */
const WATCHDOG_TICK_MAX_MS = 250
const WATCHDOG_TICK_MIN_MS = 5

export interface StreamPoolOptions {
  readonly streams: number
  readonly schedule: GasSchedule
  readonly planesMax: number
  /** Old-generation heap limit of each worker: a program that exhausts it kills only its stream's worker. */
  readonly workerHeapMb: number
  /** The LMDB data directory workers read committed memory from; none: tasks carry preloads. */
  readonly dataDir?: string
  /** Each worker's resident plane byte budget. */
  readonly residentBytesMax?: number
}

/** Why a stream's task did not return a result. */
export type StreamFailure = { readonly kind: 'timeout' | 'crash'; readonly messageIndex: number; readonly error: Error }

/**
 * What runs a cycle's stream tasks for the Dispatcher: the worker threads of this process (StreamPool), or the
 * nodes of a cluster (src/cluster/remote_pool.ts). `run` resolves with the stream's result, or with a failure
 * naming the message that was running.
 */
export interface StreamRunner {
  run(task: StreamTask, messageTimeoutMs: number): Promise<StreamResult | StreamFailure>
  close(): Promise<void>
}

export class StreamPool implements StreamRunner {
  readonly #pools: Piscina[]
  readonly #progress: Int32Array[]

  constructor(options: StreamPoolOptions) {
    this.#pools = []
    this.#progress = []
    for (let stream = 0; stream < options.streams; stream += 1) {
      const progress = new SharedArrayBuffer(8)
      this.#progress.push(new Int32Array(progress))
      const workerData: WorkerConfig = {
        planesMax: options.planesMax, schedule: options.schedule, progress,
        ...(options.dataDir !== undefined ? { dataDir: options.dataDir } : {}),
        ...(options.residentBytesMax !== undefined ? { residentBytesMax: options.residentBytesMax } : {}),
      }
      this.#pools.push(new Piscina({
        filename: workerFile(), minThreads: 1, maxThreads: 1, idleTimeout: Infinity, concurrentTasksPerWorker: 1,
        workerData, execArgv: [...WORKER_EXEC_ARGV], resourceLimits: { maxOldGenerationSizeMb: options.workerHeapMb },
      }))
    }
  }

  get streams(): number {
    return this.#pools.length
  }

  /**
   * Runs one task on its stream's worker. Resolves with the result, or with a failure when one message ran
   * longer than `messageTimeoutMs` (the watchdog terminates the worker) or the worker died; the failure names
   * the message that was running.
   *
   * The watchdog watches progress, not the clock of the whole task: decoding a task and encoding its result are
   * never cut short, and a long but healthy cycle never fails whichever message happened to be running.
   */
  async run(task: StreamTask, messageTimeoutMs: number): Promise<StreamResult | StreamFailure> {
    const progress = this.#progress[task.stream]!
    Atomics.store(progress, 0, -1)
    const controller = new AbortController()
    let started = Atomics.load(progress, 1)
    let since = performance.now()
    const watchdog = setInterval(() => {
      const now = performance.now()
      const count = Atomics.load(progress, 1)
      if (count !== started) {
        started = count
        since = now
      } else if (Atomics.load(progress, 0) >= 0 && now - since > messageTimeoutMs) {
        controller.abort()
      }
    }, Math.max(WATCHDOG_TICK_MIN_MS, Math.min(WATCHDOG_TICK_MAX_MS, messageTimeoutMs / 4)))
    const encoded = encodeTask(task)
    try {
      const result = await this.#pools[task.stream]!.run(Piscina.move(encoded), { signal: controller.signal }) as EncodedResult
      return decodeResult(result)
    } catch (error) {
      const messageIndex = Atomics.load(progress, 0)
      return { kind: controller.signal.aborted ? 'timeout' : 'crash', messageIndex, error: error as Error }
    } finally {
      clearInterval(watchdog)
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.#pools.map((pool) => pool.destroy()))
  }
}

export function defaultStreamCount(): number {
  return Math.min(availableParallelism(), STREAMS_MAX)
}

export interface QueryPoolOptions extends QueryWorkerConfig {
  /** Old-generation heap limit of the query worker, as for stream workers. */
  readonly workerHeapMb: number
  /** A query running longer than this has its worker terminated (the watchdog's limit for messages). */
  readonly messageTimeoutMs: number
}

/**
 * One worker for read-only runs (queries, gas estimates) of a runtime on disk, started on first use. A query
 * that kills its worker (the heap limit) or outlives `messageTimeoutMs` answers WORKER_DIED; the next query
 * gets a fresh worker.
 */
export class QueryPool {
  readonly #options: QueryPoolOptions
  #pool: Piscina | undefined

  constructor(options: QueryPoolOptions) {
    this.#options = options
  }

  async run(request: QueryRequest): Promise<JournalEntry> {
    const { dataDir, planesMax, schedule, workerHeapMb, messageTimeoutMs } = this.#options
    this.#pool ??= new Piscina({
      filename: workerFile('query_worker.js'), minThreads: 1, maxThreads: 1, idleTimeout: Infinity, execArgv: [...WORKER_EXEC_ARGV],
      workerData: { dataDir, planesMax, schedule } satisfies QueryWorkerConfig, resourceLimits: { maxOldGenerationSizeMb: workerHeapMb },
    })
    const controller = new AbortController()
    const timer = setTimeout(() => controller.abort(), messageTimeoutMs)
    try {
      return await this.#pool.run(request, { signal: controller.signal }) as JournalEntry
    } catch (error) {
      const why = controller.signal.aborted ? `ran longer than ${messageTimeoutMs} ms` : `died (${(error as Error).message})`
      return {
        outcome: {
          messageId: request.message.id, origin: request.message.origin, programId: request.record.id, kind: request.message.kind,
          result: ExecutionResult.ERROR, replyCode: ReplyCode.WORKER_DIED, gasBurned: request.message.gasLimit, gasRefunded: 0,
          error: `the query's worker ${why}`, logs: [],
        },
        outgoing: [], created: [], wakes: [],
      }
    } finally {
      clearTimeout(timer)
    }
  }

  async close(): Promise<void> {
    await this.#pool?.destroy()
  }
}
