/**
 * Several node processes execute one cycle's streams (`strata node`, src/cluster/node.ts) for a coordinator (a
 * writer opened with `nodes`), with the pinned roots and gas of the golden workload: with 3 nodes, with 2 and
 * with 1; with a node SIGKILLed while it holds a task (its lease lapses after its 1 s term and the coordinator
 * runs its stream itself); and with a node SIGSTOPped past its term while it holds a result (its late write is
 * refused FENCED, and nothing changes). A message that kills a node's worker fails WORKER_DIED, as on one node.
 */
import path from 'node:path'
import { afterEach, expect, it } from 'vitest'
import {
  LEASE_TERM_MS_DEFAULT, LEASE_TERM_MS_MAX, LEASE_TERM_MS_MIN, packResult, unpackResult, type NodeEvent,
} from '../../src/cluster/index.js'
import { decodeResult, encodeResult, type StreamResult } from '../../src/protocol/index.js'
import { TERM_MS_DEFAULT, TERM_MS_MAX, TERM_MS_MIN } from '../../src/cli/node.js'
import { ExecutionResult, ReplyCode, Runtime, type MessageOutcome } from '../../src/index.js'
import { GOLDEN, workload } from '../integration/golden_workload.js'
import { strataFails, strataJson } from '../integration/cli_helpers.js'
import { useProcesses, type JsonProcess } from './processes.js'
import { describePostgres, usePostgresServer } from './suite.js'

/** A short term, so that a dead node's stream passes to the coordinator within a second. */
const TERM_MS = 1_000
const MAIN = path.resolve('dist/cli/main.js')
const CHILD = path.resolve('test/cluster/node_child.mjs')

type Event = NodeEvent | { readonly kind: 'holding'; readonly cycle: number }
type NodeProcess = JsonProcess<Event>

describePostgres('a cycle across node processes', () => {
  const ctx = usePostgresServer()
  const start = useProcesses<Event>()

  /** `strata node` for stream k, with a replica of its own and the short term. */
  const cliNode = (url: string, stream: number, onEvent?: (event: Event, node: NodeProcess) => void): NodeProcess =>
    start(MAIN, ['node', '--url', url, '--stream', String(stream), '--cache', path.join(ctx.dir, `${path.basename(url)}-node-${stream}`),
      '--term', String(TERM_MS), '--name', `node-${stream}`, '--json'], onEvent)

  /** A fresh database with the schema (the coordinator creates it), so that nodes can open their replicas first. */
  async function database(): Promise<string> {
    const url = await ctx.server.createDatabase()
    const rt = await Runtime.open({ store: 'postgres', url, cacheDir: path.join(ctx.dir, `${path.basename(url)}-coordinator`), streams: 0 })
    await rt.close()
    return url
  }

  const coordinator = (url: string, nodes: number): Parameters<typeof workload>[0] =>
    ({ store: 'postgres', url, cacheDir: path.join(ctx.dir, `${path.basename(url)}-coordinator`), nodes })

  const results = (node: NodeProcess): number => node.events.filter((e) => e.kind === 'result').length

  /** SIGTERM: the node releases its lease and exits 0. */
  async function stop(node: NodeProcess): Promise<void> {
    node.child.kill('SIGTERM')
    expect(await node.exited).toBe(0)
  }

  /** Sends 'inc' from USER to every program of the runtime opened with `options`, and closes it (the sends are committed). */
  async function sendToAll(options: Parameters<typeof Runtime.open>[0]): Promise<void> {
    const rt = await Runtime.open(options)
    for (const id of rt.programIds()) rt.send({ source: '33'.repeat(32), destination: id, payload: new TextEncoder().encode('inc'), gasLimit: 1_000_000 })
    await rt.close()
  }

  /**
   * After the golden workload and `earlier` rounds of sendToAll + run on `url`: one more round (sendToAll, then run
   * until idle with `strata run --url --nodes N`), whose root must be that of the same rounds on one LMDB node.
   */
  async function extraRound(url: string, nodes = 3, earlier = 0): Promise<void> {
    const lmdb = { dataDir: path.join(ctx.dir, `${path.basename(url)}-lmdb`), streams: 0 }
    expect(await workload(lmdb)).toEqual(GOLDEN)
    let root = ''
    for (let round = 0; round <= earlier; round += 1) {
      await sendToAll(lmdb)
      const reference = await Runtime.open(lmdb)
      await reference.runUntilIdle()
      root = reference.stateRoot()
      await reference.close()
    }
    const { cacheDir } = coordinator(url, nodes) as { cacheDir: string }
    await sendToAll({ store: 'postgres', url, cacheDir, streams: 0 })
    const ran = await strataJson<{ stateRoot: string; cycles: unknown[] }>('run', '--url', url, '--cache', cacheDir, '--nodes', String(nodes), '--json')
    expect(ran.cycles.length).toBeGreaterThan(0)
    expect(ran.stateRoot).toBe(root)
  }

  it('runs the golden workload on 3 node processes with the pinned roots and gas, and `strata run --nodes 3` too', async () => {
    const url = await database()
    const nodes = [0, 1, 2].map((k) => cliNode(url, k))
    await Promise.all(nodes.map((n) => n.waitFor((e) => e.kind === 'lease')))
    expect(await workload(coordinator(url, 3))).toEqual(GOLDEN)
    // Every node answered tasks, and answered every task it read: the leases stayed live, so the coordinator
    // handed every stream to its node.
    for (const node of nodes) {
      expect(results(node)).toBeGreaterThan(0)
      expect(node.events.filter((e) => e.kind === 'task').length).toBe(results(node))
      expect(node.events.filter((e) => ['stale', 'fenced', 'lost'].includes(e.kind))).toEqual([])
    }
    // One more round through the CLI (`strata run --url --nodes 3`) gives the root of the same on one LMDB node.
    const before = nodes.map(results)
    await extraRound(url)
    nodes.forEach((node, k) => expect(results(node)).toBeGreaterThan(before[k]!))
    await Promise.all(nodes.map(stop))
    const rows = await ctx.server.query<{ n: string }>('SELECT count(*)::text AS n FROM strata_tasks', [], url)
    expect(rows.rows[0]!.n).toBe('0')
  })

  it('gives the same roots on 2 nodes and on 1', async () => {
    for (const count of [2, 1]) {
      const url = await database()
      const nodes = Array.from({ length: count }, (_, k) => cliNode(url, k))
      await Promise.all(nodes.map((n) => n.waitFor((e) => e.kind === 'lease')))
      expect(await workload(coordinator(url, count))).toEqual(GOLDEN)
      for (const node of nodes) expect(results(node)).toBeGreaterThan(0)
      await Promise.all(nodes.map(stop))
    }
  })

  it('nodes started without a stream share the streams out, and a spare takes over the stream of a SIGKILLed node', async () => {
    const url = await database()
    // The coordinator publishes its node count when it opens; nodes without --stream wait for it. Published first
    // here, so that the three hold every stream before the first cycle (stream 1's node must see two tasks).
    await (await Runtime.open(coordinator(url, 3))).close()
    const any = (name: string, onEvent?: (event: Event, node: NodeProcess) => void): NodeProcess =>
      start(MAIN, ['node', '--url', url, '--cache', path.join(ctx.dir, `${path.basename(url)}-${name}`), '--term', String(TERM_MS), '--name', name, '--json'], onEvent)
    let killed: number | undefined
    const nodes = ['a', 'b', 'c'].map((name) => any(`any-${name}`, (event, node) => {
      // The node that got stream 1 dies on its second task.
      const held = node.events.find((e) => e.kind === 'lease')
      if (event.kind === 'task' && held?.kind === 'lease' && held.stream === 1 && node.events.filter((e) => e.kind === 'task').length === 2) {
        killed = event.cycle
        node.child.kill('SIGKILL')
      }
    }))
    const leases = await Promise.all(nodes.map((n) => n.waitFor((e) => e.kind === 'lease')))
    const run = workload(coordinator(url, 3))
    expect(leases.map((e) => (e.kind === 'lease' ? e.stream : -1)).sort()).toEqual([0, 1, 2])
    // A spare, started once the three hold every stream, waits.
    const spare = any('any-spare')
    await spare.waitFor((e) => e.kind === 'ready')
    expect(await run).toEqual(GOLDEN)
    expect(killed).toBeDefined()
    // Once the dead node's term passed, the spare holds stream 1, and serves it in the next round.
    expect(await spare.waitFor((e) => e.kind === 'lease')).toMatchObject({ kind: 'lease', stream: 1 })
    const before = results(spare)
    await extraRound(url)
    expect(results(spare)).toBeGreaterThan(before)
    await Promise.all([...nodes.filter((n) => n.child.signalCode === null), spare].map(stop))
  })

  it('takes over the stream of a node SIGKILLed while it holds a task, with the pinned roots', async () => {
    const url = await database()
    let killedAt: number | undefined
    // Node 1 dies on its second task, after reading it and before answering: the coordinator waits for its lease to
    // lapse (the 1 s term) and runs stream 1 itself, then and in every later cycle.
    const nodes = [0, 1, 2].map((k) => cliNode(url, k, k !== 1 ? undefined : (event, node) => {
      if (event.kind === 'task' && node.events.filter((e) => e.kind === 'task').length === 2) {
        killedAt = event.cycle
        node.child.kill('SIGKILL')
      }
    }))
    await Promise.all(nodes.map((n) => n.waitFor((e) => e.kind === 'lease')))
    expect(await workload(coordinator(url, 3))).toEqual(GOLDEN)
    expect(killedAt).toBeDefined()
    expect(await nodes[1]!.exited).toBe(null)
    expect(nodes[1]!.child.signalCode).toBe('SIGKILL')
    // The others went on answering after the kill.
    for (const node of [nodes[0]!, nodes[2]!]) {
      expect(node.events.some((e) => e.kind === 'result' && e.cycle > killedAt!)).toBe(true)
    }
    await Promise.all([nodes[0]!, nodes[2]!].map(stop))
  })

  it('refuses the late result of a node SIGSTOPped past its term (FENCED), and nothing changes', async () => {
    const url = await database()
    const nodes = [0, 2].map((k) => cliNode(url, k))
    let stoppedAt: number | undefined
    // Node 1 holds its second result for 3 s before writing it; it is stopped meanwhile for 2.5 terms.
    const held = start(CHILD, [url, '1', path.join(ctx.dir, `${path.basename(url)}-held`), String(TERM_MS), '2'], (event, node) => {
      if (event.kind !== 'holding') return
      stoppedAt = event.cycle
      node.child.kill('SIGSTOP')
      setTimeout(() => node.child.kill('SIGCONT'), TERM_MS * 2.5)
    })
    await Promise.all([...nodes, held].map((n) => n.waitFor((e) => e.kind === 'lease')))
    expect(await workload(coordinator(url, 3))).toEqual(GOLDEN)
    expect(stoppedAt).toBeDefined()
    const fenced = await held.waitFor((e) => e.kind === 'fenced', 10_000)
    expect(fenced).toMatchObject({ kind: 'fenced', cycle: stoppedAt })
    expect((fenced as { message: string }).message).toMatch(/stream\/1/)
    // Its result never reached the database: no task row is left, and the head is the last pinned root.
    const head = await ctx.server.query<{ root: string }>("SELECT encode(state_root, 'hex') AS root FROM strata_head", [], url)
    expect(head.rows[0]!.root).toBe(GOLDEN.rounds.at(-1)![0])
    const rows = await ctx.server.query<{ n: string }>('SELECT count(*)::text AS n FROM strata_tasks', [], url)
    expect(rows.rows[0]!.n).toBe('0')
    // It takes its lease again as a new tenure and serves the next round, from committed memory: the cycles the
    // coordinator ran without it changed its programs' memory under the worker's resident copy.
    await held.waitFor((e) => e.kind === 'lease' && e.epoch > (held.events.find((x) => x.kind === 'lease') as { epoch: number }).epoch)
    const before = results(held)
    await extraRound(url)
    expect(results(held)).toBeGreaterThan(before)
    await Promise.all([...nodes, held].map(stop))
  })

  /**
   * On a coordinator with one stream: creates two spin programs, then sends inc, hog (exhausts a 64 MiB worker
   * heap), inc, runs the cycle, and expects what one node gives: hog fails WORKER_DIED, the others succeed, counted
   * once (the stream's part ran again from committed memory without hog).
   */
  async function hogCycle(options: Parameters<typeof Runtime.open>[0]): Promise<void> {
    const rt = await Runtime.open(options)
    try {
      const code = await rt.uploadCode('test/fixtures/programs/spin.ts')
      const enc = (s: string): Uint8Array => new TextEncoder().encode(s)
      const ids = [await rt.createProgram(code, { salt: enc('a'), gasLimit: 10_000_000 }), await rt.createProgram(code, { salt: enc('b'), gasLimit: 10_000_000 })]
      await rt.runUntilIdle()
      const seen: MessageOutcome[] = []
      rt.on('message', (outcome) => seen.push(outcome))
      const user = '44'.repeat(32)
      const before = rt.send({ source: user, destination: ids[1]!, payload: enc('inc'), gasLimit: 1_000_000 })
      // Enough gas to fill 64 MiB of heap with metered fills (2 gas an element).
      const hog = rt.send({ source: user, destination: ids[0]!, payload: enc('hog'), gasLimit: 2_000_000_000 })
      const later = rt.send({ source: user, destination: ids[1]!, payload: enc('inc'), gasLimit: 1_000_000 })
      await rt.runCycle()
      expect(seen.find((o) => o.messageId === hog)!.replyCode).toBe(ReplyCode.WORKER_DIED)
      expect(seen.find((o) => o.messageId === before)!.result).toBe(ExecutionResult.SUCCESS)
      expect(seen.find((o) => o.messageId === later)!.result).toBe(ExecutionResult.SUCCESS)
      expect(rt.mailbox(user).filter((e) => e.message.replyTo === later).map((e) => new TextDecoder().decode(e.message.payload))).toEqual(['2'])
    } finally {
      await rt.close()
    }
  }

  it('a message that kills the node\'s worker (heap) fails WORKER_DIED and the stream\'s part runs again without it, as on one node', async () => {
    const url = await database()
    // The node's own limit is the default (2 GiB): the coordinator's 64 MiB travels with the task and applies.
    const node = start(CHILD, [url, '0', path.join(ctx.dir, `${path.basename(url)}-heap`), String(TERM_MS), '0'])
    await node.waitFor((e) => e.kind === 'lease')
    await hogCycle({ ...coordinator(url, 1), workerHeapMb: 64 })
    // The node reported the failure, kept its lease and ran the part again: every answer came from it.
    expect(node.events).toContainEqual(expect.objectContaining({ kind: 'failure', failure: 'crash' }))
    expect(node.events.filter((e) => e.kind === 'result').length).toBeGreaterThan(1)
    expect(node.events.filter((e) => e.kind === 'lease')).toHaveLength(1)
    await stop(node)
  }, 60_000)

  it('with no live node, the coordinator runs the stream on a worker of its own: the same WORKER_DIED, and it survives', async () => {
    const url = await database()
    await hogCycle({ ...coordinator(url, 1), workerHeapMb: 64 })
  }, 60_000)

  it('a node whose replica cannot replay the log (pruned while it was stopped) rebuilds it and goes on', async () => {
    const url = await database()
    const node = cliNode(url, 0)
    await node.waitFor((e) => e.kind === 'lease')
    expect(await workload(coordinator(url, 1))).toEqual(GOLDEN)
    // Stopped, it misses a round (the coordinator runs it once the lease lapses), and the log rows it would need
    // are pruned.
    node.child.kill('SIGSTOP')
    await sendToAll({ ...coordinator(url, 1), streams: 0, nodes: undefined })
    const rt = await Runtime.open(coordinator(url, 1))
    await rt.runUntilIdle()
    await rt.close()
    const pruned = await ctx.server.query('DELETE FROM strata_log WHERE commit_number < (SELECT commit_count FROM strata_head)', [], url)
    expect(pruned.rowCount).toBeGreaterThan(0)
    node.child.kill('SIGCONT')
    const before = results(node)
    await extraRound(url, 1, 1)
    expect(node.events).toContainEqual(expect.objectContaining({ kind: 'rebuilt', message: expect.stringMatching(/commit log/) }))
    expect(results(node)).toBeGreaterThan(before)
    await stop(node)
  })

  it('a result row holds the encoded result exactly, and a malformed one is refused', () => {
    const result: StreamResult = {
      stream: 1, entries: [], evicted: [],
      deltas: [{ programId: 'ab'.repeat(32) as never, dropped: false, meta: new Uint8Array([1, 2]), allocations: [[4096, 10]],
        planes: [{ key: 3, dropped: false, fresh: true, chunks: [[0, new Uint8Array(4096).fill(7)], [5, new Uint8Array(4096).fill(9)]] }] }],
    }
    const packed = packResult(encodeResult(result))
    expect(decodeResult(unpackResult(packed))).toEqual(result)
    expect(() => unpackResult(packed.subarray(0, packed.length - 1))).toThrow(/malformed/)
    expect(() => unpackResult(Buffer.concat([packed, Buffer.from([0])]))).toThrow(/malformed/)
    expect(() => unpackResult(new Uint8Array(2))).toThrow(/malformed/)
  })

  it('the CLI\'s term bounds are lease.ts\'s', () => {
    expect([TERM_MS_DEFAULT, TERM_MS_MIN, TERM_MS_MAX]).toEqual([LEASE_TERM_MS_DEFAULT, LEASE_TERM_MS_MIN, LEASE_TERM_MS_MAX])
  })

  it('refuses nodes outside a PostgreSQL writer, a streams count that is not the node count, and bad CLI values', async () => {
    await expect(Runtime.open({ store: 'memory', nodes: 2 })).rejects.toMatchObject({ code: 'INVALID_OPTION' })
    await expect(Runtime.open({ store: 'postgres', url: 'postgres://x@127.0.0.1:1/x', nodes: 2, streams: 3 }))
      .rejects.toMatchObject({ code: 'INVALID_OPTION', message: expect.stringMatching(/streams/) })
    await expect(Runtime.open({ store: 'postgres', url: 'postgres://x@127.0.0.1:1/x', nodes: 0 }))
      .rejects.toMatchObject({ code: 'INVALID_OPTION', message: expect.stringMatching(/nodes/) })
    await expect(Runtime.open({ store: 'postgres', url: 'postgres://x@127.0.0.1:1/x', readOnly: true, nodes: 1 }))
      .rejects.toMatchObject({ code: 'INVALID_OPTION' })
    await expect(Runtime.open({ store: 'postgres', url: 'postgres://x@127.0.0.1:1/x', nodes: 2, planesMax: 5 }))
      .rejects.toMatchObject({ code: 'INVALID_OPTION', message: expect.stringMatching(/planesMax/) })
    const both = await strataFails('run', '--url', 'postgres://x@127.0.0.1:1/x', '--nodes', '2', '--streams', '2')
    expect(both).toMatchObject({ code: 2, stderr: expect.stringMatching(/--nodes N runs N streams/) })
    const stream = await strataFails('node', '--url', 'postgres://x@127.0.0.1:1/x', '--stream', '64')
    expect(stream).toMatchObject({ code: 2, stderr: expect.stringMatching(/--stream must be an integer in 0\.\.63/) })
    // The coordinator's options: checked before anything connects.
    for (const [args, message] of [
      [['coordinator'], /coordinator needs --url/],
      [['coordinator', '--url', 'postgres://x@127.0.0.1:1/x', '--nodes', '2', '--streams', '2'], /--nodes N runs N streams/],
      [['coordinator', '--url', 'postgres://x@127.0.0.1:1/x', '--term', '99'], /--term must be an integer in 100\.\.3600000/],
      [['coordinator', '--url', 'postgres://x@127.0.0.1:1/x', '--poll', '5'], /--poll must be an integer in 10\.\.60000/],
      [['coordinator', '--url', 'mysql://x@127.0.0.1:1/x'], /postgres/],
      [['send', '--data', '/nonexistent', '--to', 'abcd', '--text', 'x', '--wait'], /--wait applies to --url/],
      [['send', '--url', 'postgres://x@127.0.0.1:1/x', '--cache', '/tmp/x', '--to', 'abcd', '--text', 'x'], /--cache does not apply/],
    ] as const) {
      expect(await strataFails(...args)).toMatchObject({ code: 2, stderr: expect.stringMatching(message) })
    }
    for (const [options, name] of [
      [{ leaseTermMs: 99 }, /leaseTermMs/], [{ standby: 'yes' }, /standby/], [{ node: '' }, /node/], [{ node: 'n'.repeat(181) }, /node/],
    ] as const) {
      await expect(Runtime.open({ store: 'postgres', url: 'postgres://x@127.0.0.1:1/x', ...options } as never))
        .rejects.toMatchObject({ code: 'INVALID_OPTION', message: expect.stringMatching(name) })
    }
    await expect(Runtime.open({ standby: true })).rejects.toMatchObject({ code: 'INVALID_OPTION', message: expect.stringMatching(/standby/) })
    await expect(Runtime.open({ store: 'postgres', url: 'postgres://x@127.0.0.1:1/x', readOnly: true, leaseTermMs: 1_000 }))
      .rejects.toMatchObject({ code: 'INVALID_OPTION' })
  })
})
