import { describe, expect, it } from 'vitest'
import { GasCounter, MEMORY3D_SCHEDULE } from '../../../src/gas/index.js'
import { BytecodeBuilder, ProgramMemory, execute } from '../../../src/memory/index.js'

describe('execute(bytecode)', () => {
  it('uses an address allocated by an earlier instruction (what Memory3D could not)', () => {
    const memory = new ProgramMemory()
    const code = new BytecodeBuilder()
      .malloc(0, 'heap', 64)
      .store(0, 4, Uint8Array.from([1, 2, 3]))
      .malloc(1, 'heap', 16)
      .copy(0, 4, 1, 0, 3)
      .load(1, 0, 3)
      .query(2, 1)
      .size(3)
      .set(4, 2 ** 40)
      .build()
    const result = execute(memory, code)
    expect(result.ok).toBe(true)
    expect(result.executed).toBe(8)
    expect(result.loads).toEqual([Uint8Array.from([1, 2, 3])])
    expect(result.registers.slice(0, 5)).toEqual([0, 64, 16, 80, 2 ** 40])
  })

  it('charges the schedule per instruction and per byte', () => {
    const gas = new GasCounter(1_000_000)
    const memory = new ProgramMemory({ gas, schedule: MEMORY3D_SCHEDULE })
    const code = new BytecodeBuilder().malloc(0, 'heap', 256).store(0, 0, new Uint8Array(256)).load(0, 0, 256).build()
    expect(execute(memory, code).ok).toBe(true)
    expect(gas.used).toBe(276 + 527 + 522)
  })

  it('relocates registers after MCOMPACT3D', () => {
    const memory = new ProgramMemory()
    const code = new BytecodeBuilder()
      .malloc(0, 'heap', 70_000).malloc(1, 'heap', 8).store(1, 0, Uint8Array.from([9])).free(0).compact().load(1, 0, 1)
      .build()
    const result = execute(memory, code)
    expect(result.ok).toBe(true)
    expect(result.registers[1]).toBe(0)
    expect(result.loads).toEqual([Uint8Array.from([9])])
  })

  it('stops at the first error with memory as before that instruction', () => {
    const memory = new ProgramMemory()
    const code = new BytecodeBuilder()
      .malloc(0, 'heap', 8).store(0, 0, Uint8Array.from([5])).free(0).free(0).malloc(1, 'heap', 8).build()
    const result = execute(memory, code)
    expect(result.ok).toBe(false)
    expect(result.executed).toBe(3)
    expect(result.error).toMatchObject({ code: 'DOUBLE_FREE', opcode: 0x02 })
    expect(memory.stats().allocations).toBe(0)
  })

  it.each([
    ['an unknown opcode', Uint8Array.from([0x7f])],
    ['a truncated instruction', Uint8Array.from([0x01, 0x00])],
    ['a register past r15', Uint8Array.from([0x02, 16])],
    ['a bad region type', Uint8Array.from([0x01, 0, 9, 8, 0, 0, 0])],
    ['a store longer than the code', Uint8Array.from([0x04, 0, 0, 0, 0, 0, 200, 0, 0, 0, 1])],
  ])('reports %s as BAD_BYTECODE', (_name, code) => {
    const memory = new ProgramMemory()
    const result = execute(memory, code)
    expect(result.ok).toBe(false)
    expect(result.error?.code).toBe('BAD_BYTECODE')
  })
})
