import { describe, expect, it } from 'vitest'
import {
  ALL_CHUNKS_MASK, CHUNKS_PER_PLANE, CHUNK_SIZE_BYTES, CHUNK_TREE_DEPTH, ChunkTree, MerkleErrorCode, ZERO_CHUNK_HASH_HEX,
  bytesToHex, chunkCount, chunkMaskOf, hashNode, hashPlane, nativeHasher, planeRootWithChunkSize, portableHasher,
} from '../../../src/merkle/index.js'
import * as ref from './reference.js'

function randomPlane(seed: number): Uint8Array {
  const bytes = new Uint8Array(65_536)
  let x = seed >>> 0 || 1
  for (let i = 0; i < bytes.length; i += 1) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5
    bytes[i] = x & 0xff
  }
  return bytes
}

describe('chunk tree', () => {
  it('has 16 chunks of 4 KiB under 4 levels', () => {
    expect([CHUNK_SIZE_BYTES, CHUNKS_PER_PLANE, CHUNK_TREE_DEPTH]).toEqual([4096, 16, 4])
  })

  it('hashes a plane like the reference, with either hasher', () => {
    const plane = randomPlane(1)
    const expected = bytesToHex(ref.planeRoot(plane))
    expect(bytesToHex(hashPlane(nativeHasher, plane))).toBe(expected)
    expect(bytesToHex(hashPlane(portableHasher, plane))).toBe(expected)
    expect(bytesToHex(ChunkTree.build(nativeHasher, plane).root())).toBe(expected)
  })

  it.each([128, 1024, 2048, 8192, 65_536])('hashes with %i-byte chunks like the reference', (size) => {
    const plane = randomPlane(size)
    expect(bytesToHex(planeRootWithChunkSize(nativeHasher, plane, size))).toBe(bytesToHex(ref.planeRoot(plane, size)))
  })

  it.each([
    ['one chunk', 1 << 5],
    ['neighbours', 0b11],
    ['scattered', (1 << 0) | (1 << 9) | (1 << 10) | (1 << 15)],
    ['none', 0],
    ['all', ALL_CHUNKS_MASK],
  ])('rehashing only the chunks in the mask (%s) gives the root of a full rebuild', (_name, mask) => {
    const plane = randomPlane(2)
    const tree = ChunkTree.build(nativeHasher, plane)
    for (let c = 0; c < CHUNKS_PER_PLANE; c += 1) if (((mask >> c) & 1) === 1) plane[c * 4096 + 17] = plane[c * 4096 + 17]! ^ 0xff
    tree.rehash(nativeHasher, plane, mask)
    expect(bytesToHex(tree.root())).toBe(bytesToHex(ref.planeRoot(plane)))
  })

  it('a fresh plane hashes only its written chunks, the others being zeros', () => {
    const plane = new Uint8Array(65_536)
    plane.fill(3, 4096 * 7, 4096 * 7 + 100)
    plane.fill(4, 4096 * 15 + 4000, 65_536)
    const tree = ChunkTree.fromZeros(nativeHasher, plane, (1 << 7) | (1 << 15))
    expect(bytesToHex(tree.root())).toBe(bytesToHex(ref.planeRoot(plane)))
    expect(bytesToHex(tree.leaf(0))).toBe(ZERO_CHUNK_HASH_HEX)
    expect(ZERO_CHUNK_HASH_HEX).toBe(bytesToHex(ref.planeRoot(new Uint8Array(4096), 4096)))
  })

  it.each([
    ['negative', -1],
    ['beyond 16 chunks', ALL_CHUNKS_MASK + 1],
    ['fractional', 1.5],
  ])('rejects a chunk mask that is %s', (_name, mask) => {
    const plane = randomPlane(4)
    const tree = ChunkTree.build(nativeHasher, plane)
    expect(() => tree.rehash(nativeHasher, plane, mask)).toThrow(expect.objectContaining({ code: MerkleErrorCode.INVALID_ARGUMENT }))
    expect(() => ChunkTree.fromZeros(nativeHasher, plane, mask)).toThrow(expect.objectContaining({ code: MerkleErrorCode.INVALID_ARGUMENT }))
  })

  it('takes the changed chunks as a mask or as a list of indexes', () => {
    const plane = randomPlane(5)
    const byMask = ChunkTree.build(nativeHasher, plane)
    const byList = ChunkTree.build(nativeHasher, plane)
    plane[3 * 4096] = plane[3 * 4096]! ^ 1
    plane[12 * 4096 + 5] = plane[12 * 4096 + 5]! ^ 1
    byMask.rehash(nativeHasher, plane, (1 << 3) | (1 << 12))
    byList.rehash(nativeHasher, plane, [3, 12])
    expect(bytesToHex(byList.root())).toBe(bytesToHex(byMask.root()))
    expect(bytesToHex(byMask.root())).toBe(bytesToHex(ref.planeRoot(plane)))
    expect(chunkMaskOf([0, 15, 15])).toBe(0b1000_0000_0000_0001)
    expect(() => byList.rehash(nativeHasher, plane, [16])).toThrow(expect.objectContaining({ code: MerkleErrorCode.INVALID_ARGUMENT }))
  })

  it('counts chunks in a mask', () => {
    expect([0, 1, 0b1011, ALL_CHUNKS_MASK].map(chunkCount)).toEqual([0, 1, 3, 16])
  })

  it('chunk siblings lead from each chunk to the root', () => {
    const plane = randomPlane(3)
    const tree = ChunkTree.build(nativeHasher, plane)
    for (let c = 0; c < CHUNKS_PER_PLANE; c += 1) {
      const siblings = tree.siblings(c)
      expect(siblings.length).toBe(CHUNK_TREE_DEPTH * 32)
      let current = tree.leaf(c)
      for (let level = 0; level < CHUNK_TREE_DEPTH; level += 1) {
        const sibling = siblings.subarray(level * 32, level * 32 + 32)
        current = ((c >> level) & 1) === 1 ? hashNode(nativeHasher, sibling, current) : hashNode(nativeHasher, current, sibling)
      }
      expect(bytesToHex(current)).toBe(bytesToHex(tree.root()))
    }
  })

  it('rejects planes of the wrong size', () => {
    expect(() => ChunkTree.build(nativeHasher, new Uint8Array(100))).toThrow(
      expect.objectContaining({ code: MerkleErrorCode.INVALID_ARGUMENT }),
    )
    expect(() => hashPlane(nativeHasher, 'x' as unknown as Uint8Array)).toThrow(
      expect.objectContaining({ code: MerkleErrorCode.INVALID_ARGUMENT }),
    )
  })
})
