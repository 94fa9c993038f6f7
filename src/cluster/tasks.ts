/**
 * The transport of a cycle's stream tasks between the coordinator and the nodes: rows of strata_tasks (cycle,
 * stream, the commit count the coordinator executed from, the encoded task, the encoded result), a NOTIFY on
 * each side to wake the other, and the stream leases that say which node runs which stream.
 */
import { StrataError } from '../errors.js'
import type { EncodedResult } from '../protocol/index.js'
import { ClusterErrorCode } from './errors.js'

/** What runs the lease look-up: a client, or a caller's queue of statements on one. */
export interface Statements {
  query<R extends Record<string, unknown>>(text: string, values: unknown[]): Promise<{ readonly rows: R[] }>
}

/** The channel a coordinator NOTIFYs when it inserts a task (payload: the stream number). */
export const TASKS_CHANNEL = 'strata_tasks'
/** The channel a node NOTIFYs when it writes a result (payload: `cycle/stream`). */
export const RESULTS_CHANNEL = 'strata_results'
/**
 * How often each side looks at the table without being woken: NOTIFY wakes it within milliseconds, so this only
 * bounds the wait after a lost notification (a listening connection that dropped) and how late a lease's expiry
 * is seen while waiting: 100 ms is small beside a lease term (at least LEASE_TERM_MS_MIN) and costs one indexed
 * read per waiting stream.
 */
export const TASK_POLL_MS = 100

/** The lease a node holds to run stream k's tasks. */
export function streamLeaseName(stream: number): string {
  return `stream/${stream}`
}

/** Whether some node holds lease `name` now (on the server's clock). */
export async function leaseIsLive(db: Statements, name: string): Promise<boolean> {
  const result = await db.query<{ live: boolean }>(
    'SELECT holder IS NOT NULL AND expires_at > clock_timestamp() AS live FROM strata_leases WHERE name = $1', [name])
  return result.rows[0]?.live === true
}

/** Bytes of a length prefix in a packed result. */
const LENGTH_BYTES = 4

/**
 * An encoded result (a msgpack header plus one buffer per written chunk) as one bytea value: the header and each
 * buffer, each led by its length (uint32, little-endian), after the count of buffers.
 */
export function packResult(encoded: EncodedResult): Buffer {
  const parts = [encoded.header, ...encoded.buffers.map((b) => new Uint8Array(b))]
  const out = Buffer.alloc(LENGTH_BYTES + parts.reduce((sum, p) => sum + LENGTH_BYTES + p.byteLength, 0))
  let at = out.writeUInt32LE(encoded.buffers.length, 0)
  for (const part of parts) {
    at = out.writeUInt32LE(part.byteLength, at)
    out.set(part, at)
    at += part.byteLength
  }
  return out
}

export function unpackResult(bytes: Uint8Array): EncodedResult {
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const malformed = (why: string): StrataError =>
    new StrataError(ClusterErrorCode.INVALID_ARGUMENT, `a stream result row of ${bytes.byteLength} bytes is malformed: ${why}`)
  if (view.byteLength < LENGTH_BYTES) throw malformed('no buffer count')
  const count = view.readUInt32LE(0)
  let at = LENGTH_BYTES
  const parts: ArrayBuffer[] = []
  for (let i = 0; i <= count; i += 1) {
    if (at + LENGTH_BYTES > view.byteLength) throw malformed(`part ${i} has no length`)
    const length = view.readUInt32LE(at)
    at += LENGTH_BYTES
    if (at + length > view.byteLength) throw malformed(`part ${i} runs past the end`)
    parts.push(view.buffer.slice(view.byteOffset + at, view.byteOffset + at + length) as ArrayBuffer)
    at += length
  }
  if (at !== view.byteLength) throw malformed(`${view.byteLength - at} bytes after the last part`)
  return { header: new Uint8Array(parts[0]!), buffers: parts.slice(1) }
}

/** A node's worker that died on a message or stalled (the row's `failure`, JSON): the Dispatcher's StreamFailure. */
export interface TaskFailure {
  readonly kind: 'timeout' | 'crash'
  readonly messageIndex: number
  readonly message: string
}

export function failureOf(text: string): TaskFailure {
  const value = JSON.parse(text) as Partial<TaskFailure>
  if ((value.kind !== 'timeout' && value.kind !== 'crash') || !Number.isSafeInteger(value.messageIndex) || typeof value.message !== 'string') {
    throw new StrataError(ClusterErrorCode.INVALID_ARGUMENT, `a stream failure row is malformed: ${text.slice(0, 200)}`)
  }
  return value as TaskFailure
}
