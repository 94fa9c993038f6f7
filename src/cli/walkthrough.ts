/**
 * `strata memory`: a short walkthrough of 3D memory: allocate, store, load, fragment, compact, and print
 * addresses, gas and stats. It returns the same facts as an object (what `--json` prints).
 */
import { GasCounter } from '../gas/index.js'
import { ProgramMemory, RegionType, encodeMemoryMetadata, formatAddress } from '../memory/index.js'

export function memoryWalkthrough(print: (line: string) => void): Record<string, unknown> {
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
  const crossPlaneRead = new TextDecoder().decode(memory.load(big + 65_530, 13))
  print(`load across a boundary   "${crossPlaneRead}"`)

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
  const byte = memory.load(now, 1)[0]
  print(`compacted: ${formatAddress(moved)} -> ${formatAddress(now)}, byte there = ${byte} (expected 8)`)

  memory.begin()
  memory.store(greeting, text.encode('this write is rolled back'))
  memory.rollback()
  const afterRollback = new TextDecoder().decode(memory.load(greeting, 26))
  print(`after rollback the static bytes read "${afterRollback}"`)

  const stats = memory.stats()
  print('')
  print(`allocations ${stats.allocations}, live bytes ${stats.liveBytes}, planes materialized ${stats.planesMaterialized}, in use ${stats.planesInUse}/${stats.planesMax}`)
  print(`gas by class: ${Object.entries(stats.gasByClass).map(([k, v]) => `${k} ${v}`).join(', ')}`)
  const metadataBytes = encodeMemoryMetadata(memory).length
  print(`gas used ${gas.used} of ${gas.limit}; metadata ${metadataBytes} bytes`)
  return {
    staticAddress: greeting, heapAddress: big, crossPlaneRead,
    afterFrees: { allocations: heap.allocations, planesInUse: heap.planesInUse, fragmentation: heap.fragmentation },
    compactionPreview: {
      moves: plan.moves.length, bytesMoved: plan.bytesMoved, planesBefore: plan.planesBefore, planesAfter: plan.planesAfter,
      gasCost: preview.gasCost, gasRefund: preview.gasRefund,
    },
    relocated: { from: moved, to: now, byte }, afterRollback,
    stats, gasUsed: gas.used, gasLimit: gas.limit, metadataBytes,
  }
}
