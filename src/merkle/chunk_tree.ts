/**
 * A plane's hash: a complete binary tree over its 4 KiB chunks, with every node cached so that a write of a
 * few bytes rehashes one chunk and the 4 nodes above it.
 *
 *                         plane root (node 1)
 *                 /                               \
 *            node 2                               node 3
 *          /        \                           /        \
 *       ...          ...                     ...          ...          (4 levels)
 *   node 16  node 17  ...                          node 30  node 31
 *   chunk 0  chunk 1  ...                          chunk 14 chunk 15   leaf = SHA-256(0x10 || 4,096 bytes)
 *
 * Heap numbering: node i has children 2i and 2i+1; chunk c is node CHUNKS_PER_PLANE + c. All node hashes of
 * one plane live in one array of 32 * 2 * CHUNKS_PER_PLANE bytes (1 KiB), so the children of one level are
 * contiguous and a whole level hashes in one batched call.
 */
import { PLANE_SIZE_BYTES } from '../constants.js'
import { StrataError, assert, describeValue } from '../errors.js'
import { MerkleErrorCode } from './errors.js'
import { CHUNKS_PER_PLANE, CHUNK_SIZE_BYTES, CHUNK_TREE_DEPTH, HASH_SIZE_BYTES } from './format.js'
import { HASH_WORDS } from './node_store.js'
import type { Hasher } from './hasher.js'
import { chunkLeafInto } from './leaf_hash.js'

/** Bytes written inside one plane: the dirty-chunk hint memory may give (see ProgramCommitment.update). */
export interface PlaneWrite {
  /** First byte written, 0..65535. */
  readonly offset: number
  /** Bytes written, at least 1; offset + length <= 65,536. */
  readonly length: number
}

function checkPlane(bytes: Uint8Array): void {
  if (!(bytes instanceof Uint8Array) || bytes.length !== PLANE_SIZE_BYTES) {
    throw new StrataError(
      MerkleErrorCode.INVALID_ARGUMENT,
      `a plane must be a Uint8Array of ${PLANE_SIZE_BYTES} bytes, got ${describeValue(bytes)}`,
    )
  }
}

/** Hashes every chunk and inner node of a plane into `nodes` (heap layout, 2 * chunks * 32 bytes). */
function hashAll(hasher: Hasher, bytes: Uint8Array, chunkSizeBytes: number, nodes: Uint8Array): void {
  const chunkCount = bytes.length / chunkSizeBytes
  for (let c = 0; c < chunkCount; c += 1) {
    const leaf = (chunkCount + c) * HASH_SIZE_BYTES
    chunkLeafInto(hasher, bytes.subarray(c * chunkSizeBytes, (c + 1) * chunkSizeBytes), nodes.subarray(leaf, leaf + HASH_SIZE_BYTES))
  }
  // Level of width w occupies nodes [w, 2w); its children are the level [2w, 4w) just below.
  for (let width = chunkCount / 2; width >= 1; width /= 2) {
    hasher.hashNodesInto(
      nodes.subarray(2 * width * HASH_SIZE_BYTES, 4 * width * HASH_SIZE_BYTES),
      nodes.subarray(width * HASH_SIZE_BYTES, 2 * width * HASH_SIZE_BYTES),
    )
  }
}

/**
 * The chunk-tree root of a plane cut into chunks of `chunkSizeBytes` (a power of two from 64 to 65,536).
 * Strata commits with CHUNK_SIZE_BYTES; other sizes exist so the benchmark can show why that one was chosen.
 */
export function planeRootWithChunkSize(hasher: Hasher, bytes: Uint8Array, chunkSizeBytes: number): Uint8Array {
  checkPlane(bytes)
  assert(Number.isInteger(Math.log2(chunkSizeBytes)) && chunkSizeBytes >= 64 && chunkSizeBytes <= PLANE_SIZE_BYTES, 'chunk size')
  const chunkCount = PLANE_SIZE_BYTES / chunkSizeBytes
  if (chunkCount === 1) {
    const root = new Uint8Array(HASH_SIZE_BYTES)
    chunkLeafInto(hasher, bytes, root)
    return root
  }
  const nodes = new Uint8Array(2 * chunkCount * HASH_SIZE_BYTES)
  hashAll(hasher, bytes, chunkSizeBytes, nodes)
  return nodes.slice(HASH_SIZE_BYTES, 2 * HASH_SIZE_BYTES)
}

/** The root of a plane's chunk tree (its hash, as stored with the plane and checked when it is read back). */
export function hashPlane(hasher: Hasher, bytes: Uint8Array): Uint8Array {
  return planeRootWithChunkSize(hasher, bytes, CHUNK_SIZE_BYTES)
}

/** The chunk indexes touched by `writes`, ascending and distinct. Throws on a write outside the plane. */
export function chunksOfWrites(writes: readonly PlaneWrite[]): number[] {
  const touched = new Uint8Array(CHUNKS_PER_PLANE)
  for (const write of writes) {
    const { offset, length } = write
    if (!Number.isInteger(offset) || !Number.isInteger(length) || offset < 0 || length < 1 || offset + length > PLANE_SIZE_BYTES) {
      throw new StrataError(
        MerkleErrorCode.INVALID_ARGUMENT,
        `a plane write must lie in 0..${PLANE_SIZE_BYTES - 1}, got offset ${describeValue(offset)} length ${describeValue(length)}`,
      )
    }
    const last = Math.floor((offset + length - 1) / CHUNK_SIZE_BYTES)
    for (let c = Math.floor(offset / CHUNK_SIZE_BYTES); c <= last; c += 1) touched[c] = 1
  }
  const chunks: number[] = []
  for (let c = 0; c < CHUNKS_PER_PLANE; c += 1) if (touched[c] === 1) chunks.push(c)
  return chunks
}

export class ChunkTree {
  readonly #nodes: Uint8Array
  /** The same memory as 32-bit words, for copying hashes into a proof without views per hash. */
  readonly #words: Int32Array

  private constructor(nodes: Uint8Array) {
    this.#nodes = nodes
    this.#words = new Int32Array(nodes.buffer, nodes.byteOffset, nodes.length / 4)
  }

  /** Hashes a whole plane. */
  static build(hasher: Hasher, bytes: Uint8Array): ChunkTree {
    checkPlane(bytes)
    const nodes = new Uint8Array(2 * CHUNKS_PER_PLANE * HASH_SIZE_BYTES)
    hashAll(hasher, bytes, CHUNK_SIZE_BYTES, nodes)
    return new ChunkTree(nodes)
  }

  /**
   * Brings the tree up to date with `bytes`, given which chunks changed (ascending chunk indexes; all of them
   * if omitted). Only those chunks and their paths are rehashed.
   */
  rehash(hasher: Hasher, bytes: Uint8Array, chunks?: readonly number[]): void {
    checkPlane(bytes)
    const nodes = this.#nodes
    if (chunks === undefined || chunks.length === CHUNKS_PER_PLANE) {
      hashAll(hasher, bytes, CHUNK_SIZE_BYTES, nodes)
      return
    }
    let parents: number[] = []
    for (const c of chunks) {
      assert(Number.isInteger(c) && c >= 0 && c < CHUNKS_PER_PLANE, 'chunk index in range')
      const leaf = (CHUNKS_PER_PLANE + c) * HASH_SIZE_BYTES
      chunkLeafInto(hasher, bytes.subarray(c * CHUNK_SIZE_BYTES, (c + 1) * CHUNK_SIZE_BYTES), nodes.subarray(leaf, leaf + HASH_SIZE_BYTES))
      const parent = (CHUNKS_PER_PLANE + c) >> 1
      if (parents[parents.length - 1] !== parent) parents.push(parent)
    }
    // Ascending chunks give ascending parents at every level, so duplicates are always adjacent.
    while (parents.length > 0) {
      const next: number[] = []
      for (const node of parents) {
        hasher.hashNodesInto(
          nodes.subarray(2 * node * HASH_SIZE_BYTES, (2 * node + 2) * HASH_SIZE_BYTES),
          nodes.subarray(node * HASH_SIZE_BYTES, (node + 1) * HASH_SIZE_BYTES),
        )
        const up = node >> 1
        if (up >= 1 && next[next.length - 1] !== up) next.push(up)
      }
      parents = next
    }
  }

  /** The plane root (a copy). */
  root(): Uint8Array {
    return this.#nodes.slice(HASH_SIZE_BYTES, 2 * HASH_SIZE_BYTES)
  }

  /** A view of the plane root, valid until the next `rehash`: for hashing it without a copy. */
  rootView(): Uint8Array {
    return this.#nodes.subarray(HASH_SIZE_BYTES, 2 * HASH_SIZE_BYTES)
  }

  /** The chunk's leaf hash (a copy). */
  leaf(chunk: number): Uint8Array {
    const node = CHUNKS_PER_PLANE + chunk
    return this.#nodes.slice(node * HASH_SIZE_BYTES, (node + 1) * HASH_SIZE_BYTES)
  }

  /** The CHUNK_TREE_DEPTH sibling hashes of a chunk, deepest first, in one new array of 32 bytes each. */
  siblings(chunk: number): Uint8Array {
    const words = new Int32Array(CHUNK_TREE_DEPTH * HASH_WORDS)
    this.siblingsInto(chunk, words, 0)
    return new Uint8Array(words.buffer)
  }

  /** Writes the chunk's sibling hashes (deepest first, 8 words each) into `words` from `offset`. */
  siblingsInto(chunk: number, words: Int32Array, offset: number): void {
    assert(Number.isInteger(chunk) && chunk >= 0 && chunk < CHUNKS_PER_PLANE, 'chunk index in range')
    const from = this.#words
    let to = offset
    for (let node = CHUNKS_PER_PLANE + chunk; node > 1; node >>= 1) {
      const sibling = (node ^ 1) * HASH_WORDS
      for (let w = 0; w < HASH_WORDS; w += 1) words[to + w] = from[sibling + w]!
      to += HASH_WORDS
    }
  }
}
