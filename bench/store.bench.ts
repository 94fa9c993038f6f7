/**
 * The LMDB store's hot paths, each next to raw lmdb doing the same byte work in the same run.
 * Run: `npm run build --silent; node bench/run.mjs store`.
 *
 *   figure                                  what is timed                                  baseline
 *   commit 1,000 dirty planes (durable)     store.commit of one cycle rewriting 1,000      raw lmdb: one transactionSync of
 *                                           64 KiB planes of one program (blobs, index,    1,000 putSync of the same bytes
 *                                           old-blob deletes, head), then env.flushed      under fixed keys, then env.flushed
 *   commit 1,000 dirty planes (sync: false) the same with LMDB noSync                      the same raw puts with noSync
 *   read 1 plane (verified)                 store.plane: index + blob read, copy, verify   raw getBinary of the same bytes
 *                                           with the commitment layer's hashPlane
 *   reopen, 100,000 program records         openLmdbStore + head() of a store holding      raw lmdb open + one get of
 *                                           100,000 records (and 100 planes)               the same environment
 *   walk 100,000 program records            programIds() to the end: what open would cost  raw getKeys walk of the same
 *                                           if it scanned (it does not)                    key space
 *
 * Each pair is sampled alternately (raw, store, raw, store, ...) and the ratio is the median of per-round
 * ratios, because the machine is shared and noisy. Fixtures (64 MiB of random planes, their roots, the
 * 100,000-record store) are built outside the timed part.
 *
 * Last results: 2-core VM (AMD EPYC, firecracker), Node 20.20.2, lmdb 3.5.6, ext4 on a virtio disk, load ~1.3
 * (other suites running); two consecutive runs. Under heavier load (load 5) absolute times doubled and the
 * durable commit ratio went down to 0.64-0.80.
 *
 *   figure                                  value            baseline          ratio       target
 *   commit 1,000 dirty planes (durable)     56.5-60.9 ms     46.3-52.7 ms      0.84-0.86   ratio >= 0.7   met
 *   commit 1,000 dirty planes (sync: false) 37.5-45.5 ms     29.2-38.4 ms      0.83-0.84   ratio >= 0.7   met
 *   read 1 plane (verified)                 90-108 us        20 us             0.19-0.23   report (hashPlane alone: ~61 us)
 *   reopen, 100,000 program records         1.4-2.0 ms       0.6-1.0 ms        0.40-0.49   < 1,000 ms     met
 *   walk 100,000 program records            130-169 ms       39-67 ms          0.32-0.35   report
 *
 * Reopen costs the same with 100 records or 100,000 (it reads the format, the head and the pending-blob range);
 * its extra milliseconds over raw lmdb are the lock file and opening 14 named databases. A walk of the records,
 * which reopening never does, is ~100x a reopen.
 */
import { randomFillSync } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { open as openRaw } from 'lmdb'
import type { ProgramId } from '../src/message/ids.js'
import { hashPlane, nativeHasher } from '../src/merkle/index.js'
import { openLmdbStore, type LmdbStore } from '../src/store/index.js'
import { consume, median, timeRow, type BenchRow } from './harness.js'

const SUITE = 'store'
const PLANE_SIZE_BYTES = 65_536
const DIRTY_PLANES = 1_000
const RECORDS = 100_000
/** Records per commit while building the reopen fixture (outside the timed part). */
const RECORDS_PER_BUILD_COMMIT = 10_000
/** Alternating rounds per pair of figures. */
const ROUNDS = 7
const PROGRAM = 'aa'.repeat(32) as ProgramId

const verify = (bytes: Uint8Array): Uint8Array => hashPlane(nativeHasher, bytes)

function tempDir(label: string): string {
  return mkdtempSync(path.join(tmpdir(), `strata-bench-${label}-`))
}

function hexId(n: number): string {
  return n.toString(16).padStart(64, '0')
}

interface Pair { readonly store: number; readonly raw: number; readonly ratio: number }

/** Median ms of each, sampled alternately, and the median per-round ratio raw/store (> 1: store faster). */
async function paired(raw: () => Promise<void> | void, store: () => Promise<void> | void, rounds = ROUNDS): Promise<Pair> {
  const raws: number[] = []
  const stores: number[] = []
  const ratios: number[] = []
  await raw()
  await store()
  for (let r = 0; r < rounds; r += 1) {
    let start = performance.now()
    await raw()
    const rawMs = performance.now() - start
    start = performance.now()
    await store()
    const storeMs = performance.now() - start
    raws.push(rawMs)
    stores.push(storeMs)
    ratios.push(rawMs / storeMs)
  }
  return { store: median(stores), raw: median(raws), ratio: median(ratios) }
}

async function benchCommit(planes: readonly Uint8Array[], roots: readonly Uint8Array[], sync: boolean): Promise<BenchRow> {
  const rawDir = tempDir('raw')
  const storeDir = tempDir('store')
  const env = openRaw<Buffer, Buffer>({ path: rawDir, keyEncoding: 'binary', encoding: 'binary', ...(sync ? {} : { noSync: true }) })
  const keys = planes.map((_, i) => {
    const key = Buffer.alloc(36)
    key.write(PROGRAM, 'hex')
    key.writeUInt32BE(i, 32)
    return key
  })
  const store = await openLmdbStore({ dataDir: storeDir, verify, sync })
  let cycle = 0
  try {
    const pair = await paired(async () => {
      env.transactionSync(() => {
        for (let i = 0; i < planes.length; i += 1) env.putSync(keys[i]!, planes[i] as Buffer)
      })
      await env.flushed
    }, async () => {
      cycle += 1
      await store.commit({
        cycle, stateRoot: roots[cycle % roots.length]!,
        memory: [{
          programId: PROGRAM, dropped: false, meta: new Uint8Array(64),
          planes: planes.map((bytes, key) => ({ key, bytes, root: roots[key]! })),
        }],
      })
    })
    const name = `commit ${DIRTY_PLANES.toLocaleString('en-US')} dirty planes (${sync ? 'durable' : 'sync: false'})`
    // ratio = raw time / store time: the store's share of raw lmdb speed.
    return { ...timeRow(SUITE, name, pair.store, 'ms', 'raw lmdb puts, same bytes', pair.raw, 'ratio >= 0.7', pair.ratio >= 0.7), ratio: pair.ratio }
  } finally {
    await store.close()
    await env.close()
    rmSync(rawDir, { recursive: true, force: true })
    rmSync(storeDir, { recursive: true, force: true })
  }
}

async function benchPlaneRead(planes: readonly Uint8Array[], roots: readonly Uint8Array[]): Promise<BenchRow> {
  const dir = tempDir('read')
  const store = await openLmdbStore({ dataDir: dir, verify, sync: false })
  const rawDir = tempDir('read-raw')
  const env = openRaw<Buffer, Buffer>({ path: rawDir, keyEncoding: 'binary', encoding: 'binary', noSync: true })
  const count = 200
  try {
    await store.commit({
      cycle: 1, stateRoot: roots[0]!,
      memory: [{ programId: PROGRAM, dropped: false, meta: new Uint8Array(1), planes: planes.slice(0, count).map((bytes, key) => ({ key, bytes, root: roots[key]! })) }],
    })
    env.transactionSync(() => { for (let i = 0; i < count; i += 1) env.putSync(Buffer.from([i >> 8, i & 0xff]), planes[i] as Buffer) })
    const pair = await paired(() => {
      for (let i = 0; i < count; i += 1) consume(env.getBinary(Buffer.from([i >> 8, i & 0xff])))
    }, () => {
      for (let i = 0; i < count; i += 1) consume(store.plane(PROGRAM, i))
    })
    const us = (ms: number): number => (ms * 1000) / count
    return { ...timeRow(SUITE, 'read 1 plane (verified)', us(pair.store), 'us', 'raw lmdb getBinary', us(pair.raw), 'report', true), ratio: pair.ratio }
  } finally {
    await store.close()
    await env.close()
    rmSync(dir, { recursive: true, force: true })
    rmSync(rawDir, { recursive: true, force: true })
  }
}

async function benchReopen(planes: readonly Uint8Array[], roots: readonly Uint8Array[]): Promise<BenchRow[]> {
  const dir = tempDir('reopen')
  try {
    const builder = await openLmdbStore({ dataDir: dir, verify, sync: false })
    for (let start = 0, cycle = 1; start < RECORDS; start += RECORDS_PER_BUILD_COMMIT, cycle += 1) {
      await builder.commit({
        cycle, stateRoot: roots[cycle]!,
        programs: Array.from({ length: RECORDS_PER_BUILD_COMMIT }, (_, i) => ({
          id: hexId(start + i) as ProgramId, codeId: hexId(1) as never, status: 'active' as const, stateAddress: null,
          creator: hexId(2) as never,
        })),
        ...(cycle === 1 ? { memory: [{ programId: PROGRAM, dropped: false, meta: new Uint8Array(8), planes: planes.slice(0, 100).map((bytes, key) => ({ key, bytes, root: roots[key]! })) }] } : {}),
      })
    }
    await builder.close()

    let store: LmdbStore | undefined
    const reopen = await paired(async () => {
      const env = openRaw<Buffer, Buffer>({ path: dir, maxDbs: 24, keyEncoding: 'binary', encoding: 'binary' })
      consume(env.openDB('meta', { keyEncoding: 'binary', encoding: 'binary' }).getBinary(Buffer.from('head')))
      await env.close()
    }, async () => {
      store = await openLmdbStore({ dataDir: dir, verify })
      consume(store.head())
      await store.close()
    })
    const opened = await openLmdbStore({ dataDir: dir, verify })
    let walked = 0
    const walk = await paired(() => {
      const db = openRawDb(dir)
      for (const key of db.db.getKeys()) consume(key)
      return db.close()
    }, () => {
      walked = 0
      for (const id of opened.programIds()) { consume(id); walked += 1 }
    }, 3)
    if (walked !== RECORDS || opened.programCount() !== RECORDS) throw new Error(`fixture holds ${walked} records`)
    await opened.close()
    return [
      { ...timeRow(SUITE, `reopen, ${RECORDS.toLocaleString('en-US')} program records`, reopen.store, 'ms', 'raw lmdb open + get', reopen.raw, '< 1,000 ms', reopen.store < 1000), ratio: reopen.ratio },
      { ...timeRow(SUITE, `walk ${RECORDS.toLocaleString('en-US')} program records`, walk.store, 'ms', 'raw getKeys walk', walk.raw, 'report (open never walks)', true), ratio: walk.ratio },
    ]
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

function openRawDb(dir: string): { db: ReturnType<ReturnType<typeof openRaw>['openDB']>; close: () => Promise<void> } {
  const env = openRaw<Buffer, Buffer>({ path: dir, maxDbs: 24, keyEncoding: 'binary', encoding: 'binary' })
  return { db: env.openDB('programs', { keyEncoding: 'binary', encoding: 'binary' }), close: () => env.close() }
}

export default async function storeBench(): Promise<BenchRow[]> {
  const planes = Array.from({ length: DIRTY_PLANES }, () => randomFillSync(new Uint8Array(PLANE_SIZE_BYTES)))
  const roots = planes.map((plane) => verify(plane))
  const rows = [
    await benchCommit(planes, roots, true),
    await benchCommit(planes, roots, false),
    await benchPlaneRead(planes, roots),
    ...await benchReopen(planes, roots),
  ]
  for (const row of rows) {
    if (!Number.isFinite(row.value) || row.value <= 0) throw new Error(`${row.name}: bad measurement ${row.value}`)
  }
  return rows
}
