// The Runtime's inspection accessors (queued, waiting, delayedMessages, ProgramView.planes) and its `planes`
// event: what the CLI and the web inspector show of the queue, the waitlist, delayed messages and dirty planes.
import { afterEach, describe, expect, it } from 'vitest'
import { QUEUE_PAGE_MAX, Runtime, type ProgramId } from '../../src/index.js'

const USER = '22'.repeat(32)
const text = (s: string): Uint8Array => new TextEncoder().encode(s)
const steps = (list: unknown[]): Uint8Array => text(JSON.stringify(list))

let open: Runtime[] = []
afterEach(async () => {
  await Promise.all(open.map((rt) => rt.close()))
  open = []
})

async function probe(count: number): Promise<{ rt: Runtime; ids: ProgramId[] }> {
  const rt = await Runtime.open({ store: 'memory', streams: 0 })
  open.push(rt)
  const code = await rt.uploadCode('test/fixtures/programs/probe.ts')
  const ids: ProgramId[] = []
  for (let i = 0; i < count; i += 1) ids.push(await rt.createProgram(code, { salt: text(String(i)), gasLimit: 10_000_000 }))
  await rt.runUntilIdle()
  return { rt, ids }
}

describe('inspection accessors', () => {
  it('queued pages through committed and newly accepted messages in delivery order, taking none', async () => {
    const { rt, ids } = await probe(1)
    const sent: string[] = []
    const send = (): void => {
      sent.push(rt.send({ source: USER, destination: ids[0]!, payload: steps([]), gasLimit: 1_000_000 }))
    }
    for (let i = 0; i < 3; i += 1) send()
    await rt.flush() // these three are now the store's committed queue
    for (let i = 0; i < 3; i += 1) send() // and these are held in memory
    expect(rt.queued().map((m) => m.id)).toEqual(sent)
    expect(rt.queued({ offset: 2, limit: 2 }).map((m) => m.id)).toEqual(sent.slice(2, 4))
    expect(rt.queued({ offset: 4 }).map((m) => m.id)).toEqual(sent.slice(4))
    expect(rt.queued({ offset: 6 })).toEqual([])
    expect(rt.queued({ limit: 0 })).toEqual([])
    expect(rt.queueLength).toBe(6)
    // After a cycle took a prefix, the listing starts at the new head.
    await rt.runCycle()
    expect(rt.queued()).toEqual([])
    expect(() => rt.queued({ limit: QUEUE_PAGE_MAX + 1 })).toThrow(expect.objectContaining({ code: 'INVALID_OPTION' }))
    expect(() => rt.queued({ offset: -1 })).toThrow(expect.objectContaining({ code: 'INVALID_OPTION' }))
  })

  it('waiting and delayedMessages list parked and scheduled messages; the planes event and planes() name what was written', async () => {
    const { rt, ids } = await probe(2)
    const [a, b] = ids as [ProgramId, ProgramId]
    const dirty: { cycle: number; programId: string; planes: readonly number[] }[] = []
    rt.on('planes', (change) => dirty.push(change))
    const waiter = rt.send({ source: USER, destination: a, payload: steps([{ do: 'wait', cycles: 5 }]), gasLimit: 1_000_000 })
    rt.send({
      source: USER, destination: b, gasLimit: 5_000_000,
      payload: steps([{ do: 'alloc', size: 70_000, as: 'x' }, { do: 'store', at: 'x', text: 'a' },
        { do: 'store', at: 'x', offset: 65_536, text: 'b' },
        { do: 'send', to: a, text: '[]', gas: 1000, delay: 3 }]),
    })
    const report = await rt.runCycle()
    expect(rt.waiting().map((w) => [w.message.id, w.programId, w.untilCycle])).toEqual([[waiter, a, report.cycle + 5]])
    const delayed = rt.delayedMessages()
    expect(delayed).toHaveLength(1)
    expect(delayed[0]![0]).toBe(report.cycle + 1 + 3) // sent in cycle c with delay d: runs in cycle c + 1 + d
    expect(delayed[0]![1].map((m) => [m.source, m.destination])).toEqual([[b, a]])
    // b wrote into both planes of its allocation: the event names them, and they are its planes with data.
    const bPlanes = rt.program(b).planes()
    expect(bPlanes).toHaveLength(2)
    expect(bPlanes[1]! - bPlanes[0]!).toBe(1)
    expect(dirty.filter((d) => d.programId === b)).toEqual([{ cycle: report.cycle, programId: b, planes: bPlanes }])
    expect(dirty.every((d) => d.cycle === report.cycle)).toBe(true)
    expect(rt.program(a).planes().every((key) => Number.isInteger(key))).toBe(true)
    expect(rt.programCount).toBe(2)
    await rt.createProgram(rt.codeIds()[0]!, { salt: text('third'), gasLimit: 1_000_000 })
    expect(rt.programCount).toBe(3) // created, not committed yet
    await rt.flush()
    expect(rt.programCount).toBe(rt.programIds().length)
  })
})
