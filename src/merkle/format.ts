/**
 * The commitment format: every tag byte, size and limit that fixes what a root means. docs/merkle.md describes
 * the same numbers for people writing their own verifier; changing anything here changes every root.
 *
 * Domain separation (why no hash input of one kind can pass for another): every kind of hash input has its
 * own length, asserted at the bottom of this file, and two preimages of different lengths can only give the
 * same digest through a SHA-256 collision.
 *  - an inner node is SHA-256 of exactly 64 bytes, left child hash then right child hash, with no tag. Keeping
 *    it at 64 bytes lets @chainsafe/hashtree hash many nodes per call (SHA-NI, several lanes at once), which
 *    measured 2-10x cheaper per node than node:crypto on this kind of machine;
 *  - a chunk leaf is SHA-256 of exactly the chunk's 4,096 bytes, with no tag: prefixing a tag means copying
 *    every chunk before hashing it, which measured ~10% of whole-plane hashing throughput;
 *  - every other input starts with one of the tag bytes below, so the kinds stay apart even if a layout ever
 *    changed length.
 *
 * This file imports nothing from Node: the standalone verifier uses it.
 */
import { DIRTY_CHUNK_SIZE_BYTES, OFFSET_BITS, PLANE_BITS, PLANE_SIZE_BYTES, REGION_BITS } from '../constants.js'
import { assert } from '../errors.js'

/** A SHA-256 digest. */
export const HASH_SIZE_BYTES = 32
/** An inner node's input: two child hashes. */
export const NODE_INPUT_SIZE_BYTES = 2 * HASH_SIZE_BYTES

/** The first byte of every hash input that is not an inner node. */
export const HashTag = {
  /** `EMPTY_HASH = SHA-256(0x00)`: the hash of an empty subtree in every sparse tree, and the empty state root. */
  EMPTY: 0x00,
  /** A plane in a program's planes tree: `0x20 || plane key (u24 BE) || plane root`. */
  PLANE: 0x20,
  /** A live allocation: `0x21 || start address (u40 BE) || size in bytes (u40 BE)`. */
  ALLOCATION: 0x21,
  /** A program's memory root: `0x22 || planes root || allocations root`. */
  MEMORY: 0x22,
  /** A program in the state tree: `0x30 || program id || code id || status (u8) || memory root`. */
  PROGRAM: 0x30,
} as const
export type HashTag = (typeof HashTag)[keyof typeof HashTag]

/**
 * A plane's hash is a binary tree over chunks of this size: 4 KiB is the smallest size whose whole-plane
 * hashing stays >= 0.7x the speed of one raw SHA-256 of the plane (measured 0.71-0.83x; 2 KiB 0.53-0.60x,
 * 1 KiB 0.37-0.45x: every SHA-256 call costs ~0.5-1 us on top of the bytes). A proof of a few bytes carries
 * one 4 KiB chunk, ~11 KB of JSON. Figures in docs/merkle.md, "Choosing the chunk size".
 */
export const CHUNK_SIZE_BYTES = 4096
export const CHUNKS_PER_PLANE = PLANE_SIZE_BYTES / CHUNK_SIZE_BYTES
/** A chunk mask with every chunk of a plane set (bit c = chunk c, as in memory's DirtySet.chunkMasks). */
export const ALL_CHUNKS_MASK = 2 ** CHUNKS_PER_PLANE - 1
/** Levels between a plane root and its chunk leaves. */
export const CHUNK_TREE_DEPTH = Math.log2(CHUNKS_PER_PLANE)

/** Plane keys are region * 2^16 + plane: 24 bits, so a plane's path in the planes tree is at most 24 deep. */
export const PLANE_KEY_BITS = REGION_BITS + PLANE_BITS
/** Allocations are keyed by their start address: 40 bits. */
export const ALLOCATION_KEY_BITS = REGION_BITS + PLANE_BITS + OFFSET_BITS
/**
 * Odd multipliers that mix numeric keys into path keys (key_path.ts): the top 24 and 40 bits of the 64-bit
 * golden-ratio constant 0x9E3779B97F4A7C15, the usual choice for Fibonacci hashing.
 */
export const PLANE_PATH_MULTIPLIER = 0x9e3779
export const ALLOCATION_PATH_MULTIPLIER = 0x9e3779b97f
/** Programs are keyed by their 32-byte id: 256 bits. */
export const PROGRAM_KEY_BITS = 256
export const PROGRAM_ID_SIZE_BYTES = 32
export const CODE_ID_SIZE_BYTES = 32

/** The status byte committed in a program's leaf. */
export const ProgramStatusCode = {
  INITIALIZING: 0,
  ACTIVE: 1,
  EXITED: 2,
  FAILED_INIT: 3,
} as const
export type ProgramStatusCode = (typeof ProgramStatusCode)[keyof typeof ProgramStatusCode]
export const PROGRAM_STATUS_CODE_MAX = 3

/** SHA-256(0x00): an empty subtree, an empty planes or allocations tree, and the root of a state with no program. */
export const EMPTY_HASH_HEX = '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d'
/** The state root when no program exists. */
export const EMPTY_STATE_ROOT_HEX = EMPTY_HASH_HEX
/** SHA-256 of 4,096 zero bytes: the leaf of an all-zero chunk, known without hashing. */
export const ZERO_CHUNK_HASH_HEX = 'ad7facb2586fc6e966c004d7d1d16b024f5805ff7cb47c7a85dabd8b48892ca7'
/** The chunk-tree root of a plane of 65,536 zero bytes. A plane with this root is committed as absent. */
export const ZERO_PLANE_ROOT_HEX = '4018e2407804a47865abb713c52fa10c149a79c3b9ae1dfda303da4017881979'

/** Proof objects carry this format string; a verifier rejects any other. */
export const PROOF_FORMAT = 'strata.merkle/1'

/**
 * The longest range one proof may cover: 1 MiB. Its JSON holds the bytes twice in hex (the data and the chunks
 * that commit them), about 4.3 MB, which a browser parses and verifies in well under a second; longer reads
 * are proven in several requests.
 */
export const PROOF_RANGE_MAX_BYTES = 1024 * 1024
/** Planes one range proof can touch: a 1 MiB range that starts at the last byte of a plane touches 17. */
export const PROOF_PLANES_MAX = Math.ceil((PROOF_RANGE_MAX_BYTES - 1) / PLANE_SIZE_BYTES) + 1
/**
 * The largest JSON text `verifyProof` accepts in place of an object: 8 MiB, twice the largest valid proof,
 * so a caller may pass a string straight from the wire without allowing an unbounded parse.
 */
export const PROOF_JSON_MAX_CHARS = 8 * 1024 * 1024

// The byte length of every kind of hash input (see docs/merkle.md); all distinct, as domain separation needs.
export const CHUNK_INPUT_SIZE_BYTES = CHUNK_SIZE_BYTES
export const PLANE_LEAF_INPUT_SIZE_BYTES = 1 + 3 + HASH_SIZE_BYTES
export const ALLOCATION_LEAF_INPUT_SIZE_BYTES = 1 + 5 + 5
export const MEMORY_ROOT_INPUT_SIZE_BYTES = 1 + 2 * HASH_SIZE_BYTES
export const PROGRAM_LEAF_INPUT_SIZE_BYTES = 1 + PROGRAM_ID_SIZE_BYTES + CODE_ID_SIZE_BYTES + 1 + HASH_SIZE_BYTES

const INPUT_SIZES_BYTES = [
  NODE_INPUT_SIZE_BYTES, /* the EMPTY tag alone */ 1, CHUNK_INPUT_SIZE_BYTES, PLANE_LEAF_INPUT_SIZE_BYTES,
  ALLOCATION_LEAF_INPUT_SIZE_BYTES, MEMORY_ROOT_INPUT_SIZE_BYTES, PROGRAM_LEAF_INPUT_SIZE_BYTES,
]
assert(new Set(INPUT_SIZES_BYTES).size === INPUT_SIZES_BYTES.length, 'each kind of hash input has its own length')
assert(Number.isInteger(CHUNK_TREE_DEPTH) && CHUNKS_PER_PLANE >= 2, 'chunks split a plane into a power of two')
assert(CHUNK_SIZE_BYTES === DIRTY_CHUNK_SIZE_BYTES, 'memory tracks dirty chunks at the commitment chunk size')
assert(PLANE_KEY_BITS === 24 && ALLOCATION_KEY_BITS === 40, 'tree key widths follow Address3D')
assert(
  PLANE_PATH_MULTIPLIER % 2 === 1 && PLANE_PATH_MULTIPLIER < 2 ** PLANE_KEY_BITS, 'plane multiplier is an odd 24-bit number',
)
assert(
  ALLOCATION_PATH_MULTIPLIER % 2 === 1 && ALLOCATION_PATH_MULTIPLIER < 2 ** ALLOCATION_KEY_BITS,
  'allocation multiplier is an odd 40-bit number',
)
