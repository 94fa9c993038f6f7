/**
 * SHA-256 on @noble/hashes: pure JavaScript, runs in browsers and any runtime. The verifier's default.
 * About 10x slower than the native hasher, which is why the prover and the runtime use that one instead.
 */
import { sha256 } from '@noble/hashes/sha2.js'
import { HASH_SIZE_BYTES, NODE_INPUT_SIZE_BYTES } from './format.js'
import type { Hasher } from './hasher.js'

export const portableHasher: Hasher = {
  name: 'noble',
  digest(data: Uint8Array): Uint8Array {
    return sha256(data)
  },
  digestInto(data: Uint8Array, output: Uint8Array, offset: number): void {
    output.set(sha256(data), offset)
  },
  hashNodesInto(input: Uint8Array, output: Uint8Array): void {
    const count = input.length / NODE_INPUT_SIZE_BYTES
    for (let i = 0; i < count; i += 1) {
      const block = input.subarray(i * NODE_INPUT_SIZE_BYTES, (i + 1) * NODE_INPUT_SIZE_BYTES)
      output.set(sha256(block), i * HASH_SIZE_BYTES)
    }
  },
}
