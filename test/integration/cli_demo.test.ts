import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { afterAll, describe, expect, it } from 'vitest'

const run = promisify(execFile)
const strata = (...args: string[]) => run(process.execPath, ['dist/cli/main.js', ...args], { timeout: 120_000 })
const dir = mkdtempSync(path.join(tmpdir(), 'strata-cli-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('strata CLI (the built binary)', () => {
  it('demo runs the example programs, reports every cycle with its state root, and verifies a proof', async () => {
    const proofFile = path.join(dir, 'proof.json')
    const { stdout } = await strata('demo', '--cycles', '6', '--streams', '2', '--proof', proofFile)
    const rows = stdout.split('\n').filter((line) => /^\s+\d+\s+\d+\s+\d+\s+\d+\s+\d+\s+[0-9a-f]{16}\s/.test(line))
    expect(rows.length).toBeGreaterThanOrEqual(7)
    expect(stdout).toMatch(/the winner was told \{"event":"won"/)
    expect(stdout).toMatch(/proof of counter 0's state header .*: verified/)
    const root = /state root ([0-9a-f]{64})/.exec(stdout)![1]!

    // The proof file checks out with `strata verify`, which needs nothing but the file and the root...
    const verified = await strata('verify', proofFile, '--root', root)
    expect(verified.stdout).toMatch(/proof verified: 16 bytes/)
    // ...and fails, with a code and a non-zero exit, once tampered with or against another root.
    const proof = JSON.parse(readFileSync(proofFile, 'utf8')) as { data: string }
    proof.data = (proof.data[0] === 'f' ? '0' : 'f') + proof.data.slice(1)
    const tampered = path.join(dir, 'tampered.json')
    writeFileSync(tampered, JSON.stringify(proof))
    await expect(strata('verify', tampered, '--root', root)).rejects.toMatchObject({ code: 1, stderr: expect.stringContaining('PROOF_REJECTED') })
    await expect(strata('verify', proofFile, '--root', '00'.repeat(32))).rejects.toMatchObject({ code: 1 })
  }, 120_000)

  it('the same demo gives the same final state root on 0 and 2 streams', async () => {
    const roots = await Promise.all(['0', '2'].map(async (streams) => {
      const { stdout } = await strata('demo', '--cycles', '4', '--streams', streams)
      return /state root ([0-9a-f]{64})/.exec(stdout)![1]
    }))
    expect(roots[0]).toBe(roots[1])
  }, 120_000)

  it('memory runs the memory walkthrough and its checks hold', async () => {
    const { stdout } = await strata('memory')
    expect(stdout).toMatch(/byte there = 8 \(expected 8\)/)
    expect(stdout).toMatch(/after rollback the static bytes read "hello from a static region"/)
  })

  it.each([['demo'], ['verify'], ['memory'], []])('strata %j --help prints the usage and exits 0', async (...command) => {
    const { stdout } = await strata(...(command as string[]), '--help')
    expect(stdout).toMatch(/usage: strata <command>/)
  })

  it.each([
    [['nope'], 'USAGE'],
    [['demo', '--cycles', 'x'], 'USAGE'],
    [['verify', 'missing.json', '--root', 'aa'], 'BAD_PROOF_FILE'],
    [['verify'], 'USAGE'],
  ])('strata %j exits non-zero with code %s on stderr', async (args, code) => {
    await expect(strata(...args)).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining(`(code ${code})`) })
  })
})
