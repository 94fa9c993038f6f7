/**
 * The inbox (src/cluster/inbox.ts): clients send into the database while a coordinator holds the cycle lease;
 * a send is durable once acknowledged, taken exactly once, in the order accepted, with the message ids and roots
 * a single LMDB node gives for the same sends; a coordinator that dies holding taken sends leaves them to its
 * successor.
 */
import path from 'node:path'
import { afterAll, expect, it } from 'vitest'
import { ClusterErrorCode, openClusterClient, type ClusterClient } from '../../src/cluster/index.js'
import { PAYLOAD_SIZE_MAX_BYTES } from '../../src/constants.js'
import { Runtime } from '../../src/index.js'
import { describePostgres, tempDir, usePostgresServer } from './suite.js'

const text = (s: string): Uint8Array => new TextEncoder().encode(s)
const USERS = ['aa', 'bb', 'cc'].map((b) => b.repeat(32))
const GAS = 5_000_000

describePostgres('the inbox', () => {
  const ctx = usePostgresServer()
  const closing: { close(): Promise<unknown> }[] = []
  afterAll(async () => {
    for (const c of closing.reverse()) await c.close().catch(() => undefined)
  })
  let caches = 0
  const cacheDir = (): string => path.join(ctx.dir, `inbox-cache${caches++}`)

  /** A coordinator and an LMDB twin with the same two counters and a ping-pong program. */
  async function setup(): Promise<{ url: string; coordinator: Runtime; twin: Runtime; ids: string[]; client: ClusterClient }> {
    const url = await ctx.server.createDatabase()
    const coordinator = await Runtime.open({ store: 'postgres', url, cacheDir: cacheDir(), streams: 0, leaseTermMs: 60_000 })
    const lmdb = tempDir('strata-inbox-twin-')
    const twin = await Runtime.open({ dataDir: lmdb.dir, streams: 0 })
    closing.push(coordinator, twin, { close: async () => lmdb.remove() })
    const ids: string[] = []
    for (const rt of [coordinator, twin]) {
      const counter = await rt.uploadCode('programs/counter.ts')
      const made = [
        await rt.createProgram(counter, { salt: text('a'), payload: text('0'), gasLimit: GAS }),
        await rt.createProgram(counter, { salt: text('b'), payload: text('10'), gasLimit: GAS }),
      ]
      await rt.runUntilIdle()
      if (ids.length === 0) ids.push(...made)
    }
    const client = await openClusterClient({ url })
    closing.push(client)
    return { url, coordinator, twin, ids, client }
  }

  it('takes sends in the order accepted, once, with the ids and roots of the same sends on one LMDB node', async () => {
    const { coordinator, twin, ids, client } = await setup()
    const sends = [0, 1, 2, 3, 4, 5].map((i) => ({ source: USERS[i % 3]!, destination: ids[i % 2]!, payload: text(i % 3 === 2 ? 'dec' : 'inc'), gasLimit: GAS }))
    const seqs = [(await client.send(sends[0]!)).seq, ...await client.sendAll(sends.slice(1))]
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b))
    expect(await client.status(seqs[0]!)).toEqual({ state: 'pending' })
    // Nothing is in the coordinator's queue until it takes the inbox, which its cycle does first.
    expect(coordinator.queueLength).toBe(0)
    const report = await coordinator.runCycle()
    expect(report.processed).toBe(sends.length)
    const ids2 = sends.map((s) => twin.send(s))
    const twinReport = await twin.runCycle()
    expect(report.stateRoot).toBe(twinReport.stateRoot)
    const statuses = await Promise.all(seqs.map((seq) => client.status(seq)))
    expect(statuses.map((s) => (s.state === 'taken' ? s.messageId : s.state))).toEqual(ids2)
    // Taken once: another cycle takes nothing and changes nothing.
    expect(await coordinator.intake()).toBe(0)
    expect(coordinator.idle).toBe(true)
    expect(coordinator.mailbox(USERS[0]!).length).toBe(twin.mailbox(USERS[0]!).length)
  })

  it('refuses bad sends at the client (nothing enters the inbox) and records what the coordinator refuses', async () => {
    const { url, coordinator, ids, client } = await setup()
    const bad = [
      [{ source: USERS[0]!, destination: 'ff'.repeat(32), payload: text('inc'), gasLimit: GAS }, 'UNKNOWN_PROGRAM'],
      [{ source: USERS[0]!, destination: ids[0]!, payload: 'inc' as never, gasLimit: GAS }, 'INVALID_PAYLOAD'],
      [{ source: USERS[0]!, destination: ids[0]!, payload: new Uint8Array(PAYLOAD_SIZE_MAX_BYTES + 1), gasLimit: GAS }, 'PAYLOAD_TOO_LARGE'],
      [{ source: USERS[0]!, destination: ids[0]!, payload: text('inc'), gasLimit: -1 }, 'INVALID_GAS'],
      [{ source: 'not an id', destination: ids[0]!, payload: text('inc'), gasLimit: GAS }, 'INVALID_ID'],
    ] as const
    for (const [input, code] of bad) await expect(client.send(input)).rejects.toMatchObject({ code })
    await expect(client.sendAll([])).rejects.toMatchObject({ code: ClusterErrorCode.INVALID_ARGUMENT })
    expect((await ctx.server.query<{ n: number }>('SELECT count(*)::int AS n FROM strata_inbox', [], url)).rows[0]!.n).toBe(0)
    // A program as the sender passes the client (which reads no state) and is refused by the coordinator.
    const { seq } = await client.send({ source: ids[1]!, destination: ids[0]!, payload: text('inc'), gasLimit: GAS })
    const ok = await client.send({ source: USERS[1]!, destination: ids[0]!, payload: text('inc'), gasLimit: GAS })
    const report = await coordinator.runCycle()
    expect(report.processed).toBe(1)
    expect(await client.status(seq)).toMatchObject({ state: 'refused', error: expect.stringContaining('INVALID_SOURCE') })
    expect(await client.status(ok.seq)).toMatchObject({ state: 'taken' })
    expect(await client.status(999_999)).toEqual({ state: 'unknown' })
  })

  it('leaves sends a coordinator took but never committed to its successor, which runs each once', async () => {
    const { url, coordinator, ids, client } = await setup()
    await client.sendAll([1, 2, 3].map(() => ({ source: USERS[2]!, destination: ids[0]!, payload: text('inc'), gasLimit: GAS })))
    expect(await coordinator.intake()).toBe(3)
    expect(coordinator.queueLength).toBe(3)
    // The coordinator is paused past its term: its lease expires before it commits.
    await ctx.server.query(`UPDATE strata_leases SET expires_at = clock_timestamp() WHERE name = 'cycle'`, [], url)
    await expect(coordinator.runCycle()).rejects.toMatchObject({ code: ClusterErrorCode.FENCED })
    const pending = (await ctx.server.query<{ n: number }>('SELECT count(*)::int AS n FROM strata_inbox WHERE taken_commit IS NULL', [], url)).rows[0]!.n
    expect(pending).toBe(3)
    const successor = await Runtime.open({ store: 'postgres', url, cacheDir: cacheDir(), streams: 0 })
    closing.push(successor)
    const reports = await successor.runUntilIdle()
    expect(reports[0]!.processed).toBe(3)
    const replies = successor.mailbox(USERS[2]!)
    expect(replies.map((r) => new TextDecoder().decode(r.message.payload))).toEqual(['1', '2', '3'])
  })
})
