export {
  defineProgram, type ProgramDefinition, type ProgramContext, type ProgramMemoryApi, type IncomingMessage,
  type Handler, type SendOptions, type ReplyOptions, type CreateProgramOptions, type WaitOptions, type PayloadInput,
} from './api.js'
export { ProgramErrorCode } from './errors.js'
export { ProgramStatus, PROGRAM_STATUS_CODE, type ProgramRecord } from './records.js'
export { bundleProgram, type BundledCode } from './bundle.js'
export { loadCode, checkCode } from './code.js'
export {
  executeMessage, replyMessage, workerDiedEntry, ExecutionResult, type ExecutionEnv, type JournalEntry, type MessageOutcome,
} from './executor.js'
export type { CreatedProgram } from './context.js'
