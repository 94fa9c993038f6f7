/**
 * Identifiers: 32-byte values written as 64 lowercase hex characters (stable Map keys, JSON-friendly).
 * Every derived id is SHA-256 over a domain tag and its inputs, so ids of different kinds never collide:
 *
 *   codeId     = SHA-256(code blob)
 *   programId  = SHA-256("strata/program" || creator id || code id || salt)
 *   message id = SHA-256("strata/message/external" || user id || nonce u64 BE)      (sent by a user)
 *              = SHA-256("strata/message/child" || cause id || cycle u64 BE || index u32 BE)
 *                (emitted while the cause ran in that cycle; a message runs at most once per cycle, and a
 *                message that waits runs again in a later cycle, so its children never reuse an id)
 */
import { createHash, hash as oneShot } from 'node:crypto'
import { bytesLength, isBytes } from '../bytes.js'
import { StrataError, describeValue } from '../errors.js'

declare const idBrand: unique symbol
type Id<Kind extends string> = string & { readonly [idBrand]: Kind }

export type ProgramId = Id<'program'>
export type UserId = Id<'user'>
export type MessageId = Id<'message'>
export type CodeId = Id<'code'>
/** Anything that can send or receive: a program or an external user. */
export type ActorId = ProgramId | UserId

export const ID_SIZE_BYTES = 32
const HEX_ID = /^[0-9a-f]{64}$/

export const IdErrorCode = {
  /** Not 32 bytes written as 64 lowercase hex characters (or a 32-byte Uint8Array). */
  INVALID_ID: 'INVALID_ID',
} as const
export type IdErrorCode = (typeof IdErrorCode)[keyof typeof IdErrorCode]

/** Accepts a 64-char hex string (any case, optional 0x) or a 32-byte Uint8Array; returns canonical hex. */
export function toId<T extends string>(value: unknown, name = 'id'): T {
  if (typeof value === 'string') {
    const hex = (value.startsWith('0x') ? value.slice(2) : value).toLowerCase()
    if (HEX_ID.test(hex)) return hex as T
  } else if (isBytes(value) && bytesLength(value) === ID_SIZE_BYTES) {
    // A copy by the internal slots: a subclass's length, byteOffset or byteLength getter cannot widen the id.
    return Buffer.from(new Uint8Array(value)).toString('hex') as T
  }
  throw new StrataError(IdErrorCode.INVALID_ID,
    `${name} must be 32 bytes as 64 hex characters, got ${describeValue(value)}`, { [name]: describeValue(value) })
}

/** Nibble value of each character code below 128; -1 for anything that is not a lowercase hex digit. */
const NIBBLE = (() => {
  const table = new Int8Array(128).fill(-1)
  for (let i = 0; i < 10; i += 1) table[48 + i] = i
  for (let i = 0; i < 6; i += 1) table[97 + i] = 10 + i
  return table
})()

/**
 * A canonical id (64 lowercase hex characters) as its 32 bytes, or undefined if `value` is not one. One pass
 * that checks and decodes (3-4x faster here than a regular expression then Buffer.from: ids are encoded for
 * every stored message).
 */
export function canonicalIdBytes(value: unknown): Buffer | undefined {
  if (typeof value !== 'string' || value.length !== 2 * ID_SIZE_BYTES) return undefined
  const out = Buffer.allocUnsafe(ID_SIZE_BYTES)
  for (let i = 0; i < ID_SIZE_BYTES; i += 1) {
    const high = value.charCodeAt(2 * i)
    const low = value.charCodeAt(2 * i + 1)
    const nibbles = (high < 128 ? NIBBLE[high]! : -1) << 4 | (low < 128 ? NIBBLE[low]! : -1)
    if (nibbles < 0) return undefined
    out[i] = nibbles
  }
  return out
}

export function idBytes(id: string): Uint8Array {
  return canonicalIdBytes(id) ?? Buffer.from(id, 'hex')
}

const TAG_PROGRAM = Buffer.from('strata/program')
const TAG_EXTERNAL = Buffer.from('strata/message/external')
const TAG_CHILD = Buffer.from('strata/message/child')

export function codeIdOf(blob: Uint8Array): CodeId {
  return createHash('sha256').update(blob).digest('hex') as CodeId
}

export function deriveProgramId(creator: ActorId, codeId: CodeId, salt: Uint8Array): ProgramId {
  return createHash('sha256').update(TAG_PROGRAM).update(idBytes(creator)).update(idBytes(codeId)).update(salt)
    .digest('hex') as ProgramId
}

export function externalMessageId(user: UserId, nonce: number): MessageId {
  const n = Buffer.alloc(8)
  n.writeBigUInt64BE(BigInt(nonce))
  return createHash('sha256').update(TAG_EXTERNAL).update(idBytes(user)).update(n).digest('hex') as MessageId
}

/** Scratch input for childMessageId, reused: ids are derived synchronously, one at a time, on one thread. */
const CHILD_INPUT = Buffer.alloc(TAG_CHILD.length + ID_SIZE_BYTES + 12)
TAG_CHILD.copy(CHILD_INPUT, 0)

/** 2^32: the cycle's u64 is written as two u32 halves (no BigInt per id; cycles are safe integers). */
const U32_SPAN = 0x1_0000_0000

export function childMessageId(cause: MessageId, cycle: number, index: number): MessageId {
  // One reused buffer and one one-shot hash: this runs for every emitted message.
  if (!Number.isSafeInteger(cycle) || cycle < 0) throw new RangeError(`cycle must be a non-negative safe integer, got ${cycle}`)
  CHILD_INPUT.write(cause, TAG_CHILD.length, 'hex')
  CHILD_INPUT.writeUInt32BE(Math.floor(cycle / U32_SPAN), TAG_CHILD.length + ID_SIZE_BYTES)
  CHILD_INPUT.writeUInt32BE(cycle % U32_SPAN, TAG_CHILD.length + ID_SIZE_BYTES + 4)
  CHILD_INPUT.writeUInt32BE(index, TAG_CHILD.length + ID_SIZE_BYTES + 8)
  return oneShot('sha256', CHILD_INPUT, 'hex') as MessageId
}
