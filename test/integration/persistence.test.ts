// The runtime on LMDB: what reopening keeps, what the store holds after frees and exits, a second writer, and a
// byte flipped in a stored plane. (Determinism across reopen and rebalancing: test/property/determinism.test.ts;
// SIGKILL and disk full: crash.test.ts.)
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { Runtime, verifyProof, type CycleReport, type ProgramId } from '../../src/index.js'
import { hashPlane, nativeHasher } from '../../src/merkle/index.js'
import { openLmdbStore } from '../../src/store/index.js'

const PROBE = 'test/fixtures/programs/probe.ts'
const USER = 'ab'.repeat(32)
const json = (value: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(value))

let dataDir: string
beforeEach(() => { dataDir = mkdtempSync(path.join(os.tmpdir(), 'strata-persist-')) })
afterEach(() => { rmSync(dataDir, { recursive: true, force: true }) })

async function codeOf(run: () => Promise<unknown> | unknown): Promise<string | undefined> {
  try {
    await run()
  } catch (error) {
    return (error as { code?: string }).code
  }
  return undefined
}

/** A probe program that keeps `text` in a heap block of `size` bytes, reachable from its state. */
async function probeWith(rt: Runtime, salt: string, text: string, size = 100_000): Promise<ProgramId> {
  const code = await rt.uploadCode(PROBE)
  const id = await rt.createProgram(code, { salt: new TextEncoder().encode(salt), gasLimit: 50_000_000 })
  await rt.runCycle()
  rt.send({ source: USER, destination: id, gasLimit: 50_000_000,
    payload: json([{ do: 'alloc', size, as: 'b' }, { do: 'store', at: 'b', offset: size - 64, text }]) })
  await rt.runCycle()
  return id
}

describe('the runtime on LMDB', () => {
  it('reopens where it stopped: cycle, root, records, memory, mailboxes, queued messages and proofs', async () => {
    let rt = await Runtime.open({ dataDir, streams: 0 })
    const reports: CycleReport[] = []
    rt.on('cycle', (report) => reports.push(report))
    const id = await probeWith(rt, 'p', 'kept across reopen')
    const [block] = rt.program(id).allocations().filter((a) => a.size === 100_000)
    rt.send({ source: USER, destination: id, payload: json([{ do: 'reply', text: 'queued before close' }]), gasLimit: 5_000_000 })
    const before = {
      cycle: rt.cycle, root: rt.stateRoot(), record: rt.program(id).record(), memoryRoot: rt.program(id).memoryRoot(),
      bytes: rt.program(id).read(block!.address, block!.size), mailbox: rt.mailbox(USER), queue: rt.queueLength,
    }
    expect(before.queue).toBe(1)
    await rt.close()

    rt = await Runtime.open({ dataDir, streams: 2 })
    try {
      expect(rt.cycle).toBe(before.cycle)
      expect(rt.stateRoot()).toBe(before.root)
      // Every committed cycle kept its record: the root and counts its report gave.
      expect(reports.map((r) => r.cycle)).toEqual([1, 2])
      for (const { queueLength: _q, ms: _ms, watchdogStalls: _w, ...report } of reports) expect(rt.cycleRecord(report.cycle)).toEqual(report)
      expect(rt.cycleRecord(3)).toBeUndefined()
      expect(rt.program(id).record()).toEqual(before.record)
      expect(rt.program(id).memoryRoot()).toBe(before.memoryRoot)
      expect(rt.program(id).read(block!.address, block!.size)).toEqual(before.bytes)
      expect(rt.mailbox(USER)).toEqual(before.mailbox)
      expect(rt.queueLength).toBe(1)
      const proof = await rt.prove(id, block!.address + block!.size - 64, 18)
      const verified = verifyProof(rt.stateRoot(), proof)
      expect(verified.ok && new TextDecoder().decode((verified as { data: Uint8Array }).data)).toBe('kept across reopen')
      // The message accepted before close runs now, on worker streams that read the program from the store.
      const report = await rt.runCycle()
      expect(report.processed).toBe(1)
      expect(new TextDecoder().decode(rt.mailbox(USER).at(-1)!.message.payload)).toBe('queued before close')
    } finally {
      await rt.close()
    }
  })

  it('removes planes from the store when memory frees them and when a program exits', async () => {
    const rt = await Runtime.open({ dataDir, streams: 0 })
    const kept = await probeWith(rt, 'kept', 'x', 300_000)
    const leaving = await probeWith(rt, 'leaving', 'y', 300_000)
    const planesOf = async (id: ProgramId): Promise<number[]> => {
      const store = await openLmdbStore({ dataDir, readOnly: true, verify: (b) => hashPlane(nativeHasher, b) })
      try {
        return store.planeKeys(id)
      } finally {
        await store.close()
      }
    }
    const [block] = rt.program(kept).allocations().filter((a) => a.size === 300_000)
    // Planes materialize when written: the block's last plane holds the text.
    const before = await planesOf(kept)
    expect(before.length).toBe(rt.program(kept).stats().planesMaterialized)
    expect(before.length).toBeGreaterThan(0)
    expect((await planesOf(leaving)).length).toBeGreaterThan(0)
    // Freeing the block leaves only the planes that still hold data.
    rt.send({ source: USER, destination: kept, gasLimit: 50_000_000,
      payload: json([{ do: 'freeAt', address: block!.address }]) })
    rt.send({ source: USER, destination: leaving, payload: json([{ do: 'exit', to: USER }]), gasLimit: 5_000_000 })
    await rt.runCycle()
    const stats = rt.program(kept).stats()
    expect(await planesOf(kept)).toHaveLength(stats.planesMaterialized)
    expect(stats.planesMaterialized).toBeLessThan(before.length)
    expect(await planesOf(leaving)).toEqual([])
    expect(rt.program(leaving).record().status).toBe('exited')
    await rt.close()
  })

  it('refuses a second writer on the same directory, and the first keeps working', async () => {
    const rt = await Runtime.open({ dataDir, streams: 0 })
    try {
      expect(await codeOf(() => Runtime.open({ dataDir, streams: 0 }))).toBe('LOCKED')
      const id = await probeWith(rt, 'p', 'still mine')
      expect(rt.program(id).record().status).toBe('active')
    } finally {
      await rt.close()
    }
  })

  it.each([0, 2])('detects a byte flipped in a stored plane when it is read (streams %i), and stops', async (streams) => {
    const marker = `strata-flip-marker-${streams}-0123456789abcdef`
    let rt = await Runtime.open({ dataDir, streams: 0 })
    const id = await probeWith(rt, 'victim', marker)
    const [block] = rt.program(id).allocations().filter((a) => a.size === 100_000)
    const root = rt.stateRoot()
    await rt.close()
    const file = path.join(dataDir, 'data.mdb')
    const bytes = readFileSync(file)
    const at = bytes.indexOf(Buffer.from(marker))
    expect(at).toBeGreaterThan(0)
    expect(bytes.indexOf(Buffer.from(marker), at + 1)).toBe(-1)
    bytes[at + 3] = bytes[at + 3]! ^ 0x01
    writeFileSync(file, bytes)

    rt = await Runtime.open({ dataDir, streams })
    try {
      // Opening reads no plane; the first read of the corrupt one is refused, naming program and plane.
      expect(rt.stateRoot()).toBe(root)
      rt.send({ source: USER, destination: id, gasLimit: 5_000_000,
        payload: json([{ do: 'loadAt', address: block!.address + 100_000 - 64, length: 8 }]) })
      let thrown: (Error & { code?: string }) | undefined
      await rt.runCycle().catch((error: Error) => { thrown = error })
      expect(thrown?.code).toBe('INTEGRITY')
      expect(thrown?.message).toContain(id)
      expect(await codeOf(() => rt.runCycle())).toBe('FAULTED')
    } finally {
      await rt.close()
    }
    // Nothing was committed past the corruption: the store still holds the last good cycle.
    rt = await Runtime.open({ dataDir, streams: 0 })
    try {
      expect(rt.stateRoot()).toBe(root)
      // Reading the corrupt plane is refused here too.
      expect(await codeOf(() => rt.program(id).read(block!.address + 100_000 - 64, 8))).toBe('INTEGRITY')
    } finally {
      await rt.close()
    }
  })

  it('refuses options that do not fit the store, touching nothing', async () => {
    const missing = path.join(dataDir, 'never-created')
    expect(await codeOf(() => Runtime.open({ store: 'memory', dataDir: missing }))).toBe('INVALID_OPTION')
    expect(await codeOf(() => Runtime.open({ dataDir: missing, streams: -1 }))).toBe('INVALID_OPTION')
    expect(await codeOf(() => Runtime.open({ dataDir: missing, sync: 'yes' as never }))).toBe('INVALID_OPTION')
    expect(await codeOf(() => Runtime.open({ dataDir: '' }))).toBe('INVALID_OPTION')
    expect(await codeOf(() => Runtime.open({ store: 'disk' as never }))).toBe('INVALID_OPTION')
    expect(() => readFileSync(path.join(missing, 'data.mdb'))).toThrow()
  })
})
