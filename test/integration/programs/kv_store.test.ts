import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { ReplyCode, Runtime, type ProgramId } from '../../../src/index.js'

const USER = 'c1'.repeat(32)
const GAS = 100_000_000
const enc = (value: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(value))
const dec = (bytes: Uint8Array): any => JSON.parse(new TextDecoder().decode(bytes))

/** A deterministic value of `length` characters, some of them multi-byte, that differs per key. */
function valueFor(key: string, length: number): string {
  const alphabet = `abcdefghijklmnopqrstuvwxyz0123456789-é€${key}`
  let out = ''
  for (let i = 0; i < length; i += 1) out += alphabet[(i * 7 + key.length * 13 + key.charCodeAt(key.length - 1)) % alphabet.length]
  return out
}

describe('programs/kv_store.ts', () => {
  let rt: Runtime
  let pid: ProgramId
  beforeEach(async () => {
    rt = await Runtime.open({ store: 'memory', streams: 0 })
    const codeId = await rt.uploadCode('programs/kv_store.ts')
    pid = await rt.createProgram(codeId, { gasLimit: GAS, source: USER })
    await rt.runUntilIdle()
  })
  afterEach(async () => {
    await rt.close()
  })

  /** Sends one message, runs it, and returns its (successful) JSON reply from the mailbox. */
  async function call(request: unknown): Promise<any> {
    const id = rt.send({ source: USER, destination: pid, payload: enc(request), gasLimit: GAS })
    await rt.runUntilIdle()
    const reply = rt.mailbox(USER).find((e) => e.message.replyTo === id)!
    expect(reply.message.replyCode, new TextDecoder().decode(reply.message.payload)).toBe(ReplyCode.SUCCESS_MANUAL)
    return dec(reply.message.payload)
  }

  async function get(key: string): Promise<string | null> {
    const result = await rt.query(pid, enc({ op: 'get', key }))
    expect(result.replyCode, result.error).toBe(ReplyCode.SUCCESS_MANUAL)
    return dec(result.payload).value
  }

  it('puts, gets, replaces and deletes values', async () => {
    expect(await call({ op: 'put', key: 'a', value: 'héllo' })).toEqual({ ok: true, replaced: false })
    expect(await call({ op: 'put', key: 'empty', value: '' })).toEqual({ ok: true, replaced: false })
    const allocations = rt.program(pid).stats().allocations
    expect(await call({ op: 'put', key: 'a', value: 'x'.repeat(5_000) })).toEqual({ ok: true, replaced: true })
    expect(rt.program(pid).stats().allocations).toBe(allocations) // the old block was freed
    expect(await get('a')).toBe('x'.repeat(5_000))
    expect(await get('empty')).toBe('')
    expect(await get('missing')).toBeNull()
    expect(await call({ op: 'delete', key: 'a' })).toEqual({ ok: true, deleted: true })
    expect(await call({ op: 'delete', key: 'a' })).toEqual({ ok: true, deleted: false })
    expect(await get('a')).toBeNull()
    expect((await call({ op: 'keys' })).keys).toEqual(['empty'])
  })

  // Fails today with MEMORY_FAULT (0x12) on the compact message: compact() also moves the heap block that holds
  // ctx.state's encoding, and the state header (static region) keeps pointing at the old address. A runtime bug,
  // not the program's: see the report of the session that added this test (repro: free a block below the state
  // block, compact, then touch ctx.state).
  it('compacts a fragmented store: values intact, fragmentation 0, fewer planes', async () => {
    const KEYS = 150
    const expected = new Map<string, string>()
    // Varied sizes, 200 B .. ~12 KB, sent 10 per cycle.
    for (let i = 0; i < KEYS; i += 1) {
      const key = `key-${i}`
      const value = valueFor(key, 200 + ((i * 2_654_435_761) % 12_000))
      expected.set(key, value)
      rt.send({ source: USER, destination: pid, payload: enc({ op: 'put', key, value }), gasLimit: GAS })
      if (i % 10 === 9) await rt.runCycle()
    }
    await rt.runUntilIdle()
    // Delete all but every 7th key.
    for (let i = 0; i < KEYS; i += 1) {
      if (i % 7 === 0) continue
      rt.send({ source: USER, destination: pid, payload: enc({ op: 'delete', key: `key-${i}` }), gasLimit: GAS })
      expected.delete(`key-${i}`)
    }
    await rt.runUntilIdle()
    expect(rt.mailbox(USER).every((e) => e.message.replyCode === ReplyCode.SUCCESS_MANUAL || e.message.replyCode === ReplyCode.SUCCESS_AUTO)).toBe(true)

    const statsBefore = rt.program(pid).stats()
    const heapBefore = statsBefore.regions.filter((r) => r.type === 'heap')
    expect(heapBefore.some((r) => r.fragmentation > 0.5)).toBe(true)

    const result = await call({ op: 'compact' })
    expect(result.planesFreed).toBeGreaterThan(0)
    expect(result.moved).toBeGreaterThan(0)
    expect(result.gasRefunded).toBe(result.planesFreed * 1_000)
    expect(result.fragmentationBefore).toBeGreaterThan(0.5)
    expect(result.fragmentationAfter).toBe(0)
    expect(result.planesAfter).toBe(result.planesBefore - result.planesFreed)

    const statsAfter = rt.program(pid).stats()
    expect(statsAfter.planesInUse).toBe(statsBefore.planesInUse - result.planesFreed)
    expect(statsAfter.planesInUse).toBeLessThan(statsBefore.planesInUse)
    expect(statsAfter.allocations).toBe(statsBefore.allocations)
    expect(statsAfter.liveBytes).toBe(statsBefore.liveBytes)
    expect(statsAfter.regions.filter((r) => r.type === 'heap').every((r) => r.fragmentation === 0)).toBe(true)

    // Every remaining value reads back intact through the rewritten index; deleted keys stay gone.
    expect((await call({ op: 'keys' })).keys).toEqual([...expected.keys()].sort())
    for (const [key, value] of expected) expect(await get(key)).toBe(value)
    expect(await get('key-1')).toBeNull()

    // The store keeps working after compaction.
    expect(await call({ op: 'put', key: 'after', value: 'still here' })).toEqual({ ok: true, replaced: false })
    expect(await call({ op: 'put', key: 'key-0', value: 'replaced' })).toEqual({ ok: true, replaced: true })
    expect(await get('after')).toBe('still here')
    expect(await get('key-0')).toBe('replaced')
    expect(await get('key-7')).toBe(expected.get('key-7'))
  })
})
