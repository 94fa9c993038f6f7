/**
 * The resident-budget run shared by persistence.bench.ts and hotpath.bench.ts: fixtures/resident_run.mjs in a fresh
 * node process (so its peak RSS is its own), which reopens a data set, touches every plane once, and prints one
 * JSON line.
 */
import { spawn } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
/** Bundled bench files run from bench/.out/; the fixtures sit in bench/fixtures/. */
const RESIDENT_RUN_PATH = path.join(path.basename(here) === '.out' ? path.dirname(here) : here, 'fixtures', 'resident_run.mjs')

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
