/** Argument checks and integrity errors shared by both stores, so that they fail alike. */
import { createHash } from 'node:crypto'
import { PLANES_PER_REGION_MAX } from '../constants.js'
import { StrataError } from '../errors.js'
import { checkedBytes, checkedCount, checkedIdBytes, invalid } from './codec.js'
import { StoreErrorCode } from './errors.js'
import { MERKLE_KEY_SIZE_MAX_BYTES, STORE_CODE_SIZE_MAX_BYTES, STORE_PLANE_KEY_LIMIT } from './store.js'

export function checkedPlaneKey(key: unknown): number {
  return checkedCount(key, 'plane key', STORE_PLANE_KEY_LIMIT - 1)
}

export function checkedMerkleKey(key: unknown, name = 'merkle key'): Buffer {
  const bytes = checkedBytes(key, name)
  if (bytes.length === 0 || bytes.length > MERKLE_KEY_SIZE_MAX_BYTES) {
    throw invalid(`${name} must be 1..${MERKLE_KEY_SIZE_MAX_BYTES} bytes, got ${bytes.length}`, { length: bytes.length })
  }
  return Buffer.from(bytes)
}

/** Checks a code upload: a canonical id, a blob within bounds, and the id is the blob's SHA-256. */
export function checkedCode(codeId: unknown, blob: unknown): Buffer {
  const key = checkedIdBytes(codeId, 'codeId')
  const bytes = checkedBytes(blob, 'code blob')
  if (bytes.length > STORE_CODE_SIZE_MAX_BYTES) {
    throw invalid(`code blob is ${bytes.length} bytes, over the ${STORE_CODE_SIZE_MAX_BYTES}-byte limit`, { length: bytes.length })
  }
  const actual = createHash('sha256').update(bytes).digest('hex')
  if (actual !== codeId) throw invalid(`codeId ${String(codeId)} is not the SHA-256 of the blob (${actual})`, { codeId, actual })
  return key
}

/** A plane whose bytes do not hash to the root committed for it. */
export function planeMismatch(programId: string, key: number, detail = 'its bytes do not match its committed root'): StrataError {
  const region = Math.floor(key / PLANES_PER_REGION_MAX)
  const plane = key % PLANES_PER_REGION_MAX
  return new StrataError(StoreErrorCode.INTEGRITY,
    `plane ${key} (region ${region}, plane ${plane}) of program ${programId}: ${detail}; refusing to serve it`,
    { programId, planeKey: key, region, plane })
}

export function codeMismatch(codeId: string): StrataError {
  return new StrataError(StoreErrorCode.INTEGRITY, `stored code ${codeId} does not hash to its id; refusing to serve it`,
    { codeId })
}
