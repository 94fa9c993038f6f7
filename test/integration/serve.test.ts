// The web inspector's server over real HTTP (docs/inspector.md): every endpoint on a data directory with a
// counter and a probe program, the guards (token, Host, Origin, limits, strict input), the event stream, the
// static files, and `strata serve` as a process that stops cleanly on a signal.
import { spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEFAULT_USER_ID, Runtime, verifyProof, type ProgramId } from '../../src/index.js'
import { INTERVAL_MS_DEFAULT, PORT_DEFAULT, QUERY_GAS_MAX, startInspector, type Inspector } from '../../src/web/index.js'
import { BIN, strata } from './cli_helpers.js'

const dir = mkdtempSync(path.join(tmpdir(), 'strata-serve-'))
const data = path.join(dir, 'data')
const noAssets = path.join(dir, 'no-assets')
mkdirSync(noAssets)
const text = (s: string): Uint8Array => new TextEncoder().encode(s)
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; " +
  "form-action 'none'; frame-ancestors 'none'"
const XSS = '<script>alert(1)</script>'

let rt: Runtime
let inspector: Inspector
let base: string
let port: number
let counter: ProgramId
let probe: ProgramId

/** Creates a store in `dataDir` with a counter (at 5) and a probe, and closes it unless asked to keep it open. */
async function makeStore(dataDir: string): Promise<{ rt: Runtime; counter: ProgramId; probe: ProgramId }> {
  const runtime = await Runtime.open({ dataDir, streams: 0 })
  const counterCode = await runtime.uploadCode('programs/counter.ts')
  const probeCode = await runtime.uploadCode('test/fixtures/programs/probe.ts')
  const ids = {
    counter: await runtime.createProgram(counterCode, { payload: text('5'), gasLimit: 10_000_000 }),
    probe: await runtime.createProgram(probeCode, { gasLimit: 10_000_000 }),
  }
  await runtime.runUntilIdle()
  return { rt: runtime, ...ids }
}

beforeAll(async () => {
  ;({ rt, counter, probe } = await makeStore(data))
  inspector = await startInspector({ runtime: rt, host: '127.0.0.1', port: 0, intervalMs: 0, assetsDir: noAssets })
  const url = new URL(inspector.url)
  base = url.origin
  port = Number(url.port)
})

afterAll(async () => {
  await inspector?.close()
  await rt?.close()
  rmSync(dir, { recursive: true, force: true })
})

interface Reply<T = any> {
  readonly status: number
  readonly headers: IncomingHttpHeaders
  readonly text: string
  readonly json: T
}

/** One request over node:http (fetch would not let a test set Host or Origin). */
function call(method: string, url: string, options: { headers?: Record<string, string>; body?: string | Buffer } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${base}${url}`, { method, headers: options.headers }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8')
        let json: unknown
        try { json = JSON.parse(body) } catch { json = undefined }
        resolve({ status: res.statusCode!, headers: res.headers, text: body, json })
      })
    })
    // A server that answers before reading the whole body (413) may close the socket under the upload.
    req.on('error', (error: NodeJS.ErrnoException) => (error.code === 'EPIPE' || error.code === 'ECONNRESET' ? undefined : reject(error)))
    req.end(options.body)
  })
}

const get = (url: string, headers: Record<string, string> = {}): Promise<Reply> => call('GET', url, { headers })
/** A POST as the page makes it: JSON, with the token. */
function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<Reply> {
  return call('POST', url, {
    headers: { 'content-type': 'application/json', authorization: `Bearer ${inspector.token}`, ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  })
}
const status = async (): Promise<Record<string, any>> => (await get('/api/status')).json
const expectError = (reply: Reply, httpStatus: number, code: string): void => {
  expect({ status: reply.status, code: reply.json?.error?.code }).toEqual({ status: httpStatus, code })
  expect(typeof reply.json.error.message).toBe('string')
}
const expectSecurityHeaders = (reply: Reply): void => {
  expect(reply.headers['content-security-policy']).toBe(CSP)
  expect(reply.headers['x-content-type-options']).toBe('nosniff')
  expect(reply.headers['referrer-policy']).toBe('no-referrer')
  expect(reply.headers['cache-control']).toBe('no-store')
}

describe('the read API', () => {
  it('GET /api/status: cycle, root, queue and counts of the runtime, as JSON with the security headers', async () => {
    const reply = await get('/api/status')
    expect(reply.status).toBe(200)
    expect(reply.headers['content-type']).toBe('application/json; charset=utf-8')
    expectSecurityHeaders(reply)
    const manifest = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }
    expect(reply.json).toEqual({
      version: manifest.version, dataDir: data, cycle: rt.cycle, stateRoot: rt.stateRoot(), queueLength: 0, waiting: 0,
      delayed: 0, idle: true, streams: 0, programCount: 2, intervalMs: 0, running: false, fault: null,
    })
    expect(inspector.token).toMatch(/^[0-9a-f]{32}$/)
    expect(inspector.url).toBe(`http://127.0.0.1:${port}/#token=${inspector.token}`)
  })

  it('a send, a cycle on demand, then the outcome, the cycle entry, the mailbox and the changed state', async () => {
    const before = await status()
    const sent = await post('/api/send', { destination: counter, payloadText: 'inc', gasLimit: 1_000_000 })
    expect(sent.status).toBe(200)
    const { messageId } = sent.json
    expect(messageId).toMatch(/^[0-9a-f]{64}$/)
    const queue = await get('/api/queue')
    expect(queue.json.length).toBe(1)
    expect(queue.json.messages).toEqual([{
      id: messageId, kind: 'handle', source: DEFAULT_USER_ID, destination: counter, gasLimit: 1_000_000, origin: messageId,
      payloadLength: 3, payloadHex: '696e63', payloadText: 'inc',
    }])

    const cycled = await post('/api/cycle', {})
    expect(cycled.status).toBe(200)
    const entry = cycled.json
    expect(entry).toMatchObject({ cycle: before.cycle + 1, processed: 1, failed: 0, queueLength: 0, failures: {}, stateRoot: rt.stateRoot() })
    expect(entry.ms).toBeGreaterThan(0)
    expect(entry.dirty.map((d: { programId: string }) => d.programId)).toEqual([counter])
    expect(entry.dirty[0].planes.length).toBe(entry.dirtyPlanes)

    const outcomes = (await get('/api/outcomes?limit=1')).json.outcomes
    expect(outcomes).toEqual([expect.objectContaining({
      cycle: entry.cycle, messageId, programId: counter, kind: 'handle', result: 'success', replyCode: 1,
      replyCodeName: 'SUCCESS_MANUAL', error: null, logs: [],
    })])
    const cycles = (await get('/api/cycles?limit=2')).json.cycles
    expect(cycles[0]).toEqual(entry)
    // The cycle before was not seen live: it comes from its stored record.
    expect(cycles[1]).toMatchObject({ cycle: entry.cycle - 1, ms: null, queueLength: null, failures: {}, dirty: [] })

    const mailbox = (await get(`/api/mailbox/${DEFAULT_USER_ID}`)).json.entries
    expect(mailbox.at(-1)).toMatchObject({
      cycle: entry.cycle, message: { kind: 'reply', replyTo: messageId, replyCode: 1, replyCodeName: 'SUCCESS_MANUAL', payloadText: '6' },
    })
    const queried = await post('/api/query', { programId: counter, payloadText: 'read' })
    expect(queried.json).toEqual({
      replyCode: 1, replyCodeName: 'SUCCESS_MANUAL', payloadHex: '36', payloadText: '6', payloadLength: 1,
      gasBurned: expect.any(Number), error: null, logs: [],
    })
    const detail = (await get(`/api/programs/${counter}`)).json
    for (const plane of entry.dirty[0].planes) expect(detail.recentDirty[plane]).toBe(entry.cycle)
  })

  it('failures are counted by reply code name in the cycle entry', async () => {
    await post('/api/send', { destination: probe, payloadText: '[{"do":"throw"}]', gasLimit: 1_000_000 })
    const entry = (await post('/api/cycle', {})).json
    expect(entry).toMatchObject({ processed: 1, failed: 1, failures: { EXECUTION_ERROR: 1 } })
    const [outcome] = (await get('/api/outcomes?limit=1')).json.outcomes
    expect(outcome).toMatchObject({ result: 'error', replyCodeName: 'EXECUTION_ERROR', error: expect.stringContaining('deliberate failure') })
  })

  it('GET /api/programs filters by id, code and root prefix and status, and pages in id order', async () => {
    const all = (await get('/api/programs')).json
    expect(all.total).toBe(2)
    expect(all.programs.map((p: { id: string }) => p.id)).toEqual([counter, probe].sort())
    const summary = all.programs.find((p: { id: string }) => p.id === counter)
    const view = rt.program(counter)
    expect(summary).toEqual({ ...view.record(), memoryRoot: view.memoryRoot() })
    const only = async (query: string): Promise<string[]> => (await get(`/api/programs?${query}`)).json.programs.map((p: { id: string }) => p.id)
    expect(await only(`prefix=${counter.slice(0, 6)}`)).toEqual([counter])
    expect(await only(`code=${summary.codeId.slice(0, 8).toUpperCase()}`)).toEqual([counter])
    expect(await only(`root=${summary.memoryRoot.slice(0, 10)}`)).toEqual([counter])
    expect(await only('status=active')).toHaveLength(2)
    expect(await only('status=exited')).toEqual([])
    expect(await only('offset=1&limit=1')).toEqual([[counter, probe].sort()[1]])
    expectError(await get('/api/programs?status=sleeping'), 400, 'BAD_REQUEST')
    expectError(await get('/api/programs?prefix=xyz'), 400, 'BAD_REQUEST')
    expectError(await get('/api/programs?limit=201'), 400, 'BAD_REQUEST')
  })

  it('GET /api/programs/:id has stats, allocations and planes; /memory reads its bytes', async () => {
    const view = rt.program(counter)
    const detail = (await get(`/api/programs/${counter}`)).json
    expect(detail).toMatchObject({ id: counter, status: 'active', stats: view.stats(), allocations: view.allocations(), planes: view.planes() })
    expect(detail.allocations.length).toBeGreaterThan(0)
    const { address, size } = detail.allocations[0]
    const memory = (await get(`/api/programs/${counter}/memory?address=${address}&length=${size}`)).json
    expect(memory).toEqual({ address, length: size, hex: Buffer.from(view.read(address, size)).toString('hex') })
    expect(memory.hex).toMatch(/[1-9a-f]/)
    expectError(await get(`/api/programs/${counter}/memory?address=${address}&length=65537`), 400, 'BAD_REQUEST')
    expectError(await get(`/api/programs/${counter}/memory?address=${2 ** 40}&length=1`), 400, 'BAD_REQUEST')
  })

  it('a proof from /proof verifies against /api/status\'s state root; /absence proves an empty plane', async () => {
    const { stateAddress } = rt.program(counter).record()
    const { stateRoot } = await status()
    const reply = await get(`/api/programs/${counter}/proof?address=${stateAddress}&length=16`)
    expect(reply.json.stateRoot).toBe(stateRoot)
    const verified = verifyProof(stateRoot, reply.json.proof)
    expect(verified).toMatchObject({ ok: true, kind: 'range', programId: counter, address: stateAddress, length: 16 })
    const memory = (await get(`/api/programs/${counter}/memory?address=${stateAddress}&length=16`)).json
    expect(Buffer.from((verified as { data: Uint8Array }).data).toString('hex')).toBe(memory.hex)
    expect(verifyProof('00'.repeat(32), reply.json.proof).ok).toBe(false)

    const absence = (await get(`/api/programs/${counter}/absence?region=9&plane=77`)).json
    expect(verifyProof(stateRoot, absence.proof)).toMatchObject({ ok: true, kind: 'absence', region: 9, plane: 77 })
    expectError(await get(`/api/programs/${counter}/absence?region=256&plane=0`), 400, 'BAD_REQUEST')
  })

  it('GET /api/waitlist and /api/delayed list parked and scheduled messages', async () => {
    const waiter = (await post('/api/send', { destination: probe, payloadText: '[{"do":"wait","cycles":3}]', gasLimit: 1_000_000 })).json.messageId
    await post('/api/send', {
      destination: probe, gasLimit: 2_000_000, payloadText: JSON.stringify([{ do: 'send', to: counter, text: 'inc', gas: 500_000, delay: 2 }]),
    })
    const entry = (await post('/api/cycle', {})).json
    const waitlist = (await get('/api/waitlist')).json
    expect(waitlist.entries).toEqual([{ message: expect.objectContaining({ id: waiter, destination: probe }), programId: probe, untilCycle: entry.cycle + 3 }])
    const delayed = (await get('/api/delayed')).json.cycles
    expect(delayed).toEqual([{ cycle: entry.cycle + 3, messages: [expect.objectContaining({ source: probe, destination: counter, payloadText: 'inc' })] }])
    expect(await status()).toMatchObject({ waiting: 1, delayed: 1, idle: false })
  })

  it('program text comes back as exact JSON data (the page escapes it)', async () => {
    const steps = JSON.stringify([{ do: 'log', text: XSS }, { do: 'reply', text: XSS }])
    const queried = await post('/api/query', { programId: probe, payloadText: steps })
    expect(queried.headers['content-type']).toBe('application/json; charset=utf-8')
    expect(queried.json.payloadText).toBe(XSS)
    expect(queried.json.logs[0]).toContain(XSS)
    const { messageId } = (await post('/api/send', { destination: probe, payloadText: XSS, gasLimit: 1_000_000 })).json
    const queue = await get('/api/queue')
    expect(queue.headers['content-type']).toBe('application/json; charset=utf-8')
    expect(queue.json.messages.find((m: { id: string }) => m.id === messageId).payloadText).toBe(XSS)
    await post('/api/cycle', {})
  })

  it("a query burns at most QUERY_GAS_MAX, whatever the program does", async () => {
    const runaway = JSON.stringify([{ do: 'burn' }])
    const burned = (await post('/api/query', { programId: probe, payloadText: runaway })).json
    expect(burned).toMatchObject({ replyCodeName: 'OUT_OF_GAS', gasBurned: QUERY_GAS_MAX })
    expectError(await post('/api/query', { programId: probe, payloadText: runaway, gasLimit: QUERY_GAS_MAX + 1 }), 400, 'INVALID_GAS')
  })

  it('a payload that is not printable UTF-8 has payloadText null; only its first 256 bytes are carried', async () => {
    const hex = `00ff${'41'.repeat(300)}`
    const { messageId } = (await post('/api/send', { destination: probe, payloadHex: hex, gasLimit: 1_000_000 })).json
    const message = (await get('/api/queue?limit=1000')).json.messages.find((m: { id: string }) => m.id === messageId)
    expect(message).toMatchObject({ payloadLength: 302, payloadHex: hex.slice(0, 512), payloadText: null })
    await post('/api/cycle', {})
  })
})

describe('the SSE stream', () => {
  it('sends status on connect, then cycle and status after each cycle', async () => {
    const received: { event: string; data: any }[] = []
    let buffer = ''
    let notify = (): void => undefined
    const req = httpRequest(`${base}/api/events`)
    const response = await new Promise<import('node:http').IncomingMessage>((resolve) => { req.on('response', resolve); req.end() })
    expect(response.headers['content-type']).toBe('text/event-stream; charset=utf-8')
    expect(response.headers['content-security-policy']).toBe(CSP)
    response.on('data', (chunk: Buffer) => {
      buffer += chunk.toString()
      let end: number
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const frame = buffer.slice(0, end)
        buffer = buffer.slice(end + 2)
        const event = /^event: (.*)$/m.exec(frame)?.[1]
        const line = /^data: (.*)$/m.exec(frame)?.[1]
        if (event !== undefined && line !== undefined) received.push({ event, data: JSON.parse(line) })
        notify()
      }
    })
    const until = (count: number): Promise<void> => new Promise((resolve) => {
      notify = () => { if (received.length >= count) resolve() }
      notify()
    })
    await until(1)
    expect(received[0]).toMatchObject({ event: 'status', data: { cycle: rt.cycle } })
    const entry = (await post('/api/cycle', {})).json
    await until(3)
    expect(received.slice(1).map((r) => r.event)).toEqual(['cycle', 'status'])
    expect(received[1]!.data).toEqual(entry)
    expect(received[2]!.data).toMatchObject({ cycle: entry.cycle, running: false })
    req.destroy()
  })
})

describe('the guards', () => {
  const send = { destination: '', payloadText: 'inc', gasLimit: 1_000_000 }

  it('a POST without the token, or with a wrong one, is 401 and enqueues nothing', async () => {
    const { queueLength, cycle } = await status()
    const body = { ...send, destination: counter }
    expectError(await post('/api/send', body, { authorization: '' }), 401, 'UNAUTHORIZED')
    expectError(await post('/api/send', body, { authorization: `Bearer ${'0'.repeat(32)}` }), 401, 'UNAUTHORIZED')
    expectError(await post('/api/send', body, { authorization: `Bearer ${inspector.token}x` }), 401, 'UNAUTHORIZED')
    expectError(await post('/api/send', body, { authorization: `Basic ${inspector.token}` }), 401, 'UNAUTHORIZED')
    expectError(await post('/api/cycle', {}, { authorization: '' }), 401, 'UNAUTHORIZED')
    expect(await status()).toMatchObject({ queueLength, cycle })
  })

  it('a Host that is not this server is 403, on reads too; the loopback names are accepted', async () => {
    const evil = await get('/api/status', { host: `evil.example:${port}` })
    expectError(evil, 403, 'FORBIDDEN')
    expectSecurityHeaders(evil)
    expectError(await get('/api/status', { host: `127.0.0.1:${port + 1}` }), 403, 'FORBIDDEN')
    expect((await get('/api/status', { host: `localhost:${port}` })).status).toBe(200)
    expect((await get('/api/status', { host: `[::1]:${port}` })).status).toBe(200)
  })

  it('a POST from another origin is 403 even with the token; the server\'s own origin is accepted', async () => {
    const { queueLength } = await status()
    const body = { ...send, destination: counter }
    expectError(await post('/api/send', body, { origin: 'http://evil.example' }), 403, 'FORBIDDEN')
    expectError(await post('/api/send', body, { origin: 'null' }), 403, 'FORBIDDEN')
    expect((await status()).queueLength).toBe(queueLength)
    expect((await post('/api/send', body, { origin: `http://localhost:${port}` })).status).toBe(200)
    expect((await status()).queueLength).toBe(queueLength + 1)
    await post('/api/cycle', {})
  })

  it('a body over 3 MiB is 413 and the server still answers', async () => {
    const big = JSON.stringify({ ...send, destination: counter, payloadHex: 'ab'.repeat(1_600_000) })
    expectError(await post('/api/send', big), 413, 'PAYLOAD_TOO_LARGE')
    expect((await get('/api/status')).status).toBe(200)
  })

  it('malformed JSON, other content types, unknown fields and wrong types are 400 with a code', async () => {
    const { queueLength } = await status()
    const body = { ...send, destination: counter }
    expectError(await post('/api/send', '{"destination": '), 400, 'BAD_REQUEST')
    expectError(await post('/api/send', ''), 400, 'BAD_REQUEST')
    expectError(await post('/api/send', JSON.stringify(body), { 'content-type': 'text/plain' }), 400, 'BAD_REQUEST')
    expectError(await post('/api/send', '[1]'), 400, 'BAD_REQUEST')
    expectError(await post('/api/send', '{"__proto__": {"x": 1}}'), 400, 'BAD_REQUEST')
    const unknown = await post('/api/send', { ...body, extra: 1 })
    expectError(unknown, 400, 'BAD_REQUEST')
    expect(unknown.json.error.message).toContain('"extra"')
    expectError(await post('/api/cycle', { now: true }), 400, 'BAD_REQUEST')
    for (const gasLimit of ['1000', 1.5, null, '1e3']) expectError(await post('/api/send', { ...body, gasLimit }), 400, 'BAD_REQUEST')
    expectError(await post('/api/send', { ...body, payloadHex: 'abc' }), 400, 'BAD_REQUEST')
    expectError(await post('/api/send', { ...body, payloadHex: 'zz' }), 400, 'BAD_REQUEST')
    expectError(await post('/api/send', { ...body, payloadHex: '00' }), 400, 'BAD_REQUEST')
    expectError(await post('/api/send', { destination: counter, gasLimit: 1 }), 400, 'BAD_REQUEST')
    expectError(await post('/api/send', { ...body, destination: counter.slice(2) }), 400, 'BAD_REQUEST')
    expectError(await post('/api/send', { ...body, source: 'me' }), 400, 'BAD_REQUEST')
    // The runtime's own refusals keep their code.
    expectError(await post('/api/send', { ...body, gasLimit: -1 }), 400, 'INVALID_GAS')
    expectError(await post('/api/send', { ...body, source: counter }), 400, 'INVALID_SOURCE')
    expect((await status()).queueLength).toBe(queueLength)
  })

  it('query-string numbers are decimal integers only', async () => {
    for (const limit of ['1.5', '1e3', '0x10', '-1', '', ' 1', '01', '0', '501', 'NaN']) {
      expectError(await get(`/api/cycles?limit=${encodeURIComponent(limit)}`), 400, 'BAD_REQUEST')
    }
    expectError(await get('/api/cycles?limit=1&limit=2'), 400, 'BAD_REQUEST')
    expectError(await get(`/api/programs/${counter}/memory?address=1e3&length=4`), 400, 'BAD_REQUEST')
    expectError(await get(`/api/programs/${counter}/memory?length=4`), 400, 'BAD_REQUEST')
    expect((await get('/api/cycles?limit=1')).json.cycles).toHaveLength(1)
  })

  it('unknown programs are 404, bad ids 400; unknown routes 404 and wrong methods 405, with the headers', async () => {
    const nobody = 'ee'.repeat(32)
    expectError(await get(`/api/programs/${nobody}`), 404, 'UNKNOWN_PROGRAM')
    expectError(await get(`/api/programs/${nobody}/proof?address=0&length=1`), 404, 'UNKNOWN_PROGRAM')
    expectError(await post('/api/send', { ...send, destination: nobody }), 404, 'UNKNOWN_PROGRAM')
    expectError(await post('/api/query', { programId: nobody }), 404, 'UNKNOWN_PROGRAM')
    expectError(await get('/api/programs/1234'), 400, 'BAD_REQUEST')
    expectError(await get('/api/mailbox/xyz'), 400, 'BAD_REQUEST')
    const missing = await get('/api/nothing')
    expectError(missing, 404, 'NOT_FOUND')
    expectSecurityHeaders(missing)
    const wrong = await call('DELETE', '/api/status', { headers: { authorization: `Bearer ${inspector.token}` } })
    expectError(wrong, 405, 'METHOD_NOT_ALLOWED')
    expect(wrong.headers.allow).toBe('GET')
    expectError(await get('/api/send'), 405, 'METHOD_NOT_ALLOWED')
  })

  it('a cycle asked for while one runs is 409 BUSY, and status says one runs', async () => {
    // The runtime's cycle is held until the second request has been answered.
    const runCycle = rt.runCycle.bind(rt)
    let release = (): void => undefined
    let started = (): void => undefined
    const isStarted = new Promise<void>((resolve) => { started = resolve })
    rt.runCycle = async () => {
      started()
      await new Promise<void>((resolve) => { release = resolve })
      return runCycle()
    }
    try {
      const first = post('/api/cycle', {})
      await isStarted
      expectError(await post('/api/cycle', {}), 409, 'BUSY')
      expect((await status()).running).toBe(true)
      release()
      expect((await first).status).toBe(200)
      expect((await status()).running).toBe(false)
    } finally {
      rt.runCycle = runCycle
    }
  })
})

describe('reads while cycles commit', () => {
  it('every answer shows one committed cycle: its root is the one recorded for its cycle number', async () => {
    const seen: { cycle: number; stateRoot: string }[] = []
    let cycling = true
    const cycles = (async () => {
      try {
        for (let i = 0; i < 8; i += 1) {
          await post('/api/send', { destination: counter, payloadText: 'inc', gasLimit: 1_000_000 })
          await post('/api/cycle', {})
        }
      } finally {
        cycling = false
      }
    })()
    while (cycling) seen.push(await status() as { cycle: number; stateRoot: string })
    await cycles
    expect(seen.length).toBeGreaterThan(8)
    for (const { cycle, stateRoot } of seen) expect(rt.cycleRecord(cycle)?.stateRoot, `cycle ${cycle}`).toBe(stateRoot)
  })
})

describe('the page\'s files', () => {
  it('without a build, GET / is a plain-text 503 that says to run npm run build', async () => {
    const reply = await get('/')
    expect(reply.status).toBe(503)
    expect(reply.headers['content-type']).toBe('text/plain; charset=utf-8')
    expect(reply.text).toContain('npm run build')
    expectSecurityHeaders(reply)
  })

  it('serves exactly the three files, with their types and the headers', async () => {
    const assets = path.join(dir, 'assets-built')
    mkdirSync(path.join(assets, 'assets'), { recursive: true })
    writeFileSync(path.join(assets, 'index.html'), '<!doctype html><title>strata</title>')
    writeFileSync(path.join(assets, 'assets', 'inspector.js'), 'console.log(1)')
    writeFileSync(path.join(assets, 'assets', 'inspector.css'), 'body{}')
    writeFileSync(path.join(assets, 'secret.txt'), 'no')
    const other = await startInspector({ runtime: rt, host: '127.0.0.1', port: 0, intervalMs: 0, assetsDir: assets, token: 'f'.repeat(32) })
    try {
      expect(other.token).toBe('f'.repeat(32))
      const otherBase = new URL(other.url).origin
      const fetchFile = async (file: string): Promise<Reply> => {
        const saved = base
        base = otherBase
        try { return await get(file) } finally { base = saved }
      }
      for (const [file, type, body] of [
        ['/', 'text/html; charset=utf-8', '<!doctype html><title>strata</title>'],
        ['/assets/inspector.js', 'text/javascript; charset=utf-8', 'console.log(1)'],
        ['/assets/inspector.css', 'text/css; charset=utf-8', 'body{}'],
      ] as const) {
        const reply = await fetchFile(file)
        expect({ status: reply.status, type: reply.headers['content-type'], body: reply.text }).toEqual({ status: 200, type, body })
        expectSecurityHeaders(reply)
      }
      for (const file of ['/secret.txt', '/index.html', '/assets/../secret.txt', '/assets/%2e%2e/secret.txt']) {
        expect((await fetchFile(file)).status).toBe(404)
      }
    } finally {
      await other.close()
    }
  })
})

describe('cycles on the timer', () => {
  it('run while the runtime is not idle, and stop when it is', async () => {
    const timed = await startInspector({ runtime: rt, host: '127.0.0.1', port: 0, intervalMs: 20, assetsDir: noAssets })
    try {
      rt.send({ source: DEFAULT_USER_ID, destination: counter, payload: text('inc'), gasLimit: 1_000_000 })
      const started = rt.cycle
      for (let i = 0; i < 200 && !rt.idle; i += 1) await new Promise((resolve) => setTimeout(resolve, 20))
      expect(rt.idle).toBe(true)
      expect(rt.cycle).toBeGreaterThan(started)
      const idleAt = rt.cycle
      await new Promise((resolve) => setTimeout(resolve, 150))
      expect(rt.cycle).toBe(idleAt)
    } finally {
      await timed.close()
    }
  })
})

describe('strata serve', () => {
  /** Spawns `strata serve` on `dataDir` and resolves with its first stdout line and the process. */
  async function serve(dataDir: string, ...args: string[]) {
    const child = spawn(process.execPath, [BIN, 'serve', '--data', dataDir, '--port', '0', '--interval', '0', '--streams', '0', ...args])
    let stderr = ''
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve))
    const line = await new Promise<string>((resolve, reject) => {
      let stdout = ''
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString()
        if (stdout.includes('\n')) resolve(stdout.split('\n')[0]!)
      })
      exited.then((code) => reject(new Error(`strata serve exited ${code}: ${stderr}`)))
    })
    return { child, line, exited, stderr: () => stderr }
  }

  it('prints its URL as JSON, serves, and on SIGINT exits 0 leaving a directory that reopens with what was sent', async () => {
    const cliData = path.join(dir, 'cli-data')
    const made = await makeStore(cliData)
    await made.rt.close()
    const { child, line, exited } = await serve(cliData, '--json')
    const started = JSON.parse(line) as { url: string; token: string; dataDir: string }
    expect(started.dataDir).toBe(cliData)
    expect(started.url).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:\\d+/#token=${started.token}$`))
    const url = new URL(started.url)
    const reply = await fetch(`${url.origin}/api/send`, {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${started.token}` },
      body: JSON.stringify({ destination: made.counter, payloadText: 'inc', gasLimit: 1_000_000 }),
    })
    expect(reply.status).toBe(200)
    // Beside the server (the directory's writer), the reading commands work and see what it committed.
    const inspected = JSON.parse((await strata('inspect', '--data', cliData, '--json')).stdout) as { queueLength: number }
    expect(inspected.queueLength).toBe(1) // the send was flushed before the reply
    const writing = await strata('send', '--data', cliData, '--to', made.counter, '--text', 'inc').then(() => 'sent', (error: { stderr: string }) => error.stderr)
    expect(writing).toContain('LOCKED')
    child.kill('SIGINT')
    expect(await exited).toBe(0)
    const reopened = await Runtime.open({ dataDir: cliData, streams: 0 })
    try {
      expect(reopened.queued().map((m) => m.id)).toEqual([((await reply.json()) as { messageId: string }).messageId])
    } finally {
      await reopened.close()
    }
  })

  it('warns on a host other than loopback, prints the URL line, and stops on SIGTERM', async () => {
    const { child, line, exited, stderr } = await serve(path.join(dir, 'cli-data'), '--host', '0.0.0.0')
    expect(line).toMatch(/^strata serve: http:\/\/0\.0\.0\.0:\d+\/#token=[0-9a-f]{32}$/)
    expect(stderr()).toContain('no TLS')
    child.kill('SIGTERM')
    expect(await exited).toBe(0)
  })

  it('--help states the defaults the server uses', async () => {
    const { stdout } = await strata('serve', '--help')
    expect(stdout).toContain(`default ${PORT_DEFAULT};`)
    expect(stdout).toContain(`default ${INTERVAL_MS_DEFAULT};`)
  })
})
