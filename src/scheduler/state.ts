/**
 * What the scheduler keeps on the main thread between cycles: program records, the queue, the waitlist, the
 * delayed-message schedule, mailboxes and user nonces. Program memories live with the streams.
 */
import type { CodeId, MessageId, ProgramId, UserId } from '../message/ids.js'
import type { Message } from '../message/types.js'
import type { ProgramRecord } from '../program/records.js'
import { MessageQueue } from './queue.js'

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

export class SchedulerState {
  /** Parks a message; it times out at the start of cycle untilCycle + 1. */
  park(entry: WaitEntry): void {
    this.waitlist.set(entry.message.id, entry)
    const at = entry.untilCycle + 1
    const ids = this.waitExpiry.get(at)
    if (ids === undefined) this.waitExpiry.set(at, [entry.message.id])
    else ids.push(entry.message.id)
  }

  /** The last committed cycle (0 before the first). */
  cycle = 0
  readonly codes = new Set<CodeId>()
  readonly programs = new Map<ProgramId, ProgramRecord>()
  readonly queue = new MessageQueue()
  readonly waitlist = new Map<MessageId, WaitEntry>()
  /** Cycle -> ids whose wait expires at that cycle's start (untilCycle + 1); woken ids are skipped. */
  readonly waitExpiry = new Map<number, MessageId[]>()
  /** Cycle number -> messages released into the queue at that cycle's start, in emission order. */
  readonly delayed = new Map<number, Message[]>()
  readonly mailboxes = new Map<UserId, MailboxEntry[]>()
  readonly nonces = new Map<UserId, number>()
}
