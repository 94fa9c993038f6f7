import { describe, expect, it } from 'vitest'
import { PLANE_SIZE_BYTES, REGION_SIZE_BYTES } from '../../../src/constants.js'
import { GasCounter, MEMORY3D_SCHEDULE } from '../../../src/gas/index.js'
import { Packr } from 'msgpackr'
import { ProgramMemory, RegionType, decodeMemoryMetadata, splitAddress } from '../../../src/memory/index.js'

const bytes = (length: number, fill: number): Uint8Array => new Uint8Array(length).fill(fill)

/** Everything observable about a memory, to show that a rejected call changed nothing. */
function observe(memory: ProgramMemory): Record<string, unknown> {
  return { ...observeState(memory), gasByClass: memory.stats().gasByClass, gas: memory.gas.used }
}

/** State without gas: what a rollback restores (the gas a failed message burned stays burned). */
function observeState(memory: ProgramMemory): Record<string, unknown> {
  const { gasByClass: _gas, ...stats } = memory.stats()
  return {
    stats,
    allocations: memory.allocations(),
    planes: memory.planeKeys().map((key) => [key, Buffer.from(memory.planeBytes(key)!).toString('base64')]),
    regions: memory.regions(),
  }
}

describe('ProgramMemory allocation', () => {
  it('places small allocations inside one plane and never across a boundary', () => {
    const memory = new ProgramMemory()
    const addresses = Array.from({ length: 300 }, () => memory.alloc(1000))
    for (const address of addresses) {
      expect(Math.floor(address / PLANE_SIZE_BYTES)).toBe(Math.floor((address + 999) / PLANE_SIZE_BYTES))
      expect(address % 8).toBe(0)
    }
  })

  it('starts allocations larger than a plane on a plane boundary, spanning consecutive planes', () => {
    const memory = new ProgramMemory()
    memory.alloc(10)
    const big = memory.alloc(3 * PLANE_SIZE_BYTES + 5)
    expect(splitAddress(big).offset).toBe(0)
    memory.store(big + 2 * PLANE_SIZE_BYTES - 3, bytes(10, 4))
    expect(memory.load(big + 2 * PLANE_SIZE_BYTES - 3, 10)).toEqual(bytes(10, 4))
    expect(memory.stats().planesInUse).toBe(5)
  })

  it('reuses freed space, coalescing neighbours, and hands it back zeroed', () => {
    const memory = new ProgramMemory()
    const [a, b, c] = [memory.alloc(64), memory.alloc(64), memory.alloc(64)]
    memory.alloc(64)
    memory.store(a, bytes(64, 1))
    memory.store(b, bytes(64, 2))
    memory.free(a)
    memory.free(b)
    const merged = memory.alloc(128)
    expect(merged).toBe(a)
    expect(memory.load(merged, 128)).toEqual(new Uint8Array(128))
    expect(c).toBe(a + 128)
  })

  it('lowers the high-water mark when the top allocation is freed', () => {
    const memory = new ProgramMemory()
    const a = memory.alloc(64)
    const b = memory.alloc(64)
    memory.free(b)
    expect(memory.regions()[0]!.top).toBe(a + 64)
    memory.free(a)
    expect(memory.regions()[0]!.top).toBe(0)
    // The peak remembers the space was handed out: a second free is a double free, not a wild one.
    expect(memory.regions()[0]!.peak).toBe(a + 128)
    expect(() => memory.free(a)).toThrow(expect.objectContaining({ code: 'DOUBLE_FREE' }))
    expect(() => memory.load(b, 1)).toThrow(expect.objectContaining({ code: 'USE_AFTER_FREE' }))
  })

  it('keeps region types apart, each in its own region', () => {
    const memory = new ProgramMemory()
    const s = memory.alloc(8, RegionType.STATIC)
    const h = memory.alloc(8, RegionType.HEAP)
    const k = memory.alloc(8, RegionType.STACK)
    expect(new Set([s, h, k].map((a) => splitAddress(a).region)).size).toBe(3)
    expect(memory.regions().map((r) => r.type)).toEqual(['static', 'heap', 'stack'])
  })

  it('drops a plane from storage when its last allocation is freed', () => {
    const memory = new ProgramMemory()
    const a = memory.alloc(100)
    memory.store(a, bytes(100, 9))
    expect(memory.planeKeys()).toEqual([0])
    memory.takeDirty()
    memory.free(a)
    expect(memory.planeKeys()).toEqual([])
    expect(memory.takeDirty()).toEqual({ planes: [0], allocations: [a], chunkMasks: new Map(), freshPlanes: [] })
  })

  it('never stores a plane that was only allocated, not written', () => {
    const memory = new ProgramMemory()
    memory.alloc(5 * PLANE_SIZE_BYTES)
    expect(memory.stats().planesMaterialized).toBe(0)
    expect(memory.stats().planesInUse).toBe(5)
  })

  it('opens a new region of the type when the current one is full', () => {
    const memory = new ProgramMemory({ planesMax: 200_000, allocationSizeMaxBytes: REGION_SIZE_BYTES })
    const first = memory.alloc(REGION_SIZE_BYTES - PLANE_SIZE_BYTES)
    const second = memory.alloc(2 * PLANE_SIZE_BYTES)
    expect(splitAddress(first).region).toBe(0)
    expect(splitAddress(second).region).toBe(1)
  })
})

describe('ProgramMemory stack', () => {
  it('is LIFO, and reset with its planes at the end of every message', () => {
    const memory = new ProgramMemory()
    memory.begin()
    const a = memory.alloc(32, RegionType.STACK)
    const b = memory.alloc(32, RegionType.STACK)
    memory.store(b, bytes(32, 5))
    expect(() => memory.free(a)).toThrow(expect.objectContaining({ code: 'STACK_ORDER' }))
    memory.free(b)
    memory.free(a)
    memory.alloc(32, RegionType.STACK)
    memory.commit()
    expect(memory.regions()).toEqual([])
    expect(memory.stats().planesInUse).toBe(0)
    expect(memory.takeDirty()).toEqual({ planes: [], allocations: [], chunkMasks: new Map(), freshPlanes: [] })
  })
})

describe('ProgramMemory bad input: typed error, nothing changed', () => {
  const setup = () => {
    const memory = new ProgramMemory({ gas: new GasCounter(1_000_000) })
    const live = memory.alloc(100)
    memory.store(live, bytes(100, 3))
    const freed = memory.alloc(100)
    const tail = memory.alloc(8)
    memory.free(freed)
    const fixed = memory.alloc(16, RegionType.STATIC)
    return { memory, live, freed, tail, fixed }
  }
  type Ctx = ReturnType<typeof setup>
  const cases: [string, string, (c: Ctx) => unknown][] = [
    ['zero-size alloc', 'INVALID_ALLOCATION_SIZE', (c) => c.memory.alloc(0)],
    ['oversize alloc', 'INVALID_ALLOCATION_SIZE', (c) => c.memory.alloc(c.memory.allocationSizeMaxBytes + 1)],
    ['fractional size', 'INVALID_ALLOCATION_SIZE', (c) => c.memory.alloc(1.5)],
    ['string size', 'INVALID_ALLOCATION_SIZE', (c) => c.memory.alloc('8' as unknown as number)],
    ['unknown region type', 'WRONG_REGION_TYPE', (c) => c.memory.alloc(8, 'code' as RegionType)],
    ['load past the end', 'OUT_OF_BOUNDS', (c) => c.memory.load(c.live + 90, 11)],
    ['store past the end', 'OUT_OF_BOUNDS', (c) => c.memory.store(c.live + 99, bytes(2, 1))],
    ['load beyond every allocation', 'OUT_OF_BOUNDS', (c) => c.memory.load(PLANE_SIZE_BYTES * 9, 1)],
    ['load of freed memory', 'USE_AFTER_FREE', (c) => c.memory.load(c.freed, 4)],
    ['store into freed memory', 'USE_AFTER_FREE', (c) => c.memory.store(c.freed + 8, bytes(4, 1))],
    ['double free', 'DOUBLE_FREE', (c) => c.memory.free(c.freed)],
    ['free of an interior address', 'FREE_NOT_START', (c) => c.memory.free(c.live + 8)],
    ['free of a never-allocated address', 'OUT_OF_BOUNDS', (c) => c.memory.free(7 * PLANE_SIZE_BYTES)],
    ['free in the static region', 'WRONG_REGION_TYPE', (c) => c.memory.free(c.fixed)],
    ['negative address', 'ADDRESS_OUT_OF_RANGE', (c) => c.memory.load(-1, 1)],
    ['address past 2^40', 'ADDRESS_OUT_OF_RANGE', (c) => c.memory.load(2 ** 40, 1)],
    ['negative length', 'INVALID_ARGUMENT', (c) => c.memory.load(c.live, -1)],
    ['store of a plain array', 'INVALID_ARGUMENT', (c) => c.memory.store(c.live, [1, 2] as unknown as Uint8Array)],
    ['copy past the target end', 'OUT_OF_BOUNDS', (c) => c.memory.copy(c.live, c.tail, 16)],
    ['compact of the static region', 'WRONG_REGION_TYPE', (c) => c.memory.compact(splitAddress(c.fixed).region)],
    ['compact of an unused region', 'WRONG_REGION_TYPE', (c) => c.memory.compact(200)],
    ['commit without begin', 'TRANSACTION_STATE', (c) => c.memory.commit()],
    ['rollback without begin', 'TRANSACTION_STATE', (c) => c.memory.rollback()],
  ]
  it.each(cases)('%s -> %s', (_name, code, call) => {
    const ctx = setup()
    const before = observe(ctx.memory)
    expect(() => call(ctx)).toThrow(expect.objectContaining({ code }))
    expect(observe(ctx.memory)).toEqual(before)
  })

  it('messages name the offending value', () => {
    const memory = new ProgramMemory()
    expect(() => memory.alloc(-5)).toThrow(/got -5/)
    expect(() => memory.load(2 ** 41, 1)).toThrow(/got 2199023255552/)
  })

  it('out of gas leaves the operation undone', () => {
    const gas = new GasCounter(300)
    const memory = new ProgramMemory({ gas, schedule: MEMORY3D_SCHEDULE })
    const a = memory.alloc(100)
    const before = observe(memory)
    expect(() => memory.store(a, bytes(100, 1))).toThrow(expect.objectContaining({ code: 'OUT_OF_GAS' }))
    expect(observe(memory)).toEqual(before)
    expect(() => memory.alloc(1000)).toThrow(expect.objectContaining({ code: 'OUT_OF_GAS' }))
    expect(observe(memory)).toEqual(before)
  })

  it('enforces the plane budget', () => {
    const memory = new ProgramMemory({ planesMax: 3 })
    memory.alloc(2 * PLANE_SIZE_BYTES)
    const before = observe(memory)
    expect(() => memory.alloc(2 * PLANE_SIZE_BYTES)).toThrow(expect.objectContaining({ code: 'MEMORY_BUDGET_EXCEEDED' }))
    expect(observe(memory)).toEqual(before)
    memory.alloc(100)
  })

  it('enforces the region limit: with all 256 regions static, a heap allocation has nowhere to go', () => {
    // Reaching 256 regions by allocation would need terabytes of planes; a restored state gets there cheaply.
    const regions = Array.from({ length: 256 }, (_, i) => [i, 0, i * REGION_SIZE_BYTES + 8, i * REGION_SIZE_BYTES + 8, [i * REGION_SIZE_BYTES, 8]])
    const memory = decodeMemoryMetadata(new Packr({ useRecords: false }).pack({ v: 1, regions, planes: [] }))
    const before = observe(memory)
    expect(() => memory.alloc(8, RegionType.HEAP)).toThrow(expect.objectContaining({ code: 'REGION_LIMIT' }))
    expect(observe(memory)).toEqual(before)
    expect(splitAddress(memory.alloc(8, RegionType.STATIC)).region).toBe(0)
  })
})

describe('ProgramMemory transactions', () => {
  it('rollback restores bytes, allocations, free space, dirty set and materialized planes exactly', () => {
    const memory = new ProgramMemory()
    const keep = memory.alloc(500)
    memory.store(keep, bytes(500, 1))
    const victim = memory.alloc(70_000)
    memory.store(victim + 66_000, bytes(100, 2))
    memory.takeDirty()
    const before = observeState(memory)
    memory.begin()
    memory.store(keep, bytes(10, 9))
    memory.free(victim)
    const fresh = memory.alloc(200)
    memory.store(fresh, bytes(200, 7))
    memory.alloc(3 * PLANE_SIZE_BYTES)
    memory.compact()
    memory.alloc(16, RegionType.STATIC)
    memory.rollback()
    expect(observeState(memory)).toEqual(before)
    expect(memory.takeDirty()).toEqual({ planes: [], allocations: [], chunkMasks: new Map(), freshPlanes: [] })
    expect(memory.load(keep, 500)).toEqual(bytes(500, 1))
    expect(memory.load(victim + 66_000, 100)).toEqual(bytes(100, 2))
    // The allocator behaves as if the rolled-back message never ran.
    const replay = new ProgramMemory()
    replay.store(replay.alloc(500), bytes(500, 1))
    replay.alloc(70_000)
    expect(memory.alloc(300)).toBe(replay.alloc(300))
  })

  it('commit keeps changes and reports what the message touched', () => {
    const memory = new ProgramMemory()
    const a = memory.alloc(10)
    const b = memory.alloc(PLANE_SIZE_BYTES)
    memory.begin()
    memory.load(a, 1)
    memory.store(b, bytes(4, 1))
    expect(memory.planesAccessed()).toEqual([0, 1])
    expect(memory.planesWritten()).toEqual([1])
    memory.commit()
    expect(memory.load(b, 4)).toEqual(bytes(4, 1))
    expect(() => memory.begin()).not.toThrow()
    expect(() => memory.begin()).toThrow(expect.objectContaining({ code: 'TRANSACTION_STATE' }))
  })
})

describe('ProgramMemory compaction', () => {
  const fragmented = () => {
    const memory = new ProgramMemory()
    const addresses = Array.from({ length: 1024 }, (_, i) => {
      const address = memory.alloc(256)
      memory.store(address, bytes(256, i % 251))
      return address
    })
    for (let i = 0; i < addresses.length; i += 1) if (i % 4 !== 0) memory.free(addresses[i]!)
    return { memory, kept: addresses.filter((_, i) => i % 4 === 0) }
  }

  it('previews without changing anything', () => {
    const { memory } = fragmented()
    const before = observe(memory)
    const report = memory.analyzeCompaction()
    expect(observe(memory)).toEqual(before)
    const [plan] = report.regions
    expect(plan!.planesBefore).toBe(4)
    expect(plan!.planesAfter).toBe(1)
    expect(plan!.fragmentation).toBeCloseTo(0.75)
    expect(report.gasRefund).toBe(3 * 1000)
  })

  it('moves live allocations into the fewest low planes, keeps contents, drops empty planes, refunds gas', () => {
    const { memory, kept } = fragmented()
    const gasBefore = memory.gas.used
    const result = memory.compact()
    expect(result.planesFreed).toBe(3)
    expect(memory.stats().planesInUse).toBe(1)
    expect(memory.planeKeys()).toEqual([0])
    expect(memory.stats().regions[0]!.fragmentation).toBe(0)
    kept.forEach((old, i) => {
      const now = result.relocations.get(old) ?? old
      expect(memory.load(now, 256)).toEqual(bytes(256, (i * 4) % 251))
    })
    expect(result.gasRefunded).toBe(3000)
    expect(memory.gas.used - gasBefore).toBeLessThan(result.gasCharged + 2 * kept.length * 10_000)
    // Nothing left to gain: a second compaction moves nothing.
    expect(memory.compact().relocations.size).toBe(0)
  })
})

describe('ProgramMemory views', () => {
  it('reports stats with gas by operation class', () => {
    const memory = new ProgramMemory({ schedule: MEMORY3D_SCHEDULE })
    const a = memory.alloc(256)
    memory.store(a, bytes(256, 1))
    memory.load(a, 256)
    memory.free(a)
    const stats = memory.stats()
    expect(stats.gasByClass).toMatchObject({ alloc: 276, store: 527, load: 522, free: 5, page: 0 })
    expect(stats.allocations).toBe(0)
  })

  it('readRaw reads zeros where nothing is stored, without gas', () => {
    const memory = new ProgramMemory()
    const a = memory.alloc(8)
    memory.store(a, bytes(8, 6))
    const used = memory.gas.used
    expect(memory.readRaw(a, 16)).toEqual(Uint8Array.from([6, 6, 6, 6, 6, 6, 6, 6, 0, 0, 0, 0, 0, 0, 0, 0]))
    expect(memory.gas.used).toBe(used)
  })
})

describe('ProgramMemory dirty chunks', () => {
  it('reports the written 4 KiB chunks of each dirty plane, and which planes are new', () => {
    const memory = new ProgramMemory()
    const a = memory.alloc(PLANE_SIZE_BYTES)
    memory.store(a + 10, bytes(4, 1))
    memory.store(a + 4096 * 3 + 4090, bytes(10, 1))
    expect(memory.takeDirty()).toMatchObject({ planes: [0], chunkMasks: new Map([[0, 0b11001]]), freshPlanes: [0] })
    memory.store(a + 4096 * 15, bytes(1, 2))
    expect(memory.takeDirty()).toMatchObject({ planes: [0], chunkMasks: new Map([[0, 1 << 15]]), freshPlanes: [] })
  })

  it('a rolled-back message leaves no fresh plane behind', () => {
    const memory = new ProgramMemory()
    const a = memory.alloc(2 * PLANE_SIZE_BYTES)
    memory.store(a, bytes(4, 1))
    memory.takeDirty()
    memory.begin()
    memory.store(a + PLANE_SIZE_BYTES, bytes(4, 1))
    memory.store(a, bytes(4, 9))
    memory.rollback()
    const dirty = memory.takeDirty()
    expect(dirty.freshPlanes).toEqual([])
    expect(dirty.planes).toEqual([])
  })
})

describe('ProgramMemory loadInto', () => {
  it('reads what load reads, across planes too, for the same gas', () => {
    const loadGas = new GasCounter(10_000_000)
    const intoGas = new GasCounter(10_000_000)
    const a = new ProgramMemory({ gas: loadGas })
    const b = new ProgramMemory({ gas: intoGas })
    for (const memory of [a, b]) {
      const big = memory.alloc(3 * PLANE_SIZE_BYTES)
      memory.store(big + PLANE_SIZE_BYTES - 5, bytes(10, 7))
    }
    const before = [loadGas.used, intoGas.used]
    const loaded = a.load(PLANE_SIZE_BYTES - 8, 16)
    const target = new Uint8Array(16).fill(99)
    b.loadInto(PLANE_SIZE_BYTES - 8, target)
    expect(target).toEqual(loaded)
    expect(intoGas.used - before[1]!).toBe(loadGas.used - before[0]!)
  })

  it('rejects a bad target or range with a typed error, changing nothing', () => {
    const memory = new ProgramMemory()
    const a = memory.alloc(8)
    const target = new Uint8Array(9).fill(5)
    expect(() => memory.loadInto(a, target)).toThrow(expect.objectContaining({ code: 'OUT_OF_BOUNDS' }))
    expect(target).toEqual(new Uint8Array(9).fill(5))
    expect(() => memory.loadInto(a, [1] as unknown as Uint8Array)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }))
  })
})
