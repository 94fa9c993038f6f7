/**
 * The cycle lease: the coordinator's role. Only the holder of the lease `cycle` commits cycles (a PostgreSQL
 * store fences every commit with it, in the commit's own transaction), so a coordinator that died or was paused
 * past its term is replaced by a standby, and can never commit again.
 *
 *   - take: at open, after the cache directory's lock. A live lease of another coordinator is LEASE_HELD, or, for
 *     a standby, waited out (looked at every STANDBY_POLL_MS). One shortcut: the cache directory remembers the
 *     holder name of the last coordinator that used it (CYCLE_LEASE_FILE_NAME). If the live lease is held under
 *     that name, its holder is dead, because it held this directory's lock, which is now ours (the lock is taken
 *     only from a dead process): the lease is taken over at once instead of after its term. A coordinator
 *     restarted on the same machine therefore resumes without waiting. The record names the directory's device and
 *     inode too and counts only there: a copy of the directory (without its lock) beside a live coordinator must
 *     not push that coordinator out.
 *   - keep: renewed at a third of its term on a connection of its own (a long commit statement on the store's
 *     connection must not hold a renewal up). A renewal that fails LEASE_LOST, or none that succeeded for a
 *     whole term (the database unreachable), marks the lease lost: commits are refused FENCED from then on.
 *   - release: at close, so a standby takes over at its next look instead of after the term.
 */
import { randomBytes } from 'node:crypto'
import { readFileSync, statSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import type pg from 'pg'
import { StrataError } from '../errors.js'
import { ClusterErrorCode } from './errors.js'
import { LEASE_HOLDER_SIZE_MAX_CHARS, acquireLease, releaseLease, renewLease, type Lease } from './lease.js'
import { step } from './postgres_store.js'
import type { DatabaseUrl } from './url.js'

export const CYCLE_LEASE_NAME = 'cycle'
/** The file in a cache directory that names the holder of its last coordinator's cycle lease. */
export const CYCLE_LEASE_FILE_NAME = 'cycle-lease'
/**
 * How often a standby looks at the cycle lease: a quarter of the term (so a takeover lands within 1.25 terms of
 * the holder's death), but at least every 250 ms, whatever the term (a released lease is taken that soon after a
 * clean stop). Each look is one indexed read.
 */
export const STANDBY_POLL_MS_MAX = 250
/** Random hex characters that make each tenure's holder name unique (a restarted process may reuse a pid). */
const HOLDER_TOKEN_CHARS = 12

export interface CycleLeaseOptions {
  readonly cacheDir: string
  /** The coordinator's name (the writer's `holder`); a unique suffix is added. */
  readonly holder: string
  readonly termMs: number
  /** Wait for the lease while another coordinator holds it (true), or fail LEASE_HELD (false). */
  readonly standby: boolean
  /** A standby's work between two looks at the lease (the store keeps its replica near the head). */
  readonly whileWaiting?: () => Promise<void>
}

/** Takes the cycle lease (see the module's comment); the caller holds the cache directory's lock. */
export async function takeCycleLease(client: pg.Client, url: DatabaseUrl, options: CycleLeaseOptions): Promise<Lease> {
  const { cacheDir, termMs } = options
  const holder = `${options.holder.slice(0, LEASE_HOLDER_SIZE_MAX_CHARS - HOLDER_TOKEN_CHARS - 1)}/${randomBytes(HOLDER_TOKEN_CHARS / 2).toString('hex')}`
  const file = path.join(cacheDir, CYCLE_LEASE_FILE_NAME)
  const identity = directoryIdentity(cacheDir)
  const previous = identity === undefined ? undefined : readPrevious(file, identity)
  for (;;) {
    const lease = await step(url, 'take the cycle lease', async () => {
      if (previous !== undefined) {
        const taken = await client.query<{ epoch: string; expires_ms: number }>(`
          UPDATE strata_leases SET holder = $2, epoch = epoch + 1, expires_at = clock_timestamp() + $3 * interval '1 millisecond'
          WHERE name = $1 AND holder = $4
          RETURNING epoch, (extract(epoch FROM expires_at) * 1000)::float8 AS expires_ms`, [CYCLE_LEASE_NAME, holder, termMs, previous])
        const row = taken.rows[0]
        if (row !== undefined) return { name: CYCLE_LEASE_NAME, holder, epoch: Number(row.epoch), expiresAtMs: row.expires_ms }
      }
      return acquireLease(client, CYCLE_LEASE_NAME, holder, termMs)
    })
    if (lease !== undefined) {
      try {
        if (identity !== undefined) writeFileSync(file, `${lease.holder}\n${identity}\n`)
      } catch {
        // Only the restart shortcut depends on it: without the file, a restart waits out the term.
      }
      return lease
    }
    const current = await step(url, 'read the cycle lease', async () => (await client.query<{ holder: string | null; left_ms: number }>(
      `SELECT holder, (extract(epoch FROM expires_at - clock_timestamp()) * 1000)::float8 AS left_ms FROM strata_leases WHERE name = $1`,
      [CYCLE_LEASE_NAME])).rows[0])
    if (!options.standby) {
      throw new StrataError(ClusterErrorCode.LEASE_HELD,
        `${url.where} has a live coordinator: ${JSON.stringify(current?.holder ?? '?')} holds the cycle lease for ${Math.max(0, Math.round(current?.left_ms ?? 0))} ms more unless it renews it; `
        + 'stop it, or open this one as a standby (standby: true, `strata coordinator`) to take over when it stops',
        { holder: current?.holder ?? null })
    }
    const next = Date.now() + Math.min(STANDBY_POLL_MS_MAX, Math.max(1, Math.floor(termMs / 4)))
    await options.whileWaiting?.()
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, next - Date.now())))
  }
}

/**
 * The cache directory's identity (device and inode): the record of the last coordinator counts only in the
 * directory it was written in. A copy of the directory (cp, rsync, tar) elsewhere, on this machine or another,
 * while that coordinator lives, has another lock and another identity: without this, its first open would take
 * the live lease at once and push the live coordinator out (FENCED).
 */
function directoryIdentity(dir: string): string | undefined {
  try {
    const stat = statSync(dir, { bigint: true })
    return `${stat.dev}:${stat.ino}`
  } catch {
    return undefined
  }
}

/** The holder named by the record (`holder`, then the directory's identity), if written in this very directory. */
function readPrevious(file: string, identity: string): string | undefined {
  try {
    const [holder, writtenIn] = readFileSync(file, 'utf8').split('\n')
    return holder !== undefined && holder.length > 0 && holder.length <= LEASE_HOLDER_SIZE_MAX_CHARS && writtenIn === identity ? holder : undefined
  } catch {
    return undefined
  }
}

/** Renews a held lease on a connection of its own until stopped; `lost` says why it is no longer held. */
export class LeaseKeeper {
  readonly #client: pg.Client
  readonly #url: DatabaseUrl
  readonly #termMs: number
  readonly #timer: ReturnType<typeof setInterval>
  #lease: Lease
  /** When the last renewal succeeded, on this process's monotonic clock. */
  #renewedAt = performance.now()
  #renewing = false
  #lost: StrataError | undefined
  #stopped = false

  constructor(client: pg.Client, url: DatabaseUrl, lease: Lease, termMs: number) {
    this.#client = client
    this.#url = url
    this.#lease = lease
    this.#termMs = termMs
    client.on('error', () => undefined) // a renewal then fails and says so
    this.#timer = setInterval(() => this.#renew(), Math.max(1, Math.floor(termMs / 3)))
    this.#timer.unref()
  }

  get lease(): Lease {
    return this.#lease
  }

  /** Why the lease is no longer held (FENCED), or undefined while it is. */
  get lost(): StrataError | undefined {
    if (this.#lost === undefined && performance.now() - this.#renewedAt > this.#termMs) {
      this.#lose(`no renewal succeeded for ${this.#termMs} ms (its term): the database was unreachable, or this process was paused`)
    }
    return this.#lost
  }

  #renew(): void {
    if (this.#renewing || this.#stopped || this.lost !== undefined) return
    this.#renewing = true
    const started = performance.now()
    renewLease(this.#client, this.#lease, this.#termMs).then((renewed) => {
      this.#lease = renewed
      this.#renewedAt = started
    }, (error: StrataError) => {
      if (error.code === ClusterErrorCode.LEASE_LOST) this.#lose(error.message)
      // Otherwise (IO) the next tick tries again; `lost` turns true once a whole term passed without a renewal.
    }).finally(() => { this.#renewing = false })
  }

  #lose(why: string): void {
    this.#lost ??= new StrataError(ClusterErrorCode.FENCED,
      `this coordinator's cycle lease on ${this.#url.where} (epoch ${this.#lease.epoch}) is lost: ${why}; nothing more is committed by it`,
      { epoch: this.#lease.epoch })
  }

  /** Stops renewing; releases the lease (a standby takes over at once) unless it is lost; closes the connection. */
  async stop(): Promise<void> {
    if (this.#stopped) return
    this.#stopped = true
    clearInterval(this.#timer)
    if (this.#lost === undefined) await releaseLease(this.#client, this.#lease).catch(() => undefined)
    await this.#client.end().catch(() => undefined)
  }
}
