export {
  defineProgram, type ProgramDefinition, type ProgramContext, type ProgramMemoryApi, type IncomingMessage,
  type Handler, type SendOptions, type ReplyOptions, type CreateProgramOptions, type WaitOptions, type PayloadInput,
} from './api.js'
export { ProgramErrorCode } from './errors.js'
export { ProgramStatus, PROGRAM_STATUS_CODE, ExecutionResult, type ProgramRecord, type JournalEntry, type MessageOutcome, type CreatedProgram } from '../protocol/index.js'
export { bundleProgram, type BundledCode } from './bundle.js'
export { loadCode, checkCode } from './code.js'
export { executeMessage, replyMessage, workerDiedEntry, type ExecutionEnv } from './executor.js'
