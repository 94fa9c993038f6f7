// Determinism (DESIGN invariant 1): the same initial state and the same enqueued messages give the same state,
// the same message log and the same gas figures for every stream count. A mixed workload over all example
// programs (valid and invalid messages, tight gas, delays, waits, program creation, compaction) runs with
// streams = 0 (sequential, on this thread) and 1, 8 and one of 2, 3 or 4 worker streams (in turn over the seeds,
// so that every count runs, while the suite stays within its time); everything must match.
import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { DEFAULT_USER_ID, Runtime, type MessageOutcome, type ProgramId, type RuntimeOptions } from '../../src/index.js'
import { prng } from '../helpers/prng.js'

const SEEDS = [1, 2, 3, 4, 5]
const MESSAGES_PER_SEED = 2000
const ROUNDS = 10
const USERS = [DEFAULT_USER_ID, 'a1'.repeat(32), 'b2'.repeat(32), 'c3'.repeat(32)]
const json = (value: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(value))
const text = (value: string): Uint8Array => new TextEncoder().encode(value)

interface Run {
  log: string[]
  digest: string
  stateRoot: string
  roots: string[]
  messages: number
}

/**
 * On disk: the runtime lives in `dataDir` and, when `reopenStreams` is given, is closed and reopened after every
 * round with the next stream count in the list (programs move between streams: rebalancing).
 */
interface Persisted {
  readonly dataDir: string
  readonly reopenStreams?: readonly number[]
  readonly residentBytesMax?: number
}

async function run(streams: number, seed: number, persisted?: Persisted): Promise<Run> {
  const optionsFor = (count: number): RuntimeOptions => persisted === undefined ? { store: 'memory', streams: count }
    : { dataDir: persisted.dataDir, streams: count, sync: false,
      ...(persisted.residentBytesMax !== undefined ? { residentBytesMax: persisted.residentBytesMax } : {}) }
  let rt = await Runtime.open(optionsFor(streams))
  let reopened = 0
  try {
    const random = prng(seed)
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!
    const upload = (file: string) => rt.uploadCode(`programs/${file}.ts`)
    const [counter, ledger, kv, pingPong, auction, factory] = await Promise.all(
      ['counter', 'token_ledger', 'kv_store', 'ping_pong', 'auction', 'factory'].map(upload))
    const create = (code: string, salt: string, payload: Uint8Array = new Uint8Array(0)) =>
      rt.createProgram(code, { salt: text(salt), payload, gasLimit: 20_000_000 })
    const counters = [await create(counter!, 'c0', text('1')), await create(counter!, 'c1'), await create(counter!, 'c2', text('5'))]
    const ledgers = [await create(ledger!, 'l0'), await create(ledger!, 'l1')]
    const stores = [await create(kv!, 'k0'), await create(kv!, 'k1')]
    const players = [await create(pingPong!, 'p0'), await create(pingPong!, 'p1')]
    const auctions = [await create(auction!, 'a0', json({ durationCycles: 4 })), await create(auction!, 'a1', json({ durationCycles: 9 }))]
    const factories = [await create(factory!, 'f0', text(counter!))]
    const log: string[] = []
    const roots: string[] = []
    const listen = (): void => {
      rt.on('cycle', (report) => roots.push(report.stateRoot))
      rt.on('message', (o: MessageOutcome) => log.push(`${o.messageId} ${o.programId} ${o.result} ${o.replyCode} ${o.gasBurned} ${o.gasRefunded}`))
    }
    listen()
    const reopen = async (): Promise<void> => {
      const order = persisted?.reopenStreams
      if (order === undefined) return
      const root = rt.stateRoot()
      await rt.close()
      rt = await Runtime.open(optionsFor(order[reopened % order.length]!))
      reopened += 1
      expect(rt.stateRoot()).toBe(root)
      listen()
    }
    await rt.runUntilIdle()
    await reopen()

    const gas = () => pick([5_000, 200_000, 1_000_000, 5_000_000])
    const key = () => `k${Math.floor(random() * 40)}`
    for (let round = 0; round < ROUNDS; round += 1) {
      for (let i = 0; i < MESSAGES_PER_SEED / ROUNDS; i += 1) {
        const source = pick(USERS)
        const kind = Math.floor(random() * 7)
        let destination: ProgramId
        let payload: Uint8Array
        if (kind === 0) {
          destination = pick(counters)
          payload = text(pick(['inc', 'add:3', 'add:x', 'read']))
        } else if (kind === 1) {
          destination = pick(ledgers)
          payload = json(pick([
            { op: 'mint', to: pick(USERS), amount: String(1 + Math.floor(random() * 1000)) },
            { op: 'transfer', to: pick(USERS), amount: String(1 + Math.floor(random() * 500)) },
            { op: 'balanceOf', account: pick(USERS) }, { op: 'totalSupply' },
          ]))
        } else if (kind === 2) {
          destination = pick(stores)
          payload = json(pick([
            { op: 'put', key: key(), value: 'v'.repeat(Math.floor(random() * 3000)) }, { op: 'get', key: key() },
            { op: 'delete', key: key() }, { op: 'compact' },
          ]))
        } else if (kind === 3) {
          destination = players[0]!
          payload = json({ op: 'start', peer: players[1], rounds: 1 + Math.floor(random() * 4) })
        } else if (kind === 4) {
          destination = pick(auctions)
          payload = json(pick([{ op: 'bid', amount: Math.floor(random() * 1000) }, { op: 'result' }, { op: 'status' }]))
        } else if (kind === 5) {
          destination = factories[0]!
          payload = text(`create:${Math.floor(random() * 30)}`)
        } else {
          destination = pick([...counters, ...ledgers, ...stores])
          payload = new Uint8Array([0xff, 0x00, Math.floor(random() * 256)])
        }
        rt.send({ source, destination, payload, gasLimit: gas() })
      }
      // Half the rounds reopen with their messages still queued (accepted, not yet run): close must keep them.
      if (round % 2 === 1) await reopen()
      await rt.runCycle()
      await reopen()
    }
    await rt.runUntilIdle({ maxCycles: 200 })

    const hash = createHash('sha256')
    for (const id of rt.programIds().sort()) {
      const view = rt.program(id)
      hash.update(JSON.stringify(view.record()))
      for (const { address, size } of view.allocations()) {
        hash.update(`${address}:${size}:`)
        hash.update(view.read(address, size))
      }
    }
    for (const user of USERS) {
      for (const { message, cycle } of rt.mailbox(user)) {
        hash.update(`${message.id}:${cycle}:${message.replyCode}:${message.gasLimit}:`)
        hash.update(message.payload)
      }
    }
    return { log, digest: hash.digest('hex'), stateRoot: rt.stateRoot(), roots, messages: log.length }
  } finally {
    await rt.close()
  }
}

describe('determinism across stream counts', () => {
  it.each(SEEDS.map((seed, i) => [seed, 2 + (i % 3)]))('seed %i: streams 0, 1, %i and 8 give the same state roots, log, gas, memory and mailboxes', async (seed, middle) => {
    const reference = await run(0, seed)
    expect(reference.messages).toBeGreaterThan(MESSAGES_PER_SEED)
    // Not a trivial workload: successes and failures of several kinds.
    const results = new Set(reference.log.map((line) => line.split(' ')[3]))
    expect(results.size).toBeGreaterThan(4)
    // The state root moved as the workload changed memory.
    expect(new Set(reference.roots).size).toBeGreaterThan(ROUNDS / 2)
    for (const streams of [1, middle, 8]) {
      const other = await run(streams, seed)
      expect(other.messages).toBe(reference.messages)
      expect(other.log).toEqual(reference.log)
      expect(other.digest).toBe(reference.digest)
      expect(other.roots).toEqual(reference.roots)
      expect(other.stateRoot).toBe(reference.stateRoot)
    }
  }, 120_000)
})

describe('determinism on disk', () => {
  const cases: [string, (dataDir: string) => Persisted, number][] = [
    ['LMDB, 2 streams reading planes from the store, reopened after every round with 1, 3, 0 or 2 streams',
      (dataDir) => ({ dataDir, reopenStreams: [1, 3, 0, 2] }), 2],
    ['LMDB, 2 streams with a resident budget of 0 bytes (every program is evicted and re-read each cycle)',
      (dataDir) => ({ dataDir, residentBytesMax: 0 }), 2],
    ['LMDB on the calling thread with a resident budget of 0 bytes', (dataDir) => ({ dataDir, residentBytesMax: 0 }), 0],
  ]
  // The in-memory reference is the same computation (seed 7, streams 0) for every case: run it once and share it.
  let inMemory: Promise<Run> | undefined
  it.each(cases)('%s: the same roots, log, gas, memory and mailboxes as in memory', async (_name, persisted, streams) => {
    const seed = 7
    const reference = await (inMemory ??= run(0, seed))
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'strata-determinism-'))
    try {
      const other = await run(streams, seed, persisted(dataDir))
      expect(other.log).toEqual(reference.log)
      expect(other.digest).toBe(reference.digest)
      expect(other.roots).toEqual(reference.roots)
      expect(other.stateRoot).toBe(reference.stateRoot)
    } finally {
      rmSync(dataDir, { recursive: true, force: true })
    }
  }, 120_000)
})
