/**
 * Model-based property test of plane storage: random sequences of commits (whole planes with exact or wider chunk
 * masks, written chunks with and without `fresh`, chunks becoming zeros, dropped planes, dropped programs, the same
 * plane several times in one batch, small staging parts so that commits split, reopening between commits), applied
 * to an LmdbStore, a MemoryStore and a plain model. After every commit all three agree on every plane; at the end
 * the LMDB directory holds exactly the blobs its index slots name.
 *
 * Inputs the review found broken are kept out of the generator (see review.test.ts): chunk masks on a plane that
 * was dropped earlier in the same batch (or whose program was), `written` chunks that are views into one shared
 * buffer, and callers that change their buffers before a commit resolves.
 */
import path from 'node:path'
import fc from 'fast-check'
import { open as openRaw } from 'lmdb'
import { describe, expect, it } from 'vitest'
import {
  openLmdbStore, openMemoryStore, type CommitBatch, type LmdbStore, type Store, type StoreMemoryDelta, type StorePlaneChange,
} from '../../../src/store/index.js'
import { programId, rootOf, sameBytes, sha256, tempDir, verify } from './fixtures.js'

const CHUNK = 4096
const CHUNKS = 16
const PROGRAMS = [programId(31), programId(32)]
const KEYS = [0, 1, 2]

/** A chunk's bytes from a palette entry (0: zeros); chunks differ by position so a misplaced chunk shows. */
function chunkBytes(value: number, index: number): Uint8Array {
  return new Uint8Array(CHUNK).fill(value === 0 ? 0 : (value * 37 + index * 5 + 1) & 0xff || 1)
}

function planeOf(state: readonly number[]): Uint8Array {
  const bytes = new Uint8Array(CHUNKS * CHUNK)
  state.forEach((value, index) => { if (value !== 0) bytes.set(chunkBytes(value, index), index * CHUNK) })
  return bytes
}

type PlaneOp =
  | { readonly kind: 'drop'; readonly key: number }
  | { readonly kind: 'whole' | 'written'; readonly key: number; readonly edits: readonly number[]; readonly extra: number; readonly fresh: boolean }

interface DeltaOp { readonly program: number; readonly dropped: boolean; readonly planes: readonly PlaneOp[] }
interface BatchOp { readonly deltas: readonly DeltaOp[]; readonly reopen: boolean }

// An edit per chunk: -1 keeps it, 0 makes it zeros, 1..3 a palette entry. Mostly kept, so masks stay sparse.
const edit = fc.oneof({ arbitrary: fc.constant(-1), weight: 5 }, { arbitrary: fc.integer({ min: 0, max: 3 }), weight: 2 })
const planeOp: fc.Arbitrary<PlaneOp> = fc.oneof(
  { arbitrary: fc.record({ kind: fc.constant('drop' as const), key: fc.constantFrom(...KEYS) }), weight: 1 },
  {
    arbitrary: fc.record({
      kind: fc.constantFrom('whole' as const, 'written' as const), key: fc.constantFrom(...KEYS),
      edits: fc.array(edit, { minLength: CHUNKS, maxLength: CHUNKS }),
      extra: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffff })), fresh: fc.boolean(),
    }),
    weight: 6,
  },
)
const deltaOp: fc.Arbitrary<DeltaOp> = fc.record({
  program: fc.integer({ min: 0, max: PROGRAMS.length - 1 }),
  dropped: fc.oneof({ arbitrary: fc.constant(false), weight: 8 }, { arbitrary: fc.constant(true), weight: 1 }),
  planes: fc.array(planeOp, { minLength: 0, maxLength: 4 }),
})
const batchOp: fc.Arbitrary<BatchOp> = fc.record({
  deltas: fc.array(deltaOp, { minLength: 1, maxLength: 3 }),
  reopen: fc.oneof({ arbitrary: fc.constant(false), weight: 4 }, { arbitrary: fc.constant(true), weight: 1 }),
})

/** program -> key -> chunk palette entries. */
type Model = Map<number, Map<number, number[]>>

/** Builds the batch for `op` against the model (mutating it as the batch applies, entry by entry). */
function buildBatch(op: BatchOp, model: Model, cycle: number): CommitBatch {
  const memory: StoreMemoryDelta[] = []
  for (const delta of op.deltas) {
    if (delta.dropped) {
      model.delete(delta.program)
      memory.push({ programId: PROGRAMS[delta.program]!, dropped: true, meta: new Uint8Array(0), planes: [] })
      continue
    }
    const planes = model.get(delta.program) ?? new Map<number, number[]>()
    model.set(delta.program, planes)
    const changes: StorePlaneChange[] = []
    for (const plane of delta.planes) {
      if (plane.kind === 'drop') {
        planes.delete(plane.key)
        changes.push({ key: plane.key, bytes: null, root: null })
        continue
      }
      const stored = planes.get(plane.key)
      // A plane not stored yet and given whole is written whole, whatever its mask: give it arbitrary bytes.
      const base = plane.kind === 'written' && plane.fresh ? new Array<number>(CHUNKS).fill(0)
        : stored ?? Array.from({ length: CHUNKS }, (_, i) => (plane.kind === 'whole' ? (i + plane.key) % 4 : 0))
      const next = base.map((value, i) => (plane.edits[i] === -1 ? value : plane.edits[i]!))
      let diff = 0
      const old = stored ?? new Array<number>(CHUNKS).fill(0)
      for (let i = 0; i < CHUNKS; i += 1) if (next[i] !== (plane.kind === 'written' && plane.fresh ? 0 : old[i])) diff |= 1 << i
      if (stored === undefined && plane.kind === 'whole') diff = 0 // any mask: the store writes it whole
      const bytes = planeOf(next)
      const root = sha256(bytes)
      if (plane.kind === 'whole') {
        // A plane absent now but present before the batch (dropped in it) takes any mask too: it is written whole.
        const mask = (diff | plane.extra) & 0xffff
        changes.push({ key: plane.key, bytes, root, chunks: mask })
      } else {
        const listed = (diff | plane.extra) & 0xffff
        const written: [number, Uint8Array][] = []
        for (let i = 0; i < CHUNKS; i += 1) if ((listed & (1 << i)) !== 0) written.push([i, chunkBytes(next[i]!, i)])
        changes.push(plane.fresh ? { key: plane.key, root, written, fresh: true } : { key: plane.key, root, written })
      }
      planes.set(plane.key, next)
    }
    memory.push({ programId: PROGRAMS[delta.program]!, dropped: false, meta: Uint8Array.of(cycle & 0xff), planes: changes })
  }
  for (const [p, planes] of model) if (planes.size === 0) model.delete(p)
  return { cycle, stateRoot: rootOf(cycle), memory }
}

function expectSame(stores: readonly Store[], model: Model): void {
  for (const [p, id] of PROGRAMS.entries()) {
    const expectedKeys = [...(model.get(p)?.keys() ?? [])].sort((a, b) => a - b)
    for (const s of stores) expect(s.planeKeys(id), `${s.kind} keys of program ${p}`).toEqual(expectedKeys)
    for (const key of KEYS) {
      const state = model.get(p)?.get(key)
      for (const s of stores) {
        if (state === undefined) {
          expect(s.plane(id, key)).toBeUndefined()
          continue
        }
        const expected = planeOf(state)
        expect(sameBytes(s.plane(id, key), expected), `${s.kind} program ${p} plane ${key}`).toBe(true)
        expect(sameBytes(s.planeRoot(id, key), sha256(expected))).toBe(true)
      }
    }
  }
}

/** Blobs stored and the distinct blob keys the index slots name, read raw from a closed store's directory. */
function blobsAndNamed(dir: string): { blobs: number; named: number } {
  const env = openRaw({ path: dir, maxDbs: 24, keyEncoding: 'binary', encoding: 'binary' })
  try {
    const named = new Set<string>()
    for (const { value } of env.openDB('planes', { keyEncoding: 'binary', encoding: 'binary' }).getRange()) {
      for (let chunk = 0; chunk < CHUNKS; chunk += 1) {
        const key = Buffer.from(value).subarray(32 + chunk * 13, 32 + chunk * 13 + 12)
        if (!key.equals(Buffer.alloc(12))) named.add(key.toString('hex'))
      }
    }
    return { blobs: env.openDB('blobs', { keyEncoding: 'binary', encoding: 'binary' }).getKeysCount(), named: named.size }
  } finally {
    void env.close()
  }
}

describe('plane storage against a model', () => {
  it('LmdbStore, MemoryStore and the model agree over random commit sequences, and LMDB keeps no stray blob', async () => {
    const temp = tempDir('strata-model-')
    let run = 0
    try {
      await fc.assert(fc.asyncProperty(
        fc.integer({ min: 1, max: 3 }), fc.array(batchOp, { minLength: 1, maxLength: 8 }),
        async (planesPerTransaction, ops) => {
          const dataDir = path.join(temp.dir, `run${run++}`)
          const open = () => openLmdbStore({ dataDir, verify, sync: false, planesPerTransaction })
          let disk: LmdbStore = await open()
          const mem = await openMemoryStore({ verify })
          const model: Model = new Map()
          try {
            for (const [i, op] of ops.entries()) {
              const batch = buildBatch(op, model, i + 1)
              await disk.commit(batch)
              await mem.commit(batch)
              if (op.reopen) {
                await disk.close()
                disk = await open()
                expect(disk.diagnostics().pendingBlobsDeleted).toBe(0)
              }
              expectSame([disk, mem], model)
            }
          } finally {
            await disk.close()
          }
          const { blobs, named } = blobsAndNamed(dataDir)
          expect(blobs, 'blobs stored vs blobs the index names').toBe(named)
        },
      ), { numRuns: 150 })
    } finally {
      temp.remove()
    }
  }, 30_000)
})
