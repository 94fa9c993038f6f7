import { Packr } from 'msgpackr'
import { describe, expect, it } from 'vitest'
import { PLANE_SIZE_BYTES } from '../../../src/constants.js'
import {
  ProgramMemory, RegionType, decodeMemoryMetadata, encodeMemoryMetadata, type PlaneKey,
} from '../../../src/memory/index.js'

const packr = new Packr({ useRecords: false })

function populated(): ProgramMemory {
  const memory = new ProgramMemory()
  const kept: number[] = []
  for (let i = 0; i < 200; i += 1) {
    const address = memory.alloc(1 + ((i * 977) % 3000))
    memory.store(address, new Uint8Array(1).fill(i))
    if (i % 3 === 0) memory.free(address)
    else kept.push(address)
  }
  memory.alloc(2 * PLANE_SIZE_BYTES + 3)
  memory.store(memory.alloc(40, RegionType.STATIC), new Uint8Array(40).fill(8))
  return memory
}

describe('memory metadata', () => {
  it('round-trips exactly: same bytes, same allocations, same future addresses', () => {
    const original = populated()
    const encoded = encodeMemoryMetadata(original)
    const restored = decodeMemoryMetadata(encoded, { planeSource: (key: PlaneKey) => original.planeBytes(key)!.slice() })
    expect(Buffer.compare(encodeMemoryMetadata(restored), encoded)).toBe(0)
    expect(restored.allocations()).toEqual(original.allocations())
    for (const { address, size } of original.allocations()) {
      expect(restored.load(address, size)).toEqual(original.load(address, size))
    }
    for (const size of [8, 100, 2000, 70_000, 24, 5000]) expect(restored.alloc(size)).toBe(original.alloc(size))
  })

  it('is not dirty after restore', () => {
    const original = populated()
    const restored = decodeMemoryMetadata(encodeMemoryMetadata(original), { planeSource: (k) => original.planeBytes(k)! })
    expect(restored.takeDirty()).toEqual({ planes: [], allocations: [], chunkMasks: new Map(), freshPlanes: [] })
  })

  it('refuses to encode inside a transaction', () => {
    const memory = new ProgramMemory()
    memory.begin()
    expect(() => encodeMemoryMetadata(memory)).toThrow(expect.objectContaining({ code: 'TRANSACTION_STATE' }))
  })

  it.each([
    ['garbage bytes', Uint8Array.from([0xc1, 0xff, 0x00])],
    ['a newer version', packr.pack({ v: 2, regions: [], planes: [] })],
    ['regions not a list', packr.pack({ v: 1, regions: 5, planes: [] })],
    ['a bad region type code', packr.pack({ v: 1, regions: [[0, 7, 8, 8, [0, 8]]], planes: [] })],
    ['overlapping allocations', packr.pack({ v: 1, regions: [[0, 1, 16, 16, [0, 16, 8, 8]]], planes: [] })],
    ['a small allocation across a plane boundary', packr.pack({ v: 1, regions: [[0, 1, 65_544, 65_544, [65_528, 16]]], planes: [] })],
    ['a top that is not the last end', packr.pack({ v: 1, regions: [[0, 1, 64, 64, [0, 8]]], planes: [] })],
    ['a plane no allocation covers', packr.pack({ v: 1, regions: [[0, 1, 8, 8, [0, 8]]], planes: [5] })],
    ['a peak below the top', packr.pack({ v: 1, regions: [[0, 1, 8, 0, [0, 8]]], planes: [] })],
    ['regions out of order', packr.pack({ v: 1, regions: [[1, 1, 2 ** 32 + 8, 2 ** 32 + 8, [2 ** 32, 8]], [0, 1, 8, 8, [0, 8]]], planes: [] })],
  ])('rejects %s with BAD_METADATA', (_name, bytes) => {
    expect(() => decodeMemoryMetadata(bytes)).toThrow(expect.objectContaining({ code: 'BAD_METADATA' }))
  })
})
