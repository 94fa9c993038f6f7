// The store's facade: explicit named exports only. The runtime opens a store through here (lmdb by default,
// memory for tests) and sees only the `Store` interface.
export { StoreErrorCode } from './errors.js'
export {
  ALL_CHUNKS, MERKLE_KEY_SIZE_MAX_BYTES, PLANES_PER_TRANSACTION_DEFAULT, STORE_CHUNK_SIZE_BYTES, STORE_FORMAT_VERSION,
  STORE_HASH_SIZE_BYTES, STORE_MAILBOX_SIZE_MAX_DEFAULT, STORE_MAILBOX_SIZE_MAX_LIMIT, STORE_PLANE_KEY_LIMIT,
  type CommitBatch, type CycleCounts, type CycleRecord, type InboxRequest, type PlaneVerifier, type Store, type StoreHead, type StoreMemoryDelta, type StoreOpenOptions,
  type StoreImageEntry, type StoreImageHead, type StorePlaneChange, type StoredMailboxEntry, type StoredWaitEntry,
} from './store.js'
export { LmdbStore, openLmdbStore, type LmdbStoreDiagnostics, type LmdbStoreOptions } from './lmdb_store.js'
export { MemoryStore, openMemoryStore, type MemoryStoreOptions } from './memory_store.js'
export { WRITER_LOCK_FILE_NAME } from './lock.js'
// For other backends (src/cluster's PostgreSQL store): a batch validated and encoded exactly as the stores here
// do it, the writer lock of a directory, and the I/O error of this folder.
export { prepareBatch, type PreparedBatch, type PreparedDelta, type PreparedPlane } from './batch.js'
export { acquireWriterLock, ioError, type WriterLock } from './lock.js'
export { checkedCode } from './checks.js'
