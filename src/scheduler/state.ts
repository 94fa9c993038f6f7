/**
 * What the scheduler keeps on the main thread between cycles, over the store: program records, the queue, the
 * waitlist, the delayed-message schedule, mailboxes and user nonces. Every change since the last commit is
 * recorded here, and `takeChanges` turns them into the next commit batch.
 *
 * Residency, chosen so that opening a store reads nothing per program or per queued message:
 *   - program records, mailboxes and nonces are read from the store when first asked for and cached;
 *   - the queue is read from the store as cycles take from it; only messages appended since the last commit
 *     are held here;
 *   - the waitlist and the delayed schedule (pending work, bounded by gas, not by the data at rest) are loaded
 *     whole when the state is opened.
 */
import { MAILBOX_SIZE_MAX } from '../constants.js'
import type { CodeId, MessageId, ProgramId, UserId } from '../message/index.js'
import type { Message } from '../message/index.js'
import type { ProgramRecord } from '../protocol/index.js'
import type { CommitBatch, Store } from '../store/index.js'

export interface WaitEntry {
  readonly message: Message
  readonly programId: ProgramId
  /** The last cycle in which a wake can still find it; it times out at the start of the next. */
  readonly untilCycle: number
}

export interface MailboxEntry {
  readonly message: Message
  /** The cycle in which it arrived. */
  readonly cycle: number
}

/** Program records: a cache over the store, with the ids written since the last commit. */
export class ProgramTable {
  readonly #store: Store
  readonly #cache = new Map<ProgramId, ProgramRecord | null>()
  readonly #dirty = new Set<ProgramId>()
  /** Programs created since the last commit (not yet counted by the store). */
  #added = 0

  constructor(store: Store) {
    this.#store = store
  }

  get(id: ProgramId): ProgramRecord | undefined {
    let record = this.#cache.get(id)
    if (record === undefined) {
      record = this.#store.program(id) ?? null
      this.#cache.set(id, record)
    }
    return record ?? undefined
  }

  has(id: ProgramId): boolean {
    return this.get(id) !== undefined
  }

  set(id: ProgramId, record: ProgramRecord): void {
    if (!this.has(id)) this.#added += 1
    this.#cache.set(id, record)
    this.#dirty.add(id)
  }

  get size(): number {
    return this.#store.programCount() + this.#added
  }

  /** Every program id: the store's walk plus programs created since the last commit. */
  *keys(): IterableIterator<ProgramId> {
    const seen = new Set<ProgramId>()
    for (const id of this.#store.programIds()) {
      seen.add(id)
      yield id
    }
    for (const id of this.#dirty) if (!seen.has(id)) yield id
  }

  get changed(): boolean {
    return this.#dirty.size > 0
  }

  takeDirty(): ProgramRecord[] {
    const records = [...this.#dirty].map((id) => this.#cache.get(id)!)
    this.#dirty.clear()
    this.#added = 0
    return records
  }
}

export class SchedulerState {
  /** The last committed cycle (0 before the first). */
  cycle: number
  readonly programs: ProgramTable
  readonly waitlist = new Map<MessageId, WaitEntry>()
  /** Cycle -> ids whose wait expires at that cycle's start (untilCycle + 1), in the order they were parked. */
  readonly waitExpiry = new Map<number, Set<MessageId>>()
  /** Cycle number -> messages released into the queue at that cycle's start, in emission order. */
  readonly delayed = new Map<number, Message[]>()
  readonly #store: Store
  readonly #nonces = new Map<UserId, number>()
  // ---- changes since the last commit ----
  /** Messages taken from the head of the store's queue since the last commit. */
  #queueConsumed = 0
  /** Messages appended since the last commit, in order; those before #appendedTaken were taken already. */
  readonly #queueAppended: Message[] = []
  #appendedTaken = 0
  readonly #waitChanges = new Map<MessageId, WaitEntry | null>()
  readonly #delayedReleased = new Set<number>()
  readonly #delayedAppended = new Map<number, Message[]>()
  readonly #mailboxAppended = new Map<UserId, MailboxEntry[]>()
  readonly #noncesChanged = new Set<UserId>()

  /** Opens the state of `store` at its head: loads the queue, waitlist and delayed schedule. */
  constructor(store: Store) {
    this.#store = store
    this.cycle = store.head().cycle
    this.programs = new ProgramTable(store)
    for (const entry of store.waitlistExpiring(Number.MAX_SAFE_INTEGER)) this.#index(entry)
    for (const cycle of store.delayedCycles()) this.delayed.set(cycle, store.delayed(cycle))
  }

  hasCode(codeId: CodeId): boolean {
    return this.#store.hasCode(codeId)
  }

  // ---- queue ----

  /** Messages queued: the store's committed queue, less what was taken since, plus what was appended. */
  get queueLength(): number {
    return this.#store.queueLength() - this.#queueConsumed + this.#queueAppended.length - this.#appendedTaken
  }

  enqueue(message: Message): void {
    this.#queueAppended.push(message)
  }

  /**
   * Removes and returns the longest prefix whose summed gas limits fit `gasBudget`, with at most `countMax`
   * messages and at least one (a message larger than the budget still runs, alone). Independent of streams.
   * Reads the committed queue from the store first (only as far as it takes), then messages appended since.
   */
  takePrefix(gasBudget: number, countMax: number): Message[] {
    const taken: Message[] = []
    let gas = 0
    const fits = (message: Message): boolean => {
      if (taken.length >= countMax || (taken.length > 0 && gas + message.gasLimit > gasBudget)) return false
      gas += message.gasLimit
      taken.push(message)
      return true
    }
    if (this.#queueConsumed < this.#store.queueLength()) {
      let skip = this.#queueConsumed
      for (const message of this.#store.queue()) {
        if (skip > 0) {
          skip -= 1
          continue
        }
        if (!fits(message)) return taken
        this.#queueConsumed += 1
      }
    }
    while (this.#appendedTaken < this.#queueAppended.length && fits(this.#queueAppended[this.#appendedTaken]!)) {
      this.#appendedTaken += 1
    }
    return taken
  }

  /**
   * The first `limit` messages of the queue after skipping `offset`, in queue order, without taking them (for
   * inspection). Reads the committed queue from the store only as far as it needs.
   */
  peekQueue(offset: number, limit: number): Message[] {
    const found: Message[] = []
    let skip = offset + this.#queueConsumed
    if (limit === 0) return found
    if (this.#queueConsumed < this.#store.queueLength()) {
      for (const message of this.#store.queue()) {
        if (skip > 0) {
          skip -= 1
          continue
        }
        found.push(message)
        if (found.length >= limit) return found
      }
    } else {
      skip = offset
    }
    for (let i = this.#appendedTaken; i < this.#queueAppended.length && found.length < limit; i += 1) {
      if (skip > 0) skip -= 1
      else found.push(this.#queueAppended[i]!)
    }
    return found
  }

  // ---- waitlist ----

  /** Parks a message; it times out at the start of cycle untilCycle + 1. A re-park moves it to the back. */
  park(entry: WaitEntry): void {
    this.unpark(entry.message.id)
    this.#index(entry)
    this.#waitChanges.delete(entry.message.id)
    this.#waitChanges.set(entry.message.id, entry)
  }

  /** Removes a waiting message (woken or timed out); returns its entry. */
  unpark(id: MessageId): WaitEntry | undefined {
    const entry = this.waitlist.get(id)
    if (entry === undefined) return undefined
    this.waitlist.delete(id)
    const at = entry.untilCycle + 1
    const ids = this.waitExpiry.get(at)
    if (ids !== undefined) {
      ids.delete(id)
      if (ids.size === 0) this.waitExpiry.delete(at)
    }
    this.#waitChanges.set(id, null)
    return entry
  }

  #index(entry: WaitEntry): void {
    this.waitlist.set(entry.message.id, entry)
    const at = entry.untilCycle + 1
    let ids = this.waitExpiry.get(at)
    if (ids === undefined) {
      ids = new Set()
      this.waitExpiry.set(at, ids)
    }
    ids.add(entry.message.id)
  }

  // ---- delayed ----

  schedule(at: number, message: Message): void {
    const list = this.delayed.get(at)
    if (list === undefined) this.delayed.set(at, [message])
    else list.push(message)
    const appended = this.#delayedAppended.get(at)
    if (appended === undefined) this.#delayedAppended.set(at, [message])
    else appended.push(message)
  }

  /** Removes and returns the messages due at `cycle`. */
  release(cycle: number): Message[] | undefined {
    const due = this.delayed.get(cycle)
    if (due === undefined) return undefined
    this.delayed.delete(cycle)
    this.#delayedReleased.add(cycle)
    this.#delayedAppended.delete(cycle)
    return due
  }

  // ---- mailboxes and nonces ----

  /** A user's mailbox, oldest first, as of now (committed entries plus those delivered since). */
  mailbox(userId: UserId): MailboxEntry[] {
    const appended = this.#mailboxAppended.get(userId)
    const box = this.#store.mailbox(userId)
    if (appended === undefined) return box
    return [...box, ...appended].slice(-MAILBOX_SIZE_MAX)
  }

  deliver(userId: UserId, entry: MailboxEntry): void {
    const appended = this.#mailboxAppended.get(userId)
    if (appended === undefined) this.#mailboxAppended.set(userId, [entry])
    else {
      appended.push(entry)
      if (appended.length > MAILBOX_SIZE_MAX) appended.shift()
    }
  }

  nonce(userId: UserId): number {
    let nonce = this.#nonces.get(userId)
    if (nonce === undefined) {
      nonce = this.#store.nonce(userId)
      this.#nonces.set(userId, nonce)
    }
    return nonce
  }

  setNonce(userId: UserId, nonce: number): void {
    this.#nonces.set(userId, nonce)
    this.#noncesChanged.add(userId)
  }

  // ---- commits ----

  /** Whether anything changed since the last commit (intake between cycles included). */
  get changed(): boolean {
    return this.programs.changed || this.#queueConsumed > 0 || this.#queueAppended.length > 0 || this.#waitChanges.size > 0
      || this.#delayedReleased.size > 0 || this.#delayedAppended.size > 0 || this.#mailboxAppended.size > 0
      || this.#noncesChanged.size > 0
  }

  /**
   * The scheduler part of the next commit batch, and a fresh change log. The queue part is net: messages both
   * appended and consumed since the last commit never reach the store.
   */
  takeChanges(): Pick<CommitBatch, 'programs' | 'queue' | 'waitlist' | 'delayed' | 'mailboxes' | 'nonces'> {
    const consumed = this.#queueConsumed
    const appended = this.#queueAppended.slice(this.#appendedTaken)
    const waitDelete: MessageId[] = []
    const waitPut: WaitEntry[] = []
    for (const [id, entry] of this.#waitChanges) {
      if (entry === null) waitDelete.push(id)
      else waitPut.push(entry)
    }
    const batch = {
      programs: this.programs.takeDirty(),
      queue: { consumed, appended },
      waitlist: { delete: waitDelete, put: waitPut },
      delayed: { delete: [...this.#delayedReleased], append: [...this.#delayedAppended] },
      mailboxes: [...this.#mailboxAppended],
      nonces: [...this.#noncesChanged].map((user) => [user, this.#nonces.get(user)!] as const),
    }
    this.#queueConsumed = 0
    this.#queueAppended.length = 0
    this.#appendedTaken = 0
    this.#waitChanges.clear()
    this.#delayedReleased.clear()
    this.#delayedAppended.clear()
    this.#mailboxAppended.clear()
    this.#noncesChanged.clear()
    return batch
  }
}
