/**
 * Reading the materialized tables back as a store image (pages of `StoreImageEntry`) for `LmdbStore.restore`:
 * how a node rebuilds its replica when the commit log cannot bring it up to date. The caller runs this inside a
 * REPEATABLE READ transaction, so every table is read at one snapshot, the one whose head it restores.
 *
 * Each table is walked by a server-side cursor in key order, a page at a time, so a rebuild holds one page in
 * memory whatever the database holds. Planes are joined with their chunks by walking both in the same order.
 */
import type pg from 'pg'
import type { StoreImageEntry } from '../store/index.js'

/**
 * Rows per fetch: pages of ~4 MiB of plane chunks (1,024 x 4 KiB) or a few hundred KiB of small rows, big
 * enough that the round trip is noise and small enough that a rebuild's memory stays flat.
 */
export const IMAGE_ROWS_PER_FETCH = 1_024

/** A cursor over one query, fetched a page at a time, with a look at the next row. */
class Cursor<R> {
  readonly #client: pg.Client
  readonly #name: string
  #rows: R[] = []
  #at = 0
  #done = false

  private constructor(client: pg.Client, name: string) {
    this.#client = client
    this.#name = name
  }

  static async open<R>(client: pg.Client, name: string, sql: string): Promise<Cursor<R>> {
    await client.query(`DECLARE ${name} NO SCROLL CURSOR FOR ${sql}`)
    return new Cursor<R>(client, name)
  }

  async peek(): Promise<R | undefined> {
    if (this.#at < this.#rows.length) return this.#rows[this.#at]
    if (this.#done) return undefined
    const result = await this.#client.query(`FETCH ${IMAGE_ROWS_PER_FETCH} FROM ${this.#name}`)
    this.#rows = result.rows as R[]
    this.#at = 0
    if (this.#rows.length < IMAGE_ROWS_PER_FETCH) this.#done = true
    return this.#rows[0]
  }

  async next(): Promise<R | undefined> {
    const row = await this.peek()
    if (row !== undefined) this.#at += 1
    return row
  }

  async close(): Promise<void> {
    await this.#client.query(`CLOSE ${this.#name}`)
  }
}

/** One table as image entries, a page per fetch. */
async function* table<R>(client: pg.Client, sql: string, entry: (row: R) => StoreImageEntry): AsyncGenerator<StoreImageEntry[]> {
  const cursor = await Cursor.open<R>(client, 'strata_image', sql)
  let page: StoreImageEntry[] = []
  for (let row = await cursor.next(); row !== undefined; row = await cursor.next()) {
    page.push(entry(row))
    if (page.length === IMAGE_ROWS_PER_FETCH) {
      yield page
      page = []
    }
  }
  await cursor.close()
  if (page.length > 0) yield page
}

type Bytes = Buffer
const int = (value: string | number): number => Number(value)

/** Every key space of the database, in pages (run inside one REPEATABLE READ transaction). */
export async function* imagePages(client: pg.Client): AsyncGenerator<StoreImageEntry[]> {
  yield* table<{ code_id: Bytes; blob: Bytes }>(client, 'SELECT code_id, blob FROM strata_codes ORDER BY code_id',
    (r) => ({ space: 'code', id: r.code_id, value: r.blob }))
  yield* table<{ program_id: Bytes; record: Bytes }>(client, 'SELECT program_id, record FROM strata_programs ORDER BY program_id',
    (r) => ({ space: 'program', id: r.program_id, value: r.record }))
  yield* table<{ program_id: Bytes; meta: Bytes }>(client, 'SELECT program_id, meta FROM strata_memmeta ORDER BY program_id',
    (r) => ({ space: 'memmeta', id: r.program_id, value: r.meta }))
  yield* planes(client)
  yield* table<{ seq: string; message: Bytes }>(client, 'SELECT seq, message FROM strata_queue ORDER BY seq',
    (r) => ({ space: 'queue', seq: int(r.seq), value: r.message }))
  yield* table<{ message_id: Bytes; deadline: Bytes; entry: Bytes }>(client,
    'SELECT message_id, deadline, entry FROM strata_waitlist ORDER BY message_id',
    (r) => ({ space: 'wait', id: r.message_id, deadline: r.deadline, value: r.entry }))
  yield* table<{ cycle: string; seq: number; message: Bytes }>(client, 'SELECT cycle, seq, message FROM strata_delayed ORDER BY cycle, seq',
    (r) => ({ space: 'delayed', cycle: int(r.cycle), seq: r.seq, value: r.message }))
  yield* table<{ user_id: Bytes; seq: string; entry: Bytes }>(client, 'SELECT user_id, seq, entry FROM strata_mailbox ORDER BY user_id, seq',
    (r) => ({ space: 'mailbox', id: r.user_id, seq: int(r.seq), value: r.entry }))
  yield* table<{ user_id: Bytes; nonce: string }>(client, 'SELECT user_id, nonce FROM strata_nonces ORDER BY user_id',
    (r) => ({ space: 'nonce', id: r.user_id, nonce: int(r.nonce) }))
  yield* table<{ key: Bytes; value: Bytes }>(client, 'SELECT key, value FROM strata_merkle ORDER BY key',
    (r) => ({ space: 'merkle', key: r.key, value: r.value }))
  yield* table<{ cycle: string; record: Bytes }>(client, 'SELECT cycle, record FROM strata_cycles ORDER BY cycle',
    (r) => ({ space: 'cycle', cycle: int(r.cycle), value: r.record }))
}

/** Planes with their chunks: two cursors in (program, plane key) order, merged. */
async function* planes(client: pg.Client): AsyncGenerator<StoreImageEntry[]> {
  type PlaneRow = { program_id: Bytes; plane_key: number; root: Bytes }
  type ChunkRow = { program_id: Bytes; plane_key: number; chunk_index: number; bytes: Bytes }
  const planeCursor = await Cursor.open<PlaneRow>(client, 'strata_image_planes',
    'SELECT program_id, plane_key, root FROM strata_planes ORDER BY program_id, plane_key')
  const chunkCursor = await Cursor.open<ChunkRow>(client, 'strata_image_chunks',
    'SELECT program_id, plane_key, chunk_index, bytes FROM strata_chunks ORDER BY program_id, plane_key, chunk_index')
  const order = (a: { program_id: Bytes; plane_key: number }, b: { program_id: Bytes; plane_key: number }): number =>
    Buffer.compare(a.program_id, b.program_id) || a.plane_key - b.plane_key
  let page: StoreImageEntry[] = []
  let chunksInPage = 0
  for (let plane = await planeCursor.next(); plane !== undefined; plane = await planeCursor.next()) {
    const chunks: [number, Uint8Array][] = []
    for (let chunk = await chunkCursor.peek(); chunk !== undefined && order(chunk, plane) <= 0; chunk = await chunkCursor.peek()) {
      await chunkCursor.next()
      // A chunk row without its plane row cannot be committed by materialize(); it is skipped like a deleted one.
      if (order(chunk, plane) === 0) chunks.push([chunk.chunk_index, chunk.bytes])
    }
    page.push({ space: 'plane', id: plane.program_id, key: plane.plane_key, root: plane.root, chunks })
    chunksInPage += chunks.length + 1
    if (chunksInPage >= IMAGE_ROWS_PER_FETCH) {
      yield page
      page = []
      chunksInPage = 0
    }
  }
  await planeCursor.close()
  await chunkCursor.close()
  if (page.length > 0) yield page
}
