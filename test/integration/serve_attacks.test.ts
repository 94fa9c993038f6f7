// Attacks on the web inspector's server over HTTP (docs/inspector.md, "Security model"): requests Node's parser
// refuses, reads made by pages of other sites (which could hold every event stream), the headers of every kind
// of answer, and hostile input that must never become a 500 or leak a path or a stack.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Runtime, type ProgramId } from '../../src/index.js'
import { startInspector, type Inspector } from '../../src/web/index.js'

const dir = mkdtempSync(path.join(tmpdir(), 'strata-serve-attacks-'))
const noAssets = path.join(dir, 'no-assets')
mkdirSync(noAssets)
const SECURITY_HEADERS = [
  'content-security-policy', 'x-content-type-options', 'referrer-policy', 'cache-control', 'cross-origin-opener-policy',
  'cross-origin-resource-policy',
] as const

let rt: Runtime
let inspector: Inspector
let port: number
let host: string
let counter: ProgramId

beforeAll(async () => {
  rt = await Runtime.open({ dataDir: path.join(dir, 'data'), streams: 0 })
  const code = await rt.uploadCode('programs/counter.ts')
  counter = await rt.createProgram(code, { payload: new TextEncoder().encode('5'), gasLimit: 10_000_000 })
  await rt.runUntilIdle()
  inspector = await startInspector({ runtime: rt, host: '127.0.0.1', port: 0, intervalMs: 0, assetsDir: noAssets })
  port = Number(new URL(inspector.url).port)
  host = `127.0.0.1:${port}`
})

afterAll(async () => {
  await inspector?.close()
  await rt?.close()
  rmSync(dir, { recursive: true, force: true })
})

interface Reply {
  readonly status: number
  readonly headers: IncomingHttpHeaders
  readonly text: string
}

/** One request over node:http; an event stream's answer is read until its first event, then dropped. */
function call(method: string, url: string, headers: Record<string, string> = {}, body?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path: url, method, headers }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        text += chunk
        if (String(res.headers['content-type']).startsWith('text/event-stream') && text.includes('\n\n')) {
          resolve({ status: res.statusCode!, headers: res.headers, text })
          res.destroy()
        }
      })
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text }))
    })
    req.on('error', reject)
    req.end(body)
  })
}

/** Raw bytes on a fresh socket, and everything the server answers until it closes the connection. */
function raw(bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(bytes))
    let text = ''
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => { text += chunk })
    socket.on('error', (error: NodeJS.ErrnoException) => (error.code === 'ECONNRESET' ? resolve(text) : reject(error)))
    socket.on('close', () => resolve(text))
  })
}

function expectSecurityHeaders(headers: IncomingHttpHeaders | Record<string, string>): void {
  for (const name of SECURITY_HEADERS) expect(headers[name], name).toBeTruthy()
  expect(headers['content-security-policy']).toContain("default-src 'none'")
  expect(headers['x-content-type-options']).toBe('nosniff')
}

/** A raw HTTP answer's status and headers (lower-cased names). */
function parseRaw(text: string): { status: number; headers: Record<string, string>; body: string } {
  const [head = '', body = ''] = text.split('\r\n\r\n')
  const [statusLine = '', ...lines] = head.split('\r\n')
  const headers = Object.fromEntries(lines.map((line) => {
    const colon = line.indexOf(':')
    return [line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()]
  }))
  return { status: Number(statusLine.split(' ')[1]), headers, body }
}

describe('requests Node refuses before the router', () => {
  it('a malformed request, an unknown method, smuggling headers and oversized headers are answered with the security headers', async () => {
    const malformed = [
      [`GET / HTTP/1.1\r\nHost: ${'HOST'}\r\nBad Header\r\n\r\n`, 400],
      [`BREW /api/status HTTP/1.1\r\nHost: HOST\r\n\r\n`, 400],
      [`POST /api/cycle HTTP/1.1\r\nHost: HOST\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, 400],
      [`GET /api/status HTTP/1.1\r\nHost: HOST\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 431],
    ] as const
    for (const [request, status] of malformed) {
      const answer = parseRaw(await raw(request.replaceAll('HOST', host)))
      expect(answer.status, request.slice(0, 40)).toBe(status)
      expectSecurityHeaders(answer.headers)
      expect(JSON.parse(answer.body)).toMatchObject({ error: { code: 'BAD_REQUEST' } })
    }
    // The server still answers.
    expect((await call('GET', '/api/status', { host })).status).toBe(200)
  })
})

describe('reads from pages of other sites', () => {
  it('an API request a browser marks as cross-site or cross-origin is 403, with the security headers', async () => {
    const attempts: Record<string, string>[] = [
      { 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'no-cors', 'sec-fetch-dest': 'image' },
      { 'sec-fetch-site': 'same-site', 'sec-fetch-mode': 'cors' },
      { origin: 'http://evil.example' },
      { origin: 'null' },
      { origin: `http://127.0.0.1:${port + 1}` },
    ]
    for (const headers of attempts) {
      // The route decides, not the spelling of the URL: `/%61pi/events` is /api/events.
      for (const url of ['/api/status', '/api/events', '/%61pi/events', `/api/programs/${counter}/proof?address=0&length=16`]) {
        const reply = await call('GET', url, { host, ...headers })
        expect(reply.status, `${url} ${JSON.stringify(headers)}`).toBe(403)
        expect(JSON.parse(reply.text)).toMatchObject({ error: { code: 'FORBIDDEN' } })
        expectSecurityHeaders(reply.headers)
      }
    }
    // The page's own requests, a typed address and clients that are not browsers still read.
    const own: Record<string, string>[] = [{ 'sec-fetch-site': 'same-origin', origin: `http://${host}` }, { 'sec-fetch-site': 'none' }, {}]
    for (const headers of own) {
      expect((await call('GET', '/api/status', { host, ...headers })).status).toBe(200)
    }
    // The page itself may be linked to from anywhere.
    expect((await call('GET', '/', { host, 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'navigate' })).status).toBe(503)
  })

  it('another site cannot take the event streams: with 40 cross-site opens held, the page still gets one', async () => {
    const held: IncomingMessage[] = []
    const hold = (headers: Record<string, string>): Promise<IncomingMessage> => new Promise((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port, path: '/api/events', headers: { host, ...headers } }, (res) => {
        held.push(res)
        resolve(res)
      })
      req.on('error', reject)
      req.end()
    })
    try {
      const foreign = []
      for (let i = 0; i < 40; i += 1) foreign.push(await hold({ 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'no-cors', 'sec-fetch-dest': 'image' }))
      expect(foreign.map((res) => res.statusCode)).toEqual(Array(40).fill(403))
      const own = await hold({ 'sec-fetch-site': 'same-origin' })
      expect(own.statusCode).toBe(200)
      expectSecurityHeaders(own.headers)
    } finally {
      for (const res of held) res.destroy()
    }
  })
})

describe('every answer carries the security headers', () => {
  it('404, 405, 401, 403, 400, 413, HEAD, OPTIONS, the unbuilt page and the event stream', async () => {
    const json = { host, 'content-type': 'application/json' }
    const auth = { ...json, authorization: `Bearer ${inspector.token}` }
    const cases: [string, string, Record<string, string>, string | undefined, number][] = [
      ['GET', '/nope', { host }, undefined, 404],
      ['GET', '/api/../../etc/passwd', { host }, undefined, 404],
      ['GET', '/assets/../index.html', { host }, undefined, 404],
      ['PUT', '/api/status', auth, '{}', 405],
      ['OPTIONS', '/api/send', { host, origin: `http://${host}`, 'access-control-request-method': 'POST' }, undefined, 401],
      ['HEAD', '/', { host }, undefined, 401],
      ['POST', '/api/cycle', json, '{}', 401],
      ['GET', '/api/status', { host: 'evil.example' }, undefined, 403],
      ['POST', '/api/send', auth, '{"__proto__":{"x":1}}', 400],
      ['POST', '/api/send', auth, '{"constructor":{"prototype":{"x":1}}}', 400],
      ['POST', '/api/send', auth, '{', 400],
      ['POST', '/api/send', { ...auth, 'content-type': 'text/plain' }, '{}', 400],
      ['POST', '/api/send', { ...auth, 'content-type': 'application/x-www-form-urlencoded' }, 'a=1', 400],
      ['POST', '/api/send', auth, `{"payloadHex":"${'0'.repeat(4 * 1024 * 1024)}"}`, 413],
      ['GET', '/', { host }, undefined, 503],
    ]
    for (const [method, url, headers, body, status] of cases) {
      const reply = await call(method, url, headers, body)
      expect(reply.status, `${method} ${url}`).toBe(status)
      expectSecurityHeaders(reply.headers)
      expect(reply.text).not.toContain(inspector.token)
    }
    const stream = await call('GET', '/api/events', { host })
    expect(stream.status).toBe(200)
    expectSecurityHeaders(stream.headers)
  })
})

describe('hostile input', () => {
  it('odd query strings, paths and tokens are refused by name, never a 500, a stack or a path', async () => {
    const urls = [
      '/api/cycles?limit=1&limit=2', '/api/cycles?limit[]=1', '/api/cycles?__proto__=1', '/api/cycles?limit=%00',
      '/api/cycles?limit=9007199254740993', '/api/programs?prefix=%ZZ', '/api/programs?status=constructor',
      '/api/programs?status=__proto__', '/api/programs?prefix=' + 'a'.repeat(65), '/api/programs?offset=9007199254740991',
      `/api/programs/${counter.toUpperCase()}`, `/api/programs/${'0'.repeat(64)}`, '/api/programs/__proto__',
      `/api/programs/${counter}/memory?address=1099511627776&length=1`, `/api/programs/${counter}/memory?address=0&length=65537`,
      `/api/programs/${counter}/proof?address=0&length=1048577`, `/api/programs/${counter}/proof?address=1099511627775&length=1048576`,
      `/api/programs/${counter}/absence?region=256&plane=0`, `/api/programs/${counter}/absence?region=0&plane=0`,
      '/api/mailbox/constructor', `/api/mailbox/${'f'.repeat(64)}`, '/api/queue?offset=9007199254740991&limit=1000',
      '/api/%2e%2e/status', '/api/status%00', '/%E0%A4%A', `/api/programs/${'a'.repeat(100_00)}`,
    ]
    for (const url of urls) {
      const reply = await call('GET', url, { host })
      expect(reply.status, url).toBeLessThan(500)
      expect(reply.text, url).not.toMatch(/\n\s+at |node_modules|\/src\/|\/dist\//)
      expectSecurityHeaders(reply.headers)
    }
    const body = JSON.stringify({ destination: counter, payloadText: 'inc', gasLimit: 1_000_000 })
    for (const authorization of [`bearer ${inspector.token}`, `Bearer  ${inspector.token}`, `Bearer ${inspector.token} x`,
      `Bearer ${inspector.token.toUpperCase()}`, `Bearer ${inspector.token.slice(0, -1)}`, `Basic ${inspector.token}`, `Bearer ${'a'.repeat(8000)}`]) {
      const reply = await call('POST', '/api/send', { host, 'content-type': 'application/json', authorization }, body)
      expect(reply.status, authorization.slice(0, 50)).toBe(401)
      expect(reply.text).not.toContain(inspector.token)
    }
    expect(rt.queueLength).toBe(0)
  })
})

describe('memory reads at the end of the address space', () => {
  it('a range that runs past 2^40 is refused, not answered with zeros', async () => {
    const last = 2 ** 40 - 1
    const past = await call('GET', `/api/programs/${counter}/memory?address=${last}&length=2`, { host })
    expect(past.status).toBe(400)
    expect(JSON.parse(past.text)).toMatchObject({ error: { code: 'ADDRESS_OUT_OF_RANGE' } })
    const inside = await call('GET', `/api/programs/${counter}/memory?address=${last}&length=1`, { host })
    expect(JSON.parse(inside.text)).toEqual({ address: last, length: 1, hex: '00' })
  })
})
