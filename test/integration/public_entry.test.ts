// Imports the package by name, as a user would: resolves to the built dist/ through package.json "exports".
import { describe, expect, it } from 'vitest'
import { GasCounter, ProgramMemory, StrataError, address3d, splitAddress } from 'strata-runtime'

describe('the public entry', () => {
  it('exposes memory, gas and typed errors', () => {
    const memory = new ProgramMemory({ gas: new GasCounter(100_000) })
    const address = memory.alloc(16)
    memory.store(address, Uint8Array.from([1, 2]))
    expect(memory.load(address, 2)).toEqual(Uint8Array.from([1, 2]))
    expect(splitAddress(address3d(1, 2, 3))).toEqual({ region: 1, plane: 2, offset: 3 })
    expect(() => memory.free(address + 1)).toThrow(StrataError)
  })
})
