import type { ActorId, MessageId } from './ids.js'

export const MessageKind = {
  INIT: 'init',
  HANDLE: 'handle',
  REPLY: 'reply',
  /** A system notification to a program (today: an exiting program's notice to its inheritor). */
  SIGNAL: 'signal',
} as const
export type MessageKind = (typeof MessageKind)[keyof typeof MessageKind]

export interface Message {
  readonly id: MessageId
  readonly kind: MessageKind
  readonly source: ActorId
  readonly destination: ActorId
  readonly payload: Uint8Array
  readonly gasLimit: number
  /** The external message whose tree this message belongs to (itself for an external message). */
  readonly origin: MessageId
  /** For replies: the message replied to. */
  readonly replyTo?: MessageId
  /** For replies: the reply code byte (docs/reply-codes.md). */
  readonly replyCode?: number
  /** Cycles to wait before delivery (0 = the next cycle). */
  readonly delay?: number
}
