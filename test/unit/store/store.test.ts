/**
 * The Store contract (contract.ts), run against the memory store and the LMDB store; test/cluster runs it
 * against the PostgreSQL store.
 */
import { describe } from 'vitest'
import { openLmdbStore, openMemoryStore } from '../../../src/store/index.js'
import { storeContract, type Harness } from './contract.js'
import { tempDir, verify } from './fixtures.js'

const factories: [string, () => Harness][] = [
  ['memory', () => ({ open: (options) => openMemoryStore({ verify, ...options }), cleanup: () => undefined })],
  ['lmdb', () => {
    const temp = tempDir()
    let n = 0
    return {
      open: (options) => openLmdbStore({ dataDir: `${temp.dir}/s${n++}`, verify, ...options }),
      cleanup: temp.remove,
    }
  }],
]

for (const [name, factory] of factories) describe(`${name} store`, () => storeContract(factory))
