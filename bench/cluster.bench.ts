/**
 * The cluster (a coordinator opened with `nodes: K`, and K `strata node` processes, one per stream) with 1, 2 and 3
 * nodes, against the single-node runtimes on durable LMDB and on PostgreSQL (streams 2), in the same run. Run:
 * `npm run build --silent; node bench/run.mjs cluster`. Skips (no rows, a line on stderr) when PostgreSQL is not
 * installed. One throwaway PostgreSQL server (test/cluster/postgres_server.ts, durable defaults, loopback), a fresh
 * database per configuration; everything is removed afterwards.
 *
 * Each configuration runs alone, one after the other (LMDB, PostgreSQL, the cluster with no node, then with 1, 2
 * and 3 nodes), so that idle node processes do not share the cores with another configuration's cycles. 'cluster,
 * no node' opens the coordinator with `nodes: 1` and starts no node: it runs the stream itself each cycle (no live
 * lease), so the difference to 'cluster, 1 node' is the cost of the transport through PostgreSQL. Figures:
 *
 *   1 e2e inc, 1,000 programs x 20 (20,000 messages a cycle): runCycle(), median of ROUNDS after a warm-up cycle
 *   2 small cycle, the first 100 programs x 1 inc (commit- and round-trip-bound): median of SMALL_CYCLES after 3
 *
 * Every row's baseline is durable LMDB; the ratios to 1-node PostgreSQL are printed on stderr (and in
 * bench/README.md). All configurations get the same inputs, so their final state roots must be equal: they are
 * printed, and the bench throws if any differs. Every cycle must process what was queued, none failed.
 *
 * On the 2-core machine of bench/README.md the coordinator, K node processes (each with its stream worker) and
 * PostgreSQL share 2 cores: more nodes are not faster there. Last results: bench/README.md ("The cluster").
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { Runtime, type ProgramId } from 'strata-runtime'
import { PostgresServer, POSTGRES_MISSING, postgresBinDir } from '../test/cluster/postgres_server.js'
import {
  COUNTER_INIT_GAS_LIMIT, COUNTER_MSGS_PER_PROGRAM, COUNTER_PATH, COUNTER_PROGRAM_COUNT, enqueueCounterInc,
  median, rateRow, timeRow, type BenchRow,
} from './harness.js'
import { killAll, startNode, type NodeProcess } from './cluster_processes.js'

const SUITE = 'cluster'
const ROUNDS = 3
const SMALL_PROGRAMS = 100
const SMALL_CYCLES = 11
/** The nodes' lease term: the CLI's default. */
const TERM_MS = 5_000

const salt = (i: number): Uint8Array => new TextEncoder().encode(`p${i}`)

interface Measured {
  readonly name: string
  readonly e2eMs: number
  readonly smallMs: number
  readonly root: string
}

/** One timed cycle over `perProgram` incs to each of `ids`; returns its wall ms (sends untimed). */
async function cycleMs(name: string, runtime: Runtime, ids: readonly ProgramId[], perProgram: number): Promise<number> {
  enqueueCounterInc(runtime, ids, perProgram)
  const queued = runtime.queueLength
  const start = performance.now()
  const report = await runtime.runCycle()
  const ms = performance.now() - start
  if (report.processed !== queued || report.failed !== 0 || runtime.queueLength !== 0) {
    throw new Error(`${name}: a cycle processed ${report.processed} of ${queued} (${report.failed} failed)`)
  }
  return ms
}

/** The workload on one opened runtime: create 1,000 counters, warm up, ROUNDS big cycles, then the small cycles. */
async function measure(name: string, runtime: Runtime): Promise<Measured> {
  process.stderr.write(`cluster bench: ${name}\n`)
  const code = await runtime.uploadCode(COUNTER_PATH)
  const ids: ProgramId[] = []
  for (let i = 0; i < COUNTER_PROGRAM_COUNT; i += 1) ids.push(await runtime.createProgram(code, { salt: salt(i), gasLimit: COUNTER_INIT_GAS_LIMIT }))
  const reports = await runtime.runUntilIdle()
  if (reports.some((r) => r.failed > 0)) throw new Error(`${name}: an init failed`)
  await cycleMs(name, runtime, ids, COUNTER_MSGS_PER_PROGRAM) // warm-up
  const e2e: number[] = []
  for (let round = 0; round < ROUNDS; round += 1) e2e.push(await cycleMs(name, runtime, ids, COUNTER_MSGS_PER_PROGRAM))
  const small = ids.slice(0, SMALL_PROGRAMS)
  for (let c = 0; c < 3; c += 1) await cycleMs(name, runtime, small, 1)
  const smallMs: number[] = []
  for (let c = 0; c < SMALL_CYCLES; c += 1) smallMs.push(await cycleMs(name, runtime, small, 1))
  const measured = { name, e2eMs: median(e2e), smallMs: median(smallMs), root: runtime.stateRoot() }
  process.stderr.write(`  e2e ${measured.e2eMs.toFixed(0)} ms/cycle, small ${measured.smallMs.toFixed(1)} ms/cycle, root ${measured.root}\n`)
  return measured
}

export default async function clusterBench(): Promise<BenchRow[]> {
  if (postgresBinDir() === undefined) {
    process.stderr.write(`cluster bench skipped: ${POSTGRES_MISSING}\n`)
    return []
  }
  const temp = mkdtempSync(path.join(tmpdir(), 'strata-bench-cluster-'))
  const server = await PostgresServer.start({ durable: true })
  const opened: Runtime[] = []
  const nodes: NodeProcess[] = []
  const open = async (options: Parameters<typeof Runtime.open>[0]): Promise<Runtime> => {
    const runtime = await Runtime.open(options)
    opened.push(runtime)
    return runtime
  }
  const closeAll = async (): Promise<void> => {
    for (const runtime of opened.splice(0)) await runtime.close()
  }
  try {
    const all: Measured[] = []
    all.push(await measure('lmdb, streams 2', await open({ dataDir: path.join(temp, 'lmdb'), streams: 2 })))
    await closeAll()
    all.push(await measure('postgres, streams 2', await open({ store: 'postgres', url: await server.createDatabase('bench'),
      cacheDir: path.join(temp, 'pg-cache'), streams: 2 })))
    await closeAll()
    {
      // nodes: 1 with no node started: the coordinator finds no live lease and runs the stream on a worker of its
      // own every cycle. Against 'cluster, 1 node' this isolates the transport (task and result rows, the node's
      // catch-up from the log); against PostgreSQL, the cost of one stream instead of two.
      const url = await server.createDatabase('bench')
      all.push(await measure('cluster, no node', await open({ store: 'postgres', url, cacheDir: path.join(temp, 'cluster-0-coordinator'), nodes: 1 })))
      await closeAll()
    }
    for (const count of [1, 2, 3]) {
      const url = await server.createDatabase('bench')
      const cacheDir = path.join(temp, `cluster-${count}-coordinator`)
      // The schema first (the coordinator creates it), so that the nodes can open their replicas.
      await (await Runtime.open({ store: 'postgres', url, cacheDir, streams: 0 })).close()
      const started = Array.from({ length: count }, (_, k) => startNode(url, k, path.join(temp, `cluster-${count}-node-${k}`), TERM_MS))
      nodes.push(...started)
      await Promise.all(started.map((n) => n.leased))
      all.push(await measure(`cluster, ${count} node${count === 1 ? '' : 's'}`, await open({ store: 'postgres', url, cacheDir, nodes: count })))
      await closeAll()
      started.forEach((n, k) => {
        if (n.results() === 0) throw new Error(`cluster, ${count} nodes: node ${k} answered no task (the coordinator ran its stream)`)
      })
      for (const n of started) n.child.kill('SIGTERM')
      for (const n of started) {
        const code = await n.exited
        if (code !== 0) throw new Error(`node exited ${code}: ${n.stderr()}`)
      }
      nodes.splice(0)
    }

    process.stderr.write('cluster bench: final state roots\n')
    for (const m of all) process.stderr.write(`  ${m.name.padEnd(22)} ${m.root}\n`)
    const differing = all.filter((m) => m.root !== all[0]!.root)
    if (differing.length > 0) {
      throw new Error(`cluster bench: STATE ROOTS DIFFER: ${differing.map((m) => m.name).join(', ')} differ from ${all[0]!.name}`)
    }

    const msgs = COUNTER_PROGRAM_COUNT * COUNTER_MSGS_PER_PROGRAM
    const rate = (m: Measured): number => msgs / (m.e2eMs / 1000)
    const [lmdb, pg] = [all[0]!, all[1]!]
    process.stderr.write('cluster bench: figure, msgs/s, ms/cycle (20,000 msgs), ratio to LMDB, ratio to postgres;'
      + ' small ms/cycle, ratio to LMDB, ratio to postgres\n')
    for (const m of all) {
      process.stderr.write(`  ${m.name.padEnd(22)} ${Math.round(rate(m)).toString().padStart(7)} msgs/s  ${m.e2eMs.toFixed(0).padStart(5)} ms`
        + `  ${(rate(m) / rate(lmdb)).toFixed(2)}  ${(rate(m) / rate(pg)).toFixed(2)}`
        + `  | small ${m.smallMs.toFixed(1).padStart(6)} ms  ${(lmdb.smallMs / m.smallMs).toFixed(2)}  ${(pg.smallMs / m.smallMs).toFixed(2)}\n`)
    }
    const rows: BenchRow[] = []
    for (const m of all.slice(1)) {
      rows.push(rateRow(SUITE, `e2e inc, 1,000 programs x 20, ${m.name}`, rate(m), 'msgs/s', 'durable LMDB, streams 2', rate(lmdb), 'report', true))
    }
    for (const m of all.slice(1)) {
      rows.push(timeRow(SUITE, `cycle, 100 programs x 1 inc, ${m.name}`, m.smallMs, 'ms', 'durable LMDB, streams 2', lmdb.smallMs, 'report', true))
    }
    return rows
  } finally {
    for (const runtime of opened) await runtime.close().catch(() => undefined)
    await killAll(nodes)
    await server.stop()
    rmSync(temp, { recursive: true, force: true })
  }
}
