/**
 * `strata demo`: the example programs under a mixed workload on parallel streams, in a data directory, with a
 * summary per cycle (its state root among them) and, at the end, a proof of a program's memory checked against
 * the final root. Run again on the same directory it continues: codes are uploaded again (a no-op), programs
 * that exist are reused (their ids are derived, not stored), and the workload goes on from the next cycle.
 */
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { STREAMS_MAX } from '../constants.js'
import { verifyProof } from '../merkle/index.js'
import { deriveProgramId, type CodeId, type ProgramId, type UserId } from '../message/index.js'
import { ReplyCode } from '../message/index.js'
import type { Runtime } from '../scheduler/index.js'
import { CliError, type Command } from './args.js'
import { DATA_OPTION, dataDirOf, runtimeModule } from './data.js'
import { CYCLE_HEADER, CycleLog, plural, streamsText, type Out } from './output.js'

export interface DemoOptions {
  readonly dataDir: string
  readonly streams?: number
  /** Workload cycles to run (then it runs until idle). */
  readonly cycles: number
  readonly out: Out
  /** Also write the final proof as JSON to this file (check it with `strata verify FILE --root HEX`). */
  readonly proofFile?: string
}

const USERS = ['a1'.repeat(32), 'b2'.repeat(32), 'c3'.repeat(32)]
const CODES = ['counter', 'token_ledger', 'kv_store', 'ping_pong', 'auction', 'factory'] as const
type CodeName = (typeof CODES)[number]
/** Cycles the final drain may take before the demo counts as stuck. */
const DRAIN_CYCLES_MAX = 50
const text = (value: string): Uint8Array => new TextEncoder().encode(value)
const json = (value: unknown): Uint8Array => text(JSON.stringify(value))

/** The example programs ship beside dist/ in the package. */
function programsDir(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../programs')
}

/** The demo's programs: name, code, salt and init payload. Their ids follow from these (and the default user). */
function cast(codes: Readonly<Record<CodeName, CodeId>>, cycles: number, creator: UserId) {
  return [
    ...[0, 1, 2].map((i) => ({ name: `counter-${i}`, code: codes.counter, payload: text('0') })),
    { name: 'token', code: codes.token_ledger, payload: new Uint8Array(0) },
    { name: 'kv', code: codes.kv_store, payload: new Uint8Array(0) },
    { name: 'ping', code: codes.ping_pong, payload: new Uint8Array(0) },
    { name: 'pong', code: codes.ping_pong, payload: new Uint8Array(0) },
    { name: 'auction', code: codes.auction, payload: json({ durationCycles: Math.max(2, cycles - 3) }) },
    { name: 'factory', code: codes.factory, payload: text(codes.counter) },
  ].map((p) => ({ ...p, id: deriveProgramId(creator, p.code, text(p.name)) }))
}

/**
 * One cycle's messages, a function of the cycle they run in (`n`) and of the run's own count (`i`) only, so
 * the same directory gives the same state on every machine and stream count.
 */
function sendWorkload(rt: Runtime, ids: Readonly<Record<string, ProgramId>>, n: number, i: number): void {
  const user = USERS[n % USERS.length]!
  const send = (destination: string, payload: Uint8Array, gasLimit: number, source = user): void => {
    rt.send({ source, destination, payload, gasLimit })
  }
  for (const name of ['counter-0', 'counter-1', 'counter-2']) send(ids[name]!, text('inc'), 1_000_000)
  // Mints from the token's creator; transfers that grow until some are overdrawn and fail (rolled back).
  send(ids.token!, json({ op: 'mint', to: user, amount: '100' }), 5_000_000, USERS[0])
  send(ids.token!, json({ op: 'transfer', to: USERS[(n + 1) % USERS.length], amount: String(30 + (n % 20) * 7) }), 5_000_000)
  for (let k = 0; k < 20; k += 1) {
    send(ids.kv!, json({ op: 'put', key: `k${(n * 20 + k) % 60}`, value: 'v'.repeat(200 + k * 37) }), 5_000_000)
  }
  if (n % 3 === 0) {
    for (let k = 0; k < 15; k += 1) send(ids.kv!, json({ op: 'delete', key: `k${(k * 4) % 60}` }), 5_000_000)
    send(ids.kv!, json({ op: 'compact' }), 50_000_000)
  }
  // Bids rise each cycle; once the auction has closed (a delayed message) they fail.
  send(ids.auction!, json({ op: 'bid', amount: 10 + n * 5 }), 5_000_000)
  if (i === 0) send(ids.auction!, json({ op: 'result' }), 5_000_000, USERS[2])
  if (i < 3) send(ids.factory!, text(`create:c${n}`), 20_000_000)
}

export async function runDemo(options: DemoOptions): Promise<number> {
  const { out } = options
  const { Runtime, DEFAULT_USER_ID } = await runtimeModule()
  const rt = await Runtime.open({ dataDir: options.dataDir, ...(options.streams === undefined ? {} : { streams: options.streams }) })
  try {
    const fromCycle = rt.cycle
    const dir = programsDir()
    const codes = Object.fromEntries(await Promise.all(
      CODES.map(async (name) => [name, await rt.uploadCode(path.join(dir, `${name}.ts`))] as const))) as Record<CodeName, CodeId>
    const programs = cast(codes, options.cycles, DEFAULT_USER_ID)
    const existing = new Set(rt.programIds())
    const missing = programs.filter((p) => !existing.has(p.id))
    out.line(`Strata demo in ${rt.dataDir}: ${streamsText(rt.streams)}, ${plural(options.cycles, 'cycle')}`)
    out.line(fromCycle === 0 ? 'a fresh data directory'
      : `continuing from cycle ${fromCycle}: ${programs.length - missing.length} of the demo's ${programs.length} programs exist already`)
    for (const p of missing) {
      await rt.createProgram(p.code, { salt: text(p.name), payload: p.payload, gasLimit: 50_000_000 })
    }
    const ids = Object.fromEntries(programs.map((p) => [p.name, p.id])) as Record<string, ProgramId>
    const before = rt.programIds().length
    out.line(`uploaded ${CODES.length} codes, created ${plural(missing.length, 'program')}`)
    out.line(`programs (id prefixes; \`strata inspect --data DIR PREFIX\` shows one): ${programs.map((p) => `${p.name} ${p.id.slice(0, 8)}`).join(', ')}`)
    out.line('')
    out.line(CYCLE_HEADER)

    const log = new CycleLog(out, options.cycles + (missing.length > 0 ? 1 : 0))
    rt.on('cycle', log.onCycle)
    let drained: boolean
    try {
      if (missing.length > 0) await rt.runCycle() // their inits
      rt.send({ source: USERS[0]!, destination: ids.ping!, payload: json({ op: 'start', peer: ids.pong, rounds: 5 }), gasLimit: 20_000_000 })
      for (let i = 0; i < options.cycles; i += 1) {
        sendWorkload(rt, ids, rt.cycle + 1, i)
        await rt.runCycle()
      }
      log.phase('running until idle')
      await rt.runUntilIdle({ maxCycles: DRAIN_CYCLES_MAX })
      drained = rt.idle
    } finally {
      rt.off('cycle', log.onCycle)
      log.done()
    }

    const replies = USERS.flatMap((u) => rt.mailbox(u).map((e) => e.message.replyCode ?? 0))
    const failures = replies.filter((code) => code >= 0x10).length
    const made = rt.programIds().length - before
    const won = USERS.flatMap((u) => rt.mailbox(u)).find((e) => e.message.kind === 'handle')
    const winner = won === undefined ? null : new TextDecoder().decode(won.message.payload)
    const kvStats = rt.program(ids.kv!).stats()
    out.line('')
    out.line(`${fromCycle > 0 ? `continued from cycle ${fromCycle}: ` : ''}ran ${plural(rt.cycle - fromCycle, 'cycle')} ` +
      `(${fromCycle + 1}..${rt.cycle}); ${plural(rt.programIds().length, 'program')} (the factory made ${made} in this run), ` +
      `${plural(replies.length, 'message')} in user mailboxes, ${failures} of them error replies`)
    if (winner !== null) out.line(`auction: the winner was told ${winner}`)
    out.line(`kv store: ${plural(kvStats.allocations, 'allocation')}, ${plural(kvStats.planesInUse, 'plane')} in use, ` +
      `fragmentation ${kvStats.regions.map((r) => r.fragmentation.toFixed(2)).join('/')}`)

    // A proof anyone can check: the first counter's state bytes under the final state root.
    const counter = ids['counter-0']!
    const [header] = rt.program(counter).allocations()
    const proof = await rt.prove(counter, header!.address, header!.size)
    const verified = verifyProof(rt.stateRoot(), proof)
    if (options.proofFile !== undefined) {
      try {
        writeFileSync(options.proofFile, `${JSON.stringify(proof, null, 1)}\n`)
      } catch (error) {
        throw new CliError('WRITE_FAILED', `cannot write the proof to ${JSON.stringify(options.proofFile)}: ${(error as Error).message}`)
      }
    }
    out.line(`state root ${rt.stateRoot()}`)
    out.line(`proof of counter 0's state header (${header!.size} bytes at ${header!.address}): ` +
      `${verified.ok ? 'verified' : `REJECTED (${verified.reason})`}`)
    out.line(`the state stays in ${rt.dataDir}: \`strata inspect --data ${rt.dataDir}\` shows it, \`strata demo --data ${rt.dataDir}\` continues`)

    const manual = replies.some((code) => code === ReplyCode.SUCCESS_MANUAL)
    const problems = [
      ...(verified.ok ? [] : [`the proof was rejected (${verified.reason})`]),
      ...(drained ? [] : [`still not idle after ${DRAIN_CYCLES_MAX} more cycles`]),
      ...(manual ? [] : ['no user got a reply from a handler']),
    ]
    out.result({
      dataDir: rt.dataDir, streams: rt.streams, fromCycle, cycle: rt.cycle, stateRoot: rt.stateRoot(),
      programs: ids, created: missing.map((p) => p.name), cycles: log.reports,
      summary: {
        programs: rt.programIds().length, factoryMade: made, mailboxMessages: replies.length, errorReplies: failures,
        auctionWinner: winner, kv: { allocations: kvStats.allocations, planesInUse: kvStats.planesInUse, fragmentation: kvStats.regions.map((r) => r.fragmentation) },
      },
      proof: {
        programId: counter, address: header!.address, length: header!.size, verified: verified.ok,
        ...(verified.ok ? {} : { reason: verified.reason }), ...(options.proofFile !== undefined ? { file: options.proofFile } : {}),
      },
      ok: problems.length === 0,
    })
    if (problems.length > 0) throw new CliError('DEMO_FAILED', `the demo's checks failed: ${problems.join('; ')}`, 1)
    return 0
  } finally {
    await rt.close()
  }
}

export const demo: Command = {
  name: 'demo',
  usage: 'strata demo [--data DIR] [--cycles N] [--streams N] [--proof FILE]',
  about: 'the example programs under a mixed workload, in a data directory (what `npm start` runs)',
  help: `Uploads the example programs (programs/), creates their instances and drives a mixed workload for N
cycles, then runs until idle: one line per cycle (messages, failures, gas, dirty planes, state root, ms), a
summary, and a proof of a counter's state checked against the final state root. The state stays in the data
directory (created if absent); run the demo again and it continues from the last cycle, reusing its programs.

  --data DIR           the data directory (default ./data; created if absent)
  --cycles N           workload cycles (1..10000, default 12)
  --streams N          parallel streams (0..${STREAMS_MAX}; default one per core, 0 = this thread)
  --proof FILE         also write the final proof to FILE (check it with \`strata verify FILE --root HEX\`)`,
  options: { ...DATA_OPTION, cycles: { type: 'string' }, streams: { type: 'string' }, proof: { type: 'string' } },
  async run(args, out) {
    args.expect(0, 0, 'no positional arguments')
    const streams = args.integer('streams', undefined, 0, STREAMS_MAX)
    const proofFile = args.string('proof')
    return runDemo({
      dataDir: dataDirOf(args), cycles: args.integer('cycles', 12, 1, 10_000), out,
      ...(streams !== undefined ? { streams } : {}), ...(proofFile !== undefined ? { proofFile } : {}),
    })
  },
}
