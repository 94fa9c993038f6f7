/**
 * The PostgreSQL store against durable LMDB on the counter workload, in the same run (issue "a Strata cluster on
 * PostgreSQL", first layer). Run: `npm run build --silent; node bench/run.mjs postgres`. Skips (no rows, a line on
 * stderr) when PostgreSQL is not installed. The server is a throwaway one (test/cluster/postgres_server.ts) with
 * PostgreSQL's durable defaults (fsync, synchronous_commit on, full page writes), on loopback; its data directory
 * and the runtimes' directories are removed afterwards.
 *
 *   figure                                   what is timed                                   baseline (same run)
 *   1 e2e inc, 1,000 programs x 20,          runCycle() over 20,000 queued "inc", streams 2,  the same on durable LMDB;
 *     streams 2, store: 'postgres'           median of ROUNDS after a warm-up; sends untimed cycles alternate between
 *                                                                                            the two runtimes
 *   2 small cycle, 100 programs x 1 inc      runCycle() of 100 "inc" (one per program),      the same on durable LMDB
 *                                            median of SMALL_CYCLES: commit-bound
 *   3 create + init 1,000 programs           createProgram x 1,000 + runUntilIdle()          the same on durable LMDB
 *
 * Checks: every cycle processes what was queued, none failed, and both runtimes reach the same state root after
 * every alternated round (the same inputs give the same roots on both stores).
 *
 * Last results: see bench/README.md ("PostgreSQL store").
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { Runtime, type ProgramId } from 'strata-runtime'
import { PostgresServer, POSTGRES_MISSING, postgresBinDir } from '../test/cluster/postgres_server.js'
import {
  COUNTER_INIT_GAS_LIMIT, COUNTER_MSGS_PER_PROGRAM, COUNTER_PATH, COUNTER_PROGRAM_COUNT, enqueueCounterInc, median, rateRow, timeRow,
  type BenchRow,
} from './harness.js'

const SUITE = 'postgres'
const ROUNDS = 5
const SMALL_PROGRAMS = 100
const SMALL_CYCLES = 21
/** PostgreSQL adds one transaction and a log row per cycle: within 2x of LMDB end to end would be a fair price. */
const TARGET_E2E_RATIO = 0.5

const salt = (i: number): Uint8Array => new TextEncoder().encode(`p${i}`)

interface Fleet {
  readonly name: string
  readonly runtime: Runtime
  readonly ids: ProgramId[]
  readonly createMs: number
}

async function fleet(name: string, runtime: Runtime, count: number): Promise<Fleet> {
  const start = performance.now()
  const code = await runtime.uploadCode(COUNTER_PATH)
  const ids: ProgramId[] = []
  for (let i = 0; i < count; i += 1) ids.push(await runtime.createProgram(code, { salt: salt(i), gasLimit: COUNTER_INIT_GAS_LIMIT }))
  const reports = await runtime.runUntilIdle()
  if (reports.some((r) => r.failed > 0)) throw new Error(`${name}: an init failed`)
  return { name, runtime, ids, createMs: performance.now() - start }
}

/** One timed cycle over `perProgram` incs to each program; returns its wall ms (sends untimed). */
async function cycleMs(f: Fleet, perProgram: number): Promise<number> {
  enqueueCounterInc(f.runtime, f.ids, perProgram)
  const queued = f.runtime.queueLength
  const start = performance.now()
  const report = await f.runtime.runCycle()
  const ms = performance.now() - start
  if (report.processed !== queued || report.failed !== 0 || f.runtime.queueLength !== 0) {
    throw new Error(`${f.name}: a cycle processed ${report.processed} of ${queued} (${report.failed} failed)`)
  }
  return ms
}

/** Runs both fleets' cycles alternately (which goes first alternates too); returns their samples. */
async function alternate(a: Fleet, b: Fleet, rounds: number, perProgram: number): Promise<[number[], number[]]> {
  const samples: [number[], number[]] = [[], []]
  for (let round = 0; round < rounds; round += 1) {
    const order = round % 2 === 0 ? [0, 1] as const : [1, 0] as const
    for (const k of order) samples[k].push(await cycleMs(k === 0 ? a : b, perProgram))
    if (a.runtime.stateRoot() !== b.runtime.stateRoot()) throw new Error(`round ${round}: the two stores gave different state roots`)
  }
  return samples
}

export default async function postgresBench(): Promise<BenchRow[]> {
  if (postgresBinDir() === undefined) {
    process.stderr.write(`postgres bench skipped: ${POSTGRES_MISSING}\n`)
    return []
  }
  const temp = mkdtempSync(path.join(tmpdir(), 'strata-bench-pg-'))
  const server = await PostgresServer.start({ durable: true })
  const opened: Runtime[] = []
  const open = async (options: Parameters<typeof Runtime.open>[0]): Promise<Runtime> => {
    const runtime = await Runtime.open(options)
    opened.push(runtime)
    return runtime
  }
  try {
    const rows: BenchRow[] = []
    // Rows 1 and 3: 1,000 counters on each store.
    process.stderr.write('postgres bench: creating 1,000 counters on each store\n')
    const lmdb = await fleet('lmdb', await open({ dataDir: path.join(temp, 'lmdb'), streams: 2 }), COUNTER_PROGRAM_COUNT)
    const pg = await fleet('postgres', await open({ store: 'postgres', url: await server.createDatabase('bench'), cacheDir: path.join(temp, 'cache'), streams: 2 }),
      COUNTER_PROGRAM_COUNT)
    await alternate(lmdb, pg, 1, COUNTER_MSGS_PER_PROGRAM) // warm-up
    const [lmdbE2e, pgE2e] = await alternate(lmdb, pg, ROUNDS, COUNTER_MSGS_PER_PROGRAM)
    const msgs = COUNTER_PROGRAM_COUNT * COUNTER_MSGS_PER_PROGRAM
    const pgRate = msgs / (median(pgE2e) / 1000)
    const lmdbRate = msgs / (median(lmdbE2e) / 1000)
    rows.push(rateRow(SUITE, 'e2e inc, 1,000 programs x 20, streams 2, store postgres', pgRate, 'msgs/s',
      'durable LMDB, same cycles', lmdbRate, `ratio >= ${TARGET_E2E_RATIO}`, pgRate / lmdbRate >= TARGET_E2E_RATIO))
    rows.push(timeRow(SUITE, 'create + init 1,000 programs, store postgres', pg.createMs, 'ms',
      'durable LMDB', lmdb.createMs, 'report', true))
    for (const runtime of opened.splice(0)) await runtime.close()

    // Row 2: commit-bound cycles.
    process.stderr.write('postgres bench: small cycles\n')
    const lmdbSmall = await fleet('lmdb', await open({ dataDir: path.join(temp, 'lmdb-small'), streams: 2 }), SMALL_PROGRAMS)
    const pgSmall = await fleet('postgres', await open({ store: 'postgres', url: await server.createDatabase('bench'), cacheDir: path.join(temp, 'cache-small'), streams: 2 }),
      SMALL_PROGRAMS)
    await alternate(lmdbSmall, pgSmall, 3, 1)
    const [lmdbCycle, pgCycle] = await alternate(lmdbSmall, pgSmall, SMALL_CYCLES, 1)
    rows.push(timeRow(SUITE, 'cycle, 100 programs x 1 inc, streams 2, store postgres', median(pgCycle), 'ms',
      'durable LMDB', median(lmdbCycle), 'report', true))
    return rows
  } finally {
    for (const runtime of opened) await runtime.close().catch(() => undefined)
    await server.stop()
    rmSync(temp, { recursive: true, force: true })
  }
}
