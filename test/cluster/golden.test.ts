/**
 * The PostgreSQL store gives the pinned roots and gas of the golden workload (test/integration/golden_workload.ts)
 * at streams 0 and 2, and reopening resumes it whatever the local replica looks like: deleted (rebuilt from the
 * tables), left behind (caught up from the commit log), tampered with (detected and rebuilt).
 */
import { cpSync, rmSync } from 'node:fs'
import path from 'node:path'
import { expect, it } from 'vitest'
import { openPostgresStore } from '../../src/cluster/index.js'
import { hashPlane, nativeHasher } from '../../src/merkle/index.js'
import { openLmdbStore } from '../../src/store/index.js'
import { GOLDEN, workload } from '../integration/golden_workload.js'
import { describePostgres, usePostgresServer } from './suite.js'

const verify = (bytes: Uint8Array): Uint8Array => hashPlane(nativeHasher, bytes)

describePostgres('the golden workload on PostgreSQL', () => {
  const ctx = usePostgresServer()

  it('gives the pinned roots and gas at streams 0 and 2', async () => {
    for (const streams of [0, 2]) {
      const url = await ctx.server.createDatabase()
      const cacheDir = path.join(ctx.dir, `golden-${streams}`)
      expect(await workload({ store: 'postgres', url, cacheDir, streams })).toEqual(GOLDEN)
    }
  })

  it('resumes after the replica was deleted, left behind or tampered with, and still gives the pinned roots', async () => {
    const url = await ctx.server.createDatabase()
    const cacheDir = path.join(ctx.dir, 'resume')
    const replica = path.join(cacheDir, 'replica')
    const behind = path.join(ctx.dir, 'resume-behind')
    const options = { store: 'postgres' as const, url, cacheDir, streams: 2 }
    /** Opens the store alone to see how it found the replica, then hands the runtime the same options. */
    const expectReplica = async (how: string): Promise<typeof options> => {
      const store = await openPostgresStore({ url, cacheDir, verify })
      try {
        expect(store.diagnostics().replica, store.diagnostics().rebuildReason).toBe(how)
      } finally {
        await store.close()
      }
      return options
    }
    const restarts = new Map([
      // Deleted, and the log pruned below the head (as a later layer will prune it): rebuilt from the
      // materialized tables. (With the whole log a deleted replica is replayed from commit 1.) A copy is kept.
      [1, async () => {
        cpSync(replica, behind, { recursive: true })
        rmSync(replica, { recursive: true })
        const pruned = await ctx.server.query('DELETE FROM strata_log WHERE commit_number < (SELECT commit_count FROM strata_head)', [], url)
        expect(pruned.rowCount).toBeGreaterThan(0)
        return expectReplica('rebuilt')
      }],
      // Left behind (the copy from before round 1): caught up by replaying round 1's commits from the log.
      [2, async () => {
        rmSync(replica, { recursive: true })
        cpSync(behind, replica, { recursive: true })
        const opened = await openPostgresStore({ url, cacheDir, verify })
        try {
          expect(opened.diagnostics()).toMatchObject({ replica: 'replayed' })
          expect(opened.diagnostics().replayed).toBeGreaterThan(0)
        } finally {
          await opened.close()
        }
        return options
      }],
      // Tampered: a commit the database never saw, so the replica is ahead with another root: rebuilt.
      [3, async () => {
        const lmdb = await openLmdbStore({ dataDir: replica, verify })
        const head = lmdb.head()
        await lmdb.commit({ cycle: head.cycle, stateRoot: new Uint8Array(32).fill(7), nonces: [['ab'.repeat(32) as never, 99]] })
        await lmdb.close()
        return expectReplica('rebuilt')
      }],
    ])
    expect(await workload(options, restarts)).toEqual(GOLDEN)
  })
})
