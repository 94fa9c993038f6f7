/**
 * `strata coordinator`: the cluster's coordinator on a PostgreSQL database (docs/cluster.md), as a long-running
 * process. It takes the cycle lease, or stands by while another coordinator holds it and takes over when that one
 * stops or dies; then it takes client sends from the inbox and runs cycles whenever there is work, until SIGINT
 * or SIGTERM (it finishes the cycle it is in, releases the lease, and exits 0). A coordinator that loses its
 * lease or its database faults and exits with EXIT_FAULTED: its successor (a standby) goes on from the last
 * commit, and nothing it did not commit counts.
 */
import path from 'node:path'
import { LEASE_TERM_MS_DEFAULT, LEASE_TERM_MS_MAX, LEASE_TERM_MS_MIN, NODES_MAX, STREAMS_MAX } from '../constants.js'
import type { StrataError } from '../errors.js'
import { usageError, type Command } from './args.js'
import { runtimeModule } from './data.js'
import { plural } from './output.js'

/**
 * How often an idle coordinator looks at the inbox: a send waits at most this long for its cycle to start, and
 * each look is one indexed read.
 */
export const COORDINATOR_POLL_MS_DEFAULT = 100
/** How long a standby that lost the database waits before it connects again (as a node does). */
export const RECONNECT_DELAY_MS = 250
/** The exit status of a coordinator stopped by a fault (a lost lease, a lost database): its standby takes over. */
export const EXIT_FAULTED = 3

export type CoordinatorEvent =
  | { readonly kind: 'standby'; readonly holder: string | null }
  /** A standby lost the database (IO) and connects again after RECONNECT_DELAY_MS. */
  | { readonly kind: 'reconnect'; readonly message: string }
  | { readonly kind: 'coordinator'; readonly cycle: number; readonly stateRoot: string }
  | { readonly kind: 'cycle'; readonly cycle: number; readonly stateRoot: string; readonly processed: number; readonly failed: number; readonly taken: number }
  | { readonly kind: 'fault'; readonly code: string; readonly message: string }
  | { readonly kind: 'stopped'; readonly cycle: number }

export const coordinator: Command = {
  name: 'coordinator',
  usage: 'strata coordinator --url URL [--nodes N | --streams N] [--name NAME] [--cache DIR] [--term MS] [--poll MS]',
  about: 'the cluster\'s coordinator: runs cycles on a PostgreSQL database, or stands by to take over',
  help: `Runs the coordinator of a Strata cluster on the PostgreSQL database at --url. It holds the cycle lease (the
coordinator's role) and renews it; while another live coordinator holds it, it stands by and takes over once
that one stops, or dies and its lease term passes. As coordinator it takes client sends from the database's
inbox (\`strata send --url\`) and runs cycles until nothing is queued, waiting or delayed, then looks again every
--poll ms. Each cycle is one PostgreSQL transaction fenced by the lease: a coordinator that lost it commits
nothing. Ctrl-C (or SIGTERM) finishes the cycle, releases the lease (a standby takes over at once) and exits 0;
a fault (the lease or the database lost) exits ${EXIT_FAULTED}.

  --url URL            the database (postgres://...); its password is never printed
  --nodes N            run each cycle's N streams on \`strata node --stream K\` processes (1..${NODES_MAX})
  --streams N          or run N local streams (0..${STREAMS_MAX}; default one per core)
  --name NAME          this coordinator's name in the lease (default HOST:PID)
  --cache DIR          the directory of its replica (default: one under the temp directory)
  --term MS            the cycle lease's term (${LEASE_TERM_MS_MIN}..${LEASE_TERM_MS_MAX}; default ${LEASE_TERM_MS_DEFAULT}): a dead
                       coordinator is replaced after at most this long (at once when restarted on the same --cache)
  --poll MS            how often an idle coordinator looks at the inbox (10..60000; default ${COORDINATOR_POLL_MS_DEFAULT})
  --json               one JSON line per event on stdout ({"kind":"standby"|"coordinator"|"cycle"|"fault"|"stopped"})`,
  options: {
    url: { type: 'string' }, nodes: { type: 'string' }, streams: { type: 'string' }, name: { type: 'string' }, cache: { type: 'string' },
    term: { type: 'string' }, poll: { type: 'string' },
  },
  async run(args) {
    args.expect(0, 0, 'no positional arguments')
    const url = args.required('url', 'URL (the PostgreSQL database)')
    const nodes = args.integer('nodes', undefined, 1, NODES_MAX)
    const streams = args.integer('streams', undefined, 0, STREAMS_MAX)
    if (nodes !== undefined && streams !== undefined) throw usageError('coordinator: --nodes N runs N streams, one per node; leave out --streams')
    const leaseTermMs = args.integer('term', LEASE_TERM_MS_DEFAULT, LEASE_TERM_MS_MIN, LEASE_TERM_MS_MAX)
    const pollMs = args.integer('poll', COORDINATOR_POLL_MS_DEFAULT, 10, 60_000)
    const name = args.string('name')
    const cache = args.string('cache')
    if (cache === '' || name === '') throw usageError('coordinator: --cache and --name need a value')
    const { checkedDatabaseUrl, ClusterErrorCode } = await import('../cluster/index.js')
    let where: string
    try {
      where = checkedDatabaseUrl(url, '--url').where
    } catch (error) {
      throw usageError((error as Error).message)
    }
    const emit = (event: CoordinatorEvent): void => {
      if (args.json) {
        process.stdout.write(`${JSON.stringify(event)}\n`)
      } else if (event.kind === 'cycle') {
        process.stdout.write(`strata coordinator: cycle ${event.cycle}: ${plural(event.processed, 'message')} (${event.failed} failed, `
          + `${event.taken} taken from the inbox), state root ${event.stateRoot}\n`)
      } else {
        const { kind, ...rest } = event
        const detail = Object.entries(rest).map(([k, v]) => `${k} ${typeof v === 'string' ? v : JSON.stringify(v)}`).join(', ')
        process.stdout.write(`strata coordinator: ${where}: ${kind}${detail === '' ? '' : ` (${detail})`}\n`)
      }
    }

    let stopping = false
    let wake: (() => void) | undefined
    let opened = false
    const stop = (): void => {
      // A standby has nothing to finish: it leaves at once (its lease, if it just took one, expires after its term).
      if (!opened) process.exit(0)
      stopping = true
      wake?.()
    }
    process.on('SIGINT', stop)
    process.on('SIGTERM', stop)
    const { Runtime } = await runtimeModule()
    const options = {
      store: 'postgres' as const, url, leaseTermMs,
      ...(nodes !== undefined ? { nodes } : {}), ...(streams !== undefined ? { streams } : {}),
      ...(name !== undefined ? { node: name } : {}), ...(cache !== undefined ? { cacheDir: path.resolve(cache) } : {}),
    }
    try {
      let rt
      let standby = false
      while (rt === undefined) {
        try {
          rt = await Runtime.open({ ...options, standby })
        } catch (error) {
          const code = (error as { code?: unknown }).code
          if (code === ClusterErrorCode.LEASE_HELD) {
            emit({ kind: 'standby', holder: ((error as StrataError).details?.holder as string | null | undefined) ?? null })
            standby = true
          } else if (code === ClusterErrorCode.IO && standby) {
            // A standby outlives the database's restarts and network cuts: it is there to take over after one.
            emit({ kind: 'reconnect', message: (error as Error).message })
            await new Promise((resolve) => setTimeout(resolve, RECONNECT_DELAY_MS))
          } else {
            throw error
          }
        }
      }
      opened = true
      try {
        emit({ kind: 'coordinator', cycle: rt.cycle, stateRoot: rt.stateRoot() })
        while (!stopping) {
          const taken = await rt.intake()
          if (rt.idle) {
            // Sends it took and refused change no state, but their refusals are recorded now (`send --wait`).
            if (taken > 0) await rt.flush()
            await new Promise<void>((resolve) => {
              const timer = setTimeout(done, pollMs)
              function done(): void {
                clearTimeout(timer)
                wake = undefined
                resolve()
              }
              wake = done
            })
            continue
          }
          const report = await rt.runCycle()
          emit({ kind: 'cycle', cycle: report.cycle, stateRoot: report.stateRoot, processed: report.processed, failed: report.failed, taken })
        }
        emit({ kind: 'stopped', cycle: rt.cycle })
        return 0
      } catch (error) {
        const code = typeof (error as { code?: unknown }).code === 'string' ? (error as { code: string }).code : 'INTERNAL'
        emit({ kind: 'fault', code, message: (error as Error).message })
        return EXIT_FAULTED
      } finally {
        await rt.close().catch(() => undefined)
      }
    } finally {
      process.off('SIGINT', stop)
      process.off('SIGTERM', stop)
    }
  },
}
