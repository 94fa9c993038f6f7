/** The message queue: one FIFO with O(1) append and an O(1) head cursor, compacted as it drains. */
import type { Message } from '../message/types.js'

/** Drop consumed slots once this many have piled up at the head (keeps memory bounded without O(n) shifts). */
const QUEUE_COMPACT_THRESHOLD = 4096

export class MessageQueue {
  #items: Message[] = []
  #head = 0

  get length(): number {
    return this.#items.length - this.#head
  }

  push(message: Message): void {
    this.#items.push(message)
  }

  /** Messages in order, without removing them. */
  *[Symbol.iterator](): IterableIterator<Message> {
    for (let i = this.#head; i < this.#items.length; i += 1) yield this.#items[i]!
  }

  /**
   * Removes and returns the longest prefix whose summed gas limits fit `gasBudget`, with at most `countMax`
   * messages and at least one (a message larger than the budget still runs, alone). Independent of streams.
   */
  takePrefix(gasBudget: number, countMax: number): Message[] {
    const taken: Message[] = []
    let gas = 0
    while (this.#head < this.#items.length && taken.length < countMax) {
      const next = this.#items[this.#head]!
      if (taken.length > 0 && gas + next.gasLimit > gasBudget) break
      gas += next.gasLimit
      taken.push(next)
      this.#head += 1
    }
    if (this.#head >= QUEUE_COMPACT_THRESHOLD) {
      this.#items = this.#items.slice(this.#head)
      this.#head = 0
    }
    return taken
  }

  /** Puts messages back at the head, in order (a re-run of a cycle that did not commit). */
  unshift(messages: readonly Message[]): void {
    this.#items = [...messages, ...this.#items.slice(this.#head)]
    this.#head = 0
  }

  toArray(): Message[] {
    return this.#items.slice(this.#head)
  }
}
