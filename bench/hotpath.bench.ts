/**
 * The hot path (issue "the hot path"): end-to-end throughput on durable LMDB against a raw Piscina baseline,
 * stream scaling, creating 100,000 programs, cycle cost and reopen time on that store, bytes written per cycle,
 * and peak memory of a 10,000 x 10 plane data set under the 256 MiB resident budget.
 * Run: `npm run build --silent; node bench/run.mjs hotpath` (the runtime runs from dist/, so build first).
 * Progress goes to stderr. Every store lives in a fresh temp directory, removed afterwards.
 *
 *   figure                               what is timed / measured                     baseline (same run)
 *   1 e2e inc, 1,000 programs,           runCycle() over 20,000 queued "inc" (20 per   raw Piscina, 2 workers: the
 *     streams 2, durable LMDB            program, from one user, round-robin) on       same 20,000 messages as 20
 *                                        Runtime.open({ dataDir, streams: 2 }), one    tasks of 1,000 (see below);
 *                                        cycle a sample, median of ROUNDS after a      target >= 200,000 msgs/s AND
 *                                        warm-up round; sends untimed                  >= 0.5 of the baseline
 *   2 scaling, streams 2 / 1             the streams 2 figure                          the same workload on a
 *                                                                                      streams 1 fleet, in the same
 *                                                                                      rounds (order alternated);
 *                                                                                      ratio = median of per-round
 *                                                                                      ratios; target >= 1.7
 *   3 create 100,000 programs            createProgram x N, then runUntilIdle() for    the first 10% of them, x 10
 *                                        their inits, in batches of 5,000, durable     (ratio ~1: creation does not
 *                                        LMDB, streams 2; seconds; target < 20 s       slow down as the count grows)
 *                                        (guard: if the first 10% extrapolate to
 *                                        > 150 s, only 20,000 are created and the
 *                                        figure is extrapolated linearly; the row
 *                                        says so. Here the first 10% take 9.8-11 s and
 *                                        the whole 139-167 s: the guard does not trip,
 *                                        and the full count is measured, since a
 *                                        linear extrapolation from 20,000 (23-24 s)
 *                                        would understate it: creation slows down)
 *   4 cycle, 100 active of the row-3     runCycle() with one "inc" to each of 100      the same cycle on a store of
 *     store                              programs spread over the store, median of     only 100 programs, cycles
 *                                        CYCLE_SAMPLES (after 4 warm-ups)              alternated; target <= 1.2x
 *   5 reopen the row-3 store             Runtime.open({ dataDir, streams: 0 }) +       the same on the 100-program
 *                                        stateRoot() + close(), median of 5            store, rounds alternated;
 *                                        (state root checked against the builder's)    target < 1 s
 *   6 bytes written per e2e cycle        write_bytes of /proc/self/io across the       dirty planes x 65,536: what
 *                                        row-1 cycles (sends to commit, workers        the cycle would write if
 *                                        included: they are threads of this process),  whole planes were stored;
 *                                        median; falls back to data.mdb growth         target: report
 *   6b LMDB plane value bytes per cycle  estimated: dirty planes x one 4 KiB chunk     the same baseline
 *                                        (each counter changes ~8 bytes, in one chunk;
 *                                        the runtime does not expose its store's
 *                                        diagnostics().lastCommitChunkWrites)
 *   6c bytes written per cycle, 100      as row 6, on the row-4 cycles (100 dirty      the same baseline: dirty
 *     programs x 1 inc, 100-program      planes instead of 1,000): on the 100-program  planes x 65,536
 *     store and row-3 store              store and on the row-3 store
 *   7 peak RSS / RssAnon / RssFile,      a fresh process (fixtures/resident_run.mjs)   the same run on 1,000 x 10
 *     10,000 programs x 10 planes,       reopens the store with residentBytesMax       planes (625 MiB, fits the
 *     256 MiB budget                     256 MiB, streams 2, touches every plane once  three budgets); ratio =
 *                                        in cycles of 100 programs: VmHWM, peak         baseline / value
 *                                        RssAnon, peak RssFile (LMDB map pages)
 *
 * The raw baseline moves exactly this: the 20,000 message objects the cycle would run ({ id: 64-hex, source:
 * 64-hex user, destination: 64-hex program, payload: Uint8Array "inc", gasLimit }, built untimed, in the runtime's
 * order) split into 20 tasks of 1,000 messages. Per task the main thread msgpackr-encodes the array (the options
 * of src/scheduler/protocol.ts) into a fresh ArrayBuffer and moves it to a Piscina pool of 2 workers; the worker
 * (fixtures/raw_batch_worker.mjs) decodes it, re-encodes the decoded array (same size) and moves it back; the main
 * thread decodes the result and checks it holds 1,000 entries. All 20 tasks are submitted at once; a sample is
 * the wall time from the first encode to the last result decoded.
 *
 * Checks: every cycle processed what was queued with none failed (and nothing left queued); counters are queried
 * at the end of rows 1/2 and 4 (the count must equal the "inc" sent); row 3 checks every init ran and the
 * runtime lists N programs; row 5 checks the reopened state root; row 7's child checks its cycles and bytes
 * read back after eviction; the build checks 10 dirty planes per program touched.
 *
 * Row 7 at full size: the store now writes only non-zero 4 KiB chunks, and a "planes" program's planes hold one
 * non-zero chunk each, so the 6.1 GiB logical data set is an 844 MiB data.mdb; the build (10,000 creates and
 * inits, 100 touch cycles, sync: false) takes 25-44 s and the measured run 43-55 s, so 10,000 x 10 fits (the
 * scaled 2,000 x 10 of persistence.bench.ts is no longer needed here). The whole file takes 4.5-5 minutes.
 *
 * Last results: 2-core VM (firecracker, nproc 2), 24 GiB, Node 20.20.2, ext4 on virtio. "Before" is commit b40de02
 * (chunked store only; run while other benchmarks and test suites ran on the machine); "after" is the full
 * `npm run bench` near the end of the hot-path work (2026-12-02, quiet machine; a later run at the final commit on
 * a faster-running machine gave 43.5k msgs/s, 49.3 s, 65.4 ms against 28.2: bench/README.md). Compare ratios.
 *
 *   figure                                        before (b40de02)     after                baseline (after)               target
 *   1 e2e inc, streams 2, durable LMDB            12.8-19.1k msgs/s    31.3k msgs/s         raw 338k (ratio 0.09)          not met (>= 200k, >= 0.5)
 *   2 scaling, streams 2 / 1                      0.92-1.04            1.15                 streams 1: 27.8k               not met (>= 1.7)
 *   3 create 100,000 programs + inits             139-167 s            57.4 s               first 10% x 10: 40.4 s         not met (< 20 s)
 *   4 cycle, 100 x 1 inc, 100,000-program store   48.9-87.8 ms         56.6 ms              100-program store: 24.7 ms     not met (2.3x; <= 1.2x)
 *   5 reopen, 100,000-program store               0.91-1.78 ms         1.09 ms              100-program store: 0.87 ms     met (< 1 s)
 *   6 bytes written, e2e cycle (1,000 dirty)      12.3 MB              12.3 MB              whole planes 65.5 MB (5.3x fewer)
 *   6b LMDB plane value bytes (estimated)         4.1 MB               4.1 MB               65.5 MB (16x fewer)
 *   6c bytes written, 100 x 1 inc, 100 store      1.37-1.51 MB         1.53 MB              whole planes 6.55 MB (4.3x fewer)
 *   6c bytes written, 100 x 1 inc, 100,000 store  41.8 MB              43.4 MB              6.55 MB (see below)
 *   7 peak RSS (VmHWM), 10,000 x 10, 256 MiB      2,379-2,384 MiB      2,087 MiB            1,000 x 10: 569 MiB            not met (< 1,280)
 *   7 peak RssAnon                                1,424-1,427 MiB      1,137 MiB            399 MiB                        met (< 1,280)
 *   7 peak RssFile (LMDB map pages)               950-952 MiB          950 MiB              170 MiB                        report
 *
 * Reading them: the e2e figure is ~32 us a message on two cores, ~6x short of 200k; the raw baseline alone
 * (encode, move, decode, re-encode, move back, decode) reaches ~340k msgs/s here. Where the time goes is in
 * bench/README.md ("The hot path"). An e2e cycle writes ~12 MB for 1,000 dirty planes whose counters changed ~8
 * bytes each: the planes' 4 KiB chunks are ~4 MB of it (a 4 KiB value takes two LMDB overflow pages), the rest the
 * cycle's 20,000 queued messages and 20,000 mailbox replies, program records, Merkle nodes and LMDB's page copies.
 * Row 6c on the 100,000-program store: write_bytes says ~43 MB a cycle, but strace on a 20,000-program store
 * counted ~4 MB of pwrite/writev in such a cycle against ~1 MB on a 100-program store, so write_bytes also counts
 * something other than this cycle's writes (the page cache's accounting); read it as an upper bound. Row 4's cost
 * is in the LMDB commit (finishTxn): each touched program puts ~21 random keys into large B-trees (record,
 * metadata, plane index, blob, and ~17 state-tree nodes), each dirtying its own leaf page. Reopen does not depend
 * on the program count.
 */
import { createHash } from 'node:crypto'
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { Packr } from 'msgpackr'
import { Piscina } from 'piscina'
import { Runtime, type CycleReport, type ProgramId } from 'strata-runtime'
import {
  median, rateRow, timeRow, type BenchRow,
  COUNTER_USER as USER, COUNTER_INC as INC, COUNTER_INIT_GAS_LIMIT as INIT_GAS_LIMIT, COUNTER_HANDLE_GAS_LIMIT as HANDLE_GAS_LIMIT,
  COUNTER_PROGRAM_COUNT as PROGRAM_COUNT, COUNTER_MSGS_PER_PROGRAM as MSGS_PER_PROGRAM,
  COUNTER_PATH, fixturePath,
  enqueueCounterInc,
} from './harness.js'
import {
  PLANES_PER_PROGRAM, PROGRAMS_PER_CYCLE, RESIDENT_STREAMS, populatePlanes, residentRun as runResident, type ResidentRun,
} from './resident.js'

const SUITE = 'hotpath'
const RAW_WORKER_PATH = fixturePath('raw_batch_worker.mjs')

const MIB = 1024 * 1024
const PLANE_SIZE_BYTES = 65_536
const STORE_CHUNK_SIZE_BYTES = 4_096

// Rows 1, 2, 6.
const MSGS_PER_CYCLE = PROGRAM_COUNT * MSGS_PER_PROGRAM
const ROUNDS = 7
const RAW_WORKERS = 2
const RAW_MSGS_PER_TASK = 1_000
const TARGET_MSGS_PER_S = 200_000
const TARGET_RAW_RATIO = 0.5
const TARGET_SCALING = 1.7

// Rows 3, 4, 5.
const CREATE_PROGRAMS = 100_000
/** Created instead (then extrapolated) if the first 10% of CREATE_PROGRAMS extrapolate beyond CREATE_BUDGET_S. */
const CREATE_FALLBACK = 20_000
const CREATE_BUDGET_S = 150
/** Programs created before each runUntilIdle: a stream holds every program of a cycle, so inits go in batches. */
const CREATE_BATCH = 5_000
const TARGET_CREATE_S = 20
const ACTIVE_COUNT = 100
const CYCLE_WARMUPS = 4
const CYCLE_SAMPLES = 31
const TARGET_CYCLE_GROWTH = 1.2
const REOPEN_ROUNDS = 5
const TARGET_REOPEN_MS = 1_000

// Row 7.
const RESIDENT_PROGRAMS = 10_000
const RESIDENT_BASELINE_PROGRAMS = 1_000
const RESIDENT_BUDGET_BYTES = 256 * MIB
/** Headroom over the budgets allowed by the target (as persistence.bench.ts): node, two workers, caches. */
const RSS_HEADROOM_MIB = 512

const salt = (i: number): Uint8Array => new TextEncoder().encode(String(i))
const count = (n: number): string => n.toLocaleString('en-US')
const log = (text: string): void => { process.stderr.write(`  [hotpath ${(performance.now() / 1000).toFixed(0)} s] ${text}\n`) }

function tempDir(label: string): string {
  return mkdtempSync(path.join(tmpdir(), `strata-bench-hotpath-${label}-`))
}

/** The process's bytes sent to the storage layer so far (/proc/self/io write_bytes), or undefined if unreadable. */
function procWriteBytes(): number | undefined {
  try {
    const match = /^write_bytes:\s+(\d+)$/m.exec(readFileSync('/proc/self/io', 'utf8'))
    return match === null ? undefined : Number(match[1])
  } catch {
    return undefined
  }
}

function dataFileBytes(dataDir: string): number {
  const file = path.join(dataDir, 'data.mdb')
  return existsSync(file) ? statSync(file).size : 0
}

interface Fleet {
  readonly runtime: Runtime
  readonly ids: ProgramId[]
  readonly dataDir: string
  readonly label: string
}

async function closeFleet(fleet: Fleet | undefined): Promise<void> {
  if (fleet === undefined) return
  try {
    await fleet.runtime.close()
  } catch { /* closed already */ }
  rmSync(fleet.dataDir, { recursive: true, force: true })
}

/** Checks a cycle ran everything queued, none failed. */
function checkReport(label: string, report: CycleReport, expected: number): void {
  if (report.processed !== expected || report.failed !== 0 || report.queueLength !== 0) {
    throw new Error(`${label}, cycle ${report.cycle}: processed ${report.processed}/${expected}, failed ${report.failed}, ` +
      `${report.queueLength} left queued`)
  }
}

/**
 * A durable LMDB runtime with `programs` initialized counters, created `batch` at a time (createProgram calls,
 * then runUntilIdle for their inits). `onBatch` sees the programs created so far and the elapsed ms; returning
 * false stops creating.
 */
async function openCounters(label: string, streams: number, programs: number, batch: number,
  onBatch?: (created: number, ms: number) => boolean): Promise<Fleet & { readonly ms: number }> {
  const dataDir = tempDir(label)
  let runtime: Runtime
  try {
    runtime = await Runtime.open({ dataDir, streams })
  } catch (error) {
    rmSync(dataDir, { recursive: true, force: true })
    throw error
  }
  const fleet = { runtime, ids: [] as ProgramId[], dataDir, label }
  try {
    const code = await runtime.uploadCode(COUNTER_PATH)
    const began = performance.now()
    let inits = 0
    for (let start = 0; start < programs; start += batch) {
      for (let i = start; i < Math.min(programs, start + batch); i += 1) {
        fleet.ids.push(await runtime.createProgram(code, { salt: salt(i), gasLimit: INIT_GAS_LIMIT }))
      }
      for (const report of await runtime.runUntilIdle()) {
        if (report.failed !== 0) throw new Error(`${label}: ${report.failed} inits failed in cycle ${report.cycle}`)
        inits += report.processed
      }
      if (inits !== fleet.ids.length) throw new Error(`${label}: ${inits}/${fleet.ids.length} inits ran`)
      if (onBatch !== undefined && !onBatch(fleet.ids.length, performance.now() - began)) break
    }
    const ms = performance.now() - began
    const listed = runtime.programIds().length
    if (listed !== fleet.ids.length) throw new Error(`${label}: the runtime lists ${listed} programs, created ${fleet.ids.length}`)
    return { ...fleet, ms }
  } catch (error) {
    await closeFleet(fleet)
    throw error
  }
}

function enqueue(fleet: Fleet, ids: readonly ProgramId[], perProgram: number): void {
  enqueueCounterInc(fleet.runtime, ids, perProgram)
}

interface TimedCycle {
  readonly ms: number
  readonly report: CycleReport
  /** Bytes the process wrote to storage from the first send to the commit (or data.mdb growth: see `io`). */
  readonly writtenBytes: number
}

let ioSource: 'proc' | 'data.mdb' | undefined

/** Sends `perProgram` "inc" to each of `ids` (untimed), then one timed runCycle, checked. */
async function incCycle(fleet: Fleet, ids: readonly ProgramId[], perProgram: number): Promise<TimedCycle> {
  const ioBefore = procWriteBytes()
  const fileBefore = dataFileBytes(fleet.dataDir)
  enqueue(fleet, ids, perProgram)
  const start = process.hrtime.bigint()
  const report = await fleet.runtime.runCycle()
  const ms = Number(process.hrtime.bigint() - start) / 1e6
  const ioAfter = procWriteBytes()
  checkReport(fleet.label, report, ids.length * perProgram)
  let writtenBytes: number
  if (ioBefore !== undefined && ioAfter !== undefined && ioAfter > ioBefore) {
    writtenBytes = ioAfter - ioBefore
    ioSource ??= 'proc'
  } else {
    writtenBytes = dataFileBytes(fleet.dataDir) - fileBefore
    ioSource = 'data.mdb'
  }
  return { ms, report, writtenBytes }
}

/** The counter's value must equal the "inc" messages sent to it. */
async function checkCount(fleet: Fleet, id: ProgramId, expected: number): Promise<void> {
  const { payload } = await fleet.runtime.query(id, new TextEncoder().encode('get'))
  const value = Number(new TextDecoder().decode(payload))
  if (value !== expected) throw new Error(`${fleet.label}: program ${id} counted ${value}, expected ${expected}`)
}

interface RawMessage {
  readonly id: string
  readonly source: string
  readonly destination: string
  readonly payload: Uint8Array
  readonly gasLimit: number
}

/** The raw baseline: a 2-worker Piscina pool moving the cycle's messages in tasks of RAW_MSGS_PER_TASK. */
class RawPiscina {
  readonly #pool = new Piscina({
    filename: RAW_WORKER_PATH, minThreads: RAW_WORKERS, maxThreads: RAW_WORKERS, idleTimeout: Infinity,
    concurrentTasksPerWorker: 1,
  })
  readonly #packr = new Packr({ useRecords: false, variableMapSize: true, moreTypes: false })

  /** Ms to move `messages` through the pool and back; checks every task came back whole. */
  async sample(messages: readonly RawMessage[]): Promise<number> {
    const start = process.hrtime.bigint()
    const tasks: Promise<void>[] = []
    for (let at = 0; at < messages.length; at += RAW_MSGS_PER_TASK) {
      const part = messages.slice(at, at + RAW_MSGS_PER_TASK)
      const packed = this.#packr.pack(part)
      const bytes = new Uint8Array(packed.buffer.slice(packed.byteOffset, packed.byteOffset + packed.byteLength))
      tasks.push(this.#pool.run(Piscina.move(bytes)).then((result: Uint8Array) => {
        const back = this.#packr.unpack(result) as RawMessage[]
        if (back.length !== part.length || back[0]!.id !== part[0]!.id) {
          throw new Error(`raw task: ${back.length}/${part.length} messages came back`)
        }
      }))
    }
    await Promise.all(tasks)
    return Number(process.hrtime.bigint() - start) / 1e6
  }

  async close(): Promise<void> {
    await this.#pool.destroy()
  }
}

/** The messages one e2e cycle runs, in the runtime's order (20 rounds over the programs), with 64-hex ids. */
function rawMessages(ids: readonly ProgramId[]): RawMessage[] {
  const messages: RawMessage[] = []
  let nonce = 0
  for (let k = 0; k < MSGS_PER_PROGRAM; k += 1) {
    for (const destination of ids) {
      const id = createHash('sha256').update(`${USER}:${nonce}`).digest('hex')
      nonce += 1
      messages.push({ id, source: USER, destination, payload: Uint8Array.from(INC), gasLimit: HANDLE_GAS_LIMIT })
    }
  }
  return messages
}

interface BytesSample {
  readonly written: number[]
  readonly dirtyPlanes: number[]
}

function bytesRows(name: string, bytes: BytesSample, estimateValues: boolean): BenchRow[] {
  const written = median(bytes.written)
  const dirty = median(bytes.dirtyPlanes)
  const wholePlanes = dirty * PLANE_SIZE_BYTES
  const source = ioSource === 'data.mdb' ? 'data.mdb growth (/proc/self/io unreadable)' : '/proc/self/io write_bytes'
  const rows = [
    timeRow(SUITE, `bytes written per cycle, ${name} (${source}; ${count(dirty)} dirty planes)`, written, 'bytes',
      `whole 64 KiB planes: dirty planes x 65,536`, wholePlanes, 'report', true),
  ]
  if (estimateValues) {
    rows.push(timeRow(SUITE, `LMDB plane value bytes per cycle, ${name} (estimated: one 4 KiB chunk per dirty plane)`,
      dirty * STORE_CHUNK_SIZE_BYTES, 'bytes', 'whole 64 KiB planes: dirty planes x 65,536', wholePlanes, 'report', true))
  }
  return rows
}

async function benchEndToEnd(): Promise<BenchRow[]> {
  let s2: Fleet | undefined
  let s1: Fleet | undefined
  const raw = new RawPiscina()
  try {
    log(`e2e: opening two durable fleets of ${count(PROGRAM_COUNT)} counters (streams 2 and 1)`)
    s2 = await openCounters('e2e-s2', 2, PROGRAM_COUNT, PROGRAM_COUNT)
    s1 = await openCounters('e2e-s1', 1, PROGRAM_COUNT, PROGRAM_COUNT)
    const messages = rawMessages(s2.ids)
    const ms = { s2: [] as number[], s1: [] as number[], raw: [] as number[] }
    const scaling: number[] = []
    const bytes: BytesSample = { written: [], dirtyPlanes: [] }
    // Round 0 warms up (code in every worker, JIT settled, state blocks at their final size, LMDB pages mapped).
    for (let round = 0; round <= ROUNDS; round += 1) {
      let c2!: TimedCycle
      let c1!: TimedCycle
      for (const which of round % 2 === 0 ? ['s2', 's1'] : ['s1', 's2']) {
        if (which === 's2') c2 = await incCycle(s2, s2.ids, MSGS_PER_PROGRAM)
        else c1 = await incCycle(s1, s1.ids, MSGS_PER_PROGRAM)
      }
      const rawMs = await raw.sample(messages)
      if (round === 0) continue
      ms.s2.push(c2.ms)
      ms.s1.push(c1.ms)
      ms.raw.push(rawMs)
      scaling.push(c1.ms / c2.ms)
      bytes.written.push(c2.writtenBytes)
      bytes.dirtyPlanes.push(c2.report.dirtyPlanes)
      log(`e2e round ${round}/${ROUNDS}: streams 2 ${c2.ms.toFixed(0)} ms, streams 1 ${c1.ms.toFixed(0)} ms, raw ${rawMs.toFixed(0)} ms, ` +
        `${count(c2.writtenBytes)} bytes written, ${c2.report.dirtyPlanes} dirty planes`)
    }
    const incs = (ROUNDS + 1) * MSGS_PER_PROGRAM
    for (const fleet of [s2, s1]) {
      await checkCount(fleet, fleet.ids[0]!, incs)
      await checkCount(fleet, fleet.ids.at(-1)!, incs)
    }
    if (s2.runtime.stateRoot() !== s1.runtime.stateRoot()) throw new Error('streams 2 and streams 1 ended with different state roots')
    const rate = (samples: number[]): number => MSGS_PER_CYCLE / (median(samples) / 1_000)
    const [r2, r1, rRaw] = [rate(ms.s2), rate(ms.s1), rate(ms.raw)]
    const e2eName = `e2e inc, ${count(PROGRAM_COUNT)} programs, streams = 2, durable LMDB`
    const rawName = `raw Piscina, ${RAW_WORKERS} workers, ${MSGS_PER_CYCLE / RAW_MSGS_PER_TASK} tasks x ${count(RAW_MSGS_PER_TASK)} msgs`
    return [
      rateRow(SUITE, e2eName, r2, 'msgs/s', rawName, rRaw,
        `>= ${count(TARGET_MSGS_PER_S)} msgs/s and ratio >= ${TARGET_RAW_RATIO}`,
        r2 >= TARGET_MSGS_PER_S && r2 / rRaw >= TARGET_RAW_RATIO),
      rateRow(SUITE, rawName, rRaw, 'msgs/s', 'target', TARGET_MSGS_PER_S, 'report', true),
      {
        ...rateRow(SUITE, 'scaling, streams 2 / 1 (durable LMDB, per-round ratios)', r2, 'msgs/s',
          'streams = 1, same rounds', r1, `ratio >= ${TARGET_SCALING} (2 cores)`, median(scaling) >= TARGET_SCALING),
        ratio: median(scaling),
      },
      ...bytesRows(`e2e (${count(MSGS_PER_CYCLE)} inc, ${count(PROGRAM_COUNT)} counters)`, bytes, true),
    ]
  } finally {
    await closeFleet(s2)
    await closeFleet(s1)
    await raw.close()
  }
}

/** One timed reopen: open (no workers), the state root (checked), close. */
async function reopen(dataDir: string, expectedRoot: string): Promise<number> {
  const start = performance.now()
  const runtime = await Runtime.open({ dataDir, streams: 0 })
  let root: string
  try {
    root = runtime.stateRoot()
  } finally {
    await runtime.close()
  }
  const ms = performance.now() - start
  if (root !== expectedRoot) throw new Error(`reopened ${dataDir}: state root ${root}, expected ${expectedRoot}`)
  return ms
}

async function benchCreate(): Promise<BenchRow[]> {
  let large: (Fleet & { ms: number }) | undefined
  let small: Fleet | undefined
  try {
    // Row 3: creation, durable. Past the first 10%, decide whether the full count fits the time budget.
    const tenth = CREATE_PROGRAMS / 10
    let tenthMs = 0
    let target = CREATE_PROGRAMS
    log(`create: ${count(CREATE_PROGRAMS)} counters, batches of ${count(CREATE_BATCH)}, durable LMDB, streams 2`)
    large = await openCounters('create', 2, CREATE_PROGRAMS, CREATE_BATCH, (created, ms) => {
      if (created === tenth) {
        tenthMs = ms
        if ((ms * 10) / 1_000 > CREATE_BUDGET_S) target = CREATE_FALLBACK
        log(`create: first ${count(tenth)} in ${(ms / 1_000).toFixed(1)} s; creating ${count(target)}`)
      } else if (created % (CREATE_BATCH * 4) === 0) {
        log(`create: ${count(created)} in ${(ms / 1_000).toFixed(1)} s, RSS ${(process.memoryUsage().rss / MIB).toFixed(0)} MiB`)
      }
      return created < target
    })
    const created = large.ids.length
    if (created !== target || tenthMs === 0) throw new Error(`create: ${created} programs created, wanted ${target}`)
    const extrapolated = created !== CREATE_PROGRAMS
    const createS = (large.ms / 1_000) * (CREATE_PROGRAMS / created)
    log(`create: ${count(created)} in ${(large.ms / 1_000).toFixed(1)} s`)
    const storeName = extrapolated ? `${count(created)}-program store (100,000 infeasible)` : `${count(created)}-program store`

    // Row 4: 100 programs spread over the large store, against a store of 100.
    small = await openCounters('small', 2, ACTIVE_COUNT, ACTIVE_COUNT)
    const spread = Array.from({ length: ACTIVE_COUNT }, (_, i) => large!.ids[Math.floor((i * created) / ACTIVE_COUNT)]!)
    const times: [number[], number[]] = [[], []]
    const smallBytes: BytesSample = { written: [], dirtyPlanes: [] }
    const largeBytes: BytesSample = { written: [], dirtyPlanes: [] }
    for (let s = -CYCLE_WARMUPS; s < CYCLE_SAMPLES; s += 1) {
      for (const i of s % 2 === 0 ? [0, 1] : [1, 0]) {
        const cycle = i === 0 ? await incCycle(small, small.ids, 1) : await incCycle(large, spread, 1)
        if (s < 0) continue
        times[i as 0 | 1].push(cycle.ms)
        const bytes = i === 0 ? smallBytes : largeBytes
        bytes.written.push(cycle.writtenBytes)
        bytes.dirtyPlanes.push(cycle.report.dirtyPlanes)
      }
    }
    const cycles = CYCLE_WARMUPS + CYCLE_SAMPLES
    await checkCount(large, spread[0]!, cycles)
    await checkCount(large, spread.at(-1)!, cycles)
    await checkCount(small, small.ids[0]!, cycles)
    const [smallMs, largeMs] = [median(times[0]), median(times[1])]
    log(`cycles of ${ACTIVE_COUNT}: ${largeMs.toFixed(1)} ms on the large store, ${smallMs.toFixed(1)} ms on the small one`)

    // Row 5: reopen both, closed, alternating.
    const largeRoot = large.runtime.stateRoot()
    const smallRoot = small.runtime.stateRoot()
    await large.runtime.close()
    await small.runtime.close()
    await reopen(small.dataDir, smallRoot)
    await reopen(large.dataDir, largeRoot)
    const reopens: [number[], number[]] = [[], []]
    for (let round = 0; round < REOPEN_ROUNDS; round += 1) {
      reopens[0].push(await reopen(small.dataDir, smallRoot))
      reopens[1].push(await reopen(large.dataDir, largeRoot))
    }
    const [smallReopen, largeReopen] = [median(reopens[0]), median(reopens[1])]
    log(`reopen: ${largeReopen.toFixed(1)} ms large, ${smallReopen.toFixed(1)} ms small`)

    const createName = extrapolated
      ? `create 100,000 programs + inits, durable (measured ${count(created)}, extrapolated linearly)`
      : `create ${count(created)} programs + inits, durable`
    return [
      timeRow(SUITE, createName, createS, 's', `first 10% (${count(tenth)}) x 10`, (tenthMs * 10) / 1_000,
        `< ${TARGET_CREATE_S} s`, createS < TARGET_CREATE_S),
      timeRow(SUITE, `cycle, ${ACTIVE_COUNT} programs x 1 inc, ${storeName}`, largeMs, 'ms',
        `${ACTIVE_COUNT}-program store`, smallMs, `<= ${TARGET_CYCLE_GROWTH}x baseline`, largeMs / smallMs <= TARGET_CYCLE_GROWTH),
      timeRow(SUITE, `reopen (streams 0, stateRoot, close), ${storeName}`, largeReopen, 'ms',
        `${ACTIVE_COUNT}-program store`, smallReopen, `< ${count(TARGET_REOPEN_MS)} ms`, largeReopen < TARGET_REOPEN_MS),
      ...bytesRows(`${ACTIVE_COUNT} programs x 1 inc (${ACTIVE_COUNT}-program store)`, smallBytes, false),
      ...bytesRows(`${ACTIVE_COUNT} programs x 1 inc (${storeName})`, largeBytes, false),
    ]
  } finally {
    await closeFleet(large)
    await closeFleet(small)
  }
}

/**
 * A data directory of `programs` "planes" programs (bench/fixtures/planes.ts), each touched once (ten one-plane
 * heap blocks written), built with sync: false in cycles of PROGRAMS_PER_CYCLE. Returns the build's wall ms.
 */
async function buildPlanes(label: string, programs: number): Promise<{ dataDir: string; ms: number }> {
  const dataDir = tempDir(label)
  try {
    const began = performance.now()
    const runtime = await Runtime.open({ dataDir, sync: false, streams: RESIDENT_STREAMS, residentBytesMax: RESIDENT_BUDGET_BYTES })
    try {
      await populatePlanes(runtime, label, programs, true, (touched) => {
        if ((touched / PROGRAMS_PER_CYCLE) % 25 === 0) log(`${label}: ${count(touched)} programs touched`)
      })
    } finally {
      await runtime.close()
    }
    return { dataDir, ms: performance.now() - began }
  } catch (error) {
    rmSync(dataDir, { recursive: true, force: true })
    throw error
  }
}


/** fixtures/resident_run.mjs in a fresh node process (bench/resident.ts). */
function residentRun(dataDir: string, programs: number): Promise<ResidentRun> {
  // The build touched every byte once; the run adds one.
  return runResident({
    dataDir, budgetBytes: RESIDENT_BUDGET_BYTES, streams: RESIDENT_STREAMS, programsPerCycle: PROGRAMS_PER_CYCLE, programs,
    expectedByte: 2, label: `${programs} programs`,
  })
}

async function benchResident(): Promise<BenchRow[]> {
  const dirs: string[] = []
  try {
    log(`resident: building ${count(RESIDENT_PROGRAMS)} programs x ${PLANES_PER_PROGRAM} planes (sync: false)`)
    const large = await buildPlanes('resident-large', RESIDENT_PROGRAMS)
    dirs.push(large.dataDir)
    log(`resident: built in ${(large.ms / 1_000).toFixed(1)} s, data.mdb ${(dataFileBytes(large.dataDir) / MIB).toFixed(0)} MiB`)
    const small = await buildPlanes('resident-small', RESIDENT_BASELINE_PROGRAMS)
    dirs.push(small.dataDir)
    const bounded = await residentRun(large.dataDir, RESIDENT_PROGRAMS)
    log(`resident: ${count(RESIDENT_PROGRAMS)} run in ${(bounded.ms / 1_000).toFixed(1)} s, VmHWM ${bounded.peakRssMiB.toFixed(0)} MiB`)
    const baseline = await residentRun(small.dataDir, RESIDENT_BASELINE_PROGRAMS)
    const gib = (programs: number): string => ((programs * PLANES_PER_PROGRAM * PLANE_SIZE_BYTES) / 1024 / MIB).toFixed(2)
    const budgetMiB = RESIDENT_BUDGET_BYTES / MIB
    const limitMiB = budgetMiB * (RESIDENT_STREAMS + 1) + RSS_HEADROOM_MIB
    const set = `${count(RESIDENT_PROGRAMS)} programs x ${PLANES_PER_PROGRAM} planes (${gib(RESIDENT_PROGRAMS)} GiB), ` +
      `budget ${budgetMiB} MiB, ${RESIDENT_STREAMS} streams`
    const baseName = `${count(RESIDENT_BASELINE_PROGRAMS)} x ${PLANES_PER_PROGRAM} planes (${gib(RESIDENT_BASELINE_PROGRAMS)} GiB), same budget`
    const target = `< budget x (streams + 1) + ${RSS_HEADROOM_MIB} MiB = ${limitMiB} MiB`
    return [
      timeRow(SUITE, `peak RSS (VmHWM), ${set}`, bounded.peakRssMiB, 'MiB', baseName, baseline.peakRssMiB, target,
        bounded.peakRssMiB < limitMiB),
      timeRow(SUITE, 'peak RssAnon (RSS less the LMDB map), same runs', bounded.peakAnonMiB, 'MiB', baseName,
        baseline.peakAnonMiB, target, bounded.peakAnonMiB < limitMiB),
      timeRow(SUITE, 'peak RssFile (LMDB map pages), same runs', bounded.peakFileMiB, 'MiB', baseName,
        baseline.peakFileMiB, 'report', true),
      timeRow(SUITE, `build of the ${count(RESIDENT_PROGRAMS)} x ${PLANES_PER_PROGRAM} set (create, init, one touch each; sync: false)`,
        large.ms / 1_000, 's', `${count(RESIDENT_BASELINE_PROGRAMS)} x ${PLANES_PER_PROGRAM} set x 10`, (small.ms * 10) / 1_000, 'report', true),
      timeRow(SUITE, 'resident run wall time (open, one touch of every plane, close)', bounded.ms / 1_000, 's',
        `${baseName} x 10`, (baseline.ms * 10) / 1_000, 'report', true),
    ]
  } finally {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
  }
}

export default async function hotpathBench(): Promise<BenchRow[]> {
  const began = performance.now()
  const rows = [...await benchEndToEnd(), ...await benchCreate(), ...await benchResident()]
  for (const row of rows) {
    if (!Number.isFinite(row.value) || row.value <= 0) throw new Error(`${row.name}: bad measurement ${row.value}`)
  }
  log(`done in ${((performance.now() - began) / 1_000).toFixed(0)} s`)
  return rows
}
