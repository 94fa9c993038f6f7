/**
 * Regular expressions in linear time, for the patterns V8's own linear engine cannot run (the `i` and `u` flags,
 * large bounded repeats): a RegExp work-alike over RE2 (the `re2js` port), which explores all matches in one pass
 * and so cannot backtrack for seconds on a crafted input. Runs in the guest realm (bundled with guest_runtime.ts).
 * Patterns that need backtracking (backreferences, lookarounds) throw SyntaxError when built.
 *
 * The methods follow the ECMAScript algorithms for exec, lastIndex, match, matchAll, replace (with `$` patterns and
 * function replacers), search and split, so `String.prototype` methods work on these objects through their
 * Symbol methods. Indices are UTF-16 code units, as in JavaScript. Known differences from V8's engine: `\s` and
 * `\w` follow RE2 (ASCII), and case folding is Unicode simple folding.
 */
import { RE2JS } from 're2js'

export interface LinearRegExpDeps {
  /** Charges gas (the guest kernel's charge). */
  readonly charge: (gas: number) => void
  /**
   * Runs RE2 code with the builtins' own charges off: RE2 fills caches lazily, so what its internals would pay
   * depends on what ran before in the context. It is charged by formula instead (input and pattern size).
   */
  readonly untracked: <T>(run: () => T) => T
  /** Gas per input character scanned (the schedule's computeChar) and per call (computeBuiltin). */
  readonly perChar: number
  readonly builtin: number
  /** The intrinsic RegExp prototype: instances inherit from it, so `instanceof RegExp` holds. */
  readonly prototype: object
}

/**
 * RE2 scans about 150 ns a character here against ~1 ns for V8's engine, and its automaton's size multiplies that:
 * the pattern's length with every bounded repeat `{n,m}` counted m times. RE2 may read to the end of the input even
 * for a short match (`/.*b|a/`), so each search is charged for all the input it may read, before it runs: a global
 * search over a long input pays for every search from its start position (an upper bound, sometimes far above).
 */
const SCAN_CHAR_WEIGHT = 64
const PATTERN_CHARS_PER_STEP = 32
/** Bounded repeats multiply the automaton: `x{1000}` is a thousand states. */
function automatonSize(source: string): number {
  // An upper bound: nested repeats multiply, so every repeat's count multiplies the whole (sequential repeats are
  // over-charged; a repeat inside a repeat, `(?:x{5}){6}`, is not under-charged).
  let factor = 1
  for (const [, low, high] of source.matchAll(/\{(\d+)(?:,(\d*))?\}/g)) factor = Math.min(1_000_000, factor * Math.max(1, Number(high || low)))
  return source.length * factor
}

export function linearRegExpClass(deps: LinearRegExpDeps) {
  const { charge, untracked, perChar, builtin } = deps
  const brand = new WeakSet<object>()

  class LinearRegExp {
    readonly #source: string
    readonly #flags: string
    readonly #pattern: ReturnType<typeof RE2JS.compile>
    readonly #groupNames: readonly (readonly [string, number])[]
    readonly #weight: number
    lastIndex = 0

    constructor(source: string, flags: string) {
      const translated = translate(source)
      let options = 0
      if (flags.includes('i')) options |= RE2JS.CASE_INSENSITIVE
      if (flags.includes('m')) options |= RE2JS.MULTILINE
      if (flags.includes('s')) options |= RE2JS.DOTALL
      if (flags.includes('d') || flags.includes('v')) throw new SyntaxError(`Invalid regular expression /${source}/${flags}: the d and v flags are not available with this pattern`)
      charge(builtin + perChar * 8 * source.length)
      try {
        this.#pattern = untracked(() => RE2JS.compile(translated, options))
      } catch (error) {
        throw new SyntaxError(`Invalid regular expression /${source}/${flags}: ${(error as Error).message}`)
      }
      this.#source = source
      this.#flags = flags
      this.#groupNames = untracked(() => Object.entries(this.#pattern.namedGroups() as Record<string, number>))
      this.#weight = SCAN_CHAR_WEIGHT * (1 + Math.floor(automatonSize(source) / PATTERN_CHARS_PER_STEP))
      brand.add(this)
    }

    get source(): string { return this.#source }
    get flags(): string { return this.#flags }
    get global(): boolean { return this.#flags.includes('g') }
    get ignoreCase(): boolean { return this.#flags.includes('i') }
    get multiline(): boolean { return this.#flags.includes('m') }
    get dotAll(): boolean { return this.#flags.includes('s') }
    get unicode(): boolean { return this.#flags.includes('u') }
    get sticky(): boolean { return this.#flags.includes('y') }
    get hasIndices(): boolean { return false }
    toString(): string { return `/${this.#source}/${this.#flags}` }

    exec(input: unknown): RegExpExecArray | null {
      const s = String(input)
      const advancing = this.global || this.sticky
      const start = advancing ? toLength(this.lastIndex) : 0
      charge(builtin)
      if (start > s.length) {
        if (advancing) this.lastIndex = 0
        return null
      }
      charge(perChar * this.#weight * Math.max(1, s.length - start))
      const match = untracked(() => {
        const matcher = this.#pattern.matcher(s)
        if (!matcher.find(start)) return { found: false, start: 0, end: s.length, groups: [] as (string | null)[] }
        const groups: (string | null)[] = []
        for (let i = 0; i <= matcher.groupCount(); i += 1) groups[i] = matcher.group(i) as string | null
        return { found: true, start: matcher.start() as number, end: matcher.end() as number, groups }
      })
      if (!match.found || (this.sticky && match.start !== start)) {
        if (advancing) this.lastIndex = 0
        return null
      }
      if (advancing) this.lastIndex = match.end
      const result: string[] & { index?: number; input?: string; groups?: Record<string, string | undefined> } = []
      for (let i = 0; i < match.groups.length; i += 1) {
        const group = match.groups[i]!
        result[i] = group === null ? (undefined as unknown as string) : group
      }
      result.index = match.start
      result.input = s
      if (this.#groupNames.length > 0) {
        const groups: Record<string, string | undefined> = Object.create(null)
        for (const [name, index] of this.#groupNames) groups[name] = result[index]
        result.groups = groups
      } else {
        result.groups = undefined
      }
      return result as RegExpExecArray
    }

    test(input: unknown): boolean {
      return this.exec(input) !== null
    }

    [Symbol.match](input: unknown): string[] | null {
      const s = String(input)
      if (!this.global) return this.exec(s)
      this.lastIndex = 0
      const found: string[] = []
      for (;;) {
        const result = this.exec(s)
        if (result === null) return found.length > 0 ? found : null
        found.push(result[0])
        if (result[0] === '') this.lastIndex = advance(s, this.lastIndex, this.unicode)
      }
    }

    *[Symbol.matchAll](input: unknown): IterableIterator<RegExpExecArray> {
      const s = String(input)
      const matcher = new LinearRegExp(this.#source, this.#flags)
      matcher.lastIndex = toLength(this.lastIndex)
      for (;;) {
        const result = matcher.exec(s)
        if (result === null) return
        yield result
        if (!matcher.global) return
        if (result[0] === '') matcher.lastIndex = advance(s, matcher.lastIndex, matcher.unicode)
      }
    }

    [Symbol.search](input: unknown): number {
      const previous = this.lastIndex
      this.lastIndex = 0
      const result = this.exec(input)
      this.lastIndex = previous
      return result === null ? -1 : result.index
    }

    [Symbol.replace](input: unknown, replaceValue: unknown): string {
      const s = String(input)
      const replacer = typeof replaceValue === 'function' ? replaceValue as (...args: unknown[]) => unknown : undefined
      const template = replacer === undefined ? String(replaceValue) : ''
      if (this.global) this.lastIndex = 0
      const results: RegExpExecArray[] = []
      for (;;) {
        const result = this.exec(s)
        if (result === null) break
        results.push(result)
        if (!this.global) break
        if (result[0] === '') this.lastIndex = advance(s, this.lastIndex, this.unicode)
      }
      let out = ''
      let next = 0
      for (const result of results) {
        const matched = result[0]
        const position = result.index
        const captures = result.slice(1)
        const replacement = replacer !== undefined
          ? String(replacer(matched, ...captures, position, s, ...(result.groups !== undefined ? [result.groups] : [])))
          : substitute(template, matched, s, position, captures, result.groups)
        if (position >= next) {
          out += s.slice(next, position) + replacement
          next = position + matched.length
        }
      }
      return out + s.slice(next)
    }

    [Symbol.split](input: unknown, limit?: unknown): string[] {
      const s = String(input)
      const max = limit === undefined ? 2 ** 32 - 1 : Number(limit) >>> 0
      const out: string[] = []
      if (max === 0) return out
      const matcher = untracked(() => this.#pattern.matcher(s))
      const find = (from: number) => untracked(() => {
        if (!matcher.find(from)) return undefined
        const groups: (string | null)[] = []
        for (let i = 1; i <= matcher.groupCount(); i += 1) groups.push(matcher.group(i) as string | null)
        return { start: matcher.start() as number, end: matcher.end() as number, groups }
      })
      charge(builtin)
      if (s.length === 0) return find(0) !== undefined ? out : [s]
      let last = 0
      let from = 0
      while (from < s.length) {
        charge(perChar * this.#weight * Math.max(1, s.length - from))
        const found = find(from)
        if (found === undefined || found.start >= s.length) break
        const { start, end } = found
        if (end === last) {
          from = advance(s, start, this.unicode)
          continue
        }
        out.push(s.slice(last, start))
        if (out.length === max) return out
        for (const group of found.groups) {
          out.push(group === null ? (undefined as unknown as string) : group)
          if (out.length === max) return out
        }
        last = end
        from = end === start ? advance(s, end, this.unicode) : end
      }
      out.push(s.slice(last))
      return out
    }
  }
  Object.setPrototypeOf(LinearRegExp.prototype, deps.prototype)
  return { LinearRegExp, isLinearRegExp: (value: unknown): boolean => typeof value === 'object' && value !== null && brand.has(value) }
}

function toLength(value: unknown): number {
  const n = Number(value)
  if (!(n > 0)) return 0
  return Math.min(Math.floor(n), Number.MAX_SAFE_INTEGER)
}

/** AdvanceStringIndex: one code unit, or one code point with the u flag. */
function advance(s: string, index: number, unicode: boolean): number {
  if (!unicode || index + 1 >= s.length) return index + 1
  const first = s.charCodeAt(index)
  if (first < 0xd800 || first > 0xdbff) return index + 1
  const second = s.charCodeAt(index + 1)
  return second >= 0xdc00 && second <= 0xdfff ? index + 2 : index + 1
}

/** GetSubstitution: $$, $&, $`, $', $1..$99, $<name>. */
function substitute(
  template: string, matched: string, s: string, position: number, captures: readonly (string | undefined)[],
  groups: Record<string, string | undefined> | undefined,
): string {
  if (!template.includes('$')) return template
  let out = ''
  for (let i = 0; i < template.length; i += 1) {
    const c = template[i]!
    const next = template[i + 1]
    if (c !== '$' || next === undefined) {
      out += c
      continue
    }
    if (next === '$') { out += '$'; i += 1 }
    else if (next === '&') { out += matched; i += 1 }
    else if (next === '`') { out += s.slice(0, position); i += 1 }
    else if (next === "'") { out += s.slice(Math.min(s.length, position + matched.length)); i += 1 }
    else if (next >= '0' && next <= '9') {
      const two = template.slice(i + 1, i + 3)
      const twoIndex = /^\d\d$/.test(two) ? Number(two) : 0
      const oneIndex = Number(next)
      if (twoIndex >= 1 && twoIndex <= captures.length) { out += captures[twoIndex - 1] ?? ''; i += 2 }
      else if (oneIndex >= 1 && oneIndex <= captures.length) { out += captures[oneIndex - 1] ?? ''; i += 1 }
      else out += c
    } else if (next === '<' && groups !== undefined) {
      const close = template.indexOf('>', i + 2)
      if (close === -1) out += c
      else {
        out += groups[template.slice(i + 2, close)] ?? ''
        i = close
      }
    } else out += c
  }
  return out
}

/** JavaScript pattern syntax to RE2's where they differ; SyntaxError for what needs backtracking. */
function translate(source: string): string {
  let out = ''
  let inClass = false
  for (let i = 0; i < source.length; i += 1) {
    const c = source[i]!
    if (c === '\\') {
      const next = source[i + 1]
      if (next === undefined) return out + c // RE2 reports the trailing backslash
      if (next === 'u' && source[i + 2] === '{') {
        const close = source.indexOf('}', i + 3)
        if (close !== -1) {
          out += `\\x{${source.slice(i + 3, close)}}`
          i = close
          continue
        }
      }
      if (next === 'u' && /^[0-9a-fA-F]{4}$/.test(source.slice(i + 2, i + 6))) {
        out += `\\x{${source.slice(i + 2, i + 6)}}`
        i += 5
        continue
      }
      if (next === 'c' && /^[A-Za-z]$/.test(source[i + 2] ?? '')) {
        out += `\\x{${(source.charCodeAt(i + 2) % 32).toString(16)}}`
        i += 2
        continue
      }
      if (next === '0' && !/^[0-9]$/.test(source[i + 2] ?? '')) { out += '\\x{0}'; i += 1; continue }
      if (next === 'b' && inClass) { out += '\\x{8}'; i += 1; continue }
      if (next === '/') { out += '/'; i += 1; continue }
      if (!inClass && ((next >= '1' && next <= '9') || next === 'k')) {
        throw new SyntaxError(`Invalid regular expression /${source}/: backreferences need backtracking, which Strata programs cannot use`)
      }
      out += c + next
      i += 1
      continue
    }
    if (inClass) {
      if (c === ']') inClass = false
      out += c
      continue
    }
    if (c === '[') {
      if (source.startsWith('[^]', i)) { out += '(?s:.)'; i += 2; continue }
      if (source.startsWith('[]', i)) { out += '[^\\x{0}-\\x{10FFFF}]'; i += 1; continue }
      inClass = true
      out += c
      continue
    }
    if (c === '(' && source[i + 1] === '?') {
      const kind = source.slice(i + 2, i + 4)
      if (kind[0] === '=' || kind[0] === '!' || kind === '<=' || kind === '<!') {
        throw new SyntaxError(`Invalid regular expression /${source}/: lookarounds need backtracking, which Strata programs cannot use`)
      }
    }
    out += c
  }
  return out
}
