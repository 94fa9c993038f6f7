/**
 * One program's memory commitment, kept up to date incrementally from memory's dirty set.
 *
 *   memory root = SHA-256(0x22 || planes root || allocations root)
 *
 *   planes tree       sparse tree keyed by plane key (24 bits); leaf = SHA-256(0x20 || key || plane root),
 *                     where a plane root is its chunk-tree root (chunk_tree.ts)
 *   allocations tree  sparse tree keyed by start address (40 bits); leaf = SHA-256(0x21 || address || size)
 *
 * A plane that is not materialized, or whose 65,536 bytes are all zero, is absent from the planes tree: the
 * root depends on memory's contents only, never on which zero planes happen to be stored, and absence of a
 * plane proves it reads as zeros. Only static and heap allocations are committed (memory never reports stack
 * ones), so a proof can show that an address lies inside a live allocation.
 */
import { ADDRESS_LIMIT } from '../constants.js'
import { StrataError, describeValue } from '../errors.js'
import type { AllocationRecord, MemoryView } from '../memory/index.js'
import { ChunkTree, chunkCount } from './chunk_tree.js'
import { MerkleErrorCode } from './errors.js'
import {
  ALLOCATION_KEY_BITS, ALLOCATION_PATH_MULTIPLIER, CHUNKS_PER_PLANE, PLANE_KEY_BITS, PLANE_PATH_MULTIPLIER,
} from './format.js'
import { bytesEqual, type Hasher } from './hasher.js'
import { numericKeyPath } from './key_path.js'
import { allocationLeafHash, memoryRootHash, planeLeafHash, ZERO_PLANE_ROOT } from './leaf_hash.js'
import { nativeHasher } from './native_hasher.js'
import { NumericNodeTable, type NodeStore } from './node_store.js'
import { SparseMerkleTree, type PathWritten, type SparsePath } from './sparse_tree.js'

const PLANE_KEY_LIMIT = 2 ** PLANE_KEY_BITS

/** What changed in a plane since it was last committed, as memory's DirtySet reports it. */
export interface PlaneChange {
  /** Chunks written (bit c = chunk c); every other chunk is unchanged, or zero if `fresh`. */
  readonly chunkMask: number
  /** The plane was created since the last commit: chunks outside the mask are zeros. */
  readonly fresh: boolean
}

export interface ProgramCommitmentOptions {
  /** Defaults to the native hasher. */
  readonly hasher?: Hasher
  /** Node storage of the planes tree (default: in memory). */
  readonly planeNodes?: NodeStore<number, number>
  /** Node storage of the allocations tree (default: in memory). */
  readonly allocationNodes?: NodeStore<number, number>
}

/** What one `update` did, for stats and tests. */
export interface CommitmentUpdateReport {
  /** Dirty planes whose bytes were (partly) rehashed. */
  readonly planesHashed: number
  /** Chunks rehashed across those planes. */
  readonly chunksHashed: number
  /** Planes that left the tree (dropped by memory, or now all zero). */
  readonly planesRemoved: number
  /** Allocations created or freed. */
  readonly allocationsChanged: number
}

function checkPlaneKey(key: unknown): number {
  if (typeof key !== 'number' || !Number.isInteger(key) || key < 0 || key >= PLANE_KEY_LIMIT) {
    throw new StrataError(
      MerkleErrorCode.INVALID_ARGUMENT,
      `plane key must be an integer in 0..${PLANE_KEY_LIMIT - 1}, got ${describeValue(key)}`,
    )
  }
  return key
}

function checkAddress(address: unknown): number {
  if (typeof address !== 'number' || !Number.isInteger(address) || address < 0 || address >= ADDRESS_LIMIT) {
    throw new StrataError(
      MerkleErrorCode.ADDRESS_OUT_OF_RANGE,
      `address must be an integer in 0..${ADDRESS_LIMIT - 1}, got ${describeValue(address)}`,
      { address },
    )
  }
  return address
}

/** Index of the last element <= `value` in an ascending array, or -1. */
function floorIndex(sorted: readonly number[], value: number): number {
  let low = 0
  let high = sorted.length - 1
  while (low <= high) {
    const mid = (low + high) >> 1
    if (sorted[mid]! <= value) low = mid + 1
    else high = mid - 1
  }
  return high
}

export class ProgramCommitment {
  readonly #hasher: Hasher
  readonly #planes: SparseMerkleTree<number, number>
  readonly #allocations: SparseMerkleTree<number, number>
  /** Chunk hashes of every committed plane (present and not all zero). */
  readonly #chunkTrees = new Map<number, ChunkTree>()
  /** Roots of committed planes whose chunk hashes are not held (restored from a store; see restorePlane). */
  readonly #restoredRoots = new Map<number, Uint8Array>()
  readonly #allocationSizes = new Map<number, number>()
  /** Start addresses of live allocations, ascending: finds the allocation around an address. */
  readonly #allocationStarts: number[] = []
  #memoryRoot: Uint8Array | undefined

  constructor(options: ProgramCommitmentOptions = {}) {
    this.#hasher = options.hasher ?? nativeHasher
    this.#planes = new SparseMerkleTree(
      numericKeyPath(PLANE_KEY_BITS, PLANE_PATH_MULTIPLIER), this.#hasher, options.planeNodes ?? new NumericNodeTable(),
    )
    this.#allocations = new SparseMerkleTree(
      numericKeyPath(ALLOCATION_KEY_BITS, ALLOCATION_PATH_MULTIPLIER), this.#hasher,
      options.allocationNodes ?? new NumericNodeTable(),
    )
  }

  /**
   * Commits a memory from nothing: every materialized plane and live allocation. Reads the view only (its
   * dirty set is left alone; a later `update` rehashes what it lists, which changes nothing).
   */
  static fromScratch(view: MemoryView, options: ProgramCommitmentOptions = {}): ProgramCommitment {
    const commitment = new ProgramCommitment(options)
    for (const key of view.planeKeys()) commitment.updatePlane(key, view.planeBytes(key))
    for (const { address, size } of view.allocations()) commitment.setAllocation(address, size)
    return commitment
  }

  /**
   * Consumes `view.takeDirty()` and rehashes what it lists: the written chunks of dirty planes (a whole plane
   * if the dirty set has no chunk mask for it) and created or freed allocations. Roots are recomputed lazily.
   */
  update(view: MemoryView): CommitmentUpdateReport {
    const dirty = view.takeDirty()
    const fresh = new Set<number>(dirty.freshPlanes)
    let planesHashed = 0
    let chunksHashed = 0
    let planesRemoved = 0
    for (const key of dirty.planes) {
      const wasPresent = this.#present(key)
      const chunkMask = dirty.chunkMasks.get(key)
      const change = chunkMask === undefined ? undefined : { chunkMask, fresh: fresh.has(key) }
      const chunks = this.updatePlane(key, view.planeBytes(key), change)
      if (chunks > 0) planesHashed += 1
      chunksHashed += chunks
      if (wasPresent && !this.#present(key)) planesRemoved += 1
    }
    for (const address of dirty.allocations) this.setAllocation(address, view.allocationAt(address))
    return { planesHashed, chunksHashed, planesRemoved, allocationsChanged: dirty.allocations.length }
  }

  /**
   * Commits one plane's current bytes (`undefined`: not materialized). With `change`, only the chunks in its
   * mask are rehashed (it must cover every chunk changed since this plane was last committed); without, the
   * whole plane. Returns the number of chunks hashed.
   */
  updatePlane(key: number, bytes: Uint8Array | undefined, change?: PlaneChange): number {
    checkPlaneKey(key)
    if (bytes === undefined) {
      this.#removePlane(key)
      return 0
    }
    let tree = this.#chunkTrees.get(key)
    let chunks = CHUNKS_PER_PLANE
    if (change === undefined) {
      if (tree === undefined) tree = ChunkTree.build(this.#hasher, bytes)
      else tree.rehash(this.#hasher, bytes)
    } else if (change.fresh) {
      tree = ChunkTree.fromZeros(this.#hasher, bytes, change.chunkMask)
      chunks = chunkCount(change.chunkMask)
    } else if (tree !== undefined) {
      if (change.chunkMask === 0) return 0
      tree.rehash(this.#hasher, bytes, change.chunkMask)
      chunks = chunkCount(change.chunkMask)
    } else {
      // Committed as absent but not new to memory (an all-zero plane written again, or a commitment that
      // started late): the old contents are not known here, so hash the whole plane.
      tree = ChunkTree.build(this.#hasher, bytes)
    }
    if (bytesEqual(tree.rootView(), ZERO_PLANE_ROOT)) {
      this.#removePlane(key)
    } else {
      this.#restoredRoots.delete(key)
      this.#chunkTrees.set(key, tree)
      this.#planes.set(key, planeLeafHash(this.#hasher, key, tree.rootView()))
      this.#memoryRoot = undefined
    }
    return chunks
  }

  /** Whether this commitment holds the chunk hashes of plane `key` (else updating it needs the whole plane). */
  hasChunkHashes(key: number): boolean {
    return this.#chunkTrees.has(key)
  }

  /**
   * Commits a plane by its root alone, as a store recorded it (no bytes are read or hashed): reopening a
   * program costs one tree update per plane. The plane's chunk hashes are unknown, so its next `updatePlane`
   * hashes the whole plane, and proofs need a commitment built from the bytes (`fromScratch`).
   */
  restorePlane(key: number, root: Uint8Array): void {
    checkPlaneKey(key)
    if (bytesEqual(root, ZERO_PLANE_ROOT)) {
      this.#removePlane(key)
      return
    }
    this.#chunkTrees.delete(key)
    this.#restoredRoots.set(key, root.slice())
    this.#planes.set(key, planeLeafHash(this.#hasher, key, root))
    this.#memoryRoot = undefined
  }

  /** Commits that the allocation starting at `address` now has `size` bytes, or (undefined) is freed. */
  setAllocation(address: number, size: number | undefined): void {
    checkAddress(address)
    const starts = this.#allocationStarts
    const at = floorIndex(starts, address)
    const known = at >= 0 && starts[at] === address
    if (size === undefined) {
      if (!known) return
      starts.splice(at, 1)
      this.#allocationSizes.delete(address)
      this.#allocations.delete(address)
    } else {
      if (!Number.isInteger(size) || size < 1 || address + size > ADDRESS_LIMIT) {
        throw new StrataError(
          MerkleErrorCode.INVALID_ARGUMENT,
          `allocation size must be a positive integer within the address space, got ${describeValue(size)}`,
          { address, size },
        )
      }
      if (!known) starts.splice(at + 1, 0, address)
      this.#allocationSizes.set(address, size)
      this.#allocations.set(address, allocationLeafHash(this.#hasher, address, size))
    }
    this.#memoryRoot = undefined
  }

  /** SHA-256(0x22 || planes root || allocations root), a new array. */
  memoryRoot(): Uint8Array {
    this.#memoryRoot ??= memoryRootHash(this.#hasher, this.#planes.root(), this.#allocations.root())
    return this.#memoryRoot.slice()
  }

  planesRoot(): Uint8Array {
    return this.#planes.root().slice()
  }

  allocationsRoot(): Uint8Array {
    return this.#allocations.root().slice()
  }

  /** The committed chunk-tree root of a plane, or undefined if the plane is absent (reads as zeros). */
  planeRoot(key: number): Uint8Array | undefined {
    checkPlaneKey(key)
    return this.#chunkTrees.get(key)?.root() ?? this.#restoredRoots.get(key)?.slice()
  }

  /** Keys of committed planes (ascending). */
  planeKeys(): number[] {
    return [...this.#chunkTrees.keys(), ...this.#restoredRoots.keys()].sort((a, b) => a - b)
  }

  get planeCount(): number {
    return this.#chunkTrees.size + this.#restoredRoots.size
  }

  get allocationCount(): number {
    return this.#allocationStarts.length
  }

  // ---- for proofs (prove.ts) ------------------------------------------------------------------------------

  /** The cached chunk tree of a committed plane. */
  chunkTree(key: number): ChunkTree | undefined {
    return this.#chunkTrees.get(key)
  }

  planePath(key: number): SparsePath<number> {
    return this.#planes.path(checkPlaneKey(key))
  }

  /** `planePath` writing the siblings into `words` (see SparseMerkleTree.pathInto). */
  planePathInto(key: number, words: Int32Array, offset: number): PathWritten<number> {
    return this.#planes.pathInto(checkPlaneKey(key), words, offset)
  }

  /** The live allocation that contains `address`, if any. */
  allocationContaining(address: number): AllocationRecord | undefined {
    const starts = this.#allocationStarts
    const at = floorIndex(starts, address)
    if (at < 0) return undefined
    const start = starts[at]!
    const size = this.#allocationSizes.get(start)!
    return address < start + size ? { address: start, size } : undefined
  }

  allocationPath(address: number): SparsePath<number> {
    return this.#allocations.path(checkAddress(address))
  }

  /** `allocationPath` writing the siblings into `words` (see SparseMerkleTree.pathInto). */
  allocationPathInto(address: number, words: Int32Array, offset: number): PathWritten<number> {
    return this.#allocations.pathInto(checkAddress(address), words, offset)
  }

  #present(key: number): boolean {
    return this.#chunkTrees.has(key) || this.#restoredRoots.has(key)
  }

  #removePlane(key: number): void {
    const held = this.#chunkTrees.delete(key)
    if (!this.#restoredRoots.delete(key) && !held) return
    this.#planes.delete(key)
    this.#memoryRoot = undefined
  }
}

