import { describe, expect, it } from 'vitest'
import { bytesToHex, hexToBytes } from '../../../src/merkle/index.js'

describe('hex', () => {
  it('round-trips every byte value', () => {
    const all = Uint8Array.from({ length: 256 }, (_, i) => i)
    const text = bytesToHex(all)
    expect(text).toBe(Buffer.from(all).toString('hex'))
    expect(hexToBytes(text, 256)).toEqual(all)
  })

  it('decodes long strings (buffer growth)', () => {
    const bytes = Uint8Array.from({ length: 20_000 }, (_, i) => (i * 7) & 0xff)
    expect(hexToBytes(Buffer.from(bytes).toString('hex'), bytes.length)).toEqual(bytes)
  })

  it.each([
    ['upper case', 'AB', 1],
    ['odd length', 'abc', 2],
    ['too short', 'ab', 2],
    ['too long', 'abcd', 1],
    ['0x prefix', '0xab', 2],
    ['non-hex letter', 'ag', 1],
    ['space', 'a ', 1],
    ['non-ASCII', 'aé', 1],
    ['non-ASCII pair', 'éé', 1],
    ['number', 171, 1],
    ['null', null, 1],
    ['array', ['ab'], 1],
    ['object', { length: 2 }, 1],
  ] as const)('rejects %s', (_name, value, bytes) => {
    expect(hexToBytes(value, bytes)).toBeUndefined()
  })

  it('accepts the empty string for zero bytes', () => {
    expect(hexToBytes('', 0)).toEqual(new Uint8Array(0))
  })
})
