// The adversarial workload (workload.ts: every attack program with its victims) must give the same state roots,
// outcomes, gas and replies for streams 0, 1, 2 and 4, after restarts on LMDB with a resident budget of 0 (every
// program evicted and read back), and in a child process with another time zone and locale.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { buildSync } from 'esbuild'
import { beforeAll, describe, expect, it } from 'vitest'
import { Runtime } from '../../src/index.js'
import { runWorkload, type WorkloadResult } from './workload.js'

let reference: WorkloadResult

beforeAll(async () => {
  reference = await runWorkload(Runtime, { store: 'memory', streams: 0 })
}, 120_000)

describe('the adversarial workload is deterministic', () => {
  it('has something to compare: roots per cycle and an outcome for every message', () => {
    expect(reference.roots.length).toBeGreaterThan(4)
    expect(Object.values(reference.observed).every((o) => o.result !== 'missing')).toBe(true)
  })

  it.each([1, 2, 4])('streams %i give the same roots, outcomes, gas and replies as streams 0', async (streams) => {
    const result = await runWorkload(Runtime, { store: 'memory', streams })
    expect(result.observed).toEqual(reference.observed)
    expect(result.roots).toEqual(reference.roots)
  }, 120_000)

  it('so does LMDB, reopened before every round with a resident budget of 0', async () => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'strata-adversarial-'))
    try {
      const result = await runWorkload(Runtime, { dataDir, streams: 2, sync: false, residentBytesMax: 0 }, { reopen: true })
      expect(result.observed).toEqual(reference.observed)
      expect(result.roots).toEqual(reference.roots)
    } finally {
      rmSync(dataDir, { recursive: true, force: true })
    }
  }, 120_000)

  it('so does another process with another time zone and locale', () => {
    // The child runs the built package: bundle it next to the package so that 'strata' resolves to this checkout.
    const outfile = path.resolve('test/adversarial/.out/child.mjs')
    buildSync({
      entryPoints: ['test/adversarial/child.ts'], outfile, bundle: true, platform: 'node', format: 'esm',
      packages: 'external', target: 'node20', logLevel: 'silent',
    })
    const env = { ...process.env, TZ: 'Pacific/Chatham', LANG: 'de_DE.UTF-8', LC_ALL: 'de_DE.UTF-8' }
    const output = execFileSync(process.execPath, [outfile, '2'], { env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })
    const result = JSON.parse(output) as WorkloadResult
    expect(result.observed).toEqual(reference.observed)
    expect(result.roots).toEqual(reference.roots)
  }, 120_000)
})
