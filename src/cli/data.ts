/**
 * Where the commands' state is: `--data DIR` (default ./data), checked to hold a store before anything opens it
 * (so a mistyped path is an error, never a new empty store), or `--url URL`, a PostgreSQL database (with `--cache
 * DIR` for the local replica); and program ids given in full or as a unique prefix.
 */
import { existsSync, statSync } from 'node:fs'
import path from 'node:path'
import { DATA_DIR_DEFAULT } from '../constants.js'
import type { ProgramId } from '../message/index.js'
import type { Runtime, RuntimeOptions } from '../scheduler/index.js'
import { CliError, usageError, type Args, type OptionSpec } from './args.js'

export const DATA_OPTION: OptionSpec = { data: { type: 'string' } }
/** The options of the commands that work on existing state: a data directory, or a PostgreSQL database. */
export const PLACE_OPTION: OptionSpec = { ...DATA_OPTION, url: { type: 'string' }, cache: { type: 'string' } }
export const PLACE_HELP = `  --data DIR           the data directory (default ./data); it must exist
  --url URL            a PostgreSQL database instead (postgres://...; a writer must have created it); its
                       password is never printed
  --cache DIR          with --url: the directory of the local replica (default: one under the temp directory)`

/** The state a command opens: an LMDB data directory, or a PostgreSQL database read through a local replica. */
export interface Place {
  /** What messages name: the data directory, or the database as host:port/database (never its password). */
  readonly label: string
  /** The runtime options that open it (the caller adds streams, readOnly). */
  readonly options: RuntimeOptions
  /** What --json output shows of it: { dataDir } or { database }. */
  readonly json: Readonly<Record<string, string>>
  /** The database URL, when the place is one (for the server's read view); never printed. */
  readonly url?: string
  readonly cacheDir?: string
}

/** The LMDB file a store directory holds. */
const DATA_FILE = 'data.mdb'

export function dataDirOf(args: Args): string {
  return path.resolve(args.string('data') ?? DATA_DIR_DEFAULT)
}

/** The data directory, which must already hold a store: NO_DATA otherwise (and nothing is created). */
export function existingDataDir(args: Args): string {
  const dir = dataDirOf(args)
  const file = path.join(dir, DATA_FILE)
  if (!existsSync(file) || !statSync(file).isFile()) {
    const why = existsSync(dir) ? `it holds no ${DATA_FILE}` : 'it does not exist'
    throw new CliError('NO_DATA', `no data directory at ${dir} (${why}); \`strata demo --data ${dir}\` creates one`)
  }
  return dir
}

/**
 * `--data DIR` (which must hold a store) or `--url URL` (checked, its password hidden from every message;
 * `--cache DIR` with it). Both, or --cache without --url, is a usage error.
 */
export async function placeOf(args: Args): Promise<Place> {
  const url = args.string('url')
  const cache = args.string('cache')
  if (url === undefined) {
    if (cache !== undefined) throw usageError(`${args.command}: --cache applies to --url (a PostgreSQL database's replica)`)
    const dataDir = existingDataDir(args)
    return { label: dataDir, options: { dataDir }, json: { dataDir } }
  }
  if (args.string('data') !== undefined) throw usageError(`${args.command} takes --data DIR or --url URL, not both`)
  if (cache === '') throw usageError(`${args.command}: --cache needs a directory`)
  // Loaded only for --url: the URL check hides the password in its own messages.
  const { checkedDatabaseUrl } = await import('../cluster/index.js')
  let where: string
  try {
    where = checkedDatabaseUrl(url, '--url').where
  } catch (error) {
    throw usageError((error as Error).message)
  }
  const cacheDir = cache === undefined ? undefined : path.resolve(cache)
  return {
    label: where, json: { database: where }, url, ...(cacheDir !== undefined ? { cacheDir } : {}),
    options: { store: 'postgres', url, ...(cacheDir !== undefined ? { cacheDir } : {}) },
  }
}

/**
 * The runtime's module, loaded when a command needs it: it pulls in LMDB, esbuild and the worker pool, which
 * `--help`, `verify` and argument errors can do without.
 */
export const runtimeModule = (): Promise<typeof import('../scheduler/runtime.js')> => import('../scheduler/runtime.js')

/**
 * Opens the runtime on `dataDir`, runs `use`, and closes it (which makes accepted messages durable). Commands
 * that run no cycles pass 0 streams (no worker threads); undefined means the runtime's default.
 */
export async function withRuntime<T>(place: Place, streams: number | undefined, use: (rt: Runtime) => Promise<T>): Promise<T> {
  const { Runtime } = await runtimeModule()
  const rt = await Runtime.open({ ...place.options, ...(streams === undefined ? {} : { streams }) })
  let result: T
  try {
    result = await use(rt)
  } catch (error) {
    await rt.close().catch(() => undefined)
    throw error
  }
  await rt.close()
  return result
}

/**
 * Opens `dataDir` read-only, runs `use`, and closes it: for commands that only read (inspect, query, prove,
 * mailbox), which so work while `strata run` or `strata serve` writes the directory, and see its last
 * committed cycle.
 */
export async function withReader<T>(place: Place, use: (rt: Runtime) => Promise<T>): Promise<T> {
  const { Runtime } = await runtimeModule()
  const rt = await Runtime.open({ ...place.options, readOnly: true })
  try {
    return await use(rt)
  } finally {
    await rt.close()
  }
}

/** A PROGRAM argument, checked before anything opens: a program id, or a prefix of one of at least 4 hex digits. */
export function programArg(raw: string): string {
  const hex = (raw.startsWith('0x') ? raw.slice(2) : raw).toLowerCase()
  if (!/^[0-9a-f]{4,64}$/.test(hex)) {
    throw new CliError('BAD_HEX', `PROGRAM must be a program id (64 hex digits, or a unique prefix of at least 4), got ${JSON.stringify(raw)}`)
  }
  return hex
}

/** The one program whose id starts with `prefix` (from programArg). */
export function resolveProgram(rt: Runtime, prefix: string, where: string): ProgramId {
  const matches = rt.programIds().filter((id) => id.startsWith(prefix))
  if (matches.length === 0) {
    throw new CliError('UNKNOWN_PROGRAM', `no program ${prefix} in ${where} (\`strata inspect\` lists them)`)
  }
  if (matches.length > 1) {
    throw new CliError('AMBIGUOUS_PROGRAM', `program prefix ${prefix} matches ${matches.length} programs in ${where}: give more digits`)
  }
  return matches[0]!
}

/**
 * Runs `use` with Ctrl-C made gentle: the first SIGINT only sets the flag `use` polls (`await stopped()`), so it
 * can stop after the current cycle and close the directory cleanly; a second one ends the process at once.
 * `stopped` first yields to the event loop: cycles that need no I/O resolve as promise jobs alone, and would
 * otherwise never let the signal's callback run.
 */
export async function interruptible<T>(use: (stopped: () => Promise<boolean>) => Promise<T>): Promise<T> {
  let requested = false
  const handler = (): void => {
    if (requested) process.exit(130)
    requested = true
    process.stderr.write('\nstrata: stopping after this cycle (Ctrl-C again to quit at once)\n')
  }
  process.on('SIGINT', handler)
  try {
    return await use(async () => {
      await new Promise((resolve) => setImmediate(resolve))
      return requested
    })
  } finally {
    process.off('SIGINT', handler)
  }
}
