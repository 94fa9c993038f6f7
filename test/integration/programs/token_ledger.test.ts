import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ReplyCode, Runtime, type CodeId, type ProgramId } from '../../../src/index.js'

const OWNER = 'b0'.repeat(32)
const USERS = [OWNER, 'b1'.repeat(32), 'b2'.repeat(32), 'b3'.repeat(32)] as const
const GAS = 20_000_000
const enc = (value: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(value))
const dec = (bytes: Uint8Array): any => JSON.parse(new TextDecoder().decode(bytes))

type Command =
  | { kind: 'mint'; by: number; to: number; amount: number }
  | { kind: 'transfer'; from: number; to: number; amount: number }

const user = fc.integer({ min: 0, max: USERS.length - 1 })
const command: fc.Arbitrary<Command> = fc.oneof(
  // Mostly by the owner, sometimes by someone else (must fail).
  fc.record({ kind: fc.constant('mint' as const), by: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: user }), to: user, amount: fc.integer({ min: 1, max: 100 }) }),
  // Amounts up to 150 against balances of a few hundred: a good share fail for insufficient balance.
  fc.record({ kind: fc.constant('transfer' as const), from: user, to: user, amount: fc.integer({ min: 1, max: 150 }) }),
  fc.record({ kind: fc.constant('transfer' as const), from: user, to: user, amount: fc.integer({ min: 1, max: 150 }) }),
)
/** Cycles, each a batch of messages sent before it runs. */
const scenario = fc.array(fc.array(command, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 6 })

describe('programs/token_ledger.ts', () => {
  let rt: Runtime
  let codeId: CodeId
  let run = 0

  beforeAll(async () => {
    rt = await Runtime.open({ store: 'memory', streams: 0 })
    codeId = await rt.uploadCode('programs/token_ledger.ts')
  })
  afterAll(async () => {
    await rt.close()
  })

  async function call(pid: ProgramId, request: unknown): Promise<any> {
    const result = await rt.query(pid, enc(request))
    expect(result.replyCode, result.error).toBe(ReplyCode.SUCCESS_MANUAL)
    return dec(result.payload)
  }

  async function newLedger(): Promise<{ pid: ProgramId; baseAllocations: number }> {
    run += 1
    const pid = await rt.createProgram(codeId, { salt: enc(run), gasLimit: GAS, source: OWNER })
    await rt.runUntilIdle()
    expect(rt.program(pid).record().status).toBe('active')
    return { pid, baseAllocations: rt.program(pid).stats().allocations }
  }

  it('keeps sum(balances) == totalSupply after every cycle; failed messages change nothing', async () => {
    let failures = 0
    let successes = 0
    await fc.assert(
      fc.asyncProperty(scenario, async (cycles) => {
        const { pid, baseAllocations } = await newLedger()
        const model = new Map<string, bigint>()
        let supply = 0n
        for (const batch of cycles) {
          const sent: { id: string; from: string; expectOk: boolean }[] = []
          for (const cmd of batch) {
            // Predict each outcome in queue order (a cycle runs its messages sequentially).
            if (cmd.kind === 'mint') {
              const to = USERS[cmd.to]!
              const ok = cmd.by === 0
              if (ok) {
                model.set(to, (model.get(to) ?? 0n) + BigInt(cmd.amount))
                supply += BigInt(cmd.amount)
              }
              const id = rt.send({ source: USERS[cmd.by]!, destination: pid, payload: enc({ op: 'mint', to, amount: String(cmd.amount) }), gasLimit: GAS })
              sent.push({ id, from: USERS[cmd.by]!, expectOk: ok })
            } else {
              const from = USERS[cmd.from]!
              const to = USERS[cmd.to]!
              const amount = BigInt(cmd.amount)
              const ok = (model.get(from) ?? 0n) >= amount
              if (ok) {
                model.set(from, model.get(from)! - amount)
                model.set(to, (model.get(to) ?? 0n) + amount)
              }
              const id = rt.send({ source: from, destination: pid, payload: enc({ op: 'transfer', to, amount: cmd.amount }), gasLimit: GAS })
              sent.push({ id, from, expectOk: ok })
            }
          }
          const report = await rt.runCycle()
          expect(report.processed).toBe(batch.length)

          for (const { id, from, expectOk } of sent) {
            const reply = rt.mailbox(from).find((e) => e.message.replyTo === id)
            expect(reply, `reply to ${id}`).toBeDefined()
            expect(reply!.message.replyCode).toBe(expectOk ? ReplyCode.SUCCESS_MANUAL : ReplyCode.EXECUTION_ERROR)
            if (expectOk) successes += 1
            else failures += 1
          }

          let sum = 0n
          for (const account of USERS) {
            const { balance } = await call(pid, { op: 'balanceOf', account })
            expect(BigInt(balance)).toBe(model.get(account) ?? 0n)
            sum += BigInt(balance)
          }
          const { totalSupply } = await call(pid, { op: 'totalSupply' })
          expect(BigInt(totalSupply)).toBe(sum)
          expect(BigInt(totalSupply)).toBe(supply)
          // One 8-byte allocation per holder: zero balances were freed, rolled-back frees restored.
          const holders = [...model.values()].filter((b) => b > 0n).length
          expect(rt.program(pid).stats().allocations).toBe(baseAllocations + holders)
        }
      }),
      { numRuns: 50, seed: 0x5eed },
    )
    // The generator really exercised both paths.
    expect(successes).toBeGreaterThan(50)
    expect(failures).toBeGreaterThan(20)
  })

  it('rejects a transfer that overdraws and rolls back its partial debit', async () => {
    const { pid, baseAllocations } = await newLedger()
    const [, alice, bob] = USERS
    rt.send({ source: OWNER, destination: pid, payload: enc({ op: 'mint', to: alice, amount: '40' }), gasLimit: GAS })
    await rt.runCycle()
    const before = rt.program(pid).allocations()
    // The handler debits (freeing alice's allocation, since it floors at 0) and then throws.
    const id = rt.send({ source: alice, destination: pid, payload: enc({ op: 'transfer', to: bob, amount: 41 }), gasLimit: GAS })
    const report = await rt.runCycle()
    expect(report.failed).toBe(1)
    const reply = rt.mailbox(alice).find((e) => e.message.replyTo === id)!
    expect(reply.message.replyCode).toBe(ReplyCode.EXECUTION_ERROR)
    expect(new TextDecoder().decode(reply.message.payload)).toMatch(/insufficient balance: 40 < 41/)
    expect(rt.program(pid).allocations()).toEqual(before)
    expect(rt.program(pid).stats().allocations).toBe(baseAllocations + 1)
    expect((await call(pid, { op: 'balanceOf', account: alice })).balance).toBe('40')
    expect((await call(pid, { op: 'balanceOf', account: bob })).balance).toBe('0')

    // Spending everything frees the allocation; u64 amounts beyond 2^53 work.
    rt.send({ source: alice, destination: pid, payload: enc({ op: 'transfer', to: bob, amount: '40' }), gasLimit: GAS })
    rt.send({ source: OWNER, destination: pid, payload: enc({ op: 'mint', to: bob, amount: (2n ** 63n).toString() }), gasLimit: GAS })
    await rt.runCycle()
    expect((await call(pid, { op: 'balanceOf', account: alice })).balance).toBe('0')
    expect((await call(pid, { op: 'balanceOf', account: bob })).balance).toBe((2n ** 63n + 40n).toString())
    expect(rt.program(pid).stats().allocations).toBe(baseAllocations + 1)
  })
})
