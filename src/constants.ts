/**
 * Every limit and size in Strata, each with the reason it has that value. Units come last in names.
 * Relations between them are asserted at import so an edit that breaks one fails at once.
 */
import { assert } from './errors.js'

// ---- 3D memory geometry (DESIGN.md, Memory3D) -------------------------------------------------------------

/** A plane is 64 KiB: Memory3D's plane and Gear's wasm page; the unit of storage, dirty tracking and page gas. */
export const PLANE_SIZE_BYTES = 65_536
/**
 * Dirty tracking inside a plane is per 4 KiB chunk, the Merkle chunk size: a stream rehashes and ships only the
 * chunks a cycle changed, not whole 64 KiB planes.
 */
export const DIRTY_CHUNK_SIZE_BYTES = 4096
/** Offsets are 16 bits: an offset addresses one byte of a plane. */
export const OFFSET_BITS = 16
/** Planes per region are 16 bits: a region is 2^16 planes x 64 KiB = a 4 GiB linear space. */
export const PLANE_BITS = 16
/** Regions per program are 8 bits: Memory3D's region coordinate (X) ranges over 256 regions. */
export const REGION_BITS = 8
export const REGION_COUNT_MAX = 1 << REGION_BITS
export const PLANES_PER_REGION_MAX = 1 << PLANE_BITS
/** Bytes in one region: the span of its linear address space. */
export const REGION_SIZE_BYTES = PLANES_PER_REGION_MAX * PLANE_SIZE_BYTES
/** One past the largest Address3D: 2^40, well inside JS's safe integers (2^53). */
export const ADDRESS_LIMIT = REGION_COUNT_MAX * REGION_SIZE_BYTES

/**
 * Planes a program may hold by default: 32,768 planes = 2 GiB, as Gear caps program memory at 32,768 wasm
 * pages. Configurable per runtime; this bounds what one program can make every node store.
 */
export const PROGRAM_PLANES_MAX_DEFAULT = 32_768
/**
 * The largest single allocation by default: 16 MiB (256 planes). Large enough for real buffers, small enough
 * that one alloc cannot take an eighth of the program's budget in one call. Configurable per memory.
 */
export const ALLOCATION_SIZE_MAX_BYTES_DEFAULT = 16 * 1024 * 1024
/**
 * Allocation alignment: 8 bytes, so any allocation can back a Float64Array/BigInt64Array view and so
 * allocator bookkeeping works in units that never split a word.
 */
export const ALLOCATION_ALIGN_BYTES = 8

// ---- gas ----------------------------------------------------------------------------------------------------

/** Gas is a safe integer; this is the largest gas limit a single counter accepts (2^53 - 1). */
export const GAS_MAX = Number.MAX_SAFE_INTEGER

// ---- bytecode interface -------------------------------------------------------------------------------------

/** Registers in `ProgramMemory.execute`: 16 is enough for any straight-line memory script and fits a nibble. */
export const BYTECODE_REGISTER_COUNT = 16
/** A bytecode program at most 1 MiB: bounds the decode work one call can demand. */
export const BYTECODE_SIZE_MAX_BYTES = 1024 * 1024

assert(PLANE_SIZE_BYTES === 1 << OFFSET_BITS, 'a plane is addressed by exactly OFFSET_BITS')
assert(ADDRESS_LIMIT === 2 ** (REGION_BITS + PLANE_BITS + OFFSET_BITS), 'Address3D packs into 40 bits')
assert(ADDRESS_LIMIT <= Number.MAX_SAFE_INTEGER, 'Address3D must be a safe integer')
assert(PROGRAM_PLANES_MAX_DEFAULT <= REGION_COUNT_MAX * PLANES_PER_REGION_MAX, 'budget within address space')
assert(ALLOCATION_SIZE_MAX_BYTES_DEFAULT <= REGION_SIZE_BYTES, 'an allocation fits in one region')
assert(PLANE_SIZE_BYTES % ALLOCATION_ALIGN_BYTES === 0, 'planes hold whole alignment units')
assert(PLANE_SIZE_BYTES / DIRTY_CHUNK_SIZE_BYTES <= 31, 'a plane\'s dirty chunks fit a small-integer bitmask')

// ---- messages and programs ----------------------------------------------------------------------------------

/**
 * A message payload at most 1 MiB: bounds what one message makes the queue, the journal and a mailbox hold.
 * (Gear allows 8 MiB; Strata's payloads cross threads in batches, so it stays smaller.)
 */
export const PAYLOAD_SIZE_MAX_BYTES = 1024 * 1024
/** The largest gas limit of one message: 50 G, enough to fill a program's whole 2 GiB memory with room left. */
export const MESSAGE_GAS_LIMIT_MAX = 50_000_000_000
/** Messages one handler may emit (sends + program creations + reply): bounds a journal entry. */
export const SENDS_PER_MESSAGE_MAX = 1024
/** Encoded `ctx.state` at most 4 MiB: state is loaded whole on first access, so it must stay small. */
export const STATE_SIZE_MAX_BYTES = 4 * 1024 * 1024
/** Nesting depth of `ctx.state` at most 64: bounds the encoder's recursion. */
export const STATE_DEPTH_MAX = 64
/** Error text carried in an error reply's payload at most 1 KiB: enough for a message, not for a dump. */
export const ERROR_TEXT_MAX_BYTES = 1024
/** Console lines kept per message (for debugging output in the journal). */
export const LOG_LINES_MAX = 64
/** Each kept console line at most 1 KiB. */
export const LOG_LINE_MAX_BYTES = 1024
/** A waiting message is removed (with a WAIT_TIMEOUT reply) after this many cycles unless it says otherwise. */
export const WAIT_CYCLES_DEFAULT = 100
/** The longest wait a program may ask for: bounds how long the waitlist holds a message and its gas. */
export const WAIT_CYCLES_MAX = 100_000
/** The longest delay of a delayed send: bounds the horizon of the delayed-message schedule. */
export const DELAY_CYCLES_MAX = 1_000_000
/** A createProgram salt at most 256 bytes: it is hashed into the program id and stored nowhere else. */
export const SALT_SIZE_MAX_BYTES = 256
/** A bundled code blob at most 4 MiB: codes are stored forever and loaded into every stream that runs them. */
export const CODE_SIZE_MAX_BYTES = 4 * 1024 * 1024
/**
 * Default gas for `query` and the ceiling of `estimateGas`'s search: 1 G, about a second of compute on the calling
 * thread, where queries run (gas, not a timer, bounds them).
 */
export const QUERY_GAS_LIMIT_DEFAULT = 1_000_000_000

assert(SALT_SIZE_MAX_BYTES <= PAYLOAD_SIZE_MAX_BYTES, 'a salt is never larger than a payload')
assert(STATE_SIZE_MAX_BYTES <= ALLOCATION_SIZE_MAX_BYTES_DEFAULT, 'encoded state fits one heap allocation')
assert(MESSAGE_GAS_LIMIT_MAX <= GAS_MAX, 'message gas limits are gas')

// ---- scheduler ------------------------------------------------------------------------------------------------

/**
 * Summed gas limits one cycle may take from the queue by default: 10^12, a million messages of 1 M gas. A cycle
 * always takes at least one message, so a large one never blocks the queue.
 */
export const CYCLE_GAS_BUDGET_DEFAULT = 1_000_000_000_000
/** Messages the queue may hold before `send` is refused (backpressure, never silent loss). */
export const QUEUE_LENGTH_MAX_DEFAULT = 1_000_000
/** Messages one cycle takes at most, whatever their gas: bounds a cycle's journal and commit. */
export const CYCLE_MESSAGES_MAX = 100_000
/** Entries a user's mailbox keeps; older ones are dropped first (their gas was refunded on arrival). */
export const MAILBOX_SIZE_MAX = 10_000
/**
 * The watchdog's default: a stream worker stuck on one message for 120 s has stopped answering. Gas ends runaway
 * programs (1 gas is about 1 ns here, docs/gas.md), and the largest message, 50 G gas, is about 50 s of work, so a
 * healthy message never gets near it.
 */
export const MESSAGE_TIMEOUT_MS_DEFAULT = 120_000
/** Old-generation heap of one stream worker: a program that exhausts it kills only its own stream's worker. */
export const WORKER_HEAP_MB_DEFAULT = 2048
/**
 * Resident plane bytes each stream keeps between cycles (its LRU budget) by default: 256 MiB is 4,096 planes,
 * the working set of thousands of small programs, and leaves a 2-core, few-GiB machine room for two streams,
 * the main thread and the OS page cache that LMDB reads through. Evicted programs are read again when touched.
 */
export const RESIDENT_BYTES_MAX_DEFAULT = 256 * 1024 * 1024
/** Decoded program commitments the main thread keeps (LRU); others are restored from stored plane roots. */
export const COMMITMENTS_CACHED_MAX = 4096
/** Decoded read-only memory views (inspection, queries) the main thread keeps (LRU). */
export const VIEWS_CACHED_MAX = 64
/** Where Runtime.open and the CLI keep their data when no directory is named. */
export const DATA_DIR_DEFAULT = './data'
/** Streams at most: one per core is the design; 64 bounds threads and per-stream state on large machines. */
export const STREAMS_MAX = 64
/**
 * Nodes of a cluster at most (Runtime.open's `nodes`): each node runs one stream, so the stream bound is the node
 * bound; each also holds a PostgreSQL connection, and the coordinator waits on all of them every cycle.
 */
export const NODES_MAX = STREAMS_MAX

/**
 * A lease's default term (cluster leases: the coordinator's cycle lease and the nodes' stream leases): its
 * holder renews it at a third of it, so one lost renewal (a GC pause, a slow query) does not cost the lease,
 * while a dead holder's role passes on within seconds.
 */
export const LEASE_TERM_MS_DEFAULT = 5_000
/** Terms shorter than this cannot be renewed in time across a database round trip and a busy event loop. */
export const LEASE_TERM_MS_MIN = 100
/** Terms longer than an hour leave a dead holder's role unowned for longer than any failover should take. */
export const LEASE_TERM_MS_MAX = 3_600_000
