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
import { ReplyCode } from '../../src/index.js'
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

  it('the state-codec attacks did what they attempt, and the same-code victim kept exactly what it saved', () => {
    const o = reference.observed
    // Strings around the fast paths' cut-offs, as the fixture builds them; UTF-8 carries a lone surrogate as U+FFFD.
    const strings: string[] = []
    for (const n of [0, 1, 31, 32, 33, 63, 64, 65, 200]) {
      strings.push('a'.repeat(n))
      if (n > 0) {
        const a = 'a'.repeat(n - 1)
        strings.push(`${a}\u007f`, `${a}\u0080`, `${a}\u00e9`, `${a}\ud800`, `\udc00${a}`, `${a}\u{1f600}`)
      }
    }
    const utf8 = (s: string): string => new TextDecoder().decode(new TextEncoder().encode(s))
    expect(o['codec getter throws after growing']).toMatchObject({ result: 'error', replyCode: ReplyCode.EXECUTION_ERROR })
    expect(o['codec getter out of gas after growing']).toMatchObject({ result: 'error', replyCode: ReplyCode.OUT_OF_GAS })
    for (const tag of ['codec victim read same cycle', 'codec victim read next cycle']) {
      const state = JSON.parse(o[tag]!.reply!) as { round: string; values: string[]; keyed: Record<string, string> }
      expect(state.round).toBe('save 2')
      expect(state.values).toEqual(strings.map(utf8))
      expect(Object.keys(state.keyed)).toHaveLength(strings.length)
    }
    // Keys were read before the getter ran: its additions are not kept, its deletion stores nothing.
    expect(JSON.parse(o['codec read after mutation']!.reply!)).toEqual({ a: 'first', m: { v: 'from getter' } })
    expect(o['codec send boundaries']!.sent).toEqual(strings.map(utf8))
    const surrogates = o['codec surrogates in logs and errors']!
    expect(surrogates.logs).toEqual(['alone \ufffd here and \ufffd there paired \u{1f600}'])
    expect(surrogates.error).toBe(`Error: lone \ufffd in an error, ${'b'.repeat(40)}\ufffd`)
    const full = o['codec fill the journal']!
    expect(full.result).toBe('success')
    expect(full.logs).toHaveLength(64) // LOG_LINES_MAX
    expect(full.logs.every((line) => line.endsWith('\u2026') && !/[\ud800-\udfff]/u.test(line))).toBe(true)
    expect(full.logs[10]!.endsWith('\ufffd\u2026')).toBe(true) // the cut split a pair: its half became U+FFFD
    expect(full.reply).toHaveLength(1024 * 1024)
    expect(full.sent).toHaveLength(50)
    expect(o['codec corrupt header']!.reply).toBe('corrupted')
    expect(o['codec read after corruption']).toMatchObject({ result: 'error', replyCode: ReplyCode.OUT_OF_GAS })
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
