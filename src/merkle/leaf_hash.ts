/**
 * The byte layout of every tagged hash input, in one place (docs/merkle.md, "Hash inputs"). Integers are
 * unsigned big-endian. Portable (no Node imports): the verifier recomputes leaves with these functions.
 */
import { assert } from '../errors.js'
import {
  ALLOCATION_LEAF_INPUT_SIZE_BYTES, CODE_ID_SIZE_BYTES, EMPTY_HASH_HEX, HASH_SIZE_BYTES, HashTag,
  MEMORY_ROOT_INPUT_SIZE_BYTES, PLANE_LEAF_INPUT_SIZE_BYTES, PROGRAM_ID_SIZE_BYTES, PROGRAM_LEAF_INPUT_SIZE_BYTES,
  ZERO_CHUNK_HASH_HEX, ZERO_PLANE_ROOT_HEX,
} from './format.js'
import type { Hasher } from './hasher.js'
import { hexToBytes } from './hex.js'

function constant(hex: string): Uint8Array {
  const bytes = hexToBytes(hex, HASH_SIZE_BYTES)
  assert(bytes !== undefined, `bad constant ${hex}`)
  return bytes
}

/** SHA-256(0x00): the hash of every empty subtree. Treat as read-only. */
export const EMPTY_HASH: Uint8Array = constant(EMPTY_HASH_HEX)
/** The leaf of a chunk of zeros. Treat as read-only. */
export const ZERO_CHUNK_HASH: Uint8Array = constant(ZERO_CHUNK_HASH_HEX)
/** The root of a plane of zeros; such a plane is committed as absent. Treat as read-only. */
export const ZERO_PLANE_ROOT: Uint8Array = constant(ZERO_PLANE_ROOT_HEX)

// Scratch inputs, one per layout: hashing is synchronous, so calls never overlap.
const planeInput = new Uint8Array(PLANE_LEAF_INPUT_SIZE_BYTES)
const allocationInput = new Uint8Array(ALLOCATION_LEAF_INPUT_SIZE_BYTES)
const memoryInput = new Uint8Array(MEMORY_ROOT_INPUT_SIZE_BYTES)
const programInput = new Uint8Array(PROGRAM_LEAF_INPUT_SIZE_BYTES)
planeInput[0] = HashTag.PLANE
allocationInput[0] = HashTag.ALLOCATION
memoryInput[0] = HashTag.MEMORY
programInput[0] = HashTag.PROGRAM

/** Copies a 32-byte hash into `target` at `offset` (a byte loop: TypedArray.set of 32 bytes measured ~3x slower). */
function put32(target: Uint8Array, offset: number, hash: Uint8Array): void {
  for (let i = 0; i < HASH_SIZE_BYTES; i += 1) target[offset + i] = hash[i]!
}

/** Writes an unsigned integer below 2^(8 * width) big-endian (`value` may exceed 2^32: no bit operators). */
export function writeUintBE(target: Uint8Array, offset: number, value: number, width: number): void {
  let rest = value
  for (let i = width - 1; i >= 0; i -= 1) {
    target[offset + i] = rest % 256
    rest = Math.floor(rest / 256)
  }
}

/** Chunk leaf: SHA-256(chunk bytes), untagged (format.ts), written into `output[offset..offset+32)`. */
export function chunkLeafInto(hasher: Hasher, chunk: Uint8Array, output: Uint8Array, offset: number): void {
  hasher.digestInto(chunk, output, offset)
}

/** Plane leaf: SHA-256(0x20 || key u24 || plane root). */
export function planeLeafHash(hasher: Hasher, key: number, planeRoot: Uint8Array): Uint8Array {
  planeInput[1] = key >>> 16
  planeInput[2] = (key >>> 8) & 0xff
  planeInput[3] = key & 0xff
  put32(planeInput, 4, planeRoot)
  return hasher.digest(planeInput)
}

/** Allocation leaf: SHA-256(0x21 || start address u40 || size u40). */
export function allocationLeafHash(hasher: Hasher, address: number, sizeBytes: number): Uint8Array {
  writeUintBE(allocationInput, 1, address, 5)
  writeUintBE(allocationInput, 6, sizeBytes, 5)
  return hasher.digest(allocationInput)
}

/** Memory root: SHA-256(0x22 || planes root || allocations root). */
export function memoryRootHash(hasher: Hasher, planesRoot: Uint8Array, allocationsRoot: Uint8Array): Uint8Array {
  put32(memoryInput, 1, planesRoot)
  put32(memoryInput, 1 + HASH_SIZE_BYTES, allocationsRoot)
  return hasher.digest(memoryInput)
}

/** Program leaf: SHA-256(0x30 || program id || code id || status u8 || memory root). */
export function programLeafHash(
  hasher: Hasher, programId: Uint8Array, codeId: Uint8Array, status: number, memoryRoot: Uint8Array,
): Uint8Array {
  put32(programInput, 1, programId)
  put32(programInput, 1 + PROGRAM_ID_SIZE_BYTES, codeId)
  programInput[1 + PROGRAM_ID_SIZE_BYTES + CODE_ID_SIZE_BYTES] = status
  put32(programInput, 2 + PROGRAM_ID_SIZE_BYTES + CODE_ID_SIZE_BYTES, memoryRoot)
  return hasher.digest(programInput)
}
