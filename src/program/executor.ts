/**
 * The executor: runs one message against one program's memory and returns a journal entry. Pure with respect
 * to the outside world: no threads, no I/O, no routing. Whether a destination is a program or a user, and
 * whether a created program may exist, is decided when journals are applied (scheduler/).
 *
 * Gas, for a message with limit L (docs/programs.md):
 *   burned   = fees charged (the whole L when the message ran out of gas)
 *   given    = gas handed to emitted messages (sends, program inits, a reply with its own gasLimit)
 *   unused   = L - burned - given; it rides on the reply (or the exit signal) so the receiver can use it;
 *              for reply and signal messages, which get no reply, it is refunded.
 * So L = burned + refunded + gas carried by emitted messages, message by message: gas is conserved.
 */
import { ERROR_TEXT_MAX_BYTES } from '../constants.js'
import { utf8Truncated, wellFormed } from '../bytes.js'
import { GasCounter } from '../gas/index.js'
import { gasCost, type GasSchedule } from '../gas/index.js'
import { MemoryErrorCode } from '../memory/index.js'
import type { ProgramMemory } from '../memory/index.js'
import { childMessageId, idBytes, type ActorId, type MessageId, type ProgramId } from '../message/index.js'
import { ReplyCode } from '../message/index.js'
import { MessageKind, type Message } from '../message/index.js'
import { CALL_DEPTH_MAX, HaltKind, RunOutcome, type GuestCode, type RunResult } from '../engine/index.js'
import { MessageContext } from './context.js'
import { ProgramErrorCode } from './errors.js'
import {
  ExecutionResult, ProgramStatus, type JournalEntry, type MessageOutcome, type ProgramRecord,
} from '../protocol/index.js'

export interface ExecutionEnv {
  readonly cycle: number
  readonly schedule: GasSchedule
  /** query: run, report, and roll everything back. */
  readonly readOnly?: boolean
}

export function executeMessage(
  message: Message, program: ProgramRecord, memory: ProgramMemory, code: GuestCode, env: ExecutionEnv,
): JournalEntry {
  const unavailable = unavailableCode(message, program)
  if (unavailable !== undefined) return skip(message, program, env.cycle, unavailable)

  const counter = new GasCounter(message.gasLimit)
  memory.gas = counter
  memory.begin()
  const logs: string[] = []
  const ctx = new MessageContext(message, program.id, env.cycle, counter, memory, env.schedule, program.stateAddress, logs)
  let failure: Failure | undefined

  if (!counter.charge(gasCost(env.schedule, 'message', message.payload.length))) {
    failure = { code: ReplyCode.OUT_OF_GAS, text: `the message fee is ${gasCost(env.schedule, 'message', message.payload.length)} gas, the limit ${message.gasLimit}` }
  } else {
    // replyTo and replyCode are undefined for init and handle messages: the guest is told the same either way.
    const result = code.run({
      kind: message.kind, programId: program.id, cycle: env.cycle, id: message.id, source: message.source,
      gasLimit: message.gasLimit, payloadLength: message.payload.length, replyTo: message.replyTo,
      replyCode: message.replyCode,
    }, ctx)
    failure = classify(result)
    // Out of gas is sticky: whatever the guest reported, a counter that could not pay means out of gas.
    if (counter.exhausted) failure = { code: ReplyCode.OUT_OF_GAS, text: 'ran out of gas' }
  }
  const stateAddress = ctx.stateAddress

  if (failure !== undefined || env.readOnly) {
    memory.rollback()
  } else {
    memory.commit()
  }
  if (failure !== undefined) return fail(message, program, env.cycle, counter.used - ctx.given, failure, logs)

  const burned = counter.used - ctx.given
  let unused = message.gasLimit - counter.used
  // The context is dropped after this message, so its lists become the entry's without copies.
  const outgoing = ctx.outgoing
  let result: ExecutionResult = ExecutionResult.SUCCESS
  let status = program.status
  let wait: JournalEntry['wait']
  let replyCode: number | null = null
  const repliable = message.kind === MessageKind.INIT || message.kind === MessageKind.HANDLE

  if (ctx.waitCycles !== null) {
    result = ExecutionResult.WAITED
    wait = { message: { ...message, gasLimit: unused }, untilCycle: env.cycle + ctx.waitCycles }
    unused = 0
  } else {
    if (ctx.inheritor !== null) {
      result = ExecutionResult.EXITED
      status = ProgramStatus.EXITED
      // The exit signal carries what is left; an automatic reply, if any, carries nothing.
      outgoing.push({
        id: childMessageId(message.id, env.cycle, outgoing.length), kind: MessageKind.SIGNAL, source: program.id,
        destination: ctx.inheritor, payload: idBytes(program.id), gasLimit: unused, origin: message.origin,
      })
      unused = 0
    }
    if (repliable) {
      if (ctx.replyIndex >= 0) {
        replyCode = ReplyCode.SUCCESS_MANUAL
        if (!ctx.replyGasGiven) {
          outgoing[ctx.replyIndex] = { ...outgoing[ctx.replyIndex]!, gasLimit: unused }
          unused = 0
        }
      } else {
        replyCode = ReplyCode.SUCCESS_AUTO
        outgoing.push(replyMessage(message, program.id, env.cycle, outgoing.length, ReplyCode.SUCCESS_AUTO, new Uint8Array(0), unused))
        unused = 0
      }
    }
    if (message.kind === MessageKind.INIT && status === ProgramStatus.INITIALIZING) status = ProgramStatus.ACTIVE
  }

  const changed = status !== program.status || stateAddress !== program.stateAddress
  const record: ProgramRecord | undefined = changed
    ? { ...program, status, stateAddress, ...(ctx.inheritor !== null ? { inheritor: ctx.inheritor } : {}) }
    : undefined
  return {
    outcome: {
      messageId: message.id, origin: message.origin, programId: program.id, kind: message.kind, result, replyCode,
      gasBurned: burned, gasRefunded: unused, logs,
    },
    outgoing, created: ctx.created, wakes: ctx.wakes,
    ...(wait !== undefined ? { wait } : {}),
    ...(record !== undefined && !env.readOnly ? { program: record } : {}),
  }
}

function unavailableCode(message: Message, program: ProgramRecord): number | undefined {
  switch (program.status) {
    case ProgramStatus.EXITED: return ReplyCode.PROGRAM_EXITED
    case ProgramStatus.INIT_FAILED: return ReplyCode.PROGRAM_INIT_FAILED
    case ProgramStatus.INITIALIZING:
      return message.kind === MessageKind.HANDLE ? ReplyCode.PROGRAM_NOT_INITIALIZED : undefined
    case ProgramStatus.ACTIVE:
      return message.kind === MessageKind.INIT ? ReplyCode.PROGRAM_EXISTS : undefined
  }
}

interface Failure {
  readonly code: number
  readonly text: string
  readonly trace?: string
}

/** Syscall error codes that are memory faults (the rest of MemoryErrorCode). */
const MEMORY_CODES = new Set<string>(Object.values(MemoryErrorCode))

/** Maps what the guest reported to a reply code and text (undefined: success, a wait or an exit). */
function classify(result: RunResult): Failure | undefined {
  switch (result.outcome) {
    case RunOutcome.SUCCESS: case HaltKind.WAIT: case HaltKind.EXIT: return undefined
    case HaltKind.OUT_OF_GAS: return { code: ReplyCode.OUT_OF_GAS, text: 'ran out of gas' }
    case HaltKind.DEPTH: return { code: ReplyCode.STACK_LIMIT, text: `calls nested deeper than ${CALL_DEPTH_MAX}` }
    case HaltKind.STACK: return { code: ReplyCode.STACK_LIMIT, text: 'the stack overflowed' }
    case RunOutcome.ASYNC: return { code: ReplyCode.ASYNC_HANDLER, text: result.errorText }
    case RunOutcome.STATE_ENCODING: return { code: ReplyCode.STATE_ENCODING, text: result.errorText }
    case RunOutcome.BAD_DEFINITION: return { code: ReplyCode.EXECUTION_ERROR, text: result.errorText }
    default: break
  }
  const text = result.errorText
  const trace = result.errorTrace !== '' ? { trace: result.errorTrace } : {}
  switch (result.errorCode) {
    case '': return { code: ReplyCode.EXECUTION_ERROR, text, ...trace }
    case MemoryErrorCode.MEMORY_BUDGET_EXCEEDED: return { code: ReplyCode.MEMORY_BUDGET_EXCEEDED, text, ...trace }
    case ProgramErrorCode.SYSCALL_MISUSE: return { code: ReplyCode.SYSCALL_ERROR, text, ...trace }
    case ProgramErrorCode.STATE_ENCODING: return { code: ReplyCode.STATE_ENCODING, text, ...trace }
    default:
      return { code: MEMORY_CODES.has(result.errorCode) ? ReplyCode.MEMORY_FAULT : ReplyCode.EXECUTION_ERROR, text, ...trace }
  }
}

export function replyMessage(
  message: Message, source: ActorId, cycle: number, index: number, code: number, payload: Uint8Array,
  gasLimit: number,
): Message {
  return {
    id: childMessageId(message.id, cycle, index), kind: MessageKind.REPLY, source, destination: message.source,
    payload, gasLimit, origin: message.origin, replyTo: message.id, replyCode: code,
  }
}

/**
 * The entry of a message whose stream worker died while it ran (it exhausted the worker heap): it burns its whole
 * limit (like running out of gas) and changes nothing.
 */
export function workerDiedEntry(message: Message, program: ProgramRecord, cycle: number): JournalEntry {
  const failure = { code: ReplyCode.WORKER_DIED, text: 'the stream\'s worker died while the message ran (for example, out of heap)' }
  return fail(message, program, cycle, message.gasLimit, failure, [])
}

/** A failed message: everything rolled back, fees burned, an error reply (init/handle) carrying the rest. */
function fail(
  message: Message, program: ProgramRecord, cycle: number, feesCharged: number,
  failure: Failure,
  logs: string[],
): JournalEntry {
  // Gas handed to rolled-back sends comes back; out of gas and a dead worker burn the whole limit, as in Gear.
  const burnsAll = failure.code === ReplyCode.OUT_OF_GAS || failure.code === ReplyCode.WORKER_DIED
  const burned = burnsAll ? message.gasLimit : feesCharged
  const rest = message.gasLimit - burned
  const repliable = message.kind === MessageKind.INIT || message.kind === MessageKind.HANDLE
  const outgoing = repliable
    ? [replyMessage(message, program.id, cycle, 0, failure.code, utf8Truncated(failure.text, ERROR_TEXT_MAX_BYTES), rest)]
    : []
  const initFailed = message.kind === MessageKind.INIT && program.status === ProgramStatus.INITIALIZING
  return {
    outcome: {
      messageId: message.id, origin: message.origin, programId: program.id, kind: message.kind, result: ExecutionResult.ERROR,
      replyCode: repliable ? failure.code : null, gasBurned: burned, gasRefunded: repliable ? 0 : rest,
      error: wellFormed(failure.text), ...(failure.trace !== undefined ? { trace: wellFormed(failure.trace) } : {}), logs,
    },
    outgoing, created: [], wakes: [],
    ...(initFailed ? { program: { ...program, status: ProgramStatus.INIT_FAILED } } : {}),
  }
}

/** The program cannot take the message: nothing runs, nothing is burned. */
function skip(message: Message, program: ProgramRecord, cycle: number, code: number): JournalEntry {
  const repliable = message.kind === MessageKind.INIT || message.kind === MessageKind.HANDLE
  return {
    outcome: {
      messageId: message.id, origin: message.origin, programId: program.id, kind: message.kind, result: ExecutionResult.SKIPPED,
      replyCode: repliable ? code : null, gasBurned: 0, gasRefunded: repliable ? 0 : message.gasLimit, logs: [],
    },
    outgoing: repliable ? [replyMessage(message, program.id, cycle, 0, code, new Uint8Array(0), message.gasLimit)] : [],
    created: [], wakes: [],
  }
}
