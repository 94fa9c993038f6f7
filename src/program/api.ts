/**
 * What a program author writes against: `defineProgram` and the `ProgramContext` its handlers receive.
 * Programs import these from 'strata'; when a program is bundled, 'strata' resolves to guest.ts, which has no
 * Node dependencies.
 */
import type { Address3D } from '../memory/index.js'
import type { CompactionReport, CompactionResult, MemoryStats } from '../memory/index.js'
import type { RegionType } from '../memory/index.js'
import type { MessageKind } from '../message/index.js'

/** Payloads given to syscalls: bytes, or a string sent as UTF-8. */
export type PayloadInput = Uint8Array | string

export interface IncomingMessage {
  readonly id: string
  readonly kind: MessageKind
  readonly source: string
  readonly payload: Uint8Array
  readonly gasLimit: number
  /** For replies: the message this replies to. */
  readonly replyTo?: string
  /** For replies: the reply code byte (docs/reply-codes.md); >= 0x10 is an error. */
  readonly replyCode?: number
  /** The payload as UTF-8 text. */
  text(): string
  /** The payload as UTF-8 JSON. */
  json<T = unknown>(): T
}

/** The program's metered 3D memory (docs/memory.md). Every call is charged to the message's gas. */
export interface ProgramMemoryApi {
  alloc(size: number, regionType?: RegionType): Address3D
  free(address: number): void
  load(address: number, length: number): Uint8Array
  /** Copies target.length bytes into `target` (no allocation); same checks and gas as load. */
  loadInto(address: number, target: Uint8Array): void
  store(address: number, bytes: Uint8Array): void
  copy(source: number, target: number, length: number): void
  /** Size of the live allocation containing `address`, or undefined. */
  sizeOf(address: number): number | undefined
  analyzeCompaction(region?: number): CompactionReport
  compact(region?: number): CompactionResult
  stats(): MemoryStats
}

export interface SendOptions {
  /** Gas given to the message, taken from this message's remaining gas. Default 0. */
  readonly gasLimit?: number
  /** Deliver after this many cycles (0 = the next cycle). */
  readonly delay?: number
}

export interface ReplyOptions {
  /** Gas given to the reply. Default: whatever this message has left when it finishes. */
  readonly gasLimit?: number
}

export interface CreateProgramOptions {
  /** Makes the program id unique among programs of the same code created by the same creator. */
  readonly salt?: PayloadInput
  /** The init message's payload. */
  readonly payload?: PayloadInput
  /** Gas for the init message, taken from this message's remaining gas. Required. */
  readonly gasLimit: number
}

export interface WaitOptions {
  /** Cycles to wait for a wake before the message is removed with a WAIT_TIMEOUT reply. */
  readonly cycles?: number
}

export interface ProgramContext {
  readonly msg: IncomingMessage
  readonly programId: string
  /** The scheduler cycle executing this message: Strata's only clock. */
  readonly cycle: number
  gasLeft(): number
  /** Replies to the current message (once). Without a reply the runtime sends an empty one on success. */
  reply(payload: PayloadInput, options?: ReplyOptions): string
  /** Sends a message; returns its id. Delivered in a later cycle. */
  send(destination: string, payload: PayloadInput, options?: SendOptions): string
  /** Parks this message until `wake(id)` or the timeout; memory changes so far are kept. Does not return. */
  wait(options?: WaitOptions): never
  /** Puts a message this program parked back in the queue. */
  wake(messageId: string): void
  /** Creates a program from uploaded code; returns its id. Its init runs in a later cycle. */
  createProgram(codeId: string, options: CreateProgramOptions): string
  /** Ends this program: its memory is dropped and `inheritor` gets a signal with the remaining gas. */
  exit(inheritor: string): never
  /** A deterministic random number in [0, 1), seeded from the message id. */
  random(): number
  readonly mem: ProgramMemoryApi
  /**
   * Persistent plain data (objects, arrays, strings, numbers, booleans, null, bigint, Uint8Array), stored in
   * the program's memory: loaded on first access, saved when the message succeeds and it changed.
   */
  state: Record<string, unknown>
}

export type Handler = (ctx: ProgramContext) => void

export interface ProgramDefinition {
  readonly init?: Handler
  readonly handle: Handler
  readonly handleReply?: Handler
  readonly handleSignal?: Handler
}

/** A program module's default export. */
export function defineProgram<T extends ProgramDefinition>(definition: T): T {
  return definition
}
