/**
 * Reply codes: one byte on every reply, in the spirit of Gear's. 0x00-0x0F are successes, everything from 0x10 is
 * an error. The table (with when each is sent) is in docs/reply-codes.md; a test keeps the two in step.
 */
export const ReplyCode = {
  /** The handler finished without replying; the runtime replied with an empty payload. */
  SUCCESS_AUTO: 0x00,
  /** The handler replied with `ctx.reply`. */
  SUCCESS_MANUAL: 0x01,

  /** The handler threw (any value: Error, string, undefined, ...). */
  EXECUTION_ERROR: 0x10,
  /** The message ran out of gas; all of its gas is burned. */
  OUT_OF_GAS: 0x11,
  /** A memory fault: out of bounds, use after free, double free, bad free, bad size, region limit. */
  MEMORY_FAULT: 0x12,
  /** An allocation would exceed the program's plane budget. */
  MEMORY_BUDGET_EXCEEDED: 0x13,
  /** The handler returned a Promise: handlers are synchronous. */
  ASYNC_HANDLER: 0x14,
  /** `ctx.state` holds a value msgpack cannot encode, or encodes larger than the state limit. */
  STATE_ENCODING: 0x15,
  /** A syscall was misused: bad arguments, a second reply, too many sends, a payload over the limit. */
  SYSCALL_ERROR: 0x16,
  /** Retired: the watchdog no longer fails messages (a stall is a fault of the runtime). Never sent. */
  TIMEOUT: 0x17,
  /** The stream's worker died while this message ran, e.g. it exhausted the worker heap (machine-dependent). */
  WORKER_DIED: 0x18,
  /** Calls nested deeper than CALL_DEPTH_MAX, or a builtin overflowed the stack; the fees so far are burned. */
  STACK_LIMIT: 0x19,

  /** The destination program has exited. */
  PROGRAM_EXITED: 0x20,
  /** The destination program's init failed. */
  PROGRAM_INIT_FAILED: 0x21,
  /** The destination program has not finished init. */
  PROGRAM_NOT_INITIALIZED: 0x22,
  /** createProgram: a program with the derived id exists already. */
  PROGRAM_EXISTS: 0x23,
  /** createProgram: no code with that id was uploaded. */
  CODE_NOT_FOUND: 0x24,
  /** The message waited longer than its wait timeout and was removed from the waitlist. */
  WAIT_TIMEOUT: 0x30,
} as const
export type ReplyCode = (typeof ReplyCode)[keyof typeof ReplyCode]

export function isErrorReply(code: number): boolean {
  return code >= 0x10
}

const NAMES = new Map<number, string>(Object.entries(ReplyCode).map(([name, code]) => [code, name]))

export function replyCodeName(code: number): string {
  return NAMES.get(code) ?? `UNKNOWN_0x${code.toString(16).padStart(2, '0')}`
}
