/**
 * The CLI against PostgreSQL (`--url URL`, `--cache DIR`): the reading commands open read-only runtimes beside a
 * live writer without fencing it; `send` goes into the cluster's inbox; `serve` is the database's writer
 * (a coordinator), which takes the inbox; the URL's password appears in
 * no output. Runs the built binary (dist/cli/main.js).
 */
import { spawn } from 'node:child_process'
import path from 'node:path'
import { afterEach, expect, it } from 'vitest'
import { Runtime, type ProgramId } from '../../src/index.js'
import { BIN, strata, strataFails, strataJson } from '../integration/cli_helpers.js'
import { describePostgres, usePostgresServer } from './suite.js'

const USER = '33'.repeat(32)
const PASSWORD = 'pw-never-printed-7f3a'
const text = (s: string): Uint8Array => new TextEncoder().encode(s)

let open: Runtime[] = []
afterEach(async () => {
  for (const rt of open.reverse()) await rt.close()
  open = []
})

describePostgres('strata --url', () => {
  const pg = usePostgresServer()

  /** A fresh database with two initialized counters, and its URL with a password (the test server trusts loopback). */
  async function database(): Promise<{ url: string; where: string; ids: ProgramId[]; writerCache: string }> {
    const plain = new URL(await pg.server.createDatabase())
    const writerCache = path.join(pg.dir, `w-${plain.pathname.slice(1)}`)
    const w = await Runtime.open({ store: 'postgres', url: plain.href, cacheDir: writerCache, streams: 0, sync: false })
    const code = await w.uploadCode('programs/counter.ts')
    const ids = [await w.createProgram(code, { salt: text('a'), gasLimit: 10_000_000 }), await w.createProgram(code, { salt: text('b'), gasLimit: 10_000_000 })]
    await w.runUntilIdle()
    await w.close()
    const url = new URL(plain.href)
    url.password = PASSWORD
    return { url: url.href, where: `${plain.hostname}:${plain.port}${plain.pathname}`, ids, writerCache }
  }

  it('inspect, query and mailbox read beside a live writer without fencing it; --url with --data is a usage error', async () => {
    const { url, where, ids, writerCache } = await database()
    const w = await Runtime.open({ store: 'postgres', url, cacheDir: writerCache, streams: 0, sync: false })
    open.push(w)
    w.send({ source: USER, destination: ids[0]!, payload: text('inc'), gasLimit: 1_000_000 })
    await w.runCycle()

    const inspected = await strata('inspect', '--url', url, '--json')
    const overview = JSON.parse(inspected.stdout) as { database: string; cycle: number; stateRoot: string; programs: { id: string }[] }
    expect(overview).toMatchObject({ database: where, cycle: w.cycle, stateRoot: w.stateRoot() })
    expect(overview.programs.map((p) => p.id).sort()).toEqual([...ids].sort())
    const human = await strata('inspect', '--url', url, '--cache', path.join(pg.dir, 'cli-reader'), ids[0]!.slice(0, 8))
    const reply = await strataJson<{ text?: string }>('query', '--url', url, ids[0]!.slice(0, 8), '--text', 'get')
    expect(reply.text).toBe('1')
    const mailbox = await strata('mailbox', '--url', url, USER)
    for (const output of [inspected, human, mailbox]) expect(output.stdout + output.stderr).not.toContain(PASSWORD)

    // The readers took no writer epoch: the writer commits on.
    w.send({ source: USER, destination: ids[0]!, payload: text('inc'), gasLimit: 1_000_000 })
    await w.runCycle()
    expect(w.fault).toBeUndefined()
    expect((await strataJson<{ cycle: number }>('inspect', '--url', url)).cycle).toBe(w.cycle)

    const both = await strataFails('inspect', '--url', url, '--data', pg.dir)
    expect([both.code, both.stderr]).toEqual([2, expect.stringContaining('takes --data DIR or --url URL, not both')])
    const cacheAlone = await strataFails('inspect', '--cache', pg.dir)
    expect(cacheAlone.stderr).toContain('--cache applies to --url')
    const missing = new URL(url)
    missing.pathname = '/no_such_database'
    const unknown = await strataFails('inspect', '--url', missing.href, '--json')
    expect(unknown.code).not.toBe(0)
    expect(JSON.parse(unknown.stderr)).toMatchObject({ error: { code: 'IO' } })
    expect(unknown.stderr).not.toContain(PASSWORD)
  }, 60_000)

  it('send goes into the inbox (durable, no writer needed); serve answers /api/status, takes the inbox into a cycle, and exits 0 on SIGINT', async () => {
    const { url, where, ids, writerCache } = await database()
    const sent = await strata('send', '--url', url, '--to', ids[1]!.slice(0, 8), '--text', 'inc')
    expect(sent.stdout + sent.stderr).not.toContain(PASSWORD)
    expect(sent.stdout).toContain(`accepted into ${where}'s inbox as entry 1 (durable)`)
    const unknown = await strataFails('send', '--url', url, '--to', 'ffff', '--text', 'inc', '--json')
    expect(JSON.parse(unknown.stderr)).toMatchObject({ error: { code: 'UNKNOWN_PROGRAM' } })
    // In the inbox, not yet in the queue: the coordinator takes it at its next cycle.
    expect((await strataJson<{ queueLength: number }>('inspect', '--url', url)).queueLength).toBe(0)

    const child = spawn(process.execPath, [BIN, 'serve', '--url', url, '--cache', writerCache, '--port', '0', '--interval', '0', '--streams', '0', '--json'])
    let output = ''
    child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString() })
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve))
    const line = await new Promise<string>((resolve, reject) => {
      let stdout = ''
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString()
        if (stdout.includes('\n')) resolve(stdout.split('\n')[0]!)
      })
      exited.then((code) => reject(new Error(`strata serve exited ${code}: ${output}`)))
    })
    output += line
    const started = JSON.parse(line) as { url: string; token: string; database: string }
    expect(started.database).toBe(where)
    const base = new URL(started.url).origin
    const status = async (): Promise<{ cycle: number; stateRoot: string; queueLength: number; database: string }> =>
      (await fetch(`${base}/api/status`)).json() as never
    // What a reader of the database sees is what the server shows.
    const committed = await strataJson<{ cycle: number; stateRoot: string }>('inspect', '--url', url)
    expect(await status()).toMatchObject({ cycle: committed.cycle, stateRoot: committed.stateRoot, queueLength: 0, database: where })
    const ran = await fetch(`${base}/api/cycle`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${started.token}` }, body: '{}' })
    expect(ran.status).toBe(200)
    const cycle = await ran.json() as { cycle: number; stateRoot: string; processed: number }
    expect(cycle.cycle).toBe(committed.cycle + 1)
    expect(cycle.processed).toBe(1)
    expect(await status()).toMatchObject({ cycle: cycle.cycle, stateRoot: cycle.stateRoot, queueLength: 0 })
    // The server holds the writer epoch; a CLI reader beside it sees the cycle it committed.
    expect(await strataJson<{ cycle: number; stateRoot: string }>('inspect', '--url', url)).toMatchObject({ cycle: cycle.cycle, stateRoot: cycle.stateRoot })
    child.kill('SIGINT')
    expect(await exited).toBe(0)
    expect(output).not.toContain(PASSWORD)
    const reader = await Runtime.open({ store: 'postgres', url, readOnly: true })
    open.push(reader)
    expect([reader.cycle, reader.stateRoot()]).toEqual([cycle.cycle, cycle.stateRoot])
  }, 60_000)
})
