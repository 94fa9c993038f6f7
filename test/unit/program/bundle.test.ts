// The bundler's names for the program library: 'strata' and the package's own name give the same code.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { bundleProgram } from '../../../src/program/index.js'

const source = (from: string): string => `import { defineProgram, replyCodeName } from '${from}'
export default defineProgram({ handle(ctx) { ctx.reply(replyCodeName(0)) } })
`

describe('the program library', () => {
  it("is 'strata' or the package's name, 'strata-runtime', with the same code id either way", async () => {
    const manifest = JSON.parse(readFileSync('package.json', 'utf8')) as { name: string; bin: Record<string, string> }
    expect(manifest.name).toBe('strata-runtime') // `strata` on npm is an unrelated package
    expect(Object.keys(manifest.bin)).toEqual(['strata'])
    const dir = mkdtempSync(path.join(os.tmpdir(), 'strata-bundle-'))
    const ids: string[] = []
    for (const from of ['strata', manifest.name]) {
      // The same file name: esbuild derives internal names from it.
      const file = path.join(mkdtempSync(path.join(dir, 'p-')), 'program.ts')
      writeFileSync(file, source(from))
      const { codeId, blob } = await bundleProgram(file)
      expect(new TextDecoder().decode(blob)).toContain('"strata"')
      ids.push(codeId)
    }
    expect(ids[1]).toBe(ids[0])
    writeFileSync(path.join(dir, 'other.ts'), source('strata-runtime/extra'))
    await expect(bundleProgram(path.join(dir, 'other.ts'))).rejects.toMatchObject({ code: 'BAD_CODE' })
  })
})
