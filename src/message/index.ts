export {
  ID_SIZE_BYTES, IdErrorCode, canonicalIdBytes, childMessageId, codeIdOf, deriveProgramId, externalMessageId, idBytes, toId,
  type ActorId, type CodeId, type MessageId, type ProgramId, type UserId,
} from './ids.js'
export { ReplyCode, isErrorReply, replyCodeName } from './reply_codes.js'
export { MessageKind, type Message } from './types.js'
