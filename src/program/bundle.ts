/**
 * Bundles a program's TypeScript module into one immutable JS blob with esbuild: an ES module whose only import is
 * 'strata' (the program library, which the engine provides inside the program's context). The blob is what runs
 * and what the store keeps; codeId = SHA-256(blob). The same source always gives the same blob, wherever Strata or
 * the program file lives: 'strata' is not inlined, comments (esbuild writes each module's path in one) are
 * stripped, and the path keys of esbuild's module wrappers are replaced by their order.
 */
import { existsSync } from 'node:fs'
import { builtinModules } from 'node:module'
import path from 'node:path'
import { parse, type CallExpression, type Node } from 'acorn'
import { simple } from 'acorn-walk'
import { build, type Message as EsbuildMessage, type Plugin } from 'esbuild'
import MagicString from 'magic-string'
import { CODE_SIZE_MAX_BYTES } from '../constants.js'
import { StrataError, describeValue } from '../errors.js'
import { codeIdOf, type CodeId } from '../message/index.js'
import { ProgramErrorCode } from './errors.js'

const NODE_BUILTINS = new Set(builtinModules)

const guardImports: Plugin = {
  name: 'strata-guard',
  setup(b) {
    // Both names of the program library resolve to the same import, so a program's code id does not depend on which it used.
    b.onResolve({ filter: /^strata(-runtime)?$/ }, () => ({ path: 'strata', external: true }))
    b.onResolve({ filter: /.*/ }, (args) => {
      const bare = args.path.replace(/^node:/, '').split('/')[0]!
      if (args.path.startsWith('node:') || NODE_BUILTINS.has(args.path) || NODE_BUILTINS.has(bare)) {
        return {
          errors: [{
            text: `import of Node built-in '${args.path}' is not allowed in a program: programs are deterministic ` +
              `and see no files, network, clock or process`,
          }],
        }
      }
      return undefined
    })
  },
}

const encoder = new TextEncoder()

/**
 * The bundle without anything that depends on where files live: comments (esbuild names every bundled module's
 * path in one) and the path keys of its CommonJS and lazy-ESM module wrappers (`__commonJS({ "../x/index.js"() {} })`),
 * which become "module 0", "module 1", ... in order (the wrappers only read the key back by position).
 */
function withoutPaths(source: string, entry: string): string {
  const out = new MagicString(source)
  let ast: Node
  try {
    ast = parse(source, {
      ecmaVersion: 'latest', sourceType: 'module',
      // A multi-line block comment counts as a line break (automatic semicolons): keep one.
      onComment: (block, text, start, end) => {
        if (block && /[\n\r\u2028\u2029]/.test(text)) out.overwrite(start, end, '\n')
        else out.remove(start, end)
      },
    })
  } catch (error) {
    throw new StrataError(ProgramErrorCode.BAD_CODE, `cannot bundle ${JSON.stringify(entry)}: ${(error as Error).message}`, { path: entry })
  }
  let wrapped = 0
  simple(ast, {
    CallExpression(node) {
      const call = node as CallExpression
      if (call.callee.type !== 'Identifier' || !WRAPPERS.has(call.callee.name)) return
      const [modules] = call.arguments
      if (modules?.type !== 'ObjectExpression') return
      for (const property of modules.properties) {
        if (property.type === 'Property' && property.key.type === 'Literal' && typeof property.key.value === 'string') {
          out.overwrite(property.key.start, property.key.end, JSON.stringify(`module ${wrapped}`))
          wrapped += 1
        }
      }
    },
  })
  return out.toString()
}

/** esbuild's module wrappers, keyed by path. */
const WRAPPERS = new Set(['__commonJS', '__esm'])

export interface BundledCode {
  readonly codeId: CodeId
  readonly blob: Uint8Array
}

export async function bundleProgram(entry: string): Promise<BundledCode> {
  if (typeof entry !== 'string' || entry.length === 0) {
    throw new StrataError(ProgramErrorCode.BAD_CODE, `code path must be a non-empty string, got ${describeValue(entry)}`)
  }
  const absolute = path.resolve(entry)
  if (!existsSync(absolute)) {
    throw new StrataError(ProgramErrorCode.BAD_CODE, `no program file at ${JSON.stringify(entry)}`, { path: entry })
  }
  let output: Uint8Array
  try {
    const result = await build({
      entryPoints: [absolute], absWorkingDir: path.dirname(absolute), bundle: true, write: false,
      format: 'esm', platform: 'neutral', target: 'es2022', mainFields: ['module', 'main'],
      legalComments: 'none', charset: 'utf8', sourcemap: false, logLevel: 'silent', plugins: [guardImports],
    })
    output = encoder.encode(withoutPaths(result.outputFiles[0]!.text, entry))
  } catch (error) {
    const errors = (error as { errors?: EsbuildMessage[] }).errors ?? []
    const first = errors[0]
    const where = first?.location ? ` (${first.location.file}:${first.location.line}:${first.location.column})` : ''
    throw new StrataError(ProgramErrorCode.BAD_CODE,
      `cannot bundle ${JSON.stringify(entry)}: ${first?.text ?? (error as Error).message}${where}`, { path: entry })
  }
  if (output.length > CODE_SIZE_MAX_BYTES) {
    throw new StrataError(ProgramErrorCode.BAD_CODE,
      `bundled code is ${output.length} bytes, over the ${CODE_SIZE_MAX_BYTES}-byte limit`, { path: entry })
  }
  const blob = Uint8Array.from(output)
  return { codeId: codeIdOf(blob), blob }
}
