// The public entry of Strata: explicit named exports only.
export { StrataError, isStrataError } from './errors.js'
export * as constants from './constants.js'
export {
  GAS_SCHEDULE, MEMORY3D_SCHEDULE, GasCounter, GasErrorCode, gasCost, withSchedule,
  type GasOperation, type GasRow, type GasSchedule,
} from './gas/index.js'
export {
  address3d, splitAddress, planeKey, splitPlaneKey, formatAddress, ProgramMemory, RegionType, MemoryErrorCode,
  encodeMemoryMetadata, decodeMemoryMetadata, execute, BytecodeBuilder, Opcode,
  type Address3D, type Address3DParts, type PlaneKey, type ProgramMemoryOptions, type MemoryStats,
  type RegionStats, type CompactionReport, type CompactionResult, type ExecuteResult, type MemoryView,
  type DirtySet, type AllocationRecord,
} from './memory/index.js'
