/**
 * Bundles child.ts (TypeScript) into one ES module that `node` runs directly in a child process or a worker
 * thread. Packages stay external, so the bundle is written under the repository's node_modules/.cache, from
 * where Node resolves `lmdb` and `msgpackr` as the tests do.
 */
import { buildSync } from 'esbuild'
import { mkdirSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
const repo = path.resolve(here, '../../..')

let built: string | undefined

export function childBundle(): string {
  if (built !== undefined) return built
  const outDir = path.join(repo, 'node_modules', '.cache', 'strata-store-test')
  mkdirSync(outDir, { recursive: true })
  const outfile = path.join(outDir, `child-${process.pid}.mjs`)
  buildSync({
    entryPoints: [path.join(here, 'child.ts')], outfile, bundle: true, platform: 'node', format: 'esm',
    packages: 'external', target: 'node20', logLevel: 'warning',
  })
  built = outfile
  return outfile
}
