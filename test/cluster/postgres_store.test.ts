/**
 * The PostgreSQL store on its own: random batches touching every key space agree, through the Store interface,
 * with a MemoryStore fed the same batches, both on the writer's replica and on a replica rebuilt from the
 * materialized tables alone (so the tables hold exactly what the replica does); fencing (a second writer's open
 * makes the first one's commits fail FENCED, writing nothing); CONFLICT; schema versions, dropped connections and
 * unreachable databases. (Runtime options of store: 'postgres' are checked in test/unit/scheduler/options.test.ts.)
 */
import { chmodSync, chownSync, existsSync, mkdirSync, statSync } from 'node:fs'
import path from 'node:path'
import { open as openRaw } from 'lmdb'
import pg from 'pg'
import { afterAll, expect, it } from 'vitest'
import { ClusterErrorCode, openPostgresStore, type PostgresStore } from '../../src/cluster/index.js'
import type { MessageId, UserId } from '../../src/message/ids.js'
import { Runtime } from '../../src/index.js'
import { openMemoryStore, type CommitBatch, type Store, type StoreMemoryDelta, type StorePlaneChange } from '../../src/store/index.js'
import { prng } from '../helpers/prng.js'
import { expectCode } from '../unit/store/contract.js'
import { message, programId, record, rootOf, sha256, userId, verify } from '../unit/store/fixtures.js'
import { PostgresServer } from './postgres_server.js'
import { describePostgres, usePostgresServer } from './suite.js'

const CHUNK = 4096
const PLANE = 65_536
/** Small, so that random batches trim mailboxes often. */
const MAILBOX_SIZE_MAX = 5
const STEPS = 40
const SEED = 0x9e57_0001
const USERS = [0, 1, 2].map((n) => userId(n))

/** Everything the Store interface can list or look up, as plain comparable values (bytes as hex). */
function contents(store: Store, merkleKeys: readonly Uint8Array[]): unknown {
  const hex = (bytes: Uint8Array | undefined | null): string | undefined | null =>
    bytes === undefined || bytes === null ? bytes : Buffer.from(bytes).toString('hex')
  const programs = [...store.programIds()]
  const memoryOwners = new Set([...programs, ...[0, 1, 2, 3].map(programId)])
  const head = store.head()
  return {
    head: { ...head, stateRoot: hex(head.stateRoot) },
    codes: [...store.codeIds()].map((id) => [id, hex(store.code(id))]),
    programs: programs.map((id) => store.program(id)), programCount: store.programCount(),
    memory: [...memoryOwners].sort().map((id) => ({
      id, meta: hex(store.memoryMeta(id)),
      planes: store.planeKeys(id).map((key) => [key, hex(store.planeRoot(id, key)), sha256(store.plane(id, key)!).join()]),
    })),
    queue: [...store.queue()], queueLength: store.queueLength(),
    waitlist: [...store.waitlist()], waitlistSize: store.waitlistSize(), expiring: [...store.waitlistExpiring(Number.MAX_SAFE_INTEGER)],
    delayed: [...store.delayedCycles()].map((cycle) => [cycle, store.delayed(cycle)]),
    mailboxes: USERS.map((user) => store.mailbox(user)), nonces: USERS.map((user) => store.nonce(user)),
    cycles: Array.from({ length: head.cycle + 1 }, (_, cycle) => store.cycleRecord(cycle)),
    merkle: merkleKeys.map((key) => hex(store.merkleNode(key))),
  }
}

/** Random batches over every part of CommitBatch, with a plane model so that roots are the planes' real hashes. */
function batches(seed: number): CommitBatch[] {
  const random = prng(seed)
  const int = (n: number): number => Math.floor(random() * n)
  const planes = new Map<string, Uint8Array>()
  let queueLength = 0
  let nextMessage = 1_000
  const waiting = new Set<MessageId>()
  const delayedCycles = new Set<number>()
  const out: CommitBatch[] = []
  let cycle = 0
  for (let step = 0; step < STEPS; step += 1) {
    const intake = step > 0 && int(3) === 0
    if (!intake) cycle += 1
    const memory: StoreMemoryDelta[] = []
    for (const p of [0, 1, 2]) {
      if (int(2) === 0) continue
      const id = programId(p)
      if (int(10) === 0) {
        for (const key of [...planes.keys()]) if (key.startsWith(`${id}/`)) planes.delete(key)
        memory.push({ programId: id, dropped: true, meta: new Uint8Array(0), planes: [] })
        continue
      }
      const changes: StorePlaneChange[] = []
      for (const key of [0, 1, 2, 65_537]) {
        if (int(2) === 0) continue
        const name = `${id}/${key}`
        const kind = int(8)
        if (kind === 0) {
          planes.delete(name)
          changes.push({ key, bytes: null, root: null })
          continue
        }
        const fresh = kind === 1
        const bytes = fresh || !planes.has(name) ? new Uint8Array(PLANE) : planes.get(name)!.slice()
        const written: [number, Uint8Array][] = []
        for (let chunk = 0; chunk < 16; chunk += 1) {
          if (int(5) !== 0) continue
          const value = int(4) === 0 ? 0 : 1 + int(250)
          const data = new Uint8Array(CHUNK).fill(value)
          if (value !== 0) data[chunk] = step
          bytes.set(data, chunk * CHUNK)
          written.push([chunk, data])
        }
        planes.set(name, bytes)
        const root = sha256(bytes)
        changes.push(kind === 2 ? { key, bytes: bytes.slice(), root, chunks: written.reduce((mask, [c]) => mask | (1 << c), 0) }
          : { key, written, fresh, root })
      }
      memory.push({ programId: id, dropped: false, meta: Uint8Array.of(step, p), planes: changes })
    }
    const consumed = int(queueLength + 1)
    const appended = Array.from({ length: int(4) }, () => message(nextMessage++))
    queueLength += appended.length - consumed
    const waitDelete = [...waiting].filter(() => int(3) === 0)
    for (const id of waitDelete) waiting.delete(id)
    const waitPut = Array.from({ length: int(3) }, () => {
      const m = message(nextMessage++)
      waiting.add(m.id)
      return { message: m, programId: programId(int(3)), untilCycle: cycle + int(4) }
    })
    const delayedDelete = [...delayedCycles].filter(() => int(3) === 0)
    for (const c of delayedDelete) delayedCycles.delete(c)
    const delayedAppend = Array.from({ length: int(3) }, (): [number, ReturnType<typeof message>[]] => {
      const at = cycle + 1 + int(3)
      delayedCycles.add(at)
      return [at, Array.from({ length: 1 + int(2) }, () => message(nextMessage++))]
    })
    const mailboxes = Array.from({ length: int(3) }, (): [UserId, { message: ReturnType<typeof message>; cycle: number }[]] =>
      [USERS[int(3)]!, Array.from({ length: 1 + int(4) }, () => ({ message: message(nextMessage++), cycle }))])
    const merkleKeys = [Uint8Array.of(int(6)), Uint8Array.of(1, int(6)), new Uint8Array(40).fill(int(3))]
    out.push({
      cycle, stateRoot: rootOf(`step ${step}`),
      ...(int(3) === 0 ? { programs: [record(int(4), { status: int(2) === 0 ? 'active' : 'exited' })] } : {}),
      memory, queue: { consumed, appended }, waitlist: { delete: waitDelete, put: waitPut },
      delayed: { delete: delayedDelete, append: delayedAppend }, mailboxes,
      nonces: [[USERS[int(3)]!, step]],
      merkle: { delete: [merkleKeys[int(3)]!], put: merkleKeys.filter(() => int(2) === 0).map((key) => [key, sha256(Uint8Array.of(step, ...key))]) },
      ...(intake ? {} : { counts: { processed: step, failed: 0, gasBurned: step * 1000, gasRefunded: 1, enqueued: 2, mailboxed: 3, dirtyPlanes: 4 } }),
    })
  }
  return out
}

/** Every Merkle key the batches used. */
function merkleKeysOf(list: readonly CommitBatch[]): Uint8Array[] {
  const keys = new Map<string, Uint8Array>()
  for (const batch of list) for (const [key] of batch.merkle?.put ?? []) keys.set(Buffer.from(key).toString('hex'), key)
  return [...keys.values()]
}

/** Part by part, so that a failure names the key space that differs. */
function expectSameParts(actual: unknown, expected: unknown, name: string): void {
  const parts = actual as Record<string, unknown>
  for (const [part, value] of Object.entries(expected as Record<string, unknown>)) expect(parts[part], `${name}: ${part}`).toEqual(value)
}

describePostgres('the PostgreSQL store', () => {
  const ctx = usePostgresServer()
  const opened: PostgresStore[] = []
  let dirs = 0
  const cacheDir = (): string => path.join(ctx.dir, `cache${dirs++}`)
  async function open(url: string, dir = cacheDir(), extra: Record<string, unknown> = {}): Promise<PostgresStore> {
    const store = await openPostgresStore({ url, cacheDir: dir, verify, mailboxSizeMax: MAILBOX_SIZE_MAX, ...extra })
    opened.push(store)
    return store
  }
  // Registered after the server's hooks, so it runs before the server stops (after-hooks run in reverse order).
  afterAll(async () => {
    for (const store of opened) await store.close()
  })

  it('agrees with a MemoryStore on random batches, on its replica and on a replica rebuilt from the tables alone', async () => {
    const url = await ctx.server.createDatabase()
    const list = batches(SEED)
    const memory = await openMemoryStore({ verify, mailboxSizeMax: MAILBOX_SIZE_MAX })
    const dir = cacheDir()
    const store = await open(url, dir)
    const code = new TextEncoder().encode('export default 1')
    const codeId = Buffer.from(sha256(code)).toString('hex') as never
    await memory.putCode(codeId, code)
    await store.putCode(codeId, code)
    for (const batch of list) {
      await memory.commit(batch)
      await store.commit(batch)
    }
    const keys = merkleKeysOf(list)
    const expected = contents(memory, keys)
    expectSameParts(contents(store, keys), expected, 'the writer\'s replica')
    // The batches did exercise every part.
    const summary = expected as { queue: unknown[]; waitlist: unknown[]; delayed: unknown[]; mailboxes: unknown[][]; memory: { planes: unknown[] }[] }
    expect(summary.queue.length + summary.waitlist.length + summary.delayed.length).toBeGreaterThan(0)
    expect(summary.mailboxes.some((box) => box.length === MAILBOX_SIZE_MAX)).toBe(true)
    expect(summary.memory.some((m) => m.planes.length > 0)).toBe(true)

    // The next coordinator's view, on another machine: the log pruned, so its replica can only be rebuilt from
    // the tables.
    const replicas = [store.diagnostics().replicaDir]
    await store.close()
    await ctx.server.query('DELETE FROM strata_log', [], url)
    const rebuilt = await open(url)
    expect(rebuilt.diagnostics().replica).toBe('rebuilt')
    expectSameParts(contents(rebuilt, keys), expected, 'the rebuilt replica')
    // The Store interface cannot list Merkle nodes: every replica holds exactly the table's rows.
    const rows = Number((await ctx.server.query<{ n: string }>('SELECT count(*) AS n FROM strata_merkle', [], url)).rows[0]!.n)
    replicas.push(rebuilt.diagnostics().replicaDir)
    await rebuilt.close()
    for (const replica of replicas) {
      const env = openRaw({ path: replica, readOnly: true })
      expect(env.openDB('merkle', { keyEncoding: 'binary' }).getStats()).toMatchObject({ entryCount: rows })
      await env.close()
    }
    await memory.close()
  })

  it('refuses a second writer while the first holds the cycle lease (LEASE_HELD), and a standby opens once it is released', async () => {
    const url = await ctx.server.createDatabase()
    const a = await open(url)
    await a.commit({ cycle: 1, stateRoot: rootOf(1), nonces: [[USERS[0]!, 1]] })
    const error = await expectCode(() => open(url), ClusterErrorCode.LEASE_HELD)
    expect(error.message).toMatch(/holds the cycle lease for \d+ ms more/)
    // The refused open changed nothing: A goes on.
    await a.commit({ cycle: 2, stateRoot: rootOf(2) })
    let opened = false
    const standby = open(url, cacheDir(), { standby: true }).then((store) => { opened = true; return store })
    await new Promise((resolve) => setTimeout(resolve, 600))
    expect(opened).toBe(false)
    // While it waits, the standby keeps its replica at the head: taking over replays only what came since.
    await a.commit({ cycle: 3, stateRoot: rootOf(3) })
    await a.close()
    const b = await standby
    expect(b.epoch).toBe(a.epoch + 1)
    expect(b.diagnostics().leaseEpoch).toBe(a.diagnostics().leaseEpoch + 1)
    expect(b.diagnostics()).toMatchObject({ replica: 'replayed', replayed: 1 })
    expect(b.head()).toMatchObject({ cycle: 3, commitCount: 3 })
    await b.commit({ cycle: 4, stateRoot: rootOf(4) })
  })

  it('fences: once the first writer\'s cycle lease expired (it was paused), it commits nothing (FENCED) and its successor goes on', async () => {
    const url = await ctx.server.createDatabase()
    const a = await open(url, cacheDir(), { leaseTermMs: 60_000 })
    await a.commit({ cycle: 1, stateRoot: rootOf(1), nonces: [[USERS[0]!, 1]] })
    // A paused past its term, as the server's clock sees it: the lease expires without A knowing.
    await ctx.server.query(`UPDATE strata_leases SET expires_at = clock_timestamp() WHERE name = 'cycle'`, [], url)
    await expectCode(() => a.commit({ cycle: 2, stateRoot: rootOf(2) }), ClusterErrorCode.FENCED)
    const b = await open(url)
    expect(b.epoch).toBe(a.epoch + 1)
    expect(b.diagnostics().replica).toBe('replayed')
    const before = (await ctx.server.query('SELECT * FROM strata_head', [], url)).rows
    const error = await expectCode(() => a.commit({ cycle: 2, stateRoot: rootOf(2), nonces: [[USERS[0]!, 2]] }), ClusterErrorCode.FENCED)
    expect(error.message).toContain(`epoch ${a.diagnostics().leaseEpoch}`)
    const code = new TextEncoder().encode('fenced code')
    await expectCode(() => a.putCode(Buffer.from(sha256(code)).toString('hex') as never, code), ClusterErrorCode.FENCED)
    // Nothing written: the head, the log, the tables, and A's replica are as they were.
    expect((await ctx.server.query('SELECT * FROM strata_head', [], url)).rows).toEqual(before)
    expect((await ctx.server.query('SELECT count(*)::int AS n FROM strata_log', [], url)).rows[0]).toEqual({ n: 1 })
    expect((await ctx.server.query('SELECT nonce::int FROM strata_nonces', [], url)).rows).toEqual([{ nonce: 1 }])
    expect((await ctx.server.query('SELECT count(*)::int AS n FROM strata_codes', [], url)).rows[0]).toEqual({ n: 0 })
    expect(a.head()).toMatchObject({ cycle: 1, commitCount: 1 })
    expect(a.nonce(USERS[0]!)).toBe(1)
    // B commits the next cycle; A stays fenced.
    await b.commit({ cycle: 2, stateRoot: rootOf('b2'), nonces: [[USERS[0]!, 7]] })
    expect(b.nonce(USERS[0]!)).toBe(7)
    await expectCode(() => a.commit({ cycle: 2, stateRoot: rootOf(2) }), ClusterErrorCode.FENCED)
  })

  it('fences a runtime: its next cycle fails FENCED and faults it, and the new writer resumes from the database', async () => {
    const url = await ctx.server.createDatabase()
    const [dirA, dirB] = [cacheDir(), cacheDir()]
    const a = await Runtime.open({ store: 'postgres', url, cacheDir: dirA, streams: 0, node: 'coordinator-a', leaseTermMs: 60_000 })
    const counter = await a.uploadCode('programs/counter.ts')
    const pid = await a.createProgram(counter, { payload: new TextEncoder().encode('5'), gasLimit: 10_000_000 })
    await a.runUntilIdle()
    const root = a.stateRoot()
    await expect(Runtime.open({ store: 'postgres', url, cacheDir: dirB, streams: 0 })).rejects.toMatchObject({ code: ClusterErrorCode.LEASE_HELD })
    const leases = await ctx.server.query<{ holder: string }>(`SELECT holder FROM strata_leases WHERE name = 'cycle'`, [], url)
    expect(leases.rows[0]!.holder).toMatch(/^coordinator-a\/[0-9a-f]{12}$/)
    await ctx.server.query(`UPDATE strata_leases SET expires_at = clock_timestamp() WHERE name = 'cycle'`, [], url)
    const b = await Runtime.open({ store: 'postgres', url, cacheDir: dirB, streams: 0 })
    try {
      expect(b.stateRoot()).toBe(root)
      a.send({ source: USERS[0]!, destination: pid, payload: new TextEncoder().encode('inc'), gasLimit: 1_000_000 })
      await expect(a.runCycle()).rejects.toMatchObject({ code: ClusterErrorCode.FENCED })
      expect(a.fault).toBeDefined()
      b.send({ source: USERS[0]!, destination: pid, payload: new TextEncoder().encode('inc'), gasLimit: 1_000_000 })
      const report = await b.runCycle()
      expect(report.failed).toBe(0)
      expect(report.stateRoot).not.toBe(root)
    } finally {
      await a.close()
      await b.close()
    }
  })

  it('rebuilds a replica behind a log row it cannot replay (a batch too large to log, or a damaged row)', async () => {
    const url = await ctx.server.createDatabase()
    const [dirA, dirB] = [cacheDir(), cacheDir()]
    for (const damage of ['NULL', "'\\x00ff'::bytea"]) {
      // B's replica catches up and stays behind while A (the newer writer) commits two cycles.
      const b = await open(url, dirB)
      const base = b.head().cycle
      await b.close()
      const a = await open(url, dirA)
      expect(a.head().cycle).toBe(base)
      for (const cycle of [base + 1, base + 2]) await a.commit({ cycle, stateRoot: rootOf(`${damage} ${cycle}`), nonces: [[USERS[1]!, cycle]] })
      await a.close()
      await ctx.server.query(`UPDATE strata_log SET batch = ${damage} WHERE commit_number = (SELECT commit_count - 1 FROM strata_head)`, [], url)
      const reopened = await open(url, dirB)
      expect(reopened.diagnostics().replica).toBe('rebuilt')
      expect(reopened.diagnostics().rebuildReason).toMatch(damage === 'NULL' ? /too large to keep in the log/ : /did not apply/)
      expect(reopened.head()).toMatchObject({ cycle: base + 2, stateRoot: rootOf(`${damage} ${base + 2}`) })
      expect(reopened.nonce(USERS[1]!)).toBe(base + 2)
      await reopened.close()
    }
  })

  it('keeps its lease through a commit longer than the term: renewals are not held up by the commit\'s own transaction', async () => {
    const url = await ctx.server.createDatabase()
    const a = await open(url, cacheDir(), { leaseTermMs: 300 })
    await a.commit({ cycle: 1, stateRoot: rootOf('long 1'), nonces: [[USERS[0]!, 1]] })
    // Another session holds the nonces table: the next commit waits inside its transaction for 3 terms.
    const blocker = new pg.Client({ connectionString: url })
    await blocker.connect()
    await blocker.query('BEGIN')
    await blocker.query('LOCK TABLE strata_nonces IN EXCLUSIVE MODE')
    const long = a.commit({ cycle: 2, stateRoot: rootOf('long 2'), nonces: [[USERS[0]!, 2]] })
    await new Promise((resolve) => setTimeout(resolve, 900))
    await blocker.query('COMMIT')
    await blocker.end()
    expect(await long).toMatchObject({ cycle: 2 })
    // The lease was renewed meanwhile: the store goes on committing.
    await a.commit({ cycle: 3, stateRoot: rootOf('long 3') })
    expect(a.fenced).toBeUndefined()
    await a.close()
  })

  it('refuses a cache directory others may write or another user owns (UNSAFE_CACHE), for writers and readers', async () => {
    const url = await ctx.server.createDatabase()
    const fresh = cacheDir()
    const first = await openPostgresStore({ url, cacheDir: fresh, verify })
    await first.close()
    // A directory it creates is its owner's alone.
    expect(statSync(fresh).mode & 0o077).toBe(0)
    const shared = cacheDir()
    mkdirSync(shared)
    chmodSync(shared, 0o777)
    await expectCode(() => openPostgresStore({ url, cacheDir: shared, verify }), ClusterErrorCode.UNSAFE_CACHE)
    await expect(Runtime.open({ store: 'postgres', url, readOnly: true, cacheDir: shared })).rejects.toMatchObject({ code: ClusterErrorCode.UNSAFE_CACHE })
    chmodSync(shared, 0o755)
    if (process.getuid?.() === 0) {
      chownSync(shared, 65534, 65534) // another user's (nobody's)
      await expectCode(() => openPostgresStore({ url, cacheDir: shared, verify }), ClusterErrorCode.UNSAFE_CACHE)
      chownSync(shared, 0, 0)
    }
    // Its own, not writable by others: fine.
    const store = await openPostgresStore({ url, cacheDir: shared, verify })
    await store.close()
  })

  it('ends a predecessor\'s session that holds the writer row past a term (paused inside its commit), and opens', async () => {
    const url = await ctx.server.createDatabase()
    const first = await open(url, cacheDir())
    await first.close()
    // A predecessor paused inside its commit transaction, holding the writer row, where the server's idle
    // timeout cannot end it (here: a session without one).
    const paused = new pg.Client({ connectionString: url })
    paused.on('error', () => undefined)
    await paused.connect()
    await paused.query('BEGIN')
    await paused.query('SELECT epoch FROM strata_writer WHERE id = 1 FOR UPDATE')
    const started = Date.now()
    const next = await open(url, cacheDir(), { leaseTermMs: 300 })
    expect(Date.now() - started).toBeLessThan(10_000)
    expect(next.epoch).toBe(first.epoch + 1)
    await expect(paused.query('COMMIT')).rejects.toThrow()
    await paused.end().catch(() => undefined)
    await next.commit({ cycle: 1, stateRoot: rootOf('after the pause') })
    await next.close()
  }, 20_000)

  it('keeps logKeepCommits log rows behind the head; a replica further behind is rebuilt, one within them replayed', async () => {
    const url = await ctx.server.createDatabase()
    const [dirA, dirB, dirC] = [cacheDir(), cacheDir(), cacheDir()]
    const b = await open(url, dirB)
    await b.close()
    const a = await open(url, dirA, { logKeepCommits: 3 })
    for (let cycle = 1; cycle <= 6; cycle += 1) await a.commit({ cycle, stateRoot: rootOf(`keep ${cycle}`), nonces: [[USERS[2]!, cycle]] })
    await a.close()
    const c = await open(url, dirC)
    await c.close()
    const again = await open(url, dirA, { logKeepCommits: 3 })
    await again.commit({ cycle: 7, stateRoot: rootOf('keep 7') })
    await again.close()
    const log = await ctx.server.query<{ n: number }>('SELECT commit_number::int AS n FROM strata_log ORDER BY 1', [], url)
    expect(log.rows.map((r) => r.n)).toEqual([5, 6, 7])
    const behind = await open(url, dirB)
    expect(behind.diagnostics()).toMatchObject({ replica: 'rebuilt', rebuildReason: 'the commit log has no row 1' })
    expect(behind.head()).toMatchObject({ cycle: 7, stateRoot: rootOf('keep 7') })
    expect(behind.nonce(USERS[2]!)).toBe(6)
    await behind.close()
    const near = await open(url, dirC)
    expect(near.diagnostics()).toMatchObject({ replica: 'replayed', replayed: 1 })
    await near.close()
    await expectCode(() => open(url, cacheDir(), { logKeepCommits: 0 }), ClusterErrorCode.INVALID_ARGUMENT)
  })

  it('refuses a commit when the database head moved under the replica (CONFLICT), writing nothing', async () => {
    const url = await ctx.server.createDatabase()
    const store = await open(url)
    await store.commit({ cycle: 1, stateRoot: rootOf(1) })
    await ctx.server.query('UPDATE strata_head SET commit_count = commit_count + 1', [], url)
    await expectCode(() => store.commit({ cycle: 2, stateRoot: rootOf(2) }), ClusterErrorCode.CONFLICT)
    expect((await ctx.server.query('SELECT count(*)::int AS n FROM strata_log', [], url)).rows[0]).toEqual({ n: 1 })
  })

  it('rejects a bad batch before sending anything, as every store does', async () => {
    const url = await ctx.server.createDatabase()
    const store = await open(url)
    await expectCode(() => store.commit({ cycle: 3, stateRoot: rootOf(3) }), 'CYCLE_ORDER')
    await expectCode(() => store.commit({ cycle: 1, stateRoot: new Uint8Array(31) }), 'INVALID_ARGUMENT')
    expect((await ctx.server.query('SELECT count(*)::int AS n FROM strata_log', [], url)).rows[0]).toEqual({ n: 0 })
  })

  it('refuses a second store on the same cache directory without fencing the first, and a database of another schema version', async () => {
    const url = await ctx.server.createDatabase()
    const dir = cacheDir()
    const store = await open(url, dir)
    await expectCode(() => open(url, dir), 'LOCKED')
    // The refused open took no epoch: the first store still commits.
    await store.commit({ cycle: 1, stateRoot: rootOf(1) })
    await store.close()
    await ctx.server.query('UPDATE strata_meta SET schema_version = 99', [], url)
    const error = await expectCode(() => open(url), ClusterErrorCode.FORMAT_VERSION)
    expect(error.message).toContain('schema 99')
  })

  it('fails IO when the connection drops, keeps the last commit, and a reopen resumes there', async () => {
    const url = await ctx.server.createDatabase()
    const dir = cacheDir()
    const store = await open(url, dir)
    await store.commit({ cycle: 1, stateRoot: rootOf(1), nonces: [[USERS[0]!, 1]] })
    const database = new URL(url).pathname.slice(1)
    await ctx.server.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [database])
    const error = await expectCode(() => store.commit({ cycle: 2, stateRoot: rootOf(2) }), ClusterErrorCode.IO)
    expect(error.message).toContain(`127.0.0.1:${ctx.server.port}/${database}`)
    expect(store.head()).toMatchObject({ cycle: 1, commitCount: 1 })
    await store.close()
    const reopened = await open(url, dir)
    expect(reopened.diagnostics().replica).toBe('current')
    await reopened.commit({ cycle: 2, stateRoot: rootOf(2) })
    expect(reopened.head()).toMatchObject({ cycle: 2, commitCount: 2 })
  })

  it('names the host and port of an unreachable database, never its password', async () => {
    const url = `postgresql://strata:s3cret-pw@127.0.0.1:1/nowhere`
    const error = await expectCode(() => open(url), ClusterErrorCode.IO)
    expect(error.message).toContain('127.0.0.1:1/nowhere')
    expect(error.message).not.toContain('s3cret-pw')
    // The cache directory is not created before the database answered.
    expect(existsSync(path.join(ctx.dir, `cache${dirs - 1}`))).toBe(false)
  })
})
