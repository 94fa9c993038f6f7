/**
 * Lower-case hex without a prefix, the encoding of every byte string in a proof. Portable (no Node imports):
 * the verifier decodes with it. Decoding never throws; it returns undefined for anything that is not strict
 * lower-case hex of the expected length, and checks the length before allocating.
 */
const HEX_DIGITS = '0123456789abcdef'
const BYTE_TO_HEX: readonly string[] = Array.from({ length: 256 }, (_, b) => HEX_DIGITS[b >> 4]! + HEX_DIGITS[b & 15]!)

// Decoding reads the text as ASCII bytes (TextEncoder, native and portable) two characters at a time through
// a 16-bit view, and maps each pair with one table lookup: measured ~2x faster than a lookup per character
// and ~4x faster than charCodeAt. Any character outside ASCII becomes 2+ bytes and fails the length check.
const encoder = new TextEncoder()
/** Two ASCII hex digits, read as one 16-bit word in platform byte order -> byte value, or -1. */
const PAIR_TO_BYTE = new Int16Array(65536).fill(-1)
{
  // Build the table through the same kind of view decoding uses, so it is right on either byte order.
  const pair = new Uint8Array(2)
  const word = new Uint16Array(pair.buffer)
  for (let value = 0; value < 256; value += 1) {
    pair[0] = HEX_DIGITS.charCodeAt(value >> 4)
    pair[1] = HEX_DIGITS.charCodeAt(value & 15)
    PAIR_TO_BYTE[word[0]!] = value
  }
}
let ascii = new Uint8Array(8192)
let asciiPairs = new Uint16Array(ascii.buffer)

export function bytesToHex(bytes: Uint8Array): string {
  let out = ''
  for (let i = 0; i < bytes.length; i += 1) out += BYTE_TO_HEX[bytes[i]!]!
  return out
}

/**
 * Decodes `hex` into `output` at `offset`; `expectedBytes` is required so the caller states the size it can
 * accept. Returns false (leaving `output` partly written) if `hex` is not exactly that many bytes of hex.
 */
export function hexInto(hex: unknown, expectedBytes: number, output: Uint8Array, offset: number): boolean {
  if (typeof hex !== 'string' || hex.length !== expectedBytes * 2) return false
  if (offset < 0 || offset + expectedBytes > output.length) return false
  if (ascii.length < hex.length) {
    ascii = new Uint8Array(Math.max(hex.length, ascii.length * 2))
    asciiPairs = new Uint16Array(ascii.buffer)
  }
  const { written, read } = encoder.encodeInto(hex, ascii)
  if (written !== hex.length || read !== hex.length) return false
  const pairs = asciiPairs
  let bad = 0
  for (let i = 0; i < expectedBytes; i += 1) {
    const value = PAIR_TO_BYTE[pairs[i]!]!
    bad |= value
    output[offset + i] = value
  }
  return bad >= 0
}

/** Decodes exactly `expectedBytes` bytes of lower-case hex, or returns undefined. */
export function hexToBytes(hex: unknown, expectedBytes: number): Uint8Array | undefined {
  if (typeof hex !== 'string' || hex.length !== expectedBytes * 2) return undefined
  const output = new Uint8Array(expectedBytes)
  return hexInto(hex, expectedBytes, output, 0) ? output : undefined
}
