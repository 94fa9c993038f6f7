// The adversarial suite (issue: contained programs): each attack class, performed through the public API by the
// programs in test/fixtures/programs/attacks, must fail with a typed error or a correct error reply, and leave the
// victims' results right. determinism.test.ts checks that the same workload gives the same roots and results for
// streams 0, 1, 2 and 4, under another time zone and locale, and after restarts with a resident budget of 0.
import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { ReplyCode, Runtime } from '../../src/index.js'
import { COMMANDS as RUNAWAY, COVERED } from '../fixtures/programs/attacks/runaway.js'
import { runWorkload, type Observed, type WorkloadResult } from './workload.js'

let run: WorkloadResult
const seen = (tag: string): Observed => {
  const observed = run.observed[tag]
  expect(observed, tag).toBeDefined()
  return observed!
}

beforeAll(async () => {
  run = await runWorkload(Runtime, { store: 'memory', streams: 2 })
}, 120_000)

describe('host escape', () => {
  it('every object a program can reach belongs to its own realm, and no path reaches the host', () => {
    const escape = seen('escape')
    expect(escape.replyCode).toBe(ReplyCode.SUCCESS_MANUAL)
    const report = JSON.parse(escape.reply!) as Record<string, string>
    expect(Object.keys(report).length).toBeGreaterThan(30)
    for (const [path, verdict] of Object.entries(report)) expect([path, verdict]).not.toEqual([path, expect.stringMatching(/ESCAPED|HOST/)])
    expect(report['replace prepareStackTrace']).toBe('threw:TypeError')
    expect(process.env.STRATA_PWNED).toBeUndefined()
  })
})

describe('the real global object', () => {
  it('no free name resolves on it: __proto__, process and the removed intrinsics are unreachable', () => {
    // Each is a binding of the message's own, initialized to undefined: a write to one dies with the message.
    const expected = { readProto: 'undefined', writeProto: 'undefined', process: 'undefined', webAssembly: 'undefined', promise: 'undefined' }
    // In the message that wrote it, __proto__ holds what it wrote; the next message starts from undefined again.
    expect(JSON.parse(seen('realm globals').reply!)).toEqual({ ...expected, readAfterWrite: '1' })
    expect(JSON.parse(seen('realm globals after a write').reply!)).toEqual({ ...expected, readAfterWrite: '1' })
  })

  it("RegExp's legacy statics do not exist, so no match leaks to the next message", () => {
    for (const tag of ['realm regexp write', 'realm regexp read same cycle', 'realm regexp read next cycle']) {
      expect(JSON.parse(seen(tag).reply!)).toEqual(['undefined', 'undefined', 'undefined'])
    }
  })

  it('the prototype of RE2-run patterns is frozen; recursion through builtins ends at the same depth everywhere', () => {
    expect(seen('realm plant on the RE2 prototype').reply).toBe('threw TypeError')
    expect(seen('realm deep through replace').replyCode).toBe(ReplyCode.STACK_LIMIT)
  })

  it('getYear and setYear are UTC', () => {
    expect(JSON.parse(seen('realm getYear').reply!)).toEqual([120, 1999])
  })

  it('a large frame counts for more depth: shallow recursion succeeds, deep recursion stops at the same point everywhere', () => {
    expect(seen('realm wide 60').replyCode).toBe(ReplyCode.SUCCESS_MANUAL)
    expect(seen('realm wide 1000').replyCode).toBe(ReplyCode.STACK_LIMIT)
  })
})

describe('forged effects', () => {
  it('ctx is frozen: a program speaks only as itself', () => {
    const mutate = seen('forge mutate ctx')
    const reply = JSON.parse(mutate.reply!) as { attempts: string[]; source: string }
    expect(reply.attempts).toEqual(['TypeError', 'TypeError', 'TypeError', 'TypeError'])
    expect(mutate.sent).toEqual(['from me'])
  })

  it.each([['mint gas'], ['give more than left']])('%s: out of gas, the whole limit burned, nothing sent', (text) => {
    const forged = seen(`forge ${text}`)
    expect(forged).toMatchObject({ replyCode: ReplyCode.OUT_OF_GAS, gasBurned: 20_000_000, sent: [] })
  })

  it('a wait cannot be caught, nor followed by effects in finally', () => {
    for (const text of ['catch wait', 'finally after wait']) {
      const waited = seen(`forge ${text}`)
      expect(waited.result).toBe('waited')
      expect(waited.sent).toEqual([])
    }
    // Parked, never woken: each times out with WAIT_TIMEOUT, the only reply it ever gets.
    expect(seen('forge catch wait').reply).toBe('')
  })

  it('out of gas cannot be caught, nor followed by work in finally', () => {
    for (const text of ['catch out of gas', 'finally after out of gas']) {
      expect(seen(`forge ${text}`)).toMatchObject({ replyCode: ReplyCode.OUT_OF_GAS, gasBurned: 20_000_000, sent: [] })
    }
  })

  it('a second reply is a syscall error; an exit is final; a state getter cannot act after a wait', () => {
    expect(seen('forge reply twice')).toMatchObject({ replyCode: ReplyCode.SYSCALL_ERROR, sent: [] })
    expect(seen('forge exit then send')).toMatchObject({ result: 'exited', sent: [] })
    expect(seen('forge effects from a state getter after wait')).toMatchObject({ replyCode: ReplyCode.SYSCALL_ERROR, sent: [] })
    expect(seen('forge thenable')).toMatchObject({ replyCode: ReplyCode.ASYNC_HANDLER, sent: [] })
  })
})

describe('cross-program interference and module state', () => {
  it('no intrinsic, global, library or ctx member can be changed', () => {
    const report = JSON.parse(seen('pollute').reply!) as Record<string, string>
    expect(Object.keys(report).length).toBeGreaterThan(15)
    for (const [change, result] of Object.entries(report)) expect([change, result]).toEqual([change, 'TypeError'])
  })

  it('a program of the same code, in the same cycle and the next, sees pristine intrinsics', () => {
    const pristine = ['2,4,6', '{"a":[1]}', true, 3, 'undefined', 'undefined', 2, 'function', 2, '1,2,3']
    expect(JSON.parse(seen('check same cycle').reply!)).toEqual(pristine)
    expect(JSON.parse(seen('check next cycle').reply!)).toEqual(pristine)
  })

  it('module variables start afresh on every message (and globalThis cannot carry state)', () => {
    expect(seen('count 1')).toMatchObject({ replyCode: ReplyCode.EXECUTION_ERROR })
    expect(seen('count 1').error).toMatch(/TypeError/)
  })

  it("a victim of another code counts right through all of it", () => {
    expect(['counter 1', 'counter 2', 'counter 3'].map((tag) => seen(tag).reply)).toEqual(['1', '2', '3'])
  })
})

describe('lying inputs', () => {
  it('a Uint8Array whose length says 1 stores all 8 bytes, and they are committed', () => {
    expect(JSON.parse(seen('lying store').reply!)).toEqual([Array(8).fill(7), Array(8).fill(9)])
    expect(JSON.parse(seen('lying read').reply!)).toEqual([Array(8).fill(7), Array(8).fill(9)])
  })

  it('a payload over the limit is refused whatever its length property says; an array-like is not bytes', () => {
    for (const text of ['big payload', 'big subclass payload', 'fake bytes']) {
      expect(seen(`lying ${text}`).replyCode).toBe(ReplyCode.SYSCALL_ERROR)
    }
  })
})

describe('environment', () => {
  it('dates are UTC, nothing is localized, traces carry no host path, and two runs see the same', () => {
    const first = seen('environment 1')
    expect(first.replyCode).toBe(ReplyCode.SUCCESS_MANUAL)
    const observed = JSON.parse(first.reply!) as Record<string, unknown>
    expect(observed.dateParts).toEqual([10, 0, 15, 3])
    expect(observed.dateStrings).toEqual(['Wed Jan 15 2020 10:30:00 GMT+0000 (Coordinated Universal Time)', 'Wed Jan 15 2020',
      '10:30:00 GMT+0000 (Coordinated Universal Time)', '2020-01-15T10:30:00.000Z', '2020-01-15', '10:30:00'])
    expect(observed.parse).toEqual([1579084200000, 1579046400000, 1579084200000, 1579077000000])
    expect(observed.intl).toBe('undefined')
    expect(observed.stack).toMatch(/^Error: where\n {4}at handle \(program:\d+:\d+\)/)
    expect(JSON.stringify(observed)).not.toMatch(/\/work|node:|file:|\.js/)
    expect(observed.deep).toBe(1900)
    // The same message content in another cycle: only the message-derived values differ.
    const second = JSON.parse(seen('environment 2').reply!) as Record<string, unknown>
    for (const key of ['dateParts', 'dateStrings', 'parse', 'numbers', 'strings', 'stack', 'keyOrder', 'json', 'math', 'sorted']) {
      expect(second[key], key).toEqual(observed[key])
    }
  })
})

describe('unmetered compute and memory', () => {
  it.each(RUNAWAY)('%s ends in an error reply, within its gas', (command) => {
    const observed = seen(`runaway ${command}`)
    expect(observed.result).toBe('error')
    expect([ReplyCode.OUT_OF_GAS, ReplyCode.STACK_LIMIT, ReplyCode.EXECUTION_ERROR]).toContain(observed.replyCode)
    expect(observed.gasBurned).toBeLessThanOrEqual(20_000_000)
    if (observed.replyCode === ReplyCode.EXECUTION_ERROR) expect(observed.error).toMatch(/RangeError|over Strata's limit|Invalid|Maximum|SyntaxError|TypeError/)
  })

  it.each(COVERED)('%s finishes within its gas', (command) => {
    const observed = seen(`runaway ${command}`)
    expect(observed.replyCode).toBe(ReplyCode.SUCCESS_MANUAL)
    expect(observed.reply).toBe('false')
  })
})

describe('hangs: the host never runs program code outside the metered window', () => {
  it.each(['getter on a thrown value', 'getter on a thrown name', 'getter on then', 'getter in state'])('%s runs out of gas', (text) => {
    expect(seen(`hangs ${text}`)).toMatchObject({ replyCode: ReplyCode.OUT_OF_GAS, gasBurned: 20_000_000 })
  })

  it('a function in state (toJSON) is never called: state is plain data', () => {
    expect(seen('hangs toJSON in state').replyCode).toBe(ReplyCode.STATE_ENCODING)
  })

  it('there are no promises, so no promise job can outlive its message', () => {
    expect(seen('hangs promise').reply).toBe('undefined')
  })

  it('console output is shown without running getters', () => {
    expect(seen('hangs console with getters').reply).toBe('logged')
  })

  it('async code is refused at upload', async () => {
    const rt = await Runtime.open({ store: 'memory', streams: 0 })
    try {
      const dir = mkdtempSync(path.join(os.tmpdir(), 'strata-async-'))
      const file = path.join(dir, 'async.ts')
      writeFileSync(file, "import { defineProgram } from 'strata'\nexport default defineProgram({ async handle(ctx) { ctx.reply('x') } })\n")
      await expect(rt.uploadCode(file)).rejects.toMatchObject({ code: 'BAD_CODE', message: expect.stringMatching(/async functions are not supported/) })
    } finally {
      await rt.close()
    }
  })
})

describe('code ids', () => {
  it('do not depend on where the program file lives', async () => {
    const rt = await Runtime.open({ store: 'memory', streams: 0 })
    try {
      const root = mkdtempSync(path.join(os.tmpdir(), 'strata-codeid-'))
      const deep = path.join(root, 'a', 'b', 'c')
      mkdirSync(deep, { recursive: true })
      copyFileSync('programs/counter.ts', path.join(root, 'counter.ts'))
      copyFileSync('programs/counter.ts', path.join(deep, 'counter.ts'))
      const ids = [await rt.uploadCode('programs/counter.ts'), await rt.uploadCode(path.join(root, 'counter.ts')),
        await rt.uploadCode(path.join(deep, 'counter.ts'))]
      expect(new Set(ids).size).toBe(1)
    } finally {
      await rt.close()
    }
  })

  it('do not depend on where a bundled CommonJS package lives relative to the program, and the program still runs', async () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'strata-codeid-cjs-'))
    mkdirSync(path.join(root, 'node_modules', 'cjspkg'), { recursive: true })
    writeFileSync(path.join(root, 'node_modules', 'cjspkg', 'package.json'), '{ "name": "cjspkg", "main": "index.js" }')
    writeFileSync(path.join(root, 'node_modules', 'cjspkg', 'index.js'), 'module.exports = { greet: (s) => "hi " + s }\n')
    const source = "import { defineProgram } from 'strata'\nimport { greet } from 'cjspkg'\nexport default defineProgram({ handle(ctx) { ctx.reply(greet(ctx.msg.text())) } })\n"
    const files = [path.join(root, 'a', 'p.ts'), path.join(root, 'b', 'c', 'd', 'p.ts')]
    for (const file of files) {
      mkdirSync(path.dirname(file), { recursive: true })
      writeFileSync(file, source)
    }
    const rt = await Runtime.open({ store: 'memory', streams: 0 })
    try {
      const [first, second] = [await rt.uploadCode(files[0]!), await rt.uploadCode(files[1]!)]
      expect(second).toBe(first)
      const id = await rt.createProgram(first, { gasLimit: 10_000_000 })
      await rt.runUntilIdle()
      expect(new TextDecoder().decode((await rt.query(id, new TextEncoder().encode('x'))).payload)).toBe('hi x')
    } finally {
      await rt.close()
    }
  })
})
