/**
 * The committed memory of every program, as the main thread knows it: encoded allocator metadata and the bytes
 * of each materialized plane, updated from stream deltas when a cycle commits. Streams that lack a program get
 * its image; reads through the Runtime decode from it, so they always see the last committed cycle.
 */
import { DIRTY_CHUNK_SIZE_BYTES, PLANE_SIZE_BYTES } from '../constants.js'
import { decodeMemoryMetadata } from '../memory/metadata.js'
import { ProgramMemory, type ProgramMemoryOptions } from '../memory/program_memory.js'
import type { CodeId, ProgramId } from '../message/ids.js'
import type { MemoryDelta, ProgramImage } from '../scheduler/protocol.js'

interface ProgramEntry {
  meta: Uint8Array
  readonly planes: Map<number, Uint8Array>
  /** Decoded view for reads, built on demand, dropped when the program changes. */
  view: ProgramMemory | undefined
}

export class MemoryImage {
  readonly #codes = new Map<CodeId, Uint8Array>()
  readonly #programs = new Map<ProgramId, ProgramEntry>()
  readonly #options: ProgramMemoryOptions

  constructor(options: ProgramMemoryOptions) {
    this.#options = options
  }

  putCode(codeId: CodeId, blob: Uint8Array): void {
    this.#codes.set(codeId, blob)
  }

  code(codeId: CodeId): Uint8Array | undefined {
    return this.#codes.get(codeId)
  }

  hasProgram(programId: ProgramId): boolean {
    return this.#programs.has(programId)
  }

  apply(delta: MemoryDelta): void {
    if (delta.dropped) {
      this.#programs.delete(delta.programId)
      return
    }
    let entry = this.#programs.get(delta.programId)
    if (entry === undefined) {
      entry = { meta: delta.meta, planes: new Map(), view: undefined }
      this.#programs.set(delta.programId, entry)
    }
    entry.meta = delta.meta
    entry.view = undefined
    for (const plane of delta.planes) {
      if (plane.dropped) {
        entry.planes.delete(plane.key)
        continue
      }
      let bytes = plane.fresh ? undefined : entry.planes.get(plane.key)
      if (bytes === undefined) {
        bytes = new Uint8Array(PLANE_SIZE_BYTES)
        entry.planes.set(plane.key, bytes)
      }
      for (const [index, chunk] of plane.chunks) bytes.set(chunk, index * DIRTY_CHUNK_SIZE_BYTES)
    }
  }

  /** The program's committed memory for a stream that does not hold it, or undefined for a fresh program. */
  image(programId: ProgramId): ProgramImage | undefined {
    const entry = this.#programs.get(programId)
    if (entry === undefined) return undefined
    return { programId, meta: entry.meta, planes: [...entry.planes] }
  }

  /** A read-only decoded view of the committed memory (do not mutate: it is shared until the next change). */
  view(programId: ProgramId): ProgramMemory {
    const entry = this.#programs.get(programId)
    if (entry === undefined) return new ProgramMemory(this.#options)
    entry.view ??= decodeMemoryMetadata(entry.meta, { ...this.#options, planeSource: (key) => entry.planes.get(key)!.slice() })
    return entry.view
  }

  planeBytes(programId: ProgramId, key: number): Uint8Array | undefined {
    return this.#programs.get(programId)?.planes.get(key)
  }
}
