// The README's code runs: each JavaScript block that imports 'strata-runtime' is written to a file inside the package
// (so 'strata-runtime' resolves to the built package, as for a user) and executed with node. The README cannot drift
// from what Strata does.
import { execFile } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { afterAll, describe, expect, it } from 'vitest'

const run = promisify(execFile)
const dir = 'test/.readme'
afterAll(() => {
  rmSync(dir, { recursive: true, force: true })
  rmSync('tour-data', { recursive: true, force: true }) // the tour's data directory
})

const readme = readFileSync('README.md', 'utf8')
const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!)
  .filter((code) => code.includes("from 'strata-runtime'") && !code.includes('defineProgram'))

/** The CLI tour: every `npx strata` line of the README's shell blocks, run in order after a demo. */
const cliTour = [...readme.matchAll(/```sh\n([\s\S]*?)```/g)].flatMap((m) => m[1]!.split('\n'))
  .map((line) => line.replace(/\s+#.*$/, '').trim()).filter((line) => line.startsWith('npx strata '))

describe('README', () => {
  it('has runnable tours', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(2)
  })

  it.each(blocks.map((code, i) => [i, code]))('tour %i runs without error', async (i, code) => {
    mkdirSync(dir, { recursive: true })
    const file = `${dir}/tour_${i}.mjs`
    writeFileSync(file, `${code}\nconsole.log('TOUR_DONE')\n`)
    const { stdout } = await run(process.execPath, [file], { timeout: 60_000 })
    expect(stdout).toContain('TOUR_DONE')
  }, 90_000)

  it('has a CLI tour that runs, in a fresh directory after the demo', async () => {
    expect(cliTour.length).toBeGreaterThanOrEqual(6)
    const cwd = mkdtempSync(path.join(os.tmpdir(), 'strata-readme-'))
    const bin = path.resolve('dist/cli/main.js')
    try {
      await run(process.execPath, [bin, 'demo'], { cwd, timeout: 120_000 })
      const outputs: string[] = []
      for (const line of cliTour) {
        // `npx strata` is this package's bin; the shell handles the README's redirections.
        const { stdout } = await run('sh', ['-c', line.replace(/^npx strata /, `"${process.execPath}" "${bin}" `)], { cwd, timeout: 60_000 })
        outputs.push(stdout)
      }
      const joined = outputs.join('\n')
      expect(joined).toMatch(/proof verified/)
      expect(readFileSync(path.join(cwd, 'proof.json'), 'utf8')).toContain('"format"')
    } finally {
      rmSync(cwd, { recursive: true, force: true })
    }
  }, 180_000)
})
