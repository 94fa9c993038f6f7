// The attack programs of the adversarial workload, queried: a runtime on disk runs queries on its query worker
// (another thread, with its own heap limit and stack), the memory store on the calling thread. Every step of the
// workload, sent as a query after the programs' init, must give the same reply code, payload, gas, error and logs
// on both: host objects, getters, lying lengths, promise jobs, module state, time zone, recursion and huge inputs
// behave alike wherever a query runs. (Queries change nothing, so there is no root to compare: the answers are.)
import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { expect, it } from 'vitest'
import { Runtime, type QueryResult, type RuntimeOptions } from '../../src/index.js'
import { ATTACKER, PROGRAMS, ROUNDS } from './workload.js'

const encode = (text: string): Uint8Array => new TextEncoder().encode(text)

async function queryAll(options: RuntimeOptions): Promise<Record<string, Omit<QueryResult, 'payload'> & { payload: string }>> {
  const rt = await Runtime.open(options)
  try {
    const codes = new Map<string, string>()
    const ids: Record<string, string> = {}
    for (const [name, { file, salt }] of Object.entries(PROGRAMS)) {
      if (!codes.has(file)) codes.set(file, await rt.uploadCode(file))
      ids[name] = await rt.createProgram(codes.get(file)!, { salt: encode(salt), gasLimit: 20_000_000, source: ATTACKER })
    }
    await rt.runUntilIdle()
    const answers: Record<string, Omit<QueryResult, 'payload'> & { payload: string }> = {}
    for (const step of ROUNDS.flat()) {
      const result = await rt.query(ids[step.program]!, encode(step.text), { gasLimit: step.gas, source: step.source ?? ATTACKER })
      answers[step.tag] = { ...result, payload: Buffer.from(result.payload).toString('hex') }
    }
    return answers
  } finally {
    await rt.close()
  }
}

it('every attack answers a query on the query worker exactly as on the calling thread', async () => {
  const inline = await queryAll({ store: 'memory', streams: 0 })
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'strata-adversarial-queries-'))
  try {
    const worker = await queryAll({ dataDir, streams: 0 })
    expect(Object.keys(worker)).toEqual(Object.keys(inline))
    expect(worker).toEqual(inline)
    // Not vacuous: the attacks fail in several ways, and some answer with large payloads.
    expect(new Set(Object.values(inline).map((a) => a.replyCode)).size).toBeGreaterThan(2)
  } finally {
    rmSync(dataDir, { recursive: true, force: true })
  }
}, 120_000)
