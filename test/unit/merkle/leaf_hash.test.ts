import { sha256 } from '@noble/hashes/sha2.js'
import { describe, expect, it } from 'vitest'
import {
  EMPTY_HASH_HEX, HashTag, ZERO_PLANE_ROOT, ZERO_PLANE_ROOT_HEX, allocationLeafHash, bytesToHex, chunkLeafInto,
  memoryRootHash, nativeHasher, planeLeafHash, portableHasher, programLeafHash,
} from '../../../src/merkle/index.js'
import * as ref from './reference.js'

const a = Uint8Array.from({ length: 32 }, (_, i) => i + 1)
const b = Uint8Array.from({ length: 32 }, (_, i) => 200 - i)
const c = Uint8Array.from({ length: 32 }, (_, i) => (i * 37) & 0xff)

describe('leaf hash layouts', () => {
  it('uses the documented tag bytes', () => {
    expect(HashTag).toEqual({ EMPTY: 0x00, PLANE: 0x20, ALLOCATION: 0x21, MEMORY: 0x22, PROGRAM: 0x30 })
  })

  // Each row: the real function against the layout written out by hand in reference.ts.
  const rows: readonly (readonly [string, () => Uint8Array, () => Uint8Array])[] = [
    ['plane leaf, small key', () => planeLeafHash(nativeHasher, 5, a), () => ref.planeLeaf(5, a)],
    ['plane leaf, largest key', () => planeLeafHash(nativeHasher, 0xffffff, a), () => ref.planeLeaf(0xffffff, a)],
    ['allocation leaf', () => allocationLeafHash(nativeHasher, 0x01_0002_0008, 24), () => ref.allocationLeaf(0x01_0002_0008, 24)],
    ['allocation leaf, 40-bit values', () => allocationLeafHash(nativeHasher, 2 ** 40 - 8, 2 ** 32), () => ref.allocationLeaf(2 ** 40 - 8, 2 ** 32)],
    ['memory root', () => memoryRootHash(nativeHasher, a, b), () => ref.memoryRoot(a, b)],
    ['program leaf', () => programLeafHash(nativeHasher, a, b, 3, c), () => ref.programLeaf(a, b, 3, c)],
    ['program leaf (noble)', () => programLeafHash(portableHasher, c, a, 1, b), () => ref.programLeaf(c, a, 1, b)],
  ]
  it.each(rows)('%s', (_name, actual, expected) => {
    expect(bytesToHex(actual())).toBe(bytesToHex(expected()))
  })

  it('chunk leaf is SHA-256 of the chunk bytes alone', () => {
    const chunk = Uint8Array.from({ length: 4096 }, (_, i) => i & 0xff)
    const out = new Uint8Array(32)
    chunkLeafInto(nativeHasher, chunk, out, 0)
    expect(bytesToHex(out)).toBe(bytesToHex(sha256(chunk)))
  })

  it('the zero-plane and empty constants match their definitions', () => {
    expect(ZERO_PLANE_ROOT_HEX).toBe(bytesToHex(ref.planeRoot(new Uint8Array(65_536))))
    expect(bytesToHex(ZERO_PLANE_ROOT)).toBe(ZERO_PLANE_ROOT_HEX)
    expect(EMPTY_HASH_HEX).toBe(bytesToHex(ref.EMPTY))
  })
})
