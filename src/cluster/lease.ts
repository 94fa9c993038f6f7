/**
 * Leases: how the nodes of a cluster share out roles (the cycle coordinator, virtual shards) through PostgreSQL,
 * so that at most one node holds a role at a time and a node that lost a role can never act on it again.
 *
 * A lease is a row of strata_leases: a name ('cycle', 'shard/17', ...), its holder, an epoch and an expiry.
 *   - acquire: takes a lease that is free or expired and bumps its epoch (a new tenure); a live lease of anyone,
 *     the caller included, is refused (renew it instead);
 *   - renew: extends a live lease whose epoch is still the caller's; an expired one is lost, even if no other
 *     node took it yet, because work started in its term may have been given up for lost by others;
 *   - release: frees a lease at once (its epoch stays, so the next tenure gets a greater one);
 *   - fence: inside the caller's transaction, locks the lease row (FOR SHARE) and refuses unless the lease is
 *     live and its epoch is the caller's. A node puts it in every transaction that acts on a role (a cycle's
 *     commit, a shard's results): a paused node that wakes after its term fails there and writes nothing; and
 *     while its transaction holds the row, no other node can take the lease, so the transaction is ordered
 *     entirely before the next tenure.
 *
 * Every time is the server's (clock_timestamp()), never a node's: nodes' clocks may disagree, the database's is
 * the one every check reads. A term is in milliseconds.
 *
 * A node paused in the middle of a fenced transaction would hold the lease row, and so hold off every other
 * node, for as long as it stays paused. A connection that does fenced work therefore calls `limitIdleTransactions`
 * first: the server then ends a session that sits idle inside a transaction longer than the term, rolling its
 * work back, and the lease can pass on.
 */
import type pg from 'pg'
import { LEASE_TERM_MS_DEFAULT, LEASE_TERM_MS_MAX, LEASE_TERM_MS_MIN } from '../constants.js'
import { StrataError, describeValue } from '../errors.js'
import { ClusterErrorCode } from './errors.js'
import { printableName } from '../bytes.js'

export { LEASE_TERM_MS_DEFAULT, LEASE_TERM_MS_MAX, LEASE_TERM_MS_MIN }
/** Lease names and holders are short labels; these bounds keep a row small and refuse garbage. */
export const LEASE_NAME_SIZE_MAX_CHARS = 100
export const LEASE_HOLDER_SIZE_MAX_CHARS = 200

/** Something that runs SQL: a client, or a pool's client inside a transaction. */
export type Queryable = Pick<pg.ClientBase, 'query'>

export interface Lease {
  readonly name: string
  readonly holder: string
  /** Greater for each tenure of this lease. */
  readonly epoch: number
  /** When it expires unless renewed, in ms since 1970 on the server's clock. */
  readonly expiresAtMs: number
}

interface LeaseRow {
  readonly name: string
  readonly holder: string
  readonly epoch: string
  readonly expires_ms: number
}

const RETURNING = 'RETURNING name, holder, epoch, (extract(epoch FROM expires_at) * 1000)::float8 AS expires_ms'

/** Takes the lease if it is free or expired (a new epoch); undefined if another tenure is live. */
export async function acquireLease(db: Queryable, name: string, holder: string, termMs = LEASE_TERM_MS_DEFAULT): Promise<Lease | undefined> {
  checkArguments(name, holder, termMs)
  const result = await db.query<LeaseRow>(`
    INSERT INTO strata_leases AS l (name, holder, epoch, expires_at)
    VALUES ($1, $2, 1, clock_timestamp() + $3 * interval '1 millisecond')
    ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, epoch = l.epoch + 1, expires_at = EXCLUDED.expires_at
      WHERE l.expires_at <= clock_timestamp()
    ${RETURNING}`, [name, holder, termMs])
  return result.rows[0] === undefined ? undefined : leaseOf(result.rows[0])
}

/** Extends a live lease of this tenure by `termMs` from now; LEASE_LOST if it expired or was taken. */
export async function renewLease(db: Queryable, lease: Lease, termMs = LEASE_TERM_MS_DEFAULT): Promise<Lease> {
  checkArguments(lease.name, lease.holder, termMs)
  const result = await db.query<LeaseRow>(`
    UPDATE strata_leases SET expires_at = clock_timestamp() + $4 * interval '1 millisecond'
    WHERE name = $1 AND holder = $2 AND epoch = $3 AND expires_at > clock_timestamp()
    ${RETURNING}`, [lease.name, lease.holder, lease.epoch, termMs])
  if (result.rows[0] === undefined) throw lost(lease, 'it expired or another node took it')
  return leaseOf(result.rows[0])
}

/** Frees the lease now if this tenure still holds it (live or not); otherwise does nothing. */
export async function releaseLease(db: Queryable, lease: Lease): Promise<void> {
  await db.query(`UPDATE strata_leases SET holder = NULL, expires_at = '-infinity'
    WHERE name = $1 AND holder = $2 AND epoch = $3`, [lease.name, lease.holder, lease.epoch])
}

/**
 * Inside the caller's transaction: locks the lease row against a new tenure until the transaction ends, and
 * fails FENCED (the transaction must roll back) unless the lease is live and of this tenure.
 */
export async function fenceLease(db: Queryable, lease: Lease): Promise<void> {
  await checkLease(db, lease, 'FOR SHARE')
}

/**
 * FENCED unless the lease is live and of this tenure now, without locking its row (fenceLease locks it): for a
 * transaction that is ordered against the next tenure by another lock of its own, and must not hold up the
 * holder's renewals.
 */
export async function checkLease(db: Queryable, lease: Lease, lock: '' | 'FOR SHARE' = ''): Promise<void> {
  const result = await db.query<{ holder: string | null; epoch: string; live: boolean }>(`
    SELECT holder, epoch, expires_at > clock_timestamp() AS live FROM strata_leases WHERE name = $1 ${lock}`, [lease.name])
  const row = result.rows[0]
  if (row === undefined || Number(row.epoch) !== lease.epoch || row.holder !== lease.holder || !row.live) {
    const why = row === undefined ? 'no such lease' : Number(row.epoch) !== lease.epoch ? `epoch ${row.epoch} is another tenure's`
      : row.holder !== lease.holder ? 'it was released' : 'it expired'
    throw new StrataError(ClusterErrorCode.FENCED,
      `lease ${JSON.stringify(lease.name)} (epoch ${lease.epoch}, held by ${JSON.stringify(lease.holder)}) no longer covers this: ${why}`,
      { name: lease.name, epoch: lease.epoch })
  }
}

/**
 * Makes the server end this session if it sits idle inside a transaction for longer than `termMs` (rolling it
 * back), so that a node paused mid-transaction cannot hold a lease row past its term.
 */
export async function limitIdleTransactions(db: Queryable, termMs = LEASE_TERM_MS_DEFAULT): Promise<void> {
  checkArguments('-', '-', termMs)
  await db.query(`SET idle_in_transaction_session_timeout = ${termMs}`)
}

/** Every lease with its current tenure (live or not), by name. */
export async function listLeases(db: Queryable): Promise<(Lease & { readonly live: boolean })[]> {
  const result = await db.query<LeaseRow & { live: boolean }>(`
    SELECT name, holder, epoch, (extract(epoch FROM expires_at) * 1000)::float8 AS expires_ms,
      expires_at > clock_timestamp() AS live
    FROM strata_leases ORDER BY name`)
  return result.rows.map((row) => ({ ...leaseOf(row), live: row.live }))
}

function leaseOf(row: LeaseRow): Lease {
  return { name: row.name, holder: row.holder, epoch: Number(row.epoch), expiresAtMs: row.expires_ms }
}

function lost(lease: Lease, why: string): StrataError {
  return new StrataError(ClusterErrorCode.LEASE_LOST,
    `lease ${JSON.stringify(lease.name)} (epoch ${lease.epoch}) is no longer held by ${JSON.stringify(lease.holder)}: ${why}`,
    { name: lease.name, epoch: lease.epoch })
}

function checkArguments(name: unknown, holder: unknown, termMs: unknown): void {
  const invalid = (message: string): StrataError => new StrataError(ClusterErrorCode.INVALID_ARGUMENT, message)
  if (typeof name !== 'string' || name.length === 0 || name.length > LEASE_NAME_SIZE_MAX_CHARS) {
    throw invalid(`a lease name must be a string of 1..${LEASE_NAME_SIZE_MAX_CHARS} characters, got ${describeValue(name)}`)
  }
  if (typeof holder !== 'string' || holder.length === 0 || holder.length > LEASE_HOLDER_SIZE_MAX_CHARS || !printableName(holder)) {
    throw invalid(`a lease holder must be a string of 1..${LEASE_HOLDER_SIZE_MAX_CHARS} printable characters, got ${describeValue(holder)}`)
  }
  if (typeof termMs !== 'number' || !Number.isSafeInteger(termMs) || termMs < LEASE_TERM_MS_MIN || termMs > LEASE_TERM_MS_MAX) {
    throw invalid(`a lease term must be an integer number of ms in ${LEASE_TERM_MS_MIN}..${LEASE_TERM_MS_MAX}, got ${describeValue(termMs)}`)
  }
}
