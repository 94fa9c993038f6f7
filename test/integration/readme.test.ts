// The README's code runs: each JavaScript block that imports 'strata' is written to a file inside the package
// (so 'strata' resolves to the built package, as for a user) and executed with node. The README cannot drift
// from what Strata does.
import { execFile } from 'node:child_process'
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
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
  .filter((code) => code.includes("from 'strata'") && !code.includes('defineProgram'))

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
})
