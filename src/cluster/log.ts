/**
 * The commit log's rows: each committed batch, msgpackr-encoded whole, under its commit number. A node's replica
 * catches up by decoding and committing them in order (the same `commit` the writer's own replica ran), so the
 * encoding must give back a batch that commits identically: every field of the Store's CommitBatch is plain data
 * (numbers, strings, booleans, byte arrays, arrays, objects), which msgpackr round-trips as is.
 *
 * The writer also commits the *decoded* copy to its own replica, never the caller's objects: the bytes it
 * applies are then exactly the bytes the log holds, and nothing the caller reuses after a yield can reach them.
 */
import { Packr } from 'msgpackr'
import { StrataError } from '../errors.js'
import type { CommitBatch } from '../store/index.js'
import { ClusterErrorCode } from './errors.js'

/** The envelope's version: bump it with any change of how a batch is encoded. */
export const LOG_FORMAT_VERSION = 1
/**
 * The largest batch kept in the log: PostgreSQL's bytea tops out at 1 GiB, and a row of hundreds of MiB strains
 * both ends. A larger batch (a cycle writing thousands of whole planes) is committed with no log row body, and
 * a replica behind it is rebuilt from the materialized tables instead of replaying.
 */
export const LOG_BATCH_SIZE_MAX_BYTES = 64 * 1024 * 1024

const packr = new Packr({ useRecords: false, moreTypes: false, variableMapSize: true })

/**
 * The batch's parts as the Store defines them, nothing else: a caller's object may carry more (the scheduler's
 * memory deltas have an `allocations` list the store does not keep), which the log has no use for.
 */
function storedParts(batch: CommitBatch): CommitBatch {
  const { cycle, stateRoot, programs, queue, waitlist, delayed, mailboxes, nonces, counts, merkle } = batch
  const memory = batch.memory?.map(({ programId, dropped, meta, planes }) => ({
    programId, dropped, meta,
    planes: planes?.map(({ key, root, bytes, chunks, written, fresh }) => ({ key, root, bytes, chunks, written, fresh })),
  }))
  return { cycle, stateRoot, programs, memory, queue, waitlist, delayed, mailboxes, nonces, counts, merkle }
}

/** Encodes a batch that prepareBatch accepted; a value msgpackr cannot encode is INVALID_ARGUMENT (nothing was sent). */
export function encodeLogBatch(batch: CommitBatch): Buffer {
  try {
    return packr.pack([LOG_FORMAT_VERSION, storedParts(batch)])
  } catch (error) {
    throw new StrataError(ClusterErrorCode.INVALID_ARGUMENT, `the batch of cycle ${batch.cycle} cannot be encoded for the commit log: ${(error as Error).message}`)
  }
}

export function decodeLogBatch(bytes: Uint8Array, commitNumber: number): CommitBatch {
  let value: unknown
  try {
    value = packr.unpack(bytes)
  } catch (error) {
    throw malformed(commitNumber, (error as Error).message)
  }
  if (!Array.isArray(value) || value.length !== 2 || typeof value[1] !== 'object' || value[1] === null) throw malformed(commitNumber, 'not an envelope')
  if (value[0] !== LOG_FORMAT_VERSION) {
    throw new StrataError(ClusterErrorCode.FORMAT_VERSION,
      `commit log row ${commitNumber} has log format ${String(value[0])}; this build reads ${LOG_FORMAT_VERSION}`)
  }
  return value[1] as CommitBatch
}

function malformed(commitNumber: number, detail: string): StrataError {
  return new StrataError(ClusterErrorCode.FORMAT_VERSION, `commit log row ${commitNumber} is malformed (${detail})`)
}
