/**
 * The PostgreSQL schema of a Strata database: materialized tables, one per key space of the Store interface, plus
 * the writer row (the fencing epoch), the head and the commit log. Created if absent on every writable open,
 * inside one transaction holding an advisory lock (so two nodes opening a fresh database at once create it once),
 * and checked on every open against the schema version and store format this build reads.
 *
 *   strata_meta      one row: schema version, store format, a random database id (names the replica cache)
 *   strata_writer    one row: epoch (bumped by each writer that opens), holder, when it was taken
 *   strata_head      one row: cycle, state root, commit count, queue head and tail sequence numbers
 *   strata_codes     code id -> blob                       strata_programs  program id -> encoded record
 *   strata_memmeta   program id -> allocator metadata      strata_planes    (program, plane key) -> root
 *   strata_chunks    (program, plane key, chunk index) -> 4,096 bytes; a chunk with no row is zeros
 *   strata_queue     seq -> message                        strata_waitlist  message id -> deadline key, entry
 *   strata_delayed   (cycle, seq) -> message               strata_mailbox   (user, seq) -> entry (trimmed)
 *   strata_nonces    user -> nonce                         strata_merkle    key -> 32-byte value
 *   strata_cycles    cycle -> encoded cycle record         strata_log       commit number -> encoded batch
 *   strata_leases    name -> holder, epoch, expiry (lease.ts: the leases of nodes, on the server's clock)
 *   strata_tasks     (cycle, stream) -> the commit count executed from, the encoded task, the encoded result
 *                    or the failure of the node's worker (JSON: kind, message index, message), and the writer
 *                    epoch of the coordinator that wrote the task (an older coordinator's rows never overwrite,
 *                    answer or delete a newer one's), and its stream workers' heap limit and watchdog time, which
 *                    the node's worker uses (so a message that exhausts the heap fails alike on any process)
 *                    (tasks.ts: a cycle's stream tasks on their way to the nodes and back; transient)
 *   strata_cluster   one row: the node count (streams) of the last coordinator opened with `nodes`, which nodes
 *                    started without a stream read to choose one
 *   strata_inbox     seq -> a client's send (source, destination, payload, gas limit), and once a commit took it,
 *                    that commit and the message id it became or why it was refused (inbox.ts)
 *
 * Values are the store's own encodings (src/store/codec.ts), so a replica is rebuilt from these rows without
 * re-encoding anything. Ids are their 32 raw bytes; bytea sorts bytewise, as LMDB keys do.
 */
import type pg from 'pg'
import { STORE_FORMAT_VERSION } from '../store/index.js'
import { StrataError } from '../errors.js'
import { ClusterErrorCode } from './errors.js'

/** The schema this build writes and reads. Bump it with any change of table or column. */
export const SCHEMA_VERSION = 1
/**
 * The advisory lock (two int4 keys: 'Stra', 1) held while the schema is created or checked, so that concurrent
 * first opens of one database do not race their CREATE TABLEs.
 */
export const SCHEMA_LOCK_KEYS = [0x53747261, 1] as const

const TABLES = `
CREATE TABLE IF NOT EXISTS strata_meta (
  id smallint PRIMARY KEY CHECK (id = 1),
  schema_version integer NOT NULL,
  store_format integer NOT NULL,
  database_id uuid NOT NULL DEFAULT gen_random_uuid(),
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS strata_writer (
  id smallint PRIMARY KEY CHECK (id = 1),
  epoch bigint NOT NULL,
  holder text,
  taken_at timestamptz
);
CREATE TABLE IF NOT EXISTS strata_head (
  id smallint PRIMARY KEY CHECK (id = 1),
  cycle bigint NOT NULL,
  state_root bytea,
  commit_count bigint NOT NULL,
  queue_head bigint NOT NULL,
  queue_tail bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS strata_codes (code_id bytea PRIMARY KEY, blob bytea NOT NULL);
CREATE TABLE IF NOT EXISTS strata_programs (program_id bytea PRIMARY KEY, record bytea NOT NULL);
CREATE TABLE IF NOT EXISTS strata_memmeta (program_id bytea PRIMARY KEY, meta bytea NOT NULL);
CREATE TABLE IF NOT EXISTS strata_planes (
  program_id bytea NOT NULL, plane_key integer NOT NULL, root bytea NOT NULL,
  PRIMARY KEY (program_id, plane_key)
);
CREATE TABLE IF NOT EXISTS strata_chunks (
  program_id bytea NOT NULL, plane_key integer NOT NULL, chunk_index smallint NOT NULL, bytes bytea NOT NULL,
  PRIMARY KEY (program_id, plane_key, chunk_index)
);
CREATE TABLE IF NOT EXISTS strata_queue (seq bigint PRIMARY KEY, message bytea NOT NULL);
CREATE TABLE IF NOT EXISTS strata_waitlist (message_id bytea PRIMARY KEY, deadline bytea NOT NULL UNIQUE, entry bytea NOT NULL);
CREATE TABLE IF NOT EXISTS strata_delayed (cycle bigint NOT NULL, seq integer NOT NULL, message bytea NOT NULL, PRIMARY KEY (cycle, seq));
CREATE TABLE IF NOT EXISTS strata_mailbox (user_id bytea NOT NULL, seq bigint NOT NULL, entry bytea NOT NULL, PRIMARY KEY (user_id, seq));
CREATE TABLE IF NOT EXISTS strata_nonces (user_id bytea PRIMARY KEY, nonce bigint NOT NULL);
CREATE TABLE IF NOT EXISTS strata_merkle (key bytea PRIMARY KEY, value bytea NOT NULL);
CREATE TABLE IF NOT EXISTS strata_cycles (cycle bigint PRIMARY KEY, record bytea NOT NULL);
CREATE TABLE IF NOT EXISTS strata_leases (
  name text PRIMARY KEY, holder text, epoch bigint NOT NULL, expires_at timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS strata_tasks (
  cycle bigint NOT NULL, stream integer NOT NULL, commit_count bigint NOT NULL, task bytea NOT NULL, result bytea,
  failure text, epoch bigint NOT NULL DEFAULT 0, PRIMARY KEY (cycle, stream)
);
ALTER TABLE strata_tasks ADD COLUMN IF NOT EXISTS epoch bigint NOT NULL DEFAULT 0;
ALTER TABLE strata_tasks ADD COLUMN IF NOT EXISTS heap_mb integer NOT NULL DEFAULT 0;
ALTER TABLE strata_tasks ADD COLUMN IF NOT EXISTS timeout_ms integer NOT NULL DEFAULT 0;
CREATE TABLE IF NOT EXISTS strata_cluster (id smallint PRIMARY KEY CHECK (id = 1), nodes integer NOT NULL);
CREATE TABLE IF NOT EXISTS strata_inbox (
  seq bigserial PRIMARY KEY, source bytea NOT NULL, destination bytea NOT NULL, payload bytea NOT NULL, gas_limit bigint NOT NULL,
  accepted_at timestamptz NOT NULL DEFAULT now(), taken_commit bigint, message_id text, refused text
);
CREATE INDEX IF NOT EXISTS strata_inbox_pending ON strata_inbox (seq) WHERE taken_commit IS NULL;
CREATE INDEX IF NOT EXISTS strata_inbox_taken ON strata_inbox (taken_commit) WHERE taken_commit IS NOT NULL;
CREATE TABLE IF NOT EXISTS strata_log (
  commit_number bigint PRIMARY KEY, cycle bigint NOT NULL, state_root bytea NOT NULL,
  batch bytea
);
`

/**
 * Columns of large values compressed with lz4 rather than PostgreSQL's default pglz, where the server has it:
 * measured here on the counter workload, the commit's log row (8.8 MB raw) went from ~120 ms to ~28 ms to write,
 * and came out smaller. Set once (checked on open, so no open takes a table lock for nothing).
 */
const LZ4_COLUMNS = [['strata_log', 'batch'], ['strata_chunks', 'bytes']] as const

/** What an open learns from the schema: the database's identity. */
export interface SchemaInfo {
  /** strata_meta.database_id: random, made with the schema (a dropped and recreated database gets a new one). */
  readonly databaseId: string
  /** The cluster's system identifier (pg_control_system), or '' where the role may not read it. */
  readonly systemId: string
}

/**
 * Creates the schema if absent (idempotent) and checks its version and store format, in one transaction under
 * the schema advisory lock. FORMAT_VERSION if the database was written by another schema or format.
 */
export async function ensureSchema(client: pg.Client): Promise<SchemaInfo> {
  await client.query('BEGIN')
  try {
    await client.query('SELECT pg_advisory_xact_lock($1, $2)', [...SCHEMA_LOCK_KEYS])
    await client.query(TABLES)
    await preferLz4(client)
    await client.query(
      'INSERT INTO strata_meta (id, schema_version, store_format) VALUES (1, $1, $2) ON CONFLICT (id) DO NOTHING',
      [SCHEMA_VERSION, STORE_FORMAT_VERSION])
    await client.query('INSERT INTO strata_writer (id, epoch) VALUES (1, 0) ON CONFLICT (id) DO NOTHING')
    await client.query(`INSERT INTO strata_head (id, cycle, state_root, commit_count, queue_head, queue_tail)
      VALUES (1, 0, NULL, 0, 0, 0) ON CONFLICT (id) DO NOTHING`)
    const meta = await client.query<{ schema_version: number; store_format: number; database_id: string }>(
      'SELECT schema_version, store_format, database_id FROM strata_meta WHERE id = 1')
    const row = meta.rows[0]!
    checkVersion(row)
    await client.query('COMMIT')
    return { databaseId: row.database_id, systemId: await systemIdentifier(client) }
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined)
    throw error
  }
}

/**
 * Checks, without creating or changing anything, that the database holds a Strata schema of this version and
 * store format (what a read-only open needs): NOT_FOUND if it holds none (an empty or unrelated database, or a
 * mistyped name), FORMAT_VERSION if another version.
 */
export async function checkSchema(client: pg.Client, where: string): Promise<SchemaInfo> {
  const present = await client.query<{ meta: string | null }>("SELECT to_regclass('strata_meta')::text AS meta")
  if (present.rows[0]?.meta == null) {
    throw new StrataError(ClusterErrorCode.NOT_FOUND,
      `the database ${where} holds no Strata store (no strata_meta table); a writer creates it (\`Runtime.open({ store: 'postgres', url })\`)`,
      { where })
  }
  const meta = await client.query<{ schema_version: number; store_format: number; database_id: string }>(
    'SELECT schema_version, store_format, database_id FROM strata_meta WHERE id = 1')
  const row = meta.rows[0]
  if (row === undefined) {
    throw new StrataError(ClusterErrorCode.NOT_FOUND, `the database ${where} holds an unfinished Strata schema (strata_meta has no row)`, { where })
  }
  checkVersion(row)
  return { databaseId: row.database_id, systemId: await systemIdentifier(client) }
}

function checkVersion(row: { schema_version: number; store_format: number }): void {
  if (row.schema_version !== SCHEMA_VERSION || row.store_format !== STORE_FORMAT_VERSION) {
    throw new StrataError(ClusterErrorCode.FORMAT_VERSION,
      `the database holds Strata schema ${row.schema_version} with store format ${row.store_format}; this build reads schema ${SCHEMA_VERSION} with store format ${STORE_FORMAT_VERSION}`
      + (row.schema_version > SCHEMA_VERSION ? ' (written by a newer Strata: upgrade)' : ''),
      { found: row.schema_version, expected: SCHEMA_VERSION, storeFormat: row.store_format })
  }
}

/** Switches LZ4_COLUMNS to lz4 compression where it is not yet and the server supports it (PostgreSQL 14+, built with lz4). */
async function preferLz4(client: pg.Client): Promise<void> {
  for (const [table, column] of LZ4_COLUMNS) {
    const current = await client.query<{ c: string }>(
      'SELECT attcompression::text AS c FROM pg_attribute WHERE attrelid = $1::regclass AND attname = $2', [table, column])
    if (current.rows[0]?.c === 'l') continue
    await client.query('SAVEPOINT strata_lz4')
    try {
      await client.query(`ALTER TABLE ${table} ALTER COLUMN ${column} SET COMPRESSION lz4`)
      await client.query('RELEASE SAVEPOINT strata_lz4')
    } catch {
      // Not built with lz4 (or older than 14): the default compression stays.
      await client.query('ROLLBACK TO SAVEPOINT strata_lz4')
      return
    }
  }
}

/** The cluster's system identifier; '' if this role may not call pg_control_system (it needs pg_monitor or more). */
async function systemIdentifier(client: pg.Client): Promise<string> {
  try {
    const result = await client.query<{ system_identifier: string }>('SELECT system_identifier::text FROM pg_control_system()')
    return result.rows[0]?.system_identifier ?? ''
  } catch {
    return ''
  }
}
