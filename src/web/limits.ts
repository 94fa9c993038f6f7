/** Every limit of the inspector server, each with its reason. */
import { PAYLOAD_SIZE_MAX_BYTES } from '../constants.js'
import { assert } from '../errors.js'

/** `strata serve`'s default port: unassigned by IANA, easy to remember ("S-T-R-A" on nothing in particular). */
export const PORT_DEFAULT = 7341
/** Loopback only by default: the inspector has no TLS and its GETs need no token. */
export const HOST_DEFAULT = '127.0.0.1'
/** A cycle a second when there is work: fast enough to watch, slow enough to read. */
export const INTERVAL_MS_DEFAULT = 1000
/** Longer intervals than a day are a mistake, not a setting. */
export const INTERVAL_MS_MAX = 86_400_000

/** A 1 MiB payload in hex is 2 MiB; the rest of a send body is small. */
export const REQUEST_BODY_MAX_BYTES = 3 * 1024 * 1024
assert(REQUEST_BODY_MAX_BYTES > 2 * PAYLOAD_SIZE_MAX_BYTES, 'a largest payload fits a request body as hex')
/** A socket idle this long is closed (SSE sockets are exempt: their heartbeat keeps them busy). */
export const CONNECTION_TIMEOUT_MS = 30_000
/** A whole request (headers and body) must arrive within this: a slow client cannot hold a socket forever. */
export const REQUEST_TIMEOUT_MS = 10_000
/** How often Node checks requests against REQUEST_TIMEOUT_MS (its default, 30 s, would triple the timeout). */
export const TIMEOUT_CHECK_INTERVAL_MS = 1000

/** CycleEntry kept from cycles seen live: /api/cycles' limit. */
export const CYCLES_KEPT = 500
/** What /api/cycles returns without ?limit. */
export const CYCLES_LIMIT_DEFAULT = 100
/** Outcomes kept from cycles seen live: /api/outcomes' limit. */
export const OUTCOMES_KEPT = 1000
/** What /api/outcomes returns without ?limit. */
export const OUTCOMES_LIMIT_DEFAULT = 100
/** A program's recentDirty covers the planes written in this many of the last live cycles. */
export const RECENT_DIRTY_CYCLES = 64
assert(RECENT_DIRTY_CYCLES <= CYCLES_KEPT, 'recent dirty planes come from the kept cycles')

/** Programs listed per page of /api/programs. */
export const PROGRAMS_LIMIT_MAX = 200
export const PROGRAMS_LIMIT_DEFAULT = 50
/** /api/programs filters at most this many programs per request (memory roots cost a hash walk each). */
export const PROGRAMS_SCAN_MAX = 100_000
/** Queue messages per page of /api/queue (the runtime allows more; a page shows far fewer). */
export const QUEUE_LIMIT_MAX = 1000
export const QUEUE_LIMIT_DEFAULT = 100
/** Waitlist entries and delayed messages listed at most: both can hold many thousands. */
export const LIST_ENTRIES_MAX = 1000
/** Bytes of /memory per request: one plane. */
export const MEMORY_READ_MAX_BYTES = 65_536
/** Bytes of a message payload a MessageView carries (as hex and text): enough to recognise it. */
export const PAYLOAD_PREVIEW_BYTES = 256

/** Concurrent /api/events streams: each holds a socket and a buffer. */
export const SSE_STREAMS_MAX = 32
/** A comment on every stream this often, so proxies and the socket timeout see a live connection. */
export const SSE_HEARTBEAT_MS = 15_000
/** A stream whose client reads slower than this much buffered output is dropped (it reconnects and resyncs). */
export const SSE_BUFFER_MAX_BYTES = 4 * 1024 * 1024
assert(SSE_HEARTBEAT_MS < CONNECTION_TIMEOUT_MS, 'heartbeats keep event streams inside the socket timeout')

/**
 * The most gas a query from the page may burn. A runtime on disk runs queries on one query worker (with its own
 * heap limit, so the server's thread is safe), and a hostile handler turns gas into time: a handler allocating in
 * a loop burns about 50 gas a microsecond here (20 M gas in 320-440 ms), so the runtime's default (1 G) would
 * hold that worker, and every query queued behind it, for about 20 s. 20 M bounds that to under half a second
 * and is still 20 times the gas limit of the demo's messages.
 */
export const QUERY_GAS_MAX = 20_000_000

/** Hex prefixes (of ids and roots) are at most a whole id. */
export const HEX_PREFIX_MAX_CHARS = 64
