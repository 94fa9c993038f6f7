/**
 * How commands write: human lines on stdout, or (with --json) one JSON document on stdout at the end; a
 * progress bar on stderr only when stderr is a terminal; the per-cycle table shared by `demo` and `run`.
 */
import type { CycleReport } from '../scheduler/index.js'

export interface Out {
  readonly json: boolean
  /** A human line (dropped under --json). */
  line(text?: string): void
  /** The command's JSON document (written only under --json). */
  result(value: unknown): void
}

export function makeOut(json: boolean, write: (text: string) => void = (text) => { process.stdout.write(text) }): Out {
  return {
    json,
    line: (text = '') => { if (!json) write(`${text}\n`) },
    result: (value) => { if (json) write(`${JSON.stringify(value, null, 1)}\n`) },
  }
}

export const CYCLE_HEADER = 'cycle  msgs  failed  gas burned   dirty planes  state root        ms'

export function cycleRow(r: CycleReport): string {
  return `${String(r.cycle).padStart(5)}  ${String(r.processed).padStart(4)}  ${String(r.failed).padStart(6)}  ` +
    `${String(r.gasBurned).padStart(10)}  ${String(r.dirtyPlanes).padStart(12)}  ${r.stateRoot.slice(0, 16)}  ${r.ms.toFixed(1).padStart(6)}`
}

/** A one-line progress bar on stderr, drawn only when stderr is a terminal; clear it before other output. */
export class Progress {
  readonly #enabled = process.stderr.isTTY === true
  #shown = false

  /** Draws `done` of `total` (a bar), or just the label when the total is unknown. */
  draw(done: number, total: number | undefined, label: string): void {
    if (!this.#enabled) return
    const width = 30
    const filled = total === undefined ? 0 : Math.min(width, Math.round((done / Math.max(total, 1)) * width))
    const bar = total === undefined ? '' : `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} `
    process.stderr.write(`\r\x1b[K${bar}${label}`)
    this.#shown = true
  }

  clear(): void {
    if (this.#shown) process.stderr.write('\r\x1b[K')
    this.#shown = false
  }
}

/**
 * Listens to a runtime's cycles: prints a table row per cycle (human mode), keeps every report (for --json),
 * and moves the progress bar. `expected` is how many cycles the caller plans to run, if it knows.
 */
export class CycleLog {
  readonly reports: CycleReport[] = []
  readonly #out: Out
  readonly #progress = new Progress()
  #expected: number | undefined
  #label: string

  constructor(out: Out, expected: number | undefined, label = 'cycles') {
    this.#out = out
    this.#expected = expected
    this.#label = label
  }

  readonly onCycle = (report: CycleReport): void => {
    this.reports.push(report)
    this.#progress.clear()
    this.#out.line(cycleRow(report))
    this.#progress.draw(this.reports.length, this.#expected, `${this.#label} (cycle ${report.cycle}, queue ${report.queueLength})`)
  }

  /** Runs on with no known total (e.g. until idle). */
  phase(label: string): void {
    this.#expected = undefined
    this.#label = label
  }

  done(): void {
    this.#progress.clear()
  }
}

/** Bytes for people: the text when it is printable UTF-8, else hex. */
export function showBytes(bytes: Uint8Array): string {
  if (bytes.length === 0) return '(empty)'
  const text = utf8(bytes)
  return text !== undefined && !/[\u0000-\u0008\u000b-\u001f\u007f]/.test(text)
    ? JSON.stringify(text) : `0x${Buffer.from(bytes).toString('hex')}`
}

/** The bytes as UTF-8 text, or undefined when they are not valid UTF-8. */
export function utf8(bytes: Uint8Array): string | undefined {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes)
  } catch {
    return undefined
  }
}

export const hex = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')

/** How many streams, for people: 0 means the calling thread. */
export const streamsText = (streams: number): string => (streams === 0 ? 'the calling thread (0 streams)' : plural(streams, 'stream'))

export const plural = (n: number, one: string, many = `${one}s`): string => `${n.toLocaleString('en-US')} ${n === 1 ? one : many}`
