/**
 * A tiny in-memory MemoryView for the merkle tests: planes in a Map, allocations in a Map, and a dirty set
 * with chunk masks and fresh planes as ProgramMemory reports them. It knows nothing of allocators; tests place
 * allocations and write bytes directly.
 */
import type { PlaneKey } from '../../../src/memory/address.js'
import type { AllocationRecord, DirtySet, MemoryView } from '../../../src/memory/view.js'

const PLANE_SIZE_BYTES = 65_536
const CHUNK_SIZE_BYTES = 4096

export class FakeView implements MemoryView {
  readonly planes = new Map<number, Uint8Array>()
  readonly allocs = new Map<number, number>()
  #dirtyPlanes = new Set<number>()
  #dirtyAllocations = new Set<number>()
  #chunkMasks = new Map<number, number>()
  #freshPlanes = new Set<number>()
  /** Whether takeDirty reports chunk masks and fresh planes (without, every dirty plane is rehashed whole). */
  hints: boolean

  constructor(options: { hints?: boolean } = {}) {
    this.hints = options.hints ?? false
  }

  /** Writes bytes at a packed address, materializing planes as needed (may span planes). */
  write(address: number, bytes: Uint8Array): void {
    let done = 0
    while (done < bytes.length) {
      const at = address + done
      const key = Math.floor(at / PLANE_SIZE_BYTES)
      const offset = at % PLANE_SIZE_BYTES
      const count = Math.min(bytes.length - done, PLANE_SIZE_BYTES - offset)
      let plane = this.planes.get(key)
      if (plane === undefined) {
        plane = new Uint8Array(PLANE_SIZE_BYTES)
        this.planes.set(key, plane)
        this.#freshPlanes.add(key)
      }
      plane.set(bytes.subarray(done, done + count), offset)
      this.#dirtyPlanes.add(key)
      const first = Math.floor(offset / CHUNK_SIZE_BYTES)
      const last = Math.floor((offset + count - 1) / CHUNK_SIZE_BYTES)
      let mask = this.#chunkMasks.get(key) ?? 0
      for (let c = first; c <= last; c += 1) mask |= 1 << c
      this.#chunkMasks.set(key, mask)
      done += count
    }
  }

  /** Drops a plane (memory freed it, or compaction emptied it). */
  dropPlane(key: number): void {
    this.planes.delete(key)
    this.#dirtyPlanes.add(key)
    this.#chunkMasks.delete(key)
    this.#freshPlanes.delete(key)
  }

  /** What memory holds at an address: absent planes read as zeros. */
  read(address: number, length: number): Uint8Array {
    const out = new Uint8Array(length)
    let done = 0
    while (done < length) {
      const at = address + done
      const offset = at % PLANE_SIZE_BYTES
      const count = Math.min(length - done, PLANE_SIZE_BYTES - offset)
      const plane = this.planes.get(Math.floor(at / PLANE_SIZE_BYTES))
      if (plane !== undefined) out.set(plane.subarray(offset, offset + count), done)
      done += count
    }
    return out
  }

  allocate(address: number, size: number): void {
    this.allocs.set(address, size)
    this.#dirtyAllocations.add(address)
  }

  free(address: number): void {
    this.allocs.delete(address)
    this.#dirtyAllocations.add(address)
  }

  planeBytes(key: PlaneKey): Uint8Array | undefined {
    return this.planes.get(key)
  }

  planeKeys(): PlaneKey[] {
    return [...this.planes.keys()].sort((a, b) => a - b) as PlaneKey[]
  }

  allocationAt(address: number): number | undefined {
    return this.allocs.get(address)
  }

  allocations(): AllocationRecord[] {
    return [...this.allocs.entries()].sort((a, b) => a[0] - b[0]).map(([address, size]) => ({ address, size }))
  }

  takeDirty(): DirtySet {
    const planes = [...this.#dirtyPlanes].sort((a, b) => a - b) as PlaneKey[]
    const allocations = [...this.#dirtyAllocations].sort((a, b) => a - b)
    const chunkMasks = new Map<PlaneKey, number>()
    const freshPlanes: PlaneKey[] = []
    if (this.hints) {
      for (const key of planes) {
        if (!this.planes.has(key)) continue
        chunkMasks.set(key, this.#chunkMasks.get(key) ?? 0)
        if (this.#freshPlanes.has(key)) freshPlanes.push(key)
      }
    }
    this.#dirtyPlanes = new Set()
    this.#dirtyAllocations = new Set()
    this.#chunkMasks = new Map()
    this.#freshPlanes = new Set()
    return { planes, allocations, chunkMasks, freshPlanes }
  }
}
