/**
 * The ctx a handler receives: one per message. Syscalls charge the message's gas counter and record their
 * effects (outgoing messages, program creations, wakes, wait, exit) for the executor to turn into a journal
 * entry; nothing leaves the message until the executor decides it succeeded.
 */
import { toBytes } from '../bytes.js'
import {
  DELAY_CYCLES_MAX, MESSAGE_GAS_LIMIT_MAX, PAYLOAD_SIZE_MAX_BYTES, SALT_SIZE_MAX_BYTES, SENDS_PER_MESSAGE_MAX,
  WAIT_CYCLES_DEFAULT, WAIT_CYCLES_MAX,
} from '../constants.js'
import { StrataError, describeValue } from '../errors.js'
import type { GasCounter } from '../gas/counter.js'
import { gasCost, type GasOperation, type GasSchedule } from '../gas/schedule.js'
import { MemoryErrorCode } from '../memory/errors.js'
import type { CompactionResult, ProgramMemory } from '../memory/program_memory.js'
import {
  childMessageId, deriveProgramId, toId, type ActorId, type CodeId, type MessageId, type ProgramId,
} from '../message/ids.js'
import { ReplyCode } from '../message/reply_codes.js'
import { MessageKind, type Message } from '../message/types.js'
import type {
  CreateProgramOptions, IncomingMessage, PayloadInput, ProgramContext, ProgramMemoryApi, ReplyOptions, SendOptions,
  WaitOptions,
} from './api.js'
import { ProgramErrorCode } from './errors.js'
import { seededRandom } from './random.js'
import { encodeState, loadState, relocateState, type LoadedState, type StateHeader } from './state.js'

/** Thrown by ctx.wait() / ctx.exit() to unwind the handler; never a failure. */
export class StopSignal {
  constructor(readonly reason: 'wait' | 'exit') {}
}

export interface CreatedProgram {
  readonly programId: ProgramId
  readonly codeId: CodeId
  readonly initMessageId: MessageId
}

const decoder = new TextDecoder()

export class MessageContext implements ProgramContext {
  readonly msg: IncomingMessage
  readonly programId: ProgramId
  readonly cycle: number

  /** Emitted messages in emission order (a manual reply included, its gas settled at the end). */
  readonly outgoing: Message[] = []
  readonly created: CreatedProgram[] = []
  readonly wakes: MessageId[] = []
  /** Index in `outgoing` of the manual reply, or -1. */
  replyIndex = -1
  /** Whether the manual reply named its own gas limit (else it carries the gas left at the end). */
  replyGasGiven = false
  /** Gas handed to emitted messages. */
  given = 0
  waitCycles: number | null = null
  inheritor: ActorId | null = null

  readonly #message: Message
  readonly #counter: GasCounter
  readonly #memory: ProgramMemory
  readonly #schedule: GasSchedule
  readonly #stateAddress: number | null
  #state: LoadedState | undefined
  #stateValue: Record<string, unknown> | undefined
  #random: (() => number) | undefined
  #mem: ProgramMemoryApi | undefined

  constructor(
    message: Message, programId: ProgramId, cycle: number, counter: GasCounter, memory: ProgramMemory,
    schedule: GasSchedule, stateAddress: number | null,
  ) {
    this.#message = message
    this.programId = programId
    this.cycle = cycle
    this.#counter = counter
    this.#memory = memory
    this.#schedule = schedule
    this.#stateAddress = stateAddress
    this.msg = incoming(message)
  }

  /** The metered memory. Built on first use: most messages never touch it directly. */
  get mem(): ProgramMemoryApi {
    this.#mem ??= Object.freeze({ ...memoryApi(this.#memory), compact: (region?: number) => this.#compact(region) })
    return this.#mem
  }

  /** Compaction may move the block holding ctx.state's encoding: keep the state header pointing at it. */
  #compact(region?: number): CompactionResult {
    const result = this.#memory.compact(region)
    if (this.#stateAddress !== null) {
      const moved = relocateState(this.#memory, this.#stateAddress, result.relocations)
      // Keep what saveState will trust in step with the header it just rewrote.
      if (moved !== undefined && this.#state !== undefined) this.#state = { ...this.#state, header: moved }
    }
    return result
  }

  gasLeft(): number {
    return this.#counter.left
  }

  reply(payload: PayloadInput, options?: ReplyOptions): string {
    if (this.#message.kind === MessageKind.REPLY || this.#message.kind === MessageKind.SIGNAL) {
      throw misuse(`a ${this.#message.kind} message cannot be replied to`)
    }
    if (this.replyIndex >= 0) throw misuse('ctx.reply was already called for this message: one reply per message')
    const bytes = this.#payload(payload)
    this.#charge('reply', bytes.length)
    const gasLimit = options?.gasLimit
    if (gasLimit !== undefined) {
      this.#give(gasLimit)
      this.replyGasGiven = true
    }
    this.replyIndex = this.outgoing.length
    return this.#emit({
      kind: MessageKind.REPLY, destination: this.#message.source, payload: bytes, gasLimit: gasLimit ?? 0,
      replyTo: this.#message.id, replyCode: ReplyCode.SUCCESS_MANUAL,
    })
  }

  send(destination: string, payload: PayloadInput, options?: SendOptions): string {
    const to = toSyscallId(destination, 'destination') as ActorId
    const bytes = this.#payload(payload)
    const delay = options?.delay ?? 0
    if (!Number.isInteger(delay) || delay < 0 || delay > DELAY_CYCLES_MAX) {
      throw misuse(`delay must be an integer in 0..${DELAY_CYCLES_MAX}, got ${describeValue(delay)}`)
    }
    this.#charge('send', bytes.length)
    const gasLimit = options?.gasLimit ?? 0
    this.#give(gasLimit)
    return this.#emit({
      kind: MessageKind.HANDLE, destination: to, payload: bytes, gasLimit, ...(delay > 0 ? { delay } : {}),
    })
  }

  wait(options?: WaitOptions): never {
    if (this.#message.kind !== MessageKind.HANDLE && this.#message.kind !== MessageKind.INIT) {
      throw misuse(`a ${this.#message.kind} message cannot wait`)
    }
    const cycles = options?.cycles ?? WAIT_CYCLES_DEFAULT
    if (!Number.isInteger(cycles) || cycles < 1 || cycles > WAIT_CYCLES_MAX) {
      throw misuse(`wait cycles must be an integer in 1..${WAIT_CYCLES_MAX}, got ${describeValue(cycles)}`)
    }
    if (this.replyIndex >= 0) throw misuse('a message that replied cannot wait')
    this.#charge('wait', 0)
    this.waitCycles = cycles
    throw new StopSignal('wait')
  }

  wake(messageId: string): void {
    const id = toSyscallId(messageId, 'messageId') as MessageId
    this.#charge('wake', 0)
    if (!this.wakes.includes(id)) this.wakes.push(id)
  }

  createProgram(codeId: string, options: CreateProgramOptions): string {
    const code = toSyscallId(codeId, 'codeId') as CodeId
    if (typeof options !== 'object' || options === null) throw misuse('createProgram needs options with a gasLimit')
    const salt = options.salt === undefined ? new Uint8Array(0) : toBytes(options.salt, 'salt', ProgramErrorCode.SYSCALL_MISUSE)
    if (salt.length > SALT_SIZE_MAX_BYTES) throw misuse(`salt is ${salt.length} bytes, over ${SALT_SIZE_MAX_BYTES}`)
    const payload = this.#payload(options.payload ?? new Uint8Array(0))
    if (options.gasLimit === undefined) throw misuse('createProgram needs a gasLimit for the init message')
    this.#charge('createProgram', payload.length)
    this.#give(options.gasLimit)
    const programId = deriveProgramId(this.programId, code, salt)
    const initMessageId = this.#emit({
      kind: MessageKind.INIT, destination: programId, payload, gasLimit: options.gasLimit,
    }) as MessageId
    this.created.push({ programId, codeId: code, initMessageId })
    return programId
  }

  exit(inheritor: string): never {
    if (this.#message.kind !== MessageKind.HANDLE && this.#message.kind !== MessageKind.INIT) {
      throw misuse(`a ${this.#message.kind} message cannot exit the program`)
    }
    const to = toSyscallId(inheritor, 'inheritor') as ActorId
    this.#charge('exit', 0)
    this.inheritor = to
    throw new StopSignal('exit')
  }

  random(): number {
    this.#charge('random', 0)
    this.#random ??= seededRandom(this.#message.id)
    return this.#random()
  }

  get state(): Record<string, unknown> {
    if (this.#stateValue === undefined) {
      this.#state = loadState(this.#memory, this.#schedule, this.#stateAddress)
      this.#stateValue = this.#state.value
    }
    return this.#stateValue
  }

  set state(value: Record<string, unknown>) {
    if (this.#state === undefined) this.#state = loadState(this.#memory, this.#schedule, this.#stateAddress)
    this.#stateValue = value
  }

  /** The header as loaded this message, for saveState (undefined if state was never loaded or is fresh). */
  loadedStateHeader(): StateHeader | undefined {
    return this.#state?.header
  }

  /** The state's new encoding if it was touched and changed, else undefined. Throws STATE_ENCODING. */
  changedState(): Uint8Array | undefined {
    if (this.#stateValue === undefined) return undefined
    const encoded = encodeState(this.#stateValue)
    return Buffer.compare(encoded, this.#state!.encoded) === 0 ? undefined : encoded
  }

  #emit(fields: Omit<Message, 'id' | 'source' | 'origin'>): string {
    if (this.outgoing.length >= SENDS_PER_MESSAGE_MAX) {
      throw misuse(`a message may emit at most ${SENDS_PER_MESSAGE_MAX} messages`)
    }
    const id = childMessageId(this.#message.id, this.cycle, this.outgoing.length)
    this.outgoing.push({ id, source: this.programId, origin: this.#message.origin, ...fields })
    return id
  }

  #payload(value: unknown): Uint8Array {
    const bytes = toBytes(value, 'payload', ProgramErrorCode.SYSCALL_MISUSE)
    if (bytes.length > PAYLOAD_SIZE_MAX_BYTES) {
      throw new StrataError(ProgramErrorCode.SYSCALL_MISUSE,
        `payload is ${bytes.length} bytes, over the ${PAYLOAD_SIZE_MAX_BYTES}-byte limit`)
    }
    return Uint8Array.from(bytes)
  }

  #charge(operation: GasOperation, bytes: number): void {
    const cost = gasCost(this.#schedule, operation, bytes)
    if (!this.#counter.charge(cost)) {
      throw new StrataError(MemoryErrorCode.OUT_OF_GAS, `${operation} needs ${cost} gas, ${this.#counter.left} left`)
    }
  }

  #give(gasLimit: unknown): void {
    if (typeof gasLimit !== 'number' || !Number.isSafeInteger(gasLimit) || gasLimit < 0 || gasLimit > MESSAGE_GAS_LIMIT_MAX) {
      throw misuse(`gasLimit must be an integer in 0..${MESSAGE_GAS_LIMIT_MAX}, got ${describeValue(gasLimit)}`)
    }
    if (!this.#counter.charge(gasLimit)) {
      throw new StrataError(MemoryErrorCode.OUT_OF_GAS, `giving ${gasLimit} gas, ${this.#counter.left} left`)
    }
    this.given += gasLimit
  }
}

/** The message as a handler sees it; text() and json() live on the prototype, not in per-message closures. */
class Incoming implements IncomingMessage {
  readonly id: string
  readonly kind: MessageKind
  readonly source: string
  readonly payload: Uint8Array
  readonly gasLimit: number
  readonly replyTo?: string
  readonly replyCode?: number

  constructor(message: Message) {
    this.id = message.id
    this.kind = message.kind
    this.source = message.source
    this.payload = message.payload
    this.gasLimit = message.gasLimit
    if (message.replyTo !== undefined) this.replyTo = message.replyTo
    if (message.replyCode !== undefined) this.replyCode = message.replyCode
  }

  text(): string {
    return decoder.decode(this.payload)
  }

  json<T = unknown>(): T {
    return JSON.parse(decoder.decode(this.payload)) as T
  }
}

function incoming(message: Message): IncomingMessage {
  return new Incoming(message)
}

const memoryApis = new WeakMap<ProgramMemory, ProgramMemoryApi>()

/** The program-facing subset of ProgramMemory: no transactions, no dirty tracking, no restore hooks. */
function memoryApi(memory: ProgramMemory): ProgramMemoryApi {
  let api = memoryApis.get(memory)
  if (api === undefined) {
    api = Object.freeze({
      alloc: memory.alloc.bind(memory), free: memory.free.bind(memory), load: memory.load.bind(memory),
      loadInto: memory.loadInto.bind(memory),
      store: memory.store.bind(memory), copy: memory.copy.bind(memory), sizeOf: memory.sizeOf.bind(memory),
      analyzeCompaction: memory.analyzeCompaction.bind(memory), compact: memory.compact.bind(memory),
      stats: memory.stats.bind(memory),
    })
    memoryApis.set(memory, api)
  }
  return api
}

function toSyscallId(value: unknown, name: string): string {
  try {
    return toId(value, name)
  } catch (error) {
    throw misuse((error as Error).message)
  }
}

function misuse(message: string): StrataError {
  return new StrataError(ProgramErrorCode.SYSCALL_MISUSE, message)
}
