import { afterEach, describe, expect, it } from 'vitest'
import {
  ExecutionResult, ReplyCode, Runtime, type MessageOutcome, type ProgramId, type RuntimeOptions,
} from '../../src/index.js'

const USER = '11'.repeat(32)
const OTHER = '22'.repeat(32)
const PROBE = 'test/fixtures/programs/probe.ts'
const GAS = 50_000_000
const encode = (value: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(value))
const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes)

let open: Runtime[] = []
afterEach(async () => {
  await Promise.all(open.map((rt) => rt.close()))
  open = []
})

async function setup(options: RuntimeOptions = {}, initSteps: unknown[] = []) {
  const rt = await Runtime.open({ store: 'memory', streams: 0, ...options })
  open.push(rt)
  const code = await rt.uploadCode(PROBE)
  const pid = await rt.createProgram(code, { gasLimit: GAS, payload: initSteps.length ? encode(initSteps) : new Uint8Array(0) })
  await rt.runCycle()
  const outcomes: MessageOutcome[] = []
  rt.on('message', (o) => outcomes.push(o))
  const send = async (steps: unknown[], gasLimit = GAS, source = USER): Promise<MessageOutcome> => {
    const id = rt.send({ source, destination: pid, payload: encode(steps), gasLimit })
    await rt.runCycle()
    return outcomes.find((o) => o.messageId === id)!
  }
  return { rt, code, pid, outcomes, send }
}

/** Everything a failed message must leave untouched: allocations, their bytes, memory stats, state. */
async function observe(rt: Runtime, pid: ProgramId) {
  const view = rt.program(pid)
  const { gasByClass: _gas, ...stats } = view.stats()
  const allocations = view.allocations()
  const state = await rt.query(pid, encode([{ do: 'dump' }]))
  return {
    allocations, stats, bytes: allocations.map((a) => Buffer.from(view.read(a.address, a.size)).toString('hex')),
    state: text(state.payload), record: view.record(),
  }
}

describe('failed messages roll back exactly', () => {
  const prepare = [
    { do: 'alloc', size: 100, as: 'a' }, { do: 'store', at: 'a', text: 'original' }, { do: 'state', set: { x: 1 } },
  ]
  const mutate = [
    { do: 'alloc', size: 300, as: 'b' }, { do: 'store', at: 'b', text: 'new data' }, { do: 'state', set: { x: 2, y: 'new' } },
    { do: 'send', to: OTHER, text: 'must not leak', gas: 1000 },
  ]
  // Out-of-gas cases get a smaller limit so the loops that exhaust it stay short.
  const OOG_GAS = 2_000_000
  it.each<[string, unknown[], number, RuntimeOptions?]>([
    ['a thrown Error', [{ do: 'throw' }], ReplyCode.EXECUTION_ERROR],
    ['a thrown string', [{ do: 'throw', kind: 'string' }], ReplyCode.EXECUTION_ERROR],
    ['a thrown undefined', [{ do: 'throw', kind: 'undefined' }], ReplyCode.EXECUTION_ERROR],
    ['a thrown number', [{ do: 'throw', kind: 'number' }], ReplyCode.EXECUTION_ERROR],
    ['a thrown cyclic object', [{ do: 'throw', kind: 'cyclic' }], ReplyCode.EXECUTION_ERROR],
    ['running out of gas', [{ do: 'burn' }], ReplyCode.OUT_OF_GAS],
    ['out of gas that the program caught', [{ do: 'catchOog' }], ReplyCode.OUT_OF_GAS],
    ['a memory fault (use after free)', [{ do: 'alloc', size: 8, as: 'c' }, { do: 'free', at: 'c' }, { do: 'load', at: 'c', length: 1 }], ReplyCode.MEMORY_FAULT],
    ['an access past an allocation', [{ do: 'load', at: 'b', offset: 290, length: 20 }], ReplyCode.MEMORY_FAULT],
    ['the memory budget', [{ do: 'grow' }], ReplyCode.MEMORY_BUDGET_EXCEEDED, { planesMax: 16 }],
    ['an async handler', [{ do: 'async' }], ReplyCode.ASYNC_HANDLER],
    ['a function in state', [{ do: 'stateFn' }], ReplyCode.STATE_ENCODING],
    ['a cycle in state', [{ do: 'stateCycle' }], ReplyCode.STATE_ENCODING],
    ['a second reply', [{ do: 'secondReply' }], ReplyCode.SYSCALL_ERROR],
    ['a send to a malformed id', [{ do: 'badSend' }], ReplyCode.SYSCALL_ERROR],
    ['a payload over the limit', [{ do: 'bigPayload' }], ReplyCode.SYSCALL_ERROR],
  ])('after %s', async (_name, failing, replyCode, options) => {
    const { rt, pid, send } = await setup(options ?? {}, prepare)
    const before = await observe(rt, pid)
    const limit = replyCode === ReplyCode.OUT_OF_GAS ? OOG_GAS : GAS
    const outcome = await send([...mutate, ...failing], limit)
    expect(outcome).toMatchObject({ result: ExecutionResult.ERROR, replyCode })
    expect(await observe(rt, pid)).toEqual(before)
    expect(rt.mailbox(OTHER)).toEqual([])
    const [reply] = rt.mailbox(USER).map((e) => e.message)
    expect(reply).toMatchObject({ replyCode, replyTo: outcome.messageId })
    if (replyCode === ReplyCode.OUT_OF_GAS) expect(outcome.gasBurned).toBe(limit)
    else expect(outcome.gasBurned).toBeGreaterThan(0)
    // The error reply carries back everything that was not burned: conservation for the failed message.
    expect(outcome.gasBurned + reply!.gasLimit).toBe(limit)
    expect(text(reply!.payload).length).toBeGreaterThan(0)
  })

  it('a memory fault the program catches is not a failure', async () => {
    const { send } = await setup()
    const outcome = await send([{ do: 'catchFault' }])
    expect(outcome.result).toBe(ExecutionResult.SUCCESS)
  })
})

describe('the sandbox is deterministic', () => {
  it.each([
    ['Date.now', 'dateNow', /Date.now is not available/],
    ['new Date()', 'newDate', /wall clock/],
    ['Math.random', 'mathRandom', /ctx.random/],
    ['eval (it does not exist)', 'eval', /eval is not defined/],
    ['new Function', 'fn', /Code generation from strings disallowed/],
    ['changing a frozen intrinsic', 'proto', /object is not extensible|Cannot add property/],
  ])('%s fails with an execution error', async (_name, step, message) => {
    const { send } = await setup()
    const outcome = await send([{ do: step }])
    expect(outcome.replyCode).toBe(ReplyCode.EXECUTION_ERROR)
    expect(outcome.error).toMatch(message)
  })

  it('offers deterministic replacements and hides nondeterministic globals', async () => {
    const { rt, pid } = await setup()
    const result = await rt.query(pid, encode([{ do: 'fixedDate' }, { do: 'random' }, { do: 'random' }, { do: 'cycle' }, { do: 'globals' }]))
    const [date, r1, r2, cycle, globals] = JSON.parse(text(result.payload)) as [string, number, number, number, string[]]
    expect(date).toBe('1970-01-01T00:00:00.000Z')
    expect(r1).not.toBe(r2)
    expect(r1).toBeGreaterThanOrEqual(0)
    expect(r1).toBeLessThan(1)
    expect(cycle).toBe(2)
    expect(globals).toEqual(['undefined', 'undefined', 'undefined', 'undefined', 'undefined', 'undefined'])
    // The same message id draws the same numbers.
    const again = await rt.query(pid, encode([{ do: 'fixedDate' }, { do: 'random' }, { do: 'random' }, { do: 'cycle' }, { do: 'globals' }]))
    expect(text(again.payload)).toBe(text(result.payload))
  })

  it('captures console output per message', async () => {
    const { send } = await setup()
    const outcome = await send([{ do: 'log', text: 'hello' }])
    expect(outcome.logs).toEqual(["hello { n: 1 }"])
  })
})

describe('code upload', () => {
  it('the same source gives the same code id; the blob runs without the source', async () => {
    const rt = await Runtime.open({ store: 'memory', streams: 0 })
    open.push(rt)
    expect(await rt.uploadCode(PROBE)).toBe(await rt.uploadCode(PROBE))
  })

  it.each([
    ['a syntax error', 'syntax_error.ts', /cannot bundle/],
    ['no default export', 'no_default.ts', /no valid default export/],
    ['a Node built-in import', 'imports_fs.ts', /Node built-in 'node:fs' is not allowed/],
    ['a bare built-in import', 'imports_os.ts', /Node built-in 'os' is not allowed/],
    ['a throwing top level', 'throws_at_load.ts', /failed to load: Error: top level/],
    ['a missing file', 'does_not_exist.ts', /no program file/],
  ])('rejects %s with BAD_CODE', async (_name, file, message) => {
    const rt = await Runtime.open({ store: 'memory', streams: 0 })
    open.push(rt)
    await expect(rt.uploadCode(`test/fixtures/programs/bad/${file}`)).rejects.toMatchObject({ code: 'BAD_CODE', message: expect.stringMatching(message) })
    expect(rt.codeIds()).toEqual([])
  })
})

describe('messages between actors', () => {
  it('delivers sends to user mailboxes with their gas refunded, and replies to programs', async () => {
    const { rt, pid, send } = await setup()
    const outcome = await send([{ do: 'send', to: OTHER, text: 'hi', gas: 500 }])
    expect(outcome.result).toBe(ExecutionResult.SUCCESS)
    expect(rt.mailbox(OTHER).map((e) => text(e.message.payload))).toEqual(['hi'])
    // Ask it to message itself: the handle fails (payload is not steps) and the error reply comes back.
    await send([{ do: 'send', to: pid, text: 'not json', gas: 1_000_000 }])
    await rt.runUntilIdle()
    const state = await rt.query(pid, encode([{ do: 'dump' }]))
    const replies = (JSON.parse(text(state.payload)) as [{ replies: [number, string][] }])[0].replies
    expect(replies.some(([code]) => code === ReplyCode.EXECUTION_ERROR)).toBe(true)
  })

  it('delays a send by the number of cycles asked', async () => {
    const { rt, pid, send } = await setup()
    const ran: [string, number][] = []
    rt.on('message', (o) => ran.push([o.messageId, rt.cycle]))
    const sender = await send([{ do: 'send', to: pid, text: '[]', gas: 1_000_000, delay: 3 }])
    const sentIn = rt.cycle
    const [delayedId] = JSON.parse(text(rt.mailbox(USER).at(-1)!.message.payload)) as [string]
    expect(sender.result).toBe(ExecutionResult.SUCCESS)
    await rt.runUntilIdle()
    // Sent in cycle c with delay d: processed in cycle c + 1 + d.
    expect(ran.find(([id]) => id === delayedId)?.[1]).toBe(sentIn + 1 + 3)
  })

  it('wait parks a message until wake; an unwoken wait times out with WAIT_TIMEOUT', async () => {
    const { rt, pid, send } = await setup()
    const waited = await send([{ do: 'state', set: { before: true } }, { do: 'wait', cycles: 3 }])
    expect(waited.result).toBe(ExecutionResult.WAITED)
    // The changes made before wait are kept.
    expect(text((await rt.query(pid, encode([{ do: 'dump' }]))).payload)).toContain('"before":true')
    const woken = await send([{ do: 'wake', id: waited.messageId }])
    expect(woken.result).toBe(ExecutionResult.SUCCESS)
    expect(rt.queueLength).toBe(1)
    // Re-executed from the start: it waits again, then times out after 3 cycles.
    await rt.runUntilIdle({ maxCycles: 10 })
    const codes = rt.mailbox(USER).map((e) => e.message.replyCode)
    expect(codes).toContain(ReplyCode.WAIT_TIMEOUT)
  })

  it('createProgram checks the code and the id when the journal is applied', async () => {
    const { rt, code, pid, send } = await setup()
    const created = await send([{ do: 'create', code, salt: 's', gas: 5_000_000 }, { do: 'create', code, salt: 's', gas: 5_000_000 }, { do: 'create', code: 'ee'.repeat(32), gas: 5_000_000 }])
    const [child] = JSON.parse(text(rt.mailbox(USER).at(-1)!.message.payload)) as [ProgramId]
    expect(created.result).toBe(ExecutionResult.SUCCESS)
    await rt.runUntilIdle()
    expect(rt.program(child).record()).toMatchObject({ status: 'active', creator: pid })
    const state = JSON.parse(text((await rt.query(pid, encode([{ do: 'dump' }]))).payload)) as [{ replies: [number, string][] }]
    expect(state[0].replies.map(([c]) => c).sort()).toEqual([ReplyCode.SUCCESS_AUTO, ReplyCode.PROGRAM_EXISTS, ReplyCode.CODE_NOT_FOUND].sort())
  })

  it('exit drops the program; later messages get PROGRAM_EXITED; the inheritor gets a signal', async () => {
    const { rt, pid, send } = await setup()
    await send([{ do: 'alloc', size: 100, as: 'a' }, { do: 'store', at: 'a', text: 'x' }])
    const exited = await send([{ do: 'exit', to: OTHER }])
    expect(exited.result).toBe(ExecutionResult.EXITED)
    expect(rt.program(pid).record().status).toBe('exited')
    expect(rt.mailbox(OTHER).map((e) => e.message.kind)).toEqual(['signal'])
    const after = await send([])
    expect(after).toMatchObject({ result: ExecutionResult.SKIPPED, replyCode: ReplyCode.PROGRAM_EXITED })
  })
})

describe('query and estimateGas', () => {
  it('query changes nothing', async () => {
    const { rt, pid } = await setup()
    const before = await observe(rt, pid)
    const result = await rt.query(pid, encode([{ do: 'alloc', size: 10, as: 'a' }, { do: 'state', set: { q: 1 } }, { do: 'send', to: OTHER, text: 'x' }, { do: 'dump' }]))
    expect(text(result.payload)).toContain('"q":1')
    expect(await observe(rt, pid)).toEqual(before)
    expect(rt.mailbox(OTHER)).toEqual([])
    expect(rt.queueLength).toBe(0)
  })

  it('estimateGas is the least limit that succeeds', async () => {
    const { rt, pid, send } = await setup()
    const payload = encode([{ do: 'alloc', size: 1000, as: 'a' }, { do: 'store', at: 'a', text: 'abc' }, { do: 'state', set: { n: 5 } }])
    const estimate = await rt.estimateGas({ destination: pid, payload })
    expect(estimate).toBeGreaterThan(0)
    const tooLittle = rt.send({ source: USER, destination: pid, payload, gasLimit: estimate! - 1 })
    const enough = rt.send({ source: USER, destination: pid, payload, gasLimit: estimate! })
    const outcomes: MessageOutcome[] = []
    rt.on('message', (o) => outcomes.push(o))
    await rt.runCycle()
    expect(outcomes.find((o) => o.messageId === tooLittle)!.result).toBe(ExecutionResult.ERROR)
    expect(outcomes.find((o) => o.messageId === enough)!.result).toBe(ExecutionResult.SUCCESS)
    void send
  })
})
