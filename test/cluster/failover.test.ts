/**
 * The coordinator's failover: `strata coordinator` processes (one active, one standing by, as a supervisor would
 * keep them) and three `strata node` processes run a multi-cycle workload that clients sent into the inbox,
 * while the test SIGKILLs the active coordinator at random moments and right after a commit, and cuts every
 * connection to the database once (pg_terminate_backend). Each time a standby takes the cycle lease over and
 * goes on from the last commit; the nodes reconnect. The committed history must be exactly that of one LMDB node
 * given the same sends: the same root for every cycle, the same replies, every send taken once. Then clients
 * keep sending while the coordinator is killed again: every acknowledged send is applied exactly once.
 */
import path from 'node:path'
import { expect, it } from 'vitest'
import { openClusterClient } from '../../src/cluster/index.js'
import { Runtime } from '../../src/index.js'
import { prng } from '../helpers/prng.js'
import { useProcesses } from './processes.js'
import { describePostgres, tempDir, usePostgresServer } from './suite.js'

/** Short, so that a dead coordinator is replaced within about a second. */
const TERM_MS = 1_000
const MAIN = path.resolve('dist/cli/main.js')
const USERS = ['a1', 'b2', 'c3'].map((b) => b.repeat(32))
const enc = (value: unknown): Uint8Array => new TextEncoder().encode(typeof value === 'string' ? value : JSON.stringify(value))
const dec = (bytes: Uint8Array): string => new TextDecoder().decode(bytes)
const SEED = Number(process.env['STRATA_FAILOVER_SEED'] ?? 20261202)

type Event = { readonly kind: string; readonly cycle?: number; readonly [key: string]: unknown }

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

describePostgres('coordinator failover', () => {
  const ctx = usePostgresServer()
  const start = useProcesses<Event>()

  /** Two ping-pong pairs and four counters, created and initialized; the same on both runtimes. */
  async function programs(rt: Runtime): Promise<{ pairs: [string, string][]; counters: string[] }> {
    const ping = await rt.uploadCode('programs/ping_pong.ts')
    const counter = await rt.uploadCode('programs/counter.ts')
    const pairs: [string, string][] = []
    for (const salt of ['p', 'q']) {
      pairs.push([
        await rt.createProgram(ping, { salt: enc(`${salt}a`), gasLimit: 1_000_000, source: USERS[0]! }),
        await rt.createProgram(ping, { salt: enc(`${salt}b`), gasLimit: 1_000_000, source: USERS[0]! }),
      ])
    }
    const counters: string[] = []
    for (let i = 0; i < 4; i += 1) counters.push(await rt.createProgram(counter, { salt: enc(`c${i}`), payload: enc(String(i * 100)), gasLimit: 5_000_000 }))
    await rt.runUntilIdle()
    return { pairs, counters }
  }

  // Three nodes take every blow and then the sends during a kill; two and one node a shorter series, to keep the
  // suite's time (each blow costs up to a term).
  it.each([
    [3, ['random', 'after-commit', 'network', 'random', 'after-commit'], true, 14],
    [2, ['after-commit', 'network'], false, 6],
    [1, ['random', 'network'], false, 6],
  ] as const)('with %i node(s): replaces a coordinator killed at random points or cut off from the database (%j), with the history of one LMDB node', async (count, actions, sendsDuringKill, rounds) => {
    const rng = prng(SEED)
    const url = await ctx.server.createDatabase()
    const where = (name: string): string => path.join(ctx.dir, `${path.basename(url)}-${name}`)

    // The same programs on the cluster (a writer that then closes, releasing the cycle lease) and on an LMDB twin.
    const setup = await Runtime.open({ store: 'postgres', url, cacheDir: where('setup'), streams: 0, leaseTermMs: TERM_MS })
    const { pairs, counters } = await programs(setup)
    const setupCycle = setup.cycle
    await setup.close()
    const lmdb = tempDir('strata-failover-twin-')
    const twin = await Runtime.open({ dataDir: lmdb.dir, streams: 0 })
    try {
      expect(await programs(twin)).toEqual({ pairs, counters })
      expect(twin.cycle).toBe(setupCycle)

      // Clients send before any coordinator runs: two games of many rounds (a cycle per ping and per pong) and
      // a few increments. The twin gets the same sends in the same order.
      const sends = [
        ...pairs.map(([a, b], i) => ({ source: USERS[i]!, destination: a, payload: enc({ op: 'start', peer: b, rounds: rounds + 4 * i }), gasLimit: 200_000_000 })),
        ...counters.flatMap((c, i) => USERS.map((u) => ({ source: u, destination: c, payload: enc(i % 2 === 0 ? 'inc' : 'add:7'), gasLimit: 2_000_000 }))),
      ]
      const client = await openClusterClient({ url })
      const seqs = await client.sendAll(sends)
      const ids = sends.map((s) => twin.send(s))
      const expected = new Map<number, string>()
      for (const report of await twin.runUntilIdle()) expected.set(report.cycle, report.stateRoot)
      const lastCycle = twin.cycle
      expect(lastCycle - setupCycle).toBeGreaterThan(2 * rounds)

      // Three nodes, and coordinators kept at two live processes (one active, one standing by).
      const nodes = Array.from({ length: count }, (_, k) => k).map((k) => start(MAIN, ['node', '--url', url, '--stream', String(k), '--cache', where(`node-${k}`),
        '--term', String(TERM_MS), '--name', `node-${k}`, '--json']))
      await Promise.all(nodes.map((n) => n.waitFor((e) => e.kind === 'lease')))
      let launched = 0
      const coordinators: ReturnType<typeof start>[] = []
      const cacheOf = new Map<ReturnType<typeof start>, string>()
      const launch = (cache = where(`coordinator-${launched}`)): void => {
        const process = start(MAIN, ['coordinator', '--url', url, '--nodes', String(count), '--term', String(TERM_MS), '--poll', '20',
          '--cache', cache, '--name', `coordinator-${launched++}`, '--json'])
        coordinators.push(process)
        cacheOf.set(process, cache)
      }
      const live = (): ReturnType<typeof start>[] => coordinators.filter((c) => c.child.exitCode === null && c.child.signalCode === null)
      let supervising = true
      const replaced = new Set<ReturnType<typeof start>>()
      let reuse = false
      const supervisor = (async () => {
        while (supervising) {
          while (live().length < 2) {
            // Every other replacement restarts on the dead one's cache: it then takes the lease at once (the
            // cache's lock proves its holder dead) instead of after the term.
            const dead = coordinators.find((c) => !live().includes(c) && !replaced.has(c))
            if (dead !== undefined) replaced.add(dead)
            reuse = !reuse
            launch(dead !== undefined && reuse ? cacheOf.get(dead) : undefined)
          }
          await sleep(20)
        }
      })()
      const active = async (): Promise<ReturnType<typeof start>> => {
        for (;;) {
          const found = live().find((c) => c.events.some((e) => e.kind === 'coordinator'))
          if (found !== undefined) return found
          await sleep(10)
        }
      }
      const head = async (): Promise<{ cycle: number; root: string; empty: boolean }> => {
        const row = (await ctx.server.query<{ cycle: string; root: string; empty: boolean }>(
          "SELECT cycle, encode(state_root, 'hex') AS root, queue_head = queue_tail AS empty FROM strata_head", [], url)).rows[0]!
        return { cycle: Number(row.cycle), root: row.root, empty: row.empty }
      }

      // The chaos: SIGKILL after a random delay, SIGKILL right after a commit, every connection cut, and again.
      const done: string[] = []
      for (const action of actions) {
        if ((await head()).cycle >= lastCycle) break
        const victim = await active()
        const cyclesBefore = victim.events.filter((e) => e.kind === 'cycle').length
        if (action === 'random') {
          await sleep(30 + Math.floor(rng() * 400))
          victim.child.kill('SIGKILL')
        } else if (action === 'after-commit') {
          await victim.waitFor((e) => e.kind === 'cycle' && victim.events.filter((x) => x.kind === 'cycle').length > cyclesBefore, 15_000).catch(() => undefined)
          victim.child.kill('SIGKILL')
        } else {
          await sleep(30 + Math.floor(rng() * 200))
          await ctx.server.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()', [], url)
          // The active coordinator faults (its database is gone) and exits; the standby reconnects and takes over.
          expect(await victim.exited).toBe(3)
          expect(victim.events.at(-1)).toMatchObject({ kind: 'fault', code: expect.stringMatching(/^(IO|FENCED)$/) })
        }
        await victim.exited
        done.push(action)
        // A successor must take over before the next blow.
        await sleep(50)
      }
      expect(done.length).toBeGreaterThanOrEqual(Math.min(actions.length, 2))

      for (const started = Date.now(); ;) {
        const now = await head()
        if (now.cycle >= lastCycle && now.empty) break
        if (Date.now() - started > 60_000) throw new Error(`the cluster stopped at cycle ${now.cycle} of ${lastCycle}; coordinators: ${coordinators.map((c) => JSON.stringify(c.events.slice(-3)) + c.stderr().slice(-500)).join('\n')}`)
        await sleep(50)
      }

      // Exactly the twin's history: every committed cycle's root, the last root, every send taken once with the
      // twin's message id.
      const log = (await ctx.server.query<{ cycle: string; root: string }>(
        "SELECT cycle, encode(state_root, 'hex') AS root FROM strata_log WHERE cycle > $1 ORDER BY commit_number", [setupCycle], url)).rows
      const committed = new Map(log.map((r) => [Number(r.cycle), r.root]))
      expect(committed).toEqual(expected)
      expect((await head()).root).toBe(twin.stateRoot())
      const statuses = await Promise.all(seqs.map((seq) => client.status(seq)))
      expect(statuses.map((s) => (s.state === 'taken' ? s.messageId : s.state))).toEqual(ids)
      // Several coordinators committed cycles; the nodes reconnected after the cut and kept serving.
      // Every blow hit the active coordinator, and a successor took over each time (the last one may take over
      // after the work was done: wait for it).
      await active()
      expect(coordinators.filter((c) => c.events.some((e) => e.kind === 'coordinator')).length).toBeGreaterThanOrEqual(done.length + 1)
      if (done.includes('network')) {
        // Each node reconnects and takes its lease again (perhaps after the work was done: wait for it).
        for (const node of nodes) {
          const cut = node.events.findIndex((e) => e.kind === 'reconnect')
          expect(cut).toBeGreaterThanOrEqual(0)
          for (const started = Date.now(); !node.events.slice(cut).some((e) => e.kind === 'lease');) {
            if (Date.now() - started > 20_000) throw new Error(`node took no lease after reconnecting: ${JSON.stringify(node.events.slice(cut))}`)
            await sleep(20)
          }
        }
      }
      const reader = await Runtime.open({ store: 'postgres', url, readOnly: true, cacheDir: where('reader') })
      try {
        for (const user of USERS) {
          expect(reader.mailbox(user).map((m) => [m.message.id, dec(m.message.payload)])).toEqual(twin.mailbox(user).map((m) => [m.message.id, dec(m.message.payload)]))
        }
      } finally {
        await reader.close()
      }

      if (sendsDuringKill) {
        // Clients go on sending while the active coordinator is killed once more: every acknowledged send is
        // applied exactly once (each counter ends at its count), whoever took it.
        const values = new Map(await Promise.all(counters.map(async (c) => [c, Number(dec((await twin.query(c, enc('get'))).payload))] as const)))
        const blow = (async () => {
          await sleep(150 + Math.floor(rng() * 300))
          ;(await active()).child.kill('SIGKILL')
        })()
        const later: number[] = []
        for (let i = 0; i < 40; i += 1) {
          const counter = counters[i % counters.length]!
          later.push((await client.send({ source: USERS[i % 3]!, destination: counter, payload: enc('inc'), gasLimit: 2_000_000 })).seq)
          values.set(counter, values.get(counter)! + 1)
          await sleep(10)
        }
        await blow
        for (const started = Date.now(); ;) {
          const pending = (await ctx.server.query<{ n: number }>('SELECT count(*)::int AS n FROM strata_inbox WHERE taken_commit IS NULL', [], url)).rows[0]!.n
          if (pending === 0 && (await head()).empty) break
          if (Date.now() - started > 30_000) throw new Error(`${pending} sends were never taken`)
          await sleep(50)
        }
        for (const seq of later) expect(await client.status(seq)).toMatchObject({ state: 'taken' })
        const after = await Runtime.open({ store: 'postgres', url, readOnly: true, cacheDir: where('reader') })
        try {
          for (const counter of counters) expect(Number(dec((await after.query(counter, enc('get'))).payload))).toBe(values.get(counter))
        } finally {
          await after.close()
        }
      }
      supervising = false
      await supervisor
      await client.close()
      // A SIGTERMed coordinator and node leave cleanly (once started: a process still loading has no handler yet).
      await Promise.all(live().map((c) => c.waitFor((e) => e.kind === 'standby' || e.kind === 'coordinator')))
      for (const process of [...live(), ...nodes]) process.child.kill('SIGTERM')
      for (const process of [...live(), ...nodes]) expect(await process.exited).toBe(0)
    } finally {
      await twin.close()
      lmdb.remove()
    }
  }, 150_000)
})
