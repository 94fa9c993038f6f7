/**
 * The host side of one message's syscalls: what the guest's `ctx` reaches over the bridge (engine/guest_code.ts).
 * Every argument arrives as a primitive or as a guest Uint8Array, which is copied here with the host's own
 * intrinsics (its length read from the internal slot, never from a property the program could redefine). Every
 * result leaves as a primitive, or as bytes written into a guest array with the host's own `set`. Syscalls charge
 * the message's gas counter and record their effects (outgoing messages, program creations, wakes, wait, exit) for
 * the executor to turn into a journal entry; nothing leaves the message until the executor decides it succeeded.
 */
import {
  DELAY_CYCLES_MAX, LOG_LINES_MAX, LOG_LINE_MAX_BYTES, MESSAGE_GAS_LIMIT_MAX, PAYLOAD_SIZE_MAX_BYTES,
  SALT_SIZE_MAX_BYTES, SENDS_PER_MESSAGE_MAX, WAIT_CYCLES_DEFAULT, WAIT_CYCLES_MAX,
} from '../constants.js'
import { wellFormed } from '../bytes.js'
import { StrataError, describeValue } from '../errors.js'
import { HostOp, type BridgeHost } from '../engine/index.js'
import type { GasCounter } from '../gas/index.js'
import { gasCost, type GasOperation, type GasSchedule } from '../gas/index.js'
import { MemoryErrorCode } from '../memory/index.js'
import type { ProgramMemory } from '../memory/index.js'
import {
  childMessageId, deriveProgramId, toId, type ActorId, type CodeId, type MessageId, type ProgramId,
} from '../message/index.js'
import { ReplyCode } from '../message/index.js'
import { MessageKind, type Message } from '../message/index.js'
import type { CreatedProgram } from '../protocol/index.js'
import { ProgramErrorCode } from './errors.js'
import { seededRandom } from './random.js'
import { loadStateBytes, relocateState, saveState, type StateHeader } from './state.js'


// Host intrinsics for guest typed arrays: they read internal slots, so no guest property or prototype is consulted.
const TypedArrayPrototype = Object.getPrototypeOf(Uint8Array.prototype) as object
const typedArrayTag = Object.getOwnPropertyDescriptor(TypedArrayPrototype, Symbol.toStringTag)!.get!
const typedArrayLength = Object.getOwnPropertyDescriptor(TypedArrayPrototype, 'length')!.get!
const typedArraySet = Uint8Array.prototype.set
const encoder = new TextEncoder()
const decoder = new TextDecoder()
const fatalDecoder = new TextDecoder('utf-8', { fatal: true })
/** The empty scratch: zero-length, so nothing can write into it and every context may share it. */
const NO_BYTES = new Uint8Array(0)

/**
 * Strings up to this many characters that are all ASCII are encoded by a loop (ASCII is its own UTF-8): for short
 * payloads such as a counter's reply that is several times cheaper than TextEncoder; the rest use TextEncoder.
 */
const ASCII_LOOP_MAX_CHARS = 32

/** UTF-8 of a string (lone surrogates become U+FFFD, as TextEncoder does). */
export function utf8(text: string): Uint8Array {
  const length = text.length
  if (length > ASCII_LOOP_MAX_CHARS) return encoder.encode(text)
  const out = new Uint8Array(length)
  for (let i = 0; i < length; i += 1) {
    const code = text.charCodeAt(i)
    if (code >= 0x80) return encoder.encode(text)
    out[i] = code
  }
  return out
}

/** Whether a value from the guest is a genuine Uint8Array (of any realm), by its internal slot. */
export function isGuestBytes(value: unknown): boolean {
  return typeof value === 'object' && value !== null && Reflect.apply(typedArrayTag, value, []) === 'Uint8Array'
}

/** A host copy of a guest Uint8Array. */
export function copyGuestBytes(value: unknown, name: string): Uint8Array {
  if (!isGuestBytes(value)) throw misuse(`${name} must be a Uint8Array`)
  const out = new Uint8Array(Reflect.apply(typedArrayLength, value, []) as number)
  Reflect.apply(typedArraySet, out, [value])
  return out
}

/** Writes host bytes into a guest Uint8Array of exactly their length. */
function writeGuestBytes(target: unknown, bytes: Uint8Array): void {
  if (!isGuestBytes(target) || Reflect.apply(typedArrayLength, target, []) !== bytes.length) {
    throw misuse(`expected a Uint8Array of ${bytes.length} bytes`)
  }
  Reflect.apply(typedArraySet, target, [bytes])
}

export class MessageContext implements BridgeHost {
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
  /** Where ctx.state's header is (null until first saved); changes when state is first saved. */
  stateAddress: number | null

  readonly counter: GasCounter
  readonly #message: Message
  readonly #programId: ProgramId
  readonly #cycle: number
  readonly #memory: ProgramMemory
  readonly #schedule: GasSchedule
  readonly #logs: string[]
  /** The state header as loaded this message (saveState trusts it instead of reading it again). */
  #stateHeader: StateHeader | undefined
  /** Bytes waiting for the guest's TAKE (state encodings, UTF-8 encodings). */
  #scratch: Uint8Array = NO_BYTES
  #random: (() => number) | undefined

  constructor(
    message: Message, programId: ProgramId, cycle: number, counter: GasCounter, memory: ProgramMemory,
    schedule: GasSchedule, stateAddress: number | null, logs: string[],
  ) {
    this.#message = message
    this.#programId = programId
    this.#cycle = cycle
    this.counter = counter
    this.#memory = memory
    this.#schedule = schedule
    this.stateAddress = stateAddress
    this.#logs = logs
  }

  /** One bridge call: `op` with primitive (or guest byte array) arguments; returns a primitive. */
  call(op: number, a: unknown, b: unknown, c: unknown, d: unknown): unknown {
    const memory = this.#memory
    switch (op) {
      case HostOp.PAYLOAD: return writeGuestBytes(a, this.#message.payload)
      case HostOp.GAS_LEFT: return this.counter.left
      case HostOp.REPLY: return this.#reply(a, b)
      case HostOp.SEND: return this.#send(a, b, c, d)
      case HostOp.WAIT: return this.#wait(a)
      case HostOp.WAKE: return this.#wake(a)
      case HostOp.CREATE_PROGRAM: return this.#createProgram(a, b, c, d)
      case HostOp.EXIT: return this.#exit(a)
      case HostOp.RANDOM:
        this.#charge('random', 0)
        this.#random ??= seededRandom(this.#message.id)
        return this.#random()
      case HostOp.STATE_LOAD: {
        const loaded = loadStateBytes(memory, this.#schedule, this.stateAddress)
        if (loaded === undefined) return -1
        this.#stateHeader = loaded.header
        this.#scratch = loaded.encoded
        return loaded.encoded.length
      }
      case HostOp.STATE_SAVE:
        this.stateAddress = saveState(memory, this.#schedule, this.stateAddress, copyGuestBytes(a, 'state'), this.#stateHeader)
        this.#stateHeader = undefined
        return undefined
      case HostOp.TAKE: {
        const bytes = this.#scratch
        this.#scratch = NO_BYTES
        return writeGuestBytes(a, bytes)
      }
      case HostOp.MEM_ALLOC: return memory.alloc(a as number, b as never)
      case HostOp.MEM_FREE: return memory.free(a as number)
      case HostOp.MEM_LOAD_INTO: return writeGuestBytes(b, memory.load(a as number, c as number))
      case HostOp.MEM_LOAD:
        this.#scratch = memory.load(a as number, b as number)
        return this.#scratch.length
      case HostOp.MEM_STORE: return memory.store(a as number, copyGuestBytes(b, 'bytes'))
      case HostOp.MEM_COPY: return memory.copy(a as number, b as number, c as number)
      case HostOp.MEM_SIZE_OF: return memory.sizeOf(a as number)
      case HostOp.MEM_ANALYZE: return JSON.stringify(memory.analyzeCompaction(a as number | undefined))
      case HostOp.MEM_COMPACT: return this.#compact(a as number | undefined)
      case HostOp.MEM_STATS: {
        // gasByClass counts since the memory was loaded: it resets on eviction, so programs do not see it.
        const { gasByClass: _omitted, ...stats } = memory.stats()
        return JSON.stringify(stats)
      }
      case HostOp.LOG:
        if (typeof a === 'string' && this.#logs.length < LOG_LINES_MAX) {
          // Cut first (a cut may split a surrogate pair), then made well-formed (docs/programs.md, "Logs").
          this.#logs.push(wellFormed(a.length > LOG_LINE_MAX_BYTES ? `${a.slice(0, LOG_LINE_MAX_BYTES)}…` : a))
        }
        return undefined
      case HostOp.ENCODE:
        if (typeof a !== 'string') throw misuse('encode takes a string')
        this.#scratch = utf8(a)
        return this.#scratch.length
      case HostOp.DECODE: return (b === true ? fatalDecoder : decoder).decode(copyGuestBytes(a, 'bytes'))
      default: throw misuse(`unknown syscall ${describeValue(op)}`)
    }
  }

  /** Compaction may move the block holding ctx.state's encoding: keep the state header pointing at it. */
  #compact(region: number | undefined): string {
    const result = this.#memory.compact(region)
    if (this.stateAddress !== null) {
      const moved = relocateState(this.#memory, this.stateAddress, result.relocations)
      if (moved !== undefined && this.#stateHeader !== undefined) this.#stateHeader = moved
    }
    return JSON.stringify({ ...result, relocations: [...result.relocations] })
  }

  #reply(payload: unknown, gasLimit: unknown): string {
    if (this.#message.kind === MessageKind.REPLY || this.#message.kind === MessageKind.SIGNAL) {
      throw misuse(`a ${this.#message.kind} message cannot be replied to`)
    }
    if (this.replyIndex >= 0) throw misuse('ctx.reply was already called for this message: one reply per message')
    const bytes = this.#payload(payload)
    this.#charge('reply', bytes.length)
    if (gasLimit !== undefined) {
      this.#give(gasLimit)
      this.replyGasGiven = true
    }
    this.replyIndex = this.outgoing.length
    return this.#emit({
      kind: MessageKind.REPLY, destination: this.#message.source, payload: bytes, gasLimit: (gasLimit as number | undefined) ?? 0,
      replyTo: this.#message.id, replyCode: ReplyCode.SUCCESS_MANUAL,
    })
  }

  #send(destination: unknown, payload: unknown, gasLimit: unknown, delay: unknown): string {
    const to = syscallId(destination, 'destination') as ActorId
    const bytes = this.#payload(payload)
    const cycles = delay ?? 0
    if (typeof cycles !== 'number' || !Number.isInteger(cycles) || cycles < 0 || cycles > DELAY_CYCLES_MAX) {
      throw misuse(`delay must be an integer in 0..${DELAY_CYCLES_MAX}, got ${describeValue(cycles)}`)
    }
    this.#charge('send', bytes.length)
    const gas = gasLimit ?? 0
    this.#give(gas)
    return this.#emit({
      kind: MessageKind.HANDLE, destination: to, payload: bytes, gasLimit: gas as number, ...(cycles > 0 ? { delay: cycles } : {}),
    })
  }

  #wait(cycles: unknown): undefined {
    if (this.#message.kind !== MessageKind.HANDLE && this.#message.kind !== MessageKind.INIT) {
      throw misuse(`a ${this.#message.kind} message cannot wait`)
    }
    const count = cycles ?? WAIT_CYCLES_DEFAULT
    if (typeof count !== 'number' || !Number.isInteger(count) || count < 1 || count > WAIT_CYCLES_MAX) {
      throw misuse(`wait cycles must be an integer in 1..${WAIT_CYCLES_MAX}, got ${describeValue(count)}`)
    }
    if (this.replyIndex >= 0) throw misuse('a message that replied cannot wait')
    if (this.waitCycles !== null || this.inheritor !== null) throw misuse('the message already waits or exited')
    this.#charge('wait', 0)
    this.waitCycles = count
    return undefined
  }

  #wake(messageId: unknown): undefined {
    this.#notEnded()
    const id = syscallId(messageId, 'messageId') as MessageId
    this.#charge('wake', 0)
    if (!this.wakes.includes(id)) this.wakes.push(id)
    return undefined
  }

  #createProgram(codeId: unknown, salt: unknown, payload: unknown, gasLimit: unknown): string {
    const code = syscallId(codeId, 'codeId') as CodeId
    const saltBytes = salt === undefined ? new Uint8Array(0) : this.#bytes(salt, 'salt')
    if (saltBytes.length > SALT_SIZE_MAX_BYTES) throw misuse(`salt is ${saltBytes.length} bytes, over ${SALT_SIZE_MAX_BYTES}`)
    const init = this.#payload(payload ?? new Uint8Array(0))
    if (gasLimit === undefined) throw misuse('createProgram needs a gasLimit for the init message')
    this.#charge('createProgram', init.length)
    this.#give(gasLimit)
    const programId = deriveProgramId(this.#programId, code, saltBytes)
    const initMessageId = this.#emit({ kind: MessageKind.INIT, destination: programId, payload: init, gasLimit: gasLimit as number }) as MessageId
    this.created.push({ programId, codeId: code, initMessageId })
    return programId
  }

  #exit(inheritor: unknown): undefined {
    if (this.#message.kind !== MessageKind.HANDLE && this.#message.kind !== MessageKind.INIT) {
      throw misuse(`a ${this.#message.kind} message cannot exit the program`)
    }
    if (this.waitCycles !== null || this.inheritor !== null) throw misuse('the message already waits or exited')
    const to = syscallId(inheritor, 'inheritor') as ActorId
    this.#charge('exit', 0)
    this.inheritor = to
    return undefined
  }

  #emit(fields: Omit<Message, 'id' | 'source' | 'origin'>): string {
    this.#notEnded()
    if (this.outgoing.length >= SENDS_PER_MESSAGE_MAX) {
      throw misuse(`a message may emit at most ${SENDS_PER_MESSAGE_MAX} messages`)
    }
    const id = childMessageId(this.#message.id, this.#cycle, this.outgoing.length)
    this.outgoing.push({ id, source: this.#programId, origin: this.#message.origin, ...fields })
    return id
  }

  /** After wait or exit only ctx.state may still be saved: no effects once a message has ended. */
  #notEnded(): void {
    if (this.waitCycles !== null || this.inheritor !== null) throw misuse('the message has ended (it waits or exited)')
  }

  #bytes(value: unknown, name: string): Uint8Array {
    if (typeof value === 'string') return utf8(value)
    return copyGuestBytes(value, name)
  }

  #payload(value: unknown): Uint8Array {
    const bytes = this.#bytes(value, 'payload')
    if (bytes.length > PAYLOAD_SIZE_MAX_BYTES) {
      throw misuse(`payload is ${bytes.length} bytes, over the ${PAYLOAD_SIZE_MAX_BYTES}-byte limit`)
    }
    return bytes
  }

  #charge(operation: GasOperation, bytes: number): void {
    const cost = gasCost(this.#schedule, operation, bytes)
    if (!this.counter.charge(cost)) {
      throw new StrataError(MemoryErrorCode.OUT_OF_GAS, `${operation} needs ${cost} gas, ${this.counter.left} left`)
    }
  }

  #give(gasLimit: unknown): void {
    if (typeof gasLimit !== 'number' || !Number.isSafeInteger(gasLimit) || gasLimit < 0 || gasLimit > MESSAGE_GAS_LIMIT_MAX) {
      throw misuse(`gasLimit must be an integer in 0..${MESSAGE_GAS_LIMIT_MAX}, got ${describeValue(gasLimit)}`)
    }
    if (!this.counter.charge(gasLimit)) {
      throw new StrataError(MemoryErrorCode.OUT_OF_GAS, `giving ${gasLimit} gas, ${this.counter.left} left`)
    }
    this.given += gasLimit
  }
}

function syscallId(value: unknown, name: string): string {
  try {
    return toId(value, name)
  } catch (error) {
    throw misuse((error as Error).message)
  }
}

function misuse(message: string): StrataError {
  return new StrataError(ProgramErrorCode.SYSCALL_MISUSE, message)
}
