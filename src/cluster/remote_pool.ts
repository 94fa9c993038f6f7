/**
 * The coordinator's side of a cycle across nodes: a StreamRunner (what the Dispatcher runs stream tasks on) that
 * hands stream k's task to the node holding the lease `stream/k`, through PostgreSQL:
 *
 *   1. if no node holds the lease now (none started, or its node died and the term passed), the task runs here,
 *      on a stream worker of this process (with the heap limit and watchdog of a local stream) reading this
 *      coordinator's replica, every program of the task dropped from its resident memory first;
 *   2. otherwise the encoded task goes into strata_tasks with the commit count it was built from (the head the
 *      node must execute from), and a NOTIFY wakes the nodes;
 *   3. the coordinator waits for the result (LISTEN on a connection of its own, plus a poll every TASK_POLL_MS),
 *      and looks at the lease each time: once it is no longer live, the row is deleted and the task runs here.
 *
 * A row is deleted as soon as its result is read or the task is taken over, so no row of a cycle outlives its
 * commit, and a node that wakes late finds nothing to answer (its own write is fenced by its lease anyway).
 * Results are deterministic (the same task on the same committed state), so who ran a task cannot change the
 * cycle's root.
 */
import type pg from 'pg'
import { StrataError, describeValue } from '../errors.js'
import type { GasSchedule } from '../gas/index.js'
import { decodeResult, encodeTask, type StreamResult, type StreamTask } from '../protocol/index.js'
import { StreamExecutor, StreamPool, type StreamFailure, type StreamRunner } from '../scheduler/index.js'
import type { Store } from '../store/index.js'
import { ClusterErrorCode } from './errors.js'
import { CONNECT_TIMEOUT_MS, QUERY_TIMEOUT_MS, dbError, step } from './postgres_store.js'
import { RESULTS_CHANNEL, TASKS_CHANNEL, TASK_POLL_MS, failureOf, leaseIsLive, streamLeaseName, unpackResult } from './tasks.js'
import { checkedDatabaseUrl, type DatabaseUrl } from './url.js'

export interface RemotePoolOptions {
  /** The database the coordinator writes (the same as its store's). */
  readonly url: string
  /** Streams, one per node. */
  readonly streams: number
  /** The coordinator's store: the commit count tasks are built from, and the memory a taken-over task reads. */
  readonly store: Store
  readonly schedule: GasSchedule
  readonly planesMax: number
  /** The heap limit of the worker that runs taken-over tasks, as Runtime.open's workerHeapMb. */
  readonly workerHeapMb: number
  /**
   * The coordinator's writer epoch, written with every task: a task row of a newer coordinator is never
   * overwritten, read or deleted by this one (a coordinator that lost its lease may still be dispatching).
   */
  readonly epoch: number
}

/** Where each stream's tasks ran since the pool opened, for tests and operators. */
export interface RemotePoolStats {
  /** Tasks whose result came from a node. */
  readonly remote: number
  /** Tasks this coordinator ran itself (no live lease at dispatch, or the lease lapsed while it waited). */
  readonly local: number
}

export class RemotePool implements StreamRunner {
  readonly #client: pg.Client
  readonly #listener: pg.Client
  readonly #url: DatabaseUrl
  readonly #options: RemotePoolOptions
  /** Runs taken-over tasks: a worker reading the store's LMDB directory, or (a store with none) this thread. */
  readonly #takeover: StreamPool | StreamExecutor
  /** Wake-ups of tasks waiting for a result, by `cycle/stream`. */
  readonly #waiting = new Map<string, () => void>()
  /** Statements on #client, one at a time (the streams of a cycle wait in parallel; pg wants one query at a time). */
  #serial: Promise<unknown> = Promise.resolve()
  #remote = 0
  #local = 0
  #closed = false

  private constructor(client: pg.Client, listener: pg.Client, url: DatabaseUrl, options: RemotePoolOptions) {
    this.#client = client
    this.#listener = listener
    this.#url = url
    this.#options = options
    const { schedule, planesMax, workerHeapMb, store } = options
    this.#takeover = store.dataDir === undefined ? new StreamExecutor({ schedule, planesMax, source: store })
      : new StreamPool({ streams: 1, schedule, planesMax, workerHeapMb, dataDir: store.dataDir })
    listener.on('notification', (note) => {
      if (note.channel === RESULTS_CHANNEL && note.payload !== undefined) this.#waiting.get(note.payload)?.()
    })
  }

  /**
   * Connects twice (statements, LISTEN) and deletes every task row: rows left by an earlier coordinator that died
   * mid-cycle name cycles that were never committed, and this one builds its own.
   */
  static async open(options: RemotePoolOptions): Promise<RemotePool> {
    const url = checkedDatabaseUrl(options.url)
    if (!Number.isSafeInteger(options.streams) || options.streams < 1) {
      throw new StrataError(ClusterErrorCode.INVALID_ARGUMENT, `streams must be a positive integer, got ${describeValue(options.streams)}`)
    }
    const { default: driver } = await import('pg')
    const connect = async (): Promise<pg.Client> => {
      const client = new driver.Client({
        connectionString: url.url, connectionTimeoutMillis: CONNECT_TIMEOUT_MS, query_timeout: QUERY_TIMEOUT_MS, keepAlive: true,
      })
      // A dropped connection fails the next statement, which names it; the event alone must not crash the process.
      client.on('error', () => undefined)
      try {
        await client.connect()
      } catch (error) {
        await client.end().catch(() => undefined)
        throw dbError(url, 'connect', error)
      }
      return client
    }
    const client = await connect()
    let listener: pg.Client | undefined
    try {
      listener = await connect()
      await step(url, 'listen for results', () => listener!.query(`LISTEN ${RESULTS_CHANNEL}`))
      await step(url, 'clear earlier task rows', () => client.query('DELETE FROM strata_tasks WHERE epoch < $1', [options.epoch]))
      // Nodes started without a stream choose among 0..streams-1.
      await step(url, 'publish the node count', () => client.query(
        'INSERT INTO strata_cluster (id, nodes) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET nodes = EXCLUDED.nodes', [options.streams]))
      return new RemotePool(client, listener, url, options)
    } catch (error) {
      await listener?.end().catch(() => undefined)
      await client.end().catch(() => undefined)
      throw error
    }
  }

  readonly #statements = { query: <R extends pg.QueryResultRow>(text: string, values: unknown[]) => this.#query<R>(text, values) }

  /** One statement on #client, after those issued before it. */
  #query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<pg.QueryResult<R>> {
    const run = this.#serial.then(() => this.#client.query<R>(text, values))
    this.#serial = run.catch(() => undefined)
    return run
  }

  get stats(): RemotePoolStats {
    return { remote: this.#remote, local: this.#local }
  }

  async run(task: StreamTask, messageTimeoutMs: number): Promise<StreamResult | StreamFailure> {
    const lease = streamLeaseName(task.stream)
    const url = this.#url
    if (!await step(url, `read lease ${lease}`, () => leaseIsLive(this.#statements, lease))) return this.#runHere(task, messageTimeoutMs)
    const commitCount = this.#options.store.head().commitCount
    const key = `${task.cycle}/${task.stream}`
    const { epoch } = this.#options
    const where = [task.cycle, task.stream, commitCount, epoch] as const
    await step(url, `send cycle ${task.cycle}'s task of stream ${task.stream}`, async () => {
      const sent = await this.#query(`INSERT INTO strata_tasks (cycle, stream, commit_count, epoch, task, result, heap_mb, timeout_ms)
        VALUES ($1, $2, $3, $4, $5, NULL, $6, $7)
        ON CONFLICT (cycle, stream) DO UPDATE SET commit_count = EXCLUDED.commit_count, epoch = EXCLUDED.epoch, task = EXCLUDED.task,
          result = NULL, failure = NULL, heap_mb = EXCLUDED.heap_mb, timeout_ms = EXCLUDED.timeout_ms
        WHERE strata_tasks.epoch <= EXCLUDED.epoch`,
      [...where, Buffer.from(encodeTask(task)), this.#options.workerHeapMb, messageTimeoutMs])
      if (sent.rowCount !== 1) {
        throw new StrataError(ClusterErrorCode.FENCED,
          `a newer coordinator (writer epoch above ${epoch}) runs cycle ${task.cycle} on ${url.where}: this one's task is not sent`, { epoch })
      }
      await this.#query('SELECT pg_notify($1, $2)', [TASKS_CHANNEL, String(task.stream)])
    })
    try {
      for (;;) {
        if (this.#closed) throw new StrataError(ClusterErrorCode.IO, `the task pool on ${url.where} closed while cycle ${task.cycle} waited for stream ${task.stream}`)
        // Registered before the look, so that a result written between the look and the wait still wakes it.
        const woken = this.#wakeUp(key, TASK_POLL_MS)
        const row = await step(url, `read stream ${task.stream}'s result`, async () => (await this.#query<{ result: Buffer | null; failure: string | null }>(
          'SELECT result, failure FROM strata_tasks WHERE cycle = $1 AND stream = $2 AND commit_count = $3 AND epoch = $4', [...where])).rows[0])
        if (row?.result != null) {
          woken.cancel()
          this.#remote += 1
          return decodeResult(unpackResult(row.result))
        }
        if (row?.failure != null) {
          // The node's worker died on a message or stalled: the Dispatcher fails that message (or retries) as for
          // a local worker, and sends the stream's part again.
          woken.cancel()
          this.#remote += 1
          const failure = failureOf(row.failure)
          return { kind: failure.kind, messageIndex: failure.messageIndex, error: new Error(`node of stream ${task.stream}: ${failure.message}`) }
        }
        if (!await step(url, `read lease ${lease}`, () => leaseIsLive(this.#statements, lease))) {
          woken.cancel()
          return await this.#runHere(task, messageTimeoutMs)
        }
        await woken.promise
      }
    } finally {
      await step(url, `delete stream ${task.stream}'s task row`, () =>
        this.#query('DELETE FROM strata_tasks WHERE cycle = $1 AND stream = $2 AND epoch = $3', [task.cycle, task.stream, epoch]))
    }
  }

  /**
   * The task on this process, from committed memory (never resident memory of another cycle: a node may have
   * run this stream's last cycles), with every code it needs (the worker may be a fresh one).
   */
  async #runHere(task: StreamTask, messageTimeoutMs: number): Promise<StreamResult | StreamFailure> {
    this.#local += 1
    const shipped = new Map(task.codes.map((c) => [c.codeId, c.blob]))
    const codes = [...new Set(task.records.map((r) => r.codeId))].flatMap((codeId) => {
      const blob = shipped.get(codeId) ?? this.#options.store.code(codeId)
      return blob === undefined ? [] : [{ codeId, blob }]
    })
    const local: StreamTask = { ...task, stream: 0, drop: [...new Set(task.records.map((r) => r.id))], codes }
    if (this.#takeover instanceof StreamExecutor) {
      this.#takeover.forgetAll()
      return { ...this.#takeover.run(local), stream: task.stream }
    }
    const outcome = await this.#takeover.run(local, messageTimeoutMs)
    return 'entries' in outcome ? { ...outcome, stream: task.stream } : outcome
  }

  /** A promise that resolves when `key`'s result is notified or after `ms`, whichever comes first. */
  #wakeUp(key: string, ms: number): { promise: Promise<void>; cancel: () => void } {
    let done!: () => void
    const promise = new Promise<void>((resolve) => { done = resolve })
    const timer = setTimeout(() => done(), ms)
    const cancel = (): void => {
      clearTimeout(timer)
      if (this.#waiting.get(key) === wake) this.#waiting.delete(key)
      done()
    }
    const wake = cancel
    this.#waiting.set(key, wake)
    void promise.then(cancel)
    return { promise, cancel }
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    for (const wake of [...this.#waiting.values()]) wake()
    if (this.#takeover instanceof StreamPool) await this.#takeover.close().catch(() => undefined)
    await this.#query('DELETE FROM strata_tasks WHERE epoch <= $1', [this.#options.epoch]).catch(() => undefined)
    await this.#listener.end().catch(() => undefined)
    await this.#client.end().catch(() => undefined)
  }
}

/** Opens a RemotePool. See RemotePool.open. */
export function openRemotePool(options: RemotePoolOptions): Promise<RemotePool> {
  return RemotePool.open(options)
}
