import { describe, expect, it } from 'vitest'
import { JournalCodecErrorCode, decodeJournal, encodeJournal, type JournalEntry } from '../../../src/protocol/index.js'

const id = (n: number): string => n.toString(16).padStart(2, '0').repeat(32)

function message(n: number, extra: Record<string, unknown> = {}) {
  return {
    id: id(n), kind: 'reply', source: id(n + 1), destination: id(n + 2), payload: Uint8Array.of(n, 0, 255), gasLimit: 2 ** 53 - 1 - n,
    origin: id(n + 3), ...extra,
  }
}

const FULL = {
  outcome: {
    messageId: id(1), origin: id(2), programId: id(3), kind: 'handle', result: 'error', replyCode: 0x13, gasBurned: 123_456_789_012,
    gasRefunded: 0, error: 'déjà vu: ✓', trace: 'at program:3:14', logs: ['one', '', 'three ✓'],
  },
  outgoing: [message(10, { replyTo: id(11), replyCode: 0 }), message(20, { kind: 'handle', delay: 7, payload: new Uint8Array(0) })],
  created: [{ programId: id(30), codeId: id(31), initMessageId: id(32) }],
  wakes: [id(40), id(41)],
  wait: { message: message(50, { kind: 'handle' }), untilCycle: 99 },
  program: { id: id(3), codeId: id(31), status: 'exited', stateAddress: 2 ** 40 - 8, creator: id(60), inheritor: id(61) },
} as unknown as JournalEntry

const BARE = {
  outcome: { messageId: id(4), origin: id(4), programId: id(5), kind: 'init', result: 'success', replyCode: null, gasBurned: 0, gasRefunded: 5, logs: [] },
  outgoing: [], created: [], wakes: [],
} as unknown as JournalEntry

describe('the journal codec', () => {
  it('round-trips every field, and leaves absent optional fields absent', () => {
    const decoded = decodeJournal(encodeJournal([FULL, BARE, { ...BARE, program: { ...FULL.program!, stateAddress: null, inheritor: undefined } as never }]))
    expect(decoded[0]).toStrictEqual({ ...FULL, outgoing: FULL.outgoing.map((m) => ({ ...m, payload: new Uint8Array(m.payload) })) })
    expect(decoded[1]).toStrictEqual(BARE)
    expect(Object.keys(decoded[1]!.outcome)).toEqual(['messageId', 'origin', 'programId', 'kind', 'result', 'replyCode', 'gasBurned', 'gasRefunded', 'logs'])
    expect(decoded[2]!.program).toStrictEqual({ id: id(3), codeId: id(31), status: 'exited', stateAddress: null, creator: id(60) })
    expect(Object.getPrototypeOf(decoded[0]!.outgoing[0]!.payload)).toBe(Uint8Array.prototype)
    expect(decodeJournal(encodeJournal([]))).toEqual([])
  })

  it('refuses bytes that are not a whole journal, and entries it cannot encode', () => {
    const bytes = encodeJournal([FULL])
    for (const bad of [bytes.subarray(0, bytes.length - 1), new Uint8Array([...bytes, 0]), new Uint8Array(3)]) {
      expect(() => decodeJournal(bad)).toThrow(expect.objectContaining({ code: JournalCodecErrorCode.MALFORMED_JOURNAL }))
    }
    for (const entry of [
      { ...BARE, outcome: { ...BARE.outcome, kind: 'poke' } }, { ...BARE, outcome: { ...BARE.outcome, messageId: 'ABC' } },
      { ...BARE, wakes: [id(0xab).slice(0, 63) + 'g'] },
    ]) {
      expect(() => encodeJournal([entry as never])).toThrow(expect.objectContaining({ code: JournalCodecErrorCode.MALFORMED_JOURNAL }))
    }
  })
})
