/** Error codes raised by 3D memory. Inside a handler each maps to a memory reply code (docs/reply-codes.md). */
export const MemoryErrorCode = {
  /** An argument is not a non-negative safe integer, or not of the expected type. */
  INVALID_ARGUMENT: 'INVALID_ARGUMENT',
  /** An address outside (region 0..255, plane 0..65535, offset 0..65535). */
  ADDRESS_OUT_OF_RANGE: 'ADDRESS_OUT_OF_RANGE',
  /** An access that does not lie entirely inside one live allocation. */
  OUT_OF_BOUNDS: 'OUT_OF_BOUNDS',
  /** An access to memory that was allocated once and has since been freed. */
  USE_AFTER_FREE: 'USE_AFTER_FREE',
  /** `free` of an allocation that was already freed. */
  DOUBLE_FREE: 'DOUBLE_FREE',
  /** `free` of an address that is inside an allocation but not its start. */
  FREE_NOT_START: 'FREE_NOT_START',
  /** An allocation of 0 bytes or of more than the configured maximum. */
  INVALID_ALLOCATION_SIZE: 'INVALID_ALLOCATION_SIZE',
  /** All 256 regions are in use and none of the requested type has room. */
  REGION_LIMIT: 'REGION_LIMIT',
  /** The program's plane budget would be exceeded. */
  MEMORY_BUDGET_EXCEEDED: 'MEMORY_BUDGET_EXCEEDED',
  /** The gas counter cannot pay for the operation; nothing was done. */
  OUT_OF_GAS: 'OUT_OF_GAS',
  /** An operation not allowed on this region type (free in static, compact of a stack, out-of-order pop). */
  WRONG_REGION_TYPE: 'WRONG_REGION_TYPE',
  /** `free` of a stack allocation that is not the most recent one (stack is LIFO). */
  STACK_ORDER: 'STACK_ORDER',
  /** A transaction call out of order (begin twice, commit without begin). */
  TRANSACTION_STATE: 'TRANSACTION_STATE',
  /** Malformed bytecode for `execute`. */
  BAD_BYTECODE: 'BAD_BYTECODE',
  /** Serialized memory metadata that does not decode to a valid state. */
  BAD_METADATA: 'BAD_METADATA',
} as const
export type MemoryErrorCode = (typeof MemoryErrorCode)[keyof typeof MemoryErrorCode]
