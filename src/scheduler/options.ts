/**
 * Runtime.open's options: their types, one table of bounds (each with its reason), and the checks that turn
 * what a caller passed into settled values before anything touches the disk.
 */
import path from 'node:path'
import { printableName } from '../bytes.js'
import {
  CYCLE_GAS_BUDGET_DEFAULT, DATA_DIR_DEFAULT, LEASE_TERM_MS_MAX, LEASE_TERM_MS_MIN, MESSAGE_TIMEOUT_MS_DEFAULT, NODES_MAX, PROGRAM_PLANES_MAX_DEFAULT,
  QUEUE_LENGTH_MAX_DEFAULT, RESIDENT_BYTES_MAX_DEFAULT, STREAMS_MAX, WORKER_HEAP_MB_DEFAULT,
} from '../constants.js'
import { StrataError, describeValue } from '../errors.js'
import { GAS_SCHEDULE, type GasSchedule } from '../gas/index.js'
import { RuntimeErrorCode } from './errors.js'
import { defaultStreamCount } from './pool.js'

export interface RuntimeOptions {
  /**
   * Where the runtime keeps its state (LMDB; created if absent, resumed if not). Default `./data`. One runtime
   * (one process) may hold a directory at a time: a second open fails with LOCKED.
   */
  readonly dataDir?: string
  /**
   * 'lmdb' (the default): durable state in `dataDir`. 'memory': nothing survives close; for tests and
   * throwaway runs. 'postgres': durable state in the PostgreSQL database at `url`, read through a local LMDB
   * replica in `cacheDir` (docs/cluster.md); a writer holds the database's cycle lease (the coordinator's role)
   * while it is open, and fails LEASE_HELD while another live writer holds it (or waits, with `standby`).
   */
  readonly store?: 'lmdb' | 'memory' | 'postgres'
  /** With store: 'postgres' (required then): the database, a postgres:// or postgresql:// URL. */
  readonly url?: string
  /**
   * With store: 'postgres': the node-local directory of the replica (created if absent). Default: a directory
   * under the OS temp directory named from the URL and the database's identity (a reader's gets `-read-N`
   * added: readers and the writer never share one).
   */
  readonly cacheDir?: string
  /**
   * Durable commits (default true): a cycle is on disk when runCycle resolves. false skips fsync: faster, and a
   * crash of the process loses nothing, but a power loss or OS crash can lose recent cycles or corrupt the
   * store (docs/architecture.md). LMDB only.
   */
  readonly sync?: boolean
  /**
   * Open an existing LMDB data directory for reading only, beside the process that writes it (`strata run`,
   * `strata serve`): no lock is taken, nothing can change, and every read sees one committed cycle, the last one
   * when opened or when `refresh()` was last called. Queries run on the calling thread (streams is 0). With
   * store: 'postgres', the same over a database: no writer epoch is taken, and the reader follows the commit log
   * into a replica of its own (docs/cluster.md).
   */
  readonly readOnly?: boolean
  /**
   * With store: 'postgres' (the writer): run each cycle's streams on K node processes (`strata node --stream k`,
   * docs/cluster.md), 1..NODES_MAX. `streams` is then K, and stream k's task goes to the node holding the lease
   * `stream/k`; a stream whose lease no live node holds runs on this process. The roots are those of one node.
   */
  readonly nodes?: number
  /** With store: 'postgres' (the writer): this coordinator's name in the cycle lease (default `<hostname>:<pid>`). */
  readonly node?: string
  /**
   * With store: 'postgres' (the writer): the cycle lease's term in ms (default 5,000), renewed at a third of it.
   * A coordinator that dies is replaced by a standby within it; one that cannot renew it (paused, cut off from
   * the database) commits nothing more once it has passed.
   */
  readonly leaseTermMs?: number
  /**
   * With store: 'postgres' (the writer): while another coordinator holds the cycle lease, wait for it (open
   * resolves when that one stops or dies) instead of failing LEASE_HELD.
   */
  readonly standby?: boolean
  /** Plane bytes each stream keeps resident between cycles (an LRU budget); default 256 MiB. */
  readonly residentBytesMax?: number
  /**
   * Parallel streams, each a pinned worker thread (default: one per core). 0 runs every message on the calling
   * thread, in one stream: the sequential reference, with a per-message deadline instead of a worker abort.
   */
  readonly streams?: number
  /**
   * The watchdog, a last resort: a stream worker that makes no progress on one message for this long is replaced
   * and the stream's part of the cycle runs again from committed memory; if it stalls again, the runtime faults
   * (FAULTED, nothing of the cycle committed). Gas, not time, ends runaway programs, so this fires only when the
   * machine or Strata itself misbehaves. Default 120 s. Streams only (with streams: 0 nothing can stop the thread).
   */
  readonly messageTimeoutMs?: number
  /** Heap limit of each stream worker, in MiB. */
  readonly workerHeapMb?: number
  /** Summed gas limits one cycle may take from the queue. */
  readonly cycleGasBudget?: number
  /** Messages the queue may hold before `send` is refused. */
  readonly queueLengthMax?: number
  readonly schedule?: GasSchedule
  /** Each program's plane budget. */
  readonly planesMax?: number
}

/** The numeric options: their bounds, defaults, and why the bounds are where they are. */
type NumericOption = 'streams' | 'cycleGasBudget' | 'queueLengthMax' | 'messageTimeoutMs' | 'workerHeapMb' | 'planesMax'
  | 'residentBytesMax'

interface Bound {
  readonly min: number
  readonly max: number
  readonly default: () => number
  readonly reason: string
}

export const OPTION_BOUNDS: Readonly<Record<NumericOption, Bound>> = {
  streams: {
    min: 0, max: STREAMS_MAX, default: defaultStreamCount,
    reason: '0 runs on the calling thread; one worker per core is the design, and STREAMS_MAX bounds threads on large machines',
  },
  cycleGasBudget: {
    min: 1, max: Number.MAX_SAFE_INTEGER, default: () => CYCLE_GAS_BUDGET_DEFAULT,
    reason: 'a cycle always takes at least one message; sums of gas stay exact as safe integers',
  },
  queueLengthMax: {
    min: 1, max: 100_000_000, default: () => QUEUE_LENGTH_MAX_DEFAULT,
    reason: 'backpressure before memory runs out: 10^8 queued small messages is tens of GiB of records',
  },
  messageTimeoutMs: {
    min: 1, max: 3_600_000, default: () => MESSAGE_TIMEOUT_MS_DEFAULT,
    reason: 'the watchdog fires on machine faults, not programs; an hour is the longest stall worth waiting out',
  },
  workerHeapMb: {
    min: 16, max: 65_536, default: () => WORKER_HEAP_MB_DEFAULT,
    reason: 'below 16 MiB a worker cannot load the engine; 64 GiB is past any machine this runs on',
  },
  planesMax: {
    min: 1, max: PROGRAM_PLANES_MAX_DEFAULT * 8, default: () => PROGRAM_PLANES_MAX_DEFAULT,
    reason: 'a program needs a plane to hold state; 8x the default (16 GiB a program) bounds what one program makes every node store',
  },
  residentBytesMax: {
    min: 0, max: Number.MAX_SAFE_INTEGER, default: () => RESIDENT_BYTES_MAX_DEFAULT,
    reason: '0 keeps nothing resident between cycles (every touch reads the store)',
  },
}

const OPTION_KEYS = new Set<string>([
  'dataDir', 'store', 'url', 'cacheDir', 'sync', 'readOnly', 'schedule', 'nodes', 'node', 'leaseTermMs', 'standby', ...Object.keys(OPTION_BOUNDS),
])
/** Coordinator names are short labels stored in the lease row (lease.ts: LEASE_HOLDER_SIZE_MAX_CHARS, less a tenure suffix). */
export const NODE_NAME_SIZE_MAX_CHARS = 180
/** The schemes a PostgreSQL URL may use (libpq's two spellings). */
const POSTGRES_URL_SCHEMES: readonly string[] = ['postgres:', 'postgresql:']

/** Options with every default filled in and every bound checked. */
export interface SettledOptions extends Readonly<Record<NumericOption, number>> {
  readonly store: 'lmdb' | 'memory' | 'postgres'
  /** Absolute, for the LMDB store; undefined for the memory and PostgreSQL stores. */
  readonly dataDir: string | undefined
  /** The database URL, for the PostgreSQL store. */
  readonly url: string | undefined
  /** Absolute, for the PostgreSQL store when given; undefined for its default (and for the other stores). */
  readonly cacheDir: string | undefined
  readonly sync: boolean | undefined
  readonly readOnly: boolean
  readonly schedule: GasSchedule
  /** Nodes that run the streams (store: 'postgres' writers only); streams equals it then. */
  readonly nodes: number | undefined
  /** The PostgreSQL writer's cycle lease: name, term, standby (undefined: the store's defaults). */
  readonly coordinator: { readonly node?: string; readonly leaseTermMs?: number; readonly standby?: boolean }
}

/** Checks every option (unknown ones too) and fills in defaults; throws INVALID_OPTION naming the first bad one. */
export function settleOptions(options: RuntimeOptions): SettledOptions {
  if (typeof options !== 'object' || options === null) {
    throw new StrataError(RuntimeErrorCode.INVALID_OPTION, `options must be an object, got ${describeValue(options)}`)
  }
  // A misspelt option would silently fall back to its default: refuse it instead.
  const unknown = Object.keys(options).filter((key) => !OPTION_KEYS.has(key))
  if (unknown.length > 0) {
    throw new StrataError(RuntimeErrorCode.INVALID_OPTION,
      `unknown option ${JSON.stringify(unknown[0])}; known: ${[...OPTION_KEYS].join(', ')}`)
  }
  const store = options.store ?? 'lmdb'
  if (store !== 'lmdb' && store !== 'memory' && store !== 'postgres') {
    throw new StrataError(RuntimeErrorCode.INVALID_OPTION, `store must be 'lmdb', 'memory' or 'postgres', got ${describeValue(store)}`)
  }
  const { url, cacheDir } = settlePostgres(options, store)
  if (store === 'memory' && (options.dataDir !== undefined || options.sync !== undefined)) {
    throw new StrataError(RuntimeErrorCode.INVALID_OPTION, `dataDir and sync apply to the lmdb store, not to store: 'memory'`)
  }
  if (options.sync !== undefined && typeof options.sync !== 'boolean') {
    throw new StrataError(RuntimeErrorCode.INVALID_OPTION, `sync must be a boolean, got ${describeValue(options.sync)}`)
  }
  const readOnly = options.readOnly ?? false
  if (typeof readOnly !== 'boolean') {
    throw new StrataError(RuntimeErrorCode.INVALID_OPTION, `readOnly must be a boolean, got ${describeValue(readOnly)}`)
  }
  if (readOnly && (store === 'memory' || options.sync !== undefined)) {
    throw new StrataError(RuntimeErrorCode.INVALID_OPTION,
      `readOnly opens an existing LMDB data directory or PostgreSQL database; it takes neither store: 'memory' nor sync`)
  }
  const dirOption = options.dataDir ?? DATA_DIR_DEFAULT
  if (typeof dirOption !== 'string' || dirOption.length === 0) {
    throw new StrataError(RuntimeErrorCode.INVALID_OPTION, `dataDir must be a non-empty path, got ${describeValue(dirOption)}`)
  }
  const numbers = {} as Record<NumericOption, number>
  for (const [name, bound] of Object.entries(OPTION_BOUNDS) as [NumericOption, Bound][]) {
    const value = options[name]
    numbers[name] = value === undefined ? bound.default() : integerOption(name, value, bound.min, bound.max)
  }
  const nodes = settleNodes(options, store, readOnly)
  const coordinator = settleCoordinator(options, store, readOnly)
  return {
    coordinator,
    ...numbers, store, dataDir: store === 'lmdb' ? path.resolve(dirOption) : undefined, url, cacheDir, sync: options.sync, readOnly, nodes,
    // A reader runs nothing but queries, on its own thread: it starts no stream workers.
    ...(readOnly ? { streams: 0 } : {}),
    // With nodes, stream k is node k's: the assignment by program id over K streams, as one node with K streams.
    ...(nodes !== undefined ? { streams: nodes } : {}),
    schedule: options.schedule === undefined ? GAS_SCHEDULE : checkedSchedule(options.schedule),
  }
}

/** `node`, `leaseTermMs`, `standby`: the cycle lease of a PostgreSQL writer, and only of one. */
function settleCoordinator(options: RuntimeOptions, store: SettledOptions['store'], readOnly: boolean): SettledOptions['coordinator'] {
  const { node, leaseTermMs, standby } = options
  if (node === undefined && leaseTermMs === undefined && standby === undefined) return {}
  if (store !== 'postgres' || readOnly) {
    throw new StrataError(RuntimeErrorCode.INVALID_OPTION,
      `node, leaseTermMs and standby apply to a writer on store: 'postgres' (the cluster's coordinator), not to ${readOnly ? 'a read-only runtime' : `store: '${store}'`}`)
  }
  if (node !== undefined && (typeof node !== 'string' || node.length === 0 || node.length > NODE_NAME_SIZE_MAX_CHARS || !printableName(node))) {
    throw new StrataError(RuntimeErrorCode.INVALID_OPTION,
      `node must be a name of 1..${NODE_NAME_SIZE_MAX_CHARS} printable characters (no control characters or lone surrogates), got ${describeValue(node)}`)
  }
  if (standby !== undefined && typeof standby !== 'boolean') {
    throw new StrataError(RuntimeErrorCode.INVALID_OPTION, `standby must be a boolean, got ${describeValue(standby)}`)
  }
  return {
    ...(node !== undefined ? { node } : {}), ...(standby !== undefined ? { standby } : {}),
    ...(leaseTermMs !== undefined ? { leaseTermMs: integerOption('leaseTermMs', leaseTermMs, LEASE_TERM_MS_MIN, LEASE_TERM_MS_MAX) } : {}),
  }
}

/** `nodes`: 1..NODES_MAX, for a PostgreSQL writer only; `streams`, if given too, must be the same number. */
function settleNodes(options: RuntimeOptions, store: SettledOptions['store'], readOnly: boolean): number | undefined {
  if (options.nodes === undefined) return undefined
  const nodes = integerOption('nodes', options.nodes, 1, NODES_MAX)
  if (store !== 'postgres' || readOnly) {
    throw new StrataError(RuntimeErrorCode.INVALID_OPTION,
      `nodes applies to a writer on store: 'postgres' (the cluster's coordinator), not to ${readOnly ? 'a read-only runtime' : `store: '${store}'`}`)
  }
  // A node runs its tasks with the default schedule and plane budget (tasks do not carry them): other values
  // would give nodes and coordinator different outcomes, so they are refused rather than silently diverging.
  if (options.schedule !== undefined || (options.planesMax !== undefined && options.planesMax !== PROGRAM_PLANES_MAX_DEFAULT)) {
    throw new StrataError(RuntimeErrorCode.INVALID_OPTION,
      `with nodes, schedule and planesMax keep their defaults (nodes run tasks with GAS_SCHEDULE and ${PROGRAM_PLANES_MAX_DEFAULT} planes); got ${options.schedule !== undefined ? 'a schedule' : `planesMax: ${describeValue(options.planesMax)}`}`)
  }
  if (options.streams !== undefined && options.streams !== nodes) {
    throw new StrataError(RuntimeErrorCode.INVALID_OPTION,
      `with nodes: ${nodes}, streams is ${nodes} (one stream per node); got streams: ${describeValue(options.streams)}`)
  }
  return nodes
}

/** The PostgreSQL store's options: url required and a postgres(ql):// URL, cacheDir a path; neither elsewhere. */
function settlePostgres(options: RuntimeOptions, store: SettledOptions['store']): { url: string | undefined; cacheDir: string | undefined } {
  if (store !== 'postgres') {
    if (options.url !== undefined || options.cacheDir !== undefined) {
      throw new StrataError(RuntimeErrorCode.INVALID_OPTION, `url and cacheDir apply to store: 'postgres', not to store: '${store}'`)
    }
    return { url: undefined, cacheDir: undefined }
  }
  if (options.dataDir !== undefined) {
    throw new StrataError(RuntimeErrorCode.INVALID_OPTION,
      `dataDir applies to the lmdb store; store: 'postgres' keeps its local replica in cacheDir`)
  }
  const { url, cacheDir } = options
  if (url === undefined) {
    throw new StrataError(RuntimeErrorCode.INVALID_OPTION, `store: 'postgres' needs url, a postgres:// or postgresql:// URL`)
  }
  let scheme: string | undefined
  try {
    scheme = typeof url === 'string' ? new URL(url).protocol : undefined
  } catch {
    scheme = undefined
  }
  if (scheme === undefined || !POSTGRES_URL_SCHEMES.includes(scheme)) {
    // Never echo a URL that may hold a password: only its type, or its scheme.
    const shown = typeof url !== 'string' ? describeValue(url) : scheme === undefined ? 'a string that is not a URL' : `a ${scheme}// URL`
    throw new StrataError(RuntimeErrorCode.INVALID_OPTION, `url must be a postgres:// or postgresql:// URL string, got ${shown}`)
  }
  if (cacheDir !== undefined && (typeof cacheDir !== 'string' || cacheDir.length === 0)) {
    throw new StrataError(RuntimeErrorCode.INVALID_OPTION, `cacheDir must be a non-empty path, got ${describeValue(cacheDir)}`)
  }
  return { url, cacheDir: cacheDir === undefined ? undefined : path.resolve(cacheDir) }
}

/**
 * The largest base or per-byte fee a schedule row may have: 10^6 gas a byte still prices the largest payload
 * (1 MiB) at about 10^12, far inside the safe integers that gas sums are kept in; no real price comes near it.
 */
export const GAS_ROW_MAX = 1_000_000

/** A caller's gas schedule: every row of GAS_SCHEDULE, each fee an integer in 0..GAS_ROW_MAX, no other key; copied and frozen. */
function checkedSchedule(value: unknown): GasSchedule {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new StrataError(RuntimeErrorCode.INVALID_OPTION, `schedule must be a gas schedule object, got ${describeValue(value)}`)
  }
  const rows = value as Record<string, unknown>
  const extra = Object.keys(rows).find((key) => !Object.hasOwn(GAS_SCHEDULE, key))
  if (extra !== undefined) {
    throw new StrataError(RuntimeErrorCode.INVALID_OPTION, `schedule has an unknown row ${JSON.stringify(extra)}`)
  }
  const copy: Record<string, { base: number; perByte: number }> = {}
  for (const name of Object.keys(GAS_SCHEDULE)) {
    const row = rows[name] as Record<string, unknown> | undefined
    if (typeof row !== 'object' || row === null) {
      throw new StrataError(RuntimeErrorCode.INVALID_OPTION, `schedule.${name} must be { base, perByte }, got ${describeValue(row)}`)
    }
    copy[name] = Object.freeze({
      base: integerOption(`schedule.${name}.base`, row['base'], 0, GAS_ROW_MAX),
      perByte: integerOption(`schedule.${name}.perByte`, row['perByte'], 0, GAS_ROW_MAX),
    })
  }
  return Object.freeze(copy) as unknown as GasSchedule
}

/** An integer argument in min..max, or INVALID_OPTION naming it. */
export function integerOption(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new StrataError(RuntimeErrorCode.INVALID_OPTION,
      `${name} must be an integer in ${min}..${max}, got ${describeValue(value)}`, { [name]: value })
  }
  return value
}
