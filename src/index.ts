// The public entry of Strata: explicit named exports only.
export { StrataError, isStrataError } from './errors.js'
export * as constants from './constants.js'
export {
  address3d, splitAddress, planeKey, splitPlaneKey, formatAddress, type Address3D, type Address3DParts,
  type PlaneKey,
} from './memory/address.js'
export { MemoryErrorCode } from './memory/errors.js'
export type { MemoryView, DirtySet, AllocationRecord } from './memory/view.js'
