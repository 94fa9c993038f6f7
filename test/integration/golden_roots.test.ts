/**
 * Roots pinned across releases: a fixed workload (counters, a key-value store, probes that allocate, store, save
 * state, fail and exit) must give exactly these state roots and gas, on the memory store and on LMDB, at any
 * stream count. The values were produced by commit 9c73fb7, before the hot-path work changed the store format,
 * the journal's home and the main thread's plane handling: none of that may change a root. A change that means
 * to change roots (a new Merkle format, a gas schedule row, an edited example program) updates them here and
 * says so in docs/merkle.md or docs/gas.md.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { GOLDEN, workload } from './golden_workload.js'

describe('state roots pinned across releases', () => {
  it('the memory store, streams 0 and 2', async () => {
    for (const streams of [0, 2]) expect(await workload({ store: 'memory', streams })).toEqual(GOLDEN)
  })

  it('LMDB, durable, streams 2', async () => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'strata-golden-'))
    try {
      expect(await workload({ dataDir, streams: 2 })).toEqual(GOLDEN)
    } finally {
      rmSync(dataDir, { recursive: true, force: true })
    }
  })
})
