/**
 * The guest runtime: the code that runs inside every program context, in the guest realm, never in the host's.
 * The host bundles this file (with the 'strata' program library) into one script and evaluates it in a fresh
 * node:vm context before any program code runs (engine/guest_code.ts). It:
 *
 *  1. locks the realm down: removes what is not deterministic or not containable (Promise, Proxy, WeakRef,
 *     FinalizationRegistry, SharedArrayBuffer, Atomics, WebAssembly, Intl), pins dates to UTC and formatting to
 *     no locale, replaces Math.random and the clock with errors, wraps the builtins whose work grows with their
 *     input so they charge gas by size (and cap sizes), and deep-freezes every intrinsic;
 *  2. offers the pure helpers programs expect, implemented here or over the bridge: TextEncoder, TextDecoder,
 *     structuredClone, console;
 *  3. builds each message's `ctx` over the bridge, runs the handler, encodes `ctx.state`, and reports the outcome
 *     as a number (the host reads nothing else from the guest but numbers and strings).
 *
 * Everything a program can reach is made here, in the guest realm. The host's only presence is `kernel.call`,
 * which this file keeps in a closure and never hands out.
 */
import { BridgeStatus, GuestKind, HaltKind, HostOp, RunOutcome } from './bridge_protocol.js'
import {
  ARRAY_LENGTH_MAX, BIGINT_BITS_MAX, BIGINT_DIGITS_MAX, BUFFER_BYTES_PER_MESSAGE_MAX, BUFFER_SIZE_MAX_BYTES, NESTING_DEPTH_MAX,
  STRING_LENGTH_MAX, type ComputeWeights,
} from './weights.js'
import { STATE_DEPTH_MAX, STATE_SIZE_MAX_BYTES } from '../constants.js'
import * as programLibrary from '../program/guest.js'
import { linearRegExpClass } from './linear_regexp.js'

/** What the outer script (engine/guest_code.ts) gives the runtime: closures over the gas and depth counters. */
export interface Kernel {
  /** A bridge call; throws the host's error as a guest error, halts on out of gas. */
  call(op: number, a?: unknown, b?: unknown, c?: unknown, d?: unknown): any
  charge(gas: number): void
  /** Counts `units` of call depth (a builtin's native frames count several), halting past the limit. */
  enter(units: number): void
  leave(units: number): void
  halt(kind: number): never
  /** The halt kind of this message, or 0. */
  halted(): number
  /** Starts a message with `fuel`. */
  begin(fuel: number): void
  /** Fuel left now (at a halt: the fuel when it halted). */
  fuel(): number
  /** Clears a halt and restores the fuel it left (to finish a wait's state save). */
  resume(): void
  /** Records a halt without throwing. */
  mark(kind: number): void
  /** Runs `run` with the builtins' own charges off (for code charged by formula instead). */
  untracked<T>(run: () => T): T
  /** Evaluates the program module afresh and returns its exports. */
  module(library: object): any
}

/** The names every program sees as globals, in the order the outer script binds them. */
export const GUEST_GLOBALS = [
  'globalThis', 'Object', 'Function', 'Array', 'Number', 'parseFloat', 'parseInt', 'Infinity', 'NaN', 'undefined',
  'Boolean', 'String', 'Symbol', 'Date', 'RegExp', 'Error', 'AggregateError', 'EvalError', 'RangeError',
  'ReferenceError', 'SyntaxError', 'TypeError', 'URIError', 'JSON', 'Math', 'ArrayBuffer', 'Uint8Array', 'Int8Array',
  'Uint16Array', 'Int16Array', 'Uint32Array', 'Int32Array', 'Float32Array', 'Float64Array', 'Uint8ClampedArray',
  'BigUint64Array', 'BigInt64Array', 'DataView', 'Map', 'BigInt', 'Set', 'WeakMap', 'WeakSet', 'Reflect',
  'decodeURI', 'decodeURIComponent', 'encodeURI', 'encodeURIComponent', 'escape', 'unescape', 'isFinite', 'isNaN',
  'console', 'TextEncoder', 'TextDecoder', 'structuredClone',
  // Removed: bound to undefined so that a program naming them never reaches the context's real global.
  'Promise', 'Proxy', 'Intl', 'WeakRef', 'FinalizationRegistry', 'SharedArrayBuffer', 'Atomics', 'WebAssembly',
] as const

const REMOVED = new Set(['Promise', 'Proxy', 'Intl', 'WeakRef', 'FinalizationRegistry', 'SharedArrayBuffer', 'Atomics', 'WebAssembly'])

const HANDLER_NAMES = ['init', 'handle', 'handleReply', 'handleSignal'] as const

/**
 * ctx.state strings (keys and values) of up to this many ASCII characters are encoded and decoded here instead of
 * over the bridge (ENCODE + TAKE, or DECODE): the bytes are the same (ASCII is its own UTF-8), and two bridge calls
 * cost more than the loop for short strings. Longer or non-ASCII strings still go to the host's native codec.
 */
const STATE_INLINE_TEXT_MAX = 64

/**
 * The buffer a ctx.state encoding starts in (doubling as it grows). Part of the gas schedule in effect: the metered
 * subarray and slice calls of the encoder are charged by this buffer's size, so changing it changes gas.
 */
const ENCODE_BUFFER_START_BYTES = 256

/**
 * Depth units a metered builtin's call counts: a builtin that calls back into the program (a replace callback, a
 * JSON reviver, a sort comparator) leaves native frames several times a program frame's size on the stack, so that
 * recursion through builtins ends at the same depth on every thread too.
 */
const NATIVE_FRAME_UNITS = 8

/** Errors this runtime creates for syscalls, with their codes: a program cannot forge one. */
type Runtime = ReturnType<typeof boot>

export function boot(kernel: Kernel, realGlobal: any, programLine: number, weights: ComputeWeights) {
  const COMPUTE_GAS = weights
  // ---- intrinsics, captured before anything can change them --------------------------------------------------
  const G = realGlobal
  const O = G.Object as ObjectConstructor
  const R = G.Reflect as typeof Reflect
  const A = G.Array as ArrayConstructor
  const S = G.String as StringConstructor
  const N = G.Number as NumberConstructor
  const M = G.Map as MapConstructor
  const WM = G.WeakMap as WeakMapConstructor
  const U8 = G.Uint8Array as Uint8ArrayConstructor
  const JSONi = G.JSON as JSON
  const ErrorI = G.Error as ErrorConstructor
  const TypeErrorI = G.TypeError as TypeErrorConstructor
  const RangeErrorI = G.RangeError as RangeErrorConstructor
  const RealDate = G.Date as DateConstructor
  const MathI = G.Math as Math
  const apply: (target: Function, self: unknown, args: ArrayLike<unknown>) => any = R.apply
  const construct = R.construct
  const ownKeys = R.ownKeys
  const objectKeys = O.keys
  const defineProperty = O.defineProperty
  const getOwnDescriptor = O.getOwnPropertyDescriptor
  const getPrototypeOf = O.getPrototypeOf
  const isArray = A.isArray
  const freeze = O.freeze
  const TypedArrayPrototype = getPrototypeOf(U8.prototype)
  const typedArrayTag = getOwnDescriptor(TypedArrayPrototype, G.Symbol.toStringTag)!.get!
  const typedArrayLength = getOwnDescriptor(TypedArrayPrototype, 'length')!.get!
  const arrayBufferLength = getOwnDescriptor(G.ArrayBuffer.prototype, 'byteLength')!.get!
  const mapSize = getOwnDescriptor(M.prototype, 'size')!.get!
  const setSize = getOwnDescriptor(G.Set.prototype, 'size')!.get!
  const nativeFromCharCode = S.fromCharCode
  const nativeJsonParse = JSONi.parse
  const nativeJsonStringify = JSONi.stringify
  const nativeSort = A.prototype.sort
  const nativeArrayPush = A.prototype.push
  const stringSlice = S.prototype.slice
  const stringStartsWith = S.prototype.startsWith
  const arrayJoin = A.prototype.join
  const stringCharCodeAt = S.prototype.charCodeAt
  const NativeBigIntToString = G.BigInt.prototype.toString
  const mapGet = M.prototype.get
  const mapSet = M.prototype.set
  const mapHas = M.prototype.has
  const weakMapGet = WM.prototype.get
  const weakMapSet = WM.prototype.set
  const weakMapHas = WM.prototype.has
  const ObjectPrototype = O.prototype
  const errorCodes = new WM<object, string>()

  const charge = kernel.charge
  const isBytes = (value: unknown): value is Uint8Array =>
    typeof value === 'object' && value !== null && apply(typedArrayTag, value, []) === 'Uint8Array'
  const isTypedArray = (value: unknown): boolean =>
    typeof value === 'object' && value !== null && apply(typedArrayTag, value, []) !== undefined
  const isArrayBuffer = (value: unknown): boolean => {
    if (typeof value !== 'object' || value === null) return false
    try {
      apply(arrayBufferLength, value, [])
      return true
    } catch {
      return false
    }
  }

  /** A catchable error carrying a Strata error code (syscall misuse, memory faults, state encoding, ...). */
  const codedError = (code: string, message: string): Error => {
    const error = new ErrorI(message)
    defineProperty(error, 'code', { value: code, enumerable: true })
    apply(weakMapSet, errorCodes, [error, code])
    return error
  }
  const misuse = (message: string): Error => codedError('SYSCALL_MISUSE', message)

  // ---- sizes read once, so no getter can lie between our charge and the native's work -----------------------
  const toLength = (value: unknown): number => {
    const n = N(value)
    if (!(n > 0)) return 0
    return n === Infinity ? N.MAX_SAFE_INTEGER : MathI.min(MathI.floor(n), N.MAX_SAFE_INTEGER)
  }
  /** The `length` of an array-like that is not a genuine array: a data property, read once. */
  const dataLength = (value: any, what: string): number => {
    for (let o = value; o !== null && o !== undefined; o = getPrototypeOf(o)) {
      const desc = getOwnDescriptor(o, 'length')
      if (desc !== undefined) {
        if (!('value' in desc)) throw new TypeErrorI(`${what} on an object whose length is an accessor is not supported`)
        return toLength(desc.value)
      }
    }
    return 0
  }
  const lengthOf = (value: any, what: string): number => {
    if (isArray(value)) return value.length
    if (isTypedArray(value)) return apply(typedArrayLength, value, [])
    if (typeof value === 'string') return value.length
    if (typeof value !== 'object' || value === null) return 0
    return dataLength(value, what)
  }
  /** Converting a BigInt to decimal text is quadratic in its length: charged per limb pair. */
  const bigintTextCost = (value: bigint): number => {
    const limbs = MathI.ceil(apply(NativeBigIntToString, value < 0n ? -value : value, [16]).length / 16)
    return COMPUTE_GAS.perElement * MathI.ceil((limbs * limbs) / 8)
  }
  const capArray = (n: number, what: string): void => {
    if (n > ARRAY_LENGTH_MAX) throw new RangeErrorI(`${what}: ${n} elements, over Strata's limit of ${ARRAY_LENGTH_MAX}`)
  }
  const capString = (n: number, what: string): void => {
    if (n > STRING_LENGTH_MAX) throw new RangeErrorI(`${what}: a string of ${n} characters, over Strata's limit of ${STRING_LENGTH_MAX}`)
  }
  /** A genuine array copy of an array-like (its length a data property), charged per element. */
  const toArray = (value: any, what: string): unknown[] => {
    if (isArray(value)) return value
    const n = lengthOf(value, what)
    capArray(n, what)
    charge(COMPUTE_GAS.builtin + COMPUTE_GAS.perElement * n)
    const out = new A(n)
    for (let i = 0; i < n; i += 1) out[i] = value[i]
    return out
  }

  // ---- metered builtins ----------------------------------------------------------------------------------------
  const replace = (owner: any, name: PropertyKey, make: (original: any) => Function): void => {
    const original = owner[name]
    defineProperty(owner, name, { value: make(original), writable: true, configurable: true, enumerable: false })
  }
  /** Wraps a method so it charges `cost(this, args)` first and counts as one call level (native recursion). */
  const meter = (owner: any, name: PropertyKey, cost: (self: any, args: any[]) => number): void => {
    replace(owner, name, (original) => {
      const wrapped = {
        [name](this: any, ...args: any[]) {
          charge(COMPUTE_GAS.builtin + cost(this, args))
          kernel.enter(NATIVE_FRAME_UNITS)
          try {
            return apply(original, this, args)
          } finally {
            kernel.leave(NATIVE_FRAME_UNITS)
          }
        },
      }[name as string]!
      return wrapped
    })
  }
  const coerceString = (value: unknown): string => (typeof value === 'string' ? value : S(value))

  // Strings: the receiver and size arguments are coerced once, then the native runs on primitives.
  const SP = S.prototype as any
  const stringMethod = (name: string, cost: (s: string, args: any[]) => number, coerce?: (args: any[]) => any[]): void => {
    replace(SP, name, (original) => ({
      [name](this: unknown, ...args: any[]) {
        if (this === null || this === undefined) throw new TypeErrorI(`String.prototype.${name} called on ${this}`)
        const s = coerceString(this)
        const call = coerce === undefined ? args : coerce(args)
        charge(COMPUTE_GAS.builtin + cost(s, call))
        kernel.enter(NATIVE_FRAME_UNITS)
        let result: unknown
        try {
          result = apply(original, s, call)
        } finally {
          kernel.leave(NATIVE_FRAME_UNITS)
        }
        // A result may be a rope that callbacks grew (replace with a function): refused before anything flattens it.
        if (typeof result === 'string') capString(result.length, `String.prototype.${name}`)
        return result
      },
    })[name]!)
  }
  const searchArg = (args: any[]): any[] => {
    const [search, ...rest] = args
    return [typeof search === 'object' && search !== null && isRegExp(search) ? search : coerceString(search), ...rest]
  }
  const regExpSource = getOwnDescriptor(G.RegExp.prototype, 'source')!.get!
  const isNativeRegExp = (value: object): boolean => {
    try {
      apply(regExpSource, value, [])
      return true
    } catch {
      return false
    }
  }
  const { LinearRegExp, isLinearRegExp } = linearRegExpClass({
    charge, untracked: kernel.untracked, perChar: COMPUTE_GAS.perChar, builtin: COMPUTE_GAS.builtin, prototype: G.RegExp.prototype,
  })
  const isRegExp = (value: object): boolean => isLinearRegExp(value) || isNativeRegExp(value)
  stringMethod('repeat', (s, [count]) => {
    const total = s.length * count
    capString(total, 'repeat')
    return COMPUTE_GAS.perChar * total
  }, ([count]) => [MathI.max(0, MathI.trunc(N(count))) || 0])
  for (const name of ['padStart', 'padEnd']) {
    stringMethod(name, (s, [length, fill]) => {
      capString(length, name)
      return COMPUTE_GAS.perChar * (MathI.max(length, s.length) + (typeof fill === 'string' ? fill.length : 0))
    }, ([length, fill]) => [MathI.trunc(N(length)) || 0, fill === undefined ? undefined : coerceString(fill)])
  }
  for (const name of ['indexOf', 'lastIndexOf', 'includes', 'startsWith', 'endsWith']) {
    stringMethod(name, (s, [search]) => COMPUTE_GAS.perChar * (s.length + (typeof search === 'string' ? search.length : 0)), searchArg)
  }
  for (const name of ['toUpperCase', 'toLowerCase', 'trim', 'trimStart', 'trimEnd', 'normalize', 'at', 'charAt']) {
    stringMethod(name, (s) => (name === 'at' || name === 'charAt' ? 0 : COMPUTE_GAS.perChar * s.length))
  }
  stringMethod('concat', (s, args) => {
    let total = s.length
    for (const a of args) total += a.length
    capString(total, 'concat')
    return COMPUTE_GAS.perChar * total
  }, (args) => args.map(coerceString))
  /** String patterns scan the input here; regular expressions pay in their (metered) exec. */
  const regexCost = (s: string, pattern: unknown): number =>
    typeof pattern === 'object' && pattern !== null ? 0 : COMPUTE_GAS.perChar * s.length
  // RegExp exec (which test, match, replace, split and search all reach once RegExp.prototype is modified): charged
  // after the native by the span it scanned, at most the input. V8 runs with
  // --enable-experimental-regexp-engine-on-excessive-backtracks, so a backtracking pattern falls back to the linear engine.
  const RP = G.RegExp.prototype
  const regExpGlobal = getOwnDescriptor(RP, 'global')!.get!
  const regExpSticky = getOwnDescriptor(RP, 'sticky')!.get!
  replace(RP, 'exec', (original) => function exec(this: RegExp, input: unknown) {
    const s = coerceString(input)
    let start = 0
    if (apply(regExpGlobal, this, []) === true || apply(regExpSticky, this, []) === true) {
      const lastIndex = (this as { lastIndex: unknown }).lastIndex
      start = toLength(lastIndex)
      if (typeof lastIndex !== 'number') this.lastIndex = start
    }
    charge(COMPUTE_GAS.builtin)
    const result = apply(original, this, [s]) as RegExpExecArray | null
    const end = result === null ? s.length : result.index + result[0]!.length
    charge(COMPUTE_GAS.perChar * 4 * MathI.max(1, end - MathI.min(start, end)))
    return result
  })
  const NativeBigInt = G.BigInt
  const SafeBigInt = function BigInt(value: unknown) {
    if (typeof value === 'string' && value.length > BIGINT_DIGITS_MAX) throw new RangeErrorI(`BigInt: ${value.length} digits, over Strata's limit of ${BIGINT_DIGITS_MAX}`)
    charge(COMPUTE_GAS.builtin + (typeof value === 'string' ? COMPUTE_GAS.perChar * value.length : 0))
    return NativeBigInt(value)
  }
  defineProperty(SafeBigInt, 'prototype', { value: NativeBigInt.prototype })
  defineProperty(NativeBigInt.prototype, 'constructor', { value: SafeBigInt, writable: true, configurable: true })
  for (const name of ['asUintN', 'asIntN']) {
    // The bit count is coerced once, here; the native gets the number (it refuses negatives and NaN itself).
    replace(NativeBigInt, name, (original) => ({
      [name](bits: unknown, value: unknown) {
        const n = N(bits)
        if (n > BIGINT_BITS_MAX) throw new RangeErrorI(`BigInt.${name}: ${n} bits, over Strata's limit of ${BIGINT_BITS_MAX}`)
        charge(COMPUTE_GAS.builtin + (n > 0 ? COMPUTE_GAS.perElement * MathI.ceil(n / 64) : 0))
        return apply(original, NativeBigInt, [n, value])
      },
    })[name]!)
  }
  // RegExp's legacy static properties (RegExp.$1, input, lastMatch, ...) are realm-wide state that the last match of
  // any program would leave for the next message: they are removed.
  for (const key of ownKeys(G.RegExp)) {
    const desc = getOwnDescriptor(G.RegExp, key)
    if (desc !== undefined && 'get' in desc && key !== G.Symbol.species) delete (G.RegExp as Record<PropertyKey, unknown>)[key]
  }
  // RegExp.prototype.compile (Annex B) rebuilds a regular expression in place, around the engine's choice of V8 or
  // RE2 for the pattern: it is removed.
  delete (G.RegExp.prototype as Record<string, unknown>).compile
  // Compiling a pattern costs its length (a literal is compiled at upload; a constructed one here).
  const NativeRegExp = G.RegExp
  /**
   * Every pattern runs in linear time: V8's own engine when its linear mode can run the pattern (then a
   * backtracking run falls back to it), RE2 otherwise (linear_regexp.ts). A regular expression literal in a program
   * comes here too (the instrumentation rewrites it to a call).
   */
  const makeRegExp = (pattern: unknown, flags: unknown, newTarget: Function | undefined): object => {
    const source = typeof pattern === 'object' && pattern !== null && isRegExp(pattern) ? (pattern as { source: string }).source
      : pattern === undefined ? '' : coerceString(pattern)
    const flagText = flags === undefined
      ? (typeof pattern === 'object' && pattern !== null && isRegExp(pattern) ? (pattern as { flags: string }).flags : '')
      : coerceString(flags)
    capString(source.length, 'RegExp')
    charge(COMPUTE_GAS.builtin + COMPUTE_GAS.perChar * 8 * source.length)
    // Checks the syntax and the flags as V8 does (a SyntaxError names the pattern).
    const native = construct(NativeRegExp, [source, flagText], newTarget ?? NativeRegExp) as RegExp
    try {
      construct(NativeRegExp, [source, `${flagText}l`], NativeRegExp)
      return native
    } catch {
      if (newTarget !== undefined && newTarget !== SafeRegExp) {
        throw new G.SyntaxError(`Invalid regular expression /${source}/${flagText}: a subclass of RegExp needs a pattern V8 runs in linear time`)
      }
      return new LinearRegExp(source, flagText)
    }
  }
  const SafeRegExp = function RegExp(this: unknown, pattern: unknown, flags?: unknown) {
    return makeRegExp(pattern, flags, new.target)
  }
  defineProperty(SafeRegExp, 'prototype', { value: NativeRegExp.prototype })
  // `re.constructor` of an RE2-run pattern is the public RegExp, never the internal class (which skips the checks).
  defineProperty(LinearRegExp.prototype, 'constructor', { value: SafeRegExp, writable: true, configurable: true })
  defineProperty(SafeRegExp, G.Symbol.species, { get() { return SafeRegExp }, configurable: true })
  defineProperty(NativeRegExp.prototype, 'constructor', { value: SafeRegExp, writable: true, configurable: true })
  // Map and Set: a mutation hashes its key and may grow the table (about 100-300 ns with a fresh string key), a
  // lookup hashes. new Map(iterable) and new Set(iterable) call the (metered) set and add for every entry.
  for (const [owner, name, cost] of [[M.prototype, 'set', COMPUTE_GAS.builtin], [M.prototype, 'delete', COMPUTE_GAS.builtin],
    [M.prototype, 'get', COMPUTE_GAS.perElement], [M.prototype, 'has', COMPUTE_GAS.perElement],
    [G.Set.prototype, 'add', COMPUTE_GAS.builtin], [G.Set.prototype, 'delete', COMPUTE_GAS.builtin],
    [G.Set.prototype, 'has', COMPUTE_GAS.perElement]] as const) {
    replace(owner, name, (original) => ({
      [name](this: unknown, ...args: unknown[]) {
        charge(cost)
        return apply(original, this, args)
      },
    })[name]!)
  }
  for (const name of ['split', 'match', 'matchAll', 'search']) {
    stringMethod(name, (s, [pattern]) => regexCost(s, pattern) + (name === 'split' ? COMPUTE_GAS.perElement * s.length : 0))
  }
  for (const name of ['replace', 'replaceAll']) {
    stringMethod(name, (s, [pattern, replacement]) => {
      // Every position may match, and each match writes the replacement once.
      const written = typeof replacement === 'string' ? s.length * (replacement.length + 1) : s.length
      capString(written > STRING_LENGTH_MAX && typeof replacement === 'string' && replacement.length > 0
        ? s.length + replacement.length * (s.length / MathI.max(1, typeof pattern === 'string' ? pattern.length : 1)) : 0, name)
      return regexCost(s, pattern) + COMPUTE_GAS.perChar * MathI.min(written, STRING_LENGTH_MAX)
    }, ([pattern, replacement]) => [
      typeof pattern === 'object' && pattern !== null && isRegExp(pattern) ? pattern : coerceString(pattern),
      typeof replacement === 'function' ? replacement : coerceString(replacement),
    ])
  }
  // No locale: comparison by code units, case mapping without a locale.
  replace(SP, 'localeCompare', () => function localeCompare(this: unknown, that: unknown) {
    const a = coerceString(this)
    const b = coerceString(that)
    charge(COMPUTE_GAS.builtin + COMPUTE_GAS.perChar * MathI.min(a.length, b.length))
    return a < b ? -1 : a > b ? 1 : 0
  })
  replace(SP, 'toLocaleUpperCase', () => function toLocaleUpperCase(this: unknown) { return coerceString(this).toUpperCase() })
  replace(SP, 'toLocaleLowerCase', () => function toLocaleLowerCase(this: unknown) { return coerceString(this).toLowerCase() })
  for (const name of ['fromCharCode', 'fromCodePoint']) meter(S, name, (_self, args) => COMPUTE_GAS.perChar * args.length)
  // String.raw walks its strings' `raw` list (an array-like of any claimed length) and joins them.
  replace(S, 'raw', (original) => function raw(strings: unknown, ...substitutions: unknown[]) {
    const list = typeof strings === 'object' && strings !== null ? toArray((strings as { raw?: unknown }).raw, 'String.raw') : []
    let total = 0
    for (let i = 0; i < list.length; i += 1) total += coerceString(list[i]).length
    capString(total, 'String.raw')
    charge(COMPUTE_GAS.builtin + COMPUTE_GAS.perChar * total + COMPUTE_GAS.perElement * substitutions.length)
    const result = apply(original, S, [{ raw: list }, ...substitutions]) as string
    capString(result.length, 'String.raw')
    return result
  })

  // Arrays: genuine arrays (no Proxy exists) have an exact length; array-likes are copied (reads) or refused
  // (writes) unless their length is a data property.
  const AP = A.prototype as any
  const elementCost = (self: any, name: string, perElement = COMPUTE_GAS.perElement): number => perElement * lengthOf(self, `Array.prototype.${name}`)
  for (const name of ['indexOf', 'lastIndexOf', 'includes', 'slice', 'reverse', 'toReversed', 'fill', 'copyWithin',
    'splice', 'toSpliced', 'with', 'at', 'shift', 'unshift', 'forEach', 'map', 'filter', 'reduce', 'reduceRight',
    'every', 'some', 'find', 'findIndex', 'findLast', 'findLastIndex', 'flatMap', 'push', 'pop']) {
    if (AP[name] === undefined) continue
    const constant = name === 'at' || name === 'pop' || name === 'push'
    meter(AP, name, (self, args) => {
      if (name === 'fill' || name === 'push' || name === 'unshift') capArray(lengthOf(self, name) + (name === 'fill' ? 0 : args.length), `Array.prototype.${name}`)
      return constant ? COMPUTE_GAS.perElement * (name === 'push' ? args.length : 0) : elementCost(self, name)
    })
  }
  for (const name of ['sort', 'toSorted']) {
    if (AP[name] === undefined) continue
    replace(AP, name, (original) => ({
      [name](this: any, compare?: unknown) {
        const n = lengthOf(this, `Array.prototype.${name}`)
        capArray(n, `Array.prototype.${name}`)
        const compares = n < 2 ? 0 : n * MathI.ceil(MathI.log2(n))
        charge(COMPUTE_GAS.builtin + COMPUTE_GAS.perElement * n + COMPUTE_GAS.perCompare * compares)
        kernel.enter(NATIVE_FRAME_UNITS)
        try {
          return apply(original, this, compare === undefined ? [] : [compare])
        } finally {
          kernel.leave(NATIVE_FRAME_UNITS)
        }
      },
    })[name]!)
  }
  /** join: the output size is known before the work (strings by length, other elements by a fixed estimate). */
  const joinCost = (self: any, separator: unknown): number => {
    const items = toArray(self, 'Array.prototype.join')
    const sep = separator === undefined ? 1 : coerceString(separator).length
    let total = 0
    let extra = 0
    for (let i = 0; i < items.length; i += 1) {
      const item = items[i]
      total += (typeof item === 'string' ? item.length : 24) + sep
      if (typeof item === 'bigint') extra += bigintTextCost(item)
    }
    capString(total, 'Array.prototype.join')
    return COMPUTE_GAS.perElement * items.length + COMPUTE_GAS.perChar * total + extra
  }
  meter(AP, 'join', (self, [separator]) => joinCost(self, separator))
  meter(AP, 'toString', (self) => joinCost(self, undefined))
  replace(AP, 'toLocaleString', () => function toLocaleString(this: unknown) { return apply(AP.join, this, []) })
  replace(AP, 'concat', (original) => function concat(this: any, ...args: any[]) {
    let total = lengthOf(this, 'Array.prototype.concat')
    const spread = args.map((a) => (isArray(a) ? a : typeof a === 'object' && a !== null && a[G.Symbol.isConcatSpreadable] ? toArray(a, 'concat') : a))
    for (const a of spread) total += isArray(a) ? a.length : 1
    capArray(total, 'Array.prototype.concat')
    charge(COMPUTE_GAS.builtin + COMPUTE_GAS.perElement * total)
    return apply(original, isArray(this) ? this : toArray(this, 'concat'), spread)
  })
  replace(AP, 'flat', () => function flat(this: any, depth?: unknown) {
    const limit = depth === undefined ? 1 : MathI.min(MathI.trunc(N(depth)) || 0, NESTING_DEPTH_MAX)
    const out: unknown[] = []
    const walk = (items: any, level: number): void => {
      const list = toArray(items, 'Array.prototype.flat')
      charge(COMPUTE_GAS.builtin + COMPUTE_GAS.perElement * list.length)
      capArray(out.length + list.length, 'Array.prototype.flat')
      for (let i = 0; i < list.length; i += 1) {
        if (!(i in list)) continue
        const item = list[i]
        if (level < limit && isArray(item)) walk(item, level + 1)
        else apply(nativeArrayPush, out, [item])
      }
    }
    walk(this, 0)
    return out
  })
  replace(A, 'from', (original) => function from(this: any, items: any, ...rest: any[]) {
    if (items === null || items === undefined) return apply(original, this, [items, ...rest])
    const iterable = typeof items === 'string' || isArray(items) || isTypedArray(items) || typeof items[G.Symbol.iterator] !== 'function'
    if (iterable || typeof items !== 'object') {
      const source = typeof items === 'string' ? items : toArray(items, 'Array.from')
      capArray(source.length, 'Array.from')
      charge(COMPUTE_GAS.builtin + COMPUTE_GAS.perElement * source.length)
      return apply(original, this, [source, ...rest])
    }
    // Any other iterable is walked here, a charge per step (a builtin iterator over a sparse array would otherwise
    // run natively for free), and the map function is called as each value arrives, as the native does.
    const [map, mapThis] = rest
    if (map !== undefined && typeof map !== 'function') throw new TypeErrorI('Array.from: the map function is not a function')
    const iterator = items[G.Symbol.iterator]()
    const out: unknown[] = []
    charge(COMPUTE_GAS.builtin)
    for (let i = 0; ; i += 1) {
      charge(COMPUTE_GAS.perElement)
      const step = iterator.next()
      if (step.done) break
      if (i >= ARRAY_LENGTH_MAX) {
        if (typeof iterator.return === 'function') iterator.return()
        capArray(i + 1, 'Array.from')
      }
      out[i] = map === undefined ? step.value : apply(map, mapThis, [step.value, i])
    }
    return this === A || this === undefined ? out : apply(original, this, [out])
  })
  meter(A, 'of', (_self, args) => COMPUTE_GAS.perElement * args.length)
  // Typed arrays: lengths are internal slots; allocation is charged by byte and capped.
  let bufferBytes = 0
  const chargeBuffer = (bytes: number, what: string): void => {
    if (!(bytes <= BUFFER_SIZE_MAX_BYTES)) throw new RangeErrorI(`${what}: ${bytes} bytes, over Strata's limit of ${BUFFER_SIZE_MAX_BYTES}`)
    if (bufferBytes + bytes > BUFFER_BYTES_PER_MESSAGE_MAX) {
      throw new RangeErrorI(`${what}: buffers of this message would reach ${bufferBytes + bytes} bytes, over ${BUFFER_BYTES_PER_MESSAGE_MAX}`)
    }
    bufferBytes += bytes
    charge(COMPUTE_GAS.builtin + COMPUTE_GAS.perByte * bytes)
  }
  const typedArrayCost = (self: any, _name: string): number => COMPUTE_GAS.perElement * apply(typedArrayLength, self, [])
  const typedArrayByteLength = getOwnDescriptor(TypedArrayPrototype, 'byteLength')!.get!
  const MEMORY_SPEED = new G.Set(['fill', 'reverse', 'toReversed', 'slice', 'subarray', 'copyWithin', 'with'])
  for (const name of ['sort', 'toSorted', 'indexOf', 'lastIndexOf', 'includes', 'join', 'fill', 'reverse', 'toReversed',
    'slice', 'subarray', 'set', 'copyWithin', 'forEach', 'map', 'filter', 'reduce', 'reduceRight', 'every', 'some',
    'find', 'findIndex', 'findLast', 'findLastIndex', 'with', 'toString', 'toLocaleString']) {
    if (TypedArrayPrototype[name] === undefined) continue
    meter(TypedArrayPrototype, name, (self, args) => {
      const n = apply(typedArrayLength, self, [])
      if (name === 'sort' || name === 'toSorted') return COMPUTE_GAS.perCompare * (n < 2 ? 0 : n * MathI.ceil(MathI.log2(n)))
      if (name === 'join' || name === 'toString' || name === 'toLocaleString') {
        capString(n * 24, `TypedArray.prototype.${name}`)
        return COMPUTE_GAS.perChar * n * 24
      }
      // Copies and fills run at memory speed (about 16 bytes a nanosecond here), scans at about 8.
      const bytes = apply(typedArrayByteLength, self, []) as number
      if (name === 'set') {
        const source = args[0]
        const sourceBytes = isTypedArray(source) ? apply(typedArrayByteLength, source, []) as number : 0
        return sourceBytes > 0 ? MathI.ceil(COMPUTE_GAS.perByte * sourceBytes / 16) : COMPUTE_GAS.perElement * lengthOf(source, 'TypedArray.prototype.set')
      }
      if (MEMORY_SPEED.has(name)) return MathI.ceil(COMPUTE_GAS.perByte * bytes / 16)
      if (name === 'indexOf' || name === 'lastIndexOf' || name === 'includes') return MathI.ceil(COMPUTE_GAS.perByte * bytes / 8)
      return typedArrayCost(self, name)
    })
  }
  const typedArrayNames = ['Uint8Array', 'Int8Array', 'Uint16Array', 'Int16Array', 'Uint32Array', 'Int32Array',
    'Float32Array', 'Float64Array', 'Uint8ClampedArray', 'BigUint64Array', 'BigInt64Array']
  const constructors: Record<string, Function> = {}
  for (const name of typedArrayNames) {
    const Native = G[name]
    const elementBytes = Native.BYTES_PER_ELEMENT as number
    const Safe = {
      [name]: function (this: unknown, ...args: any[]) {
        if (new.target === undefined) throw new TypeErrorI(`Constructor ${name} requires 'new'`)
        const [first] = args
        let length: number
        if (typeof first !== 'object' || first === null) length = toLength(first)
        else if (isTypedArray(first)) length = apply(typedArrayLength, first, [])
        else if (isArrayBuffer(first)) length = 0 // a view on an existing buffer allocates nothing
        else if (isArray(first)) length = first.length
        else if (typeof first[G.Symbol.iterator] === 'function') {
          throw new TypeErrorI(`new ${name}(iterable): pass an array or a typed array (iterables are not metered)`)
        } else {
          const copy = toArray(first, name)
          length = copy.length
          args = [copy]
        }
        chargeBuffer(length * elementBytes, `new ${name}`)
        return construct(Native, args, new.target)
      },
    }[name]!
    constructors[name] = Safe
  }
  const NativeArrayBuffer = G.ArrayBuffer
  const SafeArrayBuffer = function ArrayBuffer(this: unknown, length: unknown, options?: unknown) {
    if (new.target === undefined) throw new TypeErrorI("Constructor ArrayBuffer requires 'new'")
    const bytes = toLength(length)
    let max = 0
    if (typeof options === 'object' && options !== null) max = toLength((options as { maxByteLength?: unknown }).maxByteLength)
    chargeBuffer(MathI.max(bytes, max), 'new ArrayBuffer')
    return construct(NativeArrayBuffer, max > 0 ? [bytes, { maxByteLength: max }] : [bytes], new.target)
  }
  meter(NativeArrayBuffer.prototype, 'slice', (self) => COMPUTE_GAS.perByte * apply(arrayBufferLength, self, []))
  if (NativeArrayBuffer.prototype.resize !== undefined) {
    replace(NativeArrayBuffer.prototype, 'resize', (original) => function resize(this: any, length: unknown) {
      const bytes = toLength(length)
      chargeBuffer(bytes, 'ArrayBuffer.prototype.resize')
      return apply(original, this, [bytes])
    })
  }
  // Objects: the work is the result's size (walked after; bounded by what the program already built).
  for (const name of ['keys', 'values', 'entries', 'getOwnPropertyNames', 'getOwnPropertySymbols']) {
    replace(O, name, (original) => ({
      [name](...args: any[]) {
        const result = apply(original, O, args)
        charge(COMPUTE_GAS.builtin + COMPUTE_GAS.perElement * result.length)
        return result
      },
    })[name]!)
  }
  replace(R, 'ownKeys', (original) => function ownKeys(target: object) {
    const result = apply(original, R, [target])
    charge(COMPUTE_GAS.builtin + COMPUTE_GAS.perElement * result.length)
    return result
  })
  meter(O, 'assign', (_self, args) => {
    let n = 0
    for (let i = 1; i < args.length; i += 1) {
      if (typeof args[i] === 'object' && args[i] !== null) n += objectKeys(args[i]).length
      else if (typeof args[i] === 'string') n += (args[i] as string).length
    }
    return COMPUTE_GAS.perElement * n
  })
  replace(O, 'getOwnPropertyDescriptors', (original) => function getOwnPropertyDescriptors(target: object) {
    const result = apply(original, O, [target])
    charge(COMPUTE_GAS.builtin + COMPUTE_GAS.perElement * ownKeys(result).length)
    return result
  })
  meter(O, 'fromEntries', (_self, [entries]) => COMPUTE_GAS.perElement * lengthOf(entries, 'Object.fromEntries'))
  // Calls with argument lists: bounded, so the native's stack use never decides the outcome.
  const ARGUMENTS_MAX = 65_536
  const argumentCount = (list: unknown): number => {
    const n = list === null || list === undefined ? 0 : lengthOf(list, 'apply')
    if (n > ARGUMENTS_MAX) throw new RangeErrorI(`a call with ${n} arguments, over Strata's limit of ${ARGUMENTS_MAX}`)
    return n
  }
  const FP = G.Function.prototype
  replace(FP, 'apply', (original) => function apply_(this: Function, thisArg: unknown, list?: unknown) {
    charge(COMPUTE_GAS.builtin + COMPUTE_GAS.perElement * argumentCount(list))
    return apply(original, this, [thisArg, list === null || list === undefined ? list : toArray(list, 'apply')])
  })
  replace(R, 'apply', (original) => function apply_(target: Function, thisArg: unknown, list: unknown) {
    charge(COMPUTE_GAS.builtin + COMPUTE_GAS.perElement * argumentCount(list))
    return apply(original, R, [target, thisArg, toArray(list, 'Reflect.apply')])
  })
  replace(R, 'construct', (original) => function construct(target: Function, list: unknown, newTarget?: Function) {
    charge(COMPUTE_GAS.builtin + COMPUTE_GAS.perElement * argumentCount(list))
    return apply(original, R, newTarget === undefined ? [target, toArray(list, 'Reflect.construct')] : [target, toArray(list, 'Reflect.construct'), newTarget])
  })
  meter(FP, 'bind', (_self, args) => COMPUTE_GAS.perElement * args.length)

  // JSON: parse is charged by input length (nesting bounded); stringify visits every value through a replacer
  // that charges per value and bounds the nesting, so shared references cannot multiply the work for free.
  const jsonDepth = (text: string): void => {
    let depth = 0
    let inString = false
    for (let i = 0; i < text.length; i += 1) {
      const c = apply(stringCharCodeAt, text, [i])
      if (inString) {
        if (c === 92) i += 1
        else if (c === 34) inString = false
      } else if (c === 34) inString = true
      else if (c === 91 || c === 123) {
        depth += 1
        if (depth > NESTING_DEPTH_MAX) throw new RangeErrorI(`JSON.parse: nesting deeper than ${NESTING_DEPTH_MAX}`)
      } else if (c === 93 || c === 125) depth -= 1
    }
  }
  const JSONSafe = O.create(ObjectPrototype, {
    [G.Symbol.toStringTag]: { value: 'JSON' },
    parse: {
      writable: true, configurable: true, value: function parse(text: unknown, reviver?: unknown) {
        const s = coerceString(text)
        charge(COMPUTE_GAS.builtin + COMPUTE_GAS.perChar * 4 * s.length)
        if (typeof reviver === 'function') jsonDepth(s)
        kernel.enter(NATIVE_FRAME_UNITS)
        try {
          return reviver === undefined ? apply(nativeJsonParse, JSONi, [s]) : apply(nativeJsonParse, JSONi, [s, reviver])
        } finally {
          kernel.leave(NATIVE_FRAME_UNITS)
        }
      },
    },
    stringify: {
      writable: true, configurable: true, value: function stringify(value: unknown, replacer?: unknown, space?: unknown) {
        const holders: unknown[] = []
        let written = 0
        const allow = isArray(replacer) ? new G.Set(apply(AP.map, replacer, [(k: unknown) => coerceString(k)])) : undefined
        const user = typeof replacer === 'function' ? replacer : undefined
        const visit = function (this: unknown, key: string, item: unknown): unknown {
          while (holders.length > 0 && holders[holders.length - 1] !== this) holders.length -= 1
          if (allow !== undefined && holders.length > 0 && !isArray(this) && !allow.has(key)) return undefined
          let out = user === undefined ? item : apply(user, this, [key, item])
          written += 1 + key.length
          if (typeof out === 'string') written += out.length
          charge(COMPUTE_GAS.perElement * 6 + COMPUTE_GAS.perChar * (key.length + (typeof out === "string" ? out.length : 0)))
          capString(written, 'JSON.stringify')
          if (typeof out === 'object' && out !== null) {
            if (holders.length >= NESTING_DEPTH_MAX) throw new RangeErrorI(`JSON.stringify: nesting deeper than ${NESTING_DEPTH_MAX}`)
            holders[holders.length] = out
          }
          return out
        }
        charge(COMPUTE_GAS.builtin)
        const indent = typeof space === 'number' || typeof space === 'string' ? space : undefined
        kernel.enter(NATIVE_FRAME_UNITS)
        try {
          return apply(nativeJsonStringify, JSONi, [value, visit, indent])
        } finally {
          kernel.leave(NATIVE_FRAME_UNITS)
        }
      },
    },
  })

  // ---- no environment: dates in UTC, no clock, no locale, no randomness ---------------------------------------
  const isoLocal = /^[+-]?\d{4,6}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?$/
  const hasZone = /(?:Z|GMT|UTC|[+-]\d{2}:?\d{2})\s*(?:\([^)]*\))?\s*$/i
  const parseUtc = (text: string): number => {
    // A date-time without an offset is local time by the spec: Strata's local time is UTC.
    if (isoLocal.test(text)) return RealDate.parse(`${text}Z`)
    if (hasZone.test(text) || /^[+-]?\d{4,6}(?:-\d{2}){0,2}$/.test(text)) return RealDate.parse(text)
    return RealDate.parse(`${text} UTC`)
  }
  const clock = (what: string) => function () {
    throw new ErrorI(`${what} is not available in Strata programs: it reads the wall clock; use ctx.cycle`)
  }
  const SafeDate = function Date(this: unknown, ...args: any[]) {
    if (new.target === undefined) return clock('Date()')()
    if (args.length === 0) return clock('new Date() without arguments')()
    let time: number
    if (args.length === 1) {
      const [value] = args
      time = typeof value === 'string' ? parseUtc(value) : N(typeof value === 'object' && value !== null && value instanceof RealDate ? apply(RealDate.prototype.valueOf, value, []) : value)
    } else {
      time = apply(RealDate.UTC, RealDate, args)
    }
    return construct(RealDate, [time], new.target)
  }
  defineProperty(SafeDate, 'prototype', { value: RealDate.prototype })
  for (const name of ['UTC']) defineProperty(SafeDate, name, { value: (RealDate as any)[name], writable: true, configurable: true })
  defineProperty(SafeDate, 'parse', { value: function parse(text: unknown) { return parseUtc(coerceString(text)) }, writable: true, configurable: true })
  defineProperty(SafeDate, 'now', { value: clock('Date.now'), writable: true, configurable: true })
  const DP = RealDate.prototype as any
  defineProperty(DP, 'constructor', { value: SafeDate, writable: true, configurable: true })
  for (const unit of ['FullYear', 'Month', 'Date', 'Day', 'Hours', 'Minutes', 'Seconds', 'Milliseconds']) {
    defineProperty(DP, `get${unit}`, { value: DP[`getUTC${unit}`], writable: true, configurable: true })
    if (unit !== 'Day') defineProperty(DP, `set${unit}`, { value: DP[`setUTC${unit}`], writable: true, configurable: true })
  }
  // Annex B's two-digit-year methods read local time too.
  defineProperty(DP, 'getYear', { value: function getYear(this: Date) { return apply(DP.getUTCFullYear, this, []) - 1900 }, writable: true, configurable: true })
  defineProperty(DP, 'setYear', {
    writable: true, configurable: true, value: function setYear(this: Date, year: unknown) {
      const y = MathI.trunc(N(year))
      return apply(DP.setUTCFullYear, this, [y >= 0 && y <= 99 ? 1900 + y : y])
    },
  })
  defineProperty(DP, 'getTimezoneOffset', { value: function getTimezoneOffset(this: Date) { return N.isNaN(apply(DP.valueOf, this, [])) ? NaN : 0 }, writable: true, configurable: true })
  const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat']
  const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']
  const pad = (n: number, width = 2): string => `${n}`.padStart(width, '0')
  const dateString = (d: Date): string => {
    const year = d.getUTCFullYear()
    return `${WEEKDAYS[d.getUTCDay()]} ${MONTHS[d.getUTCMonth()]} ${pad(d.getUTCDate())} ${year < 0 ? `-${pad(-year, 6)}` : pad(year, 4)}`
  }
  const timeString = (d: Date): string =>
    `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} GMT+0000 (Coordinated Universal Time)`
  const formatter = (format: (d: Date) => string) => function (this: Date) {
    return N.isNaN(apply(DP.valueOf, this, [])) ? 'Invalid Date' : format(this)
  }
  const iso = (d: Date): string => apply(DP.toISOString, d, [])
  const formats: Record<string, (d: Date) => string> = {
    toString: (d: Date) => `${dateString(d)} ${timeString(d)}`,
    toDateString: dateString,
    toTimeString: timeString,
    toLocaleString: iso,
    toLocaleDateString: (d: Date) => apply(stringSlice, iso(d), [0, 10]),
    toLocaleTimeString: (d: Date) => apply(stringSlice, iso(d), [11, 19]),
  }
  for (const name of objectKeys(formats)) defineProperty(DP, name, { value: formatter(formats[name]!), writable: true, configurable: true })
  // Numbers and bigints without a locale.
  defineProperty(G.Number.prototype, 'toLocaleString', { value: function toLocaleString(this: number) { return apply(G.Number.prototype.toString, this, []) }, writable: true, configurable: true })
  defineProperty(G.BigInt.prototype, 'toString', {
    writable: true, configurable: true, value: function toString(this: bigint, radix?: unknown) {
      if (typeof this === 'bigint') charge(COMPUTE_GAS.builtin + bigintTextCost(this))
      return apply(NativeBigIntToString, this, radix === undefined ? [] : [radix])
    },
  })
  defineProperty(G.BigInt.prototype, 'toLocaleString', { value: function toLocaleString(this: bigint) { return apply(G.BigInt.prototype.toString, this, []) }, writable: true, configurable: true })
  defineProperty(MathI, 'random', { value: function random() { throw new ErrorI('Math.random is not available in Strata programs: use ctx.random()') }, writable: true, configurable: true })

  // ---- stack traces: program frames only, as program:line:column --------------------------------------------
  defineProperty(ErrorI, 'prepareStackTrace', {
    writable: true, configurable: true, value: function prepareStackTrace(error: unknown, frames: any[]) {
      let header = 'Error'
      try {
        const name = (error as { name?: unknown })?.name
        const message = (error as { message?: unknown })?.message
        header = `${typeof name === 'string' ? name : 'Error'}${typeof message === 'string' && message !== '' ? `: ${message}` : ''}`
      } catch {
        // an unreadable error still gets a trace
      }
      const lines = [header]
      for (let i = 0; i < frames.length; i += 1) {
        const frame = frames[i]
        const file = frame.getFileName()
        // Natives only: this runs whenever V8 formats a trace, and how many host frames it sees depends on the thread.
        if (typeof file !== 'string' || !apply(stringStartsWith, file, ['strata:code/'])) continue
        const line = frame.getLineNumber() - programLine + 1
        if (line < 1) continue
        const fn = frame.getFunctionName()
        lines[lines.length] = `    at ${typeof fn === 'string' && fn !== '' ? `${fn} ` : ''}(program:${line}:${frame.getColumnNumber()})`
      }
      return apply(arrayJoin, lines, ['\n'])
    },
  })
  defineProperty(ErrorI, 'stackTraceLimit', { value: 10, writable: true, configurable: true })

  // ---- pure helpers -----------------------------------------------------------------------------------------
  const sizeArgument = (value: unknown, name: string): number => {
    if (!isBytes(value)) throw new TypeErrorI(`${name} must be a Uint8Array`)
    return apply(typedArrayLength, value, [])
  }
  class TextEncoder {
    get encoding(): string { return 'utf-8' }
    encode(input: unknown = ''): Uint8Array {
      const text = coerceString(input)
      capString(text.length, 'TextEncoder.encode')
      charge(COMPUTE_GAS.builtin + COMPUTE_GAS.perChar * text.length)
      const length = kernel.call(HostOp.ENCODE, text) as number
      const out = new U8(length)
      if (length > 0) kernel.call(HostOp.TAKE, out)
      return out
    }
    encodeInto(input: unknown, target: Uint8Array): { read: number; written: number } {
      const bytes = this.encode(input)
      const room = sizeArgument(target, 'encodeInto target')
      // Whole characters only: back off over continuation bytes.
      let written = MathI.min(room, bytes.length)
      while (written > 0 && written < bytes.length && (bytes[written]! & 0xc0) === 0x80) written -= 1
      apply(TypedArrayPrototype.set, target, [apply(TypedArrayPrototype.subarray, bytes, [0, written])])
      let read = 0
      for (let i = 0; i < written; i += 1) {
        const b = bytes[i]!
        if ((b & 0xc0) !== 0x80) read += b >= 0xf0 ? 2 : 1
      }
      return { read, written }
    }
  }
  class TextDecoder {
    readonly #fatal: boolean
    constructor(label: unknown = 'utf-8', options?: { fatal?: unknown }) {
      const name = coerceString(label).toLowerCase().trim()
      if (name !== 'utf-8' && name !== 'utf8' && name !== 'unicode-1-1-utf-8') throw new RangeErrorI(`TextDecoder: only UTF-8 is available, got ${name}`)
      this.#fatal = typeof options === 'object' && options !== null && options.fatal === true
    }
    get encoding(): string { return 'utf-8' }
    get fatal(): boolean { return this.#fatal }
    decode(input?: unknown): string {
      if (input === undefined) return ''
      let bytes: Uint8Array
      if (isBytes(input)) bytes = input
      else if (isTypedArray(input) || input instanceof G.DataView) bytes = new U8((input as Uint8Array).buffer, (input as Uint8Array).byteOffset, (input as Uint8Array).byteLength)
      else if (isArrayBuffer(input)) bytes = new U8(input as ArrayBuffer)
      else throw new TypeErrorI('TextDecoder.decode needs a Uint8Array, another view or an ArrayBuffer')
      charge(COMPUTE_GAS.builtin + COMPUTE_GAS.perChar * apply(typedArrayLength, bytes, []))
      return kernel.call(HostOp.DECODE, bytes, this.#fatal) as string
    }
  }
  /** structuredClone for plain data: objects, arrays, primitives, Date, Map, Set, typed arrays, ArrayBuffers. */
  const structuredClone = function structuredClone(value: unknown): unknown {
    const seen = new M<object, unknown>()
    const clone = (item: unknown, depth: number): unknown => {
      charge(COMPUTE_GAS.perElement * 2)
      if (typeof item !== 'object' || item === null) {
        if (typeof item === 'function' || typeof item === 'symbol') throw new TypeErrorI(`structuredClone: a ${typeof item} cannot be cloned`)
        return item
      }
      if (apply(mapHas, seen, [item])) return apply(mapGet, seen, [item])
      if (depth > NESTING_DEPTH_MAX) throw new RangeErrorI(`structuredClone: nesting deeper than ${NESTING_DEPTH_MAX}`)
      if (isTypedArray(item)) {
        const copy = new (getPrototypeOf(item).constructor)(item)
        apply(mapSet, seen, [item, copy])
        return copy
      }
      if (isArrayBuffer(item)) {
        const copy = apply(NativeArrayBuffer.prototype.slice, item, [0])
        apply(mapSet, seen, [item, copy])
        return copy
      }
      if (item instanceof RealDate) return construct(RealDate, [apply(DP.valueOf, item, [])], RealDate)
      if (item instanceof M) {
        const copy = new M()
        apply(mapSet, seen, [item, copy])
        apply(M.prototype.forEach, item, [(v: unknown, k: unknown) => apply(mapSet, copy, [clone(k, depth + 1), clone(v, depth + 1)])])
        return copy
      }
      if (item instanceof G.Set) {
        const copy = new G.Set()
        apply(mapSet, seen, [item, copy])
        apply(G.Set.prototype.forEach, item, [(v: unknown) => copy.add(clone(v, depth + 1))])
        return copy
      }
      if (isArray(item)) {
        const copy: unknown[] = []
        apply(mapSet, seen, [item, copy])
        for (let i = 0; i < item.length; i += 1) copy[i] = clone(item[i], depth + 1)
        return copy
      }
      const proto = getPrototypeOf(item)
      if (proto !== ObjectPrototype && proto !== null && !(item instanceof ErrorI)) {
        throw new TypeErrorI('structuredClone: only plain objects, arrays, Date, Map, Set and binary data can be cloned')
      }
      const copy: Record<string, unknown> = {}
      apply(mapSet, seen, [item, copy])
      for (const key of objectKeys(item)) defineProperty(copy, key, { value: clone((item as Record<string, unknown>)[key], depth + 1), writable: true, enumerable: true, configurable: true })
      return copy
    }
    return clone(value, 0)
  }
  /** console: lines go to the message's log (bounded by the host); values are shown without calling program code. */
  const show = (value: unknown, depth: number): string => {
    switch (typeof value) {
      case 'string': return depth === 0 ? value : nativeJsonStringify(value)
      case 'number': case 'boolean': case 'undefined': return S(value)
      case 'bigint': return `${S(value)}n`
      case 'symbol': return apply(G.Symbol.prototype.toString, value, [])
      case 'function': return '[Function]'
      default: break
    }
    if (value === null) return 'null'
    if (depth > 2) return isArray(value) ? '[Array]' : '[Object]'
    if (isBytes(value)) return `Uint8Array(${apply(typedArrayLength, value, [])})`
    if (value instanceof ErrorI) {
      const desc = getOwnDescriptor(value, 'message')
      return `Error: ${desc !== undefined && typeof desc.value === 'string' ? desc.value : ''}`
    }
    if (isArray(value)) {
      const items: string[] = []
      for (let i = 0; i < value.length && i < 20; i += 1) {
        const desc = getOwnDescriptor(value, i)
        items[items.length] = desc === undefined ? '<empty>' : 'value' in desc ? show(desc.value, depth + 1) : '[Getter]'
      }
      if (value.length > 20) items[items.length] = `… ${value.length - 20} more`
      return `[ ${apply(arrayJoin, items, [', '])} ]`
    }
    const keys = ownKeys(value as object)
    charge(COMPUTE_GAS.perElement * keys.length)
    const parts: string[] = []
    for (let i = 0; i < keys.length && i < 20; i += 1) {
      const key = keys[i]!
      if (typeof key !== 'string') continue
      const desc = getOwnDescriptor(value, key)!
      const shown = 'value' in desc ? show(desc.value, depth + 1) : '[Getter]'
      parts[parts.length] = `${key}: ${shown}`
    }
    if (keys.length > 20) parts[parts.length] = '…'
    return `{ ${apply(arrayJoin, parts, [', '])} }`
  }
  const log = function (...args: unknown[]): void {
    let line = ''
    for (let i = 0; i < args.length && line.length < 4096; i += 1) line += (i > 0 ? ' ' : '') + show(args[i], 0)
    charge(COMPUTE_GAS.builtin + COMPUTE_GAS.perChar * line.length)
    kernel.call(HostOp.LOG, line)
  }
  const consoleObject = { log, info: log, warn: log, error: log, debug: log, trace: log }

  // ---- the globals programs see ----------------------------------------------------------------------------
  const values: Record<string, unknown> = {}
  for (const name of GUEST_GLOBALS) values[name] = REMOVED.has(name) ? undefined : G[name]
  values.Date = SafeDate
  values.JSON = JSONSafe
  values.ArrayBuffer = SafeArrayBuffer
  values.BigInt = SafeBigInt
  // String(x) converts a BigInt without calling its toString: charged here.
  const SafeString = function String(this: unknown, ...args: unknown[]) {
    if (typeof args[0] === 'bigint') charge(COMPUTE_GAS.builtin + bigintTextCost(args[0]))
    return new.target === undefined ? apply(S, undefined, args) : construct(S, args, new.target)
  }
  defineProperty(SafeString, 'prototype', { value: S.prototype })
  for (const key of ['fromCharCode', 'fromCodePoint', 'raw']) defineProperty(SafeString, key, { value: (S as any)[key], writable: true, configurable: true })
  values.String = SafeString
  // A BigInt in a template literal or a sum with a string is converted the same way (the instrumentation calls this).

  values.RegExp = SafeRegExp
  for (const name of ['escape', 'unescape', 'encodeURI', 'encodeURIComponent', 'decodeURI', 'decodeURIComponent']) {
    const original = G[name] as (text: string) => string
    values[name] = {
      [name](text: unknown) {
        const s = coerceString(text)
        charge(COMPUTE_GAS.builtin + COMPUTE_GAS.perChar * 6 * s.length)
        return original(s)
      },
    }[name]
  }
  for (const key of ['asUintN', 'asIntN']) defineProperty(SafeBigInt, key, { value: NativeBigInt[key], writable: true, configurable: true })
  for (const name of typedArrayNames) values[name] = constructors[name]
  values.TextEncoder = TextEncoder
  values.TextDecoder = TextDecoder
  values.structuredClone = structuredClone
  values.console = consoleObject
  // Replacement constructors keep the intrinsic prototypes (instanceof and .constructor agree).
  defineProperty(SafeArrayBuffer, 'prototype', { value: NativeArrayBuffer.prototype })
  defineProperty(SafeArrayBuffer, 'isView', { value: NativeArrayBuffer.isView, writable: true, configurable: true })
  defineProperty(NativeArrayBuffer.prototype, 'constructor', { value: SafeArrayBuffer, writable: true, configurable: true })
  for (const name of typedArrayNames) {
    const Native = G[name]
    const Safe = constructors[name]!
    defineProperty(Safe, 'prototype', { value: Native.prototype })
    defineProperty(Safe, 'BYTES_PER_ELEMENT', { value: Native.BYTES_PER_ELEMENT })
    for (const key of ['from', 'of']) defineProperty(Safe, key, { value: Native[key], writable: true, configurable: true })
    defineProperty(Native.prototype, 'constructor', { value: Safe, writable: true, configurable: true })
  }
  // TypedArray.from/of and the species constructors: copies are charged through the constructors above.
  meter(getPrototypeOf(U8), 'from', (_self, [source]) => COMPUTE_GAS.perElement * lengthOf(source, 'TypedArray.from'))
  meter(getPrototypeOf(U8), 'of', (_self, args) => COMPUTE_GAS.perElement * args.length)
  const shadow = O.create(ObjectPrototype)
  values.globalThis = shadow
  for (const name of GUEST_GLOBALS) defineProperty(shadow, name, { value: values[name], writable: false, enumerable: false, configurable: false })

  // Remove what is not offered from the context's real global (programs never name it, but its leftovers must
  // not be reachable through a free variable either).
  for (const key of ownKeys(G)) {
    if (typeof key === 'string' && !(GUEST_GLOBALS as readonly string[]).includes(key)) {
      try {
        delete G[key]
      } catch {
        // non-configurable leftovers are shadowed by the program's bindings all the same
      }
    }
  }

  // ---- freeze everything reachable ---------------------------------------------------------------------------
  const frozen = new G.WeakSet()
  const deepFreeze = (value: unknown): void => {
    if ((typeof value !== 'object' && typeof value !== 'function') || value === null || frozen.has(value)) return
    frozen.add(value)
    freeze(value)
    for (const key of ownKeys(value as object)) {
      const desc = getOwnDescriptor(value, key)
      if (desc === undefined) continue
      if ('value' in desc) deepFreeze(desc.value)
      else {
        deepFreeze(desc.get)
        deepFreeze(desc.set)
      }
    }
    deepFreeze(getPrototypeOf(value))
  }
  const library = { ...programLibrary }
  // Intrinsics reachable only through syntax, not through any global.
  const iterate = (value: any): any => value[G.Symbol.iterator]()
  const syntaxIntrinsics = [
    getPrototypeOf(function* () {}), getPrototypeOf(function* () {}()), getPrototypeOf(iterate([])),
    getPrototypeOf(iterate(new M())), getPrototypeOf(iterate(new G.Set())),
    getPrototypeOf(iterate('')), getPrototypeOf((/x/ as any)[G.Symbol.matchAll]('')),
    getPrototypeOf(getPrototypeOf(iterate([]))), getPrototypeOf(async function () {}),
    getPrototypeOf(async function* () {}), getPrototypeOf(function () {}.bind(null)), TypedArrayPrototype,
    getPrototypeOf(U8), getPrototypeOf(getPrototypeOf(function* () {}())),
  ]
  for (const value of [shadow, library, consoleObject, LinearRegExp, ...syntaxIntrinsics, G.Promise, G.Proxy, G.Intl]) deepFreeze(value)
  for (const name of GUEST_GLOBALS) deepFreeze(values[name])

  // ---- ctx.state: a msgpack subset, encoded and decoded here (docs/programs.md) -----------------------------
  const EMPTY_STATE = new U8([0x80])
  // The codec's helpers are made once, not per message: decoding and encoding are never re-entered (no program code
  // runs inside decoding; the program getters encoding may run cannot reach it), and each call resets their state.
  const decodeState = ((): ((encoded: Uint8Array) => Record<string, unknown>) => {
    let bytes: Uint8Array = EMPTY_STATE
    let at = 0
    let view = new G.DataView(bytes.buffer)
    const text = (length: number): string => {
      const end = at + length
      if (length <= STATE_INLINE_TEXT_MAX && end <= bytes.length) {
        let ascii = true
        for (let i = at; i < end; i += 1) {
          if (bytes[i]! >= 0x80) {
            ascii = false
            break
          }
        }
        if (ascii) {
          const s = apply(nativeFromCharCode, undefined, apply(TypedArrayPrototype.subarray, bytes, [at, end])) as string
          at = end
          return s
        }
      }
      const s = kernel.call(HostOp.DECODE, apply(TypedArrayPrototype.subarray, bytes, [at, end]), false) as string
      at = end
      return s
    }
    const read = (depth: number): unknown => {
      if (depth > STATE_DEPTH_MAX + 1) throw new RangeErrorI('state nests too deep')
      const b = bytes[at++]!
      if (b <= 0x7f) return b
      if (b >= 0xe0) return b - 0x100
      if ((b & 0xe0) === 0xa0) return text(b & 0x1f)
      if ((b & 0xf0) === 0x90) return list(b & 0x0f, depth)
      if ((b & 0xf0) === 0x80) return object(b & 0x0f, depth)
      let v: unknown
      switch (b) {
        case 0xc0: return null
        case 0xc2: return false
        case 0xc3: return true
        case 0xc4: v = view.getUint8(at); at += 1; return binary(v as number)
        case 0xc5: v = view.getUint16(at); at += 2; return binary(v as number)
        case 0xc6: v = view.getUint32(at); at += 4; return binary(v as number)
        case 0xca: v = view.getFloat32(at); at += 4; return v
        case 0xcb: v = view.getFloat64(at); at += 8; return v
        case 0xcc: v = view.getUint8(at); at += 1; return v
        case 0xcd: v = view.getUint16(at); at += 2; return v
        case 0xce: v = view.getUint32(at); at += 4; return v
        case 0xcf: v = view.getBigUint64(at); at += 8; return v
        case 0xd0: v = view.getInt8(at); at += 1; return v
        case 0xd1: v = view.getInt16(at); at += 2; return v
        case 0xd2: v = view.getInt32(at); at += 4; return v
        case 0xd3: v = view.getBigInt64(at); at += 8; return v
        case 0xd4: at += 2; return undefined
        case 0xd9: v = view.getUint8(at); at += 1; return text(v as number)
        case 0xda: v = view.getUint16(at); at += 2; return text(v as number)
        case 0xdb: v = view.getUint32(at); at += 4; return text(v as number)
        case 0xdc: v = view.getUint16(at); at += 2; return list(v as number, depth)
        case 0xdd: v = view.getUint32(at); at += 4; return list(v as number, depth)
        case 0xde: v = view.getUint16(at); at += 2; return object(v as number, depth)
        case 0xdf: v = view.getUint32(at); at += 4; return object(v as number, depth)
        default: throw new RangeErrorI(`state: unexpected msgpack byte 0x${b.toString(16)}`)
      }
    }
    const binary = (length: number): Uint8Array => {
      const out = apply(TypedArrayPrototype.slice, bytes, [at, at + length]) as Uint8Array
      at += length
      return out
    }
    const list = (length: number, depth: number): unknown[] => {
      const out: unknown[] = []
      for (let i = 0; i < length; i += 1) out[i] = read(depth + 1)
      return out
    }
    const object = (length: number, depth: number): Record<string, unknown> => {
      const out: Record<string, unknown> = {}
      for (let i = 0; i < length; i += 1) {
        const key = S(read(depth + 1))
        defineProperty(out, key, { value: read(depth + 1), writable: true, enumerable: true, configurable: true })
      }
      return out
    }
    return (encoded: Uint8Array): Record<string, unknown> => {
      bytes = encoded
      at = 0
      view = new G.DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
      return read(0) as Record<string, unknown>
    }
  })()
  /** Encodes plain data as msgpack (the same bytes msgpackr writes); anything else is a STATE_ENCODING error. */
  const encodeState = ((): ((value: unknown) => Uint8Array) => {
    // Every encoding starts in a buffer of ENCODE_BUFFER_START_BYTES, as it did when each made its own: the metered
    // subarray and slice it calls are charged by the buffer's size. This one is reused until an encoding outgrows it
    // (then that encoding continues in a new, larger buffer); only the written prefix is ever read.
    const start = new U8(ENCODE_BUFFER_START_BYTES)
    const startView = new G.DataView(start.buffer)
    let buffer = start
    let view = startView
    let at = 0
    const stateError = (message: string): Error => codedError('STATE_ENCODING', message)
    const room = (n: number): void => {
      if (at + n > STATE_SIZE_MAX_BYTES) throw stateError(`ctx.state encodes to more than the ${STATE_SIZE_MAX_BYTES}-byte limit`)
      if (at + n <= buffer.length) return
      let size = buffer.length * 2
      while (size < at + n) size *= 2
      const next = new U8(size)
      apply(TypedArrayPrototype.set, next, [buffer])
      buffer = next
      view = new G.DataView(buffer.buffer)
    }
    const byte = (b: number): void => { room(1); buffer[at++] = b }
    const header = (length: number, fix: number, fixMax: number, b8: number | null, b16: number, b32: number): void => {
      if (length <= fixMax) byte(fix | length)
      else if (b8 !== null && length < 0x100) { room(2); buffer[at++] = b8; buffer[at++] = length }
      else if (length < 0x10000) { room(3); buffer[at++] = b16; view.setUint16(at, length); at += 2 }
      else { room(5); buffer[at++] = b32; view.setUint32(at, length); at += 4 }
    }
    const path: unknown[] = []
    // The key or index of each value being written below `state`, kept as a stack so that the path text used in
    // errors ('state.a[2].b') is only built when an error is thrown.
    const names: (string | number)[] = []
    const whereOf = (): string => {
      let where = 'state'
      for (let i = 0; i < names.length; i += 1) {
        const name = names[i]!
        where = typeof name === 'number' ? `${where}[${name}]` : `${where}.${name}`
      }
      return where
    }
    const write = (item: unknown, depth: number): void => {
      switch (typeof item) {
        case 'undefined': room(3); buffer[at++] = 0xd4; buffer[at++] = 0; buffer[at++] = 0; return
        case 'boolean': byte(item ? 0xc3 : 0xc2); return
        case 'number':
          if (item >>> 0 === item) {
            if (item < 0x80) byte(item)
            else if (item < 0x100) { room(2); buffer[at++] = 0xcc; buffer[at++] = item }
            else if (item < 0x10000) { room(3); buffer[at++] = 0xcd; view.setUint16(at, item); at += 2 }
            else { room(5); buffer[at++] = 0xce; view.setUint32(at, item); at += 4 }
          } else if (item >> 0 === item) {
            if (item >= -0x20) byte(item & 0xff)
            else if (item >= -0x80) { room(2); buffer[at++] = 0xd0; view.setInt8(at, item); at += 1 }
            else if (item >= -0x8000) { room(3); buffer[at++] = 0xd1; view.setInt16(at, item); at += 2 }
            else { room(5); buffer[at++] = 0xd2; view.setInt32(at, item); at += 4 }
          } else { room(9); buffer[at++] = 0xcb; view.setFloat64(at, item); at += 8 }
          return
        case 'bigint':
          if (item >= -(2n ** 63n) && item < 2n ** 63n) { room(9); buffer[at++] = 0xd3; view.setBigInt64(at, item); at += 8 }
          else if (item >= 0n && item < 2n ** 64n) { room(9); buffer[at++] = 0xcf; view.setBigUint64(at, item); at += 8 }
          else throw stateError(`${whereOf()} is a bigint outside 64 bits`)
          return
        case 'string': {
          charge(COMPUTE_GAS.perChar * item.length)
          if (item.length <= STATE_INLINE_TEXT_MAX && writeAscii(item)) return
          const length = kernel.call(HostOp.ENCODE, item) as number
          header(length, 0xa0, 31, 0xd9, 0xda, 0xdb)
          room(length)
          if (length > 0) kernel.call(HostOp.TAKE, apply(TypedArrayPrototype.subarray, buffer, [at, at + length]))
          at += length
          return
        }
        case 'object': break
        default: throw stateError(`${whereOf()} is a ${typeof item}; state holds plain data only`)
      }
      if (item === null) { byte(0xc0); return }
      if (depth >= STATE_DEPTH_MAX) throw stateError(`${whereOf()} nests deeper than ${STATE_DEPTH_MAX} levels`)
      if (isBytes(item)) {
        const length = apply(typedArrayLength, item, [])
        header(length, 0, -1, 0xc4, 0xc5, 0xc6)
        room(length)
        apply(TypedArrayPrototype.set, buffer, [item, at])
        at += length
        return
      }
      for (let i = 0; i < path.length; i += 1) if (path[i] === item) throw stateError(`${whereOf()} refers back to itself (a cycle)`)
      path[path.length] = item
      charge(COMPUTE_GAS.perElement)
      if (isArray(item)) {
        header(item.length, 0x90, 15, null, 0xdc, 0xdd)
        for (let i = 0; i < item.length; i += 1) {
          names[depth] = i
          write(item[i], depth + 1)
        }
      } else {
        const proto = getPrototypeOf(item)
        if (proto !== ObjectPrototype && proto !== null) throw stateError(`${whereOf()} is a ${apply(ObjectPrototype.toString, item, []).slice(8, -1)}; state holds plain objects only`)
        const keys = objectKeys(item) as string[]
        header(keys.length, 0x80, 15, null, 0xde, 0xdf)
        for (const key of keys) {
          write(key, depth + 1)
          names[depth] = key
          write((item as Record<string, unknown>)[key], depth + 1)
        }
      }
      names.length = depth
      path.length -= 1
    }
    /**
     * Writes a short string's msgpack form here when it is all ASCII; false (nothing written) otherwise. The bytes go
     * through the same metered `subarray` view the bridge path hands to TAKE, so the gas charged is the same.
     */
    const writeAscii = (item: string): boolean => {
      const length = item.length
      for (let i = 0; i < length; i += 1) if (apply(stringCharCodeAt, item, [i]) >= 0x80) return false
      header(length, 0xa0, 31, 0xd9, 0xda, 0xdb)
      room(length)
      if (length > 0) {
        const target = apply(TypedArrayPrototype.subarray, buffer, [at, at + length]) as Uint8Array
        for (let i = 0; i < length; i += 1) target[i] = apply(stringCharCodeAt, item, [i])
      }
      at += length
      return true
    }
    return (value: unknown): Uint8Array => {
      buffer = start
      view = startView
      at = 0
      path.length = 0
      names.length = 0
      if (typeof value !== 'object' || value === null || isArray(value) || isBytes(value)) throw stateError('ctx.state must be a plain object')
      write(value, 0)
      return apply(TypedArrayPrototype.slice, buffer, [0, at]) as Uint8Array
    }
  })()

  // ---- one message ------------------------------------------------------------------------------------------
  let errorText = ''
  let errorTrace = ''
  let errorCode = ''
  let stateValue: Record<string, unknown> | undefined
  let stateLoaded: Uint8Array | undefined

  const bytesOrString = (value: unknown, name: string): Uint8Array | string => {
    if (typeof value === 'string' || isBytes(value)) return value
    throw misuse(`${name} must be a Uint8Array or a string, got ${value === null ? 'null' : typeof value}`)
  }
  const optionalNumber = (options: unknown, key: string): number | undefined => {
    if (options === undefined) return undefined
    if (typeof options !== 'object' || options === null) throw misuse(`options must be an object, got ${options === null ? 'null' : typeof options}`)
    const value = (options as Record<string, unknown>)[key]
    if (value === undefined || typeof value === 'number') return value
    throw misuse(`${key} must be a number, got ${value === null ? 'null' : typeof value}`)
  }
  const idArgument = (value: unknown, name: string): string => {
    if (typeof value === 'string') return value
    throw misuse(`${name} must be a 64-character hex id, got ${value === null ? 'null' : typeof value}`)
  }
  const numberArgument = (value: unknown, name: string): number => {
    if (typeof value === 'number') return value
    throw codedError('INVALID_ARGUMENT', `${name} must be a number, got ${value === null ? 'null' : typeof value}`)
  }
  const loadState = (): void => {
    if (stateLoaded !== undefined) return
    const length = kernel.call(HostOp.STATE_LOAD) as number
    if (length < 0) {
      stateLoaded = EMPTY_STATE
      stateValue = {}
      return
    }
    const bytes = new U8(length)
    if (length > 0) kernel.call(HostOp.TAKE, bytes)
    stateLoaded = bytes
    stateValue = decodeState(bytes)
  }
  const parsed = (json: string): any => apply(nativeJsonParse, JSONi, [json])
  const mem = freeze({
    alloc: (size: unknown, regionType?: unknown) => {
      if (regionType !== undefined && typeof regionType !== 'string') throw codedError('INVALID_ARGUMENT', 'regionType must be a string')
      return kernel.call(HostOp.MEM_ALLOC, numberArgument(size, 'size'), regionType)
    },
    free: (address: unknown) => { kernel.call(HostOp.MEM_FREE, numberArgument(address, 'address')) },
    load: (address: unknown, length: unknown) => {
      // The host checks and charges the load first; only then is the array allocated, at the size it returned.
      const n = kernel.call(HostOp.MEM_LOAD, numberArgument(address, 'address'), numberArgument(length, 'length')) as number
      const out = new U8(n)
      if (n > 0) kernel.call(HostOp.TAKE, out)
      return out
    },
    loadInto: (address: unknown, target: unknown) => {
      if (!isBytes(target)) throw codedError('INVALID_ARGUMENT', 'target must be a Uint8Array')
      kernel.call(HostOp.MEM_LOAD_INTO, numberArgument(address, 'address'), target, apply(typedArrayLength, target, []))
    },
    store: (address: unknown, bytes: unknown) => {
      if (!isBytes(bytes)) throw codedError('INVALID_ARGUMENT', 'bytes must be a Uint8Array')
      kernel.call(HostOp.MEM_STORE, numberArgument(address, 'address'), bytes)
    },
    copy: (source: unknown, target: unknown, length: unknown) => {
      kernel.call(HostOp.MEM_COPY, numberArgument(source, 'source'), numberArgument(target, 'target'), numberArgument(length, 'length'))
    },
    sizeOf: (address: unknown) => kernel.call(HostOp.MEM_SIZE_OF, numberArgument(address, 'address')),
    analyzeCompaction: (region?: unknown) => parsed(kernel.call(HostOp.MEM_ANALYZE, region === undefined ? undefined : numberArgument(region, 'region'))),
    compact: (region?: unknown) => {
      const result = parsed(kernel.call(HostOp.MEM_COMPACT, region === undefined ? undefined : numberArgument(region, 'region')))
      const relocations = new M<number, number>()
      for (const [from, to] of result.relocations) apply(mapSet, relocations, [from, to])
      result.relocations = relocations
      return result
    },
    stats: () => parsed(kernel.call(HostOp.MEM_STATS)),
  })

  const makeContext = (
    kind: number, programId: string, cycle: number, id: string, source: string, gasLimit: number,
    payload: Uint8Array, replyTo: string | undefined, replyCode: number | undefined,
  ) => {
    const msg: Record<string, unknown> = {
      id, kind: ['init', 'handle', 'reply', 'signal'][kind], source, payload, gasLimit,
      text: () => kernel.call(HostOp.DECODE, payload, false) as string,
      json: () => JSONSafe.parse(kernel.call(HostOp.DECODE, payload, false) as string),
    }
    if (replyTo !== undefined) msg.replyTo = replyTo
    if (replyCode !== undefined) msg.replyCode = replyCode
    return freeze({
      msg: freeze(msg), programId, cycle, mem,
      gasLeft: () => kernel.call(HostOp.GAS_LEFT) as number,
      reply: (data: unknown, options?: unknown) => kernel.call(HostOp.REPLY, bytesOrString(data, 'payload'), optionalNumber(options, 'gasLimit')) as string,
      send: (destination: unknown, data: unknown, options?: unknown) => kernel.call(HostOp.SEND, idArgument(destination, 'destination'),
        bytesOrString(data, 'payload'), optionalNumber(options, 'gasLimit'), optionalNumber(options, 'delay')) as string,
      wait: (options?: unknown): never => {
        kernel.call(HostOp.WAIT, optionalNumber(options, 'cycles'))
        return kernel.halt(HaltKind.WAIT)
      },
      wake: (messageId: unknown) => { kernel.call(HostOp.WAKE, idArgument(messageId, 'messageId')) },
      createProgram: (codeId: unknown, options: unknown) => {
        if (typeof options !== 'object' || options === null) throw misuse('createProgram needs options with a gasLimit')
        const { salt, payload: init } = options as { salt?: unknown; payload?: unknown }
        const gas = optionalNumber(options, 'gasLimit')
        if (gas === undefined) throw misuse('createProgram needs a gasLimit for the init message')
        return kernel.call(HostOp.CREATE_PROGRAM, idArgument(codeId, 'codeId'),
          salt === undefined ? undefined : bytesOrString(salt, 'salt'), init === undefined ? undefined : bytesOrString(init, 'payload'), gas) as string
      },
      exit: (inheritor: unknown): never => {
        kernel.call(HostOp.EXIT, idArgument(inheritor, 'inheritor'))
        return kernel.halt(HaltKind.EXIT)
      },
      random: () => kernel.call(HostOp.RANDOM) as number,
      get state(): Record<string, unknown> {
        loadState()
        return stateValue!
      },
      set state(value: Record<string, unknown>) {
        loadState()
        stateValue = value
      },
    })
  }

  /** Describes a thrown value; program getters run metered (and may halt). */
  const describe = (value: unknown): void => {
    errorTrace = ''
    if (typeof value === 'object' && value !== null) {
      const message = (value as { message?: unknown }).message
      const name = (value as { name?: unknown }).name
      if (typeof message === 'string') {
        errorText = `${typeof name === 'string' ? name : 'Error'}: ${message}`
        const stack = getOwnDescriptor(value, 'stack')
        if (stack !== undefined && typeof stack.value === 'string') errorTrace = stack.value
        return
      }
      errorText = `${apply(ObjectPrototype.toString, value, [])} thrown`
      return
    }
    errorText = typeof value === 'string' ? value : value === undefined ? 'undefined was thrown' : `${typeof value} thrown: ${S(value)}`
  }
  const isOverflow = (value: unknown): boolean => {
    if (!(value instanceof RangeErrorI)) return false
    const desc = getOwnDescriptor(value, 'message')
    return desc !== undefined && desc.value === 'Maximum call stack size exceeded'
  }

  const run = (
    kind: number, fuel: number, programId: string, cycle: number, id: string, source: string, gasLimit: number,
    payloadLength: number, replyTo: string | undefined, replyCode: number | undefined,
  ): number => {
    kernel.begin(fuel)
    errorText = ''
    errorTrace = ''
    errorCode = ''
    stateValue = undefined
    stateLoaded = undefined
    bufferBytes = 0
    let outcome: number = RunOutcome.SUCCESS
    try {
      const payload = new U8(payloadLength)
      if (payloadLength > 0) kernel.call(HostOp.PAYLOAD, payload)
      const exports = kernel.module(library)
      const definition = exports.default
      if (typeof definition !== 'object' || definition === null) {
        outcome = RunOutcome.BAD_DEFINITION
        errorText = 'the module has no default export: export default defineProgram({ handle(ctx) { ... } })'
      } else if (kind === GuestKind.evaluate) {
        for (const name of HANDLER_NAMES) {
          const handler = definition[name]
          if ((name === 'handle' && typeof handler !== 'function') || (handler !== undefined && typeof handler !== 'function')) {
            outcome = RunOutcome.BAD_DEFINITION
            errorText = `${name} must be a function`
          }
        }
      } else {
        const handler = definition[HANDLER_NAMES[kind]!]
        if (handler !== undefined) {
          if (typeof handler !== 'function') throw new TypeErrorI(`${HANDLER_NAMES[kind]} is not a function`)
          const ctx = makeContext(kind, programId, cycle, id, source, gasLimit, payload, replyTo, replyCode)
          const returned = handler(ctx)
          if ((typeof returned === 'object' && returned !== null) || typeof returned === 'function') {
            if (typeof returned.then === 'function') {
              outcome = RunOutcome.ASYNC
              errorText = 'the handler returned a Promise or thenable: handlers are synchronous'
            }
          }
        }
        if (outcome === RunOutcome.SUCCESS) saveState()
      }
    } catch (error) {
      outcome = failed(error)
    }
    // A wait keeps what the message did so far, ctx.state included: save it with the fuel the wait left.
    if (kernel.halted() === HaltKind.WAIT && stateValue !== undefined) {
      kernel.resume()
      try {
        saveState()
      } catch (error) {
        outcome = failed(error)
      }
      if (kernel.halted() === 0 && outcome === RunOutcome.SUCCESS) kernel.mark(HaltKind.WAIT)
    }
    const halted = kernel.halted()
    return halted !== 0 ? halted : outcome
  }
  const saveState = (): void => {
    if (stateValue === undefined) return
    const encoded = encodeState(stateValue)
    if (!sameBytes(encoded, stateLoaded!)) kernel.call(HostOp.STATE_SAVE, encoded)
  }
  /** The outcome of a thrown value (halts are read from the kernel afterwards). */
  const failed = (error: unknown): number => {
    if (kernel.halted() === 0 && isOverflow(error)) {
      try {
        kernel.halt(HaltKind.STACK)
      } catch {
        // halted
      }
    }
    if (kernel.halted() !== 0) return RunOutcome.SUCCESS
    const code = apply(weakMapHas, errorCodes, [error]) ? apply(weakMapGet, errorCodes, [error]) as string : ''
    errorCode = code
    try {
      describe(error)
    } catch {
      errorText = 'an unprintable value was thrown'
    }
    return code === 'STATE_ENCODING' ? RunOutcome.STATE_ENCODING : RunOutcome.THROWN
  }
  const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => {
    const n = apply(typedArrayLength, a, [])
    if (n !== apply(typedArrayLength, b, [])) return false
    for (let i = 0; i < n; i += 1) if (a[i] !== b[i]) return false
    return true
  }

  /** A bridge error as the program sees it: catchable, with the Strata code (OUT_OF_GAS never gets here). */
  const hostError = (encoded: unknown): Error => {
    const text = typeof encoded === 'string' ? encoded : 'IO\nhost error'
    const split = text.indexOf('\n')
    return codedError(apply(stringSlice, text, [0, split]), apply(stringSlice, text, [split + 1]))
  }

  return {
    run, hostError, isOverflow, regExp: (source: string, flags: string) => makeRegExp(source, flags, undefined),
    textCost: (value: bigint) => bigintTextCost(value),
    values: GUEST_GLOBALS.map((name) => values[name]),
    errorText: () => errorText,
    errorTrace: () => errorTrace,
    errorCode: () => errorCode,
    fromCharCode: nativeFromCharCode,
  }
}

export type { Runtime as GuestRuntime }
export { BridgeStatus }
