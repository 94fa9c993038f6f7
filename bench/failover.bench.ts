/**
 * The coordinator's failover, timed: how long a cluster runs no cycle after its coordinator dies. Run:
 * `npm run build --silent; node bench/run.mjs failover`. Skips (no rows, a line on stderr) when PostgreSQL is not
 * installed. One throwaway PostgreSQL server (test/cluster/postgres_server.ts, durable defaults, loopback), a fresh
 * database per cycle-lease term (1,000 ms, then the CLI's default 5,000 ms); everything is removed afterwards.
 *
 * Per term: four counters (created by a writer that then closes), one `strata node --stream 0`, and
 * `strata coordinator --nodes 1 --term T --json` processes, each on a cache directory of its own. A client sends
 * one "inc" to each counter through the inbox (`openClusterClient().sendAll`) every SEND_EVERY_MS throughout, so
 * there is always work: every figure is from a signal sent to the active coordinator right after it printed a
 * `cycle` event to the first `cycle` event of its successor (the time without commits, as a client sees it).
 *
 *   1 standby takeover: an active coordinator and a standby (it printed `standby`); SIGKILL the active one. The
 *     standby waits out the dead one's lease (renewed every T/3, so T minus up to T/3 after the kill), looking
 *     every min(T/4, 1 s), then opens (replica, workers) and runs. KILLS samples.
 *   2 clean handover, the baseline: the same, SIGTERM instead: the active coordinator finishes its cycle and
 *     releases the lease; the standby sees it at its next look. KILLS samples, alternated with 1.
 *   3 restart on the same cache: no standby; SIGKILL the only coordinator and, once it is gone (as a supervisor
 *     sees it), start a new one on its --cache: the cache remembers the dead holder, so the lease is taken at
 *     once; the time includes the new process's start. KILLS samples.
 *
 * Each figure is the median of its samples (the range is printed); the ratios are to the clean handover of the
 * same term and run, and to the term. No timing is asserted. Correctness is: after all the kills, the head's
 * state root equals that of one LMDB runtime given the same sends in the same order, and every inbox row was
 * taken exactly once, with the message id the LMDB runtime gave that send (the bench throws otherwise).
 * Last results: bench/README.md ("Failover").
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { Runtime, openClusterClient, type ProgramId } from 'strata-runtime'
import { PostgresServer, POSTGRES_MISSING, postgresBinDir } from '../test/cluster/postgres_server.js'
import { COUNTER_HANDLE_GAS_LIMIT, COUNTER_INC, COUNTER_INIT_GAS_LIMIT, COUNTER_PATH, median, timeRow, type BenchRow } from './harness.js'
import { killAll, startCoordinator, startNode, stopProcess, type ClusterEvent, type JsonProcess } from './cluster_processes.js'

const SUITE = 'failover'
const TERMS_MS = [1_000, 5_000]
/** Samples of each kind per term. */
const KILLS = 5
const COUNTERS = 4
const SEND_EVERY_MS = 50
/** Before each signal: the new standby settles into its wait, the active coordinator runs a few cycles. */
const SETTLE_MS = 300
const USERS = ['a1', 'b2', 'c3'].map((b) => b.repeat(32))
const enc = (text: string): Uint8Array => new TextEncoder().encode(text)
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

type Coordinator = JsonProcess<ClusterEvent>

interface Sample {
  /** Signal to the successor's `coordinator` event (it holds the lease and opened). */
  readonly leaseMs: number
  /** Signal to the successor's first `cycle` event. */
  readonly cycleMs: number
}

interface TermResult {
  readonly termMs: number
  readonly takeover: Sample[]
  readonly handover: Sample[]
  readonly restart: Sample[]
  readonly sends: number
  readonly root: string
}

/** The time the first event after index `from` that `match` accepts arrived (waits for it). */
async function eventAt(p: Coordinator, match: (e: ClusterEvent) => boolean, from: number, timeoutMs: number): Promise<number> {
  const event = await p.waitFor((e) => match(e) && p.events.indexOf(e) >= from, timeoutMs)
  return p.times[p.events.indexOf(event)]!
}

/** Waits for the next `cycle` event of `p`, then sends it `signal` at once; returns when. */
async function signalAfterCycle(p: Coordinator, signal: NodeJS.Signals, timeoutMs: number): Promise<number> {
  await eventAt(p, (e) => e.kind === 'cycle', p.events.length, timeoutMs)
  const at = performance.now()
  p.child.kill(signal)
  return at
}

/** The counters, created and initialized the same way on a cluster writer and on the LMDB twin. */
async function createCounters(rt: Runtime): Promise<ProgramId[]> {
  const code = await rt.uploadCode(COUNTER_PATH)
  const ids: ProgramId[] = []
  for (let i = 0; i < COUNTERS; i += 1) ids.push(await rt.createProgram(code, { salt: enc(`c${i}`), payload: enc('0'), gasLimit: COUNTER_INIT_GAS_LIMIT }))
  const reports = await rt.runUntilIdle()
  if (reports.some((r) => r.failed > 0)) throw new Error('failover bench: a counter init failed')
  return ids
}

async function runTerm(server: PostgresServer, temp: string, termMs: number): Promise<TermResult> {
  process.stderr.write(`failover bench: term ${termMs} ms\n`)
  const url = await server.createDatabase('failover')
  const where = (name: string): string => path.join(temp, `term-${termMs}-${name}`)
  const wait = 3 * termMs + 30_000
  const setup = await Runtime.open({ store: 'postgres', url, cacheDir: where('setup'), streams: 0, leaseTermMs: termMs })
  const counters = await createCounters(setup)
  await setup.close() // releases the cycle lease

  const started: JsonProcess<unknown>[] = []
  let launched = 0
  const cacheOf = new Map<Coordinator, string>()
  const launch = (cache = where(`coordinator-${launched}`)): Coordinator => {
    const p = startCoordinator(url, { nodes: 1, termMs, cache, name: `bench-coordinator-${launched++}` })
    started.push(p)
    cacheOf.set(p, cache)
    return p
  }
  const client = await openClusterClient({ url })
  const sends: { source: string; destination: ProgramId; payload: Uint8Array; gasLimit: number }[] = []
  const seqs: number[] = []
  let sending = true
  let sendError: unknown
  try {
    const node = startNode(url, 0, where('node'), termMs)
    started.push(node)
    await node.leased
    let active = launch()
    await active.waitFor((e) => e.kind === 'coordinator', wait)
    const sender = (async () => {
      for (let round = 0; sending; round += 1) {
        const batch = counters.map((destination, k) => ({ source: USERS[(round + k) % USERS.length]!, destination, payload: COUNTER_INC, gasLimit: COUNTER_HANDLE_GAS_LIMIT }))
        seqs.push(...await client.sendAll(batch))
        sends.push(...batch)
        await sleep(SEND_EVERY_MS)
      }
    })().catch((error: unknown) => { sendError = error })

    // 1 and 2, alternated: SIGKILL or SIGTERM to the active coordinator; its standby takes over and a new
    // standby (on a new cache) replaces it.
    const takeover: Sample[] = []
    const handover: Sample[] = []
    let standby = launch()
    await standby.waitFor((e) => e.kind === 'standby', wait)
    for (let i = 0; i < KILLS; i += 1) {
      for (const signal of ['SIGKILL', 'SIGTERM'] as const) {
        await sleep(SETTLE_MS)
        const from = standby.events.length
        const at = await signalAfterCycle(active, signal, wait)
        const leaseAt = await eventAt(standby, (e) => e.kind === 'coordinator', from, wait)
        const cycleAt = await eventAt(standby, (e) => e.kind === 'cycle', from, wait)
        const sample = { leaseMs: leaseAt - at, cycleMs: cycleAt - at }
        ;(signal === 'SIGKILL' ? takeover : handover).push(sample)
        const code = await active.exited
        // A SIGTERMed coordinator prints `stopped` once its cycle is done, then releases the lease and exits.
        const stopped = active.events.findIndex((e) => e.kind === 'stopped')
        process.stderr.write(`  ${signal === 'SIGKILL' ? 'SIGKILL, standby takes over' : 'SIGTERM, clean handover  '} ${i + 1}:`
          + ` coordinator after ${sample.leaseMs.toFixed(0).padStart(5)} ms, first cycle after ${sample.cycleMs.toFixed(0).padStart(5)} ms`
          + `${stopped < 0 ? '' : ` (stopped after ${(active.times[stopped]! - at).toFixed(0)} ms)`}\n`)
        if (signal === 'SIGTERM' && code !== 0) throw new Error(`a SIGTERMed coordinator exited ${code}: ${active.stderr()}`)
        active = standby
        standby = launch()
        await standby.waitFor((e) => e.kind === 'standby', wait)
      }
    }

    // 3: no standby; SIGKILL the only coordinator and restart it on its cache.
    if (await stopProcess(standby) !== 0) throw new Error(`a standby exited non-zero on SIGTERM: ${standby.stderr()}`)
    const restart: Sample[] = []
    for (let i = 0; i < KILLS; i += 1) {
      await sleep(SETTLE_MS)
      const at = await signalAfterCycle(active, 'SIGKILL', wait)
      await active.exited // as a supervisor sees it: the process is gone
      const next = launch(cacheOf.get(active))
      const leaseAt = await eventAt(next, (e) => e.kind === 'coordinator', 0, wait)
      const cycleAt = await eventAt(next, (e) => e.kind === 'cycle', 0, wait)
      const sample = { leaseMs: leaseAt - at, cycleMs: cycleAt - at }
      restart.push(sample)
      process.stderr.write(`  SIGKILL, restart on the same cache ${i + 1}: coordinator after ${sample.leaseMs.toFixed(0).padStart(5)} ms,`
        + ` first cycle after ${sample.cycleMs.toFixed(0).padStart(5)} ms\n`)
      active = next
    }

    sending = false
    await sender
    if (sendError !== undefined) throw sendError
    // Every send taken and run, then the head.
    const deadline = Date.now() + 60_000
    for (;;) {
      const pending = (await server.query<{ n: number }>('SELECT count(*)::int AS n FROM strata_inbox WHERE taken_commit IS NULL', [], url)).rows[0]!.n
      const head = (await server.query<{ empty: boolean }>('SELECT queue_head = queue_tail AS empty FROM strata_head', [], url)).rows[0]!
      if (pending === 0 && head.empty) break
      if (Date.now() > deadline) throw new Error(`failover bench: ${pending} sends never taken, or the queue never emptied`)
      await sleep(50)
    }
    if (await stopProcess(active) !== 0) throw new Error(`the last coordinator exited non-zero on SIGTERM: ${active.stderr()}`)
    if (await stopProcess(node) !== 0) throw new Error(`the node exited non-zero on SIGTERM: ${node.stderr()}`)
    const root = (await server.query<{ root: string }>("SELECT encode(state_root, 'hex') AS root FROM strata_head", [], url)).rows[0]!.root
    const inbox = (await server.query<{ seq: string; taken: string | null; id: string | null; refused: string | null }>(
      'SELECT seq, taken_commit AS taken, message_id AS id, refused FROM strata_inbox ORDER BY seq', [], url)).rows

    // The same sends, in the same order, on one LMDB runtime.
    const twinDir = where('twin')
    const twin = await Runtime.open({ dataDir: twinDir, streams: 0 })
    try {
      const twinCounters = await createCounters(twin)
      if (twinCounters.join() !== counters.join()) throw new Error('failover bench: the LMDB twin created other program ids')
      const ids = sends.map((s) => twin.send(s))
      await twin.runUntilIdle()
      if (root !== twin.stateRoot()) throw new Error(`failover bench: STATE ROOTS DIFFER after the kills: cluster ${root}, LMDB ${twin.stateRoot()}`)
      if (inbox.length !== seqs.length) throw new Error(`failover bench: ${inbox.length} inbox rows for ${seqs.length} acknowledged sends`)
      inbox.forEach((row, i) => {
        if (Number(row.seq) !== seqs[i] || row.taken === null || row.refused !== null || row.id !== ids[i]) {
          throw new Error(`failover bench: inbox row ${row.seq} (send ${i}, seq ${seqs[i]}): taken ${row.taken}, refused ${row.refused}, id ${row.id}, LMDB id ${ids[i]}`)
        }
      })
    } finally {
      await twin.close()
      rmSync(twinDir, { recursive: true, force: true })
    }
    const cycles = started.reduce((n, p) => n + (p as Coordinator).events.filter((e) => e.kind === 'cycle').length, 0)
    process.stderr.write(`  ${sends.length} sends, ${cycles} cycles by ${launched} coordinators; state root ${root} = the LMDB runtime's;`
      + ' every inbox row taken once, with its LMDB message id\n')
    return { termMs, takeover, handover, restart, sends: sends.length, root }
  } finally {
    sending = false
    await client.close()
    await killAll(started)
  }
}

export default async function failoverBench(): Promise<BenchRow[]> {
  if (postgresBinDir() === undefined) {
    process.stderr.write(`failover bench skipped: ${POSTGRES_MISSING}\n`)
    return []
  }
  const temp = mkdtempSync(path.join(tmpdir(), 'strata-bench-failover-'))
  const server = await PostgresServer.start({ durable: true })
  try {
    const results: TermResult[] = []
    for (const termMs of TERMS_MS) results.push(await runTerm(server, temp, termMs))

    const rows: BenchRow[] = []
    process.stderr.write('failover bench: signal to the successor\'s first cycle, median (range) over '
      + `${KILLS} samples; x term; x clean handover (same term, same run); [signal to its coordinator event]\n`)
    for (const r of results) {
      const handover = median(r.handover.map((s) => s.cycleMs))
      const figures = [
        ['standby takeover after SIGKILL', r.takeover],
        ['restart on the same cache after SIGKILL', r.restart],
        ['clean handover (SIGTERM) to the standby', r.handover],
      ] as const
      for (const [name, samples] of figures) {
        const ms = samples.map((s) => s.cycleMs)
        const value = median(ms)
        process.stderr.write(`  term ${String(r.termMs).padStart(5)} ms, ${name.padEnd(40)} ${value.toFixed(0).padStart(5)} ms`
          + ` (${Math.min(...ms).toFixed(0)}-${Math.max(...ms).toFixed(0)})  ${(value / r.termMs).toFixed(2)} x term`
          + `  ${(value / handover).toFixed(2)} x handover  [${median(samples.map((s) => s.leaseMs)).toFixed(0)} ms]\n`)
      }
      const baseline = `clean handover (SIGTERM), term ${r.termMs} ms`
      const term = `the term, ${r.termMs} ms`
      rows.push(timeRow(SUITE, `standby takeover after SIGKILL, term ${r.termMs} ms`, median(r.takeover.map((s) => s.cycleMs)), 'ms', baseline, handover, 'report', true))
      rows.push(timeRow(SUITE, `standby takeover after SIGKILL, term ${r.termMs} ms`, median(r.takeover.map((s) => s.cycleMs)), 'ms', term, r.termMs, 'report', true))
      rows.push(timeRow(SUITE, `restart on the same cache after SIGKILL, term ${r.termMs} ms`, median(r.restart.map((s) => s.cycleMs)), 'ms', baseline, handover, 'report', true))
      rows.push(timeRow(SUITE, `clean handover (SIGTERM), term ${r.termMs} ms`, handover, 'ms', term, r.termMs, 'report', true))
    }
    return rows
  } finally {
    await server.stop()
    rmSync(temp, { recursive: true, force: true })
  }
}
