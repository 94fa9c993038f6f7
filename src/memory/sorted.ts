/** Sorted arrays of numbers: the allocator's ordered indexes (small per plane or per size class). */

/** Index of the first element >= value (array length if none). */
export function lowerBound(array: readonly number[], value: number): number {
  let lo = 0
  let hi = array.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (array[mid]! < value) lo = mid + 1
    else hi = mid
  }
  return lo
}

export function insertSorted(array: number[], value: number): void {
  const i = lowerBound(array, value)
  if (i === array.length) array.push(value)
  else array.splice(i, 0, value)
}

/** Removes `value`; returns whether it was present. */
export function removeSorted(array: number[], value: number): boolean {
  const i = lowerBound(array, value)
  if (i < array.length && array[i] === value) {
    if (i === array.length - 1) array.pop()
    else array.splice(i, 1)
    return true
  }
  return false
}

/** The greatest element <= value, or -1 if none (all stored values are non-negative). */
export function floorValue(array: readonly number[], value: number): number {
  const i = lowerBound(array, value + 1)
  return i === 0 ? -1 : array[i - 1]!
}

/** Elements per chunk of a SortedBin: bounds what one insertion or removal moves, however long the bin grows. */
export const SORTED_BIN_CHUNK_MAX = 512

/**
 * An ascending list of distinct numbers kept in chunks of at most SORTED_BIN_CHUNK_MAX. A free-block bin can hold
 * thousands of blocks, and a plain sorted array's `splice` then moved tens of kilobytes on every free; here an
 * insertion or removal moves at most one chunk. The order is exactly that of one sorted array.
 */
export class SortedBin {
  readonly #chunks: number[][] = []
  #length = 0

  get length(): number {
    return this.#length
  }

  insert(value: number): void {
    if (this.#chunks.length === 0) {
      this.#chunks.push([value])
      this.#length = 1
      return
    }
    const c = this.#chunkFor(value)
    const chunk = this.#chunks[c]!
    insertSorted(chunk, value)
    this.#length += 1
    if (chunk.length > SORTED_BIN_CHUNK_MAX) this.#chunks.splice(c + 1, 0, chunk.splice(chunk.length >>> 1))
  }

  /** Removes `value`; returns whether it was present. */
  remove(value: number): boolean {
    if (this.#chunks.length === 0) return false
    const c = this.#chunkFor(value)
    const chunk = this.#chunks[c]!
    if (!removeSorted(chunk, value)) return false
    this.#length -= 1
    if (chunk.length === 0) this.#chunks.splice(c, 1)
    return true
  }

  /** The first of the lowest `limit` values for which `accept` holds, or -1. */
  find(limit: number, accept: (value: number) => boolean): number {
    let seen = 0
    for (const chunk of this.#chunks) {
      for (const value of chunk) {
        if (seen >= limit) return -1
        seen += 1
        if (accept(value)) return value
      }
    }
    return -1
  }

  toArray(): number[] {
    return this.#chunks.flat()
  }

  /** The chunk that holds `value`, or would: the first whose last element is >= value, else the last chunk. */
  #chunkFor(value: number): number {
    let lo = 0
    let hi = this.#chunks.length - 1
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      const chunk = this.#chunks[mid]!
      if (chunk[chunk.length - 1]! < value) lo = mid + 1
      else hi = mid
    }
    return lo
  }
}
