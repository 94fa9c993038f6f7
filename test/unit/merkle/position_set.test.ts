import { describe, expect, it } from 'vitest'
import { NumericPositionSet } from '../../../src/merkle/position_set.js'

describe('NumericPositionSet', () => {
  it('behaves like a Set through growth and clears', () => {
    const set = new NumericPositionSet()
    const model = new Set<number>()
    let x = 99
    for (let round = 0; round < 20; round += 1) {
      // Rounds of very different sizes, so the table grows and old epochs linger in its slots.
      const adds = round % 4 === 0 ? 5000 : 40
      for (let i = 0; i < adds; i += 1) {
        x = (x * 1103515245 + 12345) & 0x7fffffff
        const position = 1 + (x % 20_000) * (i % 2 === 0 ? 1 : 2 ** 25)
        set.add(position)
        model.add(position)
      }
      for (let probe = 0; probe < 2000; probe += 1) {
        const position = 1 + (probe % 20_000) * (probe % 2 === 0 ? 1 : 2 ** 25)
        expect(set.has(position)).toBe(model.has(position))
      }
      for (const position of model) expect(set.has(position)).toBe(true)
      set.clear()
      model.clear()
      expect(set.has(1)).toBe(false)
    }
  })
})
