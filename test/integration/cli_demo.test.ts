import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'

const run = promisify(execFile)

describe('strata CLI (the built binary)', () => {
  it('demo runs the memory walkthrough and its checks hold', async () => {
    const { stdout } = await run(process.execPath, ['dist/cli/main.js', 'demo'])
    expect(stdout).toMatch(/byte there = 8 \(expected 8\)/)
    expect(stdout).toMatch(/after rollback the static bytes read "hello from a static region"/)
    expect(stdout).toMatch(/planes 8 -> 1/)
  })

  it('an unknown command exits non-zero with a code on stderr', async () => {
    await expect(run(process.execPath, ['dist/cli/main.js', 'nope'])).rejects.toMatchObject({
      code: 2, stderr: expect.stringContaining('UNKNOWN_COMMAND'),
    })
  })
})
