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
