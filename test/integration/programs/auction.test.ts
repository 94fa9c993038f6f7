import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import {
  ExecutionResult, MessageKind, ReplyCode, Runtime, type MessageOutcome, type ProgramId,
} from '../../../src/index.js'

const SELLER = 'd0'.repeat(32)
const ALICE = 'd1'.repeat(32)
const BOB = 'd2'.repeat(32)
const CAROL = 'd3'.repeat(32)
const GAS = 10_000_000
const enc = (value: unknown): Uint8Array => new TextEncoder().encode(typeof value === 'string' ? value : JSON.stringify(value))
const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes)

describe('programs/auction.ts', () => {
  let rt: Runtime
  let pid: ProgramId
  /** Every executed message with the cycle it ran in. */
  const log: (MessageOutcome & { cycle: number })[] = []

  beforeEach(async () => {
    log.length = 0
    rt = await Runtime.open({ store: 'memory', streams: 0 })
    rt.on('message', (outcome) => log.push({ ...outcome, cycle: rt.cycle }))
    const codeId = await rt.uploadCode('programs/auction.ts')
    pid = await rt.createProgram(codeId, { payload: enc({ durationCycles: 5 }), gasLimit: GAS, source: SELLER })
  })
  afterEach(async () => {
    await rt.close()
  })

  const send = (source: string, request: unknown): string =>
    rt.send({ source, destination: pid, payload: enc(request), gasLimit: GAS })
  const replyTo = (user: string, id: string) => rt.mailbox(user).find((e) => e.message.replyTo === id)
  async function status(): Promise<{ open: boolean; closesAt: number; closedAt: number | null; highest: unknown }> {
    const result = await rt.query(pid, enc({ op: 'status' }))
    expect(result.replyCode).toBe(ReplyCode.SUCCESS_MANUAL)
    return JSON.parse(text(result.payload))
  }

  it('closes itself in cycle init + 1 + duration, answers the waiting request, notifies the winner', async () => {
    expect((await rt.runCycle()).cycle).toBe(1) // init: schedules close with delay 5 -> cycle 1 + 1 + 5 = 7
    expect(await status()).toMatchObject({ open: true, closesAt: 7, closedAt: null })

    const bid1 = send(ALICE, { op: 'bid', amount: 10 })
    await rt.runCycle() // 2
    const bid2 = send(BOB, { op: 'bid', amount: 20 })
    const result = send(CAROL, { op: 'result' })
    await rt.runCycle() // 3: carol's request parks
    const low = send(ALICE, { op: 'bid', amount: 15 })
    const forged = send(BOB, 'close')
    await rt.runCycle() // 4
    const bid3 = send(ALICE, { op: 'bid', amount: 30 })
    await rt.runCycle() // 5
    await rt.runCycle() // 6
    expect(rt.cycle).toBe(6)
    expect(await status()).toMatchObject({ open: true, closedAt: null, highest: { bidder: ALICE, amount: 30 } })

    expect(replyTo(ALICE, bid1)!.message.replyCode).toBe(ReplyCode.SUCCESS_MANUAL)
    expect(replyTo(BOB, bid2)!.message.replyCode).toBe(ReplyCode.SUCCESS_MANUAL)
    expect(replyTo(ALICE, bid3)!.message.replyCode).toBe(ReplyCode.SUCCESS_MANUAL)
    expect(replyTo(ALICE, low)!.message.replyCode).toBe(ReplyCode.EXECUTION_ERROR)
    expect(replyTo(BOB, forged)!.message.replyCode).toBe(ReplyCode.EXECUTION_ERROR)
    expect(text(replyTo(BOB, forged)!.message.payload)).toMatch(/only the auction itself/)
    // The result request waited in cycle 3 and has no answer yet.
    expect(log.find((o) => o.messageId === result)).toMatchObject({ result: ExecutionResult.WAITED, cycle: 3 })
    expect(replyTo(CAROL, result)).toBeUndefined()
    expect(rt.idle).toBe(false) // the delayed close and the parked request are pending

    await rt.runCycle() // 7: the delayed close arrives
    const userIds = new Set([bid1, bid2, result, low, forged, bid3])
    const closes = log.filter((o) => o.programId === pid && o.kind === MessageKind.HANDLE && !userIds.has(o.messageId))
    expect(closes).toHaveLength(1)
    expect(closes[0]).toMatchObject({ cycle: 7, result: ExecutionResult.SUCCESS })
    expect(await status()).toMatchObject({ open: false, closedAt: 7 })
    const won = rt.mailbox(ALICE).filter((e) => e.message.kind === MessageKind.HANDLE)
    expect(won).toHaveLength(1)
    expect(won[0]!.cycle).toBe(7)
    expect(JSON.parse(text(won[0]!.message.payload))).toEqual({ event: 'won', amount: 30 })
    expect(rt.mailbox(BOB).filter((e) => e.message.kind === MessageKind.HANDLE)).toHaveLength(0)

    await rt.runCycle() // 8: the woken request re-executes and replies
    const answer = replyTo(CAROL, result)!
    expect(answer.cycle).toBe(8)
    expect(answer.message.replyCode).toBe(ReplyCode.SUCCESS_MANUAL)
    expect(JSON.parse(text(answer.message.payload))).toEqual({ winner: ALICE, amount: 30 })
    expect(log.filter((o) => o.messageId === result).map((o) => [o.cycle, o.result]))
      .toEqual([[3, ExecutionResult.WAITED], [8, ExecutionResult.SUCCESS]])
    expect(rt.idle).toBe(true)

    // After close: a late bid fails, a result request is answered at once.
    const late = send(BOB, { op: 'bid', amount: 1_000 })
    const again = send(BOB, { op: 'result' })
    const report = await rt.runCycle() // 9
    expect(report.failed).toBe(1)
    expect(replyTo(BOB, late)!.message.replyCode).toBe(ReplyCode.EXECUTION_ERROR)
    expect(text(replyTo(BOB, late)!.message.payload)).toMatch(/closed in cycle 7/)
    expect(JSON.parse(text(replyTo(BOB, again)!.message.payload))).toEqual({ winner: ALICE, amount: 30 })
    expect(await status()).toMatchObject({ highest: { bidder: ALICE, amount: 30 } })
    expect(rt.idle).toBe(true)
  })

  it('answers waiting requests with no winner when nobody bid', async () => {
    await rt.runCycle() // 1: init
    const r1 = send(ALICE, { op: 'result' })
    const r2 = send(BOB, { op: 'result' })
    const reports = await rt.runUntilIdle({ maxCycles: 20 })
    expect(rt.idle).toBe(true)
    expect(reports.at(-1)!.cycle).toBe(8) // close in 7, woken requests in 8
    for (const [user, id] of [[ALICE, r1], [BOB, r2]] as const) {
      const reply = replyTo(user, id)!
      expect(reply.cycle).toBe(8)
      expect(JSON.parse(text(reply.message.payload))).toEqual({ winner: null, amount: 0 })
    }
    expect(rt.mailbox(ALICE).some((e) => e.message.kind === MessageKind.HANDLE)).toBe(false)
  })
})
