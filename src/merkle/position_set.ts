/**
 * A set of tree positions for one batch of updates (the inner nodes queued for rehashing), cleared at every
 * `root()`. Numeric positions get an open-addressing table over typed arrays, cleared in O(1) by bumping an
 * epoch: a JS Set measured the largest single cost of a 64-plane root update. Other positions use a Set.
 */
export interface PositionSet<P> {
  has(position: P): boolean
  add(position: P): void
  clear(): void
}

/** Small to start (it doubles as it fills): a program commitment holds two, and most updates touch few nodes. */
const CAPACITY_MIN = 32

export class NumericPositionSet implements PositionSet<number> {
  #positions = new Float64Array(CAPACITY_MIN)
  /** A slot holds a member only if its epoch is the current one; older slots count as free. */
  #epochs = new Int32Array(CAPACITY_MIN)
  #epoch = 1
  #count = 0

  has(position: number): boolean {
    const mask = this.#positions.length - 1
    for (let slot = this.#start(position, mask); ; slot = (slot + 1) & mask) {
      if (this.#epochs[slot] !== this.#epoch) return false
      if (this.#positions[slot] === position) return true
    }
  }

  add(position: number): void {
    if ((this.#count + 1) * 2 > this.#positions.length) this.#grow()
    const mask = this.#positions.length - 1
    for (let slot = this.#start(position, mask); ; slot = (slot + 1) & mask) {
      if (this.#epochs[slot] !== this.#epoch) {
        this.#epochs[slot] = this.#epoch
        this.#positions[slot] = position
        this.#count += 1
        return
      }
      if (this.#positions[slot] === position) return
    }
  }

  clear(): void {
    this.#count = 0
    this.#epoch += 1
    if (this.#epoch === 0x7fffffff) {
      this.#epochs.fill(0)
      this.#epoch = 1
    }
  }

  #start(position: number, mask: number): number {
    const low = position >>> 0
    const high = (position / 4294967296) >>> 0
    return Math.imul(low ^ Math.imul(high, 0x85ebca6b), 0x9e3779b1) & mask
  }

  #grow(): void {
    const members: number[] = []
    for (let slot = 0; slot < this.#positions.length; slot += 1) {
      if (this.#epochs[slot] === this.#epoch) members.push(this.#positions[slot]!)
    }
    this.#positions = new Float64Array(this.#positions.length * 2)
    this.#epochs = new Int32Array(this.#positions.length)
    this.#epoch = 1
    this.#count = 0
    for (const position of members) this.add(position)
  }
}
