/**
 * A plane's hash: a complete binary tree over its 4 KiB chunks, with every node cached so that a write of a
 * few bytes rehashes one chunk and the 4 nodes above it. Which chunks changed comes from memory as a chunk mask
 * (DirtySet.chunkMasks: bit c = bytes c * 4096 .. c * 4096 + 4095).
 *
 *                         plane root (node 1)
 *                 /                               \
 *            node 2                               node 3
 *          /        \                           /        \
 *       ...          ...                     ...          ...          (4 levels)
 *   node 16  node 17  ...                          node 30  node 31
 *   chunk 0  chunk 1  ...                          chunk 14 chunk 15   leaf = SHA-256(the chunk's 4,096 bytes)
 *
 * Heap numbering: node i has children 2i and 2i+1; chunk c is node CHUNKS_PER_PLANE + c. All node hashes of
 * one plane live in one array of 32 * 2 * CHUNKS_PER_PLANE bytes (1 KiB), so the children of one level are
 * contiguous and a whole level hashes in one batched call.
 */
import { PLANE_SIZE_BYTES } from '../constants.js'
import { StrataError, assert, describeValue } from '../errors.js'
import { MerkleErrorCode } from './errors.js'
import { ALL_CHUNKS_MASK, CHUNKS_PER_PLANE, CHUNK_SIZE_BYTES, CHUNK_TREE_DEPTH, HASH_SIZE_BYTES } from './format.js'
import { HASH_WORDS } from './node_store.js'
import type { Hasher } from './hasher.js'
import { chunkLeafInto, ZERO_CHUNK_HASH } from './leaf_hash.js'

function checkPlane(bytes: Uint8Array): void {
  if (!(bytes instanceof Uint8Array) || bytes.length !== PLANE_SIZE_BYTES) {
    throw new StrataError(
      MerkleErrorCode.INVALID_ARGUMENT,
      `a plane must be a Uint8Array of ${PLANE_SIZE_BYTES} bytes, got ${describeValue(bytes)}`,
    )
  }
}

/** A node array in heap layout and fixed views of its levels (child level -> parent level), per chunk count. */
interface Scratch {
  readonly nodes: Uint8Array
  readonly levels: readonly { readonly children: Uint8Array; readonly parents: Uint8Array }[]
}
const scratchByChunkCount = new Map<number, Scratch>()

function scratchFor(chunkCount: number): Scratch {
  let scratch = scratchByChunkCount.get(chunkCount)
  if (scratch === undefined) {
    const nodes = new Uint8Array(2 * chunkCount * HASH_SIZE_BYTES)
    const levels = []
    // The level of width w occupies nodes [w, 2w); its children are the level [2w, 4w) just below.
    for (let width = chunkCount / 2; width >= 1; width /= 2) {
      levels.push({
        children: nodes.subarray(2 * width * HASH_SIZE_BYTES, 4 * width * HASH_SIZE_BYTES),
        parents: nodes.subarray(width * HASH_SIZE_BYTES, 2 * width * HASH_SIZE_BYTES),
      })
    }
    scratch = { nodes, levels }
    scratchByChunkCount.set(chunkCount, scratch)
  }
  return scratch
}

/**
 * Hashes every chunk and inner node of a plane into a shared scratch array (heap layout) and returns it, valid
 * until the next call. The views are made once: a fresh view per native call measured a few % of a plane.
 */
function hashAll(hasher: Hasher, bytes: Uint8Array, chunkSizeBytes: number): Uint8Array {
  const chunkCount = bytes.length / chunkSizeBytes
  const { nodes, levels } = scratchFor(chunkCount)
  for (let c = 0; c < chunkCount; c += 1) {
    const chunk = bytes.subarray(c * chunkSizeBytes, (c + 1) * chunkSizeBytes)
    chunkLeafInto(hasher, chunk, nodes, (chunkCount + c) * HASH_SIZE_BYTES)
  }
  for (const { children, parents } of levels) hasher.hashNodesInto(children, parents)
  return nodes
}

/**
 * The chunk-tree root of a plane cut into chunks of `chunkSizeBytes` (a power of two from 128 to 65,536).
 * Strata commits with CHUNK_SIZE_BYTES; other sizes exist so the benchmark can show why that one was chosen.
 */
export function planeRootWithChunkSize(hasher: Hasher, bytes: Uint8Array, chunkSizeBytes: number): Uint8Array {
  checkPlane(bytes)
  // At least 128 bytes: a 64-byte chunk would be as long as an inner node's input (format.ts).
  assert(
    Number.isInteger(Math.log2(chunkSizeBytes)) && chunkSizeBytes >= 128 && chunkSizeBytes <= PLANE_SIZE_BYTES,
    'chunk size is a power of two in 128..65536',
  )
  // With one chunk the leaf is node 1, the root.
  return hashAll(hasher, bytes, chunkSizeBytes).slice(HASH_SIZE_BYTES, 2 * HASH_SIZE_BYTES)
}

/** The root of a plane's chunk tree (its hash, as stored with the plane and checked when it is read back). */
export function hashPlane(hasher: Hasher, bytes: Uint8Array): Uint8Array {
  return planeRootWithChunkSize(hasher, bytes, CHUNK_SIZE_BYTES)
}

/**
 * Which chunks of a plane changed: a chunk mask (bit c = chunk c, as memory's DirtySet.chunkMasks) or a list
 * of chunk indexes.
 */
export type ChunkSelection = number | readonly number[]

/** The mask of a chunk selection; throws on indexes or masks outside the plane. */
export function chunkMaskOf(chunks: ChunkSelection): number {
  if (typeof chunks === 'number') {
    checkMask(chunks)
    return chunks
  }
  if (!Array.isArray(chunks)) {
    throw new StrataError(
      MerkleErrorCode.INVALID_ARGUMENT, `chunks must be a mask or an array of indexes, got ${describeValue(chunks)}`,
    )
  }
  let mask = 0
  for (const c of chunks) {
    if (!Number.isInteger(c) || c < 0 || c >= CHUNKS_PER_PLANE) {
      throw new StrataError(
        MerkleErrorCode.INVALID_ARGUMENT,
        `a chunk index must be an integer in 0..${CHUNKS_PER_PLANE - 1}, got ${describeValue(c)}`,
      )
    }
    mask |= 1 << c
  }
  return mask
}

/** Throws unless `mask` is a chunk mask of a plane (bit c = chunk c). */
function checkMask(mask: number): void {
  if (!Number.isInteger(mask) || mask < 0 || mask > ALL_CHUNKS_MASK) {
    throw new StrataError(
      MerkleErrorCode.INVALID_ARGUMENT,
      `a chunk mask must be an integer in 0..${ALL_CHUNKS_MASK}, got ${describeValue(mask)}`,
    )
  }
}

/** Number of chunks set in a mask. */
export function chunkCount(mask: number): number {
  let count = 0
  for (let rest = mask; rest !== 0; rest &= rest - 1) count += 1
  return count
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
    return new ChunkTree(hashAll(hasher, bytes, CHUNK_SIZE_BYTES).slice())
  }

  /**
   * Hashes a plane known to be zeros outside the chunks in `chunkMask` (a plane memory created since the last
   * commit): the other leaves are the zero-chunk hash, copied, not computed.
   */
  static fromZeros(hasher: Hasher, bytes: Uint8Array, chunks: ChunkSelection): ChunkTree {
    checkPlane(bytes)
    const chunkMask = chunkMaskOf(chunks)
    const nodes = new Uint8Array(2 * CHUNKS_PER_PLANE * HASH_SIZE_BYTES)
    for (let c = 0; c < CHUNKS_PER_PLANE; c += 1) {
      const leaf = (CHUNKS_PER_PLANE + c) * HASH_SIZE_BYTES
      if (((chunkMask >> c) & 1) === 1) {
        chunkLeafInto(hasher, bytes.subarray(c * CHUNK_SIZE_BYTES, (c + 1) * CHUNK_SIZE_BYTES), nodes, leaf)
      } else {
        nodes.set(ZERO_CHUNK_HASH, leaf)
      }
    }
    const tree = new ChunkTree(nodes)
    tree.#hashLevels(hasher)
    return tree
  }

  /**
   * Brings the tree up to date with `bytes`, given the chunks that changed (a mask or a list of indexes; every
   * chunk if omitted). Only those chunks and their paths are rehashed.
   */
  rehash(hasher: Hasher, bytes: Uint8Array, chunks: ChunkSelection = ALL_CHUNKS_MASK): void {
    checkPlane(bytes)
    const chunkMask = chunkMaskOf(chunks)
    const nodes = this.#nodes
    if (chunkMask === ALL_CHUNKS_MASK) {
      nodes.set(hashAll(hasher, bytes, CHUNK_SIZE_BYTES))
      return
    }
    let parents: number[] = []
    for (let c = 0; c < CHUNKS_PER_PLANE; c += 1) {
      if (((chunkMask >> c) & 1) === 0) continue
      const chunk = bytes.subarray(c * CHUNK_SIZE_BYTES, (c + 1) * CHUNK_SIZE_BYTES)
      chunkLeafInto(hasher, chunk, nodes, (CHUNKS_PER_PLANE + c) * HASH_SIZE_BYTES)
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

  /** Rehashes every inner level from the leaves, one batched call per level. */
  #hashLevels(hasher: Hasher): void {
    const nodes = this.#nodes
    for (let width = CHUNKS_PER_PLANE / 2; width >= 1; width /= 2) {
      hasher.hashNodesInto(
        nodes.subarray(2 * width * HASH_SIZE_BYTES, 4 * width * HASH_SIZE_BYTES),
        nodes.subarray(width * HASH_SIZE_BYTES, 2 * width * HASH_SIZE_BYTES),
      )
    }
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
