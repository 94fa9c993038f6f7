// The executor against real guest code: handlers are program source, compiled by the engine. The schedule has its
// compute rows at zero, so each figure below is the syscall and memory pricing alone.
import { describe, expect, it } from 'vitest'
import { GuestCode, computeWeights } from '../../../src/engine/index.js'
import { NO_COMPUTE_SCHEDULE, gasCost } from '../../../src/gas/index.js'
import { ProgramMemory } from '../../../src/memory/index.js'
import {
  MessageKind, ReplyCode, childMessageId, externalMessageId, type Message, type MessageId, type ProgramId,
  type UserId, type CodeId,
} from '../../../src/message/index.js'
import {
  ExecutionResult, ProgramStatus, executeMessage, type JournalEntry, type ProgramRecord,
} from '../../../src/program/index.js'

const USER = '11'.repeat(32) as UserId
const PROGRAM = 'aa'.repeat(32) as ProgramId
const CODE = 'cc'.repeat(32) as CodeId
const S = NO_COMPUTE_SCHEDULE

type Handlers = Partial<Record<'init' | 'handle' | 'handleReply' | 'handleSignal', string>>

/** A program whose handlers are the given source texts (USER and CODE are in scope). */
function code(handlers: Handlers): GuestCode {
  const fields = Object.entries({ handle: '() => {}', ...handlers }).map(([name, source]) => `${name}: ${source}`)
  const source = `import { defineProgram } from 'strata'\nconst USER = '${USER}', CODE = '${CODE}'\n`
    + `export default defineProgram({ ${fields.join(', ')} })\n`
  return GuestCode.compile(CODE, source, computeWeights(S))
}

function record(status: ProgramRecord['status'] = ProgramStatus.ACTIVE): ProgramRecord {
  return { id: PROGRAM, codeId: CODE, status, stateAddress: null, creator: USER }
}

function message(fields: Partial<Message> = {}): Message {
  const id = externalMessageId(USER, 7)
  return {
    id, kind: MessageKind.HANDLE, source: USER, destination: PROGRAM, payload: new Uint8Array(0), gasLimit: 1_000_000,
    origin: id, ...fields,
  }
}

function run(handle: string, fields: Partial<Message> = {}, memory = new ProgramMemory()): JournalEntry {
  return executeMessage(message(fields), record(), memory, code({ handle }), { cycle: 3, schedule: S })
}

/** limit = burned + refunded + gas carried by emitted and parked messages: gas conservation, per message. */
function expectConserved(entry: JournalEntry, limit: number): void {
  const carried = entry.outgoing.reduce((sum, m) => sum + m.gasLimit, 0) + (entry.wait?.message.gasLimit ?? 0)
  expect(entry.outcome.gasBurned + entry.outcome.gasRefunded + carried).toBe(limit)
}

const messageFee = gasCost(S, 'message', 0)

describe('executor gas, per syscall', () => {
  const stateBytes = 4 // msgpack of { a: 1 }: 0x81 0xa1 'a' 0x01
  const pageFirstWrite = S.pageRead.base + S.pageWrite.base
  it.each<[string, string, number]>([
    ['an empty handler', '() => {}', 0],
    ['reply of 5 bytes', "(ctx) => ctx.reply('hello')", gasCost(S, 'reply', 5)],
    ['send of 3 bytes giving 100 gas', "(ctx) => ctx.send(USER, 'abc', { gasLimit: 100 })", gasCost(S, 'send', 3)],
    ['random', '(ctx) => ctx.random()', gasCost(S, 'random')],
    ['wake', "(ctx) => ctx.wake('ff'.repeat(32))", gasCost(S, 'wake')],
    ['wait', '(ctx) => ctx.wait()', gasCost(S, 'wait')],
    ['exit', '(ctx) => ctx.exit(USER)', gasCost(S, 'exit')],
    ['createProgram with 4 payload bytes', "(ctx) => ctx.createProgram(CODE, { payload: 'init', gasLimit: 1000 })", gasCost(S, 'createProgram', 4)],
    ['reading an empty state', '(ctx) => ctx.state', 0],
    ['saving state { a: 1 }', '(ctx) => { ctx.state.a = 1 }',
      gasCost(S, 'stateSave', stateBytes) + gasCost(S, 'alloc', 16) + gasCost(S, 'alloc', 64)
      + gasCost(S, 'store', stateBytes) + gasCost(S, 'store', 16) + 2 * pageFirstWrite],
    ['alloc + store + load of 256 bytes', `(ctx) => {
      const a = ctx.mem.alloc(256)
      ctx.mem.store(a, new Uint8Array(256))
      ctx.mem.load(a, 256)
    }`, gasCost(S, 'alloc', 256) + gasCost(S, 'store', 256) + gasCost(S, 'load', 256) + pageFirstWrite],
  ])('%s', (_name, handle, syscallGas) => {
    const entry = run(handle)
    expect(entry.outcome.gasBurned).toBe(messageFee + syscallGas)
    expectConserved(entry, 1_000_000)
  })

  it('charges the message fee per payload byte', () => {
    expect(run('() => {}', { payload: new Uint8Array(100) }).outcome.gasBurned).toBe(gasCost(S, 'message', 100))
  })

  it('a limit below the message fee fails out of gas and burns the whole limit', () => {
    const entry = run('() => {}', { gasLimit: messageFee - 1 })
    expect(entry.outcome).toMatchObject({ result: ExecutionResult.ERROR, replyCode: ReplyCode.OUT_OF_GAS, gasBurned: messageFee - 1 })
    expectConserved(entry, messageFee - 1)
  })
})

describe('executor replies', () => {
  it('replies automatically with the unused gas on success', () => {
    const entry = run('() => {}')
    expect(entry.outgoing).toHaveLength(1)
    expect(entry.outgoing[0]).toMatchObject({
      kind: MessageKind.REPLY, destination: USER, replyCode: ReplyCode.SUCCESS_AUTO, gasLimit: 1_000_000 - messageFee,
    })
  })

  it('a manual reply carries the unused gas unless it names its own', () => {
    const implicit = run("(ctx) => ctx.reply('x')")
    expect(implicit.outgoing[0]!.gasLimit).toBe(1_000_000 - implicit.outcome.gasBurned)
    const explicit = run("(ctx) => ctx.reply('x', { gasLimit: 10 })")
    expect(explicit.outgoing[0]!.gasLimit).toBe(10)
    expect(explicit.outcome.gasRefunded).toBe(1_000_000 - explicit.outcome.gasBurned - 10)
    expectConserved(explicit, 1_000_000)
  })

  it('reply and signal messages get no reply; their unused gas is refunded', () => {
    for (const kind of [MessageKind.REPLY, MessageKind.SIGNAL]) {
      const entry = executeMessage(message({ kind, replyCode: 0 }), record(), new ProgramMemory(), code({}), { cycle: 1, schedule: S })
      expect(entry.outgoing).toEqual([])
      expect(entry.outcome.gasRefunded).toBe(1_000_000 - messageFee)
    }
  })

  it('emitted ids derive from the cause, the cycle and the emission index', () => {
    const entry = run(`(ctx) => {
      ctx.send(USER, 'a')
      ctx.send(USER, 'b')
    }`)
    const cause = entry.outcome.messageId as MessageId
    expect(entry.outgoing.map((m) => m.id)).toEqual([0, 1, 2].map((i) => childMessageId(cause, 3, i)))
    expect(new Set(entry.outgoing.map((m) => m.origin))).toEqual(new Set([cause]))
  })
})

describe('executor statuses', () => {
  it.each([
    [ProgramStatus.EXITED, MessageKind.HANDLE, ReplyCode.PROGRAM_EXITED],
    [ProgramStatus.INIT_FAILED, MessageKind.HANDLE, ReplyCode.PROGRAM_INIT_FAILED],
    [ProgramStatus.INITIALIZING, MessageKind.HANDLE, ReplyCode.PROGRAM_NOT_INITIALIZED],
  ])('a %s program answers a %s message with 0x%s and runs nothing', (status, kind, replyCode) => {
    const entry = executeMessage(message({ kind }), record(status), new ProgramMemory(),
      code({ handle: "() => { throw new Error('ran') }" }), { cycle: 1, schedule: S })
    expect(entry.outcome).toMatchObject({ result: ExecutionResult.SKIPPED, replyCode, gasBurned: 0 })
    expect(entry.outgoing[0]).toMatchObject({ replyCode, gasLimit: 1_000_000 })
  })

  it('init success activates the program; init failure marks it failed', () => {
    const ok = executeMessage(message({ kind: MessageKind.INIT }), record(ProgramStatus.INITIALIZING), new ProgramMemory(),
      code({}), { cycle: 1, schedule: S })
    expect(ok.program?.status).toBe(ProgramStatus.ACTIVE)
    const bad = executeMessage(message({ kind: MessageKind.INIT }), record(ProgramStatus.INITIALIZING), new ProgramMemory(),
      code({ init: "() => { throw new Error('no') }" }), { cycle: 1, schedule: S })
    expect(bad.program?.status).toBe(ProgramStatus.INIT_FAILED)
    expect(bad.outgoing[0]!.replyCode).toBe(ReplyCode.EXECUTION_ERROR)
  })

  it('wait parks the message with its unused gas, keeping memory changes', () => {
    const memory = new ProgramMemory()
    const entry = run(`(ctx) => {
      ctx.mem.store(ctx.mem.alloc(4), Uint8Array.from([7]))
      ctx.wait({ cycles: 5 })
    }`, {}, memory)
    expect(entry.outcome.result).toBe(ExecutionResult.WAITED)
    expect(entry.wait?.untilCycle).toBe(8)
    expect(entry.outgoing).toEqual([])
    expect(memory.stats().allocations).toBe(1)
    expectConserved(entry, 1_000_000)
  })

  it('exit ends the program and signals the inheritor with the remaining gas', () => {
    const entry = run("(ctx) => ctx.exit('22'.repeat(32))")
    expect(entry.program?.status).toBe(ProgramStatus.EXITED)
    const signal = entry.outgoing.find((m) => m.kind === MessageKind.SIGNAL)!
    expect(signal.destination).toBe('22'.repeat(32))
    expect(entry.outgoing.find((m) => m.kind === MessageKind.REPLY)!.gasLimit).toBe(0)
    expectConserved(entry, 1_000_000)
  })
})
