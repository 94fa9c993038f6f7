/**
 * Applying journal entries to the scheduler state, in queue order: what a sequential pass would do, so the
 * result never depends on how many streams executed the cycle.
 *
 * For one entry, in this order:
 *   1. the program's record update (status, state address);
 *   2. programs it created: registered as initializing, or their init message answered with PROGRAM_EXISTS /
 *      CODE_NOT_FOUND if the id is taken (also by an earlier entry of this cycle) or the code is unknown;
 *   3. outgoing messages in emission order: to a program -> the queue (or the delayed schedule), to anyone
 *      else -> that user's mailbox, with its gas refunded;
 *   4. wakes: waiting messages of this program go back to the queue;
 *   5. the message itself into the waitlist, if it waited.
 */
import type { MessageId, ProgramId, UserId } from '../message/index.js'
import { ReplyCode } from '../message/index.js'
import type { Message } from '../message/index.js'
import { MessageKind } from '../message/index.js'
import { replyMessage } from '../program/index.js'
import { ProgramStatus, type JournalEntry, type MessageOutcome, type ProgramStatus as Status } from '../protocol/index.js'
import type { SchedulerState } from './state.js'

/** What applying a cycle did, for its report and events. */
export class CycleEffects {
  readonly outcomes: MessageOutcome[] = []
  /** Messages delivered to user mailboxes (their gas was refunded). */
  readonly mailboxed: Message[] = []
  readonly statusChanges: { readonly programId: ProgramId; readonly status: Status }[] = []
  /** Programs that exited this cycle: their memory is dropped. */
  readonly exited: ProgramId[] = []
  /** Messages appended to the queue (outgoing, released, woken, timed-out replies). */
  enqueued = 0
}

export function applyEntry(state: SchedulerState, entry: JournalEntry, cycle: number, effects: CycleEffects): void {
  const { outcome } = entry
  effects.outcomes.push(outcome)
  if (entry.program !== undefined) {
    const before = state.programs.get(entry.program.id)?.status
    state.programs.set(entry.program.id, entry.program)
    if (before !== entry.program.status) {
      effects.statusChanges.push({ programId: entry.program.id, status: entry.program.status })
      if (entry.program.status === ProgramStatus.EXITED) effects.exited.push(entry.program.id)
    }
  }
  let rejected: Map<MessageId, number> | undefined
  for (const created of entry.created) {
    const code = state.programs.has(created.programId) ? ReplyCode.PROGRAM_EXISTS
      : state.hasCode(created.codeId) ? undefined : ReplyCode.CODE_NOT_FOUND
    if (code !== undefined) {
      rejected ??= new Map()
      rejected.set(created.initMessageId, code)
      continue
    }
    state.programs.set(created.programId, {
      id: created.programId, codeId: created.codeId, status: ProgramStatus.INITIALIZING, stateAddress: null,
      creator: outcome.programId,
    })
    effects.statusChanges.push({ programId: created.programId, status: ProgramStatus.INITIALIZING })
  }
  for (const message of entry.outgoing) {
    const code = rejected?.get(message.id)
    route(state, code === undefined ? message
      : replyMessage(message, message.destination, cycle, 0, code, new Uint8Array(0), message.gasLimit), cycle, effects)
  }
  for (const id of entry.wakes) {
    const waiting = state.waitlist.get(id)
    if (waiting === undefined || waiting.programId !== outcome.programId) continue
    state.unpark(id)
    state.enqueue(waiting.message)
    effects.enqueued += 1
  }
  if (entry.wait !== undefined) {
    state.park({ message: entry.wait.message, programId: outcome.programId, untilCycle: entry.wait.untilCycle })
  }
}

/**
 * The start of cycle `cycle`: delayed messages due now join the queue, and waiting messages past their deadline
 * leave the waitlist with a WAIT_TIMEOUT reply carrying their gas (a waiting init marks its program failed).
 */
export function beginCycle(state: SchedulerState, cycle: number, effects: CycleEffects): void {
  const due = state.release(cycle)
  if (due !== undefined) {
    for (const message of due) route(state, message, cycle, effects, true)
  }
  const expiring = state.waitExpiry.get(cycle)
  if (expiring === undefined) return
  // In the order they were parked (a re-park counts from its latest park): the store keeps the same order.
  for (const id of [...expiring]) {
    const entry = state.unpark(id)!
    const reply = replyMessage(entry.message, entry.programId, cycle, 0, ReplyCode.WAIT_TIMEOUT, new Uint8Array(0),
      entry.message.gasLimit)
    route(state, reply, cycle, effects)
    const program = state.programs.get(entry.programId)
    if (entry.message.kind === MessageKind.INIT && program?.status === ProgramStatus.INITIALIZING) {
      state.programs.set(program.id, { ...program, status: ProgramStatus.INIT_FAILED })
      effects.statusChanges.push({ programId: program.id, status: ProgramStatus.INIT_FAILED })
    }
  }
}

function route(state: SchedulerState, message: Message, cycle: number, effects: CycleEffects, released = false): void {
  if (!released && message.delay !== undefined && message.delay > 0) {
    state.schedule(cycle + 1 + message.delay, message)
    return
  }
  if (state.programs.has(message.destination as ProgramId)) {
    state.enqueue(message)
    effects.enqueued += 1
    return
  }
  state.deliver(message.destination as UserId, { message, cycle })
  effects.mailboxed.push(message)
}
