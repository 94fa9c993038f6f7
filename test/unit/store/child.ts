/**
 * Runs in a child process (bundled by child_bundle.ts) or a worker thread, for the LMDB store's multi-process
 * tests. Modes (argv[2], or workerData.mode in a worker):
 *
 *   hold <dataDir>                 open as writer, print "ready", stay until killed
 *   crash <dataDir> <planes>       commit cycles of <planes> planes forever, printing "begin N" / "done N"
 *   full <dataDir>                 (run under `ulimit -f`) commit until the file size limit makes a commit fail;
 *                                  print the outcome as JSON
 *   split <dataDir>                commit SPLIT_HISTORY small cycles, then start a split commit (staged in
 *                                  transactions of SPLIT_PLANES_PER_TRANSACTION planes) and kill itself with
 *                                  SIGKILL at its first yield: after a staging transaction, before the final one
 *   chunks <dataDir>               commit cycles forever, each writing the chunks of chunkCrashMask(cycle) of
 *                                  CHUNK_CRASH_PLANES planes (alternately as whole planes with a mask and as
 *                                  written chunks), staged in small parts; prints "begin N" / "done N"
 *   reader (worker thread)         open read-only, read head and one plane, post them back
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads'
import { createHash } from 'node:crypto'
import { openLmdbStore } from '../../../src/store/index.js'
import type { ProgramId } from '../../../src/message/ids.js'
import { isStrataError } from '../../../src/errors.js'
import {
  CHUNK_CRASH_PLANES, CHUNK_CRASH_PLANES_PER_TRANSACTION, chunkCrashFill, chunkCrashMask, chunkCrashPlane, CRASH_MERKLE_KEY, CRASH_MESSAGES_PER_CYCLE, CRASH_PROGRAM, SPLIT_PLANES_PER_TRANSACTION, message, planeChange, programId,
  rootOf, sha256, splitHistory, splitLarge, verify,
} from './fixtures.js'

async function main(): Promise<void> {
  if (!isMainThread) {
    const { dataDir, programId: id, key } = workerData as { dataDir: string; programId: ProgramId; key: number }
    const store = await openLmdbStore({ dataDir, verify, readOnly: true })
    const head = store.head()
    const plane = store.plane(id, key)
    await store.close()
    parentPort!.postMessage({ cycle: head.cycle, stateRoot: head.stateRoot, planeRoot: plane === undefined ? null : sha256(plane) })
    return
  }
  const [mode, dataDir, arg] = process.argv.slice(2) as [string, string, string | undefined]
  if (mode === 'hold') {
    await openLmdbStore({ dataDir, verify })
    process.stdout.write('ready\n')
    setInterval(() => undefined, 1_000)
    return
  }
  if (mode === 'crash') {
    const planes = Number(arg)
    const store = await openLmdbStore({ dataDir, verify })
    for (;;) {
      const cycle = store.head().cycle + 1
      const batch = {
        cycle, stateRoot: rootOf(cycle),
        memory: [{
          programId: CRASH_PROGRAM, dropped: false, meta: Uint8Array.from([cycle & 0xff]),
          planes: Array.from({ length: planes }, (_, key) => planeChange(cycle, key)),
        }],
        queue: { appended: Array.from({ length: CRASH_MESSAGES_PER_CYCLE }, (_, i) => message(cycle * 100 + i)) },
        merkle: { put: [[CRASH_MERKLE_KEY, rootOf(cycle)] as const] },
      }
      process.stdout.write(`begin ${cycle}\n`)
      await store.commit(batch)
      process.stdout.write(`done ${cycle}\n`)
    }
  }
  if (mode === 'chunks') {
    const store = await openLmdbStore({ dataDir, verify, planesPerTransaction: CHUNK_CRASH_PLANES_PER_TRANSACTION })
    for (;;) {
      const cycle = store.head().cycle + 1
      const mask = chunkCrashMask(cycle)
      const planes = Array.from({ length: CHUNK_CRASH_PLANES }, (_, key) => chunkCrashPlane(cycle, key))
      const changes = planes.map((bytes, key) => {
        if (cycle % 2 === 0) return { key, bytes, root: sha256(bytes), chunks: mask }
        const written: [number, Uint8Array][] = []
        for (let chunk = 0; chunk < 16; chunk += 1) {
          if ((mask & (1 << chunk)) !== 0) written.push([chunk, new Uint8Array(4096).fill(chunkCrashFill(cycle, key, chunk))])
        }
        return { key, root: sha256(bytes), written }
      })
      process.stdout.write(`begin ${cycle}\n`)
      await store.commit({ cycle, stateRoot: rootOf(cycle), memory: [{ programId: CRASH_PROGRAM, dropped: false, meta: Uint8Array.of(cycle & 0xff), planes: changes }] })
      process.stdout.write(`done ${cycle}\n`)
    }
  }
  if (mode === 'split') {
    const store = await openLmdbStore({ dataDir, verify, planesPerTransaction: SPLIT_PLANES_PER_TRANSACTION })
    for (const batch of splitHistory()) await store.commit(batch)
    process.stdout.write('history\n')
    // The commit runs its first staging transaction synchronously, then yields: the kill lands right there.
    setImmediate(() => process.kill(process.pid, 'SIGKILL'))
    await store.commit(splitLarge())
    process.stdout.write('committed\n') // never reached
    return
  }
  if (mode === 'full') {
    process.on('SIGXFSZ', () => undefined) // make writes past the limit fail with EFBIG instead of killing us
    const store = await openLmdbStore({ dataDir, verify, planesPerTransaction: 16 })
    const id = programId(5)
    let committed = 0
    let failure: { code: string; message: string } | undefined
    for (let cycle = 1; cycle <= 1_000 && failure === undefined; cycle += 1) {
      try {
        await store.commit({
          cycle, stateRoot: rootOf(cycle),
          memory: [{ programId: id, dropped: false, meta: new Uint8Array(1), planes: Array.from({ length: 40 }, (_, k) => planeChange(cycle, cycle * 40 + k)) }],
        })
        committed = cycle
      } catch (error) {
        failure = { code: isStrataError(error) ? error.code : 'NOT_STRATA', message: (error as Error).message }
      }
    }
    const head = store.head()
    // Everything committed before the failure still reads and verifies.
    const keys = store.planeKeys(id)
    let verified = 0
    for (const key of keys) if (store.plane(id, key) !== undefined) verified += 1
    await store.close().catch(() => undefined)
    process.stdout.write(JSON.stringify({
      committed, failure, headCycle: head.cycle, planes: keys.length, verified,
      stateRootOk: head.stateRoot !== null && createHash('sha256').update(head.stateRoot).digest('hex')
        === createHash('sha256').update(rootOf(committed)).digest('hex'),
    }) + '\n')
    return
  }
  throw new Error(`unknown mode ${mode}`)
}

main().catch((error) => {
  process.stderr.write(`${(error as Error).stack ?? String(error)}\n`)
  process.exit(1)
})
