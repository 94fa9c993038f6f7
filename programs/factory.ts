// Factory: a program that creates programs. Its init payload is the code id of the children it makes (for
// example programs/counter.ts, uploaded first).
//
// Demonstrates:
//   - ctx.createProgram(codeId, { salt, payload, gasLimit }): the child id is derived from (factory id, code id,
//     salt), is known at once, and the child's init runs in a later cycle with the gas given here;
//   - replies to inits: the child's init answers the factory like any message, so handleReply learns whether the
//     child came up (SUCCESS_AUTO 0x00 from its auto reply) or not. Creating a second child with a salt already
//     used derives the same id, so the runtime answers that init with PROGRAM_EXISTS (0x23) instead of running it.
//
// Payloads: "create:<salt>" -> replies the child id (before its init has run); "stats" -> JSON counters.
import { ReplyCode, defineProgram, type ProgramContext } from 'strata'

interface FactoryState {
  childCode: string
  /** salt -> child id, for every create requested (a duplicate salt maps to the existing child). */
  children: Record<string, string>
  /** Ids of children whose init reported success, in the order they came up. */
  initialized: string[]
  /** Creates answered with PROGRAM_EXISTS. */
  rejected: number
  /** Any other init failure, by reply code. */
  failed: number[]
}

/** Gas for each child's init; what the init does not burn comes back on its reply to handleReply. */
const CHILD_INIT_GAS = 500_000

function factory(ctx: ProgramContext): FactoryState {
  return ctx.state as unknown as FactoryState
}

export default defineProgram({
  init(ctx) {
    const childCode = ctx.msg.text().trim()
    if (!/^[0-9a-f]{64}$/.test(childCode)) throw new Error(`init payload must be a code id, got ${childCode}`)
    const state: FactoryState = { childCode, children: {}, initialized: [], rejected: 0, failed: [] }
    ctx.state = state as unknown as Record<string, unknown>
  },

  handle(ctx) {
    const state = factory(ctx)
    const command = ctx.msg.text()
    if (command === 'stats') {
      ctx.reply(JSON.stringify({
        children: Object.keys(state.children).length, initialized: state.initialized.length,
        rejected: state.rejected, failed: state.failed,
      }))
      return
    }
    if (!command.startsWith('create:') || command.length === 'create:'.length) {
      throw new Error(`expected "create:<salt>" or "stats", got ${JSON.stringify(command)}`)
    }
    const salt = command.slice('create:'.length)
    // Every child counter starts at 0. The init message is enqueued only if this message succeeds.
    const child = ctx.createProgram(state.childCode, { salt, payload: '0', gasLimit: CHILD_INIT_GAS })
    state.children[salt] = child
    ctx.reply(child)
  },

  handleReply(ctx) {
    // The only messages this factory sends are child inits, so every reply here is an init's answer.
    const state = factory(ctx)
    const code = ctx.msg.replyCode
    if (code === ReplyCode.SUCCESS_AUTO || code === ReplyCode.SUCCESS_MANUAL) state.initialized.push(ctx.msg.source)
    else if (code === ReplyCode.PROGRAM_EXISTS) state.rejected += 1
    else state.failed.push(code ?? -1)
  },
})
