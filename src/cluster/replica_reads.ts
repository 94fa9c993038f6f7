/**
 * The reads of the PostgreSQL stores: both the writer (PostgresStore) and a reader (PostgresReader) answer every
 * read of the Store interface from a local LMDB store (the writer's replica, or the reader's snapshot of its own),
 * after checking that they are open. Only where the reads come from differs.
 */
import type { CodeId, Message, MessageId, ProgramId, UserId } from '../message/index.js'
import type { ProgramRecord } from '../protocol/index.js'
import type { CycleRecord, Store, StoreHead, StoredMailboxEntry, StoredWaitEntry } from '../store/index.js'

export abstract class ReplicaReads {
  /** The local store reads come from; throws CLOSED when this store is closed. */
  protected abstract reads(): Store

  head(): StoreHead { return this.reads().head() }
  code(codeId: CodeId): Uint8Array | undefined { return this.reads().code(codeId) }
  hasCode(codeId: CodeId): boolean { return this.reads().hasCode(codeId) }
  codeIds(): IterableIterator<CodeId> { return this.reads().codeIds() }
  program(programId: ProgramId): ProgramRecord | undefined { return this.reads().program(programId) }
  programIds(): IterableIterator<ProgramId> { return this.reads().programIds() }
  programCount(): number { return this.reads().programCount() }
  memoryMeta(programId: ProgramId): Uint8Array | undefined { return this.reads().memoryMeta(programId) }
  plane(programId: ProgramId, key: number): Uint8Array | undefined { return this.reads().plane(programId, key) }
  planeRoot(programId: ProgramId, key: number): Uint8Array | undefined { return this.reads().planeRoot(programId, key) }
  planeKeys(programId: ProgramId): number[] { return this.reads().planeKeys(programId) }
  queueLength(): number { return this.reads().queueLength() }
  queue(): IterableIterator<Message> { return this.reads().queue() }
  waitEntry(messageId: MessageId): StoredWaitEntry | undefined { return this.reads().waitEntry(messageId) }
  waitlist(): IterableIterator<StoredWaitEntry> { return this.reads().waitlist() }
  waitlistSize(): number { return this.reads().waitlistSize() }
  waitlistExpiring(untilCycleMax: number): IterableIterator<StoredWaitEntry> { return this.reads().waitlistExpiring(untilCycleMax) }
  delayed(cycle: number): Message[] { return this.reads().delayed(cycle) }
  delayedCycles(): IterableIterator<number> { return this.reads().delayedCycles() }
  mailbox(userId: UserId): StoredMailboxEntry[] { return this.reads().mailbox(userId) }
  nonce(userId: UserId): number { return this.reads().nonce(userId) }
  cycleRecord(cycle: number): CycleRecord | undefined { return this.reads().cycleRecord(cycle) }
  merkleNode(key: Uint8Array): Uint8Array | undefined { return this.reads().merkleNode(key) }
}
