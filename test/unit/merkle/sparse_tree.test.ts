import { sha256 } from '@noble/hashes/sha2.js'
import { describe, expect, it } from 'vitest'
import {
  EMPTY_HASH, MapNodeStore, NumericNodeTable, SparseMerkleTree, bytesKeyPath, bytesToHex, hashNode, nativeHasher,
  numericKeyPath, portableHasher, type SparsePath,
} from '../../../src/merkle/index.js'
import * as ref from './reference.js'

const MULTIPLIER = 0x9e3779
const leafOf = (key: number): Uint8Array => sha256(new Uint8Array([0x20, key >> 16, (key >> 8) & 0xff, key & 0xff]))
const bitsOf = (key: number): number[] => ref.numericBits(key, MULTIPLIER, 24)
const numericTree = (store = true) => new SparseMerkleTree(
  numericKeyPath(24, MULTIPLIER), nativeHasher, store ? new NumericNodeTable() : new MapNodeStore<number, number>(),
)

function expectedRoot(keys: Iterable<number>): string {
  return bytesToHex(ref.sparseRoot([...keys].map((k) => ({ bits: bitsOf(k), hash: leafOf(k) }))))
}

/** Rebuilds the root from a path, the way a verifier does. */
function climb(path: SparsePath<number>, start: Uint8Array, bits: readonly number[]): Uint8Array {
  let current = start
  for (let j = 0; j < path.depth; j += 1) {
    const sibling = path.siblings.subarray(j * 32, j * 32 + 32)
    current = bits[path.depth - 1 - j] === 1 ? hashNode(nativeHasher, sibling, current) : hashNode(nativeHasher, current, sibling)
  }
  return current
}

describe('sparse tree', () => {
  it('an empty tree hashes to EMPTY_HASH and a one-leaf tree to the leaf', () => {
    const tree = numericTree()
    expect(bytesToHex(tree.root())).toBe(bytesToHex(EMPTY_HASH))
    tree.set(42, leafOf(42))
    expect(bytesToHex(tree.root())).toBe(bytesToHex(leafOf(42)))
    expect(tree.delete(42)).toBe(true)
    expect(bytesToHex(tree.root())).toBe(bytesToHex(EMPTY_HASH))
  })

  it('two leaves meet at the first bit where their paths differ, over empty siblings', () => {
    // Keys chosen so their path keys agree on the first two bits and part at the third.
    const keys = Array.from({ length: 4096 }, (_, k) => k)
    const [a, b] = (() => {
      for (const x of keys) for (const y of keys) {
        const bx = bitsOf(x); const by = bitsOf(y)
        if (x < y && bx[0] === by[0] && bx[1] === by[1] && bx[2] !== by[2]) return [x, y] as const
      }
      throw new Error('no pair')
    })()
    const tree = numericTree()
    tree.set(a, leafOf(a))
    tree.set(b, leafOf(b))
    const [left, right] = bitsOf(a)[2] === 0 ? [leafOf(a), leafOf(b)] : [leafOf(b), leafOf(a)]
    let expected = hashNode(nativeHasher, left, right)
    for (const depth of [1, 0]) {
      expected = bitsOf(a)[depth] === 0 ? hashNode(nativeHasher, expected, EMPTY_HASH) : hashNode(nativeHasher, EMPTY_HASH, expected)
    }
    expect(bytesToHex(tree.root())).toBe(bytesToHex(expected))
  })

  it.each([
    ['typed-array store', true],
    ['Map store', false],
  ])('matches the reference through inserts, replacements and deletes (%s)', (_name, typed) => {
    const tree = numericTree(typed)
    const live = new Set<number>()
    let x = 7
    for (let step = 0; step < 3000; step += 1) {
      x = (x * 1103515245 + 12345) & 0x7fffffff
      const key = x % 500 < 400 ? x % 400 : (x >> 3) & 0xffffff
      if (x % 3 === 0) {
        expect(tree.delete(key)).toBe(live.delete(key))
      } else {
        tree.set(key, leafOf(key))
        live.add(key)
      }
      // Roots are lazy: check some steps, so several updates batch into one root() too.
      if (step % 97 === 0) expect(bytesToHex(tree.root())).toBe(expectedRoot(live))
    }
    expect(bytesToHex(tree.root())).toBe(expectedRoot(live))
    for (const key of live) expect(bytesToHex(tree.get(key)!)).toBe(bytesToHex(leafOf(key)))
    for (const key of live) tree.delete(key)
    expect(bytesToHex(tree.root())).toBe(bytesToHex(EMPTY_HASH))
  })

  it('one batch can mix a deep single path with wide shallow levels', () => {
    // Two keys whose path keys share their first 20 bits, found by inverting the mixing (m^-1 mod 2^24).
    let inverse = BigInt(MULTIPLIER)
    for (let i = 0; i < 5; i += 1) inverse = (inverse * (2n - BigInt(MULTIPLIER) * inverse)) % (1n << 24n)
    inverse = ((inverse % (1n << 24n)) + (1n << 24n)) % (1n << 24n)
    const keyOf = (pathKey: number): number => Number((BigInt(pathKey) * inverse) % (1n << 24n))
    const pair: [number, number] = [keyOf(0xabcde0), keyOf(0xabcde8)]
    expect(bitsOf(pair[0]).slice(0, 20)).toEqual(bitsOf(pair[1]).slice(0, 20))
    expect(bitsOf(pair[0])[20]).not.toBe(bitsOf(pair[1])[20])
    const tree = numericTree()
    const keys = new Set([...Array.from({ length: 500 }, (_, i) => i + 200_000), ...pair])
    for (const k of keys) tree.set(k, leafOf(k))
    tree.root()
    // One deep leaf and 100 shallow ones change in the same batch (more than the 16-node initial buffers).
    const bump = (k: number): Uint8Array => sha256(leafOf(k))
    tree.set(pair[0], bump(pair[0]))
    for (let i = 0; i < 100; i += 1) tree.set(200_000 + i, bump(200_000 + i))
    const expected = ref.sparseRoot([...keys].map((k) => ({
      bits: bitsOf(k), hash: k === pair[0] || (k >= 200_000 && k < 200_100) ? bump(k) : leafOf(k),
    })))
    expect(bytesToHex(tree.root())).toBe(bytesToHex(expected))
  })

  it('the root depends on the key set, not on the order of updates', () => {
    const keys = Array.from({ length: 300 }, (_, i) => (i * 7919) % 65_536)
    const forward = numericTree()
    const backward = numericTree()
    for (const k of keys) forward.set(k, leafOf(k))
    for (const k of [...keys].reverse()) backward.set(k, leafOf(k))
    // Insert and remove extras in between: the shape must collapse back.
    for (let k = 70_000; k < 70_050; k += 1) backward.set(k, leafOf(k))
    backward.root()
    for (let k = 70_000; k < 70_050; k += 1) backward.delete(k)
    expect(bytesToHex(backward.root())).toBe(bytesToHex(forward.root()))
  })

  it('dense keys sit about log2(n) deep', () => {
    const tree = numericTree()
    for (let k = 0; k < 4096; k += 1) tree.set(k, leafOf(k))
    let total = 0
    let deepest = 0
    for (let k = 0; k < 4096; k += 1) {
      const { depth } = tree.path(k)
      total += depth
      deepest = Math.max(deepest, depth)
    }
    expect(total / 4096).toBeLessThan(13.5)
    expect(deepest).toBeLessThanOrEqual(16)
  })

  it('paths prove presence and absence', () => {
    const tree = numericTree()
    const keys = Array.from({ length: 200 }, (_, i) => i * 3)
    for (const k of keys) tree.set(k, leafOf(k))
    const root = bytesToHex(tree.root())
    for (const k of keys) {
      const path = tree.path(k)
      expect(path.end).toEqual({ kind: 'leaf', key: k, hash: leafOf(k) })
      expect(bytesToHex(climb(path, leafOf(k), bitsOf(k)))).toBe(root)
    }
    let sawEmpty = false
    let sawOther = false
    for (let k = 1; k < 600; k += 3) {
      const path = tree.path(k)
      if (path.end.kind === 'empty') {
        sawEmpty = true
        expect(bytesToHex(climb(path, EMPTY_HASH, bitsOf(k)))).toBe(root)
      } else {
        sawOther = true
        const other = path.end.key
        expect(other).not.toBe(k)
        expect(bitsOf(other).slice(0, path.depth)).toEqual(bitsOf(k).slice(0, path.depth))
        expect(bytesToHex(climb(path, leafOf(other), bitsOf(k)))).toBe(root)
      }
    }
    expect(sawEmpty && sawOther).toBe(true)
  })

  it('works over 256-bit byte keys with the portable hasher', () => {
    const tree = new SparseMerkleTree(bytesKeyPath(32), portableHasher, new MapNodeStore<string, Uint8Array>())
    const ids = Array.from({ length: 40 }, (_, i) => sha256(new Uint8Array([i])))
    // Two ids sharing their first 20 bits force a long split.
    const twin = ids[0]!.slice()
    twin[2] = twin[2]! ^ 0x08
    ids.push(twin)
    for (const id of ids) tree.set(id, sha256(id))
    const expected = ref.sparseRoot(ids.map((id) => ({ bits: ref.byteBits(id), hash: sha256(id) })))
    expect(bytesToHex(tree.root())).toBe(bytesToHex(expected))
    expect(tree.path(twin).depth).toBeGreaterThanOrEqual(21)
    tree.delete(ids[0]!)
    const rest = ids.slice(1)
    expect(bytesToHex(tree.root())).toBe(bytesToHex(ref.sparseRoot(rest.map((id) => ({ bits: ref.byteBits(id), hash: sha256(id) })))))
  })
})
