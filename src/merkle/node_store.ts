/**
 * Where a sparse tree keeps its nodes: a small Map-like interface keyed by position (see key_path.ts), so a
 * persistent store (LMDB) can hold them later without the tree changing. A node is a kind (inner or leaf), a
 * 32-byte hash and, for a leaf, the key it commits to.
 *
 * Hashes cross this interface as eight 32-bit words copied into or out of the caller's Int32Array: the tree
 * copies child hashes straight into its batch of hash inputs and results straight from the hash output, with
 * no object per node. The words are the digest's bytes as the platform reads them through an Int32Array over
 * the same memory (convert with `wordsFromHash` / `hashFromWords`), so a store that persists them should write
 * the bytes, not the numbers.
 *
 * Two implementations: `NumericNodeTable` (typed arrays, numeric positions; the planes and allocation trees,
 * where an update is mostly node reads and writes, measured ~3x faster than a Map of node objects) and
 * `MapNodeStore` (any position type; the state tree, whose positions are strings).
 */
import { assert } from '../errors.js'

export const NodeKind = {
  EMPTY: 0,
  INNER: 1,
  LEAF: 2,
} as const
export type NodeKind = (typeof NodeKind)[keyof typeof NodeKind]

/** Words in one hash. */
export const HASH_WORDS = 8

export interface NodeStore<P, K> {
  /** What `position` holds: EMPTY, INNER or LEAF. */
  kind(position: P): NodeKind
  /** Like `kind`, and for INNER or LEAF also copies the node's hash into `words[offset..offset+8)`. */
  read(position: P, words: Int32Array, offset: number): NodeKind
  /** The key of the leaf at `position`; only valid where `kind` is LEAF. */
  leafKey(position: P): K
  /** Stores a node whose hash is `words[offset..offset+8)`: a leaf of `leafKey`, or inner if it is undefined. */
  write(position: P, words: Int32Array, offset: number, leafKey: K | undefined): void
  delete(position: P): void
  /** Nodes held (leaves and inner nodes). */
  readonly size: number
}

// One buffer seen as bytes and as words: converting through memory keeps byte order right on any platform.
const scratchBytes = new Uint8Array(32)
const scratchWords = new Int32Array(scratchBytes.buffer)

/** Copies a 32-byte hash into `words[offset..offset+8)`. */
export function wordsFromHash(hash: Uint8Array, words: Int32Array, offset: number): void {
  // A byte loop: TypedArray.prototype.set of 32 bytes measured ~3x slower on this path.
  for (let i = 0; i < 32; i += 1) scratchBytes[i] = hash[i]!
  for (let i = 0; i < HASH_WORDS; i += 1) words[offset + i] = scratchWords[i]!
}

/** The 32-byte hash held in `words[offset..offset+8)`, as a new array. */
export function hashFromWords(words: Int32Array, offset: number): Uint8Array {
  for (let i = 0; i < HASH_WORDS; i += 1) scratchWords[i] = words[offset + i]!
  return scratchBytes.slice()
}

interface MapNode<K> {
  readonly kind: NodeKind
  readonly words: Int32Array
  readonly leafKey: K | undefined
}

/** Nodes in a Map, for any position type. Stored arrays are private copies. */
export class MapNodeStore<P, K> implements NodeStore<P, K> {
  readonly #nodes = new Map<P, MapNode<K>>()

  kind(position: P): NodeKind {
    return this.#nodes.get(position)?.kind ?? NodeKind.EMPTY
  }

  read(position: P, words: Int32Array, offset: number): NodeKind {
    const node = this.#nodes.get(position)
    if (node === undefined) return NodeKind.EMPTY
    words.set(node.words, offset)
    return node.kind
  }

  leafKey(position: P): K {
    const node = this.#nodes.get(position)
    assert(node !== undefined && node.leafKey !== undefined, 'leafKey of a leaf position')
    return node.leafKey
  }

  write(position: P, words: Int32Array, offset: number, leafKey: K | undefined): void {
    const kind = leafKey === undefined ? NodeKind.INNER : NodeKind.LEAF
    this.#nodes.set(position, { kind, words: words.slice(offset, offset + HASH_WORDS), leafKey })
  }

  delete(position: P): void {
    this.#nodes.delete(position)
  }

  get size(): number {
    return this.#nodes.size
  }
}

/** Positions and numeric keys are below 2^53; 0 marks a free slot and -1 a deleted one (positions start at 1). */
const FREE = 0
const DELETED = -1
/** Small to start: a program commitment holds two tables, and most programs touch few planes. */
const TABLE_CAPACITY_MIN = 16
/**
 * One slot is one 64-byte cache line, read through two views of the same memory:
 *   float64 [0] position, [1] leaf key      int32 [4] kind, [8..15] hash words
 */
const SLOT_FLOATS = 8
const SLOT_INTS = 16
const KIND_INT = 4
const WORDS_INT = 8

/**
 * An open-addressing hash table over one ArrayBuffer for numeric positions (>= 1) and numeric leaf keys: a
 * node's position, kind, key and hash share a cache line, there is no object per node and no garbage per
 * update. Linear probing, tombstones on delete, rebuilt when over half full.
 */
export class NumericNodeTable implements NodeStore<number, number> {
  #floats = new Float64Array(TABLE_CAPACITY_MIN * SLOT_FLOATS)
  #ints = new Int32Array(this.#floats.buffer)
  #mask = TABLE_CAPACITY_MIN - 1
  #bits = Math.log2(TABLE_CAPACITY_MIN)
  #live = 0
  /** Live plus deleted slots: what lengthens probe sequences. */
  #used = 0

  get size(): number {
    return this.#live
  }

  kind(position: number): NodeKind {
    const slot = this.#find(position)
    return slot < 0 ? NodeKind.EMPTY : (this.#ints[slot * SLOT_INTS + KIND_INT]! as NodeKind)
  }

  read(position: number, words: Int32Array, offset: number): NodeKind {
    const slot = this.#find(position)
    if (slot < 0) return NodeKind.EMPTY
    const from = this.#ints
    const base = slot * SLOT_INTS + WORDS_INT
    words[offset] = from[base]!
    words[offset + 1] = from[base + 1]!
    words[offset + 2] = from[base + 2]!
    words[offset + 3] = from[base + 3]!
    words[offset + 4] = from[base + 4]!
    words[offset + 5] = from[base + 5]!
    words[offset + 6] = from[base + 6]!
    words[offset + 7] = from[base + 7]!
    return from[slot * SLOT_INTS + KIND_INT]! as NodeKind
  }

  leafKey(position: number): number {
    const slot = this.#find(position)
    assert(slot >= 0 && this.#ints[slot * SLOT_INTS + KIND_INT] === NodeKind.LEAF, 'leafKey of a leaf position')
    return this.#floats[slot * SLOT_FLOATS + 1]!
  }

  write(position: number, words: Int32Array, offset: number, leafKey: number | undefined): void {
    let slot = this.#find(position)
    if (slot < 0) {
      if ((this.#used + 1) * 2 > this.#mask + 1) this.#rebuild(this.#live + 1)
      slot = this.#insertSlot(position)
      this.#live += 1
    }
    this.#floats[slot * SLOT_FLOATS + 1] = leafKey ?? 0
    const to = this.#ints
    to[slot * SLOT_INTS + KIND_INT] = leafKey === undefined ? NodeKind.INNER : NodeKind.LEAF
    const base = slot * SLOT_INTS + WORDS_INT
    to[base] = words[offset]!
    to[base + 1] = words[offset + 1]!
    to[base + 2] = words[offset + 2]!
    to[base + 3] = words[offset + 3]!
    to[base + 4] = words[offset + 4]!
    to[base + 5] = words[offset + 5]!
    to[base + 6] = words[offset + 6]!
    to[base + 7] = words[offset + 7]!
  }

  delete(position: number): void {
    const slot = this.#find(position)
    if (slot < 0) return
    this.#floats[slot * SLOT_FLOATS] = DELETED
    this.#ints[slot * SLOT_INTS + KIND_INT] = NodeKind.EMPTY
    this.#live -= 1
  }

  /**
   * The first slot to probe. Positions below the capacity map to themselves: a node, its sibling (position
   * xor 1) and its parent (position / 2) then sit close together and the top of the tree stays in cache,
   * which measured ~25% off a path update against a mixed hash. Larger positions fold their high bits in;
   * their low bits are path bits of mixed keys, already well spread.
   */
  #start(position: number): number {
    const low = position >>> 0
    const high = (position / 4294967296) >>> 0
    return (low ^ (low >>> this.#bits) ^ Math.imul(high, 0x9e3779b1)) & this.#mask
  }

  #find(position: number): number {
    const floats = this.#floats
    const mask = this.#mask
    for (let slot = this.#start(position); ; slot = (slot + 1) & mask) {
      const at = floats[slot * SLOT_FLOATS]!
      if (at === position) return slot
      if (at === FREE) return -1
    }
  }

  /** A slot for a position known to be absent: the first deleted or free slot on its probe sequence. */
  #insertSlot(position: number): number {
    const floats = this.#floats
    const mask = this.#mask
    for (let slot = this.#start(position); ; slot = (slot + 1) & mask) {
      const at = floats[slot * SLOT_FLOATS]!
      if (at === FREE || at === DELETED) {
        if (at === FREE) this.#used += 1
        floats[slot * SLOT_FLOATS] = position
        return slot
      }
    }
  }

  /** Rebuilds the table with room for `live` nodes at most a quarter full, dropping deleted slots. */
  #rebuild(live: number): void {
    let capacity = TABLE_CAPACITY_MIN
    while (capacity < live * 4) capacity *= 2
    this.#bits = Math.log2(capacity)
    const oldFloats = this.#floats
    const oldInts = this.#ints
    this.#floats = new Float64Array(capacity * SLOT_FLOATS)
    this.#ints = new Int32Array(this.#floats.buffer)
    this.#mask = capacity - 1
    this.#used = 0
    for (let old = 0; old < oldFloats.length / SLOT_FLOATS; old += 1) {
      const position = oldFloats[old * SLOT_FLOATS]!
      if (position === FREE || position === DELETED) continue
      const slot = this.#insertSlot(position)
      this.#floats[slot * SLOT_FLOATS + 1] = oldFloats[old * SLOT_FLOATS + 1]!
      this.#ints.set(oldInts.subarray(old * SLOT_INTS + KIND_INT, (old + 1) * SLOT_INTS), slot * SLOT_INTS + KIND_INT)
    }
  }
}
