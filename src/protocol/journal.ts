/**
 * The journal: what executing one message produced, as the stream workers report it and the main thread applies
 * it (scheduler/apply.ts). Part of the wire protocol between them (wire.ts): a change here is a PROTOCOL_VERSION
 * change.
 */
import type { CodeId, MessageId, ProgramId } from '../message/index.js'
import type { MessageKind, Message } from '../message/index.js'
import type { ProgramRecord } from './records.js'

export const ExecutionResult = {
  SUCCESS: 'success',
  /** Failed: memory, state and sends rolled back; an error reply (for init/handle). */
  ERROR: 'error',
  /** Parked in the waitlist; memory changes and sends kept. */
  WAITED: 'waited',
  /** The program exited. */
  EXITED: 'exited',
  /** Not run: the program is unavailable (exited, init failed, not initialized). */
  SKIPPED: 'skipped',
} as const
export type ExecutionResult = (typeof ExecutionResult)[keyof typeof ExecutionResult]

export interface MessageOutcome {
  readonly messageId: MessageId
  /** The external message whose tree this message belongs to. */
  readonly origin: MessageId
  readonly programId: ProgramId
  readonly kind: MessageKind
  readonly result: ExecutionResult
  /** The code of the reply this message produced (null for reply/signal messages and waits). */
  readonly replyCode: number | null
  readonly gasBurned: number
  /** Gas returned to the origin: neither burned nor carried by an emitted message. */
  readonly gasRefunded: number
  readonly error?: string
  /** For a thrown error: its stack trace, program frames only (program:line:column), for debugging. */
  readonly trace?: string
  readonly logs: readonly string[]
}

export interface JournalEntry {
  readonly outcome: MessageOutcome
  /** Emitted messages in emission order (sends, program inits, the reply or exit signal last). */
  readonly outgoing: readonly Message[]
  readonly created: readonly CreatedProgram[]
  readonly wakes: readonly MessageId[]
  /** Set when the message waits: the message to park (carrying its unused gas) and its deadline. */
  readonly wait?: { readonly message: Message; readonly untilCycle: number }
  /** The program's record after the message, when it changed. */
  readonly program?: ProgramRecord
}

/** A program a message created: applied (or refused, if the id exists or the code does not) in queue order. */
export interface CreatedProgram {
  readonly programId: ProgramId
  readonly codeId: CodeId
  readonly initMessageId: MessageId
}
