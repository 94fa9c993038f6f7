/**
 * Compaction planning (Memory3D's "Y-promotion", done for real): a pure function from a region's live
 * allocations to the layout that packs them into the fewest low planes, keeping their order.
 *
 *   before:  plane 0 [A].....[B]....   plane 1 ......[C]...   plane 2 [D].........
 *   after:   plane 0 [A][B][C][D]...   plane 1 (dropped)      plane 2 (dropped)
 *
 * Packing in address order with `placeAt` (monotone, identity on valid starts) gives new start <= old start for
 * every allocation, so applying moves in ascending order never overwrites a source not yet moved.
 */
import type { AllocationRecord } from './view.js'
import { footprintOf, placeAt, planeSpan } from './region.js'

export interface CompactionMove {
  readonly from: number
  readonly to: number
  readonly size: number
}

export interface RegionCompactionPlan {
  readonly region: number
  readonly moves: readonly CompactionMove[]
  /** Bytes copied by the moves. */
  readonly bytesMoved: number
  /** Planes holding live allocations now. */
  readonly planesBefore: number
  /** Planes holding live allocations after compaction. */
  readonly planesAfter: number
  readonly planesFreed: number
  /**
   * Fragmentation in [0, 1]: 1 - planesAfter / planesBefore. 0 means compaction would free nothing; values near
   * 1 mean most planes in use would be emptied. An empty region has fragmentation 0.
   */
  readonly fragmentation: number
  /** One past the last footprint after compaction (the region's new high-water mark). */
  readonly top: number
  /** The packed layout, ascending. */
  readonly layout: readonly AllocationRecord[]
}

/** Counts distinct planes covered by ascending, non-overlapping allocations. */
export function countPlanes(allocations: readonly AllocationRecord[]): number {
  let count = 0
  let lastPlane = -1
  for (const { address, size } of allocations) {
    const [first, end] = planeSpan(address, size)
    count += end - Math.max(first, lastPlane + 1)
    lastPlane = end - 1
  }
  return count
}

/** `allocations` must be ascending by address and all inside region `region` whose base is `base`. */
export function planRegionCompaction(
  region: number, base: number, allocations: readonly AllocationRecord[],
): RegionCompactionPlan {
  const moves: CompactionMove[] = []
  const layout: AllocationRecord[] = []
  let cursor = base
  let bytesMoved = 0
  for (const { address, size } of allocations) {
    const to = placeAt(cursor, size)
    if (to !== address) {
      moves.push({ from: address, to, size })
      bytesMoved += size
    }
    layout.push({ address: to, size })
    cursor = to + footprintOf(size)
  }
  const planesBefore = countPlanes(allocations)
  const planesAfter = countPlanes(layout)
  return {
    region, moves, bytesMoved, planesBefore, planesAfter, planesFreed: planesBefore - planesAfter,
    fragmentation: planesBefore === 0 ? 0 : 1 - planesAfter / planesBefore,
    top: cursor, layout,
  }
}

