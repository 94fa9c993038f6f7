/**
 * Memory metadata: the allocator state that persists between messages (regions with their type and top,
 * live allocations, materialized planes), encoded with msgpackr. Free lists are not stored: they are exactly
 * the gaps between live allocations, rebuilt on restore. Stack regions are never persisted.
 *
 * Encoded shape (version 1):
 *   { v: 1, regions: [[index, typeCode, top, peak, [start0, size0, start1, size1, ...]], ...], planes: [key, ...] }
 * peak is the highest top the region ever reached (it tells released memory from never-allocated memory).
 * typeCode: 0 static, 1 heap. Addresses are absolute Address3D values; lists ascend.
 */
import { Packr } from 'msgpackr'
import { REGION_COUNT_MAX, REGION_SIZE_BYTES, PLANES_PER_REGION_MAX } from '../constants.js'
import { StrataError } from '../errors.js'
import { MemoryErrorCode } from './errors.js'
import { ProgramMemory, type ProgramMemoryOptions } from './program_memory.js'
import { RegionType, footprintOf, placeAt } from './region.js'
import type { AllocationRecord } from './view.js'

/** Format version written into every metadata blob; a newer one is refused rather than misread. */
export const MEMORY_METADATA_VERSION = 1

const TYPE_CODES = [RegionType.STATIC, RegionType.HEAP] as const

// Plain msgpack (no record extension): metadata is a stored format, readable without shared structures.
const packr = new Packr({ useRecords: false, variableMapSize: true })

export function encodeMemoryMetadata(memory: ProgramMemory): Uint8Array {
  if (memory.inTransaction) {
    throw new StrataError(MemoryErrorCode.TRANSACTION_STATE, 'metadata cannot be taken inside a transaction')
  }
  if (memory.regions().some((r) => r.type === RegionType.STACK)) {
    // Stack memory lives only within a message; a stack region outside one would make a restored memory
    // number its regions differently from the original.
    throw new StrataError(MemoryErrorCode.TRANSACTION_STATE,
      'metadata cannot be taken while stack allocations are live: end the message (commit or rollback) first')
  }
  const regions: [number, number, number, number, number[]][] = []
  for (const { index, type, top, peak } of memory.regions()) {
    if (type === RegionType.STACK) continue
    const flat: number[] = []
    for (const { address, size } of memory.regionAllocations(index)) flat.push(address, size)
    regions.push([index, TYPE_CODES.indexOf(type), top, peak, flat])
  }
  const packed = packr.pack({ v: MEMORY_METADATA_VERSION, regions, planes: memory.planeKeys() })
  return new Uint8Array(packed.buffer, packed.byteOffset, packed.byteLength)
}

/**
 * Rebuilds a memory from metadata. Planes listed as materialized are read through `options.planeSource`
 * when first touched. Every field is validated; malformed metadata is a BAD_METADATA error.
 */
export function decodeMemoryMetadata(bytes: Uint8Array, options: ProgramMemoryOptions = {}): ProgramMemory {
  let decoded: unknown
  try {
    decoded = packr.unpack(bytes)
  } catch (error) {
    throw bad(`not msgpack: ${(error as Error).message}`)
  }
  if (typeof decoded !== 'object' || decoded === null) throw bad('not an object')
  const { v, regions, planes } = decoded as { v?: unknown; regions?: unknown; planes?: unknown }
  if (v !== MEMORY_METADATA_VERSION) throw bad(`version ${String(v)} is not ${MEMORY_METADATA_VERSION}`)
  if (!Array.isArray(regions) || regions.length > REGION_COUNT_MAX) throw bad('regions is not a list of regions')
  if (!Array.isArray(planes)) throw bad('planes is not a list')

  const memory = new ProgramMemory(options)
  let previousIndex = -1
  for (const entry of regions) {
    if (!Array.isArray(entry) || entry.length !== 5) {
      throw bad('a region entry is not [index, type, top, peak, allocations]')
    }
    const [index, typeCode, top, peak, flat] = entry as unknown[]
    if (!isInt(index) || index <= previousIndex || index >= REGION_COUNT_MAX) throw bad(`region index ${String(index)}`)
    previousIndex = index
    const type = TYPE_CODES[typeCode as number]
    if (type === undefined) throw bad(`region ${index} has type code ${String(typeCode)}`)
    const base = index * REGION_SIZE_BYTES
    if (!isInt(top) || top < base || top > base + REGION_SIZE_BYTES) throw bad(`region ${index} top ${String(top)}`)
    if (!isInt(peak) || peak < top || peak > base + REGION_SIZE_BYTES) throw bad(`region ${index} peak ${String(peak)}`)
    if (!Array.isArray(flat) || flat.length % 2 !== 0) throw bad(`region ${index} allocations`)
    const allocations: AllocationRecord[] = []
    let cursor = base
    for (let i = 0; i < flat.length; i += 2) {
      const address = flat[i]
      const size = flat[i + 1]
      if (!isInt(address) || !isInt(size) || size < 1 || size > memory.allocationSizeMaxBytes
        || address < cursor || placeAt(address, size) !== address || address % 8 !== 0) {
        throw bad(`region ${index} allocation [${String(address)}, ${String(size)}] is out of order or misplaced`)
      }
      cursor = address + footprintOf(size)
      if (cursor > top) throw bad(`region ${index} allocation at ${address} ends past the top`)
      allocations.push({ address, size })
    }
    if (top !== cursor) throw bad(`region ${index} top ${top} is not the end of its last allocation (${cursor})`)
    memory.restoreRegion(index, type, top, peak, allocations)
  }
  let previousKey = -1
  for (const key of planes) {
    if (!isInt(key) || key <= previousKey || key >= REGION_COUNT_MAX * PLANES_PER_REGION_MAX) {
      throw bad(`plane key ${String(key)}`)
    }
    if (!memory.isPlaneInUse(key)) {
      throw bad(`plane ${key} holds data but no allocation covers it`)
    }
    previousKey = key
  }
  memory.restoreMaterialized(planes as number[])
  return memory
}

function isInt(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0
}

function bad(what: string): StrataError {
  return new StrataError(MemoryErrorCode.BAD_METADATA, `invalid memory metadata: ${what}`)
}
