/**
 * A sparse Merkle tree with the single-leaf shortcut of Diem/Aptos' Jellyfish Merkle tree: a subtree that
 * holds exactly one leaf is that leaf's hash, placed at the top of the subtree; a subtree with no leaf is
 * EMPTY_HASH; any other subtree is an inner node SHA-256(left || right). The shape is canonical (it depends
 * only on the set of keys), so equal contents give equal roots whatever the order of updates.
 *
 *   three keys whose path bits are 000, 001 and 011 (bit 0 is the root's choice):
 *
 *                    root                    root = H(A || EMPTY)
 *                  /      \                  A    = H(B || leaf 011)
 *                A          EMPTY    bit 0   B    = H(leaf 000 || leaf 001)
 *              /   \
 *             B     leaf 011         bit 1   leaf 011 sits at depth 2: it is alone under A's right child
 *           /   \
 *    leaf 000   leaf 001             bit 2
 *
 * A leaf hash commits to its full key (see leaf_hash.ts), so a leaf placed high still names its key. An update
 * touches only its path: O(depth) node reads, and hashing is deferred to `root()`, which hashes every changed
 * inner node once, deepest level first, one batched call per level.
 */
import { AssertionFailure, assert } from '../errors.js'
import { HASH_SIZE_BYTES, NODE_INPUT_SIZE_BYTES } from './format.js'
import type { Hasher } from './hasher.js'
import type { KeyPath } from './key_path.js'
import type { PositionSet } from './position_set.js'
import { EMPTY_HASH } from './leaf_hash.js'
import {
  HASH_WORDS, MapNodeStore, NodeKind, hashFromWords, wordsFromHash, type NodeStore,
} from './node_store.js'

/** Where a key's path ends. */
export type PathEnd<K> =
  /** A leaf: the key's own (presence) or another key's whose path shares every bit so far (absence). */
  | { readonly kind: 'leaf'; readonly key: K; readonly hash: Uint8Array }
  /** An empty subtree (absence). */
  | { readonly kind: 'empty' }

/** What `pathInto` reports; the siblings themselves went to the caller's words. */
export interface PathWritten<K> {
  /** The depth at which the path ends: the number of siblings written. */
  readonly depth: number
  readonly end: PathEnd<K>
}

export interface SparsePath<K> {
  /** The depth at which the path ends: the number of siblings. */
  readonly depth: number
  /** The sibling hashes, deepest first, 32 bytes each, in one array of `depth * 32` bytes. */
  readonly siblings: Uint8Array
  readonly end: PathEnd<K>
}

const WORDS_PER_INPUT = NODE_INPUT_SIZE_BYTES / 4
const EMPTY_WORDS = new Int32Array(HASH_WORDS)
wordsFromHash(EMPTY_HASH, EMPTY_WORDS, 0)
/** What a new inner position holds until `root()` hashes it (never read as a hash: it is always queued). */
const PENDING_WORDS = new Int32Array(HASH_WORDS)

export class SparseMerkleTree<K, P, Q = K> {
  readonly #path: KeyPath<K, P, Q>
  readonly #hasher: Hasher
  readonly #store: NodeStore<P, K>
  /**
   * Inner positions whose hash is stale, by depth, each queued once per batch (`#queued`). A stale inner node
   * keeps its old value in the store until `root()` replaces it.
   */
  readonly #pending: P[][] = []
  /**
   * The positions queued since the last `root()`. Every queued position's ancestors are queued too, so along
   * one path the queued nodes are a prefix: an update stops asking once it meets the first unqueued one.
   */
  readonly #queued: PositionSet<P>
  /** Live entries of each `#pending` array (truncating an array measured slower than keeping a count). */
  readonly #pendingCount: number[] = []
  #pendingDepthMax = -1
  /** Whether a delete ran since the last `root()`, so a queued position may no longer be inner. */
  #deletedSinceRoot = false
  #rootBytes: Uint8Array = EMPTY_HASH
  /** Starts stale: a tree over a persistent node store may already hold a root. */
  #rootStale = true
  #positions: P[] = []

  constructor(path: KeyPath<K, P, Q>, hasher: Hasher, store: NodeStore<P, K> = new MapNodeStore<P, K>()) {
    this.#path = path
    this.#hasher = hasher
    this.#store = store
    reservePathWords(path.keyBits)
    this.#queued = path.positionSet()
  }

  // The hashing buffers are shared by every tree on this thread (module scope, below): a tree used them only
  // within one synchronous method, and no method calls into another tree (the hasher and the node store are
  // leaves), so no two uses overlap. Per-tree buffers cost about 20 ArrayBuffers per program commitment.
  get #input(): Uint8Array { return SHARED.input }
  get #output(): Uint8Array { return SHARED.output }
  get #inputWords(): Int32Array { return SHARED.inputWords }
  get #outputWords(): Int32Array { return SHARED.outputWords }
  get #input1(): Uint8Array { return SHARED.input1 }
  get #output1(): Uint8Array { return SHARED.output1 }
  get #scratch(): Int32Array { return SHARED.scratch }
  get #carry(): Int32Array { return SHARED.carry }
  /** Sibling words gathered by `path`, root first: one hash per level a key can descend. */
  get #pathWords(): Int32Array { return SHARED.pathWords }

  /** Inserts or replaces the leaf for `key`. `leafHash` must commit to `key` (leaf_hash.ts). */
  set(key: K, leafHash: Uint8Array): void {
    const path = this.#path
    const store = this.#store
    const scratch = this.#scratch
    wordsFromHash(leafHash, scratch, 0)
    this.#rootStale = true
    const pathKey = path.pathKey(key)
    let position = path.root
    let depth = 0
    let sharesQueued = true
    for (;;) {
      const kind = store.kind(position)
      if (kind === NodeKind.EMPTY) {
        store.write(position, scratch, 0, key)
        return
      }
      if (kind === NodeKind.INNER) {
        if (!(sharesQueued && this.#queued.has(position))) {
          sharesQueued = false
          this.#markPending(position, depth)
        }
        position = path.child(position, depth, path.bit(pathKey, depth))
        depth += 1
        continue
      }
      const other = store.leafKey(position)
      if (path.equal(other, key)) {
        store.write(position, scratch, 0, key)
        return
      }
      // Another key's leaf holds this subtree alone: push both leaves down to where their paths part. The new
      // inner positions hold a placeholder until root() hashes them.
      store.read(position, scratch, HASH_WORDS)
      const otherPathKey = path.pathKey(other)
      while (path.bit(pathKey, depth) === path.bit(otherPathKey, depth)) {
        store.write(position, PENDING_WORDS, 0, undefined)
        this.#markPendingOnce(position, depth)
        position = path.child(position, depth, path.bit(pathKey, depth))
        depth += 1
        if (depth >= path.keyBits) throw new AssertionFailure('two distinct keys share every path bit')
      }
      store.write(position, PENDING_WORDS, 0, undefined)
      this.#markPendingOnce(position, depth)
      store.write(path.child(position, depth, path.bit(pathKey, depth)), scratch, 0, key)
      store.write(path.child(position, depth, path.bit(otherPathKey, depth)), scratch, HASH_WORDS, other)
      return
    }
  }

  /** Removes `key`'s leaf; returns whether it was there. */
  delete(key: K): boolean {
    const path = this.#path
    const store = this.#store
    const inner: P[] = []
    const pathKey = path.pathKey(key)
    let position = path.root
    let depth = 0
    for (;;) {
      const kind = store.kind(position)
      if (kind === NodeKind.EMPTY) return false
      if (kind === NodeKind.INNER) {
        inner.push(position)
        position = path.child(position, depth, path.bit(pathKey, depth))
        depth += 1
        continue
      }
      if (!path.equal(store.leafKey(position), key)) return false
      break
    }
    store.delete(position)
    this.#deletedSinceRoot = true
    this.#rootStale = true
    if (depth === 0) return true
    // The parent held at least two leaves (canonical shape), so the sibling subtree is not empty.
    const parentDepth = depth - 1
    const siblingPosition = path.child(inner[parentDepth]!, parentDepth, 1 - path.bit(pathKey, parentDepth))
    const siblingKind = store.read(siblingPosition, this.#scratch, 0)
    assert(siblingKind !== NodeKind.EMPTY, 'an inner node has leaves on both sides')
    let top = depth
    if (siblingKind === NodeKind.LEAF) {
      // The sibling is now alone under the parent: hoist it while the subtree above holds nothing else.
      const siblingKey = store.leafKey(siblingPosition)
      store.delete(siblingPosition)
      top = parentDepth
      while (top > 0) {
        const uncle = path.child(inner[top - 1]!, top - 1, 1 - path.bit(pathKey, top - 1))
        if (store.kind(uncle) !== NodeKind.EMPTY) break
        store.delete(inner[top]!)
        top -= 1
      }
      store.write(inner[top]!, this.#scratch, 0, siblingKey)
    }
    for (let d = 0; d < top; d += 1) this.#markPendingOnce(inner[d]!, d)
    return true
  }

  /** The leaf hash stored for `key`, if any. */
  get(key: K): Uint8Array | undefined {
    const path = this.#path
    const store = this.#store
    const pathKey = path.pathKey(key)
    let position = path.root
    for (let depth = 0; ; depth += 1) {
      const kind = store.kind(position)
      if (kind === NodeKind.EMPTY) return undefined
      if (kind === NodeKind.LEAF) {
        if (!path.equal(store.leafKey(position), key)) return undefined
        store.read(position, this.#scratch, 0)
        return hashFromWords(this.#scratch, 0)
      }
      position = path.child(position, depth, path.bit(pathKey, depth))
    }
  }

  /**
   * Hashes every changed inner node (deepest level first, one batched call per level) and returns the root.
   * The returned array is shared: copy it before changing it.
   */
  root(): Uint8Array {
    const path = this.#path
    const store = this.#store
    // On a single path, the node hashed at one level is a child at the next: it is kept in `carry` instead of
    // being read back from the store (one table lookup less per level).
    const carry = this.#carry
    let lastPosition: P | undefined
    for (let depth = this.#pendingDepthMax; depth >= 0; depth -= 1) {
      const level = this.#pending[depth]
      const pending = this.#pendingCount[depth] ?? 0
      if (level === undefined || pending === 0) continue
      this.#pendingCount[depth] = 0
      this.#reserve(pending)
      const inputWords = this.#inputWords
      const outputWords = this.#outputWords
      const positions = this.#positions
      const checkInner = this.#deletedSinceRoot
      let count = 0
      for (let p = 0; p < pending; p += 1) {
        const position = level[p]!
        // A later delete may have emptied this position or hoisted a leaf into it.
        if (checkInner && store.kind(position) !== NodeKind.INNER) continue
        const base = count * WORDS_PER_INPUT
        for (let bit = 0; bit < 2; bit += 1) {
          const child = path.child(position, depth, bit)
          const at = base + bit * HASH_WORDS
          if (child === lastPosition) {
            for (let w = 0; w < HASH_WORDS; w += 1) inputWords[at + w] = carry[w]!
          } else if (store.read(child, inputWords, at) === NodeKind.EMPTY) {
            inputWords.set(EMPTY_WORDS, at)
          }
        }
        positions[count] = position
        count += 1
      }
      lastPosition = undefined
      if (count === 0) continue
      if (count === 1) {
        this.#hasher.hashNodesInto(this.#input1, this.#output1)
        for (let w = 0; w < HASH_WORDS; w += 1) carry[w] = outputWords[w]!
        lastPosition = positions[0]
      } else {
        this.#hasher.hashNodesInto(
          this.#input.subarray(0, count * NODE_INPUT_SIZE_BYTES), this.#output.subarray(0, count * HASH_SIZE_BYTES),
        )
      }
      for (let i = 0; i < count; i += 1) store.write(positions[i]!, outputWords, i * HASH_WORDS, undefined)
    }
    this.#pendingDepthMax = -1
    this.#deletedSinceRoot = false
    this.#queued.clear()
    if (this.#rootStale) {
      this.#rootStale = false
      const kind = store.read(path.root, this.#scratch, 0)
      this.#rootBytes = kind === NodeKind.EMPTY ? EMPTY_HASH : hashFromWords(this.#scratch, 0)
    }
    return this.#rootBytes
  }

  /** The path of `key` for a proof of presence or absence. Brings hashes up to date first. */
  path(key: K): SparsePath<K> {
    const words = new Int32Array(this.#path.keyBits * HASH_WORDS)
    const { depth, end } = this.pathInto(key, words, 0)
    return { depth, siblings: new Uint8Array(words.buffer, 0, depth * HASH_SIZE_BYTES).slice(), end }
  }

  /**
   * Like `path`, but writes the sibling hashes (deepest first, 8 words each) into `words` from `offset`, which
   * must have room for `keyBits` of them: the prover gathers a whole proof in one buffer this way.
   */
  pathInto(key: K, words: Int32Array, offset: number): PathWritten<K> {
    this.root()
    const path = this.#path
    const store = this.#store
    const pathKey = path.pathKey(key)
    const collected = this.#pathWords
    let position = path.root
    let depth = 0
    let end: PathEnd<K>
    for (;;) {
      const kind = store.kind(position)
      if (kind === NodeKind.EMPTY) {
        end = { kind: 'empty' }
        break
      }
      if (kind === NodeKind.LEAF) {
        store.read(position, this.#scratch, 0)
        end = { kind: 'leaf', key: store.leafKey(position), hash: hashFromWords(this.#scratch, 0) }
        break
      }
      const bit = path.bit(pathKey, depth)
      if (store.read(path.child(position, depth, 1 - bit), collected, depth * HASH_WORDS) === NodeKind.EMPTY) {
        collected.set(EMPTY_WORDS, depth * HASH_WORDS)
      }
      position = path.child(position, depth, bit)
      depth += 1
    }
    // Gathered root first; a proof lists siblings deepest first.
    for (let level = 0; level < depth; level += 1) {
      const from = (depth - 1 - level) * HASH_WORDS
      const to = offset + level * HASH_WORDS
      for (let w = 0; w < HASH_WORDS; w += 1) words[to + w] = collected[from + w]!
    }
    return { depth, end }
  }

  #markPendingOnce(position: P, depth: number): void {
    if (!this.#queued.has(position)) this.#markPending(position, depth)
  }

  /** Queues a position not queued yet. */
  #markPending(position: P, depth: number): void {
    this.#queued.add(position)
    let level = this.#pending[depth]
    if (level === undefined) {
      level = []
      this.#pending[depth] = level
    }
    const count = this.#pendingCount[depth] ?? 0
    level[count] = position
    this.#pendingCount[depth] = count + 1
    if (depth > this.#pendingDepthMax) this.#pendingDepthMax = depth
  }

  #reserve(count: number): void {
    if (SHARED.output.length >= count * HASH_SIZE_BYTES) return
    const capacity = Math.max(count, (SHARED.output.length / HASH_SIZE_BYTES) * 2)
    SHARED.input = new Uint8Array(capacity * NODE_INPUT_SIZE_BYTES)
    SHARED.output = new Uint8Array(capacity * HASH_SIZE_BYTES)
    SHARED.inputWords = new Int32Array(SHARED.input.buffer)
    SHARED.outputWords = new Int32Array(SHARED.output.buffer)
    SHARED.input1 = SHARED.input.subarray(0, NODE_INPUT_SIZE_BYTES)
    SHARED.output1 = SHARED.output.subarray(0, HASH_SIZE_BYTES)
  }
}

/** Hashing buffers of every tree on this thread (see SparseMerkleTree). */
const SHARED = (() => {
  const input = new Uint8Array(NODE_INPUT_SIZE_BYTES * 16)
  const output = new Uint8Array(HASH_SIZE_BYTES * 16)
  return {
    input, output, inputWords: new Int32Array(input.buffer), outputWords: new Int32Array(output.buffer),
    // Fixed views for the common one-node level: a fresh view per native call measured ~0.3 us extra.
    input1: input.subarray(0, NODE_INPUT_SIZE_BYTES), output1: output.subarray(0, HASH_SIZE_BYTES),
    scratch: new Int32Array(2 * HASH_WORDS), carry: new Int32Array(HASH_WORDS), pathWords: new Int32Array(0),
  }
})()

function reservePathWords(keyBits: number): void {
  if (SHARED.pathWords.length < keyBits * HASH_WORDS) SHARED.pathWords = new Int32Array(keyBits * HASH_WORDS)
}
