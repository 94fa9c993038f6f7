/**
 * The adversarial workload (test/adversarial/workload.ts: every attack program with its victims: host objects,
 * getters, lying lengths, promise jobs, module state, time zone, recursion, huge inputs, codec attacks that fill
 * a journal entry and 1 MiB replies) on the paths this layer added for program-made data and program execution:
 *   - the PostgreSQL store (program bytes through the materialized tables, the commit log and the replica), at
 *     streams 0, 1, 2 and 4, with every message sent by a client through the inbox (the payload bytes through
 *     strata_inbox, the ids assigned at intake) and a new coordinator (close, then open) before every round;
 *   - node processes (tasks and results through strata_tasks, execution on another process's replica), with 1, 2
 *     and 4 nodes, each node in another time zone and locale than the coordinator and than each other.
 * Every run must give the roots, outcomes, gas and replies of the memory store at streams 0.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import path from 'node:path'
import { beforeAll, expect, it } from 'vitest'
import { Runtime, openClusterClient } from '../../src/index.js'
import { runWorkload, type WorkloadResult } from '../adversarial/workload.js'
import { describePostgres, usePostgresServer } from './suite.js'

const MAIN = path.resolve('dist/cli/main.js')
/** Zones and locales far from each other and from UTC (one has a 45-minute offset, one a day-line crossing). */
const PLACES = [
  { TZ: 'Pacific/Chatham', LANG: 'de_DE.UTF-8' },
  { TZ: 'Pacific/Kiritimati', LANG: 'tr_TR.UTF-8' },
  { TZ: 'America/St_Johns', LANG: 'ja_JP.UTF-8' },
  { TZ: 'Asia/Kathmandu', LANG: 'ar_EG.UTF-8' },
] as const

let reference: WorkloadResult

beforeAll(async () => {
  reference = await runWorkload(Runtime, { store: 'memory', streams: 0 })
}, 120_000)

describePostgres('the adversarial workload on PostgreSQL and across nodes', () => {
  const ctx = usePostgresServer()

  // Every attack's messages come from a client through the inbox, and a new coordinator (a close, then an open:
  // the handover of `strata coordinator`) takes over before every round.
  it.each([0, 1, 2, 4])('the PostgreSQL store at streams %i, sent through the inbox, a new coordinator every round, gives the reference', async (streams) => {
    const url = await ctx.server.createDatabase('adversarial')
    const cacheDir = path.join(ctx.dir, `${path.basename(url)}-cache`)
    // The schema first: a client needs the inbox table.
    await (await Runtime.open({ store: 'postgres', url, cacheDir, streams: 0 })).close()
    const inbox = await openClusterClient({ url })
    try {
      const result = await runWorkload(Runtime, { store: 'postgres', url, cacheDir, streams }, { reopen: true, inbox })
      expect(result.observed).toEqual(reference.observed)
      expect(result.roots).toEqual(reference.roots)
    } finally {
      await inbox.close()
    }
  }, 120_000)

  it.each([1, 2, 4])('%i node processes, each in its own time zone and locale, give the reference', async (nodeCount) => {
    const url = await ctx.server.createDatabase('adversarial_nodes')
    const cacheDir = path.join(ctx.dir, `${path.basename(url)}-coordinator`)
    // The schema first, so that the nodes can open their replicas before the coordinator runs.
    await (await Runtime.open({ store: 'postgres', url, cacheDir, streams: 0 })).close()
    const nodes: { child: ChildProcess; events: { kind: string }[]; exited: Promise<number | null> }[] = []
    try {
      for (let stream = 0; stream < nodeCount; stream += 1) {
        const child = spawn(process.execPath, [MAIN, 'node', '--url', url, '--stream', String(stream), '--name', `node-${stream}`,
          '--cache', path.join(ctx.dir, `${path.basename(url)}-node-${stream}`), '--term', '5000', '--json'], {
          stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...PLACES[stream]!, LC_ALL: PLACES[stream]!.LANG },
        })
        const events: { kind: string }[] = []
        let buffered = ''
        child.stdout!.on('data', (chunk: Buffer) => {
          buffered += chunk.toString()
          const lines = buffered.split('\n')
          buffered = lines.pop()!
          for (const line of lines) events.push(JSON.parse(line) as { kind: string })
        })
        nodes.push({ child, events, exited: new Promise((resolve) => child.once('exit', resolve)) })
      }
      // Every node holds its stream's lease before the first cycle: the nodes, not the coordinator, run the work.
      const deadline = Date.now() + 30_000
      while (!nodes.every((n) => n.events.some((e) => e.kind === 'lease'))) {
        if (Date.now() > deadline) throw new Error(`nodes did not take their leases: ${JSON.stringify(nodes.map((n) => n.events))}`)
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
      const result = await runWorkload(Runtime, { store: 'postgres', url, cacheDir, nodes: nodeCount })
      expect(result.observed).toEqual(reference.observed)
      expect(result.roots).toEqual(reference.roots)
      // The nodes did the work (a stream may own none of the workload's few programs): every task a node read got
      // its result written, and no node lost its lease or was fenced.
      const count = (kind: string): number => nodes.reduce((sum, n) => sum + n.events.filter((e) => e.kind === kind).length, 0)
      expect(count('result')).toBeGreaterThan(0)
      for (const node of nodes) {
        expect(node.events.filter((e) => e.kind === 'result').length).toBe(node.events.filter((e) => e.kind === 'task').length)
        expect(node.events.some((e) => e.kind === 'fenced' || e.kind === 'lost')).toBe(false)
      }
    } finally {
      for (const node of nodes) node.child.kill('SIGTERM')
      const codes = await Promise.all(nodes.map((node) => node.exited))
      expect(codes.every((code) => code === 0)).toBe(true)
    }
  }, 180_000)
})
