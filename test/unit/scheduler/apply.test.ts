/**
 * Applying journal entries to the scheduler state, built by hand: routing (programs -> queue, anyone else ->
 * mailbox, delays -> the schedule), created programs and their refusals, wakes, waits, record updates, and the
 * start of a cycle (delayed releases, wait timeouts).
 */
import { beforeEach, describe, expect, it } from 'vitest'
import {
  MessageKind, ReplyCode, childMessageId, codeIdOf, type CodeId, type Message, type MessageId, type ProgramId,
} from '../../../src/message/index.js'
import {
  ExecutionResult, ProgramStatus, type CreatedProgram, type JournalEntry, type ProgramRecord,
} from '../../../src/protocol/index.js'
import { CycleEffects, applyEntry, beginCycle } from '../../../src/scheduler/apply.js'
import type { SchedulerState } from '../../../src/scheduler/state.js'
import type { MemoryStore } from '../../../src/store/index.js'
import { hexId, ids, message, messageId, openState, programId, record, userId } from './fixtures.js'

const CODE_BLOB = new TextEncoder().encode('export default {}')
const CODE: CodeId = codeIdOf(CODE_BLOB)
const MISSING_CODE = hexId<CodeId>('never uploaded')
/** Two programs that exist from the start, and a user. */
const A = programId(1)
const B = programId(2)
const USER = userId(1)
const CYCLE = 10

/** The journal entry of `msg` run by its destination: a success that emits nothing unless `parts` says so. */
function entry(msg: Message, parts: Partial<Omit<JournalEntry, 'outcome'>> = {}): JournalEntry {
  return {
    outcome: {
      messageId: msg.id, origin: msg.origin, programId: msg.destination as ProgramId, kind: msg.kind,
      result: ExecutionResult.SUCCESS, replyCode: ReplyCode.SUCCESS_AUTO, gasBurned: 100, gasRefunded: 0, logs: [],
    },
    outgoing: [], created: [], wakes: [], ...parts,
  }
}

/** The reply the scheduler itself makes to `to` (index 0 of `cycle`), from `source`, carrying `to`'s gas. */
function systemReply(to: Message, source: ProgramId, cycle: number, code: number): Message {
  return {
    id: childMessageId(to.id, cycle, 0), kind: MessageKind.REPLY, source, destination: to.source,
    payload: new Uint8Array(0), gasLimit: to.gasLimit, origin: to.origin, replyTo: to.id, replyCode: code,
  }
}

let store: MemoryStore
let state: SchedulerState
let effects: CycleEffects

beforeEach(async () => {
  ({ store, state } = await openState())
  await store.putCode(CODE, CODE_BLOB)
  state.programs.set(A, record(A, { codeId: CODE }))
  state.programs.set(B, record(B, { codeId: CODE }))
  effects = new CycleEffects()
})

const queued = (): Message[] => state.takePrefix(Number.MAX_SAFE_INTEGER, 1_000)

describe('applyEntry: outgoing messages', () => {
  it('records each entry\'s outcome, in the order entries are applied', () => {
    const first = entry(message(1, { destination: A }))
    const second = entry(message(2, { destination: B }))
    applyEntry(state, first, CYCLE, effects)
    applyEntry(state, second, CYCLE, effects)
    expect(effects.outcomes).toEqual([first.outcome, second.outcome])
  })

  it('queues messages to programs and delivers the rest to user mailboxes, in emission order', () => {
    const toB = message(11, { source: A, destination: B })
    const toUser = message(12, { source: A, destination: USER, kind: MessageKind.REPLY })
    const toA = message(13, { source: A, destination: A })
    applyEntry(state, entry(message(1, { destination: A }), { outgoing: [toB, toUser, toA] }), CYCLE, effects)
    expect(ids(queued())).toEqual([toB.id, toA.id])
    expect(state.mailbox(USER)).toEqual([{ message: toUser, cycle: CYCLE }])
    expect(effects.enqueued).toBe(2)
  })

  it('lists mailboxed messages with their whole gas limit, which the runtime refunds', () => {
    const toUser = message(12, { source: A, destination: USER, gasLimit: 777 })
    applyEntry(state, entry(message(1, { destination: A }), { outgoing: [toUser] }), CYCLE, effects)
    expect(effects.mailboxed).toEqual([toUser])
    expect(effects.mailboxed[0]!.gasLimit).toBe(777)
    expect(state.queueLength).toBe(0)
  })

  it('schedules a message with a delay d for cycle + 1 + d instead of queueing it; a delay of 0 is queued now', () => {
    const later = message(11, { source: A, destination: B, delay: 3 })
    const now = message(12, { source: A, destination: B, delay: 0 })
    applyEntry(state, entry(message(1, { destination: A }), { outgoing: [later, now] }), CYCLE, effects)
    expect([...state.delayed.keys()]).toEqual([CYCLE + 4])
    expect(ids(state.delayed.get(CYCLE + 4)!)).toEqual([later.id])
    expect(ids(queued())).toEqual([now.id])
    expect(effects.enqueued).toBe(1)
  })

  it('schedules a delayed message to a user too: nothing reaches the mailbox until its cycle', () => {
    const later = message(11, { source: A, destination: USER, delay: 1 })
    applyEntry(state, entry(message(1, { destination: A }), { outgoing: [later] }), CYCLE, effects)
    expect(state.mailbox(USER)).toEqual([])
    expect(effects.mailboxed).toEqual([])
    expect(ids(state.delayed.get(CYCLE + 2)!)).toEqual([later.id])
  })
})

describe('applyEntry: created programs', () => {
  const NEW = programId(50)
  const creation = (programIdCreated: ProgramId, init: Message, codeId: CodeId = CODE): CreatedProgram =>
    ({ programId: programIdCreated, codeId, initMessageId: init.id })
  const initFor = (n: number, to: ProgramId): Message =>
    message(n, { kind: MessageKind.INIT, source: A, destination: to, gasLimit: 5_000 + n })

  it('registers a created program as initializing, created by the running program, and queues its init in the same entry', () => {
    const init = initFor(20, NEW)
    applyEntry(state, entry(message(1, { destination: A }), { created: [creation(NEW, init)], outgoing: [init] }), CYCLE, effects)
    expect(state.programs.get(NEW)).toEqual({
      id: NEW, codeId: CODE, status: ProgramStatus.INITIALIZING, stateAddress: null, creator: A,
    } satisfies ProgramRecord)
    expect(effects.statusChanges).toEqual([{ programId: NEW, status: ProgramStatus.INITIALIZING }])
    expect(ids(queued())).toEqual([init.id])
    expect(effects.mailboxed).toEqual([])
  })

  const refusals: [string, ProgramId, CodeId, number][] = [
    ['an id that exists (PROGRAM_EXISTS)', B, CODE, ReplyCode.PROGRAM_EXISTS],
    ['code never uploaded (CODE_NOT_FOUND)', NEW, MISSING_CODE, ReplyCode.CODE_NOT_FOUND],
    ['an id that exists and code never uploaded (PROGRAM_EXISTS first)', B, MISSING_CODE, ReplyCode.PROGRAM_EXISTS],
  ]

  it.each(refusals)('refuses a creation for %s: the init becomes a reply to the creator with that code, carrying its gas', (_name, target, codeId, code) => {
    const before = state.programs.get(target)
    const init = initFor(20, target)
    applyEntry(state, entry(message(1, { destination: A }), { created: [creation(target, init, codeId)], outgoing: [init] }), CYCLE, effects)
    // The reply goes back to A (a program), so it is queued; the init itself never is.
    expect(queued()).toEqual([systemReply(init, target, CYCLE, code)])
    expect(state.programs.get(target)).toEqual(before)
    expect(effects.statusChanges).toEqual([])
    expect(effects.enqueued).toBe(1)
  })

  it('refuses an id created by an earlier entry of the same cycle, and a second creation of one id in a single entry', () => {
    const first = initFor(20, NEW)
    const again = initFor(21, NEW)
    const third = initFor(22, NEW)
    applyEntry(state, entry(message(1, { destination: A }), { created: [creation(NEW, first)], outgoing: [first] }), CYCLE, effects)
    applyEntry(state, entry(message(2, { destination: A }), {
      created: [creation(NEW, again), creation(NEW, third)], outgoing: [again, third],
    }), CYCLE, effects)
    expect(queued()).toEqual([
      first, systemReply(again, NEW, CYCLE, ReplyCode.PROGRAM_EXISTS), systemReply(third, NEW, CYCLE, ReplyCode.PROGRAM_EXISTS),
    ])
    expect(state.programs.get(NEW)!.status).toBe(ProgramStatus.INITIALIZING)
    expect(effects.statusChanges).toHaveLength(1)
  })

  it('a refusal changes only the refused init: the entry\'s other messages are routed as usual', () => {
    const init = initFor(20, B)
    const note = message(21, { source: A, destination: USER })
    const toB = message(22, { source: A, destination: B })
    applyEntry(state, entry(message(1, { destination: A }), { created: [creation(B, init)], outgoing: [note, init, toB] }), CYCLE, effects)
    expect(queued()).toEqual([systemReply(init, B, CYCLE, ReplyCode.PROGRAM_EXISTS), toB])
    expect(state.mailbox(USER)).toEqual([{ message: note, cycle: CYCLE }])
  })

  it('a refusal reply to a user lands in the mailbox and its gas is listed for refund', () => {
    // A creation whose init came from a user (the journal does not forbid it): the reply is mailboxed.
    const init = message(20, { kind: MessageKind.INIT, source: USER, destination: B, gasLimit: 9_000 })
    applyEntry(state, entry(message(1, { destination: A }), { created: [creation(B, init)], outgoing: [init] }), CYCLE, effects)
    const reply = systemReply(init, B, CYCLE, ReplyCode.PROGRAM_EXISTS)
    expect(state.mailbox(USER)).toEqual([{ message: reply, cycle: CYCLE }])
    expect(effects.mailboxed).toEqual([reply])
    expect(state.queueLength).toBe(0)
  })
})

describe('applyEntry: wakes and waits', () => {
  const park = (n: number, owner: ProgramId, untilCycle = CYCLE + 5): Message => {
    const waiting = message(n, { destination: owner })
    state.park({ message: waiting, programId: owner, untilCycle })
    return waiting
  }

  it('wakes only the running program\'s own waiting messages, back into the queue, and ignores unknown ids', () => {
    const mine = park(30, A)
    const theirs = park(31, B)
    applyEntry(state, entry(message(1, { destination: A }), { wakes: [theirs.id, mine.id, messageId(99)] }), CYCLE, effects)
    expect(ids(queued())).toEqual([mine.id])
    expect([...state.waitlist.keys()]).toEqual([theirs.id])
    expect(effects.enqueued).toBe(1)
  })

  it('queues outgoing messages before woken ones, and an entry\'s messages before the next entry\'s', () => {
    const waiting = park(30, A)
    const out = message(11, { source: A, destination: B })
    const nextOut = message(12, { source: B, destination: A })
    applyEntry(state, entry(message(1, { destination: A }), { outgoing: [out], wakes: [waiting.id] }), CYCLE, effects)
    applyEntry(state, entry(message(2, { destination: B }), { outgoing: [nextOut] }), CYCLE, effects)
    expect(ids(queued())).toEqual([out.id, waiting.id, nextOut.id])
  })

  it('parks a message that waited under the program that ran it, with its deadline, carrying the gas the journal gives it', () => {
    const ran = message(1, { destination: A, gasLimit: 10_000 })
    const parked = { ...ran, gasLimit: 4_000 }
    applyEntry(state, entry(ran, { wait: { message: parked, untilCycle: CYCLE + 3 } }), CYCLE, effects)
    expect(state.waitlist.get(ran.id)).toEqual({ message: parked, programId: A, untilCycle: CYCLE + 3 })
    expect([...state.waitExpiry.get(CYCLE + 4)!]).toEqual([ran.id])
    expect(state.queueLength).toBe(0)
  })
})

describe('applyEntry: program records', () => {
  const updates: [string, ProgramStatus, Partial<ProgramRecord>, boolean][] = [
    ['a state address only', ProgramStatus.ACTIVE, { stateAddress: 4096 }, false],
    ['initializing -> active', ProgramStatus.INITIALIZING, { status: ProgramStatus.ACTIVE }, true],
    ['active -> exited', ProgramStatus.ACTIVE, { status: ProgramStatus.EXITED, inheritor: USER }, true],
    ['initializing -> init failed', ProgramStatus.INITIALIZING, { status: ProgramStatus.INIT_FAILED }, true],
  ]

  it.each(updates)('stores the record after %s, and reports a status change only when the status changed', (_name, from, change, reported) => {
    state.programs.set(A, record(A, { codeId: CODE, status: from }))
    const after = record(A, { codeId: CODE, status: from, ...change })
    applyEntry(state, entry(message(1, { destination: A }), { program: after }), CYCLE, effects)
    expect(state.programs.get(A)).toEqual(after)
    expect(effects.statusChanges).toEqual(reported ? [{ programId: A, status: after.status }] : [])
    expect(effects.exited).toEqual(after.status === ProgramStatus.EXITED ? [A] : [])
  })

  it('lists an exited program once, not again for a later entry that leaves it exited', () => {
    const exited = record(A, { codeId: CODE, status: ProgramStatus.EXITED })
    applyEntry(state, entry(message(1, { destination: A }), { program: exited }), CYCLE, effects)
    applyEntry(state, entry(message(2, { destination: A }), { program: exited }), CYCLE, effects)
    expect(effects.exited).toEqual([A])
  })

  it('applies the record before routing: a message to a program that exits in the same entry still goes to its queue', () => {
    const toSelf = message(11, { source: A, destination: A })
    applyEntry(state, entry(message(1, { destination: A }), {
      program: record(A, { codeId: CODE, status: ProgramStatus.EXITED }), outgoing: [toSelf],
    }), CYCLE, effects)
    expect(ids(queued())).toEqual([toSelf.id])
  })
})

describe('beginCycle', () => {
  it('releases the messages scheduled for this cycle in emission order, routing each, and keeps later cycles', () => {
    const a = message(11, { source: A, destination: B, delay: 2 })
    const b = message(12, { source: A, destination: USER, delay: 2 })
    const c = message(13, { source: A, destination: B, delay: 3 })
    applyEntry(state, entry(message(1, { destination: A }), { outgoing: [a, b, c] }), CYCLE, effects)
    const start = new CycleEffects()
    beginCycle(state, CYCLE + 2, start)
    expect(state.queueLength).toBe(0)
    beginCycle(state, CYCLE + 3, start)
    // Released messages keep their delay field but are not delayed a second time.
    expect(ids(queued())).toEqual([a.id])
    expect(state.mailbox(USER)).toEqual([{ message: b, cycle: CYCLE + 3 }])
    expect(start.enqueued).toBe(1)
    expect(start.mailboxed).toEqual([b])
    expect([...state.delayed.keys()]).toEqual([CYCLE + 4])
  })

  it('keeps a waiting message through its last cycle and times it out at the start of the next, with a WAIT_TIMEOUT reply carrying its gas', () => {
    const waiting = message(30, { source: USER, destination: A, gasLimit: 6_000 })
    state.park({ message: waiting, programId: A, untilCycle: CYCLE })
    beginCycle(state, CYCLE, effects)
    expect(state.waitlist.has(waiting.id)).toBe(true)
    beginCycle(state, CYCLE + 1, effects)
    expect(state.waitlist.size).toBe(0)
    expect(state.waitExpiry.size).toBe(0)
    const reply = systemReply(waiting, A, CYCLE + 1, ReplyCode.WAIT_TIMEOUT)
    expect(state.mailbox(USER)).toEqual([{ message: reply, cycle: CYCLE + 1 }])
    expect(effects.mailboxed).toEqual([reply])
  })

  it('queues the timeout reply when the waiting message came from a program', () => {
    const waiting = message(30, { source: B, destination: A })
    state.park({ message: waiting, programId: A, untilCycle: CYCLE })
    beginCycle(state, CYCLE + 1, effects)
    expect(queued()).toEqual([systemReply(waiting, A, CYCLE + 1, ReplyCode.WAIT_TIMEOUT)])
    expect(effects.enqueued).toBe(1)
  })

  it('times out in park order (a re-park counting from its latest park), after the cycle\'s delayed releases', () => {
    const w = [30, 31, 32].map((n) => message(n, { source: B, destination: A }))
    for (const m of w) state.park({ message: m, programId: A, untilCycle: CYCLE })
    state.park({ message: w[0]!, programId: A, untilCycle: CYCLE })
    state.schedule(CYCLE + 1, message(40, { source: A, destination: B }))
    beginCycle(state, CYCLE + 1, effects)
    expect(queued().map((m) => m.replyTo ?? m.id)).toEqual([messageId(40), w[1]!.id, w[2]!.id, w[0]!.id])
  })

  const timeouts: [string, MessageKind, ProgramStatus, ProgramStatus][] = [
    ['a waiting init of an initializing program fails the program', MessageKind.INIT, ProgramStatus.INITIALIZING, ProgramStatus.INIT_FAILED],
    ['a waiting handle leaves an initializing program initializing', MessageKind.HANDLE, ProgramStatus.INITIALIZING, ProgramStatus.INITIALIZING],
    ['a waiting init of an active program leaves it active', MessageKind.INIT, ProgramStatus.ACTIVE, ProgramStatus.ACTIVE],
  ]

  it.each(timeouts)('on timeout, %s', (_name, kind, from, to) => {
    state.programs.set(A, record(A, { codeId: CODE, status: from }))
    const waiting = message(30, { kind, source: B, destination: A })
    state.park({ message: waiting, programId: A, untilCycle: CYCLE })
    beginCycle(state, CYCLE + 1, effects)
    expect(state.programs.get(A)!.status).toBe(to)
    expect(effects.statusChanges).toEqual(from === to ? [] : [{ programId: A, status: to }])
    expect(queued()).toEqual([systemReply(waiting, A, CYCLE + 1, ReplyCode.WAIT_TIMEOUT)])
  })

  it('does nothing at a cycle with nothing due', () => {
    state.park({ message: message(30, { destination: A }), programId: A, untilCycle: CYCLE + 5 })
    state.schedule(CYCLE + 5, message(40, { destination: A }))
    beginCycle(state, CYCLE + 1, effects)
    expect(state.queueLength).toBe(0)
    expect(state.waitlist.size).toBe(1)
    expect(state.delayed.size).toBe(1)
    expect(effects).toEqual(new CycleEffects())
  })
})
