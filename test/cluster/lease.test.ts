/**
 * Leases (src/cluster/lease.ts) on a real PostgreSQL: one tenure at a time, epochs that only grow, expiry on the
 * server's clock, a racing acquire won once, a fence that holds a takeover off until its transaction ends, and
 * a node paused past its term (SIGSTOP) that wakes and is refused, writing nothing.
 */
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import { expect, it } from 'vitest'
import {
  ClusterErrorCode, acquireLease, ensureSchema, fenceLease, listLeases, releaseLease, renewLease, type Lease,
} from '../../src/cluster/index.js'
import { expectCode } from '../unit/store/contract.js'
import { describePostgres, usePostgresServer } from './suite.js'

const CHILD = fileURLToPath(new URL('./lease_child.mjs', import.meta.url))
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

describePostgres('leases', () => {
  const pgServer = usePostgresServer()
  const clients: pg.Client[] = []

  async function connect(url: string): Promise<pg.Client> {
    const client = new pg.Client({ connectionString: url })
    await client.connect()
    clients.push(client)
    return client
  }

  /** A fresh database with the schema, and `count` connections to it. */
  async function database(count: number): Promise<{ url: string; dbs: pg.Client[] }> {
    const url = await pgServer.server.createDatabase('leases')
    const dbs = await Promise.all(Array.from({ length: count }, () => connect(url)))
    await ensureSchema(dbs[0]!)
    return { url, dbs }
  }

  const end = async (): Promise<void> => {
    await Promise.all(clients.splice(0).map((client) => client.end().catch(() => undefined)))
  }

  it('one tenure at a time: a live lease is refused to all, renewed by its holder, released, then taken with a greater epoch', async () => {
    const { dbs: [a, b] } = await database(2)
    try {
      const first = (await acquireLease(a!, 'cycle', 'node-a', 2_000))!
      expect(first).toMatchObject({ name: 'cycle', holder: 'node-a', epoch: 1 })
      expect(await acquireLease(b!, 'cycle', 'node-b', 2_000)).toBeUndefined()
      expect(await acquireLease(a!, 'cycle', 'node-a', 2_000)).toBeUndefined() // a holder renews, it does not re-acquire
      const renewed = await renewLease(a!, first, 3_000)
      expect(renewed.epoch).toBe(1)
      expect(renewed.expiresAtMs).toBeGreaterThan(first.expiresAtMs)
      await releaseLease(a!, renewed)
      const second = (await acquireLease(b!, 'cycle', 'node-b', 2_000))!
      expect(second).toMatchObject({ holder: 'node-b', epoch: 2 })
      await expectCode(() => renewLease(a!, renewed), ClusterErrorCode.LEASE_LOST)
      await a!.query('BEGIN')
      await expectCode(() => fenceLease(a!, renewed), ClusterErrorCode.FENCED)
      await a!.query('ROLLBACK')
      await releaseLease(a!, renewed) // not A's any more: changes nothing
      expect((await listLeases(b!)).map(({ name, holder, epoch, live }) => ({ name, holder, epoch, live })))
        .toEqual([{ name: 'cycle', holder: 'node-b', epoch: 2, live: true }])
      await expectCode(() => acquireLease(a!, '', 'x'), ClusterErrorCode.INVALID_ARGUMENT)
      await expectCode(() => acquireLease(a!, 'cycle', 'x', 10), ClusterErrorCode.INVALID_ARGUMENT)
    } finally {
      await end()
    }
  })

  it('a lease not renewed within its term is lost on the server\'s clock, even before anyone takes it', async () => {
    const { dbs: [a, b] } = await database(2)
    try {
      const lease = (await acquireLease(a!, 'shard/3', 'node-a', 150))!
      await sleep(250)
      await expectCode(() => renewLease(a!, lease), ClusterErrorCode.LEASE_LOST)
      await a!.query('BEGIN')
      await expectCode(() => fenceLease(a!, lease), ClusterErrorCode.FENCED)
      await a!.query('ROLLBACK')
      expect(await acquireLease(b!, 'shard/3', 'node-b', 2_000)).toMatchObject({ holder: 'node-b', epoch: 2 })
    } finally {
      await end()
    }
  })

  it('eight nodes race for one free lease: exactly one wins', async () => {
    const { dbs } = await database(8)
    try {
      const won = await Promise.all(dbs.map((db, i) => acquireLease(db, 'cycle', `node-${i}`, 5_000)))
      expect(won.filter((lease) => lease !== undefined)).toHaveLength(1)
      expect(won.find((lease) => lease !== undefined)!.epoch).toBe(1)
    } finally {
      await end()
    }
  })

  it('a fence holds a takeover off until its transaction ends, even past the term: the work is ordered before the next tenure', async () => {
    const { dbs: [a, b] } = await database(2)
    try {
      await a!.query('CREATE TABLE lease_work (epoch bigint NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp())')
      const lease = (await acquireLease(a!, 'cycle', 'node-a', 200))!
      await a!.query('BEGIN')
      await fenceLease(a!, lease)
      let taken: Lease | undefined
      const takeover = (async () => {
        await sleep(300) // past A's term
        taken = await acquireLease(b!, 'cycle', 'node-b', 2_000) // waits on A's row lock
      })()
      await sleep(500)
      expect(taken).toBeUndefined() // still waiting: A's transaction holds the row
      await a!.query('INSERT INTO lease_work (epoch) VALUES ($1)', [lease.epoch])
      await a!.query('COMMIT')
      await takeover
      expect(taken).toMatchObject({ holder: 'node-b', epoch: 2 })
      const work = await b!.query<{ epoch: string }>('SELECT epoch FROM lease_work')
      expect(work.rows.map((row) => Number(row.epoch))).toEqual([1])
    } finally {
      await end()
    }
  })

  it.each([
    ['between two transactions', 0],
    ['inside a fenced transaction (the server ends its session after the term)', 15],
  ])('a node paused past its term (SIGSTOP) %s wakes to find its work refused, and writes nothing after the next tenure began', async (_where, delayMs) => {
    const { url, dbs: [b] } = await database(1)
    try {
      await b!.query('CREATE TABLE lease_marks (id serial PRIMARY KEY, holder text NOT NULL, epoch bigint NOT NULL)')
      const child = spawn(process.execPath, [CHILD, url, 'shard/0', 'node-a', '300'], { stdio: ['ignore', 'pipe', 'inherit'] })
      const lines: Record<string, unknown>[] = []
      let buffer = ''
      let wake: () => void = () => undefined
      child.stdout.on('data', (chunk: Buffer) => {
        buffer += chunk.toString()
        const parts = buffer.split('\n')
        buffer = parts.pop()!
        for (const part of parts) lines.push(JSON.parse(part) as Record<string, unknown>)
        wake()
      })
      const exited = new Promise<number | null>((resolve) => child.on('exit', resolve))
      const until = async (test: () => boolean): Promise<void> => {
        while (!test()) await new Promise<void>((resolve) => { wake = resolve })
      }
      await until(() => lines.filter((line) => line['worked'] === true).length >= 3)
      // A turn prints after its COMMIT, then waits 5 ms, then spends ~30 ms inside its next transaction.
      await sleep(delayMs)
      child.kill('SIGSTOP')
      await sleep(600) // twice the term
      const taken = (await acquireLease(b!, 'shard/0', 'node-b', 5_000))!
      expect(taken.epoch).toBe(2)
      await b!.query('BEGIN')
      await fenceLease(b!, taken)
      const mine = await b!.query<{ id: number }>('INSERT INTO lease_marks (holder, epoch) VALUES ($1, $2) RETURNING id', ['node-b', taken.epoch])
      await b!.query('COMMIT')
      child.kill('SIGCONT')
      expect(await exited).toBe(0)
      // Paused between transactions, its next fence is refused; paused inside one, the server ended its session
      // after the term (idle_in_transaction_session_timeout, SQLSTATE 25P03) and rolled that transaction back.
      const refusal = lines.at(-1)!
      expect([ClusterErrorCode.FENCED, '25P03', 'NO_CODE'], JSON.stringify(refusal)).toContain(refusal['refused'])
      if (refusal['refused'] === 'NO_CODE') expect(refusal['message']).toMatch(/terminat|Connection/i)
      const after = await b!.query('SELECT holder, epoch FROM lease_marks WHERE id > $1', [mine.rows[0]!.id])
      process.stdout.write(`paused node refused with ${JSON.stringify(refusal)}\n`)
      expect(after.rows).toEqual([])
      const before = await b!.query<{ holder: string; epoch: string }>('SELECT holder, epoch FROM lease_marks WHERE id < $1', [mine.rows[0]!.id])
      expect(before.rows.length).toBeGreaterThanOrEqual(3)
      expect(before.rows.every((row) => row.holder === 'node-a' && Number(row.epoch) === 1)).toBe(true)
    } finally {
      await end()
    }
  }, 30_000)
})
