/**
 * The JSON views the inspector answers with (docs/inspector.md, "Types"): messages, outcomes, cycles and
 * programs as plain objects, ids as hex, numbers as numbers, reply codes with their names.
 */
import { replyCodeName, type Message } from '../message/index.js'
import type { MessageOutcome, ProgramRecord } from '../protocol/index.js'
import type { CycleRecordView, CycleReport } from '../scheduler/index.js'
import { PAYLOAD_PREVIEW_BYTES } from './limits.js'

export interface MessageView {
  readonly id: string
  readonly kind: string
  readonly source: string
  readonly destination: string
  readonly gasLimit: number
  readonly origin: string
  readonly replyTo?: string
  readonly replyCode?: number
  readonly replyCodeName?: string
  readonly payloadLength: number
  readonly payloadHex: string
  readonly payloadText: string | null
}

/** A cycle's stored figures (its number, state root and counts), and what the server saw of it live. */
export interface CycleEntry extends CycleRecordView {
  /** null for cycles not seen live (read from their stored record), as are queueLength, failures and dirty. */
  readonly ms: number | null
  readonly queueLength: number | null
  readonly failures: Readonly<Record<string, number>>
  readonly dirty: readonly DirtyPlanes[]
}

export interface DirtyPlanes {
  readonly programId: string
  /** Plane keys: region * 65,536 + plane. */
  readonly planes: readonly number[]
}

export interface OutcomeView {
  readonly cycle: number
  readonly messageId: string
  readonly programId: string
  readonly kind: string
  readonly result: string
  readonly replyCode: number | null
  readonly replyCodeName: string | null
  readonly gasBurned: number
  readonly gasRefunded: number
  readonly error: string | null
  readonly logs: readonly string[]
}

export interface ProgramSummary {
  readonly id: string
  readonly codeId: string
  readonly status: string
  readonly creator: string
  readonly stateAddress: number | null
  readonly memoryRoot: string
}

const fatalUtf8 = new TextDecoder('utf-8', { fatal: true })
/** Control characters other than \n and \t: text holding them is shown as hex instead. */
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f]/

export const hexOf = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')

/** The bytes as text when they are valid UTF-8 with no control characters but \n and \t, else null. */
export function textOf(bytes: Uint8Array): string | null {
  let text: string
  try {
    text = fatalUtf8.decode(bytes)
  } catch {
    return null
  }
  return CONTROL.test(text) ? null : text
}

export function messageView(message: Message): MessageView {
  const preview = message.payload.subarray(0, PAYLOAD_PREVIEW_BYTES)
  return {
    id: message.id, kind: message.kind, source: message.source, destination: message.destination,
    gasLimit: message.gasLimit, origin: message.origin,
    ...(message.replyTo !== undefined ? { replyTo: message.replyTo } : {}),
    ...(message.replyCode !== undefined ? { replyCode: message.replyCode, replyCodeName: replyCodeName(message.replyCode) } : {}),
    payloadLength: message.payload.length, payloadHex: hexOf(preview), payloadText: textOf(preview),
  }
}

export function outcomeView(cycle: number, outcome: MessageOutcome): OutcomeView {
  const { messageId, programId, kind, result, replyCode, gasBurned, gasRefunded, logs } = outcome
  return {
    cycle, messageId, programId, kind, result, replyCode, replyCodeName: replyCode === null ? null : replyCodeName(replyCode),
    gasBurned, gasRefunded, error: outcome.error ?? null, logs,
  }
}

/** A cycle seen live: its report, with its failures by reply code name and the planes it wrote. */
export function liveCycleEntry(
  report: CycleReport, failures: Readonly<Record<string, number>>, dirty: readonly DirtyPlanes[],
): CycleEntry {
  return { ...recordedCycleEntry(report), ms: report.ms, queueLength: report.queueLength, failures, dirty }
}

/** A cycle not seen live, from its stored record: no timing, queue length, failures or dirty planes. */
export function recordedCycleEntry(record: CycleRecordView): CycleEntry {
  const { cycle, stateRoot, processed, failed, gasBurned, gasRefunded, enqueued, mailboxed, dirtyPlanes } = record
  return {
    cycle, stateRoot, processed, failed, gasBurned, gasRefunded, enqueued, mailboxed, dirtyPlanes,
    ms: null, queueLength: null, failures: {}, dirty: [],
  }
}

export function programSummary(record: ProgramRecord, memoryRoot: string): ProgramSummary {
  const { id, codeId, status, creator, stateAddress } = record
  return { id, codeId, status, creator, stateAddress, memoryRoot }
}
