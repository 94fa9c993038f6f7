/**
 * Argument parsing and checking for the `strata` commands: every bad value becomes a CliError that names it,
 * with a code and an exit status (2 for usage and input errors, 1 for rejected proofs and failed checks).
 */
import { existsSync, readFileSync, statSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { ADDRESS_LIMIT } from '../constants.js'
import { address3d } from '../memory/index.js'
import type { Out } from './output.js'

export class CliError extends Error {
  constructor(readonly code: string, message: string, readonly exitCode = 2) {
    super(message)
    this.name = 'CliError'
  }
}

export const usageError = (message: string): CliError => new CliError('USAGE', message)

export type OptionSpec = Readonly<Record<string, { readonly type: 'string' | 'boolean' }>>

/** One `strata` command: its help and options, and what it does. Returns the exit status. */
export interface Command {
  readonly name: string
  /** The synopsis, e.g. `strata send [--data DIR] --to PROGRAM ...`. */
  readonly usage: string
  /** One line for the command list. */
  readonly about: string
  /** The rest of `strata <command> --help`: what it does, its options. */
  readonly help: string
  readonly options: OptionSpec
  run(args: Args, out: Out): Promise<number>
}

/** What every command accepts besides its own options. */
const COMMON: OptionSpec = { json: { type: 'boolean' }, help: { type: 'boolean' } }

export class Args {
  constructor(
    readonly command: string,
    private readonly values: Readonly<Record<string, string | boolean | undefined>>,
    readonly positionals: readonly string[],
  ) {}

  get json(): boolean {
    return this.values.json === true
  }

  flag(name: string): boolean {
    return this.values[name] === true
  }

  string(name: string): string | undefined {
    const value = this.values[name]
    return typeof value === 'string' ? value : undefined
  }

  required(name: string, what: string): string {
    const value = this.string(name)
    if (value === undefined) throw usageError(`${this.command} needs --${name} ${what}`)
    return value
  }

  /** An integer option in min..max, or the fallback when it is absent. */
  integer<T extends number | undefined>(name: string, fallback: T, min: number, max: number): number | T {
    const raw = this.string(name)
    return raw === undefined ? fallback : integer(raw, `--${name}`, min, max)
  }

  /** Exactly `count` positionals (or between min and max), else a usage error naming what is wrong. */
  expect(min: number, max: number, names: string): readonly string[] {
    const got = this.positionals
    if (got.length < min) throw usageError(`${this.command} needs ${names}`)
    if (got.length > max) throw usageError(`${this.command} takes ${names}; unexpected ${JSON.stringify(got[max])}`)
    return got
  }
}

/** Parses a command's arguments strictly: unknown options, missing values and stray values are usage errors. */
export function parse(command: string, argv: readonly string[], options: OptionSpec): Args {
  // `--gas -5` passes -5 as the value (to be refused by name), not as an unknown option.
  const args = argv.flatMap((arg, i) => {
    const value = argv[i + 1]
    if (options[arg.slice(2)]?.type === 'string' && value !== undefined && /^-\d/.test(value)) return [`${arg}=${value}`]
    return i > 0 && /^-\d/.test(arg) && options[argv[i - 1]!.slice(2)]?.type === 'string' ? [] : [arg]
  })
  try {
    const { values, positionals } = parseArgs({ args, options: { ...COMMON, ...options }, allowPositionals: true, strict: true })
    return new Args(command, values as Record<string, string | boolean | undefined>, positionals)
  } catch (error) {
    const message = (error as Error).message
    const unknown = /Unknown option '([^']*)'/.exec(message)
    if (unknown !== null) throw usageError(`${command} has no option ${unknown[1]}`)
    // "Option '--cycles <value>' argument missing", or "... is ambiguous" when an option follows it.
    const valueless = /^Option '(--[\w-]+)/.exec(message)
    if (valueless !== null) throw usageError(`${command}: ${valueless[1]} needs a value`)
    throw usageError(`${command}: ${message.split('\n')[0]}`)
  }
}

export function integer(raw: string, name: string, min: number, max: number): number {
  const value = /^\s*-?\d+\s*$/.test(raw) ? Number(raw) : Number.NaN
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw usageError(`${name} must be an integer in ${min}..${max}, got ${JSON.stringify(raw)}`)
  }
  return value
}

/** Hex bytes, with or without 0x (empty allowed); anything else is BAD_HEX naming the value. */
export function hexBytes(raw: string, name: string): Uint8Array {
  const hex = raw.startsWith('0x') || raw.startsWith('0X') ? raw.slice(2) : raw
  if (!/^(?:[0-9a-fA-F]{2})*$/.test(hex)) {
    throw new CliError('BAD_HEX', `${name} must be hex bytes (an even number of 0-9a-f digits), got ${quote(raw)}`)
  }
  return Uint8Array.from(Buffer.from(hex, 'hex'))
}

/** A 32-byte id as 64 hex digits (optionally 0x), canonical lower case. */
export function hexId(raw: string, name: string): string {
  const bytes = hexBytes(raw, name)
  if (bytes.length !== 32) throw new CliError('BAD_HEX', `${name} must be 32 bytes (64 hex digits), got ${quote(raw)}`)
  return Buffer.from(bytes).toString('hex')
}

/**
 * A message payload: `--payload HEX`, `--payload @FILE` (the file's bytes) or `--text STRING` (its UTF-8
 * bytes). Exactly one of them.
 */
export function payload(args: Args): Uint8Array {
  const raw = args.string('payload')
  const text = args.string('text')
  if (raw !== undefined && text !== undefined) throw usageError(`${args.command} takes --payload or --text, not both`)
  if (text !== undefined) return new TextEncoder().encode(text)
  if (raw === undefined) throw usageError(`${args.command} needs --payload HEX|@FILE or --text STRING ('--payload ""' for none)`)
  if (!raw.startsWith('@')) return hexBytes(raw, '--payload')
  return readInput(raw.slice(1), '--payload file')
}

/** A file's bytes; a missing or unreadable one is NO_FILE naming the path. */
export function readInput(file: string, what: string): Uint8Array {
  try {
    if (!existsSync(file) || !statSync(file).isFile()) throw new Error('no such file')
    return readFileSync(file)
  } catch (error) {
    throw new CliError('NO_FILE', `cannot read ${what} ${JSON.stringify(file)}: ${(error as Error).message}`)
  }
}

/**
 * A memory address: a packed integer (decimal or 0x hex), or region:plane:offset, or "(region, plane, offset)"
 * as `strata inspect` prints it.
 */
export function address(raw: string, name: string): number {
  const parts = /^\(?\s*(\d+)\s*[,:]\s*(\d+)\s*[,:]\s*(\d+)\s*\)?$/.exec(raw)
  if (parts !== null) {
    const [region, plane, offset] = parts.slice(1).map(Number) as [number, number, number]
    try {
      return address3d(region, plane, offset)
    } catch (error) {
      throw usageError(`${name} ${quote(raw)}: ${(error as Error).message}`)
    }
  }
  const value = /^(?:0x[0-9a-f]+|\d+)$/i.test(raw) ? Number(raw) : Number.NaN
  if (!Number.isSafeInteger(value) || value >= ADDRESS_LIMIT) {
    throw usageError(`${name} must be an address below 2^40 (an integer, 0x hex, or region:plane:offset), got ${quote(raw)}`)
  }
  return value
}

function quote(value: string): string {
  return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value)
}
