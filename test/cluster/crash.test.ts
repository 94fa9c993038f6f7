/**
 * Crash safety of the PostgreSQL store: a child process (test/integration/crash_child.mjs, on a postgres:// URL)
 * runs the crash workload and is killed with SIGKILL at seeded random moments, KILLS times. After each kill,
 * PostgreSQL holds some committed cycle (its transactions are atomic), and the next child must reopen exactly
 * there: its cycle and state root are the database's head, and that root is the uninterrupted run's at that cycle,
 * whatever state the kill left the local replica in (behind by the commit in flight, or current). Finishing the
 * workload gives the final root, per-cycle message logs and mailboxes of an uninterrupted run on LMDB.
 *
 * The child imports the built package: `npm test` builds first; run `npm run build` before this file alone.
 */
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import path from 'node:path'
import pg from 'pg'
import { expect, it } from 'vitest'
import { openLmdbStore } from '../../src/store/index.js'
import { prng } from '../helpers/prng.js'
import type { CrashChildLine as Line } from '../integration/crash_child_line.js'
import { verify } from '../unit/store/fixtures.js'
import { PostgresServer } from './postgres_server.js'
import { describePostgres, usePostgresServer } from './suite.js'

const CHILD = fileURLToPath(new URL('../integration/crash_child.mjs', import.meta.url))
/** Cycles of the workload: enough for kills at many cycles, few enough that the file stays under ~30 s. */
const CYCLES = 24
/** Kills of the crash run (the LMDB crash test makes 24 over 40 cycles). */
const KILLS = 20
const SEED = 0x0c1a_5eed
/** A child that neither finishes nor is killed within this fails the test instead of hanging it. */
const CHILD_TIMEOUT_MS = 60_000


/** Where a kill lands: once the child printed a line `after` accepts, `arm` is called with the kill to fire. */
interface KillPlan {
  readonly after: (line: Line) => boolean
  readonly arm: (kill: () => void) => void
}

/** A kill `ms` after the armed line. */
const after = (ms: number) => (kill: () => void): void => { setTimeout(kill, ms) }

/**
 * A kill as soon as PostgreSQL's commit count moves past what it was when armed: the child is then between its
 * database COMMIT and its replica's commit (or just past it), the window where the replica is left behind.
 */
const onDatabaseCommit = (server: PostgresServer, url: string) => (kill: () => void): void => {
  void (async () => {
    const client = new pg.Client({ connectionString: url })
    await client.connect()
    try {
      const count = async (): Promise<number> => Number((await client.query('SELECT commit_count FROM strata_head')).rows[0].commit_count)
      const start = await count()
      const deadline = performance.now() + CHILD_TIMEOUT_MS
      while (performance.now() < deadline && (await count()) === start) { /* poll: each query is a round trip */ }
      kill()
    } finally {
      await client.end()
    }
  })()
}

/** Runs the child to its end, or kills it as `plan` says; returns its lines (with arrival times) and how it ended. */
async function runChild(target: string, env: Record<string, string>, plan?: KillPlan): Promise<{
  lines: Line[]; times: number[]; signal: string | null; code: number | null; stderr: string; started: number
}> {
  const started = performance.now()
  const child = spawn(process.execPath, [CHILD, target, String(CYCLES), '0'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } })
  const lines: Line[] = []
  const times: number[] = []
  let partial = ''
  let stderr = ''
  let armed = false
  child.stdout.on('data', (chunk: Buffer) => {
    const parts = (partial + chunk.toString()).split('\n')
    partial = parts.pop()!
    for (const text of parts) {
      const line = JSON.parse(text) as Line
      lines.push(line)
      times.push(performance.now())
      if (plan !== undefined && !armed && plan.after(line)) {
        armed = true
        plan.arm(() => child.kill('SIGKILL'))
      }
    }
  })
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const guard = setTimeout(() => child.kill('SIGKILL'), CHILD_TIMEOUT_MS)
  // 'close', not 'exit': it comes after the last of stdout, so every line the child printed is here.
  const [code, signal] = await new Promise<[number | null, string | null]>((resolve) => child.once('close', (c, s) => resolve([c, s])))
  clearTimeout(guard)
  return { lines, times, signal, code, stderr, started }
}

/** PostgreSQL's committed head (cycle and root hex), or undefined before the schema exists. */
async function committedHead(server: PostgresServer, url: string): Promise<{ cycle: number; root: string | null; programs: number } | undefined> {
  const exists = await server.query<{ t: string | null }>(`SELECT to_regclass('strata_head')::text AS t`, [], url)
  if (exists.rows[0]!.t === null) return undefined
  const row = (await server.query<{ cycle: string; root: string | null; programs: number }>(
    `SELECT cycle, encode(state_root, 'hex') AS root, (SELECT count(*)::int FROM strata_programs) AS programs FROM strata_head`, [], url)).rows[0]
  return row === undefined ? undefined : { cycle: Number(row.cycle), root: row.root, programs: row.programs }
}

/** The replica a killed child left, against the database's head: absent, behind (by how much), current or ahead. */
async function replicaState(dir: string, head: { readonly cycle: number } | undefined): Promise<string> {
  if (!existsSync(path.join(dir, 'data.mdb'))) return 'absent'
  let store
  try {
    store = await openLmdbStore({ dataDir: dir, readOnly: true, verify })
  } catch (error) {
    return `unreadable (${(error as { code?: string }).code})`
  }
  try {
    const cycle = store.head().cycle
    const at = head?.cycle ?? 0
    return cycle < at ? 'behind' : cycle > at ? 'ahead' : 'current'
  } finally {
    await store.close()
  }
}

describePostgres('crash safety on PostgreSQL (SIGKILL at random moments)', () => {
  const ctx = usePostgresServer()

  it(`survives ${KILLS} kills and ends as an uninterrupted LMDB run`, async () => {
    // The uninterrupted reference, on LMDB: the root of every cycle, and the final line.
    const reference = await runChild(path.join(ctx.dir, 'lmdb'), {})
    expect(reference.code, reference.stderr).toBe(0)
    const setupRoot = reference.lines.find((l) => l.setup !== undefined)!.setup!
    const emptyRoot = reference.lines.find((l) => l.open !== undefined)!.root!
    const roots = new Map<number, string>(reference.lines.filter((l) => l.cycle !== undefined).map((l) => [l.cycle!, l.root!]))
    const logs = new Map<number, string>(reference.lines.filter((l) => l.cycle !== undefined).map((l) => [l.cycle!, l.log!]))
    const done = reference.lines.find((l) => l.done !== undefined)!
    expect(roots.size).toBe(CYCLES)

    const cycleMs = (reference.times.at(-2)! - reference.times[reference.lines.findIndex((l) => l.run === 1)]!) / CYCLES

    const url = await ctx.server.createDatabase()
    const env = { STRATA_CACHE_DIR: path.join(ctx.dir, 'cache') }
    const random = prng(SEED)
    let kills = 0
    const killedAtCycles = new Set<number>()
    let acknowledged = 0
    let finished = false
    /** How each kill left the replica against the database: what the next open had to repair. */
    const replicas: string[] = []
    for (let attempt = 0; attempt < KILLS + 10 && !finished; attempt += 1) {
      const killing = kills < KILLS
      // Every fourth kill lands during start-up (open, replica catch-up or rebuild, setup); every third right
      // after a database commit of a cycle; the others at a random moment of a cycle a little further on.
      const target = Math.min(CYCLES - 2, Math.round((kills + 1) * (CYCLES * 0.8) / KILLS))
      const [draw, delay] = [random(), random()]
      const atTarget = (line: Line): boolean => (line.run !== undefined && line.run >= target) || (line.open !== undefined && line.open >= target)
      const plan: KillPlan | undefined = !killing ? undefined
        : kills % 4 === 3 || draw < 0.1 ? { after: () => true, arm: after(delay * 300) }
          : kills % 3 === 2 ? { after: atTarget, arm: onDatabaseCommit(ctx.server, url) }
            : { after: atTarget, arm: after(delay * cycleMs * 1.5) }
      const child = await runChild(url, env, plan)
      const head = await committedHead(ctx.server, url)
      const open = child.lines.find((l) => l.open !== undefined)
      if (open !== undefined) {
        // It reopened where the database was: nothing acknowledged is lost, and the root is the reference's.
        expect(open.open).toBeGreaterThanOrEqual(acknowledged)
        const expected = open.programs === 0 ? emptyRoot : open.open === 0 ? setupRoot : roots.get(open.open!)
        expect(open.root, `reopened at cycle ${open.open} (programs ${open.programs})`).toBe(expected)
        // A cycle committed but not acknowledged before a kill is acknowledged by this open.
        acknowledged = Math.max(acknowledged, open.open!)
      }
      for (const line of child.lines) {
        if (line.cycle === undefined) continue
        expect(line.root, `cycle ${line.cycle}`).toBe(roots.get(line.cycle))
        expect(line.log, `cycle ${line.cycle}'s message log`).toBe(logs.get(line.cycle))
        acknowledged = line.cycle
      }
      // PostgreSQL's head after the kill is a cycle of the reference run: the acknowledged one or the one in flight.
      if (head !== undefined && head.root !== null) {
        expect(head.root).toBe(head.programs === 0 ? emptyRoot : head.cycle === 0 ? setupRoot : roots.get(head.cycle))
        expect(head.cycle).toBeGreaterThanOrEqual(acknowledged)
        expect(head.cycle).toBeLessThanOrEqual(acknowledged + 1)
      }
      if (child.signal === 'SIGKILL') {
        kills += 1
        killedAtCycles.add(head?.cycle ?? -1)
        replicas.push(await replicaState(path.join(env.STRATA_CACHE_DIR, 'replica'), head))
        continue
      }
      expect(child.code, child.stderr + JSON.stringify(child.lines.at(-1))).toBe(0)
      expect(child.lines.find((l) => l.done !== undefined)).toEqual(done)
      finished = true
    }
    expect(finished).toBe(true)
    const tally = Object.fromEntries([...new Set(replicas)].map((state) => [state, replicas.filter((r) => r === state).length]))
    console.log(`postgres crash run: ${kills} kills at cycles ${[...killedAtCycles].sort((a, b) => a - b).join(', ')}; replica after each kill: ${JSON.stringify(tally)}`)
    // The replica is never ahead of the database: it applies a batch only after PostgreSQL committed it.
    expect(replicas.filter((r) => r === 'ahead')).toEqual([])
    // Some kills came between a database commit and the replica's (the next open replayed the log).
    expect(replicas.filter((r) => r === 'behind').length).toBeGreaterThanOrEqual(1)
    expect(kills).toBeGreaterThanOrEqual(KILLS)
    // The kills landed at several points of the run, not all before it began.
    expect(killedAtCycles.size).toBeGreaterThanOrEqual(4)
    // A last open finds the final state.
    const final = await runChild(url, env)
    expect(final.code, final.stderr).toBe(0)
    expect(final.lines.find((l) => l.open !== undefined)).toEqual({ open: CYCLES, root: done.root, programs: 6 })
  }, 120_000)
})
