// Compute gas is a function of the code and the message alone: random straight-line and looping programs burn
// identical gas, and reply identically, on streams 0 and 2, after a restart on LMDB with a resident budget of 0,
// and on a second run. An infinite loop always runs out of gas at the same point (its last log line).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import fc from 'fast-check'
import { afterAll, describe, expect, it } from 'vitest'
import { ReplyCode, Runtime, type MessageOutcome, type RuntimeOptions } from '../../src/index.js'

const USER = 'c4'.repeat(32)
const GAS = 50_000_000
const dir = mkdtempSync(path.join(os.tmpdir(), 'strata-engine-gas-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const VARS = ['a', 'b', 'c']
const variable = fc.constantFrom(...VARS)
const expression: fc.Arbitrary<string> = fc.letrec<{ expr: string }>((tie) => ({
  expr: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.integer({ min: -1000, max: 1000 }).map(String),
    variable,
    fc.constantFrom('xs.length', 's.length', "Object.keys(o).length"),
    fc.tuple(tie('expr'), fc.constantFrom('+', '-', '*', '%', '&', '^'), tie('expr'))
      .map(([l, op, r]) => (op === '%' ? `((${l}) % ((${r}) | 1) | 0)` : `((${l}) ${op} (${r}) | 0)`)),
    fc.tuple(tie('expr'), tie('expr')).map(([l, r]) => `Math.max(${l}, ${r})`),
  ),
})).expr

const statement: fc.Arbitrary<string> = fc.letrec<{ stmt: string }>((tie) => ({
  stmt: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.tuple(variable, expression).map(([v, e]) => `${v} = ${e};`),
    expression.map((e) => `xs.push(${e}); if (xs.length > 50) xs.splice(0, 10);`),
    expression.map((e) => `s = (s + String(${e})).slice(-40);`),
    expression.map((e) => `o['k' + ((${e}) & 7)] = s.length;`),
    expression.map((e) => `s = JSON.stringify([xs.slice(0, 3), ${e}]).padStart(8, '.');`),
    fc.tuple(expression, expression, fc.array(tie('stmt'), { maxLength: 3 }), fc.array(tie('stmt'), { maxLength: 3 }))
      .map(([l, r, yes, no]) => `if ((${l}) > (${r})) { ${yes.join(' ')} } else { ${no.join(' ')} }`),
    fc.tuple(fc.integer({ min: 0, max: 40 }), fc.array(tie('stmt'), { maxLength: 4 }))
      .map(([n, body]) => `for (let i = 0; i < ${n}; i++) { ${body.join(' ')} }`),
    fc.array(tie('stmt'), { maxLength: 3 }).map((body) => `(() => { ${body.join(' ')} })();`),
  ),
})).stmt

const program = fc.tuple(fc.array(statement, { minLength: 1, maxLength: 12 }), fc.boolean()).map(([body, endless]) => ({
  source: `import { defineProgram } from 'strata'
export default defineProgram({
  handle(ctx) {
    let a = ctx.msg.payload.length, b = 7, c = -3, s = '', n = 0
    const xs: number[] = [], o: Record<string, number> = {}
    ${endless ? 'for (;;) {' : ''}
    ${body.join('\n    ')}
    ${endless ? 'n++; if ((n & (n - 1)) === 0) console.log(n, a, b, c, s.length) }' : ''}
    ctx.reply(JSON.stringify([a, b, c, s, xs, o]))
  },
})
`,
  endless,
}))

interface Run {
  readonly outcomes: { readonly replyCode: number | null; readonly gasBurned: number; readonly lastLog: string | undefined }[]
  readonly replies: string[]
}

async function runAll(files: readonly string[], options: RuntimeOptions, reopen = false): Promise<Run> {
  let rt = await Runtime.open(options)
  try {
    const ids: string[] = []
    for (const file of files) ids.push(await rt.createProgram(await rt.uploadCode(file), { gasLimit: GAS, salt: new TextEncoder().encode(file) }))
    await rt.runUntilIdle()
    if (reopen) {
      await rt.close()
      rt = await Runtime.open(options)
    }
    const seen = new Map<string, MessageOutcome>()
    rt.on('message', (o) => seen.set(o.messageId, o))
    const sent = ids.map((id) => rt.send({ source: USER, destination: id, payload: new TextEncoder().encode('xyz'), gasLimit: GAS }))
    await rt.runUntilIdle()
    return {
      outcomes: sent.map((id) => {
        const o = seen.get(id)!
        return { replyCode: o.replyCode, gasBurned: o.gasBurned, lastLog: o.logs.at(-1) }
      }),
      replies: sent.map((id) => new TextDecoder().decode(rt.mailbox(USER).find((e) => e.message.replyTo === id)?.message.payload ?? new Uint8Array(0))),
    }
  } finally {
    await rt.close()
  }
}

let batch = 0
describe('compute gas is deterministic', () => {
  it('random programs burn the same gas and reply the same on every stream count, after a restart, and again', async () => {
    await fc.assert(fc.asyncProperty(fc.array(program, { minLength: 8, maxLength: 8 }), async (programs) => {
      batch += 1
      const files = programs.map(({ source }, i) => {
        const file = path.join(dir, `p${batch}_${i}.ts`)
        writeFileSync(file, source)
        return file
      })
      const reference = await runAll(files, { store: 'memory', streams: 0 })
      const dataDir = mkdtempSync(path.join(dir, 'lmdb-'))
      const others = [
        await runAll(files, { store: 'memory', streams: 2 }),
        await runAll(files, { dataDir, streams: 2, sync: false, residentBytesMax: 0 }, true),
        await runAll(files, { store: 'memory', streams: 0 }),
      ]
      for (const other of others) expect(other).toEqual(reference)
      programs.forEach(({ endless }, i) => {
        const outcome = reference.outcomes[i]!
        if (endless) {
          // An infinite loop: out of gas, the whole limit burned, at the same iteration every time (its last log
          // line, at a power of two, agrees across every run above).
          expect(outcome).toMatchObject({ replyCode: ReplyCode.OUT_OF_GAS, gasBurned: GAS })
          expect(outcome.lastLog).toMatch(/^\d+ /)
        } else {
          expect(outcome.gasBurned).toBeGreaterThan(0)
        }
      })
    }), { numRuns: 3, seed: 20261202 })
  }, 240_000)
})
