/**
 * Writing one prepared batch into the materialized tables, inside the commit's transaction. Every part is a
 * multi-row statement over arrays (`unnest`), never one statement per row, and a part that is empty sends
 * nothing. Statements run in the Store's apply order (records, memory, queue, waitlist, delayed, mailboxes,
 * nonces, cycle record, Merkle nodes), so what a later part of a batch does to a row wins, as in the LMDB store.
 *
 * Memory is first folded into its net effect per plane (a batch may drop a program and write it again, or touch
 * one plane twice): which programs lose everything, which planes are cleared or dropped, and the last bytes of
 * every chunk that changed. A chunk of zeros has no row, as it has no blob in LMDB.
 */
import type pg from 'pg'
import { STORE_CHUNK_SIZE_BYTES, type PreparedBatch } from '../store/index.js'

/**
 * Rows per statement: 1,024 chunks of 4 KiB make 4 MiB of parameters, large enough to amortize the round trip
 * (~0.1-0.7 ms here) and small enough to keep the server's memory modest. Small rows (queue messages, Merkle
 * nodes) take more per statement.
 */
export const CHUNK_ROWS_PER_STATEMENT = 1_024
export const SMALL_ROWS_PER_STATEMENT = 8_192
/**
 * Bytes of values per statement: messages carry payloads of up to a MiB, so a row count alone does not bound a
 * statement. 16 MiB keeps each statement's parameters far below PostgreSQL's 1 GiB per value and its memory
 * modest; a single larger row goes in a statement of its own.
 */
export const STATEMENT_BYTES_MAX = 16 * 1024 * 1024

const CHUNKS_PER_PLANE = 16
const ZERO_CHUNK = Buffer.alloc(STORE_CHUNK_SIZE_BYTES)

/** A plane's net change over a batch. */
interface PlaneChange {
  readonly program: Buffer
  readonly key: number
  /** The plane's root after the batch; null: the plane is gone. */
  root: Buffer | null
  /** Every stored chunk of the plane goes before the chunks below are written (fresh, or dropped earlier). */
  clear: boolean
  /** Chunk index -> its bytes after the batch, or null for zeros (no row). */
  readonly chunks: Map<number, Buffer | null>
}

/** Runs the statements that apply `p` to the tables (the caller holds the transaction and the fencing lock). */
export async function materialize(client: pg.Client, p: PreparedBatch, queueHead: number, queueTail: number, mailboxSizeMax: number): Promise<void> {
  if (p.programs.length > 0) {
    const last = lastByKey(p.programs.map((r) => [r.key, r.value] as const))
    await upsert(client, 'strata_programs', ['program_id', 'record'], ['bytea', 'bytea'], 'program_id', last, SMALL_ROWS_PER_STATEMENT)
  }
  await writeMemory(client, p)

  if (p.consumed > 0) await client.query('DELETE FROM strata_queue WHERE seq >= $1 AND seq < $2', [queueHead, queueHead + p.consumed])
  if (p.appended.length > 0) {
    await insert(client, 'strata_queue', ['seq', 'message'], ['bigint', 'bytea'],
      p.appended.map((value, i) => [queueTail + i, asBuffer(value)]), SMALL_ROWS_PER_STATEMENT)
  }

  const unparked = [...p.waitDelete.map((w) => w.key), ...p.waitPut.map((w) => w.key)]
  if (unparked.length > 0) await client.query('DELETE FROM strata_waitlist WHERE message_id = ANY($1::bytea[])', [unparked])
  if (p.waitPut.length > 0) {
    // A message put twice in one batch keeps its last entry (and that entry's deadline).
    const puts = new Map<string, readonly unknown[]>()
    for (const w of p.waitPut) puts.set(w.key.toString('hex'), [w.key, w.deadline, asBuffer(w.value)])
    await insert(client, 'strata_waitlist', ['message_id', 'deadline', 'entry'], ['bytea', 'bytea', 'bytea'], [...puts.values()], SMALL_ROWS_PER_STATEMENT)
  }

  if (p.delayedDelete.length > 0) await client.query('DELETE FROM strata_delayed WHERE cycle = ANY($1::bigint[])', [p.delayedDelete])
  if (p.delayedAppend.length > 0) {
    // Each message goes after the cycle's last one (LMDB's rule): one past the largest sequence stored, read once
    // per batch for every cycle it appends to, then counted on here.
    const next = await nextSequences(client, 'strata_delayed', 'cycle', 'bigint', [...new Set(p.delayedAppend.map((d) => d.cycle))])
    const rows: unknown[][] = []
    for (const { cycle, values } of p.delayedAppend) {
      for (const value of values) {
        const seq = next.get(String(cycle)) ?? 0
        next.set(String(cycle), seq + 1)
        rows.push([cycle, seq, asBuffer(value)])
      }
    }
    await insert(client, 'strata_delayed', ['cycle', 'seq', 'message'], ['bigint', 'integer', 'bytea'], rows, SMALL_ROWS_PER_STATEMENT)
  }

  if (p.mailboxes.length > 0) {
    // Sequence numbers as LMDB's mailbox cursors give them (contiguous per user, from the stored tail on); each
    // mailbox then keeps its newest mailboxSizeMax entries, so entries this batch would trim at once are not sent.
    const users = new Map<string, Buffer>()
    for (const { key } of p.mailboxes) users.set(key.toString('hex'), key)
    const tails = await nextSequences(client, 'strata_mailbox', 'user_id', 'bytea', [...users.values()])
    const entries: [Buffer, number, Buffer][] = []
    for (const { key, values } of p.mailboxes) {
      const user = key.toString('hex')
      for (const value of values) {
        const seq = tails.get(user) ?? 0
        tails.set(user, seq + 1)
        entries.push([key, seq, asBuffer(value)])
      }
    }
    const kept = entries.filter(([key, seq]) => seq >= tails.get(key.toString('hex'))! - mailboxSizeMax)
    await insert(client, 'strata_mailbox', ['user_id', 'seq', 'entry'], ['bytea', 'bigint', 'bytea'], kept, SMALL_ROWS_PER_STATEMENT)
    const trims = [...users].map(([user, key]) => [key, tails.get(user)! - mailboxSizeMax] as const).filter(([, below]) => below > 0)
    if (trims.length > 0) {
      await client.query(`DELETE FROM strata_mailbox m USING unnest($1::bytea[], $2::bigint[]) AS t(user_id, below)
        WHERE m.user_id = t.user_id AND m.seq < t.below`, columns(trims, 2))
    }
  }

  if (p.nonces.length > 0) {
    const last = lastByKey(p.nonces.map((n) => [n.key, n.nonce] as const))
    await upsert(client, 'strata_nonces', ['user_id', 'nonce'], ['bytea', 'bigint'], 'user_id', last, SMALL_ROWS_PER_STATEMENT)
  }
  if (p.cycleRecord !== undefined) {
    await client.query('INSERT INTO strata_cycles (cycle, record) VALUES ($1, $2) ON CONFLICT (cycle) DO UPDATE SET record = EXCLUDED.record',
      [p.cycle, asBuffer(p.cycleRecord)])
  }
  if (p.merkleDelete.length > 0) {
    for (const part of parts(p.merkleDelete, SMALL_ROWS_PER_STATEMENT)) await client.query('DELETE FROM strata_merkle WHERE key = ANY($1::bytea[])', [part])
  }
  if (p.merklePut.length > 0) {
    const last = lastByKey(p.merklePut.map((m) => [m.key, asBuffer(m.value)] as const))
    await upsert(client, 'strata_merkle', ['key', 'value'], ['bytea', 'bytea'], 'key', last, SMALL_ROWS_PER_STATEMENT)
  }
}

async function writeMemory(client: pg.Client, p: PreparedBatch): Promise<void> {
  if (p.memory.length === 0) return
  const droppedPrograms = new Map<string, Buffer>()
  const metas = new Map<string, readonly [Buffer, Buffer]>()
  const planes = new Map<string, PlaneChange>()
  for (const delta of p.memory) {
    const program = delta.program.toString('hex')
    if (delta.dropped) {
      droppedPrograms.set(program, delta.program)
      metas.delete(program)
      for (const [id, change] of planes) if (change.program.equals(delta.program)) planes.delete(id)
      continue
    }
    metas.set(program, [delta.program, asBuffer(delta.meta)])
    for (const plane of delta.planes) {
      const id = `${program}/${plane.key}`
      let change = planes.get(id)
      if (change === undefined) {
        change = { program: delta.program, key: plane.key, root: null, clear: false, chunks: new Map() }
        planes.set(id, change)
      }
      if (plane.root === null) {
        change.root = null
        change.clear = true
        change.chunks.clear()
        continue
      }
      change.root = asBuffer(plane.root)
      if (plane.fresh) {
        change.clear = true
        change.chunks.clear()
      }
      // A plane given whole is written whole: the chunks outside its mask equal what is stored (the Store's
      // contract), so writing them too gives the same rows whether or not the plane was stored before.
      for (let chunk = 0; chunk < CHUNKS_PER_PLANE; chunk += 1) {
        const bytes = plane.whole !== undefined ? plane.whole.subarray(chunk * STORE_CHUNK_SIZE_BYTES, (chunk + 1) * STORE_CHUNK_SIZE_BYTES)
          : plane.chunks[chunk]
        if (bytes === undefined) continue
        const buffer = asBuffer(bytes)
        change.chunks.set(chunk, buffer.equals(ZERO_CHUNK) ? null : buffer)
      }
    }
  }

  if (droppedPrograms.size > 0) {
    await client.query(`WITH c AS (DELETE FROM strata_chunks WHERE program_id = ANY($1::bytea[])),
      p AS (DELETE FROM strata_planes WHERE program_id = ANY($1::bytea[]))
      DELETE FROM strata_memmeta WHERE program_id = ANY($1::bytea[])`, [[...droppedPrograms.values()]])
  }
  if (metas.size > 0) {
    await upsert(client, 'strata_memmeta', ['program_id', 'meta'], ['bytea', 'bytea'], 'program_id', [...metas.values()], SMALL_ROWS_PER_STATEMENT)
  }
  const changes = [...planes.values()]
  const cleared = changes.filter((c) => c.clear)
  for (const part of parts(cleared, SMALL_ROWS_PER_STATEMENT)) {
    await client.query(`DELETE FROM strata_chunks c USING unnest($1::bytea[], $2::integer[]) AS t(program_id, plane_key)
      WHERE c.program_id = t.program_id AND c.plane_key = t.plane_key`, [part.map((c) => c.program), part.map((c) => c.key)])
  }
  const gone = changes.filter((c) => c.root === null)
  for (const part of parts(gone, SMALL_ROWS_PER_STATEMENT)) {
    await client.query(`DELETE FROM strata_planes p USING unnest($1::bytea[], $2::integer[]) AS t(program_id, plane_key)
      WHERE p.program_id = t.program_id AND p.plane_key = t.plane_key`, [part.map((c) => c.program), part.map((c) => c.key)])
  }
  const kept = changes.filter((c) => c.root !== null)
  if (kept.length > 0) {
    await upsert(client, 'strata_planes', ['program_id', 'plane_key', 'root'], ['bytea', 'integer', 'bytea'], 'program_id, plane_key',
      kept.map((c) => [c.program, c.key, c.root]), SMALL_ROWS_PER_STATEMENT)
  }
  const zeroed: unknown[][] = []
  const written: unknown[][] = []
  for (const change of kept) {
    for (const [chunk, bytes] of change.chunks) {
      if (bytes !== null) written.push([change.program, change.key, chunk, bytes])
      else if (!change.clear) zeroed.push([change.program, change.key, chunk])
    }
  }
  for (const part of parts(zeroed, SMALL_ROWS_PER_STATEMENT)) {
    await client.query(`DELETE FROM strata_chunks c USING unnest($1::bytea[], $2::integer[], $3::smallint[]) AS t(program_id, plane_key, chunk_index)
      WHERE c.program_id = t.program_id AND c.plane_key = t.plane_key AND c.chunk_index = t.chunk_index`, columns(part, 3))
  }
  if (written.length > 0) {
    await upsert(client, 'strata_chunks', ['program_id', 'plane_key', 'chunk_index', 'bytes'], ['bytea', 'integer', 'smallint', 'bytea'],
      'program_id, plane_key, chunk_index', written, CHUNK_ROWS_PER_STATEMENT)
  }
}

/** INSERT ... ON CONFLICT (key) DO UPDATE of every other column, over `rows` (see writeRows). */
async function upsert(
  client: pg.Client, table: string, names: readonly string[], types: readonly string[], conflict: string,
  rows: readonly (readonly unknown[])[], rowsPer: number,
): Promise<void> {
  const keyColumns = conflict.split(',').map((c) => c.trim())
  const set = names.filter((n) => !keyColumns.includes(n)).map((n) => `${n} = EXCLUDED.${n}`).join(', ')
  await writeRows(client, table, names, types, rows, rowsPer, ` ON CONFLICT (${conflict}) DO UPDATE SET ${set}`)
}

async function insert(
  client: pg.Client, table: string, names: readonly string[], types: readonly string[], rows: readonly (readonly unknown[])[], rowsPer: number,
): Promise<void> {
  await writeRows(client, table, names, types, rows, rowsPer, '')
}

/**
 * One INSERT ... SELECT per part of `rows` (at most `rowsPer` rows and about STATEMENT_BYTES_MAX bytes of values).
 * A bytea column travels as one binary parameter holding every row's bytes back to back, plus an array of each
 * row's length, and the server cuts it apart: pg sends a Buffer parameter as binary, but an array of Buffers as
 * text (hex: twice the bytes, encoded here and parsed there). Measured on the counter workload's 1,000 chunk rows:
 * ~94 ms a cycle as a bytea[], ~24 ms as one binary parameter.
 */
async function writeRows(
  client: pg.Client, table: string, names: readonly string[], types: readonly string[], rows: readonly (readonly unknown[])[],
  rowsPer: number, conflict: string,
): Promise<void> {
  const bytesOf = (row: readonly unknown[]): number =>
    types.reduce((sum, type, c) => sum + (type === 'bytea' ? (row[c] as Uint8Array).length : 8), 0)
  for (const part of parts(rows, rowsPer, bytesOf)) {
    const values: unknown[] = []
    const unnested: string[] = []
    const selected = names.map((name, c) => {
      const column = part.map((row) => row[c])
      if (types[c] !== 'bytea') {
        values.push(column)
        unnested.push(`$${values.length}::${types[c]}[]`)
        return `t.c${c}`
      }
      const buffers = column as Buffer[]
      values.push(Buffer.concat(buffers))
      const blob = values.length
      values.push(buffers.map((b) => b.length))
      unnested.push(`$${values.length}::integer[]`)
      return `substring($${blob}::bytea FROM (sum(t.c${c}) OVER (ORDER BY t.n) - t.c${c})::integer + 1 FOR t.c${c})`
    })
    const aliases = names.map((_, c) => `c${c}`).join(', ')
    await client.query(`INSERT INTO ${table} (${names.join(', ')})
      SELECT ${selected.join(', ')} FROM unnest(${unnested.join(', ')}) WITH ORDINALITY AS t(${aliases}, n)${conflict}`, values)
  }
}

/**
 * One past the largest `seq` stored under each of `keys` (absent: not in the map), in one statement. Keys come
 * back as text: a bytea key as hex, a number as its decimal digits.
 */
async function nextSequences(client: pg.Client, table: string, column: string, type: string, keys: readonly unknown[]): Promise<Map<string, number>> {
  const result = await client.query<{ k: string; next: string }>(
    `SELECT ${type === 'bytea' ? `encode(${column}, 'hex')` : `${column}::text`} AS k, max(seq) + 1 AS next
      FROM ${table} WHERE ${column} = ANY($1::${type}[]) GROUP BY ${column}`, [keys])
  return new Map(result.rows.map((row) => [row.k, Number(row.next)]))
}

/** Rows as one array per column (what unnest takes). */
function columns(rows: readonly (readonly unknown[])[], count: number): unknown[][] {
  const out: unknown[][] = Array.from({ length: count }, () => new Array<unknown>(rows.length))
  rows.forEach((row, i) => { for (let c = 0; c < count; c += 1) out[c]![i] = row[c] })
  return out
}

/** Consecutive slices of at most `size` items and, when `bytesOf` is given, about STATEMENT_BYTES_MAX bytes (a larger item goes alone). */
function* parts<T>(items: readonly T[], size: number, bytesOf?: (item: T) => number): Generator<readonly T[]> {
  let start = 0
  let bytes = 0
  for (let i = 0; i < items.length; i += 1) {
    const itemBytes = bytesOf?.(items[i]!) ?? 0
    if (i > start && (i - start === size || bytes + itemBytes > STATEMENT_BYTES_MAX)) {
      yield items.slice(start, i)
      start = i
      bytes = 0
    }
    bytes += itemBytes
  }
  if (start < items.length) yield items.slice(start)
}

/** [key, ...values] rows, the last one of each key kept (an upsert may not touch one row twice). */
function lastByKey(rows: readonly (readonly [Buffer, unknown])[]): (readonly unknown[])[] {
  const last = new Map<string, readonly unknown[]>()
  for (const row of rows) last.set(row[0].toString('hex'), row)
  return [...last.values()]
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}
