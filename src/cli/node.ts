/**
 * `strata node`: one node of a cluster on PostgreSQL (docs/cluster.md). It runs stream K's tasks for the
 * coordinator (a writer runtime opened with `nodes`) until SIGINT or SIGTERM, then
 * releases its lease and exits 0.
 */
import path from 'node:path'
import { LEASE_TERM_MS_DEFAULT, LEASE_TERM_MS_MAX, LEASE_TERM_MS_MIN, STREAMS_MAX } from '../constants.js'
import { usageError, type Command } from './args.js'

/** The lease term's bounds (src/constants.ts, so that `--help` loads nothing of the cluster). */
export { LEASE_TERM_MS_DEFAULT as TERM_MS_DEFAULT, LEASE_TERM_MS_MAX as TERM_MS_MAX, LEASE_TERM_MS_MIN as TERM_MS_MIN }

export const node: Command = {
  name: 'node',
  usage: 'strata node --url URL [--stream K] [--name NAME] [--cache DIR] [--term MS]',
  about: 'a cluster node: runs one stream of every cycle for the coordinator on a PostgreSQL database',
  help: `Runs one node of a Strata cluster on the PostgreSQL database at --url. It takes the lease stream/K
(waiting while another live node holds it), renews it at a third of its term, and runs stream K's task of each
cycle the coordinator (a writer opened with nodes: N, N > K) hands out, against a local replica of the
database brought to the head the coordinator executed from. Its result is written only while its lease is
still its own. A coordinator runs the stream itself whenever no live node holds its lease, so nodes may come
and go at any time; the state roots are those of one node. Ctrl-C (or SIGTERM) releases the lease and exits 0.

  --url URL            the database (postgres://...); its password is never printed
  --stream K           the stream this node runs (0..${STREAMS_MAX - 1}). Without it, the node takes the lowest stream
                       of the coordinator's N that no live node holds, and waits as a spare while all are held:
                       it takes over a dead node's stream once that node's term has passed
  --name NAME          the lease holder's name (default HOST:PID)
  --cache DIR          the directory of this node's replica (default: a reader slot under the temp directory)
  --term MS            the lease term in milliseconds (${LEASE_TERM_MS_MIN}..${LEASE_TERM_MS_MAX}; default ${LEASE_TERM_MS_DEFAULT}): a dead
                       node's stream passes to the coordinator after at most this long
  --json               one JSON line per event on stdout ({"kind":"lease"|"task"|"result"|"fenced"|...})`,
  options: { url: { type: 'string' }, stream: { type: 'string' }, name: { type: 'string' }, cache: { type: 'string' }, term: { type: 'string' } },
  async run(args) {
    args.expect(0, 0, 'no positional arguments')
    const url = args.required('url', 'URL (the PostgreSQL database)')
    const stream = args.integer('stream', undefined, 0, STREAMS_MAX - 1)
    const termMs = args.integer('term', LEASE_TERM_MS_DEFAULT, LEASE_TERM_MS_MIN, LEASE_TERM_MS_MAX)
    const name = args.string('name')
    const cache = args.string('cache')
    if (cache === '' || name === '') throw usageError('node: --cache and --name need a value')
    const { checkedDatabaseUrl, runNode } = await import('../cluster/index.js')
    let where: string
    try {
      where = checkedDatabaseUrl(url, '--url').where
    } catch (error) {
      throw usageError((error as Error).message)
    }
    const controller = new AbortController()
    const stop = (): void => controller.abort()
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
    try {
      await runNode({
        url, termMs, signal: controller.signal, ...(stream !== undefined ? { stream } : {}),
        ...(name !== undefined ? { name } : {}), ...(cache !== undefined ? { cacheDir: path.resolve(cache) } : {}),
        onEvent: (event) => {
          if (args.json) {
            process.stdout.write(`${JSON.stringify(event)}\n`)
            return
          }
          const { kind, ...rest } = event
          const detail = Object.entries(rest).map(([k, v]) => `${k} ${typeof v === 'string' ? v : JSON.stringify(v)}`).join(', ')
          process.stdout.write(`strata node: ${where}${stream !== undefined ? ` stream ${stream}` : ''}: ${kind}${detail === '' ? '' : ` (${detail})`}\n`)
        },
      })
    } finally {
      process.off('SIGINT', stop)
      process.off('SIGTERM', stop)
    }
    return 0
  },
}
