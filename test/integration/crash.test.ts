/**
 * Crash safety of the Runtime on LMDB (issue "Persistence on LMDB"):
 *
 * - a child process (crash_child.mjs) runs a workload on a data directory and is killed with SIGKILL at seeded
 *   random moments, at least 20 times across the run: during start-up and open, during setup, mid-cycle, and
 *   mid-commit (kills fired on the commit's first write to data.mdb). After each kill the directory reopens at a
 *   root the run committed, no acknowledged cycle is lost, and finishing the workload gives the final root,
 *   per-cycle message logs and mailboxes of an uninterrupted run: nothing lost, nothing applied twice;
 * - a full disk (`ulimit -f`) fails the cycle with a clear IO error, keeps the last committed cycle, and the
 *   workload then finishes as if nothing happened;
 * - an unwritable directory fails with a clear IO error and changes nothing.
 *
 * The child imports the built package ('strata' is dist/): `npm test` builds first; run `npm run build` before
 * running this file on its own.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { prng } from '../helpers/prng.js'
import type { CrashChildLine as Line } from './crash_child_line.js'

const CHILD = fileURLToPath(new URL('./crash_child.mjs', import.meta.url))
/** Cycles of the workload (crash_child.mjs: its messages per cycle). */
const CYCLES = 40
/** Kills of the crash run; the issue asks for at least 20. */
const KILLS = 24
const SEED = 0x5eed_c0de
/** The data directory's file (LMDB's lock.mdb changes through a memory map, not write(2), so it never shows). */
const DATA_FILE = 'data.mdb'


interface Stamped {
  readonly line: Line
  /** performance.now() when the parent read it. */
  readonly at: number
}

/** A child running crash_child.mjs: its stdout as JSON lines, kept in full, and its exit. */
class Child {
  readonly lines: Stamped[] = []
  readonly started = performance.now()
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  stderr = ''
  killedAt: number | undefined
  readonly #process: ChildProcess
  #partial = ''
  #listeners: ((entry: Stamped) => void)[] = []

  constructor(args: readonly (string | number)[], options: { fileSizeLimitKb?: number; uid?: number; gid?: number } = {}) {
    const argv = [CHILD, ...args.map(String)]
    const stdio = ['ignore', 'pipe', 'pipe'] as const
    const ids = options.uid === undefined ? {} : { uid: options.uid, gid: options.gid! }
    this.#process = options.fileSizeLimitKb === undefined
      ? spawn(process.execPath, argv, { stdio: [...stdio], ...ids })
      : spawn('bash', ['-c', `ulimit -f ${options.fileSizeLimitKb}; exec "$0" "$@"`, process.execPath, ...argv], { stdio: [...stdio], ...ids })
    this.exit = new Promise((resolve) => this.#process.once('exit', (code, signal) => resolve({ code, signal })))
    this.#process.stdout!.on('data', (chunk: Buffer) => {
      const parts = (this.#partial + chunk.toString()).split('\n')
      this.#partial = parts.pop()!
      for (const text of parts) {
        const entry = { line: JSON.parse(text) as Line, at: performance.now() }
        this.lines.push(entry)
        for (const listener of this.#listeners) listener(entry)
      }
    })
    this.#process.stderr!.on('data', (chunk: Buffer) => { this.stderr += chunk.toString() })
  }

  onLine(listener: (entry: Stamped) => void): void {
    this.#listeners.push(listener)
  }

  kill(): void {
    if (this.killedAt !== undefined || this.#process.exitCode !== null || this.#process.signalCode !== null) return
    this.killedAt = performance.now()
    this.#process.kill('SIGKILL')
  }

  /** Waits for the exit, killing the child if it takes longer than `ms` (a hang fails the test, not the run). */
  async finish(ms = 60_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    const guard = setTimeout(() => this.#process.kill('SIGKILL'), ms)
    try {
      return await this.exit
    } finally {
      clearTimeout(guard)
    }
  }

  find<K extends keyof Line>(key: K): Stamped | undefined {
    return this.lines.find((entry) => entry.line[key] !== undefined)
  }

  all<K extends keyof Line>(key: K): Stamped[] {
    return this.lines.filter((entry) => entry.line[key] !== undefined)
  }
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] ?? 0
}

/** What a cycle line must repeat exactly (not its timing). */
function cycleKey(line: Line): string {
  return JSON.stringify([line.cycle, line.root, line.log, line.outcomes, line.dirtyPlanes, line.failed])
}

/** The uninterrupted run, with the memory store: what every interrupted run must reproduce. */
interface Reference {
  emptyRoot: string
  setupRoot: string
  /** Per cycle 1..CYCLES: its cycle line's key and root. */
  cycles: Map<number, { key: string; root: string }>
  done: Line
  openMs: number
  setupMs: number
  cycleMs: number
}

/** The root committed at `cycle` (0: after setup, when programs exist). */
function rootAt(reference: Reference, cycle: number, programs: number): string | undefined {
  if (programs === 0) return cycle === 0 ? reference.emptyRoot : undefined
  return cycle === 0 ? reference.setupRoot : reference.cycles.get(cycle)?.root
}

/** The bytes of every file of a directory (names, modes, sizes, contents hashed). */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const name of fs.readdirSync(dir).sort()) {
    const file = path.join(dir, name)
    const stat = fs.statSync(file)
    out[name] = stat.isFile()
      ? `${stat.mode.toString(8)} ${stat.size} ${createHash('sha256').update(fs.readFileSync(file)).digest('hex')}`
      : `${stat.mode.toString(8)} dir`
  }
  return out
}

let temp: string
let reference: Reference

beforeAll(async () => {
  temp = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-crash-'))
  const child = new Child([':memory:', CYCLES, 0])
  const exit = await child.finish()
  expect(exit, child.stderr).toEqual({ code: 0, signal: null })
  const open = child.find('open')!
  const setup = child.find('setup')!
  const cycleLines = child.all('cycle')
  expect(open.line).toMatchObject({ open: 0, programs: 0 })
  expect(cycleLines.map((entry) => entry.line.cycle)).toEqual(Array.from({ length: CYCLES }, (_, i) => i + 1))
  // The workload does what it means to: every message succeeds, and every cycle writes memory.
  for (const { line } of cycleLines) {
    expect(line.failed, `cycle ${line.cycle}`).toBe(0)
    expect(line.dirtyPlanes).toBeGreaterThan(0)
  }
  const done = child.find('done')!.line
  expect(done.done).toBe(CYCLES)
  expect(done.root).toBe(cycleLines.at(-1)!.line.root)
  reference = {
    emptyRoot: open.line.root!,
    setupRoot: setup.line.setup!,
    cycles: new Map(cycleLines.map(({ line }) => [line.cycle!, { key: cycleKey(line), root: line.root! }])),
    done,
    openMs: open.at - child.started,
    setupMs: setup.at - open.at,
    cycleMs: median(cycleLines.slice(1).map((entry, i) => entry.at - cycleLines[i]!.at)),
  }
  // Every cycle changes the state, so a root names its cycle: a reopen at a wrong cycle cannot pass as right.
  const roots = [reference.emptyRoot, reference.setupRoot, ...[...reference.cycles.values()].map((c) => c.root)]
  expect(new Set(roots).size).toBe(roots.length)
}, 60_000)

afterAll(() => {
  if (temp !== undefined) {
    fs.chmodSync(temp, 0o700)
    fs.rmSync(temp, { recursive: true, force: true })
  }
})

/** Checks one child's lines against the reference and the run so far; returns the cycle it opened at. */
class RunChecker {
  /** The last cycle a child acknowledged (printed after runCycle resolved): it must never be lost. */
  acknowledged = -1
  setupAcknowledged = false
  /** Cycles whose line some child printed (its log compared), and cycles committed but never acknowledged. */
  readonly printed = new Set<number>()
  readonly unacknowledged = new Set<number>()

  check(child: Child, dataDir: string): { opened: number | undefined } {
    const open = child.find('open')?.line
    if (open !== undefined) {
      const at = open.open!
      // Nothing acknowledged is lost, and at most the one commit in flight at the kill went through unacknowledged.
      expect(at, `reopened ${dataDir} at cycle ${at}; cycle ${this.acknowledged} was acknowledged`).toBeGreaterThanOrEqual(Math.max(this.acknowledged, 0))
      expect(at).toBeLessThanOrEqual(this.acknowledged + 1)
      if (this.setupAcknowledged) expect(open.programs).toBe(6)
      expect([0, 6]).toContain(open.programs)
      expect(open.root, `root after reopening at cycle ${at} (programs: ${open.programs})`).toBe(rootAt(reference, at, open.programs!))
      if (at > Math.max(this.acknowledged, 0)) this.unacknowledged.add(at)
    }
    const setup = child.find('setup')?.line
    if (setup !== undefined) {
      expect(open?.programs).toBe(0)
      expect(setup.setup).toBe(reference.setupRoot)
      this.setupAcknowledged = true
    }
    let next = (open?.open ?? 0) + 1
    for (const { line } of child.all('cycle')) {
      expect(line.cycle, 'cycles run in order from the reopened one').toBe(next)
      expect(cycleKey(line), `cycle ${line.cycle}: root and message log`).toBe(reference.cycles.get(line.cycle!)!.key)
      this.printed.add(line.cycle!)
      this.acknowledged = line.cycle!
      next += 1
    }
    if (open !== undefined && this.acknowledged < open.open!) this.acknowledged = open.open!
    const done = child.find('done')?.line
    if (done !== undefined) expect(done).toEqual(reference.done)
    return { opened: open?.open }
  }
}

type Strategy = 'startup' | 'setup' | 'cycle' | 'commit'

interface KillRecord {
  readonly strategy: Strategy
  readonly streams: number
  /** Where the child was: 'before-open', 'setup', 'cycle N' (inside runCycle N), 'between'. */
  readonly where: string
  /** Inside runCycle N: whether data.mdb was written after the cycle began (its commit had started). */
  readonly commitWritten: boolean
  /** The cycle the next child that opened the directory found. */
  reopened?: number | undefined
}

describe('crash safety (SIGKILL at random moments)', () => {
  it(`survives ${KILLS} kills across setup, cycles and commits and ends as an uninterrupted run`, async () => {
    const dataDir = path.join(temp, 'crash')
    fs.mkdirSync(dataDir)
    // Writes to data.mdb, seen through inotify: inside a cycle, the only writer is its commit.
    const writes: number[] = []
    let onWrite: ((at: number) => void) | undefined
    const watcher = fs.watch(dataDir, (_event, name) => {
      if (name !== DATA_FILE) return
      const at = performance.now()
      writes.push(at)
      onWrite?.(at)
    })
    const random = prng(SEED)
    const checker = new RunChecker()
    const kills: KillRecord[] = []
    const observedCycleMs: number[] = []
    let openMs = reference.openMs
    let finished = false
    try {
      for (let attempt = 0; attempt < KILLS + 20 && !finished; attempt += 1) {
        // Fixed draws per attempt, so the schedule depends on the seed only.
        const [pick, delay, jitter, streamsDraw] = [random(), random(), random(), random()]
        const streams = streamsDraw < 0.25 ? 2 : 0
        const killing = kills.length < KILLS
        // The first kill hits the first start-up (LMDB creating the directory), the next two the setup; then every
        // sixth is a start-up kill (a reopen and its recovery), the others kill inside cycles or on a commit.
        const strategy: Strategy = attempt === 0 ? 'startup' : attempt <= 2 && !checker.setupAcknowledged ? 'setup'
          : attempt % 6 === 5 ? 'startup' : pick < 0.5 ? 'commit' : 'cycle'
        // Kill points spread over the run: each targets a cycle a little further on (kills must leave progress).
        const target = Math.min(CYCLES - 4, Math.round((kills.length + 1) * (CYCLES * 0.85) / KILLS + (jitter - 0.5) * 2))
        const cycleMs = Math.max(5, median([reference.cycleMs, ...observedCycleMs]))
        onWrite = undefined
        const child = new Child([dataDir, CYCLES, streams])
        let runStarted: { cycle: number; at: number } | undefined
        if (killing) {
          const later = (ms: number): void => { setTimeout(() => child.kill(), ms) }
          // Start-up kills land late in it (after Node's own boot): in the package's import, LMDB's open, recovery.
          if (strategy === 'startup') later((attempt === 0 ? delay * 0.9 : 0.5 + delay * 0.7) * openMs)
          let armedFor: number | undefined
          child.onLine(({ line, at }) => {
            if (line.run !== undefined) runStarted = { cycle: line.run, at }
            // A start-up kill whose delay outlasted the open comes at the open line (it must not outlast the run).
            if (strategy === 'startup' && line.open !== undefined) child.kill()
            if (strategy === 'setup' && line.open !== undefined) later(delay * reference.setupMs * (line.programs === 0 ? 1.1 : 0))
            if (strategy === 'cycle') {
              if ((line.open !== undefined && line.open >= target) || line.cycle === target) later(delay * cycleMs * 1.5)
            }
            // Should no write of the armed cycle show (inotify failing), the kill comes at its line, and the check
            // that some kill came after a commit write fails.
            if (strategy === 'commit' && line.cycle !== undefined && line.cycle === armedFor) child.kill()
            if (strategy === 'commit' && line.run !== undefined && line.run > target && armedFor === undefined) {
              // Kill on the first write of this cycle's commit, after 0..1 ms. (A write seen within 1 ms of the run
              // line may be the previous commit's, reported late.)
              armedFor = line.run
              const begun = at
              onWrite = (written) => {
                if (written <= begun + 1 || child.killedAt !== undefined) return
                onWrite = () => undefined
                later(delay)
              }
            }
          })
        }
        const exit = await child.finish()
        onWrite = undefined
        const open = child.find('open')
        if (open !== undefined) openMs = open.at - child.started
        const cycles = child.all('cycle')
        for (let i = 1; i < cycles.length; i += 1) observedCycleMs.push(cycles[i]!.at - cycles[i - 1]!.at)
        await new Promise((resolve) => setTimeout(resolve, 20)) // the dead child's last inotify events
        const { opened } = checker.check(child, dataDir)
        // Earlier kills learn where they left the directory once a child reopens it.
        if (opened !== undefined) for (const kill of kills) kill.reopened ??= opened
        if (child.killedAt !== undefined && exit.signal === 'SIGKILL') {
          const last = child.lines.at(-1)?.line
          const inCycle = last?.run
          const where = open === undefined ? 'before-open'
            : open.line.programs === 0 && child.find('setup') === undefined ? 'setup'
              : inCycle !== undefined ? `cycle ${inCycle}` : 'between'
          const commitWritten = inCycle !== undefined && runStarted !== undefined
            && writes.some((at) => at > runStarted!.at + 1 && at <= child.killedAt!)
          kills.push({ strategy, streams, where, commitWritten })
          continue
        }
        // Not killed (a kill would have come too late, or none is due any more): it must have finished cleanly.
        expect(exit, child.stderr).toEqual({ code: 0, signal: null })
        expect(child.find('done')?.line).toEqual(reference.done)
        finished = true
      }
    } finally {
      watcher.close()
    }
    expect(finished, `the run did not finish in ${KILLS + 20} attempts`).toBe(true)
    // The schedule stops its targets 4 cycles before the end, so every due kill found the child still running.
    expect(kills.length).toBeGreaterThanOrEqual(KILLS)

    // A last reopen gives the final root.
    const last = new Child([dataDir, CYCLES, 0, 'open-only'])
    expect(await last.finish(), last.stderr).toEqual({ code: 0, signal: null })
    expect(last.find('open')?.line).toEqual({ open: CYCLES, root: reference.done.root, programs: 6 })

    // Every cycle's log was compared, except cycles a kill cut between their commit and their acknowledgement
    // (those are covered by the roots and mailboxes: the next cycles and the final state would differ).
    for (let cycle = 1; cycle <= CYCLES; cycle += 1) {
      expect(checker.printed.has(cycle) || checker.unacknowledged.has(cycle), `cycle ${cycle} was neither printed nor committed unacknowledged`).toBe(true)
    }
    const inCycle = kills.filter((k) => k.where.startsWith('cycle '))
    const cycleOf = (k: KillRecord): number => Number(k.where.slice('cycle '.length))
    // Every kill inside cycle N reopened at N (committed, not yet acknowledged) or N - 1: nothing half-applied.
    for (const kill of inCycle) expect([cycleOf(kill) - 1, cycleOf(kill)], JSON.stringify(kill)).toContain(kill.reopened)
    const summary = {
      kills: kills.length,
      beforeOpen: kills.filter((k) => k.where === 'before-open').length,
      setup: kills.filter((k) => k.where === 'setup').length,
      inCycle: inCycle.length,
      // Inside runCycle N, after its commit began writing data.mdb, and N did not survive: killed mid-commit.
      midCommit: inCycle.filter((k) => k.commitWritten && k.reopened === cycleOf(k) - 1).length,
      // Inside runCycle N, N survived, runCycle had not resolved: killed at the end of the commit.
      committedUnacknowledged: inCycle.filter((k) => k.reopened === cycleOf(k)).length,
      beforeCommit: inCycle.filter((k) => !k.commitWritten && k.reopened === cycleOf(k) - 1).length,
      between: kills.filter((k) => k.where === 'between').length,
      withStreams: kills.filter((k) => k.streams > 0).length,
      strategies: Object.fromEntries((['startup', 'setup', 'cycle', 'commit'] as const).map((s) => [s, kills.filter((k) => k.strategy === s).length])),
    }
    console.log(`crash run: ${JSON.stringify(summary)}`)
    // Some kills came while a cycle's commit was writing data.mdb (the commit strategy fires on that write).
    expect(inCycle.filter((k) => k.commitWritten).length).toBeGreaterThanOrEqual(1)
    // Kills are spread through the run: many after some cycle was committed and before the end, at many cycles.
    const spread = kills.filter((k) => k.reopened !== undefined && k.reopened >= 1 && k.reopened < CYCLES)
    expect(spread.length).toBeGreaterThanOrEqual(12)
    expect(new Set(spread.map((k) => k.reopened)).size).toBeGreaterThanOrEqual(8)
  }, 120_000)
})

describe('a refusing file system', () => {
  it('a full disk fails the cycle with a clear IO error, keeps the last committed cycle, and the run then finishes', async () => {
    const dataDir = path.join(temp, 'full')
    // `ulimit -f` caps file sizes (1 KiB blocks): LMDB's writes past it fail like a full disk's. data.mdb passes
    // 6 MiB a little before the middle of the run.
    const child = new Child([dataDir, CYCLES, 0], { fileSizeLimitKb: 6_144 })
    const exit = await child.finish()
    expect(exit, child.stderr).toEqual({ code: 1, signal: null })
    const checker = new RunChecker()
    checker.check(child, dataDir) // every cycle it acknowledged is the reference's
    const committed = checker.acknowledged
    expect(committed).toBeGreaterThanOrEqual(1)
    expect(committed).toBeLessThan(CYCLES)
    // The failure is the next cycle's, reported as IO with the directory and the cause.
    expect(child.lines.at(-2)?.line).toEqual({ run: committed + 1 })
    const failure = child.lines.at(-1)!.line
    expect(failure.error?.code, JSON.stringify(failure)).toBe('IO')
    expect(failure.error?.message).toContain(`commit cycle ${committed + 1}`)
    expect(failure.error?.message).toContain(dataDir)
    // The runtime stopped: no further cycle runs on a state the store does not hold; it still closes, and it
    // reports the last committed cycle and its root.
    expect(failure.cycleAfter).toBe(committed)
    expect(failure.rootAfter).toBe(reference.cycles.get(committed)!.root)
    expect(failure.after).toBe('FAULTED')
    expect(failure.closed).toBe('ok')

    // Reopened without the limit: exactly the last acknowledged cycle, and the workload finishes as the reference.
    const resumed = new Child([dataDir, CYCLES, 0])
    expect(await resumed.finish(), resumed.stderr).toEqual({ code: 0, signal: null })
    expect(resumed.find('open')?.line).toEqual({ open: committed, root: reference.cycles.get(committed)!.root, programs: 6 })
    checker.check(resumed, dataDir)
    expect(resumed.find('done')?.line).toEqual(reference.done)
  }, 60_000)

  it('an unwritable data directory fails with a clear IO error and changes nothing', async (context) => {
    const dataDir = path.join(temp, 'unwritable')
    const COMMITTED = 5
    const setup = new Child([dataDir, COMMITTED, 0])
    expect(await setup.finish(), setup.stderr).toEqual({ code: 0, signal: null })
    expect(setup.all('cycle').at(-1)?.line.root).toBe(reference.cycles.get(COMMITTED)!.root)

    // Not a directory at all: the same clear error, from any user.
    const file = path.join(temp, 'a-file')
    fs.writeFileSync(file, 'not a directory')
    const onFile = new Child([file, CYCLES, 0])
    expect(await onFile.finish(), onFile.stderr).toEqual({ code: 1, signal: null })
    expect(onFile.lines.map((entry) => entry.line.error?.code)).toEqual(['IO'])
    expect(onFile.lines[0]!.line.error!.message).toContain(file)
    expect(fs.readFileSync(file, 'utf8')).toBe('not a directory')

    // Root ignores permission bits: as root, the child runs as nobody (65534) on a directory it may read but not
    // write; as anyone else, the directory loses its write bit.
    const asRoot = process.getuid?.() === 0
    const before = snapshot(dataDir)
    const restore: (() => void)[] = []
    let ids: { uid: number; gid: number } | undefined
    if (asRoot) {
      fs.chmodSync(temp, 0o755) // mkdtemp made it 0700: nobody must reach the directory to be refused by it
      restore.push(() => fs.chmodSync(temp, 0o700))
      ids = { uid: 65_534, gid: 65_534 }
      const probe = spawnProbe(ids)
      if (probe !== undefined) {
        restore.forEach((undo) => undo())
        context.skip(`running as root and cannot run a child as nobody to make the directory unwritable: ${probe}`)
      }
    } else {
      fs.chmodSync(dataDir, 0o500)
      restore.push(() => fs.chmodSync(dataDir, 0o700))
    }
    let refused: Child
    try {
      refused = new Child([dataDir, CYCLES, 0], ids ?? {})
      expect(await refused.finish(), refused.stderr).toEqual({ code: 1, signal: null })
    } finally {
      restore.forEach((undo) => undo())
    }
    expect(refused.lines.map((entry) => entry.line.error?.code), refused.stderr).toEqual(['IO'])
    expect(refused.lines[0]!.line.error!.message).toContain(dataDir)
    expect(snapshot(dataDir)).toEqual(before)

    // The owner reopens it at the committed cycle.
    const reopened = new Child([dataDir, CYCLES, 0, 'open-only'])
    expect(await reopened.finish(), reopened.stderr).toEqual({ code: 0, signal: null })
    expect(reopened.find('open')?.line).toEqual({ open: COMMITTED, root: reference.cycles.get(COMMITTED)!.root, programs: 6 })
  }, 60_000)
})

/** Whether a child can run as `ids` and load the package (undefined) or why not. */
function spawnProbe(ids: { uid: number; gid: number }): string | undefined {
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', "await import('strata')"], {
    ...ids, cwd: path.dirname(CHILD), encoding: 'utf8',
  })
  if (result.error !== undefined) return result.error.message
  return result.status === 0 ? undefined : `exit ${result.status}: ${result.stderr.trim().split('\n')[0]}`
}
