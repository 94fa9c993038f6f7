// Read-only runtimes (Runtime.open({ dataDir, readOnly: true })): opened beside the writer of a data directory,
// they read one committed cycle, consistently, until refreshed, and change nothing.
import { mkdtempSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { ReplyCode, Runtime, verifyProof, type ProgramId } from '../../src/index.js'

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

/** A writer on a fresh directory with `count` counters, each initialized (one cycle). */
async function writer(count: number): Promise<{ rt: Runtime; dataDir: string; ids: ProgramId[] }> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'strata-ro-'))
  const rt = await track(Runtime.open({ dataDir, streams: 0 }))
  const code = await rt.uploadCode('programs/counter.ts')
  const ids: ProgramId[] = []
  for (let i = 0; i < count; i += 1) ids.push(await rt.createProgram(code, { salt: text(String(i)), gasLimit: 10_000_000 }))
  await rt.runUntilIdle()
  return { rt, dataDir, ids }
}

async function inc(rt: Runtime, ids: readonly ProgramId[], times = 1): Promise<void> {
  for (let i = 0; i < times; i += 1) for (const id of ids) rt.send({ source: USER, destination: id, payload: text('inc'), gasLimit: 1_000_000 })
  await rt.runCycle()
}

/** A counter's value as a read-only runtime sees it: through a query, which runs on its snapshot. */
async function count(rt: Runtime, id: ProgramId): Promise<string> {
  return decode((await rt.query(id, text('get'))).payload)
}

describe('read-only runtimes', () => {
  it('open beside a live writer, read its last committed cycle, and stay on it until refreshed', async () => {
    const { rt: w, dataDir, ids } = await writer(3)
    await inc(w, ids)
    const r = await track(Runtime.open({ dataDir, readOnly: true }))
    expect(r.readOnly).toBe(true)
    expect(r.streams).toBe(0)
    const seen = { cycle: w.cycle, root: w.stateRoot() }
    expect([r.cycle, r.stateRoot()]).toEqual([seen.cycle, seen.root])
    const header = r.program(ids[0]!).record().stateAddress!
    const before = r.program(ids[0]!).read(header, 64)
    const proof = await r.prove(ids[0]!, header, 16)

    // The writer moves on, rewriting every counter's state several times.
    for (let i = 0; i < 4; i += 1) await inc(w, ids)
    expect(w.cycle).toBe(seen.cycle + 4)

    // The reader still sees the cycle it opened on, in every read: root, records, memory, queries, cycle records.
    expect([r.cycle, r.stateRoot()]).toEqual([seen.cycle, seen.root])
    expect(r.program(ids[0]!).read(header, 64)).toEqual(before)
    expect(await count(r, ids[0]!)).toBe('1')
    expect(r.cycleRecord(seen.cycle + 1)).toBeUndefined()
    expect(r.cycleRecord(seen.cycle)!.stateRoot).toBe(seen.root)
    expect(verifyProof(r.stateRoot(), await r.prove(ids[0]!, header, 16))).toMatchObject({ ok: true })
    expect(await r.prove(ids[0]!, header, 16)).toEqual(proof)

    // Refreshed, it sees the writer's last commit, whole.
    expect(await r.refresh()).toBe(w.cycle)
    expect(r.stateRoot()).toBe(w.stateRoot())
    expect(await count(r, ids[0]!)).toBe('5')
    expect(r.program(ids[2]!).memoryRoot()).toBe(w.program(ids[2]!).memoryRoot())
    expect(r.cycleRecord(w.cycle)!.stateRoot).toBe(w.stateRoot())
    const fresh = await r.prove(ids[1]!, header, 16)
    expect(verifyProof(w.stateRoot(), fresh)).toMatchObject({ ok: true })
    expect(verifyProof(seen.root, fresh)).toMatchObject({ ok: false })
  })

  it('sees programs, mailboxes and the queue as committed: nothing the writer accepted but did not commit', async () => {
    const { rt: w, dataDir, ids } = await writer(1)
    const r = await track(Runtime.open({ dataDir, readOnly: true }))
    const code = w.codeIds()[0]!
    // Accepted by the writer, not committed yet: a send and a new program.
    w.send({ source: USER, destination: ids[0]!, payload: text('inc'), gasLimit: 1_000_000 })
    const late = await w.createProgram(code, { salt: text('late'), gasLimit: 10_000_000 })
    await r.refresh()
    expect(r.queueLength).toBe(0)
    expect(r.programIds()).toEqual(ids)
    expect(() => r.program(late)).toThrow(expect.objectContaining({ code: 'UNKNOWN_PROGRAM' }))
    await w.flush()
    await r.refresh()
    expect(r.queueLength).toBe(2)
    expect(r.queued().map((m) => m.destination)).toEqual([ids[0], late])
    expect(r.programIds().sort()).toEqual([...ids, late].sort())
    await w.runUntilIdle()
    expect(r.mailbox(USER)).toEqual([])
    await r.refresh()
    const replies = r.mailbox(USER).map((entry) => decode(entry.message.payload))
    expect(replies).toEqual(['1'])
    expect(r.idle).toBe(true)
  })

  it('refuses every change with READ_ONLY and changes nothing', async () => {
    const { rt: w, dataDir, ids } = await writer(1)
    const r = await track(Runtime.open({ dataDir, readOnly: true }))
    const code = w.codeIds()[0]!
    const refused = [
      () => r.send({ source: USER, destination: ids[0]!, payload: text('inc'), gasLimit: 1_000_000 }),
      () => r.createProgram(code, { salt: text('x'), gasLimit: 1_000_000 }),
      () => r.uploadCode('programs/counter.ts'),
      () => r.runCycle(),
      () => r.runUntilIdle(),
      () => r.flush(),
    ]
    for (const attempt of refused) {
      await expect((async () => attempt())()).rejects.toMatchObject({ code: 'READ_ONLY' })
    }
    await r.close()
    open = open.filter((rt) => rt !== r)
    // The writer's head did not move, and the writer can go on.
    expect(w.cycle).toBe(1)
    await inc(w, ids)
    expect(w.cycle).toBe(2)
  })

  it('refuses options that do not make sense for reading, and a directory without a store', async () => {
    const empty = mkdtempSync(path.join(os.tmpdir(), 'strata-ro-empty-'))
    await expect(Runtime.open({ dataDir: empty, readOnly: true })).rejects.toMatchObject({ code: 'NOT_FOUND' })
    await expect(Runtime.open({ store: 'memory', readOnly: true })).rejects.toMatchObject({ code: 'INVALID_OPTION' })
    await expect(Runtime.open({ dataDir: empty, readOnly: true, sync: false })).rejects.toMatchObject({ code: 'INVALID_OPTION' })
    await expect(Runtime.open({ dataDir: empty, readOnly: 'yes' as unknown as boolean })).rejects.toMatchObject({ code: 'INVALID_OPTION' })
  })

  it('many snapshots while the writer commits: each is one committed cycle, whole', async () => {
    const { rt: w, dataDir, ids } = await writer(4)
    const r = await track(Runtime.open({ dataDir, readOnly: true }))
    const committed = new Map<number, string>([[w.cycle, w.stateRoot()]])
    w.on('cycle', (report) => committed.set(report.cycle, report.stateRoot))
    let snapshots = 0
    const check = async (): Promise<void> => {
      const cycle = await r.refresh() // checks the state tree it reads against the root committed with the head
      expect(committed.get(cycle)).toBe(r.stateRoot())
      const id = ids[snapshots % ids.length]!
      const header = r.program(id).record().stateAddress!
      expect(verifyProof(r.stateRoot(), await r.prove(id, header, 16))).toMatchObject({ ok: true })
      expect(r.cycleRecord(cycle)?.stateRoot ?? committed.get(cycle)).toBe(committed.get(cycle))
      snapshots += 1
    }
    // The reader refreshes and reads while each of the writer's cycles executes and commits, and between them.
    for (let i = 0; i < 12; i += 1) {
      for (const id of ids.slice(0, 1 + (i % ids.length))) {
        w.send({ source: USER, destination: id, payload: text('inc'), gasLimit: 1_000_000 })
      }
      const cycle = w.runCycle()
      await check()
      await new Promise((resolve) => setImmediate(resolve))
      await check()
      await cycle
      await check()
    }
    expect(snapshots).toBe(36)
    expect(committed.size).toBe(13)
    await r.refresh()
    expect(r.stateRoot()).toBe(w.stateRoot())
  })
})

describe('queries of a runtime on disk run on a worker', () => {
  it('a handler that exhausts the heap or spins kills or outlives only the query worker: WORKER_DIED, and the next query works', async () => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'strata-query-worker-'))
    const rt = await track(Runtime.open({ dataDir, streams: 0, workerHeapMb: 64, messageTimeoutMs: 2_000 }))
    const code = await rt.uploadCode('test/fixtures/programs/spin.ts')
    const id = await rt.createProgram(code, { gasLimit: 10_000_000 })
    rt.send({ source: USER, destination: id, payload: text('inc'), gasLimit: 1_000_000 })
    await rt.runUntilIdle()
    const hog = await rt.query(id, text('hog'), { gasLimit: 2_000_000_000 })
    expect(hog).toMatchObject({ replyCode: ReplyCode.WORKER_DIED, error: expect.stringContaining('died') })
    // The runtime's thread is alive and so is the next worker: the counter reads as committed.
    expect(decode((await rt.query(id, text('read'))).payload)).toBe('2') // its handler counts every message it runs
    const spin = await rt.query(id, text('spin'), { gasLimit: 2_000_000_000 })
    expect(spin).toMatchObject({ replyCode: ReplyCode.WORKER_DIED, error: expect.stringContaining('longer than 2000 ms') })
    await inc(rt, [id])
    expect(decode((await rt.query(id, text('read'))).payload)).toBe('3')
    expect(await rt.estimateGas({ destination: id, payload: text('read') })).toBeGreaterThan(0)
  }, 60_000)
})
