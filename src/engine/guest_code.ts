/**
 * A code, loaded: one node:vm context per code, with the guest runtime booted in it and the instrumented module
 * compiled inside the same script, so the gas counter is a closure variable the program's code updates directly.
 *
 *   (function (__strata_host) {                         the only host object inside, kept in this closure
 *     var __strata_boot = (() => { ... })();            guest_runtime.ts and the 'strata' library, bundled
 *     let __strata_g, __strata_d, __strata_h ...         fuel, call depth, halt state
 *     function __strata_r() / __strata_x() / ...          refill, depth halt, catch/finally checks, spreads
 *     const __strata_rt = __strata_boot.boot(kernel, globalThis, line)      locks the realm down
 *     const __strata_m = (function (globalThis, Object, ...) {              every global a program may name,
 *       return function (__strata_lib) { <instrumented module> } })(...)    bound to the frozen guest values
 *     return { run, io, ... }
 *   })
 *
 * The context is created from a null-prototype object (a plain `{}` makes the host's Object.prototype reachable
 * through free variables such as `constructor`), with code generation from strings and WebAssembly off.
 * The module body is evaluated afresh for every message, so a program has no state but ctx.state and its memory.
 */
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import v8 from 'node:v8'
import vm from 'node:vm'
import { buildSync } from 'esbuild'
import { StrataError, assert } from '../errors.js'
import { BridgeStatus, GuestKind, HaltKind, HostOp, RunOutcome } from './bridge_protocol.js'
import { GUEST_GLOBALS } from './guest_runtime.js'
import { EngineErrorCode, instrument } from './instrument.js'
import { BIGINT_BITS_MAX, CALL_DEPTH_MAX, FUEL_CHUNK_MAX, STRING_LENGTH_MAX, type ComputeWeights } from './weights.js'

// A backtracking regular expression falls back to V8's linear-time engine instead of running for seconds. The flag
// is process-wide and changes no results, only how pathological patterns are run.
v8.setFlagsFromString('--enable-experimental-regexp-engine-on-excessive-backtracks')
// The 'l' flag: the engine asks V8 whether its linear engine can run a pattern (else RE2 runs it, linear_regexp.ts).
v8.setFlagsFromString('--enable-experimental-regexp-engine')

const here = fileURLToPath(import.meta.url)
/** The compiled guest runtime, also when this file runs from src/ under the test runner (same bytes either way). */
const RUNTIME_PATH = here.endsWith('.ts')
  ? path.resolve(path.dirname(here), '../../dist/engine/guest_runtime.js')
  : path.join(path.dirname(here), 'guest_runtime.js')

let bootSource: string | undefined

/** Bundling options of the guest runtime; scripts/build.mjs bundles with the same ones (keep them in step). */
export const GUEST_BOOT_BUILD = {
  bundle: true, format: 'iife', globalName: '__strata_boot', platform: 'neutral', target: 'es2022', legalComments: 'none',
  charset: 'utf8', logLevel: 'silent',
} as const
/** Where the build leaves the bundled guest runtime, and the list of the files it was bundled from. */
export const GUEST_BOOT_PATH = path.join(path.dirname(RUNTIME_PATH), 'guest_boot.js')
export const GUEST_BOOT_INPUTS_PATH = path.join(path.dirname(RUNTIME_PATH), 'guest_boot.inputs.json')

/**
 * The guest runtime and the program library as one script, once per process: the bundle the build left, if no
 * file it was made from changed since (esbuild in-process costs ~0.2 s per thread that starts), else bundled now.
 */
function guestBootSource(): string {
  if (bootSource === undefined) {
    if (!existsSync(RUNTIME_PATH)) {
      throw new StrataError(EngineErrorCode.BAD_CODE, `Strata is not built (missing ${RUNTIME_PATH}); run npm run build`)
    }
    bootSource = prebuiltBoot() ?? buildSync({ entryPoints: [RUNTIME_PATH], write: false, ...GUEST_BOOT_BUILD }).outputFiles[0]!.text
  }
  return bootSource
}

/** Bundles the guest runtime into GUEST_BOOT_PATH with the list of its inputs (scripts/build.mjs, after tsc). */
export function writeGuestBoot(): void {
  const dir = path.dirname(GUEST_BOOT_PATH)
  const result = buildSync({ entryPoints: [RUNTIME_PATH], write: false, metafile: true, absWorkingDir: dir, ...GUEST_BOOT_BUILD })
  writeFileSync(GUEST_BOOT_INPUTS_PATH, JSON.stringify(Object.keys(result.metafile.inputs)))
  writeFileSync(GUEST_BOOT_PATH, result.outputFiles[0]!.text)
}

function prebuiltBoot(): string | undefined {
  try {
    const builtAt = statSync(GUEST_BOOT_PATH).mtimeMs
    const inputs = JSON.parse(readFileSync(GUEST_BOOT_INPUTS_PATH, 'utf8')) as string[]
    if (inputs.length === 0 || inputs.some((input) => statSync(path.resolve(path.dirname(GUEST_BOOT_PATH), input)).mtimeMs > builtAt)) return undefined
    return readFileSync(GUEST_BOOT_PATH, 'utf8')
  } catch {
    return undefined // not built, or an input is gone: bundle now
  }
}

/** The host's side of one bridge call (see bridge_protocol.ts). */
export type HostCall = (op: number, a: unknown, b: unknown, c: unknown, d: unknown) => unknown
type BridgeFunction = (op: number, fuel: unknown, a: unknown, b: unknown, c: unknown, d: unknown) => unknown

/** What the host needs while a message runs: the gas counter and the syscalls. */
export interface BridgeHost {
  readonly counter: { readonly left: number; charge(amount: number): boolean }
  call: HostCall
}

/** A thrown StrataError with this code means out of gas: the guest halts instead of seeing an error. */
const OUT_OF_GAS_CODE = 'OUT_OF_GAS'

export interface RunInput {
  readonly kind: keyof typeof GuestKind
  readonly programId: string
  readonly cycle: number
  readonly id: string
  readonly source: string
  readonly gasLimit: number
  readonly payloadLength: number
  readonly replyTo?: string
  readonly replyCode?: number
}

export interface RunResult {
  /** A RunOutcome or a HaltKind. */
  readonly outcome: number
  readonly errorText: string
  /** The program-relative stack trace of a thrown error ('' if none). */
  readonly errorTrace: string
  /** The Strata error code of a syscall error the handler let through ('' if none). */
  readonly errorCode: string
}

interface GuestExports {
  run(kind: number, fuel: number, programId: string, cycle: number, id: string, source: string, gasLimit: number,
    payloadLength: number, replyTo: string | undefined, replyCode: number | undefined): number
  io: Float64Array
  errorText(): string
  errorTrace(): string
  errorCode(): string
}

export class GuestCode {
  readonly codeId: string
  readonly #guest: GuestExports
  #host: BridgeHost | undefined
  /** Fuel handed to the guest at the last settlement. */
  #fuelGiven = 0

  private constructor(codeId: string, guest: GuestExports) {
    this.codeId = codeId
    this.#guest = guest
  }

  /** Instruments `source` (a bundled ES module) and compiles it in a fresh context. Throws BAD_CODE. */
  static compile(codeId: string, source: string, weights: ComputeWeights): GuestCode {
    const { body, names } = instrument(source, weights, `code ${codeId.slice(0, 12)}`)
    // Names the program uses that the guest does not offer: bound, per message, to undefined (typeof works, and a
    // write lives as long as the message), so no name ever resolves on the context's real global object.
    const offered = new Set<string>(GUEST_GLOBALS)
    const unbound = names.filter((name) => !offered.has(name) && name !== 'arguments' && name !== 'eval' && /^[\p{L}_$][\p{L}\p{N}_$]*$/u.test(name))
    const boot = guestBootSource()
    const head = `(function (__strata_host) {\n'use strict';\n${boot}\n${kernelSource(weights)}\n`
    const params = GUEST_GLOBALS.join(', ')
    const unboundNames = unbound.length > 0 ? `let ${unbound.join(', ')}; ` : ''
    const open = `const __strata_m = (function (${params}) { return function (__strata_lib) { ${unboundNames}return (function () {\n`
    const programLine = lineCount(head) + lineCount(open) + 1
    const script = `${head}const __strata_rt = __strata_boot.boot(__strata_kernel, globalThis, ${programLine}, ${JSON.stringify(weights)});\n${open}${body}\n})(); }; })(...__strata_rt.values);\n${EXPORTS}\n})`
    const context = vm.createContext(Object.create(null), {
      name: `strata code ${codeId.slice(0, 12)}`, codeGeneration: { strings: false, wasm: false },
    })
    let factory: (host: BridgeFunction) => GuestExports
    try {
      factory = vm.runInContext(script, context, { filename: `strata:code/${codeId}.js` }) as typeof factory
    } catch (error) {
      throw new StrataError(EngineErrorCode.BAD_CODE, `code ${codeId} does not compile: ${(error as Error).message}`, { codeId })
    }
    let code: GuestCode | undefined = undefined
    const guest = factory((op, fuel, a, b, c, d) => code!.#call(op, fuel, a, b, c, d))
    code = new GuestCode(codeId, guest)
    return code
  }

  /** Runs one message (or, with kind 'evaluate', only the module's top level) with `host` serving syscalls. */
  run(input: RunInput, host: BridgeHost): RunResult {
    assert(this.#host === undefined, 'a guest runs one message at a time')
    this.#host = host
    this.#fuelGiven = Math.min(host.counter.left, FUEL_CHUNK_MAX)
    try {
      const outcome = this.#guest.run(GuestKind[input.kind], this.#fuelGiven, input.programId, input.cycle, input.id,
        input.source, input.gasLimit, input.payloadLength, input.replyTo, input.replyCode)
      // The guest wrote the fuel it ended with (or had when it halted).
      this.#settle(this.#guest.io[0]!)
      return {
        outcome: typeof outcome === 'number' ? outcome : RunOutcome.THROWN,
        errorText: text(this.#guest.errorText()), errorTrace: text(this.#guest.errorTrace()), errorCode: text(this.#guest.errorCode()),
      }
    } finally {
      this.#host = undefined
    }
  }

  /** Charges the compute the guest did since the last settlement; false if it did not fit (out of gas). */
  #settle(fuel: number): boolean {
    const spent = this.#fuelGiven - fuel
    this.#fuelGiven = 0
    return this.#host!.counter.charge(Number.isFinite(spent) ? Math.max(0, spent) : Number.MAX_SAFE_INTEGER)
  }

  /** The bridge: settle gas, run the operation, hand out fuel. Never throws into the guest; never returns an object. */
  #call(op: number, fuel: unknown, a: unknown, b: unknown, c: unknown, d: unknown): unknown {
    const io = this.#guest.io
    const host = this.#host
    if (host === undefined) {
      io[0] = 0
      io[1] = BridgeStatus.ERROR
      return 'IO\nno message is running'
    }
    if (typeof fuel !== 'number' || !this.#settle(fuel)) {
      io[0] = 0
      io[1] = BridgeStatus.OUT_OF_GAS
      return undefined
    }
    let result: unknown
    let status: number = BridgeStatus.OK
    if (op !== HostOp.REFILL) {
      try {
        result = host.call(op, a, b, c, d)
      } catch (error) {
        const code = (error as { code?: unknown }).code
        if (code === OUT_OF_GAS_CODE) status = BridgeStatus.OUT_OF_GAS
        else {
          status = BridgeStatus.ERROR
          result = `${typeof code === 'string' ? code : 'EXECUTION_ERROR'}\n${(error as Error).message}`
        }
      }
    }
    const next = status === BridgeStatus.OUT_OF_GAS ? 0 : Math.min(host.counter.left, FUEL_CHUNK_MAX)
    this.#fuelGiven = next
    io[0] = next
    io[1] = status
    return result
  }
}

function text(value: unknown): string {
  return typeof value === 'string' ? value : ''
}

function lineCount(text: string): number {
  let n = 0
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) n += 1
  return n
}

/**
 * The counters and the functions the instrumentation calls. A halt sets the fuel hugely negative, so any program
 * code still reached (a finally, an iterator's return) throws at its first charge.
 */
const kernelSource = (COMPUTE_GAS: ComputeWeights): string => `
const __strata_io = new Float64Array(2);
const __strata_isArray = Array.isArray, __strata_from = Array.from, __strata_ownKeys = Reflect.ownKeys;
const __strata_ceil = Math.ceil, __strata_BigInt = BigInt, __strata_RangeError = RangeError, __strata_TypeError = TypeError;
const __strata_apply = Reflect.apply, __strata_toPrimitive = Symbol.toPrimitive;
let __strata_g = ${FUEL_CHUNK_MAX};
let __strata_d = 0;
let __strata_h = 0;
let __strata_hf = 0;
let __strata_u = 0;
const __strata_stop = Object.freeze(Object.create(null));
function __strata_halt(kind) {
  if (__strata_h === 0) { __strata_h = kind; __strata_hf = __strata_g; }
  __strata_g = -1e15;
  throw __strata_stop;
}
function __strata_call(op, a, b, c, d) {
  let result;
  try { result = __strata_host(op, __strata_g, a, b, c, d); } catch (error) { __strata_halt(${HaltKind.STACK}); }
  if (__strata_h !== 0) throw __strata_stop;
  __strata_g = __strata_io[0];
  const status = __strata_io[1];
  if (status === ${BridgeStatus.OK}) return result;
  if (status === ${BridgeStatus.OUT_OF_GAS}) __strata_halt(${HaltKind.OUT_OF_GAS});
  throw __strata_rt.hostError(result);
}
function __strata_r() { if (__strata_h !== 0) throw __strata_stop; __strata_call(${HostOp.REFILL}); }
function __strata_x() { __strata_halt(${HaltKind.DEPTH}); }
function __strata_k(e) { if (__strata_h !== 0) throw __strata_stop; if (__strata_rt.isOverflow(e)) __strata_halt(${HaltKind.STACK}); }
function __strata_f() { if (__strata_h !== 0) throw __strata_stop; }
function __strata_charge(n) { if (n > 0 && __strata_u === 0 && (__strata_g -= n) < 0) __strata_r(); }
function __strata_len(x) {
  if (typeof x === 'string') return x.length;
  if (__strata_isArray(x)) return x.length;
  return -1;
}
function __strata_sp(x) {
  const n = __strata_len(x);
  if (n >= 0) { __strata_charge(${COMPUTE_GAS.builtin} + ${COMPUTE_GAS.perElement} * n); return x; }
  return __strata_from(x);
}
function __strata_sa(x) {
  const list = __strata_sp(x);
  if (list.length > 65536) throw new __strata_RangeError('a call with ' + list.length + " arguments, over Strata's limit of 65536");
  return list;
}
function __strata_so(x) {
  if (typeof x === 'object' && x !== null) __strata_charge(${COMPUTE_GAS.builtin} + ${COMPUTE_GAS.perElement} * __strata_ownKeys(x).length);
  else if (typeof x === 'string') __strata_charge(${COMPUTE_GAS.builtin} + ${COMPUTE_GAS.perElement} * x.length);
  return x;
}
function __strata_big(value) {
  if (typeof value === 'bigint') {
    const bits = (value < 0n ? -value : value).toString(16).length * 4;
    if (bits > ${BIGINT_BITS_MAX}) throw new __strata_RangeError('a BigInt of ' + bits + " bits, over Strata's limit of ${BIGINT_BITS_MAX}");
    __strata_charge(${COMPUTE_GAS.perElement} * __strata_ceil(bits / 64));
  }
  return value;
}
function __strata_bits(value) {
  return typeof value === 'bigint' ? (value < 0n ? -value : value).toString(16).length * 4 : 0;
}
// ToPrimitive (hint number), once per operand: the helpers then work on primitives, so a valueOf that returns a
// BigInt is checked like a BigInt, and no operand is converted twice.
function __strata_num(x) {
  if (x === null || (typeof x !== 'object' && typeof x !== 'function')) return x;
  const exotic = x[__strata_toPrimitive];
  if (exotic !== undefined && exotic !== null) {
    const r = __strata_apply(exotic, x, ['number']);
    if (r !== null && (typeof r === 'object' || typeof r === 'function')) throw new __strata_TypeError('Cannot convert object to primitive value');
    return r;
  }
  const valueOf = x.valueOf;
  if (typeof valueOf === 'function') { const r = __strata_apply(valueOf, x, []); if (r === null || (typeof r !== 'object' && typeof r !== 'function')) return r; }
  const toString = x.toString;
  if (typeof toString === 'function') { const r = __strata_apply(toString, x, []); if (r === null || (typeof r !== 'object' && typeof r !== 'function')) return r; }
  throw new __strata_TypeError('Cannot convert object to primitive value');
}
function __strata_mul(a, b) {
  a = __strata_num(a); b = __strata_num(b);
  if (typeof a !== 'bigint' || typeof b !== 'bigint') return a * b;
  if (__strata_bits(a) + __strata_bits(b) > ${BIGINT_BITS_MAX} + 8) throw new __strata_RangeError("a BigInt product over Strata's limit of ${BIGINT_BITS_MAX} bits");
  return __strata_big(a * b);
}
function __strata_pow(a, b) {
  a = __strata_num(a); b = __strata_num(b);
  if (typeof a !== 'bigint' || typeof b !== 'bigint') return a ** b;
  if (b > 0n && a !== 0n && a !== 1n && a !== -1n && __strata_BigInt(__strata_bits(a)) * b > ${BIGINT_BITS_MAX}n + 8n) throw new __strata_RangeError("a BigInt power over Strata's limit of ${BIGINT_BITS_MAX} bits");
  return __strata_big(a ** b);
}
function __strata_shl(a, b) {
  a = __strata_num(a); b = __strata_num(b);
  if (typeof a !== 'bigint' || typeof b !== 'bigint') return a << b;
  if (a !== 0n && b > 0n && __strata_BigInt(__strata_bits(a)) + b > ${BIGINT_BITS_MAX}n) throw new __strata_RangeError("a BigInt shift over Strata's limit of ${BIGINT_BITS_MAX} bits");
  return __strata_big(a << b);
}
function __strata_shr(a, b) {
  a = __strata_num(a); b = __strata_num(b);
  if (typeof a !== 'bigint' || typeof b !== 'bigint') return a >> b;
  if (a !== 0n && b < 0n && __strata_BigInt(__strata_bits(a)) - b > ${BIGINT_BITS_MAX}n) throw new __strata_RangeError("a BigInt shift over Strata's limit of ${BIGINT_BITS_MAX} bits");
  return __strata_big(a >> b);
}
function __strata_re(source, flags) { return __strata_rt.regExp(source, flags); }
function __strata_long(text) { throw new __strata_RangeError('a string of ' + text.length + " characters, over Strata's limit of ${STRING_LENGTH_MAX}"); }
function __strata_text(v) { if (typeof v === 'bigint') __strata_charge(__strata_rt.textCost(v)); return v; }
function __strata_add(a, b) {
  if (typeof a === 'bigint' && typeof b === 'string') __strata_charge(__strata_rt.textCost(a));
  else if (typeof b === 'bigint' && typeof a === 'string') __strata_charge(__strata_rt.textCost(b));
  const r = a + b;
  if (typeof r === 'bigint') return __strata_big(r);
  return typeof r === 'string' && r.length > ${STRING_LENGTH_MAX} ? __strata_long(r) : r;
}
function __strata_sub(a, b) {
  a = __strata_num(a); b = __strata_num(b);
  const r = a - b;
  return typeof r === 'bigint' ? __strata_big(r) : r;
}
function __strata_opm(op, object, key, value) {
  const current = object[key];
  return object[key] = op === '*=' ? __strata_mul(current, value) : op === '**=' ? __strata_pow(current, value)
    : op === '<<=' ? __strata_shl(current, value) : op === '+=' ? __strata_add(current, value)
    : op === '-=' ? __strata_sub(current, value) : __strata_shr(current, value);
}
const __strata_kernel = {
  call: __strata_call,
  charge: __strata_charge,
  enter(units) { if ((__strata_d += units) > ${CALL_DEPTH_MAX}) __strata_halt(${HaltKind.DEPTH}); },
  leave(units) { __strata_d -= units; },
  halt: __strata_halt,
  halted() { return __strata_h; },
  begin(fuel) { __strata_h = 0; __strata_hf = 0; __strata_d = 0; __strata_u = 0; __strata_g = fuel; },
  untracked(run) { __strata_u++; try { return run(); } finally { __strata_u--; } },
  fuel() { return __strata_h !== 0 ? __strata_hf : __strata_g; },
  resume() { __strata_h = 0; __strata_g = __strata_hf; },
  mark(kind) { __strata_h = kind; __strata_hf = __strata_g; },
  module(library) { return __strata_m(library); },
};
`

const EXPORTS = `return {
  io: __strata_io,
  run(kind, fuel, programId, cycle, id, source, gasLimit, payloadLength, replyTo, replyCode) {
    const outcome = __strata_rt.run(kind, fuel, programId, cycle, id, source, gasLimit, payloadLength, replyTo, replyCode);
    __strata_io[0] = __strata_kernel.fuel();
    return outcome;
  },
  errorText: __strata_rt.errorText,
  errorTrace: __strata_rt.errorTrace,
  errorCode: __strata_rt.errorCode,
};`

export { RunOutcome, HaltKind }
