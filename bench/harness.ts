/**
 * The benchmark harness: every figure is printed beside a baseline measured in the same run, as a ratio.
 * Timings on a shared 2-core machine are noisy, so each figure is the median of several samples.
 */
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Runtime } from 'strata-runtime'

const here = path.dirname(fileURLToPath(import.meta.url))
/** bench/: bench files are bundled with this module into bench/.out/ and run from there; the sources sit in bench/. */
export const BENCH_DIR = path.basename(here) === '.out' ? path.dirname(here) : here
/** The package's root, above bench/. */
export const PACKAGE_DIR = path.resolve(BENCH_DIR, '..')
/** programs/counter.ts, the counter workload's program. */
export const COUNTER_PATH = path.join(PACKAGE_DIR, 'programs', 'counter.ts')
/** A file in bench/fixtures/. */
export const fixturePath = (name: string): string => path.join(BENCH_DIR, 'fixtures', name)

export interface BenchRow {
  /** Bench file, e.g. 'memory'. */
  readonly suite: string
  /** What was measured, e.g. 'store 256 B'. */
  readonly name: string
  readonly value: number
  /** 'ns/op', 'msgs/s', 'MB/s', 'us', ... */
  readonly unit: string
  readonly baselineName: string
  readonly baseline: number
  /** value / baseline for throughputs, baseline / value for times: > 1 means faster than the baseline. */
  readonly ratio: number
  /** The target as text, e.g. '<= 150 ns' or 'ratio >= 0.7'. */
  readonly target: string
  /** Whether the target was met in this run (informational: benchmarks never fail the build). */
  readonly met: boolean
}

export type Bench = () => Promise<BenchRow[]>

export interface SampleOptions {
  /** Operations per sample. */
  readonly iterations: number
  /** Samples taken; the median is reported. */
  readonly samples?: number
  /** Called before each sample, outside the timed part (build fixtures here). */
  readonly setup?: () => void
}

/** Median nanoseconds per operation of `op(i)` over `samples` samples of `iterations` calls. */
export function nsPerOp(op: (i: number) => void, options: SampleOptions): number {
  const samples = options.samples ?? 7
  const results: number[] = []
  // One untimed warm-up sample lets the JIT settle.
  options.setup?.()
  for (let i = 0; i < Math.min(options.iterations, 1000); i += 1) op(i)
  for (let s = 0; s < samples; s += 1) {
    options.setup?.()
    const start = process.hrtime.bigint()
    for (let i = 0; i < options.iterations; i += 1) op(i)
    const elapsed = Number(process.hrtime.bigint() - start)
    results.push(elapsed / options.iterations)
  }
  return median(results)
}

/** Median wall time in ms of an async task, each sample prepared by `setup` outside the timed part. */
export async function msPerRun(
  task: () => Promise<unknown> | unknown,
  samples = 5,
  setup?: () => Promise<unknown> | unknown,
): Promise<number> {
  const results: number[] = []
  for (let s = 0; s < samples; s += 1) {
    await setup?.()
    const start = process.hrtime.bigint()
    await task()
    results.push(Number(process.hrtime.bigint() - start) / 1e6)
  }
  return median(results)
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/** A row for a time (lower is better): ratio = baseline / value. */
export function timeRow(
  suite: string, name: string, value: number, unit: string,
  baselineName: string, baseline: number, target: string, met: boolean,
): BenchRow {
  return { suite, name, value, unit, baselineName, baseline, ratio: baseline / value, target, met }
}

/** A row for a throughput (higher is better): ratio = value / baseline. */
export function rateRow(
  suite: string, name: string, value: number, unit: string,
  baselineName: string, baseline: number, target: string, met: boolean,
): BenchRow {
  return { suite, name, value, unit, baselineName, baseline, ratio: value / baseline, target, met }
}

/** Keeps a computed value alive so the JIT cannot drop the work that produced it. */
export let sink: unknown
export function consume(value: unknown): void {
  sink = value
}

/**
 * The counter workload the end-to-end benchmarks share (runtime.bench.ts, engine.bench.ts): 1,000 counters, 20 "inc"
 * each per cycle, from one user.
 */
export const COUNTER_USER = '11'.repeat(32)
export const COUNTER_INC = new TextEncoder().encode('inc')
export const COUNTER_INIT_GAS_LIMIT = 10_000_000
export const COUNTER_HANDLE_GAS_LIMIT = 1_000_000
export const COUNTER_PROGRAM_COUNT = 1_000
/** Messages per program per cycle: 20,000 a cycle. */
export const COUNTER_MSGS_PER_PROGRAM = 20

/** Queues `perProgram` counter "inc" messages to each of `ids`, round by round, from COUNTER_USER. */
export function enqueueCounterInc(runtime: Pick<Runtime, 'send'>, ids: readonly string[], perProgram: number): void {
  for (let k = 0; k < perProgram; k += 1) {
    for (const id of ids) runtime.send({ source: COUNTER_USER, destination: id, payload: COUNTER_INC, gasLimit: COUNTER_HANDLE_GAS_LIMIT })
  }
}
