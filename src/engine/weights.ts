/**
 * Limits of the program engine, and the compute weights it takes from the gas schedule (its compute rows,
 * gas/schedule.ts and docs/gas.md). One gas is about one nanosecond of work on the reference machine (2 cores,
 * Node 20); `bench/engine.bench.ts` measures gas per microsecond across workloads and prints the spread.
 */
import type { GasSchedule } from '../gas/index.js'

/** The compute weights, as the instrumentation and the guest runtime use them. */
export interface ComputeWeights {
  readonly perNode: number
  readonly call: number
  readonly loop: number
  readonly perElement: number
  readonly perCompare: number
  readonly perChar: number
  readonly perByte: number
  readonly builtin: number
}

export function computeWeights(schedule: GasSchedule): ComputeWeights {
  return {
    perNode: schedule.computeNode.base, call: schedule.computeCall.base, loop: schedule.computeLoop.base,
    perElement: schedule.computeElement.base, perCompare: schedule.computeCompare.base, perChar: schedule.computeChar.base,
    perByte: schedule.computeByte.base, builtin: schedule.computeBuiltin.base,
  }
}

/**
 * Call depth at most 2,000 frame units: well under the smallest real stack a program can run on (the main thread's
 * ~984 KiB), so recursion ends at the same depth on every thread and machine instead of at whichever stack
 * overflows first. A function counts 1 + floor(its AST nodes / FRAME_UNIT_NODES) units: its frame's registers grow
 * with its size, at most about one per node, so a unit is at most ~16 registers (~200 bytes with the frame's fixed
 * part) and 2,000 units ~400 KiB. Small functions count 1, so plain recursion reaches 2,000 calls.
 */
export const CALL_DEPTH_MAX = 2000
/** AST nodes per frame unit of the depth count (see CALL_DEPTH_MAX). */
export const FRAME_UNIT_NODES = 16

/**
 * Fuel handed to the guest at a time: below 2^30 so the counter stays a small integer (a boxed counter made a
 * loop 8x slower, REFERENCE.md). A message with more gas refills, which costs one bridge call per 2^30 gas.
 */
export const FUEL_CHUNK_MAX = 2 ** 30 - 1

/**
 * A string a builtin would build is at most 16 Mi code units (32 MiB): larger results (repeat, padStart, join,
 * JSON.stringify, ...) fail with a RangeError before the work is done. V8's own limit is 2^29 - 24, which would let one message
 * build gigabytes.
 */
export const STRING_LENGTH_MAX = 16 * 1024 * 1024

/**
 * An ArrayBuffer (and so a typed array) a program allocates is at most 64 MiB, and the buffers one message
 * allocates add up to at most 256 MiB: off-heap memory that the worker heap limit does not see.
 */
export const BUFFER_SIZE_MAX_BYTES = 64 * 1024 * 1024
export const BUFFER_BYTES_PER_MESSAGE_MAX = 256 * 1024 * 1024

/** An array a metered builtin would build or fill is at most 16 Mi elements (Array(n).fill, Array.from, ...). */
export const ARRAY_LENGTH_MAX = 16 * 1024 * 1024

/** Nesting that JSON, structuredClone and state encoding accept: bounded so native recursion never decides. */
export const NESTING_DEPTH_MAX = 256

/** Gas for evaluating a code's top level once at upload, to check that it loads and exports a program. */
export const UPLOAD_EVALUATION_GAS = 100_000_000

/**
 * A BigInt a program computes is at most 8,192 bits (1 KiB): the product of two 4,096-bit numbers (RSA's largest
 * common size), small enough that any operation on one, decimal conversion and division included (quadratic),
 * costs tens of microseconds: those run inside expressions, charged like any node. `*`, `**`, `<<` and `>>` are
 * checked, since only they can grow a value by more than a bit; so are BigInt(string) and BigInt.asUintN / asIntN.
 */
export const BIGINT_BITS_MAX = 8192
/** Digits BigInt(string) parses at most: 8,192 bits need 2,467 decimal digits. */
export const BIGINT_DIGITS_MAX = 2500
