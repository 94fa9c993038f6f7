/**
 * The Store contract: one suite that every store runs (store.test.ts: memory and LMDB; test/cluster: PostgreSQL).
 * Everything the runtime stores round-trips, batches apply whole or not at all, and every store fails alike.
 */
import { afterEach, beforeEach, expect, it } from 'vitest'
import { MESSAGE_GAS_LIMIT_MAX } from '../../../src/constants.js'
import type { CodeId, MessageId } from '../../../src/message/ids.js'
import { MessageKind, type Message } from '../../../src/message/types.js'
import {
  StoreErrorCode, type CommitBatch, type Store, type StoreOpenOptions,
} from '../../../src/store/index.js'
import {
  hexId, message, messageId, planeBytes, planeChange, planeSeed, programId, record, rootOf, sameBytes, sha256, userId,
} from './fixtures.js'

/** How the suite opens a store of one kind: each call a fresh, empty store; cleanup after each test. */
export interface Harness {
  open(options?: Partial<StoreOpenOptions>): Promise<Store>
  cleanup(): void
}

/** Awaits `action`, which must throw a StrataError with `code`; returns the error. */
export async function expectCode(action: () => unknown, code: string): Promise<Error> {
  let thrown: unknown
  try {
    await action()
  } catch (error) {
    thrown = error
  }
  expect(thrown, `expected ${code}`).toBeDefined()
  expect((thrown as { code?: string }).code, (thrown as Error).message).toBe(code)
  return thrown as Error
}

/** Registers the contract's tests in the current describe block, each on stores from `factory()`. */
export function storeContract(factory: () => Harness): void {
  let harness: Harness
  let store: Store
  const opened: Store[] = []

  async function open(options?: Partial<StoreOpenOptions>): Promise<Store> {
    const s = await harness.open(options)
    opened.push(s)
    return s
  }

  beforeEach(async () => {
    harness = factory()
    store = await open()
  })

  afterEach(async () => {
    for (const s of opened.splice(0)) await s.close()
    harness.cleanup()
  })

  /** Commits the next cycle with the given parts. */
  function next(parts: Omit<CommitBatch, 'cycle' | 'stateRoot'> = {}, s = store) {
    const cycle = s.head().cycle + 1
    return s.commit({ cycle, stateRoot: rootOf(cycle), ...parts })
  }

  it('keeps a record per cycle committed with counts, and refuses counts on an intake commit', async () => {
    const counts = { processed: 7, failed: 1, gasBurned: 123_456, gasRefunded: 99, enqueued: 3, mailboxed: 2, dirtyPlanes: 4 }
    expect(store.cycleRecord(1)).toBeUndefined()
    await next({ counts })
    await next()
    expect(store.cycleRecord(1)).toEqual({ cycle: 1, stateRoot: rootOf(1), ...counts })
    expect(store.cycleRecord(2)).toBeUndefined() // committed without counts
    const head = store.head()
    await expect(store.commit({ cycle: head.cycle, stateRoot: rootOf('intake'), counts })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' })
    await expect(next({ counts: { ...counts, failed: -1 } })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' })
    expect(store.head()).toEqual(head)
  })

  it('starts empty', () => {
    expect(store.head()).toEqual({ cycle: 0, stateRoot: null, commitCount: 0 })
    expect(store.program(programId(1))).toBeUndefined()
    expect([...store.programIds()]).toEqual([])
    expect(store.programCount()).toBe(0)
    expect(store.memoryMeta(programId(1))).toBeUndefined()
    expect(store.plane(programId(1), 0)).toBeUndefined()
    expect(store.planeKeys(programId(1))).toEqual([])
    expect(store.queueLength()).toBe(0)
    expect([...store.queue()]).toEqual([])
    expect(store.waitlistSize()).toBe(0)
    expect([...store.waitlistExpiring(1e9)]).toEqual([])
    expect(store.delayed(5)).toEqual([])
    expect([...store.delayedCycles()]).toEqual([])
    expect(store.mailbox(userId(1))).toEqual([])
    expect(store.nonce(userId(1))).toBe(0)
    expect(store.merkleNode(Uint8Array.of(1))).toBeUndefined()
    expect(store.code(hexId<CodeId>('none'))).toBeUndefined()
  })

  it('stores codes under their hash, durably and idempotently', async () => {
    const blob = new TextEncoder().encode('export default {}')
    const id = Buffer.from(sha256(blob)).toString('hex') as CodeId
    await store.putCode(id, blob)
    await store.putCode(id, blob)
    expect(store.hasCode(id)).toBe(true)
    expect(store.code(id)).toEqual(blob)
    expect(Object.getPrototypeOf(store.code(id))).toBe(Uint8Array.prototype)
    expect([...store.codeIds()]).toEqual([id])
    await expectCode(() => store.putCode(hexId<CodeId>('other'), blob), StoreErrorCode.INVALID_ARGUMENT)
    await expectCode(() => store.putCode('nope' as CodeId, blob), StoreErrorCode.INVALID_ARGUMENT)
    expect([...store.codeIds()]).toEqual([id])
  })

  it('round-trips program records and upserts them whole', async () => {
    const records = [record(1), record(2), record(3, { status: 'exited', inheritor: userId(9) }), record(4, { status: 'init_failed' })]
    await next({ programs: records })
    for (const r of records) expect(store.program(r.id)).toEqual(r)
    expect(store.program(record(3).id)!.inheritor).toBe(userId(9))
    expect(store.programCount()).toBe(4)
    expect([...store.programIds()]).toEqual(records.map((r) => r.id).sort())
    await next({ programs: [record(1, { status: 'initializing', stateAddress: 2 ** 40 - 8 })] })
    expect(store.program(programId(1))).toEqual(record(1, { status: 'initializing', stateAddress: 2 ** 40 - 8 }))
    expect(store.programCount()).toBe(4)
  })

  it('round-trips memory: meta, planes with roots, replacement, deletion', async () => {
    const p = programId(1)
    await next({
      memory: [{ programId: p, dropped: false, meta: Uint8Array.of(1, 2, 3), planes: [planeChange(1, 0), planeChange(1, 65_537), planeChange(1, 5)] }],
    })
    expect(store.memoryMeta(p)).toEqual(Uint8Array.of(1, 2, 3))
    expect(store.planeKeys(p)).toEqual([0, 5, 65_537])
    const plane = store.plane(p, 65_537)!
    expect(sameBytes(plane, planeBytes(1, 65_537))).toBe(true)
    expect(Object.getPrototypeOf(plane)).toBe(Uint8Array.prototype)
    expect(store.planeRoot(p, 65_537)).toEqual(sha256(planeBytes(1, 65_537)))
    // A fresh copy: mutating it changes nothing stored.
    plane.fill(9)
    expect(sameBytes(store.plane(p, 65_537), planeBytes(1, 65_537))).toBe(true)

    await next({
      memory: [{ programId: p, dropped: false, meta: Uint8Array.of(4), planes: [planeChange(2, 0), { key: 5, bytes: null, root: null }] }],
    })
    expect(store.memoryMeta(p)).toEqual(Uint8Array.of(4))
    expect(store.planeKeys(p)).toEqual([0, 65_537])
    expect(planeSeed(store.plane(p, 0)!)).toBe(2)
    expect(planeSeed(store.plane(p, 65_537)!)).toBe(1)
    expect(store.plane(p, 5)).toBeUndefined()
    expect(store.planeRoot(p, 5)).toBeUndefined()
  })

  it('takes planes as written chunks: unlisted chunks keep their bytes, or are zeros when the plane is fresh', async () => {
    const p = programId(6)
    const base = planeBytes(3, 7)
    await next({ memory: [{ programId: p, dropped: false, meta: Uint8Array.of(1), planes: [planeChange(3, 7)] }] })
    const chunk = (fill: number): Uint8Array => new Uint8Array(4096).fill(fill)
    // Chunks 2 and 9 rewritten; the rest stay as stored.
    const patched = base.slice()
    patched.set(chunk(0xaa), 2 * 4096)
    patched.set(chunk(0), 9 * 4096)
    await next({ memory: [{ programId: p, dropped: false, meta: Uint8Array.of(2), planes: [{ key: 7, root: sha256(patched), written: [[2, chunk(0xaa)], [9, chunk(0)]] }] }] })
    expect(sameBytes(store.plane(p, 7), patched)).toBe(true)
    // Fresh: only the written chunk survives, everything else is zeros (whatever was stored).
    const fresh = new Uint8Array(65_536)
    fresh.set(chunk(0x11), 15 * 4096)
    await next({ memory: [{ programId: p, dropped: false, meta: Uint8Array.of(3), planes: [{ key: 7, root: sha256(fresh), written: [[15, chunk(0x11)]], fresh: true }] }] })
    expect(sameBytes(store.plane(p, 7), fresh)).toBe(true)
    // A plane not stored before, given as chunks: the unwritten ones are zeros.
    const other = new Uint8Array(65_536)
    other.set(chunk(0x22), 0)
    await next({ memory: [{ programId: p, dropped: false, meta: Uint8Array.of(4), planes: [{ key: 8, root: sha256(other), written: [[0, chunk(0x22)]] }] }] })
    expect(sameBytes(store.plane(p, 8), other)).toBe(true)
    // Malformed chunk lists are refused whole, naming the plane.
    for (const written of [[[1, chunk(1)], [1, chunk(2)]], [[16, chunk(1)]], [[0, new Uint8Array(4095)]], [[-1, chunk(1)]], 'x']) {
      await expectCode(() => next({ memory: [{ programId: p, dropped: false, meta: Uint8Array.of(5), planes: [{ key: 7, root: rootOf(1), written: written as never }] }] }),
        StoreErrorCode.INVALID_ARGUMENT)
    }
    await expectCode(() => next({ memory: [{ programId: p, dropped: false, meta: Uint8Array.of(5), planes: [{ key: 7, root: rootOf(1), bytes: base, written: [] }] }] }),
      StoreErrorCode.INVALID_ARGUMENT)
    expect(sameBytes(store.plane(p, 7), fresh)).toBe(true)
    expect(store.memoryMeta(p)).toEqual(Uint8Array.of(4))
  })

  it('deletes every plane and the meta of a dropped program, and nothing of its neighbours', async () => {
    const [a, b, c] = [programId(1), programId(2), programId(3)]
    const planes = (seed: number) => Array.from({ length: 20 }, (_, k) => planeChange(seed, k * 3))
    await next({
      memory: [a, b, c].map((id, i) => ({ programId: id, dropped: false, meta: Uint8Array.of(i), planes: planes(i) })),
    })
    await next({ memory: [{ programId: b, dropped: true, meta: new Uint8Array(0), planes: [] }] })
    expect(store.planeKeys(b)).toEqual([])
    expect(store.memoryMeta(b)).toBeUndefined()
    expect(store.plane(b, 0)).toBeUndefined()
    for (const [id, seed] of [[a, 0], [c, 2]] as const) {
      expect(store.planeKeys(id)).toHaveLength(20)
      for (const k of store.planeKeys(id)) expect(sameBytes(store.plane(id, k), planeBytes(seed, k))).toBe(true)
      expect(store.memoryMeta(id)).toEqual(Uint8Array.of(seed))
    }
  })

  it('never serves a plane whose bytes do not match its committed root', async () => {
    const p = programId(4)
    const change = planeChange(1, 70_000)
    await next({ memory: [{ programId: p, dropped: false, meta: new Uint8Array(0), planes: [{ ...change, root: rootOf('wrong') }] }] })
    let thrown: unknown
    try { store.plane(p, 70_000) } catch (error) { thrown = error }
    expect((thrown as { code: string }).code).toBe(StoreErrorCode.INTEGRITY)
    expect((thrown as Error).message).toContain(p)
    expect((thrown as Error).message).toContain('plane 70000 (region 1, plane 4464)')
  })

  it('keeps the queue in order across commits with consumption', async () => {
    const reference: Message[] = []
    let n = 0
    const steps: [consumed: number, appended: number][] = [[0, 5], [2, 3], [0, 0], [6, 4], [4, 1], [1, 0]]
    for (const [consumed, appended] of steps) {
      const messages = Array.from({ length: appended }, () => message(n++))
      await next({ queue: { consumed, appended: messages } })
      reference.splice(0, consumed)
      reference.push(...messages)
      expect(store.queueLength()).toBe(reference.length)
      expect([...store.queue()]).toEqual(reference)
    }
    expect(reference).toHaveLength(0)
    await expectCode(() => next({ queue: { consumed: 1 } }), StoreErrorCode.INVALID_ARGUMENT)
  })

  it('round-trips every message field, kind and bound', async () => {
    const messages: Message[] = [
      message(1, { kind: MessageKind.INIT, payload: new Uint8Array(0), gasLimit: 0 }),
      message(2, { kind: MessageKind.REPLY, replyTo: messageId(1), replyCode: 255, gasLimit: MESSAGE_GAS_LIMIT_MAX }),
      message(3, { kind: MessageKind.SIGNAL, delay: 1_000_000, payload: new Uint8Array(3_000).fill(3) }),
      message(4, { replyCode: 0 }),
    ]
    await next({ queue: { appended: messages } })
    const back = [...store.queue()]
    expect(back).toEqual(messages)
    expect(back[1]!.replyCode).toBe(255)
    expect('replyTo' in back[0]!).toBe(false)
    expect(Object.getPrototypeOf(back[2]!.payload)).toBe(Uint8Array.prototype)
  })

  it('parks, replaces and removes waiting messages, and lists expiring ones by deadline and put order', async () => {
    const entry = (n: number, untilCycle: number) => ({ message: message(n), programId: programId(n % 5), untilCycle })
    await next({ waitlist: { put: [entry(1, 10), entry(2, 5), entry(3, 10)] } })
    await next({ waitlist: { put: [entry(4, 5), entry(5, 20)] } })
    expect(store.waitlistSize()).toBe(5)
    expect(store.waitEntry(messageId(2))).toEqual(entry(2, 5))
    expect([...store.waitlist()].map((e) => e.message.id)).toEqual([1, 2, 3, 4, 5].map(messageId).sort())
    expect([...store.waitlistExpiring(10)].map((e) => e.message.id)).toEqual([2, 4, 1, 3].map(messageId))
    // Woken (deleted), re-parked with a new deadline (replaced), deleted twice (absent is fine).
    await next({ waitlist: { delete: [messageId(2), messageId(99)], put: [entry(1, 30)] } })
    await next({ waitlist: { delete: [messageId(2)] } })
    expect(store.waitEntry(messageId(2))).toBeUndefined()
    expect(store.waitEntry(messageId(1))!.untilCycle).toBe(30)
    expect(store.waitlistSize()).toBe(4)
    expect([...store.waitlistExpiring(29)].map((e) => e.message.id)).toEqual([4, 3, 5].map(messageId))
    expect([...store.waitlistExpiring(30)].map((e) => e.message.id)).toEqual([4, 3, 5, 1].map(messageId))
  })

  it('keeps the delayed schedule per cycle in append order', async () => {
    await next({ delayed: { append: [[9, [message(1), message(2)]], [7, [message(3)]]] } })
    await next({ delayed: { append: [[9, [message(4)]], [12, [message(5)]]] } })
    expect(store.delayed(9)).toEqual([message(1), message(2), message(4)])
    expect([...store.delayedCycles()]).toEqual([7, 9, 12])
    await next({ delayed: { delete: [7, 9], append: [[9, [message(6)]]] } })
    expect(store.delayed(7)).toEqual([])
    expect(store.delayed(9)).toEqual([message(6)])
    expect([...store.delayedCycles()]).toEqual([9, 12])
  })

  it('bounds mailboxes, keeping the newest entries in order', async () => {
    const bounded = await open({ mailboxSizeMax: 3 })
    const entry = (n: number) => ({ message: message(n, { destination: userId(1) }), cycle: n })
    await next({ mailboxes: [[userId(1), [entry(1), entry(2)]], [userId(2), [entry(9)]]] }, bounded)
    expect(bounded.mailbox(userId(1))).toEqual([entry(1), entry(2)])
    await next({ mailboxes: [[userId(1), [entry(3), entry(4)]]] }, bounded)
    expect(bounded.mailbox(userId(1))).toEqual([entry(2), entry(3), entry(4)])
    await next({ mailboxes: [[userId(1), [5, 6, 7, 8, 9].map(entry)], [userId(1), [entry(10)]]] }, bounded)
    expect(bounded.mailbox(userId(1))).toEqual([entry(8), entry(9), entry(10)])
    expect(bounded.mailbox(userId(2))).toEqual([entry(9)])
  })

  it('stores nonces and Merkle nodes', async () => {
    const key = (n: number) => Uint8Array.from([n, 0, n])
    await next({ nonces: [[userId(1), 5], [userId(2), 2 ** 40]], merkle: { put: [[key(1), rootOf(1)], [key(2), rootOf(2)]] } })
    expect(store.nonce(userId(1))).toBe(5)
    expect(store.nonce(userId(2))).toBe(2 ** 40)
    expect(store.merkleNode(key(1))).toEqual(rootOf(1))
    await next({ nonces: [[userId(1), 6]], merkle: { delete: [key(1), key(3)], put: [[key(2), rootOf(3)], [new Uint8Array(511).fill(1), rootOf(4)]] } })
    expect(store.nonce(userId(1))).toBe(6)
    expect(store.merkleNode(key(1))).toBeUndefined()
    expect(store.merkleNode(key(2))).toEqual(rootOf(3))
    expect(store.merkleNode(new Uint8Array(511).fill(1))).toEqual(rootOf(4))
    await expectCode(() => next({ merkle: { put: [[new Uint8Array(0), rootOf(1)]] } }), StoreErrorCode.INVALID_ARGUMENT)
    await expectCode(() => next({ merkle: { put: [[new Uint8Array(512), rootOf(1)]] } }), StoreErrorCode.INVALID_ARGUMENT)
    await expectCode(() => next({ merkle: { put: [[key(1), new Uint8Array(31)]] } }), StoreErrorCode.INVALID_ARGUMENT)
  })

  it('advances the head by one cycle or takes an intake commit at the same cycle', async () => {
    await store.commit({ cycle: 0, stateRoot: rootOf('intake'), nonces: [[userId(1), 1]] })
    expect(store.head()).toEqual({ cycle: 0, stateRoot: rootOf('intake'), commitCount: 1 })
    await store.commit({ cycle: 1, stateRoot: rootOf(1) })
    const head = store.head()
    expect(head).toEqual({ cycle: 1, stateRoot: rootOf(1), commitCount: 2 })
    head.stateRoot!.fill(0)
    expect(store.head().stateRoot).toEqual(rootOf(1))
    await expectCode(() => store.commit({ cycle: 3, stateRoot: rootOf(3) }), StoreErrorCode.CYCLE_ORDER)
    await expectCode(() => store.commit({ cycle: 0, stateRoot: rootOf(0) }), StoreErrorCode.CYCLE_ORDER)
    await expectCode(() => store.commit({ cycle: 2, stateRoot: new Uint8Array(31) }), StoreErrorCode.INVALID_ARGUMENT)
    expect(store.head()).toEqual({ cycle: 1, stateRoot: rootOf(1), commitCount: 2 })
  })

  it('rejects a batch with one bad part whole: nothing of it is written', async () => {
    const bad: CommitBatch[] = [
      { cycle: 1, stateRoot: rootOf(1), programs: [record(1)], queue: { appended: [message(1), { ...message(2), id: 'x' as MessageId }] } },
      { cycle: 1, stateRoot: rootOf(1), programs: [record(1)], memory: [{ programId: programId(1), dropped: false, meta: new Uint8Array(0), planes: [{ key: 0, bytes: new Uint8Array(10), root: rootOf(0) }] }] },
      { cycle: 1, stateRoot: rootOf(1), programs: [record(1)], memory: [{ programId: programId(1), dropped: false, meta: new Uint8Array(0), planes: [{ ...planeChange(0, 0), key: 2 ** 24 }] }] },
      { cycle: 1, stateRoot: rootOf(1), programs: [record(1)], memory: [{ programId: programId(1), dropped: false, meta: new Uint8Array(0), planes: [{ ...planeChange(0, 0), chunks: 0x1_0000 }] }] },
      { cycle: 1, stateRoot: rootOf(1), programs: [record(1)], memory: [{ programId: programId(1), dropped: false, meta: new Uint8Array(0), planes: [{ ...planeChange(0, 0), chunks: 1.5 }] }] },
      { cycle: 1, stateRoot: rootOf(1), programs: [record(1)], nonces: [[userId(1), -1]] },
      { cycle: 1, stateRoot: rootOf(1), programs: [{ ...record(1), status: 'sleeping' as never }] },
      { cycle: 1, stateRoot: rootOf(1), programs: [record(1)], waitlist: { put: [{ message: message(1), programId: programId(1), untilCycle: 1.5 }] } },
      { cycle: 1, stateRoot: rootOf(1), programs: [record(1)], delayed: { append: [[1, [{ ...message(1), kind: 'other' as never }]]] } },
    ]
    for (const batch of bad) await expectCode(() => store.commit(batch), StoreErrorCode.INVALID_ARGUMENT)
    expect(store.head().commitCount).toBe(0)
    expect(store.program(programId(1))).toBeUndefined()
    expect(store.queueLength()).toBe(0)
    expect(store.planeKeys(programId(1))).toEqual([])
  })

  it('refuses every call once closed', async () => {
    await store.close()
    await store.close()
    expect(store.closed).toBe(true)
    await expectCode(() => store.head(), StoreErrorCode.CLOSED)
    await expectCode(() => store.plane(programId(1), 0), StoreErrorCode.CLOSED)
    await expectCode(() => next({}), StoreErrorCode.CLOSED)
  })
}
