/**
 * `ctx.state`: plain data persisted in the program's memory.
 *
 * Layout: a 16-byte header in the static region (its address kept in the program record), pointing at the
 * encoded bytes in a heap allocation that is reallocated when it outgrows its capacity:
 *
 *   header (static, 16 B): [ length u32 LE ][ capacity u32 LE ][ data address f64 LE ]
 *   data   (heap, capacity B): msgpack(state)
 *
 * The encoding is made and read inside the program's context (engine/guest_runtime.ts), so the objects a program
 * sees are its own realm's; the host only moves bytes. Plain objects, arrays, strings, numbers, booleans, null,
 * undefined, bigint (64-bit) and Uint8Array are state; anything else (functions, symbols, Map, Set, Date, class
 * instances, cycles, nesting over STATE_DEPTH_MAX) fails the message with STATE_ENCODING.
 */
import { StrataError } from '../errors.js'
import type { GasSchedule } from '../gas/index.js'
import type { ProgramMemory } from '../memory/index.js'
import { MemoryErrorCode } from '../memory/index.js'
import { RegionType } from '../memory/index.js'

const HEADER_SIZE_BYTES = 16
/** The smallest data allocation: small states grow a few times before settling. */
const STATE_CAPACITY_MIN_BYTES = 64

/** ctx.state's stored encoding, as loaded at the first access in a message. */
export interface LoadedStateBytes {
  readonly encoded: Uint8Array
  /** The header as loaded, so saving need not read it again. */
  readonly header: StateHeader
}

/** The fields of the 16-byte state header. */
export interface StateHeader {
  readonly length: number
  readonly capacity: number
  readonly dataAddress: number
}

/**
 * The header is read into this scratch (loadInto charges exactly as load does): states load synchronously, one at a
 * time on a thread, and the fields are copied out before anything else runs.
 */
const HEADER_SCRATCH = new Uint8Array(HEADER_SIZE_BYTES)
const HEADER_VIEW = new DataView(HEADER_SCRATCH.buffer)

/** Reads the stored encoding (charging stateLoad), or undefined for a program that never saved state. */
export function loadStateBytes(memory: ProgramMemory, schedule: GasSchedule, headerAddress: number | null): LoadedStateBytes | undefined {
  if (headerAddress === null) return undefined
  memory.loadInto(headerAddress, HEADER_SCRATCH)
  const header = {
    length: HEADER_VIEW.getUint32(0, true), capacity: HEADER_VIEW.getUint32(4, true), dataAddress: HEADER_VIEW.getFloat64(8, true),
  }
  chargeOrThrow(memory, schedule.stateLoad.base + schedule.stateLoad.perByte * header.length)
  return { encoded: memory.load(header.dataAddress, header.length), header }
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

function chargeOrThrow(memory: ProgramMemory, amount: number): void {
  if (!memory.gas.charge(amount)) {
    throw new StrataError(MemoryErrorCode.OUT_OF_GAS, `state needs ${amount} gas, ${memory.gas.left} left`)
  }
}

