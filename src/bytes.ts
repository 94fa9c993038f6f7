/** Byte helpers shared by every folder. */
import { StrataError, describeValue } from './errors.js'

/**
 * %TypedArray%.prototype[@@toStringTag]'s getter: reads a typed array's internal name slot (in any realm), and
 * consults no property of the value, so neither a prototype nor a Symbol.toStringTag can lie to it.
 */
const typedArrayName = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype), Symbol.toStringTag)!.get!

/**
 * %TypedArray%.prototype.length's getter: the internal length (0 for a detached buffer), which a subclass's or a
 * caller's own `length` property cannot change.
 */
const typedArrayLength = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype), 'length')!.get!

/** The length of a Uint8Array (checked by isBytes) as its internal slot gives it: a `length` getter cannot lie. */
export function bytesLength(value: Uint8Array): number {
  return typedArrayLength.call(value) as number
}

/** A Uint8Array from any realm (programs run in their own vm context, whose Uint8Array is another class). */
export function isBytes(value: unknown): value is Uint8Array {
  return ArrayBuffer.isView(value) && typedArrayName.call(value) === 'Uint8Array'
}

/**
 * The text with every lone surrogate replaced by U+FFFD, as UTF-8 would carry it. Program-made text (logs, error
 * messages, traces) is made well-formed where it is recorded, so that it reads the same whether the message ran on
 * this thread or its journal crossed from a worker as UTF-8 (which cannot carry a lone surrogate).
 */
export function wellFormed(text: string): string {
  return LONE_SURROGATE.test(text) ? text.replace(LONE_SURROGATES, '\ufffd') : text
}
// With the u flag a surrogate pair is one code point outside the class: only unpaired halves match.
const LONE_SURROGATE = /[\ud800-\udfff]/u
const LONE_SURROGATES = /[\ud800-\udfff]/gu

const encoder = new TextEncoder()

/** Bytes as given, or a string as UTF-8; anything else is `code`. */
export function toBytes(value: unknown, name: string, code: string): Uint8Array {
  if (isBytes(value)) return value
  if (typeof value === 'string') return encoder.encode(value)
  throw new StrataError(code, `${name} must be a Uint8Array or a string, got ${describeValue(value)}`,
    { [name]: describeValue(value) })
}

/** Truncates UTF-8 text to at most `maxBytes` bytes. */
export function utf8Truncated(text: string, maxBytes: number): Uint8Array {
  const bytes = encoder.encode(text)
  return bytes.length <= maxBytes ? bytes : bytes.subarray(0, maxBytes)
}

/**
 * A name another process prints (a coordinator's, in LEASE_HELD and in a standby's output) and PostgreSQL stores
 * as text: no control characters (NUL is refused by the database; others would reach a terminal) and no lone
 * surrogates (not UTF-8).
 */
export function printableName(name: string): boolean {
  return !/[\u0000-\u001f\u007f-\u009f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(name)
}
