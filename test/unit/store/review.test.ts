/**
 * Adversarial review of store format 2 (planes as runs of chunks): targeted sequences, LMDB against the memory
 * store. The four "FIXED" tests each reproduced a defect the review found; they pass since the fix.
 */
import path from 'node:path'
import { open as openRaw } from 'lmdb'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import {
  StoreErrorCode, openLmdbStore, openMemoryStore, type CommitBatch, type LmdbStore, type Store, type StorePlaneChange,
} from '../../../src/store/index.js'
import { encodeHead } from '../../../src/store/codec.js'
import { planeBytes, programId, rootOf, sameBytes, sha256, tempDir, verify } from './fixtures.js'

const CHUNK = 4096
let temp: ReturnType<typeof tempDir>
let dataDir: string
const opened: Store[] = []

beforeEach(() => {
  temp = tempDir('strata-review-')
  dataDir = path.join(temp.dir, 'data')
})

afterEach(async () => {
  for (const s of opened.splice(0)) await s.close()
  temp.remove()
})

async function lmdb(options: { planesPerTransaction?: number; dir?: string } = {}): Promise<LmdbStore> {
  const s = await openLmdbStore({ dataDir: options.dir ?? dataDir, verify, sync: false, planesPerTransaction: options.planesPerTransaction })
  opened.push(s)
  return s
}

async function memory(): Promise<Store> {
  const s = await openMemoryStore({ verify })
  opened.push(s)
  return s
}

/** What a plane read gives: the bytes, or the error code. */
function read(s: Store, id: ReturnType<typeof programId>, key: number): Uint8Array | string | undefined {
  try {
    return s.plane(id, key)
  } catch (error) {
    return (error as { code?: string }).code ?? 'THROWN'
  }
}

function batch(cycle: number, memory: CommitBatch['memory']): CommitBatch {
  return { cycle, stateRoot: rootOf(cycle), memory }
}

function whole(key: number, bytes: Uint8Array, chunks?: number): StorePlaneChange {
  return chunks === undefined ? { key, bytes, root: sha256(bytes) } : { key, bytes, root: sha256(bytes), chunks }
}

/** Blob count, and the distinct blob keys the index slots name, read raw from a closed store's directory. */
function rawBlobs(dir: string): { blobs: number; named: number; index: number } {
  const env = openRaw({ path: dir, maxDbs: 24, keyEncoding: 'binary', encoding: 'binary' })
  try {
    const blobs = env.openDB('blobs', { keyEncoding: 'binary', encoding: 'binary' })
    const planes = env.openDB('planes', { keyEncoding: 'binary', encoding: 'binary' })
    const named = new Set<string>()
    let index = 0
    for (const { value } of planes.getRange()) {
      index += 1
      for (let chunk = 0; chunk < 16; chunk += 1) {
        const key = Buffer.from(value).subarray(32 + chunk * 13, 32 + chunk * 13 + 12)
        if (!key.equals(Buffer.alloc(12))) named.add(key.toString('hex'))
      }
    }
    return { blobs: blobs.getKeysCount(), named: named.size, index }
  } finally {
    void env.close()
  }
}

const P = programId(1)

describe('store format 2 review: defects', () => {
  // FIXED (was a defect): runBytes() (lmdb_store.ts) stores a run as a *view* of the caller's memory whenever the run's first
  // and last chunk lie in the same ArrayBuffer at the distance a contiguous run would have. It never checks the
  // chunks in between. `written` chunks are independent Uint8Arrays (a stream reports them; nothing says they
  // are laid out in order in one buffer), so a middle chunk from elsewhere is replaced by whatever sits between
  // first and last in that buffer. The plane then fails verification (INTEGRITY) on every read; the memory store
  // serves the committed bytes. Minimal sequence: one commit, written [[0, b[0..4K)], [1, other], [2, b[8K..12K)]].
  it('stores each written chunk, not the bytes between the first and last chunk of a run', async () => {
    const backing = new Uint8Array(3 * CHUNK).fill(0x11) // chunk 0 and chunk 2 are views of this buffer
    const middle = new Uint8Array(CHUNK).fill(0x22) // chunk 1 is its own array
    const expected = new Uint8Array(16 * CHUNK)
    expected.fill(0x11, 0, CHUNK)
    expected.fill(0x22, CHUNK, 2 * CHUNK)
    expected.fill(0x11, 2 * CHUNK, 3 * CHUNK)
    const change: StorePlaneChange = {
      key: 0, root: sha256(expected), fresh: true,
      written: [[0, backing.subarray(0, CHUNK)], [1, middle], [2, backing.subarray(2 * CHUNK, 3 * CHUNK)]],
    }
    const [disk, mem] = [await lmdb(), await memory()]
    for (const s of [disk, mem]) await s.commit(batch(1, [{ programId: P, dropped: false, meta: Uint8Array.of(1), planes: [change] }]))
    expect(sameBytes(mem.plane(P, 0), expected)).toBe(true)
    expect(read(disk, P, 0)).toEqual(expected) // lmdb: INTEGRITY (it stored backing[4K..8K) as chunk 1)
  })

  // FIXED (was a defect): a plane dropped and re-created in the same batch, the re-creation given whole with a chunk mask.
  // The contract: "A plane not stored yet is written whole" (and after the drop it is not stored). runWrites()
  // decides "stored already?" with planes.doesExist() *before* the batch applies, so it writes only the masked
  // chunks; the drop then deletes the old runs and the new index names zeros for the rest. lmdb: INTEGRITY on
  // read; memory: the plane as given. Minimal sequence: commit P/0 whole; commit [drop P/0, {P/0, bytes B, chunks 1}].
  it('writes a plane dropped and re-created in one batch whole, whatever its mask', async () => {
    const first = planeBytes(1)
    const second = planeBytes(2)
    const [disk, mem] = [await lmdb(), await memory()]
    for (const s of [disk, mem]) {
      await s.commit(batch(1, [{ programId: P, dropped: false, meta: Uint8Array.of(1), planes: [whole(0, first)] }]))
      await s.commit(batch(2, [{ programId: P, dropped: false, meta: Uint8Array.of(2), planes: [{ key: 0, bytes: null, root: null }, whole(0, second, 0b1)] }]))
    }
    expect(sameBytes(mem.plane(P, 0), second)).toBe(true)
    expect(read(disk, P, 0)).toEqual(second)
  })

  // FIXED (was a defect): the same, one level up: a program dropped (dropped: true) and re-created in one batch (a second delta
  // for the same id, e.g. an exit then a re-deploy at the same id in one cycle). runWrites() skips the dropped delta
  // and treats the re-created planes as stored (doesExist before the batch), so only masked chunks are written.
  it('writes planes of a program dropped and re-created in one batch whole, whatever their mask', async () => {
    const first = planeBytes(1)
    const second = planeBytes(2)
    const [disk, mem] = [await lmdb(), await memory()]
    for (const s of [disk, mem]) {
      await s.commit(batch(1, [{ programId: P, dropped: false, meta: Uint8Array.of(1), planes: [whole(0, first)] }]))
      await s.commit(batch(2, [
        { programId: P, dropped: true, meta: new Uint8Array(0), planes: [] },
        { programId: P, dropped: false, meta: Uint8Array.of(2), planes: [whole(0, second, 0)] },
      ]))
    }
    expect(sameBytes(mem.plane(P, 0), second)).toBe(true)
    expect(read(disk, P, 0)).toEqual(second)
  })

  // FIXED (was a defect): prepareBatch keeps plane bytes as views of the caller's arrays (PreparedPlane.chunks), and a split
  // commit writes its later parts and its final transaction after `await yieldToEventLoop()`. Bytes the caller
  // changes after `commit()` returned its promise (e.g. the next cycle already writing into a reused plane
  // buffer) are what gets stored, under the root of the old bytes: INTEGRITY on read. The memory store (and an
  // unsplit lmdb commit) copy or write synchronously inside commit(), so they store the batch as given.
  // Nothing in store.ts says the buffers must stay untouched until the promise settles.
  it('stores a split commit as it was given, even if the caller reuses its buffers before it resolves', async () => {
    const planes = Array.from({ length: 4 }, (_, key) => planeBytes(1, key))
    const expected = planes.map((bytes) => bytes.slice())
    const [disk, mem] = [await lmdb({ planesPerTransaction: 1 }), await memory()]
    for (const s of [disk, mem]) {
      const committing = s.commit(batch(1, [{ programId: P, dropped: false, meta: Uint8Array.of(1), planes: planes.map((bytes, key) => whole(key, bytes)) }]))
      for (const bytes of planes) bytes.fill(0xee, 0, 100) // the caller moves on
      await committing
      for (const bytes of planes) bytes.set(expected[planes.indexOf(bytes)]!.subarray(0, 100), 0)
    }
    for (let key = 0; key < 4; key += 1) expect(sameBytes(mem.plane(P, key), expected[key]!)).toBe(true)
    for (let key = 0; key < 4; key += 1) expect(read(disk, P, key)).toEqual(expected[key])
  })
})

describe('store format 2 review: sequences that behave', () => {
  it('applies the same plane listed twice in one batch in order, and leaves no stray blob', async () => {
    const [disk, mem] = [await lmdb({ planesPerTransaction: 1 }), await memory()]
    const a = planeBytes(1)
    const b = a.slice()
    b.fill(0x44, 3 * CHUNK, 5 * CHUNK)
    const c = b.slice()
    c.fill(0, 0, 2 * CHUNK)
    c.fill(0x55, 9 * CHUNK, 10 * CHUNK)
    for (const s of [disk, mem]) {
      await s.commit(batch(1, [{ programId: P, dropped: false, meta: Uint8Array.of(1), planes: [whole(0, a), whole(1, a)] }]))
      await s.commit(batch(2, [{
        programId: P, dropped: false, meta: Uint8Array.of(2), planes: [
          whole(0, b, (1 << 3) | (1 << 4)), whole(0, c, 0b11 | (1 << 9)),
          { key: 1, root: sha256(b), written: [[3, b.slice(3 * CHUNK, 4 * CHUNK)], [4, b.slice(4 * CHUNK, 5 * CHUNK)]] },
          { key: 1, root: sha256(c), written: [[0, new Uint8Array(CHUNK)], [1, new Uint8Array(CHUNK)], [9, c.slice(9 * CHUNK, 10 * CHUNK)]] },
        ],
      }]))
    }
    for (const s of [disk, mem]) for (const key of [0, 1]) expect(sameBytes(s.plane(P, key), c)).toBe(true)
    await disk.close()
    const raw = rawBlobs(dataDir)
    expect(raw.blobs).toBe(raw.named)
  })

  // Contract violation, documented: a mask that names fewer chunks than differ. lmdb keeps the stored bytes of the
  // unlisted chunks under the new root, so the plane then reads as INTEGRITY (never as wrong bytes); the memory
  // store ignores masks and serves the plane as given. The two stores differ here, by design of the contract.
  it('refuses to serve a plane committed with a mask that claims fewer changed chunks than differ (lmdb)', async () => {
    const first = planeBytes(1)
    const second = first.slice()
    second.fill(0x99, 0, 2 * CHUNK) // chunks 0 and 1 change, the mask names chunk 0 only
    const [disk, mem] = [await lmdb(), await memory()]
    for (const s of [disk, mem]) {
      await s.commit(batch(1, [{ programId: P, dropped: false, meta: Uint8Array.of(1), planes: [whole(0, first)] }]))
      await s.commit(batch(2, [{ programId: P, dropped: false, meta: Uint8Array.of(2), planes: [whole(0, second, 0b1)] }]))
    }
    expect(read(disk, P, 0)).toBe(StoreErrorCode.INTEGRITY)
    expect(sameBytes(mem.plane(P, 0), second)).toBe(true)
  })

  it('converts format-1 stores with no planes, all-zero planes and pending format-1 blobs', async () => {
    const env = openRaw({ path: dataDir, maxDbs: 24, keyEncoding: 'binary', encoding: 'binary' })
    const dbs = Object.fromEntries(['meta', 'planes', 'blobs', 'memmeta'].map((name) => [name, env.openDB(name, { keyEncoding: 'binary', encoding: 'binary' })]))
    const blobKey = (commit: number, index: number): Buffer => {
      const key = Buffer.alloc(12)
      key.writeUInt32BE(commit, 4)
      key.writeUInt32BE(index, 8)
      return key
    }
    const zero = new Uint8Array(65_536)
    const some = planeBytes(3, 1)
    env.transactionSync(() => {
      dbs.meta!.putSync(Buffer.from('format'), Buffer.from([0, 0, 0, 1]))
      dbs.meta!.putSync(Buffer.from('head'), Buffer.from(encodeHead({ cycle: 2, stateRoot: rootOf(2), commitCount: 2, queueHead: 0, queueTail: 0 })))
      dbs.planes!.putSync(Buffer.concat([Buffer.from(P, 'hex'), Buffer.from([0, 0, 0, 0])]), Buffer.concat([Buffer.from(sha256(zero)), blobKey(1, 0)]))
      dbs.blobs!.putSync(blobKey(1, 0), Buffer.from(zero))
      dbs.planes!.putSync(Buffer.concat([Buffer.from(P, 'hex'), Buffer.from([0, 0, 0, 1])]), Buffer.concat([Buffer.from(sha256(some)), blobKey(2, 0)]))
      dbs.blobs!.putSync(blobKey(2, 0), Buffer.from(some))
      for (let i = 0; i < 3; i += 1) dbs.blobs!.putSync(blobKey(3, i), Buffer.from(planeBytes(9, i))) // a crashed format-1 commit
    })
    await env.close()
    const store = await lmdb()
    expect(store.diagnostics().planesConverted).toBe(2)
    expect(sameBytes(store.plane(P, 0), zero)).toBe(true)
    expect(sameBytes(store.plane(P, 1), some)).toBe(true)
    // Commit 3 reuses the pending keys' commit number: nothing stale may be read back.
    const next = some.slice()
    next.fill(0x77, 0, CHUNK)
    await store.commit(batch(3, [{ programId: P, dropped: false, meta: Uint8Array.of(3), planes: [whole(1, next, 1), whole(2, planeBytes(4, 2))] }]))
    expect(sameBytes(store.plane(P, 1), next)).toBe(true)
    expect(sameBytes(store.plane(P, 2), planeBytes(4, 2))).toBe(true)
    await store.close()
    expect(rawBlobs(dataDir)).toEqual({ blobs: 3, named: 3, index: 3 })

    // No planes at all.
    const emptyDir = path.join(temp.dir, 'empty')
    const env2 = openRaw({ path: emptyDir, maxDbs: 24, keyEncoding: 'binary', encoding: 'binary' })
    const meta2 = env2.openDB('meta', { keyEncoding: 'binary', encoding: 'binary' })
    env2.transactionSync(() => {
      meta2.putSync(Buffer.from('format'), Buffer.from([0, 0, 0, 1]))
      meta2.putSync(Buffer.from('head'), Buffer.from(encodeHead({ cycle: 5, stateRoot: rootOf(5), commitCount: 7, queueHead: 0, queueTail: 0 })))
    })
    await env2.close()
    const empty = await lmdb({ dir: emptyDir })
    expect(empty.diagnostics().planesConverted).toBe(0)
    expect(empty.head()).toMatchObject({ cycle: 5, commitCount: 7 })
    await empty.commit(batch(6, [{ programId: P, dropped: false, meta: Uint8Array.of(1), planes: [whole(0, some)] }]))
    expect(sameBytes(empty.plane(P, 0), some)).toBe(true)
  })
})
