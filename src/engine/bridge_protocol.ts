/**
 * The bridge between a program's context (the guest) and the host: the only function the guest can call is
 * `host(op, fuel, a, b, c, d)`, which takes primitives and guest Uint8Arrays (copied by the host with its own
 * intrinsics) and returns primitives. Every call settles compute gas: `fuel` is what the guest has left of what the
 * host last handed it; the host charges the difference, runs the operation, and writes the new fuel and a status
 * into the guest's `io` array. Nothing else crosses: no host object ever enters the guest.
 */
export const HostOp = {
  /** Fuel ran out: settle and hand out more (or report out of gas). */
  REFILL: 0,
  /** Copy the message payload into a guest array (a). */
  PAYLOAD: 1,
  GAS_LEFT: 2,
  /** reply(payload a, gasLimit b | undefined) -> message id. */
  REPLY: 3,
  /** send(destination a, payload b, gasLimit c | undefined, delay d | undefined) -> message id. */
  SEND: 4,
  /** wait(cycles a | undefined): recorded; the guest then halts. */
  WAIT: 5,
  WAKE: 6,
  /** createProgram(code a, salt b | undefined, payload c | undefined, gasLimit d) -> program id. */
  CREATE_PROGRAM: 7,
  /** exit(inheritor a): recorded; the guest then halts. */
  EXIT: 8,
  RANDOM: 9,
  /** Loads ctx.state's encoding into the scratch buffer -> its length, or -1 when the program has no state. */
  STATE_LOAD: 10,
  /** Saves ctx.state's new encoding (a). */
  STATE_SAVE: 11,
  /** Copies the scratch buffer into a guest array (a). */
  TAKE: 12,
  MEM_ALLOC: 13,
  MEM_FREE: 14,
  /** loadInto(address a, target b). */
  MEM_LOAD_INTO: 15,
  MEM_STORE: 16,
  MEM_COPY: 17,
  MEM_SIZE_OF: 18,
  /** -> JSON text. */
  MEM_ANALYZE: 19,
  /** -> JSON text with the relocations as [old, new] pairs. */
  MEM_COMPACT: 20,
  /** -> JSON text. */
  MEM_STATS: 21,
  /** A console line (a). */
  LOG: 22,
  /** UTF-8 encodes string a into the scratch buffer -> its length. */
  ENCODE: 23,
  /** UTF-8 decodes bytes a (fatal: b) -> string. */
  DECODE: 24,
  /** load(address a, length b) into the scratch buffer -> its length (the guest then TAKEs it). */
  MEM_LOAD: 25,
} as const

/** `io[1]` after a host call. */
export const BridgeStatus = {
  OK: 0,
  /** The operation failed: the result is "CODE\nmessage"; the guest throws it as a catchable error. */
  ERROR: 1,
  /** Out of gas: the guest halts. */
  OUT_OF_GAS: 2,
} as const

/** Why a guest stopped running program code before the handler returned. */
export const HaltKind = {
  OUT_OF_GAS: 1,
  /** The call-depth counter passed CALL_DEPTH_MAX. */
  DEPTH: 2,
  /** A real stack overflow (from a builtin's native recursion or the host's own frames). */
  STACK: 3,
  WAIT: 4,
  EXIT: 5,
} as const

/** What `run` returns (after the halt kinds, which it returns as they are). */
export const RunOutcome = {
  SUCCESS: 0,
  /** The handler threw: the text is in `errorText()`; a syscall's error code, if it was one, in `errorCode()`. */
  THROWN: 10,
  /** The handler returned a thenable. */
  ASYNC: 11,
  /** ctx.state could not be encoded: the text is in `errorText()`. */
  STATE_ENCODING: 12,
  /** The module's default export is not a program definition (at upload, or a handler that is not a function). */
  BAD_DEFINITION: 13,
} as const

/** Message kinds as the guest receives them. */
export const GuestKind = { init: 0, handle: 1, reply: 2, signal: 3, evaluate: 4 } as const
