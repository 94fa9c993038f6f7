/**
 * A node of a cluster: runs one stream's tasks for the coordinator (a writer runtime opened with `nodes`).
 *
 *   - it takes the lease `stream/K` (retrying while another live node holds it) and renews it at a third of its
 *     term on a connection of its own; a renewal that fails (the term passed: the node was paused, or the
 *     database was unreachable) drops the lease, and the node takes it again as a new tenure when it can;
 *   - it waits for a task row of stream K without a result (LISTEN strata_tasks, plus a poll), brings its replica
 *     (a PostgresReader: the commit log replayed into a local LMDB copy) to the database's head, and runs the task
 *     only if that head is the commit count the coordinator executed from; a task built from an older head is
 *     stale (the coordinator committed without it) and is skipped;
 *   - it runs the task with a StreamExecutor reading that replica's snapshot, after forgetting every resident
 *     memory (memory is never trusted across cycles), and codes it lacks are read from the replica or the
 *     database;
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
import { PROGRAM_PLANES_MAX_DEFAULT, STREAMS_MAX } from '../constants.js'
import { StrataError, describeValue } from '../errors.js'
import { GAS_SCHEDULE } from '../gas/index.js'
import { hashPlane, nativeHasher } from '../merkle/index.js'
import type { CodeId } from '../message/index.js'
import { decodeTask, encodeResult } from '../protocol/index.js'
import { StreamExecutor } from '../scheduler/index.js'
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
  | { readonly kind: 'ready'; readonly stream: number; readonly name: string }
  | { readonly kind: 'lease'; readonly epoch: number }
  | { readonly kind: 'lost'; readonly epoch: number; readonly message: string }
  | { readonly kind: 'task'; readonly cycle: number; readonly commitCount: number }
  | { readonly kind: 'result'; readonly cycle: number; readonly messages: number }
  /** The task was built from another head than the replica's (the coordinator went on without it). */
  | { readonly kind: 'stale'; readonly cycle: number; readonly commitCount: number; readonly head: number }
  /** The result was refused: the lease was no longer this node's tenure. Nothing was written. */
  | { readonly kind: 'fenced'; readonly cycle: number; readonly message: string }
  | { readonly kind: 'stopped' }

export interface NodeOptions {
  readonly url: string
  /** The stream this node runs: 0..STREAMS_MAX-1 (a coordinator with `nodes: K` uses 0..K-1). */
  readonly stream: number
  /** The lease holder's name (default `<hostname>:<pid>`). */
  readonly name?: string
  /** The replica's cache directory (default: a reader slot under the temp directory, as for readers). */
  readonly cacheDir?: string
  /** The stream lease's term in ms (default LEASE_TERM_MS_DEFAULT); renewed at a third of it. */
  readonly termMs?: number
  /** Aborting it stops the node: the lease is released and runNode resolves. */
  readonly signal?: AbortSignal
  readonly onEvent?: (event: NodeEvent) => void
  /** Awaited after a task ran and before its result is written (tests pause a node there). */
  readonly beforeResult?: (cycle: number) => Promise<void>
}

const verify = (bytes: Uint8Array): Uint8Array => hashPlane(nativeHasher, bytes)

/** Runs a node until `signal` aborts (then resolves) or an error stops it (then rejects, the lease released). */
export async function runNode(options: NodeOptions): Promise<void> {
  const invalid = (message: string): StrataError => new StrataError(ClusterErrorCode.INVALID_ARGUMENT, message)
  if (typeof options !== 'object' || options === null) throw invalid(`options must be an object, got ${describeValue(options)}`)
  const url = checkedDatabaseUrl(options.url)
  const { stream, signal, onEvent, beforeResult } = options
  if (!Number.isSafeInteger(stream) || stream < 0 || stream >= STREAMS_MAX) {
    throw invalid(`stream must be an integer in 0..${STREAMS_MAX - 1}, got ${describeValue(stream)}`)
  }
  const termMs = options.termMs ?? LEASE_TERM_MS_DEFAULT
  if (!Number.isSafeInteger(termMs) || termMs < LEASE_TERM_MS_MIN || termMs > LEASE_TERM_MS_MAX) {
    throw invalid(`termMs must be an integer in ${LEASE_TERM_MS_MIN}..${LEASE_TERM_MS_MAX}, got ${describeValue(termMs)}`)
  }
  const name = options.name ?? `${os.hostname()}:${process.pid}`
  if (typeof name !== 'string' || name.length === 0 || name.length > LEASE_HOLDER_SIZE_MAX_CHARS) {
    throw invalid(`name must be a string of 1..${LEASE_HOLDER_SIZE_MAX_CHARS} characters, got ${describeValue(name)}`)
  }
  const emit = (event: NodeEvent): void => onEvent?.(event)
  const leaseName = streamLeaseName(stream)
  const stopped = (): boolean => signal?.aborted === true

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
    const replica = reader
    const executor = new StreamExecutor({ schedule: GAS_SCHEDULE, planesMax: PROGRAM_PLANES_MAX_DEFAULT, source: replica })
    emit({ kind: 'ready', stream, name })

    let renewing = false
    renewal = setInterval(() => {
      const held = lease
      if (held === undefined || renewing) return
      renewing = true
      renewLease(leaseClient, held, termMs).then((renewed) => {
        if (lease?.epoch === renewed.epoch) lease = renewed
      }, (error: Error) => {
        if (lease?.epoch === held.epoch) lease = undefined
        emit({ kind: 'lost', epoch: held.epoch, message: error.message })
      }).finally(() => { renewing = false })
    }, Math.floor(termMs / 3))

    while (!stopped()) {
      if (lease === undefined) {
        lease = await step(url, `take lease ${leaseName}`, () => acquireLease(leaseClient, leaseName, name, termMs))
        if (lease === undefined) {
          await sleep(Math.min(TASK_POLL_MS, termMs))
          continue
        }
        emit({ kind: 'lease', epoch: lease.epoch })
      }
      const held = lease
      const row = await step(url, 'look for a task', async () => (await client.query<{ cycle: string; commit_count: string; task: Buffer }>(
        `SELECT cycle, commit_count, task FROM strata_tasks WHERE stream = $1 AND result IS NULL AND commit_count >= $2
          ORDER BY cycle LIMIT 1`, [stream, replica.head().commitCount])).rows[0])
      if (row === undefined) {
        await sleep(TASK_POLL_MS)
        continue
      }
      const cycle = Number(row.cycle)
      const commitCount = Number(row.commit_count)
      emit({ kind: 'task', cycle, commitCount })
      await replica.catchUp()
      const head = replica.refresh().commitCount
      if (head !== commitCount) {
        emit({ kind: 'stale', cycle, commitCount, head })
        if (head < commitCount) await sleep(TASK_POLL_MS) // not committed yet as seen here: look again
        continue
      }
      const task = decodeTask(row.task)
      executor.forgetAll()
      const shipped = new Set(task.codes.map((c) => c.codeId))
      await loadCodes(client, url, executor, replica, task.records.map((r) => r.codeId).filter((id) => !shipped.has(id)))
      const result = executor.run(task)
      await beforeResult?.(cycle)
      const packed = packResult(encodeResult(result))
      try {
        await step(url, `write cycle ${cycle}'s result`, async () => {
          await client.query('BEGIN')
          await fenceLease(client, held)
          const written = await client.query(`UPDATE strata_tasks SET result = $4
            WHERE cycle = $1 AND stream = $2 AND commit_count = $3 AND result IS NULL`, [cycle, stream, commitCount, packed])
          if (written.rowCount === 1) await client.query('SELECT pg_notify($1, $2)', [RESULTS_CHANNEL, `${cycle}/${stream}`])
          await client.query('COMMIT')
          emit(written.rowCount === 1 ? { kind: 'result', cycle, messages: task.messages.length } : { kind: 'stale', cycle, commitCount, head })
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
    await reader?.close().catch(() => undefined)
    for (const client of clients) await client.end().catch(() => undefined)
    emit({ kind: 'stopped' })
  }
}

/**
 * Codes the executor lacks, from the replica, else from the database: a program created since the last commit
 * runs code uploaded since (stored in the database at once, in the replica only with a later catch-up).
 */
async function loadCodes(
  client: pg.Client, url: ReturnType<typeof checkedDatabaseUrl>, executor: StreamExecutor, replica: PostgresReader, codeIds: readonly CodeId[],
): Promise<void> {
  for (const codeId of new Set(codeIds)) {
    if (executor.hasCode(codeId)) continue
    let blob: Uint8Array | undefined = replica.code(codeId)
    blob ??= await step(url, `read code ${codeId}`, async () => (await client.query<{ blob: Buffer }>(
      'SELECT blob FROM strata_codes WHERE code_id = $1', [Buffer.from(codeId, 'hex')])).rows[0]?.blob)
    if (blob === undefined) {
      throw new StrataError(ClusterErrorCode.CONFLICT, `a task names code ${codeId}, which the database does not hold`, { codeId })
    }
    executor.addCode(codeId, blob)
  }
}
