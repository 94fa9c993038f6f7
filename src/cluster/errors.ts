/**
 * Error codes raised by the PostgreSQL store. Where a condition means what the LMDB store's code of the same name
 * means (IO, FORMAT_VERSION, INVALID_ARGUMENT), the string is the same, so that a caller handles both stores alike.
 */
export const ClusterErrorCode = {
  /**
   * This store no longer holds the coordinator's role: its cycle lease expired or passed to another coordinator
   * (which took the next writer epoch). Nothing of the refused commit was written; this store can never commit
   * again.
   */
  FENCED: 'FENCED',
  /**
   * The database's head is not the one this store's replica holds (its commit count moved under it, which the
   * epoch should have prevented). Nothing was written.
   */
  CONFLICT: 'CONFLICT',
  /**
   * The database could not be reached or refused a statement (connection refused, authentication, lost
   * connection, disk full on the server); as with the LMDB store's IO, the last committed state is intact.
   */
  IO: 'IO',
  /**
   * A lease this node held is no longer its own: it expired (the node did not renew it within its term, e.g. it
   * was paused) or another node took it since. Work under it must stop; nothing was written.
   */
  LEASE_LOST: 'LEASE_LOST',
  /**
   * A writer open found a live coordinator: another process holds the cycle lease (the coordinator's role) and
   * renews it. Nothing was changed; open it as a standby to take over when that coordinator stops or dies.
   */
  LEASE_HELD: 'LEASE_HELD',
  /** The database holds a Strata schema or store format this build does not read. */
  FORMAT_VERSION: 'FORMAT_VERSION',
  /**
   * A read-only open found no Strata store in the database (no schema: an empty or unrelated database): readers
   * create nothing. The same string as the LMDB store's NOT_FOUND for a directory that holds no store.
   */
  NOT_FOUND: 'NOT_FOUND',
  /**
   * A read-only store could not bring its replica to the database's head by replaying the commit log (a commit
   * too large for the log, a pruned log, a row that gave another root): it keeps its last snapshot; reopening it
   * rebuilds the replica from the tables.
   */
  REPLAY: 'REPLAY',
  /**
   * The replica's cache directory belongs to another user or may be written by others: a local user could plant
   * a forged replica there. Nothing was opened.
   */
  UNSAFE_CACHE: 'UNSAFE_CACHE',
  /** A malformed option or argument; nothing was written. */
  INVALID_ARGUMENT: 'INVALID_ARGUMENT',
} as const
export type ClusterErrorCode = (typeof ClusterErrorCode)[keyof typeof ClusterErrorCode]
