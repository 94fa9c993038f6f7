/**
 * The database URL: checked (postgres:// or postgresql://), shown without its password in every message, and
 * hashed with the database's identity into the default name of the local replica's cache directory.
 */
import { createHash } from 'node:crypto'
import os from 'node:os'
import path from 'node:path'
import { StrataError, describeValue } from '../errors.js'
import { ClusterErrorCode } from './errors.js'

/** PostgreSQL's default port, for messages when the URL names none. */
const POSTGRES_PORT_DEFAULT = 5432
/** Hex digits of the hash that names a default cache directory: 64 bits, no collision among one machine's databases. */
const CACHE_NAME_HASH_CHARS = 16

export interface DatabaseUrl {
  /** The URL as given (with its password, for the driver only). */
  readonly url: string
  /** host:port/database, for messages: never the password. */
  readonly where: string
  /** The URL without its password, for hashing (a changed password must not move the cache). */
  readonly redacted: string
}

export function checkedDatabaseUrl(value: unknown, name = 'url'): DatabaseUrl {
  if (typeof value !== 'string' || value.length === 0) {
    throw new StrataError(ClusterErrorCode.INVALID_ARGUMENT, `${name} must be a postgres:// or postgresql:// URL string, got ${describeValue(value)}`)
  }
  let parsed: URL
  try {
    parsed = new URL(value)
  } catch {
    throw new StrataError(ClusterErrorCode.INVALID_ARGUMENT, `${name} must be a postgres:// or postgresql:// URL, got ${describeValue(redactText(value))}`)
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw new StrataError(ClusterErrorCode.INVALID_ARGUMENT,
      `${name} must use the postgres:// or postgresql:// scheme, got ${describeValue(`${parsed.protocol}//…`)}`)
  }
  const host = parsed.hostname || parsed.searchParams.get('host') || 'localhost'
  const port = parsed.port || String(POSTGRES_PORT_DEFAULT)
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, '')) || parsed.username || 'postgres'
  const redacted = new URL(parsed.href)
  redacted.password = ''
  return { url: value, where: `${host}:${port}/${database}`, redacted: redacted.href }
}

/** A URL-looking string with anything between '://user:' and '@' masked, for messages about unparsable input. */
function redactText(text: string): string {
  return text.replace(/(:\/\/[^:/@]*:)[^@]*@/, '$1***@')
}

/** The default cache directory of a database: under the OS temp directory, named from the URL and the database's identity. */
export function defaultCacheDir(url: DatabaseUrl, systemId: string, databaseId: string): string {
  const hash = createHash('sha256').update(`${url.redacted}\n${systemId}\n${databaseId}`).digest('hex')
  return path.join(os.tmpdir(), `strata-pg-${hash.slice(0, CACHE_NAME_HASH_CHARS)}`)
}
