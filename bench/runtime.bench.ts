/**
 * End to end: the Runtime running programs/counter.ts "inc" (load state, add one, save state, reply) on 1,000
 * programs, next to a raw Piscina batch baseline measured in the same run, and cycle time against program count.
 * Run: `npm run build --silent; node bench/run.mjs runtime` (the runtime runs from dist/, so build first).
 *
 * Every figure but the two LMDB rows runs on the in-memory store (`store: 'memory'`): these are the figures this
 * file has always reported (before persistence the runtime had no other store). The LMDB rows run the same
 * workload on `Runtime.open({ dataDir, streams: 2, sync })` in a fresh temp directory (removed afterwards).
 *
 *   figure                                what is timed                                 baseline
 *   e2e inc, streams = 0 / 1 / 2          runCycle() over 20,000 queued "inc" (20 per     raw Piscina, 2 workers: the same
 *                                         program, round-robin), 2 cycles per sample;     batches, msgpackr-encoded and
 *                                         sends are outside the timed part                moved, decoded, nothing done
 *   scaling streams 2 / 1                 the streams = 2 figure                          the streams = 1 figure
 *   raw Piscina batch                     the baseline itself                             the 500k msgs/s target
 *   cycle, 100 active of 100 / 20,000     runCycle() with one "inc" to each of the same   the same with 100 programs
 *                                         100 programs (streams = 2)
 *   init per program                      createProgram + init cycles of 2,000 programs  one "inc" at streams = 2
 *   e2e inc, streams = 2, LMDB (durable)  as e2e inc, streams = 2, on LMDB: every cycle    the in-memory streams = 2
 *   e2e inc, streams = 2, LMDB (sync:       one atomic commit (fsync'd when durable) of    figure (ratio = LMDB /
 *     false)                                ~1,000 dirty planes; workers read planes from  memory, median of the
 *                                           LMDB (1,000 counters fit the 256 MiB budget)   per-round ratios)
 *
 * Each e2e figure is the median of 5 rounds; a round runs streams 0, 1, 2, the two LMDB fleets and the raw
 * baseline once each, so drift on the shared machine hits all of them alike. The LMDB fleets must end with the
 * in-memory fleet's state root. Every cycle is checked (all processed, none failed), and the
 * counters are queried at the end, so a figure cannot come from work that did not happen.
 *
 * Why 'strata' and not '../src/index.js': run.mjs bundles this file into bench/.out/, and a bundled copy of src
 * resolves its worker (pool.ts) and guest API (bundle.ts) next to itself, bench/.out/worker.js and guest.js,
 * which do not exist. 'strata' is the package's self-reference to dist/; run.mjs keeps packages external, so
 * the bench runs exactly the compiled code users run.
 *
 * Why 20,000 and not 100,000 programs: a counter holds two 64 KiB planes (state header in the static region,
 * state data in the heap), kept whole on the main thread (MemoryImage) and again in its stream's worker (with
 * chunk trees): RSS was ~4.7 GB at 20,000, so ~24 GB at 100,000 on a 24 GiB machine. And an init costs ~1-2.7 ms
 * (rows below), so 100,000 inits alone would take 2-4 minutes.
 *
 * The watchdog limits each message's run time (messageTimeoutMs), not a whole cycle, so large cycles need no
 * special setting (an earlier per-cycle deadline faulted the runtime when it fired between messages).
 *
 * Last results: 2-core VM (firecracker, nproc 2), 24 GiB, Node 20.20.2, commit 965fb4b (chunk-level deltas),
 * dist built 02:53. Three runs, with other engineers' test suites on the machine (load 2.5-4.7): ranges.
 *
 *   figure                                  value                 baseline (same run)          ratio       target
 *   e2e inc, streams = 0 (main thread)      27.4k - 32.5k msgs/s  raw Piscina 156k - 205k      0.16 - 0.20 report
 *   e2e inc, streams = 1                    13.6k - 15.8k msgs/s  raw Piscina                  0.08 - 0.10 report
 *   e2e inc, streams = 2                    21.0k - 24.2k msgs/s  raw Piscina                  0.11 - 0.15 >= 0.5  not met
 *   e2e inc, streams = 2, absolute          21.0k - 24.2k msgs/s  500k                         0.04 - 0.05 >= 500k not met
 *   scaling, streams 2 / 1                  (as above)            streams = 1                  1.42 - 1.56 >= 1.8  not met
 *   raw Piscina, 2 workers, decode only     156k - 205k msgs/s    500k                         0.31 - 0.41 report
 *   cycle, 100 active of 20,000 programs    18.0 - 42.9 ms        100 of 100: 20.9 - 54.8 ms   1.11 - 1.28 <= 1.2x met
 *                                           (ratio = baseline / value: 20,000 programs took 0.78 - 0.90x the time)
 *   init per program, first 2,000           0.82 - 1.01 ms        one inc at streams = 2, ~45 us            report
 *   init per program, 18,000 - 20,000       0.86 - 2.71 ms        (grows with the heap in busy runs only)   report
 *
 * LMDB rows: commit cde9644 (the Runtime on LMDB, with the main thread's plane cache) and 3481b71, two runs at
 * load 3-7 (other engineers' suites and CLI runs on the machine, which is why every figure of those runs, the
 * in-memory ones included, is 1.5-2.5x below the table above; compare ratios):
 *
 *   figure                                  value                 baseline (same run)          ratio
 *   e2e inc, streams = 2, LMDB (durable)    9.4k - 10.3k msgs/s   in-memory, streams = 2       0.90 - 0.94
 *                                                                 10.1k - 11.4k
 *   e2e inc, streams = 2, LMDB (sync:       10.6k - 13.2k msgs/s  in-memory, streams = 2       1.05 - 1.10
 *     false)
 *
 * A durable cycle (20,000 messages, 1,000 dirty planes, ~2 s at these rates) pays one fsync'd commit of those
 * planes (~60-70 ms, bench/store.bench.ts); with sync: false LMDB matched the memory store within the noise.
 *
 * Streams = 0 beats streams = 2: the threads cost more than they win. The raw baseline itself misses 500k:
 * msgpackr plain maps of Messages with four 64-hex ids cost ~2.5-4 us to pack on the main thread (serial for
 * both streams) and ~2 us to unpack. The 100-active cycle is mostly dispatch and wake-up latency of five
 * threads on 2 cores (min ~4.5 ms, median 14-38 ms in isolation); with 20,000 programs it is not slower (it
 * was 10-20% faster in every run, order alternated; unexplained).
 *
 * Profile, streams = 2 (node --cpu-prof, 200 us sampling, 3 samples = 120,000 messages, window-filtered):
 *   main thread: idle 64% (waiting for workers); result decode 11% (msgpackr unpack of plain-map journal
 *     entries ~8-11 us each, then the revive walk 2.5%); GC 8%; sends 7% (untimed: SHA-256 external ids, id
 *     regex checks); task encode 6%; applyEntry + image apply ~2%.
 *   each worker: Atomics.wait 28% (idle while the main thread encodes, decodes and applies). Of the busy rest:
 *     executeMessage 70% (the handler 36%: ctx.reply 17% of which childMessageId's SHA-256 + hex 11%, ctx.state
 *     load 15% = memory.load copies + msgpack unpack; saveState 11%; encodeState 4%; begin/commit 6%),
 *     result encode 20% (msgpackr pack of journal entries, ~750 B each, 7 hex ids), deltas 6% (chunk rehash,
 *     metadata), task decode 4%.
 */
import path from 'node:path'
import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { Packr } from 'msgpackr'
import { Piscina } from 'piscina'
import { MessageKind, Runtime, type Message, type ProgramId } from 'strata-runtime'
import { streamOf } from '../src/scheduler/assign.js'
import {
  median, rateRow, timeRow, type BenchRow,
  COUNTER_USER as USER, COUNTER_INC as INC, COUNTER_INIT_GAS_LIMIT as INIT_GAS_LIMIT, COUNTER_HANDLE_GAS_LIMIT as HANDLE_GAS_LIMIT,
  COUNTER_PROGRAM_COUNT as PROGRAM_COUNT, COUNTER_MSGS_PER_PROGRAM as MSGS_PER_PROGRAM,
  COUNTER_PATH, fixturePath,
  enqueueCounterInc,
} from './harness.js'

const SUITE = 'runtime'
const RAW_WORKER_PATH = fixturePath('raw_worker.mjs')


const CYCLES_PER_SAMPLE = 2
const ROUNDS = 5
const STREAM_COUNTS = [0, 1, 2] as const
const RAW_STREAMS = 2

const ACTIVE_COUNT = 100
/** The largest fleet that fits the bench's ~2 minute budget (see the header); 100,000 is the target. */
const LARGE_FLEET = 20_000
/** Inits per cycle when building the large fleet: ~2-4 s per stream, well under the watchdog. */
const INIT_BATCH = 2_000
const CYCLE_SAMPLES = 41

const TARGET_MSGS_PER_S = 500_000
const TARGET_SCALING = 1.8
const TARGET_RAW_RATIO = 0.5
const TARGET_CYCLE_GROWTH = 1.2

export interface Fleet {
  readonly runtime: Runtime
  readonly ids: readonly ProgramId[]
  /** Wall ms of each init batch (createProgram calls + the cycles that ran the inits). */
  readonly initMs: readonly number[]
  /** The LMDB data directory (a temp directory), if the fleet is on LMDB. */
  readonly dataDir?: string
}

const salt = (i: number): Uint8Array => new TextEncoder().encode(String(i))

/**
 * Where a fleet keeps its state: the in-memory store (what the e2e, scaling and cycle figures have always
 * measured), or LMDB in a fresh temp directory (removed when the fleet closes), durable or with sync: false.
 */
export type Storage = { readonly store: 'memory' } | { readonly store: 'lmdb'; readonly sync: boolean }
const MEMORY: Storage = { store: 'memory' }

async function openRuntime(streams: number, storage: Storage): Promise<{ runtime: Runtime; dataDir?: string }> {
  if (storage.store === 'memory') return { runtime: await Runtime.open({ store: 'memory', streams }) }
  const dataDir = mkdtempSync(path.join(tmpdir(), 'strata-bench-runtime-'))
  try {
    return { runtime: await Runtime.open({ dataDir, streams, sync: storage.sync }), dataDir }
  } catch (error) {
    rmSync(dataDir, { recursive: true, force: true })
    throw error
  }
}

/** Closes the fleet's runtime and removes its data directory, if it has one. */
export async function closeFleet(fleet: Fleet): Promise<void> {
  try {
    await fleet.runtime.close()
  } finally {
    if (fleet.dataDir !== undefined) rmSync(fleet.dataDir, { recursive: true, force: true })
  }
}

/** A runtime with `count` initialized counters, inits run `initBatch` at a time. */
export async function openFleet(streams: number, count: number, initBatch = count, storage: Storage = MEMORY): Promise<Fleet> {
  const { runtime, dataDir } = await openRuntime(streams, storage)
  const fleet: Fleet = { runtime, ids: [], initMs: [], ...(dataDir !== undefined ? { dataDir } : {}) }
  try {
    const code = await runtime.uploadCode(COUNTER_PATH)
    const ids = fleet.ids as ProgramId[]
    const initMs = fleet.initMs as number[]
    for (let start = 0; start < count; start += initBatch) {
      const began = performance.now()
      for (let i = start; i < Math.min(count, start + initBatch); i += 1) {
        ids.push(await runtime.createProgram(code, { salt: salt(i), gasLimit: INIT_GAS_LIMIT }))
      }
      for (const report of await runtime.runUntilIdle()) {
        if (report.failed !== 0) throw new Error(`fleet of ${count}: ${report.failed} inits failed`)
      }
      initMs.push(performance.now() - began)
    }
    return fleet
  } catch (error) {
    await closeFleet(fleet)
    throw error
  }
}

function enqueue(fleet: Fleet, ids: readonly ProgramId[], perProgram: number): void {
  enqueueCounterInc(fleet.runtime, ids, perProgram)
}

/** One timed cycle of what is queued; checks that all of it ran and succeeded. */
async function timedCycle(fleet: Fleet, expected: number): Promise<number> {
  const start = process.hrtime.bigint()
  const report = await fleet.runtime.runCycle()
  const ms = Number(process.hrtime.bigint() - start) / 1e6
  if (report.processed !== expected || report.failed !== 0 || report.queueLength !== 0) {
    throw new Error(`cycle ${report.cycle}: processed ${report.processed}/${expected}, failed ${report.failed}`)
  }
  return ms
}

/** Ms for `cycles` cycles of MSGS_PER_PROGRAM "inc" to every program of the fleet (sends untimed). */
export async function e2eSample(fleet: Fleet, cycles = CYCLES_PER_SAMPLE): Promise<number> {
  let ms = 0
  for (let c = 0; c < cycles; c += 1) {
    enqueue(fleet, fleet.ids, MSGS_PER_PROGRAM)
    ms += await timedCycle(fleet, fleet.ids.length * MSGS_PER_PROGRAM)
  }
  return ms
}

/** The counter's value must equal the "inc" messages sent to it. */
async function checkCount(fleet: Fleet, id: ProgramId, expected: number): Promise<void> {
  const { payload } = await fleet.runtime.query(id, new TextEncoder().encode('get'))
  const value = Number(new TextDecoder().decode(payload))
  if (value !== expected) throw new Error(`program ${id} counted ${value}, expected ${expected}`)
}

/**
 * The raw baseline: one pinned single-thread pool per stream, as src/scheduler/pool.ts builds them, fed the
 * same cycle batches (one task per stream per cycle, msgpackr with protocol.ts's options, buffer moved).
 */
class RawPiscina {
  readonly #pools: Piscina[]
  readonly #packr = new Packr({ useRecords: false, variableMapSize: true, moreTypes: false })

  constructor(streams: number) {
    this.#pools = Array.from({ length: streams }, () => new Piscina({
      filename: RAW_WORKER_PATH, minThreads: 1, maxThreads: 1, idleTimeout: Infinity, concurrentTasksPerWorker: 1,
    }))
  }

  async runCycle(cycle: number, batch: readonly Message[]): Promise<number> {
    const groups = this.#pools.map(() => [] as Message[])
    for (const message of batch) groups[streamOf(message.destination, this.#pools.length)]!.push(message)
    const counts = await Promise.all(groups.map(async (messages, stream) => {
      if (messages.length === 0) return 0
      const packed = this.#packr.pack({ cycle, stream, messages })
      // A fresh ArrayBuffer of exactly this length, as protocol.ts's encodeMessage makes, moved not copied.
      const bytes = new Uint8Array(packed.buffer.slice(packed.byteOffset, packed.byteOffset + packed.byteLength))
      const result = await this.#pools[stream]!.run(Piscina.move(bytes)) as { count: number }
      return result.count
    }))
    return counts.reduce((a, b) => a + b, 0)
  }

  async close(): Promise<void> {
    await Promise.all(this.#pools.map((pool) => pool.destroy()))
  }
}

/** The messages the runtime would queue for one cycle: same shape, ids, order and destinations. */
function rawBatch(ids: readonly ProgramId[], nonceStart: number): Message[] {
  const batch: Message[] = []
  let nonce = nonceStart
  for (let k = 0; k < MSGS_PER_PROGRAM; k += 1) {
    for (const destination of ids) {
      const id = createHash('sha256').update(`${USER}:${nonce}`).digest('hex') as Message['id']
      nonce += 1
      batch.push({
        id, kind: MessageKind.HANDLE, source: USER as Message['source'], destination, payload: Uint8Array.from(INC),
        gasLimit: HANDLE_GAS_LIMIT, origin: id,
      })
    }
  }
  return batch
}

async function rawSample(raw: RawPiscina, batches: readonly Message[][]): Promise<number> {
  const start = process.hrtime.bigint()
  for (const [cycle, batch] of batches.entries()) {
    const count = await raw.runCycle(cycle + 1, batch)
    if (count !== batch.length) throw new Error(`raw cycle: ${count}/${batch.length} messages decoded`)
  }
  return Number(process.hrtime.bigint() - start) / 1e6
}

/** The e2e fleets: the in-memory store at each stream count, and LMDB at 2 streams, durable and not. */
type FleetKey = 0 | 1 | 2 | 'lmdb' | 'lmdb-nosync'
const LMDB_STREAMS = 2
const FLEETS: readonly { readonly key: FleetKey; readonly streams: number; readonly storage: Storage }[] = [
  ...STREAM_COUNTS.map((streams) => ({ key: streams, streams, storage: MEMORY })),
  { key: 'lmdb', streams: LMDB_STREAMS, storage: { store: 'lmdb', sync: true } },
  { key: 'lmdb-nosync', streams: LMDB_STREAMS, storage: { store: 'lmdb', sync: false } },
]

async function benchEndToEnd(): Promise<{ rows: BenchRow[]; handleUs: number }> {
  const fleets = new Map<FleetKey, Fleet>()
  const raw = new RawPiscina(RAW_STREAMS)
  try {
    for (const { key, streams, storage } of FLEETS) fleets.set(key, await openFleet(streams, PROGRAM_COUNT, PROGRAM_COUNT, storage))
    const ids = fleets.get(2)!.ids
    const batches = Array.from({ length: CYCLES_PER_SAMPLE }, (_, c) => rawBatch(ids, c * ids.length * MSGS_PER_PROGRAM))
    const messagesPerSample = CYCLES_PER_SAMPLE * ids.length * MSGS_PER_PROGRAM
    const ms = new Map<FleetKey | 'raw', number[]>([...FLEETS.map(({ key }) => [key, []] as [FleetKey, number[]]), ['raw', []]])
    // Round 0 warms up (code loaded in every worker, JIT settled, state blocks at their final size).
    for (let round = 0; round <= ROUNDS; round += 1) {
      for (const { key } of FLEETS) {
        const sample = await e2eSample(fleets.get(key)!)
        if (round > 0) ms.get(key)!.push(sample)
      }
      const sample = await rawSample(raw, batches)
      if (round > 0) ms.get('raw')!.push(sample)
    }
    const incs = (ROUNDS + 1) * CYCLES_PER_SAMPLE * MSGS_PER_PROGRAM
    for (const fleet of fleets.values()) {
      await checkCount(fleet, fleet.ids[0]!, incs)
      await checkCount(fleet, fleet.ids.at(-1)!, incs)
    }
    // The LMDB fleets computed what the in-memory one did: the same programs, messages and so state roots.
    const memoryRoot = fleets.get(LMDB_STREAMS)!.runtime.stateRoot()
    for (const key of ['lmdb', 'lmdb-nosync'] as const) {
      const root = fleets.get(key)!.runtime.stateRoot()
      if (root !== memoryRoot) throw new Error(`${key}: state root ${root}, in-memory store ${memoryRoot}`)
    }
    const rate = (key: FleetKey | 'raw'): number => messagesPerSample / (median(ms.get(key)!) / 1_000)
    const [r0, r1, r2, rRaw] = [rate(0), rate(1), rate(2), rate('raw')]
    const name = (streams: number): string =>
      `e2e inc, ${PROGRAM_COUNT.toLocaleString('en-US')} programs, streams = ${streams}${streams === 0 ? ' (main thread)' : ''}`
    const rawName = `raw Piscina, ${RAW_STREAMS} workers, decode only`
    // LMDB against the in-memory store: the median of per-round ratios (the two ran back to back in each round),
    // so drift on the shared machine cancels out.
    const lmdbRow = (key: 'lmdb' | 'lmdb-nosync', label: string): BenchRow => {
      const perRound = ms.get(key)!.map((lmdbMs, round) => ms.get(LMDB_STREAMS)![round]! / lmdbMs)
      return {
        ...rateRow(SUITE, `${name(LMDB_STREAMS)}, LMDB (${label})`, rate(key), 'msgs/s',
          `${name(LMDB_STREAMS)}, in-memory store`, r2, 'report', true),
        ratio: median(perRound),
      }
    }
    const rows = [
      rateRow(SUITE, name(0), r0, 'msgs/s', rawName, rRaw, 'report', true),
      rateRow(SUITE, name(1), r1, 'msgs/s', rawName, rRaw, 'report', true),
      rateRow(SUITE, name(2), r2, 'msgs/s', rawName, rRaw, `ratio >= ${TARGET_RAW_RATIO}`, r2 / rRaw >= TARGET_RAW_RATIO),
      rateRow(SUITE, 'e2e inc, streams = 2, absolute', r2, 'msgs/s', 'target', TARGET_MSGS_PER_S,
        `>= ${TARGET_MSGS_PER_S.toLocaleString('en-US')} msgs/s`, r2 >= TARGET_MSGS_PER_S),
      rateRow(SUITE, 'scaling, streams 2 / 1', r2, 'msgs/s', name(1), r1, `ratio >= ${TARGET_SCALING} (2 cores)`,
        r2 / r1 >= TARGET_SCALING),
      rateRow(SUITE, rawName, rRaw, 'msgs/s', 'target', TARGET_MSGS_PER_S, 'report', true),
      lmdbRow('lmdb', 'durable'),
      lmdbRow('lmdb-nosync', 'sync: false'),
    ]
    return { rows, handleUs: 1e6 / r2 }
  } finally {
    await Promise.all([...fleets.values()].map((fleet) => closeFleet(fleet)))
    await raw.close()
  }
}

async function benchProgramCount(handleUs: number): Promise<BenchRow[]> {
  const fleets: Fleet[] = []
  try {
    const small = await openFleet(2, ACTIVE_COUNT)
    fleets.push(small)
    const large = await openFleet(2, LARGE_FLEET, INIT_BATCH)
    fleets.push(large)
    const active = (fleet: Fleet): readonly ProgramId[] => fleet.ids.slice(0, ACTIVE_COUNT)
    const times: [number[], number[]] = [[], []]
    // Alternate the two runtimes, and which goes first, so drift and the other runtime's wake-up hit both alike
    // (on 2 cores five threads share the CPU). The first cycles of each warm up.
    for (let s = -4; s < CYCLE_SAMPLES; s += 1) {
      for (const i of s % 2 === 0 ? [0, 1] : [1, 0]) {
        const fleet = i === 0 ? small : large
        enqueue(fleet, active(fleet), 1)
        const ms = await timedCycle(fleet, ACTIVE_COUNT)
        if (s >= 0) times[i as 0 | 1].push(ms)
      }
    }
    await checkCount(large, large.ids[0]!, CYCLE_SAMPLES + 4)
    const [smallMs, largeMs] = [median(times[0]), median(times[1])]
    const batches = large.initMs.length
    const initUs = (ms: number): number => (ms * 1_000) / INIT_BATCH
    const largeName = LARGE_FLEET.toLocaleString('en-US')
    return [
      timeRow(SUITE, `cycle, ${ACTIVE_COUNT} active of ${largeName} programs (100,000 infeasible)`, largeMs, 'ms',
        `${ACTIVE_COUNT} active of ${ACTIVE_COUNT}`, smallMs, `<= ${TARGET_CYCLE_GROWTH}x baseline`,
        largeMs / smallMs <= TARGET_CYCLE_GROWTH),
      timeRow(SUITE, `init per program, first ${INIT_BATCH.toLocaleString('en-US')}`, initUs(large.initMs[0]!), 'us',
        'one inc at streams = 2', handleUs, 'report', true),
      timeRow(SUITE, `init per program, programs ${(LARGE_FLEET - INIT_BATCH).toLocaleString('en-US')}-${largeName}`,
        initUs(large.initMs[batches - 1]!), 'us', 'one inc at streams = 2', handleUs, 'report', true),
    ]
  } finally {
    await Promise.all(fleets.map((fleet) => closeFleet(fleet)))
  }
}

export default async function runtimeBench(): Promise<BenchRow[]> {
  const { rows, handleUs } = await benchEndToEnd()
  rows.push(...await benchProgramCount(handleUs))
  for (const row of rows) {
    if (!Number.isFinite(row.value) || row.value <= 0) throw new Error(`${row.name}: bad measurement ${row.value}`)
  }
  return rows
}
