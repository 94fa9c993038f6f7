/**
 * The shape of the source tree, checked: folders reach each other through their index.ts, the store knows
 * nothing of programs or the scheduler, and errors are raised with typed codes, never bare string literals.
 */
import { readFileSync, readdirSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'

const SRC = path.resolve('src')

function sources(dir = SRC): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name)
    return entry.isDirectory() ? sources(full) : entry.name.endsWith('.ts') ? [full] : []
  })
}

/** Every `from '...'` of a file, with the folder of the importing file. */
function imports(file: string): { folder: string; target: string }[] {
  const text = readFileSync(file, 'utf8')
  const folder = path.relative(SRC, path.dirname(file))
  return [...text.matchAll(/\bfrom '(\.{1,2}\/[^']+)'/g)].map((m) => ({
    folder, target: path.relative(SRC, path.resolve(path.dirname(file), m[1]!)),
  }))
}

/**
 * The guest library is bundled into every program's context: it imports the few leaf modules it needs, not
 * whole folders (which would pull node:crypto and the rest into the guest bundle).
 */
const LEAF_IMPORTERS = new Set(['program/guest.ts', 'engine/guest_runtime.ts'])

/**
 * The inspector page runs in a browser: outside its own folder it may import only the standalone verifier, the
 * proof types and the leaf modules with no Node imports (the merkle facade would pull node:crypto in).
 */
const BROWSER_IMPORTS = new Set(['merkle/verify.js', 'merkle/proof_types.js', 'constants.js', 'errors.js'])

describe('source structure', () => {
  const files = sources()

  it('folders reach each other only through their index.ts', () => {
    const offenders: string[] = []
    for (const file of files) {
      const relative = path.relative(SRC, file)
      if (LEAF_IMPORTERS.has(relative) || relative.startsWith('web/page/')) continue
      for (const { folder, target } of imports(file)) {
        const targetFolder = path.dirname(target)
        if (targetFolder === folder || targetFolder === '.' || folder === '.') continue
        if (path.basename(target) !== 'index.js') offenders.push(`${relative} imports ${target}`)
      }
    }
    expect(offenders).toEqual([])
  })

  it('the inspector page imports nothing outside src/web/page/ but the verifier, proof types and constants', () => {
    const offenders: string[] = []
    for (const file of files.filter((f) => path.relative(SRC, f).startsWith('web/page/'))) {
      const text = readFileSync(file, 'utf8')
      // Type-only imports are erased from the bundle: they may name any folder's facade.
      const typeOnly = new Set([...text.matchAll(/\b(?:import|export) type \{[^}]*\} from '(\.{1,2}\/[^']+)'/g)]
        .map((m) => path.relative(SRC, path.resolve(path.dirname(file), m[1]!))))
      for (const { target } of imports(file)) {
        if (target.startsWith('web/page/') || BROWSER_IMPORTS.has(target)) continue
        if (typeOnly.has(target) && path.basename(target) === 'index.js') continue
        offenders.push(`${path.relative(SRC, file)} imports ${target}`)
      }
    }
    expect(offenders).toEqual([])
  })

  it('the inspector page never parses strings as HTML (program-controlled text goes in as text nodes)', () => {
    const offenders = files.filter((f) => path.relative(SRC, f).startsWith('web/page/')).flatMap((file) => {
      const code = readFileSync(file, 'utf8').replace(/^\s*(\/\/|\*).*$/gm, '') // comments may name them
      return [...code.matchAll(/\b(innerHTML|outerHTML|insertAdjacentHTML|document\.write|DOMParser|createContextualFragment)\b/g)]
        .map((m) => `${path.relative(SRC, file)}: ${m[1]}`)
    })
    expect(offenders).toEqual([])
  })

  it('the store imports nothing of programs, the scheduler, the engine or the CLI', () => {
    const offenders = files.filter((f) => path.relative(SRC, f).startsWith('store/')).flatMap((file) =>
      imports(file).filter(({ target }) => /^(program|scheduler|engine|cli)\//.test(target))
        .map(({ target }) => `${path.relative(SRC, file)} imports ${target}`))
    expect(offenders).toEqual([])
  })

  it('raises StrataError with typed codes only, never a bare string literal', () => {
    const offenders: string[] = []
    for (const file of files) {
      const text = readFileSync(file, 'utf8')
      for (const match of text.matchAll(/new StrataError\(\s*(['"`])/g)) {
        const line = text.slice(0, match.index).split('\n').length
        offenders.push(`${path.relative(SRC, file)}:${line}`)
      }
    }
    expect(offenders).toEqual([])
  })
})

describe('error codes', () => {
  it('every module\'s codes are an `as const` object with a union type of the same name', () => {
    const missing: string[] = []
    for (const file of sources()) {
      const text = readFileSync(file, 'utf8')
      for (const match of text.matchAll(/export const (\w+ErrorCode) = \{/g)) {
        const name = match[1]!
        if (!text.includes(`export type ${name} = (typeof ${name})[keyof typeof ${name}]`)) missing.push(`${path.relative(SRC, file)}: ${name}`)
      }
    }
    expect(missing).toEqual([])
  })
})
