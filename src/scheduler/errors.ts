/** Error codes of the Runtime's public methods. */
export const RuntimeErrorCode = {
  /** The runtime was closed. */
  CLOSED: 'CLOSED',
  /** An option of Runtime.open that is out of range or of the wrong type. */
  INVALID_OPTION: 'INVALID_OPTION',
  /** No program with that id exists. */
  UNKNOWN_PROGRAM: 'UNKNOWN_PROGRAM',
  /** A user message whose source is a program id (users cannot speak for programs). */
  INVALID_SOURCE: 'INVALID_SOURCE',
  /** A payload that is not a Uint8Array. */
  INVALID_PAYLOAD: 'INVALID_PAYLOAD',
  /** A payload over PAYLOAD_SIZE_MAX_BYTES. */
  PAYLOAD_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  /** The queue holds queueLengthMax messages: run cycles, then send again. */
  QUEUE_FULL: 'QUEUE_FULL',
  /** createProgram for an id that exists already. */
  PROGRAM_EXISTS: 'PROGRAM_EXISTS',
  /** A cycle is already running (runCycle is not reentrant). */
  BUSY: 'BUSY',
  /** A system error stopped the runtime; it runs no more cycles (reopen it). */
  FAULTED: 'FAULTED',
  /** A stream worker stalled twice in one cycle (the watchdog): a fault of the machine or of Strata, not a program's. */
  WATCHDOG: 'WATCHDOG',
  /** createProgram names a code that was never uploaded. */
  UNKNOWN_CODE: 'UNKNOWN_CODE',
  /** A gas limit that is not an integer in 0..MESSAGE_GAS_LIMIT_MAX. */
  INVALID_GAS: 'INVALID_GAS',
  /** Committed state that does not match its commitments (the store's root, a plane in metadata but not stored). */
  INTEGRITY: 'INTEGRITY',
  /** A change (send, upload, create, cycle, flush) asked of a runtime opened with readOnly: true. */
  READ_ONLY: 'READ_ONLY',
} as const
export type RuntimeErrorCode = (typeof RuntimeErrorCode)[keyof typeof RuntimeErrorCode]
