import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { MessageKind, ReplyCode, Runtime, type CodeId, type MessageOutcome, type ProgramId } from '../../../src/index.js'

const USER = 'e1'.repeat(32)
const GAS = 10_000_000
const enc = (value: string): Uint8Array => new TextEncoder().encode(value)
const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes)

describe('programs/factory.ts', () => {
  let rt: Runtime
  let counterCode: CodeId
  let factory: ProgramId
  const log: (MessageOutcome & { cycle: number })[] = []

  beforeEach(async () => {
    log.length = 0
    rt = await Runtime.open({ store: 'memory', streams: 0 })
    rt.on('message', (outcome) => log.push({ ...outcome, cycle: rt.cycle }))
    counterCode = await rt.uploadCode('programs/counter.ts')
    const factoryCode = await rt.uploadCode('programs/factory.ts')
    factory = await rt.createProgram(factoryCode, { payload: enc(counterCode), gasLimit: GAS, source: USER })
    await rt.runUntilIdle()
    expect(rt.program(factory).record().status).toBe('active')
  })
  afterEach(async () => {
    await rt.close()
  })

  /** Sends a message, runs until idle, returns the reply from the user's mailbox. */
  async function call(destination: string, payload: string) {
    const id = rt.send({ source: USER, destination, payload: enc(payload), gasLimit: GAS })
    await rt.runUntilIdle()
    const entry = rt.mailbox(USER).find((e) => e.message.replyTo === id)
    expect(entry, `reply to ${payload}`).toBeDefined()
    return entry!.message
  }
  async function stats(): Promise<{ children: number; initialized: number; rejected: number; failed: number[] }> {
    const result = await rt.query(factory, enc('stats'))
    expect(result.replyCode).toBe(ReplyCode.SUCCESS_MANUAL)
    return JSON.parse(text(result.payload))
  }

  it('creates active child counters and counts a duplicate salt as rejected', async () => {
    const ids = new Map<string, string>()
    for (const salt of ['a', 'b', 'c']) ids.set(salt, rt.send({ source: USER, destination: factory, payload: enc(`create:${salt}`), gasLimit: GAS }))
    await rt.runUntilIdle()
    expect(rt.idle).toBe(true)

    const children: ProgramId[] = []
    for (const id of ids.values()) {
      const reply = rt.mailbox(USER).find((e) => e.message.replyTo === id)!.message
      expect(reply.replyCode).toBe(ReplyCode.SUCCESS_MANUAL)
      children.push(text(reply.payload) as ProgramId)
    }
    expect(new Set(children).size).toBe(3)
    expect(await stats()).toEqual({ children: 3, initialized: 3, rejected: 0, failed: [] })

    for (const child of children) {
      const record = rt.program(child).record()
      expect(record).toMatchObject({ status: 'active', codeId: counterCode, creator: factory })
    }
    // Each child is an independent counter, initialized to 0.
    expect(text((await call(children[0]!, 'inc')).payload)).toBe('1')
    expect(text((await call(children[0]!, 'inc')).payload)).toBe('2')
    expect(text((await call(children[1]!, 'add:5')).payload)).toBe('5')
    expect(text((await call(children[2]!, 'get')).payload)).toBe('0')

    // A duplicate salt derives the same id; its init is answered with PROGRAM_EXISTS into handleReply.
    const cycleBefore = rt.cycle
    const duplicate = await call(factory, 'create:a')
    expect(duplicate.replyCode).toBe(ReplyCode.SUCCESS_MANUAL)
    expect(text(duplicate.payload)).toBe(children[0])
    expect(await stats()).toEqual({ children: 3, initialized: 3, rejected: 1, failed: [] })
    // Create in one cycle, the PROGRAM_EXISTS reply handled by the factory in the next; the child never re-inits.
    const after = log.filter((o) => o.cycle > cycleBefore)
    expect(after.map((o) => [o.cycle - cycleBefore, o.programId, o.kind]))
      .toEqual([[1, factory, MessageKind.HANDLE], [2, factory, MessageKind.REPLY]])
    expect(text((await call(children[0]!, 'get')).payload)).toBe('2') // state untouched
  })

  it('rejects the second of two same-salt creates in one cycle', async () => {
    rt.send({ source: USER, destination: factory, payload: enc('create:x'), gasLimit: GAS })
    rt.send({ source: USER, destination: factory, payload: enc('create:x'), gasLimit: GAS })
    await rt.runUntilIdle()
    expect(await stats()).toEqual({ children: 1, initialized: 1, rejected: 1, failed: [] })
    // Only one child init ran.
    expect(log.filter((o) => o.kind === MessageKind.INIT && o.programId !== factory)).toHaveLength(1)
  })

  it('fails a create naming no salt, and creates nothing', async () => {
    const reply = await call(factory, 'create:')
    expect(reply.replyCode).toBe(ReplyCode.EXECUTION_ERROR)
    expect(await stats()).toEqual({ children: 0, initialized: 0, rejected: 0, failed: [] })
    expect(rt.programIds()).toHaveLength(1)
  })
})
