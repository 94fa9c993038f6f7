/**
 * Every limit and size in Strata, each with the reason it has that value. Units come last in names.
 * Relations between them are asserted at import so an edit that breaks one fails at once.
 */
import { assert } from './errors.js'

// ---- 3D memory geometry (DESIGN.md, Memory3D) -------------------------------------------------------------

/** A plane is 64 KiB: Memory3D's plane and Gear's wasm page; the unit of storage, dirty tracking and page gas. */
export const PLANE_SIZE_BYTES = 65_536
/** Offsets are 16 bits: an offset addresses one byte of a plane. */
export const OFFSET_BITS = 16
/** Planes per region are 16 bits: a region is 2^16 planes x 64 KiB = a 4 GiB linear space. */
export const PLANE_BITS = 16
/** Regions per program are 8 bits: Memory3D's region coordinate (X) ranges over 256 regions. */
export const REGION_BITS = 8
export const REGION_COUNT_MAX = 1 << REGION_BITS
export const PLANES_PER_REGION_MAX = 1 << PLANE_BITS
/** Bytes in one region: the span of its linear address space. */
export const REGION_SIZE_BYTES = PLANES_PER_REGION_MAX * PLANE_SIZE_BYTES
/** One past the largest Address3D: 2^40, well inside JS's safe integers (2^53). */
export const ADDRESS_LIMIT = REGION_COUNT_MAX * REGION_SIZE_BYTES

/**
 * Planes a program may hold by default: 32,768 planes = 2 GiB, as Gear caps program memory at 32,768 wasm
 * pages. Configurable per runtime; this bounds what one program can make every node store.
 */
export const PROGRAM_PLANES_MAX_DEFAULT = 32_768
/**
 * The largest single allocation by default: 16 MiB (256 planes). Large enough for real buffers, small enough
 * that one alloc cannot take an eighth of the program's budget in one call. Configurable per memory.
 */
export const ALLOCATION_SIZE_MAX_BYTES_DEFAULT = 16 * 1024 * 1024
/**
 * Allocation alignment: 8 bytes, so any allocation can back a Float64Array/BigInt64Array view and so
 * allocator bookkeeping works in units that never split a word.
 */
export const ALLOCATION_ALIGN_BYTES = 8

// ---- gas ----------------------------------------------------------------------------------------------------

/** Gas is a safe integer; this is the largest gas limit a single counter accepts (2^53 - 1). */
export const GAS_MAX = Number.MAX_SAFE_INTEGER

// ---- bytecode interface -------------------------------------------------------------------------------------

/** Registers in `ProgramMemory.execute`: 16 is enough for any straight-line memory script and fits a nibble. */
export const BYTECODE_REGISTER_COUNT = 16
/** A bytecode program at most 1 MiB: bounds the decode work one call can demand. */
export const BYTECODE_SIZE_MAX_BYTES = 1024 * 1024

assert(PLANE_SIZE_BYTES === 1 << OFFSET_BITS, 'a plane is addressed by exactly OFFSET_BITS')
assert(ADDRESS_LIMIT === 2 ** (REGION_BITS + PLANE_BITS + OFFSET_BITS), 'Address3D packs into 40 bits')
assert(ADDRESS_LIMIT <= Number.MAX_SAFE_INTEGER, 'Address3D must be a safe integer')
assert(PROGRAM_PLANES_MAX_DEFAULT <= REGION_COUNT_MAX * PLANES_PER_REGION_MAX, 'budget within address space')
assert(ALLOCATION_SIZE_MAX_BYTES_DEFAULT <= REGION_SIZE_BYTES, 'an allocation fits in one region')
assert(PLANE_SIZE_BYTES % ALLOCATION_ALIGN_BYTES === 0, 'planes hold whole alignment units')
