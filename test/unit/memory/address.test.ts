import { describe, expect, it } from 'vitest'
import { address3d, formatAddress, planeKey, splitAddress, splitPlaneKey } from '../../../src/memory/index.js'

describe('Address3D', () => {
  it.each([
    [0, 0, 0, 0],
    [0, 0, 65_535, 65_535],
    [0, 1, 0, 65_536],
    [1, 0, 0, 2 ** 32],
    [255, 65_535, 65_535, 2 ** 40 - 1],
    [3, 7, 11, 3 * 2 ** 32 + 7 * 2 ** 16 + 11],
  ])('(%i, %i, %i) packs to %i and splits back', (region, plane, offset, packed) => {
    expect(address3d(region, plane, offset)).toBe(packed)
    expect(splitAddress(packed)).toEqual({ region, plane, offset })
  })

  it.each([
    [256, 0, 0], [0, 65_536, 0], [0, 0, 65_536], [-1, 0, 0], [0.5, 0, 0], [Number.NaN, 0, 0],
  ])('rejects (%s, %s, %s) with ADDRESS_OUT_OF_RANGE', (region, plane, offset) => {
    expect(() => address3d(region, plane, offset)).toThrow(expect.objectContaining({ code: 'ADDRESS_OUT_OF_RANGE' }))
  })

  it.each([2 ** 40, -1, 1.25, '5'])('splitAddress rejects %s', (value) => {
    expect(() => splitAddress(value as number)).toThrow(expect.objectContaining({ code: 'ADDRESS_OUT_OF_RANGE' }))
  })

  it('plane keys pack region and plane', () => {
    expect(planeKey(2, 5)).toBe(2 * 65_536 + 5)
    expect(splitPlaneKey(planeKey(2, 5))).toEqual({ region: 2, plane: 5 })
    expect(formatAddress(address3d(1, 2, 3))).toBe('(1, 2, 3)')
  })
})

describe('SortedBin', () => {
  it('keeps exactly the order of one sorted array across chunk splits and merges', async () => {
    const { SortedBin, SORTED_BIN_CHUNK_MAX } = await import('../../../src/memory/sorted.js')
    const bin = new SortedBin()
    const reference: number[] = []
    let seed = 1
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31)
    for (let i = 0; i < SORTED_BIN_CHUNK_MAX * 6; i += 1) {
      const value = next() % 100_000
      if (!reference.includes(value)) {
        bin.insert(value)
        reference.push(value)
      }
      if (i % 3 === 0 && reference.length > 0) {
        const victim = reference[next() % reference.length]!
        expect(bin.remove(victim)).toBe(true)
        reference.splice(reference.indexOf(victim), 1)
      }
    }
    reference.sort((a, b) => a - b)
    expect(bin.toArray()).toEqual(reference)
    expect(bin.length).toBe(reference.length)
    expect(bin.remove(-5)).toBe(false)
    expect(bin.find(3, (v) => v > reference[1]!)).toBe(reference[2])
    expect(bin.find(2, (v) => v > reference[1]!)).toBe(-1)
  })
})
