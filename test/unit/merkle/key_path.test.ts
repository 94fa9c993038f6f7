import { describe, expect, it } from 'vitest'
import {
  ALLOCATION_PATH_MULTIPLIER, PLANE_PATH_MULTIPLIER, allocationPathKey, bytesKeyBit, bytesKeyPath, numericKeyPath,
  pathKeyBit, pathKeyOf, planePathKey,
} from '../../../src/merkle/index.js'
import * as ref from './reference.js'

describe('key paths', () => {
  it('uses the documented multipliers', () => {
    expect(PLANE_PATH_MULTIPLIER).toBe(ref.PLANE_MULTIPLIER)
    expect(ALLOCATION_PATH_MULTIPLIER).toBe(ref.ALLOCATION_MULTIPLIER)
  })

  it.each([0, 1, 2, 0xffff, 0x10000, 0x123456, 0xffffff])('plane key %i mixes like (key * m) mod 2^24', (key) => {
    const expected = Number((BigInt(key) * BigInt(PLANE_PATH_MULTIPLIER)) % (1n << 24n))
    expect(planePathKey(key)).toBe(expected)
  })

  it('allocation addresses mix exactly in 40 bits (no double rounding)', () => {
    const samples = [0, 8, 2 ** 32, 2 ** 40 - 1, 2 ** 39 + 12345, 987654321987]
    for (let i = 0; i < 200; i += 1) samples.push(Math.floor((i * 0x9e3779b9 * 1013) % 2 ** 40))
    for (const key of samples) {
      const expected = Number((BigInt(key) * BigInt(ALLOCATION_PATH_MULTIPLIER)) % (1n << 40n))
      expect(allocationPathKey(key), `key ${key}`).toBe(expected)
    }
  })

  it('mixing is a bijection (checked on all 2^16 keys of a 16-bit space)', () => {
    const seen = new Uint8Array(1 << 16)
    for (let key = 0; key < 1 << 16; key += 1) seen[pathKeyOf(key, 0x9e37, 16)] = 1
    expect(seen.every((s) => s === 1)).toBe(true)
  })

  it('reads path keys and byte keys most significant bit first', () => {
    expect(Array.from({ length: 8 }, (_, d) => pathKeyBit(0b1011_0001, 8, d))).toEqual([1, 0, 1, 1, 0, 0, 0, 1])
    expect(pathKeyBit(2 ** 39, 40, 0)).toBe(1)
    expect(pathKeyBit(1, 40, 39)).toBe(1)
    const id = new Uint8Array([0b1000_0000, 0b0000_0001])
    expect(Array.from({ length: 16 }, (_, d) => bytesKeyBit(id, d))).toEqual(ref.byteBits(id))
  })

  it('numeric positions are heap indexes; byte positions are bit strings', () => {
    const numeric = numericKeyPath(24, PLANE_PATH_MULTIPLIER)
    expect(numeric.root).toBe(1)
    expect(numeric.child(1, 0, 1)).toBe(3)
    expect(numeric.child(3, 1, 0)).toBe(6)
    const bytes = bytesKeyPath(32)
    expect(bytes.child(bytes.child(bytes.root, 0, 1), 1, 0)).toBe('10')
  })

  it('rejects bad parameters', () => {
    expect(() => numericKeyPath(41, 3)).toThrow(RangeError)
    expect(() => numericKeyPath(24, 4)).toThrow(RangeError)
  })
})
