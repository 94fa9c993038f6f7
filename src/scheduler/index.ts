export {
  Runtime, DEFAULT_USER_ID, INBOX_TAKE_MAX, checkPayloadAndGas, QUEUE_PAGE_MAX, type RuntimeOptions, type RuntimeEvents, type CycleReport, type CycleRecordView, type SendInput,
  type CreateProgramInput, type QueryResult, type ProgramView,
} from './runtime.js'
export { RuntimeErrorCode } from './errors.js'
export { SchedulerState, type MailboxEntry, type WaitEntry } from './state.js'
export { CycleEffects, applyEntry, beginCycle } from './apply.js'
export { StreamExecutor, type StreamExecutorOptions } from './stream_executor.js'
export { StreamPool, type StreamFailure, type StreamPoolOptions, type StreamRunner } from './pool.js'
