/**
 * The inspector's own error codes (docs/inspector.md, "Errors"), each with the HTTP status it is answered with.
 * Errors the runtime raises keep their StrataError code; `statusOf` picks their status.
 */
import { StrataError } from '../errors.js'
import { RuntimeErrorCode } from '../scheduler/index.js'

export const ServeErrorCode = {
  /** A query parameter or body field that is missing, of the wrong type, out of range or unknown. */
  BAD_REQUEST: 'BAD_REQUEST',
  /** A POST without `Authorization: Bearer TOKEN`, or with the wrong token. */
  UNAUTHORIZED: 'UNAUTHORIZED',
  /** A Host header that does not name the server, or a POST from another origin (DNS rebinding, CSRF). */
  FORBIDDEN: 'FORBIDDEN',
  /** No such route or file. */
  NOT_FOUND: 'NOT_FOUND',
  /** A route that exists, asked with another method. */
  METHOD_NOT_ALLOWED: 'METHOD_NOT_ALLOWED',
  /** A request body over REQUEST_BODY_MAX_BYTES. */
  PAYLOAD_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  /** SSE_STREAMS_MAX event streams are open already. */
  TOO_MANY_STREAMS: 'TOO_MANY_STREAMS',
  /** startInspector called with a bad option (a bug of the caller, not a request's). */
  INVALID_OPTION: 'INVALID_OPTION',
  /** Anything unexpected: the message says nothing of it (stderr has the real error). */
  INTERNAL: 'INTERNAL',
} as const
export type ServeErrorCode = (typeof ServeErrorCode)[keyof typeof ServeErrorCode]

/** An error the inspector answers with `status` and `{ error: { code, message } }`. */
export class HttpError extends StrataError<string> {
  constructor(readonly status: number, code: string, message: string) {
    super(code, message)
    this.name = 'HttpError'
  }
}

export const badRequest = (message: string): HttpError => new HttpError(400, ServeErrorCode.BAD_REQUEST, message)

/** The status of a StrataError the runtime raised: 404 for unknown programs, 409 busy, 503 stopped, else 400. */
export function statusOf(error: StrataError): number {
  if (error instanceof HttpError) return error.status
  switch (error.code) {
    case RuntimeErrorCode.UNKNOWN_PROGRAM: return 404
    case RuntimeErrorCode.BUSY: return 409
    case RuntimeErrorCode.FAULTED:
    case RuntimeErrorCode.CLOSED: return 503
    // System errors (a stalled worker, state that fails its commitments) are not the caller's fault.
    case RuntimeErrorCode.WATCHDOG:
    case RuntimeErrorCode.INTEGRITY: return 500
    default: return 400
  }
}
