/**
 * What the commitment layer (merkle/) and the store read from a program's memory. Kept minimal so merkle/
 * depends on this interface only, never on allocator internals.
 */
import type { PlaneKey } from './address.js'

export interface AllocationRecord {
  /** Start address (packed Address3D). */
  readonly address: number
  readonly size: number
}

export interface DirtySet {
  /** Planes whose bytes changed (or were dropped) since the last `takeDirty`, ascending. */
  readonly planes: readonly PlaneKey[]
  /** Start addresses of allocations created or freed since the last `takeDirty`, ascending. */
  readonly allocations: readonly number[]
  /**
   * For each dirty plane that still holds data: a bitmask of its 4 KiB chunks that were written
   * (bit c = bytes [c * 4096, (c + 1) * 4096)). Chunks outside the mask are unchanged since the last call.
   */
  readonly chunkMasks: ReadonlyMap<PlaneKey, number>
  /**
   * Dirty planes that were created (or dropped and created again) since the last call: their unmasked chunks
   * are zeros, not their previous contents.
   */
  readonly freshPlanes: readonly PlaneKey[]
}

export interface MemoryView {
  /**
   * A materialized plane's 65,536 bytes, or undefined if the plane holds no data (reads as zeros). The array is
   * the memory's live buffer, returned without a copy for hashing: read it, never write it.
   */
  planeBytes(key: PlaneKey): Uint8Array | undefined
  /** Keys of every materialized plane, ascending. */
  planeKeys(): PlaneKey[]
  /** Size of the live persistent (static or heap) allocation starting exactly at `address`, else undefined. */
  allocationAt(address: number): number | undefined
  /** Every live persistent allocation, ascending by address. Stack allocations are never included. */
  allocations(): AllocationRecord[]
  /** Returns and clears what changed since the previous call. */
  takeDirty(): DirtySet
}
