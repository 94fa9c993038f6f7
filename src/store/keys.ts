/**
 * Binary keys of the LMDB store. Integers are big-endian so that LMDB's bytewise key order is numeric order;
 * ids are their 32 raw bytes. Every key of a key space has one fixed layout:
 *
 *   programs, memmeta, codes, waitlist, nonces, mailboxmeta   id (32)
 *   planes      program id (32) | plane key u32 (4)                 -> root (32) | 16 x (blob key (12) | position u8)
 *   blobs       commit number u64 (8) | index u32 (4)               -> 1-16 consecutive 4,096-byte plane chunks
 *   queue       sequence u64 (8)
 *   deadlines   untilCycle u64 (8) | commit number u64 (8) | index u32 (4)   -> message id (32)
 *   delayed     cycle u64 (8) | sequence u32 (4)
 *   mailbox     user id (32) | sequence u64 (8)
 *   merkle      the caller's opaque bytes
 *
 * u64 fields hold safe integers (< 2^53), written as two u32 halves.
 */
import { idBytes } from '../message/index.js'

export const ID_BYTES = 32
export const PLANE_INDEX_KEY_BYTES = ID_BYTES + 4
export const BLOB_KEY_BYTES = 12
/**
 * Chunks of a stored plane. A commit stores each run of consecutive changed chunks (that are not all zeros) as one
 * blob, so a whole plane is one blob and a one-chunk change is a 4 KiB blob.
 */
export const CHUNKS_PER_PLANE = 16
/** An index slot: the key of the blob holding the chunk, then the chunk's position within that blob. */
export const PLANE_SLOT_BYTES = BLOB_KEY_BYTES + 1
/**
 * An index value: the plane's root, then one slot per chunk in order; a slot of zero bytes is a chunk of zeros
 * with no blob (commit numbers start at 1, so no blob has that key).
 */
export const PLANE_INDEX_VALUE_BYTES = 32 + CHUNKS_PER_PLANE * PLANE_SLOT_BYTES

/** Whether a chunk slot of an index value names no blob (a zero key). */
export function isEmptySlot(value: Uint8Array, offset: number): boolean {
  for (let i = offset; i < offset + BLOB_KEY_BYTES; i += 1) if (value[i] !== 0) return false
  return true
}

const TWO_32 = 2 ** 32

export function writeU64(target: Uint8Array, offset: number, value: number): void {
  const view = new DataView(target.buffer, target.byteOffset, target.byteLength)
  view.setUint32(offset, Math.floor(value / TWO_32))
  view.setUint32(offset + 4, value >>> 0)
}

export function readU64(source: Uint8Array, offset: number): number {
  const view = new DataView(source.buffer, source.byteOffset, source.byteLength)
  return view.getUint32(offset) * TWO_32 + view.getUint32(offset + 4)
}

export function readU32(source: Uint8Array, offset: number): number {
  return new DataView(source.buffer, source.byteOffset, source.byteLength).getUint32(offset)
}

function writeU32(target: Uint8Array, offset: number, value: number): void {
  new DataView(target.buffer, target.byteOffset, target.byteLength).setUint32(offset, value)
}

export function idKey(id: string): Buffer {
  return idBytes(id) as Buffer
}

export function idFromKey(key: Uint8Array, offset = 0): string {
  return Buffer.from(key.buffer, key.byteOffset + offset, ID_BYTES).toString('hex')
}

export function u64Key(value: number): Buffer {
  const key = Buffer.allocUnsafe(8)
  writeU64(key, 0, value)
  return key
}

export function planeIndexKey(program: Uint8Array, planeKey: number): Buffer {
  const key = Buffer.allocUnsafe(PLANE_INDEX_KEY_BYTES)
  key.set(program, 0)
  writeU32(key, ID_BYTES, planeKey)
  return key
}

export function blobKey(commitNumber: number, index: number): Buffer {
  const key = Buffer.allocUnsafe(BLOB_KEY_BYTES)
  writeU64(key, 0, commitNumber)
  writeU32(key, 8, index)
  return key
}

export function deadlineKey(untilCycle: number, commitNumber: number, index: number): Buffer {
  const key = Buffer.allocUnsafe(20)
  writeU64(key, 0, untilCycle)
  writeU64(key, 8, commitNumber)
  writeU32(key, 16, index)
  return key
}

export function delayedKey(cycle: number, sequence: number): Buffer {
  const key = Buffer.allocUnsafe(12)
  writeU64(key, 0, cycle)
  writeU32(key, 8, sequence)
  return key
}

export function mailboxKey(user: Uint8Array, sequence: number): Buffer {
  const key = Buffer.allocUnsafe(ID_BYTES + 8)
  key.set(user, 0)
  writeU64(key, ID_BYTES, sequence)
  return key
}

/** Whether `key` starts with `prefix`. */
export function hasPrefix(key: Uint8Array, prefix: Uint8Array): boolean {
  if (key.length < prefix.length) return false
  for (let i = 0; i < prefix.length; i += 1) if (key[i] !== prefix[i]) return false
  return true
}
