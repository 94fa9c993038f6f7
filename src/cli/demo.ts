/**
 * `strata demo`: the example programs under a mixed workload on parallel streams, with a summary per cycle (its
 * state root among them) and, at the end, a proof of a program's memory checked against the final root.
 * Until persistence lands the state lives in memory, so each demo starts from nothing.
 */
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { verifyProof } from '../merkle/index.js'
import { ReplyCode } from '../message/reply_codes.js'
import { Runtime, type CycleReport } from '../scheduler/runtime.js'

export interface DemoOptions {
  readonly streams?: number
  readonly cycles: number
  readonly print: (line: string) => void
  /** Also write the final proof as JSON to this file (check it with `strata verify FILE --root HEX`). */
  readonly proofFile?: string
}

const USERS = ['a1'.repeat(32), 'b2'.repeat(32), 'c3'.repeat(32)]
const text = (value: string): Uint8Array => new TextEncoder().encode(value)
const json = (value: unknown): Uint8Array => text(JSON.stringify(value))

/** The example programs ship beside dist/ in the package. */
function programsDir(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../programs')
}

export async function runDemo(options: DemoOptions): Promise<{ readonly ok: boolean }> {
  const { print } = options
  const rt = await Runtime.open(options.streams === undefined ? {} : { streams: options.streams })
  try {
    const dir = programsDir()
    const upload = (name: string) => rt.uploadCode(path.join(dir, `${name}.ts`))
    print(`Strata demo: ${rt.streams} stream(s), ${options.cycles} cycles`)
    const [counter, ledger, kv, pingPong, auction, factory] = await Promise.all(
      ['counter', 'token_ledger', 'kv_store', 'ping_pong', 'auction', 'factory'].map(upload))
    const create = (code: string, salt: string, payload: Uint8Array = new Uint8Array(0)) =>
      rt.createProgram(code, { salt: text(salt), payload, gasLimit: 50_000_000 })
    const counters = await Promise.all([0, 1, 2].map((i) => create(counter!, `counter-${i}`, text('0'))))
    const token = await create(ledger!, 'token')
    const store = await create(kv!, 'kv')
    const [ping, pong] = [await create(pingPong!, 'ping'), await create(pingPong!, 'pong')]
    const sale = await create(auction!, 'auction', json({ durationCycles: Math.max(2, options.cycles - 3) }))
    const maker = await create(factory!, 'factory', text(counter!))
    const created = rt.programIds().length
    print(`uploaded 6 codes, created ${created} programs`)
    print('')
    print('cycle  msgs  failed  gas burned   dirty planes  state root        ms')

    const show = (r: CycleReport) => print(
      `${String(r.cycle).padStart(5)}  ${String(r.processed).padStart(4)}  ${String(r.failed).padStart(6)}  ` +
      `${String(r.gasBurned).padStart(10)}  ${String(r.dirtyPlanes).padStart(12)}  ${r.stateRoot.slice(0, 16)}  ${r.ms.toFixed(1).padStart(6)}`)
    rt.on('cycle', show)
    await rt.runCycle()
    rt.send({ source: USERS[0]!, destination: ping, payload: json({ op: 'start', peer: pong, rounds: 5 }), gasLimit: 20_000_000 })
    for (let cycle = 0; cycle < options.cycles; cycle += 1) {
      const user = USERS[cycle % USERS.length]!
      for (const id of counters) rt.send({ source: user, destination: id, payload: text('inc'), gasLimit: 1_000_000 })
      rt.send({ source: USERS[0]!, destination: token, payload: json({ op: 'mint', to: user, amount: '100' }), gasLimit: 5_000_000 })
      rt.send({ source: user, destination: token, payload: json({ op: 'transfer', to: USERS[(cycle + 1) % USERS.length], amount: String(30 + cycle * 7) }), gasLimit: 5_000_000 })
      for (let k = 0; k < 20; k += 1) {
        rt.send({ source: user, destination: store, payload: json({ op: 'put', key: `k${(cycle * 20 + k) % 60}`, value: 'v'.repeat(200 + k * 37) }), gasLimit: 5_000_000 })
      }
      if (cycle % 3 === 2) {
        for (let k = 0; k < 15; k += 1) rt.send({ source: user, destination: store, payload: json({ op: 'delete', key: `k${(k * 4) % 60}` }), gasLimit: 5_000_000 })
        rt.send({ source: user, destination: store, payload: json({ op: 'compact' }), gasLimit: 50_000_000 })
      }
      rt.send({ source: user, destination: sale, payload: json({ op: 'bid', amount: 10 + cycle * 5 }), gasLimit: 5_000_000 })
      if (cycle === 0) rt.send({ source: USERS[2]!, destination: sale, payload: json({ op: 'result' }), gasLimit: 5_000_000 })
      if (cycle < 3) rt.send({ source: user, destination: maker, payload: text(`create:${cycle}`), gasLimit: 20_000_000 })
      await rt.runCycle()
    }
    const rest = await rt.runUntilIdle({ maxCycles: 50 })
    rt.off('cycle', show)

    print('')
    const replies = USERS.flatMap((u) => rt.mailbox(u).map((e) => e.message.replyCode ?? 0))
    const failures = replies.filter((code) => code >= 0x10).length
    print(`${rt.cycle} cycles, ${rt.programIds().length} programs (the factory made ${rt.programIds().length - created}), ` +
      `${replies.length} messages in user mailboxes, ${failures} of them error replies`)
    const winner = rt.mailbox(USERS.find((u) => rt.mailbox(u).some((e) => e.message.kind === 'handle')) ?? USERS[0]!)
      .find((e) => e.message.kind === 'handle')
    if (winner !== undefined) print(`auction: the winner was told ${new TextDecoder().decode(winner.message.payload)}`)
    const kvStats = rt.program(store).stats()
    print(`kv store: ${kvStats.allocations} allocations, ${kvStats.planesInUse} planes in use, ` +
      `fragmentation ${kvStats.regions.map((r) => r.fragmentation.toFixed(2)).join('/')}`)

    // A proof anyone can check: the first counter's state bytes under the final state root.
    const [header] = rt.program(counters[0]!).allocations()
    const proof = await rt.prove(counters[0]!, header!.address, header!.size)
    const verified = verifyProof(rt.stateRoot(), proof)
    if (options.proofFile !== undefined) writeFileSync(options.proofFile, `${JSON.stringify(proof, null, 1)}\n`)
    print(`state root ${rt.stateRoot()}`)
    print(`proof of counter 0's state header (${header!.size} bytes at ${header!.address}): ` +
      `${verified.ok ? 'verified' : `REJECTED (${(verified as { reason: string }).reason})`}`)
    const ok = verified.ok && rest.length < 50 && replies.some((code) => code === ReplyCode.SUCCESS_MANUAL)
    return { ok }
  } finally {
    await rt.close()
  }
}
