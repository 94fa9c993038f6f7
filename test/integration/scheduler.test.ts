import { mkdtempSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { ExecutionResult, ReplyCode, Runtime, type MessageOutcome, type ProgramId, type RuntimeOptions } from '../../src/index.js'

const USER = '11'.repeat(32)
const text = (s: string): Uint8Array => new TextEncoder().encode(s)
const decode = (b: Uint8Array): string => new TextDecoder().decode(b)

let open: Runtime[] = []
afterEach(async () => {
  await Promise.all(open.map((rt) => rt.close()))
  open = []
})

async function runtime(options: RuntimeOptions): Promise<Runtime> {
  const rt = await Runtime.open({ store: 'memory', ...options })
  open.push(rt)
  return rt
}

async function programs(rt: Runtime, file: string, count: number): Promise<ProgramId[]> {
  const code = await rt.uploadCode(file)
  const ids: ProgramId[] = []
  for (let i = 0; i < count; i += 1) ids.push(await rt.createProgram(code, { salt: text(String(i)), gasLimit: 10_000_000 }))
  await rt.runUntilIdle()
  return ids
}

function outcomes(rt: Runtime): MessageOutcome[] {
  const seen: MessageOutcome[] = []
  rt.on('message', (o) => seen.push(o))
  return seen
}

describe('runaway programs and the watchdog', () => {
  it('an infinite loop runs out of gas at the same point on every stream count; every other result is kept', async () => {
    const burned: number[] = []
    for (const streams of [0, 2]) {
      const rt = await runtime({ streams })
      const ids = await programs(rt, 'test/fixtures/programs/spin.ts', 6)
      const seen = outcomes(rt)
      const spin = rt.send({ source: USER, destination: ids[0]!, payload: text('spin'), gasLimit: 1_000_000 })
      const others = ids.flatMap((id) => [1, 2].map(() => rt.send({ source: USER, destination: id, payload: text('inc'), gasLimit: 1_000_000 })))
      const report = await rt.runCycle()
      expect(report).toMatchObject({ processed: 1 + others.length, failed: 1, watchdogStalls: 0 })
      const stuck = seen.find((o) => o.messageId === spin)!
      expect(stuck).toMatchObject({ result: ExecutionResult.ERROR, replyCode: ReplyCode.OUT_OF_GAS, gasBurned: 1_000_000 })
      for (const id of others) expect(seen.find((o) => o.messageId === id)!.result).toBe(ExecutionResult.SUCCESS)
      burned.push(report.gasBurned)
      // The program that looped is still usable, and its memory is as committed: two increments.
      const after = rt.send({ source: USER, destination: ids[0]!, payload: text('inc'), gasLimit: 1_000_000 })
      await rt.runCycle()
      expect(seen.find((o) => o.messageId === after)!.result).toBe(ExecutionResult.SUCCESS)
      expect(decode(rt.mailbox(USER).at(-1)!.message.payload)).toBe('3')
    }
    expect(burned[0]).toBe(burned[1])
  })

  it('fails a message whose worker dies (heap exhausted) with WORKER_DIED and re-runs the rest', async () => {
    const rt = await runtime({ streams: 1, workerHeapMb: 64 })
    const ids = await programs(rt, 'test/fixtures/programs/spin.ts', 2)
    const seen = outcomes(rt)
    const before = rt.send({ source: USER, destination: ids[1]!, payload: text('inc'), gasLimit: 1_000_000 })
    // Enough gas to fill 64 MiB of heap with metered fills (2 gas an element).
    const hog = rt.send({ source: USER, destination: ids[0]!, payload: text('hog'), gasLimit: 2_000_000_000 })
    const later = rt.send({ source: USER, destination: ids[1]!, payload: text('inc'), gasLimit: 1_000_000 })
    await rt.runCycle()
    expect(seen.find((o) => o.messageId === hog)!.replyCode).toBe(ReplyCode.WORKER_DIED)
    expect(seen.find((o) => o.messageId === before)!.result).toBe(ExecutionResult.SUCCESS)
    expect(seen.find((o) => o.messageId === later)!.result).toBe(ExecutionResult.SUCCESS)
    // Re-run from committed memory: program 1 counted each of its messages exactly once.
    expect(rt.mailbox(USER).filter((e) => e.message.replyTo === later).map((e) => decode(e.message.payload))).toEqual(['2'])
  }, 60_000)

  it('a worker that stalls twice on one message is a fault of the runtime (WATCHDOG): nothing of the cycle is committed', async () => {
    // A watchdog limit far below what a healthy message takes stands in for a machine that stopped answering.
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'strata-watchdog-'))
    const setup = await Runtime.open({ dataDir, streams: 1 })
    const [id] = await programs(setup, 'test/fixtures/programs/spin.ts', 1)
    await setup.close()
    const rt = await Runtime.open({ dataDir, streams: 1, messageTimeoutMs: 5 })
    open.push(rt)
    const cycle = rt.cycle
    const root = rt.stateRoot()
    const errors: Error[] = []
    rt.on('error', (error) => errors.push(error))
    expect(rt.fault).toBeUndefined()
    rt.send({ source: USER, destination: id!, payload: text('spin'), gasLimit: 5_000_000_000 })
    await expect(rt.runCycle()).rejects.toMatchObject({ code: 'WATCHDOG' })
    expect(rt.fault).toMatchObject({ code: 'WATCHDOG' })
    // The fault is announced once, as the same error the cycle rejected with.
    expect(errors).toHaveLength(1)
    expect(errors[0]).toBe(rt.fault)
    expect(rt.cycle).toBe(cycle)
    expect(rt.stateRoot()).toBe(root)
    await expect(rt.runCycle()).rejects.toMatchObject({ code: 'FAULTED' })
    await expect(rt.flush()).rejects.toMatchObject({ code: 'FAULTED' })
    expect(errors).toHaveLength(1)
  }, 60_000)

  it('never stops a long but healthy cycle: the limit is per message, not per task', async () => {
    // 250 ms per message leaves room for GC pauses on a busy machine; 12,000 messages take seconds here.
    const rt = await runtime({ streams: 1, messageTimeoutMs: 250 })
    const ids = await programs(rt, 'programs/counter.ts', 200)
    for (let round = 0; round < 60; round += 1) {
      for (const id of ids) rt.send({ source: USER, destination: id, payload: text('inc'), gasLimit: 200_000 })
    }
    const report = await rt.runCycle()
    expect(report).toMatchObject({ processed: 12_000, failed: 0, watchdogStalls: 0 })
  })

  it('a query that loops runs out of its gas on the calling thread', async () => {
    const rt = await runtime({ streams: 1 })
    const [id] = await programs(rt, 'test/fixtures/programs/spin.ts', 1)
    const result = await rt.query(id!, text('spin'), { gasLimit: 5_000_000 })
    expect(result).toMatchObject({ replyCode: ReplyCode.OUT_OF_GAS, gasBurned: 5_000_000 })
  })
})

describe('events', () => {
  it('announces every status change of every program, in the cycle it happens, as the records show it', async () => {
    const rt = await runtime({ streams: 2 })
    const code = await rt.uploadCode('test/fixtures/programs/probe.ts')
    const changes: string[] = []
    rt.on('program', ({ programId, status }) => {
      // The event comes after the commit: the record already says so.
      expect(rt.program(programId).record().status).toBe(status)
      changes.push(`${rt.cycle}:${programId.slice(0, 6)}:${status}`)
    })
    const steps = (list: unknown[]): Uint8Array => text(JSON.stringify(list))
    const good = await rt.createProgram(code, { salt: text('good'), gasLimit: 50_000_000 })
    const bad = await rt.createProgram(code, { salt: text('bad'), payload: steps([{ do: 'throw' }]), gasLimit: 50_000_000 })
    expect(changes).toEqual([]) // creation by a user is not a cycle's change: the status starts as initializing
    await rt.runCycle()
    const short = (id: string): string => id.slice(0, 6)
    expect(changes.sort()).toEqual([`1:${short(bad)}:init_failed`, `1:${short(good)}:active`].sort())
    changes.length = 0
    rt.send({ source: USER, destination: good, payload: steps([{ do: 'create', code, salt: 'child', gas: 5_000_000 }]), gasLimit: 50_000_000 })
    await rt.runCycle()
    expect(changes).toHaveLength(1)
    const [child] = changes
    expect(child).toMatch(/^2:[0-9a-f]{6}:initializing$/)
    changes.length = 0
    rt.send({ source: USER, destination: good, payload: steps([{ do: 'exit', to: USER }]), gasLimit: 50_000_000 })
    await rt.runUntilIdle()
    expect(changes).toContain(`3:${short(good)}:exited`)
    expect(changes.filter((c) => c.endsWith(':active'))).toHaveLength(1) // the child's init, in cycle 3
    expect(rt.program(good).record().status).toBe('exited')
  })
})

describe('scale', () => {
  it('1,000 programs with one message each', async () => {
    const rt = await runtime({ streams: 2 })
    const ids = await programs(rt, 'programs/counter.ts', 1000)
    const seen = outcomes(rt)
    for (const id of ids) rt.send({ source: USER, destination: id, payload: text('add:7'), gasLimit: 1_000_000 })
    const report = await rt.runCycle()
    expect(report.processed).toBe(1000)
    expect(seen.every((o) => o.result === ExecutionResult.SUCCESS)).toBe(true)
    expect(new Set(rt.mailbox(USER).slice(-1000).map((e) => decode(e.message.payload)))).toEqual(new Set(['7']))
  }, 60_000)

  it('one program with 10,000 messages, in queue order', async () => {
    const rt = await runtime({ streams: 2 })
    const [id] = await programs(rt, 'programs/counter.ts', 1)
    for (let i = 0; i < 10_000; i += 1) rt.send({ source: USER, destination: id!, payload: text('inc'), gasLimit: 200_000 })
    const reports = await rt.runUntilIdle()
    expect(reports.reduce((sum, r) => sum + r.processed, 0)).toBe(10_000)
    const replies = rt.mailbox(USER).slice(-10_000).map((e) => Number(decode(e.message.payload)))
    expect(replies).toEqual(Array.from({ length: 10_000 }, (_, i) => i + 1))
  }, 60_000)

  it('a program that allocates until its budget ends gets MEMORY_BUDGET_EXCEEDED, on a stream', async () => {
    const rt = await runtime({ streams: 1, planesMax: 16 })
    const code = await rt.uploadCode('test/fixtures/programs/probe.ts')
    const id = await rt.createProgram(code, { gasLimit: 10_000_000 })
    await rt.runUntilIdle()
    const seen = outcomes(rt)
    rt.send({ source: USER, destination: id, payload: text(JSON.stringify([{ do: 'grow' }])), gasLimit: 50_000_000 })
    await rt.runCycle()
    expect(seen[0]!.replyCode).toBe(ReplyCode.MEMORY_BUDGET_EXCEEDED)
    expect(rt.program(id).stats().planesInUse).toBe(0)
  })
})

describe('reads and lifecycle', () => {
  it('reads see the last committed cycle while a cycle runs', async () => {
    const rt = await runtime({ streams: 1 })
    const [id] = await programs(rt, 'programs/counter.ts', 1)
    const [header] = rt.program(id!).allocations()
    const before = rt.program(id!).read(header!.address, header!.size)
    for (let i = 0; i < 2000; i += 1) rt.send({ source: USER, destination: id!, payload: text('inc'), gasLimit: 200_000 })
    const running = rt.runCycle()
    expect(rt.program(id!).read(header!.address, header!.size)).toEqual(before)
    await expect(rt.runCycle()).rejects.toMatchObject({ code: 'BUSY' })
    await running
    expect(decode(rt.mailbox(USER).at(-1)!.message.payload)).toBe('2000')
  })

  it('close waits for a running cycle, then refuses everything with CLOSED', async () => {
    const rt = await runtime({ streams: 2 })
    const [id] = await programs(rt, 'programs/counter.ts', 1)
    for (let i = 0; i < 500; i += 1) rt.send({ source: USER, destination: id!, payload: text('inc'), gasLimit: 200_000 })
    const running = rt.runCycle()
    await rt.close()
    expect((await running).processed).toBe(500)
    await expect(rt.runCycle()).rejects.toMatchObject({ code: 'CLOSED' })
    expect(() => rt.send({ source: USER, destination: id!, payload: text('inc'), gasLimit: 1 })).toThrow(expect.objectContaining({ code: 'CLOSED' }))
    await rt.close()
  })
})

describe('bad input: typed errors, nothing changes', () => {
  it.each<[string, string, (rt: Runtime, id: ProgramId) => unknown]>([
    ['a short source id', 'INVALID_ID', (rt, id) => rt.send({ source: 'abc', destination: id, payload: text('x'), gasLimit: 1 })],
    ['an unknown destination', 'UNKNOWN_PROGRAM', (rt) => rt.send({ source: USER, destination: 'ff'.repeat(32), payload: text('x'), gasLimit: 1 })],
    ['a program as source', 'INVALID_SOURCE', (rt, id) => rt.send({ source: id, destination: id, payload: text('x'), gasLimit: 1 })],
    ['negative gas', 'INVALID_GAS', (rt, id) => rt.send({ source: USER, destination: id, payload: text('x'), gasLimit: -1 })],
    ['fractional gas', 'INVALID_GAS', (rt, id) => rt.send({ source: USER, destination: id, payload: text('x'), gasLimit: 1.5 })],
    ['gas over the maximum', 'INVALID_GAS', (rt, id) => rt.send({ source: USER, destination: id, payload: text('x'), gasLimit: 2 ** 53 })],
    ['a string payload', 'INVALID_PAYLOAD', (rt, id) => rt.send({ source: USER, destination: id, payload: 'x' as never, gasLimit: 1 })],
    ['a payload over 1 MiB', 'PAYLOAD_TOO_LARGE', (rt, id) => rt.send({ source: USER, destination: id, payload: new Uint8Array(1024 * 1024 + 1), gasLimit: 1 })],
    ['a query payload over 1 MiB (bounded like a send)', 'PAYLOAD_TOO_LARGE', (rt, id) => rt.query(id, new Uint8Array(1024 * 1024 + 1))],
    ['a gas estimate with a payload over 1 MiB', 'PAYLOAD_TOO_LARGE', (rt, id) => rt.estimateGas({ destination: id, payload: new Uint8Array(1024 * 1024 + 1) })],
    ['an unknown program view', 'UNKNOWN_PROGRAM', (rt) => rt.program('ee'.repeat(32))],
    ['an unknown code', 'UNKNOWN_CODE', (rt) => rt.createProgram('dd'.repeat(32), { gasLimit: 1 })],
    ['a duplicate program', 'PROGRAM_EXISTS', (rt, id) => rt.createProgram(rt.program(id).record().codeId, { salt: text('0'), gasLimit: 1 })],
    ['a bad mailbox id', 'INVALID_ID', (rt) => rt.mailbox('nope')],
  ])('%s -> %s', async (_name, code, call) => {
    const rt = await runtime({ streams: 0 })
    const [id] = await programs(rt, 'programs/counter.ts', 1)
    const queue = rt.queueLength
    const programsBefore = rt.programIds().length
    await expect((async () => call(rt, id!))()).rejects.toMatchObject({ code })
    expect(rt.queueLength).toBe(queue)
    expect(rt.programIds().length).toBe(programsBefore)
    // The user's nonce was not consumed: the next message gets the id it would have had.
    const next = rt.send({ source: USER, destination: id!, payload: text('inc'), gasLimit: 1_000_000 })
    const fresh = await runtime({ streams: 0 })
    const [other] = await programs(fresh, 'programs/counter.ts', 1)
    expect(next).toBe(fresh.send({ source: USER, destination: other!, payload: text('inc'), gasLimit: 1_000_000 }))
  })

  it.each([
    [{ streams: -1 }], [{ streams: 65 }], [{ streams: 1.5 }], [{ cycleGasBudget: 0 }], [{ queueLengthMax: 0 }],
    [{ messageTimeoutMs: 0 }], [{ planesMax: 0 }], [{ cycleTimeoutMs: 100 }], [{ dataDirectory: './data' }],
  ])('Runtime.open(%j) -> INVALID_OPTION', async (options) => {
    await expect(Runtime.open(options as RuntimeOptions)).rejects.toMatchObject({ code: 'INVALID_OPTION' })
  })

  it('refuses sends past the queue limit with QUEUE_FULL, never dropping one silently', async () => {
    const rt = await runtime({ streams: 0, queueLengthMax: 3 })
    const [id] = await programs(rt, 'programs/counter.ts', 1)
    for (let i = 0; i < 3; i += 1) rt.send({ source: USER, destination: id!, payload: text('inc'), gasLimit: 1_000_000 })
    expect(() => rt.send({ source: USER, destination: id!, payload: text('inc'), gasLimit: 1_000_000 })).toThrow(expect.objectContaining({ code: 'QUEUE_FULL' }))
    expect(rt.queueLength).toBe(3)
    await rt.runUntilIdle()
    expect(rt.mailbox(USER).slice(-3).map((e) => decode(e.message.payload))).toEqual(['1', '2', '3'])
  })
})
