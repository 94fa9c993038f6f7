/** Error codes raised by the store. Every one is a system condition or a caller's misuse, never a reply code. */
export const StoreErrorCode = {
  /** Stored bytes do not match their committed hash (a plane against its root, a code against its id). */
  INTEGRITY: 'INTEGRITY',
  /** Another live process (or another store object in this process) holds the data directory for writing. */
  LOCKED: 'LOCKED',
  /** The data directory was written with a format this build does not read (newer, older or unknown). */
  FORMAT_VERSION: 'FORMAT_VERSION',
  /** The file system refused an operation (permissions, disk full, not a directory...); committed state is intact. */
  IO: 'IO',
  /** A read-only open of a directory that holds no store. */
  NOT_FOUND: 'NOT_FOUND',
  /** A malformed batch or argument; nothing was written. */
  INVALID_ARGUMENT: 'INVALID_ARGUMENT',
  /** A batch whose cycle is neither the head's cycle nor the next one; nothing was written. */
  CYCLE_ORDER: 'CYCLE_ORDER',
  /** A write on a store opened with `readOnly: true`. */
  READ_ONLY: 'READ_ONLY',
  /** A commit while another commit of the same store is still in flight (commits are not reentrant). */
  BUSY: 'BUSY',
  /** Any call after `close()`. */
  CLOSED: 'CLOSED',
} as const
export type StoreErrorCode = (typeof StoreErrorCode)[keyof typeof StoreErrorCode]
