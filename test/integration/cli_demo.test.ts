// `strata demo`, `verify`, `memory` and the command line's help and usage errors, through the built binary on
// temporary data directories. The commands on an existing data directory are in cli_data.test.ts.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { strata, strataFails, strataJson } from './cli_helpers.js'

const dir = mkdtempSync(path.join(tmpdir(), 'strata-cli-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const ROW = /^\s+(\d+)\s+\d+\s+\d+\s+\d+\s+\d+\s+[0-9a-f]{16}\s/
const rows = (stdout: string): number[] => stdout.split('\n').flatMap((line) => {
  const match = ROW.exec(line)
  return match === null ? [] : [Number(match[1])]
})

interface DemoJson {
  fromCycle: number
  cycle: number
  stateRoot: string
  created: string[]
  programs: Record<string, string>
  cycles: { cycle: number; stateRoot: string; processed: number }[]
  proof: { verified: boolean }
  ok: boolean
}

describe('strata demo (the built binary)', () => {
  const data = path.join(dir, 'demo-data')
  const proofFile = path.join(dir, 'proof.json')
  let root = ''

  it('runs the example programs in a data directory, reports every cycle with its state root, and verifies a proof', async () => {
    const { stdout } = await strata('demo', '--data', data, '--cycles', '6', '--streams', '2', '--proof', proofFile)
    const cycles = rows(stdout)
    expect(cycles.length).toBeGreaterThanOrEqual(7)
    expect(cycles).toEqual(cycles.map((_, i) => i + 1))
    expect(stdout).toMatch(/a fresh data directory/)
    expect(stdout).toMatch(/created 9 programs/)
    expect(stdout).toMatch(/the winner was told \{"event":"won"/)
    expect(stdout).toMatch(/proof of counter 0's state header .*: verified/)
    root = /state root ([0-9a-f]{64})/.exec(stdout)![1]!
    expect(existsSync(path.join(data, 'data.mdb'))).toBe(true)
  }, 120_000)

  it('run again on the same directory, continues from the last cycle with the same programs', async () => {
    const { stdout } = await strata('demo', '--data', data, '--cycles', '2', '--streams', '0')
    const from = Number(/continuing from cycle (\d+)/.exec(stdout)![1])
    expect(from).toBeGreaterThanOrEqual(7)
    expect(stdout).toMatch(/9 of the demo's 9 programs exist already/)
    expect(stdout).toMatch(/created 0 programs/)
    const cycles = rows(stdout)
    expect(cycles[0]).toBe(from + 1)
    expect(cycles).toEqual(cycles.map((_, i) => from + 1 + i))
    expect(stdout).toMatch(new RegExp(`continued from cycle ${from}: ran ${cycles.length} cycles \\(${from + 1}\\.\\.${cycles.at(-1)}\\)`))
    // The first counter went on from where the first run left it: 6 increments, then 2 more.
    const counter = /counter-0 ([0-9a-f]{8})/.exec(stdout)![1]!
    const reply = await strataJson<{ text: string }>('query', '--data', data, counter, '--text', 'read')
    expect(reply.text).toBe('8')
  }, 120_000)

  it('the proof file checks out with verify, which needs only the file (and fails once tampered with)', async () => {
    const verified = await strata('verify', proofFile, '--root', root)
    expect(verified.stdout).toMatch(/proof verified: 16 bytes at \(\d+, \d+, \d+\) of program [0-9a-f]{64} under root/)
    // Without --root it checks against the root the proof carries, and says so.
    const carried = await strataJson<{ ok: boolean; rootGiven: boolean; stateRoot: string; length: number }>('verify', proofFile)
    expect(carried).toMatchObject({ ok: true, rootGiven: false, stateRoot: root, length: 16 })

    const proof = JSON.parse(readFileSync(proofFile, 'utf8')) as { data: string }
    proof.data = (proof.data[0] === 'f' ? '0' : 'f') + proof.data.slice(1)
    const tampered = path.join(dir, 'tampered.json')
    writeFileSync(tampered, JSON.stringify(proof))
    for (const args of [[tampered, '--root', root], [tampered], [proofFile, '--root', '00'.repeat(32)]]) {
      const failed = await strataFails('verify', ...args)
      expect(failed.code).toBe(1)
      expect(failed.stderr).toMatch(/^strata: proof .* rejected: .*\(code PROOF_REJECTED\)\n$/)
      expect(failed.stdout).toBe('')
    }
    // A file that is not JSON at all cannot be read: exit 2.
    const corrupt = path.join(dir, 'corrupt.json')
    writeFileSync(corrupt, readFileSync(proofFile, 'utf8').slice(0, 500))
    expect(await strataFails('verify', corrupt, '--root', root)).toMatchObject({ code: 2, stderr: expect.stringContaining('(code BAD_PROOF_FILE)') })
    // JSON that is no proof is rejected, naming why.
    const empty = path.join(dir, 'empty.json')
    writeFileSync(empty, '{}')
    expect(await strataFails('verify', empty)).toMatchObject({ code: 1, stderr: expect.stringContaining('names no stateRoot') })
  }, 60_000)

  it('gives the same state roots, cycle by cycle, on 0 and 2 streams', async () => {
    const runs = await Promise.all(['0', '2'].map((streams) =>
      strataJson<DemoJson>('demo', '--data', path.join(dir, `streams-${streams}`), '--cycles', '4', '--streams', streams)))
    expect(runs[0]!.ok).toBe(true)
    expect(runs[0]!.proof.verified).toBe(true)
    expect(runs[0]!.created).toHaveLength(9)
    expect(runs[0]!.cycles.map((r) => r.stateRoot)).toEqual(runs[1]!.cycles.map((r) => r.stateRoot))
    expect(runs[0]!.stateRoot).toBe(runs[1]!.stateRoot)
  }, 120_000)
})

describe.concurrent('strata memory, help and usage errors', () => {
  it('memory runs the memory walkthrough and its checks hold', async () => {
    const { stdout } = await strata('memory')
    expect(stdout).toMatch(/byte there = 8 \(expected 8\)/)
    expect(stdout).toMatch(/after rollback the static bytes read "hello from a static region"/)
    const facts = await strataJson<{ relocated: { byte: number }; afterRollback: string }>('memory')
    expect(facts.relocated.byte).toBe(8)
    expect(facts.afterRollback).toBe('hello from a static region')
  })

  it('strata --help lists every command', async () => {
    const { stdout } = await strata('--help')
    for (const command of ['demo', 'run', 'send', 'query', 'inspect', 'prove', 'verify', 'node', 'memory']) {
      expect(stdout).toMatch(new RegExp(`^  ${command} `, 'm'))
    }
  })

  it.each(['demo', 'run', 'send', 'query', 'inspect', 'prove', 'verify', 'node', 'memory'])(
    'strata %s --help prints its own usage and exits 0, touching nothing', async (command) => {
      const { stdout } = await strata(command, '--help', '--data', path.join(dir, 'help-data'))
      expect(stdout).toMatch(new RegExp(`^usage: strata ${command}`))
      expect(stdout).toMatch(/--json/)
      expect(existsSync(path.join(dir, 'help-data'))).toBe(false)
    })

  it.each([
    [['nope'], 'USAGE', /unknown command "nope"/],
    [['demo', '--cycles', 'x'], 'USAGE', /--cycles must be an integer in 1\.\.10000, got "x"/],
    [['demo', '--streams', '-1'], 'USAGE', /--streams must be an integer in 0\.\.64, got "-1"/],
    [['demo', '--frobnicate'], 'USAGE', /demo has no option --frobnicate/],
    [['verify', 'missing.json', '--root', 'aa'.repeat(32)], 'BAD_PROOF_FILE', /cannot read proof "missing\.json"/],
    [['verify', 'missing.json', '--root', 'xyz'], 'BAD_HEX', /--root must be hex bytes .*got "xyz"/],
    [['verify'], 'USAGE', /verify needs PROOF\.json/],
    [['memory', 'extra'], 'USAGE', /unexpected "extra"/],
  ])('strata %j exits 2 with code %s and a message naming the value', async (args, code, message) => {
    const failed = await strataFails(...(args as string[]))
    expect(failed.code).toBe(2)
    expect(failed.stderr).toMatch(message as RegExp)
    expect(failed.stderr).toContain(`(code ${code as string})`)
    expect(failed.stdout).toBe('')
  })

  it('--json turns an error into one JSON line on stderr', async () => {
    const failed = await strataFails('demo', '--cycles', 'x', '--json')
    expect(failed.code).toBe(2)
    expect(JSON.parse(failed.stderr)).toEqual({ error: { code: 'USAGE', message: expect.stringContaining('"x"') } })
  })
})
