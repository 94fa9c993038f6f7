// The instrumentation: what it refuses, and that instrumented code computes what the plain code computes (each
// snippet runs through the engine and as plain JavaScript on the host, and the two results must agree).
import { describe, expect, it } from 'vitest'
import { GuestCode, RESERVED_PREFIX, computeWeights, instrument } from '../../../src/engine/index.js'
import { GAS_SCHEDULE } from '../../../src/gas/index.js'
import { ProgramMemory } from '../../../src/memory/index.js'
import { MessageKind, externalMessageId, type CodeId, type ProgramId, type UserId } from '../../../src/message/index.js'
import { ProgramStatus, executeMessage, type JournalEntry } from '../../../src/program/index.js'

const WEIGHTS = computeWeights(GAS_SCHEDULE)
const USER = '11'.repeat(32) as UserId
const PROGRAM = 'aa'.repeat(32) as ProgramId
const CODE = 'cc'.repeat(32) as CodeId

/** Runs `body` (statements ending in `return value`) as a handler; the reply is JSON of the value. */
function runInEngine(body: string, gasLimit = 50_000_000): JournalEntry {
  const source = `import { defineProgram } from 'strata'\nfunction compute() {\n${body}\n}\n`
    + 'export default defineProgram({ handle(ctx) { ctx.reply(JSON.stringify(compute(), (k, v) => typeof v === "bigint" ? `${v}n` : v)) } })\n'
  const code = GuestCode.compile(CODE, source, WEIGHTS)
  const id = externalMessageId(USER, 1)
  return executeMessage(
    { id, kind: MessageKind.HANDLE, source: USER, destination: PROGRAM, payload: new Uint8Array(0), gasLimit, origin: id },
    { id: PROGRAM, codeId: CODE, status: ProgramStatus.ACTIVE, stateAddress: null, creator: USER },
    new ProgramMemory(), code, { cycle: 1, schedule: GAS_SCHEDULE },
  )
}

function engineResult(body: string): string {
  const entry = runInEngine(body)
  expect(entry.outcome.error).toBeUndefined()
  return new TextDecoder().decode(entry.outgoing[0]!.payload)
}

function plainResult(body: string): string {
  // eslint-disable-next-line @typescript-eslint/no-implied-eval
  const value = new Function(`'use strict';\n${body}`)() as unknown
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v))
}

describe('instrumented code computes what plain code computes', () => {
  it.each<[string, string]>([
    ['an empty arrow and an object-literal arrow', 'const f = () => {}; const g = () => ({ a: 1 }); return [f(), g()]'],
    ['nested expression arrows', 'const add = (x) => (y) => (z) => x + y + z; return add(1)(2)(3)'],
    ['a for loop with break and continue', 'let s = 0; for (let i = 0; ; i++) { if (i % 2) continue; if (i > 20) break; s += i } return s'],
    ['labelled loops', 'let n = 0; outer: for (let i = 0; i < 5; i++) for (let j = 0; j < 5; j++) { if (j > i) continue outer; n++ } return n'],
    ['loops without braces', 'let a = 0, b = 0, c = 10; while (c > 0) c--; do a++; while (a < 3); for (const x of [1, 2, 3]) b += x; for (const k in { p: 1, q: 2 }) b += k.length; return [a, b, c]'],
    ['try, catch, finally with returns', 'function f() { try { throw new Error("x") } catch (e) { return "caught " + e.message } finally { } } function g() { try { return 1 } finally { return 2 } } return [f(), g()]'],
    ['catch with destructuring and without a binding', 'let r = []; try { throw { message: "m", code: 7 } } catch ({ message, code = 1 }) { r.push(message, code) } try { null.x } catch { r.push("none") } return r'],
    ['classes: fields, getters, static blocks, private members', 'class A { #n = 2; static s = 0; static { A.s = 5 } get n() { return this.#n } grow() { this.#n *= 3; this.#n **= 2; this.#n <<= 1; return this.#n } } const a = new A(); return [a.n, a.grow(), A.s]'],
    ['generators and yield*', 'function* inner() { yield 1; yield 2 } function* outer() { yield 0; yield* inner(); return 9 } return [...outer()]'],
    ['default parameters and destructuring', 'function f({ a = 1, b: [c, ...rest] = [2, 3, 4] } = {}, d = a + c) { return [a, c, rest, d] } return [f(), f({ a: 5, b: [6] })]'],
    ['spreads in calls, arrays and objects', 'const xs = [3, 1, 2]; return [Math.max(...xs), [...xs, ...("ab")], { ...{ p: 1 }, q: 2 }, [...new Set([1, 1, 2])]]'],
    ['array rest in declarations and assignments', 'const [a, ...b] = [1, 2, 3]; let c, d; [c, ...d] = "xyz"; return [a, b, c, d]'],
    ['exponent, product and shift on numbers, strings and bigints', 'let x = 3n; x *= 4n; x **= 2n; x <<= 3n; let y = 2; y *= 3; const o = { v: 5n, k: [2] }; o.v *= 2n; o["k"][0] **= 3; return [2 ** 3 ** 2, (-2) ** 2, "3" * "4", 1 << 3, 2n ** 64n, 7n * 6n, 1n << 70n, x, y, o]'],
    ['computed compound assignment evaluates its key once', 'const a = [1, 2, 3]; let i = 0; a[i++] *= 10; a[i++] *= 10; return [a, i]'],
    ['template literals, tagged templates, new.target, arguments', 'function T() { return new.target === T } function tag(s, ...v) { return s.raw.join("|") + v.join(",") } function args() { return arguments.length } return [`a${1 + 1}b`, tag`x${1}y${2}z`, new T() instanceof T, args(1, 2, 3)]'],
    ['getters and setters in object literals', 'let log = []; const o = { _v: 1, get v() { log.push("get"); return this._v }, set v(x) { log.push("set"); this._v = x } }; o.v = o.v + 1; return [o.v, log]'],
    ['a function-level directive stays first', 'function f() { "use strict"; return typeof this } return f()'],
    ['rewrites at the start of a statement without semicolons (ASI)', 'const o = { a: 1, b: 2 }\nlet x = 3, y = 4, z = 0\nz = o.a + o.b\ndelete o.a\nz += x\nx * y > 1 && (z += 100)\nreturn [o, z]'],
    ['recursion within the depth limit', 'function fib(n) { return n < 2 ? n : fib(n - 1) + fib(n - 2) } function depth(n) { return n === 0 ? 0 : 1 + depth(n - 1) } return [fib(20), depth(1500)]'],
  ])('%s', (_name, body) => {
    expect(engineResult(body)).toBe(plainResult(body))
  })
})

describe('what the instrumentation refuses', () => {
  it.each<[string, string, RegExp]>([
    ['dynamic import', "export default { handle() { import('x') } }", /dynamic import\(\) is not available/],
    ['import.meta', 'export default { handle() { return import.meta.url } }', /import.meta is not available/],
    ['an async function', 'export default { async handle() {} }', /async functions are not supported/],
    ['an async arrow', 'const f = async () => 1; export default { handle() {} }', /async functions are not supported/],
    ['a top-level await', 'await 1; export default { handle() {} }', /await is not supported/],
    ['a top-level for await', 'for await (const y of []) {} export default { handle() {} }', /for await is not supported/],
    ['an import from another module', "import fs from 'fs'; export default { handle() {} }", /programs import only 'strata'/],
    ["a default import of 'strata'", "import s from 'strata'; export default { handle() {} }", /'strata' has no default export/],
    ['a re-export', "export * from 'strata'", /re-exports are not supported/],
    ['a reserved name', `const ${RESERVED_PREFIX}_g = 1; export default { handle() {} }`, /is reserved/],
    ['a reserved property name', `export default { handle() { return this.${RESERVED_PREFIX}x } }`, /is reserved/],
    ['a reserved name as a compound target', `export default { handle() { ${RESERVED_PREFIX}_g *= 0 } }`, /is reserved/],
    ['a reserved name as an operand', `export default { handle(x) { return x * ${RESERVED_PREFIX}_a0 } }`, /is reserved/],
  ])('%s', (_name, source, message) => {
    expect(() => instrument(source, WEIGHTS)).toThrow(message)
    try {
      instrument(source, WEIGHTS)
    } catch (error) {
      expect((error as { code?: string }).code).toBe('BAD_CODE')
    }
  })

  it('reports a syntax error with BAD_CODE', () => {
    expect(() => instrument('export default {', WEIGHTS)).toThrow(/does not parse/)
  })
})

describe('gas is a function of the code alone', () => {
  it('charges a function entry its static size, the same every time', () => {
    const body = 'let s = 0; for (let i = 0; i < 1000; i++) s += i; return s'
    const first = runInEngine(body).outcome.gasBurned
    for (let i = 0; i < 5; i += 1) expect(runInEngine(body).outcome.gasBurned).toBe(first)
  })

  it('a loop costs gas per iteration: ten times the iterations, about ten times the loop gas', () => {
    const gas = (n: number): number => runInEngine(`let s = 0; for (let i = 0; i < ${n}; i++) s += i; return s`).outcome.gasBurned
    const base = gas(0)
    const ratio = (gas(10_000) - base) / (gas(1000) - base)
    expect(ratio).toBeGreaterThan(9.9)
    expect(ratio).toBeLessThan(10.1)
  })

  it('runaway recursion stops at the depth limit with STACK_LIMIT, deterministically', () => {
    const entries = [0, 1].map(() => runInEngine('function f(n) { return f(n + 1) + 1 } return f(0)'))
    expect(entries[0]!.outcome.replyCode).toBe(0x19)
    expect(entries[0]!.outcome.gasBurned).toBe(entries[1]!.outcome.gasBurned)
  })
})
