// The cluster's facade: explicit named exports only. The PostgreSQL store (one writer per database, fenced by an
// epoch, reads served by a local LMDB replica), its readers, and the leases the multi-node layer will use.
export { ClusterErrorCode } from './errors.js'
export {
  CONNECT_TIMEOUT_MS, HOLDER_SIZE_MAX_CHARS, LOG_KEEP_COMMITS_DEFAULT, LOG_REPLAY_ROWS_PER_FETCH, QUERY_TIMEOUT_MS, PostgresStore, openPostgresStore,
  type PostgresStoreDiagnostics, type PostgresStoreOptions, type ReplicaSync,
} from './postgres_store.js'
export {
  READER_CACHE_SLOTS_MAX, PostgresReader, openPostgresReader, type PostgresReaderDiagnostics, type PostgresReaderOptions,
} from './postgres_reader.js'
export { SCHEMA_VERSION, ensureSchema } from './schema.js'
export {
  LEASE_HOLDER_SIZE_MAX_CHARS, LEASE_NAME_SIZE_MAX_CHARS, LEASE_TERM_MS_DEFAULT, LEASE_TERM_MS_MAX, LEASE_TERM_MS_MIN,
  acquireLease, fenceLease, limitIdleTransactions, listLeases, releaseLease, renewLease, type Lease, type Queryable,
} from './lease.js'
export { LOG_BATCH_SIZE_MAX_BYTES, LOG_FORMAT_VERSION } from './log.js'
export { checkedDatabaseUrl, type DatabaseUrl } from './url.js'
export { RemotePool, openRemotePool, type RemotePoolOptions, type RemotePoolStats } from './remote_pool.js'
export { RESULTS_CHANNEL, TASKS_CHANNEL, TASK_POLL_MS, packResult, streamLeaseName, unpackResult } from './tasks.js'
export { runNode, type NodeEvent, type NodeOptions } from './node.js'
export { CYCLE_LEASE_FILE_NAME, CYCLE_LEASE_NAME, STANDBY_POLL_MS_MAX } from './cycle_lease.js'
export {
  INBOX_KEEP_COMMITS, INBOX_SEND_ALL_MAX, ClusterClient, openClusterClient, type InboxStatus,
} from './inbox.js'
