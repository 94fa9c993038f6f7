/**
 * How a key chooses its path through a sparse tree, and how tree positions are named in node storage.
 *
 * Key to path (docs/merkle.md, "Key to path"):
 *  - numeric keys (plane keys, 24 bits; allocation start addresses, 40 bits) are first mixed into a path key
 *    `(key * multiplier) mod 2^bits` (Fibonacci hashing; the multiplier is odd, so the map is a bijection and
 *    two distinct keys part within `bits` levels), and the path key is read most significant bit first. Real
 *    key sets are very regular (planes 0..n of a few regions, addresses aligned to 2^14), and read raw, in
 *    either bit order, they share long runs of bits and sink 20+ levels deep; mixed, n keys sit about log2(n)
 *    deep;
 *  - program ids (32 bytes) are hash outputs already: read most significant bit of byte 0 first.
 *
 * Portable (no Node imports): the verifier uses the bit functions.
 */
import { ALLOCATION_KEY_BITS, ALLOCATION_PATH_MULTIPLIER, PLANE_KEY_BITS, PLANE_PATH_MULTIPLIER } from './format.js'
import { NumericPositionSet, type PositionSet } from './position_set.js'

/** 2^0 .. 2^64 as exact doubles. */
const POW2: readonly number[] = Array.from({ length: 65 }, (_, i) => 2 ** i)
const HALF_BITS = 20

/**
 * `(key * multiplier) mod 2^bits` for bits <= 40 and key, multiplier < 2^bits, exact in doubles: the product
 * is split into 20-bit halves so that no partial product reaches 2^53.
 */
export function pathKeyOf(key: number, multiplier: number, bits: number): number {
  const modulus = POW2[bits]!
  if (bits <= 26) return (key * multiplier) % modulus
  const half = POW2[HALF_BITS]!
  const keyLow = key % half
  const keyHigh = (key - keyLow) / half
  const mulLow = multiplier % half
  const mulHigh = (multiplier - mulLow) / half
  const cross = (keyHigh * mulLow + keyLow * mulHigh) % half
  return (keyLow * mulLow + cross * half) % modulus
}

/** Bit `depth` (0 = the root's choice) of a path key of `bits` bits, most significant first. */
export function pathKeyBit(pathKey: number, bits: number, depth: number): number {
  // ToInt32 truncates then wraps modulo 2^32, which keeps bit 0 of floor(pathKey / 2^k).
  return (pathKey / POW2[bits - 1 - depth]!) & 1
}

/** The path key of a plane key in the planes tree. */
export function planePathKey(key: number): number {
  return pathKeyOf(key, PLANE_PATH_MULTIPLIER, PLANE_KEY_BITS)
}

/** The path key of an allocation start address in the allocations tree. */
export function allocationPathKey(address: number): number {
  return pathKeyOf(address, ALLOCATION_PATH_MULTIPLIER, ALLOCATION_KEY_BITS)
}

/** Bit `depth` of a byte-string key, MSB of byte 0 first. */
export function bytesKeyBit(key: Uint8Array, depth: number): number {
  return (key[depth >> 3]! >> (7 - (depth & 7))) & 1
}

/**
 * A key space for `SparseMerkleTree`: `K` is the key type, `P` the position type naming a node in storage,
 * `Q` the path key a key is read through. A position depends only on the path bits that lead to it, so a node
 * keeps its position across updates.
 */
export interface KeyPath<K, P, Q> {
  /** Key width: the deepest a leaf can sit. */
  readonly keyBits: number
  /** The root's position. */
  readonly root: P
  /** The path key of `key` (computed once per tree operation). */
  pathKey(key: K): Q
  /** The child taken at `depth` (0 = the root's choice): 0 = left, 1 = right. */
  bit(pathKey: Q, depth: number): number
  /** The position of the child `bit` of the node at `position`, which sits at `depth`. */
  child(position: P, depth: number, bit: number): P
  equal(a: K, b: K): boolean
  /** An empty set of positions, of the kind fastest for `P`. */
  positionSet(): PositionSet<P>
}

/**
 * Numeric keys of `keyBits` bits (at most 40), mixed by `multiplier` (odd). Positions are heap indexes over
 * the path bits: the root is 1 and the children of p are 2p and 2p + 1, so every position is below
 * 2^(keyBits + 1).
 */
export function numericKeyPath(keyBits: number, multiplier: number): KeyPath<number, number, number> {
  if (!Number.isInteger(keyBits) || keyBits < 1 || keyBits > 40) throw new RangeError(`keyBits ${keyBits}`)
  if (!Number.isInteger(multiplier) || multiplier % 2 !== 1 || multiplier >= 2 ** keyBits) {
    throw new RangeError(`multiplier ${multiplier}`)
  }
  return {
    keyBits,
    root: 1,
    pathKey: (key) => pathKeyOf(key, multiplier, keyBits),
    bit: (pathKey, depth) => pathKeyBit(pathKey, keyBits, depth),
    child: (position, _depth, bit) => 2 * position + bit,
    equal: (a, b) => a === b,
    positionSet: () => new NumericPositionSet(),
  }
}

/**
 * Byte-string keys of `keyBytes` bytes. Positions are strings of '0'/'1', one character per path bit taken
 * from the root (the root is ''), which stays exact at any depth up to 256.
 */
export function bytesKeyPath(keyBytes: number): KeyPath<Uint8Array, string, Uint8Array> {
  return {
    keyBits: keyBytes * 8,
    root: '',
    pathKey: (key) => key,
    bit: bytesKeyBit,
    child: (position, _depth, bit) => position + (bit === 0 ? '0' : '1'),
    equal: (a, b) => {
      if (a.length !== b.length) return false
      for (let i = 0; i < a.length; i += 1) if (a[i] !== b[i]) return false
      return true
    },
    positionSet: () => new Set<string>(),
  }
}
