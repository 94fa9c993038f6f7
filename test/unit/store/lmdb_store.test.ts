/**
 * What only the on-disk store must do: survive reopening, crashes, corruption, a second writer, foreign formats,
 * a refusing file system, and readers in worker threads.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { once } from 'node:events'
import { performance } from 'node:perf_hooks'
import { Worker } from 'node:worker_threads'
import { open as openRaw } from 'lmdb'
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest'
import { StoreErrorCode, WRITER_LOCK_FILE_NAME, openLmdbStore, type LmdbStore } from '../../../src/store/index.js'
import type { CodeId } from '../../../src/message/ids.js'
import { encodeHead } from '../../../src/store/codec.js'
import { childBundle } from './child_bundle.js'
import {
  CHUNK_CRASH_PLANES, chunkCrashPlane, CRASH_MERKLE_KEY, CRASH_MESSAGES_PER_CYCLE, CRASH_PROGRAM, SPLIT_PLANES_PER_TRANSACTION, message, planeBytes, planeChange,
  planeSeed, programId, record, rootOf, sameBytes, sha256, splitHistory, splitLarge, tempDir, userId, verify,
} from './fixtures.js'

let temp: ReturnType<typeof tempDir>
let dataDir: string
const stores: LmdbStore[] = []
const children: ChildProcess[] = []

async function openStore(options: Partial<Parameters<typeof openLmdbStore>[0]> = {}): Promise<LmdbStore> {
  const store = await openLmdbStore({ dataDir, verify, ...options })
  stores.push(store)
  return store
}

async function codeOf(action: () => unknown): Promise<string | undefined> {
  try {
    await action()
  } catch (error) {
    return (error as { code?: string }).code
  }
  return undefined
}

function startChild(args: string[], shellPrefix?: string): ChildProcess {
  const argv = [childBundle(), ...args]
  const child = shellPrefix === undefined
    ? spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn('bash', ['-c', `${shellPrefix}; exec "$0" "$@"`, process.execPath, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] })
  children.push(child)
  return child
}

/** A child's stdout as timestamped lines, kept in full so that no line is lost between two waits. */
class Lines {
  readonly lines: { readonly text: string; readonly atMs: number }[] = []
  #partial = ''
  #stderr = ''
  #waiters: (() => void)[] = []
  #exited: string | undefined

  constructor(child: ChildProcess) {
    child.stdout!.on('data', (chunk: Buffer) => {
      const parts = (this.#partial + chunk.toString()).split('\n')
      this.#partial = parts.pop()!
      for (const text of parts) this.lines.push({ text, atMs: performance.now() })
      for (const wake of this.#waiters.splice(0)) wake()
    })
    child.stderr!.on('data', (chunk: Buffer) => { this.#stderr += chunk.toString() })
    child.once('exit', (code, signal) => {
      this.#exited = `child exited (${code ?? signal}): ${this.#stderr}`
      for (const wake of this.#waiters.splice(0)) wake()
    })
  }

  /** The index of the first line at or after `from` matching `pattern`, waiting for it if needed. */
  async waitFor(pattern: RegExp, from = 0): Promise<number> {
    for (;;) {
      const at = this.lines.findIndex((line, i) => i >= from && pattern.test(line.text))
      if (at >= 0) return at
      if (this.#exited !== undefined) throw new Error(`${this.#exited} before ${pattern}`)
      await new Promise<void>((resolve) => this.#waiters.push(resolve))
    }
  }
}

/**
 * Times one whole commit of a crash-loop child (staging, final transaction, flush), lets `settle` more commits
 * finish, then kills the child at a random point of the next one's span, so that kills land in every phase across
 * rounds and runs. Returns the last cycle the child reported done.
 */
async function killMidCommit(child: ChildProcess, settle: number): Promise<number> {
  const output = new Lines(child)
  const begun = await output.waitFor(/^begin /)
  let done = await output.waitFor(/^done /, begun)
  const commitMs = output.lines[done]!.atMs - output.lines[begun]!.atMs
  for (let i = 0; i < settle; i += 1) done = await output.waitFor(/^done /, await output.waitFor(/^begin /, done))
  await output.waitFor(/^begin /, done)
  await new Promise((resolve) => setTimeout(resolve, Math.random() * commitMs))
  await kill(child)
  let last = 0
  for (const { text } of output.lines) if (text.startsWith('done ')) last = Math.max(last, Number(text.slice(5)))
  return last
}

async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = once(child, 'exit')
  child.kill('SIGKILL')
  await exited
}

beforeEach(() => {
  temp = tempDir()
  dataDir = path.join(temp.dir, 'data')
})

afterEach(async () => {
  for (const child of children.splice(0)) await kill(child)
  for (const store of stores.splice(0)) await store.close()
  temp.remove()
})

afterAll(() => {
  try { unlinkSync(childBundle()) } catch { /* never built */ }
})

/** Blobs stored and plane index entries, read raw from a closed store's directory. */
function rawCounts(dir: string): { blobs: number; index: number } {
  const env = openRaw({ path: dir, maxDbs: 24, keyEncoding: 'binary', encoding: 'binary' })
  try {
    const count = (name: string): number => env.openDB(name, { keyEncoding: 'binary', encoding: 'binary' }).getKeysCount()
    return { blobs: count('blobs'), index: count('planes') }
  } finally {
    void env.close()
  }
}

/** A store with some of everything, for reopen comparisons. */
async function populate(store: LmdbStore): Promise<void> {
  const blob = new TextEncoder().encode('code')
  await store.putCode(Buffer.from(sha256(blob)).toString('hex') as CodeId, blob)
  await store.commit({ cycle: 0, stateRoot: rootOf('intake'), nonces: [[userId(1), 3]], queue: { appended: [message(1)] } })
  await store.commit({
    cycle: 1, stateRoot: rootOf(1), programs: [record(1), record(2)],
    memory: [{ programId: programId(1), dropped: false, meta: Uint8Array.of(7), planes: [planeChange(1, 0), planeChange(1, 3)] }],
    queue: { consumed: 1, appended: [message(2), message(3)] },
    waitlist: { put: [{ message: message(4), programId: programId(1), untilCycle: 9 }] },
    delayed: { append: [[5, [message(5)]]] },
    mailboxes: [[userId(2), [{ message: message(6), cycle: 1 }]]],
    merkle: { put: [[Uint8Array.of(1), rootOf('node')]] },
  })
}

function snapshot(store: LmdbStore): unknown {
  return {
    head: store.head(), codes: [...store.codeIds()], programs: [...store.programIds()].map((id) => store.program(id)),
    meta: store.memoryMeta(programId(1)), planeKeys: store.planeKeys(programId(1)),
    planes: store.planeKeys(programId(1)).map((k) => Buffer.from(store.plane(programId(1), k)!).toString('base64')),
    queue: [...store.queue()], waitlist: [...store.waitlist()], delayed: store.delayed(5), mailbox: store.mailbox(userId(2)),
    nonce: store.nonce(userId(1)), merkle: store.merkleNode(Uint8Array.of(1)),
  }
}

describe('lmdb store on disk', () => {
  it('reopens in a fresh store object with identical data', async () => {
    const store = await openStore()
    await populate(store)
    const before = snapshot(store)
    await store.close()
    const reopened = await openStore()
    expect(snapshot(reopened)).toEqual(before)
    expect(reopened.head().cycle).toBe(1)
    // and continues from there
    await reopened.commit({ cycle: 2, stateRoot: rootOf(2), queue: { consumed: 2 } })
    expect(reopened.queueLength()).toBe(0)
  })

  it('opens by reading a constant number of entries, whatever it holds', async () => {
    const small = await openStore({ dataDir: path.join(temp.dir, 'small') })
    await small.commit({ cycle: 1, stateRoot: rootOf(1), programs: [record(1)] })
    await small.close()
    const large = await openStore({ dataDir: path.join(temp.dir, 'large'), sync: false })
    for (let batch = 0; batch < 4; batch += 1) {
      await large.commit({
        cycle: batch + 1, stateRoot: rootOf(batch),
        programs: Array.from({ length: 1_000 }, (_, i) => record(batch * 1_000 + i)),
        memory: [{ programId: programId(batch), dropped: false, meta: new Uint8Array(8), planes: Array.from({ length: 50 }, (_, k) => planeChange(batch, k)) }],
        queue: { appended: Array.from({ length: 100 }, (_, i) => message(batch * 100 + i)) },
      })
    }
    await large.close()
    const reopenedSmall = await openStore({ dataDir: path.join(temp.dir, 'small') })
    const reopenedLarge = await openStore({ dataDir: path.join(temp.dir, 'large') })
    expect(reopenedLarge.programCount()).toBe(4_000)
    expect(reopenedLarge.diagnostics().openEntriesRead).toBe(reopenedSmall.diagnostics().openEntriesRead)
    expect(reopenedLarge.diagnostics().openEntriesRead).toBeLessThan(32)
  })

  it('detects a byte flipped in a stored plane in the data file, naming program and plane', async () => {
    const store = await openStore()
    const plane = planeBytes(3, 0)
    const marker = Buffer.from('strata-corruption-marker-0123456')
    plane.set(marker, 40_000)
    const key = 2 * 65_536 + 17
    await store.commit({
      cycle: 1, stateRoot: rootOf(1),
      memory: [{ programId: programId(9), dropped: false, meta: new Uint8Array(1), planes: [{ key, bytes: plane, root: sha256(plane) }, planeChange(3, 1)] }],
    })
    await store.close()
    const file = path.join(dataDir, 'data.mdb')
    const bytes = readFileSync(file)
    const at = bytes.indexOf(marker)
    expect(at).toBeGreaterThan(0)
    expect(bytes.indexOf(marker, at + 1)).toBe(-1)
    bytes[at + 5] = bytes[at + 5]! ^ 0x01
    writeFileSync(file, bytes)

    const reopened = await openStore()
    let thrown: Error & { code?: string; details?: Record<string, unknown> } | undefined
    try { reopened.plane(programId(9), key) } catch (error) { thrown = error as never }
    expect(thrown?.code).toBe(StoreErrorCode.INTEGRITY)
    expect(thrown?.message).toContain(programId(9))
    expect(thrown?.message).toContain(`plane ${key} (region 2, plane 17)`)
    expect(thrown?.details).toMatchObject({ programId: programId(9), planeKey: key, region: 2, plane: 17 })
    // The untouched plane of the same program still reads.
    expect(sameBytes(reopened.plane(programId(9), 1), planeBytes(3, 1))).toBe(true)
  })

  it('reports a malformed stored record as INTEGRITY', async () => {
    const store = await openStore()
    await store.commit({ cycle: 1, stateRoot: rootOf(1), programs: [record(1)] })
    await store.close()
    const env = openRaw({ path: dataDir, maxDbs: 24, keyEncoding: 'binary', encoding: 'binary' })
    env.openDB('programs', { keyEncoding: 'binary', encoding: 'binary' }).putSync(Buffer.from(programId(1), 'hex'), Buffer.from([0xc1]))
    await env.close()
    const reopened = await openStore()
    expect(await codeOf(() => reopened.program(programId(1)))).toBe(StoreErrorCode.INTEGRITY)
  })

  it('deletes blobs a crashed commit staged, when opening', async () => {
    const store = await openStore()
    await store.commit({ cycle: 1, stateRoot: rootOf(1), memory: [{ programId: programId(1), dropped: false, meta: new Uint8Array(1), planes: [planeChange(1, 0)] }] })
    await store.close()
    // What a commit killed after its staging transactions leaves: blobs under the next commit number.
    const env = openRaw({ path: dataDir, maxDbs: 24, keyEncoding: 'binary', encoding: 'binary' })
    const blobs = env.openDB('blobs', { keyEncoding: 'binary', encoding: 'binary' })
    blobs.transactionSync(() => {
      for (let i = 0; i < 5; i += 1) {
        const key = Buffer.alloc(12)
        key.writeUInt32BE(2, 4) // commit number 2 = head.commitCount + 1
        key.writeUInt32BE(i, 8)
        blobs.putSync(key, Buffer.from(planeBytes(2, i)))
      }
    })
    await env.close()
    const reopened = await openStore()
    expect(reopened.diagnostics().pendingBlobsDeleted).toBe(5)
    expect(sameBytes(reopened.plane(programId(1), 0), planeBytes(1, 0))).toBe(true)
    await reopened.close()
    const again = await openStore()
    expect(again.diagnostics().pendingBlobsDeleted).toBe(0)
  })

  it('commits thousands of planes in chunked transactions, all visible at once', async () => {
    const store = await openStore({ planesPerTransaction: 1_000 })
    const planes = Array.from({ length: 2_500 }, (_, k) => planeChange(1, k))
    const committing = store.commit({ cycle: 1, stateRoot: rootOf(1), memory: [{ programId: programId(1), dropped: false, meta: new Uint8Array(1), planes }] })
    // While staging (the commit yields between chunks) readers still see the previous head and no planes.
    await new Promise((resolve) => setImmediate(resolve))
    expect(store.head().cycle).toBe(0)
    expect(store.planeKeys(programId(1))).toEqual([])
    await committing
    expect(store.diagnostics().lastCommitTransactions).toBe(3)
    expect(store.head().cycle).toBe(1)
    const keys = store.planeKeys(programId(1))
    expect(keys).toHaveLength(2_500)
    for (const k of [0, 999, 1_000, 1_999, 2_000, 2_499]) expect(planeSeed(store.plane(programId(1), k)!)).toBe(1)
    // Rewriting them replaces every blob: the file does not keep old copies reachable.
    await store.commit({ cycle: 2, stateRoot: rootOf(2), memory: [{ programId: programId(1), dropped: false, meta: new Uint8Array(1), planes: planes.map(({ key }) => planeChange(2, key)) }] })
    expect(planeSeed(store.plane(programId(1), 2_499)!)).toBe(2)
    await expect(store.commit({ cycle: 3, stateRoot: rootOf(3) }).then(() => store.commit({ cycle: 4, stateRoot: rootOf(4) })))
      .resolves.toMatchObject({ cycle: 4 })
  })

  it('keeps the planes of earlier small commits when a later commit is split, and leaves no stray blobs', async () => {
    const store = await openStore({ planesPerTransaction: SPLIT_PLANES_PER_TRANSACTION })
    for (const batch of splitHistory()) await store.commit(batch)
    await store.commit(splitLarge())
    expect(store.diagnostics().lastCommitTransactions).toBe(4) // three staging parts and the final one
    const expectSplitState = (s: LmdbStore): void => {
      // Every plane of the small commits is still its own (a staged blob under an old key would replace it and fail
      // verification), except the one the split commit rewrote.
      for (const cycle of [1, 2, 3]) {
        for (const key of [0, 1, 2]) {
          const expected = cycle === 1 && key === 1 ? 4 : cycle
          expect(planeSeed(s.plane(programId(100 + cycle), key)!)).toBe(expected)
        }
      }
      for (let key = 0; key < 13; key += 1) expect(sameBytes(s.plane(programId(200), key), planeBytes(4, key))).toBe(true)
    }
    expectSplitState(store)
    // Another split commit rewriting staged planes, then a small one: each replaces blobs, none is left behind.
    await store.commit({ ...splitLarge(), cycle: 5, stateRoot: rootOf(5) })
    await store.commit({ cycle: 6, stateRoot: rootOf(6), memory: [{ programId: programId(102), dropped: true, meta: new Uint8Array(0), planes: [] }] })
    await store.close()
    // Each plane of the fixtures was written whole, its 16 chunks one run: one blob a plane, and nothing else.
    expect(rawCounts(dataDir)).toEqual({ blobs: 3 * 2 + 13, index: 3 * 2 + 13 })
    const reopened = await openStore()
    expect(reopened.diagnostics().pendingBlobsDeleted).toBe(0)
    expect(planeSeed(reopened.plane(programId(103), 2)!)).toBe(3)
    expect(reopened.planeKeys(programId(102))).toEqual([])
    expect(planeSeed(reopened.plane(programId(200), 12)!)).toBe(4)
  })

  it('writes only the chunks a commit says changed, and stores no blob for a chunk of zeros', async () => {
    const store = await openStore()
    const id = programId(5)
    const first = planeBytes(1, 0)
    first.fill(0, 8 * 4096, 9 * 4096) // chunk 8 is zeros from the start
    await store.commit({ cycle: 1, stateRoot: rootOf(1), memory: [{ programId: id, dropped: false, meta: new Uint8Array(1), planes: [{ key: 0, bytes: first, root: sha256(first), chunks: 0 }] }] })
    expect(store.diagnostics().lastCommitChunkWrites).toBe(15) // a plane not stored yet is written whole, less its zero chunk
    const second = first.slice()
    second.fill(0xab, 3 * 4096 + 10, 3 * 4096 + 18) // an 8-byte change in chunk 3
    second.fill(0, 5 * 4096, 6 * 4096) // chunk 5 becomes zeros
    await store.commit({ cycle: 2, stateRoot: rootOf(2), memory: [{ programId: id, dropped: false, meta: new Uint8Array(1), planes: [{ key: 0, bytes: second, root: sha256(second), chunks: (1 << 3) | (1 << 5) }] }] })
    expect(store.diagnostics().lastCommitChunkWrites).toBe(1)
    expect(sameBytes(store.plane(id, 0), second)).toBe(true)
    await store.close()
    // Runs 0-7 and 9-15 from the first commit (still named by their other chunks) and chunk 3's new one.
    expect(rawCounts(dataDir)).toEqual({ blobs: 3, index: 1 })
    const reopened = await openStore()
    expect(sameBytes(reopened.plane(id, 0), second)).toBe(true)
    // Rewritten whole: one new run, and every blob of the old runs is gone.
    const third = planeBytes(9, 0)
    await reopened.commit({ cycle: 3, stateRoot: rootOf(3), memory: [{ programId: id, dropped: false, meta: new Uint8Array(1), planes: [{ key: 0, bytes: third, root: sha256(third) }] }] })
    expect(reopened.diagnostics().lastCommitChunkWrites).toBe(16)
    expect(sameBytes(reopened.plane(id, 0), third)).toBe(true)
    await reopened.close()
    expect(rawCounts(dataDir)).toEqual({ blobs: 1, index: 1 })
  })

  it('rewrites a run in place only when no other chunk lives in its blob', async () => {
    const store = await openStore()
    const id = programId(6)
    const first = planeBytes(2, 0)
    await store.commit({ cycle: 1, stateRoot: rootOf(1), memory: [{ programId: id, dropped: false, meta: new Uint8Array(1), planes: [{ key: 0, bytes: first, root: sha256(first) }] }] })
    // Chunks 0 and 1 change: their run shares a blob with chunks 2-15, which must survive.
    const second = first.slice()
    second.fill(0x5a, 0, 2 * 4096)
    await store.commit({ cycle: 2, stateRoot: rootOf(2), memory: [{ programId: id, dropped: false, meta: new Uint8Array(1), planes: [{ key: 0, bytes: second, root: sha256(second), chunks: 0b11 }] }] })
    expect(sameBytes(store.plane(id, 0), second)).toBe(true)
    // The same two chunks again: now their run is a blob of its own, rewritten in place.
    const third = second.slice()
    third.fill(0x6b, 0, 2 * 4096)
    await store.commit({ cycle: 3, stateRoot: rootOf(3), memory: [{ programId: id, dropped: false, meta: new Uint8Array(1), planes: [{ key: 0, bytes: third, root: sha256(third), chunks: 0b11 }] }] })
    expect(sameBytes(store.plane(id, 0), third)).toBe(true)
    await store.close()
    expect(rawCounts(dataDir)).toEqual({ blobs: 2, index: 1 })
    expect(sameBytes((await openStore()).plane(id, 0), third)).toBe(true)
  })

  it('converts a format-1 store (whole-plane blobs) when a writer opens it; readers refuse it until then', async () => {
    // A format-1 store as the previous release wrote it: head, index root | blob key, one 65,536-byte blob.
    const plane = planeBytes(7, 2)
    plane.fill(0, 0, 4096)
    const env = openRaw({ path: dataDir, maxDbs: 24, keyEncoding: 'binary', encoding: 'binary' })
    const dbs = Object.fromEntries(['meta', 'codes', 'programs', 'memmeta', 'planes', 'blobs', 'queue', 'waitlist', 'deadlines',
      'delayed', 'mailbox', 'mailboxmeta', 'nonces', 'merkle', 'cycles'].map((name) => [name, env.openDB(name, { keyEncoding: 'binary', encoding: 'binary' })]))
    const oldBlobKey = Buffer.alloc(12)
    oldBlobKey.writeUInt32BE(3, 4)
    env.transactionSync(() => {
      dbs.meta!.putSync(Buffer.from('format'), Buffer.from([0, 0, 0, 1]))
      dbs.meta!.putSync(Buffer.from('head'), Buffer.from(encodeHead({ cycle: 3, stateRoot: rootOf(3), commitCount: 3, queueHead: 0, queueTail: 0 })))
      dbs.planes!.putSync(Buffer.concat([Buffer.from(programId(9), 'hex'), Buffer.from([0, 0, 0, 2])]), Buffer.concat([Buffer.from(sha256(plane)), oldBlobKey]))
      dbs.blobs!.putSync(oldBlobKey, Buffer.from(plane))
      dbs.memmeta!.putSync(Buffer.from(programId(9), 'hex'), Buffer.from([1]))
    })
    await env.close()
    expect(await codeOf(() => openLmdbStore({ dataDir, verify, readOnly: true }))).toBe(StoreErrorCode.FORMAT_VERSION)
    const store = await openStore()
    expect(store.diagnostics().planesConverted).toBe(1)
    expect(store.head()).toMatchObject({ cycle: 3, commitCount: 3 })
    expect(sameBytes(store.plane(programId(9), 2), plane)).toBe(true)
    await store.commit({ cycle: 4, stateRoot: rootOf(4) })
    await store.close()
    expect(rawCounts(dataDir)).toEqual({ blobs: 1, index: 1 }) // no bytes moved: the old blob is the plane's one run
    const again = await openStore({ readOnly: true })
    expect(again.diagnostics().planesConverted).toBe(0)
    expect(sameBytes(again.plane(programId(9), 2), plane)).toBe(true)
  })

  it('recovers the previous commit when killed between the parts of a split commit', async () => {
    const child = startChild(['split', dataDir])
    const output = new Lines(child)
    await output.waitFor(/^history$/)
    if (child.exitCode === null && child.signalCode === null) await once(child, 'exit')
    expect(child.signalCode).toBe('SIGKILL')
    expect(output.lines.map((l) => l.text)).not.toContain('committed')
    // The kill left one staging part (SPLIT_PLANES_PER_TRANSACTION whole planes, a blob each) and nothing else.
    const staged = rawCounts(dataDir)
    expect(staged.blobs - staged.index).toBe(SPLIT_PLANES_PER_TRANSACTION)
    const store = await openStore({ planesPerTransaction: SPLIT_PLANES_PER_TRANSACTION })
    expect(store.diagnostics().pendingBlobsDeleted).toBe(SPLIT_PLANES_PER_TRANSACTION)
    expect(store.head().cycle).toBe(3)
    for (const cycle of [1, 2, 3]) for (const key of [0, 1, 2]) expect(planeSeed(store.plane(programId(100 + cycle), key)!)).toBe(cycle)
    expect(store.planeKeys(programId(200))).toEqual([])
    // The same commit goes through after recovery, and the store holds exactly what its index names.
    await store.commit(splitLarge())
    expect(planeSeed(store.plane(programId(101), 1)!)).toBe(4)
    expect(planeSeed(store.plane(programId(103), 0)!)).toBe(3)
    await store.close()
    expect(rawCounts(dataDir)).toEqual({ blobs: 9 + 13, index: 9 + 13 })
  })

  it('stays consistent when killed in the middle of chunked 3,000-plane commits', async () => {
    const planes = 3_000
    let lastDone = 0
    for (let round = 0; round < 3; round += 1) {
      lastDone = Math.max(lastDone, await killMidCommit(startChild(['crash', dataDir, String(planes)]), 0))

      const store = await openLmdbStore({ dataDir, verify })
      try {
        const head = store.head()
        // Exactly the last committed head (the kill may land after the final transaction, before "done").
        expect(head.cycle === lastDone || head.cycle === lastDone + 1).toBe(true)
        expect(head.stateRoot).toEqual(rootOf(head.cycle))
        expect(store.merkleNode(CRASH_MERKLE_KEY)).toEqual(rootOf(head.cycle))
        expect(store.queueLength()).toBe(head.cycle * CRASH_MESSAGES_PER_CYCLE)
        expect(store.memoryMeta(CRASH_PROGRAM)).toEqual(Uint8Array.of(head.cycle & 0xff))
        const keys = store.planeKeys(CRASH_PROGRAM)
        expect(keys).toHaveLength(planes)
        // Every plane verifies against its root and belongs to the head's cycle: no mix of two commits.
        for (const key of keys) expect(planeSeed(store.plane(CRASH_PROGRAM, key)!)).toBe(head.cycle)
        lastDone = head.cycle
      } finally {
        await store.close()
      }
    }
  }, 30_000)
})

describe('lmdb store access', () => {
  it('fails LOCKED while another process writes, allows readers, and breaks a dead writer\'s lock', async () => {
    const seed = await openStore()
    await seed.commit({ cycle: 1, stateRoot: rootOf(1) })
    await seed.close()
    const holder = startChild(['hold', dataDir])
    await new Lines(holder).waitFor(/^ready$/)
    let thrown: Error & { code?: string } | undefined
    try { await openLmdbStore({ dataDir, verify }) } catch (error) { thrown = error as never }
    expect(thrown?.code).toBe(StoreErrorCode.LOCKED)
    expect(thrown?.message).toContain(`process ${holder.pid}`)
    const reader = await openStore({ readOnly: true })
    expect(reader.head().cycle).toBe(1)
    await kill(holder)
    // The dead holder's lock file is still there; the next writer breaks it, beside the open reader.
    expect(existsSync(path.join(dataDir, WRITER_LOCK_FILE_NAME))).toBe(true)
    const writer = await openStore()
    await writer.commit({ cycle: 2, stateRoot: rootOf(2) })
    expect(reader.head().cycle).toBe(2)
  })

  it('treats a lock file of a live pid as held and a half-written one as stale', async () => {
    mkdirSync(dataDir, { recursive: true })
    const lockPath = path.join(dataDir, WRITER_LOCK_FILE_NAME)
    writeFileSync(lockPath, '1\nsomeone\n') // pid 1 is always alive
    let thrown: Error & { code?: string } | undefined
    try { await openLmdbStore({ dataDir, verify }) } catch (error) { thrown = error as never }
    expect(thrown?.code).toBe(StoreErrorCode.LOCKED)
    expect(thrown?.message).toContain('process 1')
    writeFileSync(lockPath, '12') // a writer killed between creating the file and finishing its line
    const store = await openStore()
    expect(readFileSync(lockPath, 'utf8')).toMatch(new RegExp(`^${process.pid}\n`))
    await store.close()
    expect(existsSync(lockPath)).toBe(false)
  })

  it('fails LOCKED for a second writer in the same process, and frees the directory on close', async () => {
    const first = await openStore()
    expect(await codeOf(() => openLmdbStore({ dataDir, verify }))).toBe(StoreErrorCode.LOCKED)
    await first.close()
    expect(existsSync(path.join(dataDir, WRITER_LOCK_FILE_NAME))).toBe(false)
    await openStore()
  })

  it('serves read-only stores in worker threads of the writer\'s process', async () => {
    const writer = await openStore()
    await writer.commit({
      cycle: 1, stateRoot: rootOf(1),
      memory: [{ programId: programId(1), dropped: false, meta: new Uint8Array(1), planes: [planeChange(4, 12)] }],
    })
    interface ReadResult { cycle: number; stateRoot: Uint8Array; planeRoot: Uint8Array | null }
    const read = async (): Promise<ReadResult> => {
      const worker = new Worker(childBundle(), { workerData: { dataDir, programId: programId(1), key: 12 } })
      return new Promise((resolve, reject) => {
        let result: ReadResult | undefined
        worker.once('message', (value: ReadResult) => { result = value })
        worker.once('error', reject)
        worker.once('exit', (code) => {
          if (result !== undefined) resolve(result)
          else reject(new Error(`reader worker exited with ${code} without a result`))
        })
      })
    }
    const [a, b] = await Promise.all([read(), read()])
    for (const result of [a, b]) {
      expect(result.cycle).toBe(1)
      expect(new Uint8Array(result.stateRoot)).toEqual(rootOf(1))
      expect(new Uint8Array(result.planeRoot!)).toEqual(sha256(planeBytes(4, 12)))
    }
    // The workers closed their stores; the writer's environment is untouched.
    await writer.commit({ cycle: 2, stateRoot: rootOf(2), memory: [{ programId: programId(1), dropped: false, meta: new Uint8Array(1), planes: [planeChange(5, 12)] }] })
    expect(planeSeed(writer.plane(programId(1), 12)!)).toBe(5)
    expect(new Uint8Array((await read()).planeRoot!)).toEqual(sha256(planeBytes(5, 12)))
  })

  it('refuses writes on a read-only store and read-only opens of a directory without a store', async () => {
    expect(await codeOf(() => openLmdbStore({ dataDir, verify, readOnly: true }))).toBe(StoreErrorCode.NOT_FOUND)
    const writer = await openStore()
    const reader = await openStore({ readOnly: true })
    expect(await codeOf(() => reader.commit({ cycle: 1, stateRoot: rootOf(1) }))).toBe(StoreErrorCode.READ_ONLY)
    await writer.commit({ cycle: 1, stateRoot: rootOf(1), queue: { appended: [message(1)] } })
    expect(reader.head().cycle).toBe(1)
    expect([...reader.queue()]).toEqual([message(1)])
  })

  it('a snapshot reader reads one commit in every key space, counts included, until it refreshes', async () => {
    expect(await codeOf(() => openStore({ snapshot: true }))).toBe(StoreErrorCode.INVALID_ARGUMENT)
    const writer = await openStore()
    const p = programId(1)
    await writer.commit({
      cycle: 1, stateRoot: rootOf(1), programs: [record(1)], queue: { appended: [message(1)] },
      memory: [{ programId: p, dropped: false, meta: new Uint8Array([1]), planes: [planeChange(1, 3)] }],
      waitlist: { put: [{ message: message(2), programId: p, untilCycle: 9 }] }, merkle: { put: [[CRASH_MERKLE_KEY, rootOf(7)]] },
      counts: { processed: 1, failed: 0, gasBurned: 1, gasRefunded: 0, enqueued: 1, mailboxed: 0, dirtyPlanes: 1 },
    })
    const reader = await openStore({ readOnly: true, snapshot: true })
    const follower = await openStore({ readOnly: true })
    const view = (store: LmdbStore) => ({
      cycle: store.head().cycle, programs: store.programCount(), ids: [...store.programIds()], queue: [...store.queue()].length,
      queueLength: store.queueLength(), waiting: store.waitlistSize(), seed: planeSeed(store.plane(p, 3)!), meta: [...store.memoryMeta(p)!],
      node: [...store.merkleNode(CRASH_MERKLE_KEY)!], planes: store.planeKeys(p), record: store.cycleRecord(2) !== undefined,
    })
    const first = view(reader)
    expect(first).toMatchObject({ cycle: 1, programs: 1, queue: 1, queueLength: 1, waiting: 1, seed: 1, planes: [3], record: false })
    // The writer changes every key space the reader looks at, twice (the second rewrites what the first wrote).
    for (const cycle of [2, 3]) {
      await writer.commit({
        cycle, stateRoot: rootOf(cycle), programs: [record(cycle)], queue: { consumed: 1, appended: [message(cycle * 10), message(cycle * 10 + 1)] },
        memory: [{ programId: p, dropped: false, meta: new Uint8Array([cycle]), planes: [planeChange(cycle, 3), planeChange(cycle, 4)] }],
        waitlist: { delete: [message(2).id] }, merkle: { put: [[CRASH_MERKLE_KEY, rootOf(cycle + 7)]] },
        counts: { processed: 1, failed: 0, gasBurned: 1, gasRefunded: 0, enqueued: 2, mailboxed: 0, dirtyPlanes: 2 },
      })
      await new Promise((resolve) => setTimeout(resolve, 5)) // lmdb renews its shared read transaction on a timer
      expect(view(reader)).toEqual(first)
      expect(view(follower)).toMatchObject({ cycle, programs: cycle, seed: cycle, meta: [cycle], planes: [3, 4], waiting: 0 })
    }
    expect(reader.refresh().cycle).toBe(3)
    expect(view(reader)).toEqual(view(follower))
    expect(view(reader)).toMatchObject({ cycle: 3, programs: 3, queueLength: 3, waiting: 0, seed: 3, planes: [3, 4], record: true })
  })

  it('fails FORMAT_VERSION for a newer format and for an LMDB environment that is not a store', async () => {
    const store = await openStore()
    await store.close()
    const env = openRaw({ path: dataDir, maxDbs: 24, keyEncoding: 'binary', encoding: 'binary' })
    const meta = env.openDB('meta', { keyEncoding: 'binary', encoding: 'binary' })
    meta.putSync(Buffer.from('format'), Buffer.from([0, 0, 0, 99]))
    await env.close()
    const newer = await codeOf(() => openLmdbStore({ dataDir, verify }))
    expect(newer).toBe(StoreErrorCode.FORMAT_VERSION)
    // The failed open released its lock.
    expect(existsSync(path.join(dataDir, WRITER_LOCK_FILE_NAME))).toBe(false)

    const foreignDir = path.join(temp.dir, 'foreign')
    const foreign = openRaw({ path: foreignDir, maxDbs: 4 })
    foreign.openDB('accounts', {}).putSync('alice', { balance: 1 })
    await foreign.close()
    expect(await codeOf(() => openLmdbStore({ dataDir: foreignDir, verify }))).toBe(StoreErrorCode.FORMAT_VERSION)

    // Not an LMDB file at all (lmdb itself would crash the process on it).
    const garbageDir = path.join(temp.dir, 'garbage')
    mkdirSync(garbageDir)
    writeFileSync(path.join(garbageDir, 'data.mdb'), Buffer.alloc(64 * 1024, 0x5a))
    expect(await codeOf(() => openLmdbStore({ dataDir: garbageDir, verify }))).toBe(StoreErrorCode.FORMAT_VERSION)
    expect(await codeOf(() => openLmdbStore({ dataDir: garbageDir, verify, readOnly: true }))).toBe(StoreErrorCode.FORMAT_VERSION)
  })

  it('fails IO when the directory cannot be used', async () => {
    const file = path.join(temp.dir, 'a-file')
    writeFileSync(file, 'not a directory')
    expect(await codeOf(() => openLmdbStore({ dataDir: file, verify }))).toBe(StoreErrorCode.IO)
    expect(await codeOf(() => openLmdbStore({ dataDir: path.join(file, 'below'), verify }))).toBe(StoreErrorCode.IO)
    if (process.getuid?.() !== 0) {
      // Root ignores permission bits, so this half only runs as an ordinary user.
      const locked = path.join(temp.dir, 'readonly-parent')
      await openStore({ dataDir: locked }).then((s) => s.close())
      rmSync(path.join(locked, 'data.mdb'))
      chmodSync(locked, 0o500)
      try {
        expect(await codeOf(() => openLmdbStore({ dataDir: path.join(locked, 'sub'), verify }))).toBe(StoreErrorCode.IO)
        expect(await codeOf(() => openLmdbStore({ dataDir: locked, verify }))).toBe(StoreErrorCode.IO)
      } finally {
        chmodSync(locked, 0o700)
      }
    }
  })

  it('fails IO when the disk fills during a commit, keeping the last committed state', async () => {
    // `ulimit -f` caps the file size (in 1 KiB blocks): writes past it fail like a full disk.
    const child = startChild(['full', dataDir], 'ulimit -f 24576')
    const output = new Lines(child)
    const result = JSON.parse(output.lines[await output.waitFor(/^\{/)]!.text) as {
      committed: number; failure?: { code: string; message: string }; headCycle: number; planes: number; verified: number
      stateRootOk: boolean
    }
    expect(result.failure?.code).toBe(StoreErrorCode.IO)
    expect(result.committed).toBeGreaterThan(0)
    expect(result.headCycle).toBe(result.committed)
    expect(result.stateRootOk).toBe(true)
    expect(result.planes).toBe(result.committed * 40)
    expect(result.verified).toBe(result.planes)
    await once(child, 'exit')
    // Reopened without the limit: the same head, every plane verifies, and the next cycle commits.
    const store = await openStore()
    expect(store.head().cycle).toBe(result.committed)
    const keys = store.planeKeys(programId(5))
    expect(keys).toHaveLength(result.committed * 40)
    for (const key of keys) expect(planeSeed(store.plane(programId(5), key)!)).toBe(Math.floor(key / 40))
    await store.commit({ cycle: result.committed + 1, stateRoot: rootOf(result.committed + 1) })
  }, 30_000)

  it('commits without fsync when sync is false', async () => {
    const store = await openStore({ sync: false })
    await populate(store)
    const before = snapshot(store)
    await store.close()
    expect(snapshot(await openStore())).toEqual(before)
  })

  it('rejects a commit while another is in flight', async () => {
    const store = await openStore({ planesPerTransaction: 10 })
    const planes = Array.from({ length: 40 }, (_, k) => planeChange(1, k))
    const first = store.commit({ cycle: 1, stateRoot: rootOf(1), memory: [{ programId: programId(1), dropped: false, meta: new Uint8Array(1), planes }] })
    expect(await codeOf(() => store.commit({ cycle: 1, stateRoot: rootOf(1) }))).toBe(StoreErrorCode.BUSY)
    await first
    expect(store.head().commitCount).toBe(1)
  })
})

/** Distinct blob keys the plane index slots name, read raw from a closed store's directory. */
function rawNamedBlobs(dir: string): number {
  const env = openRaw({ path: dir, maxDbs: 24, keyEncoding: 'binary', encoding: 'binary' })
  try {
    const named = new Set<string>()
    for (const { value } of env.openDB('planes', { keyEncoding: 'binary', encoding: 'binary' }).getRange()) {
      for (let chunk = 0; chunk < 16; chunk += 1) {
        const key = Buffer.from(value).subarray(32 + chunk * 13, 32 + chunk * 13 + 12)
        if (!key.equals(Buffer.alloc(12))) named.add(key.toString('hex'))
      }
    }
    return named.size
  } finally {
    void env.close()
  }
}

describe('lmdb store crashes with chunked writes', () => {
  it('stays consistent, with no stray blob, when killed during split commits of masks and written chunks', async () => {
    let lastDone = 0
    for (let round = 0; round < 3; round += 1) {
      // Two cycles in (one masked, one written) before the kill.
      lastDone = Math.max(lastDone, await killMidCommit(startChild(['chunks', dataDir]), 1))

      const store = await openLmdbStore({ dataDir, verify })
      try {
        const head = store.head()
        expect(head.cycle === lastDone || head.cycle === lastDone + 1).toBe(true)
        expect(head.stateRoot).toEqual(rootOf(head.cycle))
        const keys = store.planeKeys(CRASH_PROGRAM)
        expect(keys).toHaveLength(CHUNK_CRASH_PLANES)
        for (const key of keys) expect(sameBytes(store.plane(CRASH_PROGRAM, key), chunkCrashPlane(head.cycle, key))).toBe(true)
        lastDone = head.cycle
      } finally {
        await store.close()
      }
      expect(rawCounts(dataDir).blobs).toBe(rawNamedBlobs(dataDir))
    }
  }, 30_000)
})
