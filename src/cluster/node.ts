/**
 * A node of a cluster: runs one stream's tasks for the coordinator (a writer runtime opened with `nodes`).
 *
 *   - it takes the lease `stream/K` (retrying while another live node holds it) and renews it at a third of its
 *     term on a connection of its own; a renewal that fails (the term passed: the node was paused, or the
 *     database was unreachable) drops the lease, and the node takes it again as a new tenure when it can;
 *   - it waits for a task row of stream K without a result (LISTEN strata_tasks, plus a poll), brings its replica
 *     (a PostgresReader: the commit log replayed into a local LMDB copy) to the database's head, and runs the task
 *     only if that head is the commit count the coordinator executed from; a task built from an older head is
 *     stale (the coordinator committed without it) and is skipped. A replica the log cannot bring to the head (a
 *     pruned log, a batch too large for it) is rebuilt from the tables by reopening the reader;
 *   - it runs the task on a stream worker (a StreamPool of one, with the heap limit and watchdog of a local
 *     stream) that reads committed memory from that replica; every program of the task is dropped from the
 *     worker's resident memory first (memory is never trusted across cycles: the coordinator may have run a
 *     cycle of this stream without this node), and every code the task needs goes with it (from the task, the
 *     replica or the database). A worker that dies on a message or stalls is reported in the row's `failure`,
 *     and the coordinator's Dispatcher handles it as for a local worker (WORKER_DIED, or a retry);
 *   - it writes the encoded result in one transaction that first fences its lease (fenceLease): a node that lost
 *     its lease meanwhile (paused past its term) writes nothing and reports FENCED, and the coordinator, which
 *     stopped waiting once the lease lapsed, has run the task itself;
 *   - on its signal (SIGINT/SIGTERM in `strata node`) it releases the lease, so the coordinator takes its stream
 *     over at once, and returns.
 *
 * Its connections limit idle transactions to the term (limitIdleTransactions), so a node paused inside its
 * result transaction cannot hold the lease row past the term.
 */
import os from 'node:os'
import type pg from 'pg'
import { printableName } from '../bytes.js'
import { MESSAGE_TIMEOUT_MS_DEFAULT, PROGRAM_PLANES_MAX_DEFAULT, STREAMS_MAX, WORKER_HEAP_MB_DEFAULT } from '../constants.js'
import { StrataError, describeValue } from '../errors.js'
import { GAS_SCHEDULE } from '../gas/index.js'
import { hashPlane, nativeHasher } from '../merkle/index.js'
import type { CodeId } from '../message/index.js'
import { decodeTask, encodeResult, type StreamTask } from '../protocol/index.js'
import { StreamPool } from '../scheduler/index.js'
import { ClusterErrorCode } from './errors.js'
import {
  LEASE_HOLDER_SIZE_MAX_CHARS, LEASE_TERM_MS_DEFAULT, LEASE_TERM_MS_MAX, LEASE_TERM_MS_MIN, acquireLease, fenceLease,
  limitIdleTransactions, releaseLease, renewLease, type Lease,
} from './lease.js'
import { openPostgresReader, type PostgresReader } from './postgres_reader.js'
import { CONNECT_TIMEOUT_MS, QUERY_TIMEOUT_MS, dbError, step } from './postgres_store.js'
import { RESULTS_CHANNEL, TASKS_CHANNEL, TASK_POLL_MS, packResult, streamLeaseName } from './tasks.js'
import { checkedDatabaseUrl } from './url.js'

/** What a node reports as it goes (the CLI prints them, tests read them). */
export type NodeEvent =
  /** Started; `stream` is null for a node that chooses its stream (none given). */
  | { readonly kind: 'ready'; readonly stream: number | null; readonly name: string }
  | { readonly kind: 'lease'; readonly epoch: number; readonly stream: number }
  | { readonly kind: 'lost'; readonly epoch: number; readonly message: string }
  | { readonly kind: 'task'; readonly cycle: number; readonly commitCount: number }
  | { readonly kind: 'result'; readonly cycle: number; readonly messages: number }
  /** The worker died on a message or stalled: reported to the coordinator instead of a result. */
  | { readonly kind: 'failure'; readonly cycle: number; readonly failure: 'timeout' | 'crash'; readonly messageIndex: number }
  /** The task was built from another head than the replica's (the coordinator went on without it). */
  | { readonly kind: 'stale'; readonly cycle: number; readonly commitCount: number; readonly head: number }
  /** The result was refused: the lease was no longer this node's tenure. Nothing was written. */
  | { readonly kind: 'fenced'; readonly cycle: number; readonly message: string }
  /** The replica could not replay the log (a pruned log, a batch too large for it): rebuilt from the tables. */
  | { readonly kind: 'rebuilt'; readonly message: string }
  /** The database connection failed (IO): the node starts again with new connections after NODE_RECONNECT_DELAY_MS. */
  | { readonly kind: 'reconnect'; readonly message: string }
  | { readonly kind: 'stopped' }

export interface NodeOptions {
  readonly url: string
  /**
   * The stream this node runs: 0..STREAMS_MAX-1 (a coordinator with `nodes: K` uses 0..K-1). Without it, the node
   * takes the lowest stream of the last coordinator's K that no live node holds, waiting as a spare while all are
   * held, and chooses again whenever it loses its lease: a spare takes over a dead node's stream once its term
   * has passed.
   */
  readonly stream?: number
  /** The lease holder's name (default `<hostname>:<pid>`). */
  readonly name?: string
  /** The replica's cache directory (default: a reader slot under the temp directory, as for readers). */
  readonly cacheDir?: string
  /** The stream lease's term in ms (default LEASE_TERM_MS_DEFAULT); renewed at a third of it. */
  readonly termMs?: number
  /**
   * The watchdog's limit on one message (default MESSAGE_TIMEOUT_MS_DEFAULT), as Runtime.open's messageTimeoutMs,
   * for tasks that carry none: a task carries its coordinator's, and that one applies.
   */
  readonly messageTimeoutMs?: number
  /**
   * The worker's heap limit in MiB (default WORKER_HEAP_MB_DEFAULT), as Runtime.open's workerHeapMb, for tasks
   * that carry none: a task carries its coordinator's, and that one applies.
   */
  readonly workerHeapMb?: number
  /** Aborting it stops the node: the lease is released and runNode resolves. */
  readonly signal?: AbortSignal
  readonly onEvent?: (event: NodeEvent) => void
  /** Awaited after a task ran and before its result is written (tests pause a node there). */
  readonly beforeResult?: (cycle: number) => Promise<void>
}

/**
 * How long a node waits before it connects again after losing the database: long enough not to hammer a server
 * that is restarting, short beside a lease term (the coordinator runs the stream itself meanwhile).
 */
export const NODE_RECONNECT_DELAY_MS = 250

const verify = (bytes: Uint8Array): Uint8Array => hashPlane(nativeHasher, bytes)

/** Runs a node until `signal` aborts (then resolves) or an error stops it (then rejects, the lease released). */
export async function runNode(options: NodeOptions): Promise<void> {
  const invalid = (message: string): StrataError => new StrataError(ClusterErrorCode.INVALID_ARGUMENT, message)
  if (typeof options !== 'object' || options === null) throw invalid(`options must be an object, got ${describeValue(options)}`)
  const url = checkedDatabaseUrl(options.url)
  const { signal, onEvent, beforeResult } = options
  const fixed = options.stream
  if (fixed !== undefined && (!Number.isSafeInteger(fixed) || fixed < 0 || fixed >= STREAMS_MAX)) {
    throw invalid(`stream must be an integer in 0..${STREAMS_MAX - 1}, got ${describeValue(fixed)}`)
  }
  /** The stream of the lease held now (fixed, or chosen when the lease was taken). */
  let stream: number | undefined = fixed
  const termMs = options.termMs ?? LEASE_TERM_MS_DEFAULT
  if (!Number.isSafeInteger(termMs) || termMs < LEASE_TERM_MS_MIN || termMs > LEASE_TERM_MS_MAX) {
    throw invalid(`termMs must be an integer in ${LEASE_TERM_MS_MIN}..${LEASE_TERM_MS_MAX}, got ${describeValue(termMs)}`)
  }
  const name = options.name ?? `${os.hostname()}:${process.pid}`
  if (typeof name !== 'string' || name.length === 0 || name.length > LEASE_HOLDER_SIZE_MAX_CHARS || !printableName(name)) {
    throw invalid(`name must be a string of 1..${LEASE_HOLDER_SIZE_MAX_CHARS} printable characters (no control characters), got ${describeValue(name)}`)
  }
  const messageTimeoutMs = options.messageTimeoutMs ?? MESSAGE_TIMEOUT_MS_DEFAULT
  const workerHeapMb = options.workerHeapMb ?? WORKER_HEAP_MB_DEFAULT
  if (!Number.isSafeInteger(messageTimeoutMs) || messageTimeoutMs < 1) throw invalid(`messageTimeoutMs must be a positive integer, got ${describeValue(messageTimeoutMs)}`)
  if (!Number.isSafeInteger(workerHeapMb) || workerHeapMb < 16) throw invalid(`workerHeapMb must be an integer of at least 16, got ${describeValue(workerHeapMb)}`)
  const emit = (event: NodeEvent): void => onEvent?.(event)
  const stopped = (): boolean => signal?.aborted === true

  /**
   * The lease of the fixed stream, or of the lowest stream of the coordinator's K whose lease no live node holds
   * (tried in order: another node may take one first). Undefined while none can be had.
   */
  const takeStreamLease = async (db: pg.Client): Promise<[Lease, number] | undefined> => {
    const candidates = fixed !== undefined ? [fixed] : await step(url, 'look for a free stream', async () => (await db.query<{ k: number }>(`
      SELECT k FROM strata_cluster c, generate_series(0, c.nodes - 1) AS k
        LEFT JOIN strata_leases l ON l.name = 'stream/' || k
      WHERE l.name IS NULL OR l.holder IS NULL OR l.expires_at <= clock_timestamp() ORDER BY k`)).rows.map((r) => r.k))
    for (const k of candidates) {
      const taken = await step(url, `take lease ${streamLeaseName(k)}`, () => acquireLease(db, streamLeaseName(k), name, termMs))
      if (taken !== undefined) return [taken, k]
    }
    return undefined
  }

  let wake: (() => void) | undefined
  /** Waits `ms`, or less: a NOTIFY for this stream or the signal ends it. */
  const sleep = (ms: number): Promise<void> => new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer)
      signal?.removeEventListener('abort', done)
      if (wake === done) wake = undefined
      resolve()
    }
    const timer = setTimeout(done, ms)
    wake = done
    signal?.addEventListener('abort', done, { once: true })
  })

  /** One life of the node: connections, replica, worker, lease; an IO error ends it (runNode then starts another). */
  const serve = async (): Promise<void> => {
    const { default: driver } = await import('pg')
    const clients: pg.Client[] = []
    const connect = async (): Promise<pg.Client> => {
      const client = new driver.Client({
        connectionString: url.url, connectionTimeoutMillis: CONNECT_TIMEOUT_MS, query_timeout: QUERY_TIMEOUT_MS, keepAlive: true,
      })
      client.on('error', () => undefined) // the next statement fails and names it
      clients.push(client)
      try {
        await client.connect()
      } catch (error) {
        throw dbError(url, 'connect', error)
      }
      await step(url, 'limit idle transactions', () => limitIdleTransactions(client, termMs))
      return client
    }

    let reader: PostgresReader | undefined
    let pool: StreamPool | undefined
    let lease: Lease | undefined
    let renewal: ReturnType<typeof setInterval> | undefined
    let leases: pg.Client | undefined
    try {
      // Tasks and results on one connection (LISTEN included); leases on another, so a renewal is never caught
      // inside a result's transaction.
      const client = await connect()
      leases = await connect()
      const leaseClient = leases
      client.on('notification', (note) => {
        if (note.channel === TASKS_CHANNEL && note.payload === String(stream)) wake?.()
      })
      await step(url, 'listen for tasks', () => client.query(`LISTEN ${TASKS_CHANNEL}`))

      // The coordinator creates the schema: until it has, there is nothing to read.
      while (reader === undefined) {
        try {
          reader = await openPostgresReader({ url: url.url, verify, ...(options.cacheDir !== undefined ? { cacheDir: options.cacheDir } : {}) })
        } catch (error) {
          if ((error as StrataError).code !== ClusterErrorCode.NOT_FOUND || stopped()) throw error
          await sleep(TASK_POLL_MS)
          if (stopped()) return
        }
      }
      let replica = reader
      // One worker, which reads committed memory from the replica's LMDB directory as a local stream reads the data
      // directory. Tasks run there as its stream 0.
      // Its heap limit is the coordinator's (the task row's): a message that exhausts the heap must fail alike
      // wherever it runs. A task of another limit gets a worker of its own limit.
      let heapMb = workerHeapMb
      const newWorker = (): StreamPool => new StreamPool({
        streams: 1, schedule: GAS_SCHEDULE, planesMax: PROGRAM_PLANES_MAX_DEFAULT, workerHeapMb: heapMb, dataDir: replica.dataDir,
      })
      let worker = pool = newWorker()
      emit({ kind: 'ready', stream: fixed ?? null, name })

      let renewing = false
      renewal = setInterval(() => {
        const held = lease
        if (held === undefined || renewing) return
        renewing = true
        renewLease(leaseClient, held, termMs).then((renewed) => {
          if (lease?.name === renewed.name && lease.epoch === renewed.epoch) lease = renewed
        }, (error: Error) => {
          if (lease?.name === held.name && lease.epoch === held.epoch) lease = undefined
          emit({ kind: 'lost', epoch: held.epoch, message: error.message })
        }).finally(() => { renewing = false })
      }, Math.floor(termMs / 3))

      while (!stopped()) {
        if (lease === undefined) {
          const taken = await takeStreamLease(leaseClient)
          if (taken === undefined) {
            await sleep(Math.min(TASK_POLL_MS, termMs))
            continue
          }
          ;[lease, stream] = taken
          emit({ kind: 'lease', epoch: lease.epoch, stream })
        }
        if (stream === undefined) continue
        const held = lease
        const row = await step(url, 'look for a task', async () => (await client.query<{ cycle: string; commit_count: string; epoch: string; task: Buffer; heap_mb: number; timeout_ms: number }>(
          `SELECT cycle, commit_count, epoch, task, heap_mb, timeout_ms FROM strata_tasks WHERE stream = $1 AND result IS NULL AND failure IS NULL AND commit_count >= $2
            ORDER BY cycle LIMIT 1`, [stream, replica.head().commitCount])).rows[0])
        if (row === undefined) {
          if (fixed === undefined) {
            // A chosen stream the coordinator no longer runs (it reopened with a smaller K) gets no more tasks:
            // leave it and choose again, rather than hold it idle while a stream of the new K has no node.
            const nodes = await step(url, 'read the node count', async () => (await client.query<{ nodes: number }>(
              'SELECT nodes FROM strata_cluster WHERE id = 1')).rows[0]?.nodes)
            if (nodes !== undefined && stream >= nodes && lease?.epoch === held.epoch && lease.name === held.name) {
              lease = undefined
              await step(url, `release lease ${held.name}`, () => releaseLease(leaseClient, held))
              emit({ kind: 'lost', epoch: held.epoch, message: `stream ${stream} is outside the coordinator's ${nodes} streams: choosing again` })
              continue
            }
          }
          await sleep(TASK_POLL_MS)
          continue
        }
        const cycle = Number(row.cycle)
        const commitCount = Number(row.commit_count)
        emit({ kind: 'task', cycle, commitCount })
        try {
          await replica.catchUp()
        } catch (error) {
          if ((error as StrataError).code !== ClusterErrorCode.REPLAY) throw error
          // The log cannot bring the replica to the head: reopening rebuilds it from the tables (syncReplica), and
          // the worker, whose LMDB handle is on the old directory, starts again on the new one.
          await worker.close()
          pool = undefined
          await replica.close()
          reader = undefined
          reader = replica = await openPostgresReader({ url: url.url, verify, ...(options.cacheDir !== undefined ? { cacheDir: options.cacheDir } : {}) })
          pool = worker = newWorker()
          emit({ kind: 'rebuilt', message: (error as Error).message })
          continue
        }
        const head = replica.refresh().commitCount
        if (head !== commitCount) {
          emit({ kind: 'stale', cycle, commitCount, head })
          if (head < commitCount) await sleep(TASK_POLL_MS) // not committed yet as seen here: look again
          continue
        }
        const task = decodeTask(row.task)
        const local: StreamTask = {
          ...task, stream: 0, drop: [...new Set(task.records.map((r) => r.id))],
          codes: await codesOf(client, url, replica, task),
        }
        // The coordinator's limits (0: a row of a coordinator that sent none; this node's own then).
        const taskHeapMb = row.heap_mb > 0 ? row.heap_mb : workerHeapMb
        if (taskHeapMb !== heapMb) {
          await worker.close()
          heapMb = taskHeapMb
          pool = worker = newWorker()
        }
        const outcome = await worker.run(local, row.timeout_ms > 0 ? row.timeout_ms : messageTimeoutMs)
        await beforeResult?.(cycle)
        const packed = 'entries' in outcome ? packResult(encodeResult({ ...outcome, stream })) : null
        const failure = 'entries' in outcome ? null
          : JSON.stringify({ kind: outcome.kind, messageIndex: outcome.messageIndex, message: outcome.error.message })
        try {
          await step(url, `write cycle ${cycle}'s result`, async () => {
            await client.query('BEGIN')
            await fenceLease(client, held)
            const written = await client.query(`UPDATE strata_tasks SET result = $4, failure = $5
              WHERE cycle = $1 AND stream = $2 AND commit_count = $3 AND epoch = $6 AND result IS NULL AND failure IS NULL`,
            [cycle, stream, commitCount, packed, failure, row.epoch])
            if (written.rowCount === 1) await client.query('SELECT pg_notify($1, $2)', [RESULTS_CHANNEL, `${cycle}/${stream}`])
            await client.query('COMMIT')
            emit(written.rowCount !== 1 ? { kind: 'stale', cycle, commitCount, head }
              : 'entries' in outcome ? { kind: 'result', cycle, messages: task.messages.length }
                : { kind: 'failure', cycle, failure: outcome.kind, messageIndex: outcome.messageIndex })
          })
        } catch (error) {
          await client.query('ROLLBACK').catch(() => undefined)
          if ((error as StrataError).code !== ClusterErrorCode.FENCED) throw error
          if (lease?.epoch === held.epoch) lease = undefined
          emit({ kind: 'fenced', cycle, message: (error as Error).message })
        }
      }
    } finally {
      if (renewal !== undefined) clearInterval(renewal)
      if (lease !== undefined && leases !== undefined) await releaseLease(leases, lease).catch(() => undefined)
      await pool?.close().catch(() => undefined)
      await reader?.close().catch(() => undefined)
      for (const client of clients) await client.end().catch(() => undefined)
    }
  }

  try {
    for (;;) {
      try {
        await serve()
        return
      } catch (error) {
        // The database went away (a restart, a network cut, a killed session): start again from a new connection,
        // as a new tenure of the lease. Anything else (a bug, the local disk) stops the node.
        if (stopped() || (error as StrataError).code !== ClusterErrorCode.IO) throw error
        emit({ kind: 'reconnect', message: (error as Error).message })
        await sleep(NODE_RECONNECT_DELAY_MS)
        if (stopped()) return
      }
    }
  } finally {
    emit({ kind: 'stopped' })
  }
}

/**
 * Every code the task's programs run, for the worker (which may be a fresh one that holds none): from the task,
 * else the replica, else the database (a program created since the last commit runs code uploaded since, stored
 * in the database at once and in the replica only with a later catch-up).
 */
async function codesOf(
  client: pg.Client, url: ReturnType<typeof checkedDatabaseUrl>, replica: PostgresReader, task: StreamTask,
): Promise<{ codeId: CodeId; blob: Uint8Array }[]> {
  const shipped = new Map(task.codes.map((c) => [c.codeId, c.blob]))
  const codes: { codeId: CodeId; blob: Uint8Array }[] = []
  for (const codeId of new Set(task.records.map((r) => r.codeId))) {
    let blob: Uint8Array | undefined = shipped.get(codeId) ?? replica.code(codeId)
    blob ??= await step(url, `read code ${codeId}`, async () => (await client.query<{ blob: Buffer }>(
      'SELECT blob FROM strata_codes WHERE code_id = $1', [Buffer.from(codeId, 'hex')])).rows[0]?.blob)
    if (blob === undefined) {
      throw new StrataError(ClusterErrorCode.CONFLICT, `a task names code ${codeId}, which the database does not hold`, { codeId })
    }
    codes.push({ codeId, blob })
  }
  return codes
}
