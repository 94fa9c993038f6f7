// Auction: an English auction with a fixed end, driven by a delayed message and wait/wake.
//
// Demonstrates:
//   - delayed delivery: init sends the program itself a "close" message with delay = durationCycles, so the
//     auction closes by itself in cycle initCycle + 1 + durationCycles (Strata's only clock is the cycle);
//   - access control by source: "close" is accepted only from the program itself;
//   - wait/wake: a "result" request made while the auction is open parks itself (ctx.wait) after remembering its
//     message id in state; "close" wakes every parked request, which then re-executes from the start of handle
//     and, the auction now being closed, replies with the winner;
//   - messages to users: the winner gets a "won" message in its mailbox.
//
// Payloads: init { durationCycles }; handle { op: 'bid', amount } | { op: 'result' } | { op: 'status' } | "close".
// A bid must beat the highest bid and arrive while the auction is open; otherwise it fails (the bidder gets an
// EXECUTION_ERROR reply). "result" replies { winner, amount } (winner null when nobody bid).
import { defineProgram, type ProgramContext } from 'strata'

interface Bid {
  bidder: string
  amount: number
}

interface AuctionState {
  open: boolean
  /** The cycle in which the close message is due. */
  closesAt: number
  /** The cycle in which the auction actually closed. */
  closedAt: number | null
  highest: Bid | null
  /** Ids of parked "result" requests, woken on close. */
  waiting: string[]
}

type Request = { op: 'bid'; amount: number } | { op: 'result' } | { op: 'status' }

/** Gas the init sets aside for the close message: it wakes the waiters and notifies the winner. */
const CLOSE_GAS = 2_000_000
/** Cycles a result request may stay parked beyond the scheduled close before it times out (WAIT_TIMEOUT). */
const WAIT_GRACE_CYCLES = 10

function auction(ctx: ProgramContext): AuctionState {
  return ctx.state as unknown as AuctionState
}

function close(ctx: ProgramContext, state: AuctionState): void {
  if (ctx.msg.source !== ctx.programId) throw new Error('only the auction itself may close the auction')
  if (!state.open) throw new Error('the auction is closed already')
  state.open = false
  state.closedAt = ctx.cycle
  for (const id of state.waiting) ctx.wake(id) // each re-runs handle in a later cycle, now seeing open === false
  state.waiting = []
  if (state.highest !== null) {
    ctx.send(state.highest.bidder, JSON.stringify({ event: 'won', amount: state.highest.amount }))
  }
}

export default defineProgram({
  init(ctx) {
    const { durationCycles } = ctx.msg.json<{ durationCycles: number }>()
    if (!Number.isInteger(durationCycles) || durationCycles < 1) throw new Error('durationCycles must be >= 1')
    const state: AuctionState = {
      open: true, closesAt: ctx.cycle + 1 + durationCycles, closedAt: null, highest: null, waiting: [],
    }
    ctx.state = state as unknown as Record<string, unknown>
    ctx.send(ctx.programId, 'close', { delay: durationCycles, gasLimit: CLOSE_GAS })
  },

  handle(ctx) {
    const state = auction(ctx)
    if (ctx.msg.text() === 'close') return close(ctx, state)
    const request = ctx.msg.json<Request>()
    switch (request.op) {
      case 'bid': {
        if (!state.open) throw new Error(`the auction closed in cycle ${state.closedAt}`)
        const amount = request.amount
        if (!Number.isSafeInteger(amount) || amount <= (state.highest?.amount ?? 0)) {
          throw new Error(`a bid must be an integer above ${state.highest?.amount ?? 0}, got ${amount}`)
        }
        state.highest = { bidder: ctx.msg.source, amount }
        ctx.reply(JSON.stringify({ highest: amount }))
        return
      }
      case 'result': {
        if (state.open) {
          // Remember who is waiting (kept: wait is not a failure), then park until close wakes us.
          if (!state.waiting.includes(ctx.msg.id)) state.waiting.push(ctx.msg.id)
          ctx.wait({ cycles: state.closesAt - ctx.cycle + WAIT_GRACE_CYCLES })
        }
        ctx.reply(JSON.stringify({ winner: state.highest?.bidder ?? null, amount: state.highest?.amount ?? 0 }))
        return
      }
      case 'status':
        ctx.reply(JSON.stringify({ open: state.open, closesAt: state.closesAt, closedAt: state.closedAt, highest: state.highest }))
        return
      default:
        throw new Error(`unknown op ${JSON.stringify((request as { op?: unknown }).op)}`)
    }
  },
})
