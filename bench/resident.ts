/**
 * The resident-budget run shared by persistence.bench.ts and hotpath.bench.ts: fixtures/resident_run.mjs in a fresh
 * node process (so its peak RSS is its own), which reopens a data set, touches every plane once, and prints one
 * JSON line.
 */
import { spawn } from 'node:child_process'
import type { ProgramId, Runtime } from 'strata-runtime'
import { fixturePath } from './harness.js'

/** bench/fixtures/planes.ts: init does nothing; "touch" allocates ten one-plane heap blocks once, then adds one to a byte of each. */
export const PLANES_PATH = fixturePath('planes.ts')
export const PLANES_PER_PROGRAM = 10
/** Streams of the resident runs, and programs touched per cycle (within a cycle a stream holds all it touches). */
export const RESIDENT_STREAMS = 2
export const PROGRAMS_PER_CYCLE = 100
/** The user that touches, its payload and its gas. */
export const USER = '11'.repeat(32)
export const TOUCH = new TextEncoder().encode('touch')
export const TOUCH_GAS_LIMIT = 100_000_000
const INIT_GAS_LIMIT = 10_000_000

/**
 * Creates `programs` planes programs on an open runtime, runs their inits, and with `touch` touches each once in
 * cycles of PROGRAMS_PER_CYCLE; every report is checked (all processed, none failed, ten dirty planes a program).
 */
export async function populatePlanes(
  runtime: Runtime, label: string, programs: number, touch: boolean, progress?: (touched: number) => void,
): Promise<ProgramId[]> {
  const code = await runtime.uploadCode(PLANES_PATH)
  const ids: ProgramId[] = []
  for (let i = 0; i < programs; i += 1) {
    ids.push(await runtime.createProgram(code, { salt: new TextEncoder().encode(String(i)), gasLimit: INIT_GAS_LIMIT }))
  }
  let inits = 0
  for (const report of await runtime.runUntilIdle()) {
    if (report.failed !== 0) throw new Error(`${label}: ${report.failed} inits failed`)
    inits += report.processed
  }
  if (inits !== programs) throw new Error(`${label}: ${inits}/${programs} inits ran`)
  if (!touch) return ids
  for (let start = 0; start < programs; start += PROGRAMS_PER_CYCLE) {
    const batch = ids.slice(start, start + PROGRAMS_PER_CYCLE)
    for (const id of batch) runtime.send({ source: USER, destination: id, payload: TOUCH, gasLimit: TOUCH_GAS_LIMIT })
    const report = await runtime.runCycle()
    if (report.processed !== batch.length || report.failed !== 0) {
      throw new Error(`${label}, cycle ${report.cycle}: processed ${report.processed}/${batch.length}, failed ${report.failed}`)
    }
    const dirty = batch.length * PLANES_PER_PROGRAM
    if (report.dirtyPlanes !== dirty) throw new Error(`${label}: ${report.dirtyPlanes} dirty planes, expected ${dirty}`)
    progress?.(start + batch.length)
  }
  return ids
}

const RESIDENT_RUN_PATH = fixturePath('resident_run.mjs')

export interface ResidentRun {
  readonly peakRssMiB: number
  readonly peakAnonMiB: number
  readonly peakFileMiB: number
  readonly cycles: number
  readonly processed: number
  readonly ms: number
}

export interface ResidentRunOptions {
  readonly dataDir: string
  readonly budgetBytes: number
  readonly streams: number
  readonly programsPerCycle: number
  readonly programs: number
  /** The byte every touched plane must hold before the run adds one (checks what was evicted and read back). */
  readonly expectedByte: number
  /** Names the run in errors. */
  readonly label: string
}

export function residentRun(o: ResidentRunOptions): Promise<ResidentRun> {
  const args = [RESIDENT_RUN_PATH, o.dataDir, String(o.budgetBytes), String(o.streams), String(o.programsPerCycle),
    String(o.programs), String(o.expectedByte)]
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (chunk: Buffer) => { out += chunk.toString() })
    child.stderr.on('data', (chunk: Buffer) => { err += chunk.toString() })
    child.on('error', reject)
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`resident run (${o.label}) exited with ${code}: ${err.trim()}`))
      try {
        const run = JSON.parse(out.trim().split('\n').at(-1)!) as ResidentRun
        const cycles = Math.ceil(o.programs / o.programsPerCycle)
        if (run.processed !== o.programs || run.cycles !== cycles) {
          return reject(new Error(`resident run (${o.label}): ${run.processed} messages in ${run.cycles} cycles`))
        }
        resolve(run)
      } catch (error) {
        reject(new Error(`resident run (${o.label}) printed ${JSON.stringify(out)}: ${(error as Error).message}`))
      }
    })
  })
}
