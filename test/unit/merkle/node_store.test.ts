import { describe, expect, it } from 'vitest'
import {
  HASH_WORDS, MapNodeStore, NodeKind, NumericNodeTable, bytesToHex, hashFromWords, wordsFromHash, type NodeStore,
} from '../../../src/merkle/index.js'

function wordsOf(seed: number): Int32Array {
  return Int32Array.from({ length: HASH_WORDS }, (_, i) => (seed * 2654435761 + i * 97) | 0)
}

describe.each([
  ['NumericNodeTable', () => new NumericNodeTable() as NodeStore<number, number>],
  ['MapNodeStore', () => new MapNodeStore<number, number>() as NodeStore<number, number>],
])('%s', (_name, make) => {
  it('behaves like a Map through growth and deletes', () => {
    const store = make()
    const model = new Map<number, { words: Int32Array; key: number | undefined }>()
    let x = 12345
    for (let step = 0; step < 20_000; step += 1) {
      x = (x * 1103515245 + 12345) & 0x7fffffff
      // Positions up to 2^41 (the allocation tree's deepest), clustered so deletes hit live ones.
      const position = 1 + (x % 3000) * (step % 3 === 0 ? 2 ** 28 : 1)
      if (x % 5 === 0) {
        store.delete(position)
        model.delete(position)
      } else {
        const words = wordsOf(x)
        const key = x % 2 === 0 ? x : undefined
        store.write(position, words, 0, key)
        model.set(position, { words, key })
      }
    }
    expect(store.size).toBe(model.size)
    const out = new Int32Array(HASH_WORDS + 3)
    for (const [position, { words, key }] of model) {
      expect(store.read(position, out, 3)).toBe(key === undefined ? NodeKind.INNER : NodeKind.LEAF)
      expect(Array.from(out.subarray(3))).toEqual(Array.from(words))
      if (key !== undefined) expect(store.leafKey(position)).toBe(key)
    }
    expect(store.kind(2 ** 41 + 7)).toBe(NodeKind.EMPTY)
    expect(store.read(2 ** 41 + 7, out, 0)).toBe(NodeKind.EMPTY)
  })
})

describe('hash words', () => {
  it('convert to and from bytes without changing them', () => {
    const hash = Uint8Array.from({ length: 32 }, (_, i) => 255 - i * 3)
    const words = new Int32Array(HASH_WORDS * 2)
    wordsFromHash(hash, words, HASH_WORDS)
    expect(bytesToHex(hashFromWords(words, HASH_WORDS))).toBe(bytesToHex(hash))
    // Words are the bytes' memory: viewing them as bytes gives the hash back.
    expect(bytesToHex(new Uint8Array(words.buffer, 32, 32))).toBe(bytesToHex(hash))
  })
})
