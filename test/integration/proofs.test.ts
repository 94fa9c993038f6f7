import { afterEach, describe, expect, it } from 'vitest'
import { Runtime, verifyProof, type ProgramId } from '../../src/index.js'

const USER = '11'.repeat(32)
const json = (value: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(value))

let open: Runtime[] = []
afterEach(async () => {
  await Promise.all(open.map((rt) => rt.close()))
  open = []
})

async function store(streams: number): Promise<{ rt: Runtime; id: ProgramId }> {
  const rt = await Runtime.open({ store: 'memory', streams })
  open.push(rt)
  const code = await rt.uploadCode('programs/kv_store.ts')
  const id = await rt.createProgram(code, { gasLimit: 10_000_000 })
  await rt.runUntilIdle()
  return { rt, id }
}

describe('proofs through the runtime', () => {
  it.each([0, 2])('a range proof verifies against the state root with streams = %i, and a tampered one does not', async (streams) => {
    const { rt, id } = await store(streams)
    rt.send({ source: USER, destination: id, payload: json({ op: 'put', key: 'greeting', value: 'hello, verifiable world' }), gasLimit: 5_000_000 })
    rt.send({ source: USER, destination: id, payload: json({ op: 'put', key: 'big', value: 'x'.repeat(70_000) }), gasLimit: 50_000_000 })
    const report = (await rt.runUntilIdle()).at(-1)!
    expect(report.stateRoot).toBe(rt.stateRoot())
    const [first, second] = rt.program(id).allocations().filter((a) => a.size > 16)
    for (const { address, size } of [first!, second!]) {
      const length = Math.min(size, 100)
      const proof = await rt.prove(id, address, length)
      const result = verifyProof(rt.stateRoot(), JSON.parse(JSON.stringify(proof)))
      expect(result.ok).toBe(true)
      expect((result as { data: Uint8Array }).data).toEqual(rt.program(id).read(address, length))
      const tampered = JSON.parse(JSON.stringify(proof)) as { data: string }
      tampered.data = (tampered.data[0] === '0' ? '1' : '0') + tampered.data.slice(1)
      expect(verifyProof(rt.stateRoot(), tampered).ok).toBe(false)
    }
  })

  it('a proof taken before a change fails against the root after it', async () => {
    const { rt, id } = await store(1)
    rt.send({ source: USER, destination: id, payload: json({ op: 'put', key: 'k', value: 'before' }), gasLimit: 5_000_000 })
    await rt.runUntilIdle()
    const [value] = rt.program(id).allocations().filter((a) => a.size === 6)
    const oldRoot = rt.stateRoot()
    const proof = await rt.prove(id, value!.address, 6)
    rt.send({ source: USER, destination: id, payload: json({ op: 'put', key: 'k', value: 'after!' }), gasLimit: 5_000_000 })
    await rt.runUntilIdle()
    expect(rt.stateRoot()).not.toBe(oldRoot)
    expect(verifyProof(oldRoot, proof).ok).toBe(true)
    expect(verifyProof(rt.stateRoot(), proof).ok).toBe(false)
  })

  it('proves that a plane a program never wrote is absent', async () => {
    const { rt, id } = await store(0)
    const proof = await rt.proveAbsence(id, 9, 9)
    expect(verifyProof(rt.stateRoot(), proof).ok).toBe(true)
  })

  it('refuses a proof outside any allocation with a typed error', async () => {
    const { rt, id } = await store(0)
    await expect(rt.prove(id, 2 ** 39, 4)).rejects.toMatchObject({ code: expect.any(String) })
  })

  it('memory roots and the state root change only when memory or records change', async () => {
    const { rt, id } = await store(1)
    // kv_store creates its index on its first message: do that first, then nothing may change.
    rt.send({ source: USER, destination: id, payload: json({ op: 'get', key: 'warm-up' }), gasLimit: 5_000_000 })
    await rt.runUntilIdle()
    const root = rt.stateRoot()
    const memoryRoot = rt.program(id).memoryRoot()
    await rt.query(id, json({ op: 'put', key: 'q', value: 'query changes nothing' }))
    expect(rt.stateRoot()).toBe(root)
    rt.send({ source: USER, destination: id, payload: json({ op: 'get', key: 'nothing' }), gasLimit: 5_000_000 })
    await rt.runUntilIdle()
    expect(rt.program(id).memoryRoot()).toBe(memoryRoot)
    expect(rt.stateRoot()).toBe(root)
  })
})
