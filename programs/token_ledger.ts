// Token ledger: a fungible token whose balances live in raw heap memory, one 8-byte u64 allocation per holder.
//
// Demonstrates: ctx.mem (alloc / load / store / free) next to ctx.state, u64 arithmetic with bigint, access
// control by message source, and message atomicity: a handler that throws halfway through (insufficient
// balance) leaves memory and state exactly as they were, and its sender gets an EXECUTION_ERROR (0x10) reply.
//
// ctx.state keeps the index (account -> address of its balance) and the total supply; a balance that drops to
// zero frees its allocation, so memory holds exactly one allocation per holder.
//
// Payloads (JSON), all answered with JSON; amounts are decimal strings (or safe integers):
//   { op: 'mint', to, amount }       only the creator (init's source) may mint
//   { op: 'transfer', to, amount }   from the sender; throws on insufficient balance
//   { op: 'balanceOf', account }     -> { account, balance }
//   { op: 'totalSupply' }            -> { totalSupply }
import { defineProgram, type ProgramContext } from 'strata'

interface LedgerState {
  owner: string
  totalSupply: bigint
  /** account id -> address of its 8-byte balance */
  balances: Record<string, number>
}

type Request =
  | { op: 'mint'; to: string; amount: string | number }
  | { op: 'transfer'; to: string; amount: string | number }
  | { op: 'balanceOf'; account: string }
  | { op: 'totalSupply' }

const U64_MAX = 2n ** 64n - 1n
const ACCOUNT = /^[0-9a-f]{64}$/

function ledger(ctx: ProgramContext): LedgerState {
  return ctx.state as unknown as LedgerState
}

function parseAmount(value: string | number): bigint {
  const amount = BigInt(value) // throws on garbage
  if (amount <= 0n || amount > U64_MAX) throw new Error(`amount must be in 1..2^64-1, got ${String(value)}`)
  return amount
}

function checkAccount(account: string): string {
  if (typeof account !== 'string' || !ACCOUNT.test(account)) throw new Error(`bad account ${String(account)}`)
  return account
}

function balanceOf(ctx: ProgramContext, account: string): bigint {
  const address = ledger(ctx).balances[account]
  if (address === undefined) return 0n
  const bytes = ctx.mem.load(address, 8)
  return new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true)
}

/** Writes a balance: allocates on the first token, frees on the last. */
function setBalance(ctx: ProgramContext, account: string, value: bigint): void {
  if (value > U64_MAX) throw new Error(`balance of ${account} would overflow u64`)
  const balances = ledger(ctx).balances
  const address = balances[account]
  if (value === 0n) {
    if (address !== undefined) ctx.mem.free(address)
    delete balances[account]
    return
  }
  const bytes = new Uint8Array(8)
  new DataView(bytes.buffer).setBigUint64(0, value, true)
  const target = address ?? ctx.mem.alloc(8)
  ctx.mem.store(target, bytes)
  balances[account] = target
}

export default defineProgram({
  init(ctx) {
    const state: LedgerState = { owner: ctx.msg.source, totalSupply: 0n, balances: {} }
    ctx.state = state as unknown as Record<string, unknown>
  },

  handle(ctx) {
    const request = ctx.msg.json<Request>()
    const state = ledger(ctx)
    switch (request.op) {
      case 'mint': {
        if (ctx.msg.source !== state.owner) throw new Error('only the creator may mint')
        const to = checkAccount(request.to)
        const amount = parseAmount(request.amount)
        setBalance(ctx, to, balanceOf(ctx, to) + amount)
        state.totalSupply += amount
        ctx.reply(JSON.stringify({ ok: true, totalSupply: state.totalSupply.toString() }))
        return
      }
      case 'transfer': {
        const from = ctx.msg.source
        const to = checkAccount(request.to)
        const amount = parseAmount(request.amount)
        const fromBalance = balanceOf(ctx, from)
        // Debit first, then check: the throw below must undo the write (message atomicity).
        setBalance(ctx, from, fromBalance >= amount ? fromBalance - amount : 0n)
        if (fromBalance < amount) throw new Error(`insufficient balance: ${fromBalance} < ${amount}`)
        setBalance(ctx, to, balanceOf(ctx, to) + amount)
        ctx.reply(JSON.stringify({ ok: true }))
        return
      }
      case 'balanceOf': {
        const account = checkAccount(request.account)
        ctx.reply(JSON.stringify({ account, balance: balanceOf(ctx, account).toString() }))
        return
      }
      case 'totalSupply':
        ctx.reply(JSON.stringify({ totalSupply: state.totalSupply.toString() }))
        return
      default:
        throw new Error(`unknown op ${JSON.stringify((request as { op?: unknown }).op)}`)
    }
  },
})
