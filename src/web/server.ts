/**
 * The web inspector's HTTP server (docs/inspector.md): a JSON API over a writer Runtime, an event stream of its
 * cycles, and the page's three files. Cycles run on a timer while there is work (one at a time: a setTimeout
 * chain, never an interval) and on demand (POST /api/cycle).
 *
 * Every request passes the guards first (security.ts): headers on every response, the Host check, and for
 * POSTs the Origin check and the bearer token, all before a body is read.
 */
import { readFile } from 'node:fs/promises'
import { STATUS_CODES } from 'node:http'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import type { Duplex } from 'node:stream'
import { fileURLToPath } from 'node:url'
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify'
import { ADDRESS_LIMIT, PLANES_PER_REGION_MAX, REGION_COUNT_MAX } from '../constants.js'
import { StrataError, assert } from '../errors.js'
import { PROOF_RANGE_MAX_BYTES } from '../merkle/index.js'
import { replyCodeName } from '../message/index.js'
import { ProgramStatus } from '../protocol/index.js'
import { DEFAULT_USER_ID, Runtime, RuntimeErrorCode } from '../scheduler/index.js'
import { packageVersion } from '../version.js'
import { HttpError, ServeErrorCode, statusOf } from './errors.js'
import { EventHub } from './events.js'
import { History } from './history.js'
import {
  CONNECTION_TIMEOUT_MS, CYCLES_KEPT, CYCLES_LIMIT_DEFAULT, HEX_PREFIX_MAX_CHARS, INTERVAL_MS_MAX, LIST_ENTRIES_MAX,
  MEMORY_READ_MAX_BYTES, OUTCOMES_KEPT, OUTCOMES_LIMIT_DEFAULT, PROGRAMS_LIMIT_DEFAULT, PROGRAMS_LIMIT_MAX,
  PROGRAMS_SCAN_MAX, QUERY_GAS_MAX, QUEUE_LIMIT_DEFAULT, QUEUE_LIMIT_MAX, REQUEST_BODY_MAX_BYTES, REQUEST_TIMEOUT_MS, TIMEOUT_CHECK_INTERVAL_MS,
} from './limits.js'
import {
  bodyObject, enumParam, hexPrefixParam, idField, idValue, intField, intParam, payloadField, type Query,
} from './params.js'
import { Guard, SECURITY_HEADERS, allowedHosts, newToken, urlHost } from './security.js'
import { hexOf, messageView, programSummary, textOf, type CycleEntry } from './views.js'

export interface InspectorOptions {
  /** A writer runtime; the inspector runs its cycles but never closes it. */
  readonly runtime: Runtime
  readonly host: string
  /** 0 picks a free port. */
  readonly port: number
  /** A cycle every intervalMs while the runtime is not idle; 0 runs cycles only on POST /api/cycle. */
  readonly intervalMs: number
  /** The bearer token POSTs need; 32 random hex digits when not given. */
  readonly token?: string
  /**
   * Opens the read view: a read-only runtime on the writer's committed state, refreshed after every commit.
   * Default: the writer's LMDB data directory opened read-only; for a PostgreSQL writer, pass a read-only
   * PostgreSQL runtime on its database (`Runtime.open({ store: 'postgres', url, readOnly: true })`). Without
   * either (a memory-store runtime, in tests) reads go to the writer itself.
   */
  readonly openReader?: () => Promise<Runtime>
  /** The database the runtime writes, as host:port/database (never a password), shown in /api/status. */
  readonly database?: string
  /** Where index.html and assets/ are; default dist/inspector/ beside this module's folder. */
  readonly assetsDir?: string
}

export interface Inspector {
  /** `http://HOST:PORT/#token=TOKEN`: the page reads its token from the fragment, which is never sent. */
  readonly url: string
  readonly token: string
  /** Stops the timer, lets a running cycle finish, ends the event streams and closes the server. */
  close(): Promise<void>
}

/** A token the page can carry in a URL fragment and a header: visible ASCII without spaces. */
const TOKEN_PATTERN = /^[\x21-\x7e]{16,256}$/

/** The page's files, by URL path: the only files served. */
const STATIC_FILES: Readonly<Record<string, { readonly file: string; readonly type: string }>> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/assets/inspector.js': { file: 'assets/inspector.js', type: 'text/javascript; charset=utf-8' },
  '/assets/inspector.css': { file: 'assets/inspector.css', type: 'text/css; charset=utf-8' },
}

const NOT_BUILT = 'The inspector page is not built: run `npm run build` in the strata folder (it writes dist/inspector/), ' +
  'then reload. The API under /api/ works without it.\n'

const PROGRAM_STATUSES = Object.values(ProgramStatus)
const SEND_FIELDS = ['destination', 'payloadHex', 'payloadText', 'gasLimit', 'source'] as const
const QUERY_FIELDS = ['programId', 'payloadHex', 'payloadText', 'gasLimit', 'source'] as const
/** Methods answered with 405 on a route that exists with another method. */
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'] as const

type Request = FastifyRequest<{ Params: Record<string, string>; Querystring: Query }>

/** Starts the inspector on a runtime; resolves once it listens. */
export async function startInspector(options: InspectorOptions): Promise<Inspector> {
  const { runtime: rt, host, port, intervalMs } = options
  checkOption(Number.isSafeInteger(port) && port >= 0 && port <= 65_535, 'port', port, 'an integer in 0..65535')
  checkOption(Number.isSafeInteger(intervalMs) && intervalMs >= 0 && intervalMs <= INTERVAL_MS_MAX, 'intervalMs', intervalMs,
    `an integer in 0..${INTERVAL_MS_MAX}`)
  checkOption(typeof host === 'string' && host.length > 0, 'host', host, 'a host name or address')
  const token = options.token ?? newToken()
  checkOption(TOKEN_PATTERN.test(token), 'token', '(hidden)', '16 to 256 visible ASCII characters')
  const assetsDir = options.assetsDir ?? fileURLToPath(new URL('../inspector/', import.meta.url))
  const version = packageVersion()

  // Reads come from a read-only runtime on the same state, moved on after every commit: each answer shows one
  // committed cycle whole, even while the writer is in the middle of the next one. (A memory-store runtime, in
  // tests, is read directly.)
  const reader = options.openReader !== undefined ? await options.openReader()
    : rt.dataDir === undefined || rt.readOnly ? undefined : await Runtime.open({ dataDir: rt.dataDir, readOnly: true })
  const read = reader ?? rt
  const events = new EventHub()
  /** The read view's move to the last cycle seen (a PostgreSQL reader replays the log first): never rejects. */
  let moved: Promise<void> = Promise.resolve()
  const history = new History(rt, (entry) => {
    moved = (async () => {
      try {
        await reader?.refresh()
      } catch (error) {
        // The writer committed; a reader that cannot follow it is the server's fault, not the cycle's.
        process.stderr.write(`strata serve: the read view could not move to cycle ${entry.cycle}: ${(error as Error).stack ?? String(error)}\n`)
      }
      events.broadcast('cycle', entry)
      // After the cycle's promise settled, so that `running` is false again.
      setImmediate(() => events.broadcast('status', status()))
    })()
  })
  let running: Promise<CycleEntry> | undefined
  let timer: NodeJS.Timeout | undefined
  let closing = false
  let guard: Guard | undefined

  const onRuntimeError = (error: Error): void => {
    process.stderr.write(`strata serve: the runtime stopped after a system error: ${error.stack ?? error.message}\n`)
    setImmediate(() => events.broadcast('status', status()))
  }
  rt.on('error', onRuntimeError)

  function status(): Record<string, unknown> {
    const delayed = read.delayedMessages().reduce((sum, [, messages]) => sum + messages.length, 0)
    return {
      version, dataDir: rt.dataDir ?? null, ...(options.database !== undefined ? { database: options.database } : {}), cycle: read.cycle, stateRoot: read.stateRoot(), queueLength: read.queueLength,
      waiting: read.waiting().length, delayed, idle: read.idle, streams: rt.streams, programCount: read.programCount,
      intervalMs, running: running !== undefined, fault: rt.fault?.message ?? null,
    }
  }

  /** Runs one cycle; BUSY while one runs. */
  function runCycle(): Promise<CycleEntry> {
    if (running !== undefined) throw new HttpError(409, RuntimeErrorCode.BUSY, 'a cycle is running already; try again when it ends')
    const run = (async () => {
      const report = await rt.runCycle()
      const entry = history.liveCycle(report.cycle)
      assert(entry !== undefined, `cycle ${report.cycle} ran but its cycle event was not seen`)
      // Answered once the read view shows it.
      await moved
      return entry
    })()
    running = run
    const clear = (): void => { running = undefined }
    run.then(clear, clear)
    return run
  }

  function schedule(): void {
    if (intervalMs === 0 || closing) return
    timer = setTimeout(() => {
      timer = undefined
      const ready = running === undefined && rt.fault === undefined
      // A cluster's coordinator first takes its inbox (clients' `strata send --url`); other runtimes take nothing.
      ;(ready ? rt.intake().then(() => (running === undefined && !rt.idle ? runCycle() : undefined)) : Promise.resolve())
        .catch((error: unknown) => { process.stderr.write(`strata serve: cycle failed: ${(error as Error).stack ?? String(error)}\n`) })
        .finally(schedule)
    }, intervalMs)
  }

  const app = Fastify({
    logger: false,
    bodyLimit: REQUEST_BODY_MAX_BYTES,
    connectionTimeout: CONNECTION_TIMEOUT_MS,
    requestTimeout: REQUEST_TIMEOUT_MS,
    http: { headersTimeout: REQUEST_TIMEOUT_MS, connectionsCheckingInterval: TIMEOUT_CHECK_INTERVAL_MS },
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    exposeHeadRoutes: false,
    // The runtime stays open until the server has closed: requests during close are answered as usual (Fastify's
    // own 503 would carry none of the security headers).
    return503OnClosing: false,
    frameworkErrors: (error, request, reply) => { sendError(request, reply, error) },
    clientErrorHandler: answerClientError,
  })
  // JSON is the only body the API takes: a text/plain POST (which a cross-site form can send) is refused.
  app.removeContentTypeParser('text/plain')

  app.addHook('onRequest', async (request, reply) => {
    reply.headers(SECURITY_HEADERS)
    if (guard === undefined) throw new HttpError(403, ServeErrorCode.FORBIDDEN, 'the server is starting')
    guard.checkHost(request.headers.host)
    // By the route matched, not the URL, which may spell the same path otherwise (`/%61pi/events`).
    const routeUrl = request.routeOptions.url
    if (routeUrl === undefined || !Object.hasOwn(STATIC_FILES, routeUrl)) {
      guard.checkApiRequest(header(request.headers.origin), header(request.headers['sec-fetch-site']))
    }
    if (request.method !== 'GET') guard.checkMutation(header(request.headers.origin), header(request.headers.authorization))
  })
  app.setErrorHandler((error, request, reply) => { sendError(request, reply, error) })
  app.setNotFoundHandler((request, reply) => {
    sendError(request, reply, new HttpError(404, ServeErrorCode.NOT_FOUND, `no route ${request.method} ${pathOf(request.url)}`))
  })

  const routes = new Map<string, string[]>()
  function route(method: 'GET' | 'POST', url: string, handler: (request: Request, reply: FastifyReply) => Promise<unknown>): void {
    routes.set(url, [...(routes.get(url) ?? []), method])
    app.route({ method, url, handler })
  }

  for (const [url, { file, type }] of Object.entries(STATIC_FILES)) {
    route('GET', url, async (_request, reply) => {
      let bytes: Buffer
      try {
        bytes = await readFile(path.join(assetsDir, file))
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
        return reply.code(503).type('text/plain; charset=utf-8').send(NOT_BUILT)
      }
      return reply.type(type).send(bytes)
    })
  }

  route('GET', '/api/status', async () => status())

  route('GET', '/api/cycles', async (request) =>
    ({ cycles: history.cycles(intParam(request.query, 'limit', 1, CYCLES_KEPT, CYCLES_LIMIT_DEFAULT)) }))

  route('GET', '/api/events', async (request, reply) => {
    reply.hijack()
    try {
      events.open(reply.raw, { event: 'status', data: status() })
    } catch (error) {
      const { status: code, error: body } = errorBody(request, error)
      reply.raw.writeHead(code, { ...SECURITY_HEADERS, 'content-type': 'application/json; charset=utf-8' })
      reply.raw.end(JSON.stringify({ error: body }))
    }
  })

  route('GET', '/api/outcomes', async (request) =>
    ({ outcomes: history.outcomes(intParam(request.query, 'limit', 1, OUTCOMES_KEPT, OUTCOMES_LIMIT_DEFAULT)) }))

  route('GET', '/api/programs', async (request) => {
    const { query } = request
    const prefix = hexPrefixParam(query, 'prefix', HEX_PREFIX_MAX_CHARS)
    const code = hexPrefixParam(query, 'code', HEX_PREFIX_MAX_CHARS)
    const root = hexPrefixParam(query, 'root', HEX_PREFIX_MAX_CHARS)
    const wanted = enumParam(query, 'status', PROGRAM_STATUSES)
    const offset = intParam(query, 'offset', 0, Number.MAX_SAFE_INTEGER, 0)
    const limit = intParam(query, 'limit', 1, PROGRAMS_LIMIT_MAX, PROGRAMS_LIMIT_DEFAULT)
    const ids = read.programIds()
    const truncated = ids.length > PROGRAMS_SCAN_MAX
    const matches = []
    for (const id of ids.slice(0, PROGRAMS_SCAN_MAX).sort()) {
      if (prefix !== undefined && !id.startsWith(prefix)) continue
      const view = read.program(id)
      const record = view.record()
      if (code !== undefined && !record.codeId.startsWith(code)) continue
      if (wanted !== undefined && record.status !== wanted) continue
      if (root !== undefined && !view.memoryRoot().startsWith(root)) continue
      matches.push(view)
    }
    const programs = matches.slice(offset, offset + limit).map((view) => programSummary(view.record(), view.memoryRoot()))
    return { total: matches.length, programs, truncated }
  })

  route('GET', '/api/programs/:id', async (request) => {
    const view = read.program(idValue(request.params.id, 'program id'))
    return {
      ...programSummary(view.record(), view.memoryRoot()), stats: view.stats(), allocations: view.allocations(),
      planes: view.planes(), recentDirty: history.recentDirty(view.id),
    }
  })

  route('GET', '/api/programs/:id/memory', async (request) => {
    const view = read.program(idValue(request.params.id, 'program id'))
    const address = intParam(request.query, 'address', 0, ADDRESS_LIMIT - 1)
    const length = intParam(request.query, 'length', 1, MEMORY_READ_MAX_BYTES)
    return { address, length, hex: hexOf(view.read(address, length)) }
  })

  route('GET', '/api/programs/:id/proof', async (request) => {
    const id = idValue(request.params.id, 'program id')
    const address = intParam(request.query, 'address', 0, ADDRESS_LIMIT - 1)
    const length = intParam(request.query, 'length', 1, PROOF_RANGE_MAX_BYTES)
    const proof = await read.prove(id, address, length)
    return { stateRoot: proof.stateRoot, proof }
  })

  route('GET', '/api/programs/:id/absence', async (request) => {
    const id = idValue(request.params.id, 'program id')
    const region = intParam(request.query, 'region', 0, REGION_COUNT_MAX - 1)
    const plane = intParam(request.query, 'plane', 0, PLANES_PER_REGION_MAX - 1)
    const proof = await read.proveAbsence(id, region, plane)
    return { stateRoot: proof.stateRoot, proof }
  })

  route('GET', '/api/queue', async (request) => {
    const offset = intParam(request.query, 'offset', 0, Number.MAX_SAFE_INTEGER, 0)
    const limit = intParam(request.query, 'limit', 1, QUEUE_LIMIT_MAX, QUEUE_LIMIT_DEFAULT)
    return { length: read.queueLength, messages: read.queued({ offset, limit }).map(messageView) }
  })

  route('GET', '/api/waitlist', async () => {
    const waiting = read.waiting()
    return {
      entries: waiting.slice(0, LIST_ENTRIES_MAX).map(({ message, programId, untilCycle }) => ({ message: messageView(message), programId, untilCycle })),
      truncated: waiting.length > LIST_ENTRIES_MAX,
    }
  })

  route('GET', '/api/delayed', async () => {
    const cycles = []
    let left = LIST_ENTRIES_MAX
    let truncated = false
    for (const [cycle, messages] of read.delayedMessages()) {
      if (messages.length > left) truncated = true
      if (left === 0) break
      cycles.push({ cycle, messages: messages.slice(0, left).map(messageView) })
      left -= Math.min(left, messages.length)
    }
    return { cycles, truncated }
  })

  route('GET', '/api/mailbox/:user', async (request) => {
    const user = idValue(request.params.user, 'user')
    return { entries: read.mailbox(user).map(({ cycle, message }) => ({ cycle, message: messageView(message) })) }
  })

  route('POST', '/api/send', async (request) => {
    const body = bodyObject(request.body, SEND_FIELDS)
    const destination = idValue(body.destination, 'destination')
    const payload = payloadField(body, true)
    const gasLimit = intField(body, 'gasLimit', true)!
    const source = idField(body, 'source') ?? DEFAULT_USER_ID
    const messageId = rt.send({ source, destination, payload, gasLimit })
    // Durable when answered, as `strata send` is, and then shown.
    await rt.flush()
    await reader?.refresh()
    return { messageId }
  })

  route('POST', '/api/query', async (request) => {
    const body = bodyObject(request.body, QUERY_FIELDS)
    const programId = idValue(body.programId, 'programId')
    const payload = payloadField(body, false)
    const gasLimit = intField(body, 'gasLimit', false) ?? QUERY_GAS_MAX
    if (gasLimit < 0 || gasLimit > QUERY_GAS_MAX) {
      throw new HttpError(400, RuntimeErrorCode.INVALID_GAS, `gasLimit of a query must be in 0..${QUERY_GAS_MAX} (queries share one worker), got ${gasLimit}`)
    }
    const source = idField(body, 'source')
    const result = await rt.query(programId, payload, { gasLimit, ...(source !== undefined ? { source } : {}) })
    return {
      replyCode: result.replyCode, replyCodeName: result.replyCode === null ? null : replyCodeName(result.replyCode),
      payloadHex: hexOf(result.payload), payloadText: textOf(result.payload), payloadLength: result.payload.length,
      gasBurned: result.gasBurned, error: result.error ?? null, logs: result.logs,
    }
  })

  route('POST', '/api/cycle', async (request) => {
    bodyObject(request.body, [], true)
    return runCycle()
  })

  // A route asked with a method it does not have is 405 with Allow, not 404.
  for (const [url, allowed] of routes) {
    const others = METHODS.filter((method) => !allowed.includes(method))
    app.route({
      method: [...others], url,
      handler: async (request, reply) => {
        reply.header('allow', allowed.join(', '))
        throw new HttpError(405, ServeErrorCode.METHOD_NOT_ALLOWED, `${pathOf(request.url)} takes ${allowed.join(' and ')}, not ${request.method}`)
      },
    })
  }

  try {
    await app.listen({ host, port })
  } catch (error) {
    history.detach()
    rt.off('error', onRuntimeError)
    events.close()
    await reader?.close()
    throw error
  }
  const bound = (app.server.address() as AddressInfo).port
  guard = new Guard(allowedHosts(host, bound), token)
  schedule()

  let closed: Promise<void> | undefined
  return {
    url: `http://${urlHost(host)}:${bound}/#token=${token}`,
    token,
    close: () => {
      closed ??= (async () => {
        closing = true
        if (timer !== undefined) clearTimeout(timer)
        await running?.catch(() => undefined)
        history.detach()
        rt.off('error', onRuntimeError)
        events.close()
        await app.close()
        await moved
        await reader?.close()
      })()
      return closed
    },
  }
}

function checkOption(ok: boolean, name: string, value: unknown, what: string): void {
  if (!ok) throw new StrataError(ServeErrorCode.INVALID_OPTION, `startInspector: ${name} must be ${what}, got ${JSON.stringify(value)}`)
}

const header = (value: string | string[] | undefined): string | undefined => (Array.isArray(value) ? value.join(',') : value)

/** The path of a request URL, without its query (which may be long, and is not needed to say what went wrong). */
const pathOf = (url: string): string => url.split('?')[0]!.slice(0, 200)

/** The status and body of an error reply. Unexpected errors are logged to stderr and answered without detail. */
function errorBody(request: FastifyRequest, error: unknown): { error: { code: string; message: string }; status: number } {
  if (error instanceof StrataError) return { status: statusOf(error), error: { code: error.code, message: error.message } }
  const status = (error as { statusCode?: unknown }).statusCode
  // Fastify's own refusals of a request (bad JSON, an empty JSON body, a body too large or of another type).
  if (typeof status === 'number' && status >= 400 && status < 500) {
    if (status === 413) {
      return { status, error: { code: ServeErrorCode.PAYLOAD_TOO_LARGE, message: `the body is over the ${REQUEST_BODY_MAX_BYTES}-byte limit` } }
    }
    const message = status === 415 ? 'a POST body must be JSON (Content-Type: application/json)' : (error as Error).message
    return { status: 400, error: { code: ServeErrorCode.BAD_REQUEST, message } }
  }
  process.stderr.write(`strata serve: internal error on ${request.method} ${pathOf(request.url)}: ${(error as Error)?.stack ?? String(error)}\n`)
  return { status: 500, error: { code: ServeErrorCode.INTERNAL, message: 'internal error (the server logged it)' } }
}

/**
 * A request Node's parser refused (malformed, headers too large, not whole within REQUEST_TIMEOUT_MS), answered
 * on the socket as every other error, security headers included (Fastify's default answer carries none).
 */
function answerClientError(error: NodeJS.ErrnoException, socket: Duplex): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return
  const [status, message] = error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
    ? [408, `the request did not arrive whole within ${REQUEST_TIMEOUT_MS} ms`]
    : error.code === 'HPE_HEADER_OVERFLOW' ? [431, 'the request headers are too large'] : [400, 'a malformed HTTP request']
  const body = JSON.stringify({ error: { code: ServeErrorCode.BAD_REQUEST, message } })
  const headers = { ...SECURITY_HEADERS, 'content-type': 'application/json; charset=utf-8', 'content-length': String(Buffer.byteLength(body)), connection: 'close' }
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n${Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join('')}\r\n${body}`)
  }
  socket.destroy()
}

function sendError(request: FastifyRequest, reply: FastifyReply, error: unknown): void {
  const { status, error: body } = errorBody(request, error)
  reply.headers(SECURITY_HEADERS).code(status).type('application/json; charset=utf-8').send({ error: body })
}
