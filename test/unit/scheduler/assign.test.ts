/**
 * Stream assignment: a pure function of a program id and the stream count. In range, the same answer whatever
 * was asked before, every one of the leading 32 bits counts, and real (derived) program ids spread evenly.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { STREAMS_MAX } from '../../../src/constants.js'
import { codeIdOf, deriveProgramId, type ProgramId, type UserId } from '../../../src/message/index.js'
import { streamOf } from '../../../src/scheduler/assign.js'

const hexId = fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 64, maxLength: 64 })
const streamCount = fc.integer({ min: 1, max: STREAMS_MAX })

/** Program ids as the runtime derives them: one creator, one code, salts 0..count-1. */
function derivedIds(count: number): ProgramId[] {
  const creator = '11'.repeat(32) as UserId
  const code = codeIdOf(new TextEncoder().encode('assign test code'))
  return Array.from({ length: count }, (_, i) => deriveProgramId(creator, code, new TextEncoder().encode(`salt ${i}`)))
}

/** Pearson's chi-square statistic of `counts` against a uniform spread. */
function chiSquare(counts: readonly number[]): number {
  const total = counts.reduce((a, b) => a + b, 0)
  const expected = total / counts.length
  return counts.reduce((sum, c) => sum + (c - expected) ** 2 / expected, 0)
}

function countsOf(idList: readonly string[], streams: number): number[] {
  const counts = new Array<number>(streams).fill(0)
  for (const id of idList) counts[streamOf(id, streams)]! += 1
  return counts
}

describe('streamOf', () => {
  it('returns an integer stream index in 0..streams-1', () => {
    fc.assert(fc.property(hexId, streamCount, (id, streams) => {
      const stream = streamOf(id, streams)
      expect(Number.isInteger(stream)).toBe(true)
      expect(stream).toBeGreaterThanOrEqual(0)
      expect(stream).toBeLessThan(streams)
    }), { numRuns: 2_000 })
  })

  it('puts every program on stream 0 when there is one stream', () => {
    fc.assert(fc.property(hexId, (id) => {
      expect(streamOf(id, 1)).toBe(0)
    }))
  })

  it('gives the same answer for an id and count whatever was asked before, in any order', () => {
    fc.assert(fc.property(fc.array(fc.tuple(hexId, streamCount), { minLength: 1, maxLength: 50 }), (calls) => {
      const first = calls.map(([id, n]) => streamOf(id, n))
      const reversed = [...calls].reverse().map(([id, n]) => streamOf(id, n)).reverse()
      expect(reversed).toEqual(first)
    }), { numRuns: 300 })
  })

  const vectors: [string, number, number][] = [
    ['0'.repeat(64), 7, 0],
    ['00000001' + 'f'.repeat(56), 2, 1],
    ['00000002' + 'f'.repeat(56), 2, 0],
    ['ffffffff' + '0'.repeat(56), 64, 63],
    ['80000000' + '0'.repeat(56), 3, 2 ** 31 % 3],
    ['deadbeef' + '1'.repeat(56), 10, 0xdeadbeef % 10],
  ]

  it.each(vectors)('follows the documented rule, leading 32 bits modulo the count: %s over %i streams -> %i', (id, streams, expected) => {
    expect(streamOf(id, streams)).toBe(expected)
  })

  it('depends on every one of the leading 8 hex digits: varying any one reaches all 15 of 15 streams', () => {
    // 16 = 1 (mod 15), so digit d at any of the leading 8 positions adds d (mod 15) to the stream.
    const base = '0123456789abcdef'.repeat(4)
    for (let position = 0; position < 8; position += 1) {
      const streams = new Set<number>()
      for (const digit of '0123456789abcdef') streams.add(streamOf(base.slice(0, position) + digit + base.slice(position + 1), 15))
      expect(streams.size, `hex digit ${position}`).toBe(15)
    }
  })

  it('spreads derived program ids evenly over every stream count (chi-square, 5 sigma)', () => {
    const idList = derivedIds(20_000)
    for (const streams of [2, 3, 4, 7, 8, 13, 16, 31, 64]) {
      const counts = countsOf(idList, streams)
      const df = streams - 1
      expect(Math.min(...counts), `${streams} streams`).toBeGreaterThan(0)
      expect(chiSquare(counts), `${streams} streams: ${counts.join(',')}`).toBeLessThan(df + 5 * Math.sqrt(2 * df))
    }
  })

  it('spreads ids that share their leading 16 bits evenly too (the low half of the 32 bits is used)', () => {
    const idList = derivedIds(4_000).map((id) => `abcd${id.slice(4)}`)
    const counts = countsOf(idList, 7)
    expect(chiSquare(counts), counts.join(',')).toBeLessThan(6 + 5 * Math.sqrt(12))
  })
})
