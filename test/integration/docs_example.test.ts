// The program in docs/programs.md, taken from the page itself: a program written only against the documented
// API can be uploaded, run and inspected, and the page cannot drift from what Strata does.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { Runtime } from '../../src/index.js'

const dir = mkdtempSync(path.join(tmpdir(), 'strata-docs-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('docs/programs.md', () => {
  it('its complete example runs as the page says', async () => {
    const page = readFileSync('docs/programs.md', 'utf8')
    const program = /```ts\n(\/\/ programs\/greeter\.ts\n[\s\S]*?)```/.exec(page)?.[1]
    expect(program).toBeDefined()
    const file = path.join(dir, 'greeter.ts')
    writeFileSync(file, program!)

    const rt = await Runtime.open({ store: 'memory', streams: 0 })
    try {
      const codeId = await rt.uploadCode(file)
      const greeter = await rt.createProgram(codeId, { payload: new TextEncoder().encode('hi'), gasLimit: 10_000_000 })
      const me = 'ab'.repeat(32)
      rt.send({ source: me, destination: greeter, payload: new TextEncoder().encode('Ada'), gasLimit: 1_000_000 })
      await rt.runUntilIdle()
      const texts = rt.mailbox(me).map((e) => new TextDecoder().decode(e.message.payload))
      expect(texts).toContain('hi, Ada (visitor 1)')
      // Inspect: the state lives in the program's 3D memory (a static header and a heap block).
      const view = rt.program(greeter)
      expect(view.record().status).toBe('active')
      expect(view.stats().regions.map((r) => r.type)).toEqual(['static', 'heap'])
      expect(view.allocations().length).toBe(2)
    } finally {
      await rt.close()
    }
  })
})
