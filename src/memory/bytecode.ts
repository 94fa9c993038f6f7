/**
 * Memory3D's instruction interface, done properly: `execute(memory, bytecode)` runs a binary program of memory
 * operations with a register file, so an address allocated by one instruction can be used by the next.
 * The encoding is specified in docs/memory.md. All integers are little-endian.
 *
 *   op  name          operands (bytes)                                   effect
 *   01  MALLOC3D      dst u8, type u8, size u32                          r[dst] = alloc(size, type)
 *   02  MFREE3D       reg u8                                             free(r[reg])
 *   03  MLOAD3D       reg u8, offset u32, length u32                     output += load(r[reg] + offset, length)
 *   04  MSTORE3D      reg u8, offset u32, length u32, bytes[length]      store(r[reg] + offset, bytes)
 *   05  MCOPY3D       src u8, srcOffset u32, dst u8, dstOffset u32, length u32
 *   06  MQUERY3D      dst u8, reg u8                                     r[dst] = size of allocation at r[reg] (0 if none)
 *   07  MCOMPACT3D    region u8 (0xFF = every heap region)               compact; registers are relocated
 *   08  MSIZE3D       dst u8                                             r[dst] = live bytes of the memory
 *   09  SET           dst u8, value u64 (<= 2^53 - 1)                    r[dst] = value
 *
 * Execution stops at the first error with memory exactly as it was before that instruction (every memory
 * operation is atomic); the result says which instruction failed and why.
 */
import { BYTECODE_REGISTER_COUNT, BYTECODE_SIZE_MAX_BYTES } from '../constants.js'
import { StrataError, isStrataError } from '../errors.js'
import { gasCost } from '../gas/index.js'
import { MemoryErrorCode } from './errors.js'
import type { ProgramMemory } from './program_memory.js'
import { REGION_TYPES } from './region.js'

export const Opcode = {
  MALLOC3D: 0x01,
  MFREE3D: 0x02,
  MLOAD3D: 0x03,
  MSTORE3D: 0x04,
  MCOPY3D: 0x05,
  MQUERY3D: 0x06,
  MCOMPACT3D: 0x07,
  MSIZE3D: 0x08,
  SET: 0x09,
} as const
export type Opcode = (typeof Opcode)[keyof typeof Opcode]

/** MCOMPACT3D's region operand meaning "every heap region". */
export const COMPACT_ALL_REGIONS = 0xff

export interface ExecuteResult {
  readonly ok: boolean
  /** Bytes returned by each MLOAD3D, in order. */
  readonly loads: readonly Uint8Array[]
  readonly registers: readonly number[]
  /** Instructions completed. */
  readonly executed: number
  readonly error?: { readonly code: string; readonly message: string; readonly offset: number; readonly opcode: number }
}

export function execute(memory: ProgramMemory, bytecode: Uint8Array): ExecuteResult {
  if (!(bytecode instanceof Uint8Array) || bytecode.length > BYTECODE_SIZE_MAX_BYTES) {
    throw new StrataError(MemoryErrorCode.BAD_BYTECODE,
      `bytecode must be a Uint8Array of at most ${BYTECODE_SIZE_MAX_BYTES} bytes`)
  }
  const view = new DataView(bytecode.buffer, bytecode.byteOffset, bytecode.byteLength)
  const registers = new Array<number>(BYTECODE_REGISTER_COUNT).fill(0)
  const loads: Uint8Array[] = []
  let pc = 0
  let executed = 0

  const need = (bytes: number): void => {
    if (pc + bytes > bytecode.length) throw badCode(`instruction at ${pc} is truncated`)
  }
  const reg = (at: number): number => {
    const index = bytecode[at]!
    if (index >= BYTECODE_REGISTER_COUNT) throw badCode(`register r${index} does not exist (r0..r${BYTECODE_REGISTER_COUNT - 1})`)
    return index
  }
  const u32 = (at: number): number => view.getUint32(at, true)

  while (pc < bytecode.length) {
    const start = pc
    const opcode = bytecode[pc]!
    try {
      switch (opcode) {
        case Opcode.MALLOC3D: {
          need(7)
          const dst = reg(pc + 1)
          const type = REGION_TYPES[bytecode[pc + 2]!]
          if (type === undefined) throw badCode(`region type code ${bytecode[pc + 2]} (0 static, 1 heap, 2 stack)`)
          registers[dst] = memory.alloc(u32(pc + 3), type)
          pc += 7
          break
        }
        case Opcode.MFREE3D:
          need(2)
          memory.free(registers[reg(pc + 1)]!)
          pc += 2
          break
        case Opcode.MLOAD3D: {
          need(10)
          const base = registers[reg(pc + 1)]!
          loads.push(memory.load(base + u32(pc + 2), u32(pc + 6)))
          pc += 10
          break
        }
        case Opcode.MSTORE3D: {
          need(10)
          const base = registers[reg(pc + 1)]!
          const length = u32(pc + 6)
          need(10 + length)
          memory.store(base + u32(pc + 2), bytecode.subarray(pc + 10, pc + 10 + length))
          pc += 10 + length
          break
        }
        case Opcode.MCOPY3D: {
          need(15)
          const source = registers[reg(pc + 1)]! + u32(pc + 2)
          const target = registers[reg(pc + 6)]! + u32(pc + 7)
          memory.copy(source, target, u32(pc + 11))
          pc += 15
          break
        }
        case Opcode.MQUERY3D: {
          need(3)
          const dst = reg(pc + 1)
          registers[dst] = memory.sizeOf(registers[reg(pc + 2)]!) ?? 0
          pc += 3
          break
        }
        case Opcode.MCOMPACT3D: {
          need(2)
          const region = bytecode[pc + 1]!
          const { relocations } = memory.compact(region === COMPACT_ALL_REGIONS ? undefined : region)
          for (let r = 0; r < registers.length; r += 1) {
            const moved = relocations.get(registers[r]!)
            if (moved !== undefined) registers[r] = moved
          }
          pc += 2
          break
        }
        case Opcode.MSIZE3D: {
          need(2)
          const dst = reg(pc + 1)
          if (!memory.gas.charge(gasCost(memory.schedule, 'query'))) {
            throw new StrataError(MemoryErrorCode.OUT_OF_GAS, `MSIZE3D needs ${gasCost(memory.schedule, 'query')} gas`)
          }
          registers[dst] = memory.stats().liveBytes
          pc += 2
          break
        }
        case Opcode.SET: {
          need(10)
          const dst = reg(pc + 1)
          const value = view.getBigUint64(pc + 2, true)
          if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw badCode(`SET value ${value} exceeds 2^53 - 1`)
          registers[dst] = Number(value)
          pc += 10
          break
        }
        default:
          throw badCode(`unknown opcode 0x${opcode.toString(16).padStart(2, '0')}`)
      }
      executed += 1
    } catch (error) {
      if (!isStrataError(error)) throw error
      return { ok: false, loads, registers, executed, error: { code: error.code, message: error.message, offset: start, opcode } }
    }
  }
  return { ok: true, loads, registers, executed }
}

function badCode(message: string): StrataError {
  return new StrataError(MemoryErrorCode.BAD_BYTECODE, `bad bytecode: ${message}`)
}

/** Builds bytecode programmatically (tests, docs, tools). */
export class BytecodeBuilder {
  readonly #parts: number[] = []

  malloc(dst: number, type: 'static' | 'heap' | 'stack', size: number): this {
    return this.#op(Opcode.MALLOC3D, [dst, REGION_TYPES.indexOf(type)], [size])
  }

  free(register: number): this {
    return this.#op(Opcode.MFREE3D, [register], [])
  }

  load(register: number, offset: number, length: number): this {
    return this.#op(Opcode.MLOAD3D, [register], [offset, length])
  }

  store(register: number, offset: number, bytes: Uint8Array): this {
    this.#op(Opcode.MSTORE3D, [register], [offset, bytes.length])
    for (const byte of bytes) this.#parts.push(byte)
    return this
  }

  copy(sourceRegister: number, sourceOffset: number, targetRegister: number, targetOffset: number, length: number): this {
    this.#parts.push(Opcode.MCOPY3D, sourceRegister)
    this.#u32(sourceOffset)
    this.#parts.push(targetRegister)
    this.#u32(targetOffset)
    this.#u32(length)
    return this
  }

  query(dst: number, register: number): this {
    return this.#op(Opcode.MQUERY3D, [dst, register], [])
  }

  compact(region: number = COMPACT_ALL_REGIONS): this {
    return this.#op(Opcode.MCOMPACT3D, [region], [])
  }

  size(dst: number): this {
    return this.#op(Opcode.MSIZE3D, [dst], [])
  }

  set(dst: number, value: number): this {
    this.#parts.push(Opcode.SET, dst)
    const bytes = new Uint8Array(8)
    new DataView(bytes.buffer).setBigUint64(0, BigInt(value), true)
    for (const byte of bytes) this.#parts.push(byte)
    return this
  }

  build(): Uint8Array {
    return Uint8Array.from(this.#parts)
  }

  #op(opcode: number, bytes: number[], words: number[]): this {
    this.#parts.push(opcode, ...bytes)
    for (const word of words) this.#u32(word)
    return this
  }

  #u32(value: number): void {
    this.#parts.push(value & 0xff, (value >>> 8) & 0xff, (value >>> 16) & 0xff, (value >>> 24) & 0xff)
  }
}
