/**
 * Loads a code blob into its own node:vm context with deterministic globals:
 *   - no wall clock (Date.now, new Date() without arguments, Intl formatting of "now") and no Math.random;
 *   - no timers, process, require or Node built-ins (none exist in a fresh context);
 *   - no eval / new Function / WebAssembly compilation (codeGeneration off);
 *   - no WeakRef / FinalizationRegistry (garbage collection is not deterministic), no SharedArrayBuffer / Atomics;
 *   - intrinsics frozen, so no program can change Array.prototype & co. under another program of the same code;
 *   - TextEncoder, TextDecoder and structuredClone from the host; console lines are captured per message.
 * One context per code: programs of one code share it, and module-level variables are not persistent state
 * (docs/programs.md).
 */
import { format } from 'node:util'
import vm from 'node:vm'
import { CODE_LOAD_TIMEOUT_MS, LOG_LINES_MAX, LOG_LINE_MAX_BYTES } from '../constants.js'
import { StrataError } from '../errors.js'
import type { CodeId } from '../message/ids.js'
import type { ProgramDefinition } from './api.js'
import { ProgramErrorCode } from './errors.js'

const PRELUDE = `
'use strict';
(() => {
  const forbid = (what, instead) => function () {
    throw new Error(what + ' is not available in Strata programs: ' + instead);
  };
  Math.random = forbid('Math.random', 'use ctx.random()');
  const RealDate = Date;
  const StrataDate = function Date(...args) {
    if (!new.target) forbid('Date()', 'it reads the wall clock; use ctx.cycle')();
    if (args.length === 0) forbid('new Date() without arguments', 'it reads the wall clock; use ctx.cycle')();
    return Reflect.construct(RealDate, args, new.target);
  };
  StrataDate.prototype = RealDate.prototype;
  StrataDate.UTC = RealDate.UTC;
  StrataDate.parse = RealDate.parse;
  StrataDate.now = forbid('Date.now', 'use ctx.cycle');
  Object.defineProperty(RealDate.prototype, 'constructor', { value: StrataDate });
  globalThis.Date = StrataDate;
  // Formatting without a date formats "now": require the date. ('format' is an accessor, formatToParts a method.)
  const dtf = Intl.DateTimeFormat.prototype;
  const noDate = forbid('Intl.DateTimeFormat without a date', 'it reads the wall clock');
  const formatGetter = Object.getOwnPropertyDescriptor(dtf, 'format').get;
  Object.defineProperty(dtf, 'format', { configurable: true, get() {
    const bound = formatGetter.call(this);
    return (date) => (date === undefined ? noDate() : bound(date));
  } });
  const formatToParts = dtf.formatToParts;
  Object.defineProperty(dtf, 'formatToParts', { configurable: true, writable: true, value: function (date) {
    return date === undefined ? noDate() : formatToParts.call(this, date);
  } });
  for (const name of ['WeakRef', 'FinalizationRegistry', 'SharedArrayBuffer', 'Atomics']) delete globalThis[name];
  const seen = new Set();
  const freeze = (value) => {
    if ((typeof value !== 'object' && typeof value !== 'function') || value === null || seen.has(value)) return;
    seen.add(value);
    Object.freeze(value);
    for (const key of Reflect.ownKeys(value)) {
      const desc = Object.getOwnPropertyDescriptor(value, key);
      if (desc && 'value' in desc) freeze(desc.value);
      else if (desc) { freeze(desc.get); freeze(desc.set); }
    }
    freeze(Object.getPrototypeOf(value));
  };
  // Host-provided globals are skipped: following their prototypes would freeze the host realm's intrinsics.
  const hostProvided = new Set(['globalThis', 'console', 'TextEncoder', 'TextDecoder', 'structuredClone', '__strataModule']);
  for (const key of Reflect.ownKeys(globalThis)) {
    if (hostProvided.has(key)) continue;
    const desc = Object.getOwnPropertyDescriptor(globalThis, key);
    if (desc && 'value' in desc) freeze(desc.value);
  }
})();
`

export interface LoadedCode {
  readonly codeId: CodeId
  readonly definition: ProgramDefinition
  /** Where console output goes while a message runs (null: discarded). */
  setLogSink(sink: string[] | null): void
  /**
   * Calls `handler(ctx)` inside the program's context with a deadline: past `timeoutMs` the call is terminated
   * (V8 TerminateExecution, which the program cannot catch) and throws a CODE_TIMEOUT error. Used where no
   * worker can be aborted: the inline stream and main-thread queries.
   */
  invokeWithTimeout(handler: (ctx: never) => unknown, ctx: unknown, timeoutMs: number): unknown
}

/** The error code node:vm gives a script that ran past its timeout. */
export const SCRIPT_TIMEOUT_CODE = 'ERR_SCRIPT_EXECUTION_TIMEOUT'

const INVOKER = new vm.Script('__strataInvoke()', { filename: 'strata:invoke.js' })

export function loadCode(codeId: CodeId, blob: Uint8Array): LoadedCode {
  let sink: string[] | null = null
  const write = (...args: unknown[]): void => {
    if (sink === null || sink.length >= LOG_LINES_MAX) return
    const line = format(...args)
    sink.push(line.length > LOG_LINE_MAX_BYTES ? `${line.slice(0, LOG_LINE_MAX_BYTES)}…` : line)
  }
  const console = Object.freeze({ log: write, info: write, warn: write, error: write, debug: write })
  const module: { exports: Record<string, unknown> } = { exports: {} }
  const context = vm.createContext(
    { console, TextEncoder, TextDecoder, structuredClone, __strataModule: module },
    { name: `strata code ${codeId.slice(0, 12)}`, codeGeneration: { strings: false, wasm: false } },
  )
  const source = Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength).toString('utf8')
  try {
    vm.runInContext(PRELUDE, context, { filename: 'strata:prelude.js' })
    vm.runInContext(`(function (module, exports) {${source}\n})(__strataModule, __strataModule.exports)`, context, {
      filename: `strata:code/${codeId}.js`, timeout: CODE_LOAD_TIMEOUT_MS,
    })
  } catch (error) {
    throw new StrataError(ProgramErrorCode.BAD_CODE, `code ${codeId} failed to load: ${describeThrown(error)}`, { codeId })
  }
  vm.runInContext('delete globalThis.__strataModule', context)
  const exported = (module.exports.default ?? module.exports) as Partial<ProgramDefinition> | undefined
  if (typeof exported !== 'object' || exported === null || typeof exported.handle !== 'function') {
    throw new StrataError(ProgramErrorCode.BAD_CODE,
      `code ${codeId} has no valid default export: export default defineProgram({ handle(ctx) { ... } })`, { codeId })
  }
  for (const name of ['init', 'handleReply', 'handleSignal'] as const) {
    if (exported[name] !== undefined && typeof exported[name] !== 'function') {
      throw new StrataError(ProgramErrorCode.BAD_CODE, `code ${codeId}: ${name} must be a function`, { codeId })
    }
  }
  const global = context as Record<string, unknown>
  return {
    codeId,
    definition: exported as ProgramDefinition,
    setLogSink(next) {
      sink = next
    },
    invokeWithTimeout(handler, ctx, timeoutMs) {
      global.__strataInvoke = () => handler(ctx as never)
      try {
        return INVOKER.runInContext(context, { timeout: timeoutMs })
      } finally {
        delete global.__strataInvoke
      }
    },
  }
}

/** Text for any thrown value: Error-like objects from any realm, strings, undefined, cyclic objects. */
export function describeThrown(value: unknown): string {
  try {
    if (typeof value === 'object' && value !== null && typeof (value as Error).message === 'string') {
      const name = typeof (value as Error).name === 'string' ? (value as Error).name : 'Error'
      return `${name}: ${(value as Error).message}`
    }
    if (typeof value === 'string') return value
    if (value === undefined) return 'undefined was thrown'
    return `${typeof value} thrown: ${format('%o', value)}`
  } catch {
    return 'an unprintable value was thrown'
  }
}
