/**
 * The main thread's cache of committed planes: streams send only the 4 KiB chunks a cycle wrote, and the store
 * writes whole planes, so each dirty plane is its committed bytes (from here, or read and verified from the
 * store) patched with those chunks. Least recently used programs are evicted past a byte budget.
 */
import { PLANE_SIZE_BYTES } from '../constants.js'
import type { ProgramId } from '../message/ids.js'

export class PlaneCache {
  readonly #bytesMax: number
  /** Programs, least recently used first; each with its cached planes. */
  readonly #programs = new Map<ProgramId, Map<number, Uint8Array>>()
  #planes = 0

  constructor(bytesMax: number) {
    this.#bytesMax = bytesMax
  }

  get(programId: ProgramId, key: number): Uint8Array | undefined {
    return this.#touch(programId)?.get(key)
  }

  set(programId: ProgramId, key: number, bytes: Uint8Array): void {
    let planes = this.#touch(programId)
    if (planes === undefined) {
      planes = new Map()
      this.#programs.set(programId, planes)
    }
    if (!planes.has(key)) this.#planes += 1
    planes.set(key, bytes)
  }

  delete(programId: ProgramId, key: number): void {
    const planes = this.#programs.get(programId)
    if (planes?.delete(key) === true) this.#planes -= 1
  }

  dropProgram(programId: ProgramId): void {
    const planes = this.#programs.get(programId)
    if (planes === undefined) return
    this.#planes -= planes.size
    this.#programs.delete(programId)
  }

  /** Evicts least recently used programs until the cached planes fit the budget. */
  trim(): void {
    for (const [programId, planes] of this.#programs) {
      if (this.#planes * PLANE_SIZE_BYTES <= this.#bytesMax) return
      this.#planes -= planes.size
      this.#programs.delete(programId)
    }
  }

  get bytes(): number {
    return this.#planes * PLANE_SIZE_BYTES
  }

  #touch(programId: ProgramId): Map<number, Uint8Array> | undefined {
    const planes = this.#programs.get(programId)
    if (planes !== undefined) {
      this.#programs.delete(programId)
      this.#programs.set(programId, planes)
    }
    return planes
  }
}
