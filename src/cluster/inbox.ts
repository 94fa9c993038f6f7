/**
 * The inbox: how clients send to a cluster without being its coordinator. A send is one INSERT into
 * strata_inbox; once it returns, the send is durable (acknowledged), whatever happens to the coordinator. The
 * coordinator takes the inbox's requests into its queue at the start of each cycle (Store.takeInbox), in the
 * order they were accepted, and records in that cycle's commit what each one became: the message id (from the
 * sender's nonce, as `Runtime.send` gives it) or why it was refused (an unknown program, a program as sender).
 * A coordinator that dies before its commit leaves the requests untaken, and its successor takes them again.
 *
 *   strata_inbox (seq, source, destination, payload, gas_limit, accepted_at, taken_commit, message_id, refused)
 *
 * A request the coordinator took is kept for INBOX_KEEP_COMMITS commits, so that a client can learn its message
 * id (`status`), and then deleted by a later commit.
 */
import type pg from 'pg'
import { StrataError, describeValue } from '../errors.js'
import { toId, type ProgramId, type UserId } from '../message/index.js'
import { RuntimeErrorCode, checkPayloadAndGas, type SendInput } from '../scheduler/index.js'
import { ClusterErrorCode } from './errors.js'
import { CONNECT_TIMEOUT_MS, QUERY_TIMEOUT_MS, step } from './postgres_store.js'
import { checkedDatabaseUrl, type DatabaseUrl } from './url.js'

/**
 * Taken requests are kept this many commits for `status`, then deleted: at one commit every few ms under load,
 * that is seconds to minutes of answers, and the table stays small.
 */
export const INBOX_KEEP_COMMITS = 10_000
/** Requests one `sendAll` inserts at most (one statement): bounds its parameter arrays. */
export const INBOX_SEND_ALL_MAX = 1_000
/** Payload bytes one `sendAll` carries at most (one binary parameter): 16 payloads of the 1 MiB maximum. */
export const INBOX_SEND_ALL_BYTES_MAX = 16 * 1024 * 1024
/**
 * Payload bytes one intake reads at most (besides its count, INBOX_TAKE_MAX): 64 payloads of the 1 MiB maximum,
 * so a flood of large sends is taken over several cycles instead of in one unbounded read. At least one request
 * is always taken.
 */
export const INBOX_TAKE_BYTES_MAX = 64 * 1024 * 1024

/** What became of a request: waiting for the coordinator, taken (with its message id) or refused (and why). */
export type InboxStatus =
  | { readonly state: 'pending' }
  | { readonly state: 'taken'; readonly messageId: string; readonly commit: number }
  | { readonly state: 'refused'; readonly error: string; readonly commit: number }
  /** Taken more than INBOX_KEEP_COMMITS commits ago (its row was deleted), or never accepted. */
  | { readonly state: 'unknown' }

export class ClusterClient {
  #client: pg.Client
  readonly #url: DatabaseUrl
  readonly #connect: () => Promise<pg.Client>
  /** The connection failed (the server restarted, the network was cut): the next call connects again. */
  #broken = false
  #closed = false

  private constructor(client: pg.Client, url: DatabaseUrl, connect: () => Promise<pg.Client>) {
    this.#client = client
    this.#url = url
    this.#connect = connect
    this.#watch(client)
  }

  #watch(client: pg.Client): void {
    client.on('error', () => { if (this.#client === client) this.#broken = true })
  }

  /**
   * The connection, made again if it failed since the last call. A call that fails on a broken connection fails
   * IO; for `send`, the outcome is then unknown (the INSERT may have committed): `status` of a later seq, or
   * the mailbox, tells.
   */
  async #db(): Promise<pg.Client> {
    if (this.#broken) {
      const old = this.#client
      this.#client = await this.#connect()
      this.#broken = false
      this.#watch(this.#client)
      await old.end().catch(() => undefined)
    }
    return this.#client
  }

  /** One statement at a time, in call order (pg wants one query at a time per connection). */
  #serial: Promise<unknown> = Promise.resolve()

  #query<R extends pg.QueryResultRow>(action: string, text: string, values: unknown[]): Promise<R[]> {
    const run = this.#serial.then(() => this.#run<R>(action, text, values))
    this.#serial = run.catch(() => undefined)
    return run
  }

  async #run<R extends pg.QueryResultRow>(action: string, text: string, values: unknown[]): Promise<R[]> {
    return step(this.#url, action, async () => {
      const client = await this.#db()
      try {
        return (await client.query<R>(text, values)).rows
      } catch (error) {
        // A statement that fails on a dead connection marks it broken even before pg's 'error' event.
        if ((error as { code?: unknown }).code === undefined) this.#broken = true
        throw error
      }
    })
  }

  /** Connects to the cluster's database (which a coordinator must have created: NOT_FOUND otherwise). */
  static async open(options: { readonly url: string }): Promise<ClusterClient> {
    if (typeof options !== 'object' || options === null) {
      throw new StrataError(ClusterErrorCode.INVALID_ARGUMENT, `options must be an object, got ${describeValue(options)}`)
    }
    const url = checkedDatabaseUrl(options.url)
    const { default: driver } = await import('pg')
    const connect = async (): Promise<pg.Client> => {
      const client = new driver.Client({ connectionString: url.url, connectionTimeoutMillis: CONNECT_TIMEOUT_MS, query_timeout: QUERY_TIMEOUT_MS })
      client.on('error', () => undefined) // the next statement fails and names it
      try {
        await step(url, 'connect', () => client.connect())
        return client
      } catch (error) {
        await client.end().catch(() => undefined)
        throw error
      }
    }
    const client = await connect()
    try {
      const exists = await step(url, 'look for the inbox', async () => (await client.query<{ found: boolean }>(
        "SELECT to_regclass('strata_inbox') IS NOT NULL AS found")).rows[0]!.found)
      if (!exists) {
        throw new StrataError(ClusterErrorCode.NOT_FOUND,
          `${url.where} holds no Strata cluster (no inbox): a coordinator (\`strata coordinator\`, or a writer runtime) creates it`)
      }
      return new ClusterClient(client, url, connect)
    } catch (error) {
      await client.end().catch(() => undefined)
      throw error
    }
  }

  /** host:port/database, without credentials. */
  get where(): string {
    return this.#url.where
  }

  /**
   * Sends a message from a user to a program: durable once this resolves (the coordinator's next cycle takes
   * it). The checks that need no state are made here (ids, payload, gas), and the program must exist
   * (UNKNOWN_PROGRAM); what the coordinator refuses later (a program as sender) shows in `status`.
   */
  async send(input: SendInput): Promise<{ readonly seq: number }> {
    const [seq] = await this.sendAll([input])
    return { seq: seq! }
  }

  /** Several sends in one statement (at most INBOX_SEND_ALL_MAX), accepted in this order; returns their seqs. */
  async sendAll(inputs: readonly SendInput[]): Promise<number[]> {
    this.#open()
    if (!Array.isArray(inputs) || inputs.length === 0 || inputs.length > INBOX_SEND_ALL_MAX) {
      throw new StrataError(ClusterErrorCode.INVALID_ARGUMENT,
        `sendAll takes 1..${INBOX_SEND_ALL_MAX} sends, got ${Array.isArray(inputs) ? `${inputs.length}` : describeValue(inputs)}`)
    }
    const checked = inputs.map((input) => {
      if (typeof input !== 'object' || input === null) {
        throw new StrataError(RuntimeErrorCode.INVALID_PAYLOAD, `send expects { source, destination, payload, gasLimit }, got ${describeValue(input)}`)
      }
      // Each field read once: a getter cannot pass the checks with one value and be sent with another.
      const { source: rawSource, destination: rawDestination, payload, gasLimit } = input
      const source = toId<UserId>(rawSource, 'source')
      const destination = toId<ProgramId>(rawDestination, 'destination')
      checkPayloadAndGas(payload, gasLimit)
      // A copy, made with the check: the caller's buffer may change, grow (a resizable ArrayBuffer) or be
      // detached while this call awaits the database, and what is sent must be what was checked.
      return { source, destination, payload: new Uint8Array(payload), gasLimit }
    })
    const bytes = checked.reduce((sum, c) => sum + c.payload.length, 0)
    if (bytes > INBOX_SEND_ALL_BYTES_MAX) {
      throw new StrataError(ClusterErrorCode.INVALID_ARGUMENT,
        `sendAll carries at most ${INBOX_SEND_ALL_BYTES_MAX} payload bytes in one call, got ${bytes}; send them in several calls`)
    }
    const destinations = [...new Set(checked.map((c) => c.destination))]
    const url = this.#url
    const known = new Set((await this.#query<{ id: string }>('look up the programs',
      "SELECT encode(program_id, 'hex') AS id FROM strata_programs WHERE program_id = ANY($1::bytea[])",
      [destinations.map((d) => Buffer.from(d, 'hex'))])).map((r) => r.id))
    const unknown = destinations.find((d) => !known.has(d))
    if (unknown !== undefined) {
      throw new StrataError(RuntimeErrorCode.UNKNOWN_PROGRAM, `no program ${unknown} in ${url.where}`, { destination: unknown })
    }
    // Payloads travel as one binary parameter with their lengths (as materialize.ts sends bytea), cut apart by
    // the server: pg would otherwise send an array of Buffers as hex text.
    const lengths = checked.map((c) => c.payload.length)
    const starts = lengths.map((_, i) => 1 + lengths.slice(0, i).reduce((a, b) => a + b, 0))
    const rows = await this.#query<{ seq: string }>('send to the inbox', `
        WITH r AS (
          SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::int[], $5::bigint[]) WITH ORDINALITY AS r(source, destination, start, len, gas, n)
        ), i AS (
          INSERT INTO strata_inbox (source, destination, payload, gas_limit)
          SELECT decode(source, 'hex'), decode(destination, 'hex'), substring($6::bytea FROM start FOR len), gas FROM r ORDER BY n
          RETURNING seq
        )
        SELECT seq FROM i ORDER BY seq`,
      [checked.map((c) => c.source), checked.map((c) => c.destination), starts, lengths, checked.map((c) => c.gasLimit),
        Buffer.concat(checked.map((c) => c.payload))])
    return rows.map((r) => Number(r.seq))
  }

  /** Up to `limit` (1..100) program ids that begin with the hex `prefix`, in id order (for CLI prefixes). */
  async programsStartingWith(prefix: string, limit: number): Promise<string[]> {
    this.#open()
    if (typeof prefix !== 'string' || !/^[0-9a-f]{0,64}$/.test(prefix) || !Number.isSafeInteger(limit) || limit < 1 || limit > 100) {
      throw new StrataError(ClusterErrorCode.INVALID_ARGUMENT, `a program id prefix is up to 64 lowercase hex digits, with a limit in 1..100; got ${describeValue(prefix)}, ${describeValue(limit)}`)
    }
    const padded = (fill: string): Buffer => Buffer.from(prefix.padEnd(64, fill), 'hex')
    return (await this.#query<{ id: string }>('look up programs by prefix',
      `SELECT encode(program_id, 'hex') AS id FROM strata_programs WHERE program_id BETWEEN $1 AND $2 ORDER BY program_id LIMIT $3`,
      [padded('0'), padded('f'), limit])).map((r) => r.id)
  }

  /** What became of the request `seq`. */
  async status(seq: number): Promise<InboxStatus> {
    this.#open()
    if (!Number.isSafeInteger(seq) || seq < 1) throw new StrataError(ClusterErrorCode.INVALID_ARGUMENT, `seq must be a positive integer, got ${describeValue(seq)}`)
    const [row] = await this.#query<{ taken_commit: string | null; message_id: string | null; refused: string | null }>(`read inbox entry ${seq}`,
      'SELECT taken_commit, message_id, refused FROM strata_inbox WHERE seq = $1', [seq])
    if (row === undefined) return { state: 'unknown' }
    if (row.taken_commit === null) return { state: 'pending' }
    const commit = Number(row.taken_commit)
    return row.refused !== null ? { state: 'refused', error: row.refused, commit } : { state: 'taken', messageId: row.message_id!, commit }
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await this.#client.end().catch(() => undefined)
  }

  #open(): void {
    if (this.#closed) throw new StrataError(ClusterErrorCode.INVALID_ARGUMENT, `the cluster client of ${this.#url.where} is closed`)
  }
}

/** Connects a client of the cluster at `url`. See ClusterClient. */
export function openClusterClient(options: { readonly url: string }): Promise<ClusterClient> {
  return ClusterClient.open(options)
}

// ---- the coordinator's side (the PostgreSQL store) -----------------------------------------------------------------

/** A request's settlement, written by the commit that follows it. */
export interface InboxSettlement {
  readonly seq: number
  readonly messageId: string | null
  readonly refused: string | null
}

/** Up to `max` untaken requests, oldest first, skipping those settled since the last commit. */
export async function readInbox(client: pg.Client, url: DatabaseUrl, max: number, settled: readonly InboxSettlement[]): Promise<{
  seq: number; source: string; destination: string; payload: Uint8Array; gasLimit: number
}[]> {
  const rows = await step(url, 'read the inbox', async () => (await client.query<{ seq: string; source: string; destination: string; payload: Buffer; gas_limit: string }>(
    `SELECT * FROM (
        SELECT seq, encode(source, 'hex') AS source, encode(destination, 'hex') AS destination, gas_limit,
          sum(octet_length(payload)) OVER (ORDER BY seq) - octet_length(payload) AS before, payload
        FROM strata_inbox WHERE taken_commit IS NULL AND NOT (seq = ANY($1::bigint[])) ORDER BY seq LIMIT $2
      ) r WHERE before = 0 OR before + octet_length(payload) <= $3 ORDER BY seq`,
    [settled.map((s) => s.seq), max, INBOX_TAKE_BYTES_MAX])).rows)
  return rows.map((r) => ({
    seq: Number(r.seq), source: r.source, destination: r.destination, payload: new Uint8Array(r.payload), gasLimit: Number(r.gas_limit),
  }))
}

/** Inside the commit's transaction: marks the settled requests taken by `commit`, and deletes those taken long ago. */
export async function recordInbox(client: pg.Client, commit: number, settled: readonly InboxSettlement[]): Promise<void> {
  if (settled.length === 0) return
  await client.query(`UPDATE strata_inbox i SET taken_commit = $1, message_id = u.message_id, refused = u.refused
    FROM unnest($2::bigint[], $3::text[], $4::text[]) AS u(seq, message_id, refused) WHERE i.seq = u.seq`,
  [commit, settled.map((s) => s.seq), settled.map((s) => s.messageId), settled.map((s) => s.refused)])
  await client.query('DELETE FROM strata_inbox WHERE taken_commit <= $1', [commit - INBOX_KEEP_COMMITS])
}
