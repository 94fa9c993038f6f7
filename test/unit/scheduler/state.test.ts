/**
 * SchedulerState over an in-memory store: queue order and prefixes by gas and count, the waitlist and its expiry
 * index, the delayed schedule, mailboxes with their cap, nonces, program records, the change log that becomes a
 * commit batch, and reopening from the store. A model-based property test checks all of them together against
 * plain maps and arrays, committing and reopening at random points.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { MAILBOX_SIZE_MAX } from '../../../src/constants.js'
import type { Message, MessageId, ProgramId, UserId } from '../../../src/message/index.js'
import { MessageKind } from '../../../src/message/index.js'
import { ProgramStatus, type ProgramRecord } from '../../../src/protocol/index.js'
import { SchedulerState, type MailboxEntry, type WaitEntry } from '../../../src/scheduler/state.js'
import type { MemoryStore } from '../../../src/store/index.js'
import { commit, ids, message, messageId, openState, programId, record, userId } from './fixtures.js'

/** The queue as the store holds it, in order. */
const storedQueue = (store: MemoryStore): MessageId[] => [...store.queue()].map((m) => m.id)

/** The expiry index as sorted [cycle, ids in order] pairs. */
function expiryOf(state: SchedulerState): [number, MessageId[]][] {
  return [...state.waitExpiry].map(([cycle, set]) => [cycle, [...set]] as [number, MessageId[]]).sort((a, b) => a[0] - b[0])
}

function delayedOf(state: SchedulerState): [number, MessageId[]][] {
  return [...state.delayed].map(([cycle, list]) => [cycle, ids(list)] as [number, MessageId[]]).sort((a, b) => a[0] - b[0])
}

describe('SchedulerState: the queue', () => {
  it('hands out committed messages before those appended since, each in the order it was enqueued', async () => {
    const { store, state } = await openState()
    const committed = [1, 2, 3].map((n) => message(n))
    for (const m of committed) state.enqueue(m)
    await commit(store, state)
    const appended = [4, 5].map((n) => message(n))
    for (const m of appended) state.enqueue(m)
    expect(state.queueLength).toBe(5)
    expect(ids(state.takePrefix(Number.MAX_SAFE_INTEGER, 100))).toEqual(ids([...committed, ...appended]))
    expect(state.queueLength).toBe(0)
    expect(state.takePrefix(Number.MAX_SAFE_INTEGER, 100)).toEqual([])
  })

  it('takes the longest prefix whose summed gas fits the budget exactly, and never skips ahead to a smaller message', async () => {
    const { state } = await openState()
    const queue = [3, 4, 2, 1].map((gas, n) => message(n, { gasLimit: gas }))
    for (const m of queue) state.enqueue(m)
    // 3 + 4 = 7 fits a budget of 8; the next (2) would make 9, so the take stops there even though 1 would fit.
    expect(ids(state.takePrefix(8, 100))).toEqual(ids(queue.slice(0, 2)))
    // 2 + 1 = 3: a budget equal to the sum takes both.
    expect(ids(state.takePrefix(3, 100))).toEqual(ids(queue.slice(2)))
  })

  it('takes a sum equal to the budget from the committed queue too, and stops one short of it', async () => {
    const { store, state } = await openState()
    const queue = [5, 5, 5].map((gas, n) => message(n, { gasLimit: gas }))
    for (const m of queue) state.enqueue(m)
    await commit(store, state)
    expect(ids(state.takePrefix(10, 100))).toEqual(ids(queue.slice(0, 2)))
    expect(state.queueLength).toBe(1)
    const fresh = new SchedulerState(store)
    expect(ids(fresh.takePrefix(14, 100))).toEqual(ids(queue.slice(0, 2)))
  })

  it('takes a message larger than the budget alone, from the committed queue and from the appended one', async () => {
    const { store, state } = await openState()
    const big = message(1, { gasLimit: 1_000 })
    state.enqueue(big)
    state.enqueue(message(2, { gasLimit: 1 }))
    await commit(store, state)
    const bigAppended = message(3, { gasLimit: 1_000 })
    state.enqueue(bigAppended)
    expect(ids(state.takePrefix(10, 100))).toEqual([big.id])
    expect(ids(state.takePrefix(10, 100))).toEqual([messageId(2)])
    expect(ids(state.takePrefix(10, 100))).toEqual([bigAppended.id])
  })

  it('takes at most countMax messages, across the committed and appended parts', async () => {
    const { store, state } = await openState()
    for (const n of [1, 2]) state.enqueue(message(n, { gasLimit: 1 }))
    await commit(store, state)
    for (const n of [3, 4, 5]) state.enqueue(message(n, { gasLimit: 1 }))
    expect(ids(state.takePrefix(1_000, 3))).toEqual([1, 2, 3].map(messageId))
    expect(ids(state.takePrefix(1_000, 1))).toEqual([messageId(4)])
    expect(state.queueLength).toBe(1)
  })

  it('a prefix never exceeds the budget unless it is one message, is as long as budget and count allow, and successive takes partition the queue in order', async () => {
    const gas = fc.integer({ min: 1, max: 20 })
    await fc.assert(fc.asyncProperty(
      fc.array(gas, { maxLength: 12 }), fc.array(gas, { maxLength: 12 }),
      fc.array(fc.tuple(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 6 })), { minLength: 1, maxLength: 30 }),
      async (committedGas, appendedGas, takes) => {
        const { store, state } = await openState()
        const queue = [...committedGas, ...appendedGas].map((gasLimit, n) => message(n, { gasLimit }))
        queue.slice(0, committedGas.length).forEach((m) => state.enqueue(m))
        await commit(store, state)
        queue.slice(committedGas.length).forEach((m) => state.enqueue(m))
        let next = 0
        for (const [budget, countMax] of takes) {
          const taken = state.takePrefix(budget, countMax)
          const sum = taken.reduce((s, m) => s + m.gasLimit, 0)
          expect(ids(taken)).toEqual(ids(queue.slice(next, next + taken.length)))
          expect(taken.length).toBeLessThanOrEqual(countMax)
          if (taken.length > 1) expect(sum).toBeLessThanOrEqual(budget)
          const following = queue[next + taken.length]
          if (following !== undefined) {
            // Maximal: stopped by the count, or the next message does not fit (or nothing was taken yet).
            expect(taken.length === countMax || sum + following.gasLimit > budget).toBe(true)
            expect(taken.length).toBeGreaterThanOrEqual(1)
          }
          next += taken.length
          expect(state.queueLength).toBe(queue.length - next)
        }
      }), { numRuns: 150 })
  })

  it('commits the queue net: consumed counts only committed messages, appended only those still queued', async () => {
    const { store, state } = await openState()
    for (const n of [1, 2, 3]) state.enqueue(message(n, { gasLimit: 1 }))
    await commit(store, state)
    for (const n of [4, 5]) state.enqueue(message(n, { gasLimit: 1 }))
    expect(ids(state.takePrefix(1_000, 4))).toEqual([1, 2, 3, 4].map(messageId))
    const changes = state.takeChanges()
    expect(changes.queue!.consumed).toBe(3)
    expect(ids(changes.queue!.appended!)).toEqual([messageId(5)])
  })

  it('leaves a message appended and taken between two commits out of the store entirely', async () => {
    const { store, state } = await openState()
    state.enqueue(message(1))
    state.enqueue(message(2))
    expect(ids(state.takePrefix(Number.MAX_SAFE_INTEGER, 1))).toEqual([messageId(1)])
    await commit(store, state)
    expect(storedQueue(store)).toEqual([messageId(2)])
    expect(store.head().commitCount).toBe(1)
  })
})

describe('SchedulerState: the waitlist', () => {
  const wait = (n: number, untilCycle: number, programN = 0): WaitEntry =>
    ({ message: message(n), programId: programId(programN), untilCycle })

  it('parks a message under its deadline + 1 and unparks it from both the list and the index', async () => {
    const { state } = await openState()
    const entry = wait(1, 7)
    state.park(entry)
    expect(state.waitlist.get(entry.message.id)).toEqual(entry)
    expect(expiryOf(state)).toEqual([[8, [entry.message.id]]])
    expect(state.unpark(entry.message.id)).toEqual(entry)
    expect(state.waitlist.size).toBe(0)
    // An emptied expiry cycle leaves the index (beginCycle looks cycles up by key).
    expect(state.waitExpiry.size).toBe(0)
    expect(state.unpark(entry.message.id)).toBeUndefined()
  })

  it('keeps park order within an expiry cycle, and a re-park moves the message to the back (or to its new cycle)', async () => {
    const { state } = await openState()
    for (const n of [1, 2, 3]) state.park(wait(n, 5))
    state.park(wait(1, 5))
    expect(expiryOf(state)).toEqual([[6, [2, 3, 1].map(messageId)]])
    state.park(wait(2, 9))
    expect(expiryOf(state)).toEqual([[6, [3, 1].map(messageId)], [10, [messageId(2)]]])
    expect(state.waitlist.get(messageId(2))!.untilCycle).toBe(9)
    expect(state.waitlist.size).toBe(3)
  })

  it('records nothing when unparking a message that is not waiting', async () => {
    const { state } = await openState()
    expect(state.unpark(messageId(42))).toBeUndefined()
    expect(state.changed).toBe(false)
    expect(state.takeChanges().waitlist).toEqual({ delete: [], put: [] })
  })

  it('commits the latest park of each message, and deletes for unparks', async () => {
    const { store, state } = await openState()
    state.park(wait(1, 5))
    state.park(wait(2, 5))
    await commit(store, state)
    state.unpark(messageId(1))
    state.park(wait(3, 6))
    state.park({ ...wait(3, 8), message: message(3, { gasLimit: 7 }) })
    const changes = state.takeChanges()
    expect(changes.waitlist!.delete).toEqual([messageId(1)])
    expect(changes.waitlist!.put).toEqual([{ ...wait(3, 8), message: message(3, { gasLimit: 7 }) }])
  })
})

describe('SchedulerState: the delayed schedule', () => {
  it('releases a cycle\'s messages in emission order, once, and leaves other cycles scheduled', async () => {
    const { state } = await openState()
    state.schedule(5, message(1))
    state.schedule(6, message(2))
    state.schedule(5, message(3))
    expect(ids(state.release(5)!)).toEqual([messageId(1), messageId(3)])
    expect(state.release(5)).toBeUndefined()
    expect(state.release(4)).toBeUndefined()
    expect(delayedOf(state)).toEqual([[6, [messageId(2)]]])
  })

  it('commits appends per cycle and deletes released cycles, and a cycle scheduled and released between commits only as a delete', async () => {
    const { store, state } = await openState()
    state.schedule(5, message(1))
    await commit(store, state)
    state.schedule(5, message(2))
    state.schedule(7, message(3))
    state.schedule(6, message(4))
    expect(state.release(6)).toHaveLength(1)
    const changes = state.takeChanges()
    expect(changes.delayed!.delete).toEqual([6])
    expect(changes.delayed!.append!.map(([cycle, list]) => [cycle, ids(list)])).toEqual([[5, [messageId(2)]], [7, [messageId(3)]]])
  })
})

describe('SchedulerState: mailboxes and nonces', () => {
  const entry = (n: number, cycle = 1): MailboxEntry => ({ message: message(n, { destination: userId(1) }), cycle })

  it('shows a mailbox oldest first: committed entries, then those delivered since', async () => {
    const { store, state } = await openState()
    state.deliver(userId(1), entry(1))
    await commit(store, state)
    state.deliver(userId(1), entry(2, 2))
    state.deliver(userId(2), entry(3, 2))
    expect(state.mailbox(userId(1))).toEqual([entry(1), entry(2, 2)])
    expect(state.mailbox(userId(2))).toEqual([entry(3, 2)])
    expect(state.mailbox(userId(3))).toEqual([])
  })

  it(`keeps the newest ${MAILBOX_SIZE_MAX} entries of a mailbox, before and after a commit, as the store does`, async () => {
    const { store, state } = await openState()
    const user = userId(1)
    // The same message object throughout keeps this cheap; only the cycle tells entries apart.
    const m = message(1, { destination: user })
    for (let i = 0; i < 10; i += 1) state.deliver(user, { message: m, cycle: i })
    await commit(store, state)
    for (let i = 10; i < MAILBOX_SIZE_MAX + 15; i += 1) state.deliver(user, { message: m, cycle: i })
    const box = state.mailbox(user)
    expect(box).toHaveLength(MAILBOX_SIZE_MAX)
    expect(box[0]!.cycle).toBe(15)
    expect(box.at(-1)!.cycle).toBe(MAILBOX_SIZE_MAX + 14)
    await commit(store, state)
    expect(store.mailbox(user).map((e) => e.cycle)).toEqual(box.map((e) => e.cycle))
    expect(state.mailbox(user).map((e) => e.cycle)).toEqual(box.map((e) => e.cycle))
  })

  it('starts every nonce at 0, commits only the nonces set since the last take (with their latest value)', async () => {
    const { store, state } = await openState()
    expect(state.nonce(userId(1))).toBe(0)
    state.setNonce(userId(1), 3)
    state.setNonce(userId(1), 4)
    state.setNonce(userId(2), 1)
    expect(state.nonce(userId(1))).toBe(4)
    await commit(store, state)
    expect(store.nonce(userId(1))).toBe(4)
    state.setNonce(userId(2), 2)
    expect(state.takeChanges().nonces).toEqual([[userId(2), 2]])
  })
})

describe('SchedulerState: program records', () => {
  it('reads records through to the store, counts committed and new ones, and lists each id once', async () => {
    const { store, state } = await openState()
    state.programs.set(programId(1), record(programId(1)))
    state.programs.set(programId(2), record(programId(2)))
    await commit(store, state)
    const reopened = new SchedulerState(store)
    expect(reopened.programs.get(programId(1))).toEqual(record(programId(1)))
    expect(reopened.programs.has(programId(3))).toBe(false)
    expect(reopened.programs.get(programId(3))).toBeUndefined()
    reopened.programs.set(programId(2), record(programId(2), { status: ProgramStatus.EXITED }))
    reopened.programs.set(programId(3), record(programId(3)))
    expect(reopened.programs.size).toBe(3)
    expect([...reopened.programs.keys()].sort()).toEqual([1, 2, 3].map(programId).sort())
    expect(reopened.programs.get(programId(2))!.status).toBe(ProgramStatus.EXITED)
    const changes = reopened.takeChanges()
    expect(changes.programs).toEqual([record(programId(2), { status: ProgramStatus.EXITED }), record(programId(3))])
  })

  it('a record set twice between commits is committed once, as last set', async () => {
    const { state } = await openState()
    state.programs.set(programId(1), record(programId(1), { status: ProgramStatus.INITIALIZING }))
    state.programs.set(programId(1), record(programId(1), { stateAddress: 64 }))
    expect(state.programs.size).toBe(1)
    expect(state.takeChanges().programs).toEqual([record(programId(1), { stateAddress: 64 })])
  })
})

describe('SchedulerState: the change log', () => {
  const changes: [string, (state: SchedulerState) => void][] = [
    ['an enqueue', (s) => s.enqueue(message(1))],
    ['a park', (s) => s.park({ message: message(1), programId: programId(0), untilCycle: 3 })],
    ['a schedule', (s) => s.schedule(4, message(1))],
    ['a delivery', (s) => s.deliver(userId(1), { message: message(1), cycle: 1 })],
    ['a nonce', (s) => s.setNonce(userId(1), 1)],
    ['a program record', (s) => s.programs.set(programId(1), record(programId(1)))],
  ]

  it.each(changes)('is marked changed by %s, and clean again after takeChanges', async (_name, change) => {
    const { state } = await openState()
    expect(state.changed).toBe(false)
    change(state)
    expect(state.changed).toBe(true)
    state.takeChanges()
    expect(state.changed).toBe(false)
  })

  it('a second take right after the first is empty', async () => {
    const { state } = await openState()
    for (const [, change] of changes) change(state)
    state.takeChanges()
    expect(state.takeChanges()).toEqual({
      programs: [], queue: { consumed: 0, appended: [] }, waitlist: { delete: [], put: [] },
      delayed: { delete: [], append: [] }, mailboxes: [], nonces: [],
    })
  })

  it('a take of committed messages and a release are changes too', async () => {
    const { store, state } = await openState()
    state.enqueue(message(1))
    state.schedule(2, message(2))
    await commit(store, state)
    expect(state.changed).toBe(false)
    state.takePrefix(Number.MAX_SAFE_INTEGER, 1)
    expect(state.changed).toBe(true)
    await commit(store, state)
    state.release(2)
    expect(state.changed).toBe(true)
  })
})

// ---- the model ------------------------------------------------------------------------------------------------

type Op =
  | { readonly op: 'enqueue'; readonly gas: number }
  | { readonly op: 'take'; readonly budget: number; readonly count: number }
  | { readonly op: 'park'; readonly n: number; readonly until: number; readonly gas: number }
  | { readonly op: 'unpark'; readonly n: number }
  | { readonly op: 'schedule'; readonly at: number }
  | { readonly op: 'release'; readonly at: number }
  | { readonly op: 'deliver'; readonly user: number }
  | { readonly op: 'nonce'; readonly user: number; readonly value: number }
  | { readonly op: 'program'; readonly n: number; readonly status: number }
  | { readonly op: 'commit' }
  | { readonly op: 'reopen' }

const STATUSES = Object.values(ProgramStatus)
const USERS = 3
const PROGRAMS = 4

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant('enqueue' as const), gas: fc.integer({ min: 1, max: 10 }) }),
  fc.record({ op: fc.constant('take' as const), budget: fc.integer({ min: 1, max: 25 }), count: fc.integer({ min: 1, max: 4 }) }),
  fc.record({ op: fc.constant('park' as const), n: fc.integer({ min: 0, max: 5 }), until: fc.integer({ min: 1, max: 6 }), gas: fc.integer({ min: 1, max: 9 }) }),
  fc.record({ op: fc.constant('unpark' as const), n: fc.integer({ min: 0, max: 5 }) }),
  fc.record({ op: fc.constant('schedule' as const), at: fc.integer({ min: 1, max: 3 }) }),
  fc.record({ op: fc.constant('release' as const), at: fc.integer({ min: 1, max: 3 }) }),
  fc.record({ op: fc.constant('deliver' as const), user: fc.integer({ min: 0, max: USERS - 1 }) }),
  fc.record({ op: fc.constant('nonce' as const), user: fc.integer({ min: 0, max: USERS - 1 }), value: fc.integer({ min: 0, max: 1_000 }) }),
  fc.record({ op: fc.constant('program' as const), n: fc.integer({ min: 0, max: PROGRAMS - 1 }), status: fc.integer({ min: 0, max: STATUSES.length - 1 }) }),
  fc.constant({ op: 'commit' as const }),
  fc.constant({ op: 'reopen' as const }),
)

/** The reference: plain arrays and maps with the documented semantics. */
class Model {
  queue: Message[] = []
  readonly waiting = new Map<MessageId, WaitEntry>()
  /** Expiry cycle -> ids in the order of their latest park. */
  readonly expiry = new Map<number, MessageId[]>()
  readonly delayed = new Map<number, Message[]>()
  readonly mailboxes = new Map<UserId, MailboxEntry[]>()
  readonly nonces = new Map<UserId, number>()
  readonly programs = new Map<ProgramId, ProgramRecord>()

  take(budget: number, count: number): Message[] {
    let k = 0
    let sum = 0
    while (k < this.queue.length && k < count && sum + this.queue[k]!.gasLimit <= budget) sum += this.queue[k++]!.gasLimit
    if (k === 0 && this.queue.length > 0) k = 1
    return this.queue.splice(0, k)
  }

  unpark(id: MessageId): boolean {
    const entry = this.waiting.get(id)
    if (entry === undefined) return false
    this.waiting.delete(id)
    const at = entry.untilCycle + 1
    const list = this.expiry.get(at)!.filter((x) => x !== id)
    if (list.length === 0) this.expiry.delete(at)
    else this.expiry.set(at, list)
    return true
  }

  park(entry: WaitEntry): void {
    this.unpark(entry.message.id)
    this.waiting.set(entry.message.id, entry)
    const at = entry.untilCycle + 1
    this.expiry.set(at, [...(this.expiry.get(at) ?? []), entry.message.id])
  }
}

function expectSame(state: SchedulerState, model: Model): void {
  expect(state.queueLength).toBe(model.queue.length)
  expect(new Map(state.waitlist)).toEqual(model.waiting)
  expect(expiryOf(state)).toEqual([...model.expiry].sort((a, b) => a[0] - b[0]))
  expect(delayedOf(state)).toEqual([...model.delayed].map(([c, l]) => [c, ids(l)]).sort((a, b) => (a[0] as number) - (b[0] as number)))
  for (let u = 0; u < USERS; u += 1) {
    expect(state.mailbox(userId(u))).toEqual(model.mailboxes.get(userId(u)) ?? [])
    expect(state.nonce(userId(u))).toBe(model.nonces.get(userId(u)) ?? 0)
  }
  for (let p = 0; p < PROGRAMS; p += 1) expect(state.programs.get(programId(p))).toEqual(model.programs.get(programId(p)))
  expect(state.programs.size).toBe(model.programs.size)
  expect([...state.programs.keys()].sort()).toEqual([...model.programs.keys()].sort())
}

describe('SchedulerState against a reference model', () => {
  it('after any sequence of changes, commits and reopenings, state, store and model agree, and a reopened state is the same state', async () => {
    await fc.assert(fc.asyncProperty(fc.array(opArb, { maxLength: 40 }), async (ops) => {
      const opened = await openState()
      const { store } = opened
      let state = opened.state
      const model = new Model()
      let serial = 100
      let dirty = false
      for (const op of ops) {
        switch (op.op) {
          case 'enqueue': {
            const m = message(serial++, { gasLimit: op.gas })
            state.enqueue(m)
            model.queue.push(m)
            dirty = true
            break
          }
          case 'take': {
            const expected = model.take(op.budget, op.count)
            expect(ids(state.takePrefix(op.budget, op.count))).toEqual(ids(expected))
            dirty ||= expected.length > 0
            break
          }
          case 'park': {
            const entry = { message: message(op.n, { gasLimit: op.gas }), programId: programId(op.n % PROGRAMS), untilCycle: op.until }
            state.park(entry)
            model.park(entry)
            dirty = true
            break
          }
          case 'unpark': {
            const had = model.unpark(messageId(op.n))
            expect(state.unpark(messageId(op.n)) !== undefined).toBe(had)
            dirty ||= had
            break
          }
          case 'schedule': {
            const m = message(serial++)
            state.schedule(op.at, m)
            model.delayed.set(op.at, [...(model.delayed.get(op.at) ?? []), m])
            dirty = true
            break
          }
          case 'release': {
            const expected = model.delayed.get(op.at)
            model.delayed.delete(op.at)
            const released = state.release(op.at)
            expect(released === undefined ? undefined : ids(released)).toEqual(expected === undefined ? undefined : ids(expected))
            dirty ||= expected !== undefined
            break
          }
          case 'deliver': {
            const user = userId(op.user)
            const entry = { message: message(serial++, { destination: user, kind: MessageKind.REPLY }), cycle: state.cycle }
            state.deliver(user, entry)
            model.mailboxes.set(user, [...(model.mailboxes.get(user) ?? []), entry])
            dirty = true
            break
          }
          case 'nonce':
            state.setNonce(userId(op.user), op.value)
            model.nonces.set(userId(op.user), op.value)
            dirty = true
            break
          case 'program': {
            const r = record(programId(op.n), { status: STATUSES[op.status]!, stateAddress: serial++ })
            state.programs.set(r.id, r)
            model.programs.set(r.id, r)
            dirty = true
            break
          }
          case 'commit':
          case 'reopen':
            await commit(store, state)
            dirty = false
            expect(storedQueue(store)).toEqual(ids(model.queue))
            expect([...store.waitlistExpiring(Number.MAX_SAFE_INTEGER)].map((e) => e.message.id))
              .toEqual([...model.expiry].sort((a, b) => a[0] - b[0]).flatMap(([, list]) => list))
            expect([...store.delayedCycles()].map((c) => [c, ids(store.delayed(c))]))
              .toEqual([...model.delayed].filter(([, l]) => l.length > 0).sort((a, b) => a[0] - b[0]).map(([c, l]) => [c, ids(l)]))
            for (let u = 0; u < USERS; u += 1) {
              expect(store.mailbox(userId(u))).toEqual(model.mailboxes.get(userId(u)) ?? [])
              expect(store.nonce(userId(u))).toBe(model.nonces.get(userId(u)) ?? 0)
            }
            for (let p = 0; p < PROGRAMS; p += 1) expect(store.program(programId(p))).toEqual(model.programs.get(programId(p)))
            if (op.op === 'reopen') {
              state = new SchedulerState(store)
              expect(state.cycle).toBe(store.head().cycle)
              expect(state.changed).toBe(false)
            }
            break
        }
        expect(state.changed).toBe(dirty)
        expectSame(state, model)
      }
    }), { numRuns: 120 })
  })
})
