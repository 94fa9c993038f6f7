/**
 * Code blobs as the engine runs them. A blob is the bundled ES module (UTF-8); loading it instruments it and
 * compiles it in its own context (engine/). Evaluating it once at upload, metered, checks that its top level runs
 * and that it exports a program, with no host access.
 */
import { StrataError } from '../errors.js'
import { GasCounter } from '../gas/index.js'
import { GuestCode, HaltKind, RunOutcome, UPLOAD_EVALUATION_GAS, computeWeights, type BridgeHost } from '../engine/index.js'
import type { GasSchedule } from '../gas/index.js'
import type { CodeId } from '../message/index.js'
import { ProgramErrorCode } from './errors.js'

const decoder = new TextDecoder('utf-8', { fatal: true })

/** Instruments and compiles a code blob. Throws BAD_CODE. */
export function loadCode(codeId: CodeId, blob: Uint8Array, schedule: GasSchedule): GuestCode {
  let source: string
  try {
    source = decoder.decode(blob)
  } catch {
    throw new StrataError(ProgramErrorCode.BAD_CODE, `code ${codeId} is not UTF-8 text`, { codeId })
  }
  return GuestCode.compile(codeId, source, computeWeights(schedule))
}

/**
 * Evaluates a code's top level once in its own context with UPLOAD_EVALUATION_GAS and checks its default export
 * (handle must be a function; init, handleReply and handleSignal functions if present). Throws BAD_CODE.
 */
export function checkCode(code: GuestCode): void {
  const counter = new GasCounter(UPLOAD_EVALUATION_GAS)
  const host: BridgeHost = {
    counter,
    call: () => {
      throw new StrataError(ProgramErrorCode.SYSCALL_MISUSE, 'no message is running: the top level has no ctx')
    },
  }
  const zero = '0'.repeat(64)
  const result = code.run({ kind: 'evaluate', programId: zero, cycle: 0, id: zero, source: zero, gasLimit: UPLOAD_EVALUATION_GAS, payloadLength: 0 }, host)
  if (result.outcome === RunOutcome.SUCCESS && !counter.exhausted) return
  const why = counter.exhausted || result.outcome === HaltKind.OUT_OF_GAS ? `failed to load: its top level ran out of gas (${UPLOAD_EVALUATION_GAS})`
    : result.outcome === RunOutcome.BAD_DEFINITION ? `has no valid default export: ${result.errorText}`
      : `failed to load: ${result.errorText || `its top level stopped (outcome ${result.outcome})`}`
  throw new StrataError(ProgramErrorCode.BAD_CODE, `code ${code.codeId} ${why}`, { codeId: code.codeId })
}
