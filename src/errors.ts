/**
 * Strata's error channels (STYLE.md):
 *  1. expected outcomes are values (a gas charge returns a boolean, a message outcome carries a reply code);
 *  2. misuse of the public API throws `StrataError` with a typed `code` and a message naming the value;
 *  3. broken invariants are `assert` failures: bugs, never turned into replies.
 *
 * Codes live beside the module that raises them (`memory/errors.ts`, ...); this file holds the class and the
 * helpers every module shares.
 */
export class StrataError<Code extends string = string> extends Error {
  readonly code: Code
  /** Optional structured details (the offending value, limits), for callers that want more than the text. */
  readonly details: Readonly<Record<string, unknown>> | undefined

  constructor(code: Code, message: string, details?: Readonly<Record<string, unknown>>) {
    super(message)
    this.name = 'StrataError'
    this.code = code
    this.details = details
  }
}

export function isStrataError(value: unknown): value is StrataError {
  return value instanceof StrataError
}

/** Raised only for broken invariants: a bug in Strata, never a user's mistake. */
export class AssertionFailure extends Error {
  constructor(message: string) {
    super(`strata invariant broken: ${message}`)
    this.name = 'AssertionFailure'
  }
}

export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new AssertionFailure(message)
}

/** Renders a user-supplied value for an error message without dumping huge inputs. */
export function describeValue(value: unknown): string {
  // Total: it names a caller's bad value in an error, and a Proxy (revoked, or with throwing traps) or a getter
  // must not turn that error into another.
  try {
    return describeReadable(value)
  } catch {
    return 'an unreadable value'
  }
}

function describeReadable(value: unknown): string {
  if (value instanceof Uint8Array) return `Uint8Array(${String(value.length)})`
  if (typeof value === 'string') return JSON.stringify(value.length > 64 ? `${value.slice(0, 64)}…` : value)
  if (typeof value === 'bigint') return `${value}n`
  if (value === null || typeof value !== 'object') return String(value)
  if (Array.isArray(value)) return `Array(${value.length})`
  return Object.prototype.toString.call(value)
}
