// The public entry of Strata: explicit named exports only.
export { StrataError, isStrataError } from './errors.js'
export * as constants from './constants.js'
export {
  GAS_SCHEDULE, MEMORY3D_SCHEDULE, NO_COMPUTE_SCHEDULE, GasCounter, GasErrorCode, gasCost, withSchedule,
  type GasOperation, type GasRow, type GasSchedule,
} from './gas/index.js'
export {
  address3d, splitAddress, planeKey, splitPlaneKey, formatAddress, ProgramMemory, RegionType, MemoryErrorCode,
  encodeMemoryMetadata, decodeMemoryMetadata, execute, BytecodeBuilder, Opcode,
  type Address3D, type Address3DParts, type PlaneKey, type ProgramMemoryOptions, type MemoryStats,
  type RegionStats, type CompactionReport, type CompactionResult, type ExecuteResult, type MemoryView,
  type DirtySet, type AllocationRecord,
} from './memory/index.js'
export {
  ReplyCode, isErrorReply, replyCodeName, MessageKind, IdErrorCode, toId,
  type Message, type ActorId, type CodeId, type MessageId, type ProgramId, type UserId,
} from './message/index.js'
export {
  defineProgram, ProgramStatus, ProgramErrorCode, ExecutionResult,
  type ProgramDefinition, type ProgramContext, type ProgramMemoryApi, type IncomingMessage, type Handler,
  type SendOptions, type ReplyOptions, type CreateProgramOptions, type WaitOptions, type PayloadInput,
  type ProgramRecord, type MessageOutcome,
} from './program/index.js'
export {
  Runtime, DEFAULT_USER_ID, QUEUE_PAGE_MAX, RuntimeErrorCode,
  type RuntimeOptions, type RuntimeEvents, type CycleReport, type CycleRecordView, type SendInput, type CreateProgramInput,
  type QueryResult, type ProgramView, type MailboxEntry, type WaitEntry,
} from './scheduler/index.js'
// The PostgreSQL store's error codes (FENCED, CONFLICT, ...) and the cluster's client (sends into its inbox); the
// pg driver loads only when a store or a client opens.
export { ClusterClient, ClusterErrorCode, openClusterClient, type InboxStatus } from './cluster/index.js'
export {
  verifyProof, MerkleErrorCode, EMPTY_STATE_ROOT_HEX, PROOF_FORMAT,
  type RangeProof, type AbsenceProof, type MerkleProof, type VerifyResult,
} from './merkle/index.js'
