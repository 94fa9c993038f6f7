/** Error codes of program code handling and of syscalls. */
export const ProgramErrorCode = {
  /** Code that does not bundle or load: syntax error, forbidden import, no valid default export, too large. */
  BAD_CODE: 'BAD_CODE',
  /** A code id that was never uploaded. */
  UNKNOWN_CODE: 'UNKNOWN_CODE',
  /** A syscall called with bad arguments or at a bad time (second reply, too many sends, ...). */
  SYSCALL_MISUSE: 'SYSCALL_MISUSE',
  /** `ctx.state` cannot be encoded (a function, symbol, cycle, too deep or too large). */
  STATE_ENCODING: 'STATE_ENCODING',
  /** A payload over PAYLOAD_SIZE_MAX_BYTES. */
  PAYLOAD_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
} as const
export type ProgramErrorCode = (typeof ProgramErrorCode)[keyof typeof ProgramErrorCode]
