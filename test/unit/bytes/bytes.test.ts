import vm from 'node:vm'
import { describe, expect, it } from 'vitest'
import { isBytes } from '../../../src/bytes.js'

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
