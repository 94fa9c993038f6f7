/**
 * `ctx.state`: plain data persisted in the program's memory.
 *
 * Layout: a 16-byte header in the static region (its address kept in the program record), pointing at the
 * encoded bytes in a heap allocation that is reallocated when it outgrows its capacity:
 *
 *   header (static, 16 B): [ length u32 LE ][ capacity u32 LE ][ data address f64 LE ]
 *   data   (heap, capacity B): msgpack(state)
 *
 * Values are normalized before encoding: plain objects, arrays, strings, numbers, booleans, null, undefined,
 * bigint (64-bit) and Uint8Array, from any realm (programs build them in their own vm context). Anything else
 * (functions, symbols, Map, Set, Date, class instances, cycles, nesting over STATE_DEPTH_MAX) is a typed error.
 */
import { Packr } from 'msgpackr'
import { isBytes } from '../bytes.js'
import { STATE_DEPTH_MAX, STATE_SIZE_MAX_BYTES } from '../constants.js'
import { StrataError } from '../errors.js'
import type { GasSchedule } from '../gas/schedule.js'
import type { ProgramMemory } from '../memory/program_memory.js'
import { MemoryErrorCode } from '../memory/errors.js'
import { RegionType } from '../memory/region.js'
import { ProgramErrorCode } from './errors.js'

const packr = new Packr({ useRecords: false, variableMapSize: true })
const HEADER_SIZE_BYTES = 16
/** The smallest data allocation: small states grow a few times before settling. */
const STATE_CAPACITY_MIN_BYTES = 64

const EMPTY_STATE = Uint8Array.from(packr.pack({}))

export interface LoadedState {
  readonly value: Record<string, unknown>
  /** The encoding it was loaded from (that of {} for a fresh state). */
  readonly encoded: Uint8Array
  /** The header as loaded (undefined for a fresh state), so saving need not read it again. */
  readonly header?: StateHeader
}

/** The fields of the 16-byte state header. */
export interface StateHeader {
  readonly length: number
  readonly capacity: number
  readonly dataAddress: number
}

export function loadState(memory: ProgramMemory, schedule: GasSchedule, headerAddress: number | null): LoadedState {
  // A program that never saved state compares against the encoding of {}: reading it saves nothing.
  if (headerAddress === null) return { value: {}, encoded: EMPTY_STATE }
  const view = new DataView(memory.load(headerAddress, HEADER_SIZE_BYTES).buffer)
  const header = { length: view.getUint32(0, true), capacity: view.getUint32(4, true), dataAddress: view.getFloat64(8, true) }
  const encoded = memory.load(header.dataAddress, header.length)
  chargeOrThrow(memory, schedule.stateLoad.base + schedule.stateLoad.perByte * header.length)
  return { value: toPlainBytes(packr.unpack(encoded)) as Record<string, unknown>, encoded, header }
}

/** Normalizes and encodes; throws STATE_ENCODING for values that are not plain data. */
export function encodeState(value: unknown): Uint8Array {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || isBytes(value)) {
    throw stateError('ctx.state must be a plain object')
  }
  const plain = normalize(value, 0, new Set(), 'state')
  const packed = packr.pack(plain)
  if (packed.length > STATE_SIZE_MAX_BYTES) {
    throw stateError(`ctx.state encodes to ${packed.length} bytes, over the ${STATE_SIZE_MAX_BYTES}-byte limit`)
  }
  return new Uint8Array(packed.buffer, packed.byteOffset, packed.byteLength)
}

/**
 * Writes encoded state, allocating the header and (re)allocating the data as needed; returns the header address.
 * `loaded` is the header read when the state was loaded in this message (the header cannot have changed since:
 * only this function and compaction's relocation write it, and relocation rewrites `loaded` too).
 */
export function saveState(
  memory: ProgramMemory, schedule: GasSchedule, headerAddress: number | null, encoded: Uint8Array,
  loaded: StateHeader | undefined,
): number {
  chargeOrThrow(memory, schedule.stateSave.base + schedule.stateSave.perByte * encoded.length)
  let header = headerAddress
  let capacity = loaded?.capacity ?? 0
  let dataAddress = loaded?.dataAddress ?? 0
  if (header === null) header = memory.alloc(HEADER_SIZE_BYTES, RegionType.STATIC)
  if (encoded.length > capacity) {
    if (capacity > 0) memory.free(dataAddress)
    capacity = Math.max(STATE_CAPACITY_MIN_BYTES, 2 ** Math.ceil(Math.log2(encoded.length)))
    dataAddress = memory.alloc(capacity, RegionType.HEAP)
  }
  if (encoded.length > 0) memory.store(dataAddress, encoded)
  if (loaded === undefined || loaded.length !== encoded.length || loaded.capacity !== capacity
    || loaded.dataAddress !== dataAddress) {
    const fields = new Uint8Array(HEADER_SIZE_BYTES)
    const view = new DataView(fields.buffer)
    view.setUint32(0, encoded.length, true)
    view.setUint32(4, capacity, true)
    view.setFloat64(8, dataAddress, true)
    memory.store(header, fields)
  }
  return header
}

/**
 * Compaction moves heap blocks, the state's data block among them: rewrite the header when it moved. The header
 * lives in the static region, which compaction never touches.
 */
export function relocateState(
  memory: ProgramMemory, headerAddress: number, relocations: ReadonlyMap<number, number>,
): StateHeader | undefined {
  const header = memory.load(headerAddress, HEADER_SIZE_BYTES)
  const view = new DataView(header.buffer, header.byteOffset, header.byteLength)
  const moved = relocations.get(view.getFloat64(8, true))
  if (moved === undefined) return undefined
  view.setFloat64(8, moved, true)
  memory.store(headerAddress, header)
  return { length: view.getUint32(0, true), capacity: view.getUint32(4, true), dataAddress: moved }
}

function normalize(value: unknown, depth: number, path: Set<object>, where: string): unknown {
  switch (typeof value) {
    case 'string': case 'number': case 'boolean': case 'undefined':
      return value
    case 'bigint':
      if (value > 0xffff_ffff_ffff_ffffn || value < -0x8000_0000_0000_0000n) {
        throw stateError(`${where} is a bigint outside 64 bits`)
      }
      return value
    case 'object':
      break
    default:
      throw stateError(`${where} is a ${typeof value}; state holds plain data only`)
  }
  if (value === null) return null
  if (depth >= STATE_DEPTH_MAX) throw stateError(`${where} nests deeper than ${STATE_DEPTH_MAX} levels`)
  if (isBytes(value)) return Uint8Array.from(value)
  if (path.has(value)) throw stateError(`${where} refers back to itself (a cycle)`)
  path.add(value)
  let out: unknown
  if (Array.isArray(value)) {
    out = value.map((item, i) => normalize(item, depth + 1, path, `${where}[${i}]`))
  } else {
    const proto = Object.getPrototypeOf(value)
    if (proto !== null && Object.getPrototypeOf(proto) !== null) {
      throw stateError(`${where} is a ${Object.prototype.toString.call(value).slice(8, -1)}; state holds plain objects only`)
    }
    const object: Record<string, unknown> = {}
    for (const key of Object.keys(value)) {
      object[key] = normalize((value as Record<string, unknown>)[key], depth + 1, path, `${where}.${key}`)
    }
    out = object
  }
  path.delete(value)
  return out
}

/** msgpackr decodes bins as Buffer; programs get plain Uint8Arrays. */
function toPlainBytes(value: unknown): unknown {
  if (isBytes(value)) return Uint8Array.from(value)
  if (Array.isArray(value)) return value.map(toPlainBytes)
  if (typeof value === 'object' && value !== null) {
    for (const key of Object.keys(value)) {
      (value as Record<string, unknown>)[key] = toPlainBytes((value as Record<string, unknown>)[key])
    }
  }
  return value
}

function chargeOrThrow(memory: ProgramMemory, amount: number): void {
  if (!memory.gas.charge(amount)) {
    throw new StrataError(MemoryErrorCode.OUT_OF_GAS, `state needs ${amount} gas, ${memory.gas.left} left`)
  }
}

function stateError(message: string): StrataError {
  return new StrataError(ProgramErrorCode.STATE_ENCODING, message)
}
