// A counter: the smallest useful program. State lives in ctx.state, which Strata persists in the program's
// 3D memory. Payload "inc" adds one, "add:N" adds N, anything else reads; every message is answered with the
// value as text.
import { defineProgram } from 'strata'

export default defineProgram({
  init(ctx) {
    ctx.state.count = Number(ctx.msg.text() || 0)
  },
  handle(ctx) {
    const command = ctx.msg.text()
    const count = ctx.state.count as number
    if (command === 'inc') ctx.state.count = count + 1
    else if (command.startsWith('add:')) ctx.state.count = count + Number(command.slice(4))
    ctx.reply(String(ctx.state.count))
  },
})
