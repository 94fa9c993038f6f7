/**
 * Attacks on the inbox, the coordinator's intake and the cycle lease through their public surfaces (a
 * ClusterClient's methods, Runtime options and calls): what a hostile client or caller can make a coordinator do.
 */
import path from 'node:path'
import { afterAll, expect, it } from 'vitest'
import { openClusterClient, type ClusterClient } from '../../src/cluster/index.js'
import { PAYLOAD_SIZE_MAX_BYTES } from '../../src/constants.js'
import { Runtime } from '../../src/index.js'
import { BIN, strataFails } from '../integration/cli_helpers.js'
import { useProcesses } from './processes.js'
import { describePostgres, tempDir, usePostgresServer } from './suite.js'

const text = (s: string): Uint8Array => new TextEncoder().encode(s)
const USER = 'ab'.repeat(32)
const GAS = 5_000_000

describePostgres('attacks on the inbox and the cycle lease', () => {
  const ctx = usePostgresServer()
  const closing: { close(): Promise<unknown> }[] = []
  afterAll(async () => {
    for (const c of closing.reverse()) await c.close().catch(() => undefined)
  })
  const start = useProcesses<{ kind: string }>()
  let caches = 0
  const cacheDir = (): string => path.join(ctx.dir, `attack-cache${caches++}`)

  async function setup(twin = false): Promise<{ url: string; rt: Runtime; counter: string; client: ClusterClient; lmdb?: Runtime; dir: string }> {
    const url = await ctx.server.createDatabase()
    const dir = cacheDir()
    const rt = await Runtime.open({ store: 'postgres', url, cacheDir: dir, streams: 0, leaseTermMs: 60_000 })
    closing.push(rt)
    let lmdb: Runtime | undefined
    if (twin) {
      const t = tempDir('strata-attack-twin-')
      lmdb = await Runtime.open({ dataDir: t.dir, streams: 0 })
      closing.push({ close: async () => t.remove() }, lmdb)
    }
    let counter = ''
    for (const r of lmdb === undefined ? [rt] : [rt, lmdb]) {
      const code = await r.uploadCode('programs/counter.ts')
      counter = await r.createProgram(code, { salt: text('a'), payload: text('0'), gasLimit: GAS })
      await r.runUntilIdle()
    }
    const client = await openClusterClient({ url })
    closing.push(client)
    return { url, rt, counter, client, ...(lmdb !== undefined ? { lmdb } : {}), dir }
  }

  it('takes a send once however intake is called: concurrent intakes, intake during runCycle, close after intake', async () => {
    const { rt, counter, client } = await setup()
    const [seq] = await client.sendAll([{ source: USER, destination: counter, payload: text('inc'), gasLimit: GAS }])
    const results = await Promise.allSettled([rt.intake(), rt.intake()])
    const taken = results.map((r) => (r.status === 'fulfilled' ? r.value : 0))
    expect(taken.reduce((a, b) => a + b, 0)).toBe(1)
    await client.send({ source: USER, destination: counter, payload: text('inc'), gasLimit: GAS })
    const both = await Promise.allSettled([rt.intake(), rt.runCycle()])
    await rt.runUntilIdle()
    expect(rt.queueLength).toBe(0)
    expect(await client.status(seq!)).toMatchObject({ state: 'taken' })
    // Two sends taken, each once: the user's next nonce is 2, so its next message id is that of nonce 2.
    const count = await rt.query(counter, text('get'), { source: USER })
    expect(new TextDecoder().decode(count.payload)).toBe('2')
    expect(both.length).toBe(2)
  })

  it('close and flush after intake commit what it took; a queue filled meanwhile leaves the rest untaken, not refused', async () => {
    const { url, rt, counter, client, dir } = await setup()
    const ok = { source: USER, destination: counter, payload: text('inc'), gasLimit: GAS }
    const [a] = await client.sendAll([ok])
    const taking = rt.intake()
    await rt.close()
    expect(await taking).toBe(1)
    expect(await client.status(a!)).toMatchObject({ state: 'taken' })
    const small = await Runtime.open({ store: 'postgres', url, cacheDir: dir, streams: 0, queueLengthMax: 3 })
    closing.push(small)
    expect(small.queueLength).toBe(1)
    const [b, c] = await client.sendAll([ok, ok])
    const intake = small.intake()
    // The coordinator's own process fills the queue while the intake reads the inbox.
    small.send(ok)
    small.send(ok)
    expect(await intake).toBe(0)
    await small.flush()
    expect([await client.status(b!), await client.status(c!)]).toEqual([{ state: 'pending' }, { state: 'pending' }])
    await small.runUntilIdle()
    expect([await client.status(b!), await client.status(c!)]).toMatchObject([{ state: 'taken' }, { state: 'taken' }])
  })

  it('records a refusal durably even when the intake took nothing else (status is not left pending)', async () => {
    const { rt, counter, client } = await setup()
    // A program as sender passes the client's checks and is refused by the coordinator.
    const { seq } = await client.send({ source: counter, destination: counter, payload: text('inc'), gasLimit: GAS })
    await rt.runUntilIdle()
    expect(await client.status(seq)).toMatchObject({ state: 'refused' })
  })

  it('a payload that grows or lies about its length after the checks does not enter the inbox over the limit', async () => {
    const { url, rt, counter, client } = await setup()
    class Liar extends Uint8Array {
      calls = 0
      override get length(): number { return this.calls++ < 1 ? 3 : super.length }
    }
    const liar = new Liar(PAYLOAD_SIZE_MAX_BYTES + 10)
    await expect(client.send({ source: USER, destination: counter, payload: liar, gasLimit: GAS })).rejects.toMatchObject({ code: 'PAYLOAD_TOO_LARGE' })
    const buffer = new (ArrayBuffer as unknown as new (n: number, o: object) => ArrayBuffer & { resize(n: number): void })(3, { maxByteLength: PAYLOAD_SIZE_MAX_BYTES * 2 })
    const growing = new Uint8Array(buffer)
    const sent = client.send({ source: USER, destination: counter, payload: growing, gasLimit: GAS })
    buffer.resize(PAYLOAD_SIZE_MAX_BYTES * 2)
    const { seq } = await sent
    // Getters that give checked values first and others after.
    let reads = 0
    const shifty = {
      source: USER, destination: counter,
      get payload() { return reads++ === 0 ? text('inc') : new Uint8Array(PAYLOAD_SIZE_MAX_BYTES * 4) },
      get gasLimit() { return reads++ <= 1 ? GAS : 2 ** 60 },
    }
    await client.send(shifty).catch(() => undefined)
    const { rows } = await ctx.server.query<{ max: number | null }>('SELECT max(octet_length(payload)) AS max FROM strata_inbox', [], url)
    expect(rows[0]!.max === null || rows[0]!.max <= PAYLOAD_SIZE_MAX_BYTES).toBe(true)
    expect(rows[0]!.max).toBe(3)
    expect((await ctx.server.query('SELECT max(gas_limit) AS g FROM strata_inbox', [], url)).rows[0]!.g).toBe(String(GAS))
    await rt.runUntilIdle()
    expect(await client.status(seq)).toMatchObject({ state: 'taken' })
  })

  it('refuses odd and hostile inputs at the client with a typed error, and takes ids in any accepted form as one id', async () => {
    const { url, rt, counter, client, lmdb } = await setup(true)
    const ok = { source: USER, destination: counter, payload: text('inc'), gasLimit: GAS }
    const bad: [unknown, string][] = [
      [{ ...ok, gasLimit: Number.NaN }, 'INVALID_GAS'], [{ ...ok, gasLimit: Infinity }, 'INVALID_GAS'],
      [{ ...ok, gasLimit: 1.5 }, 'INVALID_GAS'], [{ ...ok, gasLimit: -1 }, 'INVALID_GAS'], [{ ...ok, gasLimit: 2n }, 'INVALID_GAS'],
      [{ ...ok, payload: new Proxy(text('inc'), {}) }, 'INVALID_PAYLOAD'], [{ ...ok, payload: new Uint16Array(2) }, 'INVALID_PAYLOAD'],
      [{ ...ok, payload: [1, 2] }, 'INVALID_PAYLOAD'], [{ ...ok, source: '0X' + USER }, 'INVALID_ID'], [{ ...ok, source: USER + '00' }, 'INVALID_ID'],
      [{ ...ok, source: new Uint8Array(31) }, 'INVALID_ID'], [null, 'INVALID_PAYLOAD'],
    ]
    for (const [input, code] of bad) await expect(client.send(input as never)).rejects.toMatchObject({ code })
    for (const input of [ok, 'x', { length: 1, 0: ok }, new Array(1001).fill(ok)]) {
      await expect(client.sendAll(input as never)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' })
    }
    // A Uint8Array subclass whose byteLength lies does not widen an id.
    class Wide extends Uint8Array { override get byteLength(): number { return 64 } }
    const wide = new Wide(Buffer.from(USER, 'hex'))
    // One user in four spellings; its nonce 0 already used by a direct send; a refused send between valid ones.
    const direct = rt.send(ok)
    lmdb!.send(ok)
    const spellings = ['0x' + USER, USER.toUpperCase(), Buffer.from(USER, 'hex'), wide, new Uint8Array(Buffer.from(USER, 'hex'))]
    const sends = [...spellings.map((source) => ({ ...ok, source })), { ...ok, source: counter }, ok]
    const seqs = await client.sendAll(sends as never)
    await rt.runUntilIdle()
    const statuses = await Promise.all(seqs.map((q) => client.status(q)))
    const twinIds = sends.map((input) => { try { return lmdb!.send({ ...input, source: typeof input.source === 'string' ? input.source : Buffer.from(input.source).toString('hex') }) } catch (error) { return (error as { code: string }).code } })
    await lmdb!.runUntilIdle()
    expect(statuses.map((st) => (st.state === 'taken' ? st.messageId : st.state === 'refused' ? st.error.split(':')[0] : st.state))).toEqual(twinIds)
    expect(twinIds[5]).toBe('INVALID_SOURCE')
    expect(direct).toBeDefined()
    expect(rt.stateRoot()).toBe(lmdb!.stateRoot())
    const { rows } = await ctx.server.query('SELECT DISTINCT encode(source, \'hex\') AS s FROM strata_inbox', [], url)
    expect(rows.map((r) => r.s).sort()).toEqual([counter, USER].sort())
  })

  it('a second coordinator, in this process on the same cache or elsewhere, neither commits nor stops the first', async () => {
    const { url, rt, counter, client, dir } = await setup()
    await expect(Runtime.open({ store: 'postgres', url, cacheDir: dir, streams: 0 })).rejects.toMatchObject({ code: 'LOCKED' })
    const held = await Runtime.open({ store: 'postgres', url, cacheDir: cacheDir(), streams: 0 }).catch((error: unknown) => error)
    expect(held).toMatchObject({ code: 'LEASE_HELD' })
    const bad: [Record<string, unknown>, string][] = [
      [{ leaseTermMs: Number.NaN }, 'INVALID_OPTION'], [{ leaseTermMs: 1.5e3 + 0.5 }, 'INVALID_OPTION'], [{ leaseTermMs: '5000' }, 'INVALID_OPTION'],
      [{ leaseTermMs: 1e12 }, 'INVALID_OPTION'], [{ standby: 'yes' }, 'INVALID_OPTION'], [{ node: '' }, 'INVALID_OPTION'],
      [{ node: 'x'.repeat(100_000) }, 'INVALID_OPTION'], [{ node: 7 }, 'INVALID_OPTION'], [{ node: 'a\u0000b' }, 'INVALID_OPTION'],
      [{ node: 'a\u001b[2Jb' }, 'INVALID_OPTION'], [{ node: 'a\ud800' }, 'INVALID_OPTION'], [{ node: 'a', standby: 1 }, 'INVALID_OPTION'],
    ]
    for (const [options, code] of bad) {
      const error = await Runtime.open({ store: 'postgres', url, cacheDir: cacheDir(), streams: 0, ...options } as never).catch((e: unknown) => e)
      expect([options, (error as { code?: string }).code, (error as Error).message.length < 600]).toEqual([options, code, true])
    }
    await client.send({ source: USER, destination: counter, payload: text('inc'), gasLimit: GAS })
    const [report] = await rt.runUntilIdle()
    expect(report!.processed).toBe(1)
  })

  it('strata coordinator refuses bad arguments before touching the database; send --wait learns a refusal promptly', async () => {
    const { url, rt, counter, dir } = await setup()
    const head = async (): Promise<unknown[]> => (await ctx.server.query('SELECT epoch, holder FROM strata_leases ORDER BY name', [], url)).rows
    const before = await head()
    const cases = [['--term', '50'], ['--term', 'abc'], ['--poll', '0'], ['--nodes', '0'], ['--streams', '-1'], ['--name', ''], ['--cache', ''],
      ['--nodes', '2', '--streams', '2'], ['extra'], ['--name', 'a\u001bb'], ['--name', 'x'.repeat(5000)], ['--url', 'http://x/y']]
    const runs = await Promise.all(cases.map((args) => strataFails('coordinator', '--url', url, '--cache', path.join(dir, 'never'), ...args)))
    expect(runs.map((r, i) => [cases[i], r.code, r.stderr.length > 0, r.stdout])).toEqual(cases.map((args) => [args, 2, true, '']))
    expect(await head()).toEqual(before)
    await rt.close()
    const coordinator = start(BIN, ['coordinator', '--url', url, '--cache', dir, '--streams', '0', '--poll', '10', '--json'])
    await coordinator.waitFor((e) => e.kind === 'coordinator')
    const started = Date.now()
    const refused = await strataFails('send', '--url', url, '--to', counter, '--text', 'inc', '--from', counter, '--wait')
    expect(refused.stderr).toContain('INVALID_SOURCE')
    expect(Date.now() - started).toBeLessThan(10_000)
  })
})
