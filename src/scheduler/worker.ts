/**
 * A stream worker's entry: wiring only. It keeps one StreamExecutor (and so the stream's resident memories and
 * loaded codes) for its whole life, decodes each task, runs it, and returns the encoded result. Before each
 * message it records the message's index and bumps a shared counter, so the main thread's watchdog can see a
 * message that runs too long and knows which one to fail.
 */
import { workerData } from 'node:worker_threads'
import { Piscina } from 'piscina'
import type { GasSchedule } from '../gas/index.js'
import { hashPlane, nativeHasher } from '../merkle/index.js'
import { openLmdbStore, type LmdbStore } from '../store/index.js'
import { decodeTask, encodeResult } from '../protocol/index.js'
import { StreamExecutor } from './stream_executor.js'

export interface WorkerConfig {
  readonly planesMax: number
  readonly schedule: GasSchedule
  /** Int32Array over a SharedArrayBuffer: [index of the message running or -1, messages started]. */
  readonly progress: SharedArrayBuffer
  /** The LMDB data directory the stream reads committed memory from (read-only); none: tasks carry preloads. */
  readonly dataDir?: string
  readonly residentBytesMax?: number
}

const config = workerData as WorkerConfig
const progress = new Int32Array(config.progress)
let store: LmdbStore | undefined
let executor: StreamExecutor | undefined

export default async function runStream(task: Uint8Array): Promise<unknown> {
  if (executor === undefined) {
    // Opened after the writer (the runtime opens its store before its pools), read-only: no lock is taken.
    if (config.dataDir !== undefined) {
      store = await openLmdbStore({ dataDir: config.dataDir, readOnly: true, verify: (bytes) => hashPlane(nativeHasher, bytes) })
    }
    executor = new StreamExecutor({
      schedule: config.schedule, planesMax: config.planesMax,
      ...(store !== undefined ? { source: store } : {}),
      ...(config.residentBytesMax !== undefined ? { residentBytesMax: config.residentBytesMax } : {}),
    })
  }
  store?.head() // a fresh snapshot: the last cycle's commit is visible
  const result = executor.run(decodeTask(task), (index) => {
    Atomics.store(progress, 0, index)
    Atomics.add(progress, 1, 1)
  })
  Atomics.store(progress, 0, -1)
  const { header, buffers } = encodeResult(result)
  // Header and plane buffers are all moved to the main thread, none copied.
  return Piscina.move({
    [Piscina.transferableSymbol]: [header.buffer, ...buffers],
    [Piscina.valueSymbol]: { header, buffers },
  } as never)
}
