/**
 * Fixtures for the scheduler's unit tests: deterministic ids, messages with chosen gas, and a SchedulerState over
 * an in-memory store (as the runtime builds it), with a helper that commits what changed.
 */
import { createHash } from 'node:crypto'
import type { CodeId, MessageId, ProgramId, UserId } from '../../../src/message/index.js'
import { MessageKind, type Message } from '../../../src/message/index.js'
import { ProgramStatus, type ProgramRecord } from '../../../src/protocol/index.js'
import { SchedulerState } from '../../../src/scheduler/state.js'
import { openMemoryStore, type MemoryStore, type StoreHead } from '../../../src/store/index.js'

export function sha256(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(bytes).digest())
}

export function hexId<T extends string>(label: string): T {
  return createHash('sha256').update(label).digest('hex') as T
}

export const programId = (n: number): ProgramId => hexId<ProgramId>(`program ${n}`)
export const userId = (n: number): UserId => hexId<UserId>(`user ${n}`)
export const messageId = (n: number): MessageId => hexId<MessageId>(`message ${n}`)

/** A handle message from user 0 to program 0 unless overridden; its payload names it. */
export function message(n: number, overrides: Partial<Message> = {}): Message {
  return {
    id: messageId(n), kind: MessageKind.HANDLE, source: userId(0), destination: programId(0),
    payload: Uint8Array.of(n & 0xff, (n >> 8) & 0xff), gasLimit: 1_000 + n, origin: messageId(n), ...overrides,
  }
}

export function record(id: ProgramId, overrides: Partial<ProgramRecord> = {}): ProgramRecord {
  return { id, codeId: hexId<CodeId>('code'), status: ProgramStatus.ACTIVE, stateAddress: null, creator: userId(0), ...overrides }
}

export interface Harness {
  readonly store: MemoryStore
  readonly state: SchedulerState
}

export async function openState(): Promise<Harness> {
  const store = await openMemoryStore({ verify: sha256 })
  return { store, state: new SchedulerState(store) }
}

/** Commits everything the state changed as the next cycle (the runtime's #commit, without memory or Merkle nodes). */
export async function commit(store: MemoryStore, state: SchedulerState): Promise<StoreHead> {
  const cycle = store.head().cycle + 1
  const head = await store.commit({ cycle, stateRoot: sha256(Uint8Array.of(cycle & 0xff, cycle >> 8)), ...state.takeChanges() })
  state.cycle = cycle
  return head
}

/** Ids of messages, for compact assertions on order. */
export const ids = (messages: readonly Message[]): MessageId[] => messages.map((m) => m.id)
