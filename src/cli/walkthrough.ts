/**
 * A short walkthrough of 3D memory: allocate, store, load, fragment, compact, and print addresses, gas and
 * stats. What `npm start` shows until the runtime demo exists.
 */
import { GasCounter } from '../gas/index.js'
import { ProgramMemory, RegionType, encodeMemoryMetadata, formatAddress } from '../memory/index.js'

export function memoryWalkthrough(print: (line: string) => void): void {
  const gas = new GasCounter(50_000_000)
  const memory = new ProgramMemory({ gas })
  const text = new TextEncoder()

  print('Strata 3D memory walkthrough')
  print('')
  const greeting = memory.alloc(64, RegionType.STATIC)
  memory.store(greeting, text.encode('hello from a static region'))
  print(`static alloc 64 B        at ${formatAddress(greeting)}   gas used ${gas.used}`)

  const big = memory.alloc(3 * 65_536 + 100)
  memory.store(big + 65_530, text.encode('across planes'))
  print(`heap alloc 196,708 B     at ${formatAddress(big)}   spans 4 planes`)
  print(`load across a boundary   "${new TextDecoder().decode(memory.load(big + 65_530, 13))}"`)

  const small = Array.from({ length: 2000 }, (_, i) => {
    const address = memory.alloc(256)
    memory.store(address, new Uint8Array(256).fill(i % 256))
    return address
  })
  print(`2,000 heap allocs of 256 B, first at ${formatAddress(small[0]!)}, last at ${formatAddress(small[1999]!)}`)
  memory.free(big)
  small.forEach((address, i) => { if (i % 8 !== 0) memory.free(address) })
  const heap = memory.stats().regions.find((r) => r.type === 'heap')!
  print(`freed 7 of every 8: ${heap.allocations} live, ${heap.planesInUse} planes in use, fragmentation ${heap.fragmentation.toFixed(3)}`)

  const preview = memory.analyzeCompaction()
  const plan = preview.regions[0]!
  print(`compaction preview: ${plan.moves.length} moves, ${plan.bytesMoved} B, planes ${plan.planesBefore} -> ${plan.planesAfter}, ` +
    `cost ${preview.gasCost} gas, refund ${preview.gasRefund} gas`)
  const result = memory.compact()
  const moved = small[8]!
  const now = result.relocations.get(moved) ?? moved
  print(`compacted: ${formatAddress(moved)} -> ${formatAddress(now)}, byte there = ${memory.load(now, 1)[0]} (expected 8)`)

  memory.begin()
  memory.store(greeting, text.encode('this write is rolled back'))
  memory.rollback()
  print(`after rollback the static bytes read "${new TextDecoder().decode(memory.load(greeting, 26))}"`)

  const stats = memory.stats()
  print('')
  print(`allocations ${stats.allocations}, live bytes ${stats.liveBytes}, planes materialized ${stats.planesMaterialized}, in use ${stats.planesInUse}/${stats.planesMax}`)
  print(`gas by class: ${Object.entries(stats.gasByClass).map(([k, v]) => `${k} ${v}`).join(', ')}`)
  print(`gas used ${gas.used} of ${gas.limit}; metadata ${encodeMemoryMetadata(memory).length} bytes`)
}
