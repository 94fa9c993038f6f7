/**
 * Commitment: the main thread's Merkle side of the runtime. It keeps the state tree (persisted node by node in
 * the store), program commitments (an LRU, restored from stored plane roots) and read-only views for inspection
 * and proofs. Each cycle's memory deltas go through `commitMemory`, which rehashes only the written chunks and
 * passes them on to the store.
 */
import { COMMITMENTS_CACHED_MAX, DIRTY_CHUNK_SIZE_BYTES, PLANE_SIZE_BYTES, VIEWS_CACHED_MAX } from '../constants.js'
import { StrataError } from '../errors.js'
import type { GasSchedule } from '../gas/index.js'
import { decodeMemoryMetadata } from '../memory/index.js'
import { ProgramMemory } from '../memory/index.js'
import type { ProgramId } from '../message/index.js'
import {
  ProgramCommitment, StateCommitment, ZERO_PLANE_ROOT, bytesEqual, bytesToHex, type ProgramStatusCode,
} from '../merkle/index.js'
import { PersistentNodeStore } from '../merkle/index.js'
import { PROGRAM_STATUS_CODE, ProgramStatus, type MemoryDelta, type ProgramRecord } from '../protocol/index.js'
import type { Store, StoreMemoryDelta } from '../store/index.js'
import { RuntimeErrorCode } from './errors.js'

/**
 * Written chunks are laid into this plane at their offsets for rehashing; only the chunks a delta wrote are
 * read back, so what other deltas left in it is never seen. One per thread: commits are synchronous.
 */
const SCRATCH_PLANE = new Uint8Array(PLANE_SIZE_BYTES)

/** The commitment of an empty memory (a program that never wrote, or one that exited). */
const EMPTY_MEMORY = new ProgramCommitment()

export interface CommitmentOptions {
  readonly schedule: GasSchedule
  readonly planesMax: number
  /** The records of the runtime (committed and since), by program id. */
  readonly record: (programId: ProgramId) => ProgramRecord | undefined
}

export class Commitment {
  readonly #store: Store
  readonly #options: CommitmentOptions
  readonly #nodes: PersistentNodeStore
  readonly #state: StateCommitment
  /** Program commitments, least recently used first; others are restored from the store's plane roots. */
  readonly #programs = new Map<ProgramId, ProgramCommitment>()
  /** Decoded read-only views of committed memory, least recently used first. */
  readonly #views = new Map<ProgramId, ProgramMemory>()

  constructor(store: Store, options: CommitmentOptions) {
    this.#store = store
    this.#options = options
    this.#nodes = new PersistentNodeStore((key) => store.merkleNode(key))
    this.#state = new StateCommitment({
      nodes: this.#nodes,
      records: (hex) => {
        const record = options.record(hex as ProgramId)
        if (record === undefined) return undefined
        return {
          codeId: hexBytes(record.codeId), status: PROGRAM_STATUS_CODE[record.status] as ProgramStatusCode,
          memoryRoot: this.#memoryRoot(record.id),
        }
      },
    })
  }

  /** The state tree, for proofs. */
  get state(): StateCommitment {
    return this.#state
  }

  root(): Uint8Array {
    return this.#state.root()
  }

  /** The reopened state tree must give the root the store committed: anything else is corruption. */
  checkHead(): void {
    const head = this.#store.head()
    if (head.stateRoot === null) return
    const root = this.#state.root()
    if (!bytesEqual(root, head.stateRoot)) {
      throw new StrataError(RuntimeErrorCode.INTEGRITY,
        `the stored state tree gives root ${bytesToHex(root)}, but cycle ${head.cycle} committed ${bytesToHex(head.stateRoot)}`)
    }
  }

  /** State tree nodes changed since the last drain, for the store's batch. */
  drainNodes(): ReturnType<PersistentNodeStore['drain']> {
    return this.#nodes.drain()
  }

  /** A program's commitment: cached, or restored from the store's plane roots and allocator metadata (no hashing of planes). */
  program(programId: ProgramId): ProgramCommitment {
    return lruGet(this.#programs, programId, COMMITMENTS_CACHED_MAX, () => {
      const commitment = new ProgramCommitment()
      const meta = this.#store.memoryMeta(programId)
      if (meta !== undefined) {
        for (const key of this.#store.planeKeys(programId)) commitment.restorePlane(key, this.#store.planeRoot(programId, key)!)
        const allocator = decodeMemoryMetadata(meta, { ...this.#memoryOptions(), planeSource: () => { throw new Error('no plane reads') } })
        for (const { address, size } of allocator.allocations()) commitment.setAllocation(address, size)
      }
      return commitment
    })
  }

  /** A read-only decoded view of a program's committed memory (do not mutate). */
  view(programId: ProgramId): ProgramMemory {
    return lruGet(this.#views, programId, VIEWS_CACHED_MAX, () => {
      const meta = this.#store.memoryMeta(programId)
      const store = this.#store
      return meta === undefined ? new ProgramMemory(this.#memoryOptions())
        : decodeMemoryMetadata(meta, { ...this.#memoryOptions(), planeSource: (key) => store.plane(programId, key)! })
    })
  }

  /**
   * Proofs need every chunk hash of the planes they cross: the program's commitment is built from its stored
   * bytes (each verified against its root), and prove checks it against the state's memory root.
   */
  proofSource(programId: ProgramId) {
    const view = this.view(programId)
    return { state: this.#state, program: ProgramCommitment.fromScratch(view), view, programId }
  }

  /** Forgets the cached view of a program whose committed memory changed (or might have, after a fault). */
  forgetView(programId: ProgramId): void {
    this.#views.delete(programId)
  }

  /**
   * Applies one program's memory delta: rehashes only the written chunks in the commitment, and returns the
   * change as the store records it (the written chunks, with the plane's new root). No whole plane is built on
   * this thread, except for a plane whose chunk hashes the commitment does not hold (restored from the store):
   * that one is read once, patched and hashed whole.
   */
  commitMemory(delta: MemoryDelta): StoreMemoryDelta {
    const { programId } = delta
    if (delta.dropped) {
      this.#programs.delete(programId)
      return { programId, dropped: true, meta: delta.meta, planes: [] }
    }
    const commitment = this.program(programId)
    const planes = delta.planes.map((plane) => {
      if (plane.dropped) {
        commitment.updatePlane(plane.key, undefined)
        return { key: plane.key, bytes: null, root: null }
      }
      let chunkMask = 0
      for (const [index, chunk] of plane.chunks) {
        SCRATCH_PLANE.set(chunk, index * DIRTY_CHUNK_SIZE_BYTES)
        chunkMask |= 1 << index
      }
      if (plane.fresh || commitment.hasChunkHashes(plane.key)) {
        // Only the chunks in the mask are read from the scratch plane.
        commitment.updatePlane(plane.key, SCRATCH_PLANE, { chunkMask, fresh: plane.fresh })
      } else {
        const bytes = this.#store.plane(programId, plane.key) ?? new Uint8Array(PLANE_SIZE_BYTES)
        for (const [index, chunk] of plane.chunks) bytes.set(chunk, index * DIRTY_CHUNK_SIZE_BYTES)
        commitment.updatePlane(plane.key, bytes, { chunkMask, fresh: false })
      }
      // An all-zero plane is absent from the tree but still stored (memory holds it): its root is the zero root.
      return { key: plane.key, root: commitment.planeRoot(plane.key) ?? ZERO_PLANE_ROOT, written: plane.chunks, fresh: plane.fresh }
    })
    for (const [address, size] of delta.allocations) commitment.setAllocation(address, size === 0 ? undefined : size)
    return { programId: delta.programId, dropped: false, meta: delta.meta, planes }
  }

  /** Puts a program's record (code, status, memory root) into the state tree. */
  commitRecord(record: ProgramRecord): void {
    const memoryRoot = record.status === ProgramStatus.EXITED ? EMPTY_MEMORY.memoryRoot() : this.#memoryRoot(record.id)
    this.#state.setProgram(record.id, { codeId: record.codeId, status: PROGRAM_STATUS_CODE[record.status], memoryRoot })
  }

  /**
   * A program's memory root without building a commitment for a program that has no memory yet (a program just
   * created: creating 100,000 of them must not build 100,000 empty commitments).
   */
  #memoryRoot(programId: ProgramId): Uint8Array {
    const cached = this.#programs.get(programId)
    if (cached !== undefined) return cached.memoryRoot()
    return this.#store.memoryMeta(programId) === undefined ? EMPTY_MEMORY.memoryRoot() : this.program(programId).memoryRoot()
  }

  #memoryOptions(): { readonly schedule: GasSchedule; readonly planesMax: number } {
    return { schedule: this.#options.schedule, planesMax: this.#options.planesMax }
  }
}

/** Gets (or loads) `key` in a Map kept in least-recently-used order, evicting the oldest past `max` entries. */
function lruGet<K, V>(cache: Map<K, V>, key: K, max: number, load: () => V): V {
  let value = cache.get(key)
  if (value !== undefined) cache.delete(key)
  else value = load()
  cache.set(key, value)
  for (const [oldest] of cache) {
    if (cache.size <= max) break
    cache.delete(oldest)
  }
  return value
}

function hexBytes(hex: string): Uint8Array {
  return Uint8Array.from(Buffer.from(hex, 'hex'))
}
