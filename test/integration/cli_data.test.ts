// The commands on an existing data directory (inspect, send, run, query, prove) through the built binary, on a
// temporary directory the demo fills first; bad input of every kind exits non-zero and changes nothing.
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Runtime } from '../../src/scheduler/runtime.js'
import { BIN, strata, strataFails, strataJson } from './cli_helpers.js'

const dir = mkdtempSync(path.join(tmpdir(), 'strata-cli-data-'))
const data = path.join(dir, 'data')
afterAll(() => rmSync(dir, { recursive: true, force: true }))

interface Overview {
  cycle: number
  stateRoot: string
  queueLength: number
  idle: boolean
  codes: string[]
  programs: { id: string; status: string; codeId: string; memoryRoot: string; allocations: number }[]
}
interface Detail {
  id: string
  status: string
  stateAddress: number | null
  memoryRoot: string
  stateRoot: string
  allocations: number
  regions: { type: string; allocations: number; fragmentation: number; planes: { chunks: string; allocations: { address: number; size: number }[] }[] }[]
}
interface Reply { replyCode: number; replyCodeName: string; text?: string; payload: string }

/** A per-cycle line of `run` and `demo`. */
const ROW = /^ +\d+ +\d+ +\d+ +\d+ +\d+ +[0-9a-f]{16} /m

let programs: Record<string, string> = {}
const counter = (): string => programs['counter-0']!

beforeAll(async () => {
  ;({ programs } = await strataJson<{ programs: Record<string, string> }>('demo', '--data', data, '--cycles', '3', '--streams', '0'))
}, 120_000)

/** What must not change when a command fails: the cycle, the state root and the queue. */
const snapshot = async () => {
  const { cycle, stateRoot, queueLength } = await strataJson<Overview>('inspect', '--data', data)
  return { cycle, stateRoot, queueLength }
}

describe('strata inspect', () => {
  it('lists every program with its status, code and memory root, and the state root', async () => {
    const overview = await strataJson<Overview>('inspect', '--data', data)
    expect(overview.codes).toHaveLength(6)
    expect(overview.idle).toBe(true)
    expect(overview.stateRoot).toMatch(/^[0-9a-f]{64}$/)
    const ids = overview.programs.map((p) => p.id)
    for (const id of Object.values(programs)) expect(ids).toContain(id)
    expect(overview.programs.every((p) => p.status === 'active' && /^[0-9a-f]{64}$/.test(p.memoryRoot))).toBe(true)
    const { stdout } = await strata('inspect', '--data', data)
    expect(stdout).toContain(`state root ${overview.stateRoot}`)
    expect(stdout).toMatch(new RegExp(`^${counter()}  active `, 'm'))
  })

  it("shows one program's regions, planes and allocations as a map, by id or unique prefix", async () => {
    const kv = programs.kv!
    const detail = await strataJson<Detail>('inspect', '--data', data, kv.slice(0, 10))
    expect(detail.id).toBe(kv)
    const heap = detail.regions.find((r) => r.type === 'heap')!
    expect(heap.allocations).toBeGreaterThan(10)
    expect(detail.regions.reduce((sum, r) => sum + r.planes.reduce((n, p) => n + p.allocations.length, 0), 0)).toBe(detail.allocations)
    for (const plane of heap.planes) expect(plane.chunks).toMatch(/^[#+.]{16}$/)
    const { stdout } = await strata('inspect', '--data', data, kv)
    expect(stdout).toMatch(/^region \d+, heap: \d+ allocations, .* fragmentation \d\.\d\d$/m)
    expect(stdout).toMatch(/^ {2}plane 0 +\[[#+.]{16}\] /m)
    expect(stdout).toMatch(/ctx\.state's header at \(\d+, \d+, \d+\)/)
    expect(stdout).toContain(`memory root ${detail.memoryRoot}`)
  })
})

describe('strata send, run, query', () => {
  it('send enqueues durably, run delivers, query reads the result without changing anything', async () => {
    const before = await strataJson<Reply>('query', '--data', data, counter(), '--text', 'read')
    expect(before.replyCodeName).toBe('SUCCESS_MANUAL')
    const start = Number(before.text)

    const sent = await strata('send', '--data', data, '--to', counter().slice(0, 8), '--text', 'inc')
    expect(sent.stdout).toMatch(/^queued message [0-9a-f]{64}$/m)
    const file = path.join(dir, 'payload.bin')
    writeFileSync(file, 'add:10')
    await strataJson('send', '--data', data, '--to', counter(), '--payload', `@${file}`, '--gas', '2000000')
    await strataJson('send', '--data', data, '--to', counter(), '--payload', Buffer.from('add:100').toString('hex'))
    expect((await snapshot()).queueLength).toBe(3)
    // A query runs on committed state: the queued messages have not run yet.
    expect((await strataJson<Reply>('query', '--data', data, counter(), '--payload', '')).text).toBe(String(start))

    const ran = await strataJson<{ fromCycle: number; cycle: number; idle: boolean; cycles: { cycle: number; processed: number }[] }>(
      'run', '--data', data, '--streams', '0')
    expect(ran.idle).toBe(true)
    expect(ran.cycles[0]).toMatchObject({ cycle: ran.fromCycle + 1, processed: 3 })
    expect((await strataJson<Reply>('query', '--data', data, counter(), '--text', 'read')).text).toBe(String(start + 111))
  })

  it('run --cycles N runs exactly N cycles, even idle ones, and prints a row for each', async () => {
    const { cycle } = await snapshot()
    const { stdout } = await strata('run', '--data', data, '--cycles', '2', '--streams', '0')
    expect(stdout).toMatch(new RegExp(`^ +${cycle + 1} +0 +0 +0 +0 +[0-9a-f]{16} `, 'm'))
    expect(stdout).toMatch(new RegExp(`^ +${cycle + 2} +0 +0 +0 +0 +[0-9a-f]{16} `, 'm'))
    expect((await snapshot()).cycle).toBe(cycle + 2)
    expect((await strata('run', '--data', data)).stdout).toMatch(/nothing to run/)
  })

  it('Ctrl-C stops run after the current cycle; every cycle it ran is committed', async () => {
    const { cycle } = await snapshot()
    const child = spawn(process.execPath, [BIN, 'run', '--data', data, '--cycles', '1000000', '--streams', '0'])
    let stdout = ''
    child.stdout.on('data', (chunk: Buffer) => {
      const first = stdout === '' || !ROW.test(stdout)
      stdout += chunk.toString()
      if (first && ROW.test(stdout)) child.kill('SIGINT')
    })
    // A safety net, not a timing check: a run that ignored Ctrl-C must not outlive the test.
    const guard = setTimeout(() => child.kill('SIGKILL'), 50_000)
    const status = await new Promise<number | null>((resolve) => child.on('exit', resolve))
    clearTimeout(guard)
    expect(status).toBe(130)
    const ran = Number(/^interrupted: ran (\d+) cycles? /m.exec(stdout)![1])
    expect(ran).toBeGreaterThanOrEqual(1)
    expect((await snapshot()).cycle).toBe(cycle + ran)
  })

  it('a query whose handler fails exits 1 with the reply code', async () => {
    const failed = await strataFails('query', '--data', data, programs.kv!, '--text', '{"op":"nope"}', '--json')
    expect(failed.code).toBe(1)
    expect(JSON.parse(failed.stdout)).toMatchObject({ replyCodeName: 'EXECUTION_ERROR' })
    expect(JSON.parse(failed.stderr)).toMatchObject({ error: { code: 'EXECUTION_ERROR', message: expect.stringContaining('unknown op') } })
  })
})

describe('strata mailbox, --version, and what run and send tell a newcomer', () => {
  const USER = 'ab'.repeat(32)

  it('prints the version of the package it was built from', async () => {
    const { version } = JSON.parse(readFileSync(path.join(BIN, '../../../package.json'), 'utf8')) as { version: string }
    expect((await strata('--version')).stdout).toBe(`strata ${version}\n`)
  })

  it('run counts error replies by code, and mailbox shows them with their names and payloads', async () => {
    await strata('send', '--data', data, '--to', programs.kv!, '--text', '{"op":"nope"}', '--from', USER)
    await strata('send', '--data', data, '--to', counter(), '--text', 'inc', '--from', USER)
    const ran = await strataJson<{ failures: Record<string, number> }>('run', '--data', data, '--streams', '0')
    expect(ran.failures).toEqual({ EXECUTION_ERROR: 1 })
    const box = await strataJson<{ count: number; entries: { replyCodeName?: string; text?: string; source: string }[] }>('mailbox', '--data', data, USER)
    expect(box.count).toBe(2)
    const failed = box.entries.find((e) => e.replyCodeName === 'EXECUTION_ERROR')!
    expect(failed.source).toBe(programs.kv)
    expect(failed.text).toContain('unknown op')
    expect(box.entries.some((e) => e.replyCodeName === 'SUCCESS_MANUAL')).toBe(true)
    const human = (await strata('mailbox', '--data', data, USER)).stdout
    expect(human).toMatch(/^mailbox of [0-9a-f]{64}: 2 entries$/m)
    expect(human).toMatch(/reply 0x[0-9a-f]{2} EXECUTION_ERROR to [0-9a-f]{8}: ".*unknown op/)
    // The human summary of run names the reason too.
    await strata('send', '--data', data, '--to', programs.kv!, '--text', '{"op":"nope"}', '--from', USER)
    expect((await strata('run', '--data', data, '--streams', '0')).stdout).toMatch(/^error replies by code: 1 EXECUTION_ERROR/m)
  })

  it('send warns, on stderr, about a program that exited', async () => {
    const rt = await Runtime.open({ dataDir: data, streams: 0 })
    let probe: string
    try {
      const code = await rt.uploadCode('test/fixtures/programs/probe.ts')
      probe = await rt.createProgram(code, { salt: new TextEncoder().encode('exits'), gasLimit: 50_000_000 })
      rt.send({ source: USER, destination: probe, payload: new TextEncoder().encode(JSON.stringify([{ do: 'exit', to: USER }])), gasLimit: 50_000_000 })
      await rt.runUntilIdle()
      expect(rt.program(probe).record().status).toBe('exited')
    } finally {
      await rt.close()
    }
    const sent = await strata('send', '--data', data, '--to', probe, '--text', 'hello')
    expect(sent.stderr).toMatch(/warning: program [0-9a-f]{64} has exited: the message will be answered with PROGRAM_EXITED/)
    expect(sent.stdout).toMatch(/^queued message/m)
    expect((await strata('send', '--data', data, '--to', counter(), '--text', 'inc')).stderr).toBe('')
    await strata('run', '--data', data, '--streams', '0')
  })
})

describe('strata prove, then verify', () => {
  it("proves a program's state bytes; the proof verifies against the state root, and not once tampered with", async () => {
    const detail = await strataJson<Detail>('inspect', '--data', data, counter())
    // ctx.state's header (static) points to its msgpack bytes, the counter's one heap allocation.
    const state = detail.regions.find((r) => r.type === 'heap')!.planes[0]!.allocations[0]!
    const { stdout } = await strata('prove', '--data', data, counter(), String(state.address), String(state.size))
    const proofFile = path.join(dir, 'counter.proof.json')
    writeFileSync(proofFile, stdout)
    const verified = await strataJson<{ ok: boolean; programId: string; data: string; length: number }>(
      'verify', proofFile, '--root', detail.stateRoot)
    expect(verified).toMatchObject({ ok: true, programId: counter(), length: state.size })
    expect(Buffer.from(verified.data, 'hex').toString('latin1')).toContain('count')

    const proof = JSON.parse(stdout) as { data: string; program: { codeId: string } }
    proof.program.codeId = `${proof.program.codeId[0] === '0' ? '1' : '0'}${proof.program.codeId.slice(1)}`
    writeFileSync(proofFile, JSON.stringify(proof))
    const rejected = await strataFails('verify', proofFile, '--root', detail.stateRoot)
    expect(rejected.code).toBe(1)
    expect(rejected.stderr).toContain('(code PROOF_REJECTED)')
  })

  it('ADDRESS "state" is the program\'s ctx.state header, wherever it is', async () => {
    const detail = await strataJson<Detail>('inspect', '--data', data, counter())
    const proof = JSON.parse((await strata('prove', '--data', data, counter(), 'state', '16')).stdout) as { address: number; length: number }
    expect(proof).toMatchObject({ address: detail.stateAddress, length: 16 })
  })

  it('--absent proves a plane holds nothing, which verify checks; a plane with data is PLANE_PRESENT', async () => {
    const detail = await strataJson<Detail>('inspect', '--data', data, counter())
    const { stdout } = await strata('prove', '--data', data, '--absent', counter(), '200', '7')
    const proofFile = path.join(dir, 'absent.proof.json')
    writeFileSync(proofFile, stdout)
    const verified = await strataJson<{ ok: boolean; kind: string; region: number; plane: number }>('verify', proofFile, '--root', detail.stateRoot)
    expect(verified).toMatchObject({ ok: true, kind: 'absence', region: 200, plane: 7 })
    const a = detail.stateAddress!
    const present = await strataFails('prove', '--data', data, '--absent', counter(), String(Math.floor(a / 2 ** 32)), String(Math.floor(a / 2 ** 16) % 2 ** 16))
    expect(present.code).toBe(2)
    expect(present.stderr).toContain('(code PLANE_PRESENT)')
    expect((await strataFails('prove', '--data', data, '--absent', counter(), '256', '0')).stderr).toContain('REGION')
  })

  it('addresses may be given as region:plane:offset, as inspect prints them', async () => {
    const detail = await strataJson<Detail>('inspect', '--data', data, counter())
    const a = detail.stateAddress!
    const triple = `${Math.floor(a / 2 ** 32)}:${Math.floor(a / 2 ** 16) % 2 ** 16}:${a % 2 ** 16}`
    const proof = JSON.parse((await strata('prove', '--data', data, counter(), triple, '4')).stdout) as { address: number }
    expect(proof.address).toBe(a)
  })
})

describe('bad input: a clear message, a code, a non-zero exit, nothing changed', () => {
  const missing = path.join(dir, 'no-such-dir')

  it.each([
    ['inspect'], ['run'], ['send', '--to', 'abcd', '--text', 'x'], ['query', 'abcd', '--text', 'x'], ['prove', 'abcd', '0', '1'],
  ])('%s on a nonexistent data directory is NO_DATA and creates nothing', async (...args) => {
    const failed = await strataFails(...args, '--data', missing)
    expect(failed.code).toBe(2)
    expect(failed.stderr).toBe(`strata: no data directory at ${missing} (it does not exist); \`strata demo --data ${missing}\` creates one (code NO_DATA)\n`)
    expect(existsSync(missing)).toBe(false)
  })

  it('every kind of bad argument fails before or without a change to the data directory', async () => {
    const before = await snapshot()
    const id = counter()
    const check = async ([args, code, message]: [string[], string, RegExp]): Promise<void> => {
      const failed = await strataFails(...args, '--data', data)
      expect({ args, code: failed.code, stderr: failed.stderr }).toMatchObject({ args, code: 2, stderr: expect.stringMatching(message) })
      expect(failed.stderr, args.join(' ')).toContain(`(code ${code})`)
      expect(failed.stdout).toBe('')
    }
    // Refused before the directory is opened: these may run side by side.
    await Promise.all(([
      [['send', '--to', id, '--payload', 'xyz'], 'BAD_HEX', /--payload must be hex bytes .*got "xyz"/],
      [['send', '--to', id, '--payload', 'abc'], 'BAD_HEX', /got "abc"/],
      [['send', '--to', 'not-hex', '--text', 'x'], 'BAD_HEX', /PROGRAM must be a program id .*got "not-hex"/],
      [['send', '--to', id, '--text', 'x', '--gas', 'lots'], 'USAGE', /--gas must be an integer in 0\.\.\d+, got "lots"/],
      [['send', '--to', id, '--text', 'x', '--gas', '-5'], 'USAGE', /got "-5"/],
      [['send', '--to', id, '--text', 'x', '--from', '12'], 'BAD_HEX', /--from must be 32 bytes .*got "12"/],
      [['send', '--to', id, '--payload', '@/no/such/file'], 'NO_FILE', /cannot read --payload file "\/no\/such\/file"/],
      [['send', '--to', id], 'USAGE', /send needs --payload/],
      [['send', '--to', id, '--text', 'x', '--colour'], 'USAGE', /send has no option --colour/],
      [['prove', id, 'somewhere', '4'], 'USAGE', /ADDRESS must be an address .*got "somewhere"/],
      [['prove', id, '0', 'many'], 'USAGE', /LENGTH must be an integer in 1\.\.\d+, got "many"/],
      [['inspect', id, 'extra'], 'USAGE', /unexpected "extra"/],
    ] as [string[], string, RegExp][]).map(check))
    // Refused by the runtime once open: one at a time (a directory has one writer).
    for (const bad of [
      [['send', '--to', 'ffff0000ffff', '--text', 'x'], 'UNKNOWN_PROGRAM', /no program ffff0000ffff in /],
      [['send', '--to', id, '--text', 'x', '--from', id], 'INVALID_SOURCE', /is a program/],
      [['query', 'ffff0000', '--text', 'x'], 'UNKNOWN_PROGRAM', /no program ffff0000/],
      [['prove', id, '7:0:0', '4'], 'NOT_IN_ALLOCATION', /./],
    ] as [string[], string, RegExp][]) await check(bad)
    expect(await snapshot()).toEqual(before)
  }, 120_000)

  it('while another process writes the directory, inspect, query, prove and mailbox read its committed cycles; send is LOCKED', async () => {
    const USER = 'cd'.repeat(32)
    const rt = await Runtime.open({ dataDir: data, streams: 0 })
    try {
      const read = async (): Promise<number> => Number((await strataJson<Reply>('query', '--data', data, counter(), '--text', 'read')).text)
      const before = await read()
      const inspected = await snapshot()
      expect(inspected).toEqual({ cycle: rt.cycle, stateRoot: rt.stateRoot(), queueLength: rt.queueLength })
      // Accepted by the writer but not committed: the readers do not see it.
      rt.send({ source: USER, destination: counter(), payload: new TextEncoder().encode('inc'), gasLimit: 1_000_000 })
      expect(await snapshot()).toEqual(inspected)
      await rt.runCycle()
      expect(await read()).toBe(before + 1)
      expect(await snapshot()).toEqual({ cycle: inspected.cycle + 1, stateRoot: rt.stateRoot(), queueLength: 0 })
      const proofFile = path.join(dir, 'held.proof.json')
      writeFileSync(proofFile, (await strata('prove', '--data', data, counter(), 'state', '16')).stdout)
      expect(await strataJson('verify', proofFile, '--root', rt.stateRoot())).toMatchObject({ ok: true })
      const box = await strataJson<{ entries: { text?: string }[] }>('mailbox', '--data', data, USER)
      expect(box.entries.at(-1)!.text).toBe(String(before + 1))

      const failed = await strataFails('send', '--data', data, '--to', counter(), '--text', 'inc', '--json')
      expect(failed.code).toBe(2)
      expect(JSON.parse(failed.stderr)).toMatchObject({ error: { code: 'LOCKED', message: expect.stringContaining(`process ${process.pid}`) } })
    } finally {
      await rt.close()
    }
  })

  it('inspect during `strata run` sees one committed cycle: its state root is the one recorded for its cycle', async () => {
    const child = spawn(process.execPath, [BIN, 'run', '--data', data, '--cycles', '1000000', '--streams', '0'])
    let stdout = ''
    const started = new Promise<void>((resolve) => child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString()
      if (ROW.test(stdout)) resolve()
    }))
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve))
    const guard = setTimeout(() => child.kill('SIGKILL'), 50_000)
    try {
      await started
      const seen = [await snapshot(), await snapshot(), await snapshot()]
      child.kill('SIGINT')
      expect(await exited).toBe(130)
      const reader = await Runtime.open({ dataDir: data, readOnly: true })
      try {
        for (const { cycle, stateRoot } of seen) expect(reader.cycleRecord(cycle)!.stateRoot).toBe(stateRoot)
        expect(seen[2]!.cycle).toBeGreaterThanOrEqual(seen[0]!.cycle)
      } finally {
        await reader.close()
      }
    } finally {
      clearTimeout(guard)
      child.kill('SIGKILL')
    }
  }, 60_000)

})

// Last in this file: it leaves a 50 G-gas message queued in the shared directory.
describe('strata run and Ctrl-C, with a long message', () => {
  it('a second Ctrl-C ends run at once, while a long message runs on a worker; nothing of that cycle is committed', async () => {
    // A message that computes for seconds: 50 G gas of a loop (gas, not time, ends it; Ctrl-C must not wait for it).
    const rt = await Runtime.open({ dataDir: data, streams: 0 })
    const spinner = await rt.createProgram(await rt.uploadCode('test/fixtures/programs/spin.ts'), { gasLimit: 10_000_000 })
    await rt.runUntilIdle()
    await rt.close()
    await strata('send', '--data', data, '--to', spinner, '--text', 'spin', '--gas', '50000000000')
    const { cycle, stateRoot } = await snapshot()
    const child = spawn(process.execPath, [BIN, 'run', '--data', data, '--streams', '1'])
    let stdout = ''
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString()
      if (/^cycle +msgs/m.test(stdout) && !child.killed) {
        // Once the cycle is under way: a first Ctrl-C asks to stop after it, a second must end the process now.
        setTimeout(() => {
          child.kill('SIGINT')
          setTimeout(() => child.kill('SIGINT'), 300)
        }, 1000)
        child.stdout.removeAllListeners('data')
      }
    })
    const guard = setTimeout(() => child.kill('SIGKILL'), 50_000)
    const status = await new Promise<number | null>((resolve) => child.on('exit', resolve))
    clearTimeout(guard)
    expect(status).toBe(130)
    expect(await snapshot()).toMatchObject({ cycle, stateRoot })
    // The message is still queued (this test runs last in the file: the directory keeps it).
    expect((await snapshot()).queueLength).toBe(1)
  }, 60_000)
})
