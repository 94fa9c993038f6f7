import type { ActorId, CodeId, ProgramId } from '../message/index.js'

export const ProgramStatus = {
  /** Created; its init message has not succeeded yet. */
  INITIALIZING: 'initializing',
  ACTIVE: 'active',
  /** Called `exit`; its memory is gone and messages to it get PROGRAM_EXITED. */
  EXITED: 'exited',
  /** Its init failed; messages to it get PROGRAM_INIT_FAILED. */
  INIT_FAILED: 'init_failed',
} as const
export type ProgramStatus = (typeof ProgramStatus)[keyof typeof ProgramStatus]

/** Status as a byte (committed in the state root, docs/merkle.md). */
export const PROGRAM_STATUS_CODE: Readonly<Record<ProgramStatus, number>> = {
  initializing: 0, active: 1, exited: 2, init_failed: 3,
}

export interface ProgramRecord {
  readonly id: ProgramId
  readonly codeId: CodeId
  readonly status: ProgramStatus
  /** Address of `ctx.state`'s header in the static region, once state was first saved. */
  readonly stateAddress: number | null
  /** Who created it (a user or a program). */
  readonly creator: ActorId
  /** Set when the program exited. */
  readonly inheritor?: ActorId
}
