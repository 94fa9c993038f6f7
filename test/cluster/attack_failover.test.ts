/**
 * Attacks on the coordinator's failover and the node layer through public surfaces: a standby whose replica sync
 * is cut midway (its session terminated) must stand by again in the same process, and one whose replica fell below
 * the pruned log while it waited rebuilds it; a copy of a live coordinator's
 * cache directory must not take its lease over at once (the restart shortcut); a node without --stream that
 * holds a stream the coordinator no longer runs (it reopened with a smaller K) must choose again; cache
 * directories another user could have prepared (a planted `replica` inside, a symlink of theirs, a parent they
 * may write to) are refused UNSAFE_CACHE; and `strata coordinator` processes SIGSTOPped past their term, then
 * SIGCONTed, fault (exit 3) and commit nothing, while SIGTERM leaves cleanly (mid-run and standing by), with the
 * history of one LMDB node.
 */
import { chmodSync, chownSync, cpSync, lchownSync, mkdirSync, symlinkSync } from 'node:fs'
import path from 'node:path'
import { expect, it } from 'vitest'
import { ClusterErrorCode, openClusterClient, openPostgresStore, type PostgresStore } from '../../src/cluster/index.js'
import { Runtime } from '../../src/index.js'
import { expectCode } from '../unit/store/contract.js'
import { rootOf, verify } from '../unit/store/fixtures.js'
import { useProcesses } from './processes.js'
import { describePostgres, tempDir, usePostgresServer } from './suite.js'

const TERM_MS = 1_000
const MAIN = path.resolve('dist/cli/main.js')
const USERS = ['a1', 'b2'].map((b) => b.repeat(32))
const enc = (value: unknown): Uint8Array => new TextEncoder().encode(typeof value === 'string' ? value : JSON.stringify(value))
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))
/** Another user (the tests that plant files as them need root to chown). */
const OTHER_UID = 65_534
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0

type Event = { readonly kind: string; readonly cycle?: number; readonly [key: string]: unknown }

describePostgres('attacks on the failover', () => {
  const ctx = usePostgresServer()
  const start = useProcesses<Event>()
  let dirs = 0
  const cacheDir = (): string => path.join(ctx.dir, `attack${dirs++}`)

  it('a standby whose replica sync is cut midway (its session terminated while it replays) stands by again in the same process', async () => {
    const url = await ctx.server.createDatabase()
    const a = await openPostgresStore({ url, cacheDir: cacheDir(), verify, sync: false })
    const stores: PostgresStore[] = [a]
    try {
      for (let cycle = 1; cycle <= 300; cycle += 1) await a.commit({ cycle, stateRoot: rootOf(cycle) })
      const dir = cacheDir()
      const standby = openPostgresStore({ url, cacheDir: dir, verify, standby: true })
      // Cut the standby's session while it replays the log into its replica (after the replica opened).
      let cut = 0
      const cutter = (async () => {
        for (let i = 0; i < 2_000 && cut === 0; i += 1) {
          cut = (await ctx.server.query<{ n: number }>(`SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity
            WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE 'SELECT %FROM strata_log WHERE commit_number%'`, [], url)).rows[0]!.n
          await sleep(2)
        }
      })()
      const outcome = await standby.then((store) => { stores.push(store); return undefined }, (error: { code?: string }) => error)
      await cutter
      expect(cut).toBeGreaterThan(0)
      expect(outcome).toMatchObject({ code: ClusterErrorCode.IO })
      // The same process stands by again on the same cache directory (as `strata coordinator` does after IO):
      // it must not find its own replica still open (LOCKED), and it takes over once the first closes.
      const again = openPostgresStore({ url, cacheDir: dir, verify, standby: true })
      let settled: unknown = 'waiting'
      void again.then(() => { settled = 'opened' }, (error: Error) => { settled = error.message })
      await sleep(300)
      expect(settled).toBe('waiting')
      await a.commit({ cycle: 301, stateRoot: rootOf(301) })
      await a.close()
      const b = await again
      stores.push(b)
      expect(b.head()).toMatchObject({ cycle: 301, commitCount: 301 })
      await b.commit({ cycle: 302, stateRoot: rootOf(302) })
    } finally {
      for (const store of stores) await store.close()
    }
  }, 30_000)

  it('a standby whose replica fell below the pruned log while it waited rebuilds it and takes over on the head', async () => {
    const url = await ctx.server.createDatabase()
    const a = await openPostgresStore({ url, cacheDir: cacheDir(), verify, sync: false, logKeepCommits: 2 })
    let b: PostgresStore | undefined
    try {
      await a.commit({ cycle: 1, stateRoot: rootOf(1) })
      const standby = openPostgresStore({ url, cacheDir: cacheDir(), verify, standby: true }).then((store) => (b = store))
      await sleep(300) // its first sync: at commit 1
      for (let cycle = 2; cycle <= 12; cycle += 1) await a.commit({ cycle, stateRoot: rootOf(cycle) })
      await sleep(1_500) // a sync while waiting: the log holds only commits 11 and 12, so it rebuilds
      await a.close()
      await standby
      expect(b!.head()).toMatchObject({ cycle: 12, commitCount: 12 })
      expect(b!.diagnostics().replica).toBe('current')
      await b!.commit({ cycle: 13, stateRoot: rootOf(13) })
    } finally {
      await b?.close()
    }
  }, 30_000)

  it('a copy of a live coordinator\'s cache directory (its locks left out) does not push that coordinator out: LEASE_HELD', async () => {
    const url = await ctx.server.createDatabase()
    const dirA = cacheDir()
    const a = await openPostgresStore({ url, cacheDir: dirA, verify, leaseTermMs: 60_000 })
    try {
      await a.commit({ cycle: 1, stateRoot: rootOf(1) })
      // The copy carries the record of A's tenure (`cycle-lease`); A's lock is not carried (rsync --exclude, or a
      // copy on another machine, where A's pid names no live process).
      const dirB = cacheDir()
      cpSync(dirA, dirB, { recursive: true, filter: (source) => path.basename(source) !== 'strata-writer.lock' })
      await expectCode(() => openPostgresStore({ url, cacheDir: dirB, verify }), ClusterErrorCode.LEASE_HELD)
      await a.commit({ cycle: 2, stateRoot: rootOf(2) })
    } finally {
      await a.close()
    }
  }, 30_000)

  it('a node without --stream holding a stream the coordinator no longer runs (reopened with a smaller K) chooses again', async () => {
    const url = await ctx.server.createDatabase()
    const coordinatorCache = cacheDir()
    const rt3 = await Runtime.open({ store: 'postgres', url, cacheDir: coordinatorCache, nodes: 3, leaseTermMs: TERM_MS })
    await rt3.close()
    const nodes = [0, 1, 2].map((i) => start(MAIN, ['node', '--url', url, '--cache', cacheDir(), '--term', String(TERM_MS), '--name', `spare-${i}`, '--json']))
    await Promise.all(nodes.map((n) => n.waitFor((e) => e.kind === 'lease')))
    const streamOf = (n: typeof nodes[number]): number => n.events.filter((e) => e.kind === 'lease').at(-1)!.stream as number
    expect(nodes.map(streamOf).sort()).toEqual([0, 1, 2])
    // The node of stream 0 dies; the coordinator comes back with K = 2.
    const dead = nodes.find((n) => streamOf(n) === 0)!
    const outside = nodes.find((n) => streamOf(n) === 2)!
    dead.child.kill('SIGKILL')
    await dead.exited
    const rt2 = await Runtime.open({ store: 'postgres', url, cacheDir: coordinatorCache, nodes: 2, leaseTermMs: TERM_MS })
    try {
      // Stream 2 is no longer run: its node leaves it and takes stream 0 once the dead node's term passed.
      await outside.waitFor((e) => e.kind === 'lease' && e['stream'] === 0, 10_000)
      const held = (await ctx.server.query<{ name: string; holder: string | null }>(
        "SELECT name, holder FROM strata_leases WHERE name LIKE 'stream/%' AND expires_at > clock_timestamp() ORDER BY name", [], url)).rows
      expect(held.map((r) => r.name)).toEqual(['stream/0', 'stream/1'])
    } finally {
      await rt2.close()
    }
  }, 30_000)

  it.runIf(isRoot)('refuses cache directories another user could have prepared (UNSAFE_CACHE): a planted replica, their symlink, a parent they may write to', async () => {
    const url = await ctx.server.createDatabase()
    const open = (dir: string): Promise<PostgresStore> => openPostgresStore({ url, cacheDir: dir, verify })
    // A `replica` directory of another user inside a cache directory of ours.
    const planted = cacheDir()
    mkdirSync(path.join(planted, 'replica'), { recursive: true, mode: 0o700 })
    chmodSync(planted, 0o700)
    chownSync(path.join(planted, 'replica'), OTHER_UID, OTHER_UID)
    await expectCode(() => open(planted), ClusterErrorCode.UNSAFE_CACHE)
    // A symlink of another user to a directory of ours: they can point it elsewhere once it was checked.
    const ours = cacheDir()
    mkdirSync(ours, { mode: 0o700 })
    const link = cacheDir()
    symlinkSync(ours, link)
    lchownSync(link, OTHER_UID, OTHER_UID) // the link only: the target stays ours
    await expectCode(() => open(link), ClusterErrorCode.UNSAFE_CACHE)
    // A cache directory of ours in a directory others may write to (no sticky bit): they can rename it away and
    // put theirs in its place.
    const open777 = cacheDir()
    mkdirSync(open777, { mode: 0o777 })
    chmodSync(open777, 0o777)
    const inside = path.join(open777, 'cache')
    mkdirSync(inside, { mode: 0o700 })
    await expectCode(() => open(inside), ClusterErrorCode.UNSAFE_CACHE)
    // With the sticky bit (as /tmp has) it is fine, as is a directory of ours.
    chmodSync(open777, 0o1777)
    await (await open(inside)).close()
    await (await open(ours)).close()
  }, 30_000)

  it('strata coordinator: SIGSTOPped past its term then SIGCONTed it faults (exit 3) and commits nothing; SIGTERM mid-run and standing by exits 0; one LMDB node\'s history', async () => {
    const url = await ctx.server.createDatabase()
    const setup = await Runtime.open({ store: 'postgres', url, cacheDir: cacheDir(), streams: 0, leaseTermMs: TERM_MS })
    const lmdb = tempDir('strata-attack-twin-')
    const twin = await Runtime.open({ dataDir: lmdb.dir, streams: 0 })
    try {
      const programs = async (rt: Runtime): Promise<[string, string]> => {
        const ping = await rt.uploadCode('programs/ping_pong.ts')
        const pair: [string, string] = [
          await rt.createProgram(ping, { salt: enc('a'), gasLimit: 1_000_000, source: USERS[0]! }),
          await rt.createProgram(ping, { salt: enc('b'), gasLimit: 1_000_000, source: USERS[0]! }),
        ]
        await rt.runUntilIdle()
        return pair
      }
      const pair = await programs(setup)
      const setupCycle = setup.cycle
      await setup.close()
      expect(await programs(twin)).toEqual(pair)
      const sends = [{ source: USERS[1]!, destination: pair[0], payload: enc({ op: 'start', peer: pair[1], rounds: 30 }), gasLimit: 200_000_000 }]
      for (const send of sends) twin.send(send)
      const expected = new Map<number, string>()
      for (const report of await twin.runUntilIdle()) expected.set(report.cycle, report.stateRoot)

      const coordinator = (name: string): ReturnType<typeof start> => start(MAIN, ['coordinator', '--url', url, '--streams', '0', '--term', String(TERM_MS),
        '--poll', '20', '--cache', cacheDir(), '--name', name, '--json'])
      const first = coordinator('first')
      await first.waitFor((e) => e.kind === 'coordinator')
      const second = coordinator('second')
      await second.waitFor((e) => e.kind === 'standby')
      const client = await openClusterClient({ url })
      const [seq] = await client.sendAll(sends)
      await first.waitFor((e) => e.kind === 'cycle')
      // Paused past its term: the standby takes over; woken, the first commits nothing and faults.
      first.child.kill('SIGSTOP')
      await second.waitFor((e) => e.kind === 'coordinator', 15_000)
      await second.waitFor((e) => e.kind === 'cycle')
      const before = first.events.length
      first.child.kill('SIGCONT')
      expect(await first.exited).toBe(3)
      expect(first.events.slice(before).filter((e) => e.kind === 'cycle')).toEqual([])
      expect(first.events.at(-1)).toMatchObject({ kind: 'fault', code: 'FENCED' })
      // SIGTERM mid-run: it finishes its cycle, releases the lease and exits 0; a standby goes on at once.
      const third = coordinator('third')
      await third.waitFor((e) => e.kind === 'standby')
      second.child.kill('SIGTERM')
      expect(await second.exited).toBe(0)
      expect(second.events.at(-1)).toMatchObject({ kind: 'stopped' })
      await third.waitFor((e) => e.kind === 'coordinator', 15_000)
      // A standby SIGTERMed leaves at once (exit 0) and takes nothing.
      const fourth = coordinator('fourth')
      await fourth.waitFor((e) => e.kind === 'standby')
      fourth.child.kill('SIGTERM')
      expect(await fourth.exited).toBe(0)

      const lastCycle = twin.cycle
      for (const started = Date.now(); ;) {
        const row = (await ctx.server.query<{ cycle: string; empty: boolean }>('SELECT cycle, queue_head = queue_tail AS empty FROM strata_head', [], url)).rows[0]!
        if (Number(row.cycle) >= lastCycle && row.empty) break
        if (Date.now() - started > 20_000) throw new Error(`stuck at cycle ${row.cycle} of ${lastCycle}`)
        await sleep(50)
      }
      const log = (await ctx.server.query<{ cycle: string; root: string }>(
        "SELECT cycle, encode(state_root, 'hex') AS root FROM strata_log WHERE cycle > $1 ORDER BY commit_number", [setupCycle], url)).rows
      expect(new Map(log.map((r) => [Number(r.cycle), r.root]))).toEqual(expected)
      expect(await client.status(seq!)).toMatchObject({ state: 'taken' })
      await client.close()
      third.child.kill('SIGTERM')
      expect(await third.exited).toBe(0)
      // It released the lease.
      const lease = (await ctx.server.query<{ holder: string | null }>("SELECT holder FROM strata_leases WHERE name = 'cycle'", [], url)).rows[0]!
      expect(lease.holder).toBeNull()
    } finally {
      await twin.close()
      lmdb.remove()
    }
  }, 60_000)
})
