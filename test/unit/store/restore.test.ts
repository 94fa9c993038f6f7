/**
 * LmdbStore.restore: an image of every key space, in the store's encodings (as the PostgreSQL store rebuilds its
 * replica from its tables), restores into an empty store that then reads, commits and reopens like any other;
 * a store that holds anything refuses it.
 */
import { describe, expect, it } from 'vitest'
import { encodeCycleRecord, encodeMailboxEntry, encodeMessage, encodeProgramRecord, encodeWaitEntry } from '../../../src/store/codec.js'
import { deadlineKey } from '../../../src/store/keys.js'
import { StoreErrorCode, openLmdbStore, type StoreImageEntry } from '../../../src/store/index.js'
import { message, programId, record, rootOf, sameBytes, sha256, tempDir, userId, verify } from './fixtures.js'

const CHUNK = 4096
const id = (hex: string): Buffer => Buffer.from(hex, 'hex')

/** A plane whose chunks 0 and 5 hold bytes and the rest zeros. */
function plane(): { bytes: Uint8Array; chunks: [number, Uint8Array][] } {
  const bytes = new Uint8Array(16 * CHUNK)
  const chunks: [number, Uint8Array][] = [[0, new Uint8Array(CHUNK).fill(3)], [5, new Uint8Array(CHUNK).fill(9)]]
  for (const [index, chunk] of chunks) bytes.set(chunk, index * CHUNK)
  return { bytes, chunks }
}

describe('LmdbStore.restore', () => {
  it('restores every key space, then commits and reopens like a store that was never restored', async () => {
    const temp = tempDir()
    try {
      const code = new TextEncoder().encode('export default 1')
      const codeId = Buffer.from(sha256(code)).toString('hex')
      const { bytes, chunks } = plane()
      const waiting = { message: message(40), programId: programId(1), untilCycle: 9 }
      const deadline = deadlineKey(9, 3, 0)
      const counts = { processed: 1, failed: 0, gasBurned: 5, gasRefunded: 0, enqueued: 1, mailboxed: 1, dirtyPlanes: 1 }
      const image: StoreImageEntry[] = [
        { space: 'code', id: id(codeId), value: code },
        { space: 'program', id: id(programId(1)), value: encodeProgramRecord(record(1)) },
        { space: 'memmeta', id: id(programId(1)), value: Uint8Array.of(7, 7) },
        { space: 'plane', id: id(programId(1)), key: 65_537, root: sha256(bytes), chunks },
        { space: 'queue', seq: 10, value: encodeMessage(message(10)) },
        { space: 'queue', seq: 11, value: encodeMessage(message(11)) },
        { space: 'wait', id: id(waiting.message.id), deadline, value: encodeWaitEntry(waiting, deadline) },
        { space: 'delayed', cycle: 7, seq: 0, value: encodeMessage(message(70)) },
        { space: 'mailbox', id: id(userId(1)), seq: 3, value: encodeMailboxEntry({ message: message(30), cycle: 4 }) },
        { space: 'mailbox', id: id(userId(1)), seq: 4, value: encodeMailboxEntry({ message: message(31), cycle: 5 }) },
        { space: 'nonce', id: id(userId(1)), nonce: 12 },
        { space: 'merkle', key: Uint8Array.of(1, 2), value: rootOf('node') },
        { space: 'cycle', cycle: 5, value: encodeCycleRecord(5, rootOf(5), counts) },
      ]
      const dataDir = `${temp.dir}/restored`
      const store = await openLmdbStore({ dataDir, verify, mailboxSizeMax: 3 })
      async function* pages(): AsyncGenerator<StoreImageEntry[]> {
        yield image.slice(0, 4)
        yield image.slice(4)
      }
      const head = await store.restore(pages(), { cycle: 5, stateRoot: rootOf(5), commitCount: 3, queueHead: 10, queueTail: 12 })
      expect(head).toEqual({ cycle: 5, stateRoot: rootOf(5), commitCount: 3 })
      const check = (s: typeof store): void => {
        expect([...s.codeIds()]).toEqual([codeId])
        expect(s.program(programId(1))).toEqual(record(1))
        expect(s.memoryMeta(programId(1))).toEqual(Uint8Array.of(7, 7))
        expect(sameBytes(s.plane(programId(1), 65_537), bytes)).toBe(true)
        expect(s.waitlistExpiring(100).next().value).toEqual(waiting)
        expect(s.delayed(7)).toEqual([message(70)])
        expect(s.nonce(userId(1))).toBe(12)
        expect(s.merkleNode(Uint8Array.of(1, 2))).toEqual(rootOf('node'))
        expect(s.cycleRecord(5)).toEqual({ cycle: 5, stateRoot: rootOf(5), ...counts })
      }
      check(store)
      expect([...store.queue()]).toEqual([message(10), message(11)])
      expect(store.mailbox(userId(1)).map((e) => e.message.id)).toEqual([message(30).id, message(31).id])
      // A commit on top: the plane's chunk 5 rewritten (in the restored blob's run or not), the queue consumed
      // from sequence 10, the mailbox continued from sequence 5 and trimmed to 3.
      const next = new Uint8Array(bytes)
      const five = new Uint8Array(CHUNK).fill(4)
      next.set(five, 5 * CHUNK)
      await store.commit({
        cycle: 6, stateRoot: rootOf(6), queue: { consumed: 1, appended: [message(12)] },
        memory: [{ programId: programId(1), dropped: false, meta: Uint8Array.of(8), planes: [{ key: 65_537, root: sha256(next), written: [[5, five]] }] }],
        mailboxes: [[userId(1), [{ message: message(32), cycle: 6 }, { message: message(33), cycle: 6 }]]],
      })
      const verifyAfter = (s: typeof store): void => {
        expect(sameBytes(s.plane(programId(1), 65_537), next)).toBe(true)
        expect([...s.queue()]).toEqual([message(11), message(12)])
        expect(s.mailbox(userId(1)).map((e) => e.message.id)).toEqual([message(31).id, message(32).id, message(33).id])
        expect(s.head()).toEqual({ cycle: 6, stateRoot: rootOf(6), commitCount: 4 })
      }
      verifyAfter(store)
      await store.close()
      const reopened = await openLmdbStore({ dataDir, verify, mailboxSizeMax: 3 })
      verifyAfter(reopened)
      // A store that holds anything refuses a restore, and keeps what it holds.
      await expect(reopened.restore(pages(), { cycle: 1, stateRoot: rootOf(1), commitCount: 1, queueHead: 0, queueTail: 0 }))
        .rejects.toMatchObject({ code: StoreErrorCode.INVALID_ARGUMENT })
      verifyAfter(reopened)
      await reopened.close()
    } finally {
      temp.remove()
    }
  })
})
