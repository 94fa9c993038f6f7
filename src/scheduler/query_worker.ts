/**
 * The query worker's entry: runs `Runtime.query` and `estimateGas` probes off the runtime's thread, in a worker
 * with its own heap limit, so that a hostile handler that spins until its gas ends or allocates all it can
 * holds or kills this worker, never the runtime's thread. It reads committed memory and codes from the LMDB
 * data directory as a following reader: each query sees the writer's last commit.
 */
import { workerData } from 'node:worker_threads'
import type { GasSchedule } from '../gas/index.js'
import { hashPlane, nativeHasher } from '../merkle/index.js'
import type { Message } from '../message/index.js'
import type { JournalEntry, ProgramRecord } from '../protocol/index.js'
import { openLmdbStore, type LmdbStore } from '../store/index.js'
import { StreamExecutor } from './stream_executor.js'

export interface QueryWorkerConfig {
  readonly dataDir: string
  readonly planesMax: number
  readonly schedule: GasSchedule
}

export interface QueryRequest {
  readonly message: Message
  readonly record: ProgramRecord
  readonly cycle: number
}

const config = workerData as QueryWorkerConfig
let store: LmdbStore | undefined
let executor: StreamExecutor | undefined

export default async function runQuery(request: QueryRequest): Promise<JournalEntry> {
  if (store === undefined || executor === undefined) {
    store = await openLmdbStore({ dataDir: config.dataDir, readOnly: true, verify: (bytes) => hashPlane(nativeHasher, bytes) })
    executor = new StreamExecutor({ schedule: config.schedule, planesMax: config.planesMax, source: store })
  }
  store.head() // a fresh snapshot: the writer's last commit
  const { message, record, cycle } = request
  // Memory read for an earlier query may be older than the last commit: read it again.
  executor.forgetAll()
  if (!executor.hasCode(record.codeId)) executor.addCode(record.codeId, store.code(record.codeId)!)
  return executor.executeReadOnly(message, record, cycle)
}
