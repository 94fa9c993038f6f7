import { sha256 } from '@noble/hashes/sha2.js'
import { describe, expect, it } from 'vitest'
import {
  EMPTY_HASH, EMPTY_HASH_HEX, bytesToHex, cryptoOnlyHasher, hashNode, nativeHasher, portableHasher, type Hasher,
} from '../../../src/merkle/index.js'

const hashers: readonly Hasher[] = [nativeHasher, cryptoOnlyHasher, portableHasher]

function pattern(length: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * 131 + 7) & 0xff)
}

describe('hashers', () => {
  // Lengths around SHA-256's block and padding edges, plus a chunk and a plane.
  const lengths = [0, 1, 55, 56, 63, 64, 65, 119, 120, 4097, 65_536]

  it.each(hashers.map((h) => [h.name, h] as const))('%s digests like plain SHA-256', (_name, hasher) => {
    for (const length of lengths) {
      const data = pattern(length)
      expect(bytesToHex(hasher.digest(data)), `length ${length}`).toBe(bytesToHex(sha256(data)))
      const out = new Uint8Array(40)
      hasher.digestInto(data, out, 5)
      expect(bytesToHex(out.subarray(5, 37))).toBe(bytesToHex(sha256(data)))
      expect([...out.subarray(0, 5), ...out.subarray(37)]).toEqual([0, 0, 0, 0, 0, 0, 0, 0])
    }
  })

  it.each(hashers.map((h) => [h.name, h] as const))('%s hashes nodes in batches like one by one', (_name, hasher) => {
    for (const count of [1, 2, 3, 16, 17, 100]) {
      const input = pattern(count * 64)
      const output = new Uint8Array(count * 32)
      hasher.hashNodesInto(input, output)
      for (let i = 0; i < count; i += 1) {
        expect(bytesToHex(output.subarray(i * 32, i * 32 + 32))).toBe(bytesToHex(sha256(input.subarray(i * 64, i * 64 + 64))))
      }
    }
  })

  it('hashes nodes through subarray views at any offset', () => {
    const backing = pattern(64 * 5 + 32)
    const input = backing.subarray(32, 32 + 64 * 3)
    const outBacking = new Uint8Array(200)
    const output = outBacking.subarray(8, 8 + 96)
    nativeHasher.hashNodesInto(input, output)
    expect(bytesToHex(output.subarray(64, 96))).toBe(bytesToHex(sha256(input.subarray(128, 192))))
    expect(outBacking.subarray(0, 8).every((b) => b === 0)).toBe(true)
  })

  it('hashNode is SHA-256 of left || right', () => {
    const left = pattern(32)
    const right = pattern(40).subarray(8)
    const expected = sha256(new Uint8Array([...left, ...right]))
    for (const hasher of hashers) expect(bytesToHex(hashNode(hasher, left, right))).toBe(bytesToHex(expected))
  })

  it('EMPTY_HASH is SHA-256 of the single byte 0x00', () => {
    expect(bytesToHex(sha256(new Uint8Array([0])))).toBe(EMPTY_HASH_HEX)
    expect(bytesToHex(EMPTY_HASH)).toBe(EMPTY_HASH_HEX)
  })
})
