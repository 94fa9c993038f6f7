/**
 * Read-only PostgreSQL runtimes (Runtime.open({ store: 'postgres', url, readOnly: true })): beside a live writer
 * on the same database they read one committed cycle until refreshed, follow the writer on refresh (replaying
 * the log into a replica of their own), never fence it, refuse every change, and fail NOT_FOUND on a database
 * no writer created. Mirrors test/integration/read_only.test.ts.
 */
import path from 'node:path'
import { afterEach, expect, it } from 'vitest'
import { Runtime, verifyProof, type ProgramId } from '../../src/index.js'
import { describePostgres, usePostgresServer } from './suite.js'

const USER = '33'.repeat(32)
const text = (s: string): Uint8Array => new TextEncoder().encode(s)
const decode = (b: Uint8Array): string => new TextDecoder().decode(b)

let open: Runtime[] = []
afterEach(async () => {
  for (const rt of open.reverse()) await rt.close()
  open = []
})

async function track(runtime: Promise<Runtime>): Promise<Runtime> {
  const rt = await runtime
  open.push(rt)
  return rt
}

async function inc(rt: Runtime, ids: readonly ProgramId[]): Promise<void> {
  for (const id of ids) rt.send({ source: USER, destination: id, payload: text('inc'), gasLimit: 1_000_000 })
  await rt.runCycle()
}

async function count(rt: Runtime, id: ProgramId): Promise<string> {
  return decode((await rt.query(id, text('get'))).payload)
}

describePostgres('read-only PostgreSQL runtimes', () => {
  const pg = usePostgresServer()

  /** A writer on a fresh database with `n` counters, each initialized. */
  async function writer(n: number): Promise<{ w: Runtime; url: string; ids: ProgramId[] }> {
    const url = await pg.server.createDatabase()
    const w = await track(Runtime.open({ store: 'postgres', url, cacheDir: path.join(pg.dir, `w-${path.basename(url)}`), streams: 0, sync: false }))
    const code = await w.uploadCode('programs/counter.ts')
    const ids: ProgramId[] = []
    for (let i = 0; i < n; i += 1) ids.push(await w.createProgram(code, { salt: text(String(i)), gasLimit: 10_000_000 }))
    await w.runUntilIdle()
    return { w, url, ids }
  }

  it('open beside a live writer, read its last committed cycle, stay on it until refreshed, and never fence it', async () => {
    const { w, url, ids } = await writer(3)
    await inc(w, ids)
    const r = await track(Runtime.open({ store: 'postgres', url, readOnly: true, cacheDir: path.join(pg.dir, 'reader-1') }))
    expect([r.readOnly, r.streams]).toEqual([true, 0])
    const seen = { cycle: w.cycle, root: w.stateRoot() }
    expect([r.cycle, r.stateRoot()]).toEqual([seen.cycle, seen.root])
    const header = r.program(ids[0]!).record().stateAddress!
    const before = r.program(ids[0]!).read(header, 64)
    const proof = await r.prove(ids[0]!, header, 16)

    // The writer goes on committing (the reader took no epoch): its cycles are not seen before a refresh.
    for (let i = 0; i < 4; i += 1) await inc(w, ids)
    expect(w.cycle).toBe(seen.cycle + 4)
    expect([r.cycle, r.stateRoot()]).toEqual([seen.cycle, seen.root])
    expect(r.program(ids[0]!).read(header, 64)).toEqual(before)
    expect(await count(r, ids[0]!)).toBe('1')
    expect(r.cycleRecord(seen.cycle + 1)).toBeUndefined()
    expect(r.cycleRecord(seen.cycle)!.stateRoot).toBe(seen.root)
    expect(verifyProof(r.stateRoot(), await r.prove(ids[0]!, header, 16))).toMatchObject({ ok: true })
    expect(await r.prove(ids[0]!, header, 16)).toEqual(proof)

    // Refreshed, it replays the writer's commits into its replica, and reads stay on the snapshot while it does.
    let settled = false
    const refreshed = r.refresh().finally(() => { settled = true })
    let polls = 0
    while (!settled) {
      expect(r.cycleRecord(seen.cycle + 1)).toBeUndefined()
      expect(r.program(ids[0]!).read(header, 64)).toEqual(before)
      polls += 1
      await new Promise((resolve) => setImmediate(resolve))
    }
    expect(polls).toBeGreaterThan(1)
    expect(await refreshed).toBe(w.cycle)
    expect(r.stateRoot()).toBe(w.stateRoot())
    expect(await count(r, ids[0]!)).toBe('5')
    expect(r.program(ids[2]!).memoryRoot()).toBe(w.program(ids[2]!).memoryRoot())
    expect(r.cycleRecord(w.cycle)!.stateRoot).toBe(w.stateRoot())
    const fresh = await r.prove(ids[1]!, header, 16)
    expect(verifyProof(w.stateRoot(), fresh)).toMatchObject({ ok: true })
    expect(verifyProof(seen.root, fresh)).toMatchObject({ ok: false })

    // Sends the writer accepted but did not commit are not seen; flushed, they are.
    w.send({ source: USER, destination: ids[0]!, payload: text('inc'), gasLimit: 1_000_000 })
    await r.refresh()
    expect(r.queueLength).toBe(0)
    await w.flush()
    await r.refresh()
    expect(r.queueLength).toBe(1)
    await w.runCycle()
    expect(w.fault).toBeUndefined()
  })

  it('refreshes while the writer runs cycles: every snapshot is one committed cycle, its proofs verify against its root', async () => {
    const { w, url, ids } = await writer(3)
    const r = await track(Runtime.open({ store: 'postgres', url, readOnly: true, cacheDir: path.join(pg.dir, 'reader-2') }))
    const committed = new Map<number, string>([[w.cycle, w.stateRoot()]])
    w.on('cycle', (report) => committed.set(report.cycle, report.stateRoot))
    let snapshots = 0
    const check = async (): Promise<void> => {
      const cycle = await r.refresh()
      expect(committed.get(cycle)).toBe(r.stateRoot())
      const id = ids[snapshots % ids.length]!
      const header = r.program(id).record().stateAddress!
      expect(verifyProof(r.stateRoot(), await r.prove(id, header, 16))).toMatchObject({ ok: true })
      expect(r.cycleRecord(cycle)?.stateRoot ?? committed.get(cycle)).toBe(committed.get(cycle))
      snapshots += 1
    }
    for (let i = 0; i < 8; i += 1) {
      for (const id of ids.slice(0, 1 + (i % ids.length))) w.send({ source: USER, destination: id, payload: text('inc'), gasLimit: 1_000_000 })
      const cycle = w.runCycle()
      await check()
      await cycle
      await check()
    }
    expect(snapshots).toBe(16)
    await r.refresh()
    expect(r.stateRoot()).toBe(w.stateRoot())
    expect(w.fault).toBeUndefined()
  })

  it('refuses every change with READ_ONLY; a second reader on its cache fails LOCKED; default caches are distinct', async () => {
    const { w, url, ids } = await writer(1)
    const cacheDir = path.join(pg.dir, 'reader-3')
    const r = await track(Runtime.open({ store: 'postgres', url, readOnly: true, cacheDir }))
    const code = w.codeIds()[0]!
    const refused = [
      () => r.send({ source: USER, destination: ids[0]!, payload: text('inc'), gasLimit: 1_000_000 }),
      () => r.createProgram(code, { salt: text('x'), gasLimit: 1_000_000 }),
      () => r.uploadCode('programs/counter.ts'),
      () => r.runCycle(),
      () => r.flush(),
    ]
    for (const attempt of refused) await expect((async () => attempt())()).rejects.toMatchObject({ code: 'READ_ONLY' })
    await expect(Runtime.open({ store: 'postgres', url, readOnly: true, cacheDir })).rejects.toMatchObject({ code: 'LOCKED' })
    // Two readers with the default cache directory take two slots, neither the writer's.
    const a = await track(Runtime.open({ store: 'postgres', url, readOnly: true }))
    const b = await track(Runtime.open({ store: 'postgres', url, readOnly: true }))
    expect([a.stateRoot(), b.stateRoot()]).toEqual([w.stateRoot(), w.stateRoot()])
    await inc(w, ids)
    expect(w.fault).toBeUndefined()
    expect(await a.refresh()).toBe(w.cycle)
  })

  it('fails NOT_FOUND on a database no writer created, and creates nothing there', async () => {
    const url = await pg.server.createDatabase()
    await expect(Runtime.open({ store: 'postgres', url, readOnly: true, cacheDir: path.join(pg.dir, 'reader-4') }))
      .rejects.toMatchObject({ code: 'NOT_FOUND', message: expect.stringContaining('holds no Strata store') })
    const tables = await pg.server.query("SELECT count(*)::int AS n FROM pg_tables WHERE tablename LIKE 'strata_%'", [], url)
    expect(tables.rows[0]!.n).toBe(0)
    await expect(Runtime.open({ store: 'postgres', url: pg.server.url('no_such_db'), readOnly: true, cacheDir: path.join(pg.dir, 'reader-5') }))
      .rejects.toMatchObject({ code: 'IO' })
  })
})
