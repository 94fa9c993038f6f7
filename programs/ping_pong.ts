// Ping-pong: two instances of this one code play N rounds, showing how gas flows between programs.
//
//   user --start{peer,rounds}--> A --"ping" (gas G)--> B --"pong" (G minus B's fees)--> A.handleReply
//                                A --"ping" (the gas that came back)--> B --"pong"--> ... (N rounds)
//
// A message's unused gas rides back on its reply, so the pong arriving in A's handleReply carries what B did not
// burn, and A spends it on the next ping. Each round costs both sides' fees, so the pot shrinks every round; the
// game stops when the rounds are done (or, with too little gas, when the pot cannot pay for another ping).
// State: `served` counts pings this instance answered, `received` counts pongs it got back.
// Send "stats" (or query it) to read the counters as JSON.
import { defineProgram, isErrorReply, type ProgramContext } from 'strata'

interface Start {
  readonly op: 'start'
  readonly peer: string
  readonly rounds: number
}

interface PingPongState {
  served: number
  received: number
  /** Pings still to send in the game this instance started. */
  remaining: number
  peer: string | null
  /** Set when a round could not continue (an error reply or not enough gas). */
  stopped: string | null
}

/** Gas kept back by handleReply for its own work after the send (saving state). */
const RESERVE_GAS = 50_000
/**
 * The least a ping may carry: enough for the peer to serve it and for the pong it sends back to pay for our
 * handleReply. A smaller ping would be served, but its pong could not be counted, and the two tallies would
 * disagree.
 */
const ROUND_TRIP_GAS_MIN = 100_000

function stateOf(ctx: ProgramContext): PingPongState {
  return ctx.state as unknown as PingPongState
}

/** Sends the next ping with all the gas this message can spare. */
function sendPing(ctx: ProgramContext, state: PingPongState): void {
  const gas = ctx.gasLeft() - RESERVE_GAS
  if (state.peer === null || gas < ROUND_TRIP_GAS_MIN) {
    state.stopped = `out of gas with ${state.remaining} round(s) to go`
    return
  }
  ctx.send(state.peer, 'ping', { gasLimit: gas })
}

export default defineProgram({
  init(ctx) {
    const state: PingPongState = { served: 0, received: 0, remaining: 0, peer: null, stopped: null }
    ctx.state = state as unknown as Record<string, unknown>
  },

  handle(ctx) {
    const state = stateOf(ctx)
    const text = ctx.msg.text()
    if (text === 'ping') {
      state.served += 1
      ctx.reply('pong') // carries this message's unused gas back to the pinger
      return
    }
    if (text === 'stats') {
      ctx.reply(JSON.stringify({ served: state.served, received: state.received, stopped: state.stopped }))
      return
    }
    const start = ctx.msg.json<Start>()
    if (start.op !== 'start' || !Number.isInteger(start.rounds) || start.rounds < 1) {
      throw new Error(`expected { op: 'start', peer, rounds >= 1 }, got ${text}`)
    }
    if (start.peer === ctx.programId) throw new Error('a program cannot play ping-pong with itself')
    state.peer = start.peer
    state.remaining = start.rounds
    state.stopped = null
    sendPing(ctx, state)
  },

  handleReply(ctx) {
    const state = stateOf(ctx)
    const code = ctx.msg.replyCode ?? 0
    if (isErrorReply(code)) {
      state.stopped = `ping failed with reply code 0x${code.toString(16)}`
      return
    }
    if (ctx.msg.text() !== 'pong') return
    state.received += 1
    state.remaining -= 1
    if (state.remaining > 0) sendPing(ctx, state)
  },
})
