import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { GAS_SCHEDULE, GasCounter, MEMORY3D_SCHEDULE, gasCost, withSchedule } from '../../../src/gas/index.js'
import { ProgramMemory } from '../../../src/memory/index.js'

describe('GAS_SCHEDULE', () => {
  // Memory3D's published costs, copied exactly (seeds/ FAQ): the table must not drift.
  it.each([
    ['load', 256, 10 + 2 * 256],
    ['store', 256, 15 + 2 * 256],
    ['alloc', 256, 20 + 256],
    ['free', 0, 5],
    ['copy', 4096, 25 + 2 * 4096],
    ['compact', 0, 30],
  ] as const)('%s of %i bytes costs %i', (operation, bytes, expected) => {
    expect(gasCost(GAS_SCHEDULE, operation, bytes)).toBe(expected)
  })

  it('prices 100 allocs + 100 stores + 100 loads of 256 B at exactly 132,500 gas with page fees zero', () => {
    const gas = new GasCounter(1_000_000)
    const memory = new ProgramMemory({ gas, schedule: MEMORY3D_SCHEDULE })
    const addresses = Array.from({ length: 100 }, () => memory.alloc(256))
    expect(gas.used).toBe(27_600)
    for (const address of addresses) memory.store(address, new Uint8Array(256).fill(1))
    expect(gas.used).toBe(27_600 + 52_700)
    for (const address of addresses) memory.load(address, 256)
    expect(gas.used).toBe(132_500)
  })

  it('charges page fees once per plane per message: first access, first write, and load of stored data', () => {
    const gas = new GasCounter(10_000_000)
    const memory = new ProgramMemory({ gas })
    const a = memory.alloc(64)
    const { pageRead, pageWrite, pageLoad, store, load } = GAS_SCHEDULE
    memory.begin()
    let before = gas.used
    memory.store(a, new Uint8Array(8))
    expect(gas.used - before).toBe(store.base + 8 * store.perByte + pageRead.base + pageWrite.base)
    before = gas.used
    memory.store(a, new Uint8Array(8))
    expect(gas.used - before).toBe(store.base + 8 * store.perByte)
    memory.commit()
    // A new message: the plane now holds data, so its first access also pays pageLoad.
    memory.begin()
    before = gas.used
    memory.load(a, 8)
    expect(gas.used - before).toBe(load.base + 8 * load.perByte + pageRead.base + pageLoad.base)
    before = gas.used
    memory.store(a, new Uint8Array(8))
    expect(gas.used - before).toBe(store.base + 8 * store.perByte + pageWrite.base)
    memory.commit()
  })

  it('withSchedule overrides rows and keeps the rest', () => {
    const schedule = withSchedule({ load: { base: 1, perByte: 0 } })
    expect(gasCost(schedule, 'load', 1000)).toBe(1)
    expect(schedule.store).toEqual(GAS_SCHEDULE.store)
  })
})

describe('GasCounter', () => {
  it('charges what fits and refuses, changing nothing, what does not', () => {
    const gas = new GasCounter(100)
    expect(gas.charge(60)).toBe(true)
    expect(gas.charge(41)).toBe(false)
    expect(gas.used).toBe(60)
    expect(gas.left).toBe(40)
    expect(gas.charge(40)).toBe(true)
    expect(gas.left).toBe(0)
  })

  it('refunds at most what was used', () => {
    const gas = new GasCounter(100)
    gas.charge(30)
    expect(gas.refund(50)).toBe(30)
    expect(gas.used).toBe(0)
    expect(gas.refunded).toBe(30)
  })

  it('burnAll consumes the whole limit', () => {
    const gas = new GasCounter(77)
    gas.charge(5)
    gas.burnAll()
    expect(gas.used).toBe(77)
  })

  it.each([-1, 1.5, Number.NaN, 2 ** 53, '10', null])('rejects the limit %s with INVALID_GAS', (limit) => {
    expect(() => new GasCounter(limit as number)).toThrow(expect.objectContaining({ code: 'INVALID_GAS' }))
  })
})

describe('docs/gas.md', () => {
  // Every row of the schedule, with its numbers, is in the documented table (a 10x wrong fee fails here).
  const doc = readFileSync('docs/gas.md', 'utf8')
  const documented = new Map<string, [number, number]>()
  for (const match of doc.matchAll(/^\| ((?:`\w+`(?:, )?)+) \| ([\d,]+) \| ([\d,]+) \|/gm)) {
    const numbers: [number, number] = [Number(match[2]!.replaceAll(',', '')), Number(match[3]!.replaceAll(',', ''))]
    for (const name of match[1]!.matchAll(/`(\w+)`/g)) documented.set(name[1]!, numbers)
  }
  it.each(Object.entries(GAS_SCHEDULE))('%s is documented with its numbers', (name, row) => {
    expect(documented.get(name)).toEqual([row.base, row.perByte])
  })

  it('documents no row the schedule does not have', () => {
    expect([...documented.keys()].sort()).toEqual(Object.keys(GAS_SCHEDULE).sort())
  })
})
