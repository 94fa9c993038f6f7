/**
 * A NodeStore for the state tree that reads through to a persistent key-value store (the store's `merkle` key
 * space) and collects its writes for the next commit, so reopening a runtime reads the nodes it needs instead of
 * rehashing every program.
 *
 * Layout, for a node at position p (a string of path bits, '' for the root):
 *   'S' + p  ->  the node's 32-byte hash          (present for inner nodes and leaves)
 *   'L' + p  ->  the 32-byte program id it holds  (leaves only)
 *
 * Nodes read or written are cached here; `drain()` hands the changes since the last drain to a commit. Call the
 * tree's `root()` before draining: placeholders written during an update are replaced there.
 */
import { assert } from '../errors.js'
import { HASH_WORDS, NodeKind, hashFromWords, wordsFromHash, type NodeStore } from './node_store.js'

/** Reads one committed value of the merkle key space. */
export type MerkleNodeReader = (key: Uint8Array) => Uint8Array | undefined

interface CachedNode {
  readonly kind: NodeKind
  readonly words: Int32Array | undefined
  readonly leafKey: Uint8Array | undefined
}

const EMPTY_NODE: CachedNode = { kind: NodeKind.EMPTY, words: undefined, leafKey: undefined }

export interface MerkleChanges {
  readonly put: (readonly [key: Uint8Array, value: Uint8Array])[]
  readonly delete: Uint8Array[]
}

export class PersistentNodeStore implements NodeStore<string, Uint8Array> {
  readonly #read: MerkleNodeReader
  readonly #cache = new Map<string, CachedNode>()
  /** Positions changed since the last drain. */
  readonly #changed = new Set<string>()
  #size = 0

  constructor(read: MerkleNodeReader) {
    this.#read = read
  }

  kind(position: string): NodeKind {
    return this.#node(position).kind
  }

  read(position: string, words: Int32Array, offset: number): NodeKind {
    const node = this.#node(position)
    if (node.words !== undefined) words.set(node.words, offset)
    return node.kind
  }

  leafKey(position: string): Uint8Array {
    const node = this.#node(position)
    assert(node.kind === NodeKind.LEAF && node.leafKey !== undefined, 'leafKey of a leaf position')
    return node.leafKey
  }

  write(position: string, words: Int32Array, offset: number, leafKey: Uint8Array | undefined): void {
    const kind = leafKey === undefined ? NodeKind.INNER : NodeKind.LEAF
    if (this.#node(position).kind === NodeKind.EMPTY) this.#size += 1
    this.#cache.set(position, { kind, words: words.slice(offset, offset + HASH_WORDS), leafKey })
    this.#changed.add(position)
  }

  delete(position: string): void {
    if (this.#node(position).kind !== NodeKind.EMPTY) this.#size -= 1
    this.#cache.set(position, EMPTY_NODE)
    this.#changed.add(position)
  }

  /** Nodes written since this store was made, net of deletes (the committed ones are not counted). */
  get size(): number {
    return this.#size
  }

  /** The changes since the last drain, as merkle key-space puts and deletes. */
  drain(): MerkleChanges {
    const put: (readonly [Uint8Array, Uint8Array])[] = []
    const del: Uint8Array[] = []
    for (const position of this.#changed) {
      const node = this.#cache.get(position)!
      const hashKey = nodeKey('S', position)
      const leafKey = nodeKey('L', position)
      if (node.kind === NodeKind.EMPTY) {
        del.push(hashKey, leafKey)
        continue
      }
      put.push([hashKey, hashFromWords(node.words!, 0)])
      if (node.kind === NodeKind.LEAF) put.push([leafKey, node.leafKey!.slice()])
      else del.push(leafKey)
    }
    this.#changed.clear()
    return { put, delete: del }
  }

  /** Forgets cached nodes (after a failed commit, the store is the truth again). */
  reset(): void {
    this.#cache.clear()
    this.#changed.clear()
  }

  #node(position: string): CachedNode {
    let node = this.#cache.get(position)
    if (node === undefined) {
      const hash = this.#read(nodeKey('S', position))
      if (hash === undefined) {
        node = EMPTY_NODE
      } else {
        const words = new Int32Array(HASH_WORDS)
        wordsFromHash(hash, words, 0)
        const leafKey = this.#read(nodeKey('L', position))
        node = { kind: leafKey === undefined ? NodeKind.INNER : NodeKind.LEAF, words, leafKey }
      }
      this.#cache.set(position, node)
    }
    return node
  }
}

function nodeKey(tag: 'S' | 'L', position: string): Uint8Array {
  return Buffer.from(tag + position, 'latin1')
}
