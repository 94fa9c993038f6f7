export {
  address3d, splitAddress, toAddress, planeKey, planeKeyOf, splitPlaneKey, planeBase, formatAddress, regionOf,
  type Address3D, type Address3DParts, type PlaneKey,
} from './address.js'
export { MemoryErrorCode } from './errors.js'
export { RegionType, REGION_TYPES, isRegionType, footprintOf, placeAt } from './region.js'
export {
  ProgramMemory, FREE_SCAN_MAX, GAS_CLASSES, type ProgramMemoryOptions, type MemoryStats, type RegionStats,
  type CompactionReport, type CompactionResult, type GasClass,
} from './program_memory.js'
export { planRegionCompaction, countPlanes, type CompactionMove, type RegionCompactionPlan } from './compaction.js'
export { encodeMemoryMetadata, decodeMemoryMetadata, MEMORY_METADATA_VERSION } from './metadata.js'
export { execute, BytecodeBuilder, Opcode, COMPACT_ALL_REGIONS, type ExecuteResult } from './bytecode.js'
export type { MemoryView, DirtySet, AllocationRecord } from './view.js'
