/**
 * Instrumentation: turns a bundled program module (ES module text from esbuild) into the body of a function the
 * guest evaluates afresh for every message, with gas and call-depth accounting compiled in.
 *
 *   import { a as b } from 'strata'      ->  const { a: b } = __strata_lib;
 *   export { x as default }              ->  (removed)  ...  return { "default": x };   (at the end)
 *   function f(p) { body }               ->  function f(p) { if ((__strata_g -= W) < 0) __strata_r();
 *                                                            if (++__strata_d > D) __strata_x();
 *                                                            try { body } finally { __strata_d--; } }
 *   for (...) body                       ->  for (...) { if ((__strata_g -= W) < 0) __strata_r(); body }
 *   catch (e) { body }                   ->  catch (e) { __strata_k(e); body }      (halts cannot be caught)
 *   finally { body }                     ->  finally { __strata_f(); body }         (nor swallowed)
 *   ...x  (spread)                       ->  ...__strata_sp(x)                      (charged by length)
 *   a * b, a ** b, a << b, a >> b        ->  inline: a BigInt operand goes to a helper (BigInt sizes checked)
 *   a + b, `...${x}...`                  ->  inline: a string result over STRING_LENGTH_MAX is refused
 *
 * W is the static size of the function or loop body (its AST nodes other than names and literals, not counting nested
 * functions or loop bodies, which charge for themselves) times the schedule's computeNode, plus the call or back-edge base. So every path through a
 * program pays at least for the code it runs, and the same code always pays the same: gas never depends on the JIT,
 * the machine or the time.
 *
 * Refused, with a BAD_CODE error naming the line: dynamic `import()`, `import.meta`, imports from anything but
 * 'strata', `async` functions and `await` (handlers are synchronous; there are no promise jobs to run), and any
 * identifier starting with `__strata` (the instrumentation's own names).
 */
import { parse, type Node, type Options } from 'acorn'
import MagicString from 'magic-string'
import { StrataError } from '../errors.js'
import { CALL_DEPTH_MAX, FRAME_UNIT_NODES, STRING_LENGTH_MAX, type ComputeWeights } from './weights.js'

export const EngineErrorCode = {
  /** Code the engine refuses: a syntax it cannot meter or contain, a reserved name, a bad import or export. */
  BAD_CODE: 'BAD_CODE',
} as const
export type EngineErrorCode = (typeof EngineErrorCode)[keyof typeof EngineErrorCode]

/** Every name the instrumentation introduces starts with this; programs may not use it. */
export const RESERVED_PREFIX = '__strata'

/** Parentheses are kept as nodes, so a rewrite that wraps an expression wraps its parentheses too. */
const PARSE_OPTIONS: Options = { ecmaVersion: 2022, sourceType: 'module', locations: true, preserveParens: true }

type AnyNode = Node & Record<string, unknown>

/** Separator rewrites keep what other rewrites inserted at their edges. */
const KEEP = { contentOnly: true }

const FUNCTION_TYPES = new Set(['FunctionDeclaration', 'FunctionExpression', 'ArrowFunctionExpression'])
const LOOP_TYPES = new Set(['ForStatement', 'ForInStatement', 'ForOfStatement', 'WhileStatement', 'DoWhileStatement'])

export interface InstrumentedCode {
  /** The body of `function (__strata_lib) { ... }`: evaluates the module and returns its exports. */
  readonly body: string
  /**
   * Every name the program uses as a variable. The engine binds each one the guest does not offer, per message, in
   * a scope around the module, so that no name ever resolves on the context's real global object: not `__proto__`
   * (an accessor that would receive the global), not a leftover intrinsic.
   */
  readonly names: readonly string[]
  /** Functions and loops that charge gas (for tests and the benchmark). */
  readonly meteredSites: number
}

export function instrument(source: string, weights: ComputeWeights, name = 'program'): InstrumentedCode {
  let ast: AnyNode
  try {
    ast = parse(source, PARSE_OPTIONS) as unknown as AnyNode
  } catch (error) {
    throw refuse(name, `does not parse: ${(error as Error).message}`)
  }
  const out = new MagicString(source)
  const exports: string[] = []
  const names = new Set<string>()
  /** Where expression statements start: a rewrite that puts "(" there needs a ";" before it (no ASI surprises). */
  const statementStarts = new Set<number>()
  const open = (at: number): string => (statementStarts.has(at) ? ';(' : '(')
  let sites = 0

  const refuseAt = (node: AnyNode, what: string): never => {
    throw refuse(name, `${what} (line ${node.loc?.start.line ?? '?'})`)
  }

  /**
   * Scopes that hold the temporaries of inline arithmetic checks: the module and every function. `active` counts
   * the checked operators being visited inside each other (each nesting level has its own pair of temporaries),
   * `levels` the most this scope needed; `inParams` marks a function's parameter list, which cannot see the body's
   * declarations (a checked operator there calls its helper instead).
   */
  const scopes: { active: number; levels: number; inParams: boolean }[] = [{ active: 0, levels: 0, inParams: false }]
  const temporaries = (levels: number): string => {
    const names: string[] = []
    for (let level = 0; level < levels; level += 1) names.push(`__strata_a${level}`, `__strata_b${level}`)
    return names.length > 0 ? `let ${names.join(', ')}; ` : ''
  }

  /**
   * Inserts the entry charge, the depth guard and the function's temporaries. Called after the function's children
   * were visited, so its openers go before theirs at the same position (prependLeft) and its closers after.
   */
  const meterFunction = (fn: AnyNode, levels: number): void => {
    const size = sizeOf(fn.params as AnyNode[]) + sizeOf(fn.body as AnyNode)
    const weight = weights.call + weights.perNode * size + weights.perElement * (slotsOf(fn.params as AnyNode[]) + slotsOf(fn.body as AnyNode))
    // Depth counts in frame units: a large function's frame holds more registers, so it counts for more, and the
    // limit stays far below the smallest real stack whatever the functions look like.
    const frame = 1 + Math.floor(size / FRAME_UNIT_NODES)
    const enter = frame === 1
      ? `if ((__strata_g -= ${weight}) < 0) __strata_r(); if (++__strata_d > ${CALL_DEPTH_MAX}) __strata_x(); `
      : `if ((__strata_g -= ${weight}) < 0) __strata_r(); if ((__strata_d += ${frame}) > ${CALL_DEPTH_MAX}) __strata_x(); `
    const leave = frame === 1 ? '__strata_d--;' : `__strata_d -= ${frame};`
    const body = fn.body as AnyNode
    sites += 1
    if (body.type === 'BlockStatement') {
      const statements = body.body as AnyNode[]
      // Directives ('use strict') must stay first.
      let at = body.start + 1
      for (const statement of statements) {
        if (statement.type === 'ExpressionStatement' && typeof statement.directive === 'string') at = statement.end
        else break
      }
      out.prependLeft(at, ` ${enter}${temporaries(levels)}try {`)
      // Right of the brace's position: after anything nested that closes there, and after the opener of an empty body.
      out.appendRight(body.end - 1, `} finally { ${leave} } `)
    } else {
      out.prependLeft(body.start, `{ ${enter}${temporaries(levels)}try { return (`)
      out.appendLeft(body.end, `); } finally { ${leave} } }`)
    }
  }

  /** a OP b, checked inline: numbers go straight through; a BigInt on either side goes to the helper. */
  const checkArithmetic = (node: AnyNode, helper: string, operator: string): void => {
    const left = node.left as AnyNode
    const right = node.right as AnyNode
    const scope = scopes[scopes.length - 1]!
    if (scope.inParams) {
      out.appendLeft(left.start, `${helper}(`)
      out.overwrite(left.end, right.start, ', ', KEEP)
      out.prependLeft(right.end, ')')
      return
    }
    const level = scope.active
    scope.levels = Math.max(scope.levels, level + 1)
    const a = `__strata_a${level}`
    const b = `__strata_b${level}`
    out.appendLeft(left.start, `${open(left.start)}${a} = `)
    out.overwrite(left.end, right.start, `, ${b} = `, KEEP)
    out.prependLeft(right.end, checked(a, b, operator, helper))
    scope.active += 1
    visit(left, node)
    visit(right, node)
    scope.active -= 1
  }

  /** The rest of an inline check, after `(a = left, b = right`. */
  const checked = (a: string, b: string, operator: string, helper: string): string => (operator === '+'
    // A sum may be a string: ropes grow in O(1), so their length is capped where they are made.
    // (and a BigInt turned into text by the sum pays for the conversion).
    ? `, ${a} = typeof ${a} === 'bigint' || typeof ${b} === 'bigint' ? __strata_add(${a}, ${b}) : ${a} + ${b}, typeof ${a} === 'string' && ${a}.length > ${STRING_LENGTH_MAX} ? __strata_long(${a}) : ${a})`
    // Anything but two numbers goes to the helper: an object's valueOf may return a BigInt.
    : `, typeof ${a} !== 'number' || typeof ${b} !== 'number' ? ${helper}(${a}, ${b}) : ${a} ${operator} ${b})`)

  const meterLoop = (loop: AnyNode): void => {
    const parts = [loop.test, loop.update, loop.left, loop.body].filter((p): p is AnyNode => p != null)
    const weight = weights.loop + parts.reduce((sum, p) => sum + weights.perNode * sizeOf(p) + weights.perElement * slotsOf(p), 0)
    const charge = `if ((__strata_g -= ${weight}) < 0) __strata_r(); `
    const body = loop.body as AnyNode
    sites += 1
    if (body.type === 'BlockStatement') {
      out.appendLeft(body.start + 1, ` ${charge}`)
    } else {
      out.appendLeft(body.start, `{ ${charge}`)
      out.prependLeft(body.end, ' }')
    }
  }

  const visit = (node: AnyNode, parent: AnyNode | undefined): void => {
    switch (node.type) {
      case 'ImportDeclaration': {
        if (parent !== ast) refuseAt(node, 'imports must be at the top level')
        const from = (node.source as AnyNode).value
        if (from !== 'strata') refuseAt(node, `import from ${JSON.stringify(from)}: programs import only 'strata'`)
        const parts: string[] = []
        let namespace: string | undefined
        for (const spec of node.specifiers as AnyNode[]) {
          const local = (spec.local as AnyNode).name as string
          if (spec.type === 'ImportNamespaceSpecifier') namespace = local
          else if (spec.type === 'ImportDefaultSpecifier') refuseAt(node, "'strata' has no default export")
          else parts.push(`${JSON.stringify(importedName(spec.imported as AnyNode))}: ${local}`)
        }
        const text = (parts.length > 0 ? `const { ${parts.join(', ')} } = __strata_lib;` : '')
          + (namespace !== undefined ? `const ${namespace} = __strata_lib;` : '')
        out.overwrite(node.start, node.end, text.length > 0 ? text : ';')
        return
      }
      case 'ExportNamedDeclaration': {
        if (node.source != null) refuseAt(node, 're-exports are not supported; export local names')
        const declaration = node.declaration as AnyNode | null
        if (declaration != null) {
          for (const id of declaredNames(declaration)) exports.push(`${JSON.stringify(id)}: ${id}`)
          out.remove(node.start, declaration.start)
          visit(declaration, node)
          return
        }
        for (const spec of node.specifiers as AnyNode[]) {
          exports.push(`${JSON.stringify(importedName(spec.exported as AnyNode))}: ${(spec.local as AnyNode).name as string}`)
        }
        out.overwrite(node.start, node.end, ';')
        return
      }
      case 'ExportDefaultDeclaration': {
        const declaration = node.declaration as AnyNode
        const id = (declaration.id as AnyNode | null)?.name as string | undefined
        if (id !== undefined && (declaration.type === 'FunctionDeclaration' || declaration.type === 'ClassDeclaration')) {
          out.remove(node.start, declaration.start)
          exports.push(`"default": ${id}`)
        } else {
          out.overwrite(node.start, declaration.start, 'const __strata_default = ')
          exports.push('"default": __strata_default')
        }
        visit(declaration, node)
        return
      }
      case 'ExportAllDeclaration':
        refuseAt(node, 're-exports are not supported; export local names')
        break
      case 'ImportExpression':
        refuseAt(node, 'dynamic import() is not available to programs')
        break
      case 'MetaProperty':
        if ((node.meta as AnyNode).name === 'import') refuseAt(node, 'import.meta is not available to programs')
        break
      case 'AwaitExpression':
        refuseAt(node, 'await is not supported: handlers are synchronous')
        break
      case 'ForOfStatement':
        if (node.await === true) refuseAt(node, 'for await is not supported: handlers are synchronous')
        break
      case 'Identifier':
      case 'PrivateIdentifier':
        if ((node.name as string).startsWith(RESERVED_PREFIX)) {
          refuseAt(node, `the name ${node.name as string} is reserved (names starting with ${RESERVED_PREFIX})`)
        }
        if (node.type === 'Identifier' && !isPropertyName(node, parent)) names.add(node.name as string)
        return
      case 'CatchClause': {
        const body = node.body as AnyNode
        const param = node.param as AnyNode | null
        if (param == null) out.appendLeft(body.start + 1, ' __strata_k(undefined);')
        else if (param.type === 'Identifier') out.appendLeft(body.start + 1, ` __strata_k(${param.name as string});`)
        else {
          // A destructuring catch parameter would run program code (getters) before the check: bind it plainly.
          visit(param, node)
          const pattern = out.slice(param.start, param.end)
          out.overwrite(param.start, param.end, '__strata_e')
          out.appendLeft(body.start + 1, ` __strata_k(__strata_e); let ${pattern} = __strata_e;`)
          visit(body, node)
          return
        }
        break
      }
      case 'TryStatement': {
        const finalizer = node.finalizer as AnyNode | null
        if (finalizer != null) out.appendLeft(finalizer.start + 1, ' __strata_f();')
        break
      }
      case 'SpreadElement': {
        // Spreading copies natively: charge by size first ([...x], f(...x) with an argument cap, {...o}).
        const helper = parent?.type === 'ObjectExpression' ? '__strata_so' : parent?.type === 'ArrayExpression' ? '__strata_sp' : '__strata_sa'
        out.appendLeft((node.argument as AnyNode).start, `${helper}(`)
        out.prependLeft((node.argument as AnyNode).end, ')')
        break
      }
      case 'VariableDeclarator':
        if (node.init != null && hasArrayRest(node.id as AnyNode)) wrapCall(node.init as AnyNode, '__strata_sp')
        else if (node.init != null && hasObjectRest(node.id as AnyNode)) wrapCall(node.init as AnyNode, '__strata_so')
        break
      case 'AssignmentExpression':
        if (hasArrayRest(node.left as AnyNode)) wrapCall(node.right as AnyNode, '__strata_sp')
        else if (hasObjectRest(unparenthesized(node.left as AnyNode))) wrapCall(node.right as AnyNode, '__strata_so')
        else if (ARITHMETIC_ASSIGN[node.operator as string] !== undefined) {
          // x op= y  ->  x = helper(x, y): only for plain names (a member target would be evaluated twice).
          const left = unparenthesized(node.left as AnyNode)
          const object = left.object as AnyNode | undefined
          const simpleObject = object !== undefined && (object.type === 'ThisExpression' || object.type === 'Super' || object.type === 'Identifier')
          if (left.type === 'MemberExpression' && simpleObject && ((left.property as AnyNode).type === 'PrivateIdentifier' || object!.type === 'Super')) {
            // this.#p op= y  ->  this.#p = helper(this.#p, y): a private name cannot be passed; `this` is safe to repeat.
            out.overwrite(left.end, (node.right as AnyNode).start, ` = ${ARITHMETIC_ASSIGN[node.operator as string]!}(${source.slice(left.start, left.end)}, `, KEEP)
            out.prependLeft((node.right as AnyNode).end, ')')
          } else if (left.type === 'Identifier' && !scopes[scopes.length - 1]!.inParams) {
            // x op= y  ->  x = (a = x, b = y, typeof a === 'bigint' || ... ? helper(a, b) : a op b)
            const scope = scopes[scopes.length - 1]!
            const level = scope.active
            scope.levels = Math.max(scope.levels, level + 1)
            const a = `__strata_a${level}`
            const b = `__strata_b${level}`
            const operator = (node.operator as string).slice(0, -1)
            const right = node.right as AnyNode
            out.overwrite(left.end, right.start, ` = (${a} = ${left.name as string}, ${b} = `, KEEP)
            out.prependLeft(right.end, checked(a, b, operator, ARITHMETIC_ASSIGN[node.operator as string]!))
            visit(left, node)
            scope.active += 1
            visit(right, node)
            scope.active -= 1
            return
          } else if (left.type === 'Identifier') {
            out.overwrite(left.end, (node.right as AnyNode).start, ` = ${ARITHMETIC_ASSIGN[node.operator as string]!}(${left.name as string}, `, KEEP)
            out.prependLeft((node.right as AnyNode).end, ')')
          } else if (left.type === 'MemberExpression' && object!.type !== 'Super'
            && (left.property as AnyNode).type !== 'PrivateIdentifier') {
            // o.p op= y  ->  __strata_opm(op, o, "p", y): the object and key are evaluated once, as before.
            const property = left.property as AnyNode
            const op = JSON.stringify(node.operator as string)
            out.appendLeft(node.start, `__strata_opm(${op}, `)
            if (left.computed === true) {
              out.overwrite(object!.end, property.start, ', ', KEEP)
              out.overwrite(property.end, (node.right as AnyNode).start, ', ', KEEP)
            } else {
              out.overwrite(object!.end, (node.right as AnyNode).start, `, ${JSON.stringify(property.name as string)}, `, KEEP)
            }
            out.prependLeft((node.right as AnyNode).end, ')')
          } else {
            refuseAt(node, `${node.operator as string} on ${left.type === 'MemberExpression' ? 'a private or super property' : 'a pattern'}: write x = x ${(node.operator as string).slice(0, -1)} y`)
          }
        }
        break
      case 'ExpressionStatement':
        statementStarts.add(node.start)
        break
      case 'TemplateLiteral':
        if ((node.expressions as AnyNode[]).length > 0 && parent?.type !== 'TaggedTemplateExpression' && !scopes[scopes.length - 1]!.inParams) {
          const scope = scopes[scopes.length - 1]!
          const level = scope.active
          scope.levels = Math.max(scope.levels, level + 1)
          const a = `__strata_a${level}`
          out.appendLeft(node.start, `${open(node.start)}${a} = `)
          out.prependLeft(node.end, `, ${a}.length > ${STRING_LENGTH_MAX} ? __strata_long(${a}) : ${a})`)
          // Each interpolated value that is a BigInt pays for its conversion to text.
          for (const expression of node.expressions as AnyNode[]) {
            out.appendLeft(expression.start, '__strata_text(')
            out.prependLeft(expression.end, ')')
          }
          scope.active += 1
          for (const child of children(node)) visit(child, node)
          scope.active -= 1
          return
        }
        break
      case 'Literal':
        // Every pattern must run in linear time: literals are built by the engine (V8 or RE2), not by V8 alone.
        if (node.regex != null) {
          const { pattern, flags } = node.regex as { pattern: string; flags: string }
          out.overwrite(node.start, node.end, `__strata_re(${JSON.stringify(pattern)}, ${JSON.stringify(flags)})`)
        }
        return
      case 'UnaryExpression':
        // Deleting a property turns an object into a dictionary: about as costly as a builtin call.
        if (node.operator === 'delete') {
          out.appendLeft(node.start, `${open(node.start)}__strata_g -= ${2 * weights.builtin}, __strata_g < 0 && __strata_r(), `)
          out.prependLeft(node.end, ')')
        }
        break
      case 'BinaryExpression': {
        // The operators that can grow a BigInt by more than a bit are checked by size (numbers pass straight through).
        const helper = ARITHMETIC[node.operator as string]
        if (helper !== undefined) {
          checkArithmetic(node, helper, node.operator as string)
          return
        }
        break
      }
      default:
        break
    }
    if (FUNCTION_TYPES.has(node.type)) {
      if (node.async === true) refuseAt(node, 'async functions are not supported: handlers are synchronous')
      const scope = { active: 0, levels: 0, inParams: true }
      scopes.push(scope)
      if (node.id != null) visit(node.id as AnyNode, node)
      for (const param of node.params as AnyNode[]) visit(param, node)
      scope.inParams = false
      visit(node.body as AnyNode, node)
      scopes.pop()
      meterFunction(node, scope.levels)
      return
    }
    if (LOOP_TYPES.has(node.type)) meterLoop(node)
    for (const child of children(node)) visit(child, node)
  }

  const wrapCall = (node: AnyNode, helper: string): void => {
    out.appendLeft(node.start, `${helper}(`)
    out.prependLeft(node.end, ')')
  }

  visit(ast, undefined)
  // The module's own top level runs on every message too: it pays for its straight-line code like a function.
  out.prepend(`${temporaries(scopes[0]!.levels)}if ((__strata_g -= ${weights.call + weights.perNode * sizeOf(ast) + weights.perElement * slotsOf(ast)}) < 0) __strata_r();\n`)
  out.append(`\nreturn { ${exports.join(', ')} };\n`)
  return { body: out.toString(), meteredSites: sites, names: [...names] }
}

const ARITHMETIC: Readonly<Record<string, string>> = { '*': '__strata_mul', '**': '__strata_pow', '<<': '__strata_shl', '>>': '__strata_shr', '+': '__strata_add', '-': '__strata_sub' }
const ARITHMETIC_ASSIGN: Readonly<Record<string, string>> = { '*=': '__strata_mul', '**=': '__strata_pow', '<<=': '__strata_shl', '>>=': '__strata_shr', '+=': '__strata_add', '-=': '__strata_sub' }

/** Whether an identifier names a property, a label or a meta property rather than a variable. */
function isPropertyName(node: AnyNode, parent: AnyNode | undefined): boolean {
  if (parent === undefined) return false
  switch (parent.type) {
    case 'MemberExpression': return parent.property === node && parent.computed !== true
    case 'Property': case 'PropertyDefinition': case 'MethodDefinition':
      return parent.key === node && parent.computed !== true && parent.value !== node
    case 'LabeledStatement': case 'BreakStatement': case 'ContinueStatement': return true
    case 'MetaProperty': return true
    case 'ExportSpecifier': case 'ImportSpecifier': return true
    default: return false
  }
}

function unparenthesized(node: AnyNode): AnyNode {
  return node.type === 'ParenthesizedExpression' ? unparenthesized(node.expression as AnyNode) : node
}

/** An object pattern with a rest element copies the rest of its source's properties natively. */
function hasObjectRest(pattern: AnyNode): boolean {
  return pattern.type === 'ObjectPattern' && (pattern.properties as AnyNode[]).some((p) => p.type === 'RestElement')
}

/** An array pattern with a rest element copies the rest of its source natively. */
function hasArrayRest(pattern: AnyNode): boolean {
  return pattern.type === 'ArrayPattern' && (pattern.elements as (AnyNode | null)[]).some((e) => e?.type === 'RestElement')
}

function importedName(node: AnyNode): string {
  return node.type === 'Literal' ? String(node.value) : node.name as string
}

function declaredNames(declaration: AnyNode): string[] {
  if (declaration.type === 'VariableDeclaration') {
    return (declaration.declarations as AnyNode[]).flatMap((d) => patternNames(d.id as AnyNode))
  }
  const id = declaration.id as AnyNode | null
  return id == null ? [] : [id.name as string]
}

function patternNames(pattern: AnyNode): string[] {
  switch (pattern.type) {
    case 'Identifier': return [pattern.name as string]
    case 'ObjectPattern': return (pattern.properties as AnyNode[]).flatMap((p) => patternNames((p.value ?? p.argument) as AnyNode))
    case 'ArrayPattern': return (pattern.elements as (AnyNode | null)[]).flatMap((e) => (e === null ? [] : patternNames(e)))
    case 'RestElement': return patternNames(pattern.argument as AnyNode)
    case 'AssignmentPattern': return patternNames(pattern.left as AnyNode)
    default: return []
  }
}

/** The child nodes of a node, in source order. */
function children(node: AnyNode): AnyNode[] {
  const result: AnyNode[] = []
  for (const key of Object.keys(node)) {
    if (key === 'loc' || key === 'start' || key === 'end' || key === 'type') continue
    const value = node[key]
    if (Array.isArray(value)) {
      for (const item of value) if (item !== null && typeof item === 'object' && typeof item.type === 'string') result.push(item as AnyNode)
    } else if (value !== null && typeof value === 'object' && typeof (value as AnyNode).type === 'string') {
      result.push(value as AnyNode)
    }
  }
  return result
}

/**
 * Static size: the AST nodes of straight-line code, where a nested function counts 1 (creating the closure) and a
 * nested loop counts its head only (its body, test and update charge per iteration).
 */
function sizeOf(node: AnyNode | AnyNode[]): number {
  if (Array.isArray(node)) return node.reduce((sum, n) => sum + sizeOf(n), 0)
  if (FUNCTION_TYPES.has(node.type)) return 1
  if (LOOP_TYPES.has(node.type)) {
    return 1 + (node.type === 'ForStatement' && node.init != null ? sizeOf(node.init as AnyNode) : 0)
      + (node.right != null ? sizeOf(node.right as AnyNode) : 0)
  }
  // Names, literals and parentheses cost nothing of their own once compiled; operations do.
  let size = FREE_NODES.has(node.type) ? 0 : 1
  for (const child of children(node)) size += sizeOf(child)
  return size
}

const FREE_NODES = new Set(['Identifier', 'Literal', 'ThisExpression', 'Super', 'TemplateElement', 'ParenthesizedExpression', 'EmptyStatement'])

/**
 * Static allocation: the heap slots straight-line code allocates per pass (same region as sizeOf), each charged
 * like an element a builtin allocates. An object or array literal allocates one per property or element plus its
 * header, `new` and a class a few, a closure one. So gas bounds memory too: a loop that links objects pays about
 * 100 gas for each, not the few gas its nodes would.
 */
function slotsOf(node: AnyNode | AnyNode[]): number {
  if (Array.isArray(node)) return node.reduce((sum, n) => sum + slotsOf(n), 0)
  if (FUNCTION_TYPES.has(node.type)) return 1
  if (LOOP_TYPES.has(node.type)) {
    return (node.type === 'ForStatement' && node.init != null ? slotsOf(node.init as AnyNode) : 0)
      + (node.right != null ? slotsOf(node.right as AnyNode) : 0)
  }
  let slots = 0
  switch (node.type) {
    case 'ObjectExpression': slots = 1 + (node.properties as AnyNode[]).length; break
    case 'ArrayExpression': slots = 1 + (node.elements as unknown[]).length; break
    case 'NewExpression': slots = 2; break
    case 'ClassExpression': case 'ClassDeclaration': slots = 2; break
    case 'TemplateLiteral': slots = (node.expressions as AnyNode[]).length > 0 ? 1 : 0; break
    default: break
  }
  for (const child of children(node)) slots += slotsOf(child)
  return slots
}

function refuse(name: string, what: string): StrataError {
  return new StrataError(EngineErrorCode.BAD_CODE, `${name}: ${what}`, { code: name })
}
