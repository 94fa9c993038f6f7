/**
 * The inspector's guards (docs/inspector.md, "Security"): the headers every response carries, the Host check
 * against DNS rebinding, the Origin check on POSTs against cross-site requests, and the bearer token POSTs
 * need, compared in constant time.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { isIP } from 'node:net'
import { HttpError, ServeErrorCode } from './errors.js'

/** Random bytes of a generated token: 32 hex digits. */
export const TOKEN_BYTES = 16

export const CONTENT_SECURITY_POLICY = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
  "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

/** On every response: API, static files, errors and the event stream. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
  // A page of another site that opened the inspector keeps no handle on its window, and cannot embed its files.
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
}

/** Sec-Fetch-Site values of requests the inspector's own page makes, or a person makes by typing the address. */
const SAME_ORIGIN_FETCH_SITES: ReadonlySet<string> = new Set(['same-origin', 'none'])

export const newToken = (): string => randomBytes(TOKEN_BYTES).toString('hex')

/** A host as it appears in a Host header or URL: IPv6 literals in brackets. */
export const urlHost = (host: string): string => (isIP(host) === 6 ? `[${host}]` : host)

/** The Host header values that name this server: the loopback names and the bound host, with its port. */
export function allowedHosts(boundHost: string, port: number): ReadonlySet<string> {
  return new Set(['127.0.0.1', 'localhost', '[::1]', urlHost(boundHost)].map((host) => `${host.toLowerCase()}:${port}`))
}

export class Guard {
  readonly #hosts: ReadonlySet<string>
  readonly #origins: ReadonlySet<string>
  readonly #tokenDigest: Buffer

  constructor(hosts: ReadonlySet<string>, token: string) {
    this.#hosts = hosts
    this.#origins = new Set([...hosts].map((host) => `http://${host}`))
    this.#tokenDigest = digest(token)
  }

  /** Refuses a request whose Host header does not name this server (a DNS-rebound page would name its own). */
  checkHost(host: string | undefined): void {
    if (host === undefined || !this.#hosts.has(host.toLowerCase())) {
      throw new HttpError(403, ServeErrorCode.FORBIDDEN, `Host ${JSON.stringify(host ?? '')} is not this server's; use ${[...this.#hosts][0]}`)
    }
  }

  /**
   * Refuses an API request a page of another site or origin made (a browser says so in Origin and
   * Sec-Fetch-Site; other clients send neither). Such a page cannot read the answer, but it could still hold
   * every event stream (SSE_STREAMS_MAX) with a few elements whose source is /api/events, or keep the server
   * busy with the most expensive reads, from any tab the user has open.
   */
  checkApiRequest(origin: string | undefined, fetchSite: string | undefined): void {
    if (origin !== undefined && !this.#origins.has(origin.toLowerCase())) {
      throw new HttpError(403, ServeErrorCode.FORBIDDEN, `API requests from origin ${JSON.stringify(origin)} are refused`)
    }
    if (fetchSite !== undefined && !SAME_ORIGIN_FETCH_SITES.has(fetchSite.toLowerCase())) {
      throw new HttpError(403, ServeErrorCode.FORBIDDEN,
        `API requests from another origin (Sec-Fetch-Site: ${JSON.stringify(fetchSite)}) are refused`)
    }
  }

  /** Refuses a mutation from another origin, and one without the right bearer token. */
  checkMutation(origin: string | undefined, authorization: string | undefined): void {
    if (origin !== undefined && !this.#origins.has(origin.toLowerCase())) {
      throw new HttpError(403, ServeErrorCode.FORBIDDEN, `requests from origin ${JSON.stringify(origin)} may not change anything`)
    }
    const match = /^Bearer ([^\s]+)$/.exec(authorization ?? '')
    // Digests of equal length make the comparison constant-time whatever was sent.
    if (match === null || !timingSafeEqual(digest(match[1]!), this.#tokenDigest)) {
      throw new HttpError(401, ServeErrorCode.UNAUTHORIZED,
        match === null ? 'this request needs the header Authorization: Bearer TOKEN (the token strata serve printed)' : 'wrong token')
    }
  }
}

const digest = (text: string): Buffer => createHash('sha256').update(text).digest()
