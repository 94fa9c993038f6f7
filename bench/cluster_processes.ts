/**
 * The `strata node` and `strata coordinator` processes of the cluster benches (cluster.bench.ts,
 * failover.bench.ts), on the JSON-event process helper the cluster tests use (test/cluster/json_process.ts).
 */
import path from 'node:path'
import { killJsonProcess, startJsonProcess, type JsonProcess } from '../test/cluster/json_process.js'
import { PACKAGE_DIR } from './harness.js'

export { killJsonProcess, type JsonProcess } from '../test/cluster/json_process.js'

/** The built CLI (`npm run bench` builds first). */
export const MAIN = path.join(PACKAGE_DIR, 'dist', 'cli', 'main.js')
const NODE_START_TIMEOUT_MS = 30_000

/** One line of `strata node --json` or `strata coordinator --json`. */
export type ClusterEvent = { readonly kind: string; readonly cycle?: number; readonly [key: string]: unknown }

export interface NodeProcess extends JsonProcess<ClusterEvent> {
  /** Resolves at its first lease event; rejects if it exits first or gets none in 30 s. */
  readonly leased: Promise<void>
  /** The tasks it answered so far. */
  results(): number
}

/** `strata node --url URL --stream k --json`, its replica in `cache`, with lease term `termMs`. */
export function startNode(url: string, stream: number, cache: string, termMs: number): NodeProcess {
  const node = startJsonProcess<ClusterEvent>(MAIN, ['node', '--url', url, '--stream', String(stream), '--cache', cache,
    '--term', String(termMs), '--name', `bench-node-${stream}`, '--json'])
  const leased = node.waitFor((e) => e.kind === 'lease', NODE_START_TIMEOUT_MS)
    .then(() => undefined, (error: Error) => { throw new Error(`node ${stream}: ${error.message}`) })
  const exitedFirst = node.exited.then((code) => { throw new Error(`node ${stream} exited (${code}) before its lease; stderr: ${node.stderr()}`) })
  const leasedOrExited = Promise.race([leased, exitedFirst])
  leasedOrExited.catch(() => undefined)
  exitedFirst.catch(() => undefined)
  return Object.assign(node, { leased: leasedOrExited, results: () => node.events.filter((e) => e.kind === 'result').length })
}

/** `strata coordinator --url URL --nodes N --term T --cache DIR --json` (an active coordinator, or a standby). */
export function startCoordinator(url: string, options: { readonly nodes: number; readonly termMs: number; readonly cache: string; readonly name: string }): JsonProcess<ClusterEvent> {
  return startJsonProcess<ClusterEvent>(MAIN, ['coordinator', '--url', url, '--nodes', String(options.nodes), '--term', String(options.termMs),
    '--cache', options.cache, '--name', options.name, '--json'])
}

/** SIGTERM, then the exit status (a node or coordinator that stops cleanly exits 0). */
export async function stopProcess(started: JsonProcess<unknown>): Promise<number | null> {
  if (started.alive()) started.child.kill('SIGTERM')
  return started.exited
}

/** SIGKILLs whatever still runs (cleanup after a failure). */
export async function killAll(started: readonly JsonProcess<unknown>[]): Promise<void> {
  for (const p of started) await killJsonProcess(p)
}
