/**
 * The default gas schedule, as data: one row per priced operation, `base` per call plus `perByte` per byte.
 * Rationale for every row is in docs/gas.md. Memory rows copy Memory3D's published costs exactly; page rows
 * follow Gear's structure (a fee on a plane's first read and first write within a message, and a fee for
 * loading a plane from the store); message rows price what the executor does per message.
 */
export interface GasRow {
  readonly base: number
  readonly perByte: number
}

export const GAS_SCHEDULE = {
  // Memory3D's published costs (load 10 + 2/B, store 15 + 2/B, alloc 20 + 1/B, free 5, copy 25 + 2/B, compact 30).
  load: { base: 10, perByte: 2 },
  store: { base: 15, perByte: 2 },
  alloc: { base: 20, perByte: 1 },
  free: { base: 5, perByte: 0 },
  copy: { base: 25, perByte: 2 },
  /** Per compaction call; moving bytes is charged as `copy` per moved byte on top (perByte here). */
  compact: { base: 30, perByte: 2 },
  /** Refunded per plane that compaction empties (the storage it stops occupying). */
  compactPlaneRefund: { base: 1_000, perByte: 0 },
  /** Reading an allocation's size or the live byte count (bytecode MQUERY3D / MSIZE3D). */
  query: { base: 5, perByte: 0 },

  // Page rows (Gear: first read 28.5 M ps, write after read 112 M ps, load from storage +10 M ps per page).
  /** First access of a plane within a message (read or write). */
  pageRead: { base: 1_000, perByte: 0 },
  /** First write of a plane within a message, on top of pageRead: copy-on-write snapshot, rehash, write-back. */
  pageWrite: { base: 4_000, perByte: 0 },
  /** Paging a plane in from the store (read + integrity hash check), charged by the stream that loads it. */
  pageLoad: { base: 1_500, perByte: 0 },

  // Message rows.
  /** Every handled message: dispatch, context setup, journal entry. */
  message: { base: 2_000, perByte: 1 },
  /** `send`: per call plus per payload byte (queue append, persistence, the receiver's decode). */
  send: { base: 500, perByte: 1 },
  /** `reply`: per call plus per payload byte. */
  reply: { base: 500, perByte: 1 },
  /** `createProgram`: derive an id, write a program record, enqueue init. */
  createProgram: { base: 5_000, perByte: 1 },
  /** `wait` / `wake` / `exit`: waitlist and status bookkeeping. */
  wait: { base: 200, perByte: 0 },
  wake: { base: 200, perByte: 0 },
  exit: { base: 1_000, perByte: 0 },
  /** Loading `ctx.state` (msgpackr decode) per encoded byte. */
  stateLoad: { base: 100, perByte: 1 },
  /** Saving `ctx.state` when it changed (msgpackr encode + store) per encoded byte. */
  stateSave: { base: 200, perByte: 2 },
  /** A deterministic random draw. */
  random: { base: 10, perByte: 0 },

  // Compute rows (docs/gas.md, "Compute"): charged by the instrumented code and the metered builtins. One gas is
  // about one nanosecond on the reference machine; bench/engine.bench.ts measures the spread.
  /** Per AST node of straight-line code in a function or loop body, per entry or iteration (names and literals are free). */
  computeNode: { base: 1, perByte: 0 },
  /** Per function call, on top of its nodes: frame, depth counter, arguments. */
  computeCall: { base: 20, perByte: 0 },
  /** Per loop iteration, on top of its nodes: the back-edge. */
  computeLoop: { base: 2, perByte: 0 },
  /** Per element a metered builtin walks, copies or allocates (slice, indexOf, join, spread, keys, fill, ...). */
  computeElement: { base: 40, perByte: 0 },
  /** Per comparison of a sort (n log2 n are charged before it runs). */
  computeCompare: { base: 20, perByte: 0 },
  /** Per UTF-16 code unit a string builtin reads or writes (repeat, padStart, indexOf, split, replace, ...). */
  computeChar: { base: 2, perByte: 0 },
  /** Per byte an ArrayBuffer or typed array allocates or copies. */
  computeByte: { base: 1, perByte: 0 },
  /** Per call of a metered builtin, on top of its size charge. */
  computeBuiltin: { base: 200, perByte: 0 },
} as const satisfies Record<string, GasRow>

export type GasOperation = keyof typeof GAS_SCHEDULE
export type GasSchedule = { readonly [K in GasOperation]: GasRow }

/** The cost of `operation` on `bytes` bytes under `schedule`. */
export function gasCost(schedule: GasSchedule, operation: GasOperation, bytes = 0): number {
  const row = schedule[operation]
  return row.base + row.perByte * bytes
}

/** A schedule with some rows replaced: `withSchedule({ pageRead: { base: 0, perByte: 0 } })`. */
export function withSchedule(overrides: Partial<Record<GasOperation, GasRow>>): GasSchedule {
  return { ...GAS_SCHEDULE, ...overrides }
}

/** The default schedule with every page fee set to zero: Memory3D's pricing exactly. */
export const MEMORY3D_SCHEDULE: GasSchedule = withSchedule({
  pageRead: { base: 0, perByte: 0 },
  pageWrite: { base: 0, perByte: 0 },
  pageLoad: { base: 0, perByte: 0 },
})

/** The schedule with every compute row set to zero: syscall and memory pricing alone (for tests of those). */
export const NO_COMPUTE_SCHEDULE: GasSchedule = withSchedule({
  computeNode: { base: 0, perByte: 0 }, computeCall: { base: 0, perByte: 0 }, computeLoop: { base: 0, perByte: 0 },
  computeElement: { base: 0, perByte: 0 }, computeCompare: { base: 0, perByte: 0 }, computeChar: { base: 0, perByte: 0 },
  computeByte: { base: 0, perByte: 0 }, computeBuiltin: { base: 0, perByte: 0 },
})
