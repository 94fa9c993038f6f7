/**
 * Checking what a request carries: query-string numbers are decimal integers only ("1.5", "1e3", "0x10", "-1"
 * and " 1" are refused), hex is hex, POST bodies are JSON objects with known fields only. Every refusal is a
 * 400 BAD_REQUEST whose message names the field and the value.
 */
import { describeValue } from '../errors.js'
import { badRequest } from './errors.js'

export type Query = Readonly<Record<string, unknown>>

const DECIMAL = /^(?:0|[1-9]\d{0,15})$/
const HEX = /^[0-9a-fA-F]*$/
const ID = /^[0-9a-fA-F]{64}$/

/** A query parameter as one string (a repeated one is refused), or undefined when absent. */
function single(query: Query, name: string): string | undefined {
  const value = query[name]
  if (value === undefined) return undefined
  if (typeof value !== 'string') throw badRequest(`${name} must be given once, got ${describeValue(value)}`)
  return value
}

/** A decimal integer query parameter in min..max; `fallback` when absent (undefined fallback: required). */
export function intParam(query: Query, name: string, min: number, max: number, fallback?: number): number {
  const raw = single(query, name)
  if (raw === undefined) {
    if (fallback === undefined) throw badRequest(`${name} is required (an integer in ${min}..${max})`)
    return fallback
  }
  const value = DECIMAL.test(raw) ? Number(raw) : Number.NaN
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw badRequest(`${name} must be a decimal integer in ${min}..${max}, got ${describeValue(raw)}`)
  }
  return value
}

/** A hex prefix query parameter (lower-cased), at most `maxChars` digits; undefined when absent or empty. */
export function hexPrefixParam(query: Query, name: string, maxChars: number): string | undefined {
  const raw = single(query, name)
  if (raw === undefined || raw === '') return undefined
  if (!HEX.test(raw) || raw.length > maxChars) {
    throw badRequest(`${name} must be a prefix of hex digits (at most ${maxChars}), got ${describeValue(raw)}`)
  }
  return raw.toLowerCase()
}

/** One of `allowed`, or undefined when absent or empty. */
export function enumParam<T extends string>(query: Query, name: string, allowed: readonly T[]): T | undefined {
  const raw = single(query, name)
  if (raw === undefined || raw === '') return undefined
  if (!(allowed as readonly string[]).includes(raw)) {
    throw badRequest(`${name} must be one of ${allowed.join(', ')}, got ${describeValue(raw)}`)
  }
  return raw as T
}

/** A 64-hex-digit id (a path segment or a body field), lower-cased. */
export function idValue(value: unknown, name: string): string {
  if (typeof value !== 'string' || !ID.test(value)) throw badRequest(`${name} must be an id of 64 hex digits, got ${describeValue(value)}`)
  return value.toLowerCase()
}

/** A POST body: a JSON object with no field outside `known` (a missing body counts as {} when `optional`). */
export function bodyObject(body: unknown, known: readonly string[], optional = false): Readonly<Record<string, unknown>> {
  if (body === undefined && optional) return {}
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw badRequest(`the body must be a JSON object, got ${describeValue(body)}`)
  }
  const unknown = Object.keys(body).filter((key) => !known.includes(key))
  if (unknown.length > 0) {
    throw badRequest(`unknown field${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => JSON.stringify(k)).join(', ')}; ` +
      `the body takes ${known.length === 0 ? 'no fields' : known.join(', ')}`)
  }
  return body as Record<string, unknown>
}

/** An integer body field (a JSON number; the runtime checks its range), or undefined when absent and optional. */
export function intField(body: Readonly<Record<string, unknown>>, name: string, required: boolean): number | undefined {
  const value = body[name]
  if (value === undefined && !required) return undefined
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    throw badRequest(`${name} must be an integer (a JSON number), got ${describeValue(value)}`)
  }
  return value
}

/** An optional id body field. */
export function idField(body: Readonly<Record<string, unknown>>, name: string): string | undefined {
  return body[name] === undefined ? undefined : idValue(body[name], name)
}

/**
 * The payload of a send or query: `payloadHex` (hex bytes) or `payloadText` (UTF-8), at most one of them (and
 * exactly one when `required`); none is the empty payload.
 */
export function payloadField(body: Readonly<Record<string, unknown>>, required: boolean): Uint8Array {
  const { payloadHex: hex, payloadText: text } = body
  if (hex !== undefined && text !== undefined) throw badRequest('give payloadHex or payloadText, not both')
  if (hex !== undefined) {
    if (typeof hex !== 'string' || !HEX.test(hex) || hex.length % 2 !== 0) {
      throw badRequest(`payloadHex must be hex bytes (an even number of 0-9a-f digits), got ${describeValue(hex)}`)
    }
    return Uint8Array.from(Buffer.from(hex, 'hex'))
  }
  if (text !== undefined) {
    if (typeof text !== 'string') throw badRequest(`payloadText must be a string, got ${describeValue(text)}`)
    return new TextEncoder().encode(text)
  }
  if (required) throw badRequest('the body needs payloadHex or payloadText ("" for an empty payload)')
  return new Uint8Array(0)
}
