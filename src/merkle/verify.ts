/**
 * The standalone verifier: checks a proof against a state root using nothing but the proof. It imports
 * nothing from Node (a test walks its import graph), hashes with @noble/hashes by default, and runs unchanged
 * in a browser. docs/merkle.md, "Verifying", describes the same steps for people writing their own.
 *
 * It never throws and never hangs: every size is checked before anything is allocated or iterated, and any
 * surprise (a getter that throws, a Proxy) becomes `{ ok: false }`.
 */
import { ADDRESS_LIMIT, PLANES_PER_REGION_MAX, PLANE_SIZE_BYTES, REGION_SIZE_BYTES } from '../constants.js'
import {
  ALLOCATION_KEY_BITS, CHUNK_SIZE_BYTES, CHUNK_TREE_DEPTH, HASH_SIZE_BYTES, NODE_INPUT_SIZE_BYTES, PLANE_KEY_BITS,
  PROGRAM_KEY_BITS, PROGRAM_STATUS_CODE_MAX, PROOF_FORMAT, PROOF_JSON_MAX_CHARS, PROOF_PLANES_MAX,
  PROOF_RANGE_MAX_BYTES,
} from './format.js'
import { bytesEqual, type Hasher } from './hasher.js'
import { bytesToHex, hexInto, hexToBytes } from './hex.js'
import { allocationPathKey, bytesKeyBit, pathKeyBit, planePathKey } from './key_path.js'
import {
  allocationLeafHash, chunkLeafInto, EMPTY_HASH, memoryRootHash, planeLeafHash, programLeafHash,
} from './leaf_hash.js'
import { portableHasher } from './portable_hasher.js'
import type { AbsenceVerified, RangeVerified, VerifiedProgram, VerifyResult } from './proof_types.js'

export interface VerifyOptions {
  /**
   * The SHA-256 implementation. Defaults to the portable one; a caller in Node may pass the native hasher
   * (it computes the same digests, ~10x faster). Nothing else about verification depends on it.
   */
  readonly hasher?: Hasher
}

const PLANE_KEY_LIMIT = 2 ** PLANE_KEY_BITS

/** A rejection; caught in `verifyProof` and returned as `{ ok: false, reason }`. */
class Rejection {
  constructor(readonly reason: string) {}
}

function reject(reason: string): never {
  throw new Rejection(reason)
}

function record(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) reject(`${what} must be an object`)
  return value as Record<string, unknown>
}

function integer(value: unknown, what: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    reject(`${what} must be an integer in ${min}..${max}`)
  }
  return value
}

function hash32(value: unknown, what: string): Uint8Array {
  return hexToBytes(value, HASH_SIZE_BYTES) ?? reject(`${what} must be 64 lower-case hex digits`)
}

// Decoded sibling lists live in one scratch buffer, each used up (climbed) before the next is decoded: a fresh
// array per list measured ~0.5 us each. Sized for the longest list, the state tree's 256 hashes.
const siblingScratch = new Uint8Array(256 * HASH_SIZE_BYTES)

/**
 * Decodes a sibling list of at most `max` hashes into the sibling scratch (hash i at bytes 32i..32i+32) and
 * returns how many there are; `climb` consumes them before the next list is decoded.
 */
function siblings(value: unknown, what: string, max: number): number {
  if (!Array.isArray(value)) reject(`${what} must be an array`)
  const count = value.length
  if (typeof count !== 'number' || count > max) reject(`${what} must hold at most ${max} hashes`)
  for (let i = 0; i < count; i += 1) {
    const item: unknown = value[i]
    if (typeof item !== 'string' || item.length !== 2 * HASH_SIZE_BYTES) {
      reject(`${what}[${i}] must be 64 lower-case hex digits`)
    }
  }
  // One decode of the joined list: a decode per hash costs more in setup than in digits.
  if (!hexInto((value as string[]).join(''), count * HASH_SIZE_BYTES, siblingScratch, 0)) {
    reject(`${what} must hold lower-case hex digits only`)
  }
  return count
}

// Scratch for `climb`, cut from larger buffers: typed arrays of 64 bytes or less live on the JS heap, and a
// native hasher would have to move them off it on every call. Hashes move between them as 8 words: a
// TypedArray.set of 32 bytes measured ~4x slower than 8 word copies.
const climbInput = new Uint8Array(2 * NODE_INPUT_SIZE_BYTES).subarray(0, NODE_INPUT_SIZE_BYTES)
const climbCurrent = new Uint8Array(2 * NODE_INPUT_SIZE_BYTES).subarray(0, HASH_SIZE_BYTES)
const inputWords = new Int32Array(climbInput.buffer, 0, NODE_INPUT_SIZE_BYTES / 4)
const currentWords = new Int32Array(climbCurrent.buffer, 0, HASH_SIZE_BYTES / 4)
const siblingWords = new Int32Array(siblingScratch.buffer)

/**
 * Hashes from a path's end up to the root, using the `n` siblings last decoded by `siblings` (deepest
 * first): the end sits at depth n, and at the parent depth d the path went right iff `bitAt(d)` is 1.
 */
function climb(hasher: Hasher, end: Uint8Array, n: number, bitAt: (depth: number) => number): Uint8Array {
  for (let i = 0; i < HASH_SIZE_BYTES; i += 1) climbCurrent[i] = end[i]!
  for (let j = 0; j < n; j += 1) {
    const sibling = j * 8
    const own = bitAt(n - 1 - j) === 1 ? 8 : 0
    const other = 8 - own
    for (let w = 0; w < 8; w += 1) {
      inputWords[own + w] = currentWords[w]!
      inputWords[other + w] = siblingWords[sibling + w]!
    }
    hasher.hashNodesInto(climbInput, climbCurrent)
  }
  return climbCurrent.slice()
}

/** Checks the program's leaf and state path; returns what the rest of the proof is checked against. */
function verifyProgram(hasher: Hasher, expectedRoot: Uint8Array, value: unknown) {
  const program = record(value, 'program')
  const programId = hash32(program.programId, 'program.programId')
  const codeId = hash32(program.codeId, 'program.codeId')
  const status = integer(program.status, 'program.status', 0, PROGRAM_STATUS_CODE_MAX)
  const planesRoot = hash32(program.planesRoot, 'program.planesRoot')
  const allocationsRoot = hash32(program.allocationsRoot, 'program.allocationsRoot')
  const depth = siblings(program.siblings, 'program.siblings', PROGRAM_KEY_BITS)
  const memoryRoot = memoryRootHash(hasher, planesRoot, allocationsRoot)
  const leaf = programLeafHash(hasher, programId, codeId, status, memoryRoot)
  const root = climb(hasher, leaf, depth, (d) => bytesKeyBit(programId, d))
  if (!bytesEqual(root, expectedRoot)) reject('the program path does not lead to the state root')
  const verified: VerifiedProgram = {
    programId: bytesToHex(programId), codeId: bytesToHex(codeId), status,
    memoryRoot: bytesToHex(memoryRoot), stateRoot: bytesToHex(expectedRoot),
  }
  return { verified, planesRoot, allocationsRoot }
}

/** Checks that plane `key` is absent from the planes tree with root `planesRoot`. */
function verifyAbsentPlane(hasher: Hasher, plane: Record<string, unknown>, key: number, planesRoot: Uint8Array): void {
  const depth = siblings(plane.siblings, `plane ${key} siblings`, PLANE_KEY_BITS)
  let end = EMPTY_HASH
  if (plane.occupant !== null) {
    const occupant = record(plane.occupant, `plane ${key} occupant`)
    const other = integer(occupant.key, `plane ${key} occupant.key`, 0, PLANE_KEY_LIMIT - 1)
    if (other === key) reject(`plane ${key}: the occupant is the plane itself`)
    // The occupant's leaf sits where key's path ends, so their path keys agree on the first `depth` bits.
    const shift = 2 ** (PLANE_KEY_BITS - depth)
    if (Math.floor(planePathKey(other) / shift) !== Math.floor(planePathKey(key) / shift)) {
      reject(`plane ${key}: the occupant's path differs from the plane's`)
    }
    end = planeLeafHash(hasher, other, hash32(occupant.planeRoot, `plane ${key} occupant.planeRoot`))
  }
  const pathKey = planePathKey(key)
  const root = climb(hasher, end, depth, (d) => pathKeyBit(pathKey, PLANE_KEY_BITS, d))
  if (!bytesEqual(root, planesRoot)) reject(`plane ${key}: the absence path does not lead to the planes root`)
}

function verifyRange(
  hasher: Hasher, proof: Record<string, unknown>, program: ReturnType<typeof verifyProgram>,
): RangeVerified {
  const address = integer(proof.address, 'address', 0, ADDRESS_LIMIT - 1)
  const length = integer(proof.length, 'length', 1, PROOF_RANGE_MAX_BYTES)
  const end = address + length
  if (end > ADDRESS_LIMIT) reject('the range leaves the address space')

  const allocation = record(proof.allocation, 'allocation')
  const start = integer(allocation.address, 'allocation.address', 0, ADDRESS_LIMIT - 1)
  // An allocation lies inside one region (docs/merkle.md, "Decisions for verifiers").
  const regionEnd = (Math.floor(start / REGION_SIZE_BYTES) + 1) * REGION_SIZE_BYTES
  const size = integer(allocation.size, 'allocation.size', 1, regionEnd - start)
  if (address < start || end > start + size) reject('the range does not lie inside the allocation')
  const allocationDepth = siblings(allocation.siblings, 'allocation.siblings', ALLOCATION_KEY_BITS)
  const allocationKey = allocationPathKey(start)
  const allocationLeaf = allocationLeafHash(hasher, start, size)
  const allocationBit = (d: number): number => pathKeyBit(allocationKey, ALLOCATION_KEY_BITS, d)
  const allocationRoot = climb(hasher, allocationLeaf, allocationDepth, allocationBit)
  if (!bytesEqual(allocationRoot, program.allocationsRoot)) {
    reject('the allocation path does not lead to the allocations root')
  }

  const data = hexToBytes(proof.data, length) ?? reject(`data must be ${length} bytes of lower-case hex`)
  const firstKey = Math.floor(address / PLANE_SIZE_BYTES)
  const lastKey = Math.floor((end - 1) / PLANE_SIZE_BYTES)
  const planes = proof.planes
  if (!Array.isArray(planes) || planes.length !== lastKey - firstKey + 1 || planes.length > PROOF_PLANES_MAX) {
    reject(`planes must be an array of ${lastKey - firstKey + 1} entries, one per plane the range touches`)
  }
  const chunk = new Uint8Array(CHUNK_SIZE_BYTES)
  const chunkRoot = new Uint8Array(HASH_SIZE_BYTES)
  for (let i = 0; i < planes.length; i += 1) {
    const key = firstKey + i
    const plane = record(planes[i], `planes[${i}]`)
    if (plane.key !== key) reject(`planes[${i}].key must be ${key}`)
    const planeStart = key * PLANE_SIZE_BYTES
    const from = Math.max(address, planeStart) - planeStart
    const to = Math.min(end, planeStart + PLANE_SIZE_BYTES) - planeStart
    const dataOffset = planeStart + from - address
    if (plane.present === false) {
      verifyAbsentPlane(hasher, plane, key, program.planesRoot)
      for (let b = dataOffset; b < dataOffset + to - from; b += 1) {
        if (data[b] !== 0) reject(`plane ${key} is absent, so its bytes are zero, but data is not`)
      }
      continue
    }
    if (plane.present !== true) reject(`planes[${i}].present must be true or false`)
    const firstChunk = Math.floor(from / CHUNK_SIZE_BYTES)
    const lastChunk = Math.floor((to - 1) / CHUNK_SIZE_BYTES)
    const chunks = plane.chunks
    if (!Array.isArray(chunks) || chunks.length !== lastChunk - firstChunk + 1) {
      reject(`planes[${i}].chunks must be an array of the ${lastChunk - firstChunk + 1} chunk(s) the range covers`)
    }
    let planeRoot: Uint8Array | undefined
    for (let j = 0; j < chunks.length; j += 1) {
      const index = firstChunk + j
      const entry = record(chunks[j], `plane ${key} chunks[${j}]`)
      if (entry.index !== index) reject(`plane ${key} chunks[${j}].index must be ${index}`)
      if (!hexInto(entry.bytes, CHUNK_SIZE_BYTES, chunk, 0)) {
        reject(`plane ${key} chunk ${index} bytes must be ${CHUNK_SIZE_BYTES} bytes of lower-case hex`)
      }
      const chunkDepth = siblings(entry.siblings, `plane ${key} chunk ${index} siblings`, CHUNK_TREE_DEPTH)
      if (chunkDepth !== CHUNK_TREE_DEPTH) reject(`plane ${key} chunk ${index} needs ${CHUNK_TREE_DEPTH} siblings`)
      chunkLeafInto(hasher, chunk, chunkRoot, 0)
      const root = climb(hasher, chunkRoot, chunkDepth, (d) => (index >> (CHUNK_TREE_DEPTH - 1 - d)) & 1)
      if (planeRoot === undefined) planeRoot = root
      else if (!bytesEqual(root, planeRoot)) reject(`plane ${key}: chunk ${index} leads to another plane root`)
      // The proven bytes must be the chunk's bytes where the two overlap.
      const lo = Math.max(from, index * CHUNK_SIZE_BYTES)
      const hi = Math.min(to, (index + 1) * CHUNK_SIZE_BYTES)
      for (let b = lo; b < hi; b += 1) {
        if (data[dataOffset + b - from] !== chunk[b - index * CHUNK_SIZE_BYTES]) {
          reject(`data differs from plane ${key} chunk ${index}`)
        }
      }
    }
    const planeDepth = siblings(plane.siblings, `plane ${key} siblings`, PLANE_KEY_BITS)
    const pathKey = planePathKey(key)
    const leaf = planeLeafHash(hasher, key, planeRoot!)
    const root = climb(hasher, leaf, planeDepth, (d) => pathKeyBit(pathKey, PLANE_KEY_BITS, d))
    if (!bytesEqual(root, program.planesRoot)) reject(`plane ${key}: the plane path does not lead to the planes root`)
  }
  return {
    ok: true, kind: 'range', ...program.verified, address, length, data, allocation: { address: start, size },
  }
}

function verifyAbsence(
  hasher: Hasher, proof: Record<string, unknown>, program: ReturnType<typeof verifyProgram>,
): AbsenceVerified {
  const plane = record(proof.plane, 'plane')
  if (plane.present !== false) reject('plane.present must be false in an absence proof')
  const key = integer(plane.key, 'plane.key', 0, PLANE_KEY_LIMIT - 1)
  verifyAbsentPlane(hasher, plane, key, program.planesRoot)
  return {
    ok: true, kind: 'absence', ...program.verified,
    planeKey: key, region: Math.floor(key / PLANES_PER_REGION_MAX), plane: key % PLANES_PER_REGION_MAX,
  }
}

/**
 * Verifies a proof (an object, or its JSON text) against `stateRoot` (32 bytes or 64 hex digits). Returns
 * `{ ok: true, kind, ... }` with the proven data, or `{ ok: false, reason }`. Never throws.
 */
export function verifyProof(stateRoot: string | Uint8Array, proof: unknown, options: VerifyOptions = {}): VerifyResult {
  try {
    const hasher = options.hasher ?? portableHasher
    const expectedRoot = stateRoot instanceof Uint8Array && stateRoot.length === HASH_SIZE_BYTES
      ? stateRoot
      : hash32(stateRoot, 'the expected state root')
    let value = proof
    if (typeof value === 'string') {
      if (value.length > PROOF_JSON_MAX_CHARS) reject(`a proof text may hold at most ${PROOF_JSON_MAX_CHARS} characters`)
      value = JSON.parse(value) as unknown
    }
    const object = record(value, 'the proof')
    if (object.format !== PROOF_FORMAT) reject(`format must be '${PROOF_FORMAT}'`)
    if (!bytesEqual(hash32(object.stateRoot, 'stateRoot'), expectedRoot)) reject('the proof is for another state root')
    const kind = object.kind
    if (kind !== 'range' && kind !== 'absence') reject("kind must be 'range' or 'absence'")
    const program = verifyProgram(hasher, expectedRoot, object.program)
    return kind === 'range' ? verifyRange(hasher, object, program) : verifyAbsence(hasher, object, program)
  } catch (error) {
    if (error instanceof Rejection) return { ok: false, reason: error.reason }
    return { ok: false, reason: `malformed proof: ${error instanceof Error ? error.message : String(error)}` }
  }
}
