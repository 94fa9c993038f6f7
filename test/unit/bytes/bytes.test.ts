import vm from 'node:vm'
import { describe, expect, it } from 'vitest'
import { isBytes, wellFormed } from '../../../src/bytes.js'

describe('isBytes', () => {
  it('accepts a Uint8Array of any realm, and a Buffer', () => {
    expect(isBytes(new Uint8Array(1))).toBe(true)
    expect(isBytes(Buffer.alloc(1))).toBe(true)
    expect(isBytes(vm.runInNewContext('new Uint8Array(3)'))).toBe(true)
  })

  it('reads the internal slot: no prototype or toStringTag makes something else pass', () => {
    const relabelled = new Float64Array(2)
    Object.setPrototypeOf(relabelled, Uint8Array.prototype)
    const tagged = new Float64Array(2)
    Object.defineProperty(tagged, Symbol.toStringTag, { value: 'Uint8Array' })
    for (const value of [Object.create(Uint8Array.prototype), relabelled, tagged, new DataView(new ArrayBuffer(1)), 'bytes', null]) {
      expect(isBytes(value)).toBe(false)
    }
  })
})

describe('wellFormed', () => {
  it('replaces lone surrogates, keeps pairs, and returns well-formed text as it is', () => {
    expect(wellFormed('a\ud800b\udc00c')).toBe('a\ufffdb\ufffdc')
    expect(wellFormed('\udc00\ud800')).toBe('\ufffd\ufffd') // reversed halves are not a pair
    expect(wellFormed('pair \u{1f600} \ud83d')).toBe('pair \u{1f600} \ufffd')
    const plain = 'plain ascii and é'
    expect(wellFormed(plain)).toBe(plain)
    // What UTF-8 round-trips: the same as TextEncoder then TextDecoder.
    const text = 'x\ud800y\u{1f600}\udfff'
    expect(wellFormed(text)).toBe(new TextDecoder().decode(new TextEncoder().encode(text)))
  })
})
