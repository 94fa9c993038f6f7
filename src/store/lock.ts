/**
 * The writer lock of a data directory: a file holding the writer's pid. LMDB itself lets any number of
 * processes write one environment (it serializes their transactions), but Strata's store keeps the head and
 * queue cursor in memory between commits, so two writers would silently overwrite each other's cycles. Hence
 * one writer per directory, checked at open:
 *
 *   - the lock file is created with O_EXCL ('wx'), so of two processes racing for a free directory one wins;
 *   - a lock file whose pid is alive (`kill(pid, 0)` succeeds or fails with EPERM) means LOCKED: another
 *     process, or this one (another store object or another thread), is the writer;
 *   - a lock file whose pid is dead is stale (a crashed writer): it is broken by renaming it to a unique name
 *     (rename is atomic, so only one breaker gets that file) and checking that the renamed file still holds
 *     the stale pid; if it holds someone's fresh lock instead, it is linked back and the open fails LOCKED.
 *
 * Readers (`readOnly: true`, e.g. stream workers of the writer's process) take no lock: LMDB gives them
 * consistent snapshots whatever the writer does.
 *
 * Limits: a pid recycled by an unrelated live process after a crash makes the lock look held (LOCKED with the
 * pid named; delete the file if that process is not Strata). The lock assumes one host (no network shares).
 */
import { closeSync, linkSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import path from 'node:path'
import { StrataError } from '../errors.js'
import { StoreErrorCode } from './errors.js'

export const WRITER_LOCK_FILE_NAME = 'strata-writer.lock'

/** Attempts to take a free or stale lock before giving up (each stale break can race with another opener). */
const LOCK_ATTEMPTS_MAX = 4

/** How long a lock file may stay half-written (created, pid not yet written) before it counts as stale. */
const LOCK_WRITE_GRACE_MS = 100

export interface WriterLock {
  readonly path: string
  release(): void
}

/** Lock files held by this thread, released at process exit if their store was never closed. */
const held = new Set<string>()
let exitHookInstalled = false

export function acquireWriterLock(dataDir: string): WriterLock {
  const lockPath = path.join(dataDir, WRITER_LOCK_FILE_NAME)
  const token = `${process.pid}\n${randomBytes(8).toString('hex')}\n`
  for (let attempt = 0; attempt < LOCK_ATTEMPTS_MAX; attempt += 1) {
    if (tryCreate(lockPath, token)) {
      held.add(lockPath)
      installExitHook()
      let released = false
      return {
        path: lockPath,
        release: () => {
          if (released) return
          released = true
          held.delete(lockPath)
          // Remove only our own file: never a lock someone else took after a forced break.
          if (readOrUndefined(lockPath) === token) unlinkQuietly(lockPath)
        },
      }
    }
    let content = readOrUndefined(lockPath)
    if (content === undefined) continue // vanished between our create and read: try again
    if (!content.endsWith('\n')) {
      // An opener between its create and its write, or one killed there: give a live one time to finish.
      sleepMs(LOCK_WRITE_GRACE_MS)
      content = readOrUndefined(lockPath)
      if (content === undefined) continue
    }
    // Only a complete line names a holder; anything else after the grace period is a dead opener's leftover.
    const pid = content.endsWith('\n') ? Number.parseInt(content, 10) : Number.NaN
    if (Number.isSafeInteger(pid) && pid > 0 && isAlive(pid)) {
      throw new StrataError(StoreErrorCode.LOCKED,
        `data directory ${dataDir} is held for writing by process ${pid}${pid === process.pid ? ' (this process)' : ''}; `
        + `close that store first (lock file ${lockPath})`, { dataDir, pid, lockPath })
    }
    // Stale (dead pid) or unparsable (a writer killed before it wrote its pid): break it atomically.
    const aside = `${lockPath}.stale-${process.pid}-${randomBytes(4).toString('hex')}`
    try {
      renameSync(lockPath, aside)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue // someone else broke it first
      throw ioError(dataDir, 'break a stale writer lock', error)
    }
    if (readOrUndefined(aside) !== content) {
      // Between our read and our rename another opener broke the stale lock and took a fresh one, which we
      // just moved aside: put it back (link fails if yet another file is there) and leave the directory to it.
      try { linkSync(aside, lockPath) } catch { /* another lock is in place */ }
      unlinkQuietly(aside)
      throw new StrataError(StoreErrorCode.LOCKED,
        `data directory ${dataDir} was just locked by another process`, { dataDir, lockPath })
    }
    unlinkQuietly(aside)
  }
  throw new StrataError(StoreErrorCode.LOCKED,
    `could not take the writer lock of ${dataDir} after ${LOCK_ATTEMPTS_MAX} attempts (contended)`, { dataDir, lockPath })
}

function tryCreate(lockPath: string, token: string): boolean {
  let fd: number
  try {
    fd = openSync(lockPath, 'wx', 0o644)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false
    throw ioError(path.dirname(lockPath), 'create the writer lock', error)
  }
  let failure: unknown
  try {
    // No fsync: after a machine crash the writer is gone anyway, and a lost or empty lock file is stale.
    writeSync(fd, token)
  } catch (error) {
    failure = error
  } finally {
    closeSync(fd)
  }
  if (failure !== undefined) {
    unlinkQuietly(lockPath)
    throw ioError(path.dirname(lockPath), 'write the writer lock', failure)
  }
  return true
}

function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

function readOrUndefined(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8')
  } catch {
    return undefined
  }
}

function unlinkQuietly(file: string): void {
  try { unlinkSync(file) } catch { /* already gone */ }
}

function installExitHook(): void {
  if (exitHookInstalled) return
  exitHookInstalled = true
  process.on('exit', () => {
    for (const lockPath of held) unlinkQuietly(lockPath)
  })
}

export function ioError(dataDir: string, action: string, cause: unknown): StrataError {
  const error = cause as NodeJS.ErrnoException
  const message = String(error?.message ?? cause)
  // Node's messages start with their code already ("EACCES: permission denied, open ..."). LMDB's EIO is what a
  // full disk or a file-size limit looks like from inside a commit: say so.
  const named = error?.code !== undefined && !message.startsWith(`${error.code}:`) ? `${error.code}: ${message}` : message
  const reason = /Input\/output error|EIO|ENOSPC|EFBIG/.test(named) ? `${named} (is the disk full, or over a file-size limit?)` : named
  return new StrataError(StoreErrorCode.IO, `could not ${action} in ${dataDir}: ${reason}`,
    { dataDir, cause: error?.code ?? error?.message })
}
