/**
 * Bundles a program's TypeScript module into one immutable JS blob with esbuild. The blob is what runs and what
 * the store keeps; codeId = SHA-256(blob). The same source (and Strata version) always gives the same blob:
 * paths in the output are relative to the entry's folder, and 'strata' resolves to the compiled guest API.
 */
import { existsSync } from 'node:fs'
import { builtinModules } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { build, type Message as EsbuildMessage, type Plugin } from 'esbuild'
import { CODE_SIZE_MAX_BYTES } from '../constants.js'
import { StrataError, describeValue } from '../errors.js'
import { codeIdOf, type CodeId } from '../message/ids.js'
import { ProgramErrorCode } from './errors.js'

const here = fileURLToPath(import.meta.url)
/**
 * Always the compiled guest (dist/program/guest.js), also when this file runs from src/ under the test runner,
 * so a code id never depends on how Strata itself was loaded.
 */
const GUEST_PATH = here.endsWith('.ts')
  ? path.resolve(path.dirname(here), '../../dist/program/guest.js')
  : path.join(path.dirname(here), 'guest.js')

const NODE_BUILTINS = new Set(builtinModules)

const guardImports: Plugin = {
  name: 'strata-guard',
  setup(b) {
    b.onResolve({ filter: /^strata$/ }, () => ({ path: GUEST_PATH }))
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
  if (!existsSync(GUEST_PATH)) {
    throw new StrataError(ProgramErrorCode.BAD_CODE, `Strata is not built (missing ${GUEST_PATH}); run npm run build`)
  }
  let output: Uint8Array
  try {
    const result = await build({
      entryPoints: [absolute], absWorkingDir: path.dirname(absolute), bundle: true, write: false,
      format: 'cjs', platform: 'neutral', target: 'es2022', mainFields: ['module', 'main'],
      legalComments: 'none', charset: 'utf8', sourcemap: false, logLevel: 'silent', plugins: [guardImports],
    })
    output = result.outputFiles[0]!.contents
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
