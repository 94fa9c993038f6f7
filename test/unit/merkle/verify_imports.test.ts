import { readFileSync } from 'node:fs'
import { builtinModules, createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const here = path.dirname(fileURLToPath(import.meta.url))
const repo = path.resolve(here, '../../..')
const require = createRequire(import.meta.url)
const BUILTINS = new Set(builtinModules)

/** Every module specifier in a source text: static imports and re-exports (type-only ones too), dynamic imports, requires. */
function specifiers(source: string): string[] {
  const found: string[] = []
  const patterns = [
    /\b(?:import|export)\s[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]/g,
    /\bimport\s*['"]([^'"]+)['"]/g,
    /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
    /\brequire\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
  ]
  for (const pattern of patterns) for (const match of source.matchAll(pattern)) found.push(match[1]!)
  return found
}

function resolveFile(specifier: string, from: string): string {
  if (specifier.startsWith('.')) {
    const target = path.resolve(path.dirname(from), specifier)
    // Sources import './x.js' for './x.ts' (NodeNext); package files import real files, with or without extension.
    return from.endsWith('.ts') && target.endsWith('.js') ? target.replace(/\.js$/, '.ts') : require.resolve(target)
  }
  return require.resolve(specifier, { paths: [path.dirname(from)] })
}

/** Walks the import graph from `entry`, including into packages; returns files and every specifier seen. */
function importGraph(entry: string): { files: string[]; specifiers: string[] } {
  const seen = new Set<string>()
  const all: string[] = []
  const queue = [entry]
  while (queue.length > 0) {
    const file = queue.pop()!
    if (seen.has(file)) continue
    seen.add(file)
    for (const specifier of specifiers(readFileSync(file, 'utf8'))) {
      all.push(specifier)
      if (specifier.startsWith('node:') || BUILTINS.has(specifier)) continue
      queue.push(resolveFile(specifier, file))
    }
  }
  return { files: [...seen], specifiers: all }
}

describe('the standalone verifier', () => {
  it('imports nothing from Node anywhere in its import graph', () => {
    const { files, specifiers: all } = importGraph(path.join(repo, 'src/merkle/verify.ts'))
    const nodeImports = all.filter((s) => s.startsWith('node:') || BUILTINS.has(s))
    expect(nodeImports).toEqual([])
    const relative = files.map((f) => path.relative(repo, f))
    // The walk really went through the verifier's own modules and into @noble/hashes.
    expect(relative).toContain('src/merkle/portable_hasher.ts')
    expect(relative).toContain('src/merkle/leaf_hash.ts')
    expect(relative.some((f) => f.includes('@noble/hashes') && f.endsWith('sha2.js'))).toBe(true)
    expect(relative).not.toContain('src/merkle/native_hasher.ts')
  })

  it('the walker does see Node imports where they are (the prover)', () => {
    const { specifiers: all } = importGraph(path.join(repo, 'src/merkle/prove.ts'))
    expect(all).toContain('node:buffer')
    expect(all).toContain('node:crypto')
  })
})
