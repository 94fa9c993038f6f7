/**
 * The hashing backend, behind an interface so the bulk path can use native code and the verifier can run
 * anywhere (STYLE.md, after ChainSafe's persistent-merkle-tree). Every implementation computes plain SHA-256;
 * they differ only in speed, and the tests check they agree byte for byte.
 *
 * This file imports nothing from Node: the standalone verifier uses it.
 */
import { HASH_SIZE_BYTES, NODE_INPUT_SIZE_BYTES } from './format.js'

export interface Hasher {
  /** For reports and benchmarks: 'native', 'noble', ... */
  readonly name: string
  /** SHA-256 of `data`, as a new array. */
  digest(data: Uint8Array): Uint8Array
  /** Writes SHA-256 of `data` into `output[offset..offset+32)`. */
  digestInto(data: Uint8Array, output: Uint8Array, offset: number): void
  /**
   * Inner nodes in bulk: for each 64-byte block i of `input`, writes SHA-256(block) into `output[32i..32i+32)`.
   * `input.length` is a multiple of 64 and `output.length` is half of it.
   */
  hashNodesInto(input: Uint8Array, output: Uint8Array): void
}

// Scratch cut from larger buffers: typed arrays of 64 bytes or less live on the JS heap, and a native hasher
// would have to move them off it on every call. Hashing is synchronous, so calls never share them.
const nodeInput = new Uint8Array(2 * NODE_INPUT_SIZE_BYTES).subarray(0, NODE_INPUT_SIZE_BYTES)
const nodeOutput = new Uint8Array(2 * NODE_INPUT_SIZE_BYTES).subarray(0, HASH_SIZE_BYTES)

/** An inner node: SHA-256(left || right), as a new array. */
export function hashNode(hasher: Hasher, left: Uint8Array, right: Uint8Array): Uint8Array {
  nodeInput.set(left, 0)
  nodeInput.set(right, HASH_SIZE_BYTES)
  hasher.hashNodesInto(nodeInput, nodeOutput)
  return nodeOutput.slice()
}

/** Constant-length byte comparison (not constant-time: nothing here is secret). */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i += 1) if (a[i] !== b[i]) return false
  return true
}
