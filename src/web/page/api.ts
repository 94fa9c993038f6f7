/**
 * The HTTP API the page talks to (docs/inspector.md; the contract the server implements): its JSON types and a
 * small client. GETs need no token; every POST carries `Authorization: Bearer TOKEN` when the page has one.
 */
import type { MemoryStats } from '../../memory/index.js'
import type { MerkleProof } from '../../merkle/proof_types.js'
import type { ProgramSummary } from '../index.js'

export type Hex = string

/**
 * The server's own wire types (type-only, erased from the bundle): the page is typechecked against what the
 * server sends, so a change on either side that breaks the other fails `npm run typecheck`.
 */
export type { CycleEntry, MessageView, OutcomeView as Outcome, ProgramSummary } from '../index.js'

export interface Status {
  readonly version: string
  readonly dataDir: string
  readonly cycle: number
  readonly stateRoot: Hex
  readonly queueLength: number
  readonly waiting: number
  readonly delayed: number
  readonly idle: boolean
  readonly streams: number
  readonly programCount: number
  readonly intervalMs: number
  readonly running: boolean
  readonly fault: string | null
}

/** The runtime's own types (type-only: erased from the bundle, so nothing of memory/ reaches the browser). */
export type { MemoryStats, RegionStats } from '../../memory/index.js'

export interface Allocation {
  readonly address: number
  readonly size: number
}

export interface ProgramDetail extends ProgramSummary {
  readonly stats: MemoryStats
  readonly allocations: readonly Allocation[]
  /** Keys (region * 65536 + plane) of the planes that hold data. */
  readonly planes: readonly number[]
  /** Plane key -> the last cycle (of the last 64 seen live) that wrote the plane. */
  readonly recentDirty: Readonly<Record<string, number>>
}

export interface QueryReply {
  readonly replyCode: number | null
  readonly replyCodeName: string | null
  readonly payloadHex: string
  readonly payloadText: string | null
  readonly payloadLength: number
  readonly gasBurned: number
  readonly error: string | null
  readonly logs: readonly string[]
}

export interface ProofResponse {
  readonly stateRoot: Hex
  readonly proof: MerkleProof
}

/** A failed request: the HTTP status (0 when the server could not be reached) and the API's error code. */
export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message)
  }
}

// ---- the token ---------------------------------------------------------------------------------------------

const TOKEN_KEY = 'strata.inspector.token'
/** `token=...` in the fragment; the server's tokens are visible ASCII (32 hex digits by default). */
const TOKEN_PATTERN = /(^#|[?&#])token=([\x21-\x22\x24-\x25\x27-\x7e]{1,256})/

/**
 * Takes the token out of the address (`#token=...`, as `strata serve` prints it) into sessionStorage, and
 * removes it from the address bar so it is neither bookmarked nor shown.
 */
export function adoptTokenFromHash(): void {
  const match = TOKEN_PATTERN.exec(location.hash)
  if (!match) return
  sessionStorage.setItem(TOKEN_KEY, match[2]!)
  let rest = location.hash.replace(TOKEN_PATTERN, (_all, lead: string) => (lead === '#' ? '#' : ''))
  if (rest === '#' || rest === '') rest = '#/cycles'
  history.replaceState(null, '', location.pathname + location.search + rest)
}

export function token(): string | null {
  return sessionStorage.getItem(TOKEN_KEY)
}

export function setToken(value: string | null): void {
  if (value) sessionStorage.setItem(TOKEN_KEY, value)
  else sessionStorage.removeItem(TOKEN_KEY)
}

// ---- requests ----------------------------------------------------------------------------------------------

async function request<T>(path: string, init: RequestInit): Promise<T> {
  let response: Response
  try {
    response = await fetch(path, init)
  } catch {
    throw new ApiError(0, 'NETWORK', 'the server cannot be reached (is strata serve still running?)')
  }
  let body: unknown
  try {
    body = await response.json()
  } catch {
    throw new ApiError(response.status, 'BAD_RESPONSE', `the server answered ${response.status} without JSON`)
  }
  if (!response.ok) {
    const error = (body as { error?: { code?: unknown; message?: unknown } } | null)?.error
    throw new ApiError(response.status, typeof error?.code === 'string' ? error.code : 'HTTP_' + response.status,
      typeof error?.message === 'string' ? error.message : response.statusText)
  }
  return body as T
}

/** Builds a query string from the parameters that are set. */
export function query(params: Readonly<Record<string, string | number | null | undefined>>): string {
  const search = new URLSearchParams()
  for (const [name, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== '') search.set(name, String(value))
  }
  const text = search.toString()
  return text ? '?' + text : ''
}

export function get<T>(path: string): Promise<T> {
  return request<T>(path, { headers: { accept: 'application/json' } })
}

export function post<T>(path: string, body: unknown): Promise<T> {
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' }
  const bearer = token()
  if (bearer) headers.authorization = `Bearer ${bearer}`
  return request<T>(path, { method: 'POST', headers, body: JSON.stringify(body) })
}
