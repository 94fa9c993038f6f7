// The protocol folder: the types that cross between the main thread, the stream workers and the store (records,
// journal entries, tasks and results) and their wire encoding, versioned.
export { PROGRAM_STATUS_CODE, ProgramStatus, type ProgramRecord } from './records.js'
export { ExecutionResult, type CreatedProgram, type JournalEntry, type MessageOutcome } from './journal.js'
export {
  PROTOCOL_VERSION, ProtocolErrorCode, decodeResult, decodeTask, encodeMessage, encodeResult, encodeTask,
  type EncodedResult, type MemoryDelta, type PlaneChange, type ProgramImage, type StreamResult, type StreamTask,
} from './wire.js'
export { JournalCodecErrorCode, decodeJournal, decodeMessages, encodeJournal, encodeMessages } from './journal_codec.js'
