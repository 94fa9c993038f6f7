import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { ExecutionResult, MessageKind, ReplyCode, Runtime, type CycleReport, type MessageOutcome } from '../../../src/index.js'

const USER = 'a1'.repeat(32)
const enc = (value: unknown): Uint8Array => new TextEncoder().encode(typeof value === 'string' ? value : JSON.stringify(value))
const dec = (bytes: Uint8Array): string => new TextDecoder().decode(bytes)

describe('programs/ping_pong.ts', () => {
  let rt: Runtime
  beforeEach(async () => {
    rt = await Runtime.open({ store: 'memory', streams: 0 })
  })
  afterEach(async () => {
    await rt.close()
  })

  async function stats(pid: string): Promise<{ served: number; received: number; stopped: string | null }> {
    const result = await rt.query(pid, enc('stats'))
    expect(result.replyCode).toBe(ReplyCode.SUCCESS_MANUAL)
    return JSON.parse(dec(result.payload))
  }

  it('plays exactly N rounds, every message succeeds, and gas is conserved', async () => {
    const ROUNDS = 10
    const INIT_GAS = 1_000_000
    const START_GAS = 50_000_000
    const codeId = await rt.uploadCode('programs/ping_pong.ts')
    const a = await rt.createProgram(codeId, { salt: enc('a'), gasLimit: INIT_GAS, source: USER })
    const b = await rt.createProgram(codeId, { salt: enc('b'), gasLimit: INIT_GAS, source: USER })
    expect(a).not.toBe(b)

    const outcomes: MessageOutcome[] = []
    const reports: CycleReport[] = []
    rt.on('message', (outcome) => outcomes.push(outcome))
    rt.on('cycle', (report) => reports.push(report))

    await rt.runCycle() // both inits
    const start = rt.send({ source: USER, destination: a, payload: enc({ op: 'start', peer: b, rounds: ROUNDS }), gasLimit: START_GAS })
    await rt.runUntilIdle({ maxCycles: 200 })
    expect(rt.idle).toBe(true)

    expect(await stats(a)).toEqual({ served: 0, received: ROUNDS, stopped: null })
    expect(await stats(b)).toEqual({ served: ROUNDS, received: 0, stopped: null })

    // Every message ran to success: 2 inits, start, N pings (to b), N pongs (replies to a).
    expect(outcomes.every((o) => o.result === ExecutionResult.SUCCESS)).toBe(true)
    const pings = outcomes.filter((o) => o.programId === b && o.kind === MessageKind.HANDLE)
    const pongs = outcomes.filter((o) => o.programId === a && o.kind === MessageKind.REPLY)
    expect(pings).toHaveLength(ROUNDS)
    expect(pongs).toHaveLength(ROUNDS)
    expect(pings.every((o) => o.replyCode === ReplyCode.SUCCESS_MANUAL)).toBe(true)
    // One ping-pong round takes two cycles (ping, then pong), after the init cycle and the start cycle.
    expect(reports.length).toBe(1 + 1 + 2 * ROUNDS)

    // The user's mailbox holds the auto replies to both inits and to start, all successes.
    const mailbox = rt.mailbox(USER)
    expect(mailbox).toHaveLength(3)
    expect(mailbox.every((e) => e.message.replyCode === ReplyCode.SUCCESS_AUTO)).toBe(true)
    const startReply = mailbox.find((e) => e.message.replyTo === start)!
    expect(startReply).toBeDefined()

    // Plausible gas: every handled message paid at least the message fee, a round costs the same each time,
    // and the start reply returned only the small reserve (the rest went into the game).
    expect(pings.every((o) => o.gasBurned >= 2_000 && o.gasBurned < 100_000)).toBe(true)
    const pingBurn = new Set(pings.slice(1).map((o) => o.gasBurned))
    expect(pingBurn.size).toBe(1)
    expect(startReply.message.gasLimit).toBeLessThan(50_000)

    // Conservation: everything the user put in was burned or refunded (incl. gas returned to the mailbox).
    const burned = reports.reduce((sum, r) => sum + r.gasBurned, 0)
    const refunded = reports.reduce((sum, r) => sum + r.gasRefunded, 0)
    expect(burned + refunded).toBe(2 * INIT_GAS + START_GAS)
    expect(burned).toBe(outcomes.reduce((sum, o) => sum + o.gasBurned, 0))
    expect(burned).toBeLessThan(START_GAS / 10)
  })

  it('stops cleanly when the pot cannot pay for all rounds', async () => {
    const codeId = await rt.uploadCode('programs/ping_pong.ts')
    const a = await rt.createProgram(codeId, { salt: enc('a'), gasLimit: 1_000_000, source: USER })
    const b = await rt.createProgram(codeId, { salt: enc('b'), gasLimit: 1_000_000, source: USER })
    await rt.runCycle()
    rt.send({ source: USER, destination: a, payload: enc({ op: 'start', peer: b, rounds: 1_000 }), gasLimit: 500_000 })
    await rt.runUntilIdle({ maxCycles: 2_000 })
    expect(rt.idle).toBe(true)
    const sa = await stats(a)
    const sb = await stats(b)
    expect(sa.received).toBeGreaterThan(0)
    expect(sa.received).toBeLessThan(1_000)
    expect(sb.served).toBe(sa.received)
    expect(sa.stopped).toMatch(/out of gas/)
  })
})
