/**
 * Region types and the placement rules shared by every allocator.
 *
 * A region is a 4 GiB linear space of 64 KiB planes. Placement keeps two rules so that an allocation's planes
 * are predictable:
 *   - an allocation of at most one plane never straddles a plane boundary (a small value lives in one plane:
 *     one page fee, one chunk path in a proof);
 *   - a larger allocation starts on a plane boundary and spans consecutive planes.
 *
 *   plane k                       plane k+1                     plane k+2
 *   |[a][b]....[c]   (gap)       |[ big allocation ..........................]..[d]   |
 */
import { ALLOCATION_ALIGN_BYTES, PLANE_SIZE_BYTES } from '../constants.js'

export const RegionType = {
  /** Created at init, persisted, never freed: the program's long-lived state. */
  STATIC: 'static',
  /** General allocation, freed in any order, persisted. */
  HEAP: 'heap',
  /** LIFO allocation, reset at the end of every message and never persisted (Gear's stack area). */
  STACK: 'stack',
} as const
export type RegionType = (typeof RegionType)[keyof typeof RegionType]

export const REGION_TYPES: readonly RegionType[] = [RegionType.STATIC, RegionType.HEAP, RegionType.STACK]

export function isRegionType(value: unknown): value is RegionType {
  return value === RegionType.STATIC || value === RegionType.HEAP || value === RegionType.STACK
}

/** Bytes an allocation of `size` occupies: its size rounded up to the alignment. */
export function footprintOf(size: number): number {
  return Math.ceil(size / ALLOCATION_ALIGN_BYTES) * ALLOCATION_ALIGN_BYTES
}

/**
 * The first valid start at or after `cursor` (an aligned address) for an allocation of `size` bytes.
 * Monotone in `cursor` and the identity on valid starts, which compaction relies on (moves only go down).
 */
export function placeAt(cursor: number, size: number): number {
  if (size > PLANE_SIZE_BYTES) return Math.ceil(cursor / PLANE_SIZE_BYTES) * PLANE_SIZE_BYTES
  const planeEnd = (Math.floor(cursor / PLANE_SIZE_BYTES) + 1) * PLANE_SIZE_BYTES
  return cursor + size <= planeEnd ? cursor : planeEnd
}

/** Size class of a free block: floor(log2(size)). Blocks are at least ALLOCATION_ALIGN_BYTES. */
export function sizeClassOf(size: number): number {
  return size < 2 ** 31 ? 31 - Math.clz32(size) : Math.floor(Math.log2(size))
}

/** Number of size classes: sizes up to a whole region (2^32) give classes 3..32. */
export const SIZE_CLASS_COUNT = 33

/** First and one-past-last plane index (global, region*2^16+plane) covered by [start, start+length). */
export function planeSpan(start: number, length: number): [first: number, end: number] {
  const first = Math.floor(start / PLANE_SIZE_BYTES)
  const end = length === 0 ? first + 1 : Math.floor((start + length - 1) / PLANE_SIZE_BYTES) + 1
  return [first, end]
}
